//! The UCI reader on real-world UCI syntax, and its errors with line numbers.

#[path = "support/deadline.rs"]
#[allow(dead_code)] // each test binary uses a different part
mod deadline;

use deadline::{output_within, CHILD_LIMIT};
use netwatch::config::Config;
use std::path::PathBuf;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netwatch-uci-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn load(text: &str) -> Result<Config, String> {
    // Tests run in parallel threads of one process: one file per call.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "cfg-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    Config::load_uci(&write(&name, text)).map_err(|e| e.to_string())
}

#[test]
fn shipped_openwrt_config_validates() {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/openwrt/files/netwatch.config"
    ));
    let c = Config::load_uci(&p).expect("shipped UCI config validates");
    assert_eq!(
        c.capture.interfaces,
        vec!["br-lan".to_string()],
        "empty wan_interface adds nothing"
    );
    assert_eq!(c.rules.portscan.vertical_ports, 12);
    assert_eq!(c.home_net.len(), 2);
    assert_eq!(c.rules.beacon.allow.ports.as_slice(), [53, 123]);
    // Router defaults: database in RAM, syslog to logd's socket in RFC 3164, no EVE on stdout.
    assert_eq!(c.store.path, "/tmp/netwatch/netwatch.db");
    assert_eq!(c.store.max_bytes, 4096 * 1024);
    assert_eq!(
        c.syslog.target,
        netwatch::config::SyslogTarget::Unix("/dev/log".into())
    );
    assert_eq!(c.syslog.format, netwatch::config::SyslogFormat::Rfc3164);
    assert!(!c.eve.stdout);
    assert_eq!(c.daemon.user, "nobody");
}

#[test]
fn output_sections_map_to_toml_tables() {
    let c = load(
        "config netwatch 'main'\n\
         config store 'store'\n\toption path '/mnt/usb/nw.db'\n\toption keep '3'\n\
         config syslog 'syslog'\n\toption target 'udp:192.168.1.10:514'\n\toption format 'rfc5424'\n\
         config eve 'eve'\n\toption stdout '0'\n\toption path '/tmp/eve.json'\n\
         config daemon 'daemon'\n\toption exclude_own_traffic 'off'\n",
    )
    .unwrap();
    assert_eq!(c.store.path, "/mnt/usb/nw.db");
    assert_eq!(c.store.keep, 3);
    assert_eq!(
        c.syslog.target,
        netwatch::config::SyslogTarget::Udp("192.168.1.10".into(), 514)
    );
    assert_eq!(c.syslog.format, netwatch::config::SyslogFormat::Rfc5424);
    assert!(!c.eve.stdout);
    assert_eq!(c.eve.path, "/tmp/eve.json");
    assert!(!c.daemon.exclude_own_traffic);
    let e = load("config netwatch 'main'\nconfig syslog 'syslog'\n\toption target 'udp:nowhere'\n")
        .unwrap_err();
    assert!(e.contains("syslog.target") && e.contains("line 3"), "{e}");
}

#[test]
fn real_world_syntax_maps_to_toml_keys() {
    let c = load(
        "# comment line\n\
         config netwatch 'main'\n\
         \toption enabled 1\n\
         \toption profile \"standard\"\n\
         \tlist interface br-lan   # trailing comment\n\
         \toption wan_interface 'pppoe-wan'\n\
         \toption bpf 'not port 22'\n\
         \toption promiscuous '0'\n\
         \tlist home_net '10.0.0.0/8'\n\
         \toption suppress_s '120'\n\
         \n\
         config flow\n\
         \toption udp_timeout_s 90\n\
         config rule 'bruteforce'\n\
         \tlist extra_ports '2222'\n\
         \toption max_reply_bytes 20000\n\
         config rule 'synflood'\n\
         \toption max_completion '0.1'\n\
         config rule 'dns_tunnel'\n\
         \tlist allow_domains 'example.org'\n",
    )
    .unwrap();
    assert_eq!(c.profile.name(), "standard");
    assert_eq!(c.capture.interfaces, vec!["br-lan", "pppoe-wan"]);
    assert_eq!(c.capture.bpf, "not port 22");
    assert!(!c.capture.promiscuous);
    assert_eq!(c.suppress_s, 120);
    assert_eq!(c.flow.other_us, 90_000_000);
    assert!(c.rules.bruteforce.ports.contains(2222) && c.rules.bruteforce.ports.contains(22));
    assert_eq!(c.rules.bruteforce.max_reply_bytes, 20000);
    assert_eq!(c.rules.synflood.max_completion, 0.1);
    assert_eq!(c.rules.dns_tunnel.allow_domains, vec!["example.org"]);
}

#[test]
fn bad_files_are_refused_with_line_numbers() {
    let e = load("config netwatch 'main'\n\toption nonsense 1\n").unwrap_err();
    assert!(e.contains("line 2") && e.contains("nonsense"), "{e}");
    let e = load("option profile router\n").unwrap_err();
    assert!(e.contains("line 1"), "{e}");
    let e = load("config netwatch 'main'\n\n\toption bpf 'unterminated\n").unwrap_err();
    assert!(e.contains("line 3") && e.contains("quote"), "{e}");
    let e = load("config rule 'telepathy'\n").unwrap_err();
    assert!(e.contains("line 1") && e.contains("telepathy"), "{e}");
    let e = load("config rule 'portscan'\n\toption enabled maybe\n").unwrap_err();
    assert!(e.contains("line 2"), "{e}");
    let e = load("config netwatch main\n\toption x\n").unwrap_err();
    assert!(e.contains("line 2"), "{e}");
    // Range errors come from the shared validation, with the UCI line added.
    let e = load("config netwatch 'main'\nconfig rule 'portscan'\n\toption vertical_ports '99'\n")
        .unwrap_err();
    assert!(
        e.contains("rules.portscan.vertical_ports")
            && e.contains("3..=32")
            && e.contains("UCI line 3"),
        "{e}"
    );
    let e = load("config rule 'bruteforce'\n\tlist extra_ports 'ssh'\n").unwrap_err();
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn check_config_and_replay_accept_uci() {
    let p = write("ok", "config netwatch 'main'\n\toption profile 'router'\n");
    let bin = env!("CARGO_BIN_EXE_netwatch");
    let o = output_within(
        std::process::Command::new(bin).args(["check-config", "--uci", p.to_str().unwrap()]),
        CHILD_LIMIT,
        "netwatch check-config --uci",
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let bad = write("bad", "config rule 'beacon'\n\toption max_chance '2'\n");
    let o = output_within(
        std::process::Command::new(bin).args(["check-config", "--uci", bad.to_str().unwrap()]),
        CHILD_LIMIT,
        "netwatch check-config --uci (bad)",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("UCI line 2"));
}
