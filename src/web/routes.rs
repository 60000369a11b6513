//! REST handlers: functions of (request, published snapshot or read-only store) → response.
//!
//! * `GET /api/alerts` — filters `since`, `until` (seconds since the epoch), `rule`,
//!   `severity` (1 high … 3 low: that or more severe), `src`, `dst`; `limit` (1..=500,
//!   default 50); keyset pagination: the reply's `next` cursor goes back as `cursor`.
//! * `GET /api/alerts/{id}` — one alert with its EVE record (evidence, MITRE, Community ID).
//! * `GET /api/incidents`, `GET /api/incidents/{id}` — see `incidents`.
//! * `GET /api/stats`, `GET /api/flows?top=N&by=bytes|packets`,
//!   `GET /api/history?res=1s|10s|60s&since=S`, `GET /api/config`, `GET /healthz`.
//! * `GET /api/devices`, `GET /api/devices/{mac}`, `PATCH /api/devices/{mac}` — see `devices`.
//!
//! Everything that came off the wire is written through `output::json`, which escapes it.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Arc;

use super::http::{Request, Response};
use super::server::Ctx;
use super::{config_api, incidents};
use super::{metrics, FlowRow, Snapshot, ALERT_BACKLOG};
use crate::detect::RuleId;
use crate::output::store::{self, AlertRow, Query};
use crate::output::{eve, json};
use crate::state::window::Summary;

/// Alerts in one page at most.
const MAX_PAGE: usize = 500;

/// The server's own rings of closed windows (1 s, 10 s, 60 s), merged from snapshots.
#[derive(Default)]
pub struct History {
    rings: [VecDeque<Summary>; 3],
}

/// Windows kept per resolution: 5 minutes of seconds, an hour of 10 s, a day of minutes.
const HISTORY_LEN: [usize; 3] = [300, 360, 1440];

impl History {
    fn merge(&mut self, recent: &[Vec<Summary>; 3]) {
        for (i, r) in recent.iter().enumerate() {
            let ring = &mut self.rings[i];
            for s in r {
                if ring.back().is_none_or(|b| s.start > b.start) {
                    if ring.len() == HISTORY_LEN[i] {
                        ring.pop_front();
                    }
                    ring.push_back(*s);
                }
            }
        }
    }
}

/// The server's own task: keep history rings and the alert and incident backlogs from the
/// feed, and announce incidents whose state changed with the sensor's clock.
pub async fn follow_feed(
    ctx: Arc<Ctx>,
    (mut alerts, mut incidents): (
        tokio::sync::broadcast::Receiver<Arc<str>>,
        tokio::sync::broadcast::Receiver<Arc<store::IncidentRow>>,
    ),
) {
    let mut snap = ctx.feed.snap.clone();
    let mut incidents_open = true;
    loop {
        tokio::select! {
            r = snap.changed() => {
                if r.is_err() {
                    // The pipeline is gone (replay finished): keep serving what we have.
                    std::future::pending::<()>().await;
                }
                let s = snap.borrow_and_update().clone();
                if let Ok(mut h) = ctx.history.lock() {
                    h.merge(&s.recent);
                }
                let j = incidents::Judge::of(&ctx);
                let aged = ctx.incidents.lock().map(|mut b| b.aged(&j)).unwrap_or_default();
                for r in aged {
                    let _ = ctx.feed.incidents.send(r);
                }
            }
            r = incidents.recv(), if incidents_open => match r {
                Ok(i) => {
                    let j = incidents::Judge::of(&ctx);
                    if let Ok(mut b) = ctx.incidents.lock() {
                        b.update(i, &j);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => incidents_open = false,
            },
            r = alerts.recv() => match r {
                Ok(a) => {
                    if let Ok(mut b) = ctx.backlog.lock() {
                        if b.len() == ALERT_BACKLOG {
                            b.pop_front();
                        }
                        b.push_back(a);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

pub fn route(r: &Request<'_>, ctx: &Ctx) -> Response {
    let get = matches!(r.method, "GET" | "HEAD");
    match r.path {
        "/healthz" if get => Response::json(200, "{\"status\":\"ok\"}".into()),
        "/metrics" if get => {
            let snap = ctx.feed.snap.borrow().clone();
            Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: metrics::render(&snap, &ctx.stats.get()).into_bytes(),
                extra: Vec::new(),
            }
        }
        "/api/alerts" if get => alerts(r, ctx),
        "/api/incidents" if get => incidents::list(r, ctx),
        "/api/stats" if get => Response::json(200, stats_json(&ctx.feed.snap.borrow(), ctx)),
        "/api/flows" if get => flows(r, ctx),
        "/api/history" if get => history(r, ctx),
        "/api/devices" if get => super::devices::list(ctx),
        "/api/config" if get => {
            Response::json(200, config_api::config_json(&ctx.opts.config.borrow()))
        }
        "/api/config" if r.method == "PATCH" => config_api::patch_config(r.body, ctx),
        "/api/notify/test" if r.method == "POST" => {
            if ctx.opts.config.borrow().notify.targets.is_empty() {
                Response::error(409, "[notify] has no targets: nothing to test")
            } else {
                ctx.opts
                    .notify_test
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Response::json(
                    202,
                    "{\"queued\":true,\"see\":\"notify_delivered and notify_last_error in /api/stats\"}".into(),
                )
            }
        }
        "/api/blocks" if get => super::blocks::list(ctx),
        "/api/blocks" if r.method == "POST" => super::blocks::post(r.body, ctx),
        "/healthz" | "/metrics" | "/api/alerts" | "/api/incidents" | "/api/stats"
        | "/api/flows" | "/api/history" | "/api/config" | "/api/devices" | "/api/notify/test"
        | "/api/blocks" => Response::error(405, "method not allowed"),
        p if p.starts_with("/api/devices/") => {
            let mac = &p["/api/devices/".len()..];
            match r.method {
                _ if get => super::devices::by_mac(mac, ctx),
                "PATCH" => super::devices::patch(mac, r.body, ctx),
                _ => Response::error(405, "method not allowed"),
            }
        }
        p if p.starts_with("/api/blocks/") => match r.method {
            "DELETE" => super::blocks::delete(&p["/api/blocks/".len()..], ctx),
            _ => Response::error(405, "method not allowed"),
        },
        p if p.starts_with("/api/incidents/") => {
            if !get {
                return Response::error(405, "method not allowed");
            }
            match p["/api/incidents/".len()..].parse::<i64>() {
                Ok(id) if id > 0 => incidents::by_id(id, ctx),
                _ => Response::error(400, "an incident id is a positive number"),
            }
        }
        p if p.starts_with("/api/alerts/") => {
            if !get {
                return Response::error(405, "method not allowed");
            }
            match p["/api/alerts/".len()..].parse::<i64>() {
                Ok(id) if id > 0 => alert_by_id(id, ctx),
                _ => Response::error(400, "an alert id is a positive number"),
            }
        }
        _ if get => super::assets::serve(r).unwrap_or_else(|| Response::error(404, "no such path")),
        _ => Response::error(404, "no such path"),
    }
}

fn store_of(ctx: &Ctx) -> Result<(&std::path::Path, u32), Response> {
    match &ctx.opts.store {
        Some((p, k)) => Ok((p.as_path(), *k)),
        None => Err(Response::error(
            404,
            "no alert store configured (store.path is empty)",
        )),
    }
}

pub(super) fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, Response> {
    v.parse()
        .map_err(|_| Response::error(400, &format!("`{k}` needs a number")))
}

/// `GET /api/alerts`.
fn alerts(r: &Request<'_>, ctx: &Ctx) -> Response {
    match alerts_page(r, ctx) {
        Ok(b) => Response::json(200, b),
        Err(e) => e,
    }
}

/// The parameters `/api/alerts` and `/api/incidents` share: times, severity, a source
/// address, the page size and the keyset cursor.
#[derive(Default)]
pub(super) struct Page {
    pub since_us: Option<i64>,
    pub until_us: Option<i64>,
    pub max_severity: Option<u8>,
    pub src: Option<String>,
    pub limit: usize,
    pub before: Option<(i64, i64)>,
}

impl Page {
    /// Parse a query string: the shared keys here, any other through `other` (which answers
    /// false for a key it does not know either; `known` names every key for the error).
    pub(super) fn parse(
        r: &Request<'_>,
        known: &str,
        mut other: impl FnMut(&str, &str) -> Result<bool, Response>,
    ) -> Result<Page, Response> {
        let mut p = Page {
            limit: 50,
            ..Page::default()
        };
        for (k, v) in &r.params().map_err(|m| Response::error(400, &m))? {
            match k.as_str() {
                "since" => p.since_us = Some(num::<i64>(k, v)?.saturating_mul(1_000_000)),
                "until" => p.until_us = Some(num::<i64>(k, v)?.saturating_mul(1_000_000)),
                "severity" => {
                    let s: u8 = num(k, v)?;
                    if !(1..=3).contains(&s) {
                        return Err(Response::error(400, "`severity` is 1 (high), 2 or 3 (low)"));
                    }
                    p.max_severity = Some(s)
                }
                "src" => p.src = Some(ip_param(k, v)?),
                "limit" => {
                    let n: usize = num(k, v)?;
                    if n == 0 || n > MAX_PAGE {
                        return Err(Response::error(400, "`limit` is 1..=500"));
                    }
                    p.limit = n
                }
                "cursor" => {
                    let c = v
                        .split_once(':')
                        .and_then(|(t, i)| Some((t.parse().ok()?, i.parse().ok()?)))
                        .ok_or_else(|| {
                            Response::error(400, "`cursor` is the `next` value of a previous page")
                        })?;
                    p.before = Some(c)
                }
                _ => {
                    if !other(k, v)? {
                        return Err(Response::error(
                            400,
                            &format!("unknown parameter ({known})"),
                        ));
                    }
                }
            }
        }
        Ok(p)
    }
}

/// An IP address parameter, in the store's spelling.
pub(super) fn ip_param(k: &str, v: &str) -> Result<String, Response> {
    let a: std::net::IpAddr = v
        .parse()
        .map_err(|_| Response::error(400, &format!("`{k}` needs an IP address")))?;
    Ok(a.to_string())
}

fn alerts_page(r: &Request<'_>, ctx: &Ctx) -> Result<String, Response> {
    let (mut rule, mut dst) = (None, None);
    let p = Page::parse(
        r,
        "since, until, rule, severity, src, dst, limit, cursor",
        |k, v| {
            match k {
                "rule" => {
                    if !RuleId::ALL.iter().any(|x| x.name() == v) {
                        let names: Vec<&str> = RuleId::ALL.iter().map(|x| x.name()).collect();
                        return Err(Response::error(
                            400,
                            &format!("`rule` is one of {}", names.join(", ")),
                        ));
                    }
                    rule = Some(v.to_string())
                }
                "dst" => dst = Some(ip_param(k, v)?),
                _ => return Ok(false),
            }
            Ok(true)
        },
    )?;
    let q = Query {
        since_us: p.since_us,
        until_us: p.until_us,
        rule,
        src: p.src,
        dst,
        max_severity: p.max_severity,
        before: p.before,
        incident: None,
        limit: p.limit,
    };
    let (path, keep) = store_of(ctx)?;
    if !path.exists() {
        return Ok("{\"alerts\":[],\"next\":null}".into());
    }
    let rows = store::query(path, keep, &q).map_err(|e| {
        log::warn!("web: {e}");
        Response::error(503, "the alert store cannot be read right now")
    })?;
    let mut b = String::with_capacity(256 + rows.len() * 400);
    b.push_str("{\"alerts\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        alert_json(&mut b, row, false);
    }
    end_page(
        &mut b,
        rows.last()
            .filter(|_| rows.len() == q.limit)
            .map(|l| (l.ts, l.id)),
    );
    Ok(b)
}

/// Close a page's list and write its `next` cursor (`null` on the last page).
pub(super) fn end_page(b: &mut String, next: Option<(i64, i64)>) {
    b.push_str("],\"next\":");
    match next {
        Some((t, id)) => {
            let _ = write!(b, "\"{t}:{id}\"");
        }
        None => b.push_str("null"),
    }
    b.push('}');
}

/// `GET /api/alerts/{id}`: the stored row; an alert raised in the last second, which the
/// store has not written yet (it writes once a second), is answered from the live backlog.
fn alert_by_id(id: i64, ctx: &Ctx) -> Response {
    let (path, keep) = match store_of(ctx) {
        Ok(x) => x,
        Err(e) => return from_backlog(id, ctx).unwrap_or(e),
    };
    match store::get(path, keep, id) {
        Ok(Some(row)) => {
            let mut b = String::with_capacity(2048);
            alert_json(&mut b, &row, true);
            Response::json(200, b)
        }
        Ok(None) => from_backlog(id, ctx).unwrap_or_else(|| {
            Response::error(404, "no alert with this id (it may have been rotated out)")
        }),
        Err(e) => {
            log::warn!("web: {e}");
            Response::error(503, "the alert store cannot be read right now")
        }
    }
}

/// Alert `id` as the live feed published it (see [`alert_message`]), if it is in the backlog.
fn from_backlog(id: i64, ctx: &Ctx) -> Option<Response> {
    let head = format!("{ALERT_PREFIX}{{\"id\":{id},");
    let b = ctx.backlog.lock().ok()?;
    let m = b.iter().rev().find(|m| m.starts_with(&head))?;
    let inner = m.strip_prefix(ALERT_PREFIX)?.strip_suffix('}')?;
    Some(Response::json(200, inner.to_string()))
}

/// How every `/ws/alerts` message of a new alert begins; the alert object follows.
const ALERT_PREFIX: &str = "{\"type\":\"alert\",\"alert\":";

/// One alert as the API and `/ws/alerts` show it; `with_eve` adds the whole EVE record.
pub fn alert_json(b: &mut String, r: &AlertRow, with_eve: bool) {
    let _ = write!(b, "{{\"id\":{},\"ts\":{},\"time\":\"", r.id, r.ts);
    let _ = crate::detect::write_timestamp(b, r.ts);
    b.push_str("\",\"rule\":");
    json::string(b, &r.rule);
    let _ = write!(b, ",\"sid\":{},\"severity\":{},\"src\":", r.sid, r.severity);
    json::string(b, &r.src);
    let _ = write!(b, ",\"sport\":{},\"dst\":", r.sport);
    json::string(b, &r.dst);
    let _ = write!(b, ",\"dport\":{},\"proto\":", r.dport);
    json::string(b, &r.proto);
    b.push_str(",\"community_id\":");
    match &r.community_id {
        Some(c) => json::string(b, c),
        None => b.push_str("null"),
    }
    b.push_str(",\"summary\":");
    json::string(b, &r.summary);
    b.push_str(",\"explanation\":");
    json::string(b, &r.explanation);
    b.push_str(",\"enrichment\":");
    match &r.enrichment {
        Some(t) => json::string(b, t),
        None => b.push_str("null"),
    }
    let _ = write!(
        b,
        ",\"first_seen\":{},\"last_seen\":{},\"repeats\":{},\"incident_id\":{}",
        r.first_seen, r.last_seen, r.repeats, r.incident
    );
    // Our own JSON members (`eve::device_tag`), every wire string escaped.
    if !r.devices.is_empty() && looks_like_object(&format!("{{{}}}", r.devices)) {
        b.push(',');
        b.push_str(&r.devices);
    }
    // The EVE line is ours (eve::write_alert) — valid JSON with every wire string escaped —
    // but a row may come from a damaged file: embed it only when it is one JSON object.
    if with_eve && looks_like_object(&r.eve) {
        b.push_str(",\"eve\":");
        b.push_str(&r.eve);
    }
    b.push('}');
}

/// Cheap structural check: one `{...}` with balanced braces outside strings.
fn looks_like_object(s: &str) -> bool {
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    for (i, c) in s.bytes().enumerate() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                (false, c) if c < 0x20 => return false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 && i + 1 != s.len() {
                    return false;
                }
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0 && !in_str && s.starts_with('{')
}

/// The `/ws/alerts` message for a new alert.
pub fn alert_message(id: i64, a: &crate::detect::Alert) -> String {
    let mut row = AlertRow::from_alert(a);
    row.id = id;
    let mut b = String::with_capacity(row.eve.len() + 512);
    b.push_str(ALERT_PREFIX);
    alert_json(&mut b, &row, true);
    b.push('}');
    b
}

/// The `/ws/alerts` message that adds a language model's reply to alert `id`.
pub fn enrichment_message(id: i64, text: &str) -> String {
    let mut b = String::with_capacity(text.len() + 64);
    let _ = write!(b, "{{\"type\":\"update\",\"id\":{id},\"enrichment\":");
    json::string(&mut b, text);
    b.push('}');
    b
}

/// `GET /api/stats` (and each `/ws/stats` message).
pub fn stats_json(s: &Snapshot, ctx: &Ctx) -> String {
    let w = ctx.stats.get();
    let mut b = String::with_capacity(2048);
    let _ = write!(
        b,
        "{{\"ts\":{},\"uptime_s\":{},\"web_uptime_s\":{},\"packets\":{},\"bytes\":{},\"pps\":{},\"bps\":{},\
         \"fragments\":{},\"dns_messages\":{},\"own_traffic\":{},\"decode_errors\":{{",
        s.wall_us,
        s.uptime_s,
        ctx.started.elapsed().as_secs(),
        s.packets,
        s.bytes,
        s.pps,
        s.bps,
        s.fragments,
        s.dns_messages,
        s.own_traffic
    );
    crate::pipeline::decode_errors_json(&mut b, &s.decode_errors);
    let _ = write!(
        b,
        "}},\"flows\":{{\"active\":{},\"capacity\":{},\"created\":{},\"evicted\":{},\"expired\":{}}},\"tables\":{{",
        s.flows_active, s.flows_capacity, s.flows_created, s.flows_evicted, s.flows_expired
    );
    for (i, t) in s.tables.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        json::key(&mut b, t.name);
        let _ = write!(
            b,
            "{{\"capacity\":{},\"entries\":{},\"evictions\":{}}}",
            t.capacity, t.entries, t.evictions
        );
    }
    b.push_str("},\"alerts\":{");
    for (i, r) in RuleId::ALL.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        json::key(&mut b, r.name());
        let _ = write!(b, "{}", s.alerts[*r as usize]);
    }
    let _ = write!(
        b,
        "}},\"alerts_suppressed\":{},\"capture\":{{",
        s.alerts_suppressed
    );
    for (i, c) in s.capture.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        json::key(&mut b, &c.iface);
        let _ = write!(
            b,
            "{{\"up\":{},\"received\":{},\"dropped_kernel\":{},\"dropped_interface\":{}}}",
            c.up, c.stats.received, c.stats.dropped_kernel, c.stats.dropped_interface
        );
    }
    let k = &s.sinks;
    let _ = write!(
        b,
        "}},\"sinks\":{{\"syslog_sent\":{},\"syslog_dropped\":{},\"syslog_errors\":{},\"eve_errors\":{},\
         \"web_messages_dropped\":{}",
        k.syslog_sent, k.syslog_dropped, k.syslog_errors, k.eve_errors, w.ws_messages_dropped
    );
    if let Some(st) = &k.store {
        let _ = write!(
            b,
            ",\"store_written\":{},\"store_errors\":{},\"store_dropped\":{},\"store_rotations\":{}",
            st.alerts_written, st.errors, st.dropped, st.rotations
        );
    }
    if let Some(e) = &k.enrich {
        let _ = write!(
            b,
            ",\"enrich_queued\":{},\"enrich_dropped\":{},\"enrich_ok\":{},\"enrich_failed\":{},\"enrich_timeouts\":{},\"enrich_waiting\":{},\"enrich_last_error\":",
            e.queued, e.dropped, e.ok, e.failed, e.timeouts, e.waiting
        );
        json::string(&mut b, &e.last_error);
    }
    if let Some(n) = &k.notify {
        let _ = write!(
            b,
            ",\"notify_queued\":{},\"notify_delivered\":{},\"notify_failed\":{},\"notify_retried\":{},\"notify_dropped\":{},\"notify_same_episode\":{},\"notify_held\":{},\"notify_digests\":{},\"notify_waiting\":{},\"notify_last_error\":",
            n.queued, n.delivered, n.failed, n.retried, n.dropped, n.same_episode, n.held, n.digests, n.waiting
        );
        json::string(&mut b, &n.last_error);
    }
    if let Some(r) = &k.respond {
        let _ = write!(
            b,
            ",\"respond_blocks\":{},\"respond_blocked\":{},\"respond_unblocked\":{},\"respond_expired\":{},\"respond_refused\":{},\"respond_nft_errors\":{},\"respond_nft_ok\":{},\"respond_last_error\":",
            s.blocks.len(), r.blocked, r.unblocked, r.expired, r.refused, r.nft_errors, r.nft_ok
        );
        json::string(&mut b, &r.last_error);
    }
    if let Some(m) = &k.mqtt {
        let _ = write!(
            b,
            ",\"mqtt_connected\":{},\"mqtt_connects\":{},\"mqtt_errors\":{},\"mqtt_queued\":{},\"mqtt_published\":{},\"mqtt_dropped\":{},\"mqtt_waiting\":{},\"mqtt_last_error\":",
            m.connected, m.connects, m.errors, m.queued, m.published, m.dropped, m.waiting
        );
        json::string(&mut b, &m.last_error);
    }
    let _ = write!(
        b,
        "}},\"web\":{{\"requests\":{},\"rejected\":{},\"unauthorized\":{},\"ws_clients\":{},\"ws_cut_off\":{}}},\
         \"rss_bytes\":{},\"heap_bytes\":{},\"finished\":{}",
        w.requests,
        w.rejected_limits + w.connections_refused,
        w.unauthorized,
        w.ws_clients,
        w.ws_cut_off,
        s.rss_bytes,
        s.heap_bytes,
        s.finished
    );
    // The newest closed second, for a live chart's tail.
    if let Some(l) = s.recent[0].last() {
        let _ = write!(
            b,
            ",\"last\":{{\"t\":{},\"packets\":{},\"bytes\":{},\"tcp\":{},\"udp\":{},\"icmp\":{},\"other\":{}}}",
            l.start, l.packets, l.bytes, l.by_proto[0], l.by_proto[1], l.by_proto[2], l.by_proto[3]
        );
    }
    b.push('}');
    b
}

/// What the inventory calls the device that has address `a` (its name, else its maker's
/// device), if any.
fn device_name(s: &Snapshot, a: &crate::addr::Addr) -> Option<String> {
    let (_, d) = s.devices.iter().find(|(_, d)| d.has_addr(a))?;
    if !d.name.is_empty() {
        Some(String::from_utf8_lossy(&d.name).into_owned())
    } else if !d.vendor.is_empty() {
        Some(format!("{} device", d.vendor))
    } else {
        None
    }
}

fn flow_json(b: &mut String, f: &FlowRow, s: &Snapshot) {
    b.push_str("{\"src\":");
    json::display(b, f.src);
    for (k, a) in [("src_name", &f.src), ("dst_name", &f.dst)] {
        if let Some(n) = device_name(s, a) {
            b.push(',');
            json::key(b, k);
            json::string(b, &n);
        }
    }
    let _ = write!(b, ",\"sport\":{},\"dst\":", f.sport);
    json::display(b, f.dst);
    let _ = write!(
        b,
        ",\"dport\":{},\"proto\":\"{}\",\"packets\":{},\"bytes\":{},\"first_ts\":{},\"idle_s\":{}}}",
        f.dport,
        eve::proto_name(f.proto),
        f.packets,
        f.bytes,
        f.first_ts,
        f.idle_s
    );
}

/// Top flows as JSON; `by_packets` picks the ordering.
pub fn flows_json(s: &Snapshot, top: usize, by_packets: bool) -> String {
    let list = if by_packets {
        &s.top_by_packets
    } else {
        &s.top_by_bytes
    };
    let mut b = String::with_capacity(128 + top * 160);
    let _ = write!(
        b,
        "{{\"ts\":{},\"by\":\"{}\",\"flows\":[",
        s.wall_us,
        if by_packets { "packets" } else { "bytes" }
    );
    for (i, f) in list.iter().take(top).enumerate() {
        if i > 0 {
            b.push(',');
        }
        flow_json(&mut b, f, s);
    }
    b.push_str("]}");
    b
}

fn flows(r: &Request<'_>, ctx: &Ctx) -> Response {
    let params = match r.params() {
        Ok(p) => p,
        Err(m) => return Response::error(400, &m),
    };
    let (mut top, mut by_packets) = (10usize, false);
    for (k, v) in &params {
        match k.as_str() {
            "top" => match v.parse::<usize>() {
                Ok(n) if (1..=super::TOP_FLOWS).contains(&n) => top = n,
                _ => return Response::error(400, "`top` is 1..=25"),
            },
            "by" => match v.as_str() {
                "bytes" => by_packets = false,
                "packets" => by_packets = true,
                _ => return Response::error(400, "`by` is bytes or packets"),
            },
            _ => return Response::error(400, "unknown parameter (top, by)"),
        }
    }
    Response::json(200, flows_json(&ctx.feed.snap.borrow(), top, by_packets))
}

/// `GET /api/history?res=1s|10s|60s&since=S`: columns ready for a stacked chart. At 60 s,
/// minutes older than the server's ring come from the store.
fn history(r: &Request<'_>, ctx: &Ctx) -> Response {
    let params = match r.params() {
        Ok(p) => p,
        Err(m) => return Response::error(400, &m),
    };
    let (mut res, mut since) = (1usize, 0i64);
    for (k, v) in &params {
        match k.as_str() {
            "res" => {
                res = match v.as_str() {
                    "1s" => 0,
                    "10s" => 1,
                    "60s" => 2,
                    _ => return Response::error(400, "`res` is 1s, 10s or 60s"),
                }
            }
            "since" => match v.parse::<i64>() {
                Ok(s) => since = s,
                Err(_) => return Response::error(400, "`since` needs seconds since the epoch"),
            },
            _ => return Response::error(400, "unknown parameter (res, since)"),
        }
    }
    let mut rows: Vec<Summary> = match ctx.history.lock() {
        Ok(h) => h.rings[res]
            .iter()
            .filter(|s| s.start >= since)
            .copied()
            .collect(),
        Err(_) => Vec::new(),
    };
    if res == 2 {
        if let Some((path, keep)) = &ctx.opts.store {
            let oldest = rows.first().map(|s| s.start).unwrap_or(i64::MAX);
            if path.exists() {
                match store::minutes(path, *keep, since, HISTORY_LEN[2]) {
                    Ok(older) => {
                        let mut older: Vec<Summary> =
                            older.into_iter().filter(|s| s.start < oldest).collect();
                        older.extend(rows);
                        rows = older;
                    }
                    Err(e) => log::warn!("web: {e}"),
                }
            }
        }
    }
    let span = [1, 10, 60][res];
    let mut b = String::with_capacity(64 + rows.len() * 80);
    let _ = write!(b, "{{\"res_s\":{span},\"t\":[");
    let col = |b: &mut String, name: &str, f: &dyn Fn(&Summary) -> u64| {
        let _ = write!(b, "],\"{name}\":[");
        for (i, s) in rows.iter().enumerate() {
            if i > 0 {
                b.push(',');
            }
            let _ = write!(b, "{}", f(s));
        }
    };
    for (i, s) in rows.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        let _ = write!(b, "{}", s.start);
    }
    col(&mut b, "packets", &|s| s.packets);
    col(&mut b, "bytes", &|s| s.bytes);
    col(&mut b, "tcp", &|s| s.by_proto[0]);
    col(&mut b, "udp", &|s| s.by_proto[1]);
    col(&mut b, "icmp", &|s| s.by_proto[2]);
    col(&mut b, "other", &|s| s.by_proto[3]);
    col(&mut b, "syns", &|s| s.syns);
    col(&mut b, "new_flows", &|s| s.new_flows);
    col(&mut b, "sources", &|s| s.distinct_sources as u64);
    b.push_str("]}");
    Response::json(200, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_check() {
        assert!(looks_like_object(r#"{"a":"}{","b":[1,{"c":2}]}"#));
        assert!(!looks_like_object(r#"{"a":1}{"b":2}"#));
        assert!(!looks_like_object(r#"{"a":"x"#));
        assert!(!looks_like_object(r#"{"a":1}}"#));
        assert!(!looks_like_object("[1]"));
    }
}
