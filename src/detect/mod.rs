//! Detection: the `Engine` runs the five rules on packet time and hands out `Alert`s.
//!
//! Rules see three kinds of input, all synchronous and allocation-free:
//! * `on_packet` — every decoded packet with what it did to the flow table;
//! * `on_close` — every flow as it ends (RST, FINs, ICMP error, expiry, eviction, flush),
//!   which is where a probe is judged to have failed or a login attempt counted;
//! * `tick` — once per second of packet time, for rules that judge a finished second.
//!
//! Each rule owns fixed-capacity state (an `LruMap`) and counts its evictions. When a rule's
//! threshold is crossed it calls `Emit::alert`, which applies the suppression table: per
//! suppression key (see the table in each rule's doc) an alert is emitted at most once per
//! `suppress_s`; repeats in between are counted and reported with the next emission.

pub mod alert;
pub mod beacon;
pub mod bruteforce;
pub mod community_id;
pub mod config;
pub mod dns_tunnel;
pub mod explain;
pub mod home_net;
pub mod hosts;
pub mod incident;
pub mod scan;
pub mod synflood;

use crate::addr::Addr;
use crate::capture::decode::{proto, tcp_flags, PacketMeta};
use crate::state::flow::{Closed, FlowEvent, FlowTable};

use crate::state::table::{LruMap, Seed, TableKey};
pub use alert::{
    write_timestamp, Alert, Evidence, Figure, RuleId, MAX_NAME_SAMPLES, MAX_SAMPLES,
    SAMPLE_NAME_LEN,
};
pub use community_id::{community_id, CommunityId};
use config::DetectConfig;

/// Suppression key: (rule, a, b, port, extra) — what each rule uses is in its doc.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SuppressKey {
    pub rule: RuleId,
    pub a: Addr,
    pub b: Addr,
    pub port: u16,
    pub extra: u64,
}

impl TableKey for SuppressKey {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        seed.hash(
            self.a.bits(),
            self.b.bits(),
            self.extra,
            (self.port as u64) << 8 | self.rule as u64,
        )
    }
}

impl SuppressKey {
    /// The same on every run and architecture (unlike the table's seeded hash).
    pub fn stable_hash(&self) -> u64 {
        let mut h = crate::state::sketch::mix(self.rule as u64 ^ 0x6e77_0000);
        for w in [
            self.a.as_u128() as u64,
            (self.a.as_u128() >> 64) as u64,
            self.b.as_u128() as u64,
            (self.b.as_u128() >> 64) as u64,
            self.port as u64,
            self.extra,
        ] {
            h = crate::state::sketch::mix(h ^ w);
        }
        h >> 1 // fits an SQLite INTEGER as a positive number
    }
}

#[derive(Clone, Copy, Default)]
struct SuppressState {
    last_emit: u64,
    first_seen: i64,
    repeats: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCounters {
    pub alerts: [u64; RuleId::ALL.len()],
    pub suppressed: u64,
    pub suppression_evictions: u64,
}

/// The gate between rules and outputs: suppression and counting.
pub struct Gate {
    suppress: LruMap<SuppressKey, SuppressState>,
    suppress_us: u64,
    pub counters: EngineCounters,
    /// Hand suppressed repeats to the sink too (marked `suppressed`).
    pub report_repeats: bool,
    /// The open incidents every alert is attached to.
    pub incidents: incident::Incidents,
    /// The LAN's devices by address, to name each alert's parties.
    pub devices: crate::state::devices::Directory,
    /// The devices each emitted alert named, with its time, for the inventory's counts (taken
    /// by the pipeline each second; at most `ALERTED` a second are counted).
    pub alerted: Vec<(crate::state::devices::Mac, i64)>,
}

/// Device parties of emitted alerts kept for the inventory between two seconds.
const ALERTED: usize = 256;

impl Gate {
    /// Keep the devices `alert` names for the inventory's alert counts.
    #[cold]
    #[inline(never)]
    fn note_parties(&mut self, alert: &Alert) {
        for d in [&alert.src_device, &alert.dst_device].into_iter().flatten() {
            if self.alerted.len() < ALERTED {
                self.alerted.push((d.mac, alert.ts));
            }
        }
    }

    /// Name the devices of `alert`'s parties (out of line: the alert path only).
    #[cold]
    #[inline(never)]
    fn tag_devices(&self, alert: &mut Alert) {
        if !self.devices.is_empty() {
            alert.src_device = self.devices.lookup(&alert.src).cloned();
            alert.dst_device = self.devices.lookup(&alert.dst).cloned();
        }
    }
}

/// What a rule calls when its threshold is crossed.
pub struct Emit<'a> {
    gate: &'a mut Gate,
    out: &'a mut dyn FnMut(&Alert),
}

impl Emit<'_> {
    /// Emit `alert` unless its key fired within `suppress_s`; `now` is monotonic packet time.
    pub fn alert(&mut self, key: SuppressKey, now: u64, alert: &mut Alert) {
        let g = &mut *self.gate;
        g.tag_devices(alert);
        match g.suppress.find(&key) {
            Some(id) => {
                let st = g.suppress.get_mut(id);
                if now < st.last_emit + g.suppress_us {
                    st.repeats = st.repeats.saturating_add(1);
                    g.counters.suppressed += 1;
                    let (repeats, first_seen) = (st.repeats, st.first_seen);
                    g.suppress.touch(id, now, 0);
                    g.incidents.attach(&key, now, false, alert);
                    if g.report_repeats {
                        alert.key = key.stable_hash();
                        alert.repeats = repeats;
                        alert.first_seen = alert.first_seen.min(first_seen);
                        alert.suppressed = true;
                        (self.out)(alert);
                    }
                    return;
                }
                alert.repeats = st.repeats;
                alert.first_seen = alert.first_seen.min(st.first_seen);
                st.repeats = 0;
                st.last_emit = now;
                g.suppress.touch(id, now, 0);
            }
            None => {
                let st = SuppressState {
                    last_emit: now,
                    first_seen: alert.first_seen,
                    repeats: 0,
                };
                if g.suppress.insert(key, st, 0, now).1.is_some() {
                    g.counters.suppression_evictions += 1;
                }
            }
        }
        g.counters.alerts[alert.rule as usize] += 1;
        if alert.src_device.is_some() || alert.dst_device.is_some() {
            g.note_parties(alert);
        }
        g.incidents.attach(&key, now, true, alert);
        alert.key = key.stable_hash();
        alert.suppressed = false;
        (self.out)(alert);
    }
}

/// What every detector implements. The engine holds a fixed set of them (no trait objects).
pub trait Rule {
    /// Called only for packets that created a flow, completed a TCP handshake, carry DNS,
    /// or are TCP SYNs (the engine skips the rest); everything else reaches a rule through
    /// `on_close`.
    fn on_packet(
        &mut self,
        _m: &PacketMeta,
        _ev: &FlowEvent,
        _flows: &FlowTable,
        _emit: &mut Emit,
    ) {
    }
    fn on_close(&mut self, _c: &Closed, _emit: &mut Emit) {}
    fn tick(&mut self, _now: u64, _wall: i64, _emit: &mut Emit) {}
    /// Entries evicted from this rule's tables so far.
    fn evictions(&self) -> u64;
    /// Entries in this rule's tables now.
    fn entries(&self) -> u64;
    /// Bytes of fixed state.
    fn footprint_bytes(&self) -> usize;
}

/// Evictions per rule, for stats and sensor health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleEvictions {
    pub scan: u64,
    pub synflood: u64,
    pub bruteforce: u64,
    pub dns_tunnel: u64,
    pub beacon: u64,
}

/// The five rules.
pub struct Rules {
    pub scan: scan::ScanRule,
    pub synflood: synflood::SynFloodRule,
    pub bruteforce: bruteforce::BruteForceRule,
    pub dns_tunnel: dns_tunnel::DnsTunnelRule,
    pub beacon: beacon::BeaconRule,
}

impl Rules {
    fn each(&mut self, mut f: impl FnMut(&mut dyn Rule)) {
        f(&mut self.scan);
        f(&mut self.synflood);
        f(&mut self.bruteforce);
        f(&mut self.dns_tunnel);
        f(&mut self.beacon);
    }
}

pub struct Engine {
    pub rules: Rules,
    pub gate: Gate,
    /// `anomaly.host` and `host.new`: fed by flow closes and a walk of the flow table once a
    /// minute, so it needs the table in `tick` (not a `Rule`).
    pub hosts: hosts::HostRule,
}

impl Engine {
    pub fn new(cfg: &DetectConfig) -> Engine {
        let c = cfg.capacity;
        Engine {
            rules: Rules {
                scan: scan::ScanRule::new(
                    cfg.rules.portscan.clone(),
                    c.scan_targets,
                    c.scan_sweeps,
                    c.slow_scanners,
                ),
                synflood: synflood::SynFloodRule::new(
                    cfg.rules.synflood.clone(),
                    c.syn_victims,
                    cfg.sketch_key,
                ),
                bruteforce: bruteforce::BruteForceRule::new(
                    cfg.rules.bruteforce.clone(),
                    c.login_pairs,
                ),
                dns_tunnel: dns_tunnel::DnsTunnelRule::new(
                    cfg.rules.dns_tunnel.clone(),
                    c.dns_domains,
                ),
                beacon: beacon::BeaconRule::new(cfg.rules.beacon.clone(), c.beacon_pairs, c.flows),
            },
            hosts: hosts::HostRule::new(
                cfg.rules.anomaly.clone(),
                cfg.home_net,
                c.hosts,
                cfg.sketch_key,
            ),
            gate: Gate {
                suppress: LruMap::new(c.suppression, 1),
                suppress_us: cfg.suppress_s as u64 * 1_000_000,
                counters: EngineCounters::default(),
                report_repeats: false,
                incidents: incident::Incidents::new(c.suppression, cfg.incident_idle_s),
                devices: crate::state::devices::Directory::new(c.devices),
                alerted: Vec::with_capacity(ALERTED),
            },
        }
    }

    /// Apply new thresholds and allowlists (SIGHUP) without touching state.
    pub fn reconfigure(&mut self, cfg: &DetectConfig) {
        let r = &mut self.rules;
        r.scan.cfg = cfg.rules.portscan.clone();
        r.synflood.cfg = cfg.rules.synflood.clone();
        r.bruteforce.cfg = cfg.rules.bruteforce.clone();
        r.dns_tunnel.set_config(cfg.rules.dns_tunnel.clone());
        r.beacon.cfg = cfg.rules.beacon.clone();
        self.hosts.cfg = cfg.rules.anomaly.clone();
        self.hosts.set_home(cfg.home_net);
        self.gate.suppress_us = cfg.suppress_s as u64 * 1_000_000;
        self.gate.incidents.idle_us = cfg.incident_idle_s as u64 * 1_000_000;
    }

    pub fn counters(&self) -> &EngineCounters {
        &self.gate.counters
    }

    pub fn footprint_bytes(&mut self) -> usize {
        let mut n = self.gate.suppress.footprint_bytes()
            + self.gate.incidents.footprint_bytes()
            + self.hosts.footprint_bytes();
        self.rules.each(|r| n += r.footprint_bytes());
        n
    }

    /// Entries in each rule's tables now (scan, synflood, bruteforce, dns_tunnel, beacon) and
    /// in the suppression table.
    pub fn entries(&self) -> [u64; 6] {
        let r = &self.rules;
        [
            r.scan.entries(),
            r.synflood.entries(),
            r.bruteforce.entries(),
            r.dns_tunnel.entries(),
            r.beacon.entries(),
            self.gate.suppress.len() as u64,
        ]
    }

    pub fn evictions(&self) -> RuleEvictions {
        let r = &self.rules;
        RuleEvictions {
            scan: r.scan.evictions(),
            synflood: r.synflood.evictions(),
            bruteforce: r.bruteforce.evictions(),
            dns_tunnel: r.dns_tunnel.evictions(),
            beacon: r.beacon.evictions(),
        }
    }

    #[inline]
    pub fn on_packet(
        &mut self,
        m: &PacketMeta,
        ev: &FlowEvent,
        flows: &FlowTable,
        out: &mut dyn FnMut(&Alert),
    ) {
        // Most packets are the middle of a conversation, which no rule looks at packet by
        // packet (they judge it when it closes): one test skips them all. The rules'
        // `on_packet` see only the packets named in [`Rule::on_packet`].
        let syn = m.proto == proto::TCP
            && m.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
        if !(ev.created || ev.established || m.has_dns || syn) {
            return;
        }
        let mut emit = Emit {
            gate: &mut self.gate,
            out,
        };
        // Direct calls on the per-packet path: each rule returns early for packets it ignores.
        let r = &mut self.rules;
        r.scan.on_packet(m, ev, flows, &mut emit);
        r.synflood.on_packet(m, ev, flows, &mut emit);
        r.dns_tunnel.on_packet(m, ev, flows, &mut emit);
        r.beacon.on_packet(m, ev, flows, &r.scan, &mut emit);
    }

    pub fn on_close(&mut self, c: &Closed, out: &mut dyn FnMut(&Alert)) {
        let mut emit = Emit {
            gate: &mut self.gate,
            out,
        };
        // Direct calls to the rules that judge closed flows (one a few packets on a busy LAN;
        // synflood and dns_tunnel judge nothing at close: add them here if that changes).
        let r = &mut self.rules;
        r.scan.on_close(c, &mut emit);
        r.bruteforce.on_close(c, &mut emit);
        r.beacon.on_close(c, &mut emit);
        self.hosts.on_close(c, &mut emit);
    }

    pub fn tick(&mut self, now: u64, wall: i64, flows: &FlowTable, out: &mut dyn FnMut(&Alert)) {
        if !flows.devices.is_empty() {
            self.gate.devices.refresh(&flows.devices);
        }
        let mut emit = Emit {
            gate: &mut self.gate,
            out,
        };
        self.rules.each(|r| r.tick(now, wall, &mut emit));
        self.hosts.tick(wall, flows, &mut emit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suricata_timestamp_format() {
        use std::fmt::Write as _;
        let mut s = String::new();
        write_timestamp(&mut s, 1_795_703_918_941_625).unwrap();
        assert_eq!(s, "2026-11-26T14:38:38.941625+0000");
        s.clear();
        write_timestamp(&mut s, 0).unwrap();
        assert_eq!(s, "1970-01-01T00:00:00.000000+0000");
        s.clear();
        let _ = write!(s, "");
        write_timestamp(&mut s, 951_782_400_000_000).unwrap(); // 2000-02-29
        assert_eq!(s, "2000-02-29T00:00:00.000000+0000");
    }
}
