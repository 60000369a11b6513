//! OpenWrt UCI configuration (`/etc/config/netwatch`), read directly so no shell converter is
//! needed on the router. The UCI file is turned into the same TOML tree `config.toml` would
//! give and validated by the same code, so both forms accept exactly the same settings; errors
//! name the UCI line.
//!
//! Mapping (see `openwrt/files/netwatch.config` for a commented example):
//! * `config netwatch 'main'`: `profile`, `home_net` (list), `sketch_key`, `suppress_s`, `incident_idle_s`
//!   (→ `[alerts]`), `interface` (list) and `wan_interface` (→ `capture.interfaces`), `bpf`,
//!   `snaplen`, `promiscuous`, `buffer_kib`, `immediate`, `timeout_ms` (→ `[capture]`);
//!   `enabled` and `memory_limit_kib` are for the init script and ignored here.
//! * `config capacity`, `config flow`, `config windows`, `config store`, `config syslog`,
//!   `config eve`, `config daemon`, `config web`, `config enrich`, `config notify`, `config mqtt`, `config respond`: options map
//!   1:1 to those tables.
//! * `config target` (any number): each is the next `[[notify.targets]]` (`kind`, `url`,
//!   `min_severity`, `list rules`, `token`, `ca_file`).
//! * `config rule 'portscan'` (and `synflood`, `bruteforce`, `dns_tunnel`, `beacon`,
//!   `anomaly`): options and lists map 1:1 to `[rules.<name>]`.
//!
//! Syntax accepted: `config TYPE ['NAME']`, `option KEY VALUE`, `list KEY VALUE`, values bare,
//! 'single' or "double" quoted, `#` comments, blank lines. Anything else is refused with its
//! line number.

use std::collections::BTreeMap;

use crate::config::{ConfigError, FileConfig};

/// Keys whose UCI value is a boolean (`1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`).
const BOOL_KEYS: &[&str] = &[
    "enabled",
    "promiscuous",
    "immediate",
    "stdout",
    "allow_root",
    "exclude_own_traffic",
    "new_host_events",
    "discovery",
    "block_lan",
];
/// Lists of numbers (ports).
const INT_LIST_KEYS: &[&str] = &["ports", "extra_ports", "allow_ports"];
/// Keys that stay strings even when they look like numbers.
const STRING_KEYS: &[&str] = &[
    "profile",
    "bpf",
    "wan_interface",
    "path",
    "target",
    "format",
    "facility",
    "hostname",
    "user",
    "group",
    "token",
    "listen",
    "allow_origins",
    "endpoint",
    "model",
    "api_key",
    "kind",
    "url",
    "ca_file",
    "broker",
    "sensor",
    "username",
    "password",
    "protocol",
    "discovery_prefix",
    "mode",
    "nft",
];

/// Split one line into words, honouring quotes. `Ok(None)` for blank/comment lines.
fn words(text: &str, no: usize) -> Result<Option<Vec<String>>, String> {
    let mut out = Vec::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '#' => break,
            '\'' | '"' => {
                chars.next();
                let mut w = String::new();
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => {
                            if let Some(n) = chars.next() {
                                w.push(n);
                            }
                        }
                        Some(ch) => w.push(ch),
                        None => return Err(format!("line {no}: unterminated {c} quote")),
                    }
                }
                out.push(w);
            }
            _ => {
                let mut w = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch == ' ' || ch == '\t' || ch == '#' {
                        break;
                    }
                    if ch == '\'' || ch == '"' {
                        return Err(format!("line {no}: quote inside a bare word"));
                    }
                    w.push(ch);
                    chars.next();
                }
                out.push(w);
            }
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

fn value(key: &str, raw: &str, no: usize) -> Result<toml::Value, String> {
    if BOOL_KEYS.contains(&key) {
        return match raw {
            "1" | "true" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "0" | "false" | "no" | "off" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!(
                "line {no}: option `{key}` must be 0 or 1, not `{raw}`"
            )),
        };
    }
    if STRING_KEYS.contains(&key) {
        return Ok(toml::Value::String(raw.to_string()));
    }
    if let Ok(i) = raw.parse::<i64>() {
        return Ok(toml::Value::Integer(i));
    }
    // `0.5`, `1e-9`, `2.5E3`; never addresses (`10.0.0.1`), prefixes or words.
    let numeric = raw
        .chars()
        .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
        && raw.chars().filter(|c| *c == '.').count() <= 1
        && (raw.contains('.') || raw.contains(['e', 'E']));
    if numeric {
        if let Ok(f) = raw.parse::<f64>() {
            return Ok(toml::Value::Float(f));
        }
    }
    Ok(toml::Value::String(raw.to_string()))
}

/// Where each TOML key came from, for error messages.
pub struct UciConfig {
    pub file: FileConfig,
    /// The same settings as a TOML tree (for layering the web API's overrides on top).
    pub table: toml::Table,
    lines: BTreeMap<String, usize>,
}

impl UciConfig {
    /// Add the UCI line to an error about a key that came from it.
    pub fn annotate(&self, e: ConfigError) -> ConfigError {
        match e {
            ConfigError::Invalid { key, msg } => {
                let line = self
                    .lines
                    .iter()
                    .find(|(k, _)| key == **k || key.starts_with(&format!("{k}.")))
                    .map(|(_, l)| *l);
                match line {
                    Some(l) => ConfigError::Invalid {
                        key,
                        msg: format!("{msg} (UCI line {l})"),
                    },
                    None => ConfigError::Invalid { key, msg },
                }
            }
            other => other,
        }
    }
}

/// Parse UCI text into the config tree.
pub fn parse(text: &str, path: &str) -> Result<UciConfig, ConfigError> {
    let err = |msg: String| ConfigError::Parse {
        path: path.to_string(),
        msg,
    };
    let mut root = toml::Table::new();
    let mut lines = BTreeMap::new();
    // Current section: the TOML table path its options go to.
    let mut section: Option<Vec<String>> = None;
    let mut interfaces: Vec<toml::Value> = Vec::new();
    let mut iface_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let no = i + 1;
        let Some(l) = words(raw, no).map_err(err)? else {
            continue;
        };
        let w: Vec<&str> = l.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["config", ty, rest @ ..] if rest.len() <= 1 => {
                let name = rest.first().copied().unwrap_or("");
                section = Some(match (*ty, name) {
                    ("netwatch", _) => vec![],
                    ("capacity" | "flow" | "windows" | "store" | "syslog" | "eve" | "daemon" | "web" | "enrich" | "mqtt" | "respond", _) => {
                        vec![ty.to_string()]
                    }
                    ("rule", "portscan" | "synflood" | "bruteforce" | "dns_tunnel" | "beacon" | "anomaly") => {
                        vec!["rules".to_string(), name.to_string()]
                    }
                    ("notify", _) => vec!["notify".to_string()],
                    // Each `config target` is the next `[[notify.targets]]`.
                    ("target", _) => {
                        let targets = root
                            .entry("notify")
                            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                            .as_table_mut()
                            .ok_or_else(|| err(format!("line {no}: `notify` is not a section")))?
                            .entry("targets")
                            .or_insert_with(|| toml::Value::Array(Vec::new()));
                        let Some(a) = targets.as_array_mut() else {
                            return Err(err(format!("line {no}: `targets` is not a list of targets")));
                        };
                        a.push(toml::Value::Table(toml::Table::new()));
                        vec!["notify".to_string(), "targets".to_string(), (a.len() - 1).to_string()]
                    }
                    ("rule", other) => {
                        return Err(err(format!(
                            "line {no}: unknown rule `{other}` (portscan, synflood, bruteforce, dns_tunnel, beacon, anomaly)"
                        )))
                    }
                    (other, _) => return Err(err(format!("line {no}: unknown section type `{other}`"))),
                });
            }
            [kind @ ("option" | "list"), key, val] => {
                let Some(sec) = section.clone() else {
                    return Err(err(format!(
                        "line {no}: `{kind}` before any `config` section"
                    )));
                };
                let key = *key;
                if sec.is_empty() && matches!(key, "enabled" | "memory_limit_kib") {
                    continue; // read by the init script, not by netwatch
                }
                // Where the key lands in the TOML tree.
                let (path, leaf): (Vec<String>, &str) = if sec.is_empty() {
                    match key {
                        "interface" | "wan_interface" => {
                            if !val.is_empty() {
                                interfaces.push(toml::Value::String(val.to_string()));
                                iface_line = no;
                            }
                            continue;
                        }
                        "bpf" | "snaplen" | "promiscuous" | "buffer_kib" | "immediate"
                        | "timeout_ms" => (vec!["capture".into()], key),
                        "suppress_s" | "incident_idle_s" => (vec!["alerts".into()], key),
                        "profile" | "home_net" | "sketch_key" => (vec![], key),
                        other => {
                            return Err(err(format!(
                                "line {no}: unknown option `{other}` in the netwatch section"
                            )))
                        }
                    }
                } else {
                    (sec, key)
                };
                let mut v = value(leaf, val, no).map_err(err)?;
                if INT_LIST_KEYS.contains(&leaf) {
                    v = match v {
                        toml::Value::Integer(_) => v,
                        _ => {
                            return Err(err(format!(
                                "line {no}: `{leaf}` takes port numbers, not `{val}`"
                            )))
                        }
                    };
                }
                let mut t = &mut root;
                let mut at = 0;
                while at < path.len() {
                    let p = &path[at];
                    let v = t
                        .entry(p.clone())
                        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                    // A list of sections (`notify.targets`): the next part is the index.
                    let v = match (v, path.get(at + 1).and_then(|i| i.parse::<usize>().ok())) {
                        (toml::Value::Array(a), Some(i)) => {
                            at += 1;
                            a.get_mut(i)
                                .ok_or_else(|| err(format!("line {no}: no such `{p}`")))?
                        }
                        (v, _) => v,
                    };
                    t = v
                        .as_table_mut()
                        .ok_or_else(|| err(format!("line {no}: `{p}` is not a section")))?;
                    at += 1;
                }
                // Error keys name list entries as `notify.targets[0]`.
                let mut full = String::new();
                for p in &path {
                    if p.parse::<usize>().is_ok() {
                        full.push_str(&format!("[{p}]"));
                    } else {
                        if !full.is_empty() {
                            full.push('.');
                        }
                        full.push_str(p);
                    }
                }
                let full = if full.is_empty() {
                    leaf.to_string()
                } else {
                    format!("{full}.{leaf}")
                };
                lines.insert(full, no);
                if *kind == "list" {
                    let e = t
                        .entry(leaf.to_string())
                        .or_insert_with(|| toml::Value::Array(Vec::new()));
                    match e.as_array_mut() {
                        Some(a) => a.push(v),
                        None => {
                            return Err(err(format!(
                                "line {no}: `{leaf}` is an option above, not a list"
                            )))
                        }
                    }
                } else {
                    t.insert(leaf.to_string(), v);
                }
            }
            _ => {
                return Err(err(format!(
                "line {no}: expected `config TYPE [NAME]`, `option KEY VALUE` or `list KEY VALUE`"
            )))
            }
        }
    }
    if !interfaces.is_empty() {
        let cap = root
            .entry("capture")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(t) = cap.as_table_mut() {
            t.insert("interfaces".into(), toml::Value::Array(interfaces));
            lines.insert("capture.interfaces".into(), iface_line);
        }
    }
    let file = FileConfig::from_table(root.clone()).map_err(err)?;
    Ok(UciConfig {
        file,
        table: root,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_and_respond_sections() {
        let text = "config mqtt 'mqtt'\n\toption broker 'mqtt://192.168.1.2'\n\toption protocol '5'\n\
                    \toption sensor '0042'\n\toption discovery '0'\n\
                    config respond 'respond'\n\toption mode 'block'\n\toption block_lan '1'\n\
                    \tlist allow '192.0.2.10/32'\n\tlist rules 'bruteforce'\n\toption duration_s '600'\n";
        let c = parse(text, "netwatch").unwrap().file.validate().unwrap();
        assert_eq!(c.mqtt.version, crate::notify::mqtt::Version::V5);
        assert_eq!((c.mqtt.sensor.as_str(), c.mqtt.discovery), ("0042", false));
        let r = c.respond;
        assert_eq!(
            (r.mode, r.block_lan, r.duration_s),
            (crate::notify::respond::Mode::Block, true, 600)
        );
        assert_eq!(
            (r.allow.len(), r.rules.as_slice()),
            (1, &[crate::detect::RuleId::Bruteforce][..])
        );
    }

    #[test]
    fn notification_targets_are_sections_of_their_own() {
        let text = "config notify\n\toption max_per_hour 5\n\
                    config target\n\toption kind ntfy\n\toption url 'https://ntfy.sh/home-7f3a'\n\toption token 0123\n\
                    config target 'lan'\n\toption url 'http://192.168.1.10/hook'\n\
                    \tlist rules bruteforce\n\tlist rules c2.beacon\n\toption min_severity 1\n";
        let u = parse(text, "netwatch").unwrap();
        let c = u.file.validate().unwrap().notify;
        assert_eq!(c.max_per_hour, 5);
        assert_eq!(c.targets.len(), 2);
        assert_eq!(
            (c.targets[0].topic(), c.targets[0].token.as_str()),
            ("home-7f3a", "0123")
        );
        assert_eq!(c.targets[1].rules.len(), 2);
        assert_eq!(c.targets[1].min_severity, 1);
        // A bad value names the target's key and its UCI line.
        let bad =
            "config target\n\toption url 'http://x/'\nconfig target\n\toption url 'ftp://x/'\n";
        let u = parse(bad, "netwatch").unwrap();
        let e = u.annotate(u.file.validate().unwrap_err()).to_string();
        assert!(
            e.contains("notify.targets[1].url") && e.contains("UCI line 4"),
            "{e}"
        );
    }

    #[test]
    fn words_and_quotes() {
        let l = words("  option name 'va lue' # comment", 3)
            .unwrap()
            .unwrap();
        assert_eq!(l, vec!["option", "name", "va lue"]);
        let l = words("list x \"a \\\"b\\\"\"", 1).unwrap().unwrap();
        assert_eq!(l, vec!["list", "x", "a \"b\""]);
        assert!(words("# only a comment", 1).unwrap().is_none());
        assert!(words("option x 'open", 9).unwrap_err().contains("line 9"));
    }
}
