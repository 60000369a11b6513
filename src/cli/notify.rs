//! `netwatch notify test`: a test message to every notification target.

use std::path::PathBuf;
use std::time::Duration;

use netwatch::config::ConfigSource;

use super::{load_config, Fail};

pub const USAGE: &str = "\
netwatch notify test [-c CONFIG | --uci UCIFILE]

Without -c or --uci: /etc/netwatch/netwatch.toml, else /etc/config/netwatch (OpenWrt), if
present; else the built-in defaults.

Sends a test message to every target of [notify] (a webhook, ntfy, Gotify, Slack or Discord)
as the daemon would, waits for each delivery (retries included: up to timeout_s a try and
2.5 minutes between tries), and says what became of it. Exits 0 when every target took it,
1 when one did not, 2 when the configuration has no target or is invalid.
";

pub fn notify(mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let mut config = ConfigSource::installed();
    let mut action = None;
    while let Some(a) = p.next().map_err(usage)? {
        match a {
            Short('c') | Long("config") => {
                config = ConfigSource::Toml(PathBuf::from(p.value().map_err(usage)?))
            }
            Long("uci") => config = ConfigSource::Uci(PathBuf::from(p.value().map_err(usage)?)),
            Long("help") | Short('h') => {
                print!("{USAGE}");
                return Ok(());
            }
            Value(v) if action.is_none() => action = Some(v.string().map_err(usage)?),
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    if action.as_deref() != Some("test") {
        return Err(Fail::Usage(format!("usage:\n{USAGE}")));
    }
    let cfg = load_config(&config)?;
    let Some(n) = netwatch::notify::Notifier::start(&cfg.notify) else {
        return Err(Fail::Config(
            "[notify] has no targets: nothing to test".into(),
        ));
    };
    let sent = n.test();
    let per_try = Duration::from_secs(cfg.notify.timeout_s as u64 + 1);
    let within = per_try * 4 + Duration::from_secs(5 + 30 + 120);
    let drained = n.drain(within);
    let c = n.counters();
    println!(
        "notify: test message to {sent} target(s): {} delivered, {} failed{}",
        c.delivered,
        c.failed,
        if drained {
            ""
        } else {
            ", still trying when given up"
        }
    );
    if !c.last_error.is_empty() {
        println!("notify: last error: {}", c.last_error);
    }
    if drained && c.failed == 0 && c.delivered == sent as u64 {
        Ok(())
    } else {
        Err(Fail::Runtime(
            "not every target took the test message".into(),
        ))
    }
}
