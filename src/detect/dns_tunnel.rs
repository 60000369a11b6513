//! DNS tunnelling: per (client, registered domain), the queries of one window.
//!
//! A tunnel (iodine, dnscat2, DNSExfiltrator…) has to put its data into query names under a
//! domain its server is authoritative for, so it produces many *distinct*, long, high-entropy
//! names under one registered domain (eTLD+1 by the Public Suffix List, so customers of
//! `cloudfront.net` or `github.io` are not lumped together), often with record types nobody
//! browses with (NULL, PRIVATE, TXT, CNAME, MX bursts). Per window of `window_s` (60 s) we count
//! queries, distinct names (exact, up to 64), bytes encoded in the distinct names (left of the
//! registered domain), and *suspicious* queries: a label ≥ `long_label` (32) bytes, or ≥ 16
//! bytes of subdomain with entropy ≥ `entropy_bits` (3.5 bits/char), or an unusual qtype.
//!
//! Alert when, within the window: queries ≥ `min_queries` (20), distinct names ≥ `min_unique`
//! (12), and either name bytes ≥ `name_bytes` (1000) or at least half the queries are
//! suspicious. iodine's handshake alone (about 24 long NULL queries in a second) crosses it.
//! anomalous-dns (a Zeek package) flags 8 unique queries per domain per hour and
//! 90-character names; RITA 100 unique subdomains over its whole dataset; we require the
//! combination of volume and shape, which browsing — even of CDNs with hashed host names —
//! does not produce in a minute. Reverse lookups (`.arpa`), `.local` and the allowlisted
//! domains (DNS-based blocklists and reputation services by default) are not counted.
//!
//! Names whose top-level label is not in the Public Suffix List (`.lan`, `.home`, or data, as
//! when dnscat2 runs without a domain and sends `dnscat.<hex>` straight to its server) have no
//! meaningful registered domain: all of them from one client are counted together, and the
//! whole name counts as encoded bytes.
//!
//! Suppression key: (rule, client, registered domain — or the one key of unlisted TLDs).

use crate::addr::Addr;
use crate::capture::decode::PacketMeta;
use crate::state::flow::{FlowEvent, FlowTable};
use crate::state::table::{LruMap, Seed, TableKey, Upsert};

use super::{community_id, Alert, Emit, Figure, Rule, RuleId, SuppressKey, SAMPLE_NAME_LEN};
use crate::settings::{allow, domains, ranged, Allow, ConfigError, FileAllow};
use serde::Deserialize;

/// State key (in place of a registered domain's hash) of all names under unlisted TLDs, and
/// the text that stands for them in evidence.
const UNLISTED_TLDS: u64 = 0x756e_6c69_7374_6564;
const UNLISTED_TLDS_TEXT: &[u8] = b"(TLDs not in the Public Suffix List)";

/// The whole labels `a` and `b` end in alike (`x.t.tunnel.test`, `y.t.tunnel.test` →
/// `t.tunnel.test`), as a suffix of `a`; empty when their last labels differ.
fn common_labels<'a>(a: &'a [u8], b: &[u8]) -> &'a [u8] {
    let n = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let tail = &a[a.len() - n..];
    // Whole labels only: the suffix starts at a dot (dropped) or at the start of a name.
    let whole = |x: &[u8]| n == x.len() || x[x.len() - n - 1] == b'.';
    if n > 0 && whole(a) && whole(b) {
        return tail;
    }
    match tail.iter().position(|&c| c == b'.') {
        Some(i) => &tail[i + 1..],
        None => &[],
    }
}

/// Distinct names remembered per (client, domain) and window.
pub const MAX_UNIQUE: u32 = 64;
const SAMPLES: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct DomainKey {
    client: Addr,
    domain: u64,
}

impl TableKey for DomainKey {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        seed.hash(self.client.bits(), 0, self.domain, 0)
    }
}

struct DomainState {
    window_start: u64,
    first_ts: i64,
    queries: u32,
    suspicious: u32,
    odd_qtype: u32,
    name_bytes: u32,
    unique: heapless::Vec<u32, { MAX_UNIQUE as usize }>,
    /// The first `SAMPLES` distinct names of the window (cut to `SAMPLE_NAME_LEN` bytes).
    /// The domain itself is not kept: every query of this state names it.
    sample: [[u8; SAMPLE_NAME_LEN]; SAMPLES],
    sample_len: [u8; SAMPLES],
    samples: u8,
}

impl Default for DomainState {
    fn default() -> Self {
        DomainState {
            window_start: 0,
            first_ts: 0,
            queries: 0,
            suspicious: 0,
            odd_qtype: 0,
            name_bytes: 0,
            unique: heapless::Vec::new(),
            sample: [[0; SAMPLE_NAME_LEN]; SAMPLES],
            sample_len: [0; SAMPLES],
            samples: 0,
        }
    }
}

impl DomainState {
    /// Start counting a fresh window at second `sec` (the domain stays).
    fn new_window(&mut self, sec: u64, ts: i64) {
        self.window_start = sec;
        self.first_ts = ts;
        self.queries = 0;
        self.suspicious = 0;
        self.odd_qtype = 0;
        self.name_bytes = 0;
        self.unique.clear();
        self.samples = 0;
    }
}

/// Record types a browser or OS resolver does not ask for in bulk: CNAME, NULL, TXT, MX, SRV
/// (iodine's and dnscat2's carriers), KEY (dns2tcp's alternative to TXT), ANY, and the
/// private-use range 65280–65534.
fn odd_qtype(t: u16) -> bool {
    matches!(t, 5 | 10 | 15 | 16 | 25 | 33 | 255) || (65280..=65534).contains(&t)
}

fn qtype_name(t: u16) -> &'static str {
    match t {
        1 => "A",
        5 => "CNAME",
        10 => "NULL",
        15 => "MX",
        16 => "TXT",
        25 => "KEY",
        28 => "AAAA",
        33 => "SRV",
        255 => "ANY",
        65280..=65534 => "PRIVATE",
        _ => "other",
    }
}

pub struct DnsTunnelRule {
    cfg: DnsTunnelConfig,
    domains: LruMap<DomainKey, DomainState>,
    /// Allowlisted registered domains, by the hash the decoder computes (sorted), and a
    /// 256-bit filter of them (bit = top byte of the hash) that most queries stop at.
    allow_registered: Vec<u64>,
    allow_filter: [u64; 4],
    /// Label hashes of the top-level domains never counted: reverse lookups and mDNS.
    arpa: u64,
    local: u64,
    /// Allowlist entries that are not registered domains themselves (deeper names, or public
    /// suffixes): matched as name suffixes.
    allow_suffixes: Vec<String>,
    evicted: u64,
}

impl DnsTunnelRule {
    pub fn new(cfg: DnsTunnelConfig, capacity: usize) -> Self {
        let mut r = DnsTunnelRule {
            cfg: cfg.clone(),
            domains: LruMap::new(capacity, 1),
            allow_registered: Vec::new(),
            allow_filter: [0; 4],
            arpa: crate::capture::decode::psl::label_hash(b"arpa"),
            local: crate::capture::decode::psl::label_hash(b"local"),
            allow_suffixes: Vec::new(),
            evicted: 0,
        };
        r.set_config(cfg);
        r
    }

    pub fn set_config(&mut self, cfg: DnsTunnelConfig) {
        use crate::capture::decode::psl;
        self.allow_registered.clear();
        self.allow_suffixes.clear();
        for d in &cfg.allow_domains {
            match psl::registered_domain_start(d.as_bytes()) {
                Some(0) => self
                    .allow_registered
                    .push(crate::capture::decode::dns::name_hash(d.as_bytes())),
                _ => self.allow_suffixes.push(d.clone()),
            }
        }
        self.allow_registered.sort_unstable();
        self.allow_filter = [0; 4];
        for &h in &self.allow_registered {
            self.allow_filter[(h >> 62) as usize] |= 1 << ((h >> 56) & 63);
        }
        self.cfg = cfg;
    }

    #[inline]
    fn domain_allowed(&self, d: &crate::capture::decode::DnsMeta) -> bool {
        let tld = d.tld_hash();
        let h = d.reg_hash;
        if tld == self.arpa
            || tld == self.local
            || (self.allow_filter[(h >> 62) as usize] >> ((h >> 56) & 63) & 1 != 0
                && self.allow_registered.binary_search(&h).is_ok())
        {
            return true;
        }
        let name = d.name();
        self.allow_suffixes.iter().any(|s| {
            let s = s.as_bytes();
            name == s
                || (name.len() > s.len()
                    && name.ends_with(s)
                    && name[name.len() - s.len() - 1] == b'.')
        })
    }
}

impl Rule for DnsTunnelRule {
    #[inline]
    fn on_packet(&mut self, m: &PacketMeta, _ev: &FlowEvent, _flows: &FlowTable, emit: &mut Emit) {
        let Some(d) = m.dns() else { return };
        if !self.cfg.enabled || d.response || d.opcode != 0 || m.dport != 53 {
            return;
        }
        let reg = d.registered_domain();
        if reg.is_empty() || self.domain_allowed(d) {
            return;
        }
        if self.cfg.allow.src_allowed(&m.src) || self.cfg.allow.dst_allowed(&m.dst, 0) {
            return;
        }
        let now = m.now;
        let sec = m.sec;
        // Names under a TLD the list does not know share one state per client: their
        // "registered domain" is only a guess (for a client that talks straight to its
        // tunnel server under a made-up name, it is data and changes with every query).
        let (domain, domain_text) = if d.tld_listed {
            (d.reg_hash, reg)
        } else {
            (UNLISTED_TLDS, UNLISTED_TLDS_TEXT)
        };
        let key = DomainKey {
            client: m.src,
            domain,
        };
        let (id, how) = self
            .domains
            .upsert(key, 0, now, |st| st.new_window(sec, m.ts));
        self.evicted += (how == Upsert::Evicted) as u64;
        let cfg = &self.cfg;
        let st = self.domains.get_mut(id);
        if sec >= st.window_start + cfg.window_s as u64 {
            st.new_window(sec, m.ts);
        }
        st.queries += 1;
        let sub = d.encoded_len();
        let odd = odd_qtype(d.qtype);
        st.odd_qtype += odd as u32;
        if odd
            || d.longest_label as u32 >= cfg.long_label
            || (sub >= crate::capture::decode::dns::ENTROPY_MIN_LEN
                && d.sub_entropy_milli as u32 >= cfg.entropy_milli)
        {
            st.suspicious += 1;
        }
        let name = d.name();
        let h = d.name_hash as u32;
        if !st.unique.contains(&h) {
            if st.unique.push(h).is_ok() {
                st.name_bytes += sub as u32;
            }
            let i = st.samples as usize;
            if i < SAMPLES {
                let n = name.len().min(SAMPLE_NAME_LEN);
                st.sample[i][..n].copy_from_slice(&name[..n]);
                st.sample_len[i] = n as u8;
                st.samples += 1;
            }
        }
        let unique = st.unique.len() as u32;
        if st.queries >= cfg.min_queries
            && unique >= cfg.min_unique
            && (st.name_bytes >= cfg.name_bytes || st.suspicious * 2 >= st.queries)
        {
            raise(m, d, st, cfg, unique, domain_text, key.domain, emit);
        }
    }

    fn evictions(&self) -> u64 {
        self.evicted
    }

    fn entries(&self) -> u64 {
        self.domains.len() as u64
    }

    fn footprint_bytes(&self) -> usize {
        self.domains.footprint_bytes()
    }
}

/// The alert for `st`'s window of queries from `m`'s client, whose last one (`d`) crossed
/// the thresholds. Out of line: the per-packet path only tests.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn raise(
    m: &PacketMeta,
    d: &crate::capture::decode::DnsMeta,
    st: &DomainState,
    cfg: &DnsTunnelConfig,
    unique: u32,
    domain_text: &[u8],
    domain: u64,
    emit: &mut Emit,
) {
    let now = m.now;
    let name = d.name();
    let mut a = Alert::new(RuleId::DnsTunnel, m.ts);
    a.first_seen = st.first_ts;
    a.src = m.src;
    a.sport = m.sport;
    a.dst = m.dst;
    a.dport = m.dport;
    a.proto = m.proto;
    a.community_id = Some(community_id(0, m.src, m.sport, m.dst, m.dport, m.proto));
    let e = &mut a.evidence;
    e.fig("queries", Figure::U(st.queries as u64));
    e.fig("unique_subdomains", Figure::U(unique as u64));
    e.fig("name_bytes", Figure::U(st.name_bytes as u64));
    e.fig("suspicious_queries", Figure::U(st.suspicious as u64));
    e.fig("unusual_qtype_queries", Figure::U(st.odd_qtype as u64));
    e.fig("qtype", Figure::S(qtype_name(d.qtype)));
    e.fig("threshold_queries", Figure::U(cfg.min_queries as u64));
    e.fig("threshold_unique", Figure::U(cfg.min_unique as u64));
    e.fig("window_s", Figure::U(cfg.window_s as u64));
    // Under an unlisted TLD the zone is named as the names show it: the labels they
    // all end in (`t.tunnel.test` for iodine's), when they share any.
    let shared = if d.tld_listed {
        &[][..]
    } else {
        let samples = st
            .sample
            .iter()
            .zip(&st.sample_len)
            .take(st.samples as usize);
        samples.fold(name, |acc, (s, &n)| common_labels(acc, &s[..n as usize]))
    };
    let _ = e.domain.extend_from_slice(if shared.is_empty() {
        domain_text
    } else {
        shared
    });
    for (s, &n) in st
        .sample
        .iter()
        .zip(&st.sample_len)
        .take(st.samples as usize)
    {
        let _ = e
            .names
            .push(heapless::Vec::from_slice(&s[..n as usize]).unwrap_or_default());
    }
    let skey = SuppressKey {
        rule: RuleId::DnsTunnel,
        a: m.src,
        b: Addr::UNSPECIFIED,
        port: 0,
        extra: domain,
    };
    emit.alert(skey, now, &mut a);
}

// ---------------------------------------------------------------------------------------------
// Configuration: `[rules.dns_tunnel]`.

/// Domains whose normal traffic looks tunnel-like: DNS-based blocklists and reputation
/// services (hashed or reversed-address subdomains by design).
pub const DEFAULT_DNS_ALLOW_DOMAINS: &[&str] = &[
    "spamhaus.org",
    "spamcop.net",
    "sorbs.net",
    "barracudacentral.org",
    "sophosxl.net",
    "mcafee.com",
    "e5.sk",
    "senderbase.org",
    "dnswl.org",
    "surbl.org",
    "uribl.com",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDnsTunnel {
    pub enabled: Option<bool>,
    pub window_s: Option<u32>,
    pub min_queries: Option<u32>,
    pub min_unique: Option<u32>,
    pub name_bytes: Option<u32>,
    pub long_label: Option<u32>,
    pub entropy_bits: Option<f64>,
    pub allow_domains: Option<Vec<String>>,
    #[serde(flatten)]
    pub allow: FileAllow,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DnsTunnelConfig {
    pub enabled: bool,
    pub window_s: u32,
    pub min_queries: u32,
    pub min_unique: u32,
    pub name_bytes: u32,
    pub long_label: u32,
    pub entropy_milli: u32,
    pub allow_domains: Vec<String>,
    pub allow: Allow,
}

impl FileDnsTunnel {
    pub fn validate(&self) -> Result<DnsTunnelConfig, ConfigError> {
        let dt = self;
        Ok(DnsTunnelConfig {
            enabled: dt.enabled.unwrap_or(true),
            window_s: ranged("rules.dns_tunnel.window_s", dt.window_s, 60, 10, 3600)?,
            min_queries: ranged(
                "rules.dns_tunnel.min_queries",
                dt.min_queries,
                20,
                5,
                1_000_000,
            )?,
            min_unique: ranged(
                "rules.dns_tunnel.min_unique",
                dt.min_unique,
                12,
                5,
                MAX_UNIQUE,
            )?,
            name_bytes: ranged(
                "rules.dns_tunnel.name_bytes",
                dt.name_bytes,
                1000,
                100,
                10_000_000,
            )?,
            long_label: ranged("rules.dns_tunnel.long_label", dt.long_label, 32, 16, 63)?,
            entropy_milli: (ranged(
                "rules.dns_tunnel.entropy_bits",
                dt.entropy_bits,
                3.5,
                1.0,
                8.0,
            )? * 1000.0) as u32,
            allow_domains: domains(
                "rules.dns_tunnel.allow_domains",
                &dt.allow_domains,
                DEFAULT_DNS_ALLOW_DOMAINS,
            )?,
            allow: allow("rules.dns_tunnel", &dt.allow, &[])?,
        })
    }
}

#[cfg(test)]
mod common_label_tests {
    use super::common_labels;

    #[test]
    fn whole_labels_in_common() {
        let c = |a: &str, b: &str| {
            String::from_utf8(common_labels(a.as_bytes(), b.as_bytes()).to_vec()).unwrap()
        };
        assert_eq!(c("x.t.tunnel.test", "y.t.tunnel.test"), "t.tunnel.test");
        assert_eq!(c("ab.test", "cb.test"), "test");
        assert_eq!(c("x.test", "test"), "test");
        assert_eq!(c("test", "x.test"), "test");
        assert_eq!(c("a.test", "a.test"), "a.test");
        assert_eq!(c("dnscat.0a1b", "dnscat.ffee"), "");
        assert_eq!(c("a.bc", "b.c"), "");
        assert_eq!(c("", "x"), "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_carriers_are_unusual_and_browsing_types_are_not() {
        // NULL, TXT, CNAME, MX, SRV, KEY, ANY, private use.
        for t in [10, 16, 5, 15, 33, 25, 255, 65280, 65399, 65534] {
            assert!(odd_qtype(t), "{t}");
        }
        // A, AAAA, PTR, HTTPS, SVCB, DS/DNSKEY (validating resolvers), SOA, NS.
        for t in [1, 28, 12, 65, 64, 43, 48, 6, 2, 65535] {
            assert!(!odd_qtype(t), "{t}");
        }
        assert_eq!(qtype_name(25), "KEY");
    }
}
