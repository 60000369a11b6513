//! The fuzzing entries (`netwatch::fuzz`, used by `fuzz/fuzz_targets/`) reach what they claim
//! to: a request with the token is routed, a WebSocket ping is read, a model's reply is taken
//! apart, frames go through a pipeline. A harness that silently stopped early would fuzz
//! nothing; these catch that.

mod support;

use netwatch::fuzz;
use support::*;

fn req(head: &str) -> u16 {
    fuzz::http_request(head.as_bytes())
}

#[test]
fn http_entry_runs_requests_through_token_routes_and_upgrade() {
    let auth = format!("Authorization: Bearer {}\r\n", fuzz::WEB_TOKEN);
    assert_eq!(req("GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n"), 401);
    assert_eq!(req(&format!("GET /api/stats HTTP/1.1\r\n{auth}\r\n")), 200);
    assert_eq!(
        req(&format!("GET /api/alerts?limit=2 HTTP/1.1\r\n{auth}\r\n")),
        200
    );
    // The entry's store holds five alerts.
    assert_eq!(
        req(&format!("GET /api/alerts/3 HTTP/1.1\r\n{auth}\r\n")),
        200
    );
    assert_eq!(
        req(&format!("GET /api/alerts/99 HTTP/1.1\r\n{auth}\r\n")),
        404
    );
    assert_eq!(
        req(&format!("GET /api/alerts?limit=x HTTP/1.1\r\n{auth}\r\n")),
        400
    );
    assert_eq!(req(&format!("HEAD /healthz HTTP/1.1\r\n{auth}\r\n")), 200);
    assert_eq!(
        req("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        411
    );
    assert_eq!(
        req("GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
        413
    );
    assert_eq!(req("NOT HTTP\r\n\r\n"), 400);
    assert_eq!(req("GET / HTTP/1.1\r\n"), 0, "an unfinished head waits");
    let up = format!(
        "GET /ws/alerts HTTP/1.1\r\nHost: h\r\n{auth}Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    assert_eq!(req(&up), 101);
    let body = r#"{"rules":{"portscan":{"vertical_ports":"many"}}}"#;
    let patch = format!(
        "PATCH /api/config HTTP/1.1\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(req(&patch), 422);
}

#[test]
fn websocket_entry_reads_frames_under_the_limits() {
    let mask = [1u8, 2, 3, 4];
    let frame = |op: u8, payload: &[u8]| {
        let mut f = vec![0x80 | op, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    };
    assert_eq!(fuzz::ws_frames(&frame(9, b"ping")), 1);
    let mut two = frame(1, b"hello");
    two.extend(frame(10, b""));
    assert!(fuzz::ws_frames(&two) >= 1);
    // A frame over the server's incoming limit ends the connection.
    let mut big = vec![0x81, 0xfe, 0x40, 0x00];
    big.extend_from_slice(&mask);
    big.extend(std::iter::repeat_n(b'x', 0x4000));
    assert_eq!(fuzz::ws_frames(&big), 0);
}

#[test]
fn llm_entry_takes_replies_apart() {
    // Asserts inside: text within the cap, no control characters.
    let ok = r#"{"choices":[{"message":{"content":"A scan.\u0007"}}]}"#;
    fuzz::llm_reply(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{ok}",
            ok.len()
        )
        .as_bytes(),
    );
    fuzz::llm_reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n");
    fuzz::llm_reply(b"HTTP/1.1 200 OK\r\n\r\n{\"choices\":[");
}

#[test]
fn mqtt_entry_cuts_broker_packets_at_any_read_size() {
    let stream = b"\x20\x02\x00\x00\x40\x02\x00\x01\xd0\x00";
    // Reads of 1 byte (first byte 2) and of 64 (128): three packets either way.
    for first in [2u8, 128] {
        let mut d = vec![first];
        d.extend_from_slice(stream);
        assert_eq!(fuzz::mqtt_packet(&d), 3, "read size {}", first >> 1);
    }
    // A length over the limit ends the stream after what came before it.
    assert_eq!(fuzz::mqtt_packet(b"\x08\xd0\x00\x30\xff\xff\x03"), 1);
    assert_eq!(fuzz::mqtt_packet(b""), 0);
}

#[test]
fn frame_dns_psl_and_config_entries_accept_hostile_input() {
    let syn = eth_ip(&ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        6,
        &tcp(1, 22, 0x02, &[]),
    ));
    for lt in [0, 1, 101, 108, 113, 228, 229, 276] {
        fuzz::frame(lt, &syn);
        fuzz::frame(lt, &syn[..20]);
        fuzz::frame(lt, &[]);
    }
    // The fragments of one SYN, across inputs.
    let ip = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 6, &tcp(1, 22, 0x02, &[]));
    for f in fragments(&ip, 8, 7) {
        fuzz::frame(1, &eth_ip(&f));
    }
    fuzz::dns(&dns_query(1, "www.example.co.uk", 1));
    fuzz::dns(&[0xc0; 40]);
    fuzz::psl(b"a.b.kawasaki.jp");
    fuzz::psl(b"..");
    fuzz::config_toml(b"[capacity]\nflows = 64\n");
    fuzz::config_toml(b"[rules.beacon]\nmax_chance = nan\n");
    fuzz::config_uci(b"config netwatch 'main'\n\toption profile 'router'\n");
    fuzz::config_patch(br#"{"rules":{"portscan":{"vertical_ports":30}}}"#);
    fuzz::config_patch(br#"{"a":[1,{"b":"\ud800"}]}"#);
}

#[test]
fn capture_file_entry_reads_pcap_and_pcapng_through_windows() {
    let frames = every_rule_capture();
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET);
    for (t, f) in frames.iter().take(300) {
        w.packet(*t, f);
    }
    assert_eq!(fuzz::capture_file(&w.buf), 300);
    assert_eq!(fuzz::capture_file(&pcap_to_pcapng(&w.buf)), 300);
    // Cut short: what came before the damage, read alike whole and in windows.
    let cut = &w.buf[..w.buf.len() / 2];
    let n = fuzz::capture_file(cut);
    assert!(n > 100 && n < 300, "{n}");
    assert_eq!(fuzz::capture_file(b"not a capture"), 0);
}

#[test]
fn device_message_entries_parse_what_the_inventory_reads() {
    let mut dhcp = vec![0u8; 236];
    dhcp[..3].copy_from_slice(&[1, 1, 6]);
    dhcp[28..34].copy_from_slice(&[0x3c, 0x22, 0xfb, 1, 2, 3]);
    dhcp.extend_from_slice(&[99, 130, 83, 99, 53, 1, 1, 12, 2, b'p', b'c', 255]);
    assert!(fuzz::dhcp(&dhcp));
    assert!(!fuzz::dhcp(&dhcp[..200]));
    let mut v6 = vec![
        1, 0, 0, 1, 0, 1, 0, 10, 0, 3, 0, 1, 0x3c, 0x22, 0xfb, 1, 2, 3,
    ];
    v6.extend_from_slice(&[0, 39, 0, 5, 0, 3, b'p', b'c', b'1']);
    assert!(fuzz::dhcpv6(&v6));
    assert!(!fuzz::dhcpv6(&v6[..3]));
    assert!(!fuzz::dhcpv6(&[7, 0, 0, 1]), "a server's reply is not read");
    let mut mdns = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    mdns.extend_from_slice(b"\x02tv\x05local\x00\x00\x01\x80\x01\x00\x00\x11\x94\x00\x04");
    mdns.extend_from_slice(&[192, 168, 1, 50]);
    assert!(fuzz::mdns(&mdns));
    assert!(!fuzz::mdns(&mdns[..3]));
    assert!(fuzz::ssdp(b"NOTIFY * HTTP/1.1\r\nSERVER: x\r\n\r\n"));
    assert!(!fuzz::ssdp(b"M-SEARCH * HTTP/1.1\r\n\r\n"));
    let mut nb = vec![0x12, 0x34, 0x29, 0x10, 0, 1, 0, 0, 0, 0, 0, 1, 32];
    for b in *b"PC             \0" {
        nb.extend_from_slice(&[b'A' + (b >> 4), b'A' + (b & 0xf)]);
    }
    nb.extend_from_slice(&[0, 0, 0x20, 0, 1]);
    assert!(fuzz::netbios(&nb));
    assert!(!fuzz::netbios(&nb[..20]));
}
