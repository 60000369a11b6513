//! WebSockets: `/ws/alerts` (the newest alerts on connect, then each as it happens),
//! `/ws/incidents` (the newest incidents on connect, then each incident's new state),
//! `/ws/flows` (top flows every second), `/ws/stats` (the `/api/stats` object every second).
//!
//! The upgrade is checked here (RFC 6455 section 4.2: version 13, a 16-byte key, an Origin
//! that is this host or an allowed one); framing is tungstenite's, driven over the tokio socket
//! by readiness. Bounds per client: incoming messages and frames of at most 4 KiB (clients
//! only answer pings and close), at most `MAX_WRITE_BUFFER` bytes waiting to be written, at
//! most `ALERT_QUEUE` alerts queued — while its output does not drain a client takes no new
//! messages, so it loses its oldest alerts and skips snapshots. Every alert a client loses,
//! in the shared ring or at its full write buffer, is counted and announced to it with a
//! `{"type":"dropped","count":N}` message as soon as its output drains, so a reader always
//! has alerts received + announced dropped = alerts published. A client whose writes have not drained for
//! `BEHIND_LIMIT` is cut off. A ping every `PING_EVERY`; no frame at all for `DEAD_AFTER`
//! closes the connection.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::{broadcast, OwnedSemaphorePermit};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Error as WsError, Message, WebSocket};

use super::auth::WS_TOKEN_PREFIX;
use super::http::{Request, Response};
use super::routes;
use super::server::Ctx;
use super::ALERT_QUEUE;

/// Incoming frames and messages: clients send only pongs and closes.
const MAX_INCOMING: usize = 4 * 1024;
/// Bytes waiting to be written to one client.
const MAX_WRITE_BUFFER: usize = 64 * 1024;
/// A client whose output has not drained for this long is cut off.
pub const BEHIND_LIMIT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(20);
const DEAD_AFTER: Duration = Duration::from_secs(60);
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Alerts,
    Incidents,
    Flows,
    Stats,
}

fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Sec-WebSocket-Accept` for a client key.
pub fn accept_key(key: &str) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(key.as_bytes());
    h.update(WS_GUID.as_bytes());
    base64(&h.digest().bytes())
}

/// Check an upgrade request; on success the 101 response to send, the stream kind and the
/// client slot.
pub fn upgrade(
    r: &Request<'_>,
    ctx: &Ctx,
) -> Result<(String, Kind, OwnedSemaphorePermit), Response> {
    let kind = match r.path {
        "/ws/alerts" => Kind::Alerts,
        "/ws/incidents" => Kind::Incidents,
        "/ws/flows" => Kind::Flows,
        "/ws/stats" => Kind::Stats,
        _ => {
            return Err(Response::error(
                404,
                "no such WebSocket (alerts, incidents, flows, stats)",
            ))
        }
    };
    let has = |name: &str, word: &str| {
        r.header(name)
            .is_some_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case(word)))
    };
    if !has("upgrade", "websocket") || !has("connection", "upgrade") {
        return Err(Response::error(
            426,
            "this path is a WebSocket: send Upgrade: websocket",
        ));
    }
    if r.header("sec-websocket-version").map(str::trim) != Some("13") {
        let mut e = Response::error(426, "WebSocket version 13 only");
        e.extra.push(("Sec-WebSocket-Version", "13".into()));
        return Err(e);
    }
    let key = r.header("sec-websocket-key").map(str::trim).unwrap_or("");
    if key.len() != 24
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    {
        return Err(Response::error(400, "bad Sec-WebSocket-Key"));
    }
    // Cross-site WebSocket hijacking: a browser page elsewhere may not connect.
    if let Some(origin) = r.header("origin") {
        let host = r.header("host").unwrap_or("");
        let same = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host));
        if !same && !ctx.opts.web.allow_origins.iter().any(|a| a == origin) {
            return Err(Response::error(403, "origin not allowed"));
        }
    }
    let permit = ctx
        .ws_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| Response::error(503, "too many WebSocket clients (web.max_clients)"))?;
    // Echo a subprotocol when the client offered some (browsers require it): ours, or else
    // the token entry it sent.
    let offered: Vec<&str> = r
        .header("sec-websocket-protocol")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let proto = if offered.contains(&"netwatch") {
        Some("netwatch")
    } else {
        offered
            .iter()
            .copied()
            .find(|p| p.starts_with(WS_TOKEN_PREFIX))
    };
    let mut resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    if let Some(p) = proto {
        resp.push_str("Sec-WebSocket-Protocol: ");
        resp.push_str(p);
        resp.push_str("\r\n");
    }
    resp.push_str("\r\n");
    Ok((resp, kind, permit))
}

/// The socket as tungstenite sees it: non-blocking reads and writes over the tokio stream
/// (`WouldBlock` when not ready), bytes the HTTP reader already took served first.
struct Io {
    s: Arc<TcpStream>,
    pre: Vec<u8>,
}

impl Read for Io {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(b.len());
            b[..n].copy_from_slice(&self.pre[..n]);
            self.pre.drain(..n);
            return Ok(n);
        }
        self.s.try_read(b)
    }
}

impl Write for Io {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.s.try_write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn would_block(e: &WsError) -> bool {
    matches!(e, WsError::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock)
}

/// Limits of every client connection: small reads, bounded output, tiny incoming messages
/// (a client has nothing to say but pings and pongs).
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(MAX_INCOMING))
        .max_frame_size(Some(MAX_INCOMING))
}

/// Read every frame available; Ok(true) if any arrived, Err when the connection ends.
fn read_available<S: std::io::Read + std::io::Write>(ws: &mut WebSocket<S>) -> Result<bool, ()> {
    let mut any = false;
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => return Err(()),
            // Pings are answered by tungstenite (queued); pongs and anything else only prove
            // the client is alive.
            Ok(_) => any = true,
            Err(e) if would_block(&e) => return Ok(any),
            Err(_) => return Err(()),
        }
    }
}

/// Fuzzing entry: `data` as what a client sent on an upgraded connection, read with the
/// server's limits until it ends; every alert message is offered in between. Returns the
/// frames read.
#[doc(hidden)]
pub fn fuzz_frames(data: &[u8]) -> usize {
    struct Wire<'a>(&'a [u8]);
    impl std::io::Read for Wire<'_> {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            // Small pieces, as a slow client sends them.
            let n = b.len().min(self.0.len()).min(7);
            b[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    impl std::io::Write for Wire<'_> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut ws = WebSocket::from_raw_socket(Wire(data), Role::Server, Some(config()));
    let mut frames = 0;
    loop {
        let _ = ws.write(Message::text("{\"type\":\"alert\"}"));
        let _ = ws.flush();
        match read_available(&mut ws) {
            Ok(true) => frames += 1,
            Ok(false) | Err(()) => return frames,
        }
    }
}

/// Serve one WebSocket client until it closes, dies or falls too far behind.
pub async fn serve(
    s: TcpStream,
    leftover: Vec<u8>,
    kind: Kind,
    ctx: Arc<Ctx>,
    _permit: OwnedSemaphorePermit,
) {
    ctx.stats.update(|c| c.ws_clients += 1);
    let s = Arc::new(s);
    let mut ws = WebSocket::from_raw_socket(
        Io {
            s: s.clone(),
            pre: leftover,
        },
        Role::Server,
        Some(config()),
    );
    let mut client = Client {
        ws: &mut ws,
        ctx: &ctx,
        pending: false,
        stuck_since: None,
        unannounced: 0,
    };
    // Subscribe before reading the backlog: an alert in between comes twice, never not at all
    // (the dashboard keys rows by id).
    let mut alerts = ctx.feed.alerts.subscribe();
    let mut incidents = ctx.feed.incidents.subscribe();
    let mut snap = ctx.feed.snap.clone();
    snap.mark_unchanged();
    if kind == Kind::Incidents {
        let backlog = ctx.incidents.lock().map(|b| b.rows()).unwrap_or_default();
        let j = super::incidents::Judge::of(&ctx);
        for r in backlog {
            client.send_alert(&super::incidents::incident_message(&r, &j));
        }
    } else if kind == Kind::Alerts {
        let backlog: Vec<Arc<str>> = ctx
            .backlog
            .lock()
            .map(|b| b.iter().cloned().collect())
            .unwrap_or_default();
        for m in backlog {
            client.send_alert(&m);
        }
    } else {
        let now = snap.borrow().clone();
        client.send(&message(kind, &now, &ctx));
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    let mut last_heard = Instant::now();
    loop {
        if client.flush().is_err() {
            break;
        }
        if client
            .stuck_since
            .is_some_and(|t| t.elapsed() >= BEHIND_LIMIT)
        {
            // What it never got (of its own feed) counts as dropped.
            let mut lost = 0u64;
            for _ in 0..ALERT_QUEUE * 2 {
                let r = if kind == Kind::Incidents {
                    incidents.try_recv().map(|_| ())
                } else {
                    alerts.try_recv().map(|_| ())
                };
                match r {
                    Ok(()) => lost += 1,
                    Err(broadcast::error::TryRecvError::Lagged(n)) => lost += n,
                    Err(_) => break,
                }
            }
            ctx.stats.update(|c| {
                c.ws_cut_off += 1;
                c.ws_messages_dropped += lost;
            });
            break;
        }
        let pending = client.pending;
        // A client whose output does not drain takes no new messages: its alerts wait in the
        // shared ring, where the oldest are overwritten (and counted when it catches up).
        let draining = client.stuck_since.is_none();
        tokio::select! {
            r = s.readable() => {
                if r.is_err() {
                    break;
                }
                match client.read_all() {
                    Ok(true) => last_heard = Instant::now(),
                    Ok(false) => {}
                    Err(()) => break,
                }
            }
            r = s.writable(), if pending => {
                if r.is_err() {
                    break;
                }
            }
            r = alerts.recv(), if kind == Kind::Alerts && draining => match r {
                Ok(m) => client.send_alert(&m),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    ctx.stats.update(|c| c.ws_messages_dropped += n);
                    client.unannounced += n;
                    client.announce_dropped();
                }
                Err(broadcast::error::RecvError::Closed) => {
                    // Replay over: the feed ends, the connection stays for the pings.
                    alerts = broadcast::channel(1).1;
                }
            },
            r = incidents.recv(), if kind == Kind::Incidents && draining => match r {
                Ok(i) => {
                    let j = super::incidents::Judge::of(&ctx);
                    client.send_alert(&super::incidents::incident_message(&i, &j));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    ctx.stats.update(|c| c.ws_messages_dropped += n);
                    client.unannounced += n;
                    client.announce_dropped();
                }
                Err(broadcast::error::RecvError::Closed) => {
                    incidents = broadcast::channel(1).1;
                }
            },
            r = snap.changed(), if matches!(kind, Kind::Flows | Kind::Stats) && draining => {
                if r.is_err() {
                    // The pipeline is gone (replay finished): nothing more will come.
                    snap = tokio::sync::watch::channel(Default::default()).1;
                    continue;
                }
                let now = snap.borrow_and_update().clone();
                client.send(&message(kind, &now, &ctx));
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= DEAD_AFTER {
                    break;
                }
                client.queue(Message::Ping(Vec::new().into()));
            }
            // Wake up to judge a stuck client even when nothing else happens.
            _ = tokio::time::sleep(Duration::from_secs(1)), if pending => {}
        }
    }
    let _ = ws.close(None);
    let _ = ws.flush();
    ctx.stats
        .update(|c| c.ws_clients = c.ws_clients.saturating_sub(1));
}

fn message(kind: Kind, s: &super::Snapshot, ctx: &Ctx) -> String {
    match kind {
        Kind::Stats => routes::stats_json(s, ctx),
        _ => routes::flows_json(s, super::TOP_FLOWS, false),
    }
}

struct Client<'a> {
    ws: &'a mut WebSocket<Io>,
    ctx: &'a Ctx,
    /// Output is waiting in tungstenite's buffer.
    pending: bool,
    /// When the output last stopped draining (None: it drains).
    stuck_since: Option<Instant>,
    /// Alerts this client lost and has not been told of yet.
    unannounced: u64,
}

impl Client<'_> {
    fn send(&mut self, text: &str) {
        self.queue(Message::text(text));
    }

    /// An alert: if the client's buffer is full it is lost, and announced once it drains.
    fn send_alert(&mut self, text: &str) {
        if !self.queue(Message::text(text)) {
            self.unannounced += 1;
        }
    }

    /// Tell the client how many alerts it lost, once its output has room again.
    fn announce_dropped(&mut self) {
        if self.unannounced > 0 && self.stuck_since.is_none() {
            let n = std::mem::take(&mut self.unannounced);
            if !self.queue(Message::text(format!(
                r#"{{"type":"dropped","count":{n}}}"#
            ))) {
                self.unannounced += n;
            }
        }
    }

    /// Queue a message; false when the client's write buffer is full and it was lost.
    fn queue(&mut self, m: Message) -> bool {
        self.pending = true;
        match self.ws.write(m) {
            Err(WsError::WriteBufferFull(_)) => {
                // The client is behind: this message is lost (the oldest ones are already
                // in the buffer, partly on the wire, and cannot be taken back).
                self.ctx.stats.update(|c| c.ws_messages_dropped += 1);
                self.stuck_since.get_or_insert_with(Instant::now);
                false
            }
            // WouldBlock: the message is buffered, written when the socket has room.
            Ok(()) | Err(_) => true,
        }
    }

    /// Write what is buffered; Err when the connection is gone.
    fn flush(&mut self) -> Result<(), ()> {
        if !self.pending {
            return Ok(());
        }
        match self.ws.flush() {
            Ok(()) => {
                self.pending = false;
                self.stuck_since = None;
                self.announce_dropped();
                Ok(())
            }
            Err(e) if would_block(&e) => {
                self.stuck_since.get_or_insert_with(Instant::now);
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    /// Read every frame available; Ok(true) if any arrived, Err when the connection ends.
    fn read_all(&mut self) -> Result<bool, ()> {
        let any = read_available(self.ws)?;
        // A ping's pong may be queued.
        self.pending |= any;
        Ok(any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_rfc6455_example() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn base64_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }
}
