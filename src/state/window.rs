//! Rolling traffic windows: 1 s, 10 s and 60 s aggregates and their history rings for charts.
//!
//! Each level has a current bucket and a fixed-capacity ring of closed summaries (defaults
//! 300 × 1 s, 360 × 10 s, 1440 × 60 s). Only the 1 s bucket is touched per packet; when it
//! closes it is merged into the 10 s and 60 s buckets (distinct-source HyperLogLogs merge
//! exactly, top-talker sketches approximately).
//!
//! Time is the monotonic packet clock (see `clock`). A forward jump closes the current bucket
//! and pushes empty summaries for the skipped periods, but never more than the ring holds, so
//! a jump of months costs at most one ring's length. Summaries carry the wall time of their
//! start under the clock's base at the time they closed.

use crate::addr::Addr;
use crate::capture::decode::{proto, tcp_flags, Net, PacketMeta};
use crate::settings::{ranged, ConfigError};
use crate::state::flow::FlowEvent;
use crate::state::sketch::{addr_hash, HeavyHitters, Hll};
use serde::Deserialize;

const HLL_REGS: usize = 1024;

/// IP protocol number → `by_proto` index: TCP, UDP, ICMP (v4 and v6), other.
const PROTO_CLASS: [u8; 256] = {
    let mut t = [3u8; 256];
    t[proto::TCP as usize] = 0;
    t[proto::UDP as usize] = 1;
    t[proto::ICMP as usize] = 2;
    t[proto::ICMPV6 as usize] = 2;
    t
};
pub const TOP_TALKERS: usize = 3;

/// A closed window, as stored in history and shown in charts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Wall-clock start of the window, seconds since the epoch.
    pub start: i64,
    pub span_s: u32,
    pub packets: u64,
    pub bytes: u64,
    /// Packets by protocol: TCP, UDP, ICMP (v4 and v6), other.
    pub by_proto: [u64; 4],
    pub syns: u64,
    pub new_flows: u64,
    pub distinct_sources: u32,
    /// Heaviest sources by bytes.
    pub top_talkers: [(Addr, u64); TOP_TALKERS],
}

#[derive(Clone)]
struct Bucket {
    /// Monotonic start, seconds.
    start: u64,
    bytes: u64,
    /// Packets by protocol class (every packet is in one: their sum is the bucket's count).
    by_proto: [u64; 4],
    syns: u64,
    new_flows: u64,
    sources: Hll<HLL_REGS>,
    talkers: HeavyHitters<64>,
}

impl Bucket {
    fn new(start: u64) -> Self {
        Bucket {
            start,
            bytes: 0,
            by_proto: [0; 4],
            syns: 0,
            new_flows: 0,
            sources: Hll::default(),
            talkers: HeavyHitters::default(),
        }
    }

    fn reset(&mut self, start: u64) {
        self.start = start;
        self.bytes = 0;
        self.by_proto = [0; 4];
        self.syns = 0;
        self.new_flows = 0;
        self.sources.clear();
        self.talkers.clear();
    }

    fn merge(&mut self, o: &Bucket, key: u64) {
        self.bytes += o.bytes;
        for i in 0..4 {
            self.by_proto[i] += o.by_proto[i];
        }
        self.syns += o.syns;
        self.new_flows += o.new_flows;
        self.sources.merge(&o.sources);
        self.talkers.merge(&o.talkers, key);
    }

    fn packets(&self) -> u64 {
        self.by_proto.iter().sum()
    }

    fn summary(&self, span_s: u32, wall_offset_s: i64) -> Summary {
        let packets = self.packets();
        Summary {
            start: self.start as i64 + wall_offset_s,
            span_s,
            packets,
            bytes: self.bytes,
            by_proto: self.by_proto,
            syns: self.syns,
            new_flows: self.new_flows,
            distinct_sources: if packets == 0 {
                0
            } else {
                self.sources.estimate() as u32
            },
            top_talkers: self.talkers.top(),
        }
    }
}

/// A fixed-capacity ring of summaries, oldest overwritten.
pub struct Ring {
    buf: Vec<Summary>,
    cap: usize,
    head: usize,
    len: usize,
}

impl Ring {
    fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Ring {
            buf: vec![Summary::default(); cap],
            cap,
            head: 0,
            len: 0,
        }
    }

    fn push(&mut self, s: Summary) {
        let at = (self.head + self.len) % self.cap;
        self.buf[at] = s;
        if self.len < self.cap {
            self.len += 1;
        } else {
            self.head = (self.head + 1) % self.cap;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Oldest to newest.
    pub fn iter(&self) -> impl Iterator<Item = &Summary> + '_ {
        (0..self.len).map(move |i| &self.buf[(self.head + i) % self.cap])
    }

    pub fn last(&self) -> Option<&Summary> {
        (self.len > 0).then(|| &self.buf[(self.head + self.len - 1) % self.cap])
    }
}

struct Level {
    span: u64,
    cur: Bucket,
    ring: Ring,
    started: bool,
}

impl Level {
    fn new(span: u64, cap: usize) -> Self {
        Level {
            span,
            cur: Bucket::new(0),
            ring: Ring::new(cap),
            started: false,
        }
    }

    /// Close buckets until the current one covers second `t` (bounded by the ring size).
    fn advance_to(&mut self, t: u64, wall_offset_s: i64, on_close: &mut impl FnMut(u32, &Summary)) {
        let aligned = t - t % self.span;
        if !self.started {
            self.started = true;
            self.cur.reset(aligned);
            return;
        }
        if aligned <= self.cur.start {
            return;
        }
        let s = self.cur.summary(self.span as u32, wall_offset_s);
        self.ring.push(s);
        on_close(self.span as u32, &s);
        // Empty periods in between, at most one ring's worth.
        let gap = (aligned - self.cur.start) / self.span - 1;
        let fill = gap.min(self.ring.capacity() as u64);
        let first_empty = aligned - fill * self.span;
        for i in 0..fill {
            let mut e = Summary {
                start: (first_empty + i * self.span) as i64 + wall_offset_s,
                ..Summary::default()
            };
            e.span_s = self.span as u32;
            self.ring.push(e);
        }
        self.cur.reset(aligned);
    }
}

/// The three window levels.
pub struct Windows {
    l1: Level,
    l10: Level,
    l60: Level,
    key: u64,
    /// The flow table's created count when the current 1 s bucket's count was last taken.
    flows_created: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowCaps {
    pub history_1s: usize,
    pub history_10s: usize,
    pub history_60s: usize,
}

impl Windows {
    pub fn new(caps: WindowCaps, sketch_key: u64) -> Self {
        Windows {
            l1: Level::new(1, caps.history_1s),
            l10: Level::new(10, caps.history_10s),
            l60: Level::new(60, caps.history_60s),
            key: sketch_key,
            flows_created: 0,
        }
    }

    pub fn footprint_bytes(&self) -> usize {
        (self.l1.ring.capacity() + self.l10.ring.capacity() + self.l60.ring.capacity())
            * std::mem::size_of::<Summary>()
            + 3 * std::mem::size_of::<Bucket>()
    }

    /// Move time forward to monotonic µs `now`; closed windows go to `on_close(span, summary)`.
    /// `flows_created`: the flow table's count of flows created so far (the packets observed
    /// since the last call created the difference: not counted packet by packet).
    pub fn advance(
        &mut self,
        now: u64,
        wall_offset_us: i64,
        flows_created: u64,
        on_close: &mut impl FnMut(u32, &Summary),
    ) {
        let t = now / 1_000_000;
        if self.l1.started && t <= self.l1.cur.start {
            return;
        }
        self.l1.cur.new_flows += flows_created.wrapping_sub(self.flows_created);
        self.flows_created = flows_created;
        let off = wall_offset_us.div_euclid(1_000_000);
        if !self.l1.started {
            self.l1.advance_to(t, off, on_close);
            self.l10.advance_to(t, off, on_close);
            self.l60.advance_to(t, off, on_close);
            return;
        }
        let s0 = self.l1.cur.start;
        let closed = self.l1.cur.clone();
        self.l1.advance_to(t, off, on_close);
        self.l10.advance_to(s0, off, on_close);
        self.l10.cur.merge(&closed, self.key);
        self.l60.advance_to(s0, off, on_close);
        self.l60.cur.merge(&closed, self.key);
        self.l10.advance_to(t, off, on_close);
        self.l60.advance_to(t, off, on_close);
    }

    /// Account one packet (after `advance`). `new_flow`: it created a flow.
    #[inline]
    pub fn observe(&mut self, m: &PacketMeta, ev: &FlowEvent) {
        let b = &mut self.l1.cur;
        b.bytes += m.wire_len as u64;
        // Non-IP frames carry protocol 0, which is "other" too.
        let p = PROTO_CLASS[m.proto as usize] as usize;
        b.by_proto[p] += 1;
        if p == 0 && m.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN {
            b.syns += 1;
        }
        if ev.tracked {
            // The flow table hashed the source once for the flow, and knows whether this
            // flow and direction already counted it this second (inserting it again would
            // leave the HyperLogLog as it is).
            if ev.src_first_in_sec {
                b.sources.insert_hash(ev.src_hash);
            }
            b.talkers.add(m.src, ev.src_hash, m.wire_len as u64);
        } else if m.net != Net::Other {
            let h = addr_hash(&m.src, self.key);
            b.sources.insert_hash(h);
            b.talkers.add(m.src, h, m.wire_len as u64);
        }
    }

    /// Close every open bucket (end of capture).
    pub fn flush(
        &mut self,
        wall_offset_us: i64,
        flows_created: u64,
        on_close: &mut impl FnMut(u32, &Summary),
    ) {
        if !self.l1.started {
            return;
        }
        let next = self.l1.cur.start + 1;
        self.advance(next * 1_000_000, wall_offset_us, flows_created, on_close);
        let off = wall_offset_us.div_euclid(1_000_000);
        for l in [&mut self.l10, &mut self.l60] {
            if l.cur.packets() > 0 {
                let s = l.cur.summary(l.span as u32, off);
                l.ring.push(s);
                on_close(l.span as u32, &s);
                let next = l.cur.start + l.span;
                l.cur.reset(next);
            }
        }
    }

    pub fn history(&self, span_s: u32) -> Option<&Ring> {
        match span_s {
            1 => Some(&self.l1.ring),
            10 => Some(&self.l10.ring),
            60 => Some(&self.l60.ring),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration: `[windows]`.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWindows {
    pub history_1s: Option<usize>,
    pub history_10s: Option<usize>,
    pub history_60s: Option<usize>,
}

impl FileWindows {
    pub fn validate(&self) -> Result<WindowCaps, ConfigError> {
        let w = self;
        Ok(WindowCaps {
            history_1s: ranged("windows.history_1s", w.history_1s, 300, 1, 86_400)?,
            history_10s: ranged("windows.history_10s", w.history_10s, 360, 1, 86_400)?,
            history_60s: ranged("windows.history_60s", w.history_60s, 1440, 1, 525_600)?,
        })
    }
}
