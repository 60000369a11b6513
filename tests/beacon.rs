//! `c2.beacon` at scale, in packet time through the whole pipeline with every rule on:
//!
//! * a modelled home LAN for weeks — IoT devices checking in at Poisson times, lognormal
//!   pauses, browsing in bursts, a page-by-page reader with exponential pauses (mean 4 s),
//!   nightly backups — raises no alert of any rule (the false-alarm figure is printed);
//! * beacons of 1 s to 1 h with Cobalt Strike's jitter (sleep uniform in [(1−j)·T, T]) up to
//!   50 %, over TCP and UDP, amid the same host's other traffic, are caught within 12
//!   connections for j ≤ 20 % and within 20 for j ≤ 50 %.
//!
//! Each connection is its first packet and the server's answer (a SYN and SYN-ACK, or a UDP
//! request and reply), from a fresh source port.

mod support;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use netwatch::detect::Alert;
use netwatch::pipeline::Pipeline;
use support::*;

/// Monday 2026-01-05 00:00 UTC, µs.
const T0: i64 = 1_767_571_200_000_000;
const SEC: f64 = 1e6;
const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// How a (client, server, port) pair's connections follow each other.
#[derive(Clone, Copy, Debug)]
enum Process {
    /// Random check-ins: exponential intervals with this mean (s).
    Poisson(f64),
    /// Lognormal pauses: median (s), σ.
    Lognormal(f64, f64),
    /// Bursts of 1–20 connections 0.05–2 s apart; lognormal gaps between bursts.
    Bursts { left: u32 },
    /// Once a day around 02:00 (± 20 minutes).
    Nightly,
    /// Beacon: period T (s), jitter j.
    Beacon(f64, f64),
}

struct Pair {
    client: [u8; 4],
    server: [u8; 4],
    port: u16,
    udp: bool,
    process: Process,
    /// Active only within this span of packet time.
    until: i64,
    connections: u32,
}

struct Sim {
    pipeline: Pipeline,
    alerts: Vec<Alert>,
    pairs: Vec<Pair>,
    queue: BinaryHeap<Reverse<(i64, usize)>>,
    rng: Rng,
    sport: u16,
    packets: u64,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        Sim {
            pipeline: Pipeline::new(&default_config()),
            alerts: Vec::new(),
            pairs: Vec::new(),
            queue: BinaryHeap::new(),
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            sport: 1024,
            packets: 0,
        }
    }

    fn add(&mut self, pair: Pair, first: i64) {
        self.pairs.push(pair);
        self.queue.push(Reverse((first, self.pairs.len() - 1)));
    }

    fn next_after(&mut self, i: usize, t: i64) -> i64 {
        let rng = &mut self.rng;
        let p = &mut self.pairs[i];
        let s = match &mut p.process {
            Process::Poisson(mean) => rng.exp(*mean),
            Process::Lognormal(median, sigma) => rng.lognormal(*median, *sigma),
            Process::Bursts { left } => {
                if *left > 0 {
                    *left -= 1;
                    0.05 + 1.95 * rng.f()
                } else {
                    *left = (rng.f() * 20.0) as u32;
                    rng.lognormal(900.0, 1.5)
                }
            }
            Process::Nightly => {
                let day = (t - T0) / DAY + 1;
                let at = T0 + day * DAY + 2 * HOUR + ((rng.f() - 0.5) * 2400.0 * SEC) as i64;
                return at;
            }
            Process::Beacon(period, jitter) => *period * (1.0 - *jitter * rng.f()),
        };
        t + (s * SEC).max(1.0) as i64
    }

    /// One connection: the client's first packet and the server's answer 2–40 ms later.
    fn connect(&mut self, i: usize, t: i64) {
        self.sport = if self.sport >= 65000 {
            1024
        } else {
            self.sport + 1
        };
        let p = &self.pairs[i];
        let (c, s) = (p.client, p.server);
        let rtt = 2_000 + (self.rng.f() * 38_000.0) as i64;
        let frames = if p.udp {
            [
                eth_ip(&ipv4(c, s, 17, &udp(self.sport, p.port, &[0x17; 48]))),
                eth_ip(&ipv4(s, c, 17, &udp(p.port, self.sport, &[0x18; 48]))),
            ]
        } else {
            [
                eth_ip(&ipv4(c, s, 6, &tcp(self.sport, p.port, 0x02, &[]))),
                eth_ip(&ipv4(s, c, 6, &tcp(p.port, self.sport, 0x12, &[]))),
            ]
        };
        let alerts = &mut self.alerts;
        for (f, at) in frames.iter().zip([t, t + rtt]) {
            self.pipeline
                .process(1, at, f, f.len() as u32, &mut |a| alerts.push(a.clone()));
        }
        self.packets += 2;
        self.pairs[i].connections += 1;
    }

    /// Run until `end`; `stop` ends early (checked after each connection).
    fn run(&mut self, end: i64, stop: &mut dyn FnMut(&Sim) -> bool) {
        while let Some(Reverse((t, i))) = self.queue.pop() {
            if t >= end {
                break;
            }
            if t < self.pairs[i].until {
                self.connect(i, t);
                let next = self.next_after(i, t);
                self.queue.push(Reverse((next, i)));
            }
            if stop(self) {
                return;
            }
        }
    }
}

fn lan(host: u32) -> [u8; 4] {
    [192, 168, 1, 10 + host as u8]
}

fn internet(n: u32) -> [u8; 4] {
    [
        23 + (n % 150) as u8,
        (n >> 8) as u8,
        (n >> 16) as u8,
        1 + (n % 250) as u8,
    ]
}

/// A host's ordinary traffic: `n` pairs of random processes, each to its own server.
fn ordinary_pairs(sim: &mut Sim, host: u32, n: u32, until: i64) {
    for j in 0..n {
        let kind = sim.rng.next() % 6;
        let process = match kind {
            0 | 1 => Process::Poisson(sim.rng.log_uniform(30.0, 7200.0)),
            2 => Process::Lognormal(sim.rng.log_uniform(30.0, 3600.0), 0.6),
            3 => Process::Lognormal(sim.rng.log_uniform(30.0, 3600.0), 1.0),
            4 => Process::Lognormal(sim.rng.log_uniform(30.0, 3600.0), 1.5),
            _ => Process::Bursts { left: 0 },
        };
        let server = internet(host * 1000 + j + (sim.rng.next() % 1_000_000) as u32 * 64);
        let udp = kind == 1;
        let first = T0 + (sim.rng.f() * 3600.0 * SEC) as i64;
        sim.add(
            Pair {
                client: lan(host),
                server,
                port: if udp { 5683 } else { 443 },
                udp,
                process,
                until,
                connections: 0,
            },
            first,
        );
    }
}

#[test]
fn weeks_of_a_home_lan_raise_no_alarm() {
    const HOMES: u64 = 20;
    const HOSTS: u32 = 25;
    const DAYS: i64 = 7;
    let (mut alarms, mut packets, mut connections) = (Vec::new(), 0u64, 0u64);
    for home in 0..HOMES {
        let mut sim = Sim::new(0x5eed_0000 + home);
        let end = T0 + DAYS * DAY;
        for host in 0..HOSTS {
            ordinary_pairs(&mut sim, host, 4, end);
        }
        // A nightly backup of the NAS, and an evening reader on one web server (exponential
        // pauses, mean 4 s) two hours a day.
        sim.add(
            Pair {
                client: lan(0),
                server: internet(7),
                port: 443,
                udp: false,
                process: Process::Nightly,
                until: end,
                connections: 0,
            },
            T0 + 2 * HOUR,
        );
        for day in 0..DAYS {
            let start = T0 + day * DAY + 19 * HOUR;
            sim.add(
                Pair {
                    client: lan(1),
                    server: internet(8),
                    port: 443,
                    udp: false,
                    process: Process::Poisson(4.0),
                    until: start + 2 * HOUR,
                    connections: 0,
                },
                start,
            );
        }
        sim.run(end, &mut |_| false);
        let alerts = &mut sim.alerts;
        sim.pipeline.finish(&mut |a| alerts.push(a.clone()));
        packets += sim.packets;
        connections += sim.pairs.iter().map(|p| p.connections as u64).sum::<u64>();
        alarms.append(&mut sim.alerts);
    }
    let host_days = HOMES * HOSTS as u64 * DAYS as u64;
    println!(
        "benign weeks: {HOMES} homes x {HOSTS} hosts x {DAYS} days = {host_days} host-days, \
         {connections} connections ({packets} packets): {} alarms",
        alarms.len()
    );
    assert!(connections > 1_000_000, "{connections}");
    assert!(alarms.is_empty(), "false alarms: {alarms:#?}");
}

/// Connections of a beacon until its first alert (None: not caught within `limit`).
fn connections_to_catch(period: f64, jitter: f64, udp: bool, seed: u64, limit: u32) -> Option<u32> {
    let mut sim = Sim::new(seed);
    let start = T0 + 10 * SEC as i64;
    let end = start + ((limit as f64 + 2.0) * period * SEC) as i64;
    // The same host's other traffic, and a neighbour's, meanwhile.
    ordinary_pairs(&mut sim, 3, 5, end);
    ordinary_pairs(&mut sim, 4, 5, end);
    sim.add(
        Pair {
            client: lan(3),
            server: [198, 51, 100, 9],
            port: if udp { 53_000 } else { 8443 },
            udp,
            process: Process::Beacon(period, jitter),
            until: end,
            connections: 0,
        },
        start,
    );
    let beacon = sim.pairs.len() - 1;
    sim.run(end, &mut |s| {
        !s.alerts.is_empty() || s.pairs[beacon].connections >= limit
    });
    let alert = sim.alerts.first()?;
    assert_eq!(alert.rule.name(), "c2.beacon", "{alert:?}");
    assert_eq!(alert.src.to_string(), "192.168.1.13");
    assert_eq!(alert.dst.to_string(), "198.51.100.9");
    Some(sim.pairs[beacon].connections)
}

#[test]
fn jittered_beacons_from_one_second_to_one_hour_are_caught() {
    let mut worst = Vec::new();
    for jitter in [0.0, 0.1, 0.2, 0.35, 0.5] {
        let limit = if jitter <= 0.2 { 12 } else { 20 };
        let mut most = 0;
        for period in [1.0, 5.0, 60.0, 600.0, 3600.0] {
            for udp in [false, true] {
                for seed in 1..=4 {
                    let n = connections_to_catch(period, jitter, udp, seed * 7919, limit);
                    let Some(n) = n else {
                        panic!(
                            "period {period} s, jitter {jitter}, {}, seed {seed}: not caught \
                             within {limit} connections",
                            if udp { "UDP" } else { "TCP" }
                        )
                    };
                    most = most.max(n);
                }
            }
        }
        worst.push((jitter, most));
    }
    println!("connections until caught, worst over periods, protocols and seeds: {worst:?}");
}
