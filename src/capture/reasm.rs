//! Bounded IP reassembly (IPv4 and IPv6), so fragmented probes (`nmap -f`: 8-byte fragments,
//! TCP flags only in the second) and fragmented DNS reach the rules as whole datagrams.
//!
//! A fixed table of fragment trains (`capacity.fragment_trains`), keyed by source,
//! destination, IP id and protocol, found by hashing into the table and probing at most
//! [`PROBE`] slots. Each train keeps the first [`KEEP`] bytes of its datagram (enough for any
//! transport header and a DNS question; what lies beyond is only counted) and which 8-byte
//! blocks of them arrived. A datagram is delivered once its last fragment has come and every
//! kept block is there; its transport header is then decoded from the kept bytes, and the
//! rules see one packet with the datagram's full length.
//!
//! Trains that do not complete within [`TIMEOUT_US`] (30 s, Linux's `ipfrag_time`) are dropped
//! and counted; when the probed slots are all busy, the oldest is evicted and counted.
//! Anomalies are counted, never fatal: *overlaps* (a fragment rewriting bytes already held —
//! the first copy is kept, as the fragment-overlap evasions assume the opposite of some
//! target) and *tiny* fragments (a first fragment too short for its transport header, the
//! RFC 1858 attack that `nmap -f` is, or a non-final fragment under 64 bytes). No allocation
//! after start: the table is one boxed slice.

use crate::addr::Addr;
use crate::capture::decode::{proto, Fragment};

/// Bytes of each datagram kept (transport header, options and a DNS message's start).
pub const KEEP: usize = 512;
/// Slots probed from a train's hash position.
pub const PROBE: usize = 8;
/// Trains not completed within this are dropped.
pub const TIMEOUT_US: u64 = 30_000_000;

#[derive(Clone, Copy, Default)]
pub struct FragCounters {
    pub reassembled: u64,
    pub timeouts: u64,
    pub evicted: u64,
    pub overlaps: u64,
    pub tiny: u64,
}

#[derive(Clone)]
struct Train {
    used: bool,
    src: Addr,
    dst: Addr,
    id: u32,
    proto: u8,
    first_us: u64,
    /// Datagram payload length once the last fragment has come (0: not yet).
    total: u32,
    /// Blocks of 8 bytes of the kept prefix that arrived.
    have: u64,
    buf: [u8; KEEP],
}

impl Default for Train {
    fn default() -> Self {
        Train {
            used: false,
            src: Addr::UNSPECIFIED,
            dst: Addr::UNSPECIFIED,
            id: 0,
            proto: 0,
            first_us: 0,
            total: 0,
            have: 0,
            buf: [0; KEEP],
        }
    }
}

/// A datagram ready for the rules: the kept payload bytes and the full payload length.
pub struct Datagram<'a> {
    pub payload: &'a [u8],
    pub wire_len: u32,
}

pub struct Reassembler {
    trains: Box<[Train]>,
    pub counters: FragCounters,
    /// The slot handed out by the last `add` that completed (free again at the next call).
    done: Option<usize>,
}

/// Bits of `have` for the kept bytes [start, end).
fn blocks(start: usize, end: usize) -> u64 {
    if end <= start {
        return 0;
    }
    let (a, b) = (start / 8, end.div_ceil(8));
    let upper = if b >= 64 { u64::MAX } else { (1u64 << b) - 1 };
    upper & !((1u64 << a) - 1)
}

impl Reassembler {
    pub fn new(capacity: usize) -> Self {
        Reassembler {
            trains: vec![Train::default(); capacity.max(PROBE)].into_boxed_slice(),
            counters: FragCounters::default(),
            done: None,
        }
    }

    pub fn footprint_bytes(&self) -> usize {
        self.trains.len() * std::mem::size_of::<Train>()
    }

    /// Trains waiting for fragments.
    pub fn pending(&self) -> usize {
        self.trains.iter().filter(|t| t.used).count()
    }

    fn slot_of(&self, src: &Addr, dst: &Addr, id: u32, p: u8) -> usize {
        let fold = |a: &Addr| {
            let b = a.bits();
            (b as u64) ^ ((b >> 64) as u64)
        };
        let h =
            crate::addr::mix(fold(src) ^ fold(dst).rotate_left(17) ^ ((id as u64) << 8 | p as u64));
        (h % self.trains.len() as u64) as usize
    }

    /// Drop trains older than the timeout (called once a second).
    pub fn expire(&mut self, now: u64) {
        if let Some(i) = self.done.take() {
            self.trains[i].used = false;
        }
        for t in self.trains.iter_mut().filter(|t| t.used) {
            if now.saturating_sub(t.first_us) > TIMEOUT_US {
                t.used = false;
                self.counters.timeouts += 1;
            }
        }
    }

    /// Add one fragment (`payload` is its captured payload); returns the whole datagram when
    /// this fragment completes it.
    pub fn add(
        &mut self,
        src: Addr,
        dst: Addr,
        p: u8,
        f: &Fragment,
        payload: &[u8],
        now: u64,
    ) -> Option<Datagram<'_>> {
        if let Some(i) = self.done.take() {
            self.trains[i].used = false;
        }
        let min_header = match p {
            proto::TCP => 20,
            proto::UDP => 8,
            _ => 4,
        };
        if (f.offset == 0 && (f.wire_len as usize) < min_header) || (f.more && f.wire_len < 64) {
            self.counters.tiny += 1;
        }
        let n = self.trains.len();
        let home = self.slot_of(&src, &dst, f.id, p);
        let mut found = None;
        let mut free = None;
        let mut oldest = home;
        for k in 0..PROBE {
            let i = (home + k) % n;
            let t = &self.trains[i];
            if !t.used {
                free.get_or_insert(i);
                continue;
            }
            if t.id == f.id && t.proto == p && t.src == src && t.dst == dst {
                found = Some(i);
                break;
            }
            if t.first_us < self.trains[oldest].first_us || !self.trains[oldest].used {
                oldest = i;
            }
        }
        let i = match (found, free) {
            (Some(i), _) => i,
            (None, Some(i)) => i,
            (None, None) => {
                self.counters.evicted += 1;
                oldest
            }
        };
        let t = &mut self.trains[i];
        if found.is_none() {
            t.used = true;
            t.src = src;
            t.dst = dst;
            t.id = f.id;
            t.proto = p;
            t.first_us = now;
            t.total = 0;
            t.have = 0;
        }
        let start = f.offset as usize;
        let end = start + payload.len().min(f.wire_len as usize);
        if !f.more {
            t.total = f.offset + f.wire_len as u32;
        }
        if start < KEEP {
            let kept_end = end.min(KEEP);
            let bits = blocks(start, kept_end);
            if t.have & bits != 0 {
                self.counters.overlaps += 1;
            }
            // The first copy of each block wins: copy only blocks not yet held.
            for b in 0..KEEP / 8 {
                if bits & (1 << b) != 0 && t.have & (1 << b) == 0 {
                    let (s, e) = ((b * 8).max(start), ((b + 1) * 8).min(kept_end));
                    if s < e {
                        t.buf[s..e].copy_from_slice(&payload[s - start..e - start]);
                    }
                }
            }
            // A partial last block only counts once the datagram's end is known to be there.
            let full = if kept_end % 8 == 0 || kept_end == t.total as usize {
                bits
            } else {
                bits & !(1u64 << (kept_end / 8))
            };
            t.have |= full;
        }
        if t.total == 0 {
            return None;
        }
        let need = (t.total as usize).min(KEEP);
        if t.have & blocks(0, need) != blocks(0, need) {
            return None;
        }
        self.counters.reassembled += 1;
        self.done = Some(i);
        let t = &self.trains[i];
        Some(Datagram {
            payload: &t.buf[..need],
            wire_len: t.total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(offset: u32, more: bool, len: u16) -> Fragment {
        Fragment {
            id: 7,
            offset,
            more,
            at: 0,
            len,
            wire_len: len,
        }
    }

    #[test]
    fn eight_byte_fragments_in_any_order_make_one_datagram() {
        let data: Vec<u8> = (0..24u8).collect();
        let (a, b) = (Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2]));
        for order in [[0usize, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let mut r = Reassembler::new(16);
            let mut out = None;
            for &k in &order {
                let f = frag(k as u32 * 8, k < 2, 8);
                if let Some(d) = r.add(a, b, proto::TCP, &f, &data[k * 8..k * 8 + 8], 1) {
                    out = Some((d.payload.to_vec(), d.wire_len));
                }
            }
            assert_eq!(out, Some((data.clone(), 24)), "{order:?}");
            assert_eq!(r.counters.reassembled, 1);
            assert_eq!(r.counters.tiny, 2, "the 8-byte first fragment and one more");
        }
    }

    #[test]
    fn overlaps_keep_the_first_copy_and_long_datagrams_keep_a_prefix() {
        let (a, b) = (Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2]));
        let mut r = Reassembler::new(16);
        assert!(r
            .add(a, b, proto::UDP, &frag(0, true, 16), &[1; 16], 1)
            .is_none());
        assert!(r
            .add(a, b, proto::UDP, &frag(8, true, 16), &[2; 16], 1)
            .is_none());
        assert_eq!(r.counters.overlaps, 1);
        // A 3,000-byte datagram: only KEEP bytes kept, the full length reported.
        let big = vec![3u8; 1480];
        let _ = r.add(a, b, proto::UDP, &frag(24, true, 1480), &big, 1);
        let d = r
            .add(a, b, proto::UDP, &frag(1504, false, 1496), &[4; 1496], 1)
            .expect("complete");
        assert_eq!(d.wire_len, 3000);
        assert_eq!(d.payload.len(), KEEP);
        assert_eq!(&d.payload[..8], &[1; 8]);
        assert_eq!(&d.payload[8..16], &[1; 8], "first copy wins");
        assert_eq!(&d.payload[16..24], &[2; 8]);
    }

    #[test]
    fn missing_fragments_time_out_and_a_full_table_evicts() {
        let mut r = Reassembler::new(16);
        for i in 0..1000u32 {
            let src = Addr::v4([10, 0, (i >> 8) as u8, i as u8]);
            let f = Fragment {
                id: i,
                ..frag(0, true, 64)
            };
            assert!(r
                .add(
                    src,
                    Addr::v4([10, 9, 9, 9]),
                    proto::UDP,
                    &f,
                    &[0; 64],
                    1_000
                )
                .is_none());
        }
        assert_eq!(r.pending(), 16);
        assert!(r.counters.evicted >= 1000 - 16);
        r.expire(1_000 + TIMEOUT_US + 1);
        assert_eq!(r.pending(), 0);
        assert_eq!(r.counters.timeouts, 16);
    }

    #[test]
    fn hostile_offsets_and_lengths_do_not_panic() {
        let (a, b) = (Addr::v4([1, 1, 1, 1]), Addr::v4([2, 2, 2, 2]));
        let mut r = Reassembler::new(8);
        for (off, more, len, cap) in [
            (0u32, false, 0u16, 0usize),
            (65_528, false, 65_535, 10),
            (504, true, 9, 9),
            (505, false, 7, 7),
            (0, false, 3, 1),
            (8, false, 100, 0),
        ] {
            let f = Fragment {
                id: off,
                offset: off,
                more,
                at: 0,
                len: cap as u16,
                wire_len: len,
            };
            let _ = r.add(a, b, proto::TCP, &f, &vec![9; cap], 5);
        }
    }
}
