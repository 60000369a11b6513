//! Plain-language explanations, one snapshot per rule (and per sensor-health kind), built from
//! evidence shaped as each detector writes it. A changed sentence shows up as a snapshot diff.

use netwatch::addr::Addr;
use netwatch::detect::explain::explain;
use netwatch::detect::{Alert, Figure, RuleId};

const T: i64 = 1_796_000_000_000_000;

fn alert(rule: RuleId, src: [u8; 4], dst: [u8; 4], dport: u16, proto: u8, secs: i64) -> Alert {
    let mut a = Alert::new(rule, T + secs * 1_000_000);
    a.first_seen = T;
    a.last_seen = T + secs * 1_000_000;
    a.src = Addr::v4(src);
    a.dst = Addr::v4(dst);
    a.dport = dport;
    a.proto = proto;
    a
}

fn text(a: &Alert) -> String {
    let mut s = String::new();
    explain(a, &mut s).unwrap();
    assert!(
        s.len() < netwatch::detect::explain::MAX_EXPLANATION,
        "{} bytes",
        s.len()
    );
    s
}

#[test]
fn portscan_vertical() {
    let mut a = alert(
        RuleId::PortscanVertical,
        [10, 0, 0, 23],
        [10, 0, 0, 5],
        0,
        6,
        8,
    );
    a.evidence.fig("distinct_ports", Figure::U(212));
    a.evidence.fig("window_s", Figure::U(60));
    insta::assert_snapshot!(text(&a));
}

#[test]
fn portscan_horizontal() {
    let mut a = alert(
        RuleId::PortscanHorizontal,
        [192, 168, 1, 66],
        [192, 168, 1, 1],
        445,
        6,
        20,
    );
    a.evidence.fig("distinct_hosts", Figure::U(40));
    a.evidence.fig("window_s", Figure::U(60));
    insta::assert_snapshot!(text(&a));
}

#[test]
fn synflood() {
    let mut a = alert(
        RuleId::Synflood,
        [66, 125, 171, 46],
        [192, 168, 1, 5],
        80,
        6,
        0,
    );
    a.evidence.fig("syn_per_s", Figure::U(1500));
    a.evidence.fig("distinct_sources", Figure::U(1491));
    a.evidence.fig("completion_ratio", Figure::F(0.02));
    insta::assert_snapshot!(text(&a));
}

#[test]
fn bruteforce() {
    let mut a = alert(
        RuleId::Bruteforce,
        [203, 0, 113, 9],
        [192, 168, 1, 10],
        22,
        6,
        95,
    );
    a.evidence.fig("attempts", Figure::U(18));
    a.evidence.fig("window_s", Figure::U(120));
    insta::assert_snapshot!(text(&a));
}

#[test]
fn dns_tunnel_escapes_the_domain() {
    let mut a = alert(
        RuleId::DnsTunnel,
        [192, 168, 1, 50],
        [192, 168, 1, 1],
        53,
        17,
        5,
    );
    a.evidence.fig("queries", Figure::U(20));
    a.evidence.fig("unique_subdomains", Figure::U(20));
    let _ = a
        .evidence
        .domain
        .extend_from_slice(b"tunnel\x07<b>.example");
    let s = text(&a);
    assert!(
        !s.contains('\x07') && s.contains("tunnel\\x07<b>.example"),
        "{s}"
    );
    insta::assert_snapshot!(s);
}

#[test]
fn c2_beacon() {
    let mut a = alert(
        RuleId::C2Beacon,
        [192, 168, 1, 77],
        [198, 51, 100, 20],
        443,
        6,
        600,
    );
    a.evidence.fig("median_interval_s", Figure::F(60.2));
    a.evidence.fig("connections", Figure::U(11));
    insta::assert_snapshot!(text(&a));
}

#[test]
fn anomaly_host() {
    let mut a = alert(
        RuleId::AnomalyHost,
        [192, 168, 1, 15],
        [203, 0, 113, 200],
        0,
        0,
        59,
    );
    a.evidence.fig("bytes_out_observed", Figure::U(104_857_600));
    a.evidence.fig("bytes_out_baseline", Figure::U(2_100_000));
    a.evidence.fig("destinations_observed", Figure::U(300));
    a.evidence.fig("destinations_baseline", Figure::U(12));
    a.evidence.fig("factor", Figure::F(4.0));
    insta::assert_snapshot!(text(&a));
}

#[test]
fn host_new() {
    let a = alert(RuleId::HostNew, [192, 168, 1, 99], [0, 0, 0, 0], 0, 0, 0);
    insta::assert_snapshot!(text(&a));
}

#[test]
fn sensor_health() {
    let mut out = Vec::new();
    for kind in [
        "capture_loss",
        "table_evictions",
        "store_failing",
        "syslog_dropping",
    ] {
        let mut a = alert(RuleId::SensorHealth, [0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0);
        a.evidence.fig("kind", Figure::S(kind));
        a.evidence.fig("interface", Figure::S("br-lan"));
        a.evidence.fig("table", Figure::S("flows"));
        a.evidence.fig("loss_pct", Figure::F(3.5));
        out.push(format!("{kind}: {}", text(&a)));
    }
    insta::assert_snapshot!(out.join("\n"));
}

#[test]
fn every_rule_has_an_explanation_and_a_short_form() {
    for r in RuleId::ALL {
        let a = alert(r, [10, 0, 0, 1], [10, 0, 0, 2], 80, 6, 1);
        assert!(text(&a).len() > 40, "{}", r.name());
        assert!(!netwatch::detect::explain::why(r).is_empty());
    }
}

#[test]
fn synflood_from_one_source_names_it() {
    let mut a = alert(
        RuleId::Synflood,
        [192, 168, 1, 66],
        [192, 168, 1, 5],
        443,
        6,
        0,
    );
    a.evidence.fig("syn_per_s", Figure::U(900));
    a.evidence.fig("distinct_sources", Figure::U(1));
    a.evidence.fig("completion_ratio", Figure::F(0.0));
    let s = text(&a);
    assert!(
        s.contains("from 192.168.1.66 alone") && !s.contains("about 1 "),
        "{s}"
    );
    insta::assert_snapshot!(s);
    let mut b = alert(
        RuleId::Synflood,
        [192, 168, 1, 66],
        [192, 168, 1, 5],
        443,
        6,
        0,
    );
    b.evidence.fig("syn_per_s", Figure::U(900));
    b.evidence.fig("distinct_sources", Figure::U(3));
    b.evidence.fig("completion_ratio", Figure::F(0.1));
    let s = text(&b);
    assert!(
        s.contains("from 3 addresses, 192.168.1.66 sending the most"),
        "{s}"
    );
}

#[test]
fn dns_tunnel_under_unlisted_tlds_reads_as_a_sentence() {
    let mut a = alert(
        RuleId::DnsTunnel,
        [192, 168, 1, 53],
        [203, 0, 113, 9],
        53,
        17,
        30,
    );
    a.evidence.fig("queries", Figure::U(40));
    a.evidence.fig("unique_subdomains", Figure::U(38));
    let _ = a
        .evidence
        .domain
        .extend_from_slice(b"(TLDs not in the Public Suffix List)");
    let _ = a
        .evidence
        .names
        .push(heapless::Vec::from_slice(b"dnscat.0a1b\x1b[2J").unwrap());
    let s = text(&a);
    assert!(
        !s.contains("subdomains of (") && s.contains("such as dnscat.0a1b\\x1b[2J"),
        "{s}"
    );
    insta::assert_snapshot!(s);
}

#[test]
fn web_login_guessing_reads_as_the_web_login_turning_someone_away() {
    let mut a = alert(
        RuleId::Bruteforce,
        [192, 168, 1, 66],
        [192, 168, 1, 1],
        8090,
        6,
        14,
    );
    a.evidence.fig("attempts", Figure::U(60));
    a.evidence.fig("window_s", Figure::U(120));
    a.evidence.fig("refused_by", Figure::S("http_401"));
    let s = text(&a);
    assert!(s.contains("HTTP 401") && s.contains("192.168.1.66"), "{s}");
    insta::assert_snapshot!(s);
    let mut sum = String::new();
    a.summary(&mut sum).unwrap();
    assert!(sum.ends_with("each refused with HTTP 401"), "{sum}");
    a.evidence.figures.pop();
    a.evidence.fig("refused_by", Figure::S("login_form"));
    assert!(text(&a).contains("the login form came back each time"));
}

/// Every explanation and summary names the alert's source (a flood from many sources says
/// they are most likely forged), for IPv4 and IPv6 and for one source and thousands.
#[test]
fn every_explanation_names_the_source_in_every_case() {
    let v6 = |last: u8| {
        let mut b = [0u8; 16];
        b[0] = 0x20;
        b[1] = 0x01;
        b[2] = 0x0d;
        b[3] = 0xb8;
        b[15] = last;
        Addr::v6(b)
    };
    for r in RuleId::ALL {
        if r == RuleId::SensorHealth {
            continue;
        }
        for ipv6 in [false, true] {
            for sources in [1u64, 5000] {
                let mut a = alert(r, [10, 0, 0, 1], [10, 0, 0, 2], 443, 6, 30);
                if ipv6 {
                    a.src = v6(1);
                    a.dst = v6(2);
                }
                for (k, v) in [
                    ("distinct_ports", 40u64),
                    ("distinct_hosts", 40),
                    ("syn_per_s", 900),
                    ("distinct_sources", sources),
                    ("attempts", 30),
                    ("queries", 40),
                    ("unique_subdomains", 30),
                    ("connections", 12),
                    ("median_interval_s", 60),
                    ("window_s", 60),
                    ("bytes_out_observed", 1_000_000),
                    ("bytes_out_baseline", 1000),
                ] {
                    a.evidence.fig(k, Figure::U(v));
                }
                a.evidence
                    .domain
                    .extend_from_slice(b"evil.example")
                    .unwrap();
                let s = text(&a);
                let src = a.src.to_string();
                let named = s.contains(&src) || (r == RuleId::Synflood && s.contains("forged"));
                assert!(named, "{} ipv6={ipv6} sources={sources}: {s}", r.name());
                assert!(
                    !s.contains("about 1 ") && !s.contains(" 1 addresses"),
                    "{s}"
                );
                let mut sum = String::new();
                a.summary(&mut sum).unwrap();
                assert!(sum.contains(&src) || r == RuleId::Synflood, "{sum}");
                assert!(!sum.contains(" 1 sources"), "{sum}");
            }
        }
    }
}
