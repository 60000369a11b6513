//! Blocks (`[respond]`) as the store keeps them: the ones in force (restored at start) and
//! the log of every block, unblock, expiry and refusal.

use std::net::IpAddr;
use std::path::Path;

use super::queries::open_read;
use super::schema::kept_files;
use crate::detect::RuleId;

/// One address blocked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub addr: IpAddr,
    /// Wall time, µs since the epoch.
    pub since_us: i64,
    pub until_us: i64,
    /// The alert's summary, or what the person who blocked it wrote.
    pub reason: String,
    pub rule: Option<RuleId>,
    /// The alert's id in the store (0: none).
    pub alert_id: i64,
    /// Asked for by a person (dashboard, CLI), not by a rule.
    pub manual: bool,
}

/// What happened, for the store, the log and the web.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockEvent {
    pub ts_us: i64,
    /// `block`, `unblock`, `expire` or `refuse`.
    pub action: &'static str,
    pub addr: IpAddr,
    pub until_us: i64,
    pub reason: String,
    pub manual: bool,
}

/// The blocks in force as the newest file that holds them kept them (rows that do not parse
/// are left out).
pub fn load_blocks(path: &Path, keep: u32) -> Vec<Block> {
    for f in kept_files(path, keep) {
        let Ok(conn) = open_read(&f) else { continue };
        let saved: rusqlite::Result<i64> =
            conn.query_row("SELECT value FROM kv WHERE key = 'blocks_saved'", [], |r| {
                r.get(0)
            });
        if saved.is_err() {
            continue;
        }
        let rows: rusqlite::Result<Vec<Option<Block>>> = conn
            .prepare("SELECT addr, since, until, reason, rule, alert_id, manual FROM blocks")
            .and_then(|mut st| {
                st.query_map([], |r| {
                    let addr: String = r.get(0)?;
                    let rule: String = r.get(4)?;
                    Ok(addr.parse().ok().map(|addr| Block {
                        addr,
                        since_us: r.get(1).unwrap_or(0),
                        until_us: r.get(2).unwrap_or(0),
                        reason: r.get(3).unwrap_or_default(),
                        rule: RuleId::ALL.into_iter().find(|x| x.name() == rule),
                        alert_id: r.get(5).unwrap_or(0),
                        manual: r.get(6).unwrap_or(false),
                    }))
                })?
                .collect()
            });
        return rows
            .map(|r| r.into_iter().flatten().collect())
            .unwrap_or_default();
    }
    Vec::new()
}

/// The newest block events, newest first (at most `limit`, across the kept files).
pub fn block_log(path: &Path, keep: u32, limit: usize) -> Vec<BlockEvent> {
    let mut out = Vec::new();
    for f in kept_files(path, keep) {
        if out.len() >= limit {
            break;
        }
        let Ok(conn) = open_read(&f) else { continue };
        let rows: rusqlite::Result<Vec<Option<BlockEvent>>> = conn
            .prepare("SELECT ts, action, addr, until, reason, manual FROM block_log ORDER BY id DESC LIMIT ?1")
            .and_then(|mut st| {
                st.query_map([(limit - out.len()) as i64], |r| {
                    let action: String = r.get(1)?;
                    let addr: String = r.get(2)?;
                    let action = ["block", "unblock", "expire", "refuse"]
                        .into_iter()
                        .find(|a| *a == action);
                    Ok(action.zip(addr.parse().ok()).map(|(action, addr)| {
                        BlockEvent {
                            ts_us: r.get(0).unwrap_or(0),
                            action,
                            addr,
                            until_us: r.get(3).unwrap_or(0),
                            reason: r.get(4).unwrap_or_default(),
                            manual: r.get(5).unwrap_or(false),
                        }
                    }))
                })?
                .collect()
            });
        if let Ok(rows) = rows {
            out.extend(rows.into_iter().flatten());
        }
    }
    out
}
