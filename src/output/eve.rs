//! Alerts as Suricata EVE JSON (`event_type: "alert"`), one object per line. Field names and
//! meanings follow Suricata's, so existing pipelines (Filebeat/Logstash, Wazuh, Splunk TA)
//! take them as they are; NetWatch's own detail sits in a `netwatch` object beside them.

use std::fmt::Write;

use super::json;
use crate::capture::decode::proto;
use crate::detect::{write_timestamp, Alert, Figure};
use crate::state::flow::{PROTO_ARP, PROTO_ND};
use serde::Deserialize;

use crate::settings::{ranged, ConfigError};

/// Protocol names as Suricata writes them.
pub fn proto_name(p: u8) -> &'static str {
    match p {
        proto::TCP => "TCP",
        proto::UDP => "UDP",
        proto::ICMP => "ICMP",
        proto::ICMPV6 | PROTO_ND => "IPv6-ICMP",
        PROTO_ARP => "ARP",
        _ => "IP",
    }
}

/// Append one EVE alert line (with the trailing newline) to `out`.
pub fn write_alert(out: &mut String, a: &Alert) {
    let r = a.rule;
    out.push('{');
    json::key(out, "timestamp");
    out.push('"');
    let _ = write_timestamp(out, a.ts);
    out.push('"');
    out.push_str(",\"event_type\":\"alert\",");
    json::key(out, "src_ip");
    json::display(out, a.src);
    let _ = write!(out, ",\"src_port\":{},", a.sport);
    json::key(out, "dest_ip");
    json::display(out, a.dst);
    let _ = write!(out, ",\"dest_port\":{},", a.dport);
    json::key(out, "proto");
    json::string(out, proto_name(a.proto));
    if let Some(cid) = &a.community_id {
        out.push(',');
        json::key(out, "community_id");
        json::string(out, cid);
    }
    let _ = write!(
        out,
        ",\"alert\":{{\"action\":\"allowed\",\"gid\":1,\"signature_id\":{},\"rev\":1,\"signature\":",
        r.signature_id()
    );
    json::string(out, r.signature());
    out.push_str(",\"category\":");
    json::string(out, r.category());
    let _ = write!(out, ",\"severity\":{},\"metadata\":{{", r.severity());
    if !r.mitre().is_empty() {
        out.push_str("\"mitre_technique_id\":[");
        json::string(out, r.mitre());
        out.push_str("],");
    }
    out.push_str("\"netwatch_rule\":[");
    json::string(out, r.name());
    out.push_str("]}},\"netwatch\":{\"rule\":");
    json::string(out, r.name());
    out.push_str(",\"mitre\":");
    json::string(out, r.mitre());
    out.push_str(",\"summary\":");
    {
        let mut s: heapless::String<512> = heapless::String::new();
        let _ = a.summary(&mut s);
        json::string(out, &s);
    }
    out.push_str(",\"explanation\":");
    {
        let mut s: heapless::String<2048> = heapless::String::new();
        let _ = crate::detect::explain::explain(a, &mut s);
        json::string(out, &s);
    }
    out.push_str(",\"first_seen\":\"");
    let _ = write_timestamp(out, a.first_seen);
    out.push_str("\",\"last_seen\":\"");
    let _ = write_timestamp(out, a.last_seen.max(a.ts));
    let _ = write!(
        out,
        "\",\"repeats\":{},\"incident_id\":{},",
        a.repeats, a.incident.id
    );
    for (k, d) in [
        ("src_device", &a.src_device),
        ("dest_device", &a.dst_device),
    ] {
        if let Some(d) = d {
            json::key(out, k);
            device_tag(out, d);
            out.push(',');
        }
    }
    out.push_str("\"evidence\":{");
    write_evidence(out, a);
    out.push_str("}}}\n");
}

/// A party's device as a JSON object: `mac`, `name` (off the wire or the user's, escaped),
/// `vendor`, `kind`.
pub fn device_tag(out: &mut String, d: &crate::state::devices::DeviceTag) {
    out.push_str("{\"mac\":");
    json::string(out, &crate::state::devices::mac_text(&d.mac));
    out.push_str(",\"name\":");
    json::string(out, &d.name);
    out.push_str(",\"vendor\":");
    json::string(out, &d.vendor);
    out.push_str(",\"kind\":");
    json::string(out, d.kind.as_str());
    out.push('}');
}

fn write_evidence(out: &mut String, a: &Alert) {
    let e = &a.evidence;
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
    };
    // Figures; repeated keys (e.g. several probe kinds) become one array.
    let mut i = 0;
    while i < e.figures.len() {
        let k = e.figures[i].0;
        if e.figures[..i].iter().any(|f| f.0 == k) {
            i += 1;
            continue;
        }
        sep(out);
        json::key(out, k);
        let same = e.figures.iter().filter(|f| f.0 == k).count();
        if same > 1 {
            out.push('[');
            for (j, f) in e.figures.iter().filter(|f| f.0 == k).enumerate() {
                if j > 0 {
                    out.push(',');
                }
                figure(out, f.1);
            }
            out.push(']');
        } else {
            figure(out, e.figures[i].1);
        }
        i += 1;
    }
    if !e.ports.is_empty() {
        sep(out);
        out.push_str("\"sample_ports\":[");
        for (j, p) in e.ports.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "{p}");
        }
        out.push(']');
    }
    if !e.hosts.is_empty() {
        sep(out);
        out.push_str("\"sample_hosts\":[");
        for (j, h) in e.hosts.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            json::display(out, h);
        }
        out.push(']');
    }
    if !e.domain.is_empty() {
        sep(out);
        json::key(out, "domain");
        json::bytes(out, &e.domain);
    }
    if !e.names.is_empty() {
        sep(out);
        out.push_str("\"sample_names\":[");
        for (j, n) in e.names.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            json::bytes(out, n);
        }
        out.push(']');
    }
}

fn figure(out: &mut String, f: Figure) {
    match f {
        Figure::U(u) => {
            let _ = write!(out, "{u}");
        }
        Figure::F(x) => json::float(out, x),
        Figure::S(s) => json::string(out, s),
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration: `[eve]`.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEve {
    pub stdout: Option<bool>,
    pub path: Option<String>,
    pub max_kib: Option<u64>,
    pub keep: Option<u32>,
}

/// EVE JSON outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct EveConfig {
    pub stdout: bool,
    /// File of EVE lines; empty: none.
    pub path: String,
    pub max_bytes: u64,
    pub keep: u32,
}

impl FileEve {
    pub fn validate(&self) -> Result<EveConfig, ConfigError> {
        Ok(EveConfig {
            stdout: self.stdout.unwrap_or(true),
            path: self.path.clone().unwrap_or_default(),
            max_bytes: ranged("eve.max_kib", self.max_kib, 1024, 16, 16 * 1024 * 1024)? * 1024,
            keep: ranged("eve.keep", self.keep, 2, 1, 16)?,
        })
    }
}
