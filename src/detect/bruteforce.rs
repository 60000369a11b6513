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
//! Threshold: `attempts` = 16 within `window_s` = 120 s (a sliding window of two half-window
//! buckets). fail2ban's default is 5 failures in 10 min, Zeek's 30 in 30 min and CrowdSec's
//! ssh-bf a leaky bucket of 5 per 10 s; we see only the network, not the log's "failed", so we
//! ask for more attempts in less time than fail2ban to stay quiet on a user who mistypes.
//!
//! Suppression key: (rule, attacker, host, port).

use crate::addr::Addr;
use crate::config::BruteforceConfig;
use crate::decode::proto;
use crate::flow::{Closed, TcpState};
use crate::table::{LruMap, Seed, TableKey, Upsert};

use super::{community_id, Alert, Emit, Figure, Rule, RuleId, SuppressKey};

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

#[derive(Default)]
struct Attempts {
    /// Start (s) of the current half-window bucket.
    bucket_start: u64,
    cur: u32,
    prev: u32,
    connections: u32,
    first_ts: i64,
}

pub struct BruteForceRule {
    pub cfg: BruteforceConfig,
    pairs: LruMap<Pair, Attempts>,
    evicted: u64,
}

/// Attempts one closed connection represents.
fn attempts_in(port: u16, turns: u16) -> u32 {
    match port {
        22 => (turns.saturating_sub(3) as u32).clamp(1, 6),
        21 => (turns as u32 / 2).clamp(1, 6),
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
            f.state != TcpState::None && f.flags[1] & crate::decode::tcp_flags::SYN != 0;
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
        let n = attempts_in(port, f.turns);
        let now = c.at;
        let half = (self.cfg.window_s as u64 / 2).max(1);
        let sec = now / 1_000_000;
        let key = Pair {
            attacker,
            server,
            port,
        };
        let (id, how) = self.pairs.upsert(key, 0, now, |a| {
            *a = Attempts {
                bucket_start: sec - sec % half,
                first_ts: f.first_ts,
                ..Attempts::default()
            }
        });
        self.evicted += (how == Upsert::Evicted) as u64;
        let st = self.pairs.get_mut(id);
        let bucket = sec - sec % half;
        if bucket != st.bucket_start {
            st.prev = if bucket == st.bucket_start + half {
                st.cur
            } else {
                0
            };
            st.cur = 0;
            st.bucket_start = bucket;
            if st.prev == 0 {
                st.first_ts = f.first_ts;
                st.connections = 0;
            }
        }
        st.cur += n;
        st.connections += 1;
        // Sliding estimate: the previous bucket weighted by how much of it is still in the window.
        let into = (now - bucket * 1_000_000) as f64 / (half * 1_000_000) as f64;
        let total = st.cur as f64 + st.prev as f64 * (1.0 - into).max(0.0);
        if total >= self.cfg.attempts as f64 {
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
            e.fig("threshold", Figure::U(self.cfg.attempts as u64));
            e.fig("window_s", Figure::U(self.cfg.window_s as u64));
            e.fig("connections", Figure::U(st.connections as u64));
            e.fig("last_connection_attempts", Figure::U(n as u64));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_per_connection() {
        assert_eq!(attempts_in(22, 0), 1);
        assert_eq!(attempts_in(22, 5), 2);
        assert_eq!(attempts_in(22, 40), 6);
        assert_eq!(attempts_in(21, 6), 3);
        assert_eq!(attempts_in(3306, 9), 1);
    }
}
