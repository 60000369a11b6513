//! The SQLite store through its public API, on real files: batching, repeat counts, minute
//! history, migrations, rotation at the cap with queries across files, a corrupt file at
//! start, a deleted file, a full and a read-only file system (tmpfs, needs root).

mod support;

use std::path::{Path, PathBuf};

use netwatch::addr::Addr;
use netwatch::config::{Config, StoreConfig};
use netwatch::detect::incident::IncidentInfo;
use netwatch::detect::{Alert, Figure, RuleId};
use netwatch::store::{self, IncidentQuery, Query, Store, SCHEMA_VERSION};
use netwatch::window::Summary;
use rusqlite::Connection;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "netwatch-store-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cfg(path: &Path, max_kib: u64, keep: u32) -> StoreConfig {
    StoreConfig {
        path: path.display().to_string(),
        max_bytes: max_kib * 1024,
        keep,
        ..Config::default_config().store
    }
}

/// An alert like the scan rule's, `i` making it distinct.
fn alert(i: u32, ts: i64) -> Alert {
    let mut a = Alert::new(RuleId::PortscanVertical, ts);
    a.src = Addr::v4([10, 0, (i >> 8) as u8, i as u8]);
    a.dst = Addr::v4([192, 168, 1, 1]);
    a.dport = 22;
    a.proto = 6;
    a.key = 1000 + i as u64;
    a.evidence.fig("distinct_ports", Figure::U(12));
    a.evidence.fig("window_s", Figure::U(60));
    a
}

fn count(path: &Path, sql: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// An hour ago: inside the age cap (rows older than `max_age_days` are deleted).
fn t0() -> i64 {
    static T: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64
            - 3_600_000_000
    })
}

#[test]
fn batch_repeats_and_minutes() {
    let d = TempDir::new("batch");
    let path = d.0.join("sub/netwatch.db");
    let mut s = Store::new(cfg(&path, 4096, 2));
    for i in 0..10 {
        s.add_alert(&alert(i, t0() + i as i64));
    }
    // A hostile "domain" is stored as data.
    let mut dns = Alert::new(RuleId::DnsTunnel, t0() + 50);
    dns.src = Addr::v4([10, 0, 0, 99]);
    dns.key = 77;
    dns.evidence
        .domain
        .extend_from_slice(b"x');DROP TABLE alerts;--\"<script>")
        .unwrap();
    s.add_alert(&dns);
    // Two suppressed repeats of alert 3: one row update, the last count wins.
    let mut r = alert(3, t0() + 100);
    r.suppressed = true;
    r.repeats = 1;
    s.add_alert(&r);
    r.repeats = 2;
    r.last_seen = t0() + 200;
    s.add_alert(&r);
    s.add_minute(&Summary {
        start: t0() / 1_000_000,
        span_s: 60,
        packets: 1234,
        bytes: 99_999,
        ..Summary::default()
    });
    assert!(!s.batch_full());
    s.flush().unwrap();
    assert_eq!(s.counters.transactions, 1, "one transaction per flush");
    assert_eq!(s.counters.alerts_written, 11);
    assert_eq!(s.pending(), 0);
    assert_eq!(count(&path, "PRAGMA user_version"), SCHEMA_VERSION);
    assert_eq!(count(&path, "SELECT count(*) FROM alerts"), 11);
    assert_eq!(
        count(&path, "SELECT repeats FROM alerts WHERE skey = 1003"),
        2
    );
    assert_eq!(
        count(&path, "SELECT last_seen FROM alerts WHERE skey = 1003"),
        t0() + 200
    );
    assert_eq!(count(&path, "SELECT packets FROM traffic"), 1234);
    let mode: String = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let rows = store::query(
        &path,
        2,
        &Query {
            rule: Some("dns.tunnel".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].eve.contains("DROP TABLE"), "{}", rows[0].eve);
    assert!(
        rows[0].summary.contains("DROP TABLE"),
        "{}",
        rows[0].summary
    );
    let by_src = store::query(
        &path,
        2,
        &Query {
            src: Some("10.0.0.3".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(by_src.len(), 1);
    assert_eq!(by_src[0].repeats, 2);
    // Newest first, limit honoured.
    let last = store::query(
        &path,
        2,
        &Query {
            limit: 3,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(last.len(), 3);
    assert!(last[0].ts >= last[1].ts && last[1].ts >= last[2].ts);
    s.close();
}

#[test]
fn batch_full_at_configured_size() {
    let d = TempDir::new("full");
    let mut c = cfg(&d.0.join("n.db"), 4096, 2);
    c.batch_alerts = 5;
    let mut s = Store::new(c);
    for i in 0..4 {
        s.add_alert(&alert(i, t0()));
    }
    assert!(!s.batch_full());
    s.add_alert(&alert(4, t0()));
    assert!(s.batch_full());
}

#[test]
fn migrates_an_old_schema_keeping_rows() {
    let d = TempDir::new("migrate");
    let path = d.0.join("n.db");
    {
        let mut s = Store::new(cfg(&path, 4096, 2));
        s.add_alert(&alert(1, t0()));
        s.flush().unwrap();
        s.close();
    }
    // Make it a version-1 file: no traffic table, no explanation or enrichment, no baselines,
    // no incidents, no devices, no blocks.
    let c = Connection::open(&path).unwrap();
    c.execute_batch(
        "DROP TABLE blocks; DROP TABLE block_log;
         DROP TABLE traffic; DROP TABLE hosts; DROP TABLE kv; DROP TABLE incidents;
         DROP TABLE devices; ALTER TABLE alerts DROP COLUMN devices;
         DROP INDEX alerts_incident; ALTER TABLE alerts DROP COLUMN incident;
         ALTER TABLE alerts DROP COLUMN explanation; ALTER TABLE alerts DROP COLUMN enrichment;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(c);
    let mut s = Store::new(cfg(&path, 4096, 2));
    s.add_minute(&Summary {
        start: t0() / 1_000_000,
        packets: 1,
        ..Summary::default()
    });
    s.flush().unwrap();
    assert_eq!(count(&path, "PRAGMA user_version"), SCHEMA_VERSION);
    assert_eq!(count(&path, "SELECT count(*) FROM alerts"), 1);
    assert_eq!(count(&path, "SELECT count(*) FROM traffic"), 1);
    // The old row is there with an empty explanation and no enrichment.
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM alerts WHERE explanation = '' AND enrichment IS NULL"
        ),
        1
    );
}

#[test]
fn newer_schema_is_left_alone() {
    let d = TempDir::new("newer");
    let path = d.0.join("n.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let mut s = Store::new(cfg(&path, 4096, 2));
    s.add_alert(&alert(1, t0()));
    let e = s.flush().unwrap_err().to_string();
    assert!(e.contains("newer"), "{e}");
    assert_eq!(s.pending(), 1, "the alert waits");
    assert_eq!(count(&path, "PRAGMA user_version"), 99);
}

#[test]
fn rotates_at_the_cap_and_queries_span_files() {
    let d = TempDir::new("rotate");
    let path = d.0.join("n.db");
    let cap_kib = 256;
    let mut s = Store::new(cfg(&path, cap_kib, 2));
    let mut written = 0u32;
    while s.counters.rotations < 3 {
        for _ in 0..50 {
            s.add_alert(&alert(written, t0() + written as i64 * 1000));
            written += 1;
        }
        s.flush().unwrap();
        assert!(written < 100_000, "never rotated");
        // All kept files together stay near the cap (one batch of slack).
        let total: u64 = [
            path.clone(),
            store::rotated(&path, 1),
            store::rotated(&path, 2),
        ]
        .iter()
        .chain([PathBuf::from(format!("{}-wal", path.display()))].iter())
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
        assert!(total <= cap_kib * 1024 + 64 * 1024, "{total} bytes kept");
    }
    assert!(store::rotated(&path, 1).exists());
    assert!(
        !store::rotated(&path, 2).exists(),
        "keep = 2: one rotated file"
    );
    let rows = store::query(
        &path,
        2,
        &Query {
            limit: 1_000_000,
            ..Default::default()
        },
    )
    .unwrap();
    let in_current = count(&path, "SELECT count(*) FROM alerts") as usize;
    assert!(rows.len() > in_current, "query reads the rotated file too");
    assert_eq!(
        rows[0].ts,
        t0() + (written as i64 - 1) * 1000,
        "newest first"
    );
    // The rotated file is a complete database on its own.
    let ok: String = Connection::open(store::rotated(&path, 1))
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    // Ids are unique across the files (numbering goes on after a rotation), an alert is
    // found by id in whichever file holds it, and keyset pages across files miss nothing.
    let mut ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), rows.len(), "ids repeat across files");
    let oldest = rows.last().unwrap();
    assert!(
        count(
            &store::rotated(&path, 1),
            &format!("SELECT count(*) FROM alerts WHERE id = {}", oldest.id)
        ) == 1
    );
    assert_eq!(
        store::get(&path, 2, oldest.id).unwrap().unwrap().ts,
        oldest.ts
    );
    assert!(store::get(&path, 2, i64::MAX).unwrap().is_none());
    let mut paged = Vec::new();
    let mut q = Query {
        limit: 37,
        ..Default::default()
    };
    loop {
        let page = store::query(&path, 2, &q).unwrap();
        paged.extend(page.iter().map(|r| r.id));
        match page.last() {
            Some(l) if page.len() == q.limit => q.before = Some((l.ts, l.id)),
            _ => break,
        }
    }
    assert_eq!(paged, rows.iter().map(|r| r.id).collect::<Vec<_>>());
    // A store opened again numbers on from the highest id it finds.
    drop(s);
    let mut again = Store::new(cfg(&path, cap_kib, 2));
    let next = again.add_alert(&alert(1, t0())).unwrap();
    assert_eq!(next, rows[0].id.max(*ids.last().unwrap()) + 1);
}

#[test]
fn corrupt_file_at_start_is_moved_aside() {
    let d = TempDir::new("corrupt");
    let path = d.0.join("n.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let mut s = Store::new(cfg(&path, 4096, 2));
    s.add_alert(&alert(1, t0()));
    s.flush().unwrap();
    assert_eq!(s.counters.corrupt_moved, 1);
    assert_eq!(count(&path, "SELECT count(*) FROM alerts"), 1);
    let aside: Vec<_> = std::fs::read_dir(&d.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(aside[0].path()).unwrap(), vec![0x5a; 8192]);
}

#[test]
fn damaged_pages_are_detected_at_start() {
    let d = TempDir::new("damaged");
    let path = d.0.join("n.db");
    {
        let mut s = Store::new(cfg(&path, 4096, 2));
        for i in 0..500 {
            s.add_alert(&alert(i, t0()));
        }
        s.flush().unwrap();
        s.close();
    }
    // Overwrite the middle of the file (index and table pages) with garbage.
    let mut b = std::fs::read(&path).unwrap();
    let mid = b.len() / 2;
    let end = (mid + 8192).min(b.len());
    for x in &mut b[mid..end] {
        *x = 0xa5;
    }
    std::fs::write(&path, b).unwrap();
    let mut s = Store::new(cfg(&path, 4096, 2));
    s.add_alert(&alert(9999, t0()));
    s.flush().unwrap();
    assert_eq!(s.counters.corrupt_moved, 1);
    assert_eq!(count(&path, "SELECT count(*) FROM alerts"), 1);
}

#[test]
fn deleted_file_is_recreated() {
    let d = TempDir::new("deleted");
    let path = d.0.join("n.db");
    let mut s = Store::new(cfg(&path, 4096, 2));
    s.add_alert(&alert(1, t0()));
    s.flush().unwrap();
    std::fs::remove_file(&path).unwrap();
    let _ = std::fs::remove_file(format!("{}-wal", path.display()));
    s.add_alert(&alert(2, t0()));
    s.flush().unwrap();
    assert_eq!(s.counters.reopened, 1);
    assert_eq!(count(&path, "SELECT count(*) FROM alerts"), 1);
}

#[test]
fn unwritable_directory_is_retried_not_fatal() {
    let d = TempDir::new("unwritable");
    // A file where the directory should be: creating the database cannot work.
    std::fs::write(d.0.join("blocker"), b"x").unwrap();
    let path = d.0.join("blocker/n.db");
    let mut s = Store::new(cfg(&path, 4096, 2));
    s.add_alert(&alert(1, t0()));
    let e = s.flush().unwrap_err().to_string();
    assert!(e.contains("store.path"), "names the key: {e}");
    assert_eq!(s.counters.errors, 1);
    assert_eq!(s.pending(), 1);
    // Back-off: an immediate second flush does not hammer the file system.
    s.flush().unwrap();
    assert_eq!(s.counters.errors, 1);
}

#[test]
fn queue_is_bounded_while_failing() {
    let d = TempDir::new("bounded");
    std::fs::write(d.0.join("blocker"), b"x").unwrap();
    let mut c = cfg(&d.0.join("blocker/n.db"), 4096, 2);
    c.retry_queue = 16;
    let mut s = Store::new(c);
    for i in 0..40 {
        s.add_alert(&alert(i, t0()));
    }
    assert_eq!(s.pending(), 16);
    assert_eq!(s.counters.dropped, 24);
}

/// Root only: a real tmpfs, filled to 100 %, then read-only.
fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn sh(cmd: &str) {
    let o = support::deadline::output_within(
        std::process::Command::new("sh").arg("-c").arg(cmd),
        std::time::Duration::from_secs(60),
        cmd,
    );
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn full_then_read_only_tmpfs_recovers() {
    if !is_root() {
        eprintln!("skipped: needs root to mount a tmpfs");
        return;
    }
    let d = TempDir::new("tmpfs");
    let mnt = d.0.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    sh(&format!(
        "mount -t tmpfs -o size=2m tmpfs '{}'",
        mnt.display()
    ));
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("timeout")
                .arg("60")
                .arg("umount")
                .arg(&self.0)
                .status();
        }
    }
    let _u = Unmount(mnt.clone());
    let path = mnt.join("n.db");
    let mut s = Store::new(cfg(&path, 4096, 2));
    s.add_alert(&alert(0, t0()));
    s.flush().unwrap();
    // Fill the file system to 100 %.
    let _ = support::deadline::output_within(
        std::process::Command::new("dd").args([
            "if=/dev/zero",
            &format!("of={}/filler", mnt.display()),
            "bs=4k",
        ]),
        std::time::Duration::from_secs(60),
        "dd filling the tmpfs",
    );
    let mut failed = 0;
    for i in 1..200 {
        s.add_alert(&alert(i, t0() + i as i64));
        if i % 20 == 0 && s.flush().is_err() {
            failed += 1;
        }
    }
    assert!(failed > 0, "a full disk makes writes fail");
    assert!(s.counters.errors > 0);
    assert!(s.pending() > 0, "alerts wait in the queue");
    // Space returns: the store recovers by itself, nothing queued is lost.
    std::fs::remove_file(mnt.join("filler")).unwrap();
    s.flush().unwrap();
    assert_eq!(s.pending(), 0);
    assert_eq!(count(&path, "SELECT count(*) FROM alerts"), 200);
    // Read-only (e.g. an overlay that failed): the next open fails, then recovers after the
    // remount. The file must be closed for the kernel to allow a read-only remount.
    s.close();
    sh(&format!("mount -o remount,ro '{}'", mnt.display()));
    s.add_alert(&alert(500, t0()));
    assert!(s.flush().is_err());
    sh(&format!("mount -o remount,rw '{}'", mnt.display()));
    // Past the back-off.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    s.flush().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM alerts"), 201);
    let ok: String = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    s.close();
}

#[test]
fn host_baselines_round_trip_and_survive_rotation() {
    let d = TempDir::new("hosts");
    let path = d.0.join("n.db");
    let mut s = Store::new(cfg(&path, 4096, 3));
    assert_eq!(netwatch::store::load_hosts(&path, 3), (0, Vec::new()));
    let rows = vec![
        ("192.168.1.5".to_string(), vec![1u8; 600]),
        ("fd00::7".to_string(), vec![2u8; 600]),
    ];
    s.save_hosts(42, rows.clone());
    // A second snapshot before the flush replaces the first (one write per flush).
    s.save_hosts(43, rows.clone());
    s.flush().unwrap();
    let (since, mut got) = netwatch::store::load_hosts(&path, 3);
    got.sort();
    assert_eq!((since, got), (43, rows.clone()));
    // After a rotation the new file has none yet: the rotated one still answers.
    s.rotate().unwrap();
    s.add_alert(&alert(1, t0()));
    s.flush().unwrap();
    let (since, got) = netwatch::store::load_hosts(&path, 3);
    assert_eq!((since, got.len()), (43, 2));
    // A newer snapshot in the current file wins.
    s.save_hosts(44, rows[..1].to_vec());
    s.flush().unwrap();
    assert_eq!(
        netwatch::store::load_hosts(&path, 3),
        (44, rows[..1].to_vec())
    );
}

#[test]
fn a_stored_alert_keeps_the_whole_episode_current() {
    // A 1,024-port scan fires at 12 ports; its suppressed repeats bring the stored row up to
    // date: the summary, the evidence and the last sight show the whole scan.
    let dir = TempDir::new("extent");
    let db = dir.0.join("a.db");
    let mut st = Store::new(cfg(&db, 4096, 2));
    let mut p = netwatch::pipeline::Pipeline::new(&Config::default_config());
    p.report_repeats(true);
    let mut tr = support::Traffic::new();
    let t = t0();
    for i in 0..1024u16 {
        let at = t + i as i64 * 20_000;
        tr.tcp_pkt(
            at,
            "10.0.0.66",
            40000 + i,
            "10.0.0.5",
            1 + i,
            support::SYN,
            &[],
        );
        tr.tcp_pkt(
            at + 300,
            "10.0.0.5",
            1 + i,
            "10.0.0.66",
            40000 + i,
            support::RST | support::ACK,
            &[],
        );
    }
    for (ts, f) in tr.frames() {
        p.process(1, ts, &f, f.len() as u32, &mut |a| {
            st.add_alert(a);
        });
    }
    p.finish(&mut |a| {
        st.add_alert(a);
    });
    st.flush().unwrap();
    let rows = store::query(&db, 2, &Query::default()).unwrap();
    let v: Vec<_> = rows
        .iter()
        .filter(|r| r.rule == "portscan.vertical")
        .collect();
    assert_eq!(v.len(), 1, "one stored alert for one scan: {rows:?}");
    let r = v[0];
    assert!(
        r.summary.contains("1024 ports so far over 20 s"),
        "{}",
        r.summary
    );
    assert!(r.eve.contains("\"ports_so_far\":1024"), "{}", r.eve);
    assert!(
        r.explanation.contains("tried 1024 different ports"),
        "{}",
        r.explanation
    );
    assert!(r.repeats >= 1000, "{}", r.repeats);
    assert!(
        r.last_seen - r.first_seen >= 20_000_000,
        "{} {}",
        r.first_seen,
        r.last_seen
    );
    assert!(r.last_seen > r.ts);
}

/// An alert of incident `id` with `events` sightings so far.
fn of_incident(i: u32, ts: i64, id: u64, events: u32) -> Alert {
    let mut a = alert(i, ts);
    a.incident = IncidentInfo {
        id,
        first_seen: t0(),
        last_seen: ts,
        alerts: events,
        events,
        victims: 1,
    };
    a
}

#[test]
fn incidents_keep_their_latest_state_across_rotation_and_old_files() {
    let d = TempDir::new("incidents");
    let path = d.0.join("n.db");
    let mut s = Store::new(cfg(&path, 256, 3));
    assert_eq!(s.next_incident(), 1);
    // Incident 1 goes on across two rotations; incident 2 is one alert in the middle.
    let mut n = 0u32;
    while s.counters.rotations < 2 {
        for _ in 0..50 {
            n += 1;
            s.add_alert(&of_incident(n, t0() + n as i64 * 1000, 1, n));
        }
        if n == 50 {
            s.add_alert(&of_incident(100_000, t0() + 50_500, 2, 1));
        }
        s.flush().unwrap();
        assert!(n < 100_000, "never rotated");
    }
    // A state queued after a newer one in the same batch (a held-back repeat's row is
    // coalesced in place) changes nothing that went back.
    n += 1;
    s.add_alert(&of_incident(n, t0() + n as i64 * 1000, 1, n));
    let mut late = of_incident(n, t0() + (n as i64 - 3) * 1000, 1, n - 3);
    late.suppressed = true;
    late.key = 7;
    s.add_alert(&late);
    s.flush().unwrap();
    assert_eq!(s.next_incident(), 3);
    let all = store::incidents(
        &path,
        3,
        &IncidentQuery {
            limit: 100,
            ..Default::default()
        },
    )
    .unwrap();
    let ids: Vec<i64> = all.iter().map(|r| r.id).collect();
    assert_eq!(ids, [1, 2], "one row per incident, newest sighting first");
    assert_eq!((all[0].events, all[0].rule.as_str()), (n, "portscan"));
    assert_eq!(all[0].first_seen, t0());
    assert_eq!(all[0].last_seen, t0() + n as i64 * 1000);
    // Its alerts, from every file, newest first.
    let (inc, alerts) = store::get_incident(&path, 3, 1, 10_000).unwrap().unwrap();
    assert_eq!(inc.id, 1);
    assert_eq!(alerts.len() as u32, n);
    assert!(alerts.iter().all(|a| a.incident == 1));
    assert!(alerts.windows(2).all(|w| w[0].ts >= w[1].ts));
    // Filters: by family through a rule name, by source; keyset pages.
    let q = |rule: &str| IncidentQuery {
        rule: Some(rule.into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        store::incidents(&path, 3, &q("portscan.horizontal"))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store::incidents(&path, 3, &q("bruteforce")).unwrap().len(),
        0
    );
    let page = store::incidents(
        &path,
        3,
        &IncidentQuery {
            before: Some((all[0].last_seen, all[0].id)),
            limit: 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [2]);
    // A rotated file from before incidents existed (schema 3) is still read.
    let old = store::rotated(&path, 2);
    let c = Connection::open(&old).unwrap();
    c.execute_batch(
        "DROP TABLE incidents; DROP INDEX alerts_incident; ALTER TABLE alerts DROP COLUMN incident;
         PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(c);
    let rows = store::query(
        &path,
        3,
        &Query {
            limit: 100_000,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        rows.iter().any(|r| r.incident == 0),
        "old rows have no incident"
    );
    assert_eq!(store::incidents(&path, 3, &q("portscan")).unwrap()[0].id, 1);
    assert!(store::get_incident(&path, 3, 9, 10).unwrap().is_none());
}

#[test]
fn blocks_are_kept_whole_and_their_events_logged() {
    use store::{block_log, load_blocks, Block, BlockEvent};
    let dir = TempDir::new("blocks");
    let path = dir.0.join("netwatch.db");
    assert!(load_blocks(&path, 2).is_empty(), "no file yet");
    let b = |a: &str, until: i64| Block {
        addr: a.parse().unwrap(),
        since_us: 1,
        until_us: until,
        reason: "203.0.113.9 probed 12 ports; <b>".into(),
        rule: Some(RuleId::PortscanVertical),
        alert_id: 7,
        manual: false,
    };
    let mut s = Store::new(cfg(&path, 4096, 2));
    s.save_blocks(vec![
        b("203.0.113.9", 5_000_000),
        b("2001:db8::9", 6_000_000),
    ]);
    s.add_block_event(BlockEvent {
        ts_us: 2_000_000,
        action: "block",
        addr: "203.0.113.9".parse().unwrap(),
        until_us: 5_000_000,
        reason: "scan".into(),
        manual: false,
    });
    s.flush().unwrap();
    let got = load_blocks(&path, 2);
    assert_eq!(
        got,
        vec![b("203.0.113.9", 5_000_000), b("2001:db8::9", 6_000_000)]
    );
    // Written whole: the next save replaces the set, an empty one included.
    s.save_blocks(vec![]);
    s.add_block_event(BlockEvent {
        ts_us: 3_000_000,
        action: "unblock",
        addr: "203.0.113.9".parse().unwrap(),
        until_us: 3_000_000,
        reason: "unblocked by hand".into(),
        manual: true,
    });
    s.flush().unwrap();
    assert!(load_blocks(&path, 2).is_empty());
    let log = block_log(&path, 2, 10);
    assert_eq!(
        log.iter().map(|e| e.action).collect::<Vec<_>>(),
        ["unblock", "block"],
        "newest first"
    );
    s.close();
}
