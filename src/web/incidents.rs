//! Incidents on the web: `GET /api/incidents` (filters `since`, `until` on the latest
//! sighting, `rule` (a family such as `portscan`, or a rule name), `severity`, `src`, `limit`,
//! `cursor`), `GET /api/incidents/{id}` (the incident and its alerts) and the `/ws/incidents`
//! feed (the newest incidents on connect, then each incident again whenever an alert of it
//! comes or its state changes).
//!
//! An incident's state is judged when it is shown, from its latest sighting and the sensor's
//! clock (the newest snapshot's time: capture time in a replay): `active` while its alerts
//! come within `alerts.suppress_s`, `quiet` after, `closed` after `alerts.incident_idle_s`.

use std::collections::VecDeque;
use std::sync::Arc;

use super::http::{Request, Response};
use super::routes::Page;
use super::server::Ctx;
use crate::detect::incident;
use crate::output::store::{self, IncidentQuery, IncidentRow};

/// Incidents a new `/ws/incidents` client is sent first.
pub const INCIDENT_BACKLOG: usize = 50;
/// Alerts listed with one incident at most.
const MAX_ALERTS: usize = 200;

/// The clock incidents are judged by, and the two times that judge them.
#[derive(Clone, Copy)]
pub struct Judge {
    pub now_us: i64,
    pub quiet_s: u32,
    pub idle_s: u32,
}

impl Judge {
    pub(super) fn of(ctx: &Ctx) -> Judge {
        let cfg = ctx.opts.config.borrow();
        let snap = ctx.feed.snap.borrow().wall_us;
        Judge {
            now_us: if snap > 0 {
                snap
            } else {
                crate::daemon::health::wall_us()
            },
            quiet_s: cfg.suppress_s,
            idle_s: cfg.incident_idle_s,
        }
    }

    pub fn state(&self, r: &IncidentRow) -> &'static str {
        incident::state(r.last_seen, self.now_us, self.quiet_s, self.idle_s)
    }
}

/// One incident as the API and `/ws/incidents` show it.
pub fn incident_json(b: &mut String, r: &IncidentRow, j: &Judge) {
    r.write_json(b, j.state(r));
}

/// The `/ws/incidents` message for an incident's new state.
pub fn incident_message(r: &IncidentRow, j: &Judge) -> String {
    let mut b = String::with_capacity(512 + r.summary.len() + r.explanation.len());
    b.push_str("{\"type\":\"incident\",\"incident\":");
    incident_json(&mut b, r, j);
    b.push('}');
    b
}

/// The newest incidents the server has seen on the feed, with the state each was last
/// announced in (so a change of state is announced once).
#[derive(Default)]
pub struct Backlog {
    rows: VecDeque<(Arc<IncidentRow>, &'static str)>,
}

impl Backlog {
    /// An incident's new state from the feed: replaces its older one, newest last.
    pub fn update(&mut self, r: Arc<IncidentRow>, j: &Judge) {
        self.rows.retain(|(x, _)| x.id != r.id);
        if self.rows.len() == INCIDENT_BACKLOG {
            self.rows.pop_front();
        }
        let s = j.state(&r);
        self.rows.push_back((r, s));
    }

    /// Incidents whose state changed by clock `j` (each returned once per change).
    pub fn aged(&mut self, j: &Judge) -> Vec<Arc<IncidentRow>> {
        let mut out = Vec::new();
        for (r, s) in self.rows.iter_mut() {
            let now = j.state(r);
            if now != *s {
                *s = now;
                out.push(r.clone());
            }
        }
        out
    }

    pub fn rows(&self) -> Vec<Arc<IncidentRow>> {
        self.rows.iter().map(|(r, _)| r.clone()).collect()
    }

    pub fn get(&self, id: i64) -> Option<Arc<IncidentRow>> {
        self.rows
            .iter()
            .find(|(r, _)| r.id == id)
            .map(|(r, _)| r.clone())
    }
}

fn unreadable(e: store::StoreError) -> Response {
    log::warn!("web: {e}");
    Response::error(503, "the alert store cannot be read right now")
}

/// `GET /api/incidents`.
pub(super) fn list(r: &Request<'_>, ctx: &Ctx) -> Response {
    match page(r, ctx) {
        Ok(b) => Response::json(200, b),
        Err(e) => e,
    }
}

fn page(r: &Request<'_>, ctx: &Ctx) -> Result<String, Response> {
    let mut rule = None;
    let p = Page::parse(
        r,
        "since, until, rule, severity, src, limit, cursor",
        |k, v| {
            if k != "rule" {
                return Ok(false);
            }
            if incident::family_of_name(v).is_none() {
                let mut names: Vec<&str> = crate::detect::RuleId::ALL
                    .iter()
                    .map(|x| incident::family(*x))
                    .collect();
                names.dedup();
                return Err(Response::error(
                    400,
                    &format!("`rule` is one of {} (or a rule name)", names.join(", ")),
                ));
            }
            rule = Some(v.to_string());
            Ok(true)
        },
    )?;
    let q = IncidentQuery {
        since_us: p.since_us,
        until_us: p.until_us,
        rule,
        src: p.src,
        max_severity: p.max_severity,
        before: p.before,
        limit: p.limit,
    };
    let Some((path, keep)) = &ctx.opts.store else {
        return Err(Response::error(
            404,
            "no alert store configured (store.path is empty)",
        ));
    };
    if !path.exists() {
        return Ok("{\"incidents\":[],\"next\":null}".into());
    }
    let rows = store::incidents(path, *keep, &q).map_err(unreadable)?;
    let j = Judge::of(ctx);
    let mut b = String::with_capacity(256 + rows.len() * 600);
    b.push_str("{\"incidents\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        incident_json(&mut b, row, &j);
    }
    let next = rows.last().filter(|_| rows.len() == q.limit);
    super::routes::end_page(&mut b, next.map(|l| (l.last_seen, l.id)));
    Ok(b)
}

/// `GET /api/incidents/{id}`: the incident and its alerts, newest first. An incident opened
/// in the last second (not written yet: the store writes once a second) comes from the live
/// backlog, without alerts.
pub(super) fn by_id(id: i64, ctx: &Ctx) -> Response {
    let j = Judge::of(ctx);
    let live = || {
        let r = ctx.incidents.lock().ok()?.get(id)?;
        let mut b = String::with_capacity(1024);
        b.push_str("{\"incident\":");
        incident_json(&mut b, &r, &j);
        b.push_str(",\"alerts\":[]}");
        Some(Response::json(200, b))
    };
    let missing = || {
        Response::error(
            404,
            "no incident with this id (it may have been rotated out)",
        )
    };
    let Some((path, keep)) = &ctx.opts.store else {
        return live().unwrap_or_else(missing);
    };
    match store::get_incident(path, *keep, id, MAX_ALERTS) {
        Ok(Some((inc, alerts))) => {
            let mut b = String::with_capacity(1024 + alerts.len() * 1500);
            b.push_str("{\"incident\":");
            incident_json(&mut b, &inc, &j);
            b.push_str(",\"alerts\":[");
            for (i, a) in alerts.iter().enumerate() {
                if i > 0 {
                    b.push(',');
                }
                super::routes::alert_json(&mut b, a, false);
            }
            b.push_str("]}");
            Response::json(200, b)
        }
        Ok(None) => live().unwrap_or_else(missing),
        Err(e) => unreadable(e),
    }
}
