//! Web server benchmark (`cargo bench --bench web`). Not a test: it prints figures, each
//! against a baseline measured in the same run.
//!
//! 1. Memory: `netwatch replay --serve` of a flood of 1M distinct spoofed sources (router
//!    profile, real time: 10 s) with 16 WebSocket clients attached (8 on /ws/stats, 4 on
//!    /ws/flows, 4 on /ws/alerts), peak RSS against the same replay without the web.
//!    Target: ≤ 16 MiB.
//! 2. Per-packet cost: instructions per packet under callgrind of `replay --serve` with the
//!    16 clients attached against `replay` alone, over the LAN mix (each run minus a 1-packet
//!    run of the same kind). Target: unchanged — the web adds work per second, not per packet.
//! 3. `GET /api/alerts` over 100k stored alerts through a real HTTP client: the first page,
//!    a filtered page and a page deep in the cursor chain, 50 requests each. Target ≤ 10 ms.
//!
//! Environment: NETWATCH_BENCH_PACKETS (default 200000) sizes the LAN mix of step 2.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netwatch::addr::Addr;
use netwatch::config::FileConfig;
use netwatch::detect::{Alert, Figure, RuleId};
use support::*;

const TOKEN: &str = "bench-token-0123456789abcdef";
const PORT: u16 = 18791;

fn bench_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&d).expect("create target/bench");
    d
}

fn netwatch() -> &'static str {
    env!("CARGO_BIN_EXE_netwatch")
}

fn config(dir: &Path) -> PathBuf {
    let p = dir.join("web-bench.toml");
    std::fs::write(
        &p,
        format!(
            "[web]\nlisten = [\"127.0.0.1:{PORT}\"]\ntoken = \"{TOKEN}\"\n[store]\npath = \"{}\"\n[syslog]\ntarget = \"off\"\n[eve]\nstdout = false\n",
            dir.join("web-bench-state/netwatch.db").display()
        ),
    )
    .expect("write bench config");
    p
}

fn healthy() -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", PORT)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

/// 16 WebSocket clients reading until the server goes away.
fn attach_clients() -> Vec<std::thread::JoinHandle<u64>> {
    use tungstenite::client::IntoClientRequest;
    let paths = [
        ["/ws/stats"; 8].as_slice(),
        &["/ws/flows"; 4],
        &["/ws/alerts"; 4],
    ]
    .concat();
    paths
        .into_iter()
        .map(|p| {
            let mut req = format!("ws://127.0.0.1:{PORT}{p}")
                .into_client_request()
                .expect("request");
            req.headers_mut().insert(
                "Authorization",
                format!("Bearer {TOKEN}").parse().expect("header"),
            );
            let (mut ws, _) = tungstenite::connect(req).expect("WebSocket client");
            std::thread::spawn(move || {
                let mut n = 0;
                while ws.read().is_ok() {
                    n += 1;
                }
                n
            })
        })
        .collect()
}

/// Any one child of the benchmark, and any one wait in it (callgrind runs are the longest).
const BENCH_LIMIT: Duration = Duration::from_secs(1800);

/// A `replay --serve` child, the lines of its stderr (read by a thread: what it prints at
/// exit is collected by `stop`) and its clients.
struct Served {
    child: Child,
    err: std::sync::mpsc::Receiver<String>,
    clients: Vec<std::thread::JoinHandle<u64>>,
}

/// Start `cmd` (a `replay --serve`), attach the clients once it answers, wait for the end of
/// the replay; the child goes on serving.
fn serve(mut cmd: Command) -> Served {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    deadline::wait_until("the server to answer /healthz", BENCH_LIMIT, healthy);
    let clients = attach_clients();
    let (tx, err) = std::sync::mpsc::channel();
    let pipe = BufReader::new(child.stderr.take().expect("stderr"));
    std::thread::spawn(move || {
        for l in pipe.lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    loop {
        let left = BENCH_LIMIT.saturating_sub(start.elapsed());
        match err.recv_timeout(left) {
            Ok(l) if l.contains("replay finished") => break,
            Ok(_) => {}
            Err(e) => panic!("waiting for \"replay finished\" on the server's stderr: {e}"),
        }
    }
    Served {
        child,
        err,
        clients,
    }
}

/// SIGTERM, then what the child printed until it exited, and the messages the clients got.
fn stop(s: Served) -> (u64, String) {
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    let _ = deadline::wait_within(s.child, BENCH_LIMIT, "replay --serve to exit after SIGTERM");
    let mut rest = String::new();
    while let Ok(l) = s.err.recv_timeout(Duration::from_secs(10)) {
        rest.push_str(&l);
        rest.push('\n');
    }
    // The server is gone: every client's read ends with the connection.
    let end = Instant::now() + Duration::from_secs(30);
    let msgs = s
        .clients
        .into_iter()
        .map(|h| deadline::join_by(h, end, "a WebSocket client after the server exited"))
        .sum();
    (msgs, rest)
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn collected(stderr: &str) -> Option<u64> {
    let line = stderr.lines().find(|l| l.contains("Collected :"))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

fn callgrind_plain(file: &Path) -> Option<u64> {
    let out = deadline::output_within(
        Command::new("valgrind")
            .args([
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                netwatch(),
                "replay",
            ])
            .arg(file),
        BENCH_LIMIT,
        "callgrind of netwatch replay",
    );
    collected(&String::from_utf8_lossy(&out.stderr))
}

fn callgrind_serve(file: &Path, cfg: &Path) -> Option<u64> {
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        netwatch(),
        "replay",
    ])
    .arg(file)
    .args(["--serve", "--speed", "1000000", "-c"])
    .arg(cfg);
    let (_, rest) = stop(serve(cmd));
    collected(&rest)
}

fn alerts_store(path: &Path, n: usize) {
    let text = format!(
        "[store]\npath = \"{}\"\nmax_kib = 1048576\n",
        path.display()
    );
    let mut cfg = FileConfig::parse(&text, "bench")
        .and_then(|f| f.validate())
        .expect("config")
        .store;
    cfg.batch_alerts = 10_000;
    cfg.retry_queue = 20_000;
    let _ = std::fs::remove_file(path);
    let mut s = netwatch::store::Store::new(cfg);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let rules = [
        RuleId::PortscanVertical,
        RuleId::Bruteforce,
        RuleId::Synflood,
        RuleId::DnsTunnel,
        RuleId::C2Beacon,
    ];
    for i in 0..n {
        let mut a = Alert::new(rules[i % 5], (now - n as i64 + i as i64) * 1_000_000);
        a.src = Addr::v4([10, 0, (i / 250 % 250) as u8, (i % 250) as u8 + 1]);
        a.dst = Addr::v4([192, 168, 1, (i % 7) as u8 + 1]);
        a.proto = 6;
        a.key = i as u64;
        a.evidence.fig("ports", Figure::U(12));
        s.add_alert(&a);
        if s.batch_full() {
            let _ = s.flush();
        }
    }
    s.close();
}

fn get_ms(path: &str) -> (f64, String) {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", PORT)).expect("connect");
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    (t.elapsed().as_secs_f64() * 1e3, out)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = bench_dir();
    let cfg = config(&dir);

    println!("== memory: replay --serve of a 1M-source flood (router profile, real time) with 16 WebSocket clients");
    let flood = dir.join("flood-1000000.pcap");
    if !flood.exists() {
        flood_capture(1_000_000).write_to(&flood);
    }
    let base = deadline::output_within(
        Command::new(netwatch())
            .args(["replay", "--stats", "-c"])
            .arg(&cfg)
            .arg(&flood),
        BENCH_LIMIT,
        "netwatch replay of the flood",
    );
    let base_err = String::from_utf8_lossy(&base.stderr);
    let base_rss = base_err
        .split("\"peak_rss_bytes\":")
        .nth(1)
        .and_then(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    let mut cmd = Command::new(netwatch());
    cmd.args(["replay", "--serve", "-c"]).arg(&cfg).arg(&flood);
    let served = serve(cmd);
    std::thread::sleep(Duration::from_secs(2));
    let rss = peak_rss_kib(served.child.id());
    let (msgs, _) = stop(served);
    println!(
        "replay alone       : peak RSS {:>6.2} MiB",
        base_rss as f64 / 1048576.0
    );
    println!(
        "replay --serve + 16: peak RSS {:>6.2} MiB  (target <= 16 MiB; the web adds {:.2} MiB; {msgs} messages to the clients)",
        rss as f64 / 1024.0,
        rss as f64 / 1024.0 - base_rss as f64 / 1048576.0
    );

    println!("== GET /api/alerts over 100k stored alerts (real HTTP client on loopback, 50 requests each)");
    let db = dir.join("web-bench-alerts.db");
    alerts_store(&db, 100_000);
    let one = dir.join("lan-1.pcap");
    lan_capture(1).write_to(&one);
    let mut cmd = Command::new(netwatch());
    cmd.args(["replay", "--serve", "-c"])
        .arg(&cfg)
        .arg(&one)
        .arg("--db")
        .arg(&db);
    let served = serve(cmd);
    let (_, first) = get_ms("/api/alerts?limit=50");
    let deep = first
        .split("\"next\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(|c| {
            let (ts, id) = c.split_once(':').unwrap_or(("0", "0"));
            // A cursor 80k alerts back.
            format!(
                "{}:{}",
                ts.parse::<i64>().unwrap_or(0) - 80_000_000_000,
                id.parse::<i64>().unwrap_or(0) - 80_000
            )
        })
        .unwrap_or_default();
    for (name, path) in [
        ("first page (50)", "/api/alerts?limit=50".to_string()),
        (
            "rule + severity filter (50)",
            "/api/alerts?rule=bruteforce&severity=1&limit=50".to_string(),
        ),
        (
            "source filter (50)",
            "/api/alerts?src=10.0.3.7&limit=50".to_string(),
        ),
        (
            "page 80k alerts deep (50)",
            format!("/api/alerts?limit=50&cursor={deep}"),
        ),
        ("500 alerts", "/api/alerts?limit=500".to_string()),
    ] {
        let mut t: Vec<f64> = (0..50).map(|_| get_ms(&path).0).collect();
        t.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name:<30}: median {:>6.2} ms, max {:>6.2} ms  (target <= 10 ms)",
            t[25], t[49]
        );
    }
    let _ = stop(served);

    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("callgrind: valgrind not installed, skipped");
        return;
    }
    let packets: usize = std::env::var("NETWATCH_BENCH_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    println!("== instructions per packet (callgrind, {packets}-packet LAN mix minus a 1-packet run), 16 clients on --serve");
    let lan = dir.join(format!("web-lan-{packets}.pcap"));
    lan_capture(packets).write_to(&lan);
    let plain = (callgrind_plain(&lan), callgrind_plain(&one));
    let served = (callgrind_serve(&lan, &cfg), callgrind_serve(&one, &cfg));
    match (plain, served) {
        ((Some(a), Some(a1)), (Some(b), Some(b1))) => {
            let per = |x: u64, y: u64| x.saturating_sub(y) as f64 / (packets - 1).max(1) as f64;
            println!("replay             : {:>8.1}", per(a, a1));
            println!(
                "replay --serve + 16: {:>8.1}   (every thread: pipeline, web server, clients' messages; +{:.1})",
                per(b, b1),
                per(b, b1) - per(a, a1)
            );
        }
        other => println!("callgrind: could not run ({other:?})"),
    }
}
