//! Sensor health: once a minute the daemon judges whether the sensor can still see, and
//! raises low-severity `sensor.health` alerts (sid 9100007) for capture loss over 1 %, a
//! detector table turning over a tenth of its capacity (state forgotten faster than the rules'
//! windows need it), a failing store, or dropped syslog messages.

use std::time::{Instant, SystemTime};

use crate::capture::CaptureStats;
use crate::config::Config;
use crate::detect::{Alert, Figure, RuleId};
use crate::output::store::Store;
use crate::pipeline::Pipeline;

/// One interface's capture statistics for the minute being judged.
pub struct CaptureMinute<'a> {
    pub name: &'static str,
    pub now: CaptureStats,
    /// At the start of the minute; set to `now` by `judge`.
    pub at_start: &'a mut CaptureStats,
}

/// Wall-clock time, µs since the epoch (health events are about now, not packet time).
pub fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Once-a-minute judgement of whether the sensor can still see.
pub struct Health {
    /// When the current minute began.
    pub since: Instant,
    flows_evicted: u64,
    rule_evictions: [u64; 5],
    store_errors: u64,
    syslog_dropped: u64,
}

fn health_alert(kind: &'static str, figures: &[(&'static str, Figure)]) -> Alert {
    let mut a = Alert::new(RuleId::SensorHealth, wall_us());
    a.evidence.fig("kind", Figure::S(kind));
    for (k, v) in figures {
        a.evidence.fig(k, *v);
    }
    a.key =
        crate::capture::decode::psl::fnv(crate::capture::decode::psl::FNV_OFFSET, kind.as_bytes())
            >> 1;
    a
}

impl Health {
    pub fn new(p: &Pipeline) -> Health {
        let mut h = Health {
            since: Instant::now(),
            flows_evicted: 0,
            rule_evictions: [0; 5],
            store_errors: 0,
            syslog_dropped: 0,
        };
        h.baseline(p, None, None);
        h
    }

    fn baseline(&mut self, p: &Pipeline, store: Option<&Store>, syslog_dropped: Option<u64>) {
        self.flows_evicted = p.flows().counters.evicted;
        let e = p.engine().evictions();
        self.rule_evictions = [e.scan, e.synflood, e.bruteforce, e.dns_tunnel, e.beacon];
        self.store_errors = store.map(|s| s.counters.errors).unwrap_or(0);
        self.syslog_dropped = syslog_dropped.unwrap_or(0);
    }

    /// Judge the minute that just ended; push any health events to `out`. `captures` are the
    /// interfaces' statistics now and at the start of the minute (brought up to date here);
    /// `syslog_dropped` is the syslog queue's drop count (None: no syslog).
    pub fn judge(
        &mut self,
        cfg: &Config,
        p: &Pipeline,
        captures: &mut [CaptureMinute<'_>],
        store: Option<&Store>,
        syslog_dropped: Option<u64>,
        out: &mut Vec<Alert>,
    ) {
        for s in captures.iter_mut() {
            let (a, b) = (*s.at_start, s.now);
            let recv = b.received.saturating_sub(a.received);
            let dropped = (b.dropped_kernel + b.dropped_interface)
                .saturating_sub(a.dropped_kernel + a.dropped_interface);
            if dropped > 0 && dropped * 100 > recv {
                out.push(health_alert(
                    "capture_loss",
                    &[
                        ("interface", Figure::S(s.name)),
                        ("dropped", Figure::U(dropped)),
                        ("received", Figure::U(recv)),
                        (
                            "loss_pct",
                            Figure::F(dropped as f64 * 100.0 / recv.max(1) as f64),
                        ),
                        ("threshold_pct", Figure::F(1.0)),
                        ("window_s", Figure::U(60)),
                    ],
                ));
            }
            *s.at_start = s.now;
        }
        let c = &cfg.capacity;
        let e = p.engine().evictions();
        let now = [e.scan, e.synflood, e.bruteforce, e.dns_tunnel, e.beacon];
        let caps = [
            c.scan_targets + c.scan_sweeps,
            c.syn_victims,
            c.login_pairs,
            c.dns_domains,
            c.beacon_pairs,
        ];
        let names = ["scan", "synflood", "bruteforce", "dns_tunnel", "beacon"];
        let mut tables: Vec<(&'static str, u64, usize)> = vec![(
            "flows",
            p.flows()
                .counters
                .evicted
                .saturating_sub(self.flows_evicted),
            c.flows,
        )];
        for i in 0..5 {
            tables.push((
                names[i],
                now[i].saturating_sub(self.rule_evictions[i]),
                caps[i],
            ));
        }
        for (name, evicted, cap) in tables {
            // A table that turns over a tenth of itself in a minute forgets state faster
            // than the rules' windows need it: detection is degraded.
            if evicted > 0 && evicted as usize * 10 >= cap {
                out.push(health_alert(
                    "table_evictions",
                    &[
                        ("table", Figure::S(name)),
                        ("evicted", Figure::U(evicted)),
                        ("capacity", Figure::U(cap as u64)),
                        ("window_s", Figure::U(60)),
                    ],
                ));
            }
        }
        if let Some(s) = store {
            let errs = s.counters.errors.saturating_sub(self.store_errors);
            if errs > 0 {
                out.push(health_alert(
                    "store_failing",
                    &[
                        ("errors", Figure::U(errs)),
                        ("queued", Figure::U(s.pending() as u64)),
                        ("dropped", Figure::U(s.counters.dropped)),
                        ("window_s", Figure::U(60)),
                    ],
                ));
            }
        }
        if let Some(dropped) = syslog_dropped {
            let d = dropped.saturating_sub(self.syslog_dropped);
            if d > 0 {
                out.push(health_alert(
                    "syslog_dropping",
                    &[("dropped", Figure::U(d)), ("window_s", Figure::U(60))],
                ));
            }
        }
        self.baseline(p, store, syslog_dropped);
        self.since = Instant::now();
    }
}
