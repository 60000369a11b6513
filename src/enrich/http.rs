//! The HTTP client: plain HTTP/1.1 to a LAN machine, `Connection: close`, the reply head
//! parsed by `httparse`, `Content-Length` or chunked bodies up to `MAX_BODY`, and the reply's
//! text taken out of the chat completion JSON.

use std::fmt::Write as _;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reply head and body limits.
pub const MAX_HEAD: usize = 8 * 1024;
pub const MAX_BODY: usize = 256 * 1024;

/// `http://HOST[:PORT]/PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Endpoint {
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        let rest = s.strip_prefix("http://").ok_or_else(|| {
            if s.starts_with("https://") {
                format!("`{s}`: only plain http:// is supported (a LAN machine; see README)")
            } else {
                format!("`{s}` is not an http:// URL")
            }
        })?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/v1/chat/completions"),
        };
        let path = if path == "/" {
            "/v1/chat/completions"
        } else {
            path
        };
        if path.bytes().any(|b| b <= b' ' || b >= 0x7f) || path.contains('#') {
            return Err(format!("`{s}`: the path has spaces or control characters"));
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6
                .split_once(']')
                .ok_or_else(|| format!("`{s}`: unclosed [ in the host"))?;
            (h.to_string(), p)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), if p.is_empty() { "" } else { p }),
                None => (hostport.to_string(), ""),
            }
        };
        let port = match port.strip_prefix(':').unwrap_or(port) {
            "" => 80,
            p => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("`{s}`: `{p}` is not a port"))?,
        };
        if host.is_empty()
            || host.len() > 253
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b))
            || host.contains("@")
        {
            return Err(format!("`{s}`: `{host}` is not a host name or address"));
        }
        Ok(Endpoint {
            host,
            port,
            path: path.to_string(),
        })
    }

    pub(super) fn host_header(&self) -> String {
        let h = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }
}

/// What went wrong with one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    Connect(String),
    Timeout,
    Status(u16),
    Reply(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "cannot connect: {e}"),
            Failure::Timeout => f.write_str("no complete reply within enrich.timeout_s"),
            Failure::Status(s) => write!(f, "HTTP status {s}"),
            Failure::Reply(e) => write!(f, "unusable reply: {e}"),
        }
    }
}

/// Take the text out of a chat completion reply body: `choices[0].message.content`, control
/// characters (but newlines) dropped, trimmed, cut at a character boundary to `max` bytes.
pub fn reply_text(body: &[u8], max: usize) -> Result<String, Failure> {
    let v = crate::json_reader::parse(body)
        .map_err(|e| Failure::Reply(format!("not JSON ({} at byte {})", e.msg, e.offset)))?;
    let content = v
        .get("choices")
        .and_then(|c| match c {
            crate::json_reader::JsonValue::Array(a) => a.first(),
            _ => None,
        })
        .and_then(|c| c.get("message"))
        .and_then(|m| m.get("content"));
    let Some(crate::json_reader::JsonValue::Str(s)) = content else {
        return Err(Failure::Reply(
            "no choices[0].message.content string".into(),
        ));
    };
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.trim().chars() {
        if c.is_control() && c != '\n' {
            continue;
        }
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    if out.trim().is_empty() {
        return Err(Failure::Reply("empty content".into()));
    }
    Ok(out)
}

/// Decode a chunked body (`Transfer-Encoding: chunked`), `None` while incomplete or invalid.
pub(super) fn dechunk(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let line_end = b[i..].windows(2).position(|w| w == b"\r\n")? + i;
        let size_txt = std::str::from_utf8(&b[i..line_end]).ok()?;
        let size_txt = size_txt.split(';').next()?.trim();
        let n = usize::from_str_radix(size_txt, 16).ok()?;
        i = line_end + 2;
        if n == 0 {
            return Some(out);
        }
        // A size near usize::MAX must not wrap (a wrapped sum would pass the length test).
        if n > MAX_BODY - out.len() || b.len().saturating_sub(i) < n.saturating_add(2) {
            return None;
        }
        out.extend_from_slice(&b[i..i + n]);
        i += n + 2;
    }
}

/// Send one request and read the reply text (no overall timeout here; the caller has one).
pub async fn exchange(
    ep: &Endpoint,
    api_key: &str,
    body: &str,
    max: usize,
) -> Result<String, Failure> {
    let mut s = tokio::net::TcpStream::connect((ep.host.as_str(), ep.port))
        .await
        .map_err(|e| Failure::Connect(e.to_string()))?;
    let mut req = String::with_capacity(body.len() + 256);
    let _ = write!(
        req,
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: netwatch/{}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nConnection: close\r\nContent-Length: {}\r\n",
        ep.path,
        ep.host_header(),
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    if !api_key.is_empty() {
        let _ = write!(req, "Authorization: Bearer {api_key}\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| Failure::Connect(e.to_string()))?;
    read_reply(&mut s, max).await
}

/// Read an HTTP reply (head within 8 KiB, body within 256 KiB by Content-Length, chunks or
/// the end of the connection) and take its text out with [`reply_text`].
pub async fn read_reply<R: tokio::io::AsyncRead + Unpin>(
    s: &mut R,
    max: usize,
) -> Result<String, Failure> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    // Read the head.
    let (status, head_len, length, chunked) = loop {
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| Failure::Reply(e.to_string()))?;
        if n == 0 {
            return Err(Failure::Reply(
                "connection closed before a reply head".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 48];
        let mut r = httparse::Response::new(&mut headers);
        match r.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let mut length = None;
                let mut chunked = false;
                for h in r.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        length = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse::<usize>().ok());
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = h
                            .value
                            .to_ascii_lowercase()
                            .windows(7)
                            .any(|w| w == b"chunked");
                    }
                }
                break (r.code.unwrap_or(0), len, length, chunked);
            }
            Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(Failure::Reply("reply head over 8 KiB".into()))
            }
            Err(e) => return Err(Failure::Reply(format!("bad reply head ({e})"))),
        }
    };
    if !(200..300).contains(&status) {
        return Err(Failure::Status(status));
    }
    if length.is_some_and(|l| l > MAX_BODY) {
        return Err(Failure::Reply("reply body over 256 KiB".into()));
    }
    let mut body = buf.split_off(head_len);
    loop {
        if let Some(l) = length {
            if body.len() >= l {
                body.truncate(l);
                break;
            }
        } else if chunked {
            if let Some(b) = dechunk(&body) {
                body = b;
                break;
            }
        }
        if body.len() > MAX_BODY + 64 * 1024 {
            return Err(Failure::Reply("reply body over 256 KiB".into()));
        }
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| Failure::Reply(e.to_string()))?;
        if n == 0 {
            if length.is_some() || chunked {
                return Err(Failure::Reply("reply body cut short".into()));
            }
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    reply_text(&body, max)
}
