//! What is published where: `netwatch/<sensor>/status` ("online", or the last will
//! "offline"), `…/alert` (one JSON object per alert, with the `event_type` Home Assistant's
//! event entity needs), `…/stats` (every 10 s, retained), `…/device/<mac>` (retained, when a
//! device is learnt or changes), and Home Assistant's discovery configs
//! (`<prefix>/<component>/netwatch_<sensor>/<object>/config`, retained): one device per sensor
//! with sensors for packets/s, alerts in the last hour, capture drops and known devices, a
//! binary sensor "under attack" and an event entity that fires on every alert.

use std::fmt::Write;

use super::MqttConfig;
use crate::detect::{Alert, RuleId};
use crate::notify::format::Message;
use crate::output::json;

pub fn topic(cfg: &MqttConfig, leaf: &str) -> String {
    format!("netwatch/{}/{leaf}", cfg.sensor)
}

/// The every-10-seconds summary (`…/stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub packets_per_s: f64,
    pub alerts_last_hour: u32,
    pub capture_drops: u64,
    pub devices: u32,
    /// An alert of severity 1 or 2 in the last `UNDER_ATTACK_S`.
    pub under_attack: bool,
    pub uptime_s: u64,
}

/// How long "under attack" stays on after a severity 1–2 alert.
pub const UNDER_ATTACK_S: i64 = 600;

pub fn stats_payload(s: &Summary) -> String {
    let mut b = String::with_capacity(160);
    b.push_str("{\"packets_per_s\":");
    json::float(&mut b, (s.packets_per_s * 10.0).round() / 10.0);
    let _ = write!(
        b,
        ",\"alerts_last_hour\":{},\"capture_drops\":{},\"devices\":{},\"under_attack\":\"{}\",\"uptime_s\":{}}}",
        s.alerts_last_hour,
        s.capture_drops,
        s.devices,
        if s.under_attack { "ON" } else { "OFF" },
        s.uptime_s
    );
    b
}

/// One alert (`…/alert`): `event_type` is the rule's name (Home Assistant's event entity
/// fires with it); the words are the notification's (every string from the wire escaped).
pub fn alert_payload(a: &Alert, m: &Message) -> String {
    let mut b = String::with_capacity(m.text.len() + 384);
    b.push_str("{\"event_type\":");
    json::string(&mut b, a.rule.name());
    let _ = write!(
        b,
        ",\"severity\":{},\"timestamp\":{}",
        m.severity,
        a.ts / 1_000_000
    );
    b.push_str(",\"title\":");
    json::string(&mut b, &m.title);
    b.push_str(",\"message\":");
    json::string(&mut b, &m.text);
    b.push_str(",\"src_ip\":");
    json::display(&mut b, a.src);
    b.push_str(",\"dest_ip\":");
    json::display(&mut b, a.dst);
    for (k, d) in [
        ("src_device", &a.src_device),
        ("dest_device", &a.dst_device),
    ] {
        if let Some(d) = d.as_ref().filter(|d| !d.name.is_empty()) {
            b.push(',');
            json::key(&mut b, k);
            json::string(&mut b, &d.name);
        }
    }
    let _ = write!(b, ",\"incident_id\":{}}}", a.incident.id);
    b
}

/// Home Assistant's discovery configs: (topic, retained payload).
pub fn discovery(cfg: &MqttConfig) -> Vec<(String, String)> {
    let node = format!("netwatch_{}", cfg.sensor);
    let status = topic(cfg, "status");
    let stats = topic(cfg, "stats");
    let mut device = String::new();
    device.push_str("{\"identifiers\":[");
    json::string(&mut device, &node);
    device.push_str("],\"name\":");
    json::string(&mut device, &format!("NetWatch {}", cfg.sensor));
    let _ = write!(
        device,
        ",\"manufacturer\":\"NetWatch\",\"model\":\"network intrusion detection sensor\",\"sw_version\":\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    let common = |b: &mut String, object: &str, name: &str| {
        b.push_str("{\"name\":");
        json::string(b, name);
        b.push_str(",\"unique_id\":");
        json::string(b, &format!("{node}_{object}"));
        b.push_str(",\"availability_topic\":");
        json::string(b, &status);
        b.push_str(",\"device\":");
        b.push_str(&device);
    };
    let mut out = Vec::with_capacity(6);
    // (object, name, unit, state_class, entity_category, icon)
    let sensors: [(&str, &str, &str, &str, &str, &str); 4] = [
        (
            "packets_per_s",
            "Packets per second",
            "packets/s",
            "measurement",
            "",
            "mdi:lan",
        ),
        (
            "alerts_last_hour",
            "Alerts in the last hour",
            "alerts",
            "measurement",
            "",
            "mdi:shield-alert",
        ),
        (
            "capture_drops",
            "Capture drops",
            "packets",
            "total_increasing",
            "diagnostic",
            "mdi:package-down",
        ),
        (
            "devices",
            "Known devices",
            "devices",
            "measurement",
            "",
            "mdi:devices",
        ),
    ];
    for (object, name, unit, class, category, icon) in sensors {
        let mut b = String::with_capacity(640);
        common(&mut b, object, name);
        b.push_str(",\"state_topic\":");
        json::string(&mut b, &stats);
        let _ = write!(
            b,
            ",\"value_template\":\"{{{{ value_json.{object} }}}}\",\"unit_of_measurement\":\"{unit}\",\"state_class\":\"{class}\",\"icon\":\"{icon}\""
        );
        if !category.is_empty() {
            let _ = write!(b, ",\"entity_category\":\"{category}\"");
        }
        b.push('}');
        out.push((config_topic(cfg, "sensor", &node, object), b));
    }
    let mut b = String::with_capacity(640);
    common(&mut b, "under_attack", "Under attack");
    b.push_str(",\"state_topic\":");
    json::string(&mut b, &stats);
    b.push_str(
        ",\"value_template\":\"{{ value_json.under_attack }}\",\"payload_on\":\"ON\",\"payload_off\":\"OFF\",\"device_class\":\"safety\"}",
    );
    out.push((config_topic(cfg, "binary_sensor", &node, "under_attack"), b));
    let mut b = String::with_capacity(900);
    common(&mut b, "alert", "Alert");
    b.push_str(",\"state_topic\":");
    json::string(&mut b, &topic(cfg, "alert"));
    b.push_str(",\"event_types\":[");
    for (i, r) in RuleId::ALL.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        json::string(&mut b, r.name());
    }
    b.push_str("],\"icon\":\"mdi:shield-alert\"}");
    out.push((config_topic(cfg, "event", &node, "alert"), b));
    out
}

fn config_topic(cfg: &MqttConfig, component: &str, node: &str, object: &str) -> String {
    format!(
        "{}/{component}/{node}/{object}/config",
        cfg.discovery_prefix
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_reader::{parse, JsonValue};

    fn cfg() -> MqttConfig {
        MqttConfig {
            host: "127.0.0.1".into(),
            sensor: "attic".into(),
            ..MqttConfig::default()
        }
    }

    #[test]
    fn discovery_names_one_device_and_each_entity_once() {
        let d = discovery(&cfg());
        let topics: Vec<&str> = d.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/sensor/netwatch_attic/packets_per_s/config",
                "homeassistant/sensor/netwatch_attic/alerts_last_hour/config",
                "homeassistant/sensor/netwatch_attic/capture_drops/config",
                "homeassistant/sensor/netwatch_attic/devices/config",
                "homeassistant/binary_sensor/netwatch_attic/under_attack/config",
                "homeassistant/event/netwatch_attic/alert/config",
            ]
        );
        for (t, p) in &d {
            let v = parse(p.as_bytes()).unwrap_or_else(|e| panic!("{t}: {p}: {}", e.msg));
            let Some(JsonValue::Str(uid)) = v.get("unique_id") else {
                panic!("{t}: no unique_id")
            };
            assert!(uid.starts_with("netwatch_attic_"));
            assert!(v.get("device").and_then(|d| d.get("identifiers")).is_some());
            assert!(
                matches!(v.get("state_topic"), Some(JsonValue::Str(s)) if s.starts_with("netwatch/attic/"))
            );
        }
        assert!(d[5].1.contains("\"portscan.vertical\""));
    }

    #[test]
    fn stats_and_alerts_are_json() {
        let p = stats_payload(&Summary {
            packets_per_s: 12.345,
            alerts_last_hour: 3,
            under_attack: true,
            ..Summary::default()
        });
        assert_eq!(
            p,
            "{\"packets_per_s\":12.3,\"alerts_last_hour\":3,\"capture_drops\":0,\"devices\":0,\"under_attack\":\"ON\",\"uptime_s\":0}"
        );
        let mut a = Alert::new(RuleId::Bruteforce, 1_700_000_000_000_000);
        a.src = "10.0.0.9".parse::<std::net::IpAddr>().unwrap().into();
        let m = Message {
            title: "t\"<x>".into(),
            text: "line\nnext".into(),
            severity: 1,
            ..Message::default()
        };
        let v = parse(alert_payload(&a, &m).as_bytes()).unwrap();
        assert!(matches!(v.get("event_type"), Some(JsonValue::Str(s)) if s == "bruteforce"));
        assert!(matches!(v.get("title"), Some(JsonValue::Str(s)) if s == "t\"<x>"));
        assert!(matches!(v.get("src_ip"), Some(JsonValue::Str(s)) if s == "10.0.0.9"));
    }
}
