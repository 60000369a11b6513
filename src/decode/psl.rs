//! Registered domain (eTLD+1) by the Public Suffix List, so that tunnels are tracked per domain
//! someone registered: `a.example.co.uk` → `example.co.uk`, `x.user.github.io` →
//! `user.github.io`, `d1234.cloudfront.net` → `d1234.cloudfront.net`.
//!
//! The list is embedded as a compact blob (`psl.bin`, 77 KB of binary size, built by
//! `psl_gen.py` from the list of 2026-10-22; see that script for the format). At first use an
//! index of 128 KiB is built from it once; after that a lookup allocates nothing and costs a
//! streamed FNV hash of the name's last labels and one probe per label.

const BLOB: &[u8] = include_bytes!("psl.bin");
/// Labels a name can have that we look at; no rule is deeper than this.
const MAX_RULE_LABELS: usize = 8;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

struct Blob {
    blocks: usize,
    data: &'static [u8],
}

fn blob() -> Blob {
    let blocks = if BLOB.get(..4) == Some(b"PSL1") {
        u32_at(BLOB, 4).unwrap_or(0) as usize
    } else {
        0
    };
    let data = BLOB.get(8 + blocks * 4..).unwrap_or(&[]);
    Blob { blocks, data }
}

/// Iterates keys in sorted order from a block start, decoding the front coding.
struct Cursor {
    block: usize,
    pos: usize,
    buf: [u8; 256],
    len: usize,
}

impl Blob {
    fn block_start(&self, i: usize) -> usize {
        u32_at(BLOB, 8 + i * 4).unwrap_or(0) as usize
    }

    fn block_end(&self, i: usize) -> usize {
        if i + 1 < self.blocks {
            self.block_start(i + 1)
        } else {
            self.data.len()
        }
    }

    fn cursor(&self, block: usize) -> Cursor {
        Cursor {
            block,
            pos: self.block_start(block),
            buf: [0; 256],
            len: 0,
        }
    }

    /// Advance the cursor to the next key; `false` at the end of the list.
    fn next(&self, c: &mut Cursor) -> bool {
        loop {
            if c.block >= self.blocks {
                return false;
            }
            if c.pos < self.block_end(c.block) {
                let (Some(&p), Some(&n)) = (self.data.get(c.pos), self.data.get(c.pos + 1)) else {
                    return false;
                };
                let (p, n) = (p as usize, n as usize);
                let Some(suffix) = self.data.get(c.pos + 2..c.pos + 2 + n) else {
                    return false;
                };
                if p > c.len || p + n > c.buf.len() {
                    return false;
                }
                c.buf[p..p + n].copy_from_slice(suffix);
                c.len = p + n;
                c.pos += 2 + n;
                return true;
            }
            c.block += 1;
            if c.block >= self.blocks {
                return false;
            }
            c.pos = self.block_start(c.block);
            c.len = 0;
        }
    }
}

const RULE: u8 = 1;
const EXCEPTION: u8 = 2;
const WILDCARD_CHILD: u8 = 4;
const HAS_CHILDREN: u8 = 8;

/// FNV-1a, streamed: the hash of `key + "." + label` continues from the hash of `key`, so a
/// lookup walks a name's labels right to left hashing each byte once.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
#[inline]
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Index over the blob, built once at first use (≈ 12k nodes, 128 KiB): every rule and every
/// ancestor of a rule, by hash of its reversed form, with what the list says about it. The
/// table is fixed and not keyed by anything from the wire; a lookup is a hash and a probe.
struct Index {
    slots: Box<[u64]>,
    mask: usize,
}

impl Index {
    fn build() -> Index {
        let b = blob();
        let mut nodes: Vec<(u64, u8)> = Vec::with_capacity(16_384);
        let mut c = b.cursor(0);
        while b.next(&mut c) {
            let mut k = &c.buf[..c.len];
            let mut flag = RULE;
            if let Some(stripped) = k.strip_suffix(b"!") {
                k = stripped;
                flag = EXCEPTION;
            }
            if let Some(parent) = k.strip_suffix(b".*") {
                nodes.push((fnv(FNV_OFFSET, parent), WILDCARD_CHILD | HAS_CHILDREN));
            } else {
                nodes.push((fnv(FNV_OFFSET, k), flag));
            }
            for (i, &ch) in k.iter().enumerate() {
                if ch == b'.' {
                    nodes.push((fnv(FNV_OFFSET, &k[..i]), HAS_CHILDREN));
                }
            }
        }
        let size = (nodes.len() * 4 / 3 + 1).next_power_of_two();
        let mut slots = vec![0u64; size].into_boxed_slice();
        let mask = size - 1;
        for (h, f) in nodes {
            // Low 4 bits carry the flags; a zero slot is empty (hash bits forced non-zero).
            let tag = (h & !0xf) | 0x10;
            let mut pos = (h >> 32) as usize & mask;
            loop {
                if slots[pos] == 0 {
                    slots[pos] = tag | f as u64;
                    break;
                }
                if slots[pos] & !0xf == tag {
                    slots[pos] |= f as u64;
                    break;
                }
                pos = (pos + 1) & mask;
            }
        }
        Index { slots, mask }
    }

    #[inline]
    fn flags(&self, h: u64) -> u8 {
        let tag = (h & !0xf) | 0x10;
        let mut pos = (h >> 32) as usize & self.mask;
        loop {
            let s = self.slots[pos];
            if s == 0 {
                return 0;
            }
            if s & !0xf == tag {
                return (s & 0xf) as u8;
            }
            pos = (pos + 1) & self.mask;
        }
    }
}

fn index() -> &'static Index {
    static INDEX: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
    INDEX.get_or_init(Index::build)
}

/// Byte offset in `name` (dotted, lower case, no trailing dot) where its registered domain
/// starts, or `None` when the name is a public suffix itself (or empty).
pub fn registered_domain_start(name: &[u8]) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    let idx = index();
    // Label starts from the right: starts[k-1] = start of the k-th label from the right.
    let mut starts = [0usize; MAX_RULE_LABELS + 2];
    let mut n = 0;
    let mut end = name.len();
    while n < starts.len() {
        match name[..end].iter().rposition(|&c| c == b'.') {
            Some(dot) => {
                starts[n] = dot + 1;
                n += 1;
                end = dot;
            }
            None => {
                starts[n] = 0;
                n += 1;
                break;
            }
        }
    }
    let label = |k: usize| {
        let e = if k == 1 {
            name.len()
        } else {
            starts[k - 2] - 1
        };
        &name[starts[k - 1]..e]
    };
    // Public suffix length in labels; the implicit "*" rule gives 1.
    let mut suffix = 1usize;
    let mut h = FNV_OFFSET;
    for k in 1..=n.min(MAX_RULE_LABELS) {
        let lab = label(k);
        if lab.is_empty() {
            return None;
        }
        if k > 1 {
            h = fnv(h, b".");
        }
        h = fnv(h, lab);
        let f = idx.flags(h);
        if f & EXCEPTION != 0 {
            suffix = k - 1;
            break;
        }
        if f & RULE != 0 {
            suffix = suffix.max(k);
        }
        if f & WILDCARD_CHILD != 0 && n > k {
            // "*.parent" matches the next label unless "!label.parent" is listed.
            let below = fnv(fnv(h, b"."), label(k + 1));
            if idx.flags(below) & EXCEPTION != 0 {
                suffix = suffix.max(k);
            } else {
                suffix = suffix.max(k + 1);
            }
        }
        if f & HAS_CHILDREN == 0 {
            break;
        }
    }
    if n <= suffix {
        return None;
    }
    // An empty label ("a..b") makes no registrable domain. (Names from DNS messages have
    // none; this function also takes arbitrary input.)
    if label(suffix + 1).is_empty() {
        return None;
    }
    Some(starts[suffix])
}

/// The registered domain of `name` as a slice of it.
pub fn registered_domain(name: &[u8]) -> Option<&[u8]> {
    registered_domain_start(name).map(|s| &name[s..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rd(n: &str) -> Option<&str> {
        registered_domain(n.as_bytes()).map(|b| std::str::from_utf8(b).unwrap())
    }

    // Cases from the PSL project's test list (tests/test_psl.txt), lower-case ASCII part.
    #[test]
    fn psl_reference_cases() {
        assert_eq!(rd("com"), None);
        assert_eq!(rd("example.com"), Some("example.com"));
        assert_eq!(rd("b.example.com"), Some("example.com"));
        assert_eq!(rd("a.b.example.com"), Some("example.com"));
        assert_eq!(rd("uk.com"), None);
        assert_eq!(rd("example.uk.com"), Some("example.uk.com"));
        assert_eq!(rd("b.example.uk.com"), Some("example.uk.com"));
        assert_eq!(rd("ac"), None);
        assert_eq!(rd("mm"), None);
        assert_eq!(rd("c.mm"), None);
        assert_eq!(rd("b.c.mm"), Some("b.c.mm"));
        assert_eq!(rd("a.b.c.mm"), Some("b.c.mm"));
        assert_eq!(rd("jp"), None);
        assert_eq!(rd("test.jp"), Some("test.jp"));
        assert_eq!(rd("www.test.jp"), Some("test.jp"));
        assert_eq!(rd("ac.jp"), None);
        assert_eq!(rd("test.ac.jp"), Some("test.ac.jp"));
        assert_eq!(rd("kyoto.jp"), None);
        assert_eq!(rd("test.kyoto.jp"), Some("test.kyoto.jp"));
        assert_eq!(rd("ide.kyoto.jp"), None);
        assert_eq!(rd("b.ide.kyoto.jp"), Some("b.ide.kyoto.jp"));
        assert_eq!(rd("a.b.ide.kyoto.jp"), Some("b.ide.kyoto.jp"));
        assert_eq!(rd("c.kobe.jp"), None);
        assert_eq!(rd("b.c.kobe.jp"), Some("b.c.kobe.jp"));
        assert_eq!(rd("a.b.c.kobe.jp"), Some("b.c.kobe.jp"));
        assert_eq!(rd("city.kobe.jp"), Some("city.kobe.jp"));
        assert_eq!(rd("www.city.kobe.jp"), Some("city.kobe.jp"));
        assert_eq!(rd("ck"), None);
        assert_eq!(rd("test.ck"), None);
        assert_eq!(rd("b.test.ck"), Some("b.test.ck"));
        assert_eq!(rd("a.b.test.ck"), Some("b.test.ck"));
        assert_eq!(rd("www.ck"), Some("www.ck"));
        assert_eq!(rd("www.www.ck"), Some("www.ck"));
        assert_eq!(rd("us"), None);
        assert_eq!(rd("test.us"), Some("test.us"));
        assert_eq!(rd("www.test.us"), Some("test.us"));
        assert_eq!(rd("ak.us"), None);
        assert_eq!(rd("test.ak.us"), Some("test.ak.us"));
        assert_eq!(rd("www.test.ak.us"), Some("test.ak.us"));
        assert_eq!(rd("k12.ak.us"), None);
        assert_eq!(rd("test.k12.ak.us"), Some("test.k12.ak.us"));
        assert_eq!(rd("www.test.k12.ak.us"), Some("test.k12.ak.us"));
        assert_eq!(
            rd("xn--85x722f.xn--55qx5d.cn"),
            Some("xn--85x722f.xn--55qx5d.cn")
        );
        assert_eq!(rd("shishi.xn--55qx5d.cn"), Some("shishi.xn--55qx5d.cn"));
        assert_eq!(rd("xn--55qx5d.cn"), None);
    }

    #[test]
    fn private_section_and_unknown_tlds() {
        assert_eq!(rd("a.b.example.co.uk"), Some("example.co.uk"));
        assert_eq!(rd("x.alice.github.io"), Some("alice.github.io"));
        assert_eq!(
            rd("d1234abcd.cloudfront.net"),
            Some("d1234abcd.cloudfront.net")
        );
        assert_eq!(rd("foo.bar.nosuchtld"), Some("bar.nosuchtld"));
        assert_eq!(rd("1.0.168.192.in-addr.arpa"), Some("192.in-addr.arpa"));
        assert_eq!(rd(""), None);
        assert_eq!(rd("a..b"), None, "an empty label is not a domain");
    }
}
