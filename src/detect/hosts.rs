//! `anomaly.host` and `host.new`: per-host behavioural baselines of the local (`home_net`)
//! hosts, on packet time.
//!
//! **What is measured.** Per local host and per minute of packet time, six features of its
//! traffic with addresses outside `home_net`: bytes sent (`bytes_out`), bytes received
//! (`bytes_in`), connections it opened (`new_flows`), distinct external addresses it opened
//! them to (`destinations`, a 256-bit linear-counting sketch), distinct destination ports
//! (`ports`, 128 bits), and the DNS queries it sent to any server (`dns_queries`, kept in a
//! keyed count-min sketch by querying address, so the many short flows to the home's resolver
//! need no table lookup). Flows are counted when they close (every flow closes: FIN, RST,
//! expiry or eviction); bytes of flows still open are taken once a minute by a walk of the flow
//! table, which is how one long upload shows up minute by minute. Nothing here runs per packet: the rule sees flow closes and one
//! walk a minute.
//!
//! **The baseline.** For each feature and each hour of the day (UTC; a home's rhythm repeats
//! every 24 hours in any time zone) the host keeps an *envelope*: the largest minute seen in that
//! hour, decayed by `DAILY_DECAY` per day so that old peaks fade (a peak halves in about four
//! days). Busy evenings, quiet nights, weekend afternoons and the nightly backup all raise the
//! envelope of their own hours during learning; a departure is a minute above `factor` times
//! the envelope of its hour and the hours either side (clock drift, a job that starts a little
//! early) — or of half its busiest hour, whichever is larger — and above an absolute floor per feature (`min_*`: small hosts are noisy in relative
//! terms, and a few extra MB are not worth a user's attention). A host is judged only after
//! `learning_days` of being seen. A minute that alerted still teaches the envelope, but only
//! up to `observed / factor`: the same behaviour again is no longer a departure, so a new
//! routine alerts once, not every night.
//!
//! **New devices.** A host that completes a session for the first time (spoofed sources
//! never do) and is not in the table produces `host.new` (severity 3), at most
//! `NEW_PER_HOUR` an hour, and none in the sensor's first day (every device is new then).
//!
//! **Memory.** `capacity.hosts` entries of `HOST_BYTES` each, least recently active (as of the
//! last minute judged) evicted (counted), a direct-mapped cache of entry ids in front of them, and the 8 KB DNS sketch. Baselines are exported and imported (`export`, `import`) so the daemon keeps them
//! in the store across restarts.

use crate::addr::{Addr, Cidr};
use crate::state::flow::{Closed, FlowTable};
use crate::state::table::{LruMap, Seed, TableKey, Upsert};

use super::home_net::{fold, HomeNet};
use super::{Alert, Emit, Figure, RuleId, SuppressKey};
use crate::settings::{ranged, ConfigError};
use serde::Deserialize;

/// The features, in the order of every per-feature array.
pub const FEATURES: [&str; 6] = [
    "bytes_out",
    "bytes_in",
    "new_flows",
    "destinations",
    "ports",
    "dns_queries",
];
const SLOTS: usize = 24;
/// Envelopes are multiplied by this once a day: a one-off peak halves in ~4 days.
pub const DAILY_DECAY: f32 = 0.85;
/// `host.new` events per hour at most (the rest are counted).
pub const NEW_PER_HOUR: u32 = 10;
/// No `host.new` in the sensor's first day of packet time.
const SETTLE_US: i64 = 86_400_000_000;
const MINUTE_US: i64 = 60_000_000;
/// Cells per row of the DNS count-min sketch.
const DNS_WIDTH: usize = 2048;
/// Weight of the host's busiest hour in the baseline of every other hour.
const ANY_HOUR_SHARE: f32 = 0.5;
const DAY_US: i64 = 86_400_000_000;

/// One host's baseline: what is kept across restarts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Baseline {
    /// Wall time (µs) the host was first and last seen.
    pub first_seen: i64,
    pub last_seen: i64,
    /// Day number (wall time / 1 day) the envelopes were last decayed.
    pub day: i64,
    /// Per feature, per hour of the day: the decayed largest minute.
    pub env: [[f32; SLOTS]; 6],
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            first_seen: 0,
            last_seen: 0,
            day: 0,
            env: [[0.0; SLOTS]; 6],
        }
    }
}

/// Bytes of one exported baseline (`Baseline::to_bytes`).
pub const BASELINE_BYTES: usize = 24 + 6 * SLOTS * 4;

impl Baseline {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(BASELINE_BYTES);
        for x in [self.first_seen, self.last_seen, self.day] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        for f in &self.env {
            for x in f {
                v.extend_from_slice(&x.to_le_bytes());
            }
        }
        v
    }

    /// `None` unless `b` is exactly what `to_bytes` writes with finite, non-negative values.
    pub fn from_bytes(b: &[u8]) -> Option<Baseline> {
        if b.len() != BASELINE_BYTES {
            return None;
        }
        let i = |o: usize| i64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
        let mut out = Baseline {
            first_seen: i(0),
            last_seen: i(8),
            day: i(16),
            env: [[0.0; SLOTS]; 6],
        };
        for (fi, f) in out.env.iter_mut().enumerate() {
            for (si, x) in f.iter_mut().enumerate() {
                let o = 24 + (fi * SLOTS + si) * 4;
                let v = f32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
                if !v.is_finite() || v < 0.0 {
                    return None;
                }
                *x = v;
            }
        }
        Some(out)
    }
}

/// The minute being counted.
#[derive(Clone, Copy, Default)]
struct Minute {
    bytes: [u64; 2],
    flows: u32,
    dests: [u64; 4],
    ports: [u64; 2],
    top_dst: Addr,
    top_bytes: u64,
}

#[derive(Clone, Copy, Default)]
struct Host {
    base: Baseline,
    cur: Minute,
    /// Bytes (out, in) of this host's open flows at the last walk, and at this one.
    open_prev: [u64; 2],
    open_now: [u64; 2],
    /// The LAN device (MAC) that had this address when the host was first seen (all zeros:
    /// unknown): its baseline follows it to a new address.
    owner: [u8; 6],
    /// Bytes sent and received on UTC day `today`, by the minutes judged.
    today: i64,
    today_bytes: u64,
}

/// Bytes of state per tracked host (for the profile table).
pub const HOST_BYTES: usize = std::mem::size_of::<Host>() + 48;

#[derive(Clone, Copy, PartialEq, Eq)]
struct HostKey(Addr);

impl TableKey for HostKey {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        // One address: one folded multiply of its two seeded halves is enough.
        seed.hash1(self.0.bits())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostCounters {
    pub evicted: u64,
    pub new_hosts: u64,
    /// `host.new` events not emitted: over `NEW_PER_HOUR`, or in the first day, or a
    /// device already announced coming back on another address.
    pub new_hosts_quiet: u64,
    /// Baselines that followed their device to a new address.
    pub moved: u64,
    /// Entries that took the device the inventory has on their address (after a restart).
    pub adopted: u64,
    /// Entries whose address the inventory gave another device (moved or dropped).
    pub handed_over: u64,
}

pub struct HostRule {
    pub cfg: AnomalyConfig,
    home: HomeNet,
    hosts: LruMap<HostKey, Host>,
    /// Devices (by MAC) already announced by `host.new`: a device on a new address is not
    /// new. As many as the host table.
    announced: LruMap<crate::state::devices::MacKey, ()>,
    /// Entry id + 1 by a few address bits (0: empty); see `host`.
    cache: Vec<u32>,
    /// DNS queries this minute by querying address: a count-min sketch (two rows), so the
    /// many short DNS flows to the home's resolver cost no table lookup. Read for each host
    /// at the minute's end, then cleared.
    dns: Vec<u16>,
    /// Key of `sketch::addr_hash`, the hash the flow table already took of each address that
    /// sent (reused here for the DNS and destination sketches).
    sketch_key: u64,
    pub counters: HostCounters,
    /// Wall time of the first minute judged (the sensor's start, kept across restarts).
    pub since: i64,
    minute: i64,
    /// The UTC day of the last minute judged.
    judged_day: i64,
    hour: i64,
    new_this_hour: u32,
}

fn linear_count(bits: &[u64]) -> f64 {
    let m = (bits.len() * 64) as f64;
    let zeros = bits.iter().map(|w| w.count_zeros()).sum::<u32>().max(1) as f64;
    (m * (m / zeros).ln()).round()
}

/// Set the bit the top bits of `h` choose (`bits` is 64 × a power of two long).
#[inline]
fn set_bit(bits: &mut [u64], h: u64) {
    let n = bits.len() * 64;
    let i = (h >> (64 - n.trailing_zeros())) as usize;
    if let Some(w) = bits.get_mut(i / 64) {
        *w |= 1 << (i % 64);
    }
}

/// SplitMix64's finaliser: every input bit moves every output bit.
fn fmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl HostRule {
    pub fn new(cfg: AnomalyConfig, home: &[Cidr], capacity: usize, sketch_key: u64) -> HostRule {
        HostRule {
            cfg,
            home: HomeNet::new(home),
            hosts: LruMap::new(capacity, 1),
            announced: LruMap::new(capacity, 1),
            cache: vec![0; capacity.clamp(256, 1 << 16).next_power_of_two()],
            dns: vec![0; 2 * DNS_WIDTH],
            sketch_key,
            counters: HostCounters::default(),
            since: 0,
            minute: 0,
            judged_day: 0,
            hour: 0,
            new_this_hour: 0,
        }
    }

    pub fn set_home(&mut self, home: &[Cidr]) {
        self.home = HomeNet::new(home);
        // The cache stands for "local" too (see `on_close`): start it again.
        self.cache.fill(0);
    }

    pub fn entries(&self) -> u64 {
        self.hosts.len() as u64
    }

    pub fn footprint_bytes(&self) -> usize {
        self.hosts.footprint_bytes() + self.cache.len() * 4 + self.dns.len() * 2
    }

    #[inline]
    fn local(&self, a: &Addr) -> bool {
        self.home.contains(a) && !(self.home.has_group && (a.is_group() || *a == Addr::UNSPECIFIED))
    }

    /// The cache slot of `a`, and its entry when the slot holds it. A direct-mapped cache of
    /// entry ids in front of the table: a home's hosts differ in their last address bits, so
    /// most look-ups end with one compare. The slot is checked against the entry's key, so a
    /// stale or colliding slot only costs the table look-up.
    #[inline]
    fn cached(&self, a: &Addr) -> (usize, Option<u32>) {
        let w = fold(a);
        let ci = ((w ^ (w >> 12)) as usize) & (self.cache.len() - 1);
        let cached = self.cache[ci];
        if cached != 0 && self.hosts.key(cached - 1).0 == *a {
            (ci, Some(cached - 1))
        } else {
            (ci, None)
        }
    }

    /// The host's entry; created when absent and the flow was a session (`None` otherwise).
    #[inline]
    fn host(&mut self, a: Addr, c: &Closed, wall: i64, emit: &mut Emit) -> Option<u32> {
        match self.cached(&a) {
            (_, Some(id)) => Some(id),
            (ci, None) => self.host_slow(a, ci, c, wall, emit),
        }
    }

    #[inline(never)]
    fn host_slow(
        &mut self,
        a: Addr,
        ci: usize,
        c: &Closed,
        wall: i64,
        emit: &mut Emit,
    ) -> Option<u32> {
        let id = match self.hosts.find(&HostKey(a)) {
            Some(id) => id,
            None => {
                if !c.is_session() {
                    return None;
                }
                let device = emit.gate.devices.current(&a);
                let owner = device.map(|d| d.0);
                // A known device on its new address keeps its baseline, and is not new. (On an
                // address it had before and still uses beside its current one, such as an
                // IPv6 privacy address, it starts another.)
                if let Some(old) = device
                    .filter(|(_, current)| *current == a)
                    .and_then(|(m, _)| self.owned_by(&m, &a))
                {
                    let id = self.rekey(old, a, wall);
                    self.counters.moved += 1;
                    self.cache[ci] = id + 1;
                    return Some(id);
                }
                let (id, how) = self.hosts.entry_hashed(
                    HostKey(a),
                    0,
                    wall as u64,
                    |_, _, _| {},
                    |h| {
                        *h = Host::default();
                        h.base.first_seen = wall;
                        h.base.last_seen = wall;
                        h.base.day = wall.div_euclid(DAY_US);
                        h.owner = owner.unwrap_or_default();
                    },
                );
                if how == Upsert::Evicted {
                    self.counters.evicted += 1;
                }
                self.counters.new_hosts += 1;
                if owner.is_none_or(|m| self.announce(m, wall)) {
                    self.new_host(a, wall, emit);
                } else {
                    self.counters.new_hosts_quiet += 1;
                }
                id
            }
        };
        self.cache[ci] = id + 1;
        Some(id)
    }

    /// The host entry of device `mac` on an address of `a`'s family (a scan: only when a
    /// session comes from an address the table does not know).
    fn owned_by(&self, mac: &[u8; 6], a: &Addr) -> Option<u32> {
        let v4 = a.as_v4().is_some();
        self.hosts.iter_class(0).find(|id| {
            self.hosts.get(*id).owner == *mac && self.hosts.key(*id).0.as_v4().is_some() == v4
        })
    }

    /// Move entry `old` to address `a` (its device took a new address).
    fn rekey(&mut self, old: u32, a: Addr, wall: i64) -> u32 {
        let h = self.take(old);
        let (id, _) =
            self.hosts
                .entry_hashed(HostKey(a), 0, wall as u64, |_, _, _| {}, |slot| *slot = h);
        id
    }

    /// Remove entry `id` (and its address from the cache, which checks keys only).
    fn take(&mut self, id: u32) -> Host {
        let (k, h) = self.hosts.remove(id);
        let (ci, cached) = self.cached(&k.0);
        if cached.is_some() {
            self.cache[ci] = 0;
        }
        h
    }

    /// Once a minute, each entry's owner against the inventory (`dir`). An entry without one
    /// (restored from the store, or first seen before its device was known) takes the device
    /// that has its address. An entry whose address the inventory now gives another device
    /// was left there by its own: it follows that device to its current address when no
    /// entry holds that one, or is dropped; the address's new device starts its own.
    fn owners(&mut self, dir: &crate::state::devices::Directory, wall: i64) {
        if dir.is_empty() {
            return;
        }
        let mut id = self.hosts.oldest(0);
        for _ in 0..self.hosts.len() {
            let Some(i) = id else { break };
            id = self.hosts.newer(i);
            let a = self.hosts.key(i).0;
            let Some((mac, _)) = dir.current(&a) else {
                continue;
            };
            let h = self.hosts.get_mut(i);
            if h.owner == [0; 6] {
                h.owner = mac;
                self.counters.adopted += 1;
                continue;
            }
            if h.owner == mac {
                continue;
            }
            let owner = h.owner;
            let host = self.take(i);
            self.counters.handed_over += 1;
            if let Some(to) = dir
                .current_of(&owner, &a)
                .filter(|to| *to != a && self.hosts.find(&HostKey(*to)).is_none())
            {
                self.hosts.entry_hashed(
                    HostKey(to),
                    0,
                    wall.max(0) as u64,
                    |_, _, _| {},
                    |slot| *slot = host,
                );
                self.counters.moved += 1;
            }
        }
    }

    /// Note device `mac` as announced; true the first time.
    fn announce(&mut self, mac: [u8; 6], wall: i64) -> bool {
        let key = crate::state::devices::MacKey(mac);
        let (_, how) = self
            .announced
            .entry(key, 0, wall as u64, |_, _, _| {}, |_| {});
        how != Upsert::Found
    }

    /// The hash the sketches use for `a` (`sketch::addr_hash`; `known` when the flow table
    /// already has it, else 0).
    #[inline]
    fn addr_hash(&self, a: &Addr, known: u64) -> u64 {
        if known != 0 {
            known
        } else {
            crate::state::sketch::addr_hash(a, self.sketch_key)
        }
    }

    /// The two cells of the DNS sketch for an address hash.
    #[inline]
    fn dns_cells(h: u64) -> (usize, usize) {
        (
            (h as usize) % DNS_WIDTH,
            DNS_WIDTH + (h >> 32) as usize % DNS_WIDTH,
        )
    }

    fn new_host(&mut self, a: Addr, wall: i64, emit: &mut Emit) {
        if self.since == 0 {
            self.since = wall;
        }
        if !self.cfg.new_host_events
            || wall - self.since < SETTLE_US
            || self.new_this_hour >= NEW_PER_HOUR
        {
            self.counters.new_hosts_quiet += 1;
            return;
        }
        self.new_this_hour += 1;
        let mut al = Alert::new(RuleId::HostNew, wall);
        al.src = a;
        let key = SuppressKey {
            rule: RuleId::HostNew,
            a,
            b: Addr::UNSPECIFIED,
            port: 0,
            extra: 0,
        };
        emit.alert(key, wall.max(0) as u64, &mut al);
    }

    /// A flow ended: count it for its local end(s).
    pub fn on_close(&mut self, c: &Closed, emit: &mut Emit) {
        if !self.cfg.enabled {
            return;
        }
        let (resp, rport) = c.responder();
        // DNS queries count for whoever sent them, into the sketch (only local hosts' cells
        // are ever read, so no `home_net` test); a DNS flow is a few hundred bytes and adds
        // nothing else worth a look-up.
        if rport == 53 {
            let (i, j) = Self::dns_cells(self.addr_hash(&c.initiator().0, c.flow.addr_hash(0)));
            let n = c.flow.pkts[0].min(u16::MAX as u32) as u16;
            self.dns[i] = self.dns[i].saturating_add(n);
            self.dns[j] = self.dns[j].saturating_add(n);
            return;
        }
        let (ini, _) = c.initiator();
        // A host in the table (found through its cache slot) is local without the test.
        let (ci, cached) = self.cached(&ini);
        let li = cached.is_some() || self.local(&ini);
        let lr = self.local(&resp);
        // Everything else only across home_net.
        if li == lr {
            return;
        }
        let f = c.flow;
        let wall = c.at_ts;
        if li {
            let dest_hash = self.addr_hash(&resp, f.addr_hash(1));
            let id = match cached {
                Some(id) => Some(id),
                None => self.host_slow(ini, ci, c, wall, emit),
            };
            if let Some(id) = id {
                let h = self.hosts.get_mut(id);
                h.cur.bytes[0] += f.bytes[0];
                h.cur.bytes[1] += f.bytes[1];
                h.cur.flows = h.cur.flows.saturating_add(1);
                set_bit(&mut h.cur.dests, dest_hash);
                set_bit(&mut h.cur.ports, fmix(rport as u64));
                if f.bytes[0] > h.cur.top_bytes {
                    h.cur.top_bytes = f.bytes[0];
                    h.cur.top_dst = resp;
                }
            }
        } else if let Some(id) = self.host(resp, c, wall, emit) {
            let h = self.hosts.get_mut(id);
            h.cur.bytes[0] += f.bytes[1];
            h.cur.bytes[1] += f.bytes[0];
        }
    }

    /// Called once per second of packet time; acts when a wall-clock minute has ended.
    pub fn tick(&mut self, wall: i64, flows: &FlowTable, emit: &mut Emit) {
        if !self.cfg.enabled {
            return;
        }
        let minute = wall.div_euclid(MINUTE_US);
        if self.minute == 0 {
            self.minute = minute;
            return;
        }
        if minute <= self.minute {
            return;
        }
        let ended = self.minute;
        self.minute = minute;
        if minute.div_euclid(60) != self.hour {
            self.hour = minute.div_euclid(60);
            self.new_this_hour = 0;
        }
        self.owners(&emit.gate.devices, wall);
        self.walk(flows);
        self.judge(ended * MINUTE_US, emit);
    }

    /// Bytes of the open flows, per local host.
    fn walk(&mut self, flows: &FlowTable) {
        for (k, f) in flows.iter() {
            let (ini, resp) = if f.init_is_a { (k.a, k.b) } else { (k.b, k.a) };
            let (li, lr) = (self.local(&ini), self.local(&resp));
            if li == lr {
                continue;
            }
            let (host, out, inn, peer) = if li {
                (ini, f.bytes[0], f.bytes[1], resp)
            } else {
                (resp, f.bytes[1], f.bytes[0], ini)
            };
            if let Some(id) = self.hosts.find(&HostKey(host)) {
                let h = self.hosts.get_mut(id);
                h.open_now[0] += out;
                h.open_now[1] += inn;
                if out > h.cur.top_bytes {
                    h.cur.top_bytes = out;
                    h.cur.top_dst = peer;
                }
            }
        }
    }

    fn judge(&mut self, start: i64, emit: &mut Emit) {
        let slot = (start.rem_euclid(DAY_US) / 3_600_000_000) as usize % SLOTS;
        let day = start.div_euclid(DAY_US);
        self.judged_day = day;
        let cfg = &self.cfg;
        let floors = [
            cfg.min_upload_bytes as f64,
            cfg.min_download_bytes as f64,
            cfg.min_flows as f64,
            cfg.min_destinations as f64,
            cfg.min_ports as f64,
            cfg.min_dns_queries as f64,
        ];
        let (factor, learn_us) = (cfg.factor, cfg.learning_days as i64 * DAY_US);
        // Recency for eviction is kept here, once a minute, not at every flow: a host active
        // this minute moves to the newest end. Each entry is visited once (the moved ones go
        // behind the last, and the walk stops after `len` entries).
        let mark = (start + MINUTE_US).max(0) as u64;
        let mut pending: Option<u32> = None;
        let mut id = self.hosts.oldest(0);
        for _ in 0..self.hosts.len() {
            if let Some(t) = pending.take() {
                self.hosts.touch(t, mark, 0);
            }
            let Some(i) = id else { break };
            id = self.hosts.newer(i);
            let addr = self.hosts.key(i).0;
            let (ci, cj) = Self::dns_cells(crate::state::sketch::addr_hash(&addr, self.sketch_key));
            let dns = self.dns[ci].min(self.dns[cj]);
            let h = self.hosts.get_mut(i);
            // Bytes this minute: closed flows' totals plus the open flows' growth.
            let mut obs = [0f64; 6];
            for (d, o) in obs.iter_mut().take(2).enumerate() {
                *o = (h.cur.bytes[d] + h.open_now[d]).saturating_sub(h.open_prev[d]) as f64;
            }
            obs[2] = h.cur.flows as f64;
            obs[3] = if h.cur.flows == 0 {
                0.0
            } else {
                linear_count(&h.cur.dests)
            };
            obs[4] = if h.cur.flows == 0 {
                0.0
            } else {
                linear_count(&h.cur.ports)
            };
            obs[5] = dns as f64;
            if h.cur.flows > 0 || h.cur.bytes != [0; 2] || dns > 0 || h.open_now != h.open_prev {
                h.base.last_seen = start;
                pending = Some(i);
            }
            if h.today != day {
                h.today = day;
                h.today_bytes = 0;
            }
            h.today_bytes += (obs[0] + obs[1]) as u64;
            let top = h.cur.top_dst;
            h.open_prev = h.open_now;
            h.open_now = [0; 2];
            h.cur = Minute::default();
            // Decay once per day (missed days at once).
            if day > h.base.day {
                let k = DAILY_DECAY.powi((day - h.base.day).min(60) as i32);
                for f in h.base.env.iter_mut() {
                    for x in f.iter_mut() {
                        *x *= k;
                    }
                }
                h.base.day = day;
            }
            let judged = start - h.base.first_seen >= learn_us;
            let mut over: heapless::Vec<(usize, f64, f64), 6> = heapless::Vec::new();
            for f in 0..6 {
                let env = &h.base.env[f];
                let near = env[slot]
                    .max(env[(slot + SLOTS - 1) % SLOTS])
                    .max(env[(slot + 1) % SLOTS]);
                // What the host does at other hours counts too, at half weight: a phone that
                // uploads a video some evenings may do so at noon.
                let any = env.iter().fold(0f32, |a, &b| a.max(b)) * ANY_HOUR_SHARE;
                let e = near.max(any) as f64;
                if judged && obs[f] >= floors[f] && obs[f] > factor * e {
                    let _ = over.push((f, obs[f], e));
                }
            }
            for (f, (&o, env)) in obs.iter().zip(h.base.env.iter_mut()).enumerate() {
                let x = if over.iter().any(|v| v.0 == f) {
                    o / factor
                } else {
                    o
                };
                env[slot] = env[slot].max(x as f32);
            }
            if over.is_empty() {
                continue;
            }
            // The strongest departures first; at most four features (evidence has room).
            over.sort_unstable_by(|a, b| {
                let ra = a.1 / (a.2 + 1.0);
                let rb = b.1 / (b.2 + 1.0);
                rb.total_cmp(&ra)
            });
            let mut al = Alert::new(RuleId::AnomalyHost, start + MINUTE_US - 1);
            al.first_seen = start;
            al.src = addr;
            if obs[0] >= floors[0] || obs[3] >= floors[3] {
                al.dst = top;
            }
            let e = &mut al.evidence;
            for &(f, x, b) in over.iter().take(4) {
                e.fig(OBSERVED[f], Figure::U(x.round() as u64));
                e.fig(BASELINE[f], Figure::U(b.round() as u64));
            }
            e.fig("factor", Figure::F(factor));
            e.fig("hour_utc", Figure::U(slot as u64));
            let key = SuppressKey {
                rule: RuleId::AnomalyHost,
                a: addr,
                b: Addr::UNSPECIFIED,
                port: 0,
                extra: 0,
            };
            emit.alert(key, (start + MINUTE_US).max(0) as u64, &mut al);
        }
        if let Some(t) = pending {
            self.hosts.touch(t, mark, 0);
        }
        self.dns.fill(0);
    }

    /// The minute being counted (minutes since the epoch; 0 before the first): it moves on
    /// when the one before is judged.
    pub fn judged_minute(&self) -> i64 {
        self.minute
    }

    /// The UTC day of the last minute judged.
    pub fn judged_day(&self) -> i64 {
        self.judged_day
    }

    /// Each entry that has a device: its MAC and bytes on UTC day `day` (by the minutes
    /// judged).
    pub fn traffic_on(&self, day: i64, f: &mut dyn FnMut(&[u8; 6], u64)) {
        let mut id = self.hosts.oldest(0);
        while let Some(i) = id {
            id = self.hosts.newer(i);
            let h = self.hosts.get(i);
            if h.owner != [0; 6] && h.today == day {
                f(&h.owner, h.today_bytes);
            }
        }
    }

    /// Every host's baseline (for the store).
    pub fn export(&self, mut f: impl FnMut(&Addr, &Baseline)) {
        let mut id = self.hosts.oldest(0);
        while let Some(i) = id {
            f(&self.hosts.key(i).0, &self.hosts.get(i).base);
            id = self.hosts.newer(i);
        }
    }

    /// Take baselines kept from an earlier run (oldest activity first, so the most recent
    /// ones survive when there are more than the table holds).
    pub fn import(&mut self, since: i64, rows: &mut [(Addr, Baseline)]) {
        if since > 0 && (self.since == 0 || since < self.since) {
            self.since = since;
        }
        rows.sort_by_key(|r| r.1.last_seen);
        for (a, b) in rows.iter() {
            if !self.local(a) {
                continue;
            }
            let base = *b;
            self.hosts.entry(
                HostKey(*a),
                0,
                b.last_seen.max(0) as u64,
                |_, _, _| {},
                |h| {
                    *h = Host::default();
                    h.base = base;
                },
            );
        }
    }
}

const OBSERVED: [&str; 6] = [
    "bytes_out_observed",
    "bytes_in_observed",
    "new_flows_observed",
    "destinations_observed",
    "ports_observed",
    "dns_queries_observed",
];
const BASELINE: [&str; 6] = [
    "bytes_out_baseline",
    "bytes_in_baseline",
    "new_flows_baseline",
    "destinations_baseline",
    "ports_baseline",
    "dns_queries_baseline",
];

// ---------------------------------------------------------------------------------------------
// Configuration: `[rules.anomaly]`.

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

impl FileAnomaly {
    pub fn validate(&self) -> Result<AnomalyConfig, ConfigError> {
        let an = self;
        let mb = |k: &str, v: Option<f64>, d: f64| -> Result<u64, ConfigError> {
            Ok((ranged(k, v, d, 0.1, 1_000_000.0)? * 1e6) as u64)
        };
        Ok(AnomalyConfig {
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_bytes_round_trip_and_reject_garbage() {
        let mut b = Baseline {
            first_seen: 1,
            last_seen: 2,
            day: 3,
            ..Baseline::default()
        };
        b.env[2][5] = 42.5;
        let bytes = b.to_bytes();
        assert_eq!(bytes.len(), BASELINE_BYTES);
        assert_eq!(Baseline::from_bytes(&bytes), Some(b));
        assert_eq!(Baseline::from_bytes(&bytes[1..]), None);
        let mut bad = bytes.clone();
        bad[24..28].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(Baseline::from_bytes(&bad), None);
        bad[24..28].copy_from_slice(&(-1.0f32).to_le_bytes());
        assert_eq!(Baseline::from_bytes(&bad), None);
    }

    #[test]
    fn linear_counting_estimates() {
        let mut bits = [0u64; 4];
        for i in 0..300u32 {
            set_bit(
                &mut bits,
                crate::state::sketch::addr_hash(&Addr::v4([8, 8, (i >> 8) as u8, i as u8]), 7),
            );
        }
        let n = linear_count(&bits);
        assert!((240.0..=360.0).contains(&n), "{n}");
        assert_eq!(linear_count(&[0u64; 4]), 0.0);
    }

    #[test]
    fn home_net_masks() {
        let h = HomeNet::new(&[
            "192.168.0.0/16".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ]);
        assert!(h.contains(&Addr::v4([192, 168, 3, 4])));
        assert!(!h.contains(&Addr::v4([192, 169, 3, 4])));
        assert!(h.contains(&Addr::from("fd12::1".parse::<std::net::IpAddr>().unwrap())));
        assert!(!h.contains(&Addr::from("fe80::1".parse::<std::net::IpAddr>().unwrap())));
        assert!(!h.contains(&Addr::v4([8, 8, 8, 8])));
        // An IPv6 block over the IPv4-mapped range covers IPv4 addresses too.
        let all = HomeNet::new(&["::/0".parse().unwrap()]);
        assert!(all.contains(&Addr::v4([8, 8, 8, 8])) && all.has_group);
        let mapped = HomeNet::new(&["::ffff:10.0.0.0/104".parse().unwrap()]);
        assert!(mapped.contains(&Addr::v4([10, 1, 2, 3])));
        assert!(!mapped.contains(&Addr::v4([11, 1, 2, 3])));
    }
}

#[cfg(test)]
#[path = "hosts_scenarios.rs"]
mod scenarios;
