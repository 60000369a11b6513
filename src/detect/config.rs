//! The `[rules]` section (each rule's own schema lives beside the rule) and `[alerts]`, and
//! what the engine is built from.

use serde::Deserialize;

use crate::addr::Cidr;
use crate::state::capacity::Capacity;

use super::beacon::{BeaconConfig, FileBeacon};
use super::bruteforce::{BruteforceConfig, FileBruteforce};
use super::dns_tunnel::{DnsTunnelConfig, FileDnsTunnel};
use super::hosts::{AnomalyConfig, FileAnomaly};
use super::scan::{FilePortscan, PortscanConfig};
use super::synflood::{FileSynflood, SynfloodConfig};
use crate::settings::ConfigError;

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

#[derive(Clone, Debug, PartialEq)]
pub struct RulesConfig {
    pub portscan: PortscanConfig,
    pub synflood: SynfloodConfig,
    pub bruteforce: BruteforceConfig,
    pub dns_tunnel: DnsTunnelConfig,
    pub beacon: BeaconConfig,
    pub anomaly: AnomalyConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAlerts {
    pub suppress_s: Option<u32>,
    pub incident_idle_s: Option<u32>,
}

impl FileRules {
    pub fn validate(&self) -> Result<RulesConfig, ConfigError> {
        Ok(RulesConfig {
            portscan: self.portscan.validate()?,
            synflood: self.synflood.validate()?,
            bruteforce: self.bruteforce.validate()?,
            dns_tunnel: self.dns_tunnel.validate()?,
            beacon: self.beacon.validate()?,
            anomaly: self.anomaly.validate()?,
        })
    }
}

/// What the engine is built (and reconfigured) from: the rules, the tables' capacities, the
/// home networks, the sketches' key and the suppression time.
#[derive(Clone, Copy)]
pub struct DetectConfig<'a> {
    pub rules: &'a RulesConfig,
    pub capacity: &'a Capacity,
    pub home_net: &'a [Cidr],
    pub sketch_key: u64,
    pub suppress_s: u32,
    pub incident_idle_s: u32,
}
