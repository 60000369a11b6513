//! Which alerts become messages: at most one per (rule, source) episode while it goes on, and
//! past `max_per_hour` messages in the last hour the rest wait for an hourly digest ("12 more
//! alerts in the last hour: …"). Pure bookkeeping on the alerts' own times, in fixed memory:
//! no I/O, so it is tested without a network and costs the daemon nothing between alerts.

use std::collections::VecDeque;

use crate::addr::Addr;
use crate::detect::{Alert, RuleId};

/// Episodes remembered; the least recently seen is forgotten first (a forgotten episode that
/// goes on is announced again: a message too many, never one too few).
pub const EPISODES: usize = 256;
/// Sources named in a digest.
pub const DIGEST_SOURCES: usize = 5;
const HOUR_US: i64 = 3_600_000_000;

/// What to do with an alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Tell the targets now.
    Send,
    /// Its episode was announced already.
    SameEpisode,
    /// Counted into the next digest (the hour's budget is spent).
    Held,
}

/// The alerts held back in the current hour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digest {
    /// Wall time (µs) of the first alert held.
    pub since: i64,
    pub count: u32,
    pub by_rule: [u32; RuleId::ALL.len()],
    pub sources: heapless::Vec<Addr, DIGEST_SOURCES>,
}

impl Digest {
    /// "12 more alerts in the last hour: 7 bruteforce, 5 portscan.vertical (from 192.168.1.66,
    /// 10.0.0.9)".
    pub fn text(&self) -> String {
        let mut rules: Vec<(u32, RuleId)> = RuleId::ALL
            .iter()
            .map(|r| (self.by_rule[*r as usize], *r))
            .filter(|(n, _)| *n > 0)
            .collect();
        rules.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.name().cmp(b.1.name())));
        let parts: Vec<String> = rules
            .iter()
            .map(|(n, r)| format!("{n} {}", r.name()))
            .collect();
        let mut s = format!(
            "{} more alert{} in the last hour: {}",
            self.count,
            if self.count == 1 { "" } else { "s" },
            parts.join(", ")
        );
        if !self.sources.is_empty() {
            let from: Vec<String> = self.sources.iter().map(|a| a.to_string()).collect();
            s.push_str(&format!(" (from {})", from.join(", ")));
        }
        s
    }
}

pub struct Policy {
    max_per_hour: usize,
    episode_gap_us: i64,
    digest_us: i64,
    /// (rule, source, time of its last alert), least recently seen first.
    episodes: VecDeque<(RuleId, Addr, i64)>,
    /// Times of the messages sent in the last hour.
    sent: VecDeque<i64>,
    digest: Option<Digest>,
}

impl Policy {
    /// `digest_s`: how long after the first alert it holds a digest is sent.
    pub fn new(max_per_hour: u32, episode_gap_s: u32, digest_s: u32) -> Policy {
        Policy {
            max_per_hour: max_per_hour as usize,
            episode_gap_us: episode_gap_s as i64 * 1_000_000,
            digest_us: digest_s as i64 * 1_000_000,
            episodes: VecDeque::with_capacity(EPISODES),
            sent: VecDeque::with_capacity(max_per_hour as usize),
            digest: None,
        }
    }

    /// Decide for an alert (its wall time `a.ts`).
    pub fn judge(&mut self, a: &Alert) -> Decision {
        let now = a.ts;
        let key = (a.rule, a.src);
        let known = self.episodes.iter().position(|(r, s, _)| (*r, *s) == key);
        let ongoing = match known {
            Some(i) => {
                let (_, _, last) = self.episodes.remove(i).unwrap_or((a.rule, a.src, now));
                now.saturating_sub(last) < self.episode_gap_us
            }
            None => false,
        };
        if self.episodes.len() == EPISODES {
            self.episodes.pop_front();
        }
        self.episodes.push_back((a.rule, a.src, now));
        if ongoing {
            return Decision::SameEpisode;
        }
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= HOUR_US)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.max_per_hour {
            self.sent.push_back(now);
            return Decision::Send;
        }
        let d = self.digest.get_or_insert_with(|| Digest {
            since: now,
            ..Digest::default()
        });
        d.count += 1;
        d.by_rule[a.rule as usize] += 1;
        if !d.sources.contains(&a.src) {
            let _ = d.sources.push(a.src);
        }
        Decision::Held
    }

    /// The digest, once `digest_s` has passed since the first alert it holds (`now`: wall
    /// time, µs); it counts as a message.
    pub fn due_digest(&mut self, now: i64) -> Option<Digest> {
        let d = self.digest.as_ref()?;
        if now.saturating_sub(d.since) < self.digest_us {
            return None;
        }
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= HOUR_US)
        {
            self.sent.pop_front();
        }
        if self.sent.len() == self.max_per_hour {
            self.sent.pop_front();
        }
        self.sent.push_back(now);
        self.digest.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_790_000_000_000_000;
    const MIN: i64 = 60_000_000;

    fn alert(rule: RuleId, src: [u8; 4], ts: i64) -> Alert {
        let mut a = Alert::new(rule, ts);
        a.src = Addr::v4(src);
        a
    }

    #[test]
    fn one_message_per_episode_while_it_goes_on() {
        let mut p = Policy::new(10, 3600, 3600);
        let scan = |ts| alert(RuleId::PortscanVertical, [192, 168, 1, 66], ts);
        assert_eq!(p.judge(&scan(T)), Decision::Send);
        // Repeats every 10 minutes for five hours: one episode.
        for i in 1..30 {
            assert_eq!(p.judge(&scan(T + i * 10 * MIN)), Decision::SameEpisode);
        }
        // Another rule from the same source, or the same rule from another: their own.
        assert_eq!(
            p.judge(&alert(RuleId::Bruteforce, [192, 168, 1, 66], T + 300 * MIN)),
            Decision::Send
        );
        assert_eq!(
            p.judge(&alert(
                RuleId::PortscanVertical,
                [192, 168, 1, 67],
                T + 300 * MIN
            )),
            Decision::Send
        );
        // Quiet for more than the gap: a new episode.
        assert_eq!(p.judge(&scan(T + 290 * MIN + 61 * MIN)), Decision::Send);
    }

    #[test]
    fn past_the_hourly_budget_alerts_wait_for_a_digest() {
        let mut p = Policy::new(3, 3600, 3600);
        for i in 0..3u8 {
            assert_eq!(
                p.judge(&alert(
                    RuleId::Bruteforce,
                    [10, 0, 0, i],
                    T + i as i64 * MIN
                )),
                Decision::Send
            );
        }
        for i in 3..15u8 {
            let rule = if i % 3 == 0 {
                RuleId::PortscanVertical
            } else {
                RuleId::Bruteforce
            };
            assert_eq!(
                p.judge(&alert(rule, [10, 0, 0, i], T + i as i64 * MIN)),
                Decision::Held
            );
        }
        // Not before the digest's hour is over.
        assert_eq!(p.due_digest(T + 62 * MIN), None);
        let d = p.due_digest(T + 63 * MIN).expect("the digest");
        assert_eq!((d.count, d.by_rule[RuleId::Bruteforce as usize]), (12, 8));
        assert_eq!(d.sources.len(), DIGEST_SOURCES);
        assert_eq!(
            d.text(),
            "12 more alerts in the last hour: 8 bruteforce, 4 portscan.vertical \
             (from 10.0.0.3, 10.0.0.4, 10.0.0.5, 10.0.0.6, 10.0.0.7)"
        );
        assert_eq!(p.due_digest(T + 200 * MIN), None, "sent once");
        // An hour after the first messages the budget is there again.
        assert_eq!(
            p.judge(&alert(RuleId::DnsTunnel, [10, 0, 0, 99], T + 125 * MIN)),
            Decision::Send
        );
    }

    #[test]
    fn episodes_are_bounded() {
        let mut p = Policy::new(u32::MAX / 2, 3600, 3600);
        for i in 0..(EPISODES as i64 + 10) {
            let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
            assert_eq!(p.judge(&alert(RuleId::HostNew, src, T + i)), Decision::Send);
        }
        assert_eq!(p.episodes.len(), EPISODES);
        // The first episodes were forgotten (announced again), the last are still known.
        assert_eq!(
            p.judge(&alert(RuleId::HostNew, [10, 0, 0, 0], T + 1000)),
            Decision::Send
        );
        let last = EPISODES as i64 + 9;
        assert_eq!(
            p.judge(&alert(
                RuleId::HostNew,
                [10, (last >> 16) as u8, (last >> 8) as u8, last as u8],
                T + 1001
            )),
            Decision::SameEpisode
        );
    }
}
