//! Scenario tests of `anomaly.host` in packet time: weeks of per-minute traffic of a modelled
//! home LAN, generated in code, fed to the engine as closed flows (and, for a long upload,
//! as packets through a real flow table so the minute walk is what sees it).

use crate::addr::Addr;
use crate::capture::decode::{proto, tcp_flags, PacketMeta};
use crate::config::{Config, FileConfig};
use crate::detect::{Alert, Engine, RuleId};
use crate::state::flow::{CloseReason, Closed, Flow, FlowKey, FlowTable};

/// Monday 2026-01-05 00:00 UTC, µs.
const T0: i64 = 1_767_571_200_000_000;
const MIN: i64 = 60_000_000;
const DAY: i64 = 86_400_000_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
    /// Poisson-distributed count with mean `m` (inversion; small means).
    fn poisson(&mut self, m: f64) -> u32 {
        let (l, mut k, mut p) = ((-m).exp(), 0u32, 1.0);
        loop {
            p *= self.f();
            if p <= l || k > 1000 {
                return k;
            }
            k += 1;
        }
    }
    /// Log-normal factor with median 1.
    fn lognormal(&mut self, sigma: f64) -> f64 {
        let (u1, u2) = (self.f().max(1e-12), self.f());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (sigma * z).exp()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Laptop,
    Phone,
    Tv,
    Nas,
    Iot,
}

struct Sim {
    engine: Engine,
    flows: FlowTable,
    alerts: Vec<Alert>,
    rng: Rng,
    sport: u16,
}

fn local(i: u32) -> Addr {
    Addr::v4([192, 168, 1, 10 + i as u8])
}

fn external(n: u64) -> Addr {
    Addr::v4([
        23 + (n % 150) as u8,
        (n >> 8) as u8,
        (n >> 16) as u8,
        1 + (n % 250) as u8,
    ])
}

fn config(learning_days: u32) -> Config {
    let mut f = FileConfig::default();
    f.rules.anomaly.learning_days = Some(learning_days);
    f.validate().expect("config")
}

impl Sim {
    fn new(cfg: &Config, seed: u64) -> Sim {
        Sim {
            engine: Engine::new(&cfg.detect()),
            flows: FlowTable::new(cfg.capacity.flows, 16, cfg.flow, cfg.sketch_key),
            alerts: Vec::new(),
            rng: Rng(seed),
            sport: 1024,
        }
    }

    /// A flow from `src` to `dst:dport` that closed at `at` with these totals.
    #[allow(clippy::too_many_arguments)]
    fn flow(&mut self, at: i64, src: Addr, dst: Addr, dport: u16, p: u8, out: u64, inn: u64) {
        self.sport = self.sport.wrapping_add(1).max(1024);
        let (key, src_is_a) = FlowKey::new(src, self.sport, dst, dport, p);
        let mut f = Flow::default();
        f.init_is_a = src_is_a;
        f.pkts = [
            1 + (out / 1400) as u32,
            (inn > 0) as u32 + (inn / 1400) as u32,
        ];
        f.bytes = [out, inn];
        f.first = (at - T0) as u64;
        f.last = (at - T0) as u64;
        f.first_ts = at;
        f.payload = [out.saturating_sub(60), inn.saturating_sub(60)];
        let c = Closed {
            id: 0,
            key: &key,
            flow: &f,
            reason: CloseReason::Fin,
            at: (at - T0) as u64,
            at_ts: at,
        };
        let alerts = &mut self.alerts;
        self.engine.on_close(&c, &mut |a| alerts.push(a.clone()));
    }

    /// End of the minute that started at `start`: the engine's second tick after it.
    fn end_minute(&mut self, start: i64) {
        let wall = start + MIN;
        let alerts = &mut self.alerts;
        self.engine
            .tick((wall - T0) as u64, wall, &self.flows, &mut |a| {
                alerts.push(a.clone())
            });
    }

    /// One minute of normal traffic of host `i` of kind `k`.
    fn normal_minute(&mut self, t: i64, i: u32, k: Kind, day_factor: f64) {
        let hour = (t.rem_euclid(DAY) / 3_600_000_000) as u32;
        let weekend = (t - T0).div_euclid(DAY) % 7 >= 5;
        let src = local(i);
        // How likely a person is using a device at this hour.
        let busy = match hour {
            0..=5 => 0.01,
            6..=8 => 0.25,
            9..=16 if weekend => 0.45,
            9..=16 => 0.08,
            17..=22 => 0.6,
            _ => 0.2,
        };
        let dns = crate::addr::Addr::v4([192, 168, 1, 1]);
        match k {
            Kind::Laptop | Kind::Phone => {
                // Background sync, all day.
                if self.rng.chance(if k == Kind::Phone { 0.5 } else { 0.2 }) {
                    let d = external(1000 + i as u64 * 7 + self.rng.below(3));
                    self.flow(t, src, d, 443, proto::TCP, 3_000, 8_000);
                    self.flow(t, src, dns, 53, proto::UDP, 70, 120);
                }
                if self.rng.chance(busy) {
                    // A browsing burst: pages from popular and less popular sites.
                    let heavy = self.rng.chance(0.05);
                    let n = if heavy {
                        40
                    } else {
                        self.rng.poisson(6.0 * day_factor)
                    };
                    for _ in 0..n {
                        let site = if self.rng.chance(0.7) {
                            self.rng.below(300)
                        } else {
                            10_000 + self.rng.below(100_000)
                        };
                        let out = (1_500.0 * self.rng.lognormal(0.8)) as u64;
                        let inn = (60_000.0 * self.rng.lognormal(1.2) * day_factor) as u64;
                        self.flow(t, src, external(site), 443, proto::TCP, out, inn);
                        if self.rng.chance(0.6) {
                            self.flow(t, src, dns, 53, proto::UDP, 70, 150);
                        }
                    }
                }
                // A software update now and then (laptops), at any hour.
                if k == Kind::Laptop && self.rng.chance(1.0 / 1440.0 / 3.0) {
                    let cdn = external(50_000 + self.rng.below(10));
                    self.flow(t, src, cdn, 443, proto::TCP, 2_000_000, 900_000_000);
                }
                // A photo or two shared (small uploads) in busy hours.
                if self.rng.chance(busy * 0.02) {
                    let d = external(7_000 + self.rng.below(5));
                    let up = (2_000_000.0 * self.rng.lognormal(0.7)) as u64;
                    self.flow(t, src, d, 443, proto::TCP, up, 20_000);
                }
            }
            Kind::Tv => {
                let watching = (18..=23).contains(&hour) || (weekend && (10..=17).contains(&hour));
                if watching && self.rng.chance(0.7 * day_factor.min(1.4)) {
                    {
                        let cdn = external(60_000 + self.rng.below(4));
                        let inn = (45_000_000.0 * self.rng.lognormal(0.3)) as u64;
                        self.flow(t, src, cdn, 443, proto::TCP, 400_000, inn);
                    }
                }
                if self.rng.chance(0.05) {
                    self.flow(t, src, external(61_000), 443, proto::TCP, 900, 1_800);
                }
            }
            Kind::Nas => {
                // Nightly backup to the cloud, 02:00 to about 02:40.
                let m = (t.rem_euclid(DAY) / MIN) as u32;
                if (120..160 + self.rng.below(10) as u32).contains(&m) {
                    let up = (25_000_000.0 * self.rng.lognormal(0.25)) as u64;
                    self.flow(t, src, external(70_000), 443, proto::TCP, up, 200_000);
                }
                if self.rng.chance(0.1) {
                    self.flow(t, src, external(70_001), 443, proto::TCP, 1_200, 3_000);
                    self.flow(t, src, dns, 53, proto::UDP, 70, 120);
                }
            }
            Kind::Iot => {
                // Cloud check-ins at random (Poisson) times with near-constant sizes.
                for _ in 0..self.rng.poisson(0.2) {
                    let cloud = external(80_000 + (i as u64 % 5));
                    self.flow(t, src, cloud, 8883, proto::TCP, 310, 520);
                    self.flow(t, src, dns, 53, proto::UDP, 70, 110);
                }
            }
        }
    }

    /// `days` days of the modelled home from `day0` on; hosts 0..50.
    fn run_days(&mut self, day0: i64, days: i64, kinds: &[Kind]) {
        for d in day0..day0 + days {
            let factors: Vec<f64> = kinds.iter().map(|_| self.rng.lognormal(0.3)).collect();
            for m in 0..1440 {
                let t = T0 + d * DAY + m * MIN;
                for (i, k) in kinds.iter().enumerate() {
                    self.normal_minute(t, i as u32, *k, factors[i]);
                }
                self.end_minute(t);
            }
        }
    }

    /// Host `host` sends one unanswered SYN to each of `n` external addresses at `t`.
    fn sweep(&mut self, t: i64, host: u32, n: u64, first: u64, step: u64) {
        for k in 0..n {
            let d = external(first + k * step);
            self.flow(t, local(host), d, 445, proto::TCP, 60, 0);
        }
    }

    /// A normal minute for every host but `skip`.
    fn others(&mut self, t: i64, kinds: &[Kind], skip: usize) {
        for (i, k) in kinds.iter().enumerate() {
            if i != skip {
                self.normal_minute(t, i as u32, *k, 1.0);
            }
        }
    }

    fn anomalies(&self) -> Vec<&Alert> {
        self.alerts
            .iter()
            .filter(|a| a.rule == RuleId::AnomalyHost && !a.suppressed)
            .collect()
    }
}

fn home() -> Vec<Kind> {
    let mut k = Vec::new();
    k.extend([Kind::Laptop; 12]);
    k.extend([Kind::Phone; 16]);
    k.extend([Kind::Tv; 4]);
    k.extend([Kind::Nas; 2]);
    k.extend([Kind::Iot; 16]);
    assert_eq!(k.len(), 50);
    k
}

fn fig(a: &Alert, k: &str) -> Option<u64> {
    a.evidence
        .figures
        .iter()
        .find(|f| f.0 == k)
        .map(|f| match f.1 {
            crate::detect::Figure::U(u) => u,
            crate::detect::Figure::F(x) => x as u64,
            crate::detect::Figure::S(_) => 0,
        })
}

#[test]
fn normal_weeks_are_silent_after_learning() {
    // Ten homes of 50 hosts, each a week of learning then two judged weeks: 7,000 host-days.
    let kinds = home();
    let mut judged_alerts = 0;
    for seed in 1..=10u64 {
        let mut sim = Sim::new(&config(7), seed * 7919);
        sim.run_days(0, 21, &kinds);
        let bad: Vec<String> = sim
            .anomalies()
            .iter()
            .map(|a| {
                let mut s = String::new();
                let _ = a.summary(&mut s);
                format!("day {}: {s}", (a.ts - T0) / DAY)
            })
            .collect();
        judged_alerts += bad.len();
        assert!(
            bad.is_empty(),
            "seed {seed}: false alarms on a normal week:\n{}",
            bad.join("\n")
        );
        assert_eq!(sim.engine.hosts.entries(), 50);
        assert_eq!(sim.engine.hosts.counters.evicted, 0);
    }
    assert_eq!(judged_alerts, 0);
}

#[test]
fn sudden_contact_with_300_addresses_is_caught() {
    let kinds = home();
    let mut sim = Sim::new(&config(7), 42);
    sim.run_days(0, 9, &kinds);
    assert!(sim.anomalies().is_empty());
    // Day 9 (a Wednesday), 15:00: laptop 3 contacts 300 external addresses in one minute.
    let t = T0 + 9 * DAY + 15 * 60 * MIN;
    sim.sweep(t, 3, 300, 200_000, 13);
    sim.others(t, &kinds, 3);
    sim.end_minute(t);
    let found = sim.anomalies();
    assert_eq!(found.len(), 1, "{:?}", found);
    let a = found[0];
    assert_eq!(a.src, local(3));
    let d = fig(a, "destinations_observed").expect("destinations named in evidence");
    assert!((240..=360).contains(&d), "estimated {d} destinations");
    assert!(fig(a, "destinations_baseline").is_some());
    let mut s = String::new();
    crate::detect::explain::explain(a, &mut s).unwrap();
    assert!(s.contains("different external addresses"), "{s}");
}

#[test]
fn sudden_500_mb_upload_over_five_minutes_is_caught_while_the_flow_is_open() {
    let kinds = home();
    let cfg = config(7);
    let mut sim = Sim::new(&cfg, 4242);
    sim.run_days(0, 8, &kinds);
    assert!(sim.anomalies().is_empty());
    // Day 8, 14:00: laptop 5 uploads 500 MB to one address over 5 minutes, one TCP
    // connection (packets through the flow table; the minute walk sees it grow).
    let (src, dst) = (local(5), external(999_999));
    let t0 = T0 + 8 * DAY + 14 * 60 * MIN;
    let mut m = PacketMeta {
        src,
        dst,
        sport: 50_000,
        dport: 443,
        proto: proto::TCP,
        net: crate::capture::decode::Net::Ipv4,
        ..PacketMeta::default()
    };
    let mut first_alert_minute = None;
    for minute in 0..5i64 {
        let start = t0 + minute * MIN;
        for s in 0..60i64 {
            let ts = start + s * 1_000_000;
            m.ts = ts;
            m.now = (ts - T0) as u64;
            m.sec = m.now / 1_000_000;
            m.tcp_flags = if minute == 0 && s == 0 {
                tcp_flags::SYN
            } else {
                tcp_flags::ACK
            };
            // 100 MB a minute in one-second trains (the flow table adds wire lengths).
            m.wire_len = 1_666_667;
            m.payload_len = 1_666_600;
            let alerts = &mut sim.alerts;
            let engine = &mut sim.engine;
            let _ = sim.flows.observe(&m, &mut |c| {
                engine.on_close(c, &mut |a| alerts.push(a.clone()))
            });
        }
        sim.others(start, &kinds, 5);
        sim.end_minute(start);
        if first_alert_minute.is_none() && !sim.anomalies().is_empty() {
            first_alert_minute = Some(minute);
        }
    }
    assert_eq!(
        first_alert_minute,
        Some(0),
        "caught in the upload's first minute"
    );
    let a = sim.anomalies()[0].clone();
    assert_eq!(a.src, src);
    assert_eq!(a.dst, dst, "the destination is named");
    let out = fig(&a, "bytes_out_observed").expect("bytes_out in evidence");
    assert!((95_000_000..=105_000_000).contains(&out), "{out}");
    // The flow is still open: nothing of it reached on_close.
    assert!(!sim.flows.is_empty());
}

#[test]
fn ten_thousand_spoofed_local_hosts_evict_without_growing() {
    let cfg = config(7);
    let mut sim = Sim::new(&cfg, 9);
    let cap = cfg.capacity.hosts;
    let before = sim.engine.hosts.footprint_bytes();
    let t = T0 + 2 * DAY;
    for n in 0..10_000u32 {
        let a = Addr::v4([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
        sim.flow(t, a, external(5), 443, proto::TCP, 100, 100);
    }
    sim.end_minute(t);
    assert_eq!(sim.engine.hosts.entries() as usize, cap);
    assert_eq!(sim.engine.hosts.counters.evicted, 10_000 - cap as u64);
    assert_eq!(sim.engine.hosts.counters.new_hosts, 10_000);
    assert_eq!(sim.engine.hosts.footprint_bytes(), before);
    // host.new: none in the sensor's first day; afterwards at most NEW_PER_HOUR an hour.
    let t = T0 + 4 * DAY;
    for n in 0..1000u32 {
        let a = Addr::v4([10, 200, (n >> 8) as u8, n as u8]);
        sim.flow(t, a, external(5), 443, proto::TCP, 100, 100);
    }
    let new = sim
        .alerts
        .iter()
        .filter(|a| a.rule == RuleId::HostNew)
        .count();
    assert_eq!(new, super::NEW_PER_HOUR as usize);
}

#[test]
fn spoofed_sources_without_a_session_are_not_hosts() {
    let cfg = config(7);
    let mut sim = Sim::new(&cfg, 10);
    for n in 0..1000u32 {
        let a = Addr::v4([192, 168, (n >> 8) as u8, n as u8]);
        // A SYN that got nothing back.
        sim.flow(T0, a, external(5), 80, proto::TCP, 60, 0);
    }
    assert_eq!(sim.engine.hosts.entries(), 0);
}

#[test]
fn baselines_survive_export_and_import() {
    let kinds = home();
    let cfg = config(7);
    let mut sim = Sim::new(&cfg, 77);
    sim.run_days(0, 8, &kinds);
    let mut rows = Vec::new();
    sim.engine
        .hosts
        .export(|a, b| rows.push((*a, Baseline::from_bytes(&b.to_bytes()).unwrap())));
    assert_eq!(rows.len(), 50);
    let since = sim.engine.hosts.since;
    // A new engine (a restart) with the baselines: judges at once, the same way.
    let mut again = Sim::new(&cfg, 78);
    again.engine.hosts.import(since, &mut rows);
    assert_eq!(again.engine.hosts.entries(), 50);
    let t = T0 + 8 * DAY + 15 * 60 * MIN;
    again.end_minute(t - MIN);
    again.sweep(t, 3, 300, 300_000, 17);
    again.end_minute(t);
    assert_eq!(again.anomalies().len(), 1);
    // No host.new for the restored hosts.
    assert!(again.alerts.iter().all(|a| a.rule != RuleId::HostNew));
}

use super::Baseline;
