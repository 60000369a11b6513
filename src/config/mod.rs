//! Configuration: the TOML file (`config/netwatch.toml` documents every key) is parsed into
//! `FileConfig` — every field optional, unknown keys rejected — then validated once into the
//! typed `Config` the rest of the program uses. Layers: built-in defaults < the chosen
//! profile's capacities < the file < command-line flags. Every rejected value names its key,
//! the value and the allowed range; nothing falls back silently.

pub mod uci;

use std::fmt;
use std::path::Path;

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

fn invalid(key: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        msg: msg.into(),
    }
}

fn ranged<T: PartialOrd + fmt::Display + Copy>(
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

fn cidrs(key: &str, v: &Option<Vec<String>>, default: &[&str]) -> Result<Vec<Cidr>, ConfigError> {
    match v {
        Some(list) => list
            .iter()
            .map(|s| s.parse::<Cidr>().map_err(|e| invalid(key, e)))
            .collect(),
        None => Ok(default.iter().filter_map(|s| s.parse().ok()).collect()),
    }
}

fn domains(
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

// ---------------------------------------------------------------------------------------------
// File form: everything optional, unknown keys rejected.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub profile: Option<String>,
    pub home_net: Option<Vec<String>>,
    pub sketch_key: Option<u64>,
    #[serde(default)]
    pub capture: FileCapture,
    #[serde(default)]
    pub capacity: FileCapacity,
    #[serde(default)]
    pub flow: FileFlow,
    #[serde(default)]
    pub windows: FileWindows,
    #[serde(default)]
    pub alerts: FileAlerts,
    #[serde(default)]
    pub rules: FileRules,
    #[serde(default)]
    pub store: FileStore,
    #[serde(default)]
    pub syslog: FileSyslog,
    #[serde(default)]
    pub eve: FileEve,
    #[serde(default)]
    pub daemon: FileDaemon,
    #[serde(default)]
    pub web: FileWeb,
    #[serde(default)]
    pub enrich: FileEnrich,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEnrich {
    pub endpoint: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub timeout_s: Option<u32>,
    pub max_per_minute: Option<u32>,
    pub min_severity: Option<u8>,
    pub queue: Option<usize>,
    pub max_reply_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWeb {
    pub listen: Option<Vec<String>>,
    pub max_clients: Option<usize>,
    pub token: Option<String>,
    pub allow_origins: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStore {
    pub path: Option<String>,
    pub max_kib: Option<u64>,
    pub keep: Option<u32>,
    pub max_age_days: Option<u32>,
    pub batch_alerts: Option<usize>,
    pub retry_queue: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSyslog {
    pub target: Option<String>,
    pub format: Option<String>,
    pub facility: Option<String>,
    pub hostname: Option<String>,
    pub queue: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEve {
    pub stdout: Option<bool>,
    pub path: Option<String>,
    pub max_kib: Option<u64>,
    pub keep: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDaemon {
    pub user: Option<String>,
    pub group: Option<String>,
    pub allow_root: Option<bool>,
    pub exclude_own_traffic: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCapture {
    pub interfaces: Option<Vec<String>>,
    pub bpf: Option<String>,
    pub snaplen: Option<i32>,
    pub promiscuous: Option<bool>,
    pub buffer_kib: Option<i32>,
    pub immediate: Option<bool>,
    pub timeout_ms: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCapacity {
    pub flows: Option<usize>,
    pub scan_targets: Option<usize>,
    pub scan_sweeps: Option<usize>,
    pub slow_scanners: Option<usize>,
    pub fragment_trains: Option<usize>,
    pub syn_victims: Option<usize>,
    pub login_pairs: Option<usize>,
    pub dns_domains: Option<usize>,
    pub beacon_pairs: Option<usize>,
    pub suppression: Option<usize>,
    pub hosts: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFlow {
    pub unanswered_timeout_s: Option<u32>,
    pub tcp_timeout_s: Option<u32>,
    pub udp_timeout_s: Option<u32>,
    pub closed_timeout_s: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWindows {
    pub history_1s: Option<usize>,
    pub history_10s: Option<usize>,
    pub history_60s: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAlerts {
    pub suppress_s: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAllow {
    pub allow_src: Option<Vec<String>>,
    pub allow_dst: Option<Vec<String>>,
    pub allow_ports: Option<Vec<u16>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRules {
    #[serde(default)]
    pub portscan: FilePortscan,
    #[serde(default)]
    pub synflood: FileSynflood,
    #[serde(default)]
    pub bruteforce: FileBruteforce,
    #[serde(default)]
    pub dns_tunnel: FileDnsTunnel,
    #[serde(default)]
    pub beacon: FileBeacon,
    #[serde(default)]
    pub anomaly: FileAnomaly,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAnomaly {
    pub enabled: Option<bool>,
    pub learning_days: Option<u32>,
    pub factor: Option<f64>,
    pub min_upload_mb: Option<f64>,
    pub min_download_mb: Option<f64>,
    pub min_flows: Option<u32>,
    pub min_destinations: Option<u32>,
    pub min_ports: Option<u32>,
    pub min_dns_queries: Option<u32>,
    pub new_host_events: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePortscan {
    pub enabled: Option<bool>,
    pub vertical_ports: Option<u32>,
    pub horizontal_hosts: Option<u32>,
    pub window_s: Option<u32>,
    pub slow_window_s: Option<u32>,
    pub slow_vertical_ports: Option<u32>,
    pub slow_horizontal_hosts: Option<u32>,
    #[serde(flatten)]
    pub allow: FileAllow,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSynflood {
    pub enabled: Option<bool>,
    pub syn_rate: Option<u32>,
    pub max_completion: Option<f64>,
    #[serde(flatten)]
    pub allow: FileAllow,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBruteforce {
    pub enabled: Option<bool>,
    pub attempts: Option<u32>,
    pub window_s: Option<u32>,
    pub ports: Option<Vec<u16>>,
    pub extra_ports: Option<Vec<u16>>,
    pub http_ports: Option<Vec<u16>>,
    pub max_attempt_duration_s: Option<u32>,
    pub max_reply_bytes: Option<u64>,
    pub slow_attempts: Option<u32>,
    pub slow_window_s: Option<u32>,
    pub long_attempts: Option<u32>,
    pub long_window_s: Option<u32>,
    #[serde(flatten)]
    pub allow: FileAllow,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDnsTunnel {
    pub enabled: Option<bool>,
    pub window_s: Option<u32>,
    pub min_queries: Option<u32>,
    pub min_unique: Option<u32>,
    pub name_bytes: Option<u32>,
    pub long_label: Option<u32>,
    pub entropy_bits: Option<f64>,
    pub allow_domains: Option<Vec<String>>,
    #[serde(flatten)]
    pub allow: FileAllow,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBeacon {
    pub enabled: Option<bool>,
    pub min_connections: Option<u32>,
    pub max_chance: Option<f64>,
    pub max_jitter: Option<f64>,
    /// Replaced by `max_chance` (a score had no meaning under a null model); refused with a
    /// message that says so.
    pub min_score: Option<f64>,
    pub min_interval_s: Option<f64>,
    pub max_interval_s: Option<u32>,
    #[serde(flatten)]
    pub allow: FileAllow,
}

// ---------------------------------------------------------------------------------------------
// Validated form.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Router,
    Standard,
    Sensor,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Router => "router",
            Profile::Standard => "standard",
            Profile::Sensor => "sensor",
        }
    }

    /// Table capacities of the profile (see `config/netwatch.toml` for what each costs).
    pub fn capacities(self) -> Capacity {
        let k = match self {
            Profile::Router => 1,
            Profile::Standard => 4,
            Profile::Sensor => 16,
        };
        Capacity {
            flows: 8192 * k,
            scan_targets: 2048 * k,
            scan_sweeps: 1024 * k,
            slow_scanners: 256 * k,
            fragment_trains: 64 * k,
            syn_victims: 256 * k,
            login_pairs: 512 * k,
            dns_domains: 512 * k,
            beacon_pairs: 2048 * k,
            suppression: 512 * k,
            hosts: 1024 * k,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    pub flows: usize,
    pub scan_targets: usize,
    pub scan_sweeps: usize,
    pub slow_scanners: usize,
    pub fragment_trains: usize,
    pub syn_victims: usize,
    pub login_pairs: usize,
    pub dns_domains: usize,
    pub beacon_pairs: usize,
    pub suppression: usize,
    pub hosts: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CaptureConfig {
    pub interfaces: Vec<String>,
    pub bpf: String,
    pub snaplen: i32,
    pub promiscuous: bool,
    pub buffer_kib: i32,
    pub immediate: bool,
    pub timeout_ms: i32,
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

#[derive(Clone, Debug, PartialEq)]
pub struct PortscanConfig {
    pub enabled: bool,
    pub vertical_ports: u32,
    pub horizontal_hosts: u32,
    pub window_s: u32,
    /// The slow-scan horizon (0: off) and its thresholds.
    pub slow_window_s: u32,
    pub slow_vertical_ports: u32,
    pub slow_horizontal_hosts: u32,
    pub allow: Allow,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SynfloodConfig {
    pub enabled: bool,
    pub syn_rate: u32,
    pub max_completion: f64,
    pub allow: Allow,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BruteforceConfig {
    pub enabled: bool,
    pub attempts: u32,
    pub window_s: u32,
    pub ports: PortSet,
    /// Plain-HTTP ports where each request of a connection is a (basic-auth) attempt.
    pub http_ports: PortSet,
    pub max_attempt_duration_s: u32,
    pub max_reply_bytes: u64,
    /// Low-and-slow tiers: (attempts, window_s) each.
    pub slow: (u32, u32),
    pub long: (u32, u32),
    pub allow: Allow,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DnsTunnelConfig {
    pub enabled: bool,
    pub window_s: u32,
    pub min_queries: u32,
    pub min_unique: u32,
    pub name_bytes: u32,
    pub long_label: u32,
    pub entropy_milli: u32,
    pub allow_domains: Vec<String>,
    pub allow: Allow,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BeaconConfig {
    pub enabled: bool,
    pub min_connections: u32,
    pub max_chance: f64,
    pub max_jitter: f64,
    pub min_interval_us: u64,
    pub max_interval_s: u32,
    pub allow: Allow,
}

/// `anomaly.host` / `host.new` (see `detect::hosts`).
#[derive(Clone, Debug, PartialEq)]
pub struct AnomalyConfig {
    pub enabled: bool,
    pub learning_days: u32,
    pub factor: f64,
    pub min_upload_bytes: u64,
    pub min_download_bytes: u64,
    pub min_flows: u32,
    pub min_destinations: u32,
    pub min_ports: u32,
    pub min_dns_queries: u32,
    pub new_host_events: bool,
}

/// Optional LLM enrichment of alerts (see `enrich`). `endpoint` empty: off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrichConfig {
    /// `http://HOST[:PORT]/PATH` of an OpenAI-compatible chat completions endpoint.
    pub endpoint: String,
    pub model: String,
    pub api_key: String,
    pub timeout_s: u32,
    pub max_per_minute: u32,
    /// Alerts of this severity or more severe (1 high … 3 low) are enriched.
    pub min_severity: u8,
    pub queue: usize,
    pub max_reply_bytes: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RulesConfig {
    pub portscan: PortscanConfig,
    pub synflood: SynfloodConfig,
    pub bruteforce: BruteforceConfig,
    pub dns_tunnel: DnsTunnelConfig,
    pub beacon: BeaconConfig,
    pub anomaly: AnomalyConfig,
}

/// SQLite alert store (see `store`). `path` empty: no store.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    pub path: String,
    /// Size cap over all kept files, bytes.
    pub max_bytes: u64,
    /// Files kept: the current one and `keep - 1` rotated ones.
    pub keep: u32,
    pub max_age_s: u64,
    pub batch_alerts: usize,
    pub retry_queue: usize,
}

/// Where syslog messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogTarget {
    Off,
    /// A local datagram socket (`/dev/log`, or OpenWrt's logd at the same path).
    Unix(String),
    Udp(String, u16),
    Tcp(String, u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogFormat {
    Rfc5424,
    Rfc3164,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SyslogConfig {
    pub target: SyslogTarget,
    pub format: SyslogFormat,
    /// Facility number (RFC 5424 table: daemon 3, auth 4, local0 16 …).
    pub facility: u8,
    /// HOSTNAME field; empty: the system's host name.
    pub hostname: String,
    pub queue: usize,
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

#[derive(Clone, Debug, PartialEq)]
pub struct DaemonConfig {
    pub user: String,
    pub group: String,
    pub allow_root: bool,
    pub exclude_own_traffic: bool,
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

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub profile: Profile,
    pub home_net: Vec<Cidr>,
    pub sketch_key: u64,
    pub capture: CaptureConfig,
    pub capacity: Capacity,
    pub flow: crate::state::flow::FlowTimeouts,
    pub windows: crate::state::window::WindowCaps,
    pub suppress_s: u32,
    pub rules: RulesConfig,
    pub store: StoreConfig,
    pub syslog: SyslogConfig,
    pub eve: EveConfig,
    pub daemon: DaemonConfig,
    pub web: WebConfig,
    pub enrich: EnrichConfig,
}

/// Login services watched by default: ssh, telnet, ftp, rdp, vnc, pop3, imap, submission,
/// mysql, postgresql.
pub const DEFAULT_LOGIN_PORTS: &[u16] = &[22, 23, 21, 3389, 5900, 110, 143, 587, 3306, 5432];
/// Ports whose regular polling is normal: ssh (scheduled backups, monitoring and configuration
/// management log in on a timer), DNS, NTP, DHCP, NetBIOS, SSDP, mDNS, LLMNR, STUN.
pub const DEFAULT_BEACON_ALLOW_PORTS: &[u16] =
    &[22, 53, 123, 67, 68, 137, 138, 1900, 5353, 5355, 3478];
/// Domains whose normal traffic looks tunnel-like: DNS-based blocklists and reputation
/// services (hashed or reversed-address subdomains by design).
pub const DEFAULT_DNS_ALLOW_DOMAINS: &[&str] = &[
    "spamhaus.org",
    "spamcop.net",
    "sorbs.net",
    "barracudacentral.org",
    "sophosxl.net",
    "mcafee.com",
    "e5.sk",
    "senderbase.org",
    "dnswl.org",
    "surbl.org",
    "uribl.com",
];
pub const DEFAULT_HOME_NET: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

fn allow(prefix: &str, a: &FileAllow, default_ports: &[u16]) -> Result<Allow, ConfigError> {
    Ok(Allow::new(
        cidrs(&format!("{prefix}.allow_src"), &a.allow_src, &[])?,
        cidrs(&format!("{prefix}.allow_dst"), &a.allow_dst, &[])?,
        a.allow_ports
            .clone()
            .unwrap_or_else(|| default_ports.to_vec()),
    ))
}

impl FileConfig {
    pub fn parse(text: &str, path: &str) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_string(),
            msg: e.to_string().trim_end().to_string(),
        })
    }

    /// Validate into the typed config.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let profile = match self.profile.as_deref().unwrap_or("router") {
            "router" => Profile::Router,
            "standard" => Profile::Standard,
            "sensor" => Profile::Sensor,
            other => {
                return Err(invalid(
                    "profile",
                    format!("`{other}` is not one of router, standard, sensor"),
                ))
            }
        };
        let p = profile.capacities();
        let c = &self.capacity;
        const MAXCAP: usize = 4_000_000;
        let capacity = Capacity {
            flows: ranged("capacity.flows", c.flows, p.flows, 64, MAXCAP)?,
            scan_targets: ranged(
                "capacity.scan_targets",
                c.scan_targets,
                p.scan_targets,
                16,
                MAXCAP,
            )?,
            scan_sweeps: ranged(
                "capacity.scan_sweeps",
                c.scan_sweeps,
                p.scan_sweeps,
                16,
                MAXCAP,
            )?,
            slow_scanners: ranged(
                "capacity.slow_scanners",
                c.slow_scanners,
                p.slow_scanners,
                16,
                MAXCAP,
            )?,
            fragment_trains: ranged(
                "capacity.fragment_trains",
                c.fragment_trains,
                p.fragment_trains,
                16,
                MAXCAP,
            )?,
            syn_victims: ranged(
                "capacity.syn_victims",
                c.syn_victims,
                p.syn_victims,
                16,
                MAXCAP,
            )?,
            login_pairs: ranged(
                "capacity.login_pairs",
                c.login_pairs,
                p.login_pairs,
                16,
                MAXCAP,
            )?,
            dns_domains: ranged(
                "capacity.dns_domains",
                c.dns_domains,
                p.dns_domains,
                16,
                MAXCAP,
            )?,
            beacon_pairs: ranged(
                "capacity.beacon_pairs",
                c.beacon_pairs,
                p.beacon_pairs,
                16,
                MAXCAP,
            )?,
            suppression: ranged(
                "capacity.suppression",
                c.suppression,
                p.suppression,
                16,
                MAXCAP,
            )?,
            hosts: ranged("capacity.hosts", c.hosts, p.hosts, 16, MAXCAP)?,
        };
        let cap = &self.capture;
        let capture = CaptureConfig {
            interfaces: cap.interfaces.clone().unwrap_or_default(),
            bpf: cap.bpf.clone().unwrap_or_default(),
            snaplen: ranged("capture.snaplen", cap.snaplen, 512, 96, 262_144)?,
            promiscuous: cap.promiscuous.unwrap_or(true),
            buffer_kib: ranged("capture.buffer_kib", cap.buffer_kib, 2048, 64, 1_048_576)?,
            immediate: cap.immediate.unwrap_or(true),
            timeout_ms: ranged("capture.timeout_ms", cap.timeout_ms, 100, 1, 10_000)?,
        };
        for i in &capture.interfaces {
            if i.is_empty() || i.len() > 15 || i.contains('/') || i.contains(char::is_whitespace) {
                return Err(invalid(
                    "capture.interfaces",
                    format!("`{i}` is not an interface name"),
                ));
            }
        }
        let f = &self.flow;
        let s = |v: u32| v as u64 * 1_000_000;
        let flow = crate::state::flow::FlowTimeouts {
            unanswered_us: s(ranged(
                "flow.unanswered_timeout_s",
                f.unanswered_timeout_s,
                5,
                1,
                300,
            )?),
            tcp_us: s(ranged(
                "flow.tcp_timeout_s",
                f.tcp_timeout_s,
                1800,
                10,
                432_000,
            )?),
            other_us: s(ranged(
                "flow.udp_timeout_s",
                f.udp_timeout_s,
                120,
                5,
                86_400,
            )?),
            closed_us: s(ranged(
                "flow.closed_timeout_s",
                f.closed_timeout_s,
                10,
                1,
                300,
            )?),
        };
        let w = &self.windows;
        let windows = crate::state::window::WindowCaps {
            history_1s: ranged("windows.history_1s", w.history_1s, 300, 1, 86_400)?,
            history_10s: ranged("windows.history_10s", w.history_10s, 360, 1, 86_400)?,
            history_60s: ranged("windows.history_60s", w.history_60s, 1440, 1, 525_600)?,
        };
        let r = &self.rules;
        let ps = &r.portscan;
        let portscan = PortscanConfig {
            enabled: ps.enabled.unwrap_or(true),
            vertical_ports: ranged(
                "rules.portscan.vertical_ports",
                ps.vertical_ports,
                12,
                3,
                crate::detect::scan::MAX_TRACKED as u32,
            )?,
            horizontal_hosts: ranged(
                "rules.portscan.horizontal_hosts",
                ps.horizontal_hosts,
                16,
                3,
                crate::detect::scan::MAX_TRACKED as u32,
            )?,
            window_s: ranged("rules.portscan.window_s", ps.window_s, 60, 5, 3600)?,
            slow_window_s: ranged(
                "rules.portscan.slow_window_s",
                ps.slow_window_s,
                7200,
                0,
                86_400,
            )?,
            slow_vertical_ports: ranged(
                "rules.portscan.slow_vertical_ports",
                ps.slow_vertical_ports,
                16,
                3,
                crate::detect::scan::SLOW_TRACKED as u32,
            )?,
            slow_horizontal_hosts: ranged(
                "rules.portscan.slow_horizontal_hosts",
                ps.slow_horizontal_hosts,
                16,
                3,
                crate::detect::scan::SLOW_TRACKED as u32,
            )?,
            allow: allow("rules.portscan", &ps.allow, &[])?,
        };
        let sf = &r.synflood;
        let synflood = SynfloodConfig {
            enabled: sf.enabled.unwrap_or(true),
            syn_rate: ranged("rules.synflood.syn_rate", sf.syn_rate, 200, 10, 10_000_000)?,
            max_completion: ranged(
                "rules.synflood.max_completion",
                sf.max_completion,
                0.2,
                0.0,
                1.0,
            )?,
            allow: allow("rules.synflood", &sf.allow, &[])?,
        };
        let bf = &r.bruteforce;
        let mut ports = bf
            .ports
            .clone()
            .unwrap_or_else(|| DEFAULT_LOGIN_PORTS.to_vec());
        ports.extend(bf.extra_ports.iter().flatten().copied());
        let http_ports = bf.http_ports.clone().unwrap_or_default();
        ports.extend(http_ports.iter().copied());
        if ports.is_empty() || ports.contains(&0) {
            return Err(invalid(
                "rules.bruteforce.ports",
                "needs at least one port, each 1..=65535",
            ));
        }
        let bruteforce = BruteforceConfig {
            enabled: bf.enabled.unwrap_or(true),
            attempts: ranged("rules.bruteforce.attempts", bf.attempts, 16, 3, 100_000)?,
            window_s: ranged("rules.bruteforce.window_s", bf.window_s, 120, 10, 86_400)?,
            ports: PortSet::new(ports),
            http_ports: PortSet::new(http_ports),
            slow: (
                ranged(
                    "rules.bruteforce.slow_attempts",
                    bf.slow_attempts,
                    30,
                    3,
                    1_000_000,
                )?,
                ranged(
                    "rules.bruteforce.slow_window_s",
                    bf.slow_window_s,
                    600,
                    0,
                    86_400,
                )?,
            ),
            long: (
                ranged(
                    "rules.bruteforce.long_attempts",
                    bf.long_attempts,
                    100,
                    3,
                    1_000_000,
                )?,
                ranged(
                    "rules.bruteforce.long_window_s",
                    bf.long_window_s,
                    3600,
                    0,
                    604_800,
                )?,
            ),
            max_attempt_duration_s: ranged(
                "rules.bruteforce.max_attempt_duration_s",
                bf.max_attempt_duration_s,
                60,
                1,
                3600,
            )?,
            max_reply_bytes: ranged(
                "rules.bruteforce.max_reply_bytes",
                bf.max_reply_bytes,
                16_384,
                256,
                1 << 30,
            )?,
            allow: allow("rules.bruteforce", &bf.allow, &[])?,
        };
        let dt = &r.dns_tunnel;
        let dns_tunnel = DnsTunnelConfig {
            enabled: dt.enabled.unwrap_or(true),
            window_s: ranged("rules.dns_tunnel.window_s", dt.window_s, 60, 10, 3600)?,
            min_queries: ranged(
                "rules.dns_tunnel.min_queries",
                dt.min_queries,
                20,
                5,
                1_000_000,
            )?,
            min_unique: ranged(
                "rules.dns_tunnel.min_unique",
                dt.min_unique,
                12,
                5,
                crate::detect::dns_tunnel::MAX_UNIQUE,
            )?,
            name_bytes: ranged(
                "rules.dns_tunnel.name_bytes",
                dt.name_bytes,
                1000,
                100,
                10_000_000,
            )?,
            long_label: ranged("rules.dns_tunnel.long_label", dt.long_label, 32, 16, 63)?,
            entropy_milli: (ranged(
                "rules.dns_tunnel.entropy_bits",
                dt.entropy_bits,
                3.5,
                1.0,
                8.0,
            )? * 1000.0) as u32,
            allow_domains: domains(
                "rules.dns_tunnel.allow_domains",
                &dt.allow_domains,
                DEFAULT_DNS_ALLOW_DOMAINS,
            )?,
            allow: allow("rules.dns_tunnel", &dt.allow, &[])?,
        };
        let bc = &r.beacon;
        if bc.min_score.is_some() {
            return Err(invalid(
                "rules.beacon.min_score",
                "replaced by `max_chance` (how likely random traffic is to look this regular; \
                 default 1e-9, smaller alerts less); remove min_score",
            ));
        }
        let beacon = BeaconConfig {
            enabled: bc.enabled.unwrap_or(true),
            min_connections: ranged(
                "rules.beacon.min_connections",
                bc.min_connections,
                8,
                4,
                crate::detect::beacon::RING as u32,
            )?,
            max_chance: ranged("rules.beacon.max_chance", bc.max_chance, 1e-9, 1e-30, 1e-3)?,
            max_jitter: ranged("rules.beacon.max_jitter", bc.max_jitter, 0.5, 0.0, 0.8)?,
            min_interval_us: (ranged(
                "rules.beacon.min_interval_s",
                bc.min_interval_s,
                0.25,
                0.05,
                3600.0,
            )? * 1e6) as u64,
            max_interval_s: ranged(
                "rules.beacon.max_interval_s",
                bc.max_interval_s,
                7200,
                10,
                86_400,
            )?,
            allow: allow("rules.beacon", &bc.allow, DEFAULT_BEACON_ALLOW_PORTS)?,
        };
        let an = &r.anomaly;
        let mb = |k: &str, v: Option<f64>, d: f64| -> Result<u64, ConfigError> {
            Ok((ranged(k, v, d, 0.1, 1_000_000.0)? * 1e6) as u64)
        };
        let anomaly = AnomalyConfig {
            enabled: an.enabled.unwrap_or(true),
            learning_days: ranged("rules.anomaly.learning_days", an.learning_days, 7, 1, 90)?,
            factor: ranged("rules.anomaly.factor", an.factor, 4.0, 1.5, 1000.0)?,
            min_upload_bytes: mb("rules.anomaly.min_upload_mb", an.min_upload_mb, 50.0)?,
            min_download_bytes: mb("rules.anomaly.min_download_mb", an.min_download_mb, 2000.0)?,
            min_flows: ranged("rules.anomaly.min_flows", an.min_flows, 300, 10, 10_000_000)?,
            min_destinations: ranged(
                "rules.anomaly.min_destinations",
                an.min_destinations,
                60,
                10,
                1000,
            )?,
            min_ports: ranged("rules.anomaly.min_ports", an.min_ports, 60, 10, 500)?,
            min_dns_queries: ranged(
                "rules.anomaly.min_dns_queries",
                an.min_dns_queries,
                300,
                10,
                10_000_000,
            )?,
            new_host_events: an.new_host_events.unwrap_or(true),
        };
        Ok(Config {
            profile,
            home_net: cidrs("home_net", &self.home_net, DEFAULT_HOME_NET)?,
            sketch_key: self.sketch_key.unwrap_or(0x6e65_7477_6174_6368),
            capture,
            capacity,
            flow,
            windows,
            suppress_s: ranged("alerts.suppress_s", self.alerts.suppress_s, 60, 1, 86_400)?,
            rules: RulesConfig {
                portscan,
                synflood,
                bruteforce,
                dns_tunnel,
                beacon,
                anomaly,
            },
            store: self.store.validate(profile)?,
            syslog: self.syslog.validate(profile)?,
            eve: self.eve.validate()?,
            daemon: self.daemon.validate()?,
            web: self.web.validate(profile)?,
            enrich: self.enrich.validate()?,
        })
    }
}

impl Profile {
    /// Default database: RAM on a router (flash wears out), persistent elsewhere.
    pub fn store_path(self) -> &'static str {
        match self {
            Profile::Router => "/tmp/netwatch/netwatch.db",
            _ => "/var/lib/netwatch/netwatch.db",
        }
    }
    /// Default size cap over all kept database files, KiB.
    pub fn store_kib(self) -> u64 {
        match self {
            Profile::Router => 4096,
            Profile::Standard => 16_384,
            Profile::Sensor => 65_536,
        }
    }
}

impl FileEnrich {
    fn validate(&self) -> Result<EnrichConfig, ConfigError> {
        let endpoint = self.endpoint.clone().unwrap_or_default().trim().to_string();
        if !endpoint.is_empty() {
            crate::enrich::Endpoint::parse(&endpoint).map_err(|e| invalid("enrich.endpoint", e))?;
        }
        let model = self.model.clone().unwrap_or_else(|| "phi3:mini".into());
        if model.is_empty() || model.len() > 200 || model.chars().any(|c| c.is_control()) {
            return Err(invalid(
                "enrich.model",
                "needs a model name of 1 to 200 characters",
            ));
        }
        let api_key = self.api_key.clone().unwrap_or_default();
        if api_key.len() > 512 || api_key.chars().any(|c| c.is_control() || c == ' ') {
            return Err(invalid(
                "enrich.api_key",
                "must be at most 512 characters without spaces or control characters",
            ));
        }
        Ok(EnrichConfig {
            endpoint,
            model,
            api_key,
            timeout_s: ranged("enrich.timeout_s", self.timeout_s, 60, 1, 600)?,
            max_per_minute: ranged("enrich.max_per_minute", self.max_per_minute, 6, 1, 600)?,
            min_severity: ranged("enrich.min_severity", self.min_severity, 2, 1, 3)?,
            queue: ranged("enrich.queue", self.queue, 32, 1, 1024)?,
            max_reply_bytes: ranged(
                "enrich.max_reply_bytes",
                self.max_reply_bytes,
                2048,
                64,
                16_384,
            )?,
        })
    }
}

impl FileStore {
    fn validate(&self, profile: Profile) -> Result<StoreConfig, ConfigError> {
        let path = self
            .path
            .clone()
            .unwrap_or_else(|| profile.store_path().to_string());
        if !path.is_empty() && (path.ends_with('/') || path.contains('\0')) {
            return Err(invalid(
                "store.path",
                format!("`{path}` is not a file path"),
            ));
        }
        Ok(StoreConfig {
            path,
            max_bytes: ranged(
                "store.max_kib",
                self.max_kib,
                profile.store_kib(),
                256,
                64 * 1024 * 1024,
            )? * 1024,
            keep: ranged("store.keep", self.keep, 2, 1, 16)?,
            max_age_s: ranged("store.max_age_days", self.max_age_days, 30, 1, 3650)? as u64
                * 86_400,
            batch_alerts: ranged("store.batch_alerts", self.batch_alerts, 256, 1, 10_000)?,
            retry_queue: ranged("store.retry_queue", self.retry_queue, 4096, 16, 1_000_000)?,
        })
    }
}

/// Facility names of RFC 5424 section 6.2.1 that a sensor would use.
const FACILITIES: &[(&str, u8)] = &[
    ("user", 1),
    ("daemon", 3),
    ("auth", 4),
    ("security", 4),
    ("authpriv", 10),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// `udp:HOST:PORT`, `tcp:HOST:PORT` (IPv6 hosts in brackets), `local`, `unix:PATH` or `off`.
pub fn parse_syslog_target(t: &str) -> Result<SyslogTarget, String> {
    let hostport = |rest: &str| -> Result<(String, u16), String> {
        let (host, port) = match rest.strip_prefix('[') {
            Some(r) => {
                let (h, p) = r
                    .split_once("]:")
                    .ok_or("an IPv6 host needs the form [ADDR]:PORT")?;
                (h, p)
            }
            None => rest.rsplit_once(':').ok_or("needs HOST:PORT")?,
        };
        if host.is_empty() || host.len() > 253 || host.contains(char::is_whitespace) {
            return Err(format!("`{host}` is not a host name or address"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("port `{port}` is not 1..=65535"))?;
        Ok((host.to_string(), port))
    };
    match t {
        "" | "off" => Ok(SyslogTarget::Off),
        "local" => Ok(SyslogTarget::Unix("/dev/log".into())),
        _ => {
            if let Some(p) = t.strip_prefix("unix:") {
                if !p.starts_with('/') {
                    return Err("unix: needs an absolute socket path".into());
                }
                Ok(SyslogTarget::Unix(p.to_string()))
            } else if let Some(r) = t.strip_prefix("udp:") {
                hostport(r).map(|(h, p)| SyslogTarget::Udp(h, p))
            } else if let Some(r) = t.strip_prefix("tcp:") {
                hostport(r).map(|(h, p)| SyslogTarget::Tcp(h, p))
            } else {
                Err(format!(
                    "`{t}` is not one of off, local, unix:PATH, udp:HOST:PORT, tcp:HOST:PORT"
                ))
            }
        }
    }
}

impl FileSyslog {
    fn validate(&self, profile: Profile) -> Result<SyslogConfig, ConfigError> {
        let target = parse_syslog_target(self.target.as_deref().unwrap_or("local"))
            .map_err(|m| invalid("syslog.target", m))?;
        // OpenWrt's logd (BusyBox syslogd heritage) expects RFC 3164.
        let default_format = if profile == Profile::Router {
            "rfc3164"
        } else {
            "rfc5424"
        };
        let format = match self.format.as_deref().unwrap_or(default_format) {
            "rfc5424" => SyslogFormat::Rfc5424,
            "rfc3164" => SyslogFormat::Rfc3164,
            other => {
                return Err(invalid(
                    "syslog.format",
                    format!("`{other}` is not rfc5424 or rfc3164"),
                ))
            }
        };
        let fac = self.facility.as_deref().unwrap_or("daemon");
        let facility = FACILITIES
            .iter()
            .find(|f| f.0 == fac)
            .map(|f| f.1)
            .ok_or_else(|| {
                invalid(
                    "syslog.facility",
                    format!("`{fac}` is not one of user, daemon, auth, security, authpriv, local0..local7"),
                )
            })?;
        let hostname = self.hostname.clone().unwrap_or_default();
        if hostname.len() > 255 || hostname.bytes().any(|b| !(33..=126).contains(&b)) {
            return Err(invalid(
                "syslog.hostname",
                "must be printable ASCII without spaces, at most 255 bytes",
            ));
        }
        Ok(SyslogConfig {
            target,
            format,
            facility,
            hostname,
            queue: ranged("syslog.queue", self.queue, 256, 1, 65_536)?,
        })
    }
}

impl FileEve {
    fn validate(&self) -> Result<EveConfig, ConfigError> {
        Ok(EveConfig {
            stdout: self.stdout.unwrap_or(true),
            path: self.path.clone().unwrap_or_default(),
            max_bytes: ranged("eve.max_kib", self.max_kib, 1024, 16, 16 * 1024 * 1024)? * 1024,
            keep: ranged("eve.keep", self.keep, 2, 1, 16)?,
        })
    }
}

impl FileDaemon {
    fn validate(&self) -> Result<DaemonConfig, ConfigError> {
        let user = self.user.clone().unwrap_or_else(|| "nobody".into());
        let group = self.group.clone().unwrap_or_else(|| "nogroup".into());
        let allow_root = self.allow_root.unwrap_or(false);
        for (k, v) in [("daemon.user", &user), ("daemon.group", &group)] {
            if v.is_empty() || v.len() > 32 || v.contains(|c: char| c == ':' || c.is_whitespace()) {
                return Err(invalid(k, format!("`{v}` is not a user or group name")));
            }
        }
        if (user == "root" || user == "0") && !allow_root {
            return Err(invalid(
                "daemon.user",
                "is root: set daemon.allow_root = true to run as root on purpose",
            ));
        }
        Ok(DaemonConfig {
            user,
            group,
            allow_root,
            exclude_own_traffic: self.exclude_own_traffic.unwrap_or(true),
        })
    }
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
    fn validate(&self, profile: Profile) -> Result<WebConfig, ConfigError> {
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

/// Keys the overrides may hold: thresholds, allowlists and suppression — never capacities,
/// paths, users or the web's own settings. An error names the first other key.
pub fn check_override_keys(t: &toml::Table) -> Result<(), ConfigError> {
    for (k, v) in t {
        match (k.as_str(), v) {
            ("alerts", toml::Value::Table(a)) => {
                if let Some(x) = a.keys().find(|x| *x != "suppress_s") {
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
                    "cannot be changed through the web API (only alerts.suppress_s and rules.*)",
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
        let f: FileConfig = toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: OVERRIDES_FILE.into(),
                msg: e.to_string().trim_end().to_string(),
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
    /// The directory NetWatch keeps its state in (the generated web token, config overrides):
    /// the store's directory, or the profile's default one when the store is off.
    pub fn state_dir(&self) -> std::path::PathBuf {
        let p = if self.store.path.is_empty() {
            self.profile.store_path()
        } else {
            self.store.path.as_str()
        };
        match Path::new(p).parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        }
    }

    /// Load and validate a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        FileConfig::parse(&text, &p)?.validate()
    }

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

    /// Built-in defaults (the `router` profile).
    pub fn default_config() -> Config {
        match FileConfig::default().validate() {
            Ok(c) => c,
            // The defaults are tested to validate; this arm is unreachable by construction.
            Err(e) => panic!("built-in defaults do not validate: {e}"), // ok: tested invariant
        }
    }
}
