//! The shipped sample config documents every key with its default: it must validate to exactly
//! the built-in defaults. Bad values are refused with the key, the value and the range.

use netwatch::config::{Config, FileConfig, Profile};

fn parse(text: &str) -> Result<Config, String> {
    FileConfig::parse(text, "t.toml")
        .and_then(|f| f.validate())
        .map_err(|e| e.to_string())
}

#[test]
fn shipped_config_is_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/netwatch.toml");
    let shipped = Config::load(std::path::Path::new(path)).expect("shipped config validates");
    assert_eq!(shipped, Config::default_config());
    let text = std::fs::read_to_string(path).unwrap();
    for key in [
        "profile",
        "home_net",
        "sketch_key",
        "interfaces",
        "bpf",
        "snaplen",
        "promiscuous",
        "buffer_kib",
        "immediate",
        "timeout_ms",
        "flows",
        "scan_targets",
        "scan_sweeps",
        "slow_scanners",
        "fragment_trains",
        "slow_window_s",
        "slow_vertical_ports",
        "slow_horizontal_hosts",
        "syn_victims",
        "login_pairs",
        "dns_domains",
        "beacon_pairs",
        "suppression",
        "devices",
        "unanswered_timeout_s",
        "tcp_timeout_s",
        "udp_timeout_s",
        "closed_timeout_s",
        "history_1s",
        "history_10s",
        "history_60s",
        "suppress_s",
        "vertical_ports",
        "horizontal_hosts",
        "window_s",
        "syn_rate",
        "max_completion",
        "attempts",
        "ports",
        "extra_ports",
        "http_ports",
        "slow_attempts",
        "long_attempts",
        "long_window_s",
        "max_attempt_duration_s",
        "max_reply_bytes",
        "min_queries",
        "min_unique",
        "name_bytes",
        "long_label",
        "entropy_bits",
        "allow_domains",
        "min_connections",
        "max_chance",
        "max_jitter",
        "min_interval_s",
        "max_interval_s",
        "allow_src",
        "allow_dst",
        "allow_ports",
        "enabled",
        "path",
        "max_kib",
        "keep",
        "max_age_days",
        "batch_alerts",
        "retry_queue",
        "target",
        "format",
        "facility",
        "hostname",
        "queue",
        "stdout",
        "user",
        "group",
        "allow_root",
        "exclude_own_traffic",
        "listen",
        "max_clients",
        "token",
        "allow_origins",
    ] {
        assert!(
            text.contains(&format!("{key} =")),
            "config/netwatch.toml does not document `{key}`"
        );
    }
}

#[test]
fn profiles_scale_capacities_and_router_fits_its_budget() {
    let r = parse("").unwrap();
    let s = parse("profile = \"standard\"").unwrap();
    let z = parse("profile = \"sensor\"\n[capacity]\nflows = 1000").unwrap();
    assert_eq!(r.profile, Profile::Router);
    assert_eq!(s.capacity.flows, 4 * r.capacity.flows);
    assert_eq!(
        z.capacity.flows, 1000,
        "per-table override wins over the profile"
    );
    assert_eq!(z.capacity.scan_targets, 16 * r.capacity.scan_targets);
    // All fixed tables of the router profile together ≤ 8 MiB.
    let bytes = netwatch::pipeline::Pipeline::new(&r).footprint_bytes();
    assert!(bytes <= 8 << 20, "router tables take {bytes} bytes");
}

#[test]
fn errors_name_key_value_and_range() {
    let e = parse("[rules.portscan]\nvertical_ports = 500").unwrap_err();
    assert!(
        e.contains("rules.portscan.vertical_ports") && e.contains("500") && e.contains("3..=32"),
        "{e}"
    );
    let e = parse("[flow]\ntcp_timeout_s = 1").unwrap_err();
    assert!(
        e.contains("flow.tcp_timeout_s") && e.contains("10..=432000"),
        "{e}"
    );
    let e = parse("[rules.synflood]\nmax_completion = 1.5").unwrap_err();
    assert!(
        e.contains("rules.synflood.max_completion") && e.contains("1.5"),
        "{e}"
    );
    let e = parse("[rules.beacon]\nallow_dst = [\"10.0.0.0/40\"]").unwrap_err();
    assert!(
        e.contains("rules.beacon.allow_dst") && e.contains("10.0.0.0/40"),
        "{e}"
    );
    let e = parse("profile = \"huge\"").unwrap_err();
    assert!(e.contains("profile") && e.contains("huge"), "{e}");
    let e = parse("[rules.dns_tunnel]\nallow_domains = [\"bad domain\"]").unwrap_err();
    assert!(e.contains("allow_domains"), "{e}");
}

#[test]
fn unknown_keys_and_wrong_types_are_refused() {
    let e = parse("[rules.portscan]\nvertical_port = 10").unwrap_err();
    assert!(e.contains("vertical_port"), "{e}");
    let e = parse("[capture]\nsnaplen = \"big\"").unwrap_err();
    assert!(e.contains("snaplen"), "{e}");
    let e = parse("nonsense = 1").unwrap_err();
    assert!(e.contains("nonsense"), "{e}");
    assert!(parse("[[[").is_err());
    // Each error names the key's table and the line it is on, even where an earlier table
    // has a key of the same name.
    let text = "profile = \"router\"\n[rules.portscan]\nenabled = true\n\n[rules.synflood]\n\nenabled = \"x\"\n";
    let e = parse(text).unwrap_err();
    assert!(
        e.contains("rules.synflood.enabled") && e.contains("(line 7)"),
        "{e}"
    );
    let e = parse("[rules.portscan]\nwindow_s = 5\n# c\nwindw_s = 6\n").unwrap_err();
    assert!(
        e.contains("unknown field `windw_s`")
            && e.contains("rules.portscan")
            && e.contains("(line 4)"),
        "{e}"
    );
    let e = parse("x = [1,\n").unwrap_err();
    assert!(e.contains("line 1") || e.contains("line 2"), "{e}");
}

#[test]
fn outputs_and_daemon_settings() {
    use netwatch::config::{SyslogFormat, SyslogTarget};
    let r = parse("").unwrap();
    assert_eq!(r.store.path, "/tmp/netwatch/netwatch.db", "router: RAM");
    assert_eq!(r.store.max_bytes, 4 << 20);
    assert_eq!(r.syslog.target, SyslogTarget::Unix("/dev/log".into()));
    assert_eq!(r.syslog.format, SyslogFormat::Rfc3164, "logd speaks 3164");
    let s = parse("profile = \"standard\"").unwrap();
    assert_eq!(s.store.path, "/var/lib/netwatch/netwatch.db");
    assert_eq!(s.syslog.format, SyslogFormat::Rfc5424);
    let t = parse("[syslog]\ntarget = \"udp:[fd00::1]:5514\"\nfacility = \"local3\"").unwrap();
    assert_eq!(t.syslog.target, SyslogTarget::Udp("fd00::1".into(), 5514));
    assert_eq!(t.syslog.facility, 19);
    let t = parse("[syslog]\ntarget = \"tcp:logs.example:6514\"").unwrap();
    assert_eq!(
        t.syslog.target,
        SyslogTarget::Tcp("logs.example".into(), 6514)
    );
    for (text, key, word) in [
        (
            "[syslog]\ntarget = \"udp:host\"",
            "syslog.target",
            "HOST:PORT",
        ),
        (
            "[syslog]\ntarget = \"udp:host:0\"",
            "syslog.target",
            "1..=65535",
        ),
        (
            "[syslog]\ntarget = \"http://x\"",
            "syslog.target",
            "http://x",
        ),
        (
            "[syslog]\ntarget = \"unix:dev/log\"",
            "syslog.target",
            "absolute",
        ),
        ("[syslog]\nformat = \"json\"", "syslog.format", "json"),
        ("[syslog]\nfacility = \"kern\"", "syslog.facility", "kern"),
        (
            "[syslog]\nhostname = \"a b\"",
            "syslog.hostname",
            "printable",
        ),
        ("[store]\nmax_kib = 10", "store.max_kib", "256..="),
        ("[store]\nkeep = 0", "store.keep", "1..=16"),
        ("[store]\npath = \"/var/lib/\"", "store.path", "not a file"),
        ("[daemon]\nuser = \"root\"", "daemon.user", "allow_root"),
        ("[daemon]\ngroup = \"a:b\"", "daemon.group", "a:b"),
        ("[eve]\nkeep = 99", "eve.keep", "1..=16"),
        ("[web]\nlisten = [\"8787\"]", "web.listen", "ADDR:PORT"),
        ("[web]\nlisten = [\"@br-lan\"]", "web.listen", "port"),
        ("[web]\nlisten = [\"@a/b:80\"]", "web.listen", "interface"),
        ("[web]\nmax_clients = 0", "web.max_clients", "1..=64"),
        ("[web]\ntoken = \"short\"", "web.token", "16..=128"),
        ("[web]\ntoken = \"off\"", "web.token", "loopback"),
        (
            "[web]\nlisten = [\"0.0.0.0:1\"]\ntoken = \"off\"",
            "web.token",
            "loopback",
        ),
        (
            "[web]\nallow_origins = [\"http://x/path\"]",
            "web.allow_origins",
            "origin",
        ),
        (
            "[web]\nallow_origins = [\"*\"]",
            "web.allow_origins",
            "origin",
        ),
    ] {
        let e = parse(text).unwrap_err();
        assert!(e.contains(key) && e.contains(word), "{text}: {e}");
    }
    let off =
        parse("[web]\nlisten = [\"127.0.0.1:8787\", \"[::1]:8787\"]\ntoken = \"off\"").unwrap();
    assert_eq!(off.web.token, netwatch::config::WebToken::Off);
    assert!(parse("[web]\nlisten = []").unwrap().web.listen.is_empty());
    let root = parse("[daemon]\nuser = \"root\"\nallow_root = true").unwrap();
    assert!(root.daemon.allow_root);
}

#[test]
fn allowlisted_ports_and_destinations_below_and_above_1024() {
    let c = parse(
        "[rules.beacon]\nallow_ports = [5353, 22, 443, 22, 1023, 1024, 65535]\nallow_dst = [\"10.9.0.0/16\"]\n",
    )
    .unwrap();
    let a = &c.rules.beacon.allow;
    assert_eq!(
        a.ports.as_slice(),
        [22, 443, 1023, 1024, 5353, 65535],
        "sorted, no duplicates"
    );
    for p in [22, 443, 1023, 1024, 5353, 65535] {
        assert!(a.port_listed(p), "{p}");
    }
    for p in [0, 21, 23, 80, 442, 444, 1022, 1025, 5354, 65534] {
        assert!(!a.port_listed(p), "{p}");
    }
    let out = netwatch::addr::Addr::v4([192, 0, 2, 1]);
    let inside = netwatch::addr::Addr::v4([10, 9, 3, 4]);
    assert!(a.dst_allowed(&out, 443) && !a.dst_allowed(&out, 80) && !a.dst_allowed(&out, 0));
    assert!(a.dst_allowed(&inside, 80) && a.dst_allowed(&inside, 0));
}

#[test]
fn overrides_are_written_as_toml_that_reads_back_the_same() {
    use netwatch::config::{merge_tables, write_toml};
    let text = r#"
[alerts]
suppress_s = 120
[rules.dns_tunnel]
allow_domains = ["a\"b\\c", "line\nbreak", "ünï", "ctl\u0001"]
min_score = 0.75
[rules."odd key"]
enabled = false
"#;
    let t: toml::Table = text.parse().unwrap();
    let back: toml::Table = write_toml(&t).parse().unwrap();
    assert_eq!(back, t);
    // Tables merge key by key; anything else is replaced.
    let mut base: toml::Table = "[rules.portscan]\nwindow_s = 90\nvertical_ports = 12\n"
        .parse()
        .unwrap();
    let over: toml::Table = "[rules.portscan]\nvertical_ports = 30\n".parse().unwrap();
    merge_tables(&mut base, &over);
    assert_eq!(base["rules"]["portscan"]["window_s"].as_integer(), Some(90));
    assert_eq!(
        base["rules"]["portscan"]["vertical_ports"].as_integer(),
        Some(30)
    );
}
