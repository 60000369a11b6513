//! The pipeline: frame → `PacketMeta` → flow table → windows → detectors → alerts. It owns
//! every stage, feeds them packet time, runs the once-per-second housekeeping (roll windows,
//! expire flows, judge finished seconds) when packet time crosses a second, and keeps the
//! deterministic counters that `--stats` prints. Nothing here blocks or allocates per packet;
//! alerts leave through the caller's callback.

use std::fmt::Write;

use crate::addr::Addr;
use crate::capture::decode::{self, DecodeError, Net, PacketMeta};
use crate::config::Config;
use crate::detect::{Alert, Engine, RuleId};
use crate::output::json;
use crate::state::clock::Clock;
use crate::state::flow::{FlowTable, NO_FLOW};
use crate::state::window::{Summary, Windows};

/// Deterministic counters: the same capture gives the same values on every run and machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
    pub decode_errors: [u64; DecodeError::COUNT],
    pub non_ip: u64,
    pub arp: u64,
    pub fragments: u64,
    pub bad_ipv4_checksum: u64,
    pub dns_messages: u64,
}

pub struct Pipeline {
    clock: Clock,
    flows: FlowTable,
    windows: Windows,
    engine: Engine,
    reasm: crate::capture::reasm::Reassembler,
    meta: PacketMeta,
    pub counters: Counters,
    /// Monotonic time (µs) of the next whole second: the first packet at or after it ticks.
    next_tick_us: u64,
    /// The sensor's own endpoints (syslog collector, later web/enrichment): packets to or from
    /// them are not analysed. Empty on replay.
    own: heapless::Vec<(Addr, u16), 8>,
    /// Packets dropped as the sensor's own traffic (not in the deterministic counters).
    pub own_traffic: u64,
    /// 60 s windows closed since the caller last drained them (the store keeps them).
    minutes: heapless::Deque<Summary, 8>,
}

impl Pipeline {
    pub fn new(cfg: &Config) -> Pipeline {
        let mut flows = FlowTable::new(
            cfg.capacity.flows,
            cfg.capacity.devices,
            cfg.flow,
            cfg.sketch_key,
        );
        flows.set_login_paths(&cfg.rules.bruteforce.form_login_paths);
        Pipeline {
            clock: Clock::default(),
            flows,
            windows: Windows::new(cfg.windows, cfg.sketch_key),
            engine: Engine::new(&cfg.detect()),
            reasm: crate::capture::reasm::Reassembler::new(cfg.capacity.fragment_trains),
            meta: PacketMeta::default(),
            counters: Counters::default(),
            next_tick_us: 1_000_000,
            own: heapless::Vec::new(),
            own_traffic: 0,
            minutes: heapless::Deque::new(),
        }
    }

    /// Exclude traffic to or from `addr:port` (the sensor's own connections). At most 8.
    pub fn exclude_endpoint(&mut self, addr: Addr, port: u16) {
        if !self.own.contains(&(addr, port)) {
            let _ = self.own.push((addr, port));
        }
    }

    /// Forget the excluded endpoints (before re-adding them on reload).
    pub fn clear_excluded(&mut self) {
        self.own.clear();
    }

    /// Hand out the 60 s windows closed since the last call (oldest first).
    pub fn drain_minutes(&mut self, mut f: impl FnMut(&Summary)) {
        while let Some(s) = self.minutes.pop_front() {
            f(&s);
        }
    }

    /// Report suppressed repeats to the sink too (for the store's repeat counts).
    pub fn report_repeats(&mut self, on: bool) {
        self.engine.gate.report_repeats = on;
    }

    /// New thresholds, allowlists and timeouts; state (flows, windows, detector tables) stays.
    pub fn reconfigure(&mut self, cfg: &Config) {
        self.engine.reconfigure(&cfg.detect());
        self.flows.set_timeouts(cfg.flow);
        self.flows
            .set_login_paths(&cfg.rules.bruteforce.form_login_paths);
    }

    /// Bytes of fixed-capacity state (tables, rings), for the start-up report.
    pub fn footprint_bytes(&mut self) -> usize {
        self.flows.footprint_bytes()
            + self.windows.footprint_bytes()
            + self.engine.footprint_bytes()
    }

    pub fn flows(&self) -> &FlowTable {
        &self.flows
    }

    pub fn devices(&self) -> &crate::state::devices::Devices {
        &self.flows.devices
    }

    pub fn devices_mut(&mut self) -> &mut crate::state::devices::Devices {
        &mut self.flows.devices
    }

    pub fn windows(&self) -> &Windows {
        &self.windows
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Process one frame.
    #[inline]
    pub fn process(
        &mut self,
        linktype: i32,
        ts_us: i64,
        data: &[u8],
        wire_len: u32,
        out: &mut dyn FnMut(&Alert),
    ) {
        self.counters.packets += 1;
        self.counters.bytes += wire_len as u64;
        let res = decode::packet(linktype, ts_us, data, wire_len, &mut self.meta);
        let now = self.clock.observe(ts_us);
        self.meta.now = now;
        // The clock never goes back, so one comparison finds a new second (`meta.sec` is set
        // by the tick).
        if now >= self.next_tick_us {
            self.tick(now, out);
        }
        if let Err(e) = res {
            // A fragment goes on only when it completes its datagram. `Fragment` lies outside
            // the error counters' range, so it is never counted as an error.
            if e != DecodeError::Fragment || !self.reassembled(data) {
                if let Some(n) = self.counters.decode_errors.get_mut(e as usize) {
                    *n += 1;
                }
                return;
            }
        }
        let m = &self.meta;
        // One test for the counters most packets leave alone (IP, no DNS, a good checksum).
        if m.has_dns
            | m.bad_checksum
            | m.dns_error.is_some()
            | !matches!(m.net, Net::Ipv4 | Net::Ipv6)
        {
            self.count_notable();
        }
        let m = &self.meta;
        if !self.own.is_empty()
            && self
                .own
                .iter()
                .any(|(a, p)| (m.src == *a && m.sport == *p) || (m.dst == *a && m.dport == *p))
        {
            self.own_traffic += 1;
            return;
        }
        let Pipeline {
            flows,
            engine,
            windows,
            meta,
            ..
        } = self;
        let ev = flows.observe(meta, &mut |closed| engine.on_close(closed, out));
        if flows.due != NO_FLOW {
            flows.payload(ev.dir, decode::l4_payload(meta, data));
        }
        windows.observe(meta, &ev);
        engine.on_packet(meta, &ev, flows, out);
    }

    /// Counts what the decoder noted about this packet beyond the usual: a DNS message or a
    /// malformed one, a bad IPv4 header checksum, ARP or a frame that is not IP.
    #[inline(never)]
    fn count_notable(&mut self) {
        let m = &self.meta;
        let c = &mut self.counters;
        c.bad_ipv4_checksum += m.bad_checksum as u64;
        c.dns_messages += m.has_dns as u64;
        if let Some(e) = m.dns_error {
            c.decode_errors[e as usize] += 1;
        }
        match m.net {
            Net::Other => c.non_ip += 1,
            Net::Arp => c.arp += 1,
            _ => {}
        }
    }

    /// A fragment: hand it to the reassembler. True when it completed its datagram, whose
    /// transport header is then in `meta` (the rules see the datagram once, not its parts).
    #[cold]
    #[inline(never)]
    fn reassembled(&mut self, data: &[u8]) -> bool {
        self.counters.fragments += 1;
        let m = &mut self.meta;
        let f = m.frag;
        let at = f.at.wrapping_sub(data.as_ptr() as usize);
        let payload = at
            .checked_add(f.len as usize)
            .and_then(|end| data.get(at..end))
            .unwrap_or(&[]);
        let Some(d) = self.reasm.add(m.src, m.dst, m.proto, &f, payload, m.now) else {
            return false;
        };
        let header = if m.net == Net::Ipv6 { 40 } else { 20 };
        m.wire_len = d.wire_len + header;
        // From here on it is one whole datagram.
        m.fragment = false;
        if let Err(e) = decode::datagram(d.payload, d.wire_len, m) {
            if let Some(n) = self.counters.decode_errors.get_mut(e as usize) {
                *n += 1;
            }
            return false;
        }
        true
    }

    /// Time passes without packets (live capture): advance by `elapsed_us` of monotonic time.
    pub fn idle(&mut self, elapsed_us: u64, out: &mut dyn FnMut(&Alert)) {
        if !self.clock.started() {
            return;
        }
        let now = self.clock.idle(elapsed_us);
        if now >= self.next_tick_us {
            self.tick(now, out);
        }
    }

    fn tick(&mut self, now: u64, out: &mut dyn FnMut(&Alert)) {
        let sec = now / 1_000_000;
        self.next_tick_us = (sec + 1).saturating_mul(1_000_000);
        self.meta.sec = sec;
        let offset = self.clock.wall_of(0);
        let clock = self.clock.clone();
        let Pipeline {
            flows,
            engine,
            windows,
            minutes,
            ..
        } = self;
        windows.advance(
            now,
            offset,
            flows.counters.created,
            &mut |span: u32, s: &Summary| {
                if span == 60 {
                    if minutes.is_full() {
                        minutes.pop_front();
                    }
                    let _ = minutes.push_back(*s);
                }
            },
        );
        flows.expire(now, |m| clock.wall_of(m), &mut |closed| {
            engine.on_close(closed, out)
        });
        let minute = engine.hosts.judged_minute();
        engine.tick(now, clock.wall_of(now), flows, out);
        Self::count_for_devices(engine, flows, minute);
        self.reasm.expire(now);
    }

    /// The inventory's counts of the day: the alerts that named each device since the last
    /// second, and, when the host rule judged a minute, each device's traffic.
    #[inline(never)]
    fn count_for_devices(engine: &mut Engine, flows: &mut FlowTable, minute_before: i64) {
        for (mac, ts) in engine.gate.alerted.drain(..) {
            flows.devices.note_alert(&mac, ts);
        }
        let minute = engine.hosts.judged_minute();
        if minute != minute_before {
            let hosts = &engine.hosts;
            let day = hosts.judged_day();
            flows
                .devices
                .set_traffic(day, |add| hosts.traffic_on(day, add));
        }
    }

    /// End of input: close every flow and window, judge what is pending.
    pub fn finish(&mut self, out: &mut dyn FnMut(&Alert)) {
        if !self.clock.started() {
            return;
        }
        let now = self.clock.now();
        let clock = self.clock.clone();
        let Pipeline {
            flows,
            engine,
            windows,
            ..
        } = self;
        flows.flush(now, |m| clock.wall_of(m), &mut |closed| {
            engine.on_close(closed, out)
        });
        // Judge the last second of per-second rules.
        let minute = engine.hosts.judged_minute();
        engine.tick(now + 1_000_000, clock.wall_of(now), flows, out);
        Self::count_for_devices(engine, flows, minute);
        windows.flush(
            clock.wall_of(0),
            flows.counters.created,
            &mut |_span: u32, _s: &Summary| {},
        );
    }

    /// The deterministic counters as a JSON object.
    pub fn counters_json(&self, out: &mut String) {
        let c = &self.counters;
        let f = &self.flows.counters;
        let e = self.engine.counters();
        let ev = self.engine.evictions();
        let _ = write!(
            out,
            "{{\"packets\":{},\"bytes\":{},\"decode_errors\":{{",
            c.packets, c.bytes
        );
        decode_errors_json(out, &c.decode_errors);
        let _ = write!(
            out,
            "}},\"non_ip\":{},\"arp\":{},\"fragments\":{},\"bad_ipv4_checksum\":{},\"dns_messages\":{},\
             \"reassembled\":{},\"fragment_timeouts\":{},\"fragment_evictions\":{},\"fragment_overlaps\":{},\"tiny_fragments\":{},\
             \"flows_created\":{},\"flows_evicted\":{},\"flows_expired\":{},\"flows_active\":{},\
             \"clock_jumps_back\":{},\"clock_jumps_forward\":{},\"alerts\":{{",
            c.non_ip,
            c.arp,
            c.fragments,
            c.bad_ipv4_checksum,
            c.dns_messages,
            self.reasm.counters.reassembled,
            self.reasm.counters.timeouts,
            self.reasm.counters.evicted,
            self.reasm.counters.overlaps,
            self.reasm.counters.tiny,
            f.created,
            f.evicted,
            f.expired,
            self.flows.len(),
            self.clock.jumps_back,
            self.clock.jumps_forward,
        );
        for (i, r) in RuleId::ALL.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::key(out, r.name());
            let _ = write!(out, "{}", e.alerts[*r as usize]);
        }
        let _ = write!(
            out,
            "}},\"alerts_suppressed\":{},\"table_evictions\":{{\"scan\":{},\"synflood\":{},\"bruteforce\":{},\
             \"dns_tunnel\":{},\"beacon\":{},\"suppression\":{},\"hosts\":{}}}}}",
            e.suppressed, ev.scan, ev.synflood, ev.bruteforce, ev.dns_tunnel, ev.beacon, e.suppression_evictions,
            self.engine.hosts.counters.evicted
        );
    }
}

/// The non-zero decode error counts as JSON members `"reason":n,...` (no braces).
pub fn decode_errors_json(out: &mut String, counts: &[u64; DecodeError::COUNT]) {
    let mut first = true;
    for r in DecodeError::ALL {
        let n = counts[r as usize];
        if n > 0 {
            if !first {
                out.push(',');
            }
            first = false;
            json::key(out, r.name());
            let _ = write!(out, "{n}");
        }
    }
}
