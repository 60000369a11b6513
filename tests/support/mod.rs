//! Test support: builds frames and pcap files in code, so every fixture is reproducible and
//! reviewable. Used by the integration tests, the benchmark and the demo-capture example.
#![allow(dead_code)] // each test binary uses a different part
#![allow(clippy::too_many_arguments)] // packet builders name every header field

pub mod deadline;

use std::net::IpAddr;

pub const LINKTYPE_ETHERNET: u32 = 1;

/// A classic pcap (microsecond) file built in memory.
pub struct PcapWriter {
    pub buf: Vec<u8>,
    pub count: u64,
}

impl PcapWriter {
    pub fn new(linktype: u32) -> Self {
        Self::with_snaplen(linktype, 262_144)
    }

    pub fn with_snaplen(linktype: u32, snaplen: u32) -> Self {
        let mut buf = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        buf.extend_from_slice(&2u16.to_le_bytes());
        buf.extend_from_slice(&4u16.to_le_bytes());
        buf.extend_from_slice(&0i32.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        buf.extend_from_slice(&snaplen.to_le_bytes());
        buf.extend_from_slice(&linktype.to_le_bytes());
        PcapWriter { buf, count: 0 }
    }

    pub fn packet(&mut self, ts_us: i64, frame: &[u8]) {
        self.packet_len(ts_us, frame, frame.len() as u32);
    }

    /// A record whose original length differs from the captured bytes (snaplen cut).
    pub fn packet_len(&mut self, ts_us: i64, frame: &[u8], orig_len: u32) {
        let sec = ts_us.div_euclid(1_000_000) as u32;
        let usec = ts_us.rem_euclid(1_000_000) as u32;
        self.buf.extend_from_slice(&sec.to_le_bytes());
        self.buf.extend_from_slice(&usec.to_le_bytes());
        self.buf
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&orig_len.to_le_bytes());
        self.buf.extend_from_slice(frame);
        self.count += 1;
    }

    pub fn write_to(&self, path: &std::path::Path) {
        std::fs::write(path, &self.buf).expect("write pcap");
    }
}

pub fn be16(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            (c[0] as u16) << 8
        };
        sum += w as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn parse_ip(s: &str) -> IpAddr {
    s.parse().expect("ip literal")
}

/// IPv4 header (+ payload) with a correct header checksum.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut h = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&be16(total.min(65535) as u16));
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&be16(c));
    h.extend_from_slice(payload);
    h
}

pub fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&be16(payload.len() as u16));
    h.push(next);
    h.push(64);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

/// Split an IP packet (as `ipv4`/`ipv6` build it, no extension headers) into fragments of
/// `size` payload bytes (a multiple of 8), as `nmap -f` (8) or `--mtu` does.
pub fn fragments(packet: &[u8], size: usize, id: u32) -> Vec<Vec<u8>> {
    let v6 = packet[0] >> 4 == 6;
    let hl = if v6 { 40 } else { 20 };
    let payload = &packet[hl..];
    let mut out = Vec::new();
    for (k, chunk) in payload.chunks(size).enumerate() {
        let offset = k * size;
        let more = offset + chunk.len() < payload.len();
        if v6 {
            let mut h = packet[..40].to_vec();
            h[4..6].copy_from_slice(&be16((8 + chunk.len()) as u16));
            h[6] = 44;
            h.push(packet[6]);
            h.push(0);
            h.extend_from_slice(&be16((offset as u16) | more as u16));
            h.extend_from_slice(&id.to_be_bytes());
            h.extend_from_slice(chunk);
            out.push(h);
        } else {
            let mut h = packet[..20].to_vec();
            h[2..4].copy_from_slice(&be16((20 + chunk.len()) as u16));
            h[4..6].copy_from_slice(&be16(id as u16));
            h[6..8].copy_from_slice(&be16(((offset / 8) as u16) | if more { 0x2000 } else { 0 }));
            h[10..12].copy_from_slice(&[0, 0]);
            let c = checksum(&h);
            h[10..12].copy_from_slice(&be16(c));
            h.extend_from_slice(chunk);
            out.push(h);
        }
    }
    out
}

/// IP packet for either family, chosen by the addresses.
pub fn ip(src: &str, dst: &str, proto: u8, payload: &[u8]) -> Vec<u8> {
    match (parse_ip(src), parse_ip(dst)) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4(s.octets(), d.octets(), proto, payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6(
            s.octets(),
            d.octets(),
            if proto == 1 { 58 } else { proto },
            payload,
        ),
        _ => panic!("mixed address families"),
    }
}

pub fn ethertype_of(ip_packet: &[u8]) -> u16 {
    if ip_packet[0] >> 4 == 6 {
        0x86dd
    } else {
        0x0800
    }
}

pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    f.extend_from_slice(&be16(ethertype));
    f.extend_from_slice(payload);
    f
}

pub fn eth_ip(ip_packet: &[u8]) -> Vec<u8> {
    eth(ethertype_of(ip_packet), ip_packet)
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;

pub fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&be16(sport));
    t.extend_from_slice(&be16(dport));
    t.extend_from_slice(&1000u32.to_be_bytes());
    t.extend_from_slice(&(if flags & ACK != 0 { 2000u32 } else { 0 }).to_be_bytes());
    t.push(0x50);
    t.push(flags);
    t.extend_from_slice(&be16(65535));
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&be16(sport));
    u.extend_from_slice(&be16(dport));
    u.extend_from_slice(&be16((8 + payload.len()) as u16));
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

pub fn icmp(typ: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut i = vec![typ, code, 0, 0, 0, 0, 0, 0];
    i.extend_from_slice(rest);
    i
}

/// DNS name in wire format.
pub fn dns_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in name.split('.').filter(|l| !l.is_empty()) {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

pub fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&be16(id));
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&dns_name(name));
    m.extend_from_slice(&be16(qtype));
    m.extend_from_slice(&be16(1));
    m
}

pub fn dns_response(id: u16, name: &str, qtype: u16, rdata_len: usize) -> Vec<u8> {
    // The query with QR, RD, RA set and one answer record.
    let mut m = dns_query(id, name, qtype);
    m[2..4].copy_from_slice(&[0x81, 0x80]);
    m[6..8].copy_from_slice(&be16(1));
    m.extend_from_slice(&[0xc0, 12]);
    m.extend_from_slice(&be16(qtype));
    m.extend_from_slice(&be16(1));
    m.extend_from_slice(&60u32.to_be_bytes());
    m.extend_from_slice(&be16(rdata_len as u16));
    m.extend(std::iter::repeat_n(0x41, rdata_len));
    m
}

pub fn arp(op: u16, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4];
    a.extend_from_slice(&be16(op));
    a.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    a.extend_from_slice(&sender);
    a.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    a.extend_from_slice(&target);
    eth(0x0806, &a)
}

pub fn v4(s: &str) -> [u8; 4] {
    match parse_ip(s) {
        IpAddr::V4(a) => a.octets(),
        _ => panic!("not v4"),
    }
}

/// Traffic generator on packet time: builds conversations as a host would see them.
pub struct Traffic {
    pub w: PcapWriter,
    /// Current time, µs since the epoch.
    pub t: i64,
    frames: Vec<(i64, Vec<u8>)>,
}

pub const T0: i64 = 1_790_000_000_000_000; // 2026-09-21, before 2038 for 32-bit hosts

impl Traffic {
    pub fn new() -> Self {
        Traffic {
            w: PcapWriter::new(LINKTYPE_ETHERNET),
            t: T0,
            frames: Vec::new(),
        }
    }

    /// Add a frame at time `at` (frames are sorted by time when written).
    pub fn at(&mut self, at: i64, frame: Vec<u8>) {
        self.frames.push((at, frame));
    }

    pub fn frame(&mut self, frame: Vec<u8>) {
        let t = self.t;
        self.at(t, frame);
    }

    pub fn tcp_pkt(
        &mut self,
        at: i64,
        src: &str,
        sport: u16,
        dst: &str,
        dport: u16,
        flags: u8,
        payload: &[u8],
    ) {
        self.at(
            at,
            eth_ip(&ip(src, dst, 6, &tcp(sport, dport, flags, payload))),
        );
    }

    pub fn udp_pkt(
        &mut self,
        at: i64,
        src: &str,
        sport: u16,
        dst: &str,
        dport: u16,
        payload: &[u8],
    ) {
        self.at(at, eth_ip(&ip(src, dst, 17, &udp(sport, dport, payload))));
    }

    /// SYN, SYN-ACK, ACK from `at`, half a round trip apart; the time of the ACK.
    fn handshake(&mut self, at: i64, c: &str, cp: u16, s: &str, sp: u16, rtt: i64) -> i64 {
        self.tcp_pkt(at, c, cp, s, sp, SYN, &[]);
        self.tcp_pkt(at + rtt / 2, s, sp, c, cp, SYN | ACK, &[]);
        self.tcp_pkt(at + rtt, c, cp, s, sp, ACK, &[]);
        at + rtt
    }

    /// FIN from the client at `at`, FIN from the server, the last ACK; the time of the ACK.
    fn fin_fin(&mut self, at: i64, c: &str, cp: u16, s: &str, sp: u16, rtt: i64) -> i64 {
        self.tcp_pkt(at, c, cp, s, sp, FIN | ACK, &[]);
        self.tcp_pkt(at + rtt / 2, s, sp, c, cp, FIN | ACK, &[]);
        self.tcp_pkt(at + rtt, c, cp, s, sp, ACK, &[]);
        at + rtt
    }

    /// A full TCP conversation starting at `at`: handshake, `turns` request/response pairs of
    /// the given sizes, FIN/FIN. Returns the time of its last packet.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp_session(
        &mut self,
        at: i64,
        c: &str,
        cp: u16,
        s: &str,
        sp: u16,
        turns: usize,
        req: usize,
        resp: usize,
    ) -> i64 {
        let rtt = 2_000;
        let mut t = self.handshake(at, c, cp, s, sp, rtt);
        let rq = vec![0x71; req];
        let rs = vec![0x72; resp.min(1400)];
        for _ in 0..turns {
            t += 100;
            self.tcp_pkt(t, c, cp, s, sp, PSH | ACK, &rq);
            t += rtt / 2;
            let mut left = resp;
            while left > 0 {
                let n = left.min(1400);
                self.tcp_pkt(t, s, sp, c, cp, PSH | ACK, &rs[..n]);
                left -= n;
                t += 50;
            }
            t += rtt / 2;
            self.tcp_pkt(t, c, cp, s, sp, ACK, &[]);
        }
        self.fin_fin(t + 100, c, cp, s, sp, rtt)
    }

    /// An HTTP/1.1 connection starting at `at`: handshake, one request/response per
    /// `(request line, credentials, status)` (basic-auth credentials in an `Authorization`
    /// header, or for a `POST` the form body; the response's head and a body of `body` bytes
    /// in segments of 1400), FIN/FIN. Returns the time of its last packet.
    #[allow(clippy::too_many_arguments)]
    pub fn http_session(
        &mut self,
        at: i64,
        c: &str,
        cp: u16,
        s: &str,
        sp: u16,
        exchanges: &[(&str, Option<&str>, u16)],
        body: usize,
    ) -> i64 {
        let rtt = 2_000;
        let mut t = self.handshake(at, c, cp, s, sp, rtt);
        for (req, cred, status) in exchanges {
            t += 100;
            let rq = match cred {
                Some(c) if req.starts_with("POST ") => format!(
                    "{req} HTTP/1.1\r\nHost: {s}\r\nContent-Length: {}\r\n\r\n{c}",
                    c.len()
                ),
                Some(c) => {
                    format!("{req} HTTP/1.1\r\nHost: {s}\r\nAuthorization: Basic {c}\r\n\r\n")
                }
                None => format!("{req} HTTP/1.1\r\nHost: {s}\r\n\r\n"),
            };
            self.tcp_pkt(t, c, cp, s, sp, PSH | ACK, rq.as_bytes());
            t += rtt / 2;
            let head = format!("HTTP/1.1 {status} X\r\nContent-Length: {body}\r\n\r\n");
            let mut seg = head.into_bytes();
            let mut left = body;
            loop {
                let n = left.min(1400usize.saturating_sub(seg.len()));
                seg.extend(std::iter::repeat_n(b'x', n));
                left -= n;
                self.tcp_pkt(t, s, sp, c, cp, PSH | ACK, &seg);
                t += 50;
                seg.clear();
                if left == 0 {
                    break;
                }
            }
            t += rtt / 2;
            self.tcp_pkt(t, c, cp, s, sp, ACK, &[]);
        }
        self.fin_fin(t + 100, c, cp, s, sp, rtt)
    }

    /// A DNS query and its answer.
    pub fn dns(
        &mut self,
        at: i64,
        client: &str,
        cport: u16,
        resolver: &str,
        name: &str,
        qtype: u16,
        id: u16,
    ) {
        self.udp_pkt(at, client, cport, resolver, 53, &dns_query(id, name, qtype));
        self.udp_pkt(
            at + 5_000,
            resolver,
            53,
            client,
            cport,
            &dns_response(id, name, qtype, 16),
        );
    }

    /// All frames in time order (stable for equal times).
    pub fn frames(&mut self) -> Vec<(i64, Vec<u8>)> {
        let mut f = std::mem::take(&mut self.frames);
        f.sort_by_key(|x| x.0);
        f
    }

    pub fn pcap(&mut self) -> Vec<u8> {
        for (t, f) in self.frames() {
            self.w.packet(t, &f);
        }
        std::mem::replace(&mut self.w, PcapWriter::new(LINKTYPE_ETHERNET)).buf
    }
}

impl Default for Traffic {
    fn default() -> Self {
        Self::new()
    }
}

pub const S: i64 = 1_000_000;

/// Deterministic PRNG for generated traffic (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    /// Uniform in (0, 1).
    pub fn f(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * self.f().ln()
    }

    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        let z = (-2.0 * self.f().ln()).sqrt() * (2.0 * std::f64::consts::PI * self.f()).cos();
        median * (sigma * z).exp()
    }

    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.f()).exp()
    }
}

/// Run frames through a fresh pipeline with `cfg`; all alerts in order.
pub fn run_frames(
    cfg: &netwatch::config::Config,
    frames: &[(i64, Vec<u8>)],
) -> Vec<netwatch::detect::Alert> {
    let mut p = netwatch::pipeline::Pipeline::new(cfg);
    let mut alerts = Vec::new();
    for (t, f) in frames {
        p.process(1, *t, f, f.len() as u32, &mut |a| alerts.push(a.clone()));
    }
    p.finish(&mut |a| alerts.push(a.clone()));
    alerts
}

pub fn default_config() -> netwatch::config::Config {
    netwatch::config::Config::default_config()
}

/// Alerts of one rule.
pub fn of(alerts: &[netwatch::detect::Alert], rule: &str) -> Vec<netwatch::detect::Alert> {
    alerts
        .iter()
        .filter(|a| a.rule.name() == rule)
        .cloned()
        .collect()
}

pub fn addr(s: &str) -> netwatch::addr::Addr {
    parse_ip(s).into()
}

pub fn random_label(rng: &mut Rng, len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize] as char)
        .collect()
}

/// Benign LAN traffic: `hosts` clients browsing for `secs` seconds — DNS lookups of popular
/// and CDN names, short HTTPS sessions to many servers, a few long downloads.
pub fn benign_lan(tr: &mut Traffic, rng: &mut Rng, start: i64, secs: i64, hosts: u32) {
    let sites = [
        "www.example.com",
        "news.example.org",
        "cdn.jsdelivr.net",
        "fonts.gstatic.com",
        "www.wikipedia.org",
        "static.xx.fbcdn.net",
        "i.ytimg.com",
        "d3a4b5c6d7e8f9.cloudfront.net",
        "alice.github.io",
        "mail.example.co.uk",
        "api.weather.example",
        "e12345.dscx.akamaiedge.net",
        "update.example-os.org",
        "rr3---sn-4g5e6nsz.googlevideo.com",
    ];
    for h in 0..hosts {
        let client = format!("192.168.1.{}", 10 + h);
        let mut t = start + rng.below(5 * S as u64) as i64;
        let mut port = 40000 + (h as u16) * 300;
        while t < start + secs * S {
            let site = sites[rng.below(sites.len() as u64) as usize];
            tr.dns(
                t,
                &client,
                50000 + (port % 10000),
                "192.168.1.1",
                site,
                if rng.below(2) == 0 { 1 } else { 28 },
                port,
            );
            let server = format!("203.0.{}.{}", 113 + rng.below(3), 1 + rng.below(200));
            let conns = 1 + rng.below(4);
            for _ in 0..conns {
                port = port.wrapping_add(1).max(1024);
                let turns = 1 + rng.below(5) as usize;
                let resp = 200 + rng.below(20_000) as usize;
                tr.tcp_session(
                    t + 20_000 + rng.below(300_000) as i64,
                    &client,
                    port,
                    &server,
                    443,
                    turns,
                    300,
                    resp,
                );
            }
            t += (1 + rng.below(15)) as i64 * S + rng.below(S as u64) as i64;
        }
    }
}

/// A pcapng file: section header, one interface (µs resolution), enhanced packet blocks.
/// One little-endian pcapng block: type, length, the body padded to 4 bytes, length again.
fn pcapng_block(out: &mut Vec<u8>, ty: u32, body: &[u8]) {
    let pad = (4 - body.len() % 4) % 4;
    let len = (12 + body.len() + pad) as u32;
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.extend(std::iter::repeat_n(0, pad));
    out.extend_from_slice(&len.to_le_bytes());
}

pub fn pcapng(linktype: u16, frames: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let block = pcapng_block;
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&linktype.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&65535u32.to_le_bytes());
    block(&mut out, 1, &idb);
    for (t, f) in frames {
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        let ts = *t as u64;
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(f);
        epb.extend(std::iter::repeat_n(0, (4 - f.len() % 4) % 4));
        block(&mut out, 6, &epb);
    }
    out
}

/// A classic pcap file (as `PcapWriter` writes it: little-endian, microseconds) rewritten as
/// pcapng: one section, one interface of the same link type and snapshot length, one
/// enhanced packet block per record, same timestamps and lengths.
pub fn pcap_to_pcapng(pcap: &[u8]) -> Vec<u8> {
    let word = |at: usize| u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap());
    let block = pcapng_block;
    let mut out = Vec::with_capacity(pcap.len() + pcap.len() / 4);
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&(word(20) as u16).to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&word(16).to_le_bytes());
    block(&mut out, 1, &idb);
    let mut at = 24;
    let mut epb = Vec::new();
    while at + 16 <= pcap.len() {
        let ts = word(at) as u64 * 1_000_000 + word(at + 4) as u64;
        let (caplen, len) = (word(at + 8) as usize, word(at + 12));
        epb.clear();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(caplen as u32).to_le_bytes());
        epb.extend_from_slice(&len.to_le_bytes());
        epb.extend_from_slice(&pcap[at + 16..at + 16 + caplen]);
        block(&mut out, 6, &epb);
        at += 16 + caplen;
    }
    out
}

/// A capture that triggers every rule (and covers the everyday protocols), for end-to-end and
/// cross-architecture tests. Deterministic.
pub fn every_rule_capture() -> Vec<(i64, Vec<u8>)> {
    let mut tr = Traffic::new();
    let mut rng = Rng(42);
    benign_lan(&mut tr, &mut rng, T0, 120, 5);
    // Vertical SYN scan answered by RST.
    for i in 0..30u16 {
        let t = T0 + 2 * S + i as i64 * 20_000;
        tr.tcp_pkt(
            t,
            "192.168.1.66",
            40000 + i,
            "192.168.1.5",
            20 + i,
            SYN,
            &[],
        );
        tr.tcp_pkt(
            t + 200,
            "192.168.1.5",
            20 + i,
            "192.168.1.66",
            40000 + i,
            RST | ACK,
            &[],
        );
    }
    // ARP sweep.
    for h in 1..=60u8 {
        tr.at(
            T0 + 10 * S + h as i64 * 3_000,
            arp(1, [192, 168, 1, 66], [192, 168, 1, h]),
        );
    }
    // SYN flood from spoofed sources.
    for i in 0..1500i64 {
        let src = format!(
            "{}.{}.{}.{}",
            11 + rng.below(200),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        );
        tr.tcp_pkt(
            T0 + 20 * S + i * 500,
            &src,
            1024 + (i % 60000) as u16,
            "192.168.1.5",
            80,
            SYN,
            &[],
        );
    }
    // ssh brute force.
    for i in 0..8i64 {
        tr.tcp_session(
            T0 + 30 * S + i * 2 * S,
            "192.168.1.66",
            41000 + i as u16,
            "192.168.1.22",
            22,
            7,
            120,
            90,
        );
    }
    // DNS tunnel.
    for i in 0..80i64 {
        let name = format!(
            "{}.t.tunnel-example.net",
            random_label(&mut rng, 48, b"abcdefghijklmnopqrstuvwxyz012345")
        );
        tr.dns(
            T0 + 50 * S + i * 250_000,
            "192.168.1.50",
            33000,
            "192.168.1.1",
            &name,
            10,
            i as u16,
        );
    }
    // Beacon every 3 s ± 10 %.
    let mut t = T0 + 60 * S;
    for i in 0..14u16 {
        tr.tcp_session(
            t,
            "192.168.1.77",
            45000 + i,
            "198.51.100.9",
            8443,
            1,
            180,
            420,
        );
        t += (3.0e6 * (1.0 + 0.1 * rng.unit())) as i64;
    }
    tr.frames()
}

/// Re-frame an Ethernet frame for another link type (LINKTYPE_* number).
pub fn relink(lt: i32, eth_frame: &[u8]) -> Vec<u8> {
    let et = [eth_frame[12], eth_frame[13]];
    let l3 = &eth_frame[14..];
    match lt {
        1 => eth_frame.to_vec(),
        // Linux cooked v1: pkttype, ARPHRD_ETHER, addr len 6, address, protocol.
        113 => [&[0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0][..], &et, l3].concat(),
        // Linux cooked v2: protocol, reserved, ifindex, ARPHRD_ETHER, pkttype, addr len, address.
        276 => [
            &et[..],
            &[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0],
            l3,
        ]
        .concat(),
        // BSD loopback, family in little-endian host order (IPv6 as on FreeBSD: 28).
        0 => {
            let fam: u32 = if et == [0x86, 0xdd] { 28 } else { 2 };
            [&fam.to_le_bytes()[..], l3].concat()
        }
        101 => l3.to_vec(),
        _ => panic!("relink: link type {lt}"),
    }
}

/// Ethernet frame with an 802.1ad + 802.1Q (QinQ) tag pair, or a PPPoE session header.
pub fn retag(eth_frame: &[u8], pppoe: bool) -> Vec<u8> {
    let (macs, et, l3) = (
        &eth_frame[..12],
        [eth_frame[12], eth_frame[13]],
        &eth_frame[14..],
    );
    if pppoe {
        if et == [0x08, 0x06] {
            return eth_frame.to_vec(); // ARP does not travel inside PPPoE
        }
        let proto: [u8; 2] = if et == [0x86, 0xdd] {
            [0x00, 0x57]
        } else {
            [0x00, 0x21]
        };
        let len = ((l3.len() + 2) as u16).to_be_bytes();
        [
            macs,
            &[0x88, 0x64, 0x11, 0x00, 0x00, 0x01],
            &len,
            &proto,
            l3,
        ]
        .concat()
    } else {
        [
            macs,
            &[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x64],
            &et,
            l3,
        ]
        .concat()
    }
}

/// SYNs to 192.168.1.5:80 from `n` distinct spoofed sources, 100k per second.
pub fn flood_capture(n: u32) -> PcapWriter {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    for i in 0..n {
        let src = [
            11 + (i >> 24) as u8,
            (i >> 16) as u8,
            (i >> 8) as u8,
            i as u8,
        ];
        let f = eth(
            0x0800,
            &ipv4(
                src,
                [192, 168, 1, 5],
                6,
                &tcp(1024 + (i % 60000) as u16, 80, SYN, &[]),
            ),
        );
        w.packet(T0 + i as i64 * 10, &f);
    }
    w
}

/// A LAN mix for the benchmarks: each "visit" is a DNS lookup plus a short TCP session,
/// mostly small packets as on a real LAN.
pub fn lan_capture(packets: usize) -> PcapWriter {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    let mut rng = Rng(1);
    let mut t = T0;
    let mut i: u32 = 0;
    while (w.count as usize) < packets {
        i = i.wrapping_add(1);
        let client = format!("192.168.{}.{}", 1 + (i % 4), 2 + rng.below(200));
        let server = format!(
            "{}.{}.{}.{}",
            23 + rng.below(150),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        );
        let cport = 1024 + (i % 60000) as u16;
        let mut tr = Traffic::new();
        let name = format!("www.site{}.example.com", rng.below(5000));
        tr.dns(t, &client, cport, "192.168.1.1", &name, 1, i as u16);
        let turns = 1 + rng.below(3) as usize;
        let resp = 60 + rng.below(1300) as usize;
        tr.tcp_session(
            t + 10_000,
            &client,
            cport,
            &server,
            if i % 3 == 0 { 80 } else { 443 },
            turns,
            200,
            resp,
        );
        for (ft, f) in tr.frames() {
            if (w.count as usize) < packets {
                w.packet(ft, &f);
            }
        }
        t += 200 + rng.below(400) as i64;
    }
    w
}

/// One device of the demo household: its address on 192.168.1.0/24, MAC, the host name and
/// vendor class its DHCP client sends.
struct HomeDevice {
    host: u8,
    mac: [u8; 6],
    name: &'static str,
    vendor_class: &'static str,
}

const HOME_ROUTER: [u8; 6] = [0xd0, 0x37, 0x45, 0x00, 0x01, 0x01];
const HOUSEHOLD: [HomeDevice; 12] = [
    HomeDevice {
        host: 5,
        mac: [0x00, 0x11, 0x32, 0xaa, 0xbb, 0x05],
        name: "DiskStation",
        vendor_class: "udhcp 1.20.2",
    },
    HomeDevice {
        host: 10,
        mac: [0x60, 0x8b, 0x0e, 0x3a, 0x10, 0x10],
        name: "Annas-MacBook-Air",
        vendor_class: "",
    },
    HomeDevice {
        host: 11,
        mac: [0x5a, 0x1f, 0x9c, 0x2e, 0x41, 0x11],
        name: "Annas-iPhone",
        vendor_class: "",
    },
    HomeDevice {
        host: 12,
        mac: [0x58, 0xcb, 0x52, 0x7d, 0x20, 0x12],
        name: "Chromecast",
        vendor_class: "dhcpcd-6.8.2:Linux-4.9:armv7l:Marvell",
    },
    HomeDevice {
        host: 13,
        mac: [0x04, 0x0e, 0x3c, 0x51, 0x30, 0x13],
        name: "HPOJ9010",
        vendor_class: "",
    },
    HomeDevice {
        host: 14,
        mac: [0x54, 0x2a, 0x1b, 0x60, 0x40, 0x14],
        name: "Sonos-Kitchen",
        vendor_class: "",
    },
    HomeDevice {
        host: 22,
        mac: [0xac, 0xed, 0x5c, 0x71, 0x50, 0x22],
        name: "media-server",
        vendor_class: "",
    },
    HomeDevice {
        host: 50,
        mac: [0xd0, 0xd0, 0x03, 0x82, 0x60, 0x50],
        name: "Galaxy-S23",
        vendor_class: "android-dhcp-14",
    },
    HomeDevice {
        host: 60,
        mac: [0x00, 0x1f, 0xa7, 0x93, 0x70, 0x60],
        name: "PS5-123",
        vendor_class: "",
    },
    HomeDevice {
        host: 66,
        mac: [0xdc, 0xa6, 0x32, 0x12, 0x34, 0x56],
        name: "kitchen-pi",
        vendor_class: "dhcpcd-9.4.1:Linux-6.1.21-v8+:aarch64:BCM2835",
    },
    HomeDevice {
        host: 70,
        mac: [0x24, 0x6f, 0x28, 0x1a, 0x2b, 0x3c],
        name: "ESP_1A2B3C",
        vendor_class: "udhcp 1.30.1",
    },
    HomeDevice {
        host: 77,
        mac: [0x04, 0x0e, 0x3c, 0x9f, 0x80, 0x77],
        name: "LAPTOP-7Q2M4",
        vendor_class: "MSFT 5.0",
    },
];

fn ether(src: [u8; 6], dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    [&dst[..], &src[..], &be16(ethertype), payload].concat()
}

fn home(host: u8) -> [u8; 4] {
    [192, 168, 1, host]
}

/// A DHCP REQUEST of device `d` (broadcast) and the router's ACK giving it its address.
fn dhcp_exchange(d: &HomeDevice) -> [Vec<u8>; 2] {
    let msg = |op: u8, yiaddr: [u8; 4], options: &[u8]| {
        let mut p = vec![0u8; 236];
        p[..3].copy_from_slice(&[op, 1, 6]);
        p[16..20].copy_from_slice(&yiaddr);
        p[28..34].copy_from_slice(&d.mac);
        [&p[..], &[99, 130, 83, 99], options, &[255]].concat()
    };
    let opt = |code: u8, v: &[u8]| [&[code, v.len() as u8][..], v].concat();
    let mut req = [
        opt(53, &[3]),
        opt(50, &home(d.host)),
        opt(12, d.name.as_bytes()),
    ]
    .concat();
    if !d.vendor_class.is_empty() {
        req.extend_from_slice(&opt(60, d.vendor_class.as_bytes()));
    }
    req.extend_from_slice(&opt(55, &[1, 3, 6, 15, 28, 51, 58, 59]));
    let bcast = [255; 4];
    [
        ether(
            d.mac,
            [0xff; 6],
            0x0800,
            &ipv4([0; 4], bcast, 17, &udp(68, 67, &msg(1, [0; 4], &req))),
        ),
        ether(
            HOME_ROUTER,
            [0xff; 6],
            0x0800,
            &ipv4(
                home(1),
                bcast,
                17,
                &udp(67, 68, &msg(2, home(d.host), &[53, 1, 5])),
            ),
        ),
    ]
}

/// An mDNS announcement from `host`: `instance` of `service` (`_ipp._tcp`) on `name`.local.
fn mdns_announcement(mac: [u8; 6], host: u8, service: &str, instance: &str, name: &str) -> Vec<u8> {
    let wire = |n: &str| -> Vec<u8> {
        let mut w: Vec<u8> = n
            .split('.')
            .flat_map(|l| [&[l.len() as u8][..], l.as_bytes()].concat())
            .collect();
        w.push(0);
        w
    };
    let rr = |owner: &[u8], ty: u16, rdata: &[u8]| {
        [
            owner,
            &be16(ty),
            &be16(0x8001),
            &4500u32.to_be_bytes(),
            &be16(rdata.len() as u16),
            rdata,
        ]
        .concat()
    };
    let svc = format!("{service}.local");
    let inst = format!("{instance}.{service}.local");
    let target = format!("{name}.local");
    let records = [
        rr(&wire(&svc), 12, &wire(&inst)),
        rr(
            &wire(&inst),
            33,
            &[&[0, 0, 0, 0, 0x1f, 0x49][..], &wire(&target)].concat(),
        ),
        rr(&wire(&target), 1, &home(host)),
    ];
    let msg = [
        &[0, 0, 0x84, 0, 0, 0, 0, records.len() as u8, 0, 0, 0, 0][..],
        &records.concat(),
    ]
    .concat();
    ether(
        mac,
        [0x01, 0, 0x5e, 0, 0, 0xfb],
        0x0800,
        &ipv4(home(host), [224, 0, 0, 251], 17, &udp(5353, 5353, &msg)),
    )
}

/// An SSDP `NOTIFY ssdp:alive` from `host` with this `SERVER` header and notification type.
fn ssdp_notify(mac: [u8; 6], host: u8, server: &str, nt: &str) -> Vec<u8> {
    let msg = format!(
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n\
         LOCATION: http://192.168.1.{host}:1400/xml/device_description.xml\r\nNT: {nt}\r\n\
         NTS: ssdp:alive\r\nSERVER: {server}\r\nUSN: uuid:demo-{host}::{nt}\r\n\r\n"
    );
    ether(
        mac,
        [0x01, 0, 0x5e, 0x7f, 0xff, 0xfa],
        0x0800,
        &ipv4(
            home(host),
            [239, 255, 255, 250],
            17,
            &udp(1900, 1900, msg.as_bytes()),
        ),
    )
}

/// The demo capture: a household's devices introducing themselves (DHCP with host names and
/// vendor classes, mDNS and SSDP announcements; real makers' MAC prefixes, one phone with a
/// randomized MAC) in the minute before the every-rule capture, whose ARP sweep comes from
/// the scanning Raspberry Pi's MAC. The dashboard's demo and README screenshots use it.
pub fn demo_capture() -> Vec<(i64, Vec<u8>)> {
    let mut frames = household(T0 - 60 * S, 150_000);
    let pi = HOUSEHOLD
        .iter()
        .find(|d| d.host == 66)
        .map_or([0; 6], |d| d.mac);
    for (ts, mut f) in every_rule_capture() {
        // ARP frames: the sender (the sweep's 192.168.1.66) speaks with its own MAC.
        if f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[28..32] == home(66) {
            f[6..12].copy_from_slice(&pi);
            f[22..28].copy_from_slice(&pi);
        }
        frames.push((ts, f));
    }
    frames
}

/// The demo household introducing itself from `start`, a message every `gap` µs (28 in all):
/// the router's ARP reply, a DHCP request and acknowledgement per device, mDNS and SSDP
/// announcements. Every frame is one the device inventory reads.
pub fn household(start: i64, gap: i64) -> Vec<(i64, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut t = start;
    let mut at = |f: Vec<u8>, t: &mut i64| {
        frames.push((*t, f));
        *t += gap;
    };
    // The router answers an ARP request first: its address is known before anyone else's.
    let mut arp_reply = arp(2, home(1), home(66));
    arp_reply[6..12].copy_from_slice(&HOME_ROUTER);
    arp_reply[22..28].copy_from_slice(&HOME_ROUTER);
    at(arp_reply, &mut t);
    for d in &HOUSEHOLD {
        for f in dhcp_exchange(d) {
            at(f, &mut t);
        }
    }
    let by = |host: u8| {
        HOUSEHOLD
            .iter()
            .find(|d| d.host == host)
            .map_or([0; 6], |d| d.mac)
    };
    at(
        mdns_announcement(
            by(12),
            12,
            "_googlecast._tcp",
            "Chromecast-Living-Room",
            "Chromecast",
        ),
        &mut t,
    );
    at(
        mdns_announcement(by(13), 13, "_ipp._tcp", "HP OfficeJet Pro 9010", "HPOJ9010"),
        &mut t,
    );
    at(
        mdns_announcement(by(5), 5, "_smb._tcp", "DiskStation", "DiskStation"),
        &mut t,
    );
    at(
        mdns_announcement(
            by(10),
            10,
            "_companion-link._tcp",
            "Anna's MacBook Air",
            "Annas-MacBook-Air",
        ),
        &mut t,
    );
    at(
        ssdp_notify(
            by(14),
            14,
            "Linux UPnP/1.0 Sonos/70.3-35220 (ZPS27)",
            "urn:schemas-upnp-org:device:ZonePlayer:1",
        ),
        &mut t,
    );
    at(
        ssdp_notify(
            HOME_ROUTER,
            1,
            "OpenWRT/OpenWrt UPnP/1.1 MiniUPnPd/2.3.3",
            "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
        ),
        &mut t,
    );
    at(
        ssdp_notify(
            by(60),
            60,
            "FreeBSD/11.0 UPnP/1.0 PlayStation/5.0",
            "upnp:rootdevice",
        ),
        &mut t,
    );
    frames
}
