//! Listeners, limits and HTTP/1.1: every byte a client sends is hostile until parsed.
//!
//! One thread (`netwatch-web`) runs a tokio `current_thread` runtime with every listener and
//! connection on it, so the number of threads is fixed (one) whatever the clients do. A
//! request head is read into a buffer of at most `MAX_HEAD_BYTES` within `HEAD_TIMEOUT` and
//! parsed by `httparse`; a body is taken only with a `Content-Length` up to `MAX_BODY_BYTES`.
//! Access is decided in one place (`auth`), before routing; security headers are set in one
//! place (`http::response_head`, written by `http::write_response`).
//!
//! Why not `tiny_http` (the design card's choice): version 0.12 reads a header line into a
//! vector without bound, has no read or write timeouts, and starts a thread per connection
//! whenever its pool is busy — a LAN client holding connections open would grow the
//! sensor's threads and memory without limit. The parsing it would save is `httparse`'s.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use super::auth::Auth;
use super::http::{
    answer, cors, parse_head, read_head, write_response, Head, Parsed, Request, Response,
};
use super::{routes, ws, Feed};
use crate::config::{Config, ConfigSource};

use super::config::{ListenAddr, WebConfig};

/// Request line and headers together. Browsers send well under 2 KiB; 8 KiB is what nginx
/// allows per header line by default.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Headers in one request (browsers send about 15).
pub const MAX_HEADERS: usize = 40;
/// A request body (only `PATCH /api/config` has one; a full config is about 4 KiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// HTTP connections at once (WebSocket clients are counted apart, by `web.max_clients`).
/// With the head and body limits this bounds the server's buffers to about 0.8 MiB.
pub const MAX_HTTP_CONNECTIONS: usize = 32;
/// The whole request head must arrive within this (a slowloris client is cut off).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A kept-alive connection may wait this long for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// A response (or body) must be written (read) within this.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests on one connection before it is closed (keeps one client from holding a slot).
pub const MAX_REQUESTS_PER_CONNECTION: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("web.listen {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("web.listen: {0}")]
    Listen(String),
    #[error("web: {0}")]
    Thread(std::io::Error),
}

/// What the server needs besides the feed.
pub struct WebOptions {
    pub web: WebConfig,
    /// The token every API request must carry; None: no token (loopback only).
    pub token: Option<String>,
    /// The SQLite store to read alerts and history from, and how many files it keeps.
    pub store: Option<(PathBuf, u32)>,
    /// The effective configuration, as `/api/config` shows it; replaced on reload.
    pub config: watch::Receiver<Arc<Config>>,
    /// Where the configuration comes from (`PATCH /api/config` validates against it).
    pub source: ConfigSource,
    /// Set by `PATCH /api/config` once the overrides are written: the pipeline's owner
    /// reloads (as on SIGHUP) at its next tick.
    pub reload: Arc<std::sync::atomic::AtomicBool>,
    /// Where `PATCH /api/devices/{mac}` queues labels for the pipeline's owner.
    pub labels: super::Labels,
    /// Set by `POST /api/notify/test`: the daemon sends a test message at its next tick.
    pub notify_test: Arc<std::sync::atomic::AtomicBool>,
    /// Where `POST /api/blocks` and `DELETE /api/blocks/{addr}` queue requests.
    pub block_requests: super::BlockRequests,
}

/// A running server: dropping it leaves it running; `stop` ends it.
pub struct WebHandle {
    pub addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub stats: Arc<WebStats>,
}

/// Counters of the server, for `/metrics` and `/api/stats`.
#[derive(Debug, Default)]
pub struct WebStats(Mutex<WebCounters>);

#[derive(Clone, Copy, Debug, Default)]
pub struct WebCounters {
    pub requests: u64,
    pub rejected_limits: u64,
    pub unauthorized: u64,
    pub connections_refused: u64,
    pub ws_clients: u64,
    pub ws_messages_dropped: u64,
    pub ws_cut_off: u64,
}

impl WebStats {
    pub fn update(&self, f: impl FnOnce(&mut WebCounters)) {
        if let Ok(mut c) = self.0.lock() {
            f(&mut c);
        }
    }
    pub fn get(&self) -> WebCounters {
        self.0.lock().map(|c| *c).unwrap_or_default()
    }
}

impl WebHandle {
    /// Stop accepting, close every connection, join the thread (within a second).
    pub fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Shared by every connection task.
pub(super) struct Ctx {
    pub opts: WebOptions,
    pub auth: Auth,
    pub feed: Feed,
    pub stats: Arc<WebStats>,
    pub ws_slots: Arc<Semaphore>,
    pub history: Mutex<routes::History>,
    pub backlog: Mutex<std::collections::VecDeque<Arc<str>>>,
    pub incidents: Mutex<super::incidents::Backlog>,
    pub started: std::time::Instant,
}

/// The addresses of interface `name` (IPv6 link-local ones left out: they need a scope).
pub fn iface_addrs(name: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut ifa: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we free below; every pointer is checked before use.
    unsafe {
        if libc::getifaddrs(&mut ifa) != 0 {
            return out;
        }
        let mut p = ifa;
        while !p.is_null() {
            let i = &*p;
            let n = std::ffi::CStr::from_ptr(i.ifa_name);
            if n.to_bytes() == name.as_bytes() && !i.ifa_addr.is_null() {
                match (*i.ifa_addr).sa_family as i32 {
                    libc::AF_INET => {
                        let a = &*(i.ifa_addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let a = &*(i.ifa_addr as *const libc::sockaddr_in6);
                        let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                        if ip.segments()[0] & 0xffc0 != 0xfe80 {
                            out.push(IpAddr::V6(ip));
                        }
                    }
                    _ => {}
                }
            }
            p = i.ifa_next;
        }
        libc::freeifaddrs(ifa);
    }
    out
}

/// Resolve and bind every listen address. An `@IFACE` that does not exist (or has no
/// address) is skipped with a log line; any other failure is an error.
fn bind_all(listen: &[ListenAddr]) -> Result<Vec<std::net::TcpListener>, WebError> {
    let mut addrs = Vec::new();
    let mut missing = Vec::new();
    for l in listen {
        match l {
            ListenAddr::Socket(a) => addrs.push(*a),
            ListenAddr::Iface(i, port) => {
                let found = iface_addrs(i);
                if found.is_empty() {
                    missing.push(l.to_string());
                }
                addrs.extend(found.into_iter().map(|ip| SocketAddr::new(ip, *port)));
            }
        }
    }
    let mut out = Vec::new();
    for a in &addrs {
        let l = std::net::TcpListener::bind(a).map_err(|source| WebError::Bind {
            addr: a.to_string(),
            source,
        })?;
        l.set_nonblocking(true).map_err(|source| WebError::Bind {
            addr: a.to_string(),
            source,
        })?;
        out.push(l);
    }
    for m in &missing {
        if out.is_empty() {
            log::warn!("web.listen {m}: the interface has no address (or does not exist)");
        } else {
            log::info!("web.listen {m}: the interface has no address (or does not exist); skipped");
        }
    }
    if out.is_empty() {
        return Err(WebError::Listen("no address to listen on".into()));
    }
    Ok(out)
}

/// Bind the listeners and start the server thread.
pub fn start(opts: WebOptions, feed: Feed) -> Result<WebHandle, WebError> {
    let listeners = bind_all(&opts.web.listen)?;
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stats = Arc::new(WebStats::default());
    // The backlog's subscription is made here, before any alert can be published.
    let backlog_rx = (feed.alerts.subscribe(), feed.incidents.subscribe());
    let ctx = Arc::new(Ctx {
        auth: Auth::new(opts.token.clone()),
        ws_slots: Arc::new(Semaphore::new(opts.web.max_clients)),
        opts,
        feed,
        stats: stats.clone(),
        history: Mutex::new(routes::History::default()),
        backlog: Mutex::new(std::collections::VecDeque::new()),
        incidents: Mutex::new(Default::default()),
        started: std::time::Instant::now(),
    });
    let thread = std::thread::Builder::new()
        .name("netwatch-web".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    log::error!("web: cannot start its runtime: {e}");
                    return;
                }
            };
            rt.block_on(serve(listeners, ctx, backlog_rx, stop_rx));
        })
        .map_err(WebError::Thread)?;
    Ok(WebHandle {
        addrs,
        stop: stop_tx,
        thread: Some(thread),
        stats,
    })
}

async fn serve(
    listeners: Vec<std::net::TcpListener>,
    ctx: Arc<Ctx>,
    backlog_rx: (
        tokio::sync::broadcast::Receiver<Arc<str>>,
        tokio::sync::broadcast::Receiver<Arc<crate::output::store::IncidentRow>>,
    ),
    mut stop: watch::Receiver<bool>,
) {
    let http_slots = Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS));
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(routes::follow_feed(ctx.clone(), backlog_rx));
    for l in listeners {
        let l = match TcpListener::from_std(l) {
            Ok(l) => l,
            Err(e) => {
                log::error!("web: cannot register a listener: {e}");
                continue;
            }
        };
        tasks.spawn(accept_loop(l, ctx.clone(), http_slots.clone()));
    }
    // Runs until told to stop (or the daemon's end of `stop` is gone).
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    tasks.shutdown().await;
}

async fn accept_loop(l: TcpListener, ctx: Arc<Ctx>, slots: Arc<Semaphore>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (mut s, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and the like: wait instead of spinning.
                log::debug!("web: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let ctx = ctx.clone();
                conns.spawn(async move {
                    connection(s, peer, &ctx, permit).await;
                });
            }
            Err(_) => {
                ctx.stats.update(|c| c.connections_refused += 1);
                let r = Response::error(503, "too many connections");
                conns.spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        write_response(&mut s, &r, None, true),
                    )
                    .await;
                });
            }
        }
    }
}

async fn connection(
    mut s: TcpStream,
    peer: SocketAddr,
    ctx: &Arc<Ctx>,
    http_slot: tokio::sync::OwnedSemaphorePermit,
) {
    let _ = s.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    for n in 0..MAX_REQUESTS_PER_CONNECTION {
        let wait = if n == 0 { HEAD_TIMEOUT } else { IDLE_TIMEOUT };
        let head = match tokio::time::timeout(wait, read_head(&mut s, &mut buf)).await {
            Ok(Ok(Head::Complete(n))) => n,
            Ok(Ok(Head::TooLarge)) => {
                ctx.stats.update(|c| c.rejected_limits += 1);
                let r = Response::error(431, "request head over 8 KiB");
                let _ = write_response(&mut s, &r, None, true).await;
                return;
            }
            Ok(Ok(Head::Closed)) | Ok(Err(_)) => return,
            Err(_) => {
                if !buf.is_empty() {
                    ctx.stats.update(|c| c.rejected_limits += 1);
                    let r = Response::error(408, "request head not received in time");
                    let _ = write_response(&mut s, &r, None, true).await;
                }
                return;
            }
        };
        let mut hdrs = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let Parsed {
            method,
            target,
            headers,
            mut close,
            body_len: len,
        } = match parse_head(&buf[..head], &mut hdrs) {
            Ok(p) => p,
            Err((r, limit)) => {
                if limit {
                    ctx.stats.update(|c| c.rejected_limits += 1);
                }
                let _ = write_response(&mut s, &r, None, true).await;
                return;
            }
        };
        let mut body = vec![0u8; len];
        let have = (buf.len() - head).min(len);
        body[..have].copy_from_slice(&buf[head..head + have]);
        if have < len {
            match tokio::time::timeout(IO_TIMEOUT, s.read_exact(&mut body[have..])).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
        }
        let consumed = head + have;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let request = Request {
            method,
            path,
            query,
            headers,
            body: &body,
            peer,
        };
        ctx.stats.update(|c| c.requests += 1);
        let origin = request.header("origin");
        let allow = cors(&ctx.opts.web, origin);
        // Access: one decision, before routing.
        if let Some(denied) = ctx.auth.check(&request) {
            log::debug!(
                "web: {} {} from {}: no valid token",
                method,
                path,
                request.peer
            );
            ctx.stats.update(|c| c.unauthorized += 1);
            let _ = write_response(&mut s, &denied, allow.as_deref(), close).await;
            if close {
                return;
            }
            buf.drain(..consumed);
            continue;
        }
        if path.starts_with("/ws/") && method == "GET" {
            // The connection becomes a WebSocket (or is answered and closed).
            match ws::upgrade(&request, ctx) {
                Ok((accept, kind, permit)) => {
                    if s.write_all(accept.as_bytes()).await.is_err() {
                        return;
                    }
                    let leftover = buf[consumed..].to_vec();
                    // A WebSocket client holds a `web.max_clients` slot, not an HTTP one.
                    drop(http_slot);
                    ws::serve(s, leftover, kind, ctx.clone(), permit).await;
                }
                Err(r) => {
                    let _ = write_response(&mut s, &r, allow.as_deref(), true).await;
                }
            }
            return;
        }
        let resp = answer(&request, ctx, allow.is_some());
        if n + 1 == MAX_REQUESTS_PER_CONNECTION {
            close = true;
        }
        if write_response(&mut s, &resp, allow.as_deref(), close)
            .await
            .is_err()
            || close
        {
            return;
        }
        buf.drain(..consumed);
    }
}
