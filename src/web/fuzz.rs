//! Fuzzing entries for the web server's parsers (`fuzz/fuzz_targets/http_request.rs`,
//! `ws_frames.rs`). Not part of the API.
//!
//! [`request`] runs one request through the same steps as a connection: the head parser and
//! its limits, the token check, the WebSocket upgrade checks or the routes (REST, `PATCH
//! /api/config` included) and the response head. It reads a real store of a few alerts and
//! writes configuration overrides only inside a directory of its own under the temp dir.

use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{watch, Semaphore};

pub use super::config_api::config_json;
use super::http::{self, Request};
use super::server::{self, Ctx, WebOptions, WebStats};
use crate::config::{Config, ConfigSource, FileConfig};

/// The token the fuzzing server wants (seed inputs carry it).
pub const TOKEN: &str = "fuzz-token-0123456789abcdef";

fn ctx() -> &'static Ctx {
    static CTX: OnceLock<Ctx> = OnceLock::new();
    CTX.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("netwatch-fuzz-web-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let store = dir.join("alerts.db");
        let text = format!(
            "[store]\npath = \"{}\"\n[web]\ntoken = \"{TOKEN}\"\n",
            store.display()
        );
        let file = dir.join("netwatch.toml");
        let _ = std::fs::write(&file, &text);
        let cfg = FileConfig::parse(&text, "fuzz")
            .and_then(|f| f.validate())
            .unwrap_or_else(|_| Config::default_config());
        let mut s = crate::output::store::Store::new(cfg.store.clone());
        for i in 0..5u8 {
            let mut a = crate::detect::Alert::new(
                crate::detect::RuleId::ALL[usize::from(i) % crate::detect::RuleId::ALL.len()],
                1_800_000_000_000_000 + i64::from(i) * 1_000_000,
            );
            a.src = crate::addr::Addr::v4([10, 0, 0, i + 1]);
            s.add_alert(&a);
        }
        let _ = s.flush();
        s.close();
        let (_publisher, feed) = super::feed();
        let (_tx, config) = watch::channel(Arc::new(cfg.clone()));
        let opts = WebOptions {
            web: cfg.web.clone(),
            token: Some(TOKEN.into()),
            store: Some((store, cfg.store.keep)),
            config,
            source: ConfigSource::Toml(file),
            reload: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            labels: Default::default(),
            notify_test: Default::default(),
            block_requests: Default::default(),
        };
        Ctx {
            auth: super::auth::Auth::new(opts.token.clone()),
            ws_slots: Arc::new(Semaphore::new(opts.web.max_clients)),
            opts,
            feed,
            stats: Arc::new(WebStats::default()),
            history: Mutex::new(super::routes::History::default()),
            backlog: Mutex::new(std::collections::VecDeque::new()),
            incidents: Mutex::new(Default::default()),
            started: std::time::Instant::now(),
        }
    })
}

/// One request (head, then body) as a client sent it; returns the status answered, or 0
/// when the head is incomplete (the server would wait for more).
pub fn request(data: &[u8]) -> u16 {
    let ctx = ctx();
    let Some(end) = http::head_end(data) else {
        return 0;
    };
    if end > server::MAX_HEAD_BYTES {
        return 431;
    }
    let mut hdrs = [httparse::EMPTY_HEADER; server::MAX_HEADERS];
    let p = match http::parse_head(&data[..end], &mut hdrs) {
        Ok(p) => p,
        Err((r, _)) => return r.status,
    };
    let rest = &data[end..];
    let body = &rest[..p.body_len.min(rest.len())];
    let (path, query) = p.target.split_once('?').unwrap_or((p.target, ""));
    let r = Request {
        method: p.method,
        path,
        query,
        headers: p.headers,
        body,
        peer: ([192, 168, 1, 20], 50000).into(),
    };
    let allow = http::cors(&ctx.opts.web, r.header("origin"));
    let resp = if let Some(denied) = ctx.auth.check(&r) {
        denied
    } else if path.starts_with("/ws/") && p.method == "GET" {
        match super::ws::upgrade(&r, ctx) {
            Ok((accept, _, _permit)) => {
                assert!(accept.starts_with("HTTP/1.1 101 ") && accept.ends_with("\r\n\r\n"));
                return 101;
            }
            Err(e) => e,
        }
    } else {
        http::answer(&r, ctx, allow.is_some())
    };
    let head = http::response_head(&resp, allow.as_deref(), p.close);
    // Nothing from the request may break a header line.
    assert_eq!(head.matches("\r\n\r\n").count(), 1, "{head:?}");
    assert!(head.ends_with("\r\n\r\n"));
    resp.status
}

/// WebSocket frames from a client, read with the server's limits.
pub fn ws_frames(data: &[u8]) -> usize {
    super::ws::fuzz_frames(data)
}
