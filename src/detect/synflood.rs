//! SYN flood: per victim (address, port), SYNs in each second of packet time against
//! handshakes completed in it.
//!
//! A second is judged when it ends (at the next SYN to that victim, or at the engine's 1 s
//! tick): it alerts when SYNs ≥ `syn_rate` (default 200/s, ntopng's `syn_flood` uses 256/s)
//! and completed handshakes / SYNs ≤ `max_completion` (default 0.2). The completion ratio is
//! what tells a flood from a busy server: a real client finishes its handshake, a flood tool
//! or a spoofed source never does. Works for one source (hping3 `--flood`) and for spoofed
//! floods from millions of addresses: sources are counted with a 256-register HyperLogLog
//! keyed by `sketch_key`, top sources with a Space-Saving sketch.
//!
//! Suppression key: (rule, victim, port). `src_ip` of the alert is the top source.

use crate::addr::Addr;
use crate::capture::decode::{proto, tcp_flags as tf, PacketMeta};
use crate::state::flow::{FlowEvent, FlowTable};
use crate::state::sketch::{addr_hash, Hll, TopK};
use crate::state::table::{LruMap, Seed, TableKey, Upsert};

use super::{community_id, Alert, Emit, Figure, Rule, RuleId, SuppressKey};
use crate::settings::{allow, ranged, Allow, ConfigError, FileAllow};
use serde::Deserialize;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Victim {
    addr: Addr,
    port: u16,
}

impl TableKey for Victim {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        seed.hash(self.addr.bits(), 0, self.port as u64, 0)
    }
}

#[derive(Default)]
struct SecondStats {
    sec: u64,
    syns: u32,
    completed: u32,
    last_ts: i64,
    first_ts: i64,
    sources: Hll<256>,
    top: TopK<4>,
}

/// Buckets of the per-second pre-filter.
const PREFILTER: usize = 1024;

pub struct SynFloodRule {
    pub cfg: SynfloodConfig,
    victims: LruMap<Victim, SecondStats>,
    /// SYNs and completed handshakes per (hashed) victim in the current second. A victim gets
    /// a table entry only once its bucket reaches `promote_at` SYNs, so ordinary connection
    /// openings never touch the table; what the bucket counted before promotion is credited
    /// to the new entry.
    prefilter: Box<[(u32, u32); PREFILTER]>,
    prefilter_sec: u64,
    key: u64,
    evicted: u64,
}

impl SynFloodRule {
    pub fn new(cfg: SynfloodConfig, capacity: usize, sketch_key: u64) -> Self {
        SynFloodRule {
            cfg,
            victims: LruMap::new(capacity, 1),
            prefilter: Box::new([(0, 0); PREFILTER]),
            prefilter_sec: 0,
            key: sketch_key,
            evicted: 0,
        }
    }

    fn promote_at(&self) -> u32 {
        (self.cfg.syn_rate / 4).max(1)
    }

    #[inline]
    fn bucket(&self, addr: &Addr, port: u16) -> usize {
        // The port goes in with the address word before the multiplies mix it.
        (addr_hash(addr, self.key ^ port as u64) >> 40) as usize % PREFILTER
    }

    fn judge(cfg: &SynfloodConfig, v: &Victim, s: &mut SecondStats, now: u64, emit: &mut Emit) {
        if s.syns >= cfg.syn_rate {
            let ratio = s.completed.min(s.syns) as f64 / s.syns as f64;
            if ratio <= cfg.max_completion {
                let top: [(Addr, u64); 4] = s.top.top();
                let mut a = Alert::new(RuleId::Synflood, s.last_ts);
                a.first_seen = s.first_ts;
                a.src = top[0].0;
                a.dst = v.addr;
                a.dport = v.port;
                a.proto = proto::TCP;
                a.community_id = Some(community_id(0, a.src, 0, v.addr, v.port, proto::TCP));
                let e = &mut a.evidence;
                e.fig("syn_per_s", Figure::U(s.syns as u64));
                e.fig("threshold", Figure::U(cfg.syn_rate as u64));
                e.fig(
                    "completion_ratio",
                    Figure::F((ratio * 1000.0).round() / 1000.0),
                );
                e.fig("max_completion", Figure::F(cfg.max_completion));
                e.fig("distinct_sources", Figure::U(s.sources.estimate()));
                e.fig("window_s", Figure::U(1));
                for (h, _) in top.iter().filter(|t| t.1 > 0) {
                    let _ = e.hosts.push(*h);
                }
                let key = SuppressKey {
                    rule: RuleId::Synflood,
                    a: v.addr,
                    b: Addr::UNSPECIFIED,
                    port: v.port,
                    extra: 0,
                };
                emit.alert(key, now, &mut a);
            }
        }
        s.syns = 0;
        s.completed = 0;
        s.sources.clear();
        s.top.clear();
    }
}

impl Rule for SynFloodRule {
    #[inline]
    fn on_packet(&mut self, m: &PacketMeta, ev: &FlowEvent, flows: &FlowTable, emit: &mut Emit) {
        if !self.cfg.enabled || m.proto != proto::TCP {
            return;
        }
        let sec = m.sec;
        if m.tcp_flags & (tf::SYN | tf::ACK) == tf::SYN {
            if m.dst.is_group()
                || self.cfg.allow.src_allowed(&m.src)
                || self.cfg.allow.dst_allowed(&m.dst, m.dport)
            {
                return;
            }
            if sec != self.prefilter_sec {
                self.prefilter.fill((0, 0));
                self.prefilter_sec = sec;
            }
            let b = self.bucket(&m.dst, m.dport);
            self.prefilter[b].0 += 1;
            let (seen, completed_before) = self.prefilter[b];
            let promote = self.promote_at();
            if seen < promote {
                return;
            }
            let v = Victim {
                addr: m.dst,
                port: m.dport,
            };
            let (id, how) = self.victims.upsert(v, 0, m.now, |s| {
                s.sec = sec;
                s.syns = 0;
                s.completed = 0;
                s.first_ts = m.ts;
                s.sources.clear();
                s.top.clear();
            });
            self.evicted += (how == Upsert::Evicted) as u64;
            let s = self.victims.get_mut(id);
            if s.sec != sec {
                Self::judge(&self.cfg, &v, s, m.now, emit);
                s.sec = sec;
                s.first_ts = m.ts;
            }
            if s.syns == 0 {
                // What the pre-filter counted this second before promotion.
                s.syns = seen - 1;
                s.completed = completed_before;
            }
            s.syns += 1;
            s.last_ts = m.ts;
            s.sources.insert_hash(addr_hash(&m.src, self.key));
            s.top.add(m.src, 1);
        } else if ev.established {
            // The responder of a completed handshake is the victim side.
            let (k, f) = flows.get(ev.id);
            let (addr, port) = if f.init_is_a {
                (k.b, k.b_port)
            } else {
                (k.a, k.a_port)
            };
            if sec != self.prefilter_sec {
                return;
            }
            let b = self.bucket(&addr, port);
            self.prefilter[b].1 += 1;
            if self.prefilter[b].0 < self.promote_at() {
                return;
            }
            if let Some(id) = self.victims.find(&Victim { addr, port }) {
                let s = self.victims.get_mut(id);
                if s.sec == sec {
                    s.completed += 1;
                }
            }
        }
    }

    fn tick(&mut self, now: u64, _wall: i64, emit: &mut Emit) {
        if !self.cfg.enabled {
            return;
        }
        let sec = now / 1_000_000;
        let ids: heapless::Vec<u32, 64> = self
            .victims
            .iter_class(0)
            .filter(|&id| {
                let s = self.victims.get(id);
                s.syns > 0 && s.sec < sec
            })
            .take(64)
            .collect();
        for id in ids {
            let v = *self.victims.key(id);
            let s = self.victims.get_mut(id);
            Self::judge(&self.cfg, &v, s, now, emit);
        }
    }

    fn evictions(&self) -> u64 {
        self.evicted
    }

    fn entries(&self) -> u64 {
        self.victims.len() as u64
    }

    fn footprint_bytes(&self) -> usize {
        self.victims.footprint_bytes()
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration: `[rules.synflood]`.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSynflood {
    pub enabled: Option<bool>,
    pub syn_rate: Option<u32>,
    pub max_completion: Option<f64>,
    #[serde(flatten)]
    pub allow: FileAllow,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SynfloodConfig {
    pub enabled: bool,
    pub syn_rate: u32,
    pub max_completion: f64,
    pub allow: Allow,
}

impl FileSynflood {
    pub fn validate(&self) -> Result<SynfloodConfig, ConfigError> {
        let sf = self;
        Ok(SynfloodConfig {
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
        })
    }
}
