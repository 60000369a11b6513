//! C2 beaconing: per (client, server, port, protocol), the start times of the last `RING`
//! connections, tested for regularity against a null model each time a new one starts.
//!
//! **The test.** Ordinary repeated traffic — a person browsing, an app or IoT device that
//! checks in at random times — is modelled at its most regular by a Poisson process: the
//! intervals between connection starts are independent and exponential. A beacon sleeps `T`
//! with jitter `j` (Cobalt Strike: uniform in [(1−j)·T, T]), so all its intervals lie within a
//! factor 1/(1−j) of each other. Over the last `k` intervals (up to `RING − 1` = 23) the rule
//! measures their spread ρ = max/min, and a trimmed spread ρ' = second largest / second
//! smallest (one missed or extra check-in does not hide a beacon). For `k` exponential
//! intervals of *any* rate the chance of a spread this small has a closed form (the minimum is
//! exponential and the rest are the minimum plus exponential excesses, which integrates to
//! Beta functions):
//!
//! * P(ρ ≤ r) = Π_{i=0..k−1} (i+1)/(a+i) / c, with c = r − 1, a = k/c;
//! * P(ρ' ≤ r) = k(k−1)/c · [B((k−1)/c, k−1) − B(k/c, k−1)
//!   + (k−2)·(B((k−1)/c + 1, k−2) − B(k/c + 1, k−2))].
//!
//! A spread counts only up to `1/(1 − max_jitter)` plus 10 % for network and scheduling
//! delay (2.2 at the default `max_jitter` 0.5): random processes that are merely less
//! dispersed than Poisson (lognormal pauses with σ ≥ 0.5, CV ≥ 0.53) never stay within a
//! factor 2.2 over 12–23 intervals. The trimmed test has dropped two intervals, so it must be
//! 10,000 × stronger (a clean beacon never needs it; one with a missed or extra check-in among
//! its last 24 does). `chance` = 2 × the smaller of P(ρ) and 10⁴·P(ρ') (Bonferroni).
//! Alert when `chance` ≤ `max_chance`
//! (default 1e-9: a Poisson pair re-tested at every one of 2,000 connections a week alerts by
//! chance less than once in 500,000 weeks), at least `min_connections` starts are known, and
//! the median interval lies in [`min_interval_s` (1 s), `max_interval_s` (3600 s)]. Worst
//! cases (the whole jitter range used): 20 % jitter passes at 12 connections, 50 % at 20.
//! Processes more dispersed than Poisson (lognormal think times, bursts) pass further still.
//! Sizes never decide: their regularity is reported as evidence only.
//!
//! Bursts of parallel connections (median interval below 1 s) are not beacons. Regular by
//! design and allowlisted by default: ssh (automation logs in on a timer), DNS, NTP, DHCP,
//! NetBIOS, SSDP, mDNS, LLMNR and STUN ports (`allow_ports`); multicast and broadcast
//! destinations.
//!
//! Suppression key: (rule, client, server, port).

use crate::addr::Addr;
use crate::capture::decode::{proto, PacketMeta};
use crate::state::flow::{Closed, FlowEvent, FlowTable};
use crate::state::sketch::{addr_hash, mix};
use crate::state::table::{LruMap, Seed, TableKey, Upsert};

use super::{community_id, Alert, Emit, Figure, Rule, RuleId, SuppressKey};
use crate::settings::{allow, invalid, ranged, Allow, ConfigError, FileAllow};
use serde::Deserialize;

/// Connection starts remembered per pair (up to `RING − 1` intervals are tested).
pub const RING: usize = 24;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct PairKey {
    client: Addr,
    server: Addr,
    port: u16,
    proto: u8,
}

impl TableKey for PairKey {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        seed.hash(
            self.client.bits(),
            self.server.bits(),
            self.port as u64,
            self.proto as u64,
        )
    }
}

#[derive(Default)]
struct History {
    starts: [u64; RING],
    /// Bytes of each connection once it has closed (0: still open or unknown), saturating.
    sizes: [u32; RING],
    n: usize,
    /// Connections since the last alert (an alert needs fresh evidence).
    fresh: u32,
    first_ts: i64,
}

impl History {
    fn slot(&self, i: usize) -> usize {
        // i-th newest → ring index
        (self.n - 1 - i) % RING
    }
}

fn median(v: &[f64]) -> f64 {
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// 1 − MAD/median of `v` (sorted in place), in [0, 1].
fn mad_score(v: &mut [f64]) -> f64 {
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    let med = median(v);
    if med <= 0.0 {
        return 0.0;
    }
    let mut dev = [0f64; RING];
    for (d, x) in dev.iter_mut().zip(v.iter()) {
        *d = (x - med).abs();
    }
    let dev = &mut dev[..v.len()];
    dev.sort_unstable_by(|a, b| a.total_cmp(b));
    (1.0 - median(dev) / med).clamp(0.0, 1.0)
}

/// B(x, n) for whole `n` ≥ 1: (n−1)! / Π_{i<n} (x+i), as a product of ratios (it underflows
/// to 0 gracefully instead of overflowing).
fn beta(x: f64, n: usize) -> f64 {
    let mut p = 1.0 / x;
    for i in 1..n {
        p *= i as f64 / (x + i as f64);
    }
    p
}

/// `r − 1` when a spread needs the closed form; otherwise the chance itself: 0 for no spread
/// at all (or NaN), 1 for an unbounded one.
fn excess(r: f64) -> Result<f64, f64> {
    let c = r - 1.0;
    if c.is_nan() || c <= 0.0 {
        Err(0.0)
    } else if c.is_infinite() {
        Err(1.0)
    } else {
        Ok(c)
    }
}

/// Chance that `k` independent exponential intervals (any rate) have max/min ≤ `r`.
pub fn chance_spread(k: usize, r: f64) -> f64 {
    if k < 2 {
        return 1.0;
    }
    let c = match excess(r) {
        Ok(c) => c,
        Err(p) => return p,
    };
    (k as f64 / c * beta(k as f64 / c, k)).clamp(0.0, 1.0)
}

/// Chance that `k` independent exponential intervals have second largest / second smallest
/// ≤ `r`.
pub fn chance_trimmed_spread(k: usize, r: f64) -> f64 {
    if k < 4 {
        return 1.0;
    }
    let c = match excess(r) {
        Ok(c) => c,
        Err(p) => return p,
    };
    let kf = k as f64;
    let t1 = beta((kf - 1.0) / c, k - 1) - beta(kf / c, k - 1);
    let t2 = (kf - 2.0) * (beta((kf - 1.0) / c + 1.0, k - 2) - beta(kf / c + 1.0, k - 2));
    (kf * (kf - 1.0) / c * (t1 + t2)).clamp(0.0, 1.0)
}

pub struct Score {
    /// How likely a Poisson process of any rate is to look this regular (two tests, doubled).
    pub chance: f64,
    pub intervals: usize,
    pub median_interval_s: f64,
    /// max/min of the intervals, and second largest / second smallest.
    pub spread: f64,
    pub trimmed_spread: f64,
    /// 1 − MAD/median of the known sizes (evidence only), when at least 3 are known.
    pub size: Option<f64>,
}

/// The widest spread a beacon with `max_jitter` shows, with 10 % for delays on the way.
pub fn spread_cap(max_jitter: f64) -> f64 {
    1.1 / (1.0 - max_jitter.clamp(0.0, 0.95))
}

/// Test connection start times (µs, any order) whose intervals lie within a factor `cap`;
/// `sizes` (0 = unknown) are evidence only.
pub fn score(starts: &[u64], sizes: &[u32], cap: f64) -> Option<Score> {
    if starts.len() < 3 {
        return None;
    }
    let mut s = [0u64; RING];
    let n = starts.len().min(RING);
    s[..n].copy_from_slice(&starts[..n]);
    let s = &mut s[..n];
    s.sort_unstable();
    let mut iv = [0f64; RING];
    for i in 1..n {
        iv[i - 1] = (s[i] - s[i - 1]) as f64 / 1e6;
    }
    let k = n - 1;
    let iv = &mut iv[..k];
    iv.sort_unstable_by(|a, b| a.total_cmp(b));
    let ratio = |hi: f64, lo: f64| if lo > 0.0 { hi / lo } else { f64::INFINITY };
    let spread = ratio(iv[k - 1], iv[0]);
    let trimmed_spread = if k >= 4 {
        ratio(iv[k - 2], iv[1])
    } else {
        spread
    };
    let full = if spread <= cap {
        chance_spread(k, spread)
    } else {
        1.0
    };
    let trimmed = if trimmed_spread <= cap {
        1e4 * chance_trimmed_spread(k, trimmed_spread)
    } else {
        1.0
    };
    let chance = (2.0 * full.min(trimmed)).min(1.0);
    let mut known = [0f64; RING];
    let mut m = 0;
    for &z in sizes.iter().filter(|&&z| z > 0).take(RING) {
        known[m] = z as f64;
        m += 1;
    }
    let size = (m >= 3).then(|| mad_score(&mut known[..m]));
    Some(Score {
        chance,
        intervals: k,
        median_interval_s: median(iv),
        spread,
        trimmed_spread,
        size,
    })
}

/// Slots of the first-sight filter.
const FIRST_SIGHT: usize = 4096;
/// Buckets of the history-membership counts.
const HELD: usize = 8192;

pub struct BeaconRule {
    pub cfg: BeaconConfig,
    pairs: LruMap<PairKey, History>,
    /// Direct-mapped (pair hash, first start) of pairs seen once. Most pairs on a LAN connect
    /// once and never again; they never reach the history table. A pair's second connection
    /// promotes it, with the first start carried over.
    first_sight: Box<[(u64, u64); FIRST_SIGHT]>,
    /// Flow id of each slot's first connection (it is credited when the pair is promoted).
    first_flow: Box<[u32; FIRST_SIGHT]>,
    /// One bit per flow id: set for flows whose start a pair's history may hold, so the
    /// closes of all other flows (most of them) skip the history lookup.
    in_history: Vec<u64>,
    /// Per bucket of pair hashes, how many pairs the history table holds (sticky at the
    /// maximum). Zero means none: a new pair's first connection then skips the table lookup.
    held: Box<[u16; HELD]>,
    evicted: u64,
}

impl BeaconRule {
    #[inline(never)]
    fn record_size(&mut self, c: &Closed) {
        let (client, _) = c.initiator();
        let (server, port) = c.responder();
        let Some(id) = self.pairs.find(&PairKey {
            client,
            server,
            port,
            proto: c.key.proto,
        }) else {
            return;
        };
        let h = self.pairs.get_mut(id);
        for i in 0..h.n.min(RING) {
            let s = h.slot(i);
            if h.starts[s] == c.flow.first {
                h.sizes[s] = (c.flow.bytes[0] + c.flow.bytes[1]).min(u32::MAX as u64) as u32;
                break;
            }
        }
    }

    /// `capacity` pairs; `flows` is the flow table's capacity (flow ids are below it).
    pub fn new(cfg: BeaconConfig, capacity: usize, flows: usize) -> Self {
        BeaconRule {
            cfg,
            pairs: LruMap::new(capacity, 1),
            first_sight: Box::new([(0, 0); FIRST_SIGHT]),
            first_flow: Box::new([0; FIRST_SIGHT]),
            in_history: vec![0; flows.div_ceil(64)],
            held: Box::new([0; HELD]),
            evicted: 0,
        }
    }

    fn mark(&mut self, flow: u32) {
        if let Some(w) = self.in_history.get_mut(flow as usize / 64) {
            *w |= 1 << (flow % 64);
        }
    }

    /// Was `flow` marked? Clears the mark. Ids outside the bitmap count as marked.
    fn take_mark(&mut self, flow: u32) -> bool {
        match self.in_history.get_mut(flow as usize / 64) {
            Some(w) => {
                let bit = 1 << (flow % 64);
                let was = *w & bit != 0;
                *w &= !bit;
                was
            }
            None => true,
        }
    }

    #[inline]
    fn held_bucket(ph: u64) -> usize {
        (ph >> 40) as usize % HELD
    }

    #[inline]
    fn pair_hash(k: &PairKey) -> u64 {
        // Fixed (not seeded): it only decides which filter slot a pair shares.
        mix(addr_hash(&k.client, 0x6265_6163)
            ^ addr_hash(&k.server, 0x6f6e)
            ^ ((k.port as u64) << 8 | k.proto as u64))
            | 1
    }
}

impl BeaconRule {
    /// A new connection of a pair: record its start and judge the pair's rhythm. `scans`: a
    /// client already failing on several ports of that server is scanning it, and a scanner's
    /// regular re-probes of one port (nmap's timing probes with `--scan-delay`) are evidence
    /// of the scan, not a beacon.
    #[inline]
    pub fn on_packet(
        &mut self,
        m: &PacketMeta,
        ev: &FlowEvent,
        flows: &FlowTable,
        scans: &super::scan::ScanRule,
        emit: &mut Emit,
    ) {
        if !self.cfg.enabled || !ev.created || ev.dir != 0 {
            return;
        }
        let (k, f) = flows.get(ev.id);
        // An answer (to a group query, or late) is the other side's exchange, not a check-in.
        if !matches!(k.proto, proto::TCP | proto::UDP) || f.answer {
            return;
        }
        let (client, (server, port)) = if f.init_is_a {
            (k.a, (k.b, k.b_port))
        } else {
            (k.b, (k.a, k.a_port))
        };
        // The allowlisted ports first: DNS lookups are most of the flows that stop here.
        if self.cfg.allow.dst_allowed(&server, port)
            || server.is_group()
            || self.cfg.allow.src_allowed(&client)
        {
            return;
        }
        let key = PairKey {
            client,
            server,
            port,
            proto: k.proto,
        };
        let now = m.now;
        let ph = Self::pair_hash(&key);
        let i = (ph >> 20) as usize % FIRST_SIGHT;
        let slot = &mut self.first_sight[i];
        if slot.0 != ph
            && (self.held[Self::held_bucket(ph)] == 0 || self.pairs.find(&key).is_none())
        {
            *slot = (ph, now);
            self.first_flow[i] = ev.id;
            return;
        }
        let first = slot.1;
        if slot.0 == ph {
            // The first connection, if still open, now has its start in the history too.
            self.mark(self.first_flow[i]);
        }
        self.first_sight[i] = (ph, now);
        self.first_flow[i] = ev.id;
        self.mark(ev.id);
        let held = &mut self.held;
        let (id, how) = self.pairs.entry(
            key,
            0,
            now,
            |_, k, _| {
                let c = &mut held[Self::held_bucket(Self::pair_hash(k))];
                if *c != u16::MAX {
                    *c = c.saturating_sub(1);
                }
            },
            |h| {
                *h = History {
                    first_ts: m.ts,
                    ..History::default()
                };
                h.starts[0] = first;
                h.n = 1;
                h.fresh = 1;
            },
        );
        if how == Upsert::Found {
            self.pairs.touch(id, now, 0);
        } else {
            let c = &mut self.held[Self::held_bucket(ph)];
            *c = c.saturating_add(1);
        }
        self.evicted += (how == Upsert::Evicted) as u64;
        let h = self.pairs.get_mut(id);
        let at = h.n % RING;
        h.starts[at] = now;
        h.sizes[at] = 0;
        h.n += 1;
        h.fresh += 1;
        let n = h.n.min(RING);
        if n < self.cfg.min_connections as usize || h.fresh < self.cfg.min_connections / 2 {
            return;
        }
        let Some(sc) = score(
            &h.starts[..n],
            &h.sizes[..n],
            spread_cap(self.cfg.max_jitter),
        ) else {
            return;
        };
        if sc.chance > self.cfg.max_chance
            || sc.median_interval_s * 1e6 < self.cfg.min_interval_us as f64
            || sc.median_interval_s > self.cfg.max_interval_s as f64
        {
            return;
        }
        h.fresh = 0;
        if scans.probing(&client, &server) {
            return;
        }
        let mut a = Alert::new(RuleId::C2Beacon, m.ts);
        a.first_seen = h.first_ts;
        a.src = client;
        a.sport = m.sport;
        a.dst = server;
        a.dport = port;
        a.proto = k.proto;
        a.community_id = Some(community_id(0, client, m.sport, server, port, k.proto));
        let e = &mut a.evidence;
        let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
        e.fig("connections", Figure::U(h.n as u64));
        e.fig("intervals_tested", Figure::U(sc.intervals as u64));
        e.fig("median_interval_s", Figure::F(r3(sc.median_interval_s)));
        e.fig("interval_spread", Figure::F(r3(sc.spread.min(1e9))));
        e.fig("trimmed_spread", Figure::F(r3(sc.trimmed_spread.min(1e9))));
        e.fig("chance_if_random", Figure::F(sc.chance));
        e.fig("threshold", Figure::F(self.cfg.max_chance));
        e.fig(
            "jitter_observed",
            Figure::F(r3(1.0 - 1.0 / sc.spread.max(1.0))),
        );
        if let Some(sz) = sc.size {
            e.fig("size_regularity", Figure::F(r3(sz)));
        }
        let skey = SuppressKey {
            rule: RuleId::C2Beacon,
            a: client,
            b: server,
            port,
            extra: k.proto as u64,
        };
        emit.alert(skey, now, &mut a);
    }
}

impl Rule for BeaconRule {
    /// The test every closed flow meets is inline; recording a size is not.
    #[inline]
    fn on_close(&mut self, c: &Closed, _emit: &mut Emit) {
        if !self.take_mark(c.id)
            || !self.cfg.enabled
            || !matches!(c.key.proto, proto::TCP | proto::UDP)
        {
            return;
        }
        self.record_size(c);
    }

    fn evictions(&self) -> u64 {
        self.evicted
    }

    fn entries(&self) -> u64 {
        self.pairs.len() as u64
    }

    fn footprint_bytes(&self) -> usize {
        self.pairs.footprint_bytes()
            + FIRST_SIGHT * (std::mem::size_of::<(u64, u64)>() + std::mem::size_of::<u32>())
            + self.in_history.len() * 8
            + HELD * 2
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration: `[rules.beacon]`.

/// Ports whose regular polling is normal: ssh (scheduled backups, monitoring and configuration
/// management log in on a timer), DNS, NTP, DHCP, NetBIOS, SSDP, mDNS, LLMNR, STUN.
pub const DEFAULT_BEACON_ALLOW_PORTS: &[u16] =
    &[22, 53, 123, 67, 68, 137, 138, 1900, 5353, 5355, 3478];

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

impl FileBeacon {
    pub fn validate(&self) -> Result<BeaconConfig, ConfigError> {
        let bc = self;
        if bc.min_score.is_some() {
            return Err(invalid(
                "rules.beacon.min_score",
                "replaced by `max_chance` (how likely random traffic is to look this regular; \
                 default 1e-9, smaller alerts less); remove min_score",
            ));
        }
        Ok(BeaconConfig {
            enabled: bc.enabled.unwrap_or(true),
            min_connections: ranged(
                "rules.beacon.min_connections",
                bc.min_connections,
                8,
                4,
                RING as u32,
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed forms against a direct simulation of exponential intervals.
    #[test]
    fn chances_match_simulation() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut exp = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            -(((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64).ln()
        };
        let (k, r, trials) = (6, 4.0, 200_000);
        let (mut full, mut trimmed) = (0, 0);
        for _ in 0..trials {
            let mut v: Vec<f64> = (0..k).map(|_| exp()).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            full += (v[k - 1] / v[0] <= r) as u32;
            trimmed += (v[k - 2] / v[1] <= r) as u32;
        }
        let (pf, pt) = (full as f64 / trials as f64, trimmed as f64 / trials as f64);
        let (cf, ct) = (chance_spread(k, r), chance_trimmed_spread(k, r));
        assert!(
            (pf - cf).abs() < 0.003,
            "full: simulated {pf}, closed form {cf}"
        );
        assert!(
            (pt - ct).abs() < 0.005,
            "trimmed: simulated {pt}, closed form {ct}"
        );
        // Values checked against numerical integration of the order-statistic densities.
        let close = |a: f64, b: f64| (a / b - 1.0).abs() < 0.02;
        assert!(close(chance_spread(11, 0.223f64.exp()), 4.15e-11));
        assert!(close(chance_trimmed_spread(11, 0.223f64.exp()), 1.17e-7));
        assert!(close(chance_spread(19, 0.75f64.exp()), 2.19e-10));
        assert!(close(chance_trimmed_spread(19, 0.75f64.exp()), 1.19e-7));
        assert_eq!(chance_spread(11, 1.0), 0.0);
        assert_eq!(chance_spread(11, f64::NAN), 0.0);
        assert_eq!(chance_spread(11, f64::INFINITY), 1.0);
        assert_eq!(chance_trimmed_spread(11, f64::INFINITY), 1.0);
        assert!(chance_spread(11, 1e300) > 0.99);
    }

    #[test]
    fn regular_is_unlikely_random_is_likely() {
        let regular: Vec<u64> = (0..12)
            .map(|i| i * 60_000_000 + (i * 7919 % 11) * 1_000_000)
            .collect();
        let s = score(&regular, &[], 2.2).unwrap();
        assert!(s.chance < 1e-9, "{}", s.chance);
        let random: Vec<u64> = [0u64, 3, 4, 30, 31, 90, 200, 202, 400, 401, 460, 470]
            .iter()
            .map(|x| x * 1_000_000)
            .collect();
        let s = score(&random, &[], 1e9).unwrap();
        assert!(s.chance > 0.01, "{}", s.chance);
        // One extra connection (a retry 2 s after a check-in) among 24 leaves the trimmed test.
        let mut t = 0u64;
        let mut missed = Vec::new();
        for i in 0..23u64 {
            missed.push(t);
            if i == 9 {
                missed.push(t + 2_000_000);
            }
            t += 60_000_000 - (i * 7919 % 11) * 500_000;
        }
        let s2 = score(&missed, &[], 2.2).unwrap();
        assert!(
            s2.spread > 2.2 && s2.chance < 1e-9,
            "{} {}",
            s2.spread,
            s2.chance
        );
        // Sizes are evidence, never a reason.
        let same = [500u32; 12];
        assert_eq!(score(&random, &same, 1e9).unwrap().chance, s.chance);
        assert_eq!(score(&random, &same, 1e9).unwrap().size, Some(1.0));
    }
}
