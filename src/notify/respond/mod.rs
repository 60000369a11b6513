//! Blocking (`[respond]`, off by default): source addresses put into nftables timeout sets
//! (`nft`), never past the guard rails (`guard`). `mode = "suggest"`: blocks only when a
//! person asks (the dashboard's "Block for 1 h", `netwatch block`); `"block"`: also on its own
//! for the rules and severities listed. Every block, unblock, expiry and refusal is an event
//! the daemon stores and shows; the blocks in force are kept by the store and restored at start
//! with the time they have left.

pub mod guard;
pub mod nft;

use std::net::IpAddr;

use serde::Deserialize;

use crate::addr::Cidr;
use crate::detect::{Alert, RuleId};
use crate::settings::{cidrs, invalid, ranged, ConfigError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Off,
    Suggest,
    Block,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Suggest => "suggest",
            Mode::Block => "block",
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRespond {
    pub mode: Option<String>,
    pub rules: Option<Vec<String>>,
    pub min_severity: Option<u8>,
    pub duration_s: Option<u32>,
    pub max_blocks: Option<u32>,
    pub allow: Option<Vec<String>>,
    pub block_lan: Option<bool>,
    pub nft: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RespondConfig {
    pub mode: Mode,
    /// Rules that block on their own in `block` mode.
    pub rules: Vec<RuleId>,
    pub min_severity: u8,
    pub duration_s: u32,
    pub max_blocks: u32,
    pub allow: Vec<Cidr>,
    pub block_lan: bool,
    pub nft: String,
}

/// Rules that block on their own by default: a scan, a sweep, password guessing (their
/// sources talk to us, so they are real; a SYN flood's may be forged and never blocks).
pub const DEFAULT_RULES: [RuleId; 3] = [
    RuleId::PortscanVertical,
    RuleId::PortscanHorizontal,
    RuleId::Bruteforce,
];

impl Default for RespondConfig {
    fn default() -> Self {
        RespondConfig {
            mode: Mode::Off,
            rules: DEFAULT_RULES.to_vec(),
            min_severity: 2,
            duration_s: 3600,
            max_blocks: 256,
            allow: Vec::new(),
            block_lan: false,
            nft: "nft".into(),
        }
    }
}

impl FileRespond {
    pub fn validate(&self) -> Result<RespondConfig, ConfigError> {
        let d = RespondConfig::default();
        let mode = match self.mode.as_deref().unwrap_or("off") {
            "off" => Mode::Off,
            "suggest" => Mode::Suggest,
            "block" => Mode::Block,
            _ => {
                return Err(invalid(
                    "respond.mode",
                    "is \"off\", \"suggest\" or \"block\"",
                ))
            }
        };
        let rules = match &self.rules {
            None => d.rules,
            Some(v) => v
                .iter()
                .map(|r| {
                    let id = RuleId::ALL.into_iter().find(|x| x.name() == r);
                    match id {
                        None => Err(invalid("respond.rules", format!("names no rule: {r}"))),
                        Some(RuleId::Synflood) => Err(invalid(
                            "respond.rules",
                            "cannot hold synflood: a flood's sources may be forged",
                        )),
                        Some(id) => Ok(id),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let nft = self.nft.clone().unwrap_or(d.nft);
        if nft.is_empty() || nft.chars().any(|c| c.is_control()) {
            return Err(invalid(
                "respond.nft",
                "is the nft program (a name or a path)",
            ));
        }
        Ok(RespondConfig {
            mode,
            rules,
            min_severity: ranged("respond.min_severity", self.min_severity, 2, 1, 3)?,
            duration_s: ranged(
                "respond.duration_s",
                self.duration_s,
                d.duration_s,
                60,
                30 * 86_400,
            )?,
            max_blocks: ranged(
                "respond.max_blocks",
                self.max_blocks,
                d.max_blocks,
                1,
                65_536,
            )?,
            allow: cidrs("respond.allow", &self.allow, &[])?,
            block_lan: self.block_lan.unwrap_or(false),
            nft,
        })
    }
}

pub use crate::output::store::{Block, BlockEvent as Event};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RespondCounters {
    pub blocked: u64,
    pub unblocked: u64,
    pub expired: u64,
    pub refused: u64,
    pub nft_errors: u64,
    /// False while nft is missing or refuses our table.
    pub nft_ok: bool,
    pub last_error: String,
}

/// A request from a person: block `addr` for `secs` (0: the configured time) because of
/// `alert_id`'s alert or `reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Block {
        addr: IpAddr,
        secs: u64,
        reason: String,
        alert_id: i64,
        rule: Option<RuleId>,
    },
    Unblock {
        addr: IpAddr,
    },
}

/// The blocks in force and what decides them. Lives on the daemon's thread; `nft` runs
/// only when a block starts or ends (rare), never per packet.
pub struct Responder {
    pub cfg: RespondConfig,
    lan: Vec<Cidr>,
    system: guard::System,
    blocks: Vec<Block>,
    events: Vec<Event>,
    pub counters: RespondCounters,
}

impl Responder {
    /// `None` when `mode = "off"`. Loads the table and restores `stored` blocks that have
    /// time left (their remaining time); says so in the log when nft is missing or refuses.
    pub fn start(
        cfg: &RespondConfig,
        lan: &[Cidr],
        stored: Vec<Block>,
        now_us: i64,
    ) -> Option<Responder> {
        if cfg.mode == Mode::Off {
            return None;
        }
        let mut r = Responder {
            cfg: cfg.clone(),
            lan: lan.to_vec(),
            system: guard::System::read(),
            blocks: Vec::new(),
            events: Vec::new(),
            counters: RespondCounters::default(),
        };
        let mut script = nft::table(cfg.max_blocks);
        let mut restored = 0;
        for b in stored.into_iter().filter(|b| b.until_us > now_us) {
            if r.blocks.len() >= cfg.max_blocks as usize {
                break;
            }
            let left = ((b.until_us - now_us) / 1_000_000).max(1) as u64;
            script.push_str(&nft::add(&b.addr, left));
            r.blocks.push(b);
            restored += 1;
        }
        match nft::run(&cfg.nft, &script) {
            Ok(()) => {
                r.counters.nft_ok = true;
                log::info!(
                    "respond: mode {}, nftables table inet netwatch ready{}",
                    cfg.mode.as_str(),
                    if restored > 0 {
                        format!(", {restored} block(s) restored")
                    } else {
                        String::new()
                    }
                );
            }
            Err(e) => r.nft_failed(&format!("cannot load table inet netwatch: {e}")),
        }
        Some(r)
    }

    fn nft_failed(&mut self, e: &str) {
        log::error!(
            "respond: {e}; nothing is blocked until it works (the rest of NetWatch goes on)"
        );
        self.counters.nft_ok = false;
        self.counters.nft_errors += 1;
        self.counters.last_error = e.to_string();
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn is_blocked(&self, ip: &IpAddr) -> bool {
        self.blocks.iter().any(|b| b.addr == *ip)
    }

    /// Events since the last call (the daemon stores and publishes them).
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn event(
        &mut self,
        action: &'static str,
        addr: IpAddr,
        until_us: i64,
        reason: &str,
        manual: bool,
        now_us: i64,
    ) {
        self.events.push(Event {
            ts_us: now_us,
            action,
            addr,
            until_us,
            reason: reason.to_string(),
            manual,
        });
    }

    /// An emitted alert: in `block` mode its source is blocked when its rule and severity
    /// are listed (and the guard rails allow).
    pub fn alert(&mut self, a: &Alert, alert_id: i64, summary: &str, now_us: i64) {
        if self.cfg.mode != Mode::Block
            || !self.cfg.rules.contains(&a.rule)
            || a.rule.severity() > self.cfg.min_severity
        {
            return;
        }
        let ip = a.src.to_ip();
        if self.is_blocked(&ip) {
            return;
        }
        let _ = self.block(ip, 0, summary, Some(a.rule), alert_id, false, now_us);
    }

    /// Block `ip` for `secs` (0: `duration_s`); the block, or why not.
    #[allow(clippy::too_many_arguments)]
    pub fn block(
        &mut self,
        ip: IpAddr,
        secs: u64,
        reason: &str,
        rule: Option<RuleId>,
        alert_id: i64,
        manual: bool,
        now_us: i64,
    ) -> Result<Block, String> {
        let lan = (!self.cfg.block_lan).then_some(&self.lan[..]);
        let mut why = guard::refusal(ip, rule, &self.system, &self.cfg.allow, lan);
        if why.is_none()
            && !self.is_blocked(&ip)
            && self.blocks.len() >= self.cfg.max_blocks as usize
        {
            why = Some(format!(
                "{} addresses are blocked already (respond.max_blocks)",
                self.blocks.len()
            ));
        }
        if let Some(why) = why {
            log::warn!("respond: not blocking {ip}: {why}");
            self.counters.refused += 1;
            self.event("refuse", ip, 0, &why, manual, now_us);
            return Err(why);
        }
        let secs = if secs == 0 {
            u64::from(self.cfg.duration_s)
        } else {
            secs.min(30 * 86_400)
        };
        if let Err(e) = nft::run(&self.cfg.nft, &nft::add(&ip, secs)) {
            let e = format!("cannot block {ip}: {e}");
            self.nft_failed(&e);
            self.event("refuse", ip, 0, &e, manual, now_us);
            return Err(e);
        }
        self.counters.nft_ok = true;
        let b = Block {
            addr: ip,
            since_us: now_us,
            until_us: now_us + secs as i64 * 1_000_000,
            reason: reason
                .chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect(),
            rule,
            alert_id,
            manual,
        };
        self.blocks.retain(|x| x.addr != ip);
        self.blocks.push(b.clone());
        self.counters.blocked += 1;
        log::warn!(
            "respond: blocked {ip} for {secs} s ({}): {}",
            if manual { "asked for" } else { "on its own" },
            b.reason
        );
        self.event("block", ip, b.until_us, &b.reason, manual, now_us);
        Ok(b)
    }

    /// Lift the block on `ip`; false when it was not blocked.
    pub fn unblock(&mut self, ip: IpAddr, now_us: i64) -> Result<bool, String> {
        if !self.is_blocked(&ip) {
            self.event(
                "refuse",
                ip,
                0,
                &format!("{ip} is not blocked"),
                true,
                now_us,
            );
            return Ok(false);
        }
        if let Err(e) = nft::run(&self.cfg.nft, &nft::delete(&ip)) {
            let e = format!("cannot unblock {ip}: {e}");
            self.nft_failed(&e);
            return Err(e);
        }
        self.blocks.retain(|b| b.addr != ip);
        self.counters.unblocked += 1;
        log::info!("respond: unblocked {ip}");
        self.event("unblock", ip, now_us, "unblocked by hand", true, now_us);
        Ok(true)
    }

    /// Apply a person's request.
    pub fn request(&mut self, r: Request, now_us: i64) -> Result<(), String> {
        match r {
            Request::Block {
                addr,
                secs,
                reason,
                alert_id,
                rule,
            } => self
                .block(addr, secs, &reason, rule, alert_id, true, now_us)
                .map(|_| ()),
            Request::Unblock { addr } => self.unblock(addr, now_us).map(|_| ()),
        }
    }

    /// Once a second: blocks whose time is up are gone from the kernel's set by now; note
    /// them. Once a minute the system's own addresses are read again.
    pub fn tick(&mut self, now_us: i64, minute: bool) {
        if minute {
            self.system = guard::System::read();
        }
        let mut gone = Vec::new();
        self.blocks.retain(|b| {
            let keep = b.until_us > now_us;
            if !keep {
                gone.push((b.addr, b.until_us, b.reason.clone(), b.manual));
            }
            keep
        });
        for (addr, until, reason, manual) in gone {
            self.counters.expired += 1;
            log::info!("respond: the block on {addr} expired");
            self.event("expire", addr, until, &reason, manual, now_us);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RespondConfig, ConfigError> {
        let f: FileRespond = toml::from_str(text).unwrap();
        f.validate()
    }

    #[test]
    fn defaults_and_bad_values() {
        let c = parse("").unwrap();
        assert_eq!(
            (c.mode, c.duration_s, c.max_blocks, c.block_lan),
            (Mode::Off, 3600, 256, false)
        );
        assert_eq!(c.rules, DEFAULT_RULES);
        let c =
            parse("mode = \"block\"\nrules = [\"bruteforce\"]\nallow = [\"10.9.0.0/16\"]").unwrap();
        assert_eq!(
            (c.mode, c.rules.as_slice()),
            (Mode::Block, &[RuleId::Bruteforce][..])
        );
        for (text, key) in [
            ("mode = \"drop\"", "respond.mode"),
            ("rules = [\"synflood\"]", "respond.rules"),
            ("rules = [\"nope\"]", "respond.rules"),
            ("duration_s = 5", "respond.duration_s"),
            ("max_blocks = 0", "respond.max_blocks"),
            ("allow = [\"x\"]", "respond.allow"),
            ("nft = \"\"", "respond.nft"),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    /// A stand-in `nft` that logs each script it is given (or fails when told to).
    fn fake_nft(dir: &std::path::Path, fail: bool) -> String {
        let p = dir.join("nft");
        let log = dir.join("nft.log");
        let body = if fail {
            "echo 'Error: Could not process rule: Operation not permitted' >&2; exit 1".to_string()
        } else {
            format!("cat >> {}; echo --- >> {}", log.display(), log.display())
        };
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A process forked meanwhile by another test may hold the file open for writing until
        // it execs ("text file busy"): wait for that to pass.
        for _ in 0..100 {
            let probe = std::process::Command::new(&p)
                .stdin(std::process::Stdio::null())
                .status();
            match probe {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                _ => break,
            }
        }
        p.display().to_string()
    }

    fn responder(dir: &std::path::Path, mode: Mode, fail: bool, stored: Vec<Block>) -> Responder {
        let cfg = RespondConfig {
            mode,
            max_blocks: 2,
            nft: fake_nft(dir, fail),
            ..RespondConfig::default()
        };
        let lan = ["192.168.0.0/16".parse::<Cidr>().unwrap()];
        Responder::start(&cfg, &lan, stored, 1_000_000_000).unwrap()
    }

    #[test]
    fn blocks_on_its_own_only_in_block_mode_and_within_the_limits() {
        let dir = std::env::temp_dir().join(format!("nw-respond-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let now = 1_000_000_000;
        let mut a = Alert::new(RuleId::PortscanVertical, now);
        a.src = "45.33.32.156".parse::<IpAddr>().unwrap().into();
        let mut s = responder(&dir, Mode::Suggest, false, vec![]);
        s.alert(&a, 1, "scan", now);
        assert!(s.blocks().is_empty(), "suggest mode waits for a person");
        let mut r = responder(&dir, Mode::Block, false, vec![]);
        assert!(r.counters.nft_ok);
        r.alert(&a, 1, "scan", now);
        assert_eq!(r.blocks().len(), 1);
        assert_eq!(r.blocks()[0].until_us, now + 3600 * 1_000_000);
        // A LAN scanner, a flood's source: refused with reasons.
        a.src = "192.168.1.7".parse::<IpAddr>().unwrap().into();
        r.alert(&a, 2, "scan", now);
        assert_eq!(r.blocks().len(), 1);
        let e = r
            .block(
                "45.33.32.157".parse().unwrap(),
                0,
                "flood",
                Some(RuleId::Synflood),
                3,
                true,
                now,
            )
            .unwrap_err();
        assert!(e.contains("forged"), "{e}");
        // max_blocks = 2.
        r.block(
            "45.33.32.158".parse().unwrap(),
            60,
            "by hand",
            None,
            0,
            true,
            now,
        )
        .unwrap();
        let e = r
            .block("45.33.32.159".parse().unwrap(), 60, "x", None, 0, true, now)
            .unwrap_err();
        assert!(e.contains("max_blocks"), "{e}");
        let actions: Vec<&str> = r.take_events().iter().map(|e| e.action).collect();
        assert_eq!(actions, ["block", "refuse", "refuse", "block", "refuse"]);
        // Unblock, expiry.
        assert_eq!(r.unblock("45.33.32.156".parse().unwrap(), now), Ok(true));
        r.tick(now + 61 * 1_000_000, false);
        assert!(r.blocks().is_empty());
        let actions: Vec<&str> = r.take_events().iter().map(|e| e.action).collect();
        assert_eq!(actions, ["unblock", "expire"]);
        let log = std::fs::read_to_string(dir.join("nft.log")).unwrap();
        assert!(log.contains("table inet netwatch {"));
        assert!(log.contains("add element inet netwatch v4 { 45.33.32.156 timeout 3600s }"));
        assert!(log.contains("add element inet netwatch v4 { 45.33.32.158 timeout 60s }"));
        // A restart restores what has time left, with that time.
        let kept = Block {
            addr: "45.33.32.160".parse().unwrap(),
            since_us: 0,
            until_us: now + 90 * 1_000_000,
            reason: "scan".into(),
            rule: None,
            alert_id: 0,
            manual: false,
        };
        let mut gone = kept.clone();
        gone.until_us = now - 1;
        let r = responder(&dir, Mode::Block, false, vec![kept, gone]);
        assert_eq!(r.blocks().len(), 1);
        let log = std::fs::read_to_string(dir.join("nft.log")).unwrap();
        assert!(log.contains("add element inet netwatch v4 { 45.33.32.160 timeout 90s }"));
        // nft refusing: counted and said, nothing recorded as blocked.
        let mut r = responder(&dir, Mode::Block, true, vec![]);
        assert!(!r.counters.nft_ok && r.counters.nft_errors == 1);
        a.src = "45.33.32.156".parse::<IpAddr>().unwrap().into();
        r.alert(&a, 1, "scan", now);
        assert!(r.blocks().is_empty());
        assert!(
            r.counters.last_error.contains("Operation not permitted"),
            "{:?}",
            r.counters
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
