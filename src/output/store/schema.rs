//! The store's files: schema migrations, opening a file read-write with its checks and
//! pragmas, and the names of the rotated files.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::StoreError;

/// Schema migrations; entry `i` takes `user_version` from `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: alerts, indexed for the queries the web API makes (time, rule, source, severity) and
    // by suppression key for repeat-count updates.
    "CREATE TABLE alerts(
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        rule TEXT NOT NULL,
        sid INTEGER NOT NULL,
        severity INTEGER NOT NULL,
        src TEXT NOT NULL,
        sport INTEGER NOT NULL,
        dst TEXT NOT NULL,
        dport INTEGER NOT NULL,
        proto TEXT NOT NULL,
        community_id TEXT,
        summary TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        repeats INTEGER NOT NULL DEFAULT 0,
        skey INTEGER NOT NULL,
        eve TEXT NOT NULL
    );
    CREATE INDEX alerts_ts ON alerts(ts);
    CREATE INDEX alerts_rule ON alerts(rule, ts);
    CREATE INDEX alerts_src ON alerts(src, ts);
    CREATE INDEX alerts_severity ON alerts(severity, ts);
    CREATE INDEX alerts_skey ON alerts(skey);",
    // 2: minute-level traffic history (the closed 60 s windows), so charts survive restarts.
    "CREATE TABLE traffic(
        start INTEGER PRIMARY KEY,
        packets INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        tcp INTEGER NOT NULL,
        udp INTEGER NOT NULL,
        icmp INTEGER NOT NULL,
        other INTEGER NOT NULL,
        syns INTEGER NOT NULL,
        new_flows INTEGER NOT NULL,
        distinct_sources INTEGER NOT NULL
    );",
    // 3: plain-language explanations, LLM enrichment (NULL until a reply arrives), and the
    // per-host baselines of `anomaly.host` with the time the sensor first judged a minute.
    "ALTER TABLE alerts ADD COLUMN explanation TEXT NOT NULL DEFAULT '';
    ALTER TABLE alerts ADD COLUMN enrichment TEXT;
    CREATE TABLE hosts(addr TEXT PRIMARY KEY, baseline BLOB NOT NULL);
    CREATE TABLE kv(key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    // 4: incidents (one episode of one rule family from one subject) and each alert's
    // incident. An incident's row is written whole at each of its alerts, so the current file
    // holds its latest state even when its first alerts are in a rotated file.
    "CREATE TABLE incidents(
        id INTEGER PRIMARY KEY,
        rule TEXT NOT NULL,
        severity INTEGER NOT NULL,
        src TEXT NOT NULL,
        dst TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        alerts INTEGER NOT NULL,
        events INTEGER NOT NULL,
        victims INTEGER NOT NULL,
        summary TEXT NOT NULL,
        explanation TEXT NOT NULL
    );
    CREATE INDEX incidents_last ON incidents(last_seen);
    ALTER TABLE alerts ADD COLUMN incident INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX alerts_incident ON alerts(incident);",
    // 5: the device inventory, written whole with the host baselines (and at shutdown), read
    // back at start; names as the wire gave them (bytes), the user's labels among them; and
    // each alert's parties' devices (a JSON fragment: `"src_device":{…},"dst_device":{…}`).
    "CREATE TABLE devices(
        mac TEXT PRIMARY KEY,
        name BLOB NOT NULL,
        name_source TEXT NOT NULL,
        vendor TEXT NOT NULL,
        kind TEXT NOT NULL,
        kind_evidence TEXT NOT NULL,
        addresses TEXT NOT NULL,
        services INTEGER NOT NULL,
        vendor_class BLOB NOT NULL,
        dhcp_fingerprint INTEGER NOT NULL,
        dhcp_options INTEGER NOT NULL,
        upnp_server BLOB NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    );
    ALTER TABLE alerts ADD COLUMN devices TEXT NOT NULL DEFAULT '';",
    // 6: blocks (`[respond]`): the ones in force, written whole at each change and once a
    // minute (restored at start with their time left), and every block, unblock, expiry and
    // refusal with its reason.
    "CREATE TABLE blocks(
        addr TEXT PRIMARY KEY,
        since INTEGER NOT NULL,
        until INTEGER NOT NULL,
        reason TEXT NOT NULL,
        rule TEXT NOT NULL,
        alert_id INTEGER NOT NULL,
        manual INTEGER NOT NULL
    );
    CREATE TABLE block_log(
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        action TEXT NOT NULL,
        addr TEXT NOT NULL,
        until INTEGER NOT NULL,
        reason TEXT NOT NULL,
        manual INTEGER NOT NULL
    );
    CREATE INDEX block_log_ts ON block_log(ts);",
];

/// Current schema version.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// WAL pages between checkpoints: keeps the WAL (which counts against the size cap) small.
pub(super) const WAL_PAGES: i64 = 128;

pub(super) struct Open {
    pub(super) conn: Connection,
    pub(super) dev: u64,
    pub(super) ino: u64,
}

pub(super) enum OpenFail {
    Corrupt(String),
    Other(rusqlite::Error),
    Newer(i64),
}

impl OpenFail {
    pub(super) fn into_error(self, path: &Path) -> StoreError {
        let p = path.display().to_string();
        match self {
            OpenFail::Corrupt(msg) => StoreError::Open { path: p, msg },
            OpenFail::Other(e) => StoreError::Open {
                path: p,
                msg: e.to_string(),
            },
            OpenFail::Newer(v) => StoreError::Open {
                path: p,
                msg: format!(
                    "schema version {v} is newer than this netwatch ({SCHEMA_VERSION}); move the file away or upgrade"
                ),
            },
        }
    }
}

pub(super) fn classify(e: rusqlite::Error) -> OpenFail {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            OpenFail::Corrupt(e.to_string())
        }
        _ => OpenFail::Other(e),
    }
}

/// Open read-write, verify, set the pragmas, migrate.
pub(super) fn open_checked(path: &Path) -> Result<Open, OpenFail> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(classify)?;
    conn.busy_timeout(Duration::from_millis(200))
        .map_err(classify)?;
    // A small file (a few MiB at most): a full check costs milliseconds and catches a file
    // damaged by a power cut on storage that lies about flushes.
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(classify)?;
    if check != "ok" {
        return Err(OpenFail::Corrupt(check));
    }
    // 1 KiB pages: a batch touches a few pages (the table and three indexes), so small pages
    // cut the bytes written per transaction about threefold against 4 KiB (flash wear,
    // measured by the store-load example). Only takes effect on a new file.
    conn.pragma_update(None, "page_size", 1024)
        .map_err(classify)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(classify)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(classify)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_PAGES)
        .map_err(classify)?;
    conn.pragma_update(None, "journal_size_limit", WAL_PAGES * 1024)
        .map_err(classify)?;
    migrate(&conn)?;
    let m = std::fs::metadata(path)
        .map_err(|e| OpenFail::Other(rusqlite::Error::InvalidPath(PathBuf::from(e.to_string()))))?;
    Ok(Open {
        conn,
        dev: m.dev(),
        ino: m.ino(),
    })
}

pub(super) fn migrate(conn: &Connection) -> Result<(), OpenFail> {
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(classify)?;
    if v > SCHEMA_VERSION {
        return Err(OpenFail::Newer(v));
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(v.max(0) as usize) {
        let sql = format!("BEGIN; {m}; PRAGMA user_version = {}; COMMIT;", i + 1);
        if let Err(e) = conn.execute_batch(&sql) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(classify(e));
        }
        log::info!("store: schema upgraded to version {}", i + 1);
    }
    Ok(())
}

/// `PATH` + `suffix`.
pub(super) fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Make room for a new `path`: `path` becomes `path.1`, `path.i` becomes `path.(i+1)`, and
/// whatever would become `path.keep` is deleted (with `keep == 1`, `path` itself is).
pub fn shift_rotated(path: &Path, keep: u32) -> std::io::Result<()> {
    if keep <= 1 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(rotated(path, keep - 1));
    for i in (1..keep - 1).rev() {
        let from = rotated(path, i);
        if from.exists() {
            std::fs::rename(&from, rotated(path, i + 1))?;
        }
    }
    std::fs::rename(path, rotated(path, 1))
}

/// The `i`-th rotated file: `PATH.i`.
pub fn rotated(path: &Path, i: u32) -> PathBuf {
    suffixed(path, &format!(".{i}"))
}

/// The current file and the rotated ones that exist, newest first.
pub(super) fn kept_files(path: &Path, keep: u32) -> Vec<PathBuf> {
    std::iter::once(path.to_path_buf())
        .chain((1..keep.max(1)).map(|i| rotated(path, i)))
        .filter(|f| f.exists())
        .collect()
}
