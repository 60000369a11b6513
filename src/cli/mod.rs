//! The `netwatch` command line: dispatch to one file per subcommand, the errors they share
//! and their exit codes (2: usage or configuration, 1: at run time). A thin layer over the
//! library.

mod alerts;
mod blocks;
mod check_config;
mod devices;
mod notify;
mod replay;
mod run;
mod token;

use std::process::ExitCode;

use netwatch::config::{Config, ConfigSource};

const USAGE: &str = "\
netwatch — network intrusion detection for routers and small boards

USAGE:
    netwatch run [-c CONFIG | --uci UCIFILE] [--iface IF]...
    netwatch replay FILE... [-c CONFIG | --uci UCIFILE] [--bpf EXPR] [--stats]
                    [--serve [--speed X] [--db FILE]]
    netwatch alerts [-c CONFIG | --uci UCIFILE | --db FILE] [--rule R] [--src IP]
                    [--severity N] [--since SECONDS] [--limit N] [--json] [--explain]
    netwatch devices [-c CONFIG | --uci UCIFILE | --db FILE] [--json]
    netwatch check-config [--uci] FILE
    netwatch token [-c CONFIG | --uci UCIFILE]
    netwatch notify test [-c CONFIG | --uci UCIFILE]
    netwatch block ADDR [--for DURATION] [--reason TEXT]   (and -c/--uci, --api URL)
    netwatch unblock ADDR
    netwatch blocks [--json]
    netwatch version
    netwatch help [COMMAND]

COMMANDS:
    run           The daemon: capture live on the configured interfaces (or --iface); alerts
                  to the SQLite store, syslog and EVE JSON (stdout and/or a file).
                  SIGHUP reloads the config, SIGTERM/SIGINT flush and exit.
    alerts        List stored alerts (newest first) across the kept database files.
    devices       List the LAN's devices as the daemon last stored them.
    replay        Run the whole pipeline over a pcap/pcapng file as fast as possible.
                  Alerts go to stdout as Suricata EVE JSON, one object per line. With
                  --serve, at real time (or --speed X) through the web server.
    check-config  Validate a configuration file; prints the problem and exits 2 if invalid.
    token         Print the access token of the web API and dashboard.
    notify test   Send a test message to every notification target ([notify]).
    block         Ask the running daemon to block an address ([respond]); unblock lifts it;
                  blocks lists the blocks in force and the latest events.
    version       Print the version.

Exit codes: 0 ok; 1 runtime failure (missing, unreadable or truncated capture);
2 usage or configuration error (including a BPF expression that does not compile).
Run `netwatch help replay` for the options of a command.
";

pub(crate) enum Fail {
    Usage(String),
    Config(String),
    Runtime(String),
}

/// Run the command line; the exit code says how it ended.
pub fn main() -> ExitCode {
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
        "replay" => replay::replay(p),
        "run" => run::run_daemon(p),
        "alerts" => alerts::alerts(p),
        "devices" => devices::devices(p),
        "check-config" => check_config::check_config(p),
        "token" => token::token(p),
        "notify" => notify::notify(p),
        "block" | "unblock" | "blocks" => blocks::blocks(&cmd, p),
        "version" => {
            println!("netwatch {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "help" => {
            match p.next().map_err(usage)? {
                Some(Value(v)) if v == "replay" => print!("{}", replay::USAGE),
                Some(Value(v)) if v == "run" => print!("{}", run::USAGE),
                Some(Value(v)) if v == "check-config" => print!("{}", check_config::USAGE),
                Some(Value(v)) if v == "alerts" => print!("{}", alerts::USAGE),
                Some(Value(v)) if v == "devices" => print!("{}", devices::USAGE),
                Some(Value(v)) if v == "token" => print!("{}", token::USAGE),
                Some(Value(v)) if v == "notify" => print!("{}", notify::USAGE),
                Some(Value(v)) if v == "block" || v == "unblock" || v == "blocks" => {
                    print!("{}", blocks::USAGE)
                }
                _ => print!("{USAGE}"),
            }
            Ok(())
        }
        other => Err(Fail::Usage(format!("unknown command `{other}`"))),
    }
}

/// The value of an option that takes a whole number (`what`: the option, for the error).
pub(crate) fn number(p: &mut lexopt::Parser, what: &str) -> Result<u64, Fail> {
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    use lexopt::ValueExt;
    let v = p.value().map_err(usage)?.string().map_err(usage)?;
    v.parse::<u64>()
        .map_err(|_| Fail::Usage(format!("{what} needs a number, not `{v}`")))
}

/// The configuration, the store's file (`--db`, else the config's `store.path`; it must
/// exist) and how many files to read (`--keep`, else the config's `store.keep`).
pub(crate) fn store_of(
    config: &ConfigSource,
    db: Option<std::path::PathBuf>,
    keep: Option<u32>,
) -> Result<(Config, std::path::PathBuf, u32), Fail> {
    let cfg = load_config(config)?;
    let path = db.unwrap_or_else(|| std::path::PathBuf::from(&cfg.store.path));
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
    let keep = keep.unwrap_or(cfg.store.keep);
    Ok((cfg, path, keep))
}

/// The effective configuration: the file (or the built-in defaults) with the settings changed
/// through the web API laid over it.
pub(crate) fn load_config(src: &ConfigSource) -> Result<Config, Fail> {
    src.load()
        .map(|(c, _)| c)
        .map_err(|e| Fail::Config(e.to_string()))
}
