//! The read side, through read-only connections (WAL readers never block the writer): alerts
//! by filter in keyset pages across the current and rotated files, one alert by id, traffic
//! minutes, and the host baselines kept at the last stop.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::state::devices::{Device, Mac};
use rusqlite::{params, Connection, OpenFlags};

use crate::state::window::Summary;

use super::schema::kept_files;
use super::{AlertRow, IncidentRow, StoreError};

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
    /// Only the alerts of this incident.
    pub incident: Option<i64>,
    pub limit: usize,
}

/// Which incidents a query wants. Empty fields match everything; times are the incident's
/// latest sighting.
#[derive(Clone, Debug, Default)]
pub struct IncidentQuery {
    pub since_us: Option<i64>,
    pub until_us: Option<i64>,
    /// A family (`portscan`) or a rule name (which selects its family).
    pub rule: Option<String>,
    pub src: Option<String>,
    pub max_severity: Option<u8>,
    /// Keyset cursor: only incidents strictly after (older than) this `(last_seen, id)` in
    /// the newest-first order.
    pub before: Option<(i64, i64)>,
    pub limit: usize,
}

const INCIDENT_COLUMNS: &str = "id, rule, severity, src, dst, first_seen, last_seen, alerts,
    events, victims, summary, explanation";

fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRow> {
    Ok(IncidentRow {
        id: r.get(0)?,
        rule: r.get(1)?,
        severity: r.get(2)?,
        src: r.get(3)?,
        dst: r.get(4)?,
        first_seen: r.get(5)?,
        last_seen: r.get(6)?,
        alerts: r.get(7)?,
        events: r.get(8)?,
        victims: r.get(9)?,
        summary: r.get(10)?,
        explanation: r.get(11)?,
    })
}

/// Incidents matching `q` across the kept files, newest sighting first. An incident whose
/// alerts span a rotation has a row in each file; the newest file's row (its latest state)
/// is the one returned, and it alone is judged against the filters.
pub fn incidents(
    path: &Path,
    keep: u32,
    q: &IncidentQuery,
) -> Result<Vec<IncidentRow>, StoreError> {
    let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE 1");
    let mut named: Vec<(&str, &dyn rusqlite::ToSql)> = Vec::new();
    if let Some(s) = &q.since_us {
        sql.push_str(" AND last_seen >= :since");
        named.push((":since", s));
    }
    if let Some(u) = &q.until_us {
        sql.push_str(" AND last_seen < :until");
        named.push((":until", u));
    }
    let family = q
        .rule
        .as_deref()
        .map(|r| crate::detect::incident::family_of_name(r).unwrap_or(""));
    if let Some(r) = &family {
        sql.push_str(" AND rule = :rule");
        named.push((":rule", r));
    }
    if let Some(s) = &q.src {
        sql.push_str(" AND src = :src");
        named.push((":src", s));
    }
    if let Some(s) = &q.max_severity {
        sql.push_str(" AND severity <= :sev");
        named.push((":sev", s));
    }
    if let Some((ts, id)) = &q.before {
        sql.push_str(" AND (last_seen < :cts OR (last_seen = :cts AND id < :cid))");
        named.push((":cts", ts));
        named.push((":cid", id));
    }
    let limit = q.limit.max(1);
    let _ = write!(sql, " ORDER BY last_seen DESC, id DESC LIMIT {limit}");
    let mut out: Vec<IncidentRow> = Vec::new();
    // Ids whose row in a newer file was seen (matching or not): older rows of them are stale.
    let mut newer: Vec<i64> = Vec::new();
    for f in kept_files(path, keep) {
        let conn = open_read(&f)?;
        if version(&conn) < INCIDENTS_SINCE {
            continue;
        }
        let err = |e| StoreError::Sql {
            path: f.display().to_string(),
            source: e,
        };
        let mut st = conn.prepare(&sql).map_err(err)?;
        let rows = st.query_map(named.as_slice(), incident_row).map_err(err)?;
        for r in rows {
            let r = r.map_err(err)?;
            if !newer.contains(&r.id) {
                out.push(r);
            }
        }
        let mut ids = conn.prepare("SELECT id FROM incidents").map_err(err)?;
        let all = ids.query_map([], |r| r.get::<_, i64>(0)).map_err(err)?;
        for id in all {
            newer.push(id.map_err(err)?);
        }
    }
    out.sort_by_key(|r| std::cmp::Reverse((r.last_seen, r.id)));
    out.truncate(limit);
    Ok(out)
}

/// One incident by id (its newest row) and its alerts, newest first (at most `limit`).
pub fn get_incident(
    path: &Path,
    keep: u32,
    id: i64,
    limit: usize,
) -> Result<Option<(IncidentRow, Vec<AlertRow>)>, StoreError> {
    let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1");
    let mut found = None;
    for f in kept_files(path, keep) {
        let conn = open_read(&f)?;
        if version(&conn) < INCIDENTS_SINCE {
            continue;
        }
        match conn.query_row(&sql, [id], incident_row) {
            Ok(r) => {
                found = Some(r);
                break;
            }
            Err(rusqlite::Error::QueryReturnedNoRows) => {}
            Err(e) => {
                return Err(StoreError::Sql {
                    path: f.display().to_string(),
                    source: e,
                })
            }
        }
    }
    let Some(inc) = found else { return Ok(None) };
    let alerts = query(
        path,
        keep,
        &Query {
            incident: Some(id),
            limit,
            ..Query::default()
        },
    )?;
    Ok(Some((inc, alerts)))
}

const ALERT_COLUMNS: &str = "id, ts, rule, sid, severity, src, sport, dst, dport, proto,
    community_id, summary, first_seen, last_seen, repeats, skey, eve, explanation, enrichment";

/// The schema version that added incidents: older files (rotated before an upgrade) have
/// no incidents table and no incident column.
const INCIDENTS_SINCE: i64 = 4;

/// The file's schema version (0 when it cannot be read).
fn version(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap_or(0)
}

/// `SELECT` of the alert columns for a file of schema version `v`.
fn alert_select(v: i64) -> String {
    let inc = if v >= INCIDENTS_SINCE {
        "incident"
    } else {
        "0"
    };
    let dev = if v >= DEVICES_SINCE { "devices" } else { "''" };
    format!("SELECT {ALERT_COLUMNS}, {inc}, {dev} FROM alerts")
}

/// The first schema version with the alerts' `devices` column.
const DEVICES_SINCE: i64 = 5;

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
        incident: r.get(19)?,
        devices: r.get(20)?,
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

/// The device inventory kept by the newest file that has one (unreadable rows are left out:
/// those devices are learnt again).
pub fn load_devices(path: &Path, keep: u32) -> Vec<(Mac, Device)> {
    for f in kept_files(path, keep) {
        let Ok(conn) = open_read(&f) else { continue };
        let rows: rusqlite::Result<Vec<Option<(Mac, Device)>>> = conn
            .prepare(
                "SELECT mac, name, name_source, vendor, kind, kind_evidence, addresses, services,
                 vendor_class, dhcp_fingerprint, dhcp_options, first_seen, last_seen, upnp_server
                 FROM devices",
            )
            .and_then(|mut st| {
                st.query_map([], |r| {
                    let mac: String = r.get(0)?;
                    let name: Vec<u8> = r.get(1)?;
                    let vendor_class: Vec<u8> = r.get(8)?;
                    let addrs: String = r.get(6)?;
                    let upnp: Vec<u8> = r.get(13)?;
                    Ok(Device::restored(
                        &mac,
                        &name,
                        &r.get::<_, String>(2)?,
                        &r.get::<_, String>(3)?,
                        &r.get::<_, String>(4)?,
                        &r.get::<_, String>(5)?,
                        addrs.split_whitespace(),
                        r.get(7)?,
                        &vendor_class,
                        (r.get(9)?, r.get(10)?),
                        (r.get(11)?, r.get(12)?),
                    )
                    .map(|(m, mut d)| {
                        d.upnp_server = heapless::Vec::from_slice(
                            &upnp[..upnp.len().min(crate::capture::decode::ssdp::SERVER_MAX)],
                        )
                        .unwrap_or_default();
                        (m, d)
                    }))
                })?
                .collect()
            });
        if let Ok(rows) = rows {
            if !rows.is_empty() {
                return rows.into_iter().flatten().collect();
            }
        }
    }
    Vec::new()
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
    max_in(path, keep, "SELECT coalesce(max(id), 0) FROM alerts")
}

/// The highest incident id in the kept files (0 when there is none; files from before
/// incidents have no such table and count as none).
pub(super) fn max_incident_id(path: &Path, keep: u32) -> i64 {
    max_in(path, keep, "SELECT coalesce(max(id), 0) FROM incidents")
}

/// The largest value `sql` gives over the kept files (files that cannot answer give 0).
fn max_in(path: &Path, keep: u32, sql: &str) -> i64 {
    kept_files(path, keep)
        .iter()
        .filter_map(|f| open_read(f).ok())
        .filter_map(|c| c.query_row(sql, [], |r| r.get::<_, i64>(0)).ok())
        .max()
        .unwrap_or(0)
}

/// Alerts matching `q` across the current and rotated files, newest first (by time, then id).
pub fn query(path: &Path, keep: u32, q: &Query) -> Result<Vec<AlertRow>, StoreError> {
    let mut out = Vec::new();
    let mut sql = String::from(" WHERE 1");
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
    if let Some(i) = &q.incident {
        sql.push_str(" AND incident = :inc");
        named.push((":inc", i));
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
        let v = version(&conn);
        if q.incident.is_some() && v < INCIDENTS_SINCE {
            continue;
        }
        let mut st = conn
            .prepare(&format!("{}{sql}", alert_select(v)))
            .map_err(err)?;
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
    for f in kept_files(path, keep) {
        let conn = open_read(&f)?;
        let err = |e| StoreError::Sql {
            path: f.display().to_string(),
            source: e,
        };
        let sql = format!("{} WHERE id = ?1", alert_select(version(&conn)));
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
