//! `netwatch block ADDR`, `netwatch unblock ADDR`, `netwatch blocks`: asked of the running
//! daemon over its API (it holds the blocks and applies the guard rails), on the first
//! address of `web.listen`, with the token `netwatch token` prints.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use netwatch::config::{Config, ConfigSource};
use netwatch::json_reader::{parse, JsonValue};
use netwatch::notify::deliver::{request, status_code};

use super::{load_config, Fail};

pub const USAGE: &str = "\
netwatch block ADDR [--for DURATION] [--reason TEXT] [-c CONFIG | --uci UCIFILE] [--api URL]
netwatch unblock ADDR [-c CONFIG | --uci UCIFILE] [--api URL]
netwatch blocks [--json] [-c CONFIG | --uci UCIFILE] [--api URL]

Without -c or --uci: /etc/netwatch/netwatch.toml, else /etc/config/netwatch (OpenWrt), if
present; else the built-in defaults.

Blocking ([respond], mode \"suggest\" or \"block\"): the running daemon puts ADDR into its
nftables table (inet netwatch) for DURATION (default respond.duration_s; 90s, 30m, 1h, 2d
or seconds). It refuses this router's own addresses, its gateway, its DNS servers,
respond.allow, the LAN unless respond.block_lan, and a SYN flood's sources; `block` prints
the refusal's reason and exits 1. `blocks` lists the blocks in force and the latest events
(block, unblock, expire, refuse) with their reasons.

OPTIONS:
    --for DURATION    How long (60 s to 30 days)
    --reason TEXT     Why (stored and shown with the block)
    --api URL         The daemon's web address (default: from web.listen)
    --json            `blocks`: the API's JSON as it is
    -h, --help        This help
";

/// `90`, `90s`, `30m`, `1h`, `2d` in seconds.
pub fn duration(s: &str) -> Option<u64> {
    let (n, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = n.parse().ok()?;
    let k = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(k).filter(|v| (60..=30 * 86_400).contains(v))
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The daemon's API base URL and token.
fn api(cfg: &Config, over: Option<String>) -> Result<(String, String), Fail> {
    let token = match &cfg.web.token {
        netwatch::config::WebToken::Off => String::new(),
        netwatch::config::WebToken::Fixed(t) => t.clone(),
        netwatch::config::WebToken::Generated => {
            let dir = cfg.state_dir();
            netwatch::web::load_or_create_token(&dir)
                .map(|(t, _, _)| t)
                .map_err(|e| Fail::Runtime(format!("web token in {}: {e}", dir.display())))?
        }
    };
    if let Some(u) = over {
        return Ok((u.trim_end_matches('/').to_string(), token));
    }
    let first = cfg.web.listen.first().ok_or_else(|| {
        Fail::Config("web.listen is empty: the daemon has no API to ask (or give --api URL)".into())
    })?;
    let sock = match first {
        netwatch::web::config::ListenAddr::Socket(a) => *a,
        netwatch::web::config::ListenAddr::Iface(name, port) => {
            let ip = netwatch::web::iface_addrs(name)
                .into_iter()
                .next()
                .ok_or_else(|| {
                    Fail::Runtime(format!(
                        "{name} has no address (web.listen); give --api URL"
                    ))
                })?;
            std::net::SocketAddr::new(ip, *port)
        }
    };
    let ip = match sock.ip() {
        std::net::IpAddr::V4(v) if v.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v) if v.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    Ok((
        format!("http://{}", std::net::SocketAddr::new(ip, sock.port())),
        token,
    ))
}

/// One call; the status and the body (as text), or why there is none.
fn call(method: &str, url: &str, body: &str, token: &str) -> Result<(u16, String), Fail> {
    let (head, b) =
        request(method, url, body, token, Duration::from_secs(10), true).map_err(|o| {
            Fail::Runtime(format!(
                "cannot reach the daemon at {url} ({o}); is `netwatch run` running?"
            ))
        })?;
    let status =
        status_code(&head).ok_or_else(|| Fail::Runtime(format!("{url} did not answer in HTTP")))?;
    Ok((status, String::from_utf8_lossy(&b).into_owned()))
}

fn error_text(body: &str) -> String {
    match parse(body.as_bytes()) {
        Ok(v) => match v.get("error") {
            Some(JsonValue::Str(s)) => s.clone(),
            _ => body.trim().to_string(),
        },
        Err(_) => body.trim().chars().take(200).collect(),
    }
}

fn str_of<'a>(v: &'a JsonValue, k: &str) -> &'a str {
    match v.get(k) {
        Some(JsonValue::Str(s)) => s,
        _ => "",
    }
}

fn int_of(v: &JsonValue, k: &str) -> i64 {
    match v.get(k) {
        Some(JsonValue::Int(n)) => *n,
        _ => 0,
    }
}

fn list_of<'a>(v: &'a JsonValue, k: &str) -> &'a [JsonValue] {
    match v.get(k) {
        Some(JsonValue::Array(a)) => a,
        _ => &[],
    }
}

pub fn blocks(which: &str, mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let mut config = ConfigSource::installed();
    let (mut addr, mut secs, mut reason, mut over, mut json) =
        (None, 0u64, String::new(), None, false);
    while let Some(a) = p.next().map_err(usage)? {
        match a {
            Short('c') | Long("config") => {
                config = ConfigSource::Toml(PathBuf::from(p.value().map_err(usage)?))
            }
            Long("uci") => config = ConfigSource::Uci(PathBuf::from(p.value().map_err(usage)?)),
            Long("api") => over = Some(p.value().map_err(usage)?.string().map_err(usage)?),
            Long("for") if which == "block" => {
                let v = p.value().map_err(usage)?.string().map_err(usage)?;
                secs = duration(&v).ok_or_else(|| {
                    Fail::Usage(format!(
                        "--for {v}: a duration from 60s to 30d (90s, 30m, 1h, 2d)"
                    ))
                })?;
            }
            Long("reason") if which == "block" => {
                reason = p.value().map_err(usage)?.string().map_err(usage)?
            }
            Long("json") if which == "blocks" => json = true,
            Long("help") | Short('h') => {
                print!("{USAGE}");
                return Ok(());
            }
            Value(v) if which != "blocks" && addr.is_none() => {
                let v = v.string().map_err(usage)?;
                addr =
                    Some(v.parse::<std::net::IpAddr>().map_err(|_| {
                        Fail::Usage(format!("`{v}` is not an IPv4 or IPv6 address"))
                    })?);
            }
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    let cfg = load_config(&config)?;
    let (base, token) = api(&cfg, over)?;
    let url = format!("{base}/api/blocks");
    if which == "blocks" {
        let (status, body) = call("GET", &url, "", &token)?;
        if status != 200 {
            return Err(Fail::Runtime(format!(
                "{url}: HTTP {status}: {}",
                error_text(&body)
            )));
        }
        if json {
            println!("{}", body.trim());
            return Ok(());
        }
        let v = parse(body.as_bytes())
            .map_err(|e| Fail::Runtime(format!("{url}: not JSON ({})", e.msg)))?;
        println!(
            "mode {}{}",
            str_of(&v, "mode"),
            match v.get("nft_ok") {
                Some(JsonValue::Bool(false)) =>
                    format!(" — nft not working: {}", str_of(&v, "last_error")),
                _ => String::new(),
            }
        );
        let now = now_s();
        let blocks = list_of(&v, "blocks");
        println!("{} address(es) blocked", blocks.len());
        for b in blocks {
            println!(
                "  {:<39} {:>6} s left  {}  {}",
                str_of(b, "addr"),
                (int_of(b, "until") - now).max(0),
                if matches!(b.get("manual"), Some(JsonValue::Bool(true))) {
                    "by hand "
                } else {
                    "on alert"
                },
                str_of(b, "reason").escape_debug()
            );
        }
        let events = list_of(&v, "events");
        if !events.is_empty() {
            println!("latest events:");
        }
        for e in events.iter().take(20) {
            println!(
                "  {:>6} s ago  {:<8} {:<39} {}",
                (now - int_of(e, "ts")).max(0),
                str_of(e, "action"),
                str_of(e, "addr"),
                str_of(e, "reason").escape_debug()
            );
        }
        return Ok(());
    }
    let Some(addr) = addr else {
        return Err(Fail::Usage(format!("usage:\n{USAGE}")));
    };
    let (method, target, body) = if which == "block" {
        let mut b = format!("{{\"addr\":\"{addr}\"");
        if secs > 0 {
            b.push_str(&format!(",\"for_s\":{secs}"));
        }
        if !reason.is_empty() {
            let mut r = String::new();
            netwatch::output::json::string(&mut r, &reason);
            b.push_str(&format!(",\"reason\":{r}"));
        }
        b.push('}');
        ("POST", url.clone(), b)
    } else {
        ("DELETE", format!("{url}/{addr}"), String::new())
    };
    let asked = now_s();
    let (status, body) = call(method, &target, &body, &token)?;
    match status {
        202 => {}
        409 => return Err(Fail::Config(error_text(&body))),
        s => {
            return Err(Fail::Runtime(format!(
                "{target}: HTTP {s}: {}",
                error_text(&body)
            )))
        }
    }
    // The daemon applies it at its next tick (a second); its answer is in the list.
    let end = Instant::now() + Duration::from_secs(10);
    let want = if which == "block" { "block" } else { "unblock" };
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(300));
        let (s, b) = call("GET", &url, "", &token)?;
        let Ok(v) = parse(b.as_bytes()) else { continue };
        if s != 200 {
            continue;
        }
        let mine = list_of(&v, "events").iter().find(|e| {
            str_of(e, "addr").parse::<std::net::IpAddr>().ok() == Some(addr)
                && int_of(e, "ts") >= asked
                && matches!(str_of(e, "action"), "block" | "unblock" | "refuse")
        });
        match mine.map(|e| (str_of(e, "action"), e)) {
            Some(("refuse", e)) => {
                return Err(Fail::Runtime(format!(
                    "not blocked: {}",
                    str_of(e, "reason")
                )))
            }
            Some((a, e)) if a == want => {
                if a == "block" {
                    println!(
                        "blocked {addr} for {} s: {}",
                        int_of(e, "until") - int_of(e, "ts"),
                        str_of(e, "reason")
                    );
                } else {
                    println!("unblocked {addr}");
                }
                return Ok(());
            }
            _ => {}
        }
    }
    Err(Fail::Runtime(
        "the daemon did not answer within 10 s (see its log)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations() {
        assert_eq!(duration("1h"), Some(3600));
        assert_eq!(duration("90s"), Some(90));
        assert_eq!(duration("600"), Some(600));
        assert_eq!(duration("2d"), Some(172_800));
        assert_eq!(duration("30"), None, "under a minute");
        assert_eq!(duration("31d"), None);
        assert_eq!(duration("1w"), None);
        assert_eq!(duration("h"), None);
    }
}
