//! The home networks (`home_net`): which addresses are the LAN's own, asked twice per closed
//! flow by the host baselines, so answered from bitmaps for the usual IPv4 blocks.

use crate::addr::{Addr, Cidr};

/// `home_net`, tested twice per closed flow. IPv4 first by its top 16 bits in two bitmaps
/// (every address of that /16 is local; some are), which settles the usual RFC 1918 blocks in
/// one lookup; the rest as (base, mask) pairs over the 128-bit mapped form.
#[derive(Clone, Debug, Default)]
pub struct HomeNet {
    /// Two bits per IPv4 /16, side by side: every address local, some are.
    top: Vec<u64>,
    v4: Vec<(u32, u32)>,
    other: Vec<(u128, u128)>,
    /// Some block of `other` overlaps the IPv4-mapped range (`::/0`, `::ffff:0:0/96`…).
    other_v4: bool,
    /// Some block holds multicast, broadcast or unspecified addresses, which are never hosts.
    pub(super) has_group: bool,
}

impl HomeNet {
    pub fn new(cidrs: &[Cidr]) -> HomeNet {
        let mut h = HomeNet {
            top: vec![0; 2048],
            ..HomeNet::default()
        };
        // Bit 2i: the whole /16 number i is local; bit 2i+1: part of it is.
        let set = |bits: &mut [u64], i: u32| bits[i as usize / 64] |= 1 << (i % 64);
        for c in cidrs {
            let bits = c.bits() as u32;
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            let base = c.base().as_u128() & mask;
            let group = |a: u128| Addr((a).to_be_bytes()).is_group() || a == 0;
            if group(base) || group(base | !mask) {
                h.has_group = true;
            }
            if bits >= 96 && base >> 32 == 0xffff {
                let (b4, p) = (base as u32, bits - 96);
                if p <= 16 {
                    let first = b4 >> 16;
                    for i in first..=first + ((1u32 << (16 - p)) - 1) {
                        set(&mut h.top, 2 * i);
                    }
                } else {
                    set(&mut h.top, 2 * (b4 >> 16) + 1);
                    h.v4.push((b4, u32::MAX << (32 - p)));
                }
            } else {
                const V4: u128 = 0xffff << 32;
                if V4 & mask == base || (base & !0xffff_ffff) == V4 {
                    h.other_v4 = true;
                }
                h.other.push((base, mask));
            }
        }
        h
    }

    #[inline]
    pub fn contains(&self, a: &Addr) -> bool {
        if let Some(w) = v4_word(a) {
            let i = (w >> 15) as usize & !1;
            let bits = self.top.get(i / 64).map_or(0, |x| x >> (i % 64));
            if bits & 1 != 0 {
                return true;
            }
            if bits & 2 != 0 && self.v4.iter().any(|&(b, m)| w & m == b) {
                return true;
            }
            if !self.other_v4 {
                return false;
            }
        }
        let x = a.as_u128();
        self.other.iter().any(|&(b, m)| x & m == b)
    }
}

/// The IPv4 address of an IPv4-mapped one as a number (two loads and a compare, no swap of
/// the whole 16 bytes).
#[inline]
fn v4_word(a: &Addr) -> Option<u32> {
    let b = &a.0;
    let head = u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let mid = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
    (head == 0 && mid == u32::from_ne_bytes([0, 0, 0xff, 0xff]))
        .then(|| u32::from_be_bytes([b[12], b[13], b[14], b[15]]))
}

/// 64 bits that differ between any two addresses (IPv4: the address itself), cheaply.
#[inline]
pub(super) fn fold(a: &Addr) -> u64 {
    match v4_word(a) {
        Some(w) => w as u64,
        None => {
            let x = a.as_u128();
            (x as u64) ^ ((x >> 64) as u64).rotate_left(32)
        }
    }
}
