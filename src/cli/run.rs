//! `netwatch run`: the daemon on live interfaces.

use std::path::PathBuf;

use netwatch::config::ConfigSource;

use super::{load_config, Fail};

pub const USAGE: &str = "\
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
With blocking on ([respond] mode suggest or block) CAP_NET_ADMIN is also made ambient, so
the `nft` it runs can change its table (under systemd, AmbientCapabilities does the same).

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

pub fn run_daemon(mut p: lexopt::Parser) -> Result<(), Fail> {
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
                print!("{USAGE}");
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
