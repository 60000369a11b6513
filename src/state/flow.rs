//! Flows: bidirectional 5-tuples in a fixed-capacity table, with the TCP state and the facts
//! the detectors judge a connection by (did it become a session? how many request/response
//! turns? how long, how many bytes?).
//!
//! * The key is normalised (lower address/port first) so both directions hit one entry; the
//!   *initiator* is whoever sent the first packet we saw (or the SYN's sender when the first
//!   packet is a SYN-ACK), and counters are kept initiator→responder (`[0]`) and back (`[1]`).
//! * ARP requests and IPv6 neighbour solicitations are tracked as pseudo-flows
//!   (sender → target) so an unanswered one is a failed probe like an unanswered SYN: on a LAN a
//!   ping sweep is nothing but ARP.
//! * ICMP errors are not flows: they close the flow they quote ("rejected").
//! * Each flow is closed exactly once — by RST, by FINs from both sides, by an ICMP error, by
//!   idle expiry, by eviction or by the final flush — and that `Closed` record goes to the
//!   detectors. A closed TCP flow lingers briefly to absorb trailing packets.
//! * Idle timeouts per class: unanswered (probe) flows, answered TCP, answered UDP/ICMP/other,
//!   closed. When the table is full the least recently seen flow is evicted and counted.

use crate::addr::Addr;
use crate::capture::decode::{proto, tcp_flags as tf, Net, PacketMeta};
use crate::settings::{ranged, ConfigError};
use crate::state::devices::Devices;
use crate::state::sketch::addr_hash;
use crate::state::table::{LruMap, Seed, TableKey, Upsert};
use serde::Deserialize;

/// Pseudo protocol numbers for ARP and ND pseudo-flows (not valid IP protocols in this use).
pub const PROTO_ARP: u8 = 0xfe;
pub const PROTO_ND: u8 = 0xfd;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct FlowKey {
    pub a: Addr,
    pub b: Addr,
    pub a_port: u16,
    pub b_port: u16,
    pub proto: u8,
}

impl TableKey for FlowKey {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        let ports = (self.a_port as u64) << 16 | self.b_port as u64;
        seed.hash(self.a.bits(), self.b.bits(), ports, self.proto as u64)
    }
}

impl FlowKey {
    /// Normalised key and whether `src` is side `a` (the end that is lower by [`Addr::le`],
    /// then port: any fixed order will do, this one is cheapest).
    pub fn new(src: Addr, sport: u16, dst: Addr, dport: u16, proto: u8) -> (FlowKey, bool) {
        if (src.le(), sport) <= (dst.le(), dport) {
            (
                FlowKey {
                    a: src,
                    b: dst,
                    a_port: sport,
                    b_port: dport,
                    proto,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    a: dst,
                    b: src,
                    a_port: dport,
                    b_port: sport,
                    proto,
                },
                false,
            )
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum TcpState {
    /// Not TCP, or TCP picked up mid-stream without a handshake seen.
    #[default]
    None,
    SynSent,
    SynAckSeen,
    Established,
    /// RST seen, or FIN from both sides.
    Closed,
}

/// Class (recency list) a flow is filed under; each has its own idle timeout.
pub mod class {
    pub const UNANSWERED: u8 = 0;
    pub const TCP: u8 = 1;
    pub const OTHER: u8 = 2;
    pub const CLOSED: u8 = 3;
}

/// A new flow's payload state (`Flow::http`): DHCP and mDNS flows have each message read for
/// the device inventory; only TCP can carry HTTP, and never to the ports of TLS and ssh services
/// (their first bytes are a handshake, not a request: reading them is wasted work).
#[inline]
fn http_initial(proto: u8, sport: u16, dport: u16, server_port: u16) -> u8 {
    if proto != proto::TCP {
        return if proto == proto::UDP && crate::state::devices::may_learn_from(sport, dport) {
            HTTP_YES | LEARN
        } else {
            HTTP_NO
        };
    }
    match server_port {
        22 | 443 | 465 | 563 | 636 | 853 | 989 | 990 | 993 | 995 | 5061 | 5223 | 8443 | 8883 => {
            HTTP_NO
        }
        _ => HTTP_UNKNOWN,
    }
}

/// Nothing due (`FlowTable::due`).
pub const NO_FLOW: u32 = u32::MAX;
/// The state's two bits say which directions `http` reads: bit 0 requests, bit 1 responses.
const HTTP_STATE: u8 = 3;
/// Not known yet: the first request is read to find out.
const HTTP_UNKNOWN: u8 = 1;
const HTTP_YES: u8 = 3;
const HTTP_NO: u8 = 0;
/// The request in progress is a form login.
const HTTP_LOGIN: u8 = 4;
/// The request in progress carries credentials this connection had not sent before.
const HTTP_NEW_CRED: u8 = 8;
/// Not HTTP: a DHCP or mDNS flow, each of whose messages goes to the device inventory.
const LEARN: u8 = 16;

/// A keyed 16-bit hash of the credentials a request's first segment carries (0: none): the
/// `Authorization` header's value, or a form login's body. Only the hash is kept, to tell a
/// new password from the same one sent again.
fn credentials(head: &[u8], form: bool, key: u64) -> u16 {
    let head = &head[..head.len().min(2048)];
    let value = if form {
        head.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| &head[i + 4..])
    } else {
        head.windows(16)
            .position(|w| w.eq_ignore_ascii_case(b"\r\nauthorization:"))
            .map(|i| {
                let v = &head[i + 16..];
                &v[..v.iter().position(|&b| b == b'\r').unwrap_or(v.len())]
            })
    };
    match value {
        Some(v) if !v.trim_ascii().is_empty() => {
            let h =
                crate::state::sketch::mix(crate::capture::decode::psl::fnv(key, v.trim_ascii()));
            (h as u16).max(1)
        }
        _ => 0,
    }
}
/// How an HTTP request begins: the first four bytes of the RFC 9110 methods (a flow whose
/// first request does not start with one of these is not read again).
const HTTP_METHODS: [[u8; 4]; 7] = [
    *b"GET ", *b"POST", *b"HEAD", *b"PUT ", *b"DELE", *b"OPTI", *b"PATC",
];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    pub first: u64,
    pub last: u64,
    pub first_ts: i64,
    /// Initiator is key side `a`.
    pub init_is_a: bool,
    pub pkts: [u32; 2],
    pub bytes: [u64; 2],
    pub payload: [u64; 2],
    pub flags: [u8; 2],
    /// TCP flags (or ICMP type) of the initiator's first packet: what kind of probe it was.
    pub first_flags: u8,
    pub state: TcpState,
    fin: [bool; 2],
    /// Initiator payload segments that followed a responder payload (request/response turns).
    pub turns: u16,
    last_payload_dir: u8,
    /// Already reported as closed (lingering in the CLOSED class).
    reported: bool,
    /// Closed by an ICMP "time exceeded" from a router on the way (traceroute), not by the
    /// destination.
    pub transit: bool,
    /// Opened by an answer, not a request: a unicast reply to a query the receiver sent to a
    /// group (multicast or broadcast) moments before, or a packet from a privileged service
    /// port to an unprivileged one that is not a TCP SYN (a late reply whose request's flow
    /// expired, or a server's end of a connection we saw only the end of). Its sender
    /// initiated nothing: it is no one's probe and no one's check-in.
    pub answer: bool,
    /// A UDP flow to a group address: each packet is recorded as a query (see `GroupQueries`).
    to_group: bool,
    /// Largest responder payload segment after the first three turns (the handshake of most
    /// login protocols): failed logins get only short refusals back, a session gets more.
    pub late_reply_max: u16,
    /// What `payload` reads of this flow: TCP flows, is it HTTP, and is the current
    /// request a form login; DHCP and mDNS flows, every message (`LEARN`).
    http: u8,
    /// HTTP responses refusing a login: `401` to any request, and a refusal (`200` or `403`:
    /// the login page again, not a redirect into the site) to a form login (`POST` to a login
    /// path). Read from the status line of each response's first segment; nothing else of
    /// the payload is kept.
    pub http_fails: [u8; 2],
    /// Hashes of the credentials of this connection's first and latest request that had any
    /// (see `credentials`; 0: none yet).
    pub first_cred: u16,
    pub cred: u16,
    /// Per direction: the sending address's sketch hash (0 until first needed), and the
    /// second (+1) its source was last counted in the traffic windows. Packets of one flow in
    /// one second add nothing to a distinct-source count after the first, so the windows skip
    /// them (and the hash is computed once per flow, not per packet).
    src_hash: [u64; 2],
    src_sec: [u32; 2],
}

impl Flow {
    /// Did this flow carry an exchange, as opposed to a probe that went nowhere?
    pub fn is_session(&self, proto: u8) -> bool {
        match proto {
            proto::TCP => {
                self.payload[1] > 0 || (self.state_established_ever() && self.payload[0] > 0)
            }
            _ => self.pkts[1] > 0,
        }
    }

    /// `sketch::addr_hash` of the address that sent in direction `dir` (0: the initiator), or
    /// 0 when it never sent (computed once per flow for the windows' sketches).
    #[inline]
    pub fn addr_hash(&self, dir: usize) -> u64 {
        self.src_hash.get(dir).copied().unwrap_or(0)
    }

    fn state_established_ever(&self) -> bool {
        // Handshake completed if both sides sent SYN and the initiator ACKed.
        self.flags[0] & tf::SYN != 0 && self.flags[1] & tf::SYN != 0 && self.flags[0] & tf::ACK != 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Rst,
    Fin,
    /// An ICMP error (unreachable etc.) quoted this flow.
    Rejected,
    /// ARP/ND answered.
    Answered,
    Expired,
    Evicted,
    Flush,
}

/// A flow as it ends: what detectors judge connections by. Borrows the flow where it lies
/// (in its slot, or just taken out of it) rather than copying it.
#[derive(Clone, Copy, Debug)]
pub struct Closed<'a> {
    /// The flow's id in the table (reused for another flow after this event).
    pub id: u32,
    pub key: &'a FlowKey,
    pub flow: &'a Flow,
    pub reason: CloseReason,
    /// Packet time of the close.
    pub at: u64,
    /// Wall time of the packet that closed it (or of the flow's last packet for expiry).
    pub at_ts: i64,
}

impl Closed<'_> {
    pub fn initiator(&self) -> (Addr, u16) {
        if self.flow.init_is_a {
            (self.key.a, self.key.a_port)
        } else {
            (self.key.b, self.key.b_port)
        }
    }

    pub fn responder(&self) -> (Addr, u16) {
        if self.flow.init_is_a {
            (self.key.b, self.key.b_port)
        } else {
            (self.key.a, self.key.a_port)
        }
    }

    pub fn is_session(&self) -> bool {
        self.flow.is_session(self.key.proto)
    }
}

/// What one packet did to the flow table.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowEvent {
    /// The packet belongs to a flow (id valid).
    pub tracked: bool,
    pub id: u32,
    /// 0: initiator → responder, 1: reverse.
    pub dir: u8,
    pub created: bool,
    /// This packet completed a TCP handshake.
    pub established: bool,
    /// This packet started a new request turn (initiator payload after responder payload).
    pub new_turn: bool,
    /// Tracked packets: sketch hash of the packet's source address, and whether it is the
    /// first packet of this flow and direction in the current second.
    pub src_hash: u64,
    pub src_first_in_sec: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTimeouts {
    pub unanswered_us: u64,
    pub tcp_us: u64,
    pub other_us: u64,
    pub closed_us: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounters {
    pub created: u64,
    pub evicted: u64,
    pub expired: u64,
}

/// Seconds after a query to a group within which a unicast packet to the querier's address
/// and port is its answer (SSDP answers within MX ≤ 5 s, WS-Discovery 4 s, mDNS 1 s; DHCP
/// servers and slow devices take longer).
pub const GROUP_ANSWER_S: u64 = 30;
/// Queries remembered (direct-mapped: a collision forgets the older one, and its late
/// answers then count as they did before this table).
const GROUP_QUERIES: usize = 512;
const GROUP_PORTS: usize = 1024;

/// Recent queries to a group address by (sender, source port): SSDP M-SEARCH, mDNS, LLMNR,
/// WS-Discovery, NetBIOS name queries, DHCP. Answers come back by unicast to the sender's
/// port, from whoever answers; without this, each answer to a phone that searches from a
/// fresh port every minute looked like the answerer probing a new port of the phone.
struct GroupQueries {
    /// (address, port, second + 1; 0 = empty).
    slots: Box<[(Addr, u16, u32)]>,
    /// Per source port modulo its length: the second + 1 a query last came from such a port.
    /// New flows to a port no query came from lately (nearly all) are told apart by this one
    /// read, without hashing an address.
    ports: Box<[u32]>,
    key: u64,
}

impl GroupQueries {
    fn new(key: u64) -> GroupQueries {
        GroupQueries {
            slots: vec![(Addr::UNSPECIFIED, 0, 0); GROUP_QUERIES].into_boxed_slice(),
            ports: vec![0; GROUP_PORTS].into_boxed_slice(),
            key,
        }
    }

    #[inline]
    fn slot(&self, a: &Addr, port: u16) -> usize {
        (addr_hash(a, self.key ^ port as u64) as usize) % GROUP_QUERIES
    }

    fn record(&mut self, a: &Addr, port: u16, sec: u64) {
        let i = self.slot(a, port);
        let t = (sec as u32).wrapping_add(1);
        self.slots[i] = (*a, port, t);
        self.ports[port as usize % GROUP_PORTS] = t;
    }

    #[inline]
    fn recent(t: u32, sec: u64) -> bool {
        t != 0 && (sec as u32).wrapping_add(1).wrapping_sub(t) as u64 <= GROUP_ANSWER_S
    }

    /// Did `a` query a group from `port` within the last `GROUP_ANSWER_S` seconds? (A query
    /// from the unspecified address, DHCP's, is answered to whatever address it is given.)
    #[inline]
    fn answered(&self, a: &Addr, port: u16, sec: u64) -> bool {
        Self::recent(self.ports[port as usize % GROUP_PORTS], sec)
            && self.answered_slow(a, port, sec)
    }

    #[cold]
    fn answered_slow(&self, a: &Addr, port: u16, sec: u64) -> bool {
        [*a, Addr::UNSPECIFIED].iter().any(|q| {
            let (qa, qp, t) = self.slots[self.slot(q, port)];
            qa == *q && qp == port && Self::recent(t, sec)
        })
    }
}

/// A destination that is a group: multicast, the limited broadcast, or an IPv4 address ending
/// in .255 (the directed broadcast of a /24, a home LAN's usual size; if it is a host of a
/// larger subnet, only its queries are misread as a group's).
#[inline]
fn is_group_dst(a: &Addr) -> bool {
    match a.as_v4() {
        Some(b) => b[0] >= 224 || b[3] == 255,
        None => a.is_group(),
    }
}

/// A new flow's (`answer`, `to_group`): see [`Flow::answer`].
#[inline]
fn opened_by(m: &PacketMeta, queries: &GroupQueries) -> (bool, bool) {
    let service_to_client = m.sport != 0 && m.sport < 1024 && m.dport >= 1024;
    match m.proto {
        proto::UDP => {
            if is_group_dst(&m.dst) {
                (false, true)
            } else {
                (
                    service_to_client || queries.answered(&m.dst, m.dport, m.sec),
                    false,
                )
            }
        }
        proto::TCP => (service_to_client && m.tcp_flags & tf::SYN == 0, false),
        _ => (false, false),
    }
}

/// The last flow entered, when it is an IPv4 TCP/UDP flow: its key as three words, so an
/// IPv4 packet is matched against it with three word compares per direction.
#[derive(Clone, Copy)]
struct HotV4 {
    /// Valid while the table's own last-entry id is still this one.
    id: u32,
    a: u32,
    b: u32,
    /// `a_port << 16 | b_port`.
    ports: u32,
    proto: u8,
}

pub struct FlowTable {
    map: LruMap<FlowKey, Flow>,
    /// Path prefixes of form logins (`rules.bruteforce.form_login_paths`).
    login_paths: Vec<Vec<u8>>,
    /// The flow whose payload `payload` wants to read from the packet just observed: a TCP
    /// flow's first request, each request and response of an HTTP flow, each DHCP or mDNS message;
    /// `NO_FLOW` otherwise. Kept here, not in the `FlowEvent` every packet returns.
    pub due: u32,
    /// The LAN's devices, learnt from ARP, neighbour discovery and DHCP as they pass here.
    pub devices: Box<Devices>,
    hot4: HotV4,
    queries: GroupQueries,
    timeouts: FlowTimeouts,
    /// Fixed key of the windows' sketches (see `FlowEvent::src_hash`).
    sketch_key: u64,
    pub counters: FlowCounters,
}

impl FlowTable {
    pub fn new(capacity: usize, devices: usize, timeouts: FlowTimeouts, sketch_key: u64) -> Self {
        FlowTable {
            devices: Box::new(Devices::new(devices)),
            map: LruMap::new(capacity, 4),
            login_paths: Vec::new(),
            due: NO_FLOW,
            queries: GroupQueries::new(sketch_key),
            hot4: HotV4 {
                id: u32::MAX,
                a: 0,
                b: 0,
                ports: 0,
                proto: 0,
            },
            timeouts,
            sketch_key,
            counters: FlowCounters::default(),
        }
    }

    pub fn set_timeouts(&mut self, t: FlowTimeouts) {
        self.timeouts = t;
    }

    /// The path prefixes whose `POST`s are form logins.
    pub fn set_login_paths(&mut self, paths: &[String]) {
        self.login_paths = paths.iter().map(|p| p.as_bytes().to_vec()).collect();
    }

    /// The payload of the packet just observed, on the flow `due` names, in direction `dir`
    /// (`head`: as much of it as was captured). Clears `due`.
    ///
    /// A DHCP or mDNS message goes to the device inventory. On TCP, the start of a request or a
    /// response: a flow whose first request starts with an HTTP method is HTTP; then each
    /// response's status line is read for refusals.
    #[cold]
    #[inline(never)]
    pub fn payload(&mut self, dir: u8, head: &[u8]) {
        let id = std::mem::replace(&mut self.due, NO_FLOW);
        if (id as usize) >= self.map.capacity() {
            return;
        }
        let f = self.map.get_mut(id);
        if f.http & LEARN != 0 {
            // The next message is read whichever way it goes.
            f.last_payload_dir = 2;
            // The packet's time: the flow's last, and its wall time counted from the first.
            let ts = f
                .first_ts
                .saturating_add(f.last.saturating_sub(f.first) as i64);
            let now = f.last;
            let k = self.map.key(id);
            let f = self.map.get(id);
            let (src, sport, dport) = if (dir == 0) == f.init_is_a {
                (k.a, k.a_port, k.b_port)
            } else {
                (k.b, k.b_port, k.a_port)
            };
            if crate::state::devices::learns_from(sport, dport) {
                self.devices.udp(head, src, sport, now, ts);
            }
            return;
        }
        let state = f.http & HTTP_STATE;
        if dir == 0 {
            let first4 = match head {
                [a, b, c, d, ..] => [*a, *b, *c, *d],
                _ => [0; 4],
            };
            if state == HTTP_UNKNOWN {
                f.http = if HTTP_METHODS.contains(&first4) {
                    HTTP_YES
                } else {
                    HTTP_NO
                };
            }
            if f.http & HTTP_STATE == HTTP_YES {
                let login = &first4 == b"POST"
                    && head.get(4) == Some(&b' ')
                    && self
                        .login_paths
                        .iter()
                        .any(|p| head.get(5..).is_some_and(|h| h.starts_with(p)));
                let cred = credentials(head, login, self.sketch_key);
                let mut bits = HTTP_YES | if login { HTTP_LOGIN } else { 0 };
                if login && cred == 0 {
                    // A form whose body follows in a later segment: its credentials cannot be
                    // compared, so a refusal counts (nobody polls a login form).
                    bits |= HTTP_NEW_CRED;
                } else if cred != 0 && cred != f.cred {
                    // Credentials this connection has not tried yet: a refusal is an attempt.
                    bits |= HTTP_NEW_CRED;
                    f.cred = cred;
                    if f.first_cred == 0 {
                        f.first_cred = cred;
                    }
                }
                f.http = bits;
            }
        } else if state == HTTP_YES {
            // "HTTP/1.1 401 " (any minor version): the three status digits at offset 9.
            let status = match head {
                [b'H', b'T', b'T', b'P', b'/', _, b'.', _, b' ', a, b, c, ..] => [*a, *b, *c],
                _ => [0; 3],
            };
            // Only refusals of credentials not tried before on this connection are attempts:
            // a browser's first request without any (the challenge), or an app retrying the
            // same ones, guesses nothing.
            let new = f.http & HTTP_NEW_CRED != 0;
            if new && &status == b"401" {
                f.http_fails[0] = f.http_fails[0].saturating_add(1);
            }
            if new && f.http & HTTP_LOGIN != 0 && matches!(&status, b"200" | b"403") {
                f.http_fails[1] = f.http_fails[1].saturating_add(1);
            }
            f.http &= !(HTTP_LOGIN | HTTP_NEW_CRED);
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    pub fn footprint_bytes(&self) -> usize {
        self.map.footprint_bytes()
    }

    pub fn get(&self, id: u32) -> (&FlowKey, &Flow) {
        (self.map.key(id), self.map.get(id))
    }

    /// Flows from least to most recently seen, for the flow view.
    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, &Flow)> + '_ {
        (0..4u8)
            .flat_map(move |c| self.map.iter_class(c))
            .map(move |id| (self.map.key(id), self.map.get(id)))
    }

    /// Account one decoded packet. Flows that end because of it (or are evicted to make room)
    /// are passed to `on_close`.
    #[inline]
    pub fn observe(&mut self, m: &PacketMeta, on_close: &mut impl FnMut(&Closed)) -> FlowEvent {
        // The common case first: a TCP or UDP packet that is not a later fragment.
        // (The decoder leaves `proto` 0 for ARP and non-IP frames, and sets `quoted` only for
        // ICMP errors.)
        let ip_l4 = matches!(m.proto, proto::TCP | proto::UDP) && !m.fragment;
        let mut ev = FlowEvent {
            tracked: true,
            ..FlowEvent::default()
        };
        // Packets come in trains of one flow (both directions): compare the addresses and
        // ports with the last flow's key as they are, before normalising and hashing.
        let (id, src_is_a) = match if ip_l4 { self.hot_match(m) } else { None } {
            Some(hit) => hit,
            None => {
                let (key, src_is_a) = if ip_l4 {
                    FlowKey::new(m.src, m.sport, m.dst, m.dport, m.proto)
                } else {
                    match self.other_key(m, on_close) {
                        Some(k) => k,
                        None => return FlowEvent::default(),
                    }
                };
                let (id, created) = self.enter(key, src_is_a, m, on_close);
                // The new last flow: cached for `hot_match` when it is IPv4 TCP/UDP; any
                // other leaves the cache unset (its id may be one the cache holds).
                self.hot4 = HotV4 {
                    id: if ip_l4 && m.net == Net::Ipv4 {
                        id
                    } else {
                        u32::MAX
                    },
                    a: key.a.v4_word(),
                    b: key.b.v4_word(),
                    ports: (key.a_port as u32) << 16 | key.b_port as u32,
                    proto: key.proto,
                };
                ev.created = created;
                (id, src_is_a)
            }
        };
        if ev.created {
            self.counters.created += 1;
        }
        ev.id = id;
        self.update(id, src_is_a, m, ev, on_close)
    }

    /// The last flow's id and whether the packet's source is its side `a`, if the packet
    /// (TCP or UDP, not a fragment) belongs to it.
    #[inline]
    fn hot_match(&self, m: &PacketMeta) -> Option<(u32, bool)> {
        if m.net == Net::Ipv4 {
            // Both addresses are IPv4: words, not 16-byte compares. (An IPv4 packet cannot
            // belong to a last flow that is not IPv4, so a stale or unset cache is a miss.)
            let h = &self.hot4;
            if h.proto != m.proto || !self.map.is_hot(h.id) {
                return None;
            }
            let (s, d) = (m.src.v4_word(), m.dst.v4_word());
            let p = (m.sport as u32) << 16 | m.dport as u32;
            return if s == h.a && d == h.b && p == h.ports {
                Some((h.id, true))
            } else if s == h.b && d == h.a && p == h.ports.rotate_left(16) {
                Some((h.id, false))
            } else {
                None
            };
        }
        let (id, k) = self.map.hot_entry()?;
        if k.proto != m.proto {
            return None;
        }
        if k.a == m.src && k.b == m.dst && k.a_port == m.sport && k.b_port == m.dport {
            Some((id, true))
        } else if k.b == m.src && k.a == m.dst && k.b_port == m.sport && k.a_port == m.dport {
            Some((id, false))
        } else {
            None
        }
    }

    /// Find or insert the flow of `key`; true when it was created.
    #[inline]
    fn enter(
        &mut self,
        key: FlowKey,
        src_is_a: bool,
        m: &PacketMeta,
        on_close: &mut impl FnMut(&Closed),
    ) -> (u32, bool) {
        let now = m.now;
        let counters = &mut self.counters;
        let queries = &self.queries;
        // TCP/UDP packets come here after `hot_match` missed, the rest rarely belong to the
        // last flow: no second compare with it.
        let (id, how) = self.map.entry_hashed(
            key,
            class::UNANSWERED,
            now,
            |victim, k, f| {
                counters.evicted += 1;
                if !f.reported {
                    on_close(&Closed {
                        id: victim,
                        key: k,
                        flow: f,
                        reason: CloseReason::Evicted,
                        at: now,
                        at_ts: m.ts,
                    });
                }
            },
            |f| {
                // A SYN-ACK as first packet: the handshake began before we looked; its
                // destination is the initiator.
                let synack = m.proto == proto::TCP
                    && m.tcp_flags & (tf::SYN | tf::ACK) == (tf::SYN | tf::ACK);
                let (answer, to_group) = opened_by(m, queries);
                *f = Flow {
                    first: now,
                    last: now,
                    first_ts: m.ts,
                    init_is_a: if synack { !src_is_a } else { src_is_a },
                    first_flags: if m.proto == proto::TCP {
                        m.tcp_flags
                    } else {
                        m.icmp_type
                    },
                    last_payload_dir: 2,
                    answer,
                    to_group,
                    http: http_initial(
                        m.proto,
                        m.sport,
                        m.dport,
                        if synack { m.sport } else { m.dport },
                    ),
                    ..Flow::default()
                }
            },
        );
        (id, how != Upsert::Found)
    }

    /// Count the packet into flow `id` and advance its state.
    #[inline]
    fn update(
        &mut self,
        id: u32,
        src_is_a: bool,
        m: &PacketMeta,
        mut ev: FlowEvent,
        on_close: &mut impl FnMut(&Closed),
    ) -> FlowEvent {
        let now = m.now;
        let f = self.map.get_mut(id);
        let dir = if src_is_a == f.init_is_a { 0usize } else { 1 };
        ev.dir = dir as u8;
        f.last = f.last.max(now);
        f.pkts[dir] = f.pkts[dir].saturating_add(1);
        if f.src_hash[dir] == 0 {
            f.src_hash[dir] = addr_hash(&m.src, self.sketch_key);
        }
        ev.src_hash = f.src_hash[dir];
        let sec1 = (m.sec as u32).wrapping_add(1);
        if f.src_sec[dir] != sec1 {
            ev.src_first_in_sec = true;
            f.src_sec[dir] = sec1;
            // Queries are remembered by the second: the first of each second is enough.
            if f.to_group {
                self.queries.record(&m.src, m.sport, m.sec);
            }
        }
        f.bytes[dir] += m.wire_len as u64;
        f.payload[dir] += m.payload_len as u64;
        if m.payload_len > 0 {
            if dir == 1 && f.turns >= 3 {
                f.late_reply_max = f
                    .late_reply_max
                    .max(m.payload_len.min(u16::MAX as u32) as u16);
            }
            if dir == 0 && f.last_payload_dir == 1 {
                f.turns = f.turns.saturating_add(1);
                ev.new_turn = true;
            }
            // Only what `http` reads: a flow's requests until one shows it is not HTTP, and
            // the responses of HTTP flows.
            if f.last_payload_dir != dir as u8 && (f.http >> dir) & 1 != 0 {
                self.due = id;
            }

            f.last_payload_dir = dir as u8;
        }
        let mut closed_now = None;
        let cls = if m.proto == proto::TCP {
            let fl = m.tcp_flags;
            f.flags[dir] |= fl;
            match f.state {
                TcpState::None if fl & (tf::SYN | tf::ACK) == tf::SYN && dir == 0 => {
                    f.state = TcpState::SynSent
                }
                TcpState::None | TcpState::SynSent
                    if fl & (tf::SYN | tf::ACK) == (tf::SYN | tf::ACK) && dir == 1 =>
                {
                    f.state = TcpState::SynAckSeen
                }
                TcpState::SynAckSeen
                    if dir == 0 && fl & tf::ACK != 0 && fl & (tf::SYN | tf::RST) == 0 =>
                {
                    f.state = TcpState::Established;
                    ev.established = true;
                }
                _ => {}
            }
            // Only a FIN or a RST can end the connection.
            if fl & (tf::FIN | tf::RST) != 0 {
                if fl & tf::FIN != 0 {
                    f.fin[dir] = true;
                }
                if f.state != TcpState::Closed && (fl & tf::RST != 0 || (f.fin[0] && f.fin[1])) {
                    f.state = TcpState::Closed;
                    if !f.reported {
                        f.reported = true;
                        closed_now = Some(if fl & tf::RST != 0 {
                            CloseReason::Rst
                        } else {
                            CloseReason::Fin
                        });
                    }
                }
            }
            if f.state == TcpState::Closed {
                class::CLOSED
            } else if f.pkts[1] == 0 {
                class::UNANSWERED
            } else {
                class::TCP
            }
        } else if f.pkts[1] == 0 {
            class::UNANSWERED
        } else {
            class::OTHER
        };
        self.map.touch(id, now, cls);
        if let Some(reason) = closed_now {
            on_close(&Closed {
                id,
                key: self.map.key(id),
                flow: self.map.get(id),
                reason,
                at: now,
                at_ts: m.ts,
            });
        }
        ev
    }

    /// The key of a packet off the common path (ARP, ND, ICMP, errors, fragments); `None` when
    /// the packet is not part of a flow (an answer or a rejection is handled here).
    #[inline(never)]
    fn other_key(
        &mut self,
        m: &PacketMeta,
        on_close: &mut impl FnMut(&Closed),
    ) -> Option<(FlowKey, bool)> {
        match m.net {
            Net::Arp => {
                self.devices.arp(m);
                // Requests open a pseudo-flow sender→target; a reply from the target answers it.
                if m.src == m.dst {
                    return None; // gratuitous ARP
                }
                let (k, a) = FlowKey::new(m.src, 0, m.target, 0, PROTO_ARP);
                match m.arp_op {
                    1 => Some((k, a)),
                    2 => {
                        let (k, _) = FlowKey::new(m.dst, 0, m.src, 0, PROTO_ARP);
                        self.answer(&k, m, on_close);
                        None
                    }
                    _ => None,
                }
            }
            Net::Ipv4 | Net::Ipv6 => {
                if m.quoted.is_some() {
                    self.reject(m, on_close);
                    return None;
                }
                match (m.proto, m.icmp_type) {
                    (proto::ICMPV6, 135) => {
                        self.devices.ndp(m);
                        if m.src.0 == [0; 16] {
                            return None; // duplicate address detection
                        }
                        Some(FlowKey::new(m.src, 0, m.target, 0, PROTO_ND))
                    }
                    (proto::ICMPV6, 136) => {
                        self.devices.ndp(m);
                        let (k, _) = FlowKey::new(m.dst, 0, m.target, 0, PROTO_ND);
                        self.answer(&k, m, on_close);
                        None
                    }
                    // Router/neighbour discovery chatter and MLD are not conversations (a
                    // router's advertisement names a router: the inventory learns it).
                    (proto::ICMPV6, 134) => {
                        self.devices.ndp(m);
                        None
                    }
                    (proto::ICMPV6, 130..=133 | 143) => None,
                    (proto::TCP | proto::UDP, _) => {
                        if m.fragment && m.sport == 0 && m.dport == 0 {
                            return None; // non-first fragment
                        }
                        Some(FlowKey::new(m.src, m.sport, m.dst, m.dport, m.proto))
                    }
                    _ => Some(FlowKey::new(m.src, 0, m.dst, 0, m.proto)),
                }
            }
            Net::Other => None,
        }
    }

    /// ARP reply / neighbour advertisement: the probe it answers was not a failure.
    fn answer(&mut self, key: &FlowKey, m: &PacketMeta, on_close: &mut impl FnMut(&Closed)) {
        if let Some(id) = self.map.find(key) {
            let (k, mut f) = self.map.remove(id);
            f.pkts[1] += 1;
            f.last = m.now;
            if !f.reported {
                on_close(&Closed {
                    id,
                    key: &k,
                    flow: &f,
                    reason: CloseReason::Answered,
                    at: m.now,
                    at_ts: m.ts,
                });
            }
        }
    }

    /// An ICMP error: close the flow it quotes.
    fn reject(&mut self, m: &PacketMeta, on_close: &mut impl FnMut(&Closed)) {
        let Some(q) = m.quoted else { return };
        let (sport, dport) = if matches!(q.proto, proto::TCP | proto::UDP) {
            (q.sport, q.dport)
        } else {
            (0, 0)
        };
        let (key, _) = FlowKey::new(q.src, sport, q.dst, dport, q.proto);
        if let Some(id) = self.map.find(&key) {
            let f = self.map.get_mut(id);
            if f.reported {
                return;
            }
            f.reported = true;
            f.transit = match m.proto {
                proto::ICMP => m.icmp_type == 11,
                _ => m.icmp_type == 3,
            };
            f.last = f.last.max(m.now);
            let snapshot = *f;
            self.map.touch(id, m.now, class::CLOSED);
            on_close(&Closed {
                id,
                key: &key,
                flow: &snapshot,
                reason: CloseReason::Rejected,
                at: m.now,
                at_ts: m.ts,
            });
        }
    }

    /// Expire idle flows at packet time `now`.
    pub fn expire(
        &mut self,
        now: u64,
        wall_of: impl Fn(u64) -> i64,
        on_close: &mut impl FnMut(&Closed),
    ) {
        let t = self.timeouts;
        for (c, timeout) in [
            (class::UNANSWERED, t.unanswered_us),
            (class::TCP, t.tcp_us),
            (class::OTHER, t.other_us),
            (class::CLOSED, t.closed_us),
        ] {
            let deadline = now.saturating_sub(timeout);
            while let Some((id, k, f)) = self.map.pop_expired(c, deadline) {
                self.counters.expired += 1;
                if !f.reported {
                    on_close(&Closed {
                        id,
                        key: &k,
                        flow: &f,
                        reason: CloseReason::Expired,
                        at: now,
                        at_ts: wall_of(f.last),
                    });
                }
            }
        }
    }

    /// End of capture: close everything still open.
    pub fn flush(
        &mut self,
        now: u64,
        wall_of: impl Fn(u64) -> i64,
        on_close: &mut impl FnMut(&Closed),
    ) {
        self.map.drain_all(|id, k, f| {
            if !f.reported {
                on_close(&Closed {
                    id,
                    key: &k,
                    flow: &f,
                    reason: CloseReason::Flush,
                    at: now,
                    at_ts: wall_of(f.last),
                });
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration: `[flow]`.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFlow {
    pub unanswered_timeout_s: Option<u32>,
    pub tcp_timeout_s: Option<u32>,
    pub udp_timeout_s: Option<u32>,
    pub closed_timeout_s: Option<u32>,
}

impl FileFlow {
    pub fn validate(&self) -> Result<FlowTimeouts, ConfigError> {
        let f = self;
        let s = |v: u32| v as u64 * 1_000_000;
        Ok(FlowTimeouts {
            unanswered_us: s(ranged(
                "flow.unanswered_timeout_s",
                f.unanswered_timeout_s,
                5,
                1,
                300,
            )?),
            tcp_us: s(ranged(
                "flow.tcp_timeout_s",
                f.tcp_timeout_s,
                1800,
                10,
                432_000,
            )?),
            other_us: s(ranged(
                "flow.udp_timeout_s",
                f.udp_timeout_s,
                120,
                5,
                86_400,
            )?),
            closed_us: s(ranged(
                "flow.closed_timeout_s",
                f.closed_timeout_s,
                10,
                1,
                300,
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: FlowTimeouts = FlowTimeouts {
        unanswered_us: 10_000_000,
        tcp_us: 300_000_000,
        other_us: 60_000_000,
        closed_us: 5_000_000,
    };

    fn tcp(now: u64, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: u8) -> PacketMeta {
        PacketMeta {
            now,
            sec: now / 1_000_000,
            ts: now as i64,
            wire_len: 60,
            net: Net::Ipv4,
            proto: proto::TCP,
            src: Addr::v4(src),
            dst: Addr::v4(dst),
            sport,
            dport,
            tcp_flags: flags,
            ..PacketMeta::default()
        }
    }

    const C: [u8; 4] = [192, 168, 1, 2];
    const S: [u8; 4] = [10, 0, 0, 1];

    #[test]
    fn both_directions_share_a_flow_whether_it_was_the_last_one_or_not() {
        let mut ft = FlowTable::new(16, 16, T, 7);
        let mut closed = Vec::new();
        let mut on = |c: &Closed| closed.push(c.reason);
        let syn = ft.observe(&tcp(1, C, 40000, S, 443, tf::SYN), &mut on);
        assert!(syn.created && syn.dir == 0);
        // Interleave another flow so the next packet misses the last-flow shortcut.
        let other = ft.observe(&tcp(2, C, 40001, S, 443, tf::SYN), &mut on);
        assert!(other.created && other.id != syn.id);
        let synack = ft.observe(&tcp(3, S, 443, C, 40000, tf::SYN | tf::ACK), &mut on);
        assert_eq!((synack.id, synack.dir, synack.created), (syn.id, 1, false));
        // Back to back now: the shortcut, in both directions.
        let ack = ft.observe(&tcp(4, C, 40000, S, 443, tf::ACK), &mut on);
        assert_eq!((ack.id, ack.dir), (syn.id, 0));
        assert!(ack.established);
        let back = ft.observe(&tcp(5, S, 443, C, 40000, tf::ACK), &mut on);
        assert_eq!((back.id, back.dir, back.established), (syn.id, 1, false));
        // Same addresses, one port different, from either end: not the last flow.
        for (i, (src, sport, dst, dport)) in [
            (S, 443, C, 40002),
            (C, 40000, S, 80),
            (S, 444, C, 40000),
            (C, 40009, S, 443),
        ]
        .into_iter()
        .enumerate()
        {
            ft.observe(&tcp(6, C, 40000, S, 443, tf::ACK), &mut on);
            let ev = ft.observe(&tcp(7, src, sport, dst, dport, tf::ACK), &mut on);
            assert!(ev.created && ev.id != syn.id, "case {i}");
        }
        let (k, f) = ft.get(syn.id);
        assert_eq!(f.pkts, [6, 2]);
        assert_eq!(f.state, TcpState::Established);
        assert_eq!(k.proto, proto::TCP);
        assert_eq!(ft.counters.created, 6);
        assert!(closed.is_empty());
    }

    #[test]
    fn a_flow_to_itself_and_a_closed_flow_that_is_gone() {
        let mut ft = FlowTable::new(4, 16, T, 7);
        let mut closed = Vec::new();
        let mut on = |c: &Closed| closed.push((c.id, c.reason));
        // Source and destination identical: every packet is side `a`, as FlowKey::new says.
        let a = ft.observe(&tcp(1, C, 5000, C, 5000, tf::SYN), &mut on);
        let b = ft.observe(&tcp(2, C, 5000, C, 5000, tf::ACK), &mut on);
        assert_eq!((a.id, a.dir, b.id, b.dir), (a.id, 0, a.id, 0));
        assert!(FlowKey::new(Addr::v4(C), 5000, Addr::v4(C), 5000, 6).1);
        // RST closes it once; it lingers as closed, then expires without a second report.
        let r = ft.observe(&tcp(3, C, 5000, C, 5000, tf::RST), &mut on);
        assert_eq!(r.id, a.id);
        ft.expire(10_000_000, |t| t as i64, &mut on);
        assert!(ft.is_empty());
        // The next packet of that 5-tuple starts a new flow rather than finding the old one.
        let again = ft.observe(&tcp(11_000_000, C, 5000, C, 5000, tf::SYN), &mut on);
        assert!(again.created);
        assert_eq!(ft.len(), 1);
        assert_eq!(closed, vec![(a.id, CloseReason::Rst)]);
    }

    #[test]
    fn the_last_flow_shortcut_forgets_a_flow_whose_slot_went_to_another() {
        // One slot: each new flow evicts the last one and takes its id.
        let mut ft = FlowTable::new(1, 16, T, 7);
        let mut on = |_: &Closed| {};
        let x = ft.observe(&tcp(1, C, 40000, S, 443, tf::ACK), &mut on);
        // An IPv6 flow, then an ARP probe, take the slot (and the id) in turn.
        let mut v6 = tcp(2, C, 40000, S, 443, tf::ACK);
        v6.net = Net::Ipv6;
        // Its addresses end in the IPv4 flow's, so word compares alone would mistake them.
        let v6addr = |v4: [u8; 4]| {
            let mut b = [0u8; 16];
            (b[0], b[1]) = (0x20, 0x01);
            b[12..].copy_from_slice(&v4);
            Addr::v6(b)
        };
        (v6.src, v6.dst) = (v6addr(C), v6addr(S));
        let mut arp = PacketMeta {
            now: 3,
            ts: 3,
            net: Net::Arp,
            src: Addr::v4(C),
            dst: Addr::v4(S),
            target: Addr::v4(S),
            arp_op: 1,
            ..PacketMeta::default()
        };
        for other in [&mut v6, &mut arp] {
            let o = ft.observe(other, &mut on);
            assert!(o.created && o.id == x.id);
            // A packet of the first flow again, either way: a new flow, not the slot's owner.
            for (n, (src, sport, dst, dport)) in [(C, 40000, S, 443), (S, 443, C, 40000)]
                .into_iter()
                .enumerate()
            {
                let again =
                    ft.observe(&tcp(4 + n as u64, src, sport, dst, dport, tf::ACK), &mut on);
                assert!(again.created, "{:?} then {n}", other.net);
                assert_eq!(ft.get(again.id).0.proto, proto::TCP);
                // And the slot goes back to the other kind for the next round.
                let o = ft.observe(other, &mut on);
                assert!(o.created && o.id == x.id);
            }
        }
    }

    #[test]
    fn full_table_evicts_the_least_recently_seen_flow() {
        let mut ft = FlowTable::new(2, 16, T, 7);
        let mut closed = Vec::new();
        let mut on = |c: &Closed| closed.push((c.key.a_port.max(c.key.b_port), c.reason));
        ft.observe(&tcp(1, C, 40001, S, 443, tf::SYN), &mut on);
        ft.observe(&tcp(2, C, 40002, S, 443, tf::SYN), &mut on);
        ft.observe(&tcp(3, C, 40001, S, 443, tf::SYN), &mut on); // 40001 seen again
        ft.observe(&tcp(4, C, 40003, S, 443, tf::SYN), &mut on);
        assert_eq!(closed, vec![(40002, CloseReason::Evicted)]);
        assert_eq!(ft.counters.evicted, 1);
        assert_eq!(ft.len(), 2);
    }
}
