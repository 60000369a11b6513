//! `netwatch` command line: a thin layer over the library. See `netwatch --help`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use netwatch::alloc::{peak_heap_bytes, peak_rss_bytes, CountingAlloc};
use netwatch::capture::{CaptureError, FileCapture};
use netwatch::config::{Config, ConfigSource};
use netwatch::output::eve;
use netwatch::pipeline::Pipeline;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const USAGE: &str = "\
netwatch — network intrusion detection for routers and small boards

USAGE:
    netwatch run [-c CONFIG | --uci UCIFILE] [--iface IF]...
    netwatch replay FILE... [-c CONFIG | --uci UCIFILE] [--bpf EXPR] [--stats]
                    [--serve [--speed X] [--db FILE]]
    netwatch alerts [-c CONFIG | --uci UCIFILE | --db FILE] [--rule R] [--src IP]
                    [--severity N] [--since SECONDS] [--limit N] [--json] [--explain]
    netwatch check-config [--uci] FILE
    netwatch token [-c CONFIG | --uci UCIFILE]
    netwatch version
    netwatch help [COMMAND]

COMMANDS:
    run           The daemon: capture live on the configured interfaces (or --iface); alerts
                  to the SQLite store, syslog and EVE JSON (stdout and/or a file).
                  SIGHUP reloads the config, SIGTERM/SIGINT flush and exit.
    alerts        List stored alerts (newest first) across the kept database files.
    replay        Run the whole pipeline over a pcap/pcapng file as fast as possible.
                  Alerts go to stdout as Suricata EVE JSON, one object per line. With
                  --serve, at real time (or --speed X) through the web server.
    check-config  Validate a configuration file; prints the problem and exits 2 if invalid.
    token         Print the access token of the web API and dashboard.
    version       Print the version.

Exit codes: 0 ok; 1 runtime failure (missing, unreadable or truncated capture);
2 usage or configuration error (including a BPF expression that does not compile).
Run `netwatch help replay` for the options of a command.
";

const REPLAY_USAGE: &str = "\
netwatch replay FILE... [-c CONFIG | --uci UCIFILE] [--bpf EXPR] [--stats]
                   [--serve [--speed X] [--db FILE]]

Replays a capture file (pcap or pcapng, any link type NetWatch decodes) through the whole
pipeline — decoding, flows, windows and every detector — on packet time, so the alerts
are the ones a live run would have raised. Alerts are printed on stdout as EVE JSON lines.
Several files are replayed in the order given through one pipeline, as one capture (for
example the pieces `tcpdump -C` or `-G` rotated): a scan that spans two files is one scan.

OPTIONS:
    -c, --config FILE   TOML configuration (default: built-in defaults, `router` profile)
    --uci FILE          OpenWrt UCI configuration instead (e.g. /etc/config/netwatch)
    --bpf EXPR          Only packets matching this libpcap filter expression
    --stats             At the end, print one JSON object on stderr: `counters`
                        (deterministic: identical on every run and architecture) and `run`
                        (elapsed_s, pps, peak_rss_bytes, peak_heap_bytes)
    --serve             Replay at the capture's own pace through the web server
                        ([web] listen and token, as `run` has them), so the REST API,
                        WebSockets and dashboard can be shown without live traffic; keeps
                        serving after the end until Ctrl-C or SIGTERM
    --speed X           With --serve: X times faster than real time (0.01..1000000)
    --db FILE           With --serve: keep the alerts in FILE (default: a temporary
                        database, removed at exit)
    -h, --help          This help

A truncated or corrupt capture is processed up to the damage; then the error says where it
stopped (which file, which packet), later files are not read, and the exit code is 1.
";

const RUN_USAGE: &str = "\
netwatch run [-c CONFIG | --uci UCIFILE] [--iface IF]... [-v]

Captures live on every interface given with --iface (default: capture.interfaces of the
config, or else the interface of the default route), all feeding one pipeline on one thread. Alerts go to the outputs of the config:
EVE JSON lines on stdout ([eve] stdout) and/or a size-rotated file ([eve] path), the SQLite
store ([store] path; default /tmp/netwatch/netwatch.db on the router profile, in RAM) and
syslog ([syslog] target; default the local socket /dev/log). The start-up line says where.

Privileges: needs CAP_NET_RAW and CAP_NET_ADMIN. Started as root, it opens the captures,
hands the store directory to [daemon] user/group (default nobody/nogroup) and switches to
them keeping only those two capabilities; it refuses to stay root unless
daemon.allow_root = true. The config file must stay readable by that user: SIGHUP re-reads
it after the switch. Without root: `setcap cap_net_raw,cap_net_admin=eip netwatch`.

Runtime conditions are retried, not fatal: a missing interface (logged once, retried with
back-off up to 30 s), an unwritable or full store (alerts queued, errors logged once a
minute), an unreachable or unresolvable syslog collector (messages counted as dropped).
Each minute the sensor judges its own health and raises low-severity `sensor.health`
alerts for capture loss over 1 %, detector tables evicting over a tenth of their capacity,
a failing store or dropped syslog messages.

Every alert carries a plain-language explanation (EVE `netwatch.explanation`, the store, the
API, the dashboard; syslog a short form). `anomaly.host` compares each home_net host with its
own hourly baseline after [rules.anomaly] learning_days; the baselines are kept in the store.
With [enrich] endpoint set, alerts are also sent (fields only, never payloads) to a language
model on the LAN, off the packet path; its reply is stored and shown as text.

Web: the dashboard, REST API, WebSockets and /metrics on [web] listen (router profile:
the LAN bridge and 127.0.0.1, port 8787; [] turns it off), on a thread of its own. Requests
need the access token: `netwatch token` prints it (generated on first start into the store's
directory). Settings changed in the dashboard (PATCH /api/config) are kept there too, in
overrides.toml, laid over the config file at every load.

Signals: SIGHUP re-reads the config (thresholds, allowlists, timeouts, outputs; capacities
and the store path need a restart; an invalid file is refused and the old one stays).
SIGTERM/SIGINT judge pending state, write it out and exit, printing counters on stderr.

OPTIONS:
    -c, --config FILE   TOML configuration
    --uci FILE          OpenWrt UCI configuration
    -i, --iface IF      Interface to capture (repeatable)
    -v, --verbose       Log start-up facts and per-minute stats (info); -vv for debug
    -h, --help          This help

Exit codes: 0 after SIGTERM/SIGINT; 2 configuration error (refuses to start).
";

const ALERTS_USAGE: &str = "\
netwatch alerts [-c CONFIG | --uci UCIFILE | --db FILE] [OPTIONS]

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
    --json            Print each alert's EVE JSON line instead of a table
    --explain         Under each alert, its plain-language explanation and, when enrichment
                      is on and the language model answered, the model's reply
    -h, --help        This help
";

const TOKEN_USAGE: &str = "\
netwatch token [-c CONFIG | --uci UCIFILE]

Prints the token web clients must present (`Authorization: Bearer TOKEN`; the dashboard asks
for it once). With web.token unset it is generated on first use into the state directory
(the store's directory; default /tmp/netwatch on the router profile) as `web.token`, mode
0600 — run this as the user that started the daemon (root, for a service).
";

const CHECK_USAGE: &str = "\
netwatch check-config [--uci] FILE

Parses and validates FILE (TOML, or OpenWrt UCI with --uci). Unknown keys and out-of-range values are reported with the key,
the value and the allowed range (exit code 2). On success prints the profile and the memory
the fixed-size tables take, and the settings changed through the web API (overrides.toml in
the state directory) that are laid over the file.
";

enum Fail {
    Usage(String),
    Config(String),
    Runtime(String),
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(m)) => {
            eprintln!("netwatch: {m}\nRun `netwatch --help` for usage.");
            ExitCode::from(2)
        }
        Err(Fail::Config(m)) => {
            eprintln!("netwatch: {m}");
            ExitCode::from(2)
        }
        Err(Fail::Runtime(m)) => {
            eprintln!("netwatch: {m}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), Fail> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let cmd = match p.next().map_err(usage)? {
        Some(Value(v)) => v.string().map_err(usage)?,
        Some(Long("help") | Short('h')) | None => {
            print!("{USAGE}");
            return Ok(());
        }
        Some(Long("version") | Short('V')) => "version".to_string(),
        Some(a) => return Err(Fail::Usage(a.unexpected().to_string())),
    };
    match cmd.as_str() {
        "replay" => replay(p),
        "run" => run_daemon(p),
        "alerts" => alerts(p),
        "check-config" => check_config(p),
        "token" => token(p),
        "version" => {
            println!("netwatch {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "help" => {
            match p.next().map_err(usage)? {
                Some(Value(v)) if v == "replay" => print!("{REPLAY_USAGE}"),
                Some(Value(v)) if v == "run" => print!("{RUN_USAGE}"),
                Some(Value(v)) if v == "check-config" => print!("{CHECK_USAGE}"),
                Some(Value(v)) if v == "alerts" => print!("{ALERTS_USAGE}"),
                Some(Value(v)) if v == "token" => print!("{TOKEN_USAGE}"),
                _ => print!("{USAGE}"),
            }
            Ok(())
        }
        other => Err(Fail::Usage(format!("unknown command `{other}`"))),
    }
}

/// The effective configuration: the file (or the built-in defaults) with the settings changed
/// through the web API laid over it.
fn load_config(src: &ConfigSource) -> Result<Config, Fail> {
    src.load()
        .map(|(c, _)| c)
        .map_err(|e| Fail::Config(e.to_string()))
}

fn check_config(mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let mut file = None;
    let mut uci = false;
    while let Some(a) = p.next().map_err(usage)? {
        match a {
            Long("help") | Short('h') => {
                print!("{CHECK_USAGE}");
                return Ok(());
            }
            Long("uci") => uci = true,
            Value(v) if file.is_none() => file = Some(PathBuf::from(v)),
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    let file = file.ok_or_else(|| Fail::Usage("check-config needs a FILE".into()))?;
    let src = if uci {
        ConfigSource::Uci(file.clone())
    } else {
        ConfigSource::Toml(file.clone())
    };
    let (cfg, overrides) = src.load().map_err(|e| Fail::Config(e.to_string()))?;
    let bytes = Pipeline::new(&cfg).footprint_bytes();
    println!(
        "{}: ok (profile {}, {} flows, fixed tables {:.1} MiB)",
        file.display(),
        cfg.profile.name(),
        cfg.capacity.flows,
        bytes as f64 / (1024.0 * 1024.0)
    );
    if let Some(p) = overrides {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        println!(
            "settings changed through the web API, laid over the file ({}):\n{}",
            p.display(),
            text.trim_end()
        );
    }
    Ok(())
}

fn run_daemon(mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let (mut config, mut ifaces) = (ConfigSource::Builtin, Vec::new());
    let mut level = log::LevelFilter::Warn;
    while let Some(a) = p.next().map_err(usage)? {
        match a {
            Short('v') | Long("verbose") => {
                level = if level == log::LevelFilter::Warn {
                    log::LevelFilter::Info
                } else {
                    log::LevelFilter::Debug
                }
            }
            Short('c') | Long("config") => {
                config = ConfigSource::Toml(PathBuf::from(p.value().map_err(usage)?))
            }
            Long("uci") => config = ConfigSource::Uci(PathBuf::from(p.value().map_err(usage)?)),
            Short('i') | Long("iface") => {
                ifaces.push(p.value().map_err(usage)?.string().map_err(usage)?)
            }
            Long("help") | Short('h') => {
                print!("{RUN_USAGE}");
                return Ok(());
            }
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    netwatch::logger::init(level);
    let cfg = load_config(&config)?;
    if ifaces.is_empty() {
        ifaces = cfg.capture.interfaces.clone();
    }
    if ifaces.is_empty() {
        match netwatch::capture::default_interface() {
            Some(i) => {
                eprintln!(
                    "netwatch: no capture.interfaces configured: capturing on {i}, the interface of the default route"
                );
                ifaces.push(i);
            }
            None => {
                return Err(Fail::Config(
                    "no interface to capture and no default route: set capture.interfaces in the config or pass --iface"
                        .into(),
                ))
            }
        }
    }
    netwatch::daemon::run(cfg, ifaces, config).map_err(Fail::Runtime)
}

fn alerts(mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let (mut config, mut db, mut keep, mut json) = (ConfigSource::Builtin, None, None, false);
    let mut explain = false;
    let mut q = netwatch::store::Query {
        limit: 100,
        ..Default::default()
    };
    let num = |p: &mut lexopt::Parser, what: &str| -> Result<u64, Fail> {
        let v = p.value().map_err(usage)?.string().map_err(usage)?;
        v.parse::<u64>()
            .map_err(|_| Fail::Usage(format!("{what} needs a number, not `{v}`")))
    };
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
            Long("explain") => explain = true,
            Long("help") | Short('h') => {
                print!("{ALERTS_USAGE}");
                return Ok(());
            }
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    let cfg = load_config(&config)?;
    let path = db.unwrap_or_else(|| PathBuf::from(&cfg.store.path));
    if path.as_os_str().is_empty() {
        return Err(Fail::Config(
            "store.path is empty: no store configured".into(),
        ));
    }
    if !path.exists() {
        return Err(Fail::Runtime(format!(
            "{}: no such database",
            path.display()
        )));
    }
    let rows = netwatch::store::query(&path, keep.unwrap_or(cfg.store.keep), &q)
        .map_err(|e| Fail::Runtime(e.to_string()))?;
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

/// Text for a terminal: control characters (which untrusted text may carry) escaped, the rest
/// as is.
struct Printable<'a>(&'a str);

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

/// Where replayed alerts go: EVE lines on stdout, and with `--serve` the store and the web.
struct ReplaySink<W: Write> {
    out: W,
    line: String,
    write_failed: bool,
    store: Option<netwatch::store::Store>,
    web: Option<netwatch::web::Publisher>,
    enrich: Option<netwatch::enrich::Enricher>,
}

impl<W: Write> ReplaySink<W> {
    /// Store and publish the language model's replies that arrived.
    fn enrichments(&mut self) {
        let Some(e) = &self.enrich else { return };
        for (id, text) in e.take_results() {
            if let Some(st) = self.store.as_mut() {
                st.set_enrichment(id, &text);
                let _ = st.flush();
            }
            if let Some(w) = &self.web {
                w.alert(netwatch::web::enrichment_message(id, &text));
            }
        }
    }

    fn alert(&mut self, a: &netwatch::detect::Alert) {
        let id = self.store.as_mut().and_then(|s| s.add_alert(a));
        if a.suppressed {
            return;
        }
        self.line.clear();
        eve::write_alert(&mut self.line, a);
        if !self.write_failed && self.out.write_all(self.line.as_bytes()).is_err() {
            self.write_failed = true;
        }
        if let (Some(w), Some(id)) = (&self.web, id) {
            w.alert(netwatch::web::alert_message(id, a));
        }
        if let (Some(e), Some(id)) = (self.enrich.as_ref().filter(|e| e.wants(a)), id) {
            e.submit(id, a);
        }
    }
}

/// `--serve`: the web server, its store, and the pacing of the replay.
struct Serve {
    web: netwatch::web::Web,
    speed: f64,
    db: PathBuf,
    temporary: bool,
}

fn replay(mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let (mut files, mut config, mut bpf, mut stats) =
        (Vec::new(), ConfigSource::Builtin, None, false);
    let (mut serve, mut speed, mut db) = (false, 1.0f64, None);
    while let Some(a) = p.next().map_err(usage)? {
        match a {
            Short('c') | Long("config") => {
                config = ConfigSource::Toml(PathBuf::from(p.value().map_err(usage)?))
            }
            Long("uci") => config = ConfigSource::Uci(PathBuf::from(p.value().map_err(usage)?)),
            Long("bpf") => bpf = Some(p.value().map_err(usage)?.string().map_err(usage)?),
            Long("stats") => stats = true,
            Long("serve") => serve = true,
            Long("speed") => {
                let v = p.value().map_err(usage)?.string().map_err(usage)?;
                speed = v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.01 && *x <= 1e6)
                    .ok_or_else(|| {
                        Fail::Usage(format!(
                            "--speed needs a factor from 0.01 to 1000000, not `{v}`"
                        ))
                    })?;
            }
            Long("db") => db = Some(PathBuf::from(p.value().map_err(usage)?)),
            Long("help") | Short('h') => {
                print!("{REPLAY_USAGE}");
                return Ok(());
            }
            Value(v) => files.push(PathBuf::from(v)),
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    if files.is_empty() {
        return Err(Fail::Usage("replay needs a capture FILE".into()));
    }
    if !serve && (db.is_some() || speed != 1.0) {
        return Err(Fail::Usage("--speed and --db go with --serve".into()));
    }
    let mut cfg = load_config(&config)?;
    // Every file opens (and its filter compiles) before the first packet.
    let mut caps = Vec::with_capacity(files.len());
    for file in &files {
        let cap = FileCapture::open(file, bpf.as_deref()).map_err(|e| match e {
            CaptureError::Filter { .. } => Fail::Config(e.to_string()),
            _ => Fail::Runtime(e.to_string()),
        })?;
        caps.push(cap);
    }
    let started = Instant::now();
    let mut pipeline = Pipeline::new(&cfg);
    let stdout = std::io::stdout();
    let mut sink = ReplaySink {
        out: std::io::BufWriter::with_capacity(64 * 1024, stdout.lock()),
        line: String::with_capacity(4096),
        write_failed: false,
        store: None,
        web: None,
        enrich: None,
    };
    let mut served = None;
    if serve {
        netwatch::logger::init(log::LevelFilter::Info);
        if cfg.web.listen.is_empty() {
            return Err(Fail::Config(
                "--serve needs web.listen (it is empty in this config)".into(),
            ));
        }
        let (db, temporary) = match db {
            Some(d) => (d, false),
            None => (
                std::env::temp_dir().join(format!("netwatch-replay-{}.db", std::process::id())),
                true,
            ),
        };
        let mut scfg = cfg.store.clone();
        scfg.path = db.display().to_string();
        let store = netwatch::store::Store::new(scfg);
        let token = netwatch::web::resolve_token(&cfg).map_err(Fail::Runtime)?;
        let web = netwatch::web::launch(
            &cfg,
            config.clone(),
            token,
            Some((db.clone(), cfg.store.keep)),
        )
        .map_err(|e| Fail::Runtime(e.to_string()))?
        .ok_or_else(|| Fail::Config("--serve needs web.listen".into()))?;
        for a in &web.handle.addrs {
            eprintln!("netwatch: serving the replay on http://{a}/ (speed x{speed})");
        }
        pipeline.report_repeats(true);
        sink.store = Some(store);
        sink.web = Some(web.publisher.clone());
        sink.enrich = netwatch::enrich::Enricher::start(&cfg.enrich);
        served = Some(Serve {
            web,
            speed,
            db,
            temporary,
        });
    }
    let mut failure = None;
    let mut first_ts: Option<i64> = None;
    let mut last_sec = i64::MIN;
    let mut next_check_ts = i64::MIN;
    for (file, mut cap) in files.iter().zip(caps) {
        let linktype = cap.linktype;
        let res = match &served {
            // The plain replay's loop has nothing of the web in it.
            None => cap.for_each(|f| {
                pipeline.process(linktype, f.ts_us, f.data, f.wire_len, &mut |a| {
                    sink.alert(a)
                })
            }),
            Some(s) => {
                // Capture time between two looks at the clock: a millisecond of replay time, and
                // at most a second of capture time (a snapshot per second of capture).
                let step_us = ((1000.0 * s.speed) as i64).clamp(1, 1_000_000);
                cap.for_each(|f| {
                    // (The second test: time stepped far back, e.g. after one bogus timestamp.)
                    if f.ts_us >= next_check_ts || next_check_ts - f.ts_us > 2 * step_us {
                        next_check_ts = f.ts_us + step_us;
                        // Real time (or `speed` times faster).
                        let t0 = *first_ts.get_or_insert(f.ts_us);
                        let due =
                            Duration::from_micros(((f.ts_us - t0).max(0) as f64 / s.speed) as u64);
                        let el = started.elapsed();
                        if due > el {
                            std::thread::sleep(due - el);
                        }
                        if f.ts_us.div_euclid(1_000_000) > last_sec {
                            last_sec = f.ts_us.div_euclid(1_000_000);
                            publish(&pipeline, &cfg, &mut sink, s, f.ts_us, started, false);
                            if s.web.reload_requested() {
                                // PATCH /api/config: apply as the daemon does on SIGHUP.
                                match config.load() {
                                    Ok((new, _)) => {
                                        pipeline.reconfigure(&new);
                                        s.web.config.send_replace(std::sync::Arc::new(new.clone()));
                                        cfg = new;
                                        log::info!("reloaded thresholds, allowlists and timeouts");
                                    }
                                    Err(e) => {
                                        log::error!("reload refused, previous settings stay: {e}")
                                    }
                                }
                            }
                        }
                    }
                    pipeline.process(linktype, f.ts_us, f.data, f.wire_len, &mut |a| {
                        sink.alert(a)
                    })
                })
            }
        };
        if let Err(e) = res {
            failure = Some(format!("{}: {e}", file.display()));
            break;
        }
    }
    pipeline.finish(&mut |a| sink.alert(a));
    let _ = sink.out.flush();
    if stats {
        let elapsed = started.elapsed().as_secs_f64();
        let mut s = String::with_capacity(2048);
        s.push_str("{\"counters\":");
        pipeline.counters_json(&mut s);
        let pkts = pipeline.counters.packets;
        s.push_str(&format!(
            ",\"run\":{{\"elapsed_s\":{:.3},\"pps\":{:.0},\"peak_rss_bytes\":{},\"peak_heap_bytes\":{}}}}}",
            elapsed,
            if elapsed > 0.0 { pkts as f64 / elapsed } else { 0.0 },
            peak_rss_bytes().unwrap_or(0),
            peak_heap_bytes()
        ));
        eprintln!("{s}");
    }
    if let Some(s) = served {
        let last = first_ts.map(|_| last_sec * 1_000_000).unwrap_or(0);
        sink.enrichments();
        publish(&pipeline, &cfg, &mut sink, &s, last, started, true);
        match &failure {
            Some(m) => eprintln!("netwatch: {m}"),
            None => eprintln!("netwatch: replay finished; still serving (Ctrl-C or SIGTERM stops)"),
        }
        // Settings changed through the web after the end still reach /api/config.
        wait_for_stop(&mut || {
            // Replies of the language model keep arriving after the capture's end.
            sink.enrichments();
            if let (Some(e), Some(st)) = (&sink.enrich, sink.store.as_mut()) {
                let mut snap = s.web.publisher.latest();
                snap.sinks.enrich = Some(e.counters());
                snap.sinks.store = Some(st.counters);
                s.web.publisher.snapshot(snap);
            }
            if s.web.reload_requested() {
                match config.load() {
                    Ok((new, _)) => {
                        s.web.config.send_replace(std::sync::Arc::new(new));
                        log::info!("reloaded thresholds, allowlists and timeouts");
                    }
                    Err(e) => log::error!("reload refused, previous settings stay: {e}"),
                }
            }
        });
        if let Some(st) = sink.store.as_mut() {
            st.close();
        }
        s.web.handle.stop();
        if s.temporary {
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", s.db.display()));
            }
        }
    }
    match failure {
        Some(m) => Err(Fail::Runtime(m)),
        None => Ok(()),
    }
}

/// Flush the replay's store and publish a snapshot at capture time `ts_us`.
fn publish<W: Write>(
    p: &Pipeline,
    cfg: &Config,
    sink: &mut ReplaySink<W>,
    s: &Serve,
    ts_us: i64,
    started: Instant,
    finished: bool,
) {
    let mut snap = netwatch::web::Snapshot::of_pipeline(p, cfg, ts_us, started.elapsed().as_secs());
    if let Some(st) = sink.store.as_mut() {
        let _ = st.flush();
        snap.sinks.store = Some(st.counters);
    }
    snap.sinks.enrich = sink.enrich.as_ref().map(|e| e.counters());
    snap.rss_bytes = netwatch::alloc::rss_bytes().unwrap_or(0);
    snap.heap_bytes = netwatch::alloc::heap_bytes() as u64;
    snap.finished = finished;
    s.web.publisher.snapshot(snap);
}

/// Block until SIGINT or SIGTERM, calling `every_second` meanwhile.
fn wait_for_stop(every_second: &mut dyn FnMut()) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = tick.tick() => every_second(),
            }
        }
    });
}

/// `netwatch token`: print the web access token (creating it on first use).
fn token(mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let mut config = ConfigSource::Builtin;
    while let Some(a) = p.next().map_err(usage)? {
        match a {
            Short('c') | Long("config") => {
                config = ConfigSource::Toml(PathBuf::from(p.value().map_err(usage)?))
            }
            Long("uci") => config = ConfigSource::Uci(PathBuf::from(p.value().map_err(usage)?)),
            Long("help") | Short('h') => {
                print!("{TOKEN_USAGE}");
                return Ok(());
            }
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    let cfg = load_config(&config)?;
    match &cfg.web.token {
        netwatch::config::WebToken::Off => Err(Fail::Config(
            "web.token is off: the web asks for no token (loopback only)".into(),
        )),
        netwatch::config::WebToken::Fixed(t) => {
            println!("{t}");
            Ok(())
        }
        netwatch::config::WebToken::Generated => {
            let dir = cfg.state_dir();
            let (t, _, _) = netwatch::web::load_or_create_token(&dir)
                .map_err(|e| Fail::Runtime(format!("web token in {}: {e}", dir.display())))?;
            println!("{t}");
            Ok(())
        }
    }
}
