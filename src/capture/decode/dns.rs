//! DNS message header and first question, for the tunnel detector and the flow view.
//!
//! Limits (and what is rejected): the name is at most 255 bytes in wire form (RFC 1035 §2.3.4;
//! `dns_name_too_long`), a label at most 63 bytes, label types 0x40/0x80 are refused
//! (`dns_bad_label`), and compression pointers are followed at most 16 times and only
//! backwards (`dns_loop`). Nothing is allocated: the name is written lower-cased and dotted
//! into a fixed buffer inside `DnsMeta`, together with the figures the detector needs without
//! keeping the name: length, label count, longest label, the entropy of the part that can
//! carry data (left of the registered domain; all of it when the TLD is not in the Public
//! Suffix List), and where the registered domain (eTLD+1) starts.

use super::{psl, DecodeError};

pub const MAX_NAME: usize = 255;
/// The name buffer has eight bytes of slack past the longest name, so labels are folded and
/// hashed eight bytes at a time without a byte-by-byte tail.
const NAME_BUF: usize = MAX_NAME + 8;
/// A 255-byte name has at most 127 labels.
const MAX_LABELS: usize = 128;
/// Subdomains shorter than this get no entropy figure (`sub_entropy_milli` = 0).
pub const ENTROPY_MIN_LEN: usize = 16;
const MAX_POINTERS: usize = 16;

/// Header fields and first question of a DNS message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DnsMeta {
    pub id: u16,
    pub response: bool,
    pub opcode: u8,
    pub rcode: u8,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
    pub qtype: u16,
    pub qclass: u16,
    /// Message length in bytes (as captured).
    pub msg_len: u16,
    name: [u8; NAME_BUF],
    name_len: u8,
    /// Where each label starts in `name`, left to right (`labels` of them).
    label_start: [u8; MAX_LABELS],
    /// Each label's [`psl::label_hash`], taken while it is copied (queries only).
    label_hash: [u64; MAX_LABELS],
    pub labels: u8,
    pub longest_label: u8,
    /// Byte offset of the registered domain in the name (== name length when unknown, and in
    /// responses, whose names are not looked up).
    reg_start: u8,
    /// Shannon entropy of the characters of [`DnsMeta::encoded_len`], millibits per char (0
    /// when that part is shorter than `ENTROPY_MIN_LEN`).
    pub sub_entropy_milli: u16,
    /// The name's top-level label is in the Public Suffix List (queries only).
    pub tld_listed: bool,
    /// Label-chain hashes ([`psl::name_hash`]) of the name and of the registered domain
    /// (queries only): identities for the detector's per-domain state and distinct-name
    /// counts without keeping names.
    pub name_hash: u64,
    pub reg_hash: u64,
}

impl Default for DnsMeta {
    fn default() -> Self {
        DnsMeta {
            id: 0,
            response: false,
            opcode: 0,
            rcode: 0,
            qdcount: 0,
            ancount: 0,
            nscount: 0,
            arcount: 0,
            qtype: 0,
            qclass: 0,
            msg_len: 0,
            name: [0; NAME_BUF],
            name_len: 0,
            label_start: [0; MAX_LABELS],
            label_hash: [0; MAX_LABELS],
            labels: 0,
            longest_label: 0,
            reg_start: 0,
            sub_entropy_milli: 0,
            tld_listed: false,
            name_hash: 0,
            reg_hash: 0,
        }
    }
}

impl DnsMeta {
    /// First question name, lower case, dotted, no trailing dot (empty for the root, and for
    /// responses, whose names are not kept). Bytes are as sent: attacker data, escape before
    /// display.
    pub fn name(&self) -> &[u8] {
        &self.name[..self.name_len as usize]
    }

    /// Registered domain (eTLD+1); empty when the name is a public suffix itself.
    pub fn registered_domain(&self) -> &[u8] {
        &self.name[self.reg_start as usize..self.name_len as usize]
    }

    /// [`psl::label_hash`] of the top-level label (queries only: 0 for responses, whose labels
    /// are not hashed, and for the root).
    pub fn tld_hash(&self) -> u64 {
        match (self.labels as usize).min(MAX_LABELS).checked_sub(1) {
            Some(i) if !self.response => self.label_hash[i],
            _ => 0,
        }
    }

    /// Bytes left of the registered domain (the part a tunnel encodes data in), without the dot.
    pub fn subdomain_len(&self) -> usize {
        (self.reg_start as usize).saturating_sub(1)
    }

    /// Bytes of the name that can carry a tunnel's data: the subdomain, or the whole name when
    /// its TLD is not a listed one (then no part of it is a known registered domain — as for
    /// a client that sends its queries straight to its server under a made-up name).
    pub fn encoded_len(&self) -> usize {
        if self.tld_listed {
            self.subdomain_len()
        } else {
            self.name_len as usize
        }
    }
}

/// `x * log2(x)` in Q16 for x in 0..=255, by an integer-only log2 (identical on every
/// architecture; libm's `log2` is not guaranteed to be).
const XLOG2_Q16: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut x = 1;
    while x < 256 {
        t[x] = x as u32 * log2_q16(x as u32);
        x += 1;
    }
    t
};

/// log2(x) in Q16 for x in 0..=255 (entry 0 unused).
const LOG2_Q16: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut x = 1;
    while x < 256 {
        t[x] = log2_q16(x as u32);
        x += 1;
    }
    t
};

/// log2(x) in Q16 fixed point for x ≥ 1, bit by bit (repeated squaring of the mantissa).
pub const fn log2_q16(x: u32) -> u32 {
    let ip = 31 - x.leading_zeros();
    // Mantissa in Q32, in [1, 2).
    let mut z: u128 = ((x as u128) << 32) >> ip;
    let mut frac = 0u32;
    let mut i = 0;
    while i < 16 {
        z = (z * z) >> 32;
        frac <<= 1;
        if z >= (2u128 << 32) {
            z >>= 1;
            frac |= 1;
        }
        i += 1;
    }
    (ip << 16) | frac
}

/// Shannon entropy (millibits per character) of `s`.
pub fn entropy_milli(s: &[u8]) -> u16 {
    let n = s.len();
    if !(2..=255).contains(&n) {
        return 0;
    }
    let mut hist = [0u8; 256];
    for &c in s {
        hist[c as usize] = hist[c as usize].saturating_add(1);
    }
    // Sum over the characters present only (each once), not over all 256 bins.
    let mut sum: u64 = 0;
    for &c in s {
        let k = hist[c as usize];
        if k != 0 {
            sum += XLOG2_Q16[k as usize] as u64;
            hist[c as usize] = 0;
        }
    }
    // H = log2(n) - sum(c log2 c) / n
    let h_q16 = (LOG2_Q16[n] as u64).saturating_sub(sum / n as u64);
    ((h_q16 * 1000) >> 16) as u16
}

/// Hash of a dotted name, as `name_hash`/`reg_hash` are computed.
pub use super::psl::name_hash;

const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HI: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// Eight name bytes at once: ASCII upper case to lower case, '.' to '_', everything else
/// unchanged (per byte, no carries between bytes: every sum stays below 0x100).
#[inline]
fn fold8(w: u64) -> u64 {
    let h = w & LO7;
    let ge_a = h + ONES * (0x80 - b'A' as u64);
    let gt_z = h + ONES * (0x7f - b'Z' as u64);
    let upper = ge_a & !gt_z & !w & HI;
    let w = w | (upper >> 2);
    let x = w ^ (ONES * b'.' as u64);
    let dot = !(((x & LO7) + LO7) | x) & HI;
    w ^ ((dot >> 7) * (b'.' ^ b'_') as u64)
}

#[inline]
fn fold1(c: u8) -> u8 {
    if c == b'.' {
        b'_'
    } else {
        c.to_ascii_lowercase()
    }
}

#[cfg_attr(not(netwatch_small), inline)]
#[cfg_attr(netwatch_small, inline(always))]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Parse the header and first question of the DNS message in `msg` into `out`.
pub fn parse(msg: &[u8], out: &mut DnsMeta) -> Result<(), DecodeError> {
    if msg.len() < 12 {
        return Err(DecodeError::DnsTruncated);
    }
    let flags = be16(msg, 2);
    out.id = be16(msg, 0);
    out.response = flags & 0x8000 != 0;
    out.opcode = ((flags >> 11) & 0x0f) as u8;
    out.rcode = (flags & 0x0f) as u8;
    out.qdcount = be16(msg, 4);
    out.ancount = be16(msg, 6);
    out.nscount = be16(msg, 8);
    out.arcount = be16(msg, 10);
    out.msg_len = msg.len().min(u16::MAX as usize) as u16;
    out.name_len = 0;
    out.labels = 0;
    out.longest_label = 0;
    out.reg_start = 0;
    out.sub_entropy_milli = 0;
    out.tld_listed = false;
    out.qtype = 0;
    out.qclass = 0;
    if out.qdcount == 0 {
        return Ok(());
    }
    // Only queries are judged: a response's question is walked (validated, its labels
    // counted) but its name is not kept, and it skips the PSL walk.
    let end = if out.response {
        read_name::<false>(msg, 12, out)?
    } else {
        read_name::<true>(msg, 12, out)?
    };
    if msg.len() < end + 4 {
        return Err(DecodeError::DnsTruncated);
    }
    out.qtype = be16(msg, end);
    out.qclass = be16(msg, end + 2);
    if out.response {
        return Ok(());
    }
    let len = out.name_len as usize;
    let labels = (out.labels as usize).min(MAX_LABELS);
    let dom = psl::walk(&out.label_hash[..labels], usize::MAX);
    let reg = dom
        .reg_labels
        .map_or(len, |r| out.label_start[labels - r] as usize);
    out.reg_start = reg as u8;
    out.name_hash = dom.name_hash;
    out.reg_hash = dom.reg_hash;
    out.tld_listed = dom.tld_listed;
    // Entropy says little about short subdomains (and the detector ignores it below 16
    // bytes), so it is only computed for longer ones.
    let sub = &out.name[..out.encoded_len()];
    out.sub_entropy_milli = if sub.len() >= ENTROPY_MIN_LEN {
        entropy_milli(sub)
    } else {
        0
    };
    Ok(())
}

/// Copy `l` bytes of a label from `src[at..]` to `dst[to..]`, folded (see [`fold8`]), and
/// return the folded label's [`psl::label_hash`]: whole words when both sides have room for
/// them (the bytes past the label are copied too, and left out of the hash), else byte by byte.
#[inline]
fn fold_copy(src: &[u8], at: usize, l: usize, dst: &mut [u8], to: usize) -> u64 {
    let words = l.div_ceil(8);
    let span = words * 8;
    if let (Some(s), Some(d)) = (src.get(at..at + span), dst.get_mut(to..to + span)) {
        let mut h = psl::label_init(l);
        // The last word keeps only the label's bytes (span - l < 8 of them are past it).
        let last = u64::MAX >> (8 * (span - l));
        for (i, (d, c)) in d.chunks_exact_mut(8).zip(s.chunks_exact(8)).enumerate() {
            let w = fold8(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
            d.copy_from_slice(&w.to_le_bytes());
            h = psl::label_word(h, if i + 1 == words { w & last } else { w });
        }
        h
    } else if let (Some(s), Some(d)) = (src.get(at..at + l), dst.get_mut(to..to + l)) {
        for (d, c) in d.iter_mut().zip(s) {
            *d = fold1(*c);
        }
        psl::label_hash(d)
    } else {
        psl::label_hash(&[])
    }
}

/// Walk a (possibly compressed) name starting at `pos`; returns the offset just past the
/// name's encoding at its original position. `KEEP`: copy the name out (queries) or only walk
/// and count it (responses) — two loops, neither testing which it is per label.
fn read_name<const KEEP: bool>(
    msg: &[u8],
    mut pos: usize,
    out: &mut DnsMeta,
) -> Result<usize, DecodeError> {
    let mut after: Option<usize> = None;
    let mut jumps = 0;
    let mut wire_len = 1usize; // the root label
    let mut len = 0usize;
    // Kept here, not in `out` (whose byte writes the compiler must assume alias them), and
    // stored once at the end.
    let mut labels = 0u8;
    let mut longest = 0u8;
    loop {
        let Some(&b) = msg.get(pos) else {
            return Err(DecodeError::DnsTruncated);
        };
        match b & 0xc0 {
            0x00 => {
                if b == 0 {
                    out.name_len = if KEEP { len as u8 } else { 0 };
                    out.labels = labels;
                    out.longest_label = longest;
                    return Ok(after.unwrap_or(pos + 1));
                }
                let l = b as usize;
                wire_len += l + 1;
                if wire_len > MAX_NAME {
                    return Err(DecodeError::DnsNameTooLong);
                }
                if msg.len() < pos + 1 + l {
                    return Err(DecodeError::DnsTruncated);
                }
                if KEEP {
                    if len > 0 {
                        out.name[len] = b'.';
                        len += 1;
                    }
                    let i = labels as usize;
                    if let Some(s) = out.label_start.get_mut(i) {
                        *s = len as u8;
                    }
                    // A '.' byte inside a label is data, not a separator: stored as '_' so
                    // the dotted form keeps the label structure.
                    let h = fold_copy(msg, pos + 1, l, &mut out.name, len);
                    if let Some(s) = out.label_hash.get_mut(i) {
                        *s = h;
                    }
                    len += l;
                }
                labels = labels.saturating_add(1);
                longest = longest.max(l as u8);
                pos += 1 + l;
            }
            0xc0 => {
                let Some(&lo) = msg.get(pos + 1) else {
                    return Err(DecodeError::DnsTruncated);
                };
                let target = (((b & 0x3f) as usize) << 8) | lo as usize;
                jumps += 1;
                // Only backwards: a pointer to itself or forward is how loops are built.
                if jumps > MAX_POINTERS || target >= pos {
                    return Err(DecodeError::DnsLoop);
                }
                if after.is_none() {
                    after = Some(pos + 2);
                }
                pos = target;
            }
            _ => return Err(DecodeError::DnsBadLabel),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold8_matches_the_byte_rule_for_every_byte_in_every_position() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut bytes = [b'q', b'Z', b'.', 0xff, b'A', b'0', b'-', 0x80];
                bytes[pos] = b;
                let got = fold8(u64::from_le_bytes(bytes)).to_le_bytes();
                let want = bytes.map(fold1);
                assert_eq!(got, want, "byte {b:#04x} at {pos}");
            }
        }
    }

    /// A query for `name` (labels as given, case kept), with nothing after its question.
    fn query(name: &str) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m
    }

    #[test]
    fn label_hashes_taken_while_copying_match_those_of_the_text() {
        // Label lengths around the word size, upper case, and last labels too close to the
        // end of the message for whole-word reads (the byte-by-byte copy).
        for name in [
            "www.Example.COM",
            "a.bcdefgh.co.uk",
            "x.abcdefghi.github.io",
            "ABCDEFGHIJKLMNOPQ.sixteen-bytes-xy.net",
            "a.bcdefghijk",
            "q.abcdefghijklmnopqrstuvwxyz",
            "dnscat.4f2a9c01d7e3b5",
        ] {
            let mut d = DnsMeta::default();
            parse(&query(name), &mut d).unwrap();
            let lower = name.to_ascii_lowercase();
            assert_eq!(d.name(), lower.as_bytes());
            assert_eq!(d.name_hash, name_hash(lower.as_bytes()), "{name}");
            let reg = psl::registered_domain(lower.as_bytes()).unwrap();
            assert_eq!(d.registered_domain(), reg, "{name}");
            assert_eq!(d.reg_hash, name_hash(reg), "{name}");
            assert_eq!(
                d.tld_hash(),
                psl::label_hash(reg.rsplit(|&c| c == b'.').next().unwrap())
            );
            // The same question in a response: walked, not hashed.
            let mut r = query(name);
            r[2] |= 0x80;
            parse(&r, &mut d).unwrap();
            assert!(d.response && d.labels > 0);
            assert_eq!(d.tld_hash(), 0, "{name}");
        }
    }

    #[test]
    fn log2_and_entropy_are_exact_enough() {
        assert_eq!(log2_q16(1), 0);
        assert_eq!(log2_q16(2), 1 << 16);
        assert_eq!(log2_q16(8), 3 << 16);
        // log2(3) = 1.58496...
        assert!((log2_q16(3) as i64 - 103872).abs() <= 2);
        assert_eq!(entropy_milli(b"aaaa"), 0);
        assert_eq!(entropy_milli(b"abab"), 1000);
        assert_eq!(entropy_milli(b"abcd"), 2000);
        assert!(entropy_milli(b"mail") < entropy_milli(b"x9q2kz7t1vbe4h0w"));
    }
}
