//! `netwatch alerts`: list stored alerts (or incidents), filtered, as text or JSON.

use std::io::Write;
use std::path::PathBuf;

use netwatch::config::ConfigSource;

use super::{store_of, Fail};

pub const USAGE: &str = "\
netwatch alerts [-c CONFIG | --uci UCIFILE | --db FILE] [OPTIONS]

Without -c or --uci: /etc/netwatch/netwatch.toml, else /etc/config/netwatch (OpenWrt), if
present; else the built-in defaults.

Lists alerts from the SQLite store, newest first, across the current file and the rotated
ones (FILE, FILE.1, ...). The database is the config's store.path unless --db is given.
Addresses and domains are printed escaped: they are attacker data.

OPTIONS:
    --db FILE         Database file (default: store.path of the config)
    --keep N          Files to read with --db (default: store.keep of the config)
    --rule RULE       Only this rule (portscan.vertical, synflood, sensor.health, ...)
    --src IP          Only alerts from this source address
    --severity N      Only alerts of severity N or more severe (1 high .. 3 low)
    --since SECONDS   Only alerts of the last SECONDS seconds
    --limit N         At most N alerts (default 100)
    --incidents       List incidents instead: one row per attack (rule family, subject,
                      state, alerts and sightings so far, the latest summary); --rule takes
                      a family (portscan) or a rule name, --since the latest sighting
    --incident ID     Only the alerts of incident ID
    --json            Print each alert's EVE JSON line (with --incidents, each incident as
                      the API's JSON object) instead of a table
    --explain         Under each alert, its plain-language explanation and, when enrichment
                      is on and the language model answered, the model's reply
    -h, --help        This help
";

pub fn alerts(mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let (mut config, mut db, mut keep, mut json) = (ConfigSource::installed(), None, None, false);
    let (mut explain, mut incidents) = (false, false);
    let mut q = netwatch::store::Query {
        limit: 100,
        ..Default::default()
    };
    let num = super::number;
    while let Some(a) = p.next().map_err(usage)? {
        match a {
            Short('c') | Long("config") => {
                config = ConfigSource::Toml(PathBuf::from(p.value().map_err(usage)?))
            }
            Long("uci") => config = ConfigSource::Uci(PathBuf::from(p.value().map_err(usage)?)),
            Long("db") => db = Some(PathBuf::from(p.value().map_err(usage)?)),
            Long("keep") => keep = Some(num(&mut p, "--keep")?.clamp(1, 16) as u32),
            Long("rule") => q.rule = Some(p.value().map_err(usage)?.string().map_err(usage)?),
            Long("src") => q.src = Some(p.value().map_err(usage)?.string().map_err(usage)?),
            Long("severity") => q.max_severity = Some(num(&mut p, "--severity")?.min(3) as u8),
            Long("since") => {
                let s = num(&mut p, "--since")? as i64;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_micros() as i64)
                    .unwrap_or(0);
                q.since_us = Some(now - s.saturating_mul(1_000_000));
            }
            Long("limit") => q.limit = num(&mut p, "--limit")?.clamp(1, 1_000_000) as usize,
            Long("json") => json = true,
            Long("incidents") => incidents = true,
            Long("incident") => q.incident = Some(num(&mut p, "--incident")? as i64),
            Long("explain") => explain = true,
            Long("help") | Short('h') => {
                print!("{USAGE}");
                return Ok(());
            }
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    let (cfg, path, keep) = store_of(&config, db, keep)?;
    if incidents {
        return list_incidents(&cfg, &path, keep, q, json, explain);
    }
    let rows = netwatch::store::query(&path, keep, &q).map_err(|e| Fail::Runtime(e.to_string()))?;
    let stdout = std::io::stdout();
    let mut o = std::io::BufWriter::new(stdout.lock());
    for r in &rows {
        let res = if json {
            writeln!(o, "{}", r.eve)
        } else {
            let mut ts = String::new();
            let _ = netwatch::detect::write_timestamp(&mut ts, r.ts);
            writeln!(
                o,
                "{ts}  {:<19} sev {}  {} -> {}:{} {}  x{}  {}",
                r.rule,
                r.severity,
                r.src.escape_debug(),
                r.dst.escape_debug(),
                r.dport,
                r.proto,
                r.repeats + 1,
                r.summary.escape_debug()
            )
            .and_then(|()| {
                if !explain {
                    return Ok(());
                }
                if !r.explanation.is_empty() {
                    writeln!(o, "    {}", Printable(&r.explanation))?;
                }
                match &r.enrichment {
                    Some(t) => writeln!(o, "    language model: {}", Printable(t)),
                    None => Ok(()),
                }
            })
        };
        if res.is_err() {
            break;
        }
    }
    let _ = o.flush();
    Ok(())
}

/// `--incidents`: the alerts query's filters applied to incidents; states judged now.
fn list_incidents(
    cfg: &netwatch::config::Config,
    path: &std::path::Path,
    keep: u32,
    q: netwatch::store::Query,
    json: bool,
    explain: bool,
) -> Result<(), Fail> {
    if let Some(r) = &q.rule {
        if netwatch::detect::incident::family_of_name(r).is_none() {
            return Err(Fail::Usage(format!("--rule `{r}` is no rule or family")));
        }
    }
    let iq = netwatch::store::IncidentQuery {
        since_us: q.since_us,
        rule: q.rule,
        src: q.src,
        max_severity: q.max_severity,
        limit: q.limit,
        ..Default::default()
    };
    let rows =
        netwatch::store::incidents(path, keep, &iq).map_err(|e| Fail::Runtime(e.to_string()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let stdout = std::io::stdout();
    let mut o = std::io::BufWriter::new(stdout.lock());
    for r in &rows {
        let state = netwatch::detect::incident::state(
            r.last_seen,
            now,
            cfg.suppress_s,
            cfg.incident_idle_s,
        );
        let res = if json {
            let mut b = String::with_capacity(1024);
            r.write_json(&mut b, state);
            writeln!(o, "{b}")
        } else {
            let (mut first, mut last) = (String::new(), String::new());
            let _ = netwatch::detect::write_timestamp(&mut first, r.first_seen);
            let _ = netwatch::detect::write_timestamp(&mut last, r.last_seen);
            writeln!(
                o,
                "#{:<5} {first} .. {last}  {:<12} sev {}  {:<6}  {} -> {}  {} alert(s), {} sighting(s), {} victim(s)  {}",
                r.id,
                r.rule,
                r.severity,
                state,
                r.src.escape_debug(),
                r.dst.escape_debug(),
                r.alerts,
                r.events,
                r.victims,
                r.summary.escape_debug()
            )
            .and_then(|()| {
                if explain && !r.explanation.is_empty() {
                    writeln!(o, "    {}", Printable(&r.explanation))
                } else {
                    Ok(())
                }
            })
        };
        if res.is_err() {
            break;
        }
    }
    let _ = o.flush();
    Ok(())
}

/// Text for a terminal: control characters (which untrusted text may carry) escaped, the rest
/// as is.
/// Text with control characters escaped (stored text came off the wire).
pub(super) struct Printable<'a>(pub(super) &'a str);

impl std::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}
