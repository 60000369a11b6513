//! `GET /api/blocks` (the blocks in force and the latest events, as the daemon published them),
//! `POST /api/blocks` (`{"addr": …, "for_s": …, "alert_id": …, "reason": …}`: a block a person
//! asks for) and `DELETE /api/blocks/{addr}`. Requests are queued for the daemon, which applies
//! the guard rails and answers in the list: a refusal is an event with its reason.

use std::fmt::Write;
use std::net::IpAddr;

use super::http::Response;
use super::server::Ctx;
use crate::json_reader::{parse, JsonValue};
use crate::notify::respond::{Block, Event, Mode, Request};
use crate::output::json;

/// Requests waiting for the daemon (at most `REQUESTS_QUEUED`).
pub type BlockRequests = std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<Request>>>;
pub const REQUESTS_QUEUED: usize = 64;

pub fn block_json(b: &mut String, x: &Block) {
    b.push_str("{\"addr\":");
    json::display(b, x.addr);
    let _ = write!(
        b,
        ",\"since\":{},\"until\":{},\"alert_id\":{},\"manual\":{},\"rule\":",
        x.since_us / 1_000_000,
        x.until_us / 1_000_000,
        x.alert_id,
        x.manual
    );
    json::string(b, x.rule.map(|r| r.name()).unwrap_or(""));
    b.push_str(",\"reason\":");
    json::string(b, &x.reason);
    b.push('}');
}

pub fn event_json(b: &mut String, e: &Event) {
    let _ = write!(
        b,
        "{{\"ts\":{},\"action\":\"{}\",\"addr\":",
        e.ts_us / 1_000_000,
        e.action
    );
    json::display(b, e.addr);
    let _ = write!(
        b,
        ",\"until\":{},\"manual\":{},\"reason\":",
        e.until_us / 1_000_000,
        e.manual
    );
    json::string(b, &e.reason);
    b.push('}');
}

pub fn list(ctx: &Ctx) -> Response {
    let snap = ctx.feed.snap.borrow().clone();
    let mut b = String::with_capacity(256 + 200 * (snap.blocks.len() + snap.block_events.len()));
    let mode = ctx.opts.config.borrow().respond.mode;
    let _ = write!(b, "{{\"mode\":\"{}\",\"nft_ok\":", mode.as_str());
    match &snap.sinks.respond {
        Some(c) => {
            let _ = write!(b, "{},\"last_error\":", c.nft_ok);
            json::string(&mut b, &c.last_error);
        }
        None => b.push_str("false,\"last_error\":\"\""),
    }
    b.push_str(",\"blocks\":[");
    for (i, x) in snap.blocks.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        block_json(&mut b, x);
    }
    b.push_str("],\"events\":[");
    for (i, e) in snap.block_events.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        event_json(&mut b, e);
    }
    b.push_str("]}");
    Response::json(200, b)
}

fn queue(ctx: &Ctx, r: Request) -> Response {
    if ctx.opts.config.borrow().respond.mode == Mode::Off {
        return Response::error(409, "blocking is off (respond.mode = \"off\")");
    }
    let Ok(mut q) = ctx.opts.block_requests.lock() else {
        return Response::error(503, "requests cannot be queued now");
    };
    if q.len() >= REQUESTS_QUEUED {
        return Response::error(503, "too many requests waiting; try again in a second");
    }
    q.push_back(r);
    Response::json(
        202,
        "{\"queued\":true,\"see\":\"GET /api/blocks: the block, or a refusal with its reason\"}"
            .into(),
    )
}

fn addr(s: &str) -> Result<IpAddr, Response> {
    s.parse()
        .map_err(|_| Response::error(422, "`addr` is an IPv4 or IPv6 address"))
}

pub fn post(body: &[u8], ctx: &Ctx) -> Response {
    let Ok(v) = parse(body) else {
        return Response::error(400, "the body is not JSON");
    };
    let JsonValue::Object(fields) = &v else {
        return Response::error(422, "the body is a JSON object");
    };
    let (mut ip, mut secs, mut alert_id, mut reason) = (None, 0u64, 0i64, String::new());
    for (k, v) in fields {
        match (k.as_str(), v) {
            ("addr", JsonValue::Str(s)) => match addr(s) {
                Ok(a) => ip = Some(a),
                Err(r) => return r,
            },
            ("for_s", JsonValue::Int(n)) if (60..=30 * 86_400).contains(n) => secs = *n as u64,
            ("for_s", _) => return Response::error(422, "`for_s` is 60..=2592000 seconds"),
            ("alert_id", JsonValue::Int(n)) if *n >= 0 => alert_id = *n,
            ("reason", JsonValue::Str(s)) if s.len() <= 300 && !s.chars().any(char::is_control) => {
                reason = s.clone()
            }
            _ => {
                return Response::error(
                    422,
                    "keys: addr, for_s, alert_id, reason (at most 300 characters)",
                )
            }
        }
    }
    let Some(ip) = ip else {
        return Response::error(422, "give the `addr` to block");
    };
    // The alert, when named, gives the reason and the rule (the guard rails read the rule).
    let mut rule = None;
    if alert_id > 0 {
        if let Some((p, keep)) = &ctx.opts.store {
            if let Ok(Some(a)) = crate::output::store::get(p, *keep, alert_id) {
                rule = crate::detect::RuleId::ALL
                    .into_iter()
                    .find(|r| r.name() == a.rule);
                if reason.is_empty() {
                    reason = a.summary;
                }
            }
        }
    }
    if reason.is_empty() {
        reason = "blocked by hand".into();
    }
    queue(
        ctx,
        Request::Block {
            addr: ip,
            secs,
            reason,
            alert_id,
            rule,
        },
    )
}

pub fn delete(a: &str, ctx: &Ctx) -> Response {
    match addr(a) {
        Ok(addr) => queue(ctx, Request::Unblock { addr }),
        Err(r) => r,
    }
}
