//! Fuzzing entries, one per parser (`fuzz/fuzz_targets/`). Not part of the API: each takes
//! the fuzzer's bytes, runs the same code the daemon runs on such input, and asserts what
//! must hold whatever the input (beside "no panic, no hang, no leak", which libFuzzer checks).

use std::cell::RefCell;

use crate::capture::decode::{self, dns::DnsMeta, DecodeError, PacketMeta};
use crate::config::{Config, ConfigSource, FileConfig};
use crate::pipeline::Pipeline;

pub use crate::web::fuzz::{request as http_request, ws_frames, TOKEN as WEB_TOKEN};

thread_local! {
    /// One small pipeline per link type, kept across inputs so fragments of one datagram
    /// can arrive in different inputs and tables fill and evict as in a long run.
    static PIPELINES: RefCell<Vec<(i32, Pipeline, i64)>> = const { RefCell::new(Vec::new()) };
}

fn small_config() -> Config {
    // Small tables: they fill and evict within a few inputs.
    FileConfig::parse(
        "[capacity]\nflows = 64\nscan_targets = 16\nscan_sweeps = 16\nslow_scanners = 16\n\
         fragment_trains = 16\nsyn_victims = 16\nlogin_pairs = 16\ndns_domains = 16\n\
         beacon_pairs = 16\nsuppression = 16\nhosts = 16\ndevices = 16\n\
         [windows]\nhistory_1s = 16\nhistory_10s = 16\nhistory_60s = 16\n",
        "fuzz",
    )
    .and_then(|f| f.validate())
    .unwrap_or_else(|_| Config::default_config())
}

/// One captured frame of link type `linktype`: the fast and the general decoder agree, and
/// the frame goes through a whole pipeline (reassembly, flows, windows, every rule).
pub fn frame(linktype: i32, data: &[u8]) {
    let wire = data.len() as u32;
    let (mut a, mut b) = (PacketMeta::default(), PacketMeta::default());
    let ra = decode::packet(linktype, 1_000_000, data, wire, &mut a);
    let rb = decode::packet_general(linktype, 1_000_000, data, wire, &mut b);
    assert_eq!(ra, rb, "fast and general decoder disagree");
    if ra.is_ok() {
        assert!(a == b, "fast and general decoder disagree: {a:?} vs {b:?}");
    }
    if let Err(e) = ra {
        // Every error but a fragment (handed to reassembly) has a counter.
        assert!(e == DecodeError::Fragment || (e as usize) < DecodeError::COUNT);
    }
    PIPELINES.with(|p| {
        let mut p = p.borrow_mut();
        let i = match p.iter().position(|(l, _, _)| *l == linktype) {
            Some(i) => i,
            None => {
                p.push((
                    linktype,
                    Pipeline::new(&small_config()),
                    1_800_000_000_000_000,
                ));
                p.len() - 1
            }
        };
        let (_, pl, ts) = &mut p[i];
        // 10 ms per input: timeouts, windows and ticks all run.
        *ts += 10_000;
        pl.process(linktype, *ts, data, wire, &mut |a| {
            assert!(!a.rule.name().is_empty());
        });
    });
}

/// A capture file (pcap or pcapng), read whole and read through windows of a few bytes (as
/// `replay` reads through 512 KiB ones): the same frames and the same damage, at an offset
/// inside the file; each frame then goes through a pipeline of its link type. Returns the
/// number of frames read.
pub fn capture_file(data: &[u8]) -> usize {
    use crate::capture::file::{read_windows, Records};
    type Got = (Vec<(i64, u32, usize, usize, i32)>, Option<String>);
    // Frames as (timestamp, wire length, where in the file, how long, link type).
    let at = |f: &crate::capture::Frame<'_>| f.data.as_ptr() as usize - data.as_ptr() as usize;
    let mut whole: Got = (Vec::new(), None);
    match Records::new(data) {
        Err(d) => whole.1 = Some(d.to_string()),
        Ok(mut r) => {
            if let Err(d) = r.for_each_until(|f, end| {
                assert!(end <= data.len());
                whole
                    .0
                    .push((f.ts_us, f.wire_len, at(&f), f.data.len(), f.linktype));
                true
            }) {
                assert!(d.offset <= data.len(), "damage past the end: {d}");
                whole.1 = Some(d.to_string());
            }
        }
    }
    for (window, align) in [(61, 1), (256, 8), (4096, 4096)] {
        let mut got: Got = (Vec::new(), None);
        let res = read_windows(
            data.len(),
            window,
            align,
            |base, n| Ok(&data[base..base + n]),
            |f, _| {
                got.0
                    .push((f.ts_us, f.wire_len, at(&f), f.data.len(), f.linktype));
                true
            },
        );
        got.1 = res.err().map(|d| d.to_string());
        assert_eq!(got, whole, "windows of {window} bytes read differently");
    }
    // Through a pipeline (one is kept per link type, so only the types NetWatch decodes: a
    // file can name any of 2^26); the others are refused by the decoder.
    for &(_, wire, start, len, linktype) in &whole.0 {
        let f = &data[start..start + len];
        if decode::linktype::DECODED.contains(&linktype) {
            frame(linktype, f);
        } else {
            let mut m = PacketMeta::default();
            let r = decode::packet(linktype, 1_000_000, f, wire, &mut m);
            assert!(r.is_err(), "link type {linktype} decoded");
        }
    }
    whole.0.len()
}

/// A DNS message (the payload of a UDP or TCP datagram on port 53).
pub fn dns(data: &[u8]) {
    let mut d = DnsMeta::default();
    if decode::dns::parse(data, &mut d).is_ok() {
        let name = d.name();
        let reg = d.registered_domain();
        assert!(
            name.ends_with(reg),
            "registered domain not a suffix of the name"
        );
        assert!(d.subdomain_len() <= name.len());
        let _ = decode::dns::entropy_milli(name);
    }
}

/// A domain name through the public-suffix walk.
pub fn psl(data: &[u8]) {
    if let Some(s) = decode::psl::registered_domain_start(data) {
        assert!(s < data.len(), "registered domain start {s} past the name");
        assert!(
            s == 0 || data[s - 1] == b'.',
            "registered domain not at a label"
        );
    }
}

/// A DHCP message: parsed (its kept names within their bounds), then learnt from by a small
/// device inventory as a client's and as a server's message. True when it parsed.
pub fn dhcp(data: &[u8]) -> bool {
    use crate::addr::Addr;
    let parsed = decode::dhcp::parse(data);
    if let Ok(d) = &parsed {
        assert!(d.host_name.len() <= decode::dhcp::NAME_MAX);
        assert!(d.vendor_class.len() <= decode::dhcp::VENDOR_MAX);
    }
    let mut inv = crate::state::devices::Devices::new(16);
    // The built-in maker table only: reading the registry file is no parser's business.
    inv.set_registry(None);
    inv.udp(data, Addr::UNSPECIFIED, 68, 1, 1);
    inv.udp(data, Addr::v4([10, 0, 0, 1]), 67, 2, 2);
    assert!(inv.len() <= 1);
    parsed.is_ok()
}

/// A DHCPv6 message: parsed (its kept names within their bounds), then learnt from by a
/// small device inventory as a client's message from a link-local address. True when it
/// parsed as a client's message.
pub fn dhcpv6(data: &[u8]) -> bool {
    use crate::addr::Addr;
    let parsed = decode::dhcpv6::parse(data);
    if let Ok(d) = &parsed {
        assert!(d.host_name.len() <= decode::dhcp::NAME_MAX);
        assert!(d.vendor_class.len() <= decode::dhcp::VENDOR_MAX);
    }
    let mut inv = crate::state::devices::Devices::new(16);
    inv.set_registry(None);
    let mut ll = [0u8; 16];
    ll[..2].copy_from_slice(&[0xfe, 0x80]);
    ll[15] = 1;
    inv.udp(data, Addr::v6(ll), 546, 1, 1);
    assert!(inv.len() <= 1);
    parsed.is_ok()
}

/// An mDNS message: parsed (at most `MAX_RECORDS` records, a host name within 63 bytes).
/// True when it parsed.
pub fn mdns(data: &[u8]) -> bool {
    match decode::mdns::parse(data) {
        Ok(m) => {
            assert!(m.host.len() <= 63);
            assert!(m.records as usize <= decode::mdns::MAX_RECORDS);
            true
        }
        Err(_) => false,
    }
}

/// An SSDP message: parsed (kept headers within their bounds). True when it parsed.
pub fn ssdp(data: &[u8]) -> bool {
    match decode::ssdp::parse(data) {
        Ok(m) => {
            assert!(m.server.len() <= decode::ssdp::SERVER_MAX);
            true
        }
        Err(_) => false,
    }
}

/// A NetBIOS name service message: parsed (a computer name of at most 15 bytes, no control
/// characters). True when it parsed.
pub fn netbios(data: &[u8]) -> bool {
    match decode::netbios::parse(data) {
        Ok(n) => {
            assert!(!n.name.is_empty() && n.name.iter().all(|c| *c >= 0x20));
            true
        }
        Err(_) => false,
    }
}

/// A TOML configuration file: parsed and validated, errors only as values.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = FileConfig::parse(text, "fuzz.toml") {
        if let Ok(c) = f.validate() {
            // The web API shows it as JSON that parses.
            let j = crate::web::fuzz::config_json(&c);
            assert!(crate::json_reader::parse(j.as_bytes()).is_ok(), "{j}");
        }
    }
}

/// An OpenWrt UCI file (`/etc/config/netwatch`): parsed, converted and validated.
pub fn config_uci(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(u) = crate::config::uci::parse(text, "fuzz") {
        if let Err(e) = u.file.validate() {
            let _ = u.annotate(e).to_string();
        }
    }
}

/// A `PATCH /api/config` body: JSON, turned into TOML overrides, checked and laid over the
/// defaults; whatever validates also survives being written out and read back.
pub fn config_patch(data: &[u8]) {
    let Ok(v) = crate::json_reader::parse(data) else {
        return;
    };
    let Ok(toml::Value::Table(t)) = v.to_toml("") else {
        return;
    };
    if let Ok(c) = ConfigSource::layered(&toml::Table::new(), &t) {
        let text = crate::config::write_toml(&t);
        let back: toml::Table = text.parse().expect("written overrides parse again");
        let c2 = ConfigSource::layered(&toml::Table::new(), &back)
            .expect("written overrides validate again");
        assert_eq!(format!("{c:?}"), format!("{c2:?}"));
    }
}

/// A language model server's HTTP reply: head, body (length, chunks or to the end) and the
/// chat-completion JSON. The text taken out is within the cap and has no control characters
/// but newlines.
pub fn llm_reply(data: &[u8]) {
    thread_local! {
        static RT: Option<tokio::runtime::Runtime> =
            tokio::runtime::Builder::new_current_thread().build().ok();
    }
    RT.with(|rt| {
        let Some(rt) = rt else { return };
        let mut r = data;
        if let Ok(text) = rt.block_on(crate::enrich::read_reply(&mut r, 2000)) {
            assert!(text.len() <= 2000);
            assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
        }
    });
}

/// Bytes from an MQTT broker: the first byte picks the protocol version (bit 0) and the size
/// of each read (the rest), the others are the stream. The reader never holds more than a
/// packet and a read, and never panics. Returns how many packets it read.
pub fn mqtt_packet(data: &[u8]) -> usize {
    use crate::notify::mqtt::packet::{Reader, Version, MAX_PACKET};
    let Some((&first, stream)) = data.split_first() else {
        return 0;
    };
    let mut n = 0;
    let v = if first & 1 == 0 {
        Version::V311
    } else {
        Version::V5
    };
    let step = usize::from(first >> 1).max(1);
    let mut r = Reader::new();
    for chunk in stream.chunks(step) {
        r.feed(chunk);
        loop {
            match r.next(v) {
                Ok(Some(_)) => n += 1,
                Ok(None) => break,
                Err(_) => return n,
            }
        }
        assert!(r.pending() <= MAX_PACKET + 5 + step);
    }
    n
}
