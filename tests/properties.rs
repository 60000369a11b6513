//! Property tests (proptest): invariants that must hold for any traffic.
//!
//! * the flow table never holds more than its capacity, and its counters add up
//!   (created = active + evicted + expired);
//! * the decoder's fast path (Ethernet/IPv4/TCP|UDP) and its general path agree on any frame;
//! * the same frames through two fresh pipelines give identical alerts and counters (the
//!   tables' hash seeds differ per start; output must not depend on them);
//! * the 1 s, 10 s and 60 s windows each add up to the packet, byte and new-flow totals, and
//!   a second's new flows are those its packets created;
//! * a capture split in two and replayed as two files (`netwatch replay A B`) gives the same
//!   EVE output and counters as the whole file.

mod support;

use netwatch::config::FileConfig;
use netwatch::decode::{self, PacketMeta};
use netwatch::pipeline::Pipeline;
use proptest::prelude::*;
use support::*;

/// One packet of a small world: 6 hosts, 4 ports, TCP or UDP, flags, time step (µs).
#[derive(Clone, Debug)]
struct Pkt {
    src: u8,
    dst: u8,
    sport: u16,
    dport: u16,
    udp: bool,
    flags: u8,
    step: u32,
    payload: u8,
}

fn pkt() -> impl Strategy<Value = Pkt> {
    (
        0u8..6,
        0u8..6,
        0u16..4,
        0u16..4,
        any::<bool>(),
        any::<u8>(),
        0u32..3_000_000,
        0u8..40,
    )
        .prop_map(|(src, dst, sport, dport, udp, flags, step, payload)| Pkt {
            src,
            dst,
            sport,
            dport,
            udp,
            flags,
            step,
            payload,
        })
}

fn frames(pkts: &[Pkt]) -> Vec<(i64, Vec<u8>)> {
    let mut t = 1_790_000_000_000_000i64;
    pkts.iter()
        .map(|p| {
            t += p.step as i64;
            let body = vec![0x41; p.payload as usize];
            let l4 = if p.udp {
                udp(1000 + p.sport, 53 + p.dport, &body)
            } else {
                tcp(1000 + p.sport, 22 + p.dport, p.flags, &body)
            };
            let f = eth_ip(&ipv4(
                [10, 0, 0, 1 + p.src],
                [10, 0, 0, 1 + p.dst],
                if p.udp { 17 } else { 6 },
                &l4,
            ));
            (t, f)
        })
        .collect()
}

fn run(cfg: &netwatch::config::Config, frames: &[(i64, Vec<u8>)]) -> (String, serde_json::Value) {
    let mut p = Pipeline::new(cfg);
    let mut alerts = String::new();
    for (t, f) in frames {
        p.process(1, *t, f, f.len() as u32, &mut |a| {
            alerts.push_str(&format!("{a:?}\n"))
        });
    }
    let mut s = String::new();
    p.counters_json(&mut s);
    let before_finish: serde_json::Value = serde_json::from_str(&s).unwrap();
    p.finish(&mut |a| alerts.push_str(&format!("{a:?}\n")));
    (alerts, before_finish)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn flow_table_stays_within_capacity_and_its_counters_add_up(
        pkts in proptest::collection::vec(pkt(), 1..400)
    ) {
        let cfg = FileConfig::parse("[capacity]\nflows = 64\n", "t").unwrap().validate().unwrap();
        let (_, stats) = run(&cfg, &frames(&pkts));
        let n = |k: &str| stats[k].as_u64().unwrap();
        prop_assert!(n("flows_active") <= 64, "{stats}");
        prop_assert_eq!(
            n("flows_created"),
            n("flows_active") + n("flows_evicted") + n("flows_expired"),
            "{}", stats
        );
        prop_assert_eq!(n("packets"), pkts.len() as u64);
    }

    #[test]
    fn fast_and_general_decoders_agree(
        ihl_ok in any::<bool>(),
        proto in prop_oneof![Just(6u8), Just(17u8), any::<u8>()],
        flags_frag in any::<u16>(),
        total_delta in -30i32..30,
        l4 in proptest::collection::vec(any::<u8>(), 0..80),
        cut in 0usize..120,
    ) {
        let mut ip = ipv4([10, 0, 0, 1], [10, 0, 0, 2], proto, &l4);
        if !ihl_ok {
            ip[0] = 0x46;
        }
        ip[6..8].copy_from_slice(&flags_frag.to_be_bytes());
        let total = (ip.len() as i32 + total_delta).clamp(0, 65535) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let mut frame = eth_ip(&ip);
        frame.truncate(frame.len().saturating_sub(cut).max(1));
        let (mut a, mut b) = (PacketMeta::default(), PacketMeta::default());
        let ra = decode::packet(1, 7, &frame, frame.len() as u32, &mut a);
        let rb = decode::packet_general(1, 7, &frame, frame.len() as u32, &mut b);
        prop_assert_eq!(ra, rb);
        if ra.is_ok() {
            prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
    }

    #[test]
    fn the_same_frames_give_the_same_alerts_and_counters(
        pkts in proptest::collection::vec(pkt(), 1..300)
    ) {
        let cfg = FileConfig::parse("[capacity]\nflows = 64\n", "t").unwrap().validate().unwrap();
        let f = frames(&pkts);
        let (a1, s1) = run(&cfg, &f);
        let (a2, s2) = run(&cfg, &f);
        prop_assert_eq!(a1, a2);
        prop_assert_eq!(s1, s2);
    }

    #[test]
    fn every_window_resolution_adds_up_to_the_packet_totals(
        pkts in proptest::collection::vec(pkt(), 1..400)
    ) {
        // Steps under 0.6 s: at most 240 s of traffic, within every resolution's history.
        let pkts: Vec<Pkt> = pkts
            .into_iter()
            .map(|p| Pkt { step: p.step % 600_000, ..p })
            .collect();
        let cfg = FileConfig::parse("[capacity]\nflows = 64\n", "t").unwrap().validate().unwrap();
        let f = frames(&pkts);
        let mut p = Pipeline::new(&cfg);
        for (t, fr) in &f {
            p.process(1, *t, fr, fr.len() as u32, &mut |_| {});
        }
        p.finish(&mut |_| {});
        let bytes: u64 = f.iter().map(|(_, fr)| fr.len() as u64).sum();
        prop_assert_eq!(p.counters.packets, f.len() as u64);
        prop_assert_eq!(p.counters.bytes, bytes);
        for span in [1u32, 10, 60] {
            let h = p.windows().history(span).unwrap();
            let (n, b): (u64, u64) = h.iter().fold((0, 0), |(n, b), s| (n + s.packets, b + s.bytes));
            prop_assert_eq!(n, f.len() as u64, "{}s windows", span);
            prop_assert_eq!(b, bytes, "{}s windows", span);
            // New connections are counted per window from the flow table's total.
            let new_flows: u64 = h.iter().map(|s| s.new_flows).sum();
            prop_assert_eq!(new_flows, p.flows().counters.created, "{}s windows", span);
            for s in h.iter() {
                prop_assert_eq!(s.by_proto.iter().sum::<u64>(), s.packets);
                prop_assert_eq!(s.span_s, span);
            }
        }
    }
}

proptest! {
    // Each case runs the binary twice.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_capture_split_in_two_replays_like_the_whole(
        pkts in proptest::collection::vec(pkt(), 2..600),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut f = frames(&pkts);
        // Beside the random traffic, a SYN scan of 40 ports spread over the whole capture, so
        // an alert's episode can span the cut.
        let (t0, t1) = (f[0].0, f[f.len() - 1].0);
        for port in 0..40u16 {
            let t = t0 + (t1 - t0) * i64::from(port) / 40;
            let syn = eth_ip(&ipv4([10, 0, 0, 99], [10, 0, 0, 1], 6, &tcp(50000, 100 + port, 0x02, &[])));
            let rst = eth_ip(&ipv4([10, 0, 0, 1], [10, 0, 0, 99], 6, &tcp(100 + port, 50000, 0x14, &[])));
            f.push((t, syn));
            f.push((t + 200, rst));
        }
        f.sort_by_key(|(t, _)| *t);
        let at = cut.index(f.len() + 1);
        let dir = std::env::temp_dir().join(format!("netwatch-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, part: &[(i64, Vec<u8>)]| {
            let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
            for (t, fr) in part {
                w.packet(*t, fr);
            }
            let path = dir.join(name);
            w.write_to(&path);
            path
        };
        let whole = write("whole.pcap", &f);
        let a = write("a.pcap", &f[..at]);
        let b = write("b.pcap", &f[at..]);
        let replay = |files: &[&std::path::Path]| {
            let out = support::deadline::output_within(
                std::process::Command::new(env!("CARGO_BIN_EXE_netwatch"))
                    .arg("replay")
                    .args(files)
                    .arg("--stats"),
                support::deadline::CHILD_LIMIT,
                "netwatch replay of the split capture",
            );
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let stats: serde_json::Value =
                serde_json::from_str(String::from_utf8_lossy(&out.stderr).trim()).unwrap();
            (String::from_utf8(out.stdout).unwrap(), stats["counters"].clone())
        };
        let (eve1, c1) = replay(&[&whole]);
        let (eve2, c2) = replay(&[&a, &b]);
        prop_assert!(eve1.contains("\"portscan.vertical\""), "{}", eve1);
        prop_assert_eq!(eve1, eve2);
        prop_assert_eq!(c1, c2);
    }
}

#[test]
fn each_second_counts_the_flows_its_packets_created() {
    let cfg = FileConfig::parse("", "t").unwrap().validate().unwrap();
    let mut p = Pipeline::new(&cfg);
    let udp_at = |p: &mut Pipeline, sec: i64, sport: u16| {
        let fr = eth_ip(&ipv4(
            [10, 0, 0, 2],
            [10, 0, 0, 3],
            17,
            &udp(sport, 5000, b"x"),
        ));
        p.process(
            1,
            T0 + sec * 1_000_000 + 1000,
            &fr,
            fr.len() as u32,
            &mut |_| {},
        );
    };
    // Second 0: three new flows; second 1: two new ones and a packet of an old one;
    // second 2: old flows only; second 3: one new one.
    for sport in [1000, 1001, 1002] {
        udp_at(&mut p, 0, sport);
    }
    for sport in [1003, 1000, 1004] {
        udp_at(&mut p, 1, sport);
    }
    for sport in [1001, 1002] {
        udp_at(&mut p, 2, sport);
    }
    udp_at(&mut p, 3, 1005);
    p.finish(&mut |_| {});
    let per_second: Vec<(u64, u64)> = p
        .windows()
        .history(1)
        .unwrap()
        .iter()
        .map(|s| (s.packets, s.new_flows))
        .collect();
    assert_eq!(per_second, [(3, 3), (3, 2), (2, 0), (1, 1)]);
}
