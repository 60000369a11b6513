//! Alerts as syslog messages: RFC 5424 with structured data, or RFC 3164 for BusyBox/OpenWrt
//! `logd`. Formatting is pure (tested byte for byte); the transport lives in `daemon`.
//!
//! RFC 5424: `<PRI>1 TIMESTAMP HOST netwatch PID RULE [netwatch@32473 rule="…" …] SUMMARY`.
//! SD-PARAM values escape `"`, `\` and `]` with a backslash (RFC 5424 §6.3.3); every value
//! that came off the wire (addresses, domains) is made printable ASCII first, so a hostile
//! DNS name can neither end the structured data early nor inject a line break.
//! RFC 3164: `<PRI>Mmm dd hh:mm:ss [HOST ]netwatch[PID]: SUMMARY key=value …`; the host name
//! is left out on a local socket, as libc's `syslog()` does.
//! PRI = facility × 8 + severity: alert severity 1 → err (3), 2 → warning (4), 3 → notice (5).

use std::fmt::Write;

use crate::detect::{Alert, Figure};
use serde::Deserialize;

use crate::settings::{invalid, ranged, ConfigError};
use crate::state::capacity::Profile;

/// IANA private enterprise number used in the SD-ID (`netwatch@32473`, the number RFC 5612
/// reserves for documentation).
pub const SD_ID: &str = "netwatch@32473";

/// Syslog severity for an alert severity.
pub fn syslog_severity(alert_severity: u8) -> u8 {
    match alert_severity {
        1 => 3,
        2 => 4,
        _ => 5,
    }
}

/// Append `v` as an SD-PARAM value (without the quotes).
pub fn sd_escape(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Append `v` made safe for the free-text part: no control characters.
fn text(out: &mut String, v: &str) {
    for c in v.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            out.push(c);
        }
    }
}

struct Ts(i64);

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (days, us) = (
            self.0.div_euclid(86_400_000_000),
            self.0.rem_euclid(86_400_000_000),
        );
        let (y, m, d) = civil(days);
        let s = us / 1_000_000;
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
            s / 3600,
            s / 60 % 60,
            s % 60,
            us % 1_000_000
        )
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The SD-PARAMs / key=value pairs of an alert, in a fixed order.
fn fields(a: &Alert, mut f: impl FnMut(&str, &str)) {
    let mut buf = String::new();
    let mut put = |k: &str, v: std::fmt::Arguments, f: &mut dyn FnMut(&str, &str)| {
        buf.clear();
        let _ = buf.write_fmt(v);
        f(k, &buf);
    };
    put("rule", format_args!("{}", a.rule.name()), &mut f);
    put("sid", format_args!("{}", a.rule.signature_id()), &mut f);
    put("severity", format_args!("{}", a.rule.severity()), &mut f);
    put("src", format_args!("{}", a.src), &mut f);
    put("sport", format_args!("{}", a.sport), &mut f);
    put("dst", format_args!("{}", a.dst), &mut f);
    put("dport", format_args!("{}", a.dport), &mut f);
    // The LAN devices of the parties, when the inventory knows them; names made printable
    // ASCII like domains (they came off the wire, or from the user).
    for (p, d) in [("src", &a.src_device), ("dst", &a.dst_device)] {
        if let Some(d) = d {
            let mac = crate::state::devices::mac_text(&d.mac);
            put(&format!("{p}_mac"), format_args!("{mac}"), &mut f);
            if !d.name.is_empty() {
                put(
                    &format!("{p}_name"),
                    format_args!("{}", d.name.as_bytes().escape_ascii()),
                    &mut f,
                );
            }
            put(
                &format!("{p}_kind"),
                format_args!("{}", d.kind.as_str()),
                &mut f,
            );
        }
    }
    put(
        "proto",
        format_args!("{}", super::eve::proto_name(a.proto)),
        &mut f,
    );
    if let Some(c) = &a.community_id {
        put("community_id", format_args!("{c}"), &mut f);
    }
    if !a.rule.mitre().is_empty() {
        put("mitre", format_args!("{}", a.rule.mitre()), &mut f);
    }
    if !a.evidence.domain.is_empty() {
        put(
            "domain",
            format_args!("{}", a.evidence.domain.escape_ascii()),
            &mut f,
        );
    }
    for (k, v) in &a.evidence.figures {
        match v {
            Figure::U(u) => put(k, format_args!("{u}"), &mut f),
            Figure::F(x) if *x != 0.0 && x.abs() < 0.001 => put(k, format_args!("{x:.2e}"), &mut f),
            Figure::F(x) => put(k, format_args!("{x:.3}"), &mut f),
            Figure::S(s) => put(k, format_args!("{s}"), &mut f),
        }
    }
    put("repeats", format_args!("{}", a.repeats), &mut f);
}

/// Format one message (no trailer). `hostname` empty: `-` in RFC 5424, left out in 3164.
pub fn format(
    out: &mut String,
    fmt: SyslogFormat,
    facility: u8,
    hostname: &str,
    pid: u32,
    a: &Alert,
) {
    let pri = facility as u32 * 8 + syslog_severity(a.rule.severity()) as u32;
    let mut summary = String::new();
    let _ = a.summary(&mut summary);
    // The explanation's short form: why it matters, in a few words.
    let _ = write!(summary, " ({})", crate::detect::explain::why(a.rule));
    match fmt {
        SyslogFormat::Rfc5424 => {
            let host = if hostname.is_empty() { "-" } else { hostname };
            let _ = write!(
                out,
                "<{pri}>1 {} {host} netwatch {pid} {} [{SD_ID}",
                Ts(a.ts),
                a.rule.name()
            );
            fields(a, |k, v| {
                out.push(' ');
                out.push_str(k);
                out.push_str("=\"");
                sd_escape(out, v);
                out.push('"');
            });
            out.push_str("] ");
            text(out, &summary);
        }
        SyslogFormat::Rfc3164 => {
            let days = a.ts.div_euclid(86_400_000_000);
            let (_, m, d) = civil(days);
            let s = a.ts.rem_euclid(86_400_000_000) / 1_000_000;
            let _ = write!(
                out,
                "<{pri}>{} {d:>2} {:02}:{:02}:{:02} ",
                MONTHS[(m as usize + 11) % 12],
                s / 3600,
                s / 60 % 60,
                s % 60
            );
            if !hostname.is_empty() {
                out.push_str(hostname);
                out.push(' ');
            }
            let _ = write!(out, "netwatch[{pid}]: ");
            text(out, &summary);
            fields(a, |k, v| {
                out.push(' ');
                out.push_str(k);
                out.push('=');
                // Values with spaces would break key=value parsing; none of ours have them
                // except escaped domains, which `escape_ascii` keeps space-free only for
                // printable bytes, so spaces are written as \x20.
                for c in v.chars() {
                    if c == ' ' || c.is_control() {
                        let _ = write!(out, "\\x{:02x}", c as u32);
                    } else {
                        out.push(c);
                    }
                }
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration: `[syslog]`.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSyslog {
    pub target: Option<String>,
    pub format: Option<String>,
    pub facility: Option<String>,
    pub hostname: Option<String>,
    pub queue: Option<usize>,
}

/// Where syslog messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogTarget {
    Off,
    /// A local datagram socket (`/dev/log`, or OpenWrt's logd at the same path).
    Unix(String),
    Udp(String, u16),
    Tcp(String, u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogFormat {
    Rfc5424,
    Rfc3164,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SyslogConfig {
    pub target: SyslogTarget,
    pub format: SyslogFormat,
    /// Facility number (RFC 5424 table: daemon 3, auth 4, local0 16 …).
    pub facility: u8,
    /// HOSTNAME field; empty: the system's host name.
    pub hostname: String,
    pub queue: usize,
}

/// Facility names of RFC 5424 section 6.2.1 that a sensor would use.
const FACILITIES: &[(&str, u8)] = &[
    ("user", 1),
    ("daemon", 3),
    ("auth", 4),
    ("security", 4),
    ("authpriv", 10),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// `udp:HOST:PORT`, `tcp:HOST:PORT` (IPv6 hosts in brackets), `local`, `unix:PATH` or `off`.
pub fn parse_syslog_target(t: &str) -> Result<SyslogTarget, String> {
    let hostport = |rest: &str| -> Result<(String, u16), String> {
        let (host, port) = match rest.strip_prefix('[') {
            Some(r) => {
                let (h, p) = r
                    .split_once("]:")
                    .ok_or("an IPv6 host needs the form [ADDR]:PORT")?;
                (h, p)
            }
            None => rest.rsplit_once(':').ok_or("needs HOST:PORT")?,
        };
        if host.is_empty() || host.len() > 253 || host.contains(char::is_whitespace) {
            return Err(format!("`{host}` is not a host name or address"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("port `{port}` is not 1..=65535"))?;
        Ok((host.to_string(), port))
    };
    match t {
        "" | "off" => Ok(SyslogTarget::Off),
        "local" => Ok(SyslogTarget::Unix("/dev/log".into())),
        _ => {
            if let Some(p) = t.strip_prefix("unix:") {
                if !p.starts_with('/') {
                    return Err("unix: needs an absolute socket path".into());
                }
                Ok(SyslogTarget::Unix(p.to_string()))
            } else if let Some(r) = t.strip_prefix("udp:") {
                hostport(r).map(|(h, p)| SyslogTarget::Udp(h, p))
            } else if let Some(r) = t.strip_prefix("tcp:") {
                hostport(r).map(|(h, p)| SyslogTarget::Tcp(h, p))
            } else {
                Err(format!(
                    "`{t}` is not one of off, local, unix:PATH, udp:HOST:PORT, tcp:HOST:PORT"
                ))
            }
        }
    }
}

impl FileSyslog {
    pub fn validate(&self, profile: Profile) -> Result<SyslogConfig, ConfigError> {
        let target = parse_syslog_target(self.target.as_deref().unwrap_or("local"))
            .map_err(|m| invalid("syslog.target", m))?;
        // OpenWrt's logd (BusyBox syslogd heritage) expects RFC 3164.
        let default_format = if profile == Profile::Router {
            "rfc3164"
        } else {
            "rfc5424"
        };
        let format = match self.format.as_deref().unwrap_or(default_format) {
            "rfc5424" => SyslogFormat::Rfc5424,
            "rfc3164" => SyslogFormat::Rfc3164,
            other => {
                return Err(invalid(
                    "syslog.format",
                    format!("`{other}` is not rfc5424 or rfc3164"),
                ))
            }
        };
        let fac = self.facility.as_deref().unwrap_or("daemon");
        let facility = FACILITIES
            .iter()
            .find(|f| f.0 == fac)
            .map(|f| f.1)
            .ok_or_else(|| {
                invalid(
                    "syslog.facility",
                    format!("`{fac}` is not one of user, daemon, auth, security, authpriv, local0..local7"),
                )
            })?;
        let hostname = self.hostname.clone().unwrap_or_default();
        if hostname.len() > 255 || hostname.bytes().any(|b| !(33..=126).contains(&b)) {
            return Err(invalid(
                "syslog.hostname",
                "must be printable ASCII without spaces, at most 255 bytes",
            ));
        }
        Ok(SyslogConfig {
            target,
            format,
            facility,
            hostname,
            queue: ranged("syslog.queue", self.queue, 256, 1, 65_536)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_418), (2025, 11, 26));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(civil(11_016), (2000, 2, 29));
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        sd_escape(&mut s, "a\"b\\c]d\ne");
        assert_eq!(s, "a\\\"b\\\\c\\]d\\x0ae");
    }
}
