//! The `[web]` section: where the server listens, how many clients it takes, the access token
//! and the origins allowed cross-origin requests.

use std::fmt;

use serde::Deserialize;

use crate::settings::{invalid, ranged, ConfigError};
use crate::state::capacity::Profile;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWeb {
    pub listen: Option<Vec<String>>,
    pub max_clients: Option<usize>,
    pub token: Option<String>,
    pub allow_origins: Option<Vec<String>>,
}

/// Where the web server listens: an address, or the addresses an interface has at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    Socket(std::net::SocketAddr),
    /// `@IFACE:PORT`: every address of IFACE when the daemon starts (the LAN bridge on a
    /// router, whose address the config file cannot know in advance).
    Iface(String, u16),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Socket(a) => write!(f, "{a}"),
            ListenAddr::Iface(i, p) => write!(f, "@{i}:{p}"),
        }
    }
}

/// How web clients prove they may look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebToken {
    /// Generated on first start into the state directory (`web.token` file).
    Generated,
    Fixed(String),
    /// No token: allowed only when every listen address is loopback.
    Off,
}

/// The web server (REST, WebSockets, /metrics, the dashboard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebConfig {
    /// Empty: the web server is off.
    pub listen: Vec<ListenAddr>,
    pub max_clients: usize,
    pub token: WebToken,
    /// Origins allowed cross-origin requests (CORS); empty: none.
    pub allow_origins: Vec<String>,
}

/// `ADDR:PORT`, `[V6]:PORT` or `@IFACE:PORT`.
pub fn parse_listen(s: &str) -> Result<ListenAddr, String> {
    if let Some(rest) = s.strip_prefix('@') {
        let (iface, port) = rest.rsplit_once(':').ok_or("`@IFACE:PORT` needs a port")?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("port `{port}` is not 1..=65535"))?;
        if iface.is_empty()
            || iface.len() > 15
            || !iface
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
        {
            return Err(format!("`{iface}` is not an interface name"));
        }
        return Ok(ListenAddr::Iface(iface.to_string(), port));
    }
    s.parse::<std::net::SocketAddr>()
        .map(ListenAddr::Socket)
        .map_err(|_| format!("`{s}` is not ADDR:PORT, [IPV6]:PORT or @IFACE:PORT"))
}

impl FileWeb {
    pub fn validate(&self, profile: Profile) -> Result<WebConfig, ConfigError> {
        // A router serves its LAN (and itself); a Pi on a mirror port has one address.
        let default: &[&str] = match profile {
            Profile::Router => &["@br-lan:8787", "127.0.0.1:8787"],
            _ => &["0.0.0.0:8787"],
        };
        let listen = match &self.listen {
            Some(l) => l.clone(),
            None => default.iter().map(|s| s.to_string()).collect(),
        };
        if listen.len() > 4 {
            return Err(invalid(
                "web.listen",
                format!("{} addresses, at most 4", listen.len()),
            ));
        }
        let listen = listen
            .iter()
            .map(|s| parse_listen(s).map_err(|m| invalid("web.listen", m)))
            .collect::<Result<Vec<_>, _>>()?;
        let max_clients = ranged("web.max_clients", self.max_clients, 16, 1, 64)?;
        let token = match self.token.as_deref().unwrap_or("") {
            "" => WebToken::Generated,
            "off" => {
                let all_loopback = listen
                    .iter()
                    .all(|l| matches!(l, ListenAddr::Socket(a) if a.ip().is_loopback()));
                if !all_loopback {
                    return Err(invalid(
                        "web.token",
                        "`off` is allowed only when every web.listen address is loopback",
                    ));
                }
                WebToken::Off
            }
            t => {
                if t.len() < 16
                    || t.len() > 128
                    || !t
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
                {
                    return Err(invalid(
                        "web.token",
                        "must be 16..=128 characters of A-Z a-z 0-9 - . _ ~ (or `off`, or empty to generate one)",
                    ));
                }
                WebToken::Fixed(t.to_string())
            }
        };
        let allow_origins = self.allow_origins.clone().unwrap_or_default();
        if allow_origins.len() > 8 {
            return Err(invalid("web.allow_origins", "at most 8 origins"));
        }
        for o in &allow_origins {
            let rest = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"));
            let ok = rest.is_some_and(|r| {
                !r.is_empty() && !r.contains('/') && r.bytes().all(|b| b.is_ascii_graphic())
            });
            if !ok {
                return Err(invalid(
                    "web.allow_origins",
                    format!("`{o}` is not an origin like http://192.168.1.10:8080 (scheme, host, optional port, no path)"),
                ));
            }
        }
        Ok(WebConfig {
            listen,
            max_clients,
            token,
            allow_origins,
        })
    }
}
