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

pub mod beacon;
pub mod bruteforce;
pub mod community_id;
pub mod config;
pub mod dns_tunnel;
pub mod explain;
pub mod home_net;
pub mod hosts;
pub mod scan;
pub mod synflood;

use crate::addr::Addr;
use crate::capture::decode::{proto, tcp_flags, PacketMeta};
use crate::state::flow::{Closed, FlowEvent, FlowTable};

use crate::state::table::{LruMap, Seed, TableKey};
pub use community_id::{community_id, CommunityId};
use config::DetectConfig;

/// Canonical rule identities. Signature ids are a fixed block, 9100001…, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RuleId {
    #[default]
    PortscanVertical,
    PortscanHorizontal,
    Synflood,
    Bruteforce,
    DnsTunnel,
    C2Beacon,
    SensorHealth,
    AnomalyHost,
    HostNew,
}

impl RuleId {
    pub const ALL: [RuleId; 9] = [
        RuleId::PortscanVertical,
        RuleId::PortscanHorizontal,
        RuleId::Synflood,
        RuleId::Bruteforce,
        RuleId::DnsTunnel,
        RuleId::C2Beacon,
        RuleId::SensorHealth,
        RuleId::AnomalyHost,
        RuleId::HostNew,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RuleId::PortscanVertical => "portscan.vertical",
            RuleId::PortscanHorizontal => "portscan.horizontal",
            RuleId::Synflood => "synflood",
            RuleId::Bruteforce => "bruteforce",
            RuleId::DnsTunnel => "dns.tunnel",
            RuleId::C2Beacon => "c2.beacon",
            RuleId::SensorHealth => "sensor.health",
            RuleId::AnomalyHost => "anomaly.host",
            RuleId::HostNew => "host.new",
        }
    }

    pub fn signature_id(self) -> u32 {
        9_100_001 + self as u32
    }

    pub fn signature(self) -> &'static str {
        match self {
            RuleId::PortscanVertical => "NETWATCH SCAN vertical port scan",
            RuleId::PortscanHorizontal => "NETWATCH SCAN horizontal sweep",
            RuleId::Synflood => "NETWATCH DOS TCP SYN flood",
            RuleId::Bruteforce => "NETWATCH AUTH brute-force login attempts",
            RuleId::DnsTunnel => "NETWATCH DNS tunneling",
            RuleId::C2Beacon => "NETWATCH C2 periodic beaconing",
            RuleId::SensorHealth => "NETWATCH SENSOR health",
            RuleId::AnomalyHost => "NETWATCH ANOMALY host departs from its baseline",
            RuleId::HostNew => "NETWATCH INFO new device on the network",
        }
    }

    /// Suricata classification texts (classification.config).
    pub fn category(self) -> &'static str {
        match self {
            RuleId::PortscanVertical | RuleId::PortscanHorizontal => "Attempted Information Leak",
            RuleId::Synflood => "Attempted Denial of Service",
            RuleId::Bruteforce => "Attempted User Privilege Gain",
            RuleId::DnsTunnel => "Potentially Bad Traffic",
            RuleId::C2Beacon => "A Network Trojan was detected",
            RuleId::AnomalyHost => "Potentially Bad Traffic",
            RuleId::SensorHealth | RuleId::HostNew => "Not Suspicious Traffic",
        }
    }

    /// 1 high … 3 low, as Suricata.
    pub fn severity(self) -> u8 {
        match self {
            RuleId::PortscanVertical | RuleId::PortscanHorizontal => 2,
            RuleId::Synflood | RuleId::Bruteforce | RuleId::DnsTunnel | RuleId::C2Beacon => 1,
            RuleId::AnomalyHost => 2,
            RuleId::SensorHealth | RuleId::HostNew => 3,
        }
    }

    pub fn mitre(self) -> &'static str {
        match self {
            RuleId::PortscanVertical | RuleId::PortscanHorizontal => "T1046",
            RuleId::Synflood => "T1498.001",
            RuleId::Bruteforce => "T1110.001",
            RuleId::DnsTunnel => "T1071.004",
            RuleId::C2Beacon => "T1071.001",
            // Exfiltration over the host's usual channels is the departure that matters most.
            RuleId::AnomalyHost => "T1041",
            RuleId::SensorHealth | RuleId::HostNew => "",
        }
    }
}

/// A figure in an alert's evidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Figure {
    U(u64),
    F(f64),
    S(&'static str),
}

pub const MAX_SAMPLES: usize = 16;
pub const MAX_NAME_SAMPLES: usize = 4;
pub const SAMPLE_NAME_LEN: usize = 96;

/// Bounded evidence: the figures that crossed the threshold and samples.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    pub figures: heapless::Vec<(&'static str, Figure), 10>,
    pub ports: heapless::Vec<u16, MAX_SAMPLES>,
    pub hosts: heapless::Vec<Addr, MAX_SAMPLES>,
    /// Registered domain (raw bytes from the wire: escape before display).
    pub domain: heapless::Vec<u8, 253>,
    /// Sample query names, truncated to `SAMPLE_NAME_LEN` bytes.
    pub names: heapless::Vec<heapless::Vec<u8, SAMPLE_NAME_LEN>, MAX_NAME_SAMPLES>,
}

impl Evidence {
    pub fn fig(&mut self, k: &'static str, v: Figure) {
        let _ = self.figures.push((k, v));
    }
}

/// One alert. Allocation-free so that emitting one never allocates on the packet path.
#[derive(Clone, Debug, Default)]
pub struct Alert {
    /// Packet (wall) time of the packet that crossed the threshold, µs.
    pub ts: i64,
    pub rule: RuleId,
    pub src: Addr,
    pub sport: u16,
    pub dst: Addr,
    pub dport: u16,
    /// IP protocol number; `flow::PROTO_ARP` / `PROTO_ND` for link-local sweeps.
    pub proto: u8,
    pub community_id: Option<CommunityId>,
    pub evidence: Evidence,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Times this alert fired but was suppressed since its previous emission.
    pub repeats: u32,
    /// Stable hash of the suppression key: rows of the same alert share it (the store keeps
    /// their repeat counts up to date by it).
    pub key: u64,
    /// A suppressed repeat, handed out only when the gate reports repeats (the daemon's store
    /// counts them); EVE and syslog never print these.
    pub suppressed: bool,
}

impl Alert {
    pub fn new(rule: RuleId, ts: i64) -> Alert {
        Alert {
            rule,
            ts,
            first_seen: ts,
            last_seen: ts,
            ..Alert::default()
        }
    }

    /// The evidence figure named `k` (the first, when a key repeats).
    pub fn figure(&self, k: &str) -> Option<Figure> {
        self.evidence.figures.iter().find(|f| f.0 == k).map(|f| f.1)
    }

    /// The episode's extent, when it has grown past what crossed the threshold: "; 1024 ports
    /// so far over 35 s".
    fn so_far(
        &self,
        out: &mut impl std::fmt::Write,
        so_far: Option<f64>,
        at_threshold: Option<f64>,
        what: &str,
    ) -> std::fmt::Result {
        match so_far {
            Some(n) if n > at_threshold.unwrap_or(0.0) => write!(
                out,
                "; {n} {what} so far over {} s",
                (self.ts - self.first_seen).max(0) / 1_000_000
            ),
            _ => Ok(()),
        }
    }

    /// One readable sentence. Attacker-controlled bytes (domains) are escaped by the caller's
    /// output format, so this writes them through `escape_ascii`.
    pub fn summary(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        let fu = |k: &str| {
            self.figure(k).map(|f| match f {
                Figure::U(u) => u as f64,
                Figure::F(x) => x,
                Figure::S(_) => 0.0,
            })
        };
        match self.rule {
            RuleId::PortscanVertical => {
                write!(
                    out,
                    "{} probed {} distinct ports on {} within {} s without opening a session",
                    self.src,
                    fu("distinct_ports").unwrap_or(0.0),
                    self.dst,
                    fu("window_s").unwrap_or(0.0)
                )?;
                self.so_far(out, fu("ports_so_far"), fu("distinct_ports"), "ports")
            }
            RuleId::PortscanHorizontal => {
                write!(
                    out,
                    "{} probed {} {} hosts within {} s without opening a session",
                    self.src,
                    port_label(self.proto, self.dport),
                    fu("distinct_hosts").unwrap_or(0.0),
                    fu("window_s").unwrap_or(0.0)
                )?;
                self.so_far(out, fu("hosts_so_far"), fu("distinct_hosts"), "hosts")
            }
            RuleId::Synflood => write!(
                out,
                "{} is receiving {} SYN/s on port {} from {} sources with {:.0}% of handshakes completed",
                self.dst,
                fu("syn_per_s").unwrap_or(0.0),
                self.dport,
                fu("distinct_sources").unwrap_or(0.0),
                fu("completion_ratio").unwrap_or(0.0) * 100.0
            ),
            RuleId::Bruteforce => write!(
                out,
                "{} made about {} login attempts against {} port {} within {} s",
                self.src,
                fu("attempts").unwrap_or(0.0),
                self.dst,
                self.dport,
                fu("window_s").unwrap_or(0.0)
            ),
            RuleId::DnsTunnel => write!(
                out,
                "{} sent {} queries with {} distinct subdomains of {} ({} name bytes) in {} s, typical of a DNS tunnel",
                self.src,
                fu("queries").unwrap_or(0.0),
                fu("unique_subdomains").unwrap_or(0.0),
                self.evidence.domain.escape_ascii(),
                fu("name_bytes").unwrap_or(0.0),
                fu("window_s").unwrap_or(0.0)
            ),
            RuleId::C2Beacon => write!(
                out,
                "{} connects to {} port {} every {:.1} s ({} connections, intervals within a factor {:.2}; chance if random {:.0e}), like a C2 beacon",
                self.src,
                self.dst,
                self.dport,
                fu("median_interval_s").unwrap_or(0.0),
                fu("connections").unwrap_or(0.0),
                fu("interval_spread").unwrap_or(0.0),
                fu("chance_if_random").unwrap_or(1.0)
            ),
            RuleId::AnomalyHost => {
                write!(out, "{} departs from its own baseline:", self.src)?;
                let mut n = 0;
                for (k, v) in &self.evidence.figures {
                    let Some(f) = k.strip_suffix("_observed") else {
                        continue;
                    };
                    let base = fu(explain::baseline_key(f)).unwrap_or(0.0);
                    let v = match v {
                        Figure::U(u) => *u as f64,
                        Figure::F(x) => *x,
                        Figure::S(_) => 0.0,
                    };
                    let sep = if n > 0 { "," } else { "" };
                    n += 1;
                    if f.starts_with("bytes") {
                        write!(out, "{sep} {f} {}/min (usually up to {})", explain::Size(v), explain::Size(base))?;
                    } else {
                        write!(out, "{sep} {f} {v:.0}/min (usually up to {base:.0})")?;
                    }
                }
                Ok(())
            }
            RuleId::HostNew => write!(out, "new device {} seen on the network", self.src),
            RuleId::SensorHealth => {
                let s = |k: &str| match self.figure(k) {
                    Some(Figure::S(s)) => s,
                    _ => "",
                };
                let n = |k: &str| fu(k).unwrap_or(0.0);
                match s("kind") {
                    "capture_loss" => write!(
                        out,
                        "sensor is blind in part: capture on {} lost {} of {} packets ({:.1}%) in the last minute",
                        s("interface"), n("dropped"), n("received") + n("dropped"), n("loss_pct")
                    ),
                    "table_evictions" => write!(
                        out,
                        "detection degraded: the {} table evicted {} of its {} entries in the last minute",
                        s("table"), n("evicted"), n("capacity")
                    ),
                    "store_failing" => write!(
                        out,
                        "alert store failing: {} errors in the last minute, {} alerts queued, {} dropped",
                        n("errors"), n("queued"), n("dropped")
                    ),
                    "syslog_dropping" => write!(
                        out,
                        "syslog collector unreachable or slow: {} messages dropped in the last minute",
                        n("dropped")
                    ),
                    other => write!(out, "sensor health: {other}"),
                }
            }
        }
    }
}

fn port_label(proto: u8, port: u16) -> PortLabel {
    PortLabel(proto, port)
}

struct PortLabel(u8, u16);

impl std::fmt::Display for PortLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::capture::decode::proto;
        match self.0 {
            crate::state::flow::PROTO_ARP => f.write_str("(by ARP)"),
            crate::state::flow::PROTO_ND => f.write_str("(by neighbour solicitation)"),
            proto::ICMP | proto::ICMPV6 => f.write_str("(by ICMP echo)"),
            proto::UDP => write!(f, "UDP port {} on", self.1),
            _ => write!(f, "TCP port {} on", self.1),
        }
    }
}

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
        match g.suppress.find(&key) {
            Some(id) => {
                let st = g.suppress.get_mut(id);
                if now < st.last_emit + g.suppress_us {
                    st.repeats = st.repeats.saturating_add(1);
                    g.counters.suppressed += 1;
                    let (repeats, first_seen) = (st.repeats, st.first_seen);
                    g.suppress.touch(id, now, 0);
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
    }

    pub fn counters(&self) -> &EngineCounters {
        &self.gate.counters
    }

    pub fn footprint_bytes(&mut self) -> usize {
        let mut n = self.gate.suppress.footprint_bytes() + self.hosts.footprint_bytes();
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
        r.beacon.on_packet(m, ev, flows, &mut emit);
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
        let mut emit = Emit {
            gate: &mut self.gate,
            out,
        };
        self.rules.each(|r| r.tick(now, wall, &mut emit));
        self.hosts.tick(wall, flows, &mut emit);
    }
}

/// Write `ts_us` (µs since the epoch) as Suricata does: `2026-11-26T14:38:38.941625+0000`.
pub fn write_timestamp(out: &mut impl std::fmt::Write, ts_us: i64) -> std::fmt::Result {
    let secs = ts_us.div_euclid(1_000_000);
    let micros = ts_us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+0000",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
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
