//! The capture-file reader (`netwatch::capture::file`) against libpcap's own: on generated
//! pcap and pcapng files in every byte order and timestamp resolution, with snaplen cuts, and
//! on the same files cut short at every offset, both give the same frames in the same order
//! (timestamps, lengths, bytes, link types), and where libpcap reports damage ours does too,
//! after the same frames, naming the offset. Then what libpcap does not read: pcapng files
//! mixing link types, and `--bpf` on them.

#[path = "support/mod.rs"]
mod support;

use netwatch::capture::file::Records;
use support::*;

/// A capture file under construction in either format.
struct Spec {
    big: bool,
    /// pcap: nanosecond magic; pcapng: `if_tsresol` byte (None: the default 10^-6).
    nanos: bool,
    tsresol: Option<u8>,
    tsoffset: i64,
    snaplen: u32,
}

fn put16(out: &mut Vec<u8>, v: u16, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}
fn put32(out: &mut Vec<u8>, v: u32, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

/// Frames: (timestamp in the file's units, captured bytes, wire length).
fn pcap_file(s: &Spec, linktype: u32, frames: &[(u64, Vec<u8>, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    put32(
        &mut out,
        if s.nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 },
        s.big,
    );
    put16(&mut out, 2, s.big);
    put16(&mut out, 4, s.big);
    put32(&mut out, 0, s.big);
    put32(&mut out, 0, s.big);
    put32(&mut out, s.snaplen, s.big);
    put32(&mut out, linktype, s.big);
    let per_s = if s.nanos { 1_000_000_000 } else { 1_000_000 };
    for (t, data, wire) in frames {
        put32(&mut out, (t / per_s) as u32, s.big);
        put32(&mut out, (t % per_s) as u32, s.big);
        put32(&mut out, data.len() as u32, s.big);
        put32(&mut out, *wire, s.big);
        out.extend_from_slice(data);
    }
    out
}

fn block(out: &mut Vec<u8>, ty: u32, body: &[u8], big: bool) {
    let pad = (4 - body.len() % 4) % 4;
    let len = (12 + body.len() + pad) as u32;
    put32(out, ty, big);
    put32(out, len, big);
    out.extend_from_slice(body);
    out.extend(std::iter::repeat_n(0, pad));
    put32(out, len, big);
}

fn shb(out: &mut Vec<u8>, big: bool) {
    let mut b = Vec::new();
    put32(&mut b, 0x1a2b_3c4d, big);
    put16(&mut b, 1, big);
    put16(&mut b, 0, big);
    b.extend_from_slice(&(-1i64).to_le_bytes());
    block(out, 0x0a0d_0d0a, &b, big);
}

fn idb(out: &mut Vec<u8>, s: &Spec, linktype: u16) {
    let mut b = Vec::new();
    put16(&mut b, linktype, s.big);
    put16(&mut b, 0, s.big);
    put32(&mut b, s.snaplen, s.big);
    // An option we do not read first (if_name), then the resolution and offset.
    put16(&mut b, 2, s.big);
    put16(&mut b, 5, s.big);
    b.extend_from_slice(b"eth0\0\0\0\0");
    if let Some(r) = s.tsresol {
        put16(&mut b, 9, s.big);
        put16(&mut b, 1, s.big);
        b.extend_from_slice(&[r, 0, 0, 0]);
    }
    if s.tsoffset != 0 {
        put16(&mut b, 14, s.big);
        put16(&mut b, 8, s.big);
        b.extend_from_slice(&if s.big {
            s.tsoffset.to_be_bytes()
        } else {
            s.tsoffset.to_le_bytes()
        });
    }
    put16(&mut b, 0, s.big);
    put16(&mut b, 0, s.big);
    block(out, 1, &b, s.big);
}

fn epb(out: &mut Vec<u8>, big: bool, iface: u32, t: u64, data: &[u8], wire: u32) {
    let mut b = Vec::new();
    put32(&mut b, iface, big);
    put32(&mut b, (t >> 32) as u32, big);
    put32(&mut b, t as u32, big);
    put32(&mut b, data.len() as u32, big);
    put32(&mut b, wire, big);
    b.extend_from_slice(data);
    b.extend(std::iter::repeat_n(0, (4 - data.len() % 4) % 4));
    // An epb_flags option, to be skipped.
    put16(&mut b, 2, big);
    put16(&mut b, 4, big);
    put32(&mut b, 1, big);
    put16(&mut b, 0, big);
    put16(&mut b, 0, big);
    block(out, 6, &b, big);
}

fn pcapng_file(s: &Spec, linktype: u16, frames: &[(u64, Vec<u8>, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    shb(&mut out, s.big);
    idb(&mut out, s, linktype);
    for (i, (t, data, wire)) in frames.iter().enumerate() {
        if i % 7 == 3 {
            // An interface statistics block between packets: not a packet.
            let mut b = Vec::new();
            put32(&mut b, 0, s.big);
            put32(&mut b, 0, s.big);
            put32(&mut b, 0, s.big);
            block(&mut out, 5, &b, s.big);
        }
        epb(&mut out, s.big, 0, *t, data, *wire);
    }
    out
}

/// What libpcap reads from `bytes`: frames, then the error if it stopped at damage.
type Read = (Vec<(i64, u32, Vec<u8>, i32)>, Option<String>);

fn libpcap_read(bytes: &[u8], name: &str) -> Read {
    let path = std::env::temp_dir().join(format!("netwatch-cf-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let mut out = Vec::new();
    let err = match pcap::Capture::from_file(&path) {
        Err(e) => Some(e.to_string()),
        Ok(mut cap) => {
            let lt = cap.get_datalink().0;
            loop {
                match cap.next_packet() {
                    Ok(p) => out.push((
                        p.header.ts.tv_sec * 1_000_000 + p.header.ts.tv_usec,
                        p.header.len,
                        p.data.to_vec(),
                        lt,
                    )),
                    Err(pcap::Error::NoMorePackets) => break None,
                    Err(e) => break Some(e.to_string()),
                }
            }
        }
    };
    let _ = std::fs::remove_file(&path);
    (out, err)
}

fn ours(bytes: &[u8]) -> Read {
    let mut out = Vec::new();
    let mut r = match Records::new(bytes) {
        Ok(r) => r,
        Err(d) => return (out, Some(d.to_string())),
    };
    loop {
        match r.next_frame() {
            Ok(Some(f)) => out.push((f.ts_us, f.wire_len, f.data.to_vec(), f.linktype)),
            Ok(None) => return (out, None),
            Err(d) => {
                assert!(d.offset <= bytes.len(), "offset {} past the end", d.offset);
                return (out, Some(d.to_string()));
            }
        }
    }
}

/// libpcap numbers raw IP 12 (DLT_RAW), the file 101 (LINKTYPE_RAW).
fn same_linktype(a: i32, b: i32) -> bool {
    a == b || (a == 101 && b == 12)
}

fn assert_same(bytes: &[u8], name: &str) -> usize {
    let (a, ea) = ours(bytes);
    let (b, eb) = libpcap_read(bytes, name);
    assert_eq!(
        a.len(),
        b.len(),
        "{name}: ours read {} frames ({ea:?}), libpcap {} ({eb:?})",
        a.len(),
        b.len()
    );
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(
            (x.0, x.1, &x.2),
            (y.0, y.1, &y.2),
            "{name}: frame {i} differs"
        );
        assert!(
            same_linktype(x.3, y.3),
            "{name}: link type {} vs {}",
            x.3,
            y.3
        );
    }
    assert_eq!(
        ea.is_some(),
        eb.is_some(),
        "{name}: ours {ea:?}, libpcap {eb:?}"
    );
    a.len()
}

/// `snap`: records no longer than this (pcapng files may not hold longer ones); 0 for none.
fn frames(rng: &mut Rng, n: usize, per_s: u64, snap: u32) -> Vec<(u64, Vec<u8>, u32)> {
    let mut t = 1_700_000_000 * per_s + rng.below(per_s);
    (0..n)
        .map(|i| {
            t += rng.below(3 * per_s / 2);
            let len = match i % 5 {
                0 => 0,
                1 => 1 + rng.below(63) as usize,
                _ => 54 + rng.below(1460) as usize,
            };
            let len = if snap > 0 {
                len.min(snap as usize)
            } else {
                len
            };
            let data: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            // Some records say more went over the wire than was captured.
            let wire = len as u32
                + if i % 3 == 0 {
                    rng.below(9000) as u32
                } else {
                    0
                };
            (t, data, wire)
        })
        .collect()
}

#[test]
fn pcap_files_read_as_libpcap_reads_them() {
    let mut rng = Rng(7);
    for (k, (big, nanos, snaplen, lt)) in [
        (false, false, 262_144, 1),
        (true, false, 65_535, 1),
        (false, true, 96, 101),
        (true, true, 0, 113),
        (false, false, 4_000_000, 276),
        (true, false, 200, 0x0400_0001),
    ]
    .into_iter()
    .enumerate()
    {
        let per_s = if nanos { 1_000_000_000 } else { 1_000_000 };
        let s = Spec {
            big,
            nanos,
            tsresol: None,
            tsoffset: 0,
            snaplen,
        };
        let fr = frames(&mut rng, 60, per_s, 0);
        let bytes = pcap_file(&s, lt, &fr);
        assert_eq!(assert_same(&bytes, &format!("pcap-{k}")), 60);
    }
}

#[test]
fn pcapng_files_read_as_libpcap_reads_them() {
    let mut rng = Rng(11);
    for (k, (big, tsresol, tsoffset, snaplen, lt)) in [
        (false, None, 0, 262_144, 1u16),
        (true, None, 0, 65_535, 1),
        (false, Some(9), 0, 0, 101),
        (true, Some(3), 100, 1500, 113),
        (false, Some(0x80 | 20), 0, 128, 1),
        (true, Some(6), -50, 262_144, 276),
    ]
    .into_iter()
    .enumerate()
    {
        let per_s = match tsresol {
            None => 1_000_000,
            Some(r) if r & 0x80 != 0 => 1 << (r & 0x7f),
            Some(r) => 10u64.pow(r as u32),
        };
        let s = Spec {
            big,
            nanos: false,
            tsresol,
            tsoffset,
            snaplen,
        };
        let fr = frames(&mut rng, 60, per_s, snaplen);
        let bytes = pcapng_file(&s, lt, &fr);
        assert_eq!(assert_same(&bytes, &format!("pcapng-{k}")), 60);
    }
}

#[test]
fn damaged_files_stop_where_libpcap_stops_and_say_where() {
    let mut rng = Rng(3);
    let s = Spec {
        big: false,
        nanos: false,
        tsresol: None,
        tsoffset: 0,
        snaplen: 262_144,
    };
    let fr = frames(&mut rng, 12, 1_000_000, 262_144);
    let pcap = pcap_file(&s, 1, &fr);
    let ng = pcapng_file(&s, 1, &fr);
    for (name, whole) in [("pcap", &pcap), ("pcapng", &ng)] {
        // Every cut inside the records (a cut inside the file header is refused at open).
        let first = if name == "pcap" { 24 } else { 140 };
        for cut in (first..whole.len()).step_by(7) {
            let got = assert_same(&whole[..cut], &format!("{name}-cut"));
            let (_, err) = ours(&whole[..cut]);
            if let Some(e) = err {
                assert!(e.contains("at byte offset"), "{name} cut at {cut}: {e}");
            }
            assert!(got <= 12);
        }
    }
    // A record longer than any snapshot length libpcap allows.
    let mut bad = pcap_file(&s, 1, &fr[..2]);
    let at = bad.len();
    bad.extend_from_slice(&pcap_file(&s, 1, &[(1, vec![0; 10], 10)])[24..]);
    bad[at + 8..at + 12].copy_from_slice(&300_000u32.to_le_bytes());
    let (got, err) = ours(&bad);
    assert_eq!(got.len(), 2);
    let err = err.expect("an oversized record is damage");
    assert!(err.contains(&format!("at byte offset {at}:")), "{err}");
    assert!(libpcap_read(&bad, "oversized").1.is_some());
    // pcapng: a record longer than its interface's snapshot length is damage (libpcap too).
    let small = Spec { snaplen: 100, ..s };
    let bad = pcapng_file(&small, 1, &[(1, vec![0; 80], 80), (2, vec![0; 120], 120)]);
    assert_eq!(assert_same(&bad, "over-snaplen"), 1);
    assert!(ours(&bad).1.unwrap().contains("snapshot length 100"));
}

#[test]
fn pcapng_with_several_link_types_and_sections() {
    // Interface 0 Ethernet, interface 1 raw IP at nanosecond resolution; then a new section in
    // the other byte order whose only interface is Linux cooked.
    let le = Spec {
        big: false,
        nanos: false,
        tsresol: None,
        tsoffset: 0,
        snaplen: 65_535,
    };
    let ns = Spec {
        tsresol: Some(9),
        ..le
    };
    let be = Spec { big: true, ..le };
    let e = eth_ip(&ip(
        "10.0.0.1",
        "10.0.0.2",
        17,
        &udp(1000, 53, &dns_query(1, "example.com", 1)),
    ));
    let r = ip("10.0.0.3", "10.0.0.4", 6, &tcp(1000, 80, 0x02, b""));
    let mut f = Vec::new();
    shb(&mut f, false);
    idb(&mut f, &le, 1);
    idb(&mut f, &ns, 101);
    epb(&mut f, false, 0, 1_700_000_000_000_001, &e, e.len() as u32);
    epb(
        &mut f,
        false,
        1,
        1_700_000_000_000_002_999,
        &r,
        r.len() as u32,
    );
    shb(&mut f, true);
    idb(&mut f, &be, 113);
    let mut sll = vec![0u8; 16];
    sll[14..16].copy_from_slice(&0x0800u16.to_be_bytes());
    sll.extend_from_slice(&ip("10.0.0.5", "10.0.0.6", 6, &tcp(1000, 80, 0x02, b"")));
    epb(
        &mut f,
        true,
        0,
        1_700_000_000_000_003,
        &sll,
        sll.len() as u32,
    );
    // Interface 1 is gone in the new section.
    let mut bad = f.clone();
    epb(
        &mut bad,
        true,
        1,
        1_700_000_000_000_004,
        &sll,
        sll.len() as u32,
    );

    let (got, err) = ours(&f);
    assert_eq!(err, None);
    let lts: Vec<i32> = got.iter().map(|g| g.3).collect();
    assert_eq!(lts, [1, 101, 113]);
    let ts: Vec<i64> = got.iter().map(|g| g.0).collect();
    assert_eq!(
        ts,
        [
            1_700_000_000_000_001,
            1_700_000_000_000_002,
            1_700_000_000_000_003
        ]
    );
    assert_eq!(got[1].2, r);
    let (got, err) = ours(&bad);
    assert_eq!(got.len(), 3);
    assert!(err.unwrap().contains("interface 1"));

    // Through the whole replay: every frame decoded by its own link type; `--bpf` compiled for
    // each (here: only TCP, which is on the raw-IP and cooked interfaces).
    let dir = std::env::temp_dir().join(format!("netwatch-cf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("mixed.pcapng");
    std::fs::write(&p, &f).unwrap();
    let run = |extra: &[&str]| {
        let o = deadline::output_within(
            std::process::Command::new(env!("CARGO_BIN_EXE_netwatch"))
                .args(["replay", p.to_str().unwrap(), "--stats"])
                .args(extra),
            deadline::CHILD_LIMIT,
            "netwatch replay",
        );
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{err}");
        let line = err
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap()
            .to_string();
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    let all = run(&[]);
    assert_eq!(all["counters"]["packets"], 3);
    assert_eq!(all["counters"]["flows_created"], 3, "{all}");
    assert!(
        all["counters"]["decode_errors"]
            .as_object()
            .unwrap()
            .is_empty(),
        "{all}"
    );
    let tcp_only = run(&["--bpf", "tcp"]);
    assert_eq!(tcp_only["counters"]["packets"], 2, "{tcp_only}");
    let big = run(&["--bpf", "greater 60"]);
    assert_eq!(big["counters"]["packets"], 1, "{big}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the windowed reader (the one `replay` uses) reads from the file at `path`.
fn windowed(path: &std::path::Path) -> Read {
    let f = std::fs::File::open(path).unwrap();
    let w = netwatch::capture::file::Windowed::open(f).expect("maps");
    let mut out = Vec::new();
    let res = w.for_each_until(|fr, end| {
        assert!(end <= std::fs::metadata(path).unwrap().len() as usize);
        out.push((fr.ts_us, fr.wire_len, fr.data.to_vec(), fr.linktype));
        true
    });
    (out, res.err().map(|d| d.to_string()))
}

#[test]
fn files_larger_than_a_window_read_whole_across_window_ends() {
    // ~3 MB in each format: records of every size fall across the 512 KiB window ends, and
    // a few are larger than any window but the grown one (near the 262,144-byte maximum).
    let mut rng = Rng(5);
    let mut fr = frames(&mut rng, 4000, 1_000_000, 0);
    for i in [1000, 1001, 2500] {
        fr[i].1 = vec![7u8; 262_000];
        fr[i].2 = 262_000;
    }
    let s = Spec {
        big: true,
        nanos: false,
        tsresol: None,
        tsoffset: 0,
        snaplen: 262_144,
    };
    let dir = std::env::temp_dir().join(format!("netwatch-cfw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let le = Spec { big: false, ..s };
    // pcapng with a custom block larger than a window (1.2 MB) between two packets.
    let with_custom = |spec: &Spec| {
        let mut f = pcapng_file(spec, 1, &fr[..2000]);
        block(&mut f, 0x0000_0bad, &vec![0u8; 1_200_000], spec.big);
        for (t, data, wire) in &fr[2000..] {
            epb(&mut f, spec.big, 0, *t, data, *wire);
        }
        f
    };
    for (name, bytes) in [
        ("big.pcap", pcap_file(&s, 1, &fr)),
        ("big.pcapng", with_custom(&s)),
        ("le.pcapng", with_custom(&le)),
    ] {
        assert!(bytes.len() > 4 * netwatch::capture::file::WINDOW);
        let p = dir.join(name);
        std::fs::write(&p, &bytes).unwrap();
        let (a, ea) = windowed(&p);
        let (b, eb) = libpcap_read(&bytes, name);
        assert_eq!((a.len(), &ea), (4000, &None), "{name}");
        assert_eq!(eb, None);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(
                (x.0, x.1, &x.2),
                (y.0, y.1, &y.2),
                "{name}: frame {i} differs"
            );
        }
        // Cut in later windows: the same frames as libpcap, then damage at a file offset.
        for cut in [
            netwatch::capture::file::WINDOW * 3 + 5,
            bytes.len() - 3,
            bytes.len() - 262_100,
        ] {
            let p = dir.join(format!("cut-{name}"));
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let (a, ea) = windowed(&p);
            let (b, eb) = libpcap_read(&bytes[..cut], name);
            assert_eq!(a.len(), b.len(), "{name} cut at {cut}: {ea:?} / {eb:?}");
            let e = ea.expect("a cut file is damaged");
            let off: usize = e
                .split("at byte offset ")
                .nth(1)
                .and_then(|r| r.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no offset in {e}"));
            assert!(off < cut && off + 262_200 > cut, "{name} cut at {cut}: {e}");
            assert!(eb.is_some());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
