//! The device inventory through the whole pipeline: frames as a LAN sends them (ARP, DHCP
//! with host names and vendor classes, IPv6 neighbour discovery, mDNS announcements) and
//! what the inventory then says about each device.

mod support;

use netwatch::addr::Addr;
use netwatch::config::FileConfig;
use netwatch::pipeline::Pipeline;
use netwatch::state::devices::{locally_administered, Kind, KindEvidence, NameSource};
use support::*;

const PHONE: [u8; 6] = [0xda, 0xa1, 0x19, 0x10, 0x20, 0x30];
const LAPTOP: [u8; 6] = [0x3c, 0x22, 0xfb, 0x01, 0x02, 0x03];
const ROUTER: [u8; 6] = [0x94, 0x83, 0xc4, 0xaa, 0xbb, 0xcc];

fn frame(src: [u8; 6], dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn arp_from(mac: [u8; 6], op: u16, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&mac);
    a.extend_from_slice(&sender);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target);
    frame(mac, [0xff; 6], 0x0806, &a)
}

/// A DHCP message (BOOTREQUEST `op` 1 or BOOTREPLY 2) for client `mac` with `options`.
fn dhcp(op: u8, mac: [u8; 6], yiaddr: [u8; 4], options: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = op;
    p[1] = 1;
    p[2] = 6;
    p[16..20].copy_from_slice(&yiaddr);
    p[28..34].copy_from_slice(&mac);
    p.extend_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(options);
    p.push(255);
    p
}

fn dhcp_frame(
    eth_src: [u8; 6],
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    msg: &[u8],
) -> Vec<u8> {
    frame(
        eth_src,
        [0xff; 6],
        0x0800,
        &ipv4(src, dst, 17, &udp(sport, dport, msg)),
    )
}

fn opt(code: u8, value: &[u8]) -> Vec<u8> {
    let mut o = vec![code, value.len() as u8];
    o.extend_from_slice(value);
    o
}

/// ICMPv6 neighbour discovery: `typ` with `body` (after the 4-byte header) from `mac`.
fn nd(mac: [u8; 6], src: [u8; 16], dst: [u8; 16], typ: u8, body: &[u8]) -> Vec<u8> {
    let mut i = vec![typ, 0, 0, 0];
    i.extend_from_slice(body);
    frame(
        mac,
        [0x33, 0x33, 0, 0, 0, 1],
        0x86dd,
        &ipv6(src, dst, 58, &i),
    )
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

fn run(frames: &[Vec<u8>]) -> Pipeline {
    let cfg = FileConfig::parse("", "t").unwrap().validate().unwrap();
    let mut p = Pipeline::new(&cfg);
    for (i, f) in frames.iter().enumerate() {
        p.process(1, T0 + i as i64 * 100_000, f, f.len() as u32, &mut |_| {});
    }
    p
}

#[test]
fn dhcp_names_a_device_and_gives_its_address_and_arp_follows_a_new_one() {
    let req = [
        opt(53, &[3]),
        opt(12, b"Pixel-7"),
        opt(60, b"android-dhcp-14"),
        opt(55, &[1, 3, 6, 15, 26, 28, 51, 58, 59, 43]),
    ]
    .concat();
    let ack = [opt(53, &[5]), opt(54, &[192, 168, 1, 1])].concat();
    let p = run(&[
        // DISCOVER and REQUEST from 0.0.0.0 to the broadcast address (one flow, one way).
        dhcp_frame(
            PHONE,
            [0; 4],
            68,
            [255; 4],
            67,
            &dhcp(
                1,
                PHONE,
                [0; 4],
                &[opt(53, &[1]), opt(12, b"Pixel-7")].concat(),
            ),
        ),
        dhcp_frame(
            PHONE,
            [0; 4],
            68,
            [255; 4],
            67,
            &dhcp(1, PHONE, [0; 4], &req),
        ),
        // OFFER, then ACK from the server (one flow, one way: both read).
        dhcp_frame(
            ROUTER,
            v4("192.168.1.1"),
            67,
            [255; 4],
            68,
            &dhcp(2, PHONE, v4("192.168.1.60"), &[opt(53, &[2])].concat()),
        ),
        dhcp_frame(
            ROUTER,
            v4("192.168.1.1"),
            67,
            [255; 4],
            68,
            &dhcp(2, PHONE, v4("192.168.1.50"), &ack),
        ),
        // The laptop answers the router's ARP; later it moves to another address.
        arp_from(LAPTOP, 2, v4("192.168.1.20"), v4("192.168.1.1")),
        arp_from(LAPTOP, 1, v4("192.168.1.21"), v4("192.168.1.1")),
        // An ARP probe (sender 0.0.0.0) adds no address.
        arp_from(LAPTOP, 1, [0; 4], v4("192.168.1.22")),
    ]);
    let inv = p.devices();
    let phone = inv.get(&PHONE).expect("the phone is learnt from DHCP");
    assert_eq!(&phone.name[..], b"Pixel-7");
    assert_eq!(phone.name_source, NameSource::Dhcp);
    assert_eq!(&phone.vendor_class[..], b"android-dhcp-14");
    assert_eq!(phone.dhcp_options, 10);
    assert_ne!(phone.dhcp_fingerprint, 0);
    assert_eq!(
        (phone.kind, phone.kind_evidence),
        (Kind::Phone, KindEvidence::VendorClass)
    );
    // The ACK's address, not the OFFER's.
    assert_eq!(phone.ipv4(), Some(Addr::v4(v4("192.168.1.50"))));
    assert!(locally_administered(&PHONE));

    let laptop = inv.get(&LAPTOP).expect("the laptop is learnt from ARP");
    assert_eq!(laptop.ipv4(), Some(Addr::v4(v4("192.168.1.21"))));
    assert!(laptop.has_addr(&Addr::v4(v4("192.168.1.20"))));
    assert!(!laptop.has_addr(&Addr::v4(v4("192.168.1.22"))));
    assert!(!locally_administered(&LAPTOP));
    // Makers from the built-in table; a randomized MAC has none.
    assert_eq!(laptop.vendor.as_str(), "Apple");
    assert_eq!(phone.vendor.as_str(), "");
    assert_eq!(
        inv.by_addr(&Addr::v4(v4("192.168.1.21"))).map(|(m, _)| *m),
        Some(LAPTOP)
    );
    // The server's address in a DHCP reply is not its client's.
    assert!(inv.by_addr(&Addr::v4(v4("192.168.1.1"))).is_none());
    assert!(laptop.first_seen < laptop.last_seen);
    assert_eq!(inv.counters.added, 2);
}

#[test]
fn neighbour_discovery_learns_ipv6_addresses_and_the_router() {
    let ll = v6("fe80::1");
    let laptop_ll = v6("fe80::3e22:fbff:fe01:203");
    let privacy = v6("2001:db8::8d3a:11f2:4e01:77");
    let slla = |mac: [u8; 6]| [&[1u8, 1][..], &mac].concat();
    let tlla = |mac: [u8; 6]| [&[2u8, 1][..], &mac].concat();
    let ns_body = |target: [u8; 16], mac: Option<[u8; 6]>| {
        let mut b = vec![0; 4];
        b.extend_from_slice(&target);
        if let Some(m) = mac {
            b.extend_from_slice(&slla(m));
        }
        b
    };
    let mut na_body = vec![0x60, 0, 0, 0];
    na_body.extend_from_slice(&privacy);
    na_body.extend_from_slice(&tlla(LAPTOP));
    let mut ra_body = vec![64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
    ra_body.extend_from_slice(&slla(ROUTER));
    let p = run(&[
        nd(ROUTER, ll, v6("ff02::1"), 134, &ra_body),
        // Duplicate address detection (no source, no option): nothing to learn.
        nd(
            LAPTOP,
            [0; 16],
            v6("ff02::1:ff01:77"),
            135,
            &ns_body(privacy, None),
        ),
        nd(
            LAPTOP,
            laptop_ll,
            v6("ff02::1:ff00:1"),
            135,
            &ns_body(ll, Some(LAPTOP)),
        ),
        nd(LAPTOP, privacy, v6("fe80::1"), 136, &na_body),
    ]);
    let inv = p.devices();
    let router = inv
        .get(&ROUTER)
        .expect("the router is learnt from its advertisement");
    assert_eq!(
        (router.kind, router.kind_evidence),
        (Kind::Router, KindEvidence::ServesTheLan)
    );
    assert!(router.has_addr(&Addr::v6(ll)));
    let laptop = inv
        .get(&LAPTOP)
        .expect("the laptop is learnt from its solicitation");
    assert!(laptop.has_addr(&Addr::v6(laptop_ll)));
    assert!(laptop.has_addr(&Addr::v6(privacy)));
    assert_eq!(laptop.ipv4(), None);
}

/// A DHCPv6 client message (type `typ`) from `src`:546 to the servers' group, with options
/// given as (code, value).
fn dhcpv6(mac: [u8; 6], src: [u8; 16], typ: u8, options: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = vec![typ, 0xab, 0xcd, 0xef];
    for (code, v) in options {
        m.extend_from_slice(&code.to_be_bytes());
        m.extend_from_slice(&(v.len() as u16).to_be_bytes());
        m.extend_from_slice(v);
    }
    frame(
        mac,
        [0x33, 0x33, 0, 1, 0, 2],
        0x86dd,
        &ipv6(src, v6("ff02::1:2"), 17, &udp(546, 547, &m)),
    )
}

#[test]
fn a_dhcpv6_client_is_named_by_its_fqdn_on_the_device_its_address_or_duid_names() {
    let laptop_ll = v6("fe80::3e22:fbff:fe01:203");
    let phone_ll = v6("fe80::d8a1:19ff:fe10:2030");
    let mut slla = vec![0u8; 4];
    slla.extend_from_slice(&v6("fe80::1"));
    slla.extend_from_slice(&[1, 1]);
    slla.extend_from_slice(&LAPTOP);
    let mut duid_llt = vec![0, 1, 0, 1, 0x2c, 0x11, 0x22, 0x33];
    duid_llt.extend_from_slice(&PHONE);
    let mut windows = vec![0, 0, 1, 0x37, 0, 8];
    windows.extend_from_slice(b"MSFT 5.0");
    let p = run(&[
        // The laptop is known by its link-local address (neighbour discovery) before it asks;
        // its DUID (another interface's address) does not move the name elsewhere.
        nd(LAPTOP, laptop_ll, v6("ff02::1:ff00:1"), 135, &slla),
        dhcpv6(
            LAPTOP,
            laptop_ll,
            1,
            &[
                (1, &duid_llt),
                (16, &windows),
                (39, b"\x01\x0cstudy-laptop\x04home\x00"),
            ],
        ),
        // The phone is new: its DUID-LLT names it, and its address goes with it.
        dhcpv6(
            PHONE,
            phone_ll,
            11,
            &[(1, &duid_llt), (39, b"\x00\x09Galaxy-S9")],
        ),
        // A server's reply (type 7) from 547 teaches nothing.
        frame(
            ROUTER,
            LAPTOP,
            0x86dd,
            &ipv6(
                v6("fe80::1"),
                laptop_ll,
                17,
                &udp(
                    547,
                    546,
                    &[7, 0xab, 0xcd, 0xef, 0, 39, 0, 5, 0, 3, b'b', b'a', b'd'],
                ),
            ),
        ),
    ]);
    let inv = p.devices();
    let laptop = inv.get(&LAPTOP).expect("the laptop");
    assert_eq!(&laptop.name[..], b"study-laptop");
    assert_eq!(laptop.name_source, NameSource::Dhcp);
    assert_eq!(&laptop.vendor_class[..], b"MSFT 5.0");
    assert_eq!(laptop.kind, Kind::Laptop);
    let phone = inv.get(&PHONE).expect("the phone, from its DUID");
    assert_eq!(&phone.name[..], b"Galaxy-S9");
    assert!(phone.has_addr(&Addr::v6(phone_ll)));
    assert_eq!(phone.kind, Kind::Phone);
    assert_eq!(inv.len(), 2, "the server's reply adds no device");
    assert_eq!(inv.counters.malformed, 0);
}

#[test]
fn the_inventory_keeps_its_capacity_and_counts_what_it_forgets() {
    let cfg = FileConfig::parse("[capacity]\ndevices = 16\n", "t")
        .unwrap()
        .validate()
        .unwrap();
    let mut p = Pipeline::new(&cfg);
    for i in 0..40u8 {
        let mac = [0x3c, 0x22, 0xfb, 0, 0, i];
        let f = arp_from(mac, 1, [10, 0, 0, i + 1], [10, 0, 0, 254]);
        p.process(1, T0 + i as i64 * 1000, &f, f.len() as u32, &mut |_| {});
    }
    let inv = p.devices();
    assert_eq!(inv.len(), 16);
    assert_eq!(inv.counters.added, 40);
    assert_eq!(inv.counters.evicted, 24);
    // The newest are kept.
    assert!(inv.get(&[0x3c, 0x22, 0xfb, 0, 0, 39]).is_some());
    assert!(inv.get(&[0x3c, 0x22, 0xfb, 0, 0, 0]).is_none());
}

fn wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in name.split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

fn rr(owner: &[u8], ty: u16, rdata: &[u8]) -> Vec<u8> {
    let mut r = owner.to_vec();
    r.extend_from_slice(&ty.to_be_bytes());
    r.extend_from_slice(&[0x80, 1, 0, 0, 0x11, 0x94]);
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

/// An mDNS message (`response` or a query) from `mac`/`src` to 224.0.0.251.
fn mdns(mac: [u8; 6], src: [u8; 4], response: bool, records: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![
        0,
        0,
        if response { 0x84 } else { 0 },
        0,
        0,
        0,
        0,
        records.len() as u8,
    ];
    m.extend_from_slice(&[0, 0, 0, 0]);
    for r in records {
        m.extend_from_slice(r);
    }
    let ip = ipv4(src, [224, 0, 0, 251], 17, &udp(5353, 5353, &m));
    frame(mac, [0x01, 0, 0x5e, 0, 0, 0xfb], 0x0800, &ip)
}

#[test]
fn mdns_announcements_name_a_known_device_and_say_what_it_is() {
    const TV: [u8; 6] = [0x54, 0x60, 0x09, 0x11, 0x22, 0x33];
    const PRINTER: [u8; 6] = [0x00, 0x80, 0x77, 0x44, 0x55, 0x66];
    let mut srv = vec![0, 0, 0, 0, 0x1f, 0x49];
    srv.extend_from_slice(&wire("Living-Room-TV.local"));
    let cast = [
        rr(
            &wire("_googlecast._tcp.local"),
            12,
            &wire("Living Room TV._googlecast._tcp.local"),
        ),
        rr(&wire("Living Room TV._googlecast._tcp.local"), 33, &srv),
        rr(&wire("Living-Room-TV.local"), 1, &[192, 168, 1, 50]),
    ];
    let ipp = [
        rr(
            &wire("_ipp._tcp.local"),
            12,
            &wire("Office._ipp._tcp.local"),
        ),
        rr(&wire("office-printer.local"), 1, &[192, 168, 1, 9]),
    ];
    let p = run(&[
        arp_from(TV, 2, v4("192.168.1.50"), v4("192.168.1.1")),
        arp_from(PRINTER, 2, v4("192.168.1.9"), v4("192.168.1.1")),
        arp_from(PHONE, 2, v4("192.168.1.42"), v4("192.168.1.1")),
        mdns(TV, v4("192.168.1.50"), true, &cast),
        mdns(PRINTER, v4("192.168.1.9"), true, &ipp),
        // A phone's question names nothing of its own.
        mdns(PHONE, v4("192.168.1.42"), false, &[]),
        // An answer from an address no device has is left alone.
        mdns(LAPTOP, v4("192.168.1.77"), true, &ipp),
    ]);
    let inv = p.devices();
    let tv = inv.get(&TV).unwrap();
    assert_eq!(&tv.name[..], b"Living-Room-TV");
    assert_eq!(tv.name_source, NameSource::Mdns);
    assert_eq!(tv.kind, Kind::Tv);
    assert_eq!(tv.kind_evidence.as_str(), "_googlecast");
    assert_eq!(tv.vendor.as_str(), "Google");
    let printer = inv.get(&PRINTER).unwrap();
    assert_eq!(printer.vendor.as_str(), "Brother");
    assert_eq!(&printer.name[..], b"office-printer");
    assert_eq!(
        (printer.kind, printer.kind_evidence.as_str()),
        (Kind::Printer, "_ipp")
    );
    let phone = inv.get(&PHONE).unwrap();
    assert!(phone.name.is_empty());
    assert_eq!(phone.kind, Kind::Unknown);
    assert!(inv.get(&LAPTOP).is_none());
    assert_eq!(inv.counters.malformed, 0);
}

#[test]
fn a_users_label_is_applied_kept_over_what_is_learnt_and_can_be_taken_back() {
    use netwatch::web::DeviceLabel;
    let mut p = run(&[arp_from(LAPTOP, 2, v4("192.168.1.20"), v4("192.168.1.1"))]);
    let label = |name: Option<&str>, kind| DeviceLabel {
        mac: LAPTOP,
        name: name.map(str::to_string),
        kind,
    };
    let applied = netwatch::daemon::apply_labels(
        &mut p,
        &[
            label(Some("Work laptop"), Some(Kind::Laptop)),
            DeviceLabel {
                mac: PHONE,
                name: Some("unknown".into()),
                kind: None,
            },
        ],
    );
    assert_eq!(applied, 1, "a device not in the inventory takes no label");
    // DHCP later says otherwise: the user's label stays.
    let req = [opt(53, &[3]), opt(12, b"MacBook-Pro")].concat();
    let f = dhcp_frame(
        LAPTOP,
        [0; 4],
        68,
        [255; 4],
        67,
        &dhcp(1, LAPTOP, [0; 4], &req),
    );
    p.process(1, T0 + 10_000_000, &f, f.len() as u32, &mut |_| {});
    let d = p.devices().get(&LAPTOP).unwrap();
    assert_eq!(
        (&d.name[..], d.name_source),
        (&b"Work laptop"[..], NameSource::User)
    );
    assert_eq!(
        (d.kind, d.kind_evidence),
        (Kind::Laptop, KindEvidence::User)
    );
    // An empty name gives the learnt one back at the next message.
    netwatch::daemon::apply_labels(&mut p, &[label(Some(""), None)]);
    p.process(1, T0 + 11_000_000, &f, f.len() as u32, &mut |_| {});
    let d = p.devices().get(&LAPTOP).unwrap();
    assert_eq!(
        (&d.name[..], d.name_source),
        (&b"MacBook-Pro"[..], NameSource::Dhcp)
    );
}

#[test]
fn alerts_name_the_devices_of_their_parties() {
    // A Raspberry Pi that named itself over DHCP scans the NAS it shares the LAN with.
    const PI: [u8; 6] = [0xb8, 0x27, 0xeb, 0x44, 0x55, 0x66];
    const NAS: [u8; 6] = [0x00, 0x11, 0x32, 0x01, 0x02, 0x03];
    let cfg = FileConfig::parse("", "t").unwrap().validate().unwrap();
    let mut p = Pipeline::new(&cfg);
    let mut alerts = Vec::new();
    let at = |p: &mut Pipeline, t: i64, f: &[u8], alerts: &mut Vec<netwatch::detect::Alert>| {
        p.process(1, T0 + t, f, f.len() as u32, &mut |a| {
            alerts.push(a.clone())
        });
    };
    let req = [opt(53, &[3]), opt(12, b"kitchen-pi\x07")].concat();
    at(
        &mut p,
        0,
        &dhcp_frame(PI, [0; 4], 68, [255; 4], 67, &dhcp(1, PI, [0; 4], &req)),
        &mut alerts,
    );
    let ack = [opt(53, &[5])].concat();
    at(
        &mut p,
        1000,
        &dhcp_frame(
            NAS,
            v4("192.168.1.1"),
            67,
            [255; 4],
            68,
            &dhcp(2, PI, v4("192.168.1.66"), &ack),
        ),
        &mut alerts,
    );
    at(
        &mut p,
        2000,
        &arp_from(NAS, 2, v4("192.168.1.10"), v4("192.168.1.66")),
        &mut alerts,
    );
    // Two seconds later (the engine's copy of the inventory is a second old at most), the
    // scan: SYNs to 100 ports, each refused.
    for port in 0..100u16 {
        let t = 2_000_000 + port as i64 * 1000;
        let syn = frame(
            PI,
            NAS,
            0x0800,
            &ipv4(
                v4("192.168.1.66"),
                v4("192.168.1.10"),
                6,
                &tcp(40000, 1000 + port, SYN, &[]),
            ),
        );
        let rst = frame(
            NAS,
            PI,
            0x0800,
            &ipv4(
                v4("192.168.1.10"),
                v4("192.168.1.66"),
                6,
                &tcp(1000 + port, 40000, RST | ACK, &[]),
            ),
        );
        at(&mut p, t, &syn, &mut alerts);
        at(&mut p, t + 100, &rst, &mut alerts);
    }
    p.finish(&mut |a| alerts.push(a.clone()));
    // Each device counts the alerts of the day that named it.
    let named = |mac: [u8; 6]| {
        alerts
            .iter()
            .filter(|a| {
                [&a.src_device, &a.dst_device]
                    .iter()
                    .any(|d| d.as_ref().is_some_and(|d| d.mac == mac))
            })
            .count() as u32
    };
    assert!(named(PI) >= 1);
    for mac in [PI, NAS] {
        assert_eq!(p.devices().get(&mac).unwrap().alerts_today, named(mac));
    }
    let a = alerts
        .iter()
        .find(|a| a.rule == netwatch::detect::RuleId::PortscanVertical)
        .expect("the scan is caught");
    let src = a.src_device.as_ref().expect("the scanner's device");
    assert_eq!((src.mac, src.vendor.as_str()), (PI, "Raspberry Pi"));
    assert_eq!(src.name.as_str(), "kitchen-pi\u{7}");
    let dst = a.dst_device.as_ref().expect("the victim's device");
    assert_eq!(dst.mac, NAS);
    let mut eve = String::new();
    netwatch::output::eve::write_alert(&mut eve, a);
    let v: serde_json::Value = serde_json::from_str(eve.trim()).unwrap();
    assert_eq!(v["netwatch"]["src_device"]["mac"], "b8:27:eb:44:55:66");
    assert_eq!(v["netwatch"]["src_device"]["vendor"], "Raspberry Pi");
    assert_eq!(v["netwatch"]["dest_device"]["mac"], "00:11:32:01:02:03");
    let explanation = v["netwatch"]["explanation"].as_str().unwrap();
    assert!(
        explanation.starts_with("kitchen-pi\\u{7} (Raspberry Pi, 192.168.1.66) tried"),
        "{explanation}"
    );
    // The NAS has no name: its maker's device, by address.
    assert!(
        explanation.contains(" on Synology device 192.168.1.10 "),
        "{explanation}"
    );
    // Syslog (both formats) and the language model's data block carry it too, escaped.
    for fmt in [
        netwatch::output::syslog::SyslogFormat::Rfc5424,
        netwatch::output::syslog::SyslogFormat::Rfc3164,
    ] {
        let mut line = String::new();
        netwatch::output::syslog::format(&mut line, fmt, 1, "", 7, a);
        assert!(
            line.contains("src_mac") && line.contains("b8:27:eb:44:55:66"),
            "{line}"
        );
        // The bell escaped (and the escape's backslash escaped again in RFC 5424's
        // structured data).
        assert!(
            line.contains(r"kitchen-pi\x07") || line.contains(r"kitchen-pi\\x07"),
            "{line}"
        );
        assert!(line.contains("dst_kind"), "{line}");
        assert!(!line.contains('\u{7}'), "{line:?}");
    }
    // The API's alert object (live and stored) names them too.
    let msg = netwatch::web::alert_message(7, a);
    let v: serde_json::Value = serde_json::from_str(&msg).expect("the message is JSON");
    assert_eq!(v["alert"]["src_device"]["name"], "kitchen-pi\u{7}");
    assert_eq!(v["alert"]["dst_device"]["vendor"], "Synology");
    // Stored and read back: the same.
    let dir = std::env::temp_dir().join(format!("netwatch-dev-alert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut scfg = cfg.store.clone();
    scfg.path = dir.join("n.db").display().to_string();
    scfg.max_age_s = 3650 * 86_400;
    let mut st = netwatch::store::Store::new(scfg);
    st.add_alert(a);
    st.close();
    let q = netwatch::store::Query {
        limit: 10,
        ..Default::default()
    };
    let rows = netwatch::store::query(&dir.join("n.db"), 1, &q).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].devices.contains("\"mac\":\"b8:27:eb:44:55:66\""),
        "{}",
        rows[0].devices
    );
    let _ = std::fs::remove_dir_all(&dir);
    let data = netwatch::enrich::alert_data(a);
    let v: serde_json::Value = serde_json::from_str(&data).expect("the data block is JSON");
    assert_eq!(v["source_device"]["name"], "kitchen-pi\u{7}");
    assert_eq!(v["destination_device"]["vendor"], "Synology");
}

#[test]
fn ssdp_and_netbios_say_what_known_devices_are_and_what_they_are_called() {
    const ROKU: [u8; 6] = [0xb0, 0xa7, 0x37, 0x01, 0x02, 0x03];
    const PC: [u8; 6] = [0x00, 0x15, 0x5d, 0x0a, 0x0b, 0x0c];
    let notify = b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: urn:dial-multiscreen-org:service:dial:1\r\n\
        NTS: ssdp:alive\r\nSERVER: Roku/12.0.0 UPnP/1.0 Roku/12.0.0\r\n\r\n";
    let search = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: urn:schemas-upnp-org:device:MediaRenderer:1\r\n\r\n";
    // A NetBIOS name registration of DESKTOP-7Q2 (opcode 5, broadcast).
    let mut nb = vec![0x12, 0x34, 0x29, 0x10, 0, 1, 0, 0, 0, 0, 0, 1, 32];
    let mut raw = *b"DESKTOP-7Q2     ";
    raw[15] = 0;
    for b in raw {
        nb.push(b'A' + (b >> 4));
        nb.push(b'A' + (b & 0xf));
    }
    nb.extend_from_slice(&[0, 0, 0x20, 0, 1]);
    let udp_from = |mac, src: &str, sport, dst: &str, dport, payload: &[u8]| {
        frame(
            mac,
            [0xff; 6],
            0x0800,
            &ipv4(v4(src), v4(dst), 17, &udp(sport, dport, payload)),
        )
    };
    let p = run(&[
        arp_from(ROKU, 2, v4("192.168.1.60"), v4("192.168.1.1")),
        arp_from(PC, 2, v4("192.168.1.61"), v4("192.168.1.1")),
        udp_from(ROKU, "192.168.1.60", 1900, "239.255.255.250", 1900, notify),
        // The PC searches: that says nothing of what it is.
        udp_from(PC, "192.168.1.61", 50000, "239.255.255.250", 1900, search),
        udp_from(PC, "192.168.1.61", 137, "192.168.1.255", 137, &nb),
    ]);
    let inv = p.devices();
    let roku = inv.get(&ROKU).unwrap();
    assert_eq!(
        (roku.kind, roku.kind_evidence),
        (Kind::Tv, KindEvidence::Upnp)
    );
    assert!(roku.upnp_server.starts_with(b"Roku/12.0.0"));
    let pc = inv.get(&PC).unwrap();
    assert_eq!(
        (&pc.name[..], pc.name_source),
        (&b"DESKTOP-7Q2"[..], NameSource::Netbios)
    );
    assert_eq!(pc.kind, Kind::Unknown);
    assert!(pc.upnp_server.is_empty());
}

/// Frames fed to `p` from `t` µs after `T0`, a millisecond apart; alerts kept.
fn feed(p: &mut Pipeline, t: i64, frames: Vec<Vec<u8>>, alerts: &mut Vec<netwatch::detect::Alert>) {
    for (i, f) in frames.iter().enumerate() {
        p.process(1, T0 + t + i as i64 * 1000, f, f.len() as u32, &mut |a| {
            alerts.push(a.clone())
        });
    }
}

/// A whole HTTPS session from `ip` to a server outside the home.
fn session(ip: &str) -> Vec<Vec<u8>> {
    let (c, s) = (v4(ip), v4("93.184.216.34"));
    let seg = |from_c: bool, flags: u8, data: &[u8]| {
        let (a, b, sp, dp) = if from_c {
            (c, s, 40000, 443)
        } else {
            (s, c, 443, 40000)
        };
        frame(
            [0x02, 0, 0, 0, 0, 9],
            [0x02, 0, 0, 0, 0, 8],
            0x0800,
            &ipv4(a, b, 6, &tcp(sp, dp, flags, data)),
        )
    };
    vec![
        seg(true, SYN, &[]),
        seg(false, SYN | ACK, &[]),
        seg(true, ACK, &[]),
        seg(true, PSH | ACK, b"hello"),
        seg(false, PSH | ACK, b"world"),
        seg(true, FIN | ACK, &[]),
        seg(false, FIN | ACK, &[]),
        seg(true, ACK, &[]),
    ]
}

fn arp_reply(mac: [u8; 6], ip: &str) -> Vec<Vec<u8>> {
    vec![arp_from(mac, 2, v4(ip), v4("192.168.1.1"))]
}

fn host_news(alerts: &[netwatch::detect::Alert]) -> Vec<&netwatch::detect::Alert> {
    alerts
        .iter()
        .filter(|a| a.rule == netwatch::detect::RuleId::HostNew)
        .collect()
}

const X: [u8; 6] = [0x3c, 0x22, 0xfb, 0x0a, 0x0a, 0x0a];
const Y: [u8; 6] = [0x3c, 0x22, 0xfb, 0x0b, 0x0b, 0x0b];
const DAY: i64 = 86_400_000_000;
const MINUTE: i64 = 60_000_000;

#[test]
fn baselines_follow_the_device_and_only_a_new_mac_is_a_new_host() {
    let cfg = FileConfig::parse("", "t").unwrap().validate().unwrap();
    let mut p = Pipeline::new(&cfg);
    let mut alerts = Vec::new();
    // Day 0: X is seen (the sensor's first day: nobody is new).
    feed(&mut p, 0, arp_reply(X, "192.168.1.20"), &mut alerts);
    feed(&mut p, 2_000_000, session("192.168.1.20"), &mut alerts);
    // Two days later a new device, Y, and its first session: new.
    feed(&mut p, 2 * DAY, arp_reply(Y, "192.168.1.30"), &mut alerts);
    feed(
        &mut p,
        2 * DAY + 2_000_000,
        session("192.168.1.30"),
        &mut alerts,
    );
    // X comes back on another address: the same device, not new; its baseline moves.
    feed(
        &mut p,
        2 * DAY + 10_000_000,
        arp_reply(X, "192.168.1.21"),
        &mut alerts,
    );
    feed(
        &mut p,
        2 * DAY + 12_000_000,
        session("192.168.1.21"),
        &mut alerts,
    );
    p.finish(&mut |a| alerts.push(a.clone()));
    let new = host_news(&alerts);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0].src, netwatch::addr::Addr::v4(v4("192.168.1.30")));
    assert_eq!(new[0].src_device.as_ref().map(|d| d.mac), Some(Y));
    let hosts = &p.engine().hosts;
    assert_eq!(hosts.counters.moved, 1);
    assert_eq!(hosts.entries(), 2, "X's baseline moved, not doubled");
}

#[test]
fn baselines_find_their_device_after_a_restart_and_leave_an_address_another_device_takes() {
    let cfg = FileConfig::parse("", "t").unwrap().validate().unwrap();
    let mut alerts = Vec::new();
    // First run, day 0: X has a baseline on .20.
    let mut p = Pipeline::new(&cfg);
    feed(&mut p, 0, arp_reply(X, "192.168.1.20"), &mut alerts);
    feed(&mut p, 2_000_000, session("192.168.1.20"), &mut alerts);
    // What the daemon stores and restores: the baselines (by address only) and the devices.
    let mut rows = Vec::new();
    p.engine().hosts.export(|a, b| rows.push((*a, *b)));
    let since = p.engine().hosts.since;
    let devices: Vec<_> = p.devices().iter().map(|(m, d)| (*m, d.clone())).collect();
    let mut p = Pipeline::new(&cfg);
    p.devices_mut().restore(devices);
    p.engine_mut().hosts.import(since, &mut rows);
    // Two days later, after a minute: the restored baseline has its device again.
    feed(&mut p, 2 * DAY, arp_reply(X, "192.168.1.20"), &mut alerts);
    feed(&mut p, 2 * DAY + MINUTE + 1_000_000, vec![], &mut alerts);
    feed(
        &mut p,
        2 * DAY + 2 * MINUTE,
        arp_reply(X, "192.168.1.20"),
        &mut alerts,
    );
    assert_eq!(p.engine().hosts.counters.adopted, 1);
    // X moves to .21 and talks from there: its baseline follows, nobody is new.
    feed(
        &mut p,
        2 * DAY + 3 * MINUTE,
        arp_reply(X, "192.168.1.21"),
        &mut alerts,
    );
    feed(
        &mut p,
        2 * DAY + 3 * MINUTE + 2_000_000,
        session("192.168.1.21"),
        &mut alerts,
    );
    assert_eq!(p.engine().hosts.counters.moved, 1);
    assert_eq!(p.engine().hosts.entries(), 1);
    // X moves on to .22 without a word yet, and a new device, Y, takes .21: within a minute
    // X's baseline leaves .21 for .22, and Y's first session there is Y's own (new).
    feed(
        &mut p,
        2 * DAY + 4 * MINUTE,
        arp_reply(X, "192.168.1.22"),
        &mut alerts,
    );
    feed(
        &mut p,
        2 * DAY + 4 * MINUTE + 1_000_000,
        arp_reply(Y, "192.168.1.21"),
        &mut alerts,
    );
    feed(
        &mut p,
        2 * DAY + 5 * MINUTE + 1_000_000,
        arp_reply(Y, "192.168.1.21"),
        &mut alerts,
    );
    let hosts = &p.engine().hosts;
    assert_eq!((hosts.counters.handed_over, hosts.counters.moved), (1, 2));
    feed(
        &mut p,
        2 * DAY + 6 * MINUTE,
        session("192.168.1.21"),
        &mut alerts,
    );
    feed(
        &mut p,
        2 * DAY + 6 * MINUTE + 2_000_000,
        session("192.168.1.22"),
        &mut alerts,
    );
    p.finish(&mut |a| alerts.push(a.clone()));
    let new = host_news(&alerts);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0].src, netwatch::addr::Addr::v4(v4("192.168.1.21")));
    assert_eq!(new[0].src_device.as_ref().map(|d| d.mac), Some(Y));
    let hosts = &p.engine().hosts;
    assert_eq!(
        hosts.entries(),
        2,
        "X on .22 with its baseline, Y on .21 with a new one"
    );
    assert_eq!(
        hosts.counters.moved, 2,
        "X's session on .22 found its baseline there"
    );
}

#[test]
fn each_device_counts_its_traffic_of_the_day_by_the_minute() {
    let cfg = FileConfig::parse("", "t").unwrap().validate().unwrap();
    let mut p = Pipeline::new(&cfg);
    let mut alerts = Vec::new();
    let bytes_of = |f: &[Vec<u8>]| f.iter().map(|f| f.len() as u64).sum::<u64>();
    let today = |p: &Pipeline| {
        let d = p.devices().get(&X).unwrap();
        (d.today, d.bytes_today)
    };
    feed(&mut p, 0, arp_reply(X, "192.168.1.20"), &mut alerts);
    let s = session("192.168.1.20");
    // The flow is reported when both FINs are seen: the last ACK comes after.
    let bytes = bytes_of(&s[..s.len() - 1]);
    feed(&mut p, 2_000_000, s, &mut alerts);
    assert_eq!(today(&p).1, 0, "counted when its minute is judged");
    // The minutes after: the session's bytes, both ways, on the day it happened; a second
    // session adds to them.
    feed(
        &mut p,
        2 * MINUTE,
        arp_reply(X, "192.168.1.20"),
        &mut alerts,
    );
    let day = (T0 + 2_000_000).div_euclid(DAY);
    assert_eq!(today(&p), (day, bytes));
    feed(&mut p, 3 * MINUTE, session("192.168.1.20"), &mut alerts);
    feed(
        &mut p,
        5 * MINUTE,
        arp_reply(X, "192.168.1.20"),
        &mut alerts,
    );
    assert_eq!(today(&p), (day, 2 * bytes));
    let mut json = String::new();
    netwatch::web::device_json(&mut json, &X, p.devices().get(&X).unwrap(), Some(day));
    assert!(
        json.contains(&format!("\"bytes_today\":{}", 2 * bytes)),
        "{json}"
    );
    json.clear();
    netwatch::web::device_json(&mut json, &X, p.devices().get(&X).unwrap(), Some(day + 1));
    assert!(
        json.contains("\"bytes_today\":0,\"alerts_today\":0"),
        "{json}"
    );
    // The next day starts from nothing.
    feed(&mut p, DAY, session("192.168.1.20"), &mut alerts);
    feed(
        &mut p,
        DAY + 2 * MINUTE,
        arp_reply(X, "192.168.1.20"),
        &mut alerts,
    );
    assert_eq!(today(&p), (day + 1, bytes));
}
