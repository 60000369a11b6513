//! Where a configuration comes from and how its layers are laid: the file (TOML or UCI, or
//! the built-in defaults), then the settings changed through the web API (`overrides.toml`
//! in the state directory), checked key by key. Used at start and on every reload (SIGHUP,
//! `PATCH /api/config`).

use std::path::Path;

use super::{Config, FileConfig};
use crate::settings::{invalid, ConfigError};

/// Settings changed through the web API (`PATCH /api/config`), in the state directory. They
/// are layered over the config file: defaults < profile < file < overrides.
pub const OVERRIDES_FILE: &str = "overrides.toml";

/// Where a configuration comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// The built-in defaults.
    Builtin,
    Toml(std::path::PathBuf),
    /// OpenWrt UCI (`/etc/config/netwatch`).
    Uci(std::path::PathBuf),
}

/// The configuration a package installs: the .deb's TOML file, then OpenWrt's UCI file.
pub const INSTALLED: [&str; 2] = ["/etc/netwatch/netwatch.toml", "/etc/config/netwatch"];

impl ConfigSource {
    /// What the commands that read a running sensor's data (alerts, devices, blocks, token,
    /// notify test) use without -c/--uci: the first of [`INSTALLED`] present on this machine,
    /// else the built-in defaults. On a router `netwatch alerts` then reads the store the
    /// service writes.
    pub fn installed() -> Self {
        Self::first_present(&INSTALLED)
    }

    fn first_present(paths: &[&str]) -> Self {
        match paths.iter().map(std::path::Path::new).find(|p| p.is_file()) {
            Some(p) if p.extension().is_some_and(|e| e == "toml") => Self::Toml(p.into()),
            Some(p) => Self::Uci(p.into()),
            None => Self::Builtin,
        }
    }
}

/// Keys the overrides may hold: thresholds, allowlists and suppression — never capacities,
/// paths, users or the web's own settings. An error names the first other key.
pub fn check_override_keys(t: &toml::Table) -> Result<(), ConfigError> {
    for (k, v) in t {
        match (k.as_str(), v) {
            ("alerts", toml::Value::Table(a)) => {
                if let Some(x) = a
                    .keys()
                    .find(|x| !matches!(x.as_str(), "suppress_s" | "incident_idle_s"))
                {
                    return Err(invalid(
                        &format!("alerts.{x}"),
                        "cannot be changed through the web API",
                    ));
                }
            }
            ("rules", toml::Value::Table(r)) => {
                for (rule, body) in r {
                    if !matches!(
                        rule.as_str(),
                        "portscan"
                            | "synflood"
                            | "bruteforce"
                            | "dns_tunnel"
                            | "beacon"
                            | "anomaly"
                    ) {
                        return Err(invalid(
                            &format!("rules.{rule}"),
                            "is not a rule (portscan, synflood, bruteforce, dns_tunnel, beacon, anomaly)",
                        ));
                    }
                    if !body.is_table() {
                        return Err(invalid(
                            &format!("rules.{rule}"),
                            "must be a table of settings",
                        ));
                    }
                }
            }
            ("alerts" | "rules", _) => return Err(invalid(k, "must be a table of settings")),
            _ => {
                return Err(invalid(
                    k,
                    "cannot be changed through the web API (only alerts.suppress_s, alerts.incident_idle_s and rules.*)",
                ))
            }
        }
    }
    Ok(())
}

/// `over` laid over `base`: tables merge key by key, anything else is replaced.
pub fn merge_tables(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// A TOML document of `t` (tables of scalars and arrays, as the overrides hold).
pub fn write_toml(t: &toml::Table) -> String {
    fn scalar(out: &mut String, v: &toml::Value) {
        use std::fmt::Write as _;
        match v {
            toml::Value::String(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c if (c as u32) < 0x20 || c == '\u{7f}' => {
                            let _ = write!(out, "\\u{:04X}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            toml::Value::Integer(i) => {
                let _ = write!(out, "{i}");
            }
            toml::Value::Float(f) => {
                let _ = write!(out, "{f:?}");
            }
            toml::Value::Boolean(b) => {
                let _ = write!(out, "{b}");
            }
            toml::Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    scalar(out, x);
                }
                out.push(']');
            }
            toml::Value::Datetime(d) => {
                let _ = write!(out, "{d}");
            }
            toml::Value::Table(t) => {
                // Inline table (not produced for the overrides' shape, kept for completeness).
                out.push('{');
                for (i, (k, x)) in t.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    scalar(out, &toml::Value::String(k.clone()));
                    out.push_str(" = ");
                    scalar(out, x);
                }
                out.push('}');
            }
        }
    }
    // Bare keys where TOML allows them, quoted otherwise.
    fn key(k: &str) -> String {
        if !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            k.to_string()
        } else {
            let mut q = String::new();
            scalar(&mut q, &toml::Value::String(k.to_string()));
            q
        }
    }
    fn table(out: &mut String, path: &str, t: &toml::Table) {
        let scalars: Vec<_> = t.iter().filter(|(_, v)| !v.is_table()).collect();
        if !path.is_empty() && !scalars.is_empty() {
            out.push_str(&format!("\n[{path}]\n"));
        }
        for (k, v) in scalars {
            out.push_str(&key(k));
            out.push_str(" = ");
            scalar(out, v);
            out.push('\n');
        }
        for (k, v) in t {
            if let toml::Value::Table(s) = v {
                let p = if path.is_empty() {
                    key(k)
                } else {
                    format!("{path}.{}", key(k))
                };
                table(out, &p, s);
            }
        }
    }
    let mut out = String::new();
    table(&mut out, "", t);
    out
}

impl ConfigSource {
    /// The file's settings as a TOML tree, and validated on their own (so an error in the
    /// file is reported as the file's, with its line).
    pub fn base(&self) -> Result<(toml::Table, Config), ConfigError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.display().to_string(),
                source,
            })
        };
        match self {
            ConfigSource::Builtin => Ok((toml::Table::new(), Config::default_config())),
            ConfigSource::Toml(p) => {
                let text = read(p)?;
                let name = p.display().to_string();
                let cfg = FileConfig::parse(&text, &name)?.validate()?;
                let t = text
                    .parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse {
                        path: name,
                        msg: e.to_string().trim_end().to_string(),
                    })?;
                Ok((t, cfg))
            }
            ConfigSource::Uci(p) => {
                let text = read(p)?;
                let u = crate::config::uci::parse(&text, &p.display().to_string())?;
                let cfg = u.file.validate().map_err(|e| u.annotate(e))?;
                Ok((u.table, cfg))
            }
        }
    }

    /// Validate `base` with `overrides` laid over it.
    pub fn layered(base: &toml::Table, overrides: &toml::Table) -> Result<Config, ConfigError> {
        check_override_keys(overrides)?;
        let mut t = base.clone();
        merge_tables(&mut t, overrides);
        let f = FileConfig::from_table(t).map_err(|msg| ConfigError::Parse {
            path: OVERRIDES_FILE.into(),
            msg,
        })?;
        f.validate()
    }

    /// The overrides file of a configuration, and its settings (None when there is none).
    pub fn overrides(
        cfg: &Config,
    ) -> Result<(std::path::PathBuf, Option<toml::Table>), ConfigError> {
        let path = cfg.state_dir().join(OVERRIDES_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let t = text
                    .parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse {
                        path: path.display().to_string(),
                        msg: e.to_string().trim_end().to_string(),
                    })?;
                Ok((path, Some(t)))
            }
            // No state directory yet (or a file where it should be: the store reports that).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Ok((path, None))
            }
            Err(source) => Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// The effective configuration: the file (or the defaults) with the web API's overrides
    /// from the state directory laid over it. Also returns the overrides file when it applied.
    pub fn load(&self) -> Result<(Config, Option<std::path::PathBuf>), ConfigError> {
        let (base, cfg) = self.base()?;
        match Self::overrides(&cfg)? {
            (path, Some(over)) => {
                let c = Self::layered(&base, &over).map_err(|e| ConfigError::Parse {
                    path: path.display().to_string(),
                    msg: format!("{e} (settings changed through the web API; delete the file to go back to the config file's)"),
                })?;
                Ok((c, Some(path)))
            }
            (_, None) => Ok((cfg, None)),
        }
    }
}

impl Config {
    /// Load and validate an OpenWrt UCI file (`/etc/config/netwatch`).
    pub fn load_uci(path: &Path) -> Result<Config, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        let u = crate::config::uci::parse(&text, &p)?;
        u.file.validate().map_err(|e| u.annotate(e))
    }
}

/// A settings error (`... in `rules.portscan.window_s``) with the line of `text` that holds the
/// key, when it can be found: the key's line after its table's header.
pub fn with_line(text: &str, msg: String) -> String {
    let path: Vec<&str> = match msg.rsplit_once("in `") {
        Some((_, rest)) => rest.trim_end_matches('`').split('.').collect(),
        None => Vec::new(),
    };
    // An unknown field names itself; other errors name the key they are about last.
    let key = match msg.split_once("unknown field `") {
        Some((_, rest)) => rest.split('`').next().unwrap_or(""),
        None => path.last().copied().unwrap_or(""),
    };
    let table = match msg.contains("unknown field `") {
        true => path.join("."),
        false => path[..path.len().saturating_sub(1)].join("."),
    };
    if key.is_empty() {
        return msg;
    }
    let mut in_table = table.is_empty();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(h) = l.strip_prefix('[') {
            let name: String = h
                .trim_matches(|c| c == '[' || c == ']')
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            in_table = name == table;
            continue;
        }
        let is_key = l
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with('='));
        if in_table && is_key {
            return format!("{msg} (line {})", i + 1);
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::ConfigSource;

    #[test]
    fn the_installed_config_is_the_first_file_present() {
        let d = std::env::temp_dir().join(format!("nw-installed-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let (toml, uci) = (d.join("netwatch.toml"), d.join("netwatch"));
        let paths = [toml.to_str().unwrap(), uci.to_str().unwrap()];
        assert_eq!(ConfigSource::first_present(&paths), ConfigSource::Builtin);
        std::fs::write(&uci, "config netwatch 'main'\n").unwrap();
        assert_eq!(
            ConfigSource::first_present(&paths),
            ConfigSource::Uci(uci.clone())
        );
        std::fs::write(&toml, "").unwrap();
        assert_eq!(
            ConfigSource::first_present(&paths),
            ConfigSource::Toml(toml)
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
