//! Who may look: one bearer token for the whole API.
//!
//! Every `/api/`, `/ws/` and `/metrics` request carries the token, as
//! `Authorization: Bearer TOKEN` or — for browsers, which cannot set headers on a WebSocket —
//! as a `Sec-WebSocket-Protocol` entry `netwatch.token.TOKEN`. `/healthz` and the dashboard's
//! own files are public (they show nothing of the network). The comparison takes the same
//! time wherever the first difference is. The token comes from `web.token`, or is generated on
//! first start into `<state dir>/web.token` (mode 0600) and printed by `netwatch token`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::http::{Request, Response};

/// The generated token's file, in the state directory.
pub const TOKEN_FILE: &str = "web.token";
/// The WebSocket subprotocol prefix that carries the token.
pub const WS_TOKEN_PREFIX: &str = "netwatch.token.";

pub struct Auth {
    token: Option<Vec<u8>>,
}

/// Equal in time independent of where `a` and `b` differ (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut d = 0u8;
    for (x, y) in a.iter().zip(b) {
        d |= x ^ y;
    }
    // Keep the compiler from turning the loop into an early exit.
    std::hint::black_box(d) == 0
}

/// Paths anyone may fetch: the health check and the dashboard's files.
fn is_public(path: &str) -> bool {
    path == "/healthz"
        || !(path.starts_with("/api/") || path.starts_with("/ws/") || path == "/metrics")
}

impl Auth {
    pub fn new(token: Option<String>) -> Auth {
        Auth {
            token: token.map(String::into_bytes),
        }
    }

    /// The token the request presents, if any.
    fn presented<'a>(r: &'a Request<'_>) -> Option<&'a str> {
        if let Some(v) = r.header("authorization") {
            let (scheme, t) = v.trim().split_once(' ')?;
            return scheme.eq_ignore_ascii_case("bearer").then(|| t.trim());
        }
        r.header("sec-websocket-protocol")?
            .split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix(WS_TOKEN_PREFIX))
    }

    /// None when the request may go on; otherwise the 401 to send.
    pub fn check(&self, r: &Request<'_>) -> Option<Response> {
        let want = self.token.as_deref()?;
        if is_public(r.path) || r.method == "OPTIONS" {
            return None;
        }
        match Self::presented(r) {
            Some(t) if constant_time_eq(t.as_bytes(), want) => None,
            got => {
                let mut resp = Response::error(
                    401,
                    if got.is_some() {
                        "wrong token"
                    } else {
                        "a token is needed: Authorization: Bearer TOKEN (see `netwatch token`)"
                    },
                );
                resp.extra
                    .push(("WWW-Authenticate", "Bearer realm=\"netwatch\"".into()));
                Some(resp)
            }
        }
    }
}

/// 32 hex digits from the kernel's random source.
fn new_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The token in `dir/web.token`, created (mode 0600) when there is none. Returns the token,
/// the file, and whether it was created now.
pub fn load_or_create_token(dir: &Path) -> std::io::Result<(String, PathBuf, bool)> {
    let path = dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) => {
            let t = t.trim().to_string();
            if t.len() >= 16
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
            {
                return Ok((t, path, false));
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: not a token (16+ characters of A-Z a-z 0-9 - . _ ~); delete it to get a new one", path.display()),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(dir)?;
    let t = new_token()?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(t.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok((t, path, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeg"));
        assert!(!constant_time_eq(b"abcdef", b"xbcdef"));
        assert!(!constant_time_eq(b"abc", b"abcdef"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn public_paths() {
        assert!(is_public("/healthz"));
        assert!(is_public("/"));
        assert!(is_public("/assets/index.js"));
        assert!(!is_public("/api/alerts"));
        assert!(!is_public("/ws/alerts"));
        assert!(!is_public("/metrics"));
    }

    #[test]
    fn token_file_created_once_and_reread() {
        let d = std::env::temp_dir().join(format!("nw-token-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let (t1, p, created) = load_or_create_token(&d).unwrap();
        assert!(created);
        assert_eq!(t1.len(), 32);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (t2, _, created) = load_or_create_token(&d).unwrap();
        assert!(!created);
        assert_eq!(t1, t2);
        std::fs::write(&p, "short\n").unwrap();
        assert!(load_or_create_token(&d).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
