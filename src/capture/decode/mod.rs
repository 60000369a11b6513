//! Decoding: one captured frame (`&[u8]` borrowed from libpcap) becomes a `PacketMeta` of
//! header fields. Pure functions, no allocation, no panics; every parser states what it rejects.
//!
//! Why our own parsers rather than `etherparse`: we need link types it does not decode
//! (Linux cooked v2, BSD NULL/LOOP, PPPoE sessions inside VLANs), ARP and ND as first-class
//! scan evidence, ICMP-quoted headers, and DNS with a bounded name walk — and we need each
//! rejection as a reason code we can count. The whole decoder is a few hundred lines of
//! bounds-checked reads over the frame, costs about 90 instructions for an Ethernet/IPv4/TCP
//! packet (the common-frame path, checksum included) and adds a few KB to the binary.
//!
//! What is tolerated rather than rejected (captures on a host see what offloading leaves):
//! a zero IPv4 total length or IPv6 payload length (TSO/GRO super-frames) means "the rest of
//! the frame"; bad IPv4 header checksums are counted as an anomaly and the packet is still
//! decoded; frames far above the MTU (up to 64 KiB and beyond) are fine, nothing is sized by
//! the MTU. Lengths on the wire are taken from the headers, so a short snaplen still gives
//! true byte counts.

pub mod dhcp;
pub mod dhcpv6;
pub mod dns;
pub mod mdns;
pub mod netbios;
pub mod psl;
pub mod ssdp;

use crate::addr::Addr;
pub use dns::DnsMeta;

/// LINKTYPE_* values from the pcap/pcapng link-type registry.
pub mod linktype {
    pub const NULL: i32 = 0;
    pub const ETHERNET: i32 = 1;
    /// DLT_RAW as OpenBSD and some Linux builds number it.
    pub const DLT_RAW_12: i32 = 12;
    pub const DLT_RAW_14: i32 = 14;
    pub const RAW: i32 = 101;
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;
    /// Every link type the decoder takes (others are `UnsupportedLinktype`).
    pub const DECODED: [i32; 10] = [
        NULL, ETHERNET, DLT_RAW_12, DLT_RAW_14, RAW, LOOP, LINUX_SLL, IPV4, IPV6, LINUX_SLL2,
    ];
}

/// Why a frame (or the DNS inside it) could not be decoded. Counted by reason in stats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DecodeError {
    EmptyFrame,
    UnsupportedLinktype,
    TruncatedLink,
    VlanTooDeep,
    TruncatedPppoe,
    TruncatedArp,
    TruncatedIp,
    BadIpVersion,
    BadIhl,
    BadIpTotalLen,
    Ipv6ExtChain,
    TruncatedTcp,
    BadTcpOffset,
    TruncatedUdp,
    TruncatedIcmp,
    DnsTruncated,
    DnsLoop,
    DnsNameTooLong,
    DnsBadLabel,
    /// Not an error: a fragment, left to the pipeline's reassembly (`m.frag` describes it).
    /// Outside `ALL`/`COUNT`, so it is never counted among the errors.
    Fragment,
}

impl DecodeError {
    pub const COUNT: usize = 19;
    pub const ALL: [DecodeError; Self::COUNT] = [
        DecodeError::EmptyFrame,
        DecodeError::UnsupportedLinktype,
        DecodeError::TruncatedLink,
        DecodeError::VlanTooDeep,
        DecodeError::TruncatedPppoe,
        DecodeError::TruncatedArp,
        DecodeError::TruncatedIp,
        DecodeError::BadIpVersion,
        DecodeError::BadIhl,
        DecodeError::BadIpTotalLen,
        DecodeError::Ipv6ExtChain,
        DecodeError::TruncatedTcp,
        DecodeError::BadTcpOffset,
        DecodeError::TruncatedUdp,
        DecodeError::TruncatedIcmp,
        DecodeError::DnsTruncated,
        DecodeError::DnsLoop,
        DecodeError::DnsNameTooLong,
        DecodeError::DnsBadLabel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DecodeError::EmptyFrame => "empty_frame",
            DecodeError::UnsupportedLinktype => "unsupported_linktype",
            DecodeError::TruncatedLink => "truncated_link",
            DecodeError::VlanTooDeep => "vlan_too_deep",
            DecodeError::TruncatedPppoe => "truncated_pppoe",
            DecodeError::TruncatedArp => "truncated_arp",
            DecodeError::TruncatedIp => "truncated_ip",
            DecodeError::BadIpVersion => "bad_ip_version",
            DecodeError::BadIhl => "bad_ihl",
            DecodeError::BadIpTotalLen => "bad_ip_total_len",
            DecodeError::Ipv6ExtChain => "ipv6_ext_chain",
            DecodeError::TruncatedTcp => "truncated_tcp",
            DecodeError::BadTcpOffset => "bad_tcp_offset",
            DecodeError::TruncatedUdp => "truncated_udp",
            DecodeError::TruncatedIcmp => "truncated_icmp",
            DecodeError::DnsTruncated => "dns_truncated",
            DecodeError::DnsLoop => "dns_loop",
            DecodeError::DnsNameTooLong => "dns_name_too_long",
            DecodeError::DnsBadLabel => "dns_bad_label",
            DecodeError::Fragment => "fragment",
        }
    }
}

/// Network layer of a decoded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Net {
    /// Not IP or ARP (LLDP, STP, EAPOL, …): counted, otherwise ignored.
    #[default]
    Other,
    Ipv4,
    Ipv6,
    /// ARP over IPv4: `src`/`dst` are the sender/target protocol addresses.
    Arp,
}

pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

/// The header an ICMP error quotes: the packet that provoked it, in its original direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quoted {
    pub proto: u8,
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
}

/// Parsed header fields of one frame. Filled in place by [`packet`]; never holds payload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PacketMeta {
    /// Wall-clock timestamp from the capture, µs since the epoch.
    pub ts: i64,
    /// Monotonic packet time (µs), set by the pipeline's clock.
    pub now: u64,
    /// `now` in whole seconds.
    pub sec: u64,
    /// Length on the wire (the pcap `len`, not the captured length).
    pub wire_len: u32,
    pub net: Net,
    pub src: Addr,
    pub dst: Addr,
    /// IP protocol number (0 for ARP/other).
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub tcp_flags: u8,
    /// L4 payload bytes on the wire (TCP/UDP), from header lengths.
    pub payload_len: u32,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// ICMP/ICMPv6 error messages: the quoted original header.
    pub quoted: Option<Quoted>,
    /// ARP operation (1 request, 2 reply).
    pub arp_op: u16,
    /// ARP target protocol address / ND target address.
    pub target: Addr,
    /// The sender's hardware address as ARP (sender hardware address) and IPv6 neighbour
    /// discovery (source or target link-layer address option) carry it, all zeros when they
    /// do not: set by those two decoders only (ARP, ICMPv6), meaningless on any other packet.
    pub ll_addr: [u8; 6],
    /// Part of a fragmented datagram: no L4 fields; `frag` describes it (valid only then).
    pub fragment: bool,
    pub frag: Fragment,
    /// The IPv4 header checksum did not verify (counted, packet still used).
    pub bad_checksum: bool,
    /// A DNS payload on port 53 that failed to parse (the packet itself is fine).
    pub dns_error: Option<DecodeError>,
    pub has_dns: bool,
    pub dns: DnsMeta,
}

impl PacketMeta {
    pub fn dns(&self) -> Option<&DnsMeta> {
        self.has_dns.then_some(&self.dns)
    }

    fn reset(&mut self, ts: i64, wire_len: u32) {
        self.ts = ts;
        self.wire_len = wire_len;
        self.net = Net::Other;
        self.src = Addr::UNSPECIFIED;
        self.dst = Addr::UNSPECIFIED;
        self.proto = 0;
        self.sport = 0;
        self.dport = 0;
        self.tcp_flags = 0;
        self.payload_len = 0;
        self.icmp_type = 0;
        self.icmp_code = 0;
        self.quoted = None;
        self.arp_op = 0;
        self.target = Addr::UNSPECIFIED;
        self.fragment = false;
        self.bad_checksum = false;
        self.dns_error = None;
        self.has_dns = false;
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[cfg_attr(not(netwatch_small), inline)]
#[cfg_attr(netwatch_small, inline(always))]
fn addr4(b: &[u8], at: usize) -> Addr {
    Addr::v4([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn addr6(b: &[u8], at: usize) -> Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Addr::v6(a)
}

const ETH_IPV4: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;
const ETH_IPV6: u16 = 0x86dd;
const ETH_PPPOE_SESSION: u16 = 0x8864;
const MAX_VLAN_TAGS: usize = 4;
const MAX_IPV6_EXT: usize = 8;

/// The network layer a link header announced, and where it starts in the frame.
#[derive(Clone, Copy)]
enum L3 {
    V4,
    V6,
    Arp,
    /// Something else (LLDP, STP, …): nothing more to decode.
    None,
}

/// Decode one frame into `m`. `wire_len` is the original length (pcap `len`).
///
/// Nearly every frame on a LAN is Ethernet → IPv4 without options or fragmentation → TCP or
/// UDP: [`common_frame`] takes those in one straight line. Everything else goes through the
/// general decoder, where the link layer only finds the network protocol and its offset and
/// the network and transport decoders run from one call site each. Both give the same
/// `PacketMeta` for the frames the first one takes (unit test).
#[inline]
pub fn packet(
    linktype: i32,
    ts: i64,
    data: &[u8],
    wire_len: u32,
    m: &mut PacketMeta,
) -> Result<(), DecodeError> {
    if linktype == linktype::ETHERNET && common_frame(ts, data, wire_len, m) {
        return Ok(());
    }
    general(linktype, ts, data, wire_len, m)
}

/// [`packet`] without the common-frame fast path (property tests compare the two).
#[doc(hidden)]
pub fn packet_general(
    linktype: i32,
    ts: i64,
    data: &[u8],
    wire_len: u32,
    m: &mut PacketMeta,
) -> Result<(), DecodeError> {
    general(linktype, ts, data, wire_len, m)
}

/// Ethernet + IPv4 (20-byte header, not a fragment) + a whole TCP or UDP header: decode it
/// and return true; anything else (or anything the checks below would have to reject) is
/// left for [`general`], untouched apart from `m`'s reset.
#[inline]
fn common_frame(ts: i64, data: &[u8], wire_len: u32, m: &mut PacketMeta) -> bool {
    // Ethernet header, IPv4 header, and the first 20 bytes after it (a TCP header, or a UDP
    // header and some payload): one length test covers every fixed-offset read below.
    let Some(f) = data.get(..54) else {
        return false;
    };
    let ip = &f[14..];
    let total = be16(ip, 2) as usize;
    let proto = ip[9];
    if be16(f, 12) != ETH_IPV4
        || ip[0] != 0x45
        || be16(ip, 6) & 0x3fff != 0
        || !matches!(proto, proto::TCP | proto::UDP)
        || total < 40
    {
        return false;
    }
    let l4 = &ip[20..];
    let l4_wire = (total - 20) as u32;
    let (sport, dport) = (be16(l4, 0), be16(l4, 2));
    let (flags, payload_len, dns_at) = if proto == proto::TCP {
        let doff = ((l4[12] >> 4) as u32) * 4;
        if doff < 20 || l4_wire < doff {
            return false;
        }
        (l4[13], l4_wire - doff, doff as usize + 2)
    } else {
        let ulen = be16(l4, 4) as u32;
        // `l4_wire` ≥ 20 here.
        (0, if ulen >= 8 { ulen - 8 } else { l4_wire - 8 }, 8)
    };
    m.reset(ts, wire_len);
    m.net = Net::Ipv4;
    m.proto = proto;
    m.src = addr4(ip, 12);
    m.dst = addr4(ip, 16);
    let mut h = [0u8; 20];
    h.copy_from_slice(&ip[..20]);
    m.bad_checksum = !header20_checksum_ok(&h);
    m.sport = sport;
    m.dport = dport;
    m.tcp_flags = flags;
    m.payload_len = payload_len;
    if sport == 53 || dport == 53 {
        // The segment as the general decoder bounds it: to the IP total length or the end of
        // the capture, whichever comes first. DNS over TCP needs a byte past its length prefix.
        let seg = &data[34..(14 + total).min(data.len())];
        if proto == proto::UDP || seg.len() > dns_at {
            dns_into(&seg[dns_at..], m);
        }
    }
    true
}

fn general(
    linktype: i32,
    ts: i64,
    data: &[u8],
    wire_len: u32,
    m: &mut PacketMeta,
) -> Result<(), DecodeError> {
    m.reset(ts, wire_len);
    if data.is_empty() {
        return Err(DecodeError::EmptyFrame);
    }
    let (l3, off) = match linktype {
        linktype::ETHERNET => {
            if data.len() < 14 {
                return Err(DecodeError::TruncatedLink);
            }
            match be16(data, 12) {
                ETH_IPV4 => (L3::V4, 14),
                et => ethernet(et, data)?,
            }
        }
        linktype::RAW | linktype::DLT_RAW_12 | linktype::DLT_RAW_14 => match data[0] >> 4 {
            4 => (L3::V4, 0),
            6 => (L3::V6, 0),
            _ => return Err(DecodeError::BadIpVersion),
        },
        linktype::IPV4 => (L3::V4, 0),
        linktype::IPV6 => (L3::V6, 0),
        linktype::LINUX_SLL => {
            if data.len() < 16 {
                return Err(DecodeError::TruncatedLink);
            }
            ethertype(be16(data, 14), data, 16)?
        }
        linktype::LINUX_SLL2 => {
            if data.len() < 20 {
                return Err(DecodeError::TruncatedLink);
            }
            ethertype(be16(data, 0), data, 20)?
        }
        linktype::NULL | linktype::LOOP => {
            if data.len() < 4 {
                return Err(DecodeError::TruncatedLink);
            }
            // NULL is in the capturing host's byte order, LOOP in network order: the family
            // is a small number, so whichever order gives one is right.
            let le = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            let family = if le > 0xffff { le.swap_bytes() } else { le };
            match family {
                2 => (L3::V4, 4),
                24 | 28 | 30 => (L3::V6, 4),
                _ => (L3::None, 4),
            }
        }
        _ => return Err(DecodeError::UnsupportedLinktype),
    };
    let Some(d) = data.get(off..) else {
        return Err(DecodeError::TruncatedLink);
    };
    match l3 {
        L3::V4 => ipv4(d, m),
        L3::V6 => ipv6(d, m),
        L3::Arp => arp(d, m),
        L3::None => Ok(()),
    }
}

/// Ethernet past a first EtherType that is not IPv4: VLAN tags — 802.1Q, 802.1ad (QinQ
/// outer) and the old 0x9100 QinQ tag — then the payload's EtherType.
#[inline(never)]
fn ethernet(mut et: u16, data: &[u8]) -> Result<(L3, usize), DecodeError> {
    let mut off = 14;
    let mut tags = 0;
    while matches!(et, 0x8100 | 0x88a8 | 0x9100) {
        tags += 1;
        if tags > MAX_VLAN_TAGS {
            return Err(DecodeError::VlanTooDeep);
        }
        if data.len() < off + 4 {
            return Err(DecodeError::TruncatedLink);
        }
        et = be16(data, off + 2);
        off += 4;
    }
    ethertype(et, data, off)
}

/// What an EtherType at `off` announces (PPPoE sessions unwrapped).
fn ethertype(et: u16, data: &[u8], off: usize) -> Result<(L3, usize), DecodeError> {
    Ok(match et {
        ETH_IPV4 => (L3::V4, off),
        ETH_IPV6 => (L3::V6, off),
        ETH_ARP => (L3::Arp, off),
        ETH_PPPOE_SESSION => {
            // ver/type, code, session id, length, then the PPP protocol field.
            if data.len() < off + 8 {
                return Err(DecodeError::TruncatedPppoe);
            }
            match be16(data, off + 6) {
                0x0021 => (L3::V4, off + 8),
                0x0057 => (L3::V6, off + 8),
                _ => (L3::None, off),
            }
        }
        _ => (L3::None, off),
    })
}

fn arp(d: &[u8], m: &mut PacketMeta) -> Result<(), DecodeError> {
    if d.len() < 8 {
        return Err(DecodeError::TruncatedArp);
    }
    let ptype = be16(d, 2);
    let (hlen, plen) = (d[4] as usize, d[5] as usize);
    if ptype != ETH_IPV4 || plen != 4 {
        return Ok(()); // ARP for something other than IPv4: not ours
    }
    if d.len() < 8 + 2 * (hlen + plen) {
        return Err(DecodeError::TruncatedArp);
    }
    m.net = Net::Arp;
    m.arp_op = be16(d, 6);
    m.ll_addr = if hlen == 6 {
        [d[8], d[9], d[10], d[11], d[12], d[13]]
    } else {
        [0; 6]
    };
    m.src = addr4(d, 8 + hlen);
    m.dst = addr4(d, 8 + 2 * hlen + plen);
    m.target = m.dst;
    Ok(())
}

/// The link-layer address option of type `want` (1 source, 2 target) among neighbour
/// discovery options (RFC 4861 §4.6: type, length in units of 8 bytes, value) when it holds
/// an Ethernet address, else all zeros.
fn nd_link_addr(mut opts: &[u8], want: u8) -> [u8; 6] {
    while let [ty, len, ..] = *opts {
        let n = len as usize * 8;
        if n == 0 || n > opts.len() {
            break;
        }
        if ty == want && n == 8 {
            return [opts[2], opts[3], opts[4], opts[5], opts[6], opts[7]];
        }
        opts = &opts[n..];
    }
    [0; 6]
}

/// One's-complement sum of the header (IHL is a multiple of 4), eight bytes at a time with
/// the carry wrapped around, folded to 16 bits. The sum does not depend on byte order
/// (RFC 1071 §2), so the words are loaded as they lie in memory, without swapping.
#[inline]
fn ipv4_checksum_ok(h: &[u8]) -> bool {
    #[inline]
    fn add(a: u64, b: u64) -> u64 {
        let (s, carry) = a.overflowing_add(b);
        s + carry as u64
    }
    let mut sum: u64 = 0;
    let mut words = h.chunks_exact(8);
    for c in &mut words {
        sum = add(
            sum,
            u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        );
    }
    if let [a, b, c, d] = *words.remainder() {
        sum = add(sum, u32::from_ne_bytes([a, b, c, d]) as u64);
    }
    let sum = add(sum & 0xffff_ffff, sum >> 32);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    sum == 0xffff
}

/// [`ipv4_checksum_ok`] of a 20-byte header, as straight-line code: five 32-bit words summed
/// in 64 bits cannot overflow, then folded to 16 bits.
#[inline(always)]
fn header20_checksum_ok(h: &[u8; 20]) -> bool {
    let w = |i: usize| u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]) as u64;
    let s = w(0) + w(4) + w(8) + w(12) + w(16);
    // s < 5·2^32: two folds leave at most 0x10004, and a third would only turn 0x10000..=
    // 0x10004 into 1..=5 — never 0xffff — so the second fold can be compared directly.
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s == 0xffff
}

fn ipv4(d: &[u8], m: &mut PacketMeta) -> Result<(), DecodeError> {
    if d.len() < 20 {
        return Err(DecodeError::TruncatedIp);
    }
    if d[0] >> 4 != 4 {
        return Err(DecodeError::BadIpVersion);
    }
    let ihl = ((d[0] & 0x0f) as usize) * 4;
    if ihl < 20 {
        return Err(DecodeError::BadIhl);
    }
    if d.len() < ihl {
        return Err(DecodeError::TruncatedIp);
    }
    let total = be16(d, 2) as usize;
    // Zero total length: a TSO/GRO super-frame whose length the kernel left unset.
    let total = if total == 0 { d.len() } else { total };
    if total < ihl {
        return Err(DecodeError::BadIpTotalLen);
    }
    m.net = Net::Ipv4;
    m.proto = d[9];
    m.src = addr4(d, 12);
    m.dst = addr4(d, 16);
    m.bad_checksum = !ipv4_checksum_ok(&d[..ihl]);
    let frag = be16(d, 6);
    let more = frag & 0x2000 != 0;
    let offset = frag & 0x1fff;
    let end = total.min(d.len());
    if more || offset != 0 {
        // The pipeline reassembles; the transport header is decoded from the whole datagram.
        m.fragment = true;
        let payload = &d[ihl..end];
        m.frag = Fragment {
            id: be16(d, 4) as u32,
            offset: offset as u32 * 8,
            more,
            at: payload.as_ptr() as usize,
            len: payload.len().min(u16::MAX as usize) as u16,
            wire_len: (total - ihl) as u16,
        };
        return Err(DecodeError::Fragment);
    }
    transport(&d[ihl..end], (total - ihl) as u32, m)
}

fn ipv6(d: &[u8], m: &mut PacketMeta) -> Result<(), DecodeError> {
    if d.len() < 40 {
        return Err(DecodeError::TruncatedIp);
    }
    if d[0] >> 4 != 6 {
        return Err(DecodeError::BadIpVersion);
    }
    let plen = be16(d, 4) as usize;
    // Zero payload length: jumbogram or GSO super-frame — take the captured rest.
    let plen = if plen == 0 { d.len() - 40 } else { plen };
    m.net = Net::Ipv6;
    m.src = addr6(d, 8);
    m.dst = addr6(d, 24);
    let mut nh = d[6];
    let mut off = 40usize;
    let mut seen = 0;
    loop {
        match nh {
            // hop-by-hop, routing, destination options, mobility, HIP, shim6
            0 | 43 | 60 | 135 | 139 | 140 => {
                seen += 1;
                if seen > MAX_IPV6_EXT {
                    return Err(DecodeError::Ipv6ExtChain);
                }
                if d.len() < off + 2 {
                    return Err(DecodeError::TruncatedIp);
                }
                nh = d[off];
                off += (d[off + 1] as usize + 1) * 8;
            }
            44 => {
                seen += 1;
                if seen > MAX_IPV6_EXT {
                    return Err(DecodeError::Ipv6ExtChain);
                }
                if d.len() < off + 8 {
                    return Err(DecodeError::TruncatedIp);
                }
                m.fragment = true;
                let fo = be16(d, off + 2);
                let id = u32::from_be_bytes([d[off + 4], d[off + 5], d[off + 6], d[off + 7]]);
                m.proto = d[off];
                off += 8;
                let wire_end = 40 + plen;
                let payload = d.get(off..wire_end.min(d.len())).unwrap_or(&[]);
                m.frag = Fragment {
                    id,
                    offset: (fo >> 3) as u32 * 8,
                    more: fo & 1 != 0,
                    at: payload.as_ptr() as usize,
                    len: payload.len().min(u16::MAX as usize) as u16,
                    wire_len: wire_end.saturating_sub(off).min(u16::MAX as usize) as u16,
                };
                return Err(DecodeError::Fragment);
            }
            51 => {
                seen += 1;
                if seen > MAX_IPV6_EXT {
                    return Err(DecodeError::Ipv6ExtChain);
                }
                if d.len() < off + 2 {
                    return Err(DecodeError::TruncatedIp);
                }
                nh = d[off];
                off += (d[off + 1] as usize + 2) * 4;
            }
            _ => break,
        }
    }
    if off > d.len() || off > 40 + plen {
        return Err(DecodeError::TruncatedIp);
    }
    m.proto = nh;
    if nh == 59 {
        return Ok(()); // no next header
    }
    let end = (40 + plen).min(d.len());
    transport(&d[off..end], (40 + plen - off) as u32, m)
}

/// The transport header of a reassembled datagram (`m.proto` set by its fragments):
/// `payload` is its kept start, `l4_wire` its whole length.
pub fn datagram(payload: &[u8], l4_wire: u32, m: &mut PacketMeta) -> Result<(), DecodeError> {
    transport(payload, l4_wire, m)
}

/// L4 of an unfragmented datagram. `l4_wire` is the L4 length from the IP header.
fn transport(d: &[u8], l4_wire: u32, m: &mut PacketMeta) -> Result<(), DecodeError> {
    match m.proto {
        proto::TCP => {
            if d.len() < 20 {
                return Err(DecodeError::TruncatedTcp);
            }
            let doff = ((d[12] >> 4) as usize) * 4;
            if doff < 20 || (l4_wire as usize) < doff {
                return Err(DecodeError::BadTcpOffset);
            }
            m.sport = be16(d, 0);
            m.dport = be16(d, 2);
            m.tcp_flags = d[13];
            m.payload_len = l4_wire - doff as u32;
            if (m.sport == 53 || m.dport == 53) && d.len() > doff + 2 {
                // DNS over TCP: a 2-byte length, then the message. Only a segment that starts
                // a message is parsed; continuation segments are not DNS headers.
                dns_into(&d[doff + 2..], m);
            }
            Ok(())
        }
        proto::UDP => {
            if d.len() < 8 {
                return Err(DecodeError::TruncatedUdp);
            }
            m.sport = be16(d, 0);
            m.dport = be16(d, 2);
            let ulen = be16(d, 4) as u32;
            m.payload_len = if ulen >= 8 {
                ulen - 8
            } else {
                l4_wire.saturating_sub(8)
            };
            if m.sport == 53 || m.dport == 53 {
                dns_into(&d[8..], m);
            }
            Ok(())
        }
        proto::ICMP => {
            if d.len() < 4 {
                return Err(DecodeError::TruncatedIcmp);
            }
            m.icmp_type = d[0];
            m.icmp_code = d[1];
            m.payload_len = l4_wire.saturating_sub(8);
            // Errors that quote the offending datagram: unreachable, source quench, redirect,
            // time exceeded, parameter problem.
            if matches!(d[0], 3 | 4 | 5 | 11 | 12) && d.len() >= 8 + 20 {
                m.quoted = quoted_v4(&d[8..]);
            }
            Ok(())
        }
        proto::ICMPV6 => {
            if d.len() < 4 {
                return Err(DecodeError::TruncatedIcmp);
            }
            m.icmp_type = d[0];
            m.icmp_code = d[1];
            m.payload_len = l4_wire.saturating_sub(8);
            m.ll_addr = [0; 6];
            match d[0] {
                1..=4 if d.len() >= 8 + 40 => m.quoted = quoted_v6(&d[8..]),
                // Neighbour solicitation / advertisement: the target address.
                135 | 136 if d.len() >= 24 => {
                    m.target = addr6(d, 8);
                    m.ll_addr = nd_link_addr(&d[24..], if d[0] == 135 { 1 } else { 2 });
                }
                // Router solicitation and advertisement: options after 8 and 16 bytes.
                133 if d.len() >= 8 => m.ll_addr = nd_link_addr(&d[8..], 1),
                134 if d.len() >= 16 => m.ll_addr = nd_link_addr(&d[16..], 1),
                _ => {}
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn quoted_ports(proto: u8, l4: &[u8]) -> (u16, u16) {
    if matches!(proto, proto::TCP | proto::UDP) && l4.len() >= 4 {
        (be16(l4, 0), be16(l4, 2))
    } else {
        (0, 0)
    }
}

fn quoted_v4(q: &[u8]) -> Option<Quoted> {
    if q[0] >> 4 != 4 {
        return None;
    }
    let ihl = ((q[0] & 0x0f) as usize) * 4;
    if ihl < 20 || q.len() < ihl {
        return None;
    }
    let proto = q[9];
    let (sport, dport) = quoted_ports(proto, &q[ihl..]);
    Some(Quoted {
        proto,
        src: addr4(q, 12),
        dst: addr4(q, 16),
        sport,
        dport,
    })
}

fn quoted_v6(q: &[u8]) -> Option<Quoted> {
    if q[0] >> 4 != 6 {
        return None;
    }
    let proto = q[6];
    let (sport, dport) = quoted_ports(proto, &q[40..]);
    Some(Quoted {
        proto,
        src: addr6(q, 8),
        dst: addr6(q, 24),
        sport,
        dport,
    })
}

fn dns_into(payload: &[u8], m: &mut PacketMeta) {
    match dns::parse(payload, &mut m.dns) {
        Ok(()) => m.has_dns = true,
        Err(e) => m.dns_error = Some(e),
    }
}

/// One fragment as the decoder found it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    pub id: u32,
    /// Offset of this fragment's payload in the datagram, bytes.
    pub offset: u32,
    pub more: bool,
    /// Where the fragment's payload starts — its address in memory, which the pipeline turns
    /// back into an offset in the frame it passed to the decoder — and its captured length.
    pub at: usize,
    pub len: u16,
    /// The payload's length on the wire (the IP header's, even if the capture cut it).
    pub wire_len: u16,
}

/// The captured TCP or UDP payload of frame `data`, which `m` was decoded from, found from
/// the end:
/// a frame is its link header, then the IP packet, whose last `payload_len` bytes are the
/// payload, so the payload starts `payload_len` bytes before the frame's length on the wire
/// (captured or cut by the snapshot length). A frame with a trailer (an FCS) gives bytes a
/// few places late, which match no HTTP start or DHCP header: the caller reads nothing.
#[cold]
#[inline(never)]
pub fn l4_payload<'a>(m: &PacketMeta, data: &'a [u8]) -> &'a [u8] {
    (m.wire_len as usize)
        .checked_sub(m.payload_len as usize)
        .and_then(|at| data.get(at..))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet/IPv4 frame with a TCP or UDP header, optionally carrying a DNS query.
    fn frame(tcp: bool, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let l4_len = if tcp { 20 } else { 8 } + payload.len();
        let total = 20 + l4_len;
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64]);
        f.push(if tcp { 6 } else { 17 });
        f.extend_from_slice(&[0, 0, 192, 168, 1, 2, 10, 0, 0, 1]);
        // A valid header checksum (mutations below break it again, or not).
        let sum = f[14..34]
            .chunks(2)
            .fold(0u32, |a, c| a + u16::from_be_bytes([c[0], c[1]]) as u32);
        let sum = (sum & 0xffff) + (sum >> 16);
        let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
        f[24..26].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        if tcp {
            f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        } else {
            f.extend_from_slice(&(l4_len as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn the_common_frame_path_decodes_exactly_as_the_general_one() {
        let query = [
            0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'w', b'w', 7, b'e', b'x', b'a',
            b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
        ];
        let mut tcp_dns = (query.len() as u16).to_be_bytes().to_vec();
        tcp_dns.extend_from_slice(&query);
        let seeds = [
            frame(true, 40000, 443, &[]),
            frame(true, 443, 40000, &[7; 100]),
            frame(false, 5353, 53, &query),
            frame(false, 53, 33000, &query),
            frame(true, 41000, 53, &tcp_dns),
            frame(false, 1000, 2000, &[1; 12]),
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut fast, mut checked, mut bad) = (0, 0, 0);
        for i in 0..200_000 {
            let mut f = seeds[i % seeds.len()].clone();
            // Flip a few bytes in the headers (or just past them), sometimes cut the frame.
            for _ in 0..(rnd() % 4) {
                let at = (rnd() % 70) as usize;
                if let Some(b) = f.get_mut(at) {
                    *b = match rnd() % 4 {
                        0 => 0,
                        1 => 0xff,
                        2 => *b ^ (1 << (rnd() % 8)),
                        _ => rnd() as u8,
                    };
                }
            }
            if rnd() % 8 == 0 {
                f.truncate((rnd() % 90) as usize);
            }
            let mut a = PacketMeta::default();
            let mut b = PacketMeta::default();
            let ra = packet(linktype::ETHERNET, 7, &f, 1500, &mut a);
            let rb = general(linktype::ETHERNET, 7, &f, 1500, &mut b);
            assert_eq!(ra, rb, "frame {f:02x?}");
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "frame {f:02x?}");
            let mut c = PacketMeta::default();
            if common_frame(7, &f, 1500, &mut c) {
                fast += 1;
                bad += c.bad_checksum as u32;
            }
            checked += 1;
        }
        // The fast path really ran for most frames, and the general one for the rest; it saw
        // good and bad header checksums.
        assert!(fast > checked / 4 && fast < checked, "{fast} of {checked}");
        assert!(
            bad > fast / 10 && bad < fast * 9 / 10,
            "{bad} bad of {fast}"
        );
    }
}
