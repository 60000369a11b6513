//! The read side, through read-only connections (WAL readers never block the writer): alerts
//! by filter in keyset pages across the current and rotated files, one alert by id, traffic
//! minutes, and the host baselines kept at the last stop.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

use crate::state::window::Summary;

use super::schema::kept_files;
use super::{AlertRow, StoreError};

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

/// A read-only connection (the daemon's writes go on; WAL readers never block it).
pub(super) fn open_read(f: &Path) -> Result<Connection, StoreError> {
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
pub(super) fn max_id(path: &Path, keep: u32) -> i64 {
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
