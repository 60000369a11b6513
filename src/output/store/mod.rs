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
//!
//! Rooms: `schema` (the migrations, opening and checking a file, rotated file names),
//! `writes` (the batched writer, [`Store`]) and `queries` (the read side: the API's keyset
//! pages across the kept files, minutes, host baselines).

mod queries;
mod schema;
mod writes;

use crate::detect::Alert;
use crate::output::eve;

mod blocks;
pub use blocks::{block_log, load_blocks, Block, BlockEvent};
pub use queries::{
    get, get_incident, incidents, load_devices, load_hosts, minutes, query, IncidentQuery, Query,
};
pub use schema::{rotated, shift_rotated, SCHEMA_VERSION};
use serde::Deserialize;
pub use writes::Store;

use crate::settings::{invalid, ranged, ConfigError};
use crate::state::capacity::Profile;

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
    /// The incident the alert belongs to (0 in files written before incidents existed).
    pub incident: i64,
    /// The parties' devices as JSON members (`"src_device":{…},"dst_device":{…}`; empty when
    /// the inventory knew neither, and in files written before devices existed).
    pub devices: String,
}

/// One incident as stored: its latest state (rewritten at each of its alerts).
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentRow {
    pub id: i64,
    /// The rule family (`portscan` for both scan rules, otherwise the rule's name).
    pub rule: String,
    pub severity: u8,
    /// Source and destination of its latest alert.
    pub src: String,
    pub dst: String,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Alerts emitted, and sightings (emitted or held back by suppression).
    pub alerts: u32,
    pub events: u32,
    pub victims: u32,
    /// Its latest alert's summary and explanation.
    pub summary: String,
    pub explanation: String,
}

impl IncidentRow {
    /// The incident as one JSON object (the API's shape), in state `state`.
    pub fn write_json(&self, b: &mut String, state: &str) {
        use crate::output::json;
        use std::fmt::Write as _;
        let _ = write!(b, "{{\"id\":{},\"rule\":", self.id);
        json::string(b, &self.rule);
        let _ = write!(b, ",\"severity\":{},\"src\":", self.severity);
        json::string(b, &self.src);
        b.push_str(",\"dst\":");
        json::string(b, &self.dst);
        let _ = write!(
            b,
            ",\"first_seen\":{},\"last_seen\":{},\"alerts\":{},\"events\":{},\"victims\":{},\"state\":",
            self.first_seen, self.last_seen, self.alerts, self.events, self.victims
        );
        json::string(b, state);
        b.push_str(",\"summary\":");
        json::string(b, &self.summary);
        b.push_str(",\"explanation\":");
        json::string(b, &self.explanation);
        b.push('}');
    }

    pub fn from_alert(a: &Alert, summary: &str, explanation: &str) -> IncidentRow {
        let i = &a.incident;
        IncidentRow {
            id: i.id as i64,
            rule: crate::detect::incident::family(a.rule).to_string(),
            severity: a.rule.severity(),
            src: a.src.to_string(),
            dst: a.dst.to_string(),
            first_seen: i.first_seen,
            last_seen: i.last_seen,
            alerts: i.alerts,
            events: i.events,
            victims: i.victims,
            summary: summary.to_string(),
            explanation: explanation.to_string(),
        }
    }
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
            incident: a.incident.id as i64,
            devices: {
                let mut d = String::new();
                for (k, t) in [("src_device", &a.src_device), ("dst_device", &a.dst_device)] {
                    if let Some(t) = t {
                        if !d.is_empty() {
                            d.push(',');
                        }
                        crate::output::json::key(&mut d, k);
                        eve::device_tag(&mut d, t);
                    }
                }
                d
            },
        }
    }
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

// ---------------------------------------------------------------------------------------------
// Configuration: `[store]`.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStore {
    pub path: Option<String>,
    pub max_kib: Option<u64>,
    pub keep: Option<u32>,
    pub max_age_days: Option<u32>,
    pub batch_alerts: Option<usize>,
    pub retry_queue: Option<usize>,
}

/// SQLite alert store (see `store`). `path` empty: no store.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    pub path: String,
    /// Size cap over all kept files, bytes.
    pub max_bytes: u64,
    /// Files kept: the current one and `keep - 1` rotated ones.
    pub keep: u32,
    pub max_age_s: u64,
    pub batch_alerts: usize,
    pub retry_queue: usize,
}

impl FileStore {
    pub fn validate(&self, profile: Profile) -> Result<StoreConfig, ConfigError> {
        let path = self
            .path
            .clone()
            .unwrap_or_else(|| profile.store_path().to_string());
        if !path.is_empty() && (path.ends_with('/') || path.contains('\0')) {
            return Err(invalid(
                "store.path",
                format!("`{path}` is not a file path"),
            ));
        }
        Ok(StoreConfig {
            path,
            max_bytes: ranged(
                "store.max_kib",
                self.max_kib,
                profile.store_kib(),
                256,
                64 * 1024 * 1024,
            )? * 1024,
            keep: ranged("store.keep", self.keep, 2, 1, 16)?,
            max_age_s: ranged("store.max_age_days", self.max_age_days, 30, 1, 3650)? as u64
                * 86_400,
            batch_alerts: ranged("store.batch_alerts", self.batch_alerts, 256, 1, 10_000)?,
            retry_queue: ranged("store.retry_queue", self.retry_queue, 4096, 16, 1_000_000)?,
        })
    }
}

impl Profile {
    /// Default database: RAM on a router (flash wears out), persistent elsewhere.
    pub fn store_path(self) -> &'static str {
        match self {
            Profile::Router => "/tmp/netwatch/netwatch.db",
            _ => "/var/lib/netwatch/netwatch.db",
        }
    }
    /// Default size cap over all kept database files, KiB.
    pub fn store_kib(self) -> u64 {
        match self {
            Profile::Router => 4096,
            Profile::Standard => 16_384,
            Profile::Sensor => 65_536,
        }
    }
}
