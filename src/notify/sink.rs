//! The daemon's notification sink: the policy decides, each target that wants the message gets
//! its body on a bounded queue, and one thread of its own (`netwatch-notify`) delivers them one
//! at a time, each within `timeout_s`, trying a failed one again later (5 s, 30 s, 2 min) while
//! the others go on. Full queue: the oldest message is dropped and counted. Nothing here
//! blocks the caller beyond a lock on the queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::deliver::{post, Outcome};
use super::format::{body, Kind, Message};
use super::policy::{Decision, Policy};
use super::{NotifyConfig, Target};
use crate::detect::Alert;

/// Waits before the second, third and fourth try of a message.
const RETRY_AFTER: [Duration; 3] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyCounters {
    /// Messages put on the queue (one per target).
    pub queued: u64,
    pub delivered: u64,
    /// Messages given up on (refused, or failed on every try).
    pub failed: u64,
    /// Tries that failed and were tried again later.
    pub retried: u64,
    /// Messages dropped because the queue was full (the oldest go).
    pub dropped: u64,
    /// Alerts not sent: their episode was announced already.
    pub same_episode: u64,
    /// Alerts gathered into a digest (past the hourly budget), and digests sent.
    pub held: u64,
    pub digests: u64,
    /// Messages waiting now.
    pub waiting: u64,
    pub last_error: String,
}

struct Job {
    target: usize,
    body: String,
    tries: usize,
    not_before: Instant,
}

struct Shared {
    queue: Mutex<VecDeque<Job>>,
    wake: Condvar,
    counters: Mutex<NotifyCounters>,
    stop: AtomicBool,
}

impl Shared {
    fn count(&self, f: impl FnOnce(&mut NotifyCounters)) {
        if let Ok(mut c) = self.counters.lock() {
            f(&mut c);
        }
    }
}

/// The daemon's handle on the notification thread.
pub struct Notifier {
    pub cfg: NotifyConfig,
    policy: Policy,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The URL a message for `t` is posted to: ntfy's JSON publishing goes to the server's root
/// (the topic is in the body), Gotify's to the server's `/message`, the others as written.
fn post_url(t: &Target) -> String {
    match t.kind {
        Kind::Ntfy => {
            let u = t.url.trim_end_matches('/');
            u[..u.rfind('/').map_or(u.len(), |i| i + 1)].to_string()
        }
        Kind::Gotify if !t.url.trim_end_matches('/').ends_with("/message") => {
            format!("{}/message", t.url.trim_end_matches('/'))
        }
        _ => t.url.clone(),
    }
}

impl Notifier {
    /// Start the thread; `None` when no target is configured or the thread cannot start.
    pub fn start(cfg: &NotifyConfig) -> Option<Notifier> {
        if cfg.targets.is_empty() {
            return None;
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::with_capacity(cfg.queue as usize)),
            wake: Condvar::new(),
            counters: Mutex::new(NotifyCounters::default()),
            stop: AtomicBool::new(false),
        });
        let (sh, c) = (shared.clone(), cfg.clone());
        let thread = std::thread::Builder::new()
            .name("netwatch-notify".into())
            .spawn(move || worker(&c, &sh));
        match thread {
            Ok(t) => {
                let kinds: Vec<&str> = cfg.targets.iter().map(|t| t.kind.as_str()).collect();
                log::info!(
                    "notify: alerts go to {} target(s) ({}), at most {} messages an hour",
                    cfg.targets.len(),
                    kinds.join(", "),
                    cfg.max_per_hour
                );
                Some(Notifier {
                    cfg: cfg.clone(),
                    policy: Policy::new(cfg.max_per_hour, cfg.episode_gap_s, cfg.digest_s),
                    shared,
                    thread: Some(t),
                })
            }
            Err(e) => {
                log::error!("notify: cannot start its thread ({e}); notifications are off");
                None
            }
        }
    }

    /// Queue `m` for every target that wants it (`rule`: `None` for digests and tests, which
    /// every target gets). Returns how many were queued.
    fn queue(&self, m: &Message, rule: Option<crate::detect::RuleId>) -> usize {
        let mut n = 0;
        let Ok(mut q) = self.shared.queue.lock() else {
            return 0;
        };
        for (i, t) in self.cfg.targets.iter().enumerate() {
            if !t.wants(m.severity, rule) {
                continue;
            }
            if q.len() >= self.cfg.queue as usize {
                q.pop_front();
                self.shared.count(|c| c.dropped += 1);
            }
            q.push_back(Job {
                target: i,
                body: body(t.kind, m, t.topic()),
                tries: 0,
                not_before: Instant::now(),
            });
            n += 1;
        }
        drop(q);
        self.shared.count(|c| c.queued += n as u64);
        self.shared.wake.notify_one();
        n
    }

    /// An emitted alert (`eve`: its EVE line).
    pub fn alert(&mut self, a: &Alert, eve: &str) {
        if a.suppressed
            || !self
                .cfg
                .targets
                .iter()
                .any(|t| t.wants(a.rule.severity(), Some(a.rule)))
        {
            return;
        }
        match self.policy.judge(a) {
            Decision::Send => {
                self.queue(&Message::of_alert(a, eve), Some(a.rule));
            }
            Decision::SameEpisode => self.shared.count(|c| c.same_episode += 1),
            Decision::Held => self.shared.count(|c| c.held += 1),
        }
    }

    /// Once a second (`wall_us`: now): the digest, when its hour is over.
    pub fn tick(&mut self, wall_us: i64) {
        if let Some(d) = self.policy.due_digest(wall_us) {
            self.queue(&Message::digest(d.text()), None);
            self.shared.count(|c| c.digests += 1);
        }
    }

    /// A test message to every target; how many were queued.
    pub fn test(&self) -> usize {
        self.queue(&Message::test(), None)
    }

    pub fn counters(&self) -> NotifyCounters {
        let mut c = self
            .shared
            .counters
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        c.waiting = self
            .shared
            .queue
            .lock()
            .map(|q| q.len() as u64)
            .unwrap_or(0);
        c
    }

    /// Wait up to `within` for the queue to empty (the CLI's test message; shutdown).
    pub fn drain(&self, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            let c = self.counters();
            if c.waiting == 0 && c.queued == c.delivered + c.failed + c.dropped {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
        // Not joined: a delivery in flight ends within timeout_s on its own.
        drop(self.thread.take());
    }
}

fn worker(cfg: &NotifyConfig, sh: &Shared) {
    let timeout = Duration::from_secs(cfg.timeout_s as u64);
    loop {
        let job = {
            let Ok(mut q) = sh.queue.lock() else { return };
            loop {
                if sh.stop.load(Ordering::Relaxed) {
                    return;
                }
                let now = Instant::now();
                if let Some(i) = q.iter().position(|j| j.not_before <= now) {
                    break q.remove(i);
                }
                let wait = q
                    .iter()
                    .map(|j| j.not_before.saturating_duration_since(now))
                    .min()
                    .unwrap_or(Duration::from_secs(1))
                    .min(Duration::from_secs(1));
                q = match sh.wake.wait_timeout(q, wait) {
                    Ok((q, _)) => q,
                    Err(_) => return,
                };
            }
        };
        let Some(mut job) = job else { continue };
        let Some(t) = cfg.targets.get(job.target) else {
            continue;
        };
        let outcome = post(&post_url(t), &job.body, &t.token, &t.ca_file, timeout);
        match outcome {
            Outcome::Delivered(_) => sh.count(|c| c.delivered += 1),
            o if o.retry() && job.tries < RETRY_AFTER.len() => {
                log::warn!(
                    "notify: {} target {}: {o}; trying again",
                    t.kind.as_str(),
                    t.url
                );
                job.not_before = Instant::now() + RETRY_AFTER[job.tries];
                job.tries += 1;
                sh.count(|c| {
                    c.retried += 1;
                    c.last_error = format!("{}: {o}", t.url);
                });
                if let Ok(mut q) = sh.queue.lock() {
                    if q.len() >= cfg.queue as usize {
                        q.pop_front();
                        sh.count(|c| c.dropped += 1);
                    }
                    q.push_back(job);
                }
            }
            o => {
                log::warn!(
                    "notify: {} target {}: {o}; message dropped",
                    t.kind.as_str(),
                    t.url
                );
                sh.count(|c| {
                    c.failed += 1;
                    c.last_error = format!("{}: {o}", t.url);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A webhook receiver answering `status` to each request; returns its URL and a counter
    /// of requests received.
    fn receiver(status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
                let mut buf = Vec::new();
                let mut b = [0u8; 4096];
                while let Ok(n) = s.read(&mut b) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&b[..n]);
                    if buf.ends_with(b"}") {
                        break;
                    }
                }
                g.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).into_owned());
                let _ = write!(s, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
            }
        });
        (url, got)
    }

    fn cfg(targets: &[(&str, &str)]) -> NotifyConfig {
        let mut t = String::new();
        for (kind, url) in targets {
            t.push_str(&format!(
                "[[targets]]\nkind = \"{kind}\"\nurl = \"{url}\"\n"
            ));
        }
        let f: super::super::FileNotify = toml::from_str(&t).unwrap();
        f.validate().unwrap()
    }

    #[test]
    fn each_kind_posts_where_its_service_listens() {
        let c = cfg(&[
            ("ntfy", "https://ntfy.sh/home-7f3a"),
            ("gotify", "http://gotify.lan:8080/"),
            ("gotify", "http://gotify.lan/message"),
            ("discord", "https://discord.com/api/webhooks/1/x"),
        ]);
        let urls: Vec<String> = c.targets.iter().map(post_url).collect();
        assert_eq!(
            urls,
            [
                "https://ntfy.sh/",
                "http://gotify.lan:8080/message",
                "http://gotify.lan/message",
                "https://discord.com/api/webhooks/1/x"
            ]
        );
        assert_eq!(c.targets[0].topic(), "home-7f3a");
    }

    #[test]
    fn alerts_reach_every_target_and_a_refusal_is_counted() {
        let (ok, got) = receiver(200);
        let (bad, bad_got) = receiver(400);
        let mut n = Notifier::start(&cfg(&[("slack", &ok), ("webhook", &bad)])).unwrap();
        let mut a = Alert::new(crate::detect::RuleId::Bruteforce, 1_790_000_000_000_000);
        a.src = crate::addr::Addr::v4([192, 168, 1, 66]);
        n.alert(&a, "{\"event_type\":\"alert\"}");
        // The same episode again: nothing more.
        a.ts += 60_000_000;
        n.alert(&a, "{\"event_type\":\"alert\"}");
        assert!(n.drain(Duration::from_secs(10)), "{:?}", n.counters());
        let c = n.counters();
        assert_eq!(
            (c.queued, c.delivered, c.failed, c.same_episode),
            (2, 1, 1, 1),
            "{c:?}"
        );
        assert!(c.last_error.contains("HTTP 400"), "{c:?}");
        let slack = got.lock().unwrap()[0].clone();
        assert!(
            slack.contains("\"text\":\"*NetWatch: password guessing from 192.168.1.66*"),
            "{slack}"
        );
        assert!(bad_got.lock().unwrap()[0].ends_with("{\"event_type\":\"alert\"}"));
        // A test message goes to both.
        assert_eq!(n.test(), 2);
        assert!(n.drain(Duration::from_secs(10)));
        assert_eq!(got.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_target_that_fails_is_tried_again_without_holding_up_the_others() {
        // Nothing listens on the first target's port.
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/x", l.local_addr().unwrap())
        };
        let (ok, got) = receiver(200);
        let n = Notifier::start(&cfg(&[
            ("webhook", &dead),
            ("ntfy", &format!("{ok}/topic")),
        ]))
        .unwrap();
        assert_eq!(n.test(), 2);
        let t0 = Instant::now();
        while got.lock().unwrap().is_empty() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            got.lock().unwrap().len(),
            1,
            "the working target got its message"
        );
        let c = n.counters();
        assert_eq!((c.delivered, c.retried, c.waiting), (1, 1, 1), "{c:?}");
    }
}
