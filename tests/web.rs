//! The web server through real clients on loopback: raw HTTP/1.1 over `TcpStream` and
//! tungstenite's WebSocket client. The server is started through the library with a feed the
//! test publishes into, and a real SQLite store holding 100k alerts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[path = "support/deadline.rs"]
#[allow(dead_code)] // each test binary uses a different part
mod deadline;

use netwatch::addr::Addr;
use netwatch::config::{Config, ConfigSource, FileConfig};
use netwatch::detect::{Alert, Figure, RuleId};
use netwatch::store::Store;
use netwatch::web::{self, Snapshot, Web};

const TOKEN: &str = "web-test-token-0123456789";
const ALERTS: usize = 100_000;

/// First alert's time, seconds: recent enough that the store's age limit keeps them all.
fn base_s() -> i64 {
    static B: OnceLock<i64> = OnceLock::new();
    *B.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        now - 2 * ALERTS as i64
    })
}

fn config(extra: &str, store: &Path) -> Config {
    let text = format!(
        "[web]\nlisten = [\"127.0.0.1:0\"]\ntoken = \"{TOKEN}\"\n{extra}\n[store]\npath = \"{}\"\nkeep = 2\nmax_kib = 1048576\n",
        store.display()
    );
    FileConfig::parse(&text, "test")
        .unwrap()
        .validate()
        .unwrap()
}

/// A store with `ALERTS` alerts, built once for all tests: rules and sources cycle, one
/// alert per second of packet time. Ids 1..=ALERTS.
fn big_store() -> &'static PathBuf {
    static DB: OnceLock<PathBuf> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("netwatch-web-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alerts.db");
        let mut cfg = config("", &path).store;
        cfg.retry_queue = 20_000;
        cfg.batch_alerts = 10_000;
        let mut s = Store::new(cfg);
        let rules = [
            RuleId::PortscanVertical,
            RuleId::Bruteforce,
            RuleId::Synflood,
            RuleId::DnsTunnel,
        ];
        for i in 0..ALERTS {
            let mut a = Alert::new(rules[i % 4], (base_s() + i as i64) * 1_000_000);
            a.src = Addr::v4([10, 0, (i / 250 % 250) as u8, (i % 250) as u8 + 1]);
            a.dst = Addr::v4([192, 168, 1, (i % 7) as u8 + 1]);
            a.dport = 22;
            a.proto = 6;
            a.key = i as u64;
            a.evidence.fig("ports", Figure::U(12));
            a.first_seen = a.ts;
            a.last_seen = a.ts;
            s.add_alert(&a);
            if s.batch_full() {
                s.flush().unwrap();
            }
        }
        s.close();
        path
    })
}

struct Server {
    web: Option<Web>,
    addr: SocketAddr,
}

impl Server {
    fn start(extra: &str, store: &Path) -> Server {
        Server::with_source(config(extra, store), ConfigSource::Builtin, store)
    }
    fn with_source(cfg: Config, source: ConfigSource, store: &Path) -> Server {
        let token = web::resolve_token(&cfg).unwrap();
        let w = web::launch(&cfg, source, token, Some((store.to_path_buf(), 2)))
            .unwrap()
            .unwrap();
        let addr = w.handle.addrs[0];
        Server { web: Some(w), addr }
    }
    fn web(&self) -> &Web {
        self.web.as_ref().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(w) = self.web.take() {
            w.handle.stop();
        }
    }
}

/// Read until the peer closes, an error, or `limit` from now (a peer that trickles bytes cannot
/// keep the read going); the bytes read.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let end = Instant::now() + limit;
    let mut out = Vec::new();
    let mut b = [0u8; 8192];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let _ = s.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&b[..n]),
        }
    }
    out
}

/// Send raw bytes, read the whole reply (the request asks to close).
fn raw(addr: SocketAddr, req: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = s.write_all(req);
    let out = read_until_closed(&mut s, Duration::from_secs(15));
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String, String) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
    )
}

/// A WebSocket client with the token whose reads give up after 15 s (an expected message
/// that never comes fails the test instead of hanging it).
fn ws_client(
    addr: SocketAddr,
    path: &str,
) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>> {
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (ws, _) = tungstenite::connect(req).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    }
    ws
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn token_is_required_and_checked() {
    let srv = Server::start("", big_store());
    assert_eq!(get(srv.addr, "/healthz", None).0, 200);
    for p in [
        "/api/stats",
        "/api/alerts",
        "/metrics",
        "/api/config",
        "/api/flows",
    ] {
        let (st, head, _) = get(srv.addr, p, None);
        assert_eq!(st, 401, "{p} without a token");
        assert!(head.contains("WWW-Authenticate: Bearer"));
        assert_eq!(
            get(srv.addr, p, Some("web-test-token-0123456788")).0,
            401,
            "{p} wrong token"
        );
        assert_eq!(get(srv.addr, p, Some(TOKEN)).0, 200, "{p} with the token");
    }
    // WebSocket upgrade without a token: refused before any upgrade.
    let r = tungstenite::connect(format!("ws://{}/ws/stats", srv.addr));
    match r {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!(
            "upgrade without token was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    // With the token as a subprotocol entry, as a browser sends it.
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/ws/stats", srv.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("netwatch, netwatch.token.{TOKEN}").parse().unwrap(),
    );
    let (mut ws, resp) = tungstenite::connect(req).unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "netwatch");
    let first = ws.read().unwrap();
    assert!(json(first.to_text().unwrap())["packets"].is_u64());
}

#[test]
fn every_response_has_the_security_headers() {
    let srv = Server::start("", big_store());
    for (p, t) in [
        ("/healthz", None),
        ("/api/stats", Some(TOKEN)),
        ("/nope", None),
        ("/api/stats", None),
    ] {
        let (_, head, _) = get(srv.addr, p, t);
        for h in [
            "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options: nosniff",
            "Referrer-Policy: no-referrer",
        ] {
            assert!(head.contains(h), "{p}: {h} missing in {head}");
        }
        assert!(
            !head.contains("Access-Control-Allow-Origin"),
            "CORS is off by default"
        );
    }
}

#[test]
fn cors_only_for_allowed_origins() {
    let srv = Server::start(
        "allow_origins = [\"http://dash.example:8080\"]",
        big_store(),
    );
    let ask = |origin: &str| {
        raw(
            srv.addr,
            format!("GET /api/stats HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .1
    };
    assert!(ask("http://dash.example:8080")
        .contains("Access-Control-Allow-Origin: http://dash.example:8080"));
    assert!(!ask("http://evil.example").contains("Access-Control-Allow-Origin"));
}

#[test]
fn alerts_filters_and_keyset_pagination_over_100k() {
    let srv = Server::start("", big_store());
    // Walk every page of one rule: 25k alerts, newest first, no duplicates, none missing.
    let mut cursor: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    let mut last = (i64::MAX, i64::MAX);
    let mut slowest = Duration::ZERO;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/alerts?rule=bruteforce&limit=500&cursor={c}"),
            None => "/api/alerts?rule=bruteforce&limit=500".to_string(),
        };
        let t = Instant::now();
        let (st, _, body) = get(srv.addr, &path, Some(TOKEN));
        slowest = slowest.max(t.elapsed());
        assert_eq!(st, 200, "{body}");
        let v = json(&body);
        for a in v["alerts"].as_array().unwrap() {
            assert_eq!(a["rule"], "bruteforce");
            let key = (a["ts"].as_i64().unwrap(), a["id"].as_i64().unwrap());
            assert!(key < last, "not newest first");
            last = key;
            assert!(seen.insert(key.1), "duplicate {}", key.1);
        }
        match v["next"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), ALERTS / 4);
    eprintln!("figure: slowest 500-alert page over {ALERTS} stored alerts: {slowest:?}");
    // Filters: source, destination, severity, time range.
    let (_, _, b) = get(srv.addr, "/api/alerts?src=10.0.0.1&limit=500", Some(TOKEN));
    let v = json(&b);
    let n = v["alerts"].as_array().unwrap().len();
    assert!(
        n > 0
            && v["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["src"] == "10.0.0.1")
    );
    let (_, _, b) = get(
        srv.addr,
        "/api/alerts?dst=192.168.1.3&limit=10",
        Some(TOKEN),
    );
    assert!(json(&b)["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["dst"] == "192.168.1.3"));
    let (from, to) = (base_s() + 10, base_s() + 20);
    let (_, _, b) = get(
        srv.addr,
        &format!("/api/alerts?since={from}&until={to}&limit=500"),
        Some(TOKEN),
    );
    let ts: Vec<i64> = json(&b)["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ts"].as_i64().unwrap())
        .collect();
    assert_eq!(ts.len(), 10);
    assert!(ts
        .iter()
        .all(|t| (from * 1_000_000..to * 1_000_000).contains(t)));
    let (_, _, b) = get(srv.addr, "/api/alerts?severity=1&limit=5", Some(TOKEN));
    assert!(json(&b)["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["severity"] == 1));
    // One alert with its evidence.
    let (st, _, b) = get(srv.addr, "/api/alerts/12345", Some(TOKEN));
    assert_eq!(st, 200);
    let v = json(&b);
    assert_eq!(v["id"], 12345);
    assert_eq!(v["eve"]["netwatch"]["evidence"]["ports"], 12, "{b}");
    assert_eq!(get(srv.addr, "/api/alerts/999999999", Some(TOKEN)).0, 404);
    assert_eq!(get(srv.addr, "/api/alerts/abc", Some(TOKEN)).0, 400);
}

#[test]
fn hostile_requests_get_4xx_and_the_server_stays_up() {
    let srv = Server::start("", big_store());
    let a = srv.addr;
    assert_eq!(raw(a, b"GARBAGE\r\n\r\n").0, 400);
    assert_eq!(raw(a, b"GET / HTTP/9.9 extra\r\n\r\n").0, 400);
    assert_eq!(raw(a, b"\x00\x01\x02\r\n\r\n").0, 400);
    // A 1 MB header: cut at 8 KiB with 431, never buffered whole.
    let mut big = b"GET /api/stats HTTP/1.1\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1 << 20));
    big.extend_from_slice(b"\r\n\r\n");
    assert_eq!(raw(a, &big).0, 431);
    // Too many headers.
    let mut many = b"GET /healthz HTTP/1.1\r\n".to_vec();
    for i in 0..60 {
        many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(raw(a, &many).0, 431);
    // Invalid UTF-8 and SQL injection in filters.
    assert_eq!(get(a, "/api/alerts?src=%ff%fe", Some(TOKEN)).0, 400);
    assert_eq!(
        get(a, "/api/alerts?rule=x%27%20OR%201%3D1%20--", Some(TOKEN)).0,
        400
    );
    assert_eq!(
        get(
            a,
            "/api/alerts?src=1.2.3.4%27%3B%20DROP%20TABLE%20alerts%3B--",
            Some(TOKEN)
        )
        .0,
        400
    );
    assert_eq!(get(a, "/api/alerts?limit=100000", Some(TOKEN)).0, 400);
    assert_eq!(get(a, "/api/alerts?cursor=1%3A2%3A3x", Some(TOKEN)).0, 400);
    // Paths that climb out: nothing is read from disk, so 404.
    assert_eq!(get(a, "/../../etc/passwd", None).0, 404);
    assert_eq!(get(a, "/api/../../etc/passwd", Some(TOKEN)).0, 404);
    // A body too large, and a chunked one.
    assert_eq!(
        raw(
            a,
            b"PATCH /api/config HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n"
        )
        .0,
        413
    );
    assert_eq!(
        raw(
            a,
            b"PATCH /api/config HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .0,
        411
    );
    // Wrong methods.
    assert_eq!(
        raw(
            a,
            format!("DELETE /api/alerts HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
                .as_bytes()
        )
        .0,
        405
    );
    // The 100k alerts are all still there, and the server answers.
    let (st, _, b) = get(a, "/api/alerts?limit=1", Some(TOKEN));
    assert_eq!(st, 200);
    assert_eq!(json(&b)["alerts"][0]["id"], ALERTS as i64);
}

#[test]
fn slowloris_is_cut_off_and_others_are_served_meanwhile() {
    let srv = Server::start("", big_store());
    let mut slow = TcpStream::connect(srv.addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nX-a: ").unwrap();
    let t = Instant::now();
    // Meanwhile another client is served at once.
    assert_eq!(get(srv.addr, "/healthz", None).0, 200);
    let out = read_until_closed(&mut slow, Duration::from_secs(20));
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408"));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "{waited:?}"
    );
}

#[test]
fn websocket_frames_over_the_limit_close_the_client() {
    let srv = Server::start("", big_store());
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(
        format!(
            "GET /ws/alerts HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Authorization: Bearer {TOKEN}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = [0u8; 512];
    let n = s.read(&mut head).unwrap();
    let h = String::from_utf8_lossy(&head[..n]);
    assert!(h.starts_with("HTTP/1.1 101"), "{h}");
    assert!(h.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    // A masked binary frame announcing 100 MB (64-bit length), then some of it.
    let mut f = vec![0x82u8, 0xff];
    f.extend_from_slice(&(100u64 << 20).to_be_bytes());
    f.extend_from_slice(&[1, 2, 3, 4]);
    let _ = s.write_all(&f);
    let _ = s.write_all(&[0u8; 65536]);
    let t = Instant::now();
    let _ = read_until_closed(&mut s, Duration::from_secs(10));
    assert!(t.elapsed() < Duration::from_secs(5), "not closed");
    assert_eq!(get(srv.addr, "/healthz", None).0, 200);
}

#[test]
fn live_alerts_stats_and_flows_over_websockets() {
    let srv = Server::start("", big_store());
    let connect = |path: &str| ws_client(srv.addr, path);
    let mut alerts = connect("/ws/alerts");
    let mut stats = connect("/ws/stats");
    let mut flows = connect("/ws/flows");
    // Let the subscriptions settle, then publish.
    std::thread::sleep(Duration::from_millis(200));
    let w = srv.web();
    let mut a = Alert::new(RuleId::DnsTunnel, 1_800_000_000_000_000);
    a.src = Addr::v4([10, 1, 2, 3]);
    w.publisher.alert(web::alert_message(777, &a));
    let m = alerts.read().unwrap();
    let v = json(m.to_text().unwrap());
    assert_eq!(v["type"], "alert");
    assert_eq!(v["alert"]["id"], 777);
    assert_eq!(v["alert"]["src"], "10.1.2.3");
    let _first = stats.read().unwrap();
    let _first = flows.read().unwrap();
    w.publisher.snapshot(Snapshot {
        packets: 4242,
        ..Default::default()
    });
    let v = json(stats.read().unwrap().to_text().unwrap());
    assert_eq!(v["packets"], 4242);
    let v = json(flows.read().unwrap().to_text().unwrap());
    assert!(v["flows"].is_array());
    // A new /ws/alerts client gets the backlog first.
    let mut late = connect("/ws/alerts");
    let v = json(late.read().unwrap().to_text().unwrap());
    assert_eq!(v["alert"]["id"], 777);
    // An alert the store has not written yet (it writes once a second) is answered from the
    // live backlog, so a dashboard that opens it at once gets no 404.
    w.publisher.alert(web::alert_message(500_001, &a));
    let _ = alerts.read().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let (st, b) = loop {
        let (st, _, b) = get(srv.addr, "/api/alerts/500001", Some(TOKEN));
        if st == 200 || std::time::Instant::now() > deadline {
            break (st, b);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(st, 200, "{b}");
    let v = json(&b);
    assert_eq!(v["id"], 500_001);
    assert_eq!(v["src"], "10.1.2.3");
    assert_eq!(v["eve"]["netwatch"]["rule"], "dns.tunnel", "{b}");
    // Ids neither stored nor in the backlog stay 404.
    assert_eq!(get(srv.addr, "/api/alerts/500002", Some(TOKEN)).0, 404);
    assert_eq!(get(srv.addr, "/api/alerts/50000", Some(TOKEN)).0, 200);
}

#[test]
fn stuck_websocket_clients_are_cut_off_and_readers_keep_up() {
    let srv = Server::start("max_clients = 64", big_store());
    use tungstenite::client::IntoClientRequest;
    let connect = || {
        let mut req = format!("ws://{}/ws/alerts", srv.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let (ws, _) = tungstenite::connect(req).unwrap();
        ws
    };
    let rss_before = rss_kib();
    let stuck: Vec<_> = (0..48).map(|_| connect()).collect();
    let readers: Vec<_> = (0..16).map(|_| connect()).collect();
    // A 65th is refused.
    let mut req = format!("ws://{}/ws/alerts", srv.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    assert!(
        matches!(tungstenite::connect(req), Err(tungstenite::Error::Http(r)) if r.status() == 503)
    );
    std::thread::sleep(Duration::from_millis(300));
    const PUBLISHED: u64 = 2000;
    // Every reader accounts for every alert: received, or announced as dropped (the server
    // may drop for a reader that a loaded machine slows; it must say so). Bounded by time,
    // not by messages: the server's pings would keep a blocked read alive for ever.
    let deadline = Instant::now() + Duration::from_secs(45);
    let handles: Vec<_> = readers
        .into_iter()
        .map(|ws| std::thread::spawn(move || read_alerts(ws, PUBLISHED, deadline)))
        .collect();
    // Publish 2000 large alerts at a pace the readers can follow; the publisher never waits.
    let w = srv.web();
    let mut a = Alert::new(RuleId::PortscanVertical, 1_800_000_000_000_000);
    a.src = Addr::v4([10, 9, 9, 9]);
    let pad = "x".repeat(2000);
    let mut slowest = Duration::ZERO;
    for i in 0..PUBLISHED as i64 {
        let mut m = web::alert_message(i, &a);
        m.insert_str(m.len() - 1, &format!(",\"pad\":\"{pad}\""));
        let t = Instant::now();
        w.publisher.alert(m);
        slowest = slowest.max(t.elapsed());
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut dropped_total = 0;
    for (i, h) in handles.into_iter().enumerate() {
        let r = deadline::join_by(h, deadline + Duration::from_secs(5), "reader");
        assert!(
            r.received + r.dropped == PUBLISHED,
            "reader {i} got {} of {PUBLISHED} alerts and {} `dropped` notices ({} alerts) in {:.1} s, then {}",
            r.received,
            r.notices,
            r.dropped,
            r.elapsed.as_secs_f64(),
            r.ended
        );
        dropped_total += r.dropped;
    }
    eprintln!(
        "figure: 16 readers, {dropped_total} of {} alerts announced dropped; slowest publish {slowest:?}",
        16 * PUBLISHED
    );
    // The publisher never waits for a client: were it to, it would wait for the stuck ones
    // (cut off only after `BEHIND_LIMIT`); a loaded machine's scheduling delays are far shorter.
    assert!(
        slowest < web::WS_BEHIND_LIMIT / 2,
        "publishing waited {slowest:?}"
    );
    // The stuck clients are cut off once their output has not drained for `BEHIND_LIMIT`.
    // How much a stuck client's socket absorbs before it is behind, and how much of the ring
    // a lagging client was sent at all, depend on the machine's load: keep publishing (larger
    // alerts, at a bounded rate) until every stuck client is behind and cut off.
    let deadline = Instant::now() + Duration::from_secs(60);
    let big = "y".repeat(16 * 1024);
    let mut i = PUBLISHED as i64;
    loop {
        let c = w.handle.stats.get();
        if c.ws_cut_off >= 48 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 48 stuck clients cut off in 60 s of publishing ({} more alerts): {c:?}",
            c.ws_cut_off,
            i - PUBLISHED as i64
        );
        for _ in 0..20 {
            let mut m = web::alert_message(i, &a);
            m.insert_str(m.len() - 1, &format!(",\"pad\":\"{big}\""));
            w.publisher.alert(m);
            i += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(w.handle.stats.get().ws_messages_dropped > 0);
    let grown = rss_kib().saturating_sub(rss_before);
    eprintln!(
        "figure: RSS grew {grown} KiB with 64 clients (48 stuck), {PUBLISHED} alerts of 2 KB and {} of 16 KB",
        i - PUBLISHED as i64
    );
    assert!(grown < 32 * 1024, "RSS grew {grown} KiB");
    drop(stuck);
}

/// What one `/ws/alerts` reader saw of `published` alerts.
struct ReaderReport {
    /// Distinct alert ids received (a backlog replay may repeat one).
    received: u64,
    /// Alerts announced lost by `dropped` notices, and the notices.
    dropped: u64,
    notices: u64,
    elapsed: Duration,
    ended: String,
}

/// Read alerts until every one of `published` is received or announced dropped, the
/// connection ends, or `deadline` passes.
fn read_alerts(
    mut ws: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    published: u64,
    deadline: Instant,
) -> ReaderReport {
    let start = Instant::now();
    if let tungstenite::stream::MaybeTlsStream::Plain(t) = ws.get_mut() {
        t.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("read timeout");
    }
    let mut ids = std::collections::HashSet::new();
    let (mut dropped, mut notices) = (0, 0);
    let ended = loop {
        if ids.len() as u64 + dropped >= published {
            break "all accounted for".to_string();
        }
        if Instant::now() >= deadline {
            break "the deadline passed".to_string();
        }
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                let v = json(&t);
                match v["type"].as_str() {
                    Some("alert") => {
                        ids.insert(v["alert"]["id"].as_i64().unwrap_or(-1));
                    }
                    Some("dropped") => {
                        notices += 1;
                        dropped += v["count"].as_u64().unwrap_or(0);
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => break format!("the connection ended: {e}"),
        }
    };
    ReaderReport {
        received: ids.len() as u64,
        dropped,
        notices,
        elapsed: start.elapsed(),
        ended,
    }
}

fn patch(addr: SocketAddr, body: &str) -> (u16, String) {
    let (st, _, b) = raw(
        addr,
        format!(
            "PATCH /api/config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    (st, b)
}

#[test]
fn config_patch_is_validated_kept_and_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("netwatch-web-patch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("netwatch.db");
    let file = dir.join("netwatch.toml");
    std::fs::write(
        &file,
        format!(
            "[web]\nlisten = [\"127.0.0.1:0\"]\ntoken = \"{TOKEN}\"\n[store]\npath = \"{}\"\n[rules.portscan]\nwindow_s = 90\n",
            db.display()
        ),
    )
    .unwrap();
    let source = ConfigSource::Toml(file.clone());
    let (cfg, over) = source.load().unwrap();
    assert!(over.is_none());
    let srv = Server::with_source(cfg, source.clone(), &db);
    let w = srv.web();
    assert!(!w.reload_requested());
    // Valid: a threshold, an allowlist and the suppression time.
    let (st, b) = patch(
        srv.addr,
        r#"{"rules":{"portscan":{"vertical_ports":30,"allow_src":["10.0.0.5/32"]}},"alerts":{"suppress_s":120}}"#,
    );
    assert_eq!(st, 200, "{b}");
    let v = json(&b);
    assert_eq!(v["rules"]["portscan"]["vertical_ports"], 30);
    assert_eq!(
        v["rules"]["portscan"]["window_s"], 90,
        "the file's own value stays"
    );
    assert_eq!(v["suppress_s"], 120);
    assert!(w.reload_requested(), "the pipeline is told to reload");
    assert!(!w.reload_requested(), "once");
    // Invalid: refused with the key and the range; nothing changes.
    let kept = std::fs::read_to_string(dir.join("overrides.toml")).unwrap();
    for (body, key) in [
        (
            r#"{"rules":{"portscan":{"vertical_ports":0}}}"#,
            "rules.portscan.vertical_ports",
        ),
        (r#"{"capacity":{"flows":100}}"#, "capacity"),
        (r#"{"web":{"token":"off"}}"#, "web"),
        (r#"{"rules":{"nosuch":{"x":1}}}"#, "rules.nosuch"),
    ] {
        let (st, b) = patch(srv.addr, body);
        assert_eq!(st, 422, "{body}: {b}");
        assert!(
            json(&b)["error"].as_str().unwrap().contains(key),
            "{body}: {b}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("overrides.toml")).unwrap(),
            kept
        );
    }
    for body in [
        "not json",
        "[1,2]",
        r#"{"rules":{"portscan":{"vertical_ports":null}}}"#,
        r#"{"rules":{"portscan":{"bogus":1}}}"#,
    ] {
        let (st, _) = patch(srv.addr, body);
        assert!(st == 400 || st == 422, "{body}: {st}");
        assert_eq!(
            std::fs::read_to_string(dir.join("overrides.toml")).unwrap(),
            kept
        );
    }
    assert!(!w.reload_requested(), "refused changes reload nothing");
    // A second change keeps the first.
    let (st, _) = patch(srv.addr, r#"{"rules":{"synflood":{"syn_rate":500}}}"#);
    assert_eq!(st, 200);
    drop(srv);
    // "Restart": the config loads with the changes laid over the file.
    let (cfg, over) = source.load().unwrap();
    assert_eq!(over, Some(dir.join("overrides.toml")));
    assert_eq!(cfg.rules.portscan.vertical_ports, 30);
    assert_eq!(cfg.rules.portscan.window_s, 90);
    assert_eq!(cfg.rules.synflood.syn_rate, 500);
    assert_eq!(cfg.suppress_s, 120);
    assert!(cfg
        .rules
        .portscan
        .allow
        .src_allowed(&Addr::v4([10, 0, 0, 5])));
    // check-config shows them.
    let out = deadline::output_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_netwatch"))
            .args(["check-config", file.to_str().unwrap()]),
        deadline::CHILD_LIMIT,
        "netwatch check-config",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("through the web API") && text.contains("vertical_ports = 30"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

#[test]
fn stats_flows_and_history_from_snapshots_and_the_store() {
    use netwatch::window::Summary;
    let dir = std::env::temp_dir().join(format!("netwatch-web-hist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("netwatch.db");
    // Two stored minutes older than anything the server's own rings hold (recent enough for
    // the store's age limit).
    let now = base_s() + 2 * ALERTS as i64;
    let (old, new) = (now - 7200 - now % 60, now - 60 - now % 60);
    let mut st = Store::new(config("", &db).store);
    for m in 0..2 {
        st.add_minute(&Summary {
            start: old + m * 60,
            span_s: 60,
            packets: 100 + m as u64,
            by_proto: [60, 30, 10, m as u64],
            ..Default::default()
        });
    }
    st.close();
    let srv = Server::start("", &db);
    let sec = |start: i64, tcp: u64| Summary {
        start,
        span_s: 1,
        packets: tcp + 1,
        bytes: tcp * 100,
        by_proto: [tcp, 1, 0, 0],
        ..Default::default()
    };
    let flow = |b: u64, p: u64| web::FlowRow {
        src: Addr::v4([10, 0, 0, 1]),
        sport: 40000,
        dst: Addr::v4([1, 1, 1, 1]),
        dport: 443,
        proto: 6,
        packets: p,
        bytes: b,
        first_ts: 0,
        idle_s: 0,
    };
    // Two snapshots that overlap: the server keeps each window once.
    let mut s1 = Snapshot {
        packets: 10,
        top_by_bytes: vec![flow(900, 3), flow(500, 9)],
        top_by_packets: vec![flow(500, 9), flow(900, 3)],
        ..Default::default()
    };
    s1.recent[0] = vec![sec(new, 5), sec(new + 1, 6)];
    s1.recent[2] = vec![Summary {
        start: new,
        span_s: 60,
        packets: 7,
        ..Default::default()
    }];
    srv.web().publisher.snapshot(s1.clone());
    std::thread::sleep(Duration::from_millis(200));
    let mut s2 = s1.clone();
    s2.recent[0] = vec![sec(new + 1, 6), sec(new + 2, 7)];
    srv.web().publisher.snapshot(s2);
    std::thread::sleep(Duration::from_millis(200));
    let (st, _, b) = get(srv.addr, "/api/history?res=1s", Some(TOKEN));
    assert_eq!(st, 200);
    let v = json(&b);
    assert_eq!(v["res_s"], 1);
    assert_eq!(v["t"], serde_json::json!([new, new + 1, new + 2]));
    assert_eq!(v["tcp"], serde_json::json!([5, 6, 7]));
    let v = json(
        &get(
            srv.addr,
            &format!("/api/history?res=1s&since={}", new + 1),
            Some(TOKEN),
        )
        .2,
    );
    assert_eq!(v["t"].as_array().unwrap().len(), 2);
    // Minutes: the stored ones, then the ring's.
    let v = json(&get(srv.addr, "/api/history?res=60s", Some(TOKEN)).2);
    assert_eq!(v["t"], serde_json::json!([old, old + 60, new]));
    assert_eq!(v["packets"], serde_json::json!([100, 101, 7]));
    assert_eq!(get(srv.addr, "/api/history?res=5s", Some(TOKEN)).0, 400);
    // Top flows, both orders, bounded.
    let v = json(&get(srv.addr, "/api/flows?top=1&by=packets", Some(TOKEN)).2);
    assert_eq!(v["flows"].as_array().unwrap().len(), 1);
    assert_eq!(v["flows"][0]["packets"], 9);
    assert_eq!(v["flows"][0]["dst"], "1.1.1.1");
    let v = json(&get(srv.addr, "/api/flows", Some(TOKEN)).2);
    assert_eq!(v["flows"][0]["bytes"], 900);
    assert_eq!(get(srv.addr, "/api/flows?top=26", Some(TOKEN)).0, 400);
    // Stats carry the published counters and the tables.
    let v = json(&get(srv.addr, "/api/stats", Some(TOKEN)).2);
    assert_eq!(v["packets"], 10);
    assert!(v["web"]["requests"].as_u64().unwrap() > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn incidents_over_rest_and_websocket() {
    use netwatch::detect::incident::IncidentInfo;
    let dir = std::env::temp_dir().join(format!("netwatch-web-inc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("alerts.db");
    let t = base_s() * 1_000_000;
    let mut s = Store::new(config("", &path).store);
    let mk = |rule: RuleId, src: [u8; 4], ts: i64, id: u64, n: u32| {
        let mut a = Alert::new(rule, ts);
        a.src = Addr::v4(src);
        a.dst = Addr::v4([192, 168, 1, 1]);
        a.key = id;
        a.incident = IncidentInfo {
            id,
            first_seen: t,
            last_seen: ts,
            alerts: n,
            events: n + 5,
            victims: 1,
        };
        a
    };
    for n in 1..=3u32 {
        s.add_alert(&mk(
            RuleId::PortscanVertical,
            [10, 0, 0, 9],
            t + n as i64 * 60_000_000,
            1,
            n,
        ));
    }
    s.add_alert(&mk(
        RuleId::Bruteforce,
        [10, 0, 0, 8],
        t + 100_000_000,
        2,
        1,
    ));
    s.close();
    let srv = Server::start("", &path);
    // Judged on the sensor's clock: the newest snapshot's time.
    srv.web().publisher.snapshot(Snapshot {
        wall_us: t + 200_000_000,
        ..Default::default()
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let v = loop {
        let (st, _, b) = get(srv.addr, "/api/incidents", Some(TOKEN));
        assert_eq!(st, 200, "{b}");
        let v = json(&b);
        if v["incidents"][0]["state"] == "active" || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let list = v["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    let first = &list[0];
    assert_eq!(
        (&first["id"], &first["rule"], &first["src"]),
        (&1.into(), &"portscan".into(), &"10.0.0.9".into())
    );
    assert_eq!((&first["alerts"], &first["events"]), (&3.into(), &8.into()));
    assert_eq!(first["state"], "active", "{v}");
    assert_eq!(list[1]["state"], "quiet", "100 s without an alert: {v}");
    let q = |p: &str| json(&get(srv.addr, p, Some(TOKEN)).2);
    assert_eq!(
        q("/api/incidents?rule=portscan.horizontal")["incidents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(q("/api/incidents?rule=bruteforce")["incidents"][0]["id"], 2);
    assert_eq!(q("/api/incidents?src=10.0.0.8")["incidents"][0]["id"], 2);
    let p = q("/api/incidents?limit=1");
    assert_eq!(p["incidents"][0]["id"], 1);
    let next = p["next"].as_str().unwrap().to_string();
    assert_eq!(
        q(&format!("/api/incidents?limit=1&cursor={next}"))["incidents"][0]["id"],
        2
    );
    for bad in [
        "rule=nope",
        "severity=0",
        "src=x",
        "limit=0",
        "cursor=1",
        "what=1",
    ] {
        assert_eq!(
            get(srv.addr, &format!("/api/incidents?{bad}"), Some(TOKEN)).0,
            400,
            "{bad}"
        );
    }
    // One incident with its alerts.
    let one = q("/api/incidents/1");
    assert_eq!(one["incident"]["id"], 1);
    let alerts = one["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 3);
    assert!(alerts.iter().all(|a| a["incident_id"] == 1));
    assert_eq!(get(srv.addr, "/api/incidents/77", Some(TOKEN)).0, 404);
    assert_eq!(get(srv.addr, "/api/incidents/x", Some(TOKEN)).0, 400);
    assert_eq!(get(srv.addr, "/api/incidents", None).0, 401);
    // Live: each alert's incident, then its change of state with the clock.
    let connect = |path: &str| ws_client(srv.addr, path);
    let mut ws = connect("/ws/incidents");
    std::thread::sleep(Duration::from_millis(200));
    let w = srv.web();
    let live = mk(RuleId::C2Beacon, [10, 0, 0, 7], t + 200_000_000, 9, 1);
    w.publisher.incident(&live);
    let v = json(ws.read().unwrap().to_text().unwrap());
    assert_eq!(
        (&v["type"], &v["incident"]["id"]),
        (&"incident".into(), &9.into())
    );
    assert_eq!(v["incident"]["state"], "active");
    // Held-back repeats within a second of the last publication are not sent again.
    let mut rep = live.clone();
    rep.suppressed = true;
    rep.ts += 1000;
    w.publisher.incident(&rep);
    rep.ts += 500_000;
    w.publisher.incident(&rep);
    w.publisher.snapshot(Snapshot {
        wall_us: t + 200_000_000 + 61_000_000,
        ..Default::default()
    });
    let v = json(ws.read().unwrap().to_text().unwrap());
    assert_eq!(v["incident"]["id"], 9);
    assert_eq!(v["incident"]["state"], "quiet", "{v}");
    // Not stored yet: answered from the live backlog, which a new client also gets first.
    let v = q("/api/incidents/9");
    assert_eq!(v["incident"]["rule"], "c2.beacon", "{v}");
    let mut late = connect("/ws/incidents");
    let v = json(late.read().unwrap().to_text().unwrap());
    assert_eq!(v["incident"]["id"], 9);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn devices_from_the_published_inventory() {
    use netwatch::state::devices::{Device, Kind};
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("netwatch-web-dev-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let srv = Server::start("", &dir.join("netwatch.db"));
    let tv_mac = [0x54, 0x60, 0x09, 0x11, 0x22, 0x33];
    let mut tv = Device::default();
    tv.label(Some("Living-room TV"), Some(Kind::Tv));
    tv.v4[0] = Addr::v4([192, 168, 1, 50]);
    tv.last_seen = 2_000;
    let odd_mac = [0xda, 0xa1, 0x19, 0x10, 0x20, 0x30];
    let mut odd = Device::default();
    let _ = odd.name.extend_from_slice(b"<img src=x onerror=alert(1)>");
    odd.last_seen = 1_000;
    let flow = web::FlowRow {
        src: Addr::v4([192, 168, 1, 50]),
        sport: 40000,
        dst: Addr::v4([1, 1, 1, 1]),
        dport: 443,
        proto: 6,
        packets: 3,
        bytes: 900,
        first_ts: 0,
        idle_s: 0,
    };
    srv.web().publisher.snapshot(Snapshot {
        devices: Arc::new(vec![(odd_mac, odd), (tv_mac, tv)]),
        top_by_bytes: vec![flow],
        ..Default::default()
    });
    std::thread::sleep(Duration::from_millis(200));
    let (st, _, b) = get(srv.addr, "/api/devices", Some(TOKEN));
    assert_eq!(st, 200, "{b}");
    let v = json(&b);
    let list = v["devices"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    // Most recently seen first.
    assert_eq!(list[0]["mac"], "54:60:09:11:22:33");
    assert_eq!(list[0]["name"], "Living-room TV");
    assert_eq!(list[0]["name_source"], "user");
    assert_eq!(list[0]["kind"], "tv");
    assert_eq!(list[0]["addresses"], serde_json::json!(["192.168.1.50"]));
    assert_eq!(list[1]["randomized_mac"], true);
    assert_eq!(list[1]["name"], "<img src=x onerror=alert(1)>");
    assert!(!b.contains("<img"), "markup is escaped in the JSON text");
    // The flows name the devices at their ends.
    let f = json(&get(srv.addr, "/api/flows", Some(TOKEN)).2);
    assert_eq!(f["flows"][0]["src_name"], "Living-room TV");
    assert!(f["flows"][0].get("dst_name").is_none());
    let (st, _, b) = get(srv.addr, "/api/devices/54-60-09-11-22-33", Some(TOKEN));
    assert_eq!(
        (st, json(&b)["name"].clone()),
        (200, "Living-room TV".into())
    );
    assert_eq!(
        get(srv.addr, "/api/devices/54:60:09:11:22:34", Some(TOKEN)).0,
        404
    );
    assert_eq!(get(srv.addr, "/api/devices/not-a-mac", Some(TOKEN)).0, 400);
    assert_eq!(get(srv.addr, "/api/devices", None).0, 401);
    let (st, _, _) = raw(
        srv.addr,
        format!(
            "DELETE /api/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(st, 405);
    // Labels: validated, queued for the pipeline, answered with the device as it will read.
    let patch_dev = |mac: &str, body: &str| {
        raw(
            srv.addr,
            format!(
                "PATCH /api/devices/{mac} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let (st, _, b) = patch_dev(
        "da:a1:19:10:20:30",
        r#"{"name":"Anna's phone","kind":"phone"}"#,
    );
    assert_eq!(st, 200, "{b}");
    let v = json(&b);
    assert_eq!(
        (
            v["name"].clone(),
            v["name_source"].clone(),
            v["kind"].clone()
        ),
        ("Anna's phone".into(), "user".into(), "phone".into())
    );
    let q = srv.web().take_labels();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].name.as_deref(), Some("Anna's phone"));
    assert_eq!(q[0].kind, Some(Kind::Phone));
    for (body, status) in [
        (r#"{"kind":"toaster"}"#, 422),
        (r#"{"name":"a\u0007b"}"#, 422),
        (&format!(r#"{{"name":"{}"}}"#, "x".repeat(64)), 422),
        (r#"{"colour":"red"}"#, 422),
        (r#"{"name":5}"#, 422),
        ("{}", 422),
        ("[1]", 400),
        ("{", 400),
    ] {
        assert_eq!(patch_dev("da:a1:19:10:20:30", body).0, status, "{body}");
    }
    assert_eq!(patch_dev("00:00:00:00:00:09", r#"{"kind":"tv"}"#).0, 404);
    assert_eq!(patch_dev("nope", r#"{"kind":"tv"}"#).0, 400);
    assert!(
        srv.web().take_labels().is_empty(),
        "refused labels are not queued"
    );
    // A bounded queue: a pipeline that does not take them gets no more than its share.
    let codes: Vec<u16> = (0..66)
        .map(|_| patch_dev("54:60:09:11:22:33", r#"{"kind":"tv"}"#).0)
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 64);
    assert_eq!(codes[64..], [503, 503]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_test_notification_is_asked_for_over_the_web() {
    let dir = std::env::temp_dir().join(format!("netwatch-web-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let post = |addr: SocketAddr, token: &str| {
        raw(
            addr,
            format!(
                "POST /api/notify/test HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    // No target: refused, nothing asked of the daemon.
    let srv = Server::start("", &dir.join("a.db"));
    let (status, _, body) = post(srv.addr, TOKEN);
    assert_eq!(status, 409, "{body}");
    assert!(!srv.web().notify_test_requested());
    drop(srv);
    // With a target: accepted, and the daemon's next tick sees the request once.
    let srv = Server::start(
        "[notify]\n[[notify.targets]]\nkind = \"ntfy\"\nurl = \"http://127.0.0.1:9/t\"",
        &dir.join("b.db"),
    );
    assert_eq!(post(srv.addr, "wrong").0, 401);
    assert!(!srv.web().notify_test_requested());
    let (status, _, body) = post(srv.addr, TOKEN);
    assert_eq!(status, 202, "{body}");
    assert!(srv.web().notify_test_requested());
    assert!(!srv.web().notify_test_requested(), "taken once");
    assert_eq!(get(srv.addr, "/api/notify/test", Some(TOKEN)).0, 405);
}
