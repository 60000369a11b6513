//! A minimal `log` backend: one line per record on stderr, `netwatch: LEVEL: message`.
//! Under procd or systemd stderr goes to the system log, which adds its own timestamp.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = match r.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        eprintln!("netwatch: {level}: {}", r.args());
    }

    fn flush(&self) {}
}

static LOGGER: Stderr = Stderr;

/// Install the logger at `level` (`warn` by default for the daemon; `-v` gives `info`).
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
