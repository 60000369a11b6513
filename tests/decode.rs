//! Decoder tests on byte literals: every link type and layer, then truncated and hostile input.
//! Each literal is a real header layout written out by hand (offsets in the comments).

use netwatch::addr::Addr;
use netwatch::decode::{self, dns, linktype, DecodeError, Net, PacketMeta};

fn h(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn dec(lt: i32, b: &[u8]) -> (Result<(), DecodeError>, PacketMeta) {
    let mut m = PacketMeta::default();
    let r = decode::packet(lt, 1, b, b.len() as u32, &mut m);
    (r, m)
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> Addr {
    Addr::v4([a, b, c, d])
}

// IPv4 10.0.0.1 -> 10.0.0.2, TCP 40000 -> 22, SYN. Header checksum 0x149a is correct.
const IPV4_TCP_SYN: &str = "45 00 00 28 12 34 40 00 40 06 14 9a 0a 00 00 01 0a 00 00 02
                            9c 40 00 16 00 00 03 e8 00 00 00 00 50 02 ff ff 00 00 00 00";
const ETH_HDR_V4: &str = "02 00 00 00 00 02 02 00 00 00 00 01 08 00";

#[test]
fn ethernet_ipv4_tcp() {
    let f = h(&format!("{ETH_HDR_V4} {IPV4_TCP_SYN}"));
    let (r, m) = dec(linktype::ETHERNET, &f);
    assert_eq!(r, Ok(()));
    assert_eq!(m.net, Net::Ipv4);
    assert_eq!((m.src, m.dst), (v4(10, 0, 0, 1), v4(10, 0, 0, 2)));
    assert_eq!(
        (m.proto, m.sport, m.dport, m.tcp_flags),
        (6, 40000, 22, 0x02)
    );
    assert_eq!(m.payload_len, 0);
    assert!(!m.bad_checksum, "checksum in the literal is right");
}

#[test]
fn bad_ipv4_checksum_is_counted_not_dropped() {
    let mut f = h(&format!("{ETH_HDR_V4} {IPV4_TCP_SYN}"));
    f[14 + 10] ^= 0xff;
    let (r, m) = dec(linktype::ETHERNET, &f);
    assert_eq!(r, Ok(()));
    assert!(m.bad_checksum);
    assert_eq!(m.dport, 22);
}

#[test]
fn ipv4_checksum_over_options_with_carries() {
    // IHL 6 (router-alert option), bytes chosen so the sum carries many times; 0x6577 is right.
    let hdr = "46 00 00 2c ff ff 40 00 ff 06 65 77 c0 a8 ff fe c0 a8 ff ff 94 04 00 00";
    let tcp = "9c 40 00 16 00 00 03 e8 00 00 00 00 50 02 ff ff 00 00 00 00";
    let mut f = h(&format!("{ETH_HDR_V4} {hdr} {tcp}"));
    let (r, m) = dec(linktype::ETHERNET, &f);
    assert_eq!(r, Ok(()));
    assert!(!m.bad_checksum);
    assert_eq!(m.dport, 22, "TCP found after the options");
    // Any single flipped bit, in the options too, is caught.
    for at in [14, 14 + 11, 14 + 21] {
        f[at] ^= 0x01;
        assert!(dec(linktype::ETHERNET, &f).1.bad_checksum, "byte {at}");
        f[at] ^= 0x01;
    }
}

#[test]
fn vlan_qinq_and_pppoe() {
    let vlan = h(&format!(
        "02 00 00 00 00 02 02 00 00 00 00 01 81 00 00 64 08 00 {IPV4_TCP_SYN}"
    ));
    assert_eq!(dec(linktype::ETHERNET, &vlan).1.dport, 22);
    let qinq = h(&format!(
        "02 00 00 00 00 02 02 00 00 00 00 01 88 a8 00 0a 81 00 00 64 08 00 {IPV4_TCP_SYN}"
    ));
    assert_eq!(dec(linktype::ETHERNET, &qinq).1.dport, 22);
    // PPPoE session: ver/type 11, code 00, session 0x0001, length 0x002a, PPP proto 0x0021.
    let pppoe = h(&format!(
        "02 00 00 00 00 02 02 00 00 00 00 01 88 64 11 00 00 01 00 2a 00 21 {IPV4_TCP_SYN}"
    ));
    let (r, m) = dec(linktype::ETHERNET, &pppoe);
    assert_eq!(r, Ok(()));
    assert_eq!((m.src, m.dport), (v4(10, 0, 0, 1), 22));
    // Five stacked tags: refused.
    let deep = h(&format!(
        "02 00 00 00 00 02 02 00 00 00 00 01 {} 08 00 {IPV4_TCP_SYN}",
        "81 00 00 01 ".repeat(5)
    ));
    assert_eq!(
        dec(linktype::ETHERNET, &deep).0,
        Err(DecodeError::VlanTooDeep)
    );
}

#[test]
fn linux_cooked_v1_v2_null_loop_raw() {
    // SLL: pkttype 0000, arphrd 0001, addrlen 0006, addr 8 bytes, protocol 0800.
    let sll = h(&format!(
        "00 00 00 01 00 06 02 00 00 00 00 01 00 00 08 00 {IPV4_TCP_SYN}"
    ));
    assert_eq!(dec(linktype::LINUX_SLL, &sll).1.dport, 22);
    // SLL2: protocol 0800, reserved, ifindex 2, arphrd 1, pkttype 0, addrlen 6, addr.
    let sll2 = h(&format!(
        "08 00 00 00 00 00 00 02 00 01 00 06 02 00 00 00 00 01 00 00 {IPV4_TCP_SYN}"
    ));
    assert_eq!(dec(linktype::LINUX_SLL2, &sll2).1.dport, 22);
    // BSD NULL, family 2 in little-endian host order; LOOP in network order.
    assert_eq!(
        dec(linktype::NULL, &h(&format!("02 00 00 00 {IPV4_TCP_SYN}")))
            .1
            .dport,
        22
    );
    assert_eq!(
        dec(linktype::LOOP, &h(&format!("00 00 00 02 {IPV4_TCP_SYN}")))
            .1
            .dport,
        22
    );
    assert_eq!(dec(linktype::RAW, &h(IPV4_TCP_SYN)).1.dport, 22);
    assert_eq!(dec(linktype::IPV4, &h(IPV4_TCP_SYN)).1.dport, 22);
    assert_eq!(
        dec(147, &h(IPV4_TCP_SYN)).0,
        Err(DecodeError::UnsupportedLinktype)
    );
}

// IPv6 fd00::1 -> fd00::2, hop-by-hop (8 bytes) then UDP 5353 -> 53 with a DNS query.
fn ipv6_hbh_udp_dns() -> Vec<u8> {
    let dns =
        "ab cd 01 00 00 01 00 00 00 00 00 00 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00 00 1c 00 01";
    let udp_len = 8 + h(dns).len();
    let payload_len = 8 + udp_len;
    h(&format!(
        "60 00 00 00 {:04x} 00 40 fd00 0000 0000 0000 0000 0000 0000 0001 fd00 0000 0000 0000 0000 0000 0000 0002
         11 00 01 04 00 00 00 00   d4 31 00 35 {:04x} 00 00 {dns}",
        payload_len, udp_len
    ))
}

#[test]
fn ipv6_extension_headers_udp_dns() {
    let (r, m) = dec(linktype::RAW, &ipv6_hbh_udp_dns());
    assert_eq!(r, Ok(()));
    assert_eq!(m.net, Net::Ipv6);
    assert_eq!((m.proto, m.sport, m.dport), (17, 54321, 53));
    let d = m.dns().expect("dns parsed");
    assert_eq!(d.id, 0xabcd);
    assert!(!d.response);
    assert_eq!(d.name(), b"example.com");
    assert_eq!(d.qtype, 28);
    assert_eq!(d.registered_domain(), b"example.com");
    assert_eq!(d.labels, 2);
}

#[test]
fn ipv6_chain_of_100_headers_is_refused() {
    let mut ext = String::new();
    for _ in 0..100 {
        ext.push_str("3c 00 01 04 00 00 00 00 "); // destination options, next = 60 again
    }
    let len = 100 * 8;
    let p = h(&format!(
        "60 00 00 00 {len:04x} 3c 40 fd00 0000 0000 0000 0000 0000 0000 0001 fd00 0000 0000 0000 0000 0000 0000 0002 {ext}"
    ));
    assert_eq!(dec(linktype::RAW, &p).0, Err(DecodeError::Ipv6ExtChain));
}

#[test]
fn ipv4_options_and_fragments() {
    // IHL 6 (one 4-byte option: NOP NOP NOP EOL), first fragment with MF set.
    let first = h(
        "46 00 00 2c 00 01 20 00 40 06 00 00 0a 00 00 01 0a 00 00 02 01 01 01 00
                   9c 40 00 50 00 00 00 01 00 00 00 00 50 02 ff ff 00 00 00 00",
    );
    let (r, m) = dec(linktype::RAW, &first);
    assert_eq!(r, Err(DecodeError::Fragment), "left to reassembly");
    assert!(m.fragment);
    assert_eq!(m.dport, 0, "transport headers are read after reassembly");
    assert_eq!(
        (
            m.frag.id,
            m.frag.offset,
            m.frag.more,
            m.frag.len,
            m.frag.wire_len
        ),
        (1, 0, true, 20, 20)
    );
    // Offset 185 (×8): no L4 header here.
    let later =
        h("45 00 00 1c 00 01 00 b9 40 06 00 00 0a 00 00 01 0a 00 00 02 de ad be ef 00 00 00 00");
    let (r, m) = dec(linktype::RAW, &later);
    assert_eq!(r, Err(DecodeError::Fragment));
    assert!(m.fragment);
    assert_eq!((m.sport, m.dport), (0, 0));
    assert_eq!(
        (m.frag.offset, m.frag.more, m.frag.wire_len),
        (1480, false, 8)
    );
    assert_eq!(
        dec(
            linktype::RAW,
            &h("44 00 00 14 00 00 00 00 40 06 00 00 0a 00 00 01 0a 00 00 02")
        )
        .0,
        Err(DecodeError::BadIhl)
    );
    assert_eq!(
        dec(
            linktype::RAW,
            &h("45 00 00 10 00 00 00 00 40 06 00 00 0a 00 00 01 0a 00 00 02")
        )
        .0,
        Err(DecodeError::BadIpTotalLen)
    );
}

#[test]
fn arp_request_and_reply() {
    let req = h(
        "ff ff ff ff ff ff 02 00 00 00 00 01 08 06 00 01 08 00 06 04 00 01
                 02 00 00 00 00 01 c0 a8 01 42 00 00 00 00 00 00 c0 a8 01 07",
    );
    let (r, m) = dec(linktype::ETHERNET, &req);
    assert_eq!(r, Ok(()));
    assert_eq!(m.net, Net::Arp);
    assert_eq!(m.arp_op, 1);
    assert_eq!((m.src, m.target), (v4(192, 168, 1, 66), v4(192, 168, 1, 7)));
}

#[test]
fn icmp_unreachable_quotes_the_udp_probe() {
    // ICMP port unreachable from 10.0.0.2 quoting UDP 10.0.0.1:40000 -> 10.0.0.2:161.
    let p = h(
        "45 00 00 38 00 00 00 00 40 01 00 00 0a 00 00 02 0a 00 00 01
               03 03 00 00 00 00 00 00
               45 00 00 1c 00 00 00 00 40 11 00 00 0a 00 00 01 0a 00 00 02 9c 40 00 a1 00 08 00 00",
    );
    let (r, m) = dec(linktype::RAW, &p);
    assert_eq!(r, Ok(()));
    assert_eq!((m.icmp_type, m.icmp_code), (3, 3));
    let q = m.quoted.expect("quoted header");
    assert_eq!(
        (q.proto, q.src, q.dst, q.sport, q.dport),
        (17, v4(10, 0, 0, 1), v4(10, 0, 0, 2), 40000, 161)
    );
}

#[test]
fn icmpv6_neighbour_solicitation_target() {
    let ns = h("60 00 00 00 00 18 3a ff fd00 0000 0000 0000 0000 0000 0000 0001 ff02 0000 0000 0000 0000 0001 ff00 0007
                87 00 00 00 00 00 00 00 fd00 0000 0000 0000 0000 0000 0000 0007");
    let (r, m) = dec(linktype::RAW, &ns);
    assert_eq!(r, Ok(()));
    assert_eq!(m.icmp_type, 135);
    assert_eq!(
        m.target,
        Addr::v6([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7])
    );
}

fn udp_dns(dns: &str) -> Vec<u8> {
    let d = h(dns);
    let mut p = h(&format!(
        "45 00 {:04x} 00 00 00 00 40 11 00 00 0a 00 00 01 0a 00 00 02 c0 00 00 35 {:04x} 00 00",
        28 + d.len(),
        8 + d.len()
    ));
    p.extend_from_slice(&d);
    p
}

#[test]
fn dns_compression_pointer_and_loops() {
    // Response whose question name is a pointer back into... itself: offset 12 points to 12.
    let (r, m) = dec(
        linktype::RAW,
        &udp_dns("00 01 81 80 00 01 00 00 00 00 00 00 c0 0c 00 01 00 01"),
    );
    assert_eq!(r, Ok(()), "the packet decodes; only its DNS is refused");
    assert_eq!(m.dns_error, Some(DecodeError::DnsLoop));
    assert!(m.dns().is_none());
    // Forward pointer: also refused.
    assert_eq!(
        dec(
            linktype::RAW,
            &udp_dns("00 01 81 80 00 01 00 00 00 00 00 00 c0 20 00 01 00 01")
        )
        .1
        .dns_error,
        Some(DecodeError::DnsLoop)
    );
    // Label type 0x40 is reserved.
    assert_eq!(
        dec(
            linktype::RAW,
            &udp_dns("00 01 01 00 00 01 00 00 00 00 00 00 41 61 00 00 01 00 01")
        )
        .1
        .dns_error,
        Some(DecodeError::DnsBadLabel)
    );
    // Name longer than 255 bytes: five labels of 63.
    let long = format!(
        "00 01 01 00 00 01 00 00 00 00 00 00 {} 00 00 01 00 01",
        format!("3f {} ", "61 ".repeat(63)).repeat(5)
    );
    assert_eq!(
        dec(linktype::RAW, &udp_dns(&long)).1.dns_error,
        Some(DecodeError::DnsNameTooLong)
    );
    // Upper case is folded, entropy and label figures filled.
    let (_, m) = dec(linktype::RAW, &udp_dns("00 01 01 00 00 01 00 00 00 00 00 00 04 4d 41 49 4c 07 45 78 61 6d 70 6c 65 02 63 6f 02 75 6b 00 00 0f 00 01"));
    let d = m.dns().unwrap();
    assert_eq!(d.name(), b"mail.example.co.uk");
    assert_eq!(d.registered_domain(), b"example.co.uk");
    assert_eq!(d.subdomain_len(), 4);
    assert!(d.tld_listed);
    assert_eq!(d.encoded_len(), 4);
    assert_eq!(d.longest_label, 7);
    assert_eq!(d.qtype, 15);
    // The hashes the detector keys by are those of the text (what config allowlists hash).
    assert_eq!(d.reg_hash, dns::name_hash(b"example.co.uk"));
    assert_eq!(d.name_hash, dns::name_hash(b"mail.example.co.uk"));
    assert_ne!(d.reg_hash, d.name_hash);
    // A label longer than eight bytes, folded a word at a time across the bytes after it (the
    // last label above, "uk" with only five bytes after it, took the byte-by-byte path).
    let (_, m) = dec(linktype::RAW, &udp_dns("00 01 01 00 00 01 00 00 00 00 00 00 0b 41 42 43 44 45 46 47 48 49 4a 4b 03 63 6f 6d 00 00 10 00 01"));
    let d = m.dns().unwrap();
    assert_eq!(d.name(), b"abcdefghijk.com");
    assert_eq!(d.name_hash, dns::name_hash(b"abcdefghijk.com"));
    // Under a TLD the list does not know, the whole name is what may carry data.
    let (_, m) = dec(linktype::RAW, &udp_dns("00 01 01 00 00 01 00 00 00 00 00 00 06 64 6e 73 63 61 74 10 34 66 32 61 39 63 30 31 64 37 65 33 62 35 61 38 00 00 10 00 01"));
    let d = m.dns().unwrap();
    assert_eq!(d.name(), b"dnscat.4f2a9c01d7e3b5a8");
    assert!(!d.tld_listed);
    assert_eq!((d.subdomain_len(), d.encoded_len()), (0, 23));
    assert!(d.sub_entropy_milli > 3000, "{}", d.sub_entropy_milli);
    // The same question in a response: walked and counted, the name not kept.
    let (_, m) = dec(linktype::RAW, &udp_dns("00 01 81 80 00 01 00 00 00 00 00 00 0b 41 42 43 44 45 46 47 48 49 4a 4b 03 63 6f 6d 00 00 10 00 01"));
    let d = m.dns().unwrap();
    assert!(d.response);
    assert_eq!((d.labels, d.longest_label, d.qtype), (2, 11, 16));
    assert_eq!(d.name(), b"");
    assert_eq!(d.registered_domain(), b"");
}

#[test]
fn dns_over_tcp() {
    // TCP 40000 -> 53 with PSH|ACK, 2-byte length prefix then the message.
    let dns = h("00 07 01 00 00 01 00 00 00 00 00 00 01 61 02 62 63 00 00 10 00 01");
    let mut seg = h("9c 40 00 35 00 00 00 01 00 00 00 01 50 18 ff ff 00 00 00 00");
    seg.extend_from_slice(&(dns.len() as u16).to_be_bytes());
    seg.extend_from_slice(&dns);
    let mut p = h(&format!(
        "45 00 {:04x} 00 00 00 00 40 06 00 00 0a 00 00 01 0a 00 00 02",
        20 + seg.len()
    ));
    p.extend_from_slice(&seg);
    let (r, m) = dec(linktype::RAW, &p);
    assert_eq!(r, Ok(()));
    assert_eq!(m.dns().unwrap().name(), b"a.bc");
    assert_eq!(m.dns().unwrap().qtype, 16);
}

#[test]
fn gro_superframe_and_zero_lengths() {
    // 60 KiB TCP segment as GRO hands it over, with total length 0 (TSO) and a real one.
    let mut p = h("45 00 00 00 00 00 40 00 40 06 00 00 0a 00 00 01 0a 00 00 02 9c 40 01 bb 00 00 00 01 00 00 00 01 50 10 ff ff 00 00 00 00");
    p.extend(std::iter::repeat_n(0x55, 60_000));
    let (r, m) = dec(linktype::RAW, &p);
    assert_eq!(r, Ok(()));
    assert_eq!(m.payload_len, 60_000);
    assert_eq!(dec(linktype::ETHERNET, &[]).0, Err(DecodeError::EmptyFrame));
}

/// Every prefix of every literal decodes to Ok or a counted error; never a panic.
#[test]
fn every_truncation_of_every_literal_is_safe() {
    let literals: Vec<(i32, Vec<u8>)> = vec![
        (linktype::ETHERNET, h(&format!("{ETH_HDR_V4} {IPV4_TCP_SYN}"))),
        (linktype::ETHERNET, h(&format!("02 00 00 00 00 02 02 00 00 00 00 01 88 64 11 00 00 01 00 2a 00 21 {IPV4_TCP_SYN}"))),
        (linktype::LINUX_SLL2, h(&format!("08 00 00 00 00 00 00 02 00 01 00 06 02 00 00 00 00 01 00 00 {IPV4_TCP_SYN}"))),
        (linktype::LINUX_SLL, h(&format!("00 00 00 01 00 06 02 00 00 00 00 01 00 00 08 00 {IPV4_TCP_SYN}"))),
        (linktype::NULL, h(&format!("1e 00 00 00 {}", "60 00 00 00 00 00 3b 40 ".to_string() + &"00 ".repeat(32)))),
        (linktype::RAW, ipv6_hbh_udp_dns()),
        (linktype::RAW, udp_dns("00 01 81 80 00 01 00 00 00 00 00 00 c0 0c 00 01 00 01")),
        (linktype::ETHERNET, h("ff ff ff ff ff ff 02 00 00 00 00 01 08 06 00 01 08 00 06 04 00 01 02 00 00 00 00 01 c0 a8 01 42 00 00 00 00 00 00 c0 a8 01 07")),
    ];
    for (lt, full) in literals {
        for n in 0..=full.len() {
            let (_r, _m) = dec(lt, &full[..n]);
        }
        // Hostile bytes: flip each byte in turn.
        for i in 0..full.len() {
            let mut b = full.clone();
            b[i] ^= 0xff;
            let _ = dec(lt, &b);
        }
    }
    assert_eq!(
        dec(
            linktype::ETHERNET,
            &h("02 00 00 00 00 02 02 00 00 00 00 01 08 00 45 00")
        )
        .0,
        Err(DecodeError::TruncatedIp)
    );
    assert_eq!(
        dec(linktype::LINUX_SLL2, &h("08 00 00 00")).0,
        Err(DecodeError::TruncatedLink)
    );
    assert_eq!(
        dec(
            linktype::RAW,
            &h("45 00 00 1e 00 00 00 00 40 06 00 00 0a 00 00 01 0a 00 00 02 9c 40 00 16 00 00")
        )
        .0,
        Err(DecodeError::TruncatedTcp)
    );
}

#[test]
fn random_garbage_never_panics() {
    let mut x: u64 = 0x1234_5678_9abc_def0;
    let mut buf = vec![0u8; 1600];
    for round in 0..20_000 {
        let len = (round * 7919) % buf.len();
        for b in buf[..len].iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        // Make many of them look like IP so the deeper layers are reached.
        if len > 0 && round % 2 == 0 {
            buf[0] = 0x45;
        }
        for lt in [
            linktype::ETHERNET,
            linktype::RAW,
            linktype::LINUX_SLL2,
            linktype::NULL,
        ] {
            let _ = dec(lt, &buf[..len]);
        }
    }
}
