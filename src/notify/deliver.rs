//! Delivery of one message: an HTTP POST of a JSON body. `http://` with our own small client
//! (a LAN service: connect, send, read the status line, close); `https://` through the
//! system's `curl` (on OpenWrt: `opkg`/`apk add curl`), so no TLS library is built into the
//! binary — the certificates are the system's CA bundle, or a LAN service's own CA file.
//! (OpenWrt's own `uclient-fetch` is not used yet: upstream's current source has `--header`
//! and `--post-file`, which would do, but with the token on its command line; which OpenWrt
//! releases ship that version is still to be checked.) The body and the token go to curl on
//! its standard input, never on its command line (which other users of the machine can read).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a delivery ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx status.
    Delivered(u16),
    /// Another status (the target refused; 5xx is worth another try, 4xx is not).
    Status(u16),
    /// No answer within the time allowed.
    Timeout,
    /// Could not connect, or the answer was not HTTP, or the fetcher could not run.
    Failed(String),
}

impl Outcome {
    /// Worth another try later.
    pub fn retry(&self) -> bool {
        match self {
            Outcome::Delivered(_) => false,
            Outcome::Status(s) => *s >= 500 || *s == 429,
            Outcome::Timeout | Outcome::Failed(_) => true,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Delivered(s) => write!(f, "delivered (HTTP {s})"),
            Outcome::Status(s) => write!(f, "refused with HTTP {s}"),
            Outcome::Timeout => f.write_str("no answer in time"),
            Outcome::Failed(e) => f.write_str(e),
        }
    }
}

/// Host, port and path of an `http://` URL (validated by the config: no user info).
fn split_http(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let end = r.find(']')?;
        let port = r[end + 1..]
            .strip_prefix(':')
            .map_or(Some(80), |p| p.parse().ok())?;
        (r[..end].to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (authority.to_string(), 80),
        }
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    (!host.is_empty() && port != 0).then_some((host, port, path))
}

/// POST `body` to an `http://` URL; only the status line of the answer is read.
fn post_http(url: &str, body: &str, token: &str, timeout: Duration) -> Outcome {
    match request("POST", url, body, token, timeout, false) {
        Ok((head, _)) => status_of(&head),
        Err(o) => o,
    }
}

/// One HTTP/1.1 request to an `http://` URL (`Connection: close`), within `timeout`; the
/// answer's head, and with `whole` its body too (at most 1 MiB, read to the end).
pub fn request(
    method: &str,
    url: &str,
    body: &str,
    token: &str,
    timeout: Duration,
    whole: bool,
) -> Result<(Vec<u8>, Vec<u8>), Outcome> {
    let Some((host, port, path)) = split_http(url) else {
        return Err(Outcome::Failed(format!("not an http:// URL: {url}")));
    };
    let deadline = Instant::now() + timeout;
    let addrs: Vec<_> = match (host.as_str(), port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return Err(Outcome::Failed(format!("cannot resolve {host}: {e}"))),
    };
    let Some(addr) = addrs.first() else {
        return Err(Outcome::Failed(format!("{host} has no address")));
    };
    let mut s = match TcpStream::connect_timeout(addr, timeout) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(Outcome::Timeout),
        Err(e) => {
            return Err(Outcome::Failed(format!(
                "cannot connect to {host}:{port}: {e}"
            )))
        }
    };
    let left = |d: Instant| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let _ = s.set_write_timeout(Some(left(deadline)));
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: netwatch/{}\r\n\
         Content-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    if !token.is_empty() {
        req.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    if let Err(e) = s.write_all(req.as_bytes()) {
        return Err(match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Outcome::Timeout,
            _ => Outcome::Failed(format!("cannot send: {e}")),
        });
    }
    // The status line (or, with `whole`, everything up to 1 MiB) by the deadline.
    let mut got = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    let limit = if whole { 1 << 20 } else { 1024 };
    while got.len() < limit && (whole || !got.contains(&b'\n')) {
        let _ = s.set_read_timeout(Some(left(deadline)));
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Outcome::Timeout)
            }
            Err(e) => return Err(Outcome::Failed(format!("no answer: {e}"))),
        }
    }
    let split = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(got.len(), |i| i + 4);
    let body = got.split_off(split);
    Ok((got, body))
}

/// The status code of an HTTP answer's head (`None`: not HTTP).
pub fn status_code(head: &[u8]) -> Option<u16> {
    match status_of(head) {
        Outcome::Delivered(s) | Outcome::Status(s) => Some(s),
        _ => None,
    }
}

/// The outcome a status line gives (`HTTP/1.1 204 No Content`).
fn status_of(head: &[u8]) -> Outcome {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (Some(v), Some(code)) = (parts.next(), parts.next()) else {
        return Outcome::Failed("the answer is not HTTP".into());
    };
    match std::str::from_utf8(code)
        .ok()
        .and_then(|c| c.parse::<u16>().ok())
    {
        Some(s) if v.starts_with(b"HTTP/") && (200..300).contains(&s) => Outcome::Delivered(s),
        Some(s) if v.starts_with(b"HTTP/") && (100..600).contains(&s) => Outcome::Status(s),
        _ => Outcome::Failed("the answer is not HTTP".into()),
    }
}

/// A value in curl's configuration syntax (double quotes, backslash escapes).
fn curl_quoted(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// What curl reads on its standard input (`--config -`): every option that carries the body or
/// the token.
pub fn curl_config(url: &str, body: &str, token: &str, ca_file: &str) -> String {
    let mut c = format!("url = {}\n", curl_quoted(url));
    c.push_str("header = \"Content-Type: application/json\"\n");
    if !token.is_empty() {
        c.push_str(&format!(
            "header = {}\n",
            curl_quoted(&format!("Authorization: Bearer {token}"))
        ));
    }
    if !ca_file.is_empty() {
        c.push_str(&format!("cacert = {}\n", curl_quoted(ca_file)));
    }
    c.push_str(&format!("data-binary = {}\n", curl_quoted(body)));
    c
}

/// POST through curl (HTTPS).
fn post_curl(url: &str, body: &str, token: &str, ca_file: &str, timeout: Duration) -> Outcome {
    let secs = timeout.as_secs().max(1).to_string();
    let child = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--proto",
            "=https",
        ])
        .args([
            "--max-time",
            &secs,
            "--connect-timeout",
            &secs,
            "--config",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("cannot run curl for https:// ({e})")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(curl_config(url, body, token, ca_file).as_bytes());
    }
    let out = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => return Outcome::Failed(format!("curl: {e}")),
    };
    let code: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    match out.status.code() {
        Some(0) if (200..300).contains(&code) => Outcome::Delivered(code),
        Some(0) | Some(22) if code >= 100 => Outcome::Status(code),
        Some(28) => Outcome::Timeout,
        _ => {
            let err = String::from_utf8_lossy(&out.stderr);
            let err: String = err
                .trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            Outcome::Failed(format!("curl: {err}"))
        }
    }
}

/// POST `body` to `url` within `timeout`.
pub fn post(url: &str, body: &str, token: &str, ca_file: &str, timeout: Duration) -> Outcome {
    if url.starts_with("https://") {
        post_curl(url, body, token, ca_file, timeout)
    } else {
        post_http(url, body, token, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn urls_split_into_host_port_and_path() {
        assert_eq!(
            split_http("http://192.168.1.10:8080/hook?x=1"),
            Some(("192.168.1.10".into(), 8080, "/hook?x=1".into()))
        );
        assert_eq!(
            split_http("http://gotify.lan"),
            Some(("gotify.lan".into(), 80, "/".into()))
        );
        assert_eq!(
            split_http("http://[fd00::5]:81/m"),
            Some(("fd00::5".into(), 81, "/m".into()))
        );
        assert_eq!(
            split_http("http://h?q"),
            Some(("h".into(), 80, "/?q".into()))
        );
        assert_eq!(split_http("http://h:0/"), None);
        assert_eq!(split_http("http://:80/"), None);
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_of(b"HTTP/1.1 204 No Content\r\n"),
            Outcome::Delivered(204)
        );
        assert_eq!(status_of(b"HTTP/1.0 500 Oops\r\n"), Outcome::Status(500));
        assert!(Outcome::Status(503).retry() && !Outcome::Status(404).retry());
        assert!(matches!(
            status_of(b"SSH-2.0-OpenSSH\r\n"),
            Outcome::Failed(_)
        ));
        assert!(matches!(status_of(b""), Outcome::Failed(_)));
    }

    #[test]
    fn curl_gets_body_and_token_as_quoted_config() {
        let c = curl_config(
            "https://ntfy.sh/t",
            "{\"m\":\"a\\\"b\"}",
            "tk\"1",
            "/etc/ca.pem",
        );
        assert_eq!(
            c,
            "url = \"https://ntfy.sh/t\"\nheader = \"Content-Type: application/json\"\n\
             header = \"Authorization: Bearer tk\\\"1\"\ncacert = \"/etc/ca.pem\"\n\
             data-binary = \"{\\\"m\\\":\\\"a\\\\\\\"b\\\"}\"\n"
        );
    }

    /// A one-shot server answering with `reply` (or never, when empty) and handing back what
    /// it was sent.
    fn server(reply: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            let mut b = [0u8; 4096];
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            while let Ok(n) = s.read(&mut b) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&b[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"}") {
                    break;
                }
            }
            if reply.is_empty() {
                std::thread::sleep(Duration::from_secs(3));
            } else {
                let _ = s.write_all(reply.as_bytes());
            }
            String::from_utf8_lossy(&got).into_owned()
        });
        (url, t)
    }

    #[test]
    fn plain_http_posts_and_reads_the_status() {
        let (url, t) = server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let o = post(&url, "{\"a\":1}", "tok", "", Duration::from_secs(5));
        assert_eq!(o, Outcome::Delivered(200));
        let req = t.join().unwrap();
        assert!(req.starts_with("POST /hook HTTP/1.1\r\n"), "{req}");
        assert!(
            req.contains("Authorization: Bearer tok\r\n") && req.ends_with("{\"a\":1}"),
            "{req}"
        );
        let (url, t) = server("HTTP/1.1 500 Internal Server Error\r\n\r\n");
        assert_eq!(
            post(&url, "{}", "", "", Duration::from_secs(5)),
            Outcome::Status(500)
        );
        t.join().unwrap();
        // A target that never answers: a timeout, on time.
        let (url, t) = server("");
        let t0 = Instant::now();
        assert_eq!(
            post(&url, "{}", "", "", Duration::from_secs(1)),
            Outcome::Timeout
        );
        assert!(t0.elapsed() < Duration::from_secs(3));
        t.join().unwrap();
    }
}
