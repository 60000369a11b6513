//! MQTT (`[mqtt]`): alerts, a stats summary every 10 s and device changes published to a
//! broker on the LAN, with Home Assistant's MQTT discovery so the sensor shows up there as a
//! device (`ha`). One thread of its own (`netwatch-mqtt`) holds the connection; the daemon only
//! puts messages on a bounded queue.
//!
//! Rooms: `packet` (the wire format), `ha` (topics and payloads), `client` (the connection
//! thread), this file (the `[mqtt]` section).

pub mod client;
pub mod ha;
pub mod packet;

use serde::Deserialize;

use crate::settings::{invalid, ranged, ConfigError};
pub use client::{Mqtt, MqttCounters};
pub use packet::Version;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMqtt {
    pub broker: Option<String>,
    pub sensor: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<String>,
    pub protocol: Option<String>,
    pub discovery: Option<bool>,
    pub discovery_prefix: Option<String>,
    pub keepalive_s: Option<u32>,
    pub queue: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttConfig {
    /// Empty: MQTT is off.
    pub host: String,
    pub port: u16,
    /// `mqtts://`: TLS through the system's `openssl s_client`.
    pub tls: bool,
    /// Names this sensor in topics (`netwatch/<sensor>/…`) and in Home Assistant.
    pub sensor: String,
    pub username: String,
    pub password: String,
    pub ca_file: String,
    pub version: Version,
    pub discovery: bool,
    pub discovery_prefix: String,
    pub keepalive_s: u16,
    pub queue: u32,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            host: String::new(),
            port: 1883,
            tls: false,
            sensor: String::new(),
            username: String::new(),
            password: String::new(),
            ca_file: String::new(),
            version: Version::V311,
            discovery: true,
            discovery_prefix: "homeassistant".into(),
            keepalive_s: 30,
            queue: 256,
        }
    }
}

impl MqttConfig {
    pub fn on(&self) -> bool {
        !self.host.is_empty()
    }

    /// `mqtt://host:port` as configured (for logs and the API; no credentials).
    pub fn broker(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// A topic level: letters, digits, `-` and `_` (no `/`, `+`, `#`, which MQTT gives meaning).
fn topic_level(key: &str, s: &str) -> Result<String, ConfigError> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(
            key,
            "is 1 to 64 letters, digits, '-' or '_' (it is an MQTT topic level)",
        ));
    }
    Ok(s.to_string())
}

/// The default sensor name: the host name, cut to what a topic level may hold.
pub fn default_sensor(hostname: &str) -> String {
    let s: String = hostname
        .split('.')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    if s.is_empty() {
        "netwatch".into()
    } else {
        s
    }
}

impl FileMqtt {
    pub fn validate(&self) -> Result<MqttConfig, ConfigError> {
        let d = MqttConfig::default();
        let Some(b) = self.broker.as_deref().filter(|b| !b.is_empty()) else {
            return Ok(d);
        };
        let (tls, rest) = if let Some(r) = b.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = b.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(invalid(
                "mqtt.broker",
                "is mqtt://HOST[:PORT] or mqtts://HOST[:PORT]",
            ));
        };
        let rest = rest.trim_end_matches('/');
        let default_port = if tls { 8883 } else { 1883 };
        let bad = || {
            invalid(
                "mqtt.broker",
                "names a host and at most a port (no user, no path)",
            )
        };
        let (host, port) = if let Some(r) = rest.strip_prefix('[') {
            let (h, p) = r.split_once(']').ok_or_else(bad)?;
            (h, p.strip_prefix(':'))
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        let port = match port {
            None => default_port,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?,
        };
        if host.is_empty()
            || host.len() > 253
            || !host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".-_:".contains(&c))
        {
            return Err(bad());
        }
        let sensor = match self.sensor.as_deref() {
            Some(s) => topic_level("mqtt.sensor", s)?,
            None => default_sensor(&crate::addr::hostname()),
        };
        let version = match self.protocol.as_deref().unwrap_or("3.1.1") {
            "3.1.1" | "4" => Version::V311,
            "5" | "5.0" => Version::V5,
            _ => return Err(invalid("mqtt.protocol", "is \"3.1.1\" or \"5\"")),
        };
        let text = |key: &str, v: &Option<String>| -> Result<String, ConfigError> {
            let v = v.clone().unwrap_or_default();
            if v.len() > 1024 || v.chars().any(|c| c.is_control()) {
                return Err(invalid(
                    key,
                    "is at most 1024 characters, without control characters",
                ));
            }
            Ok(v)
        };
        let username = text("mqtt.username", &self.username)?;
        let password = text("mqtt.password", &self.password)?;
        if username.is_empty() && !password.is_empty() {
            return Err(invalid("mqtt.password", "needs mqtt.username too"));
        }
        let ca_file = text("mqtt.ca_file", &self.ca_file)?;
        if !ca_file.is_empty() && !tls {
            return Err(invalid("mqtt.ca_file", "is for mqtts:// brokers only"));
        }
        let discovery_prefix = match self.discovery_prefix.as_deref() {
            Some(p) => topic_level("mqtt.discovery_prefix", p)?,
            None => d.discovery_prefix,
        };
        Ok(MqttConfig {
            host: host.to_string(),
            port,
            tls,
            sensor,
            username,
            password,
            ca_file,
            version,
            discovery: self.discovery.unwrap_or(true),
            discovery_prefix,
            keepalive_s: ranged("mqtt.keepalive_s", self.keepalive_s, 30, 5, 3600)? as u16,
            queue: ranged("mqtt.queue", self.queue, d.queue, 8, 4096)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MqttConfig, ConfigError> {
        let f: FileMqtt = toml::from_str(text).unwrap();
        f.validate()
    }

    #[test]
    fn broker_urls_and_defaults() {
        assert!(!parse("").unwrap().on());
        let c = parse("broker = \"mqtt://192.168.1.2\"\nsensor = \"attic\"").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.tls, c.version),
            ("192.168.1.2", 1883, false, Version::V311)
        );
        assert_eq!(
            (c.sensor.as_str(), c.keepalive_s, c.queue),
            ("attic", 30, 256)
        );
        let c =
            parse("broker = \"mqtts://[fd00::2]\"\nprotocol = \"5\"\nca_file = \"/etc/ca.pem\"")
                .unwrap();
        assert_eq!((c.host.as_str(), c.port, c.tls), ("fd00::2", 8883, true));
        assert_eq!(
            (c.broker().as_str(), c.version),
            ("mqtts://[fd00::2]:8883", Version::V5)
        );
        assert_eq!(default_sensor("gw.lan"), "gw");
        assert_eq!(default_sensor("..."), "netwatch");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("broker = \"http://x\"", "mqtt.broker"),
            ("broker = \"mqtt://u:p@x\"", "mqtt.broker"),
            ("broker = \"mqtt://x:0\"", "mqtt.broker"),
            ("broker = \"mqtt://x/topic\"", "mqtt.broker"),
            ("broker = \"mqtt://x\"\nsensor = \"a/#\"", "mqtt.sensor"),
            ("broker = \"mqtt://x\"\nprotocol = \"3\"", "mqtt.protocol"),
            ("broker = \"mqtt://x\"\npassword = \"p\"", "mqtt.password"),
            ("broker = \"mqtt://x\"\nca_file = \"/c\"", "mqtt.ca_file"),
            ("broker = \"mqtt://x\"\nkeepalive_s = 1", "mqtt.keepalive_s"),
            (
                "broker = \"mqtt://x\"\ndiscovery_prefix = \"\"",
                "mqtt.discovery_prefix",
            ),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
