//! The packet path allocates nothing in steady state: a counting global allocator watches
//! ≥ 100k generated packets that churn the flow table (creation, eviction, expiry), carry DNS,
//! fragments (reassembled, timed out, evicted), cover every link type and trigger every rule.

mod support;
use support::*;

use netwatch::alloc::{allocations, CountingAlloc};
use netwatch::config::FileConfig;
use netwatch::decode::linktype;
use netwatch::pipeline::Pipeline;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn no_allocation_per_packet_after_warm_up() {
    // Small tables so the run churns them: flows are created, evicted and expired.
    let cfg = FileConfig::parse("[capacity]\nflows = 2000\nscan_targets = 64\nscan_sweeps = 64\nbeacon_pairs = 64\ndns_domains = 64\nsuppression = 32\n", "t")
        .unwrap()
        .validate()
        .unwrap();
    let mut frames = every_rule_capture();
    // More churn: short-lived UDP/DNS to many hosts, VLAN-tagged and PPPoE frames, IPv6.
    let mut rng = Rng(9);
    let base = frames.last().unwrap().0;
    for i in 0..40_000i64 {
        let t = base + i * 3_000;
        let dst = format!(
            "10.{}.{}.{}",
            rng.below(4),
            rng.below(256),
            1 + rng.below(254)
        );
        let name = format!(
            "{}.example{}.com",
            random_label(&mut rng, 12, b"abcdefgh"),
            i % 97
        );
        frames.push((
            t,
            eth_ip(&ip(
                "192.168.1.9",
                &dst,
                17,
                &udp(
                    1024 + (i % 60000) as u16,
                    53,
                    &dns_query(i as u16, &name, 1),
                ),
            )),
        ));
        let ip6 = ip(
            "fd00::9",
            &format!("fd00::{:x}", 1 + rng.below(60000)),
            6,
            &tcp(2000, 443, SYN, &[]),
        );
        frames.push((t + 1, eth_ip(&ip6)));
        let v4 = ip(
            "192.168.1.9",
            &dst,
            6,
            &tcp(3000, 80, ACK | PSH, b"GET / HTTP/1.1\r\n\r\n"),
        );
        let mut vlan = vec![
            0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x81, 0, 0, 7, 0x08, 0x00,
        ];
        vlan.extend_from_slice(&v4);
        frames.push((t + 2, vlan));
        // Fragmented DNS queries through the reassembly table; every third train never
        // completes (timeouts and evictions).
        if i % 4 == 0 {
            let d = ip(
                "192.168.1.9",
                &dst,
                17,
                &udp(5000, 53, &dns_query(i as u16, &name, 1)),
            );
            let parts = fragments(&d, 16, i as u32);
            let keep = if i % 12 == 0 {
                parts.len() - 1
            } else {
                parts.len()
            };
            for f in parts.into_iter().take(keep) {
                frames.push((t + 2, eth_ip(&f)));
            }
        }
    }
    // Every rule again, after the churn, so alerts fire inside the measured part too.
    let end = frames.last().unwrap().0 + 300 * S;
    frames.extend(
        every_rule_capture()
            .into_iter()
            .map(|(t, f)| (t - T0 + end, f)),
    );
    let link_types = [
        linktype::ETHERNET,
        linktype::LINUX_SLL,
        linktype::LINUX_SLL2,
        linktype::NULL,
        linktype::RAW,
    ];
    assert!(frames.len() >= 100_000, "{} frames", frames.len());
    let framed: Vec<(i32, i64, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, (t, f))| {
            let lt = link_types[i % link_types.len()];
            (lt, *t, relink(lt, f))
        })
        .collect();

    let mut p = Pipeline::new(&cfg);
    let alerts = std::cell::Cell::new([0u64; 7]);
    let mut sink = |a: &netwatch::detect::Alert| {
        let mut n = alerts.get();
        n[a.rule as usize] += 1;
        alerts.set(n);
    };
    // Warm-up: the first quarter fills every table and ring to its fixed capacity.
    let warm = framed.len() / 4;
    for (lt, t, f) in &framed[..warm] {
        p.process(*lt, *t, f, f.len() as u32, &mut sink);
    }
    let before = allocations();
    for (lt, t, f) in &framed[warm..] {
        p.process(*lt, *t, f, f.len() as u32, &mut sink);
    }
    let after = allocations();
    let fired_before_finish = alerts.get();
    p.finish(&mut sink);
    assert_eq!(
        after - before,
        0,
        "allocations on the packet path over {} packets",
        framed.len() - warm
    );
    let f = &p.flows().counters;
    assert!(
        f.evicted > 0 && f.expired > 0 && f.created > 50_000,
        "{f:?}"
    );
    let mut stats = String::new();
    p.counters_json(&mut stats);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert!(
        stats["reassembled"].as_u64().unwrap() > 5_000
            && stats["fragment_timeouts"].as_u64().unwrap()
                + stats["fragment_evictions"].as_u64().unwrap()
                > 1_000,
        "{stats}"
    );
    for (i, n) in fired_before_finish.iter().enumerate().take(6) {
        assert!(
            *n >= 2,
            "rule {} fired {n} times; it should fire in warm-up and measured parts",
            netwatch::detect::RuleId::ALL[i].name()
        );
    }
    assert!(p.counters.dns_messages > 40_000);
}
