//! Configuration: the TOML file (`config/netwatch.toml` documents every key) is parsed into
//! `FileConfig` — every field optional, unknown keys rejected — then validated once into the
//! typed `Config` the rest of the program uses. Layers: built-in defaults < the chosen
//! profile's capacities < the file < command-line flags. Every rejected value names its key,
//! the value and the allowed range; nothing falls back silently.
//!
//! Each section's schema (its raw form, defaults, ranges and validation) lives beside the code
//! it configures — `[rules.portscan]` in `detect::scan`, `[web]` in `web::config`, `[store]` in
//! `output::store` and so on — built with the vocabulary of `crate::settings`. This module
//! assembles them; `source` layers the file (TOML or UCI) and the web API's overrides and
//! reloads them; `uci` reads OpenWrt's format.

pub mod source;
pub mod uci;

use std::path::Path;

use serde::Deserialize;

use crate::addr::Cidr;
use crate::settings::{cidrs, invalid, ranged};

// The sections and the vocabulary, under the names they have always had here.
pub use crate::capture::{CaptureConfig, FileCaptureConfig};
pub use crate::daemon::privdrop::{DaemonConfig, FileDaemon};
pub use crate::detect::beacon::{BeaconConfig, FileBeacon, DEFAULT_BEACON_ALLOW_PORTS};
pub use crate::detect::bruteforce::{BruteforceConfig, FileBruteforce, DEFAULT_LOGIN_PORTS};
pub use crate::detect::config::{DetectConfig, FileAlerts, FileRules, RulesConfig};
pub use crate::detect::dns_tunnel::{DnsTunnelConfig, FileDnsTunnel, DEFAULT_DNS_ALLOW_DOMAINS};
pub use crate::detect::hosts::{AnomalyConfig, FileAnomaly};
pub use crate::detect::scan::{FilePortscan, PortscanConfig};
pub use crate::detect::synflood::{FileSynflood, SynfloodConfig};
pub use crate::enrich::{EnrichConfig, FileEnrich};
pub use crate::notify::mqtt::{FileMqtt, MqttConfig};
pub use crate::notify::respond::{FileRespond, RespondConfig};
pub use crate::notify::{FileNotify, NotifyConfig};
pub use crate::output::eve::{EveConfig, FileEve};
pub use crate::output::store::{FileStore, StoreConfig};
pub use crate::output::syslog::{
    parse_syslog_target, FileSyslog, SyslogConfig, SyslogFormat, SyslogTarget,
};
pub use crate::settings::{Allow, ConfigError, FileAllow, PortSet};
pub use crate::state::capacity::{Capacity, FileCapacity, Profile};
pub use crate::state::flow::FileFlow;
pub use crate::state::window::FileWindows;
pub use crate::web::config::{parse_listen, FileWeb, ListenAddr, WebConfig, WebToken};
pub use source::{check_override_keys, merge_tables, write_toml, ConfigSource, OVERRIDES_FILE};

// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub profile: Option<String>,
    pub home_net: Option<Vec<String>>,
    pub sketch_key: Option<u64>,
    #[serde(default)]
    pub capture: FileCaptureConfig,
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
    #[serde(default)]
    pub notify: FileNotify,
    #[serde(default)]
    pub mqtt: FileMqtt,
    #[serde(default)]
    pub respond: FileRespond,
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
    /// An incident closes after this long without an alert.
    pub incident_idle_s: u32,
    pub rules: RulesConfig,
    pub store: StoreConfig,
    pub syslog: SyslogConfig,
    pub eve: EveConfig,
    pub daemon: DaemonConfig,
    pub web: WebConfig,
    pub enrich: EnrichConfig,
    pub notify: NotifyConfig,
    pub mqtt: MqttConfig,
    pub respond: RespondConfig,
}

/// An incident closes after an hour without an alert: long enough for a slow scan's or a
/// beacon's next sighting, short enough that tomorrow's attack is a new row.
pub const DEFAULT_INCIDENT_IDLE_S: u32 = 3600;

pub const DEFAULT_HOME_NET: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

impl FileConfig {
    /// Parse a TOML file: its syntax (errors show the line), then its settings by
    /// [`FileConfig::from_table`] (errors name the key and the line it is on).
    pub fn parse(text: &str, path: &str) -> Result<FileConfig, ConfigError> {
        let err = |msg: String| ConfigError::Parse {
            path: path.to_string(),
            msg,
        };
        let t: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| err(e.to_string().trim_end().to_string()))?;
        FileConfig::from_table(t).map_err(|msg| err(source::with_line(text, msg)))
    }

    /// The settings of a TOML tree (a file, UCI translated, or overrides laid over either).
    /// Every source goes through this one deserializer: serde's code for the whole schema is
    /// generated per deserializer, and one copy of it is ~160 KB of a MIPS binary.
    pub fn from_table(t: toml::Table) -> Result<FileConfig, String> {
        toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string().trim_end().replace("\nin `", " in `"))
    }

    /// Validate into the typed config, section by section (the first invalid key is reported).
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
        let capacity = self.capacity.validate(profile)?;
        let capture = self.capture.validate()?;
        let flow = self.flow.validate()?;
        let windows = self.windows.validate()?;
        let rules = self.rules.validate()?;
        Ok(Config {
            profile,
            home_net: cidrs("home_net", &self.home_net, DEFAULT_HOME_NET)?,
            sketch_key: self.sketch_key.unwrap_or(0x6e65_7477_6174_6368),
            capture,
            capacity,
            flow,
            windows,
            suppress_s: ranged("alerts.suppress_s", self.alerts.suppress_s, 60, 1, 86_400)?,
            incident_idle_s: ranged(
                "alerts.incident_idle_s",
                self.alerts.incident_idle_s,
                DEFAULT_INCIDENT_IDLE_S,
                60,
                7 * 86_400,
            )?,
            rules,
            store: self.store.validate(profile)?,
            syslog: self.syslog.validate(profile)?,
            eve: self.eve.validate()?,
            daemon: self.daemon.validate()?,
            web: self.web.validate(profile)?,
            enrich: self.enrich.validate()?,
            notify: self.notify.validate()?,
            mqtt: self.mqtt.validate()?,
            respond: self.respond.validate()?,
        })
    }
}

impl Config {
    /// What the detection engine is built from.
    pub fn detect(&self) -> DetectConfig<'_> {
        DetectConfig {
            rules: &self.rules,
            capacity: &self.capacity,
            home_net: &self.home_net,
            sketch_key: self.sketch_key,
            suppress_s: self.suppress_s,
            incident_idle_s: self.incident_idle_s,
        }
    }

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

    /// Built-in defaults (the `router` profile).
    pub fn default_config() -> Config {
        match FileConfig::default().validate() {
            Ok(c) => c,
            // The defaults are tested to validate; this arm is unreachable by construction.
            Err(e) => panic!("built-in defaults do not validate: {e}"), // ok: tested invariant
        }
    }
}
