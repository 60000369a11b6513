//! The `netwatch` binary as a user runs it: replay output, stats, exit codes, bad input.

mod support;
use std::process::{Command, Output};
use support::*;

fn netwatch(args: &[&str]) -> Output {
    deadline::output_within(
        Command::new(env!("CARGO_BIN_EXE_netwatch")).args(args),
        deadline::CHILD_LIMIT,
        &format!("netwatch {}", args.join(" ")),
    )
}

fn tmp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("netwatch-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn pcap_of(frames: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    for (t, f) in frames {
        w.packet(*t, f);
    }
    w.buf
}

fn lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("EVE line is JSON"))
        .collect()
}

fn stats(o: &Output) -> serde_json::Value {
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("{\"counters\""))
        .expect("stats line on stderr");
    serde_json::from_str(line).unwrap()
}

#[test]
fn help_and_version() {
    let o = netwatch(&["--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("replay") && text.contains("check-config") && text.contains("Exit codes")
    );
    let o = netwatch(&["help", "replay"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("--stats"));
    let o = netwatch(&["replay", "--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("--bpf"));
    let o = netwatch(&["version"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("netwatch "));
    assert_eq!(netwatch(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(netwatch(&["replay"]).status.code(), Some(2));
    assert_eq!(
        netwatch(&["replay", "a.pcap", "--bogus"]).status.code(),
        Some(2)
    );
}

#[test]
fn replay_prints_every_rule_as_eve_and_deterministic_stats() {
    let p = tmp("every.pcap", &pcap_of(&every_rule_capture()));
    let o = netwatch(&["replay", p.to_str().unwrap(), "--stats"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let alerts = lines(&o);
    let rules: std::collections::BTreeSet<String> = alerts
        .iter()
        .map(|a| a["netwatch"]["rule"].as_str().unwrap().to_string())
        .collect();
    for r in [
        "portscan.vertical",
        "portscan.horizontal",
        "synflood",
        "bruteforce",
        "dns.tunnel",
        "c2.beacon",
    ] {
        assert!(rules.contains(r), "missing {r}: {rules:?}");
    }
    for a in &alerts {
        assert_eq!(a["event_type"], "alert");
        assert_eq!(a["alert"]["action"], "allowed");
        assert!(a["alert"]["signature_id"].as_u64().unwrap() >= 9_100_001);
        assert!(a["timestamp"].as_str().unwrap().ends_with("+0000"));
        assert!(!a["netwatch"]["summary"].as_str().unwrap().is_empty());
    }
    let s = stats(&o);
    let c = &s["counters"];
    assert_eq!(
        c["packets"].as_u64().unwrap(),
        every_rule_capture().len() as u64
    );
    assert!(c["flows_created"].as_u64().unwrap() > 0);
    for k in ["bytes", "decode_errors", "flows_evicted", "flows_expired"] {
        assert!(!c[k].is_null(), "counter {k}");
    }
    for k in ["elapsed_s", "pps", "peak_rss_bytes", "peak_heap_bytes"] {
        assert!(s["run"][k].is_number(), "run.{k}");
    }
    // Same capture, same output, byte for byte.
    let again = netwatch(&["replay", p.to_str().unwrap(), "--stats"]);
    assert_eq!(o.stdout, again.stdout);
    assert_eq!(stats(&again)["counters"], s["counters"]);
}

#[test]
fn pcapng_gives_the_same_alerts_as_pcap() {
    let frames = every_rule_capture();
    let a = netwatch(&["replay", tmp("x.pcap", &pcap_of(&frames)).to_str().unwrap()]);
    let b = netwatch(&[
        "replay",
        tmp("x.pcapng", &pcapng(1, &frames)).to_str().unwrap(),
    ]);
    assert_eq!(
        b.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&b.stderr)
    );
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn bpf_filter_applies_and_bad_bpf_is_a_usage_error() {
    let p = tmp("bpf.pcap", &pcap_of(&every_rule_capture()));
    let o = netwatch(&[
        "replay",
        p.to_str().unwrap(),
        "--bpf",
        "udp port 53",
        "--stats",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let rules: Vec<String> = lines(&o)
        .iter()
        .map(|a| a["netwatch"]["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(
        rules.iter().all(|r| r == "dns.tunnel") && !rules.is_empty(),
        "{rules:?}"
    );
    let o = netwatch(&["replay", p.to_str().unwrap(), "--bpf", "port nonsense ((("]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(err.contains("BPF"));
}

#[test]
fn missing_garbage_and_absurd_files_exit_1_with_one_line() {
    let o = netwatch(&["replay", "/nonexistent/capture.pcap"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
    let g = tmp(
        "garbage.pcap",
        b"this is not a capture file at all, just text\n",
    );
    assert_eq!(
        netwatch(&["replay", g.to_str().unwrap()]).status.code(),
        Some(1)
    );
    // A record header claiming a 2 GB frame.
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    w.packet(
        T0,
        &eth_ip(&ip("10.0.0.1", "10.0.0.2", 17, &udp(1, 2, b"ok"))),
    );
    w.buf.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f,
    ]);
    let a = tmp("absurd.pcap", &w.buf);
    let o = netwatch(&["replay", a.to_str().unwrap(), "--stats"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stats(&o)["counters"]["packets"],
        1,
        "what was readable was processed"
    );
}

#[test]
fn truncated_capture_processes_what_it_can_then_says_where_it_stopped() {
    let full = pcap_of(&every_rule_capture());
    let cut = &full[..full.len() * 2 / 3 + 5];
    let p = tmp("cut.pcap", cut);
    let o = netwatch(&["replay", p.to_str().unwrap(), "--stats"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("after") && err.contains("packets"), "{err}");
    let n = stats(&o)["counters"]["packets"].as_u64().unwrap();
    assert!(n > 1000, "processed {n} packets before the damage");
    assert!(
        !lines(&o).is_empty(),
        "alerts from the readable part are printed"
    );
    // Several files: a damaged one ends the replay there, names itself, and later files are
    // not read; a missing one is refused before any packet.
    let whole = tmp("whole.pcap", &full);
    let o = netwatch(&[
        "replay",
        p.to_str().unwrap(),
        whole.to_str().unwrap(),
        "--stats",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cut.pcap") && err.contains("after"), "{err}");
    assert_eq!(stats(&o)["counters"]["packets"].as_u64().unwrap(), n);
    let o = netwatch(&[
        "replay",
        whole.to_str().unwrap(),
        "/nonexistent/b.pcap",
        "--stats",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        lines(&o).is_empty(),
        "nothing replayed before every file opened"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/b.pcap"));
}

#[test]
fn hostile_capture_counts_and_survives() {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    // zero-length frame, truncated headers, a 64 KiB GRO frame, time going back and jumping a year
    w.packet(T0, &[]);
    w.packet(T0 + 1, &[0x02, 0, 0]);
    w.packet(T0 + 2, &eth(0x0800, &[0x45, 0, 0]));
    let big = eth_ip(&ip(
        "10.0.0.1",
        "10.0.0.2",
        6,
        &tcp(1000, 443, ACK, &vec![0u8; 65_000]),
    ));
    w.packet(T0 + 3, &big);
    w.packet(
        T0 - 3_600 * S,
        &eth_ip(&ip("10.0.0.1", "10.0.0.2", 17, &udp(1, 2, b"back"))),
    );
    w.packet(
        T0 + 365 * 86_400 * S,
        &eth_ip(&ip("10.0.0.1", "10.0.0.2", 17, &udp(1, 2, b"fwd"))),
    );
    // Snaplen-cut record: 60 bytes captured of 1500.
    let f = eth_ip(&ip(
        "10.0.0.1",
        "10.0.0.2",
        6,
        &tcp(1000, 80, ACK, &[0u8; 1446]),
    ));
    w.packet_len(T0 + 365 * 86_400 * S + 1, &f[..60], 1500);
    let p = tmp("hostile.pcap", &w.buf);
    let o = netwatch(&["replay", p.to_str().unwrap(), "--stats"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let c = &stats(&o)["counters"];
    assert_eq!(c["decode_errors"]["empty_frame"], 1);
    assert_eq!(c["decode_errors"]["truncated_link"], 1);
    assert_eq!(c["decode_errors"]["truncated_ip"], 1);
    assert_eq!(c["clock_jumps_back"], 1);
    assert_eq!(c["clock_jumps_forward"], 1);
    assert_eq!(c["packets"], 7);
    assert_eq!(
        c["bytes"].as_u64().unwrap(),
        3 + 17 + big.len() as u64 + 46 + 45 + 1500
    );
}

#[test]
fn check_config_accepts_the_sample_and_rejects_bad_values() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/config/netwatch.toml");
    let o = netwatch(&["check-config", sample]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("profile router"));
    let bad = tmp("bad.toml", b"[rules.portscan]\nwindow_s = 0\n");
    let o = netwatch(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("rules.portscan.window_s") && err.contains("5..=3600"),
        "{err}"
    );
    let o = netwatch(&["replay", "x.pcap", "-c", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        netwatch(&["check-config", "/nonexistent.toml"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn eve_alert_format_snapshot() {
    let p = tmp("snap.pcap", &pcap_of(&every_rule_capture()));
    let o = netwatch(&["replay", p.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let first_of = |rule: &str| {
        text.lines()
            .find(|l| l.contains(&format!("\"rule\":\"{rule}\"")))
            .unwrap()
            .to_string()
    };
    insta::assert_snapshot!("eve_portscan_vertical", first_of("portscan.vertical"));
    insta::assert_snapshot!("eve_dns_tunnel", first_of("dns.tunnel"));
    insta::assert_snapshot!("eve_synflood", first_of("synflood"));
}

/// Runtime conditions at start are retried, not fatal: a missing interface, an unwritable
/// database path and an unresolvable syslog host are each logged once naming the key, the
/// daemon keeps running, and SIGTERM still ends it cleanly with exit 0.
#[test]
fn run_retries_runtime_conditions_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("netwatch-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("blocker"), b"a file where a directory should be").unwrap();
    let cfg = dir.join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\npath = \"{}/blocker/netwatch.db\"\n[syslog]\ntarget = \"udp:no-such-host.invalid:514\"\n[daemon]\nuser = \"{}\"\n",
            dir.display(),
            // As root, drop to this very user's name (root refused) — nobody exists on Debian.
            "nobody"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_netwatch"))
        .args(["run", "-c", cfg.to_str().unwrap(), "--iface", "nwmissing0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running after 4 s of failures"
    );
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    // It promises to exit within 2 s of SIGTERM; the limit leaves room for a loaded machine.
    let out = deadline::wait_within(
        child,
        std::time::Duration::from_secs(5),
        "netwatch run to exit after SIGTERM",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        err.matches("cannot open interface nwmissing0").count(),
        1,
        "logged once, not per retry: {err}"
    );
    assert!(err.contains("retrying with back-off"), "{err}");
    assert_eq!(
        err.matches("store.path `").count(),
        1,
        "store errors at most once a minute: {err}"
    );
    assert!(
        err.contains("syslog.target `udp:no-such-host.invalid:514`"),
        "{err}"
    );
    assert!(err.contains("\"counters\""), "final stats printed: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_refuses_bad_config_with_exit_2() {
    let cfg = tmp("bad-run.toml", b"[syslog]\ntarget = \"udp:host\"\n");
    let o = netwatch(&["run", "-c", cfg.to_str().unwrap(), "--iface", "lo"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("syslog.target") && err.contains("HOST:PORT"),
        "{err}"
    );
}

#[test]
fn alerts_lists_incidents_and_the_alerts_of_one() {
    // A 20-minute nmap -T1 scan, stored as the daemon stores it (repeats included).
    let mut tr = Traffic::new();
    for i in 0..80u16 {
        let t = T0 + i as i64 * 15 * S;
        tr.tcp_pkt(t, "10.0.0.66", 40000 + i, "10.0.0.5", 1000 + i, SYN, &[]);
        tr.tcp_pkt(
            t + 300,
            "10.0.0.5",
            1000 + i,
            "10.0.0.66",
            40000 + i,
            RST | ACK,
            &[],
        );
    }
    let frames = tr.frames();
    let cfg = default_config();
    let db = tmp("incidents.db", b"");
    std::fs::remove_file(&db).unwrap();
    let mut scfg = cfg.store.clone();
    scfg.path = db.display().to_string();
    scfg.max_age_s = 3650 * 86_400;
    let mut store = netwatch::store::Store::new(scfg);
    let mut p = netwatch::pipeline::Pipeline::new(&cfg);
    p.report_repeats(true);
    let mut emitted = 0;
    for (t, f) in &frames {
        p.process(1, *t, f, f.len() as u32, &mut |a| {
            emitted += usize::from(!a.suppressed);
            store.add_alert(a);
        });
    }
    p.finish(&mut |a| {
        emitted += usize::from(!a.suppressed);
        store.add_alert(a);
    });
    store.close();
    assert!(emitted >= 3, "{emitted} alerts");
    let d = db.to_str().unwrap();
    let o = netwatch(&["alerts", "--db", d, "--incidents"]);
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().count(), 1, "one attack, one incident: {text}");
    assert!(text.starts_with("#1 "), "{text}");
    assert!(
        text.contains("portscan")
            && text.contains("closed")
            && text.contains(&format!("{emitted} alert(s)")),
        "{text}"
    );
    let o = netwatch(&[
        "alerts",
        "--db",
        d,
        "--incidents",
        "--json",
        "--rule",
        "portscan.horizontal",
    ]);
    let v = lines(&o);
    assert_eq!(v.len(), 1);
    assert_eq!(
        (&v[0]["id"], &v[0]["rule"], &v[0]["src"]),
        (&1.into(), &"portscan".into(), &"10.0.0.66".into())
    );
    assert!(
        v[0]["events"].as_u64().unwrap() > emitted as u64,
        "held-back repeats are sightings"
    );
    let o = netwatch(&["alerts", "--db", d, "--incident", "1", "--json"]);
    let v = lines(&o);
    assert_eq!(v.len(), emitted);
    assert!(v.iter().all(|e| e["netwatch"]["incident_id"] == 1));
    assert!(netwatch(&["alerts", "--db", d, "--incident", "2"])
        .stdout
        .is_empty());
    let o = netwatch(&["alerts", "--db", d, "--incidents", "--rule", "nope"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn devices_are_stored_restored_and_listed_with_names_escaped() {
    use netwatch::state::devices::{Devices, Kind};
    // Devices learnt from the wire (a DHCP client with a hostile host name, a laptop from
    // ARP) and one the user labelled, stored as the daemon stores them.
    let mut dhcp = vec![0u8; 236];
    dhcp[..3].copy_from_slice(&[1, 1, 6]);
    dhcp[28..34].copy_from_slice(&[0x3c, 0x22, 0xfb, 1, 2, 3]);
    dhcp.extend_from_slice(&[99, 130, 83, 99, 53, 1, 3, 12, 9]);
    dhcp.extend_from_slice(b"a\x1b[2Jb<i>");
    dhcp.push(255);
    let cfg = default_config();
    let mut p = netwatch::pipeline::Pipeline::new(&cfg);
    let frames = [
        eth_ip(&ipv4([0; 4], [255; 4], 17, &udp(68, 67, &dhcp))),
        arp(2, v4("192.168.1.20"), v4("192.168.1.1")),
    ];
    for (i, f) in frames.iter().enumerate() {
        p.process(1, T0 + i as i64 * S, f, f.len() as u32, &mut |_| {});
    }
    let tv = [0x02, 0, 0, 0, 0, 1];
    p.devices_mut()
        .get_mut(&tv)
        .expect("the ARP sender (support's MAC 02:00:00:00:00:01)")
        .label(Some("Living-room TV"), Some(Kind::Tv));
    let db = tmp("devices.db", b"");
    std::fs::remove_file(&db).unwrap();
    let mut scfg = cfg.store.clone();
    scfg.path = db.display().to_string();
    let mut store = netwatch::store::Store::new(scfg);
    store.save_devices(p.devices().iter().map(|(m, d)| (*m, d.clone())).collect());
    store.close();

    // Restored as they were (a restart keeps names, labels and addresses).
    let rows = netwatch::store::load_devices(&db, 1);
    assert_eq!(rows.len(), 2);
    let mut again = Devices::new(16);
    again.restore(rows);
    for (mac, d) in p.devices().iter() {
        let r = again.get(mac).expect("restored");
        assert_eq!(
            (&r.name, r.name_source, r.kind, &r.v4, r.first_seen),
            (&d.name, d.name_source, d.kind, &d.v4, d.first_seen)
        );
    }

    let d = db.to_str().unwrap();
    let o = netwatch(&["devices", "--db", d]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("02:00:00:00:00:01*  tv       Living-room TV "),
        "{text}"
    );
    assert!(text.contains("192.168.1.20"), "{text}");
    assert!(text.contains("3c:22:fb:01:02:03"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "control characters escaped: {text:?}"
    );
    assert!(text.contains("Apple"), "{text}");
    let o = netwatch(&["devices", "--db", d, "--json"]);
    let l = lines(&o);
    assert_eq!(l.len(), 2);
    let named: Vec<&serde_json::Value> = l.iter().filter(|v| v["name_source"] == "dhcp").collect();
    assert_eq!(named[0]["name"], "a\u{1b}[2Jb<i>");
    let o = netwatch(&["devices", "--db", "/nonexistent/netwatch.db"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such database"));
    let o = netwatch(&["devices", "--bogus"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn block_commands_check_their_words_and_say_when_the_daemon_is_away() {
    let o = netwatch(&["help", "block"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("netwatch unblock ADDR") && text.contains("refuses"),
        "{text}"
    );
    assert_eq!(
        netwatch(&["block", "not-an-address"]).status.code(),
        Some(2)
    );
    assert_eq!(
        netwatch(&["block", "203.0.113.9", "--for", "10s"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(netwatch(&["blocks", "--for", "1h"]).status.code(), Some(2));
    // A port where nothing listens: a runtime failure that says what to do.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = tmp(
        "block.toml",
        format!("[web]\nlisten = [\"127.0.0.1:{port}\"]\ntoken = \"cli-block-token-0123\"\n")
            .as_bytes(),
    );
    let o = netwatch(&["block", "203.0.113.9", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot reach the daemon") && err.contains("netwatch run"),
        "{err}"
    );
}
