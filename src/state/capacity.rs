//! Table capacities: the profile (`router`, `standard`, `sensor`) chooses every fixed-size
//! table's capacity at start, and `[capacity]` overrides each within its range. Nothing grows
//! after that.

use serde::Deserialize;

use crate::settings::{ranged, ConfigError};

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
            devices: 256 * k,
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
    pub devices: usize,
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
    pub devices: Option<usize>,
}

impl FileCapacity {
    /// The profile's capacities with the file's overrides, each within its range.
    pub fn validate(&self, profile: Profile) -> Result<Capacity, ConfigError> {
        let p = profile.capacities();
        let c = self;
        const MAXCAP: usize = 4_000_000;
        Ok(Capacity {
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
            devices: ranged("capacity.devices", c.devices, p.devices, 16, MAXCAP)?,
        })
    }
}
