//! The vocabulary every configuration section uses to validate itself: [`ConfigError`] (each
//! rejected value names its key, the value and the allowed range), range checks with
//! defaults, CIDR and domain lists, and the allowlists and port sets the rules look up on
//! the packet path. Each stage owns its section's schema (the raw TOML form, defaults, ranges,
//! validation) and builds it with these; `config` loads, layers and assembles the sections.
//! A foundation like `addr`: it imports no stage.

use std::fmt;

use serde::Deserialize;

use crate::addr::Cidr;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {path}: {msg}")]
    Parse { path: String, msg: String },
    #[error("config key `{key}`: {msg}")]
    Invalid { key: String, msg: String },
}

pub fn invalid(key: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        msg: msg.into(),
    }
}

pub fn ranged<T: PartialOrd + fmt::Display + Copy>(
    key: &str,
    v: Option<T>,
    default: T,
    lo: T,
    hi: T,
) -> Result<T, ConfigError> {
    let v = v.unwrap_or(default);
    // Written so that NaN (which TOML can spell) is out of every range.
    if !(v >= lo && v <= hi) {
        return Err(invalid(
            key,
            format!("{v} is out of range, allowed {lo}..={hi}"),
        ));
    }
    Ok(v)
}

pub fn cidrs(
    key: &str,
    v: &Option<Vec<String>>,
    default: &[&str],
) -> Result<Vec<Cidr>, ConfigError> {
    match v {
        Some(list) => list
            .iter()
            .map(|s| s.parse::<Cidr>().map_err(|e| invalid(key, e)))
            .collect(),
        None => Ok(default.iter().filter_map(|s| s.parse().ok()).collect()),
    }
}

pub fn domains(
    key: &str,
    v: &Option<Vec<String>>,
    default: &[&str],
) -> Result<Vec<String>, ConfigError> {
    let list: Vec<String> = match v {
        Some(l) => l.clone(),
        None => default.iter().map(|s| s.to_string()).collect(),
    };
    let mut out = Vec::with_capacity(list.len());
    for d in list {
        let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        if d.is_empty()
            || d.len() > 253
            || !d
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b'_')
        {
            return Err(invalid(key, format!("`{d}` is not a domain name")));
        }
        out.push(d);
    }
    Ok(out)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAllow {
    pub allow_src: Option<Vec<String>>,
    pub allow_dst: Option<Vec<String>>,
    pub allow_ports: Option<Vec<u16>>,
}

/// A set of ports, looked up on the packet path (allowlists for every new flow, login ports
/// for every closed TCP connection): those below 1024 as a bitmap, so most lookups (80, 443,
/// 22…) end without a search; the rest sorted.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PortSet {
    low: [u64; 16],
    /// All of them, sorted and without duplicates.
    ports: Vec<u16>,
}

impl PortSet {
    pub fn new(mut ports: Vec<u16>) -> PortSet {
        ports.sort_unstable();
        ports.dedup();
        let mut low = [0u64; 16];
        for &p in ports.iter().filter(|&&p| p < 1024) {
            low[p as usize / 64] |= 1 << (p % 64);
        }
        PortSet { low, ports }
    }

    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        match self.low.get(port as usize / 64) {
            Some(w) => w >> (port % 64) & 1 != 0,
            None => self.ports.binary_search(&port).is_ok(),
        }
    }

    pub fn as_slice(&self) -> &[u16] {
        &self.ports
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Allow {
    pub src: Vec<Cidr>,
    pub dst: Vec<Cidr>,
    pub ports: PortSet,
}

impl Allow {
    pub fn new(src: Vec<Cidr>, dst: Vec<Cidr>, ports: Vec<u16>) -> Allow {
        Allow {
            src,
            dst,
            ports: PortSet::new(ports),
        }
    }

    pub fn src_allowed(&self, a: &crate::addr::Addr) -> bool {
        self.src.iter().any(|c| c.contains(a))
    }

    #[inline]
    pub fn port_listed(&self, port: u16) -> bool {
        self.ports.contains(port)
    }

    pub fn dst_allowed(&self, a: &crate::addr::Addr, port: u16) -> bool {
        (port != 0 && self.port_listed(port)) || self.dst.iter().any(|c| c.contains(a))
    }
}

/// A rule's allowlist from its `allow_src`, `allow_dst` and `allow_ports` keys under `prefix`.
pub fn allow(prefix: &str, a: &FileAllow, default_ports: &[u16]) -> Result<Allow, ConfigError> {
    Ok(Allow::new(
        cidrs(&format!("{prefix}.allow_src"), &a.allow_src, &[])?,
        cidrs(&format!("{prefix}.allow_dst"), &a.allow_dst, &[])?,
        a.allow_ports
            .clone()
            .unwrap_or_else(|| default_ports.to_vec()),
    ))
}
