//! C2 beaconing: per (client, server, port, protocol), the start times of the last `RING`
//! connections, scored for regularity each time a new one starts.
//!
//! Score, in the spirit of RITA's beacon analysis but live and bounded: over the intervals
//! between connection starts, `mad` = 1 − MAD/median (how tightly intervals cluster) and
//! `skew` = 1 − |Bowley skew| (how symmetric they are); over the bytes of connections that
//! have closed, `size` = 1 − MAD/median of their sizes. Score = 0.5·mad + 0.2·skew + 0.3·size
//! when at least half the sizes are known, else 0.75·mad + 0.25·skew. A beacon every 60 s with
//! ±20 % uniform jitter has MAD/median ≈ 0.1; browsing and human activity have ≈ 0.5 or more.
//!
//! Alert when at least `min_connections` (8) starts are known, the score is ≥ `min_score`
//! (0.8, RITA's "medium" band) and the median interval lies in [`min_interval_s` (1 s),
//! `max_interval_s` (3600 s)]. Bursts of parallel connections (median interval below 1 s) are
//! not beacons. Regular by design and allowlisted by default: ssh (automation logs in on a
//! timer), DNS, NTP, DHCP, NetBIOS, SSDP, mDNS, LLMNR and STUN ports (`allow_ports`);
//! multicast and broadcast destinations.
//!
//! Suppression key: (rule, client, server, port).

use crate::addr::Addr;
use crate::config::BeaconConfig;
use crate::decode::{proto, PacketMeta};
use crate::flow::{Closed, FlowEvent, FlowTable};
use crate::sketch::{addr_hash, mix};
use crate::table::{LruMap, Seed, TableKey, Upsert};

use super::{community_id, Alert, Emit, Figure, Rule, RuleId, SuppressKey};

/// Connection starts remembered per pair.
pub const RING: usize = 16;

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
    sizes: [u64; RING],
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

fn quartiles(v: &[f64]) -> (f64, f64, f64) {
    let q = |p: f64| {
        let pos = p * (v.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    (q(0.25), q(0.5), q(0.75))
}

/// 1 − MAD/median of `v` (sorted in place), in [0, 1].
fn mad_score(v: &mut [f64]) -> f64 {
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    let (_, med, _) = quartiles(v);
    if med <= 0.0 {
        return 0.0;
    }
    let mut dev = [0f64; RING];
    for (d, x) in dev.iter_mut().zip(v.iter()) {
        *d = (x - med).abs();
    }
    let dev = &mut dev[..v.len()];
    dev.sort_unstable_by(|a, b| a.total_cmp(b));
    let (_, mad, _) = quartiles(dev);
    (1.0 - mad / med).clamp(0.0, 1.0)
}

pub struct Score {
    pub score: f64,
    pub median_interval_s: f64,
    pub mad: f64,
    pub skew: f64,
    pub size: Option<f64>,
}

/// Score connection start times (µs, any order) and sizes (0 = unknown).
pub fn score(starts: &[u64], sizes: &[u64]) -> Option<Score> {
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
    let iv = &mut iv[..n - 1];
    iv.sort_unstable_by(|a, b| a.total_cmp(b));
    let (q1, med, q3) = quartiles(iv);
    let bowley = if q3 - q1 > 1e-9 {
        (q1 + q3 - 2.0 * med) / (q3 - q1)
    } else {
        0.0
    };
    let skew = 1.0 - bowley.abs().min(1.0);
    let mad = mad_score(iv);
    let mut known = [0f64; RING];
    let mut k = 0;
    for &z in sizes.iter().filter(|&&z| z > 0).take(RING) {
        known[k] = z as f64;
        k += 1;
    }
    let size = (k * 2 >= n && k >= 3).then(|| mad_score(&mut known[..k]));
    let score = match size {
        Some(sz) => 0.5 * mad + 0.2 * skew + 0.3 * sz,
        None => 0.75 * mad + 0.25 * skew,
    };
    Some(Score {
        score,
        median_interval_s: med,
        mad,
        skew,
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
                h.sizes[s] = c.flow.bytes[0] + c.flow.bytes[1];
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

impl Rule for BeaconRule {
    #[inline]
    fn on_packet(&mut self, m: &PacketMeta, ev: &FlowEvent, flows: &FlowTable, emit: &mut Emit) {
        if !self.cfg.enabled || !ev.created || ev.dir != 0 {
            return;
        }
        let (k, f) = flows.get(ev.id);
        if !matches!(k.proto, proto::TCP | proto::UDP) {
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
        let Some(sc) = score(&h.starts[..n], &h.sizes[..n]) else {
            return;
        };
        if sc.score < self.cfg.min_score
            || sc.median_interval_s * 1e6 < self.cfg.min_interval_us as f64
            || sc.median_interval_s > self.cfg.max_interval_s as f64
        {
            return;
        }
        h.fresh = 0;
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
        e.fig("score", Figure::F(r3(sc.score)));
        e.fig("threshold", Figure::F(self.cfg.min_score));
        e.fig("connections", Figure::U(h.n as u64));
        e.fig("median_interval_s", Figure::F(r3(sc.median_interval_s)));
        e.fig("interval_regularity", Figure::F(r3(sc.mad)));
        e.fig("interval_symmetry", Figure::F(r3(sc.skew)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_scores_high_random_scores_low() {
        let regular: Vec<u64> = (0..10)
            .map(|i| i * 60_000_000 + (i * 7919 % 11) * 1_000_000)
            .collect();
        let s = score(&regular, &[]).unwrap();
        assert!(s.score > 0.8, "{}", s.score);
        let random: Vec<u64> = [0u64, 3, 4, 30, 31, 90, 200, 202, 400, 401]
            .iter()
            .map(|x| x * 1_000_000)
            .collect();
        let s = score(&random, &[]).unwrap();
        assert!(s.score < 0.6, "{}", s.score);
    }
}
