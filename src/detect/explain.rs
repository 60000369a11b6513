//! Plain-language explanations: what happened, why it matters, what to check or do next,
//! written from the alert's own evidence. No model is involved; the same alert always gives
//! the same text. Bytes from the wire (DNS names) go through `escape_ascii`, and every output
//! format escapes the text again for itself.

use std::fmt::{self, Write};

use super::{Alert, Figure, RuleId};

/// Longest explanation written (bytes); the longest rule text with long figures stays well
/// under it, and `heapless` buffers of this size never truncate one.
pub const MAX_EXPLANATION: usize = 640;

fn num(a: &Alert, k: &str) -> f64 {
    match a.figure(k) {
        Some(Figure::U(u)) => u as f64,
        Some(Figure::F(x)) => x,
        _ => 0.0,
    }
}

fn text(a: &Alert, k: &str) -> &'static str {
    match a.figure(k) {
        Some(Figure::S(s)) => s,
        _ => "",
    }
}

/// A duration in words: "8 s", "4 min", "2 h".
struct Dur(f64);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.max(0.0);
        if s < 120.0 {
            write!(f, "{:.0} s", s.max(1.0))
        } else if s < 7200.0 {
            write!(f, "{:.0} min", s / 60.0)
        } else {
            write!(f, "{:.1} h", s / 3600.0)
        }
    }
}

/// Bytes in words: "512 KB", "500 MB".
pub struct Size(pub f64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.max(0.0);
        if b < 1e3 {
            write!(f, "{b:.0} bytes")
        } else if b < 1e6 {
            write!(f, "{:.0} KB", b / 1e3)
        } else if b < 1e9 {
            write!(f, "{:.0} MB", b / 1e6)
        } else {
            write!(f, "{:.1} GB", b / 1e9)
        }
    }
}

/// How long the episode behind `a` has lasted, or the rule's window when it is one instant.
fn span(a: &Alert) -> Dur {
    let d = (a.last_seen.max(a.ts) - a.first_seen) as f64 / 1e6;
    if d >= 1.0 {
        Dur(d)
    } else {
        Dur(num(a, "window_s").max(1.0))
    }
}

fn service(port: u16) -> &'static str {
    match port {
        21 => "FTP",
        22 => "SSH",
        23 => "Telnet",
        25 | 465 | 587 => "mail (SMTP)",
        80 | 8080 => "web (HTTP)",
        110 | 995 => "mail (POP3)",
        143 | 993 => "mail (IMAP)",
        443 | 8443 => "web (HTTPS)",
        445 => "file sharing (SMB)",
        3306 => "MySQL",
        3389 => "remote desktop (RDP)",
        5432 => "PostgreSQL",
        5900 => "VNC",
        _ => "",
    }
}

struct Svc(u16);

impl fmt::Display for Svc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match service(self.0) {
            "" => write!(f, "port {}", self.0),
            s => write!(f, "the {s} service (port {})", self.0),
        }
    }
}

/// ` (such as NAME)` for a sample name, escaped; nothing without one.
struct Example<'a>(Option<&'a [u8]>);

impl fmt::Display for Example<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) if !n.is_empty() => write!(f, " (such as {})", n.escape_ascii()),
            _ => Ok(()),
        }
    }
}

/// A party of an alert: its address, or the device that has it, by name and maker, with the
/// address ("Living-room TV (Samsung, 192.168.1.50)"). Names came off the wire (or from the
/// user): control characters are escaped.
struct Party<'a>(
    crate::addr::Addr,
    Option<&'a crate::state::devices::DeviceTag>,
);

impl fmt::Display for Party<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(d) = self
            .1
            .filter(|d| !d.name.is_empty() || !d.vendor.is_empty())
        else {
            return write!(f, "{}", self.0);
        };
        let name = d.name.trim();
        if name.is_empty() {
            // No name: the maker's device, by its address.
            return write!(f, "{} device {}", d.vendor, self.0);
        }
        for c in name.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        if d.vendor.is_empty() {
            write!(f, " ({})", self.0)
        } else {
            write!(f, " ({}, {})", d.vendor, self.0)
        }
    }
}

/// Write the explanation of `a`.
pub fn explain(a: &Alert, out: &mut impl Write) -> fmt::Result {
    let (src, dst) = (
        Party(a.src, a.src_device.as_ref()),
        Party(a.dst, a.dst_device.as_ref()),
    );
    match a.rule {
        RuleId::PortscanVertical => write!(
            out,
            "{src} tried {:.0} different ports on {dst} in {} without opening a session. \
             This is how attackers map the services a device offers before attacking one. \
             If you don't recognise {src}, find that device and isolate it; if it is outside \
             your network, make sure {dst} exposes only the services it must.",
            num(a, "distinct_ports").max(num(a, "ports_so_far")),
            span(a)
        ),
        RuleId::PortscanHorizontal => write!(
            out,
            "{src} tried to reach {:.0} different hosts {} in {} and most did not answer. \
             A sweep like this looks for machines to attack, and is also how worms spread. \
             If {src} is yours and you did not start a network scan, check it for malware; \
             otherwise block it.",
            num(a, "distinct_hosts").max(num(a, "hosts_so_far")),
            Sweep(a.proto, a.dport),
            span(a)
        ),
        RuleId::Synflood => {
            let n = num(a, "distinct_sources");
            write!(
                out,
                "{dst} is receiving {:.0} connection requests per second on port {} ",
                num(a, "syn_per_s"),
                a.dport
            )?;
            if n <= 1.0 {
                write!(out, "from {src} alone")?;
            } else if n <= 16.0 {
                write!(out, "from {n:.0} addresses, {src} sending the most")?;
            } else {
                write!(
                    out,
                    "from about {n:.0} addresses, most likely forged ({src} is one of them)"
                )?;
            }
            let done = num(a, "completion_ratio") * 100.0;
            if done < 0.5 {
                write!(out, ", and none of them complete.")?;
            } else {
                write!(out, ", and only {done:.0}% of them complete.")?;
            }
            write!(
                out,
                " This is a denial-of-service flood meant to exhaust the target. "
            )?;
            if n <= 16.0 {
                write!(
                    out,
                    "If {src} is yours, find what on it is doing this; otherwise block {src} at \
                     the router."
                )
            } else {
                write!(
                    out,
                    "If it persists, rate-limit or block the port at the router and ask your \
                     provider for help if the flood comes from the Internet."
                )
            }
        }
        RuleId::Bruteforce if !text(a, "refused_by").is_empty() => write!(
            out,
            "The web login of {dst} on port {} turned {src} away about {:.0} times in {} ({}). \
             Someone is guessing passwords. Make sure that login uses a strong password, block \
             {src} if you don't know it, and check {dst} for a login that succeeded.",
            a.dport,
            num(a, "attempts"),
            span(a),
            if text(a, "refused_by") == "http_401" {
                "HTTP 401: a wrong user name or password each time"
            } else {
                "the login form came back each time"
            }
        ),
        RuleId::Bruteforce => write!(
            out,
            "{src} made about {:.0} failed-looking login attempts against {} on {dst} in {}. \
             Someone is guessing passwords. Make sure that service uses strong passwords or \
             keys, block {src} if you don't know it, and check {dst}'s logs for a login that \
             succeeded.",
            num(a, "attempts"),
            Svc(a.dport),
            span(a)
        ),
        RuleId::DnsTunnel if a.evidence.domain.starts_with(b"(") => write!(
            out,
            "{src} sent {:.0} DNS queries with {:.0} different made-up names under top-level \
             domains that do not exist on the Internet{} in {}. Data hidden in DNS names is a \
             way to smuggle information out or control malware past firewalls, and a tool \
             talking straight to its own server needs no real domain. Check {src} for malware \
             and block its queries to {dst}.",
            num(a, "queries"),
            num(a, "unique_subdomains"),
            Example(a.evidence.names.first().map(|n| &n[..])),
            span(a)
        ),
        RuleId::DnsTunnel => write!(
            out,
            "{src} sent {:.0} DNS queries with {:.0} different made-up subdomains of {} in {}. \
             Data hidden in DNS names is a way to smuggle information out or control malware \
             past firewalls. If {} is not a service you use, check {src} for malware and block \
             the domain.",
            num(a, "queries"),
            num(a, "unique_subdomains"),
            a.evidence.domain.escape_ascii(),
            span(a),
            a.evidence.domain.escape_ascii()
        ),
        RuleId::C2Beacon => write!(
            out,
            "{src} contacts {dst} port {} about every {} with machine-like regularity \
             ({:.0} connections so far). Malware that waits for commands checks in like this. \
             If you cannot name the app or device doing it (an update check, a smart-home hub), \
             look at {src} closely and consider blocking {dst}.",
            a.dport,
            Dur(num(a, "median_interval_s")),
            num(a, "connections")
        ),
        RuleId::AnomalyHost => {
            write!(
                out,
                "{src} behaves very differently from its usual pattern at this time of day: "
            )?;
            let mut first = true;
            for (k, v) in &a.evidence.figures {
                let Some(feature) = k.strip_suffix("_observed") else {
                    continue;
                };
                let base = num(a, baseline_key(feature));
                if !first {
                    out.write_str("; ")?;
                }
                first = false;
                let v = match v {
                    Figure::U(u) => *u as f64,
                    Figure::F(x) => *x,
                    Figure::S(_) => 0.0,
                };
                match feature {
                    "bytes_out" | "bytes_in" => {
                        let verb = if feature == "bytes_out" { "sent" } else { "received" };
                        write!(
                            out,
                            "{} {verb} in one minute, where its busiest minutes at this hour are about {}",
                            Size(v),
                            Size(base)
                        )?
                    }
                    _ => write!(
                        out,
                        "{v:.0} {} in one minute, where its busiest minutes at this hour have about {base:.0}",
                        feature_words(feature)
                    )?,
                }
            }
            if a.dst != crate::addr::Addr::default() {
                write!(out, " (top destination {dst})")?;
            }
            write!(
                out,
                ". A sudden change like this can be a backup or a new app, or data being \
                 stolen or the device being used to attack others. If you don't know what \
                 {src} was doing, check it and what it talked to."
            )
        }
        RuleId::HostNew => write!(
            out,
            "A device NetWatch has not seen before appeared on your network: {src}. New \
             phones, guests and updates are the usual reason. If you don't recognise it, \
             find it in your router's list of connected devices."
        ),
        RuleId::SensorHealth => match text(a, "kind") {
            "capture_loss" => write!(
                out,
                "The sensor could not keep up and lost {:.1}% of the packets on {} in the last \
                 minute, so attacks in that traffic may have gone unseen. Narrow the capture \
                 filter, use a lighter profile or give the sensor more CPU.",
                num(a, "loss_pct"),
                text(a, "interface")
            ),
            "table_evictions" => write!(
                out,
                "The {} table is full and dropped entries, so some slow or spread-out attacks \
                 may be missed. Raise its capacity in the config if memory allows.",
                text(a, "table")
            ),
            "store_failing" => out.write_str(
                "Alerts cannot be written to the database (full or failing storage); they \
                 are queued and the oldest dropped. Check free space where the store lives.",
            ),
            "syslog_dropping" => out.write_str(
                "The syslog collector is unreachable or too slow, so alerts are not reaching \
                 it. Check that the collector is running and reachable.",
            ),
            _ => out.write_str("The sensor reports a problem with itself."),
        },
    }
}

/// The evidence key holding the baseline of an anomaly feature.
pub fn baseline_key(feature: &str) -> &'static str {
    match feature {
        "bytes_out" => "bytes_out_baseline",
        "bytes_in" => "bytes_in_baseline",
        "new_flows" => "new_flows_baseline",
        "destinations" => "destinations_baseline",
        "ports" => "ports_baseline",
        "dns_queries" => "dns_queries_baseline",
        _ => "",
    }
}

fn feature_words(feature: &str) -> &'static str {
    match feature {
        "new_flows" => "new connections",
        "destinations" => "different external addresses",
        "ports" => "different destination ports",
        "dns_queries" => "DNS queries",
        _ => "events",
    }
}

struct Sweep(u8, u16);

impl fmt::Display for Sweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::capture::decode::proto;
        match self.0 {
            crate::state::flow::PROTO_ARP => f.write_str("by ARP"),
            crate::state::flow::PROTO_ND => f.write_str("by neighbour solicitation"),
            proto::ICMP | proto::ICMPV6 => f.write_str("by ping"),
            proto::UDP => write!(f, "on UDP port {}", self.1),
            _ => write!(f, "on {}", Svc(self.1)),
        }
    }
}

/// The short form for syslog: the explanation's second sentence (why it matters).
pub fn why(rule: RuleId) -> &'static str {
    match rule {
        RuleId::PortscanVertical | RuleId::PortscanHorizontal => "mapping targets to attack",
        RuleId::Synflood => "denial of service",
        RuleId::Bruteforce => "password guessing",
        RuleId::DnsTunnel => "data hidden in DNS",
        RuleId::C2Beacon => "malware checking in",
        RuleId::AnomalyHost => "unusual for this host",
        RuleId::HostNew => "new device",
        RuleId::SensorHealth => "sensor degraded",
    }
}
