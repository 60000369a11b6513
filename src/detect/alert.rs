//! What detection hands out: the `Alert` (rule, parties, evidence, the episode's extent), its
//! `RuleId` with signature id, severity and MITRE technique, the evidence's figures, and the
//! EVE timestamp format.

use crate::addr::Addr;

use super::explain;
use super::CommunityId;

/// Canonical rule identities. Signature ids are a fixed block, 9100001…, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RuleId {
    #[default]
    PortscanVertical,
    PortscanHorizontal,
    Synflood,
    Bruteforce,
    DnsTunnel,
    C2Beacon,
    SensorHealth,
    AnomalyHost,
    HostNew,
}

impl RuleId {
    pub const ALL: [RuleId; 9] = [
        RuleId::PortscanVertical,
        RuleId::PortscanHorizontal,
        RuleId::Synflood,
        RuleId::Bruteforce,
        RuleId::DnsTunnel,
        RuleId::C2Beacon,
        RuleId::SensorHealth,
        RuleId::AnomalyHost,
        RuleId::HostNew,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RuleId::PortscanVertical => "portscan.vertical",
            RuleId::PortscanHorizontal => "portscan.horizontal",
            RuleId::Synflood => "synflood",
            RuleId::Bruteforce => "bruteforce",
            RuleId::DnsTunnel => "dns.tunnel",
            RuleId::C2Beacon => "c2.beacon",
            RuleId::SensorHealth => "sensor.health",
            RuleId::AnomalyHost => "anomaly.host",
            RuleId::HostNew => "host.new",
        }
    }

    pub fn signature_id(self) -> u32 {
        9_100_001 + self as u32
    }

    pub fn signature(self) -> &'static str {
        match self {
            RuleId::PortscanVertical => "NETWATCH SCAN vertical port scan",
            RuleId::PortscanHorizontal => "NETWATCH SCAN horizontal sweep",
            RuleId::Synflood => "NETWATCH DOS TCP SYN flood",
            RuleId::Bruteforce => "NETWATCH AUTH brute-force login attempts",
            RuleId::DnsTunnel => "NETWATCH DNS tunneling",
            RuleId::C2Beacon => "NETWATCH C2 periodic beaconing",
            RuleId::SensorHealth => "NETWATCH SENSOR health",
            RuleId::AnomalyHost => "NETWATCH ANOMALY host departs from its baseline",
            RuleId::HostNew => "NETWATCH INFO new device on the network",
        }
    }

    /// Suricata classification texts (classification.config).
    pub fn category(self) -> &'static str {
        match self {
            RuleId::PortscanVertical | RuleId::PortscanHorizontal => "Attempted Information Leak",
            RuleId::Synflood => "Attempted Denial of Service",
            RuleId::Bruteforce => "Attempted User Privilege Gain",
            RuleId::DnsTunnel => "Potentially Bad Traffic",
            RuleId::C2Beacon => "A Network Trojan was detected",
            RuleId::AnomalyHost => "Potentially Bad Traffic",
            RuleId::SensorHealth | RuleId::HostNew => "Not Suspicious Traffic",
        }
    }

    /// 1 high … 3 low, as Suricata.
    pub fn severity(self) -> u8 {
        match self {
            RuleId::PortscanVertical | RuleId::PortscanHorizontal => 2,
            RuleId::Synflood | RuleId::Bruteforce | RuleId::DnsTunnel | RuleId::C2Beacon => 1,
            RuleId::AnomalyHost => 2,
            RuleId::SensorHealth | RuleId::HostNew => 3,
        }
    }

    pub fn mitre(self) -> &'static str {
        match self {
            RuleId::PortscanVertical | RuleId::PortscanHorizontal => "T1046",
            RuleId::Synflood => "T1498.001",
            RuleId::Bruteforce => "T1110.001",
            RuleId::DnsTunnel => "T1071.004",
            RuleId::C2Beacon => "T1071.001",
            // Exfiltration over the host's usual channels is the departure that matters most.
            RuleId::AnomalyHost => "T1041",
            RuleId::SensorHealth | RuleId::HostNew => "",
        }
    }
}

/// A figure in an alert's evidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Figure {
    U(u64),
    F(f64),
    S(&'static str),
}

pub const MAX_SAMPLES: usize = 16;
pub const MAX_NAME_SAMPLES: usize = 4;
pub const SAMPLE_NAME_LEN: usize = 96;

/// Bounded evidence: the figures that crossed the threshold and samples.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    pub figures: heapless::Vec<(&'static str, Figure), 10>,
    pub ports: heapless::Vec<u16, MAX_SAMPLES>,
    pub hosts: heapless::Vec<Addr, MAX_SAMPLES>,
    /// Registered domain (raw bytes from the wire: escape before display).
    pub domain: heapless::Vec<u8, 253>,
    /// Sample query names, truncated to `SAMPLE_NAME_LEN` bytes.
    pub names: heapless::Vec<heapless::Vec<u8, SAMPLE_NAME_LEN>, MAX_NAME_SAMPLES>,
}

impl Evidence {
    pub fn fig(&mut self, k: &'static str, v: Figure) {
        let _ = self.figures.push((k, v));
    }
}

/// One alert. Allocation-free so that emitting one never allocates on the packet path.
#[derive(Clone, Debug, Default)]
pub struct Alert {
    /// Packet (wall) time of the packet that crossed the threshold, µs.
    pub ts: i64,
    pub rule: RuleId,
    pub src: Addr,
    pub sport: u16,
    pub dst: Addr,
    pub dport: u16,
    /// IP protocol number; `flow::PROTO_ARP` / `PROTO_ND` for link-local sweeps.
    pub proto: u8,
    pub community_id: Option<CommunityId>,
    pub evidence: Evidence,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Times this alert fired but was suppressed since its previous emission.
    pub repeats: u32,
    /// Stable hash of the suppression key: rows of the same alert share it (the store keeps
    /// their repeat counts up to date by it).
    pub key: u64,
    /// A suppressed repeat, handed out only when the gate reports repeats (the daemon's store
    /// counts them); EVE and syslog never print these.
    pub suppressed: bool,
    /// The incident this alert belongs to, with its counts so far (set by the gate).
    pub incident: super::incident::IncidentInfo,
    /// The LAN devices that have the source and destination addresses, when the inventory
    /// knows them (set by the gate).
    pub src_device: Option<crate::state::devices::DeviceTag>,
    pub dst_device: Option<crate::state::devices::DeviceTag>,
}

impl Alert {
    pub fn new(rule: RuleId, ts: i64) -> Alert {
        Alert {
            rule,
            ts,
            first_seen: ts,
            last_seen: ts,
            ..Alert::default()
        }
    }

    /// The evidence figure named `k` (the first, when a key repeats).
    pub fn figure(&self, k: &str) -> Option<Figure> {
        self.evidence.figures.iter().find(|f| f.0 == k).map(|f| f.1)
    }

    /// The episode's extent, when it has grown past what crossed the threshold: "; 1024 ports
    /// so far over 35 s".
    fn so_far(
        &self,
        out: &mut impl std::fmt::Write,
        so_far: Option<f64>,
        at_threshold: Option<f64>,
        what: &str,
    ) -> std::fmt::Result {
        match so_far {
            Some(n) if n > at_threshold.unwrap_or(0.0) => write!(
                out,
                "; {n} {what} so far over {} s",
                (self.ts - self.first_seen).max(0) / 1_000_000
            ),
            _ => Ok(()),
        }
    }

    /// One readable sentence. Attacker-controlled bytes (domains) are escaped by the caller's
    /// output format, so this writes them through `escape_ascii`.
    pub fn summary(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        let fu = |k: &str| {
            self.figure(k).map(|f| match f {
                Figure::U(u) => u as f64,
                Figure::F(x) => x,
                Figure::S(_) => 0.0,
            })
        };
        match self.rule {
            RuleId::PortscanVertical => {
                write!(
                    out,
                    "{} probed {} distinct ports on {} within {} s without opening a session",
                    self.src,
                    fu("distinct_ports").unwrap_or(0.0),
                    self.dst,
                    fu("window_s").unwrap_or(0.0)
                )?;
                self.so_far(out, fu("ports_so_far"), fu("distinct_ports"), "ports")
            }
            RuleId::PortscanHorizontal => {
                write!(
                    out,
                    "{} probed {} {} hosts within {} s without opening a session",
                    self.src,
                    port_label(self.proto, self.dport),
                    fu("distinct_hosts").unwrap_or(0.0),
                    fu("window_s").unwrap_or(0.0)
                )?;
                self.so_far(out, fu("hosts_so_far"), fu("distinct_hosts"), "hosts")
            }
            RuleId::Synflood => {
                write!(
                    out,
                    "{} is receiving {} SYN/s on port {} ",
                    self.dst,
                    fu("syn_per_s").unwrap_or(0.0),
                    self.dport
                )?;
                match fu("distinct_sources").unwrap_or(0.0) {
                    n if n <= 1.0 => write!(out, "from {} alone", self.src)?,
                    n => write!(out, "from {n} sources (such as {})", self.src)?,
                }
                write!(
                    out,
                    " with {:.0}% of handshakes completed",
                    fu("completion_ratio").unwrap_or(0.0) * 100.0
                )
            }
            RuleId::Bruteforce => {
                write!(
                    out,
                    "{} made about {} login attempts against {} port {} within {} s",
                    self.src,
                    fu("attempts").unwrap_or(0.0),
                    self.dst,
                    self.dport,
                    fu("window_s").unwrap_or(0.0)
                )?;
                match self.figure("refused_by") {
                    Some(Figure::S("http_401")) => out.write_str(", each refused with HTTP 401"),
                    Some(Figure::S("login_form")) => {
                        out.write_str(", each answered with the login form again")
                    }
                    _ => Ok(()),
                }
            }
            RuleId::DnsTunnel if self.evidence.domain.starts_with(b"(") => write!(
                out,
                "{} sent {} queries with {} distinct made-up names under top-level domains that do not exist ({} name bytes) in {} s, typical of a DNS tunnel",
                self.src,
                fu("queries").unwrap_or(0.0),
                fu("unique_subdomains").unwrap_or(0.0),
                fu("name_bytes").unwrap_or(0.0),
                fu("window_s").unwrap_or(0.0)
            ),
            RuleId::DnsTunnel => write!(
                out,
                "{} sent {} queries with {} distinct subdomains of {} ({} name bytes) in {} s, typical of a DNS tunnel",
                self.src,
                fu("queries").unwrap_or(0.0),
                fu("unique_subdomains").unwrap_or(0.0),
                self.evidence.domain.escape_ascii(),
                fu("name_bytes").unwrap_or(0.0),
                fu("window_s").unwrap_or(0.0)
            ),
            RuleId::C2Beacon => write!(
                out,
                "{} connects to {} port {} every {:.1} s ({} connections, intervals within a factor {:.2}; chance if random {:.0e}), like a C2 beacon",
                self.src,
                self.dst,
                self.dport,
                fu("median_interval_s").unwrap_or(0.0),
                fu("connections").unwrap_or(0.0),
                fu("interval_spread").unwrap_or(0.0),
                fu("chance_if_random").unwrap_or(1.0)
            ),
            RuleId::AnomalyHost => {
                write!(out, "{} departs from its own baseline:", self.src)?;
                let mut n = 0;
                for (k, v) in &self.evidence.figures {
                    let Some(f) = k.strip_suffix("_observed") else {
                        continue;
                    };
                    let base = fu(explain::baseline_key(f)).unwrap_or(0.0);
                    let v = match v {
                        Figure::U(u) => *u as f64,
                        Figure::F(x) => *x,
                        Figure::S(_) => 0.0,
                    };
                    let sep = if n > 0 { "," } else { "" };
                    n += 1;
                    if f.starts_with("bytes") {
                        write!(out, "{sep} {f} {}/min (usually up to {})", explain::Size(v), explain::Size(base))?;
                    } else {
                        write!(out, "{sep} {f} {v:.0}/min (usually up to {base:.0})")?;
                    }
                }
                Ok(())
            }
            RuleId::HostNew => write!(out, "new device {} seen on the network", self.src),
            RuleId::SensorHealth => {
                let s = |k: &str| match self.figure(k) {
                    Some(Figure::S(s)) => s,
                    _ => "",
                };
                let n = |k: &str| fu(k).unwrap_or(0.0);
                match s("kind") {
                    "capture_loss" => write!(
                        out,
                        "sensor is blind in part: capture on {} lost {} of {} packets ({:.1}%) in the last minute",
                        s("interface"), n("dropped"), n("received") + n("dropped"), n("loss_pct")
                    ),
                    "table_evictions" => write!(
                        out,
                        "detection degraded: the {} table evicted {} of its {} entries in the last minute",
                        s("table"), n("evicted"), n("capacity")
                    ),
                    "store_failing" => write!(
                        out,
                        "alert store failing: {} errors in the last minute, {} alerts queued, {} dropped",
                        n("errors"), n("queued"), n("dropped")
                    ),
                    "syslog_dropping" => write!(
                        out,
                        "syslog collector unreachable or slow: {} messages dropped in the last minute",
                        n("dropped")
                    ),
                    other => write!(out, "sensor health: {other}"),
                }
            }
        }
    }
}

fn port_label(proto: u8, port: u16) -> PortLabel {
    PortLabel(proto, port)
}

struct PortLabel(u8, u16);

impl std::fmt::Display for PortLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::capture::decode::proto;
        match self.0 {
            crate::state::flow::PROTO_ARP => f.write_str("(by ARP)"),
            crate::state::flow::PROTO_ND => f.write_str("(by neighbour solicitation)"),
            proto::ICMP | proto::ICMPV6 => f.write_str("(by ICMP echo)"),
            proto::UDP => write!(f, "UDP port {} on", self.1),
            _ => write!(f, "TCP port {} on", self.1),
        }
    }
}

/// Write `ts_us` (µs since the epoch) as Suricata does: `2026-11-26T14:38:38.941625+0000`.
pub fn write_timestamp(out: &mut impl std::fmt::Write, ts_us: i64) -> std::fmt::Result {
    let secs = ts_us.div_euclid(1_000_000);
    let micros = ts_us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+0000",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}
