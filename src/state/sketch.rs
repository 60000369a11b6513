//! Bounded approximate counting: HyperLogLog for distinct counts, Space-Saving for heavy
//! hitters. Both are keyed by a *fixed* key from the config (`sketch_key`), not a random seed,
//! so the same capture gives the same figures on every run and architecture; estimates use
//! integer/IEEE-basic arithmetic only (no libm), for the same reason.

use crate::addr::Addr;
use crate::capture::decode::dns::log2_q16;

// Keyed hashing of addresses lives with the address type (reassembly uses it too).
pub use crate::addr::{addr_hash, mix};

/// HyperLogLog with 2^P registers (P = 10: 1 KiB, about 3 % standard error).
#[derive(Clone)]
pub struct Hll<const M: usize> {
    reg: [u8; M],
}

impl<const M: usize> Default for Hll<M> {
    fn default() -> Self {
        Hll { reg: [0; M] }
    }
}

impl<const M: usize> Hll<M> {
    const P: u32 = M.trailing_zeros();

    #[inline]
    pub fn insert_hash(&mut self, h: u64) {
        let idx = (h >> (64 - Self::P)) as usize;
        let rest = (h << Self::P) | (1 << (Self::P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        // A store either way: a compare-and-branch on a random register mispredicts often.
        let r = &mut self.reg[idx & (M - 1)];
        *r = (*r).max(rank);
    }

    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.reg.iter_mut().zip(other.reg.iter()) {
            *a = (*a).max(*b);
        }
    }

    pub fn clear(&mut self) {
        self.reg = [0; M];
    }

    pub fn estimate(&self) -> u64 {
        let m = M as f64;
        let mut sum = 0.0f64;
        let mut zeros = 0u32;
        for &r in self.reg.iter() {
            // 2^-r, exactly, without powi.
            sum += f64::from_bits((1023u64.saturating_sub(r as u64)) << 52);
            if r == 0 {
                zeros += 1;
            }
        }
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        if raw <= 2.5 * m && zeros > 0 {
            // Linear counting: m * ln(m / zeros), with a fixed-point log2.
            let l2 = log2_q16(M as u32) as i64 - log2_q16(zeros) as i64;
            let ln = l2 as f64 / 65536.0 * std::f64::consts::LN_2;
            return (m * ln + 0.5) as u64;
        }
        (raw + 0.5) as u64
    }
}

/// Space-Saving top-K by weight (bytes). `K` entries, each with an over-estimate bound.
#[derive(Clone, Copy, Debug)]
pub struct TopK<const K: usize> {
    items: [(Addr, u64); K],
    used: usize,
}

impl<const K: usize> Default for TopK<K> {
    fn default() -> Self {
        TopK {
            items: [(Addr::UNSPECIFIED, 0); K],
            used: 0,
        }
    }
}

impl<const K: usize> TopK<K> {
    #[cfg_attr(not(netwatch_small), inline)]
    #[cfg_attr(netwatch_small, inline(always))]
    pub fn add(&mut self, a: Addr, w: u64) {
        for it in self.items[..self.used].iter_mut() {
            if it.0 == a {
                it.1 += w;
                return;
            }
        }
        if self.used < K {
            self.items[self.used] = (a, w);
            self.used += 1;
            return;
        }
        // Replace the minimum (first one on ties, so the choice is deterministic).
        let mut min_i = 0;
        for i in 1..K {
            if self.items[i].1 < self.items[min_i].1 {
                min_i = i;
            }
        }
        let base = self.items[min_i].1;
        self.items[min_i] = (a, base + w);
    }

    pub fn merge(&mut self, other: &Self) {
        for &(a, w) in other.items[..other.used].iter() {
            self.add(a, w);
        }
    }

    pub fn clear(&mut self) {
        self.used = 0;
    }

    /// The top `N` by weight, heaviest first (ties by address, for determinism).
    pub fn top<const N: usize>(&self) -> [(Addr, u64); N] {
        let mut v = self.items;
        let used = self.used;
        v[..used].sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let mut out = [(Addr::UNSPECIFIED, 0u64); N];
        for (o, i) in out.iter_mut().zip(v[..used].iter()) {
            *o = *i;
        }
        out
    }
}

/// Heavy hitters in `N` hash buckets, each a one-counter Misra–Gries summary: a key keeps
/// its bucket while it carries more weight than the keys colliding with it. One probe per
/// update (the caller passes the keyed hash it already has), so it costs a few instructions
/// on the packet path where a scan over K counters costs dozens.
#[derive(Clone, Copy, Debug)]
pub struct HeavyHitters<const N: usize> {
    slots: [(Addr, u64); N],
}

impl<const N: usize> Default for HeavyHitters<N> {
    fn default() -> Self {
        HeavyHitters {
            slots: [(Addr::UNSPECIFIED, 0); N],
        }
    }
}

impl<const N: usize> HeavyHitters<N> {
    #[cfg_attr(not(netwatch_small), inline)]
    #[cfg_attr(netwatch_small, inline(always))]
    pub fn add(&mut self, a: Addr, hash: u64, w: u64) {
        let s = &mut self.slots[(hash >> 40) as usize % N];
        if s.0 == a {
            s.1 += w;
        } else if s.1 <= w {
            *s = (a, w - s.1);
        } else {
            s.1 -= w;
        }
    }

    pub fn merge(&mut self, other: &Self, key: u64) {
        for &(a, w) in other.slots.iter().filter(|s| s.1 > 0) {
            self.add(a, addr_hash(&a, key), w);
        }
    }

    pub fn clear(&mut self) {
        self.slots = [(Addr::UNSPECIFIED, 0); N];
    }

    /// The `K` heaviest, heaviest first (ties by address, for determinism).
    pub fn top<const K: usize>(&self) -> [(Addr, u64); K] {
        let mut v = self.slots;
        v.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let mut out = [(Addr::UNSPECIFIED, 0u64); K];
        for (o, i) in out.iter_mut().zip(v.iter().filter(|s| s.1 > 0)) {
            *o = *i;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn heavy_hitters_keep_the_heavy() {
        let mut t: HeavyHitters<64> = HeavyHitters::default();
        for i in 0..5000u32 {
            let a = Addr::v4([10, 0, (i % 200) as u8, 1]);
            t.add(a, addr_hash(&a, 1), 100);
            let big = Addr::v4([192, 168, 0, 1]);
            t.add(big, addr_hash(&big, 1), 1500);
        }
        let top: [(Addr, u64); 2] = t.top();
        assert_eq!(top[0].0, Addr::v4([192, 168, 0, 1]));
    }

    use super::*;

    #[test]
    fn hll_estimates_within_a_few_percent() {
        for n in [0u32, 10, 1000, 50_000] {
            let mut h: Hll<1024> = Hll::default();
            for i in 0..n {
                h.insert_hash(addr_hash(&Addr::v4(i.to_be_bytes()), 42));
            }
            let e = h.estimate() as f64;
            let err = if n == 0 {
                e
            } else {
                (e - n as f64).abs() / n as f64
            };
            assert!(err < 0.08, "n={n} estimate={e}");
        }
    }

    #[test]
    fn topk_keeps_heavy_hitters() {
        let mut t: TopK<8> = TopK::default();
        for i in 0..1000u32 {
            t.add(Addr::v4([10, 0, 0, (i % 50) as u8]), 1);
            t.add(Addr::v4([192, 168, 0, 1]), 10);
        }
        let top: [(Addr, u64); 2] = t.top();
        assert_eq!(top[0].0, Addr::v4([192, 168, 0, 1]));
        assert!(top[0].1 >= 10_000);
    }
}
