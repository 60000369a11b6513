//! Port scans, vertical (many ports of one host) and horizontal (one port on many hosts).
//!
//! A *probe* is a connection attempt that did not become a session (`flow::Flow::is_session`):
//! a SYN answered by RST or by nothing, a connect() torn down without data (`-sT`),
//! FIN/NULL/XMAS/ACK packets that open no connection, UDP answered by ICMP port-unreachable or
//! by nothing (targets rate-limit their ICMP replies, so silence counts too), an ARP request
//! or IPv6 neighbour solicitation nobody answered. Probes are judged when the flow closes —
//! immediately on RST or ICMP error, after `flow.unanswered_timeout_s` of silence otherwise.
//! ICMP echo/timestamp requests count toward sweeps when sent, answered or not.
//! ICMP "time exceeded" is transit (traceroute), not a refusal, and is not a probe failure.
//!
//! Thresholds (defaults): `vertical_ports` = 12 distinct ports of one host, `horizontal_hosts`
//! = 16 hosts on one port, both within `window_s` = 60 s. Zeek's scan.zeek uses 15 ports /
//! 25 hosts in 5 min of failed connections and Snort 3's medium profile 15 ports within 90 s;
//! we count the same failed-connection evidence, a little lower, over a shorter window, so a
//! scan is reported within seconds of starting yet a `-T2` scan (one probe per 0.4 s) still
//! crosses it. Benign traffic almost never fails to 12 distinct ports of one host in a minute.
//!
//! **Slow scans** (`nmap -T1`: a probe every 15 s; `-T0`: every 5 minutes) never put 12 ports
//! in a minute. Beside the fast windows, each scanner (`capacity.slow_scanners`, LRU) keeps its
//! last [`SLOW_TRACKED`] distinct failed (target, port) probes for `slow_window_s` (2 h). When
//! `slow_vertical_ports` (16) distinct ports of one host, or the same port on
//! `slow_horizontal_hosts` (16) *local* hosts (private, link-local or ULA addresses: lateral
//! movement; peer-to-peer clients fail to public peers on one port all day), are among them,
//! the same two alerts fire, with `window_s` 7200 and `pace` "slow" in the evidence. `-T1`
//! crosses 16 in 4 minutes, `-T0` in 80. Repeated failures to the same few ports (an SMB
//! client reconnecting to a sleeping NAS, a printer driver polling its discovery ports) stay
//! one entry each.
//!
//! **Replies are not probes.** A flow whose first packet answered something is no one's probe
//! (`flow::Flow::answer`): the unicast answers to a phone's SSDP search, mDNS, LLMNR,
//! WS-Discovery, NetBIOS or DHCP query (the flow table remembers each host's recent queries
//! to a group by source port), and packets from a privileged service port to an unprivileged
//! one that open nothing (a DNS, NTP or QUIC reply after its request's flow expired, a
//! server's FIN to a phone that went to sleep). Nor is UDP between two dynamic ports (both
//! ≥ 32768: a video call's media and ICE checks between two LAN devices). What that costs:
//! a UDP scan sent from a privileged source port (`nmap -g 53`) is not seen on the target's
//! ports ≥ 1024, nor a scan of dynamic ports from a dynamic port; scans show on the other
//! ports they touch.
//!
//! Suppression keys: vertical (rule, scanner, host); horizontal (rule, scanner, port).

use crate::addr::Addr;
use crate::capture::decode::{proto, tcp_flags as tf, PacketMeta};
use crate::state::flow::{CloseReason, Closed, FlowEvent, FlowTable, PROTO_ARP, PROTO_ND};
use crate::state::table::{LruMap, Seed, TableKey, Upsert};

use super::{community_id, Alert, Emit, Figure, Rule, RuleId, SuppressKey};
use crate::settings::{allow, ranged, Allow, ConfigError, FileAllow};
use serde::Deserialize;

/// Where operating systems take ephemeral ports from (Linux 32768–60999; Windows, macOS, iOS
/// and IANA 49152–65535).
pub const DYNAMIC: u16 = 32768;

/// Failed distinct ports of one host that make a source its scanner for other rules (a
/// beacon's check-ins to that host are then the scan's timing probes).
pub const PROBING_PORTS: u32 = 4;

/// Distinct ports/hosts remembered per scanner and target (the thresholds' upper bound).
pub const MAX_TRACKED: usize = 32;
/// Distinct failed (target, port) probes remembered per scanner for the slow horizon.
pub const SLOW_TRACKED: usize = 32;

#[derive(Clone, Copy, Default)]
struct SlowProbe {
    target: Addr,
    port: u16,
    proto: u8,
    kind: u8,
    at_s: u32,
}

/// A scanner's failed probes over the slow horizon, oldest first.
#[derive(Default)]
struct Slow {
    seen: heapless::Vec<SlowProbe, SLOW_TRACKED>,
    first_ts: i64,
}

impl TableKey for Addr {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        seed.hash(self.bits(), 0, 0, 0x736c)
    }
}

/// One scan, one key, whatever its pace: vertical (rule, scanner, host).
fn vertical_key(scanner: Addr, target: Addr) -> SuppressKey {
    SuppressKey {
        rule: RuleId::PortscanVertical,
        a: scanner,
        b: target,
        port: 0,
        extra: 0,
    }
}

/// Horizontal: (rule, scanner, port and protocol).
fn horizontal_key(scanner: Addr, port: u16, proto_num: u8) -> SuppressKey {
    SuppressKey {
        rule: RuleId::PortscanHorizontal,
        a: scanner,
        b: Addr::UNSPECIFIED,
        port,
        extra: proto_num as u64,
    }
}

/// Private, link-local, CGNAT or unique-local: a host on this side of the router.
fn local_scope(a: &Addr) -> bool {
    match a.as_v4() {
        Some([10, ..]) | Some([192, 168, ..]) | Some([169, 254, ..]) => true,
        Some([172, b, ..]) => (16..32).contains(&b),
        Some([100, b, ..]) => (64..128).contains(&b),
        Some(_) => false,
        None => a.0[0] & 0xfe == 0xfc || (a.0[0] == 0xfe && a.0[1] & 0xc0 == 0x80),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct PairKey {
    scanner: Addr,
    target: Addr,
}

impl TableKey for PairKey {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        seed.hash(self.scanner.bits(), self.target.bits(), 0, 0)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct SweepKey {
    scanner: Addr,
    port: u16,
    proto: u8,
}

impl TableKey for SweepKey {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        seed.hash(self.scanner.bits(), 0, self.port as u64, self.proto as u64)
    }
}

#[derive(Clone, Copy, Default)]
struct PortSeen {
    port: u16,
    proto: u8,
    kind: u8,
    at_s: u32,
}

#[derive(Default)]
struct Vertical {
    seen: heapless::Vec<PortSeen, MAX_TRACKED>,
    first_ts: i64,
    /// Distinct ports probed since the episode began (the window never emptied since).
    so_far: u32,
}

#[derive(Clone, Copy, Default)]
struct HostSeen {
    host: Addr,
    at_s: u32,
}

#[derive(Default)]
struct Horizontal {
    seen: heapless::Vec<HostSeen, MAX_TRACKED>,
    first_ts: i64,
    /// Distinct hosts probed since the episode began.
    so_far: u32,
}

/// Probe kinds, for the evidence.
const KINDS: [&str; 10] = [
    "syn", "connect", "fin", "null", "xmas", "ack", "udp", "icmp", "arp", "nd",
];

fn probe_kind(c: &Closed) -> u8 {
    match c.key.proto {
        proto::TCP => {
            let f =
                c.flow.first_flags & (tf::SYN | tf::ACK | tf::FIN | tf::RST | tf::PSH | tf::URG);
            if f & tf::SYN != 0 {
                if c.flow.state == crate::state::flow::TcpState::Established
                    || c.flow.flags[0] & tf::ACK != 0 && c.flow.flags[1] & tf::SYN != 0
                {
                    1
                } else {
                    0
                }
            } else if f == tf::FIN {
                2
            } else if f == 0 {
                3
            } else if f == tf::FIN | tf::PSH | tf::URG {
                4
            } else {
                5
            }
        }
        proto::UDP => 6,
        PROTO_ARP => 8,
        PROTO_ND => 9,
        _ => 7,
    }
}

pub struct ScanRule {
    pub cfg: PortscanConfig,
    vertical: LruMap<PairKey, Vertical>,
    horizontal: LruMap<SweepKey, Horizontal>,
    slow: LruMap<Addr, Slow>,
    evicted: u64,
}

impl ScanRule {
    #[inline(never)]
    fn judge_probe(&mut self, c: &Closed, emit: &mut Emit) {
        let p = c.key.proto;
        let judged = match p {
            proto::TCP | proto::UDP => c.reason != CloseReason::Evicted,
            // Unanswered ARP/ND: a sweep of the local link.
            PROTO_ARP | PROTO_ND => matches!(c.reason, CloseReason::Expired | CloseReason::Flush),
            _ => false,
        };
        // Transit errors (traceroute) are not refusals by the target. A flow an answer opened
        // (see `Flow::answer`) probed nothing; nor did UDP between two dynamic ports (≥ 32768):
        // peer-to-peer media and its ICE connectivity checks, of which some candidate pairs
        // always fail. A scan of those ports is the high end of one that shows elsewhere.
        if !judged
            || c.reason == CloseReason::Rejected && c.flow.transit
            || c.flow.answer
            || p == proto::UDP && c.key.a_port >= DYNAMIC && c.key.b_port >= DYNAMIC
        {
            return;
        }
        let (scanner, _) = c.initiator();
        let (target, port) = c.responder();
        let kind = probe_kind(c);
        self.probe(scanner, target, port, p, kind, c.at, c.at_ts, emit);
    }

    /// Is `scanner` failing on at least [`PROBING_PORTS`] distinct ports of `target` (in the
    /// fast window or the slow horizon)? Then its other traffic to `target` is the scan's.
    pub fn probing(&self, scanner: &Addr, target: &Addr) -> bool {
        let key = PairKey {
            scanner: *scanner,
            target: *target,
        };
        if let Some(id) = self.vertical.find(&key) {
            let v = self.vertical.get(id);
            if v.so_far >= PROBING_PORTS || v.seen.len() >= PROBING_PORTS as usize {
                return true;
            }
        }
        self.slow.find(scanner).is_some_and(|id| {
            let seen = &self.slow.get(id).seen;
            let mut ports: heapless::Vec<u16, SLOW_TRACKED> = heapless::Vec::new();
            for p in seen.iter().filter(|p| p.target == *target) {
                if !ports.contains(&p.port) {
                    let _ = ports.push(p.port);
                }
            }
            ports.len() >= PROBING_PORTS as usize
        })
    }

    pub fn new(cfg: PortscanConfig, targets: usize, sweeps: usize, slow: usize) -> Self {
        ScanRule {
            cfg,
            vertical: LruMap::new(targets, 1),
            horizontal: LruMap::new(sweeps, 1),
            slow: LruMap::new(slow, 1),
            evicted: 0,
        }
    }

    /// The slow horizon: remember this failed probe, alert when the scanner's distinct ports of
    /// `target`, or local hosts on `port`, reach the slow thresholds.
    #[allow(clippy::too_many_arguments)]
    fn slow_probe(
        &mut self,
        scanner: Addr,
        target: Addr,
        port: u16,
        proto_num: u8,
        kind: u8,
        (now, ts): (u64, i64),
        (fast_v, fast_h): (bool, bool),
        emit: &mut Emit,
    ) {
        let window = self.cfg.slow_window_s;
        let now_s = (now / 1_000_000) as u32;
        let (id, how) = self.slow.upsert(scanner, 0, now, |v| {
            v.seen.clear();
            v.first_ts = ts;
        });
        self.evicted += (how == Upsert::Evicted) as u64;
        let v = self.slow.get_mut(id);
        v.seen.retain(|p| now_s.wrapping_sub(p.at_s) <= window);
        if v.seen.is_empty() {
            v.first_ts = ts;
        }
        if let Some(i) = v
            .seen
            .iter()
            .position(|p| p.target == target && p.port == port && p.proto == proto_num)
        {
            // Seen before: refresh it (it moves to the newest end), nothing new to count.
            let mut p = v.seen.remove(i);
            p.at_s = now_s;
            let _ = v.seen.push(p);
            return;
        }
        let entry = SlowProbe {
            target,
            port,
            proto: proto_num,
            kind,
            at_s: now_s,
        };
        if v.seen.push(entry).is_err() {
            v.seen.remove(0);
            let _ = v.seen.push(entry);
        }
        let ports = v.seen.iter().filter(|p| p.target == target).count() as u32;
        let hosts = if local_scope(&target) {
            v.seen
                .iter()
                .filter(|p| p.port == port && p.proto == proto_num && local_scope(&p.target))
                .count() as u32
        } else {
            0
        };
        // The slow thresholds are never below the fast ones: a user who raised those to quiet
        // a noisy network means it for slow scans too.
        let (need_v, need_h) = (
            self.cfg.slow_vertical_ports.max(self.cfg.vertical_ports),
            self.cfg
                .slow_horizontal_hosts
                .max(self.cfg.horizontal_hosts),
        );
        let vertical = ports >= need_v && !fast_v;
        if !vertical && (hosts < need_h || fast_h) {
            return;
        }
        let rule = if vertical {
            RuleId::PortscanVertical
        } else {
            RuleId::PortscanHorizontal
        };
        let mut a = Alert::new(rule, ts);
        a.first_seen = v.first_ts;
        a.src = scanner;
        a.dst = target;
        a.dport = port;
        a.proto = proto_num;
        a.community_id = Some(community_id(0, scanner, 0, target, port, proto_num));
        let e = &mut a.evidence;
        let mut kinds = 0u16;
        if vertical {
            e.fig("distinct_ports", Figure::U(ports as u64));
            e.fig("threshold", Figure::U(need_v as u64));
            for p in v.seen.iter().filter(|p| p.target == target) {
                let _ = e.ports.push(p.port);
                kinds |= 1 << p.kind;
            }
        } else {
            e.fig("distinct_hosts", Figure::U(hosts as u64));
            e.fig(
                "threshold",
                Figure::U(self.cfg.slow_horizontal_hosts as u64),
            );
            for p in v
                .seen
                .iter()
                .filter(|p| p.port == port && p.proto == proto_num)
            {
                let _ = e.hosts.push(p.target);
                kinds |= 1 << p.kind;
            }
        }
        e.fig("window_s", Figure::U(window as u64));
        e.fig("pace", Figure::S("slow"));
        let span_s = now_s.wrapping_sub(v.seen[0].at_s);
        e.fig("span_s", Figure::U(span_s as u64));
        for (i, k) in KINDS.iter().enumerate() {
            if kinds & (1 << i) != 0 {
                e.fig("probe", Figure::S(k));
            }
        }
        // The fast rule's keys: one scan is one alert per suppression period, whatever its pace.
        let key = if vertical {
            vertical_key(scanner, target)
        } else {
            horizontal_key(scanner, port, proto_num)
        };
        emit.alert(key, now, &mut a);
    }

    fn allowed(&self, scanner: &Addr, target: &Addr, port: u16) -> bool {
        self.cfg.allow.src_allowed(scanner) || self.cfg.allow.dst_allowed(target, port)
    }

    /// A failed probe from `scanner` to `target:port`.
    #[allow(clippy::too_many_arguments)]
    fn probe(
        &mut self,
        scanner: Addr,
        target: Addr,
        port: u16,
        proto_num: u8,
        kind: u8,
        now: u64,
        ts: i64,
        emit: &mut Emit,
    ) {
        if target.is_group() || scanner == target || self.allowed(&scanner, &target, port) {
            return;
        }
        let now_s = (now / 1_000_000) as u32;
        let window = self.cfg.window_s;
        // Whether the fast windows are over their thresholds for this probe (then they report
        // the scan, and the slow horizon only keeps its record).
        let (mut fast_v, mut fast_h) = (false, false);
        // Vertical: TCP/UDP ports only.
        if matches!(proto_num, proto::TCP | proto::UDP) {
            let key = PairKey { scanner, target };
            let (id, how) = self.vertical.upsert(key, 0, now, |v| {
                v.seen.clear();
                v.first_ts = ts;
                v.so_far = 0;
            });
            self.evicted += (how == Upsert::Evicted) as u64;
            let v = self.vertical.get_mut(id);
            v.seen.retain(|p| now_s.wrapping_sub(p.at_s) <= window);
            if v.seen.is_empty() {
                v.first_ts = ts;
                v.so_far = 0;
            }
            match v
                .seen
                .iter_mut()
                .find(|p| p.port == port && p.proto == proto_num)
            {
                Some(p) => p.at_s = now_s,
                None => {
                    let entry = PortSeen {
                        port,
                        proto: proto_num,
                        kind,
                        at_s: now_s,
                    };
                    if v.seen.push(entry).is_err() {
                        v.seen.remove(0);
                        let _ = v.seen.push(entry);
                    }
                    v.so_far = v.so_far.saturating_add(1);
                    fast_v = v.seen.len() as u32 >= self.cfg.vertical_ports;
                    if fast_v {
                        let mut a = Alert::new(RuleId::PortscanVertical, ts);
                        a.first_seen = v.first_ts;
                        a.src = scanner;
                        a.dst = target;
                        a.dport = port;
                        a.proto = proto_num;
                        a.community_id = Some(community_id(0, scanner, 0, target, port, proto_num));
                        let e = &mut a.evidence;
                        e.fig("distinct_ports", Figure::U(v.seen.len() as u64));
                        e.fig("threshold", Figure::U(self.cfg.vertical_ports as u64));
                        e.fig("window_s", Figure::U(window as u64));
                        e.fig("ports_so_far", Figure::U(v.so_far as u64));
                        let mut kinds = 0u16;
                        for p in v.seen.iter() {
                            let _ = e.ports.push(p.port);
                            kinds |= 1 << p.kind;
                        }
                        for (i, k) in KINDS.iter().enumerate() {
                            if kinds & (1 << i) != 0 {
                                e.fig("probe", Figure::S(k));
                            }
                        }
                        emit.alert(vertical_key(scanner, target), now, &mut a);
                    }
                }
            }
        }
        // Horizontal.
        let key = SweepKey {
            scanner,
            port,
            proto: proto_num,
        };
        let (id, how) = self.horizontal.upsert(key, 0, now, |h| {
            h.seen.clear();
            h.first_ts = ts;
            h.so_far = 0;
        });
        self.evicted += (how == Upsert::Evicted) as u64;
        let h = self.horizontal.get_mut(id);
        h.seen.retain(|p| now_s.wrapping_sub(p.at_s) <= window);
        if h.seen.is_empty() {
            h.first_ts = ts;
            h.so_far = 0;
        }
        match h.seen.iter_mut().find(|p| p.host == target) {
            Some(p) => p.at_s = now_s,
            None => {
                let entry = HostSeen {
                    host: target,
                    at_s: now_s,
                };
                if h.seen.push(entry).is_err() {
                    h.seen.remove(0);
                    let _ = h.seen.push(entry);
                }
                h.so_far = h.so_far.saturating_add(1);
                fast_h = h.seen.len() as u32 >= self.cfg.horizontal_hosts;
                if fast_h {
                    let first = h.seen[0].host;
                    let mut a = Alert::new(RuleId::PortscanHorizontal, ts);
                    a.first_seen = h.first_ts;
                    a.src = scanner;
                    a.dst = first;
                    a.dport = port;
                    a.proto = proto_num;
                    if !matches!(proto_num, PROTO_ARP | PROTO_ND) {
                        let (sp, dp) = if matches!(proto_num, proto::ICMP | proto::ICMPV6) {
                            (if proto_num == proto::ICMP { 8 } else { 128 }, 0)
                        } else {
                            (0, port)
                        };
                        a.community_id = Some(community_id(0, scanner, sp, first, dp, proto_num));
                    }
                    let e = &mut a.evidence;
                    e.fig("distinct_hosts", Figure::U(h.seen.len() as u64));
                    e.fig("threshold", Figure::U(self.cfg.horizontal_hosts as u64));
                    e.fig("window_s", Figure::U(window as u64));
                    e.fig("hosts_so_far", Figure::U(h.so_far as u64));
                    e.fig("probe", Figure::S(KINDS[kind as usize % KINDS.len()]));
                    for p in h.seen.iter() {
                        let _ = e.hosts.push(p.host);
                    }
                    emit.alert(horizontal_key(scanner, port, proto_num), now, &mut a);
                }
            }
        }
        // After the fast windows, so a fast scan is reported by them.
        if self.cfg.slow_window_s > 0 && matches!(proto_num, proto::TCP | proto::UDP) {
            let fast = (fast_v, fast_h);
            self.slow_probe(
                scanner,
                target,
                port,
                proto_num,
                kind,
                (now, ts),
                fast,
                emit,
            );
        }
    }
}

impl Rule for ScanRule {
    #[inline]
    fn on_packet(&mut self, m: &PacketMeta, ev: &FlowEvent, _flows: &FlowTable, emit: &mut Emit) {
        // ICMP echo / timestamp requests count toward sweeps when they open a flow.
        if !self.cfg.enabled || !ev.created {
            return;
        }
        let echo = match m.proto {
            proto::ICMP => matches!(m.icmp_type, 8 | 13),
            proto::ICMPV6 => m.icmp_type == 128,
            _ => false,
        };
        if echo {
            self.probe(m.src, m.dst, 0, m.proto, 7, m.now, m.ts, emit);
        }
    }

    /// The test every closed flow meets is inline; judging a probe is not.
    #[inline]
    fn on_close(&mut self, c: &Closed, emit: &mut Emit) {
        if !self.cfg.enabled || c.is_session() {
            return;
        }
        self.judge_probe(c, emit);
    }

    fn evictions(&self) -> u64 {
        self.evicted
    }

    fn entries(&self) -> u64 {
        self.vertical.len() as u64 + self.horizontal.len() as u64 + self.slow.len() as u64
    }

    fn footprint_bytes(&self) -> usize {
        self.vertical.footprint_bytes()
            + self.horizontal.footprint_bytes()
            + self.slow.footprint_bytes()
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration: `[rules.portscan]`.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePortscan {
    pub enabled: Option<bool>,
    pub vertical_ports: Option<u32>,
    pub horizontal_hosts: Option<u32>,
    pub window_s: Option<u32>,
    pub slow_window_s: Option<u32>,
    pub slow_vertical_ports: Option<u32>,
    pub slow_horizontal_hosts: Option<u32>,
    #[serde(flatten)]
    pub allow: FileAllow,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PortscanConfig {
    pub enabled: bool,
    pub vertical_ports: u32,
    pub horizontal_hosts: u32,
    pub window_s: u32,
    /// The slow-scan horizon (0: off) and its thresholds.
    pub slow_window_s: u32,
    pub slow_vertical_ports: u32,
    pub slow_horizontal_hosts: u32,
    pub allow: Allow,
}

impl FilePortscan {
    pub fn validate(&self) -> Result<PortscanConfig, ConfigError> {
        let ps = self;
        Ok(PortscanConfig {
            enabled: ps.enabled.unwrap_or(true),
            vertical_ports: ranged(
                "rules.portscan.vertical_ports",
                ps.vertical_ports,
                12,
                3,
                MAX_TRACKED as u32,
            )?,
            horizontal_hosts: ranged(
                "rules.portscan.horizontal_hosts",
                ps.horizontal_hosts,
                16,
                3,
                MAX_TRACKED as u32,
            )?,
            window_s: ranged("rules.portscan.window_s", ps.window_s, 60, 5, 3600)?,
            slow_window_s: ranged(
                "rules.portscan.slow_window_s",
                ps.slow_window_s,
                7200,
                0,
                86_400,
            )?,
            slow_vertical_ports: ranged(
                "rules.portscan.slow_vertical_ports",
                ps.slow_vertical_ports,
                16,
                3,
                SLOW_TRACKED as u32,
            )?,
            slow_horizontal_hosts: ranged(
                "rules.portscan.slow_horizontal_hosts",
                ps.slow_horizontal_hosts,
                16,
                3,
                SLOW_TRACKED as u32,
            )?,
            allow: allow("rules.portscan", &ps.allow, &[])?,
        })
    }
}
