//! Load generator for the SQLite store, used by the daemon e2e test and for the flash-wear
//! figures in the README.
//!
//! `store-load --db FILE --heavy`: writes alert batches of 256 as fast as it can and prints
//! `committed N` after every transaction (the e2e test kills it with -9 and checks the file).
//! `store-load --db FILE [--hours H]`: simulates H hours (default 2) of the daemon's writing at
//! several alert rates — one flush per second, one traffic row per minute, as `netwatch run`
//! does — and prints the bytes handed to the file system per day (`wchar` of /proc/self/io),
//! i.e. what the flash has to absorb.

use std::io::Write;

use netwatch::addr::Addr;
use netwatch::config::Config;
use netwatch::detect::{Alert, Figure, RuleId};
use netwatch::store::Store;
use netwatch::window::Summary;

fn wchar() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("wchar: ")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn alert(i: u64, ts: i64) -> Alert {
    let mut a = Alert::new(RuleId::PortscanVertical, ts);
    a.src = Addr::v4([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
    a.dst = Addr::v4([192, 168, 1, 1]);
    a.proto = 6;
    a.key = i;
    a.evidence.fig("distinct_ports", Figure::U(12 + i % 50));
    a.evidence.fig("threshold", Figure::U(12));
    a.evidence.fig("window_s", Figure::U(60));
    for p in 0..12 {
        let _ = a.evidence.ports.push(p * 7 + 1);
    }
    a
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let Some(db) = arg("--db") else {
        eprintln!("usage: store-load --db FILE [--heavy | --hours H]");
        std::process::exit(2);
    };
    let mut cfg = Config::default_config().store;
    cfg.path = db.clone();
    if args.iter().any(|a| a == "--heavy") {
        cfg.max_bytes = 1 << 30;
        let mut s = Store::new(cfg);
        let mut n = 0u64;
        let out = std::io::stdout();
        loop {
            for _ in 0..256 {
                s.add_alert(&alert(n, now_us()));
                n += 1;
            }
            if s.flush().is_ok() {
                let _ = writeln!(out.lock(), "committed {n}");
            }
        }
    }
    let hours: u64 = arg("--hours").and_then(|h| h.parse().ok()).unwrap_or(2);
    println!("store write volume (bytes handed to the file system), simulated {hours} h per rate:");
    println!(
        "{:>14} {:>14} {:>14} {:>12}",
        "alerts/hour", "MiB/day", "bytes/alert", "rotations"
    );
    for rate in [0u64, 6, 60, 600, 3600] {
        let _ = std::fs::remove_file(&db);
        let _ = std::fs::remove_file(format!("{db}-wal"));
        let _ = std::fs::remove_file(format!("{db}-shm"));
        let _ = std::fs::remove_file(format!("{db}.1"));
        let mut s = Store::new(cfg.clone());
        s.flush().ok();
        let w0 = wchar();
        let t0 = now_us();
        let secs = hours * 3600;
        let mut n = 0u64;
        for sec in 0..secs {
            let ts = t0 + sec as i64 * 1_000_000;
            // Evenly spread: the alerts due by the end of this second.
            let due = (sec + 1) * rate / 3600;
            while n < due {
                s.add_alert(&alert(n, ts));
                n += 1;
            }
            if sec % 60 == 59 {
                s.add_minute(&Summary {
                    start: ts / 1_000_000,
                    span_s: 60,
                    packets: 123_456,
                    bytes: 98_765_432,
                    ..Summary::default()
                });
            }
            let _ = s.flush();
        }
        s.close();
        let bytes = wchar() - w0;
        let per_day = bytes as f64 * 24.0 / hours as f64;
        println!(
            "{:>14} {:>14.2} {:>14} {:>12}",
            rate,
            per_day / 1048576.0,
            bytes.checked_div(n).map_or("-".into(), |b| b.to_string()),
            s.counters.rotations
        );
    }
}
