//! The writer: alerts, repeats, minutes, enrichments and host baselines queued by the daemon
//! and written in one transaction per flush, with rotation at the size cap, expiry by age,
//! and recovery from failing, deleted, replaced or corrupt files.

use std::collections::VecDeque;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::state::devices::{mac_text, Device, Mac};
use rusqlite::{params, ErrorCode};

use crate::detect::Alert;
use crate::state::window::Summary;

use super::queries::{max_id, max_incident_id};
use super::schema::{open_checked, rotated, shift_rotated, suffixed, Open, OpenFail};
use super::{AlertRow, IncidentRow, StoreConfig, StoreCounters, StoreError};

/// Traffic minutes written together when no alert forces a transaction earlier.
const MINUTES_PER_BATCH: usize = 10;

enum Op {
    /// A new alert, and its incident's state at that alert.
    Insert(AlertRow, Box<IncidentRow>),
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
    /// Every device of the inventory (replacing the kept ones).
    Devices(Vec<(Mac, Device)>),
    /// The blocks in force (replacing the kept ones).
    Blocks(Vec<super::Block>),
    /// A block, unblock, expiry or refusal.
    BlockEvent(super::BlockEvent),
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

    /// The id the next incident should get: one past the highest the kept files hold.
    pub fn next_incident(&self) -> u64 {
        if self.cfg.path.is_empty() {
            return 1;
        }
        max_incident_id(&self.path, self.cfg.keep) as u64 + 1
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
            let inc = IncidentRow::from_alert(a, &row.summary, &row.explanation);
            self.push(Op::Insert(row, Box::new(inc)));
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

    /// Queue a snapshot of the device inventory.
    pub fn save_devices(&mut self, rows: Vec<(Mac, Device)>) {
        self.queue.retain(|op| !matches!(op, Op::Devices(_)));
        self.push(Op::Devices(rows));
    }

    /// Queue the blocks in force (written whole).
    pub fn save_blocks(&mut self, rows: Vec<super::Block>) {
        self.queue.retain(|op| !matches!(op, Op::Blocks(_)));
        self.push(Op::Blocks(rows));
    }

    /// Queue a block event.
    pub fn add_block_event(&mut self, e: super::BlockEvent) {
        self.push(Op::BlockEvent(e));
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
                 explanation, enrichment, incident, devices)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20, ?21)",
            )?;
            // The incident's whole state: its row in this file is right even when the file
            // rotated in the middle of it. Counts never go back (a late write of an older
            // state, such as a repeat queued before a newer insert, changes nothing).
            let mut inc = tx.prepare_cached(
                "INSERT INTO incidents(id, rule, severity, src, dst, first_seen, last_seen,
                 alerts, events, victims, summary, explanation)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT(id) DO UPDATE SET
                 src = excluded.src, dst = excluded.dst, summary = excluded.summary,
                 explanation = excluded.explanation,
                 first_seen = min(first_seen, excluded.first_seen),
                 last_seen = max(last_seen, excluded.last_seen),
                 alerts = max(alerts, excluded.alerts), events = max(events, excluded.events),
                 victims = max(victims, excluded.victims)
                 WHERE excluded.events >= incidents.events",
            )?;
            let mut put_incident = |i: &IncidentRow| -> rusqlite::Result<()> {
                if i.id == 0 {
                    return Ok(());
                }
                inc.execute(params![
                    i.id,
                    i.rule,
                    i.severity,
                    i.src,
                    i.dst,
                    i.first_seen,
                    i.last_seen,
                    i.alerts,
                    i.events,
                    i.victims,
                    i.summary,
                    i.explanation
                ])
                .map(|_| ())
            };
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
                    Op::Insert(r, i) => {
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
                            r.enrichment,
                            r.incident,
                            r.devices
                        ])?;
                        put_incident(i)?;
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
                        put_incident(&IncidentRow::from_alert(&a, &r.summary, &r.explanation))?;
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
                    Op::Devices(rows) => {
                        tx.execute("DELETE FROM devices", [])?;
                        let mut h = tx.prepare_cached(
                            "INSERT OR REPLACE INTO devices(mac, name, name_source, vendor, kind,
                             kind_evidence, addresses, services, vendor_class, dhcp_fingerprint,
                             dhcp_options, upnp_server, first_seen, last_seen)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                        )?;
                        for (mac, d) in rows {
                            let addrs: Vec<String> = d.addrs().map(|a| a.to_string()).collect();
                            h.execute(params![
                                mac_text(mac),
                                &d.name[..],
                                d.name_source.as_str(),
                                d.vendor.as_str(),
                                d.kind.as_str(),
                                d.kind_evidence.as_str(),
                                addrs.join(" "),
                                d.services,
                                &d.vendor_class[..],
                                d.dhcp_fingerprint,
                                d.dhcp_options,
                                &d.upnp_server[..],
                                d.first_seen,
                                d.last_seen
                            ])?;
                        }
                    }
                    Op::Blocks(rows) => {
                        tx.execute("DELETE FROM blocks", [])?;
                        let mut h = tx.prepare_cached(
                            "INSERT OR REPLACE INTO blocks(addr, since, until, reason, rule,
                             alert_id, manual) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )?;
                        for b in rows {
                            h.execute(params![
                                b.addr.to_string(),
                                b.since_us,
                                b.until_us,
                                &b.reason,
                                b.rule.map(|r| r.name()).unwrap_or(""),
                                b.alert_id,
                                b.manual
                            ])?;
                        }
                        // Marks this file as holding the blocks (even none).
                        tx.execute(
                            "INSERT OR REPLACE INTO kv(key, value) VALUES ('blocks_saved', 1)",
                            [],
                        )?;
                    }
                    Op::BlockEvent(e) => {
                        tx.execute(
                            "INSERT INTO block_log(ts, action, addr, until, reason, manual)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            params![
                                e.ts_us,
                                e.action,
                                e.addr.to_string(),
                                e.until_us,
                                &e.reason,
                                e.manual
                            ],
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
                    o.conn
                        .execute("DELETE FROM incidents WHERE last_seen < ?1", [cutoff_us])
                })
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
