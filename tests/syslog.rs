//! Syslog message formats, byte for byte (insta snapshots), and the escaping of attacker data.

use netwatch::addr::Addr;
use netwatch::config::SyslogFormat;
use netwatch::detect::{community_id, Alert, Figure, RuleId};
use netwatch::output::syslog;

/// 2026-11-26T14:38:38.941625Z
const TS: i64 = 1_795_703_918_941_625;

fn scan() -> Alert {
    let mut a = Alert::new(RuleId::PortscanVertical, TS);
    a.src = Addr::v4([10, 77, 0, 1]);
    a.dst = Addr::v4([10, 77, 0, 2]);
    a.dport = 443;
    a.sport = 40_000;
    a.proto = 6;
    a.community_id = Some(community_id(0, a.src, a.sport, a.dst, a.dport, a.proto));
    a.evidence.fig("distinct_ports", Figure::U(12));
    a.evidence.fig("threshold", Figure::U(12));
    a.evidence.fig("window_s", Figure::U(60));
    a.repeats = 3;
    a
}

fn hostile_dns() -> Alert {
    let mut a = Alert::new(RuleId::DnsTunnel, TS);
    a.src = Addr::v6([0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    a.dst = Addr::v6([0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    a.dport = 53;
    a.proto = 17;
    // A registered domain as it came off the wire: quotes, backslash, bracket, newline,
    // a fake second SD element and a non-UTF-8 byte.
    a.evidence
        .domain
        .extend_from_slice(b"ev\"il]\\x\n[fake@1 a=\"b\"]\xff.example")
        .unwrap();
    a.evidence.fig("queries", Figure::U(40));
    a.evidence.fig("unique_subdomains", Figure::U(38));
    a.evidence.fig("name_bytes", Figure::U(2100));
    a.evidence.fig("entropy_bits", Figure::F(4.25));
    a.evidence.fig("window_s", Figure::U(60));
    a
}

fn fmt(f: SyslogFormat, host: &str, a: &Alert) -> String {
    let mut s = String::new();
    syslog::format(&mut s, f, 3, host, 4242, a);
    s
}

#[test]
fn rfc5424_scan() {
    insta::assert_snapshot!(fmt(SyslogFormat::Rfc5424, "router", &scan()));
}

#[test]
fn rfc3164_scan_local_and_remote() {
    let local = fmt(SyslogFormat::Rfc3164, "", &scan());
    assert!(
        local.starts_with("<28>Nov 26 14:38:38 netwatch[4242]: "),
        "{local}"
    );
    insta::assert_snapshot!(fmt(SyslogFormat::Rfc3164, "router", &scan()));
}

/// Split RFC 5424 structured data the way a collector does; returns (params, rest).
fn parse_sd(msg: &str) -> (Vec<(String, String)>, String) {
    let start = msg.find('[').unwrap();
    let b = msg.as_bytes();
    let mut i = start + 1;
    while b[i] != b' ' {
        i += 1;
    }
    let mut params = Vec::new();
    loop {
        match b[i] {
            b']' => return (params, msg[i + 1..].to_string()),
            b' ' => i += 1,
            _ => {
                let eq = i + msg[i..].find('=').unwrap();
                let name = msg[i..eq].to_string();
                assert_eq!(b[eq + 1], b'"');
                let mut v = Vec::new();
                let mut j = eq + 2;
                loop {
                    match b[j] {
                        b'\\' if matches!(b[j + 1], b'"' | b'\\' | b']') => {
                            v.push(b[j + 1]);
                            j += 2;
                        }
                        b'"' => break,
                        c => {
                            v.push(c);
                            j += 1;
                        }
                    }
                }
                params.push((name, String::from_utf8(v).unwrap()));
                i = j + 1;
            }
        }
    }
}

#[test]
fn rfc5424_attacker_bytes_stay_inside_one_param() {
    let m = fmt(SyslogFormat::Rfc5424, "", &hostile_dns());
    insta::assert_snapshot!(m);
    assert!(!m.contains('\n') && !m.contains('\r'), "one line: {m}");
    let (params, rest) = parse_sd(&m);
    let names: Vec<&str> = params.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "rule",
            "sid",
            "severity",
            "src",
            "sport",
            "dst",
            "dport",
            "proto",
            "mitre",
            "domain",
            "queries",
            "unique_subdomains",
            "name_bytes",
            "entropy_bits",
            "window_s",
            "repeats"
        ],
        "no injected parameter"
    );
    let domain = &params.iter().find(|p| p.0 == "domain").unwrap().1;
    assert!(domain.contains("ev\\\"il]\\\\x\\n[fake@1"), "{domain}");
    assert!(rest.starts_with(" fd77::1 sent 40 queries"), "{rest}");
    assert!(m.starts_with(
        "<27>1 2026-11-26T14:38:38.941625Z - netwatch 4242 dns.tunnel [netwatch@32473 "
    ));
}

#[test]
fn rfc3164_attacker_bytes_cannot_split_fields() {
    let m = fmt(SyslogFormat::Rfc3164, "", &hostile_dns());
    assert!(!m.contains('\n'), "{m}");
    let domain = m.split(" domain=").nth(1).unwrap();
    let value = domain.split(' ').next().unwrap();
    assert!(
        value.ends_with(".example"),
        "the whole domain is one token: {value}"
    );
}
