//! Registered domain (eTLD+1) by the Public Suffix List, so that tunnels are tracked per domain
//! someone registered: `a.example.co.uk` → `example.co.uk`, `x.user.github.io` →
//! `user.github.io`, `d1234.cloudfront.net` → `d1234.cloudfront.net`.
//!
//! The list is embedded as a compact blob (`psl.bin`, ~77 KB, built by `psl_gen.py` from the
//! list of 2026-10-22; see that script for the format). Lookups allocate nothing: keys are
//! built in a stack buffer, the blob is searched in place.

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
    let blocks = if BLOB.get(..4) == Some(b"PSL1") { u32_at(BLOB, 4).unwrap_or(0) as usize } else { 0 };
    let data = BLOB.get(8 + blocks * 4..).unwrap_or(&[]);
    Blob { blocks, data }
}

/// Iterates keys in sorted order from a block start, decoding the front coding.
struct Cursor {
    block: usize,
    pos: usize,
    left_in_block: usize,
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

    /// The whole first key of block `i`.
    fn head(&self, i: usize) -> &[u8] {
        let at = self.block_start(i);
        let n = self.data.get(at + 1).copied().unwrap_or(0) as usize;
        self.data.get(at + 2..at + 2 + n).unwrap_or(&[])
    }

    fn cursor(&self, block: usize) -> Cursor {
        Cursor { block, pos: self.block_start(block), left_in_block: usize::MAX, buf: [0; 256], len: 0 }
    }

    /// Advance the cursor to the next key; `false` at the end of the list.
    fn next(&self, c: &mut Cursor) -> bool {
        loop {
            if c.block >= self.blocks {
                return false;
            }
            if c.pos < self.block_end(c.block) && c.left_in_block > 0 {
                let (Some(&p), Some(&n)) = (self.data.get(c.pos), self.data.get(c.pos + 1)) else {
                    return false;
                };
                let (p, n) = (p as usize, n as usize);
                let Some(suffix) = self.data.get(c.pos + 2..c.pos + 2 + n) else { return false };
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

    /// Cursor positioned on the first key ≥ `key` (or exhausted).
    fn lower_bound(&self, key: &[u8]) -> Option<Cursor> {
        if self.blocks == 0 {
            return None;
        }
        // Last block whose head ≤ key.
        let (mut lo, mut hi) = (0usize, self.blocks);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.head(mid) <= key {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let mut c = self.cursor(lo);
        while self.next(&mut c) {
            if &c.buf[..c.len] >= key {
                return Some(c);
            }
        }
        None
    }
}

/// What the list says about one reversed suffix (`uk.co`).
#[derive(Default, Debug, PartialEq)]
struct Node {
    rule: bool,
    exception: bool,
    wildcard_child: bool,
    has_children: bool,
}

fn node(b: &Blob, key: &[u8]) -> Node {
    let mut n = Node::default();
    let Some(mut c) = b.lower_bound(key) else { return n };
    loop {
        let k = &c.buf[..c.len];
        if !k.starts_with(key) {
            break;
        }
        let rest = &k[key.len()..];
        match rest {
            [] => n.rule = true,
            [b'!'] => n.exception = true,
            [b'.', b'*'] => {
                n.wildcard_child = true;
                n.has_children = true;
            }
            [b'.', ..] => {
                n.has_children = true;
                break;
            }
            _ => {}
        }
        if !b.next(&mut c) {
            break;
        }
    }
    n
}

/// Byte offset in `name` (dotted, lower case, no trailing dot) where its registered domain
/// starts, or `None` when the name is a public suffix itself (or empty).
pub fn registered_domain_start(name: &[u8]) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    // Label starts from the right: starts[0] = start of the last label.
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
    let total_labels = n;
    let b = blob();
    // Public suffix length in labels: the implicit "*" rule gives 1.
    let mut suffix = 1usize;
    let mut key = [0u8; 256];
    let mut klen = 0usize;
    for k in 1..=total_labels.min(MAX_RULE_LABELS) {
        // Append label k (counted from the right) to the reversed key.
        let lab_start = starts[k - 1];
        let lab_end = if k == 1 { name.len() } else { starts[k - 2] - 1 };
        let lab = &name[lab_start..lab_end];
        if lab.is_empty() {
            return None;
        }
        if klen > 0 {
            if klen + 1 > key.len() {
                break;
            }
            key[klen] = b'.';
            klen += 1;
        }
        if klen + lab.len() > key.len() {
            break;
        }
        key[klen..klen + lab.len()].copy_from_slice(lab);
        klen += lab.len();
        if k == 1 {
            // Single-label rules are implied; only children matter.
            let nd = node(&b, &key[..klen]);
            if nd.wildcard_child && total_labels >= 2 {
                suffix = 2;
                if node_exception_below(&b, &key[..klen], name, &starts, 2) {
                    suffix = 1;
                }
            }
            if !nd.has_children {
                break;
            }
            continue;
        }
        let nd = node(&b, &key[..klen]);
        if nd.exception {
            suffix = k - 1;
            break;
        }
        if nd.rule {
            suffix = suffix.max(k);
        }
        if nd.wildcard_child && total_labels > k {
            if node_exception_below(&b, &key[..klen], name, &starts, k + 1) {
                suffix = suffix.max(k);
            } else {
                suffix = suffix.max(k + 1);
            }
        }
        if !nd.has_children {
            break;
        }
    }
    if total_labels <= suffix {
        return None;
    }
    let start = starts[suffix];
    // An empty label ("a..b") makes no registrable domain.
    if name[start..].starts_with(b".") || name[start..].windows(2).any(|w| w == b"..") {
        return None;
    }
    Some(start)
}

/// Is the name's `k`-label suffix (one below `parent`) listed as an exception (`!label.parent`)?
fn node_exception_below(b: &Blob, parent: &[u8], name: &[u8], starts: &[usize], k: usize) -> bool {
    let lab_start = starts[k - 1];
    let lab_end = starts[k - 2] - 1;
    let lab = &name[lab_start..lab_end];
    let mut key = [0u8; 256];
    let len = parent.len() + 1 + lab.len();
    if len > key.len() {
        return false;
    }
    key[..parent.len()].copy_from_slice(parent);
    key[parent.len()] = b'.';
    key[parent.len() + 1..len].copy_from_slice(lab);
    node(b, &key[..len]).exception
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
        assert_eq!(rd("xn--85x722f.xn--55qx5d.cn"), Some("xn--85x722f.xn--55qx5d.cn"));
        assert_eq!(rd("shishi.xn--55qx5d.cn"), Some("shishi.xn--55qx5d.cn"));
        assert_eq!(rd("xn--55qx5d.cn"), None);
    }

    #[test]
    fn private_section_and_unknown_tlds() {
        assert_eq!(rd("a.b.example.co.uk"), Some("example.co.uk"));
        assert_eq!(rd("x.alice.github.io"), Some("alice.github.io"));
        assert_eq!(rd("d1234abcd.cloudfront.net"), Some("d1234abcd.cloudfront.net"));
        assert_eq!(rd("foo.bar.nosuchtld"), Some("bar.nosuchtld"));
        assert_eq!(rd("1.0.168.192.in-addr.arpa"), Some("192.in-addr.arpa"));
        assert_eq!(rd(""), None);
        assert_eq!(rd("a..b"), None, "an empty label is not a domain");
    }
}
