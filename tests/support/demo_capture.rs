//! Writes the demo capture the README's first command replays: a few minutes of a small LAN
//! (DNS, web sessions) with one of each attack NetWatch detects mixed in.
//!
//! usage: cargo run --release --example demo-capture -- OUT.pcap
//!        cargo run --release --example demo-capture -- --fixtures DIR
//!        cargo run --release --example demo-capture -- --lan N FILE.pcap[ng]
//! The second form writes the cross-architecture fixtures: the same traffic in every link
//! type NetWatch decodes (Ethernet, QinQ, PPPoE, Linux cooked v1/v2, BSD NULL, raw IP, and
//! pcapng) plus a flood of 1M distinct spoofed sources.

#[path = "mod.rs"]
mod support;

fn write(path: &std::path::Path, bytes: &[u8]) {
    if let Err(e) = std::fs::write(path, bytes) {
        eprintln!("demo-capture: cannot write {}: {e}", path.display());
        std::process::exit(1);
    }
}

fn fixtures(dir: &std::path::Path) {
    let _ = std::fs::create_dir_all(dir);
    let frames = support::every_rule_capture();
    for (name, lt) in [
        ("ethernet", 1),
        ("sll", 113),
        ("sll2", 276),
        ("null", 0),
        ("raw", 101),
    ] {
        let mut w = support::PcapWriter::new(lt as u32);
        for (t, f) in &frames {
            w.packet(*t, &support::relink(lt, f));
        }
        write(&dir.join(format!("every-rule-{name}.pcap")), &w.buf);
    }
    for (name, pppoe) in [("qinq", false), ("pppoe", true)] {
        let mut w = support::PcapWriter::new(1);
        for (t, f) in &frames {
            w.packet(*t, &support::retag(f, pppoe));
        }
        write(&dir.join(format!("every-rule-{name}.pcap")), &w.buf);
    }
    write(&dir.join("every-rule.pcapng"), &support::pcapng(1, &frames));
    let w = support::flood_capture(1_000_000);
    write(&dir.join("flood-1m.pcap"), &w.buf);
    eprintln!("demo-capture: fixtures written to {}", dir.display());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--lan") {
        // `--lan N FILE`: the benchmark's LAN mix of N packets (pcapng when FILE ends so).
        let n = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
        let out = args.get(2).map(String::as_str).unwrap_or("lan.pcap");
        let pcap = support::lan_capture(n).buf;
        let bytes = if out.ends_with(".pcapng") {
            support::pcap_to_pcapng(&pcap)
        } else {
            pcap
        };
        write(std::path::Path::new(out), &bytes);
        return;
    }
    if args.first().map(String::as_str) == Some("--fixtures") {
        fixtures(std::path::Path::new(
            args.get(1).map(String::as_str).unwrap_or("fixtures"),
        ));
        return;
    }
    let out = args
        .first()
        .cloned()
        .unwrap_or_else(|| "demo.pcap".to_string());
    let frames = support::demo_capture();
    let mut w = support::PcapWriter::new(support::LINKTYPE_ETHERNET);
    for (t, f) in &frames {
        w.packet(*t, f);
    }
    write(std::path::Path::new(&out), &w.buf);
    eprintln!("demo-capture: wrote {} packets to {out}", frames.len());
}
