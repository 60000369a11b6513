//! The alert store: SQLite files (`rusqlite`, bundled) that keep alerts and the minute-level
//! traffic history across restarts, sized for a router's RAM or flash.
//!
//! * Writes are batched: the daemon queues rows and calls [`Store::flush`] once per second
//!   (or when `batch_alerts` rows are waiting); one transaction per flush. Nothing is written
//!   from the packet path.
//! * WAL journal, `synchronous=NORMAL` (a commit is one append to the WAL, no fsync; the WAL is
//!   checkpointed every 128 pages and truncated), so a `kill -9` loses at most the batch being
//!   built, and the file passes `PRAGMA integrity_check` afterwards.
//! * Schema versioned by `PRAGMA user_version`, upgraded by the `MIGRATIONS` in order.
//! * Rotation instead of `VACUUM`: each file may use `max_bytes / keep`; when the current file
//!   reaches that it is closed and renamed `PATH.1` (older ones shift up, the oldest is deleted)
//!   and a new file is started. Rows older than `max_age_s` are deleted hourly; rotated files
//!   whose newest write is older than that are removed. [`query`] reads across all kept files.
//! * Failures never stop detection: errors are counted, logged at most once a minute, and
//!   queued rows wait (bounded by `retry_queue`, oldest dropped and counted) until the store
//!   works again. A database file that was deleted or replaced is reopened; a corrupt one is
//!   renamed `PATH.corrupt-UNIXTIME` and a new one started.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, ErrorCode, OpenFlags};

use crate::config::StoreConfig;
use crate::detect::Alert;
use crate::output::eve;
use crate::window::Summary;

/// Schema migrations; entry `i` takes `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
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
];

/// Traffic minutes written together when no alert forces a transaction earlier.
const MINUTES_PER_BATCH: usize = 10;

/// Current schema version.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// WAL pages between checkpoints: keeps the WAL (which counts against the size cap) small.
const WAL_PAGES: i64 = 128;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store.path `{path}`: {msg}")]
    Open { path: String, msg: String },
    #[error("store `{path}`: {source}")]
    Sql {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("store `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One alert as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRow {
    /// Unique across the current and rotated files (the store numbers alerts on from the
    /// highest id it finds at start); 0 before the store has numbered it.
    pub id: i64,
    pub ts: i64,
    pub rule: String,
    pub sid: u32,
    pub severity: u8,
    pub src: String,
    pub sport: u16,
    pub dst: String,
    pub dport: u16,
    pub proto: String,
    pub community_id: Option<String>,
    pub summary: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub repeats: u32,
    pub skey: i64,
    /// The alert's EVE JSON line (without newline).
    pub eve: String,
    /// Plain-language explanation (`detect::explain`).
    pub explanation: String,
    /// The language model's reply, when enrichment is on and it answered (untrusted text).
    pub enrichment: Option<String>,
}

impl AlertRow {
    pub fn from_alert(a: &Alert) -> AlertRow {
        let mut line = String::with_capacity(1024);
        eve::write_alert(&mut line, a);
        let mut summary = String::new();
        let _ = a.summary(&mut summary);
        let mut explanation = String::new();
        let _ = crate::detect::explain::explain(a, &mut explanation);
        AlertRow {
            id: 0,
            ts: a.ts,
            rule: a.rule.name().to_string(),
            sid: a.rule.signature_id(),
            severity: a.rule.severity(),
            src: a.src.to_string(),
            sport: a.sport,
            dst: a.dst.to_string(),
            dport: a.dport,
            proto: eve::proto_name(a.proto).to_string(),
            community_id: a.community_id.as_ref().map(|c| c.to_string()),
            summary,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            repeats: a.repeats,
            skey: a.key as i64,
            eve: line.trim_end().to_string(),
            explanation,
            enrichment: None,
        }
    }
}

enum Op {
    Insert(AlertRow),
    /// A suppressed repeat: bring the latest row with this key up to date — its repeat count,
    /// last sight and, from the newest repeat, the episode's extent so far (summary, evidence,
    /// explanation).
    Repeat {
        skey: i64,
        repeats: u32,
        last_seen: i64,
        latest: Box<Alert>,
    },
    Minute(Summary),
    /// A language model's reply for alert `id`.
    Enrich {
        id: i64,
        text: String,
    },
    /// Every host baseline (replacing the kept ones) and the sensor's first judged minute.
    Hosts {
        since: i64,
        rows: Vec<(String, Vec<u8>)>,
    },
}

/// Counters the daemon reports in its stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreCounters {
    pub alerts_written: u64,
    pub minutes_written: u64,
    pub transactions: u64,
    pub errors: u64,
    /// Queued rows dropped because the store kept failing and the queue was full.
    pub dropped: u64,
    pub rotations: u64,
    pub corrupt_moved: u64,
    pub reopened: u64,
}

struct Open {
    conn: Connection,
    dev: u64,
    ino: u64,
}

pub struct Store {
    cfg: StoreConfig,
    path: PathBuf,
    db: Option<Open>,
    queue: VecDeque<Op>,
    pub counters: StoreCounters,
    retry_at: Option<Instant>,
    backoff: Duration,
    last_log: Option<Instant>,
    /// Errors since the last log line (logged at most once a minute).
    unlogged: u64,
    last_age_check: Option<Instant>,
    /// Set while the last operation failed, cleared on success (for sensor health).
    pub failing: Option<String>,
    /// The id the next alert gets.
    next_id: i64,
}

impl Store {
    /// A store for `cfg.path`. Opening happens on the first flush, and is retried with back-off
    /// while it fails (missing directory, read-only file system), so this cannot fail.
    pub fn new(cfg: StoreConfig) -> Store {
        let next_id = if cfg.path.is_empty() {
            1
        } else {
            max_id(Path::new(&cfg.path), cfg.keep) + 1
        };
        Store {
            next_id,
            path: PathBuf::from(&cfg.path),
            cfg,
            db: None,
            queue: VecDeque::new(),
            counters: StoreCounters::default(),
            retry_at: None,
            backoff: Duration::from_secs(1),
            last_log: None,
            unlogged: 0,
            last_age_check: None,
            failing: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// New limits on reload (the path stays: a new path needs a restart).
    pub fn set_limits(&mut self, cfg: &StoreConfig) {
        let path = self.cfg.path.clone();
        self.cfg = cfg.clone();
        self.cfg.path = path;
    }

    /// Rows waiting for the next flush.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    fn push(&mut self, op: Op) {
        if self.queue.len() >= self.cfg.retry_queue {
            self.queue.pop_front();
            self.counters.dropped += 1;
        }
        self.queue.push_back(op);
    }

    /// Queue an alert (or, for a suppressed repeat, an update of its row's repeat count).
    /// Returns the id the alert will have in the store (None for a repeat).
    pub fn add_alert(&mut self, a: &Alert) -> Option<i64> {
        if a.suppressed {
            // Coalesce with a repeat of the same key already waiting.
            for op in self.queue.iter_mut().rev().take(64) {
                if let Op::Repeat {
                    skey,
                    repeats,
                    last_seen,
                    latest,
                } = op
                {
                    if *skey == a.key as i64 {
                        *repeats = a.repeats;
                        *last_seen = a.last_seen;
                        (**latest).clone_from(a);
                        return None;
                    }
                }
            }
            self.push(Op::Repeat {
                skey: a.key as i64,
                repeats: a.repeats,
                last_seen: a.last_seen,
                latest: Box::new(a.clone()),
            });
            None
        } else {
            let mut row = AlertRow::from_alert(a);
            let id = self.next_id;
            row.id = id;
            self.next_id += 1;
            self.push(Op::Insert(row));
            Some(id)
        }
    }

    /// Queue the enrichment text of alert `id` (an UPDATE of its row in the current file).
    pub fn set_enrichment(&mut self, id: i64, text: &str) {
        self.push(Op::Enrich {
            id,
            text: text.to_string(),
        });
    }

    /// Queue a snapshot of every host baseline.
    pub fn save_hosts(&mut self, since: i64, rows: Vec<(String, Vec<u8>)>) {
        self.queue.retain(|op| !matches!(op, Op::Hosts { .. }));
        self.push(Op::Hosts { since, rows });
    }

    /// Queue a closed minute of traffic.
    pub fn add_minute(&mut self, s: &Summary) {
        self.push(Op::Minute(*s));
    }

    /// True when a batch is full and should be written before the next tick.
    pub fn batch_full(&self) -> bool {
        self.queue.len() >= self.cfg.batch_alerts
    }

    /// Write what is queued, in one transaction; rotate when the file is at its cap.
    /// Returns the error of this attempt (already counted); queued rows stay for the next try.
    /// Traffic minutes alone wait until `MINUTES_PER_BATCH` have gathered (or an alert comes,
    /// or the store closes): one transaction per ten minutes instead of one per minute.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let only_minutes = self.queue.iter().all(|op| matches!(op, Op::Minute(_)));
        if only_minutes && self.queue.len() < MINUTES_PER_BATCH && self.db.is_some() {
            return Ok(());
        }
        self.write_now()
    }

    fn write_now(&mut self) -> Result<(), StoreError> {
        if self.cfg.path.is_empty() {
            self.queue.clear();
            return Ok(());
        }
        let now = Instant::now();
        if self.db.is_none() {
            if self.retry_at.is_some_and(|t| now < t) {
                return Ok(());
            }
            if let Err(e) = self.open() {
                self.retry_at = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(Duration::from_secs(10));
                return Err(self.failed(e));
            }
            self.retry_at = None;
            self.backoff = Duration::from_secs(1);
        } else if self.replaced() {
            log::warn!(
                "store: {} was deleted or replaced; starting a new file",
                self.path.display()
            );
            self.db = None;
            self.counters.reopened += 1;
            if let Err(e) = self.open() {
                self.retry_at = Some(now + self.backoff);
                return Err(self.failed(e));
            }
        }
        if !self.queue.is_empty() {
            if let Err(e) = self.write_batch() {
                return Err(self.failed(e));
            }
        }
        if self
            .last_age_check
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(3600))
        {
            self.last_age_check = Some(now);
            if let Err(e) = self.expire_old() {
                return Err(self.failed(e));
            }
        }
        if let Err(e) = self.rotate_if_full() {
            return Err(self.failed(e));
        }
        if self.failing.take().is_some() {
            log::warn!("store: {} works again", self.path.display());
        }
        Ok(())
    }

    /// Count an error, log it at most once a minute, handle corruption; returns it.
    fn failed(&mut self, e: StoreError) -> StoreError {
        self.counters.errors += 1;
        self.unlogged += 1;
        let corrupt = matches!(&e, StoreError::Sql { source, .. }
            if matches!(source.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)));
        if corrupt {
            self.db = None;
            self.move_aside();
        } else if matches!(&e, StoreError::Sql { .. }) && self.db.is_some() {
            // Disk full, I/O error, read-only: close so the next attempt starts clean (a
            // rolled-back transaction leaves nothing behind in WAL mode).
            if let Some(o) = self.db.take() {
                let _ = o.conn.close();
            }
        }
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
        {
            log::error!(
                "{e} ({} error(s) in the last minute; {} rows queued, {} dropped so far; retrying)",
                self.unlogged,
                self.queue.len(),
                self.counters.dropped
            );
            self.last_log = Some(now);
            self.unlogged = 0;
        }
        self.failing = Some(e.to_string());
        e
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Open (creating) the current file, check it, migrate it.
    fn open(&mut self) -> Result<(), StoreError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                    path: self.path.display().to_string(),
                    msg: format!("cannot create directory {}: {e}", dir.display()),
                })?;
            }
        }
        match open_checked(&self.path) {
            Ok(o) => {
                // Another writer may have numbered alerts since start: never reuse an id.
                let top: i64 = o
                    .conn
                    .query_row("SELECT coalesce(max(id), 0) FROM alerts", [], |r| r.get(0))
                    .unwrap_or(0);
                self.next_id = self.next_id.max(top + 1);
                self.db = Some(o);
                Ok(())
            }
            Err(OpenFail::Corrupt(msg)) => {
                log::warn!(
                    "store: {} is not a usable database ({msg})",
                    self.path.display()
                );
                self.move_aside();
                self.db = Some(open_checked(&self.path).map_err(|f| f.into_error(&self.path))?);
                Ok(())
            }
            Err(f) => Err(f.into_error(&self.path)),
        }
    }

    /// Rename a corrupt file (and its WAL) out of the way.
    fn move_aside(&mut self) {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let to = suffixed(&self.path, &format!(".corrupt-{stamp}"));
        match std::fs::rename(&self.path, &to) {
            Ok(()) => {
                self.counters.corrupt_moved += 1;
                log::warn!(
                    "store: moved corrupt {} to {}",
                    self.path.display(),
                    to.display()
                );
            }
            Err(e) => log::error!(
                "store: cannot move corrupt {} aside: {e}",
                self.path.display()
            ),
        }
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(suffixed(&self.path, ext));
        }
    }

    /// The open file is no longer the one at `path` (deleted, or replaced by another).
    fn replaced(&self) -> bool {
        let Some(o) = &self.db else { return false };
        match std::fs::metadata(&self.path) {
            Ok(m) => m.dev() != o.dev || m.ino() != o.ino,
            Err(_) => true,
        }
    }

    fn write_batch(&mut self) -> Result<(), StoreError> {
        let Some(o) = self.db.as_mut() else {
            return Ok(());
        };
        let tx = o.conn.transaction().map_err(|e| StoreError::Sql {
            path: self.path.display().to_string(),
            source: e,
        })?;
        let (mut alerts, mut minutes) = (0u64, 0u64);
        let res: rusqlite::Result<()> = (|| {
            let mut ins = tx.prepare_cached(
                "INSERT INTO alerts(ts, rule, sid, severity, src, sport, dst, dport, proto,
                 community_id, summary, first_seen, last_seen, repeats, skey, eve, id,
                 explanation, enrichment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19)",
            )?;
            let mut rep = tx.prepare_cached(
                "UPDATE alerts SET repeats = ?2, last_seen = max(last_seen, ?3), summary = ?4,
                 eve = ?5, explanation = ?6
                 WHERE id = (SELECT max(id) FROM alerts WHERE skey = ?1)",
            )?;
            let mut min = tx.prepare_cached(
                "INSERT OR REPLACE INTO traffic(start, packets, bytes, tcp, udp, icmp, other,
                 syns, new_flows, distinct_sources) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for op in &self.queue {
                match op {
                    Op::Insert(r) => {
                        ins.execute(params![
                            r.ts,
                            r.rule,
                            r.sid,
                            r.severity,
                            r.src,
                            r.sport,
                            r.dst,
                            r.dport,
                            r.proto,
                            r.community_id,
                            r.summary,
                            r.first_seen,
                            r.last_seen,
                            r.repeats,
                            r.skey,
                            r.eve,
                            r.id,
                            r.explanation,
                            r.enrichment
                        ])?;
                        alerts += 1;
                    }
                    Op::Repeat {
                        skey,
                        repeats,
                        last_seen,
                        latest,
                    } => {
                        // The row keeps its own time; summary, evidence and explanation show
                        // the episode as far as it has gone.
                        let mut a = (**latest).clone();
                        a.suppressed = false;
                        a.repeats = *repeats;
                        let r = AlertRow::from_alert(&a);
                        rep.execute(params![
                            skey,
                            repeats,
                            last_seen,
                            r.summary,
                            r.eve,
                            r.explanation
                        ])?;
                    }
                    Op::Minute(s) => {
                        min.execute(params![
                            s.start,
                            s.packets as i64,
                            s.bytes as i64,
                            s.by_proto[0] as i64,
                            s.by_proto[1] as i64,
                            s.by_proto[2] as i64,
                            s.by_proto[3] as i64,
                            s.syns as i64,
                            s.new_flows as i64,
                            s.distinct_sources
                        ])?;
                        minutes += 1;
                    }
                    Op::Enrich { id, text } => {
                        tx.execute(
                            "UPDATE alerts SET enrichment = ?2 WHERE id = ?1",
                            params![id, text],
                        )?;
                    }
                    Op::Hosts { since, rows } => {
                        tx.execute("DELETE FROM hosts", [])?;
                        let mut h = tx.prepare_cached(
                            "INSERT OR REPLACE INTO hosts(addr, baseline) VALUES (?1, ?2)",
                        )?;
                        for (a, b) in rows {
                            h.execute(params![a, b])?;
                        }
                        tx.execute(
                            "INSERT OR REPLACE INTO kv(key, value) VALUES ('hosts_since', ?1)",
                            params![since],
                        )?;
                    }
                }
            }
            Ok(())
        })();
        match res.and_then(|()| tx.commit()) {
            Ok(()) => {
                self.queue.clear();
                self.counters.alerts_written += alerts;
                self.counters.minutes_written += minutes;
                self.counters.transactions += 1;
                Ok(())
            }
            Err(e) => Err(self.sql(e)),
        }
    }

    /// Bytes the current file uses (database + WAL).
    fn current_bytes(&self) -> u64 {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        size(&self.path) + size(&suffixed(&self.path, "-wal"))
    }

    fn rotate_if_full(&mut self) -> Result<(), StoreError> {
        let per_file = self.cfg.max_bytes / self.cfg.keep.max(1) as u64;
        if self.db.is_none() || self.current_bytes() < per_file {
            return Ok(());
        }
        self.rotate()
    }

    /// Close the current file, shift the kept ones up, start a new one.
    pub fn rotate(&mut self) -> Result<(), StoreError> {
        if let Some(o) = self.db.take() {
            // Fold the WAL into the file so the rotated file is one self-contained file.
            let _ = o.conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
            o.conn.close().map_err(|(_, e)| self.sql(e))?;
        }
        let keep = self.cfg.keep.max(1);
        shift_rotated(&self.path, keep).map_err(|e| self.io(e))?;
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(suffixed(&self.path, ext));
        }
        self.counters.rotations += 1;
        log::info!(
            "store: rotated {} (cap {} KiB per file)",
            self.path.display(),
            self.cfg.max_bytes / keep as u64 / 1024
        );
        self.open()
    }

    /// Delete rows older than the age cap, and rotated files last written before it.
    fn expire_old(&mut self) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now();
        let cutoff_us = now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0)
            - self.cfg.max_age_s as i64 * 1_000_000;
        if let Some(o) = &self.db {
            o.conn
                .execute("DELETE FROM alerts WHERE ts < ?1", [cutoff_us])
                .and_then(|_| {
                    o.conn.execute(
                        "DELETE FROM traffic WHERE start < ?1",
                        [cutoff_us / 1_000_000],
                    )
                })
                .map_err(|e| self.sql(e))?;
        }
        for i in 1..self.cfg.keep.max(1) {
            let p = rotated(&self.path, i);
            let old = std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age.as_secs() > self.cfg.max_age_s);
            if old {
                let _ = std::fs::remove_file(&p);
            }
        }
        Ok(())
    }

    /// Write everything queued (shutdown). Errors are logged by `flush`.
    pub fn close(&mut self) {
        let _ = self.write_now();
        if let Some(o) = self.db.take() {
            let _ = o.conn.close();
        }
    }
}

enum OpenFail {
    Corrupt(String),
    Other(rusqlite::Error),
    Newer(i64),
}

impl OpenFail {
    fn into_error(self, path: &Path) -> StoreError {
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

fn classify(e: rusqlite::Error) -> OpenFail {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            OpenFail::Corrupt(e.to_string())
        }
        _ => OpenFail::Other(e),
    }
}

/// Open read-write, verify, set the pragmas, migrate.
fn open_checked(path: &Path) -> Result<Open, OpenFail> {
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

fn migrate(conn: &Connection) -> Result<(), OpenFail> {
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
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
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

/// Which alerts a query wants. Empty fields match everything.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Only alerts at or after this time (µs since the epoch).
    pub since_us: Option<i64>,
    /// Only alerts before this time (µs since the epoch).
    pub until_us: Option<i64>,
    pub rule: Option<String>,
    pub src: Option<String>,
    pub dst: Option<String>,
    /// Only alerts at least this severe (1 high … 3 low).
    pub max_severity: Option<u8>,
    /// Keyset cursor: only alerts strictly after (older than) this `(ts, id)` in the
    /// newest-first order.
    pub before: Option<(i64, i64)>,
    pub limit: usize,
}

const ALERT_COLUMNS: &str = "id, ts, rule, sid, severity, src, sport, dst, dport, proto,
    community_id, summary, first_seen, last_seen, repeats, skey, eve, explanation, enrichment";

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        ts: r.get(1)?,
        rule: r.get(2)?,
        sid: r.get(3)?,
        severity: r.get(4)?,
        src: r.get(5)?,
        sport: r.get(6)?,
        dst: r.get(7)?,
        dport: r.get(8)?,
        proto: r.get(9)?,
        community_id: r.get(10)?,
        summary: r.get(11)?,
        first_seen: r.get(12)?,
        last_seen: r.get(13)?,
        repeats: r.get(14)?,
        skey: r.get(15)?,
        eve: r.get(16)?,
        explanation: r.get(17)?,
        enrichment: r.get(18)?,
    })
}

/// The host baselines kept by the newest file that has any, and the time the sensor first
/// judged a minute (0 when unknown). Unreadable files give nothing (a new baseline is learnt).
pub fn load_hosts(path: &Path, keep: u32) -> (i64, Vec<(String, Vec<u8>)>) {
    for f in kept_files(path, keep) {
        let Ok(conn) = open_read(&f) else { continue };
        let rows: rusqlite::Result<Vec<(String, Vec<u8>)>> = conn
            .prepare("SELECT addr, baseline FROM hosts")
            .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect());
        if let Ok(rows) = rows {
            if !rows.is_empty() {
                let since = conn
                    .query_row("SELECT value FROM kv WHERE key = 'hosts_since'", [], |r| {
                        r.get(0)
                    })
                    .unwrap_or(0);
                return (since, rows);
            }
        }
    }
    (0, Vec::new())
}

/// The current file and the rotated ones that exist, newest first.
fn kept_files(path: &Path, keep: u32) -> Vec<PathBuf> {
    std::iter::once(path.to_path_buf())
        .chain((1..keep.max(1)).map(|i| rotated(path, i)))
        .filter(|f| f.exists())
        .collect()
}

/// A read-only connection (the daemon's writes go on; WAL readers never block it).
fn open_read(f: &Path) -> Result<Connection, StoreError> {
    let err = |e| StoreError::Sql {
        path: f.display().to_string(),
        source: e,
    };
    let conn = Connection::open_with_flags(
        f,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.busy_timeout(Duration::from_millis(500)).map_err(err)?;
    Ok(conn)
}

/// The highest alert id in the kept files (0 when there is none or they cannot be read).
fn max_id(path: &Path, keep: u32) -> i64 {
    kept_files(path, keep)
        .iter()
        .filter_map(|f| open_read(f).ok())
        .filter_map(|c| {
            c.query_row("SELECT coalesce(max(id), 0) FROM alerts", [], |r| {
                r.get::<_, i64>(0)
            })
            .ok()
        })
        .max()
        .unwrap_or(0)
}

/// Alerts matching `q` across the current and rotated files, newest first (by time, then id).
pub fn query(path: &Path, keep: u32, q: &Query) -> Result<Vec<AlertRow>, StoreError> {
    let mut out = Vec::new();
    let mut sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE 1");
    let mut named: Vec<(&str, &dyn rusqlite::ToSql)> = Vec::new();
    if let Some(s) = &q.since_us {
        sql.push_str(" AND ts >= :since");
        named.push((":since", s));
    }
    if let Some(u) = &q.until_us {
        sql.push_str(" AND ts < :until");
        named.push((":until", u));
    }
    if let Some(r) = &q.rule {
        sql.push_str(" AND rule = :rule");
        named.push((":rule", r));
    }
    if let Some(s) = &q.src {
        sql.push_str(" AND src = :src");
        named.push((":src", s));
    }
    if let Some(d) = &q.dst {
        sql.push_str(" AND dst = :dst");
        named.push((":dst", d));
    }
    if let Some(s) = &q.max_severity {
        sql.push_str(" AND severity <= :sev");
        named.push((":sev", s));
    }
    if let Some((ts, id)) = &q.before {
        sql.push_str(" AND (ts < :cts OR (ts = :cts AND id < :cid))");
        named.push((":cts", ts));
        named.push((":cid", id));
    }
    let limit = q.limit.max(1);
    let _ = write!(sql, " ORDER BY ts DESC, id DESC LIMIT {limit}");
    for f in kept_files(path, keep) {
        let conn = open_read(&f)?;
        let err = |e| StoreError::Sql {
            path: f.display().to_string(),
            source: e,
        };
        let mut st = conn.prepare(&sql).map_err(err)?;
        let rows = st.query_map(named.as_slice(), alert_row).map_err(err)?;
        for r in rows {
            out.push(r.map_err(err)?);
        }
    }
    out.sort_by_key(|r| std::cmp::Reverse((r.ts, r.id)));
    out.truncate(limit);
    Ok(out)
}

/// One alert by id, from whichever kept file holds it.
pub fn get(path: &Path, keep: u32, id: i64) -> Result<Option<AlertRow>, StoreError> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1");
    for f in kept_files(path, keep) {
        let conn = open_read(&f)?;
        let err = |e| StoreError::Sql {
            path: f.display().to_string(),
            source: e,
        };
        match conn.query_row(&sql, [id], alert_row) {
            Ok(r) => return Ok(Some(r)),
            Err(rusqlite::Error::QueryReturnedNoRows) => {}
            Err(e) => return Err(err(e)),
        }
    }
    Ok(None)
}

/// Stored traffic minutes starting at or after `since_s` (seconds since the epoch), oldest
/// first, across the kept files (at most `limit`, the newest ones).
pub fn minutes(
    path: &Path,
    keep: u32,
    since_s: i64,
    limit: usize,
) -> Result<Vec<Summary>, StoreError> {
    let mut out: Vec<Summary> = Vec::new();
    for f in kept_files(path, keep) {
        let conn = open_read(&f)?;
        let err = |e| StoreError::Sql {
            path: f.display().to_string(),
            source: e,
        };
        let mut st = conn
            .prepare(
                "SELECT start, packets, bytes, tcp, udp, icmp, other, syns, new_flows, distinct_sources
                 FROM traffic WHERE start >= ?1 ORDER BY start DESC LIMIT ?2",
            )
            .map_err(err)?;
        let rows = st
            .query_map(params![since_s, limit as i64], |r| {
                Ok(Summary {
                    start: r.get(0)?,
                    span_s: 60,
                    packets: r.get::<_, i64>(1)? as u64,
                    bytes: r.get::<_, i64>(2)? as u64,
                    by_proto: [
                        r.get::<_, i64>(3)? as u64,
                        r.get::<_, i64>(4)? as u64,
                        r.get::<_, i64>(5)? as u64,
                        r.get::<_, i64>(6)? as u64,
                    ],
                    syns: r.get::<_, i64>(7)? as u64,
                    new_flows: r.get::<_, i64>(8)? as u64,
                    distinct_sources: r.get(9)?,
                    ..Default::default()
                })
            })
            .map_err(err)?;
        for r in rows {
            out.push(r.map_err(err)?);
        }
    }
    out.sort_by_key(|s| s.start);
    out.dedup_by_key(|s| s.start);
    let skip = out.len().saturating_sub(limit);
    out.drain(..skip);
    Ok(out)
}
