//! Registered domain (eTLD+1) by the Public Suffix List, so that tunnels are tracked per domain
//! someone registered: `a.example.co.uk` → `example.co.uk`, `x.user.github.io` →
//! `user.github.io`, `d1234.cloudfront.net` → `d1234.cloudfront.net`.
//!
//! The list is embedded as a compact blob (`psl.bin`, 77 KB of binary size, built by
//! `psl_gen.py` from the list of 2026-10-22; see that script for the format). At first use an
//! index of 128 KiB is built from it once; after that a lookup allocates nothing and costs one
//! chain step over the label's hash (which the DNS decoder computes while it copies the label)
//! and one probe per label, right to left, until the list
//! has nothing deeper.

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

/// FNV-1a (kept for small fixed keys elsewhere; names use [`label_hash`]).
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
#[inline]
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Start of every label hash chain.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
const K: u64 = 0x9fb2_1c65_1e98_df25;
const K2: u64 = 0xd6e8_feb8_6659_fd93;

/// Hash of one label as it is stored (folded: lower case, `.` inside a label as `_`): its
/// length, then its bytes eight at a time as little-endian words, the last one zero-padded.
/// The DNS decoder computes the same while it copies a label ([`label_init`], [`label_word`]).
/// Same result on every architecture.
#[cfg_attr(netwatch_small, inline(always))]
pub fn label_hash(label: &[u8]) -> u64 {
    let mut h = label_init(label.len());
    for c in label.chunks(8) {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        h = label_word(h, u64::from_le_bytes(w));
    }
    h
}

/// Start of a label's hash.
#[inline]
pub fn label_init(len: usize) -> u64 {
    (SEED ^ len as u64).wrapping_mul(K)
}

/// One more word of a label's hash.
#[inline]
pub fn label_word(h: u64, w: u64) -> u64 {
    let h = (h ^ w).wrapping_mul(K);
    h ^ (h >> 29)
}

/// Continue a name's hash chain with one more label (by its [`label_hash`]). Names are hashed
/// label by label from the right, so the chain of `example.com` continues from that of `com`:
/// the public-suffix walk, the registered domain's hash and the whole name's hash come out of
/// one pass over the label hashes.
#[inline]
fn link(h: u64, label: u64) -> u64 {
    let h = (h ^ label).wrapping_mul(K2);
    h ^ (h >> 31)
}

/// Final mix of a chain: the low bits depend on every byte too.
#[inline]
fn finish(h: u64) -> u64 {
    let h = h.wrapping_mul(K);
    h ^ (h >> 32)
}

/// Label starts of a dotted name (left to right); `None` past 128 labels.
fn label_starts(name: &[u8], starts: &mut [u16; 128]) -> Option<usize> {
    let mut n = 1;
    starts[0] = 0;
    for (i, &c) in name.iter().enumerate() {
        if c == b'.' {
            *starts.get_mut(n)? = u16::try_from(i + 1).ok()?;
            n += 1;
        }
    }
    Some(n)
}

/// Hash of a dotted name (lower case, no trailing dot): equal to [`DnsMeta`]'s `name_hash`
/// and `reg_hash` for the same text. Not keyed: the tables it feeds are bounded and evict by
/// time, and the rules' own maps use seeded hashers.
///
/// [`DnsMeta`]: super::DnsMeta
pub fn name_hash(name: &[u8]) -> u64 {
    let mut starts = [0u16; 128];
    match label_starts(name, &mut starts) {
        Some(n) => lookup(name, name.len(), &starts[..n]).name_hash,
        None => 0,
    }
}

/// What the public-suffix walk finds out about a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Domain {
    /// Byte offset of the registered domain; `None` for a public suffix (or an empty label).
    pub reg_start: Option<usize>,
    /// [`name_hash`] of the registered domain (0 without one) and of the whole name.
    pub reg_hash: u64,
    pub name_hash: u64,
    /// The top-level label is in the list (as a rule or the parent of one). When it is not
    /// (`lan`, `home`, a typo, or data, as in a tunnel client talking straight to its server),
    /// the registered domain comes from the implicit `*` rule alone and means little.
    pub tld_listed: bool,
}

/// The hash chain of a rule in the blob's reversed form (`uk.co`: `uk`, then `co`).
#[cfg_attr(netwatch_small, inline(always))]
fn chain(reversed: &[u8]) -> u64 {
    reversed
        .split(|&c| c == b'.')
        .fold(SEED, |h, l| link(h, label_hash(l)))
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
                nodes.push((chain(parent), WILDCARD_CHILD | HAS_CHILDREN));
            } else {
                nodes.push((chain(k), flag));
            }
            for (i, &ch) in k.iter().enumerate() {
                if ch == b'.' {
                    nodes.push((chain(&k[..i]), HAS_CHILDREN));
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

#[cfg_attr(netwatch_small, inline(always))]
fn index() -> &'static Index {
    static INDEX: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
    INDEX.get_or_init(Index::build)
}

/// Byte offset in `name` (dotted, lower case, no trailing dot) where its registered domain
/// starts, or `None` when the name is a public suffix itself (or empty).
pub fn registered_domain_start(name: &[u8]) -> Option<usize> {
    let mut starts = [0u16; 128];
    let n = label_starts(name, &mut starts)?;
    lookup(name, name.len(), &starts[..n]).reg_start
}

/// What [`walk`] finds: the registered domain as a count of labels from the right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    pub reg_labels: Option<usize>,
    pub reg_hash: u64,
    pub name_hash: u64,
    pub tld_listed: bool,
}

/// The walk over a name given as its labels' [`label_hash`]es, left to right: right to left,
/// one chain step and one index probe per label until the list has nothing deeper, then the
/// remaining labels chained for the whole name. `empty_at`: the first label, counted from the
/// right (1-based), that is empty (`usize::MAX` for none; names from DNS messages have none).
#[inline]
pub fn walk(labels: &[u64], empty_at: usize) -> Walk {
    let n = labels.len();
    let mut d = Walk {
        reg_labels: None,
        reg_hash: 0,
        name_hash: 0,
        tld_listed: false,
    };
    if n == 0 {
        return d;
    }
    let idx = index();
    // Hash chain over the registered domain's labels, taken when the walk passes them.
    let mut reg_h = SEED;
    // Public suffix length in labels; the implicit "*" rule gives 1.
    let mut suffix = 1usize;
    let mut h = SEED;
    let mut k = 0;
    while k < n.min(MAX_RULE_LABELS) {
        k += 1;
        h = link(h, labels[n - k]);
        let f = idx.flags(h);
        if k == 1 {
            d.tld_listed = f != 0;
        }
        if f & EXCEPTION != 0 {
            suffix = k - 1;
            reg_h = h;
            break;
        }
        if f & RULE != 0 {
            suffix = suffix.max(k);
        }
        if f & WILDCARD_CHILD != 0 && n > k {
            // "*.parent" matches the next label unless "!label.parent" is listed.
            if idx.flags(link(h, labels[n - k - 1])) & EXCEPTION != 0 {
                suffix = suffix.max(k);
            } else {
                suffix = suffix.max(k + 1);
            }
        }
        // The suffix so far ends one label short of here: this is the registered domain
        // unless a deeper rule matches later.
        if k == suffix + 1 {
            reg_h = h;
        }
        if f & HAS_CHILDREN == 0 {
            break;
        }
    }
    // The rest of the chain: the registered domain's hash on the way, then the whole name's.
    let reg = suffix + 1;
    while k < n {
        k += 1;
        h = link(h, labels[n - k]);
        if k == reg {
            reg_h = h;
        }
    }
    d.name_hash = finish(h);
    // An empty label ("a..b") makes no registrable domain.
    if n > suffix && empty_at > reg {
        d.reg_labels = Some(reg);
        d.reg_hash = finish(reg_h);
    }
    d
}

/// [`walk`] over a dotted name `buf[..len]` whose labels start at `starts` (left to right,
/// increasing, the first 0; at most 128 labels): for names that come as text (configuration,
/// tests). Any input is taken without panicking.
pub fn lookup<T: Copy + Into<usize>>(buf: &[u8], len: usize, starts: &[T]) -> Domain {
    let none = Domain {
        reg_start: None,
        reg_hash: 0,
        name_hash: 0,
        tld_listed: false,
    };
    let n = starts.len();
    if n == 0 || len == 0 || n > 128 {
        return none;
    }
    let mut hashes = [0u64; 128];
    let mut empty_at = usize::MAX;
    for (i, h) in hashes[..n].iter_mut().enumerate() {
        let s: usize = starts[i].into();
        let e = if i + 1 == n {
            len
        } else {
            starts[i + 1].into().saturating_sub(1)
        };
        if e <= s {
            empty_at = empty_at.min(n - i);
        }
        let label = buf.get(s..e.min(buf.len())).unwrap_or(&[]);
        *h = label_hash(label);
    }
    let w = walk(&hashes[..n], empty_at);
    Domain {
        reg_start: w.reg_labels.map(|r| starts[n - r].into()),
        reg_hash: w.reg_hash,
        name_hash: w.name_hash,
        tld_listed: w.tld_listed,
    }
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

    #[test]
    fn says_whether_the_top_level_label_is_listed() {
        let listed = |n: &str| {
            let name = n.as_bytes();
            let mut starts = [0u16; 128];
            let k = label_starts(name, &mut starts).unwrap();
            lookup(name, name.len(), &starts[..k]).tld_listed
        };
        // Rules, wildcard-only parents (`*.ck`, `*.er`), the infrastructure TLD.
        for n in [
            "www.example.com",
            "a.b.co.uk",
            "x.test.ck",
            "a.b.er",
            "1.2.in-addr.arpa",
        ] {
            assert!(listed(n), "{n}");
        }
        // Home-network suffixes, made-up names, tunnel data in the last label.
        for n in [
            "nas.lan",
            "router.home",
            "foo.bar.nosuchtld",
            "dnscat.4f2a9c01d7e3b5",
        ] {
            assert!(!listed(n), "{n}");
        }
    }

    #[test]
    fn the_walk_hashes_the_registered_domain_it_finds() {
        // Plain rules, deep rules, wildcards and exceptions: the hash the walk keeps for the
        // registered domain is always that of its text.
        for n in [
            "a.b.example.com",
            "example.com",
            "b.example.uk.com",
            "a.b.c.mm",
            "www.test.jp",
            "a.b.ide.kyoto.jp",
            "a.b.c.kobe.jp",
            "www.city.kobe.jp",
            "a.b.test.ck",
            "www.www.ck",
            "www.test.k12.ak.us",
            "x.alice.github.io",
            "d1234abcd.cloudfront.net",
            "foo.bar.nosuchtld",
            "1.0.168.192.in-addr.arpa",
        ] {
            let name = n.as_bytes();
            let mut starts = [0u16; 128];
            let k = label_starts(name, &mut starts).unwrap();
            let d = lookup(name, name.len(), &starts[..k]);
            let at = d
                .reg_start
                .unwrap_or_else(|| panic!("{n} has a registered domain"));
            assert_eq!(d.reg_hash, name_hash(&name[at..]), "{n}");
            assert_eq!(d.name_hash, name_hash(name), "{n}");
        }
    }

    #[test]
    fn lookup_takes_any_label_starts_without_panicking() {
        for starts in [&[0u16, 0, 200][..], &[5, 1], &[u16::MAX, 0], &[0, 2, 2, 2]] {
            let _ = lookup(b"a.b.c", 5, starts);
            let _ = lookup(b"", 0, starts);
            let _ = lookup(b"a.b.c", 500, starts);
        }
        // The hashes of the walk are those of the text.
        let d = lookup(b"x.example.com", 13, &[0u8, 2, 10]);
        assert_eq!(d.reg_start, Some(2));
        assert_eq!(d.reg_hash, name_hash(b"example.com"));
        assert_eq!(d.name_hash, name_hash(b"x.example.com"));
    }
}
