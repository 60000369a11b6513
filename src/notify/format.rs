//! The message each kind of target is sent, built from an alert: a title and a plain-language
//! text (the alert's summary and explanation, which quote strings from the wire), escaped for
//! each format: JSON always, Slack's `&`/`<`/`>` entities, Discord's markdown and mentions.

use std::fmt::Write;

use crate::detect::Alert;
use crate::output::json;

/// Target kinds (`notify.targets[].kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The EVE record (with the explanation) as JSON.
    Webhook,
    /// ntfy's JSON publishing: the topic is the URL's last path segment.
    Ntfy,
    Gotify,
    Slack,
    Discord,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Webhook,
        Kind::Ntfy,
        Kind::Gotify,
        Kind::Slack,
        Kind::Discord,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Ntfy => "ntfy",
            Kind::Gotify => "gotify",
            Kind::Slack => "slack",
            Kind::Discord => "discord",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a message says, before a target's format.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    pub title: String,
    pub text: String,
    /// 1 high, 2 medium, 3 low (the alert's; a digest's is 3).
    pub severity: u8,
    /// The rule's name (`portscan.vertical`), or `digest`.
    pub tag: &'static str,
    /// The alert's EVE record, one JSON object (none for a digest or a test message).
    pub eve: Option<String>,
}

/// Longest text sent (Discord's limit is 2,000 characters; the others take more).
pub const TEXT_MAX: usize = 1800;

fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut i = max;
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.truncate(i);
        s.push('…');
    }
}

/// "NetWatch: port scan from kitchen-pi (192.168.1.66)": what, and by whom (the device's name
/// when the inventory knows it; names from the wire are data in every format).
fn title(a: &Alert) -> String {
    use crate::detect::RuleId as R;
    let what = match a.rule {
        R::PortscanVertical => "port scan",
        R::PortscanHorizontal => "address sweep",
        R::Synflood => "SYN flood",
        R::Bruteforce => "password guessing",
        R::DnsTunnel => "DNS tunnel",
        R::C2Beacon => "command-and-control beacon",
        R::SensorHealth => "sensor health",
        R::AnomalyHost => "unusual traffic",
        R::HostNew => "new device",
    };
    let name = a
        .src_device
        .as_ref()
        .map(|d| d.name.as_str())
        .filter(|n| !n.is_empty());
    match (a.rule, name) {
        (R::SensorHealth, _) => format!("NetWatch: {what}"),
        (_, Some(n)) => format!("NetWatch: {what} from {n} ({})", a.src),
        _ => format!("NetWatch: {what} from {}", a.src),
    }
}

impl Message {
    /// The message for alert `a` (`eve`: its EVE line).
    pub fn of_alert(a: &Alert, eve: &str) -> Message {
        let mut text = String::new();
        let _ = a.summary(&mut text);
        text.push_str(".\n");
        let _ = crate::detect::explain::explain(a, &mut text);
        cut(&mut text, TEXT_MAX);
        Message {
            title: title(a),
            text,
            severity: a.rule.severity(),
            tag: a.rule.name(),
            eve: Some(eve.trim_end().to_string()),
        }
    }

    pub fn digest(text: String) -> Message {
        Message {
            title: "NetWatch: more alerts".into(),
            text,
            severity: 3,
            tag: "digest",
            eve: None,
        }
    }

    pub fn test() -> Message {
        Message {
            title: "NetWatch: test message".into(),
            text: "This is a test message from NetWatch: notifications reach you.".into(),
            severity: 3,
            tag: "test",
            eve: None,
        }
    }
}

/// Slack's three entities (its markup needs only these escaped in text).
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Discord markdown: every markup character taken literally.
fn discord_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if "\\*_~`|<>#-[]()@:".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// The request body for a target of `kind` (JSON), `topic` for ntfy.
pub fn body(kind: Kind, m: &Message, topic: &str) -> String {
    let mut b = String::with_capacity(m.text.len() + 256);
    match kind {
        Kind::Webhook => match &m.eve {
            Some(eve) => b.push_str(eve),
            None => {
                b.push_str("{\"event_type\":\"netwatch\",\"title\":");
                json::string(&mut b, &m.title);
                b.push_str(",\"message\":");
                json::string(&mut b, &m.text);
                b.push('}');
            }
        },
        Kind::Ntfy => {
            b.push_str("{\"topic\":");
            json::string(&mut b, topic);
            b.push_str(",\"title\":");
            json::string(&mut b, &m.title);
            b.push_str(",\"message\":");
            json::string(&mut b, &m.text);
            // ntfy: 5 urgent, 4 high, 3 default, 2 low.
            let (p, tag) = match m.severity {
                1 => (5, "rotating_light"),
                2 => (4, "warning"),
                _ => (3, "information_source"),
            };
            let _ = write!(b, ",\"priority\":{p},\"tags\":[\"{tag}\",");
            json::string(&mut b, m.tag);
            b.push_str("]}");
        }
        Kind::Gotify => {
            b.push_str("{\"title\":");
            json::string(&mut b, &m.title);
            b.push_str(",\"message\":");
            json::string(&mut b, &m.text);
            let p = match m.severity {
                1 => 8,
                2 => 5,
                _ => 2,
            };
            let _ = write!(b, ",\"priority\":{p}}}");
        }
        Kind::Slack => {
            let t = format!("*{}*\n{}", slack_escape(&m.title), slack_escape(&m.text));
            b.push_str("{\"text\":");
            json::string(&mut b, &t);
            b.push('}');
        }
        Kind::Discord => {
            let t = format!(
                "**{}**\n{}",
                discord_escape(&m.title),
                discord_escape(&m.text)
            );
            b.push_str("{\"content\":");
            json::string(&mut b, &t);
            // No @everyone, role or user pings, whatever the text holds.
            b.push_str(",\"allowed_mentions\":{\"parse\":[]}}");
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hostile() -> Message {
        Message {
            title: "NetWatch: DNS tunnel".into(),
            text: "<img src=x> @everyone *bold* & \"quotes\"\n\u{7}".into(),
            severity: 1,
            tag: "dns.tunnel",
            eve: None,
        }
    }

    fn parse(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
    }

    #[test]
    fn every_format_is_json_and_keeps_the_text_as_data() {
        let m = hostile();
        let v = parse(&body(Kind::Ntfy, &m, "home-7f3a"));
        assert_eq!(v["topic"], "home-7f3a");
        assert_eq!(v["message"], m.text);
        assert_eq!(v["priority"], 5);
        assert_eq!(v["tags"][1], "dns.tunnel");
        let v = parse(&body(Kind::Gotify, &m, ""));
        assert_eq!(
            (v["message"].as_str(), v["priority"].as_i64()),
            (Some(m.text.as_str()), Some(8))
        );
        let v = parse(&body(Kind::Slack, &m, ""));
        let t = v["text"].as_str().unwrap();
        assert!(
            t.starts_with(
                "*NetWatch: DNS tunnel*\n&lt;img src=x&gt; @everyone *bold* &amp; \"quotes\""
            ),
            "{t}"
        );
        let v = parse(&body(Kind::Discord, &m, ""));
        let t = v["content"].as_str().unwrap();
        assert!(t.contains(r"\<img src=x\> \@everyone \*bold\* & "), "{t}");
        assert_eq!(v["allowed_mentions"]["parse"], serde_json::json!([]));
        let v = parse(&body(Kind::Webhook, &m, ""));
        assert_eq!(v["message"], m.text);
        // With an EVE record the webhook sends it as it is.
        let mut m = m;
        m.eve = Some("{\"event_type\":\"alert\"}".into());
        assert_eq!(body(Kind::Webhook, &m, ""), "{\"event_type\":\"alert\"}");
    }

    #[test]
    fn long_texts_are_cut_on_a_character() {
        let mut s = "é".repeat(TEXT_MAX);
        cut(&mut s, TEXT_MAX);
        assert!(s.len() <= TEXT_MAX + 3 && s.ends_with('…'));
        assert_eq!(Kind::parse("ntfy"), Some(Kind::Ntfy));
        assert_eq!(Kind::parse("email"), None);
    }
}
