//! Brute-force logins: authentication attempts from one source against one login service
//! (ssh 22, telnet 23, ftp 21, rdp 3389, vnc 5900, pop3 110, imap 143, submission 587,
//! mysql 3306, postgresql 5432, plus configured ports).
//!
//! Attempts are counted when a connection to the service closes, if it looks like a login that
//! went nowhere: the handshake completed, the client sent data, the connection lasted at most
//! `max_attempt_duration_s` (60 s), the server sent at most `max_reply_bytes` (16 KiB) and —
//! for ssh — nothing after the key exchange larger than a refusal (160 bytes), which every
//! successful login is followed by.
//! Real sessions are long or carry data and are not counted. A connection counts as
//! one attempt, except where the protocol lets a client retry inside one connection — which
//! hydra does: for ssh, every request/response turn after the first three (version exchange,
//! key exchange, service request) is a password try, at most 6 per connection (OpenSSH's
//! MaxAuthTries); for ftp, every two turns (USER, PASS).
//!
//! What counts as attempts, per closed connection to a watched port:
//!
//! | service | attempts in one connection |
//! |---|---|
//! | ssh (22) | request/response turns after the first three (version, key exchange, service request), 1–6 (MaxAuthTries) |
//! | ftp (21), pop3 (110) | every two turns (USER, PASS), 1–6 |
//! | imap (143) | every turn after the first (CAPABILITY), 1–6 |
//! | smtp submission (587, and 25 if added) | every three turns after EHLO (AUTH LOGIN, user, password), 1–6 |
//! | telnet (23), rdp (3389), vnc (5900), mysql (3306), postgres (5432), other `ports` | one per connection (their clients reconnect per try) |
//! | `http_ports` (none by default: plain-HTTP admin pages with basic auth) | every request turn, 1–100 |
//!
//! Thresholds, three sliding windows (each two buckets of its own length, the previous one
//! weighted by how much of it is still in the window): `attempts` = 16 within `window_s` =
//! 120 s; low and slow, `slow_attempts` = 30 within `slow_window_s` = 600 s and
//! `long_attempts` = 100 within `long_window_s` = 3600 s (a tool sending one password per
//! connection, 6 a minute, stays under the first and crosses the second in 5 minutes). fail2ban's
//! default is 5 failures in 10 min, Zeek's 30 in 30 min and CrowdSec's ssh-bf a leaky bucket
//! of 5 per 10 s; we see only the network, not the log's "failed", so we ask for more attempts
//! than fail2ban to stay quiet on a user who mistypes or a mail client that polls.
//!
//! Suppression key: (rule, attacker, host, port).

use crate::addr::Addr;
use crate::capture::decode::proto;
use crate::state::flow::{Closed, TcpState};
use crate::state::table::{LruMap, Seed, TableKey, Upsert};

use super::{community_id, Alert, Emit, Figure, Rule, RuleId, SuppressKey};
use crate::settings::{allow, invalid, ranged, Allow, ConfigError, FileAllow, PortSet};
use serde::Deserialize;

/// Largest ssh server message (bytes on the wire, encrypted) still taken for a refusal.
const SSH_REFUSAL_MAX: usize = 160;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Pair {
    attacker: Addr,
    server: Addr,
    port: u16,
}

impl TableKey for Pair {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        seed.hash(
            self.attacker.bits(),
            self.server.bits(),
            self.port as u64,
            0,
        )
    }
}

/// A sliding-window count: the current bucket and the previous one, each `w` seconds long.
#[derive(Default, Clone, Copy)]
struct Sliding {
    start_s: u64,
    cur: u32,
    prev: u32,
}

impl Sliding {
    /// Roll to the bucket of `now` (µs) for windows of `w` s.
    fn roll(&mut self, now: u64, w: u64) {
        let sec = now / 1_000_000;
        let bucket = sec - sec % w;
        if bucket != self.start_s {
            self.prev = if bucket == self.start_s + w {
                self.cur
            } else {
                0
            };
            self.cur = 0;
            self.start_s = bucket;
        }
    }

    /// Estimated count of the last `w` s at `now` (after `roll`).
    fn estimate(&self, now: u64, w: u64) -> f64 {
        let into = now.saturating_sub(self.start_s * 1_000_000) as f64 / (w * 1_000_000) as f64;
        self.cur as f64 + self.prev as f64 * (1.0 - into).max(0.0)
    }

    fn is_empty(&self) -> bool {
        self.cur == 0 && self.prev == 0
    }
}

/// Counts in buckets of a tenth of the window: the current bucket and the ten before it, so
/// every span of `w` seconds ending now is inside (and at most `w` + a tenth is counted).
#[derive(Default, Clone, Copy)]
struct Fine {
    /// Index (time / bucket width) of the current bucket.
    at: u64,
    counts: [u16; 11],
}

impl Fine {
    /// Add `n` at `now` (µs) for windows of `w` s; returns the count of the window.
    fn add(&mut self, now: u64, w: u64, n: u32) -> u32 {
        let width = (w * 100_000).max(1);
        let b = now / width;
        if b > self.at {
            for i in (self.at + 1)..=b.min(self.at + 11) {
                self.counts[(i % 11) as usize] = 0;
            }
            self.at = b;
        }
        let c = &mut self.counts[(self.at % 11) as usize];
        *c = c.saturating_add(n.min(u16::MAX as u32) as u16);
        self.counts.iter().map(|&c| c as u32).sum()
    }

    fn is_empty(&self, now: u64, w: u64) -> bool {
        let width = (w * 100_000).max(1);
        now / width > self.at + 10 || self.counts.iter().all(|&c| c == 0)
    }
}

#[derive(Default)]
struct Attempts {
    /// The fast window, then the slow and long tiers.
    fast: Sliding,
    tiers: [Fine; 2],
    connections: u32,
    /// Attempts since the episode began (no window emptied since).
    so_far: u32,
    /// Web logins: the hash of the credentials the client's last connection tried (a new
    /// connection retrying them tries nothing new).
    last_cred: u16,
    first_ts: i64,
}

pub struct BruteForceRule {
    pub cfg: BruteforceConfig,
    pairs: LruMap<Pair, Attempts>,
    evicted: u64,
}

/// Attempts one closed connection represents (see the table above).
fn attempts_in(port: u16, turns: u16, http: bool) -> u32 {
    let t = turns as u32;
    if http {
        return t.clamp(1, 100);
    }
    match port {
        22 => t.saturating_sub(3).clamp(1, 6),
        21 | 110 => (t / 2).clamp(1, 6),
        143 => t.saturating_sub(1).clamp(1, 6),
        25 | 587 => (t.saturating_sub(1) / 3).clamp(1, 6),
        _ => 1,
    }
}

impl BruteForceRule {
    #[inline(never)]
    fn login_closed(&mut self, c: &Closed, server: Addr, port: u16, emit: &mut Emit) {
        let (attacker, _) = c.initiator();
        if self.cfg.allow.src_allowed(&attacker) || self.cfg.allow.dst_allowed(&server, port) {
            return;
        }
        let f = &c.flow;
        let handshake =
            f.state != TcpState::None && f.flags[1] & crate::capture::decode::tcp_flags::SYN != 0;
        let duration = f.last.saturating_sub(f.first);
        // ssh: after a successful login the server sends more than refusals (OpenSSH's
        // host-key announcement alone is ~260 bytes, then channel data); a failed attempt only
        // ever gets USERAUTH_FAILURE messages of a few dozen bytes back.
        let ssh_session = port == 22 && f.late_reply_max as usize > SSH_REFUSAL_MAX;
        if !handshake
            || ssh_session
            || f.payload[0] == 0
            || duration > self.cfg.max_attempt_duration_s as u64 * 1_000_000
            || f.payload[1] > self.cfg.max_reply_bytes
        {
            return;
        }
        let n = attempts_in(port, f.turns, self.cfg.http_ports.contains(port));
        self.count(c, attacker, server, port, n, None, emit);
    }

    /// A closed HTTP connection on any port that got refusals: `401`s from any server, and
    /// refused form logins from the router's own web server. Each refusal is one attempt.
    /// Only the fast and the slow tier judge these: an app polling with a stale password once
    /// a minute is not a guesser.
    #[cold]
    #[inline(never)]
    fn web_login_closed(&mut self, c: &Closed, server: Addr, port: u16, emit: &mut Emit) {
        let (attacker, _) = c.initiator();
        if self.cfg.allow.src_allowed(&attacker) || self.cfg.allow.dst_allowed(&server, port) {
            return;
        }
        let [basic, form] = c.flow.http_fails;
        let form = if self
            .cfg
            .form_login_hosts
            .iter()
            .any(|h| h.contains(&server))
        {
            form
        } else {
            0
        };
        let n = basic as u32 + form as u32;
        if n == 0 {
            return;
        }
        let how = if basic >= form {
            "http_401"
        } else {
            "login_form"
        };
        let f = &c.flow;
        self.count(
            c,
            attacker,
            server,
            port,
            n,
            Some((how, f.first_cred, f.cred)),
            emit,
        );
    }

    /// Count `n` attempts of the connection `c` closed; alert when a tier is crossed. `web`:
    /// the attempts are HTTP refusals of this kind, with the hashes of the connection's first
    /// and last credentials (its first refusal is no attempt when it repeats what the client's
    /// previous connection tried last; the hour-long tier does not judge these).
    #[allow(clippy::too_many_arguments)]
    fn count(
        &mut self,
        c: &Closed,
        attacker: Addr,
        server: Addr,
        port: u16,
        n: u32,
        web: Option<(&'static str, u16, u16)>,
        emit: &mut Emit,
    ) {
        let f = &c.flow;
        let now = c.at;
        let mut n = n;
        let key = Pair {
            attacker,
            server,
            port,
        };
        let tiers = [
            (self.cfg.attempts, self.cfg.window_s),
            self.cfg.slow,
            self.cfg.long,
        ];
        let (id, how) = self.pairs.upsert(key, 0, now, |a| {
            *a = Attempts {
                first_ts: f.first_ts,
                ..Attempts::default()
            }
        });
        self.evicted += (how == Upsert::Evicted) as u64;
        let st = self.pairs.get_mut(id);
        if let Some((_, first, last)) = web {
            if first != 0 && first == st.last_cred {
                n -= 1;
            }
            st.last_cred = last;
            if n == 0 {
                return;
            }
        }
        let mut crossed = None;
        let ws = self.cfg.window_s as u64;
        st.fast.roll(now, ws);
        let mut all_empty = st.fast.is_empty();
        st.fast.cur = st.fast.cur.saturating_add(n);
        let total = st.fast.estimate(now, ws);
        if total >= self.cfg.attempts as f64 {
            crossed = Some((0, total, self.cfg.attempts, self.cfg.window_s));
        }
        for (i, (t, &(limit, window_s))) in st.tiers.iter_mut().zip(&tiers[1..]).enumerate() {
            if window_s == 0 || (web.is_some() && i == 1) {
                continue;
            }
            all_empty &= t.is_empty(now, window_s as u64);
            let total = t.add(now, window_s as u64, n);
            if crossed.is_none() && total >= limit {
                crossed = Some((i + 1, total as f64, limit, window_s));
            }
        }
        if all_empty {
            // Nothing left in any window: a new episode.
            st.first_ts = f.first_ts;
            st.connections = 0;
            st.so_far = 0;
        }
        st.connections += 1;
        st.so_far = st.so_far.saturating_add(n);
        if let Some((tier, total, limit, window_s)) = crossed {
            let mut a = Alert::new(RuleId::Bruteforce, c.at_ts);
            a.first_seen = st.first_ts;
            a.src = attacker;
            a.sport = c.initiator().1;
            a.dst = server;
            a.dport = port;
            a.proto = proto::TCP;
            a.community_id = Some(community_id(0, attacker, a.sport, server, port, proto::TCP));
            let e = &mut a.evidence;
            e.fig("attempts", Figure::U(total.round() as u64));
            e.fig("threshold", Figure::U(limit as u64));
            e.fig("window_s", Figure::U(window_s as u64));
            e.fig("pace", Figure::S(["fast", "slow", "long"][tier]));
            e.fig("connections", Figure::U(st.connections as u64));
            e.fig("attempts_so_far", Figure::U(st.so_far as u64));
            e.fig("last_connection_attempts", Figure::U(n as u64));
            if let Some((how, ..)) = web {
                e.fig("refused_by", Figure::S(how));
            }
            let key = SuppressKey {
                rule: RuleId::Bruteforce,
                a: attacker,
                b: server,
                port,
                extra: 0,
            };
            emit.alert(key, now, &mut a);
        }
    }

    pub fn new(cfg: BruteforceConfig, capacity: usize) -> Self {
        BruteForceRule {
            cfg,
            pairs: LruMap::new(capacity, 1),
            evicted: 0,
        }
    }
}

impl Rule for BruteForceRule {
    /// The tests every closed flow meets are inline; counting an attempt is not.
    #[inline]
    fn on_close(&mut self, c: &Closed, emit: &mut Emit) {
        if !self.cfg.enabled || c.key.proto != proto::TCP {
            return;
        }
        let (server, port) = c.responder();
        if !self.cfg.ports.contains(port) {
            if self.cfg.web_logins && c.flow.http_fails != [0, 0] {
                self.web_login_closed(c, server, port, emit);
            }
            return;
        }
        self.login_closed(c, server, port, emit);
    }

    fn evictions(&self) -> u64 {
        self.evicted
    }

    fn entries(&self) -> u64 {
        self.pairs.len() as u64
    }

    fn footprint_bytes(&self) -> usize {
        self.pairs.footprint_bytes()
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration: `[rules.bruteforce]`.

/// Login services watched by default: ssh, telnet, ftp, rdp, vnc, pop3, imap, submission,
/// mysql, postgresql.
pub const DEFAULT_LOGIN_PORTS: &[u16] = &[22, 23, 21, 3389, 5900, 110, 143, 587, 3306, 5432];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBruteforce {
    pub enabled: Option<bool>,
    pub attempts: Option<u32>,
    pub window_s: Option<u32>,
    pub ports: Option<Vec<u16>>,
    pub extra_ports: Option<Vec<u16>>,
    pub http_ports: Option<Vec<u16>>,
    pub web_logins: Option<bool>,
    pub form_login_hosts: Option<Vec<String>>,
    pub form_login_paths: Option<Vec<String>>,
    pub max_attempt_duration_s: Option<u32>,
    pub max_reply_bytes: Option<u64>,
    pub slow_attempts: Option<u32>,
    pub slow_window_s: Option<u32>,
    pub long_attempts: Option<u32>,
    pub long_window_s: Option<u32>,
    #[serde(flatten)]
    pub allow: FileAllow,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BruteforceConfig {
    pub enabled: bool,
    pub attempts: u32,
    pub window_s: u32,
    pub ports: PortSet,
    /// Plain-HTTP ports where each request of a connection is a (basic-auth) attempt.
    pub http_ports: PortSet,
    /// Count HTTP refusals on any port: `401` answers from any server, refused form logins
    /// on `form_login_hosts`.
    pub web_logins: bool,
    /// Servers whose form logins are watched (the router's own addresses: the daemon adds
    /// its capture interfaces' addresses to these).
    pub form_login_hosts: Vec<crate::addr::Cidr>,
    /// `POST`s to paths starting with one of these are form logins.
    pub form_login_paths: Vec<String>,
    pub max_attempt_duration_s: u32,
    pub max_reply_bytes: u64,
    /// Low-and-slow tiers: (attempts, window_s) each.
    pub slow: (u32, u32),
    pub long: (u32, u32),
    pub allow: Allow,
}

impl FileBruteforce {
    pub fn validate(&self) -> Result<BruteforceConfig, ConfigError> {
        let bf = self;
        let mut ports = bf
            .ports
            .clone()
            .unwrap_or_else(|| DEFAULT_LOGIN_PORTS.to_vec());
        ports.extend(bf.extra_ports.iter().flatten().copied());
        let http_ports = bf.http_ports.clone().unwrap_or_default();
        ports.extend(http_ports.iter().copied());
        if ports.is_empty() || ports.contains(&0) {
            return Err(invalid(
                "rules.bruteforce.ports",
                "needs at least one port, each 1..=65535",
            ));
        }
        Ok(BruteforceConfig {
            enabled: bf.enabled.unwrap_or(true),
            attempts: ranged("rules.bruteforce.attempts", bf.attempts, 16, 3, 100_000)?,
            window_s: ranged("rules.bruteforce.window_s", bf.window_s, 120, 10, 86_400)?,
            ports: PortSet::new(ports),
            http_ports: PortSet::new(http_ports),
            web_logins: bf.web_logins.unwrap_or(true),
            form_login_hosts: crate::settings::cidrs(
                "rules.bruteforce.form_login_hosts",
                &bf.form_login_hosts,
                &[],
            )?,
            form_login_paths: login_paths(&bf.form_login_paths)?,
            slow: (
                ranged(
                    "rules.bruteforce.slow_attempts",
                    bf.slow_attempts,
                    30,
                    3,
                    1_000_000,
                )?,
                ranged(
                    "rules.bruteforce.slow_window_s",
                    bf.slow_window_s,
                    600,
                    0,
                    86_400,
                )?,
            ),
            long: (
                ranged(
                    "rules.bruteforce.long_attempts",
                    bf.long_attempts,
                    100,
                    3,
                    1_000_000,
                )?,
                ranged(
                    "rules.bruteforce.long_window_s",
                    bf.long_window_s,
                    3600,
                    0,
                    604_800,
                )?,
            ),
            max_attempt_duration_s: ranged(
                "rules.bruteforce.max_attempt_duration_s",
                bf.max_attempt_duration_s,
                60,
                1,
                3600,
            )?,
            max_reply_bytes: ranged(
                "rules.bruteforce.max_reply_bytes",
                bf.max_reply_bytes,
                16_384,
                256,
                1 << 30,
            )?,
            allow: allow("rules.bruteforce", &bf.allow, &[])?,
        })
    }
}

/// Form logins watched by default: LuCI's (every `POST` under `/cgi-bin/luci` that is not a
/// logged-in session's is its login form) and the common `/login`.
pub const DEFAULT_FORM_LOGIN_PATHS: &[&str] = &["/cgi-bin/luci", "/login"];

fn login_paths(v: &Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let Some(list) = v else {
        return Ok(DEFAULT_FORM_LOGIN_PATHS
            .iter()
            .map(|s| s.to_string())
            .collect());
    };
    for p in list {
        if !p.starts_with('/') || p.len() > 64 || p.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(invalid(
                "rules.bruteforce.form_login_paths",
                format!(
                    "`{}` is not a URL path (`/` then at most 63 printable characters)",
                    p.escape_debug()
                ),
            ));
        }
    }
    Ok(list.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_per_connection() {
        assert_eq!(attempts_in(22, 0, false), 1);
        assert_eq!(attempts_in(22, 5, false), 2);
        assert_eq!(attempts_in(22, 40, false), 6);
        assert_eq!(attempts_in(21, 6, false), 3);
        assert_eq!(attempts_in(110, 7, false), 3);
        assert_eq!(attempts_in(143, 4, false), 3);
        assert_eq!(attempts_in(587, 7, false), 2);
        assert_eq!(attempts_in(3306, 9, false), 1);
        assert_eq!(attempts_in(8080, 9, true), 9);
        assert_eq!(attempts_in(8080, 0, true), 1);
    }

    #[test]
    fn sliding_window_counts_the_last_w_seconds() {
        let mut w = Sliding::default();
        // One a second for 300 s in windows of 120 s: about 120 at the end.
        let mut total = 0.0;
        for s in 1..=300u64 {
            w.roll(s * 1_000_000, 120);
            w.cur += 1;
            total = w.estimate(s * 1_000_000, 120);
        }
        assert!((100.0..=125.0).contains(&total), "{total}");
        // After a silence of two windows nothing is left.
        w.roll(600 * 1_000_000, 120);
        assert!(w.is_empty());
        // Fine buckets: 30 spread over 580 s count 30 in a 600 s window, whatever the phase.
        for phase in [0u64, 17, 299, 599] {
            let mut f = Fine::default();
            let mut last = 0;
            for i in 0..30u64 {
                last = f.add((1_000_000 + phase + i * 20) * 1_000_000, 600, 1);
            }
            assert_eq!(last, 30, "phase {phase}");
        }
        // Spans longer than the window plus a tenth never count whole.
        let mut f = Fine::default();
        let mut last = 0;
        for i in 0..30u64 {
            last = f.add((1_000_000 + i * 40) * 1_000_000, 600, 1);
        }
        assert!(last < 30, "{last}");
        assert!(f.is_empty((1_000_000 + 30 * 40 + 700) * 1_000_000, 600));
    }
}
