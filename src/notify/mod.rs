//! Notifications (`[notify]`) and MQTT (`[mqtt]`, in `mqtt`): alerts told to people where they are — a JSON webhook, ntfy,
//! Gotify, Slack- or Discord-compatible incoming webhooks. Off the packet path: the daemon
//! hands each emitted alert to the policy (one message per episode, an hourly digest past the
//! budget: `policy`), which builds each target's message (`format`) onto a bounded queue that
//! one thread of its own delivers.
//!
//! Rooms: `policy` (which alerts become messages), `format` (what each target is sent), this
//! file (the `[notify]` section).

pub mod deliver;
pub mod format;
pub mod mqtt;
pub mod policy;
pub mod respond;
pub mod sink;

use serde::Deserialize;

use crate::detect::RuleId;
use crate::settings::{invalid, ranged, ConfigError};

pub use format::{body, Kind, Message};
pub use policy::{Decision, Digest, Policy};
pub use sink::{Notifier, NotifyCounters};

/// One target as written in the file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTarget {
    pub kind: Option<String>,
    pub url: Option<String>,
    pub min_severity: Option<u8>,
    pub rules: Option<Vec<String>>,
    pub token: Option<String>,
    pub ca_file: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileNotify {
    pub max_per_hour: Option<u32>,
    pub episode_gap_s: Option<u32>,
    pub digest_s: Option<u32>,
    pub timeout_s: Option<u32>,
    pub queue: Option<u32>,
    pub targets: Option<Vec<FileTarget>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    /// `http://` or `https://`.
    pub url: String,
    /// Alerts of this severity or more severe (1 high, 2 medium, 3 low).
    pub min_severity: u8,
    /// Only these rules (empty: every rule).
    pub rules: Vec<RuleId>,
    /// Gotify's application token, or a bearer token for ntfy or a webhook.
    pub token: String,
    /// A CA file for a LAN service with its own certificate authority (HTTPS).
    pub ca_file: String,
}

impl Target {
    /// Whether this target wants a message of this severity and rule (`None`: a digest or a
    /// test message, which every target gets).
    pub fn wants(&self, severity: u8, rule: Option<RuleId>) -> bool {
        match rule {
            None => true,
            Some(r) => {
                severity <= self.min_severity && (self.rules.is_empty() || self.rules.contains(&r))
            }
        }
    }

    /// ntfy's topic: the URL's last path segment.
    pub fn topic(&self) -> &str {
        self.url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyConfig {
    pub max_per_hour: u32,
    pub episode_gap_s: u32,
    pub digest_s: u32,
    pub timeout_s: u32,
    pub queue: u32,
    pub targets: Vec<Target>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            max_per_hour: 10,
            episode_gap_s: 3600,
            digest_s: 3600,
            timeout_s: 10,
            queue: 32,
            targets: Vec::new(),
        }
    }
}

fn url(key: &str, u: &str) -> Result<String, ConfigError> {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .ok_or_else(|| invalid(key, "starts with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains('@') {
        return Err(invalid(key, "names a host (and no user name or password)"));
    }
    if u.len() > 2048 || u.chars().any(|c| c.is_control() || c == ' ') {
        return Err(invalid(
            key,
            "is a URL of at most 2048 characters, without spaces or control characters",
        ));
    }
    Ok(u.to_string())
}

impl FileNotify {
    pub fn validate(&self) -> Result<NotifyConfig, ConfigError> {
        let d = NotifyConfig::default();
        let mut targets = Vec::new();
        for (i, t) in self.targets.iter().flatten().enumerate() {
            let k = |f: &str| format!("notify.targets[{i}].{f}");
            let kind_name = t.kind.as_deref().unwrap_or("webhook");
            let kind = Kind::parse(kind_name).ok_or_else(|| {
                let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                invalid(&k("kind"), format!("is one of {}", kinds.join(", ")))
            })?;
            let u = t
                .url
                .as_deref()
                .ok_or_else(|| invalid(&k("url"), "is required"))?;
            let url = url(&k("url"), u)?;
            if kind == Kind::Ntfy && url.trim_end_matches('/').matches('/').count() < 3 {
                return Err(invalid(
                    &k("url"),
                    "names the ntfy topic: https://ntfy.sh/TOPIC",
                ));
            }
            let rules = t
                .rules
                .iter()
                .flatten()
                .map(|r| {
                    RuleId::ALL
                        .into_iter()
                        .find(|x| x.name() == r)
                        .ok_or_else(|| invalid(&k("rules"), format!("names no rule: {r}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let token = t.token.clone().unwrap_or_default();
            if token.chars().any(|c| c.is_control()) {
                return Err(invalid(&k("token"), "has control characters"));
            }
            targets.push(Target {
                kind,
                url,
                min_severity: ranged(&k("min_severity"), t.min_severity, 2, 1, 3)?,
                rules,
                token,
                ca_file: t.ca_file.clone().unwrap_or_default(),
            });
        }
        Ok(NotifyConfig {
            max_per_hour: ranged(
                "notify.max_per_hour",
                self.max_per_hour,
                d.max_per_hour,
                1,
                1000,
            )?,
            episode_gap_s: ranged(
                "notify.episode_gap_s",
                self.episode_gap_s,
                d.episode_gap_s,
                60,
                7 * 86_400,
            )?,
            digest_s: ranged("notify.digest_s", self.digest_s, d.digest_s, 60, 86_400)?,
            timeout_s: ranged("notify.timeout_s", self.timeout_s, d.timeout_s, 1, 120)?,
            queue: ranged("notify.queue", self.queue, d.queue, 1, 1024)?,
            targets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<NotifyConfig, ConfigError> {
        let f: FileNotify = toml::from_str(toml_text).unwrap();
        f.validate()
    }

    #[test]
    fn targets_with_defaults_and_their_filters() {
        let c = parse(
            r#"
            [[targets]]
            kind = "ntfy"
            url = "https://ntfy.sh/home-7f3a"
            [[targets]]
            url = "http://192.168.1.10:8080/hook"
            min_severity = 1
            rules = ["bruteforce", "c2.beacon"]
            "#,
        )
        .unwrap();
        assert_eq!((c.max_per_hour, c.episode_gap_s, c.queue), (10, 3600, 32));
        let (n, w) = (&c.targets[0], &c.targets[1]);
        assert_eq!(
            (n.kind, n.topic(), n.min_severity),
            (Kind::Ntfy, "home-7f3a", 2)
        );
        assert!(n.wants(2, Some(RuleId::PortscanVertical)) && !n.wants(3, Some(RuleId::HostNew)));
        assert_eq!(w.kind, Kind::Webhook);
        assert!(w.wants(1, Some(RuleId::Bruteforce)));
        assert!(!w.wants(1, Some(RuleId::DnsTunnel)), "not in its rules");
        assert!(w.wants(3, None), "digests and tests go to every target");
    }

    #[test]
    fn bad_targets_name_their_key() {
        for (text, key) in [
            (
                "[[targets]]\nkind = \"email\"\nurl = \"http://x/\"",
                "notify.targets[0].kind",
            ),
            ("[[targets]]\nkind = \"slack\"", "notify.targets[0].url"),
            ("[[targets]]\nurl = \"ftp://x/\"", "notify.targets[0].url"),
            (
                "[[targets]]\nurl = \"http://user:pw@x/\"",
                "notify.targets[0].url",
            ),
            (
                "[[targets]]\nurl = \"http://x/a b\"",
                "notify.targets[0].url",
            ),
            (
                "[[targets]]\nkind = \"ntfy\"\nurl = \"https://ntfy.sh/\"",
                "notify.targets[0].url",
            ),
            (
                "[[targets]]\nurl = \"http://x/\"\nmin_severity = 4",
                "notify.targets[0].min_severity",
            ),
            (
                "[[targets]]\nurl = \"http://x/\"\nrules = [\"portscan\"]",
                "notify.targets[0].rules",
            ),
            ("max_per_hour = 0", "notify.max_per_hour"),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
