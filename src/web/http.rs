//! HTTP/1.1 messages: a request head parsed by `httparse` within the limits, the response
//! with the security headers every response carries (set here, in one place), and the
//! answer to an authorised request.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::WebConfig;
use super::routes;
use super::server::{Ctx, IO_TIMEOUT, MAX_BODY_BYTES, MAX_HEAD_BYTES};

/// A parsed request. Header names are compared case-insensitively.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [httparse::Header<'a>],
    pub body: &'a [u8],
    pub peer: SocketAddr,
}

impl Request<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    }

    /// Query parameters, percent-decoded; an error names the first one that is not UTF-8.
    pub fn params(&self) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for part in self.query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = percent_decode(k).ok_or("a query parameter name is not valid UTF-8")?;
            let v = percent_decode(v)
                .ok_or_else(|| format!("query parameter `{k}` is not valid UTF-8"))?;
            out.push((k, v));
        }
        Ok(out)
    }
}

/// `%XX` and `+` decoding; None when the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A response before the common headers are added.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Headers of this response only (e.g. `WWW-Authenticate`, `ETag`).
    pub extra: Vec<(&'static str, String)>,
}

impl Response {
    pub fn json(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: body.into_bytes(),
            extra: Vec::new(),
        }
    }

    /// `{"error": MESSAGE}` with the status.
    pub fn error(status: u16, msg: &str) -> Response {
        let mut b = String::from("{\"error\":");
        crate::output::json::string(&mut b, msg);
        b.push('}');
        Response::json(status, b)
    }
}

pub(super) fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The CORS headers for `origin`, when the configuration allows it.
pub(super) fn cors(web: &WebConfig, origin: Option<&str>) -> Option<String> {
    let o = origin?;
    web.allow_origins.iter().find(|a| a.as_str() == o).cloned()
}

/// The status line and headers of `r`, with the security headers every response carries.
pub(super) fn response_head(r: &Response, allow_origin: Option<&str>, close: bool) -> String {
    use std::fmt::Write as _;
    let mut h = String::with_capacity(512);
    let _ = write!(
        h,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n\
         X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n\
         Referrer-Policy: no-referrer\r\nCache-Control: {}\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len(),
        // API answers are never kept; the dashboard's files are revalidated by ETag.
        if r.extra.iter().any(|(k, _)| *k == "ETag") {
            "no-cache"
        } else {
            "no-store"
        }
    );
    if let Some(o) = allow_origin {
        let _ = write!(
            h,
            "Access-Control-Allow-Origin: {o}\r\nVary: Origin\r\n\
             Access-Control-Allow-Headers: Authorization, Content-Type\r\n\
             Access-Control-Allow-Methods: GET, POST, PATCH, DELETE, OPTIONS\r\n"
        );
    }
    for (k, v) in &r.extra {
        // Values are ours, but never let one carry a line break.
        if !v.contains(['\r', '\n']) {
            let _ = write!(h, "{k}: {v}\r\n");
        }
    }
    h.push_str(if close {
        "Connection: close\r\n\r\n"
    } else {
        "Connection: keep-alive\r\n\r\n"
    });
    h
}

/// Write `r` with the security headers every response carries.
pub(super) async fn write_response(
    s: &mut TcpStream,
    r: &Response,
    allow_origin: Option<&str>,
    close: bool,
) -> std::io::Result<()> {
    let h = response_head(r, allow_origin, close);
    let io = async {
        s.write_all(h.as_bytes()).await?;
        s.write_all(&r.body).await?;
        s.flush().await
    };
    match tokio::time::timeout(IO_TIMEOUT, io).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Find the end of the head (`\r\n\r\n`) in `buf`.
pub(super) fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

pub(super) enum Head {
    Complete(usize),
    TooLarge,
    Closed,
}

/// Read until the head is complete (or too large, or the peer is gone).
pub(super) async fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Head> {
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(n) = head_end(buf) {
            return Ok(Head::Complete(n));
        }
        if buf.len() >= MAX_HEAD_BYTES {
            return Ok(Head::TooLarge);
        }
        let room = (MAX_HEAD_BYTES + 4 - buf.len()).min(chunk.len());
        let n = s.read(&mut chunk[..room]).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Serve one connection: requests one after another (keep-alive) until it closes, breaks a
/// limit, or upgrades to a WebSocket.
/// What a request head says, once it parsed and is within limits.
pub(super) struct Parsed<'h, 'b> {
    pub method: &'b str,
    pub target: &'b str,
    pub headers: &'h [httparse::Header<'b>],
    /// The client asked to close (or speaks HTTP/1.0).
    pub close: bool,
    pub body_len: usize,
}

/// Parse a complete request head (`head` ends with its blank line). Err: the answer to send
/// before closing, and whether it counts as a limit rejection.
pub(super) fn parse_head<'h, 'b>(
    head: &'b [u8],
    hdrs: &'h mut [httparse::Header<'b>],
) -> Result<Parsed<'h, 'b>, (Response, bool)> {
    let mut req = httparse::Request::new(hdrs);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => {
            return Err((Response::error(431, "more than 40 headers"), true))
        }
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err((Response::error(400, "malformed request"), true))
        }
    }
    let httparse::Request {
        method,
        path,
        version,
        headers,
    } = req;
    let headers: &'h [httparse::Header<'b>] = headers;
    let get = |name: &str| {
        headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let close =
        version != Some(1) || get("connection").is_some_and(|v| v.eq_ignore_ascii_case(b"close"));
    // Body: Content-Length only, bounded.
    if get("transfer-encoding").is_some() {
        let r = Response::error(411, "send a Content-Length, not a chunked body");
        return Err((r, false));
    }
    let body_len = match get("content-length").map(|v| {
        std::str::from_utf8(v)
            .ok()
            .and_then(|t| t.trim().parse::<usize>().ok())
    }) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return Err((Response::error(400, "bad Content-Length"), false)),
    };
    if body_len > MAX_BODY_BYTES {
        return Err((Response::error(413, "request body over 16 KiB"), true));
    }
    Ok(Parsed {
        method: method.unwrap_or(""),
        target: path.unwrap_or(""),
        headers,
        close,
        body_len,
    })
}

/// The answer to an authorised HTTP request (WebSocket upgrades are handled before this):
/// a CORS preflight, or the route's; a HEAD request gets the head only.
pub(super) fn answer(request: &Request<'_>, ctx: &Ctx, cors_allowed: bool) -> Response {
    let resp = if request.method == "OPTIONS" {
        if cors_allowed {
            Response {
                status: 204,
                content_type: "text/plain",
                body: Vec::new(),
                extra: vec![("Access-Control-Max-Age", "600".into())],
            }
        } else {
            Response::error(403, "origin not allowed")
        }
    } else {
        routes::route(request, ctx)
    };
    if request.method == "HEAD" {
        Response {
            body: Vec::new(),
            ..resp
        }
    } else {
        resp
    }
}
