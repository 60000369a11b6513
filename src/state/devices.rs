//! The device inventory: the LAN's devices by hardware (MAC) address, learnt passively from
//! what they already send — ARP, DHCP, IPv6 neighbour discovery, mDNS — never by probing, and
//! only from those packets (the flow table hands them over from paths the common packet
//! never takes: ARP and neighbour discovery are not flows, DHCP flows are marked when
//! created).
//!
//! A device holds its current and recent addresses, the name it gave itself and where that
//! came from, its DHCP vendor class and the fingerprint of the options its DHCP client asks
//! for, a best guess at what kind of device it is with the evidence, whether its MAC is a
//! randomized (locally administered) one, and when it was first and last seen. The table has
//! a fixed capacity; when full, the device seen longest ago is forgotten and counted.
//!
//! Names come from the wire: at most 63 bytes are kept, as bytes; whoever shows them escapes
//! them (JSON, HTML as text, syslog).

use crate::addr::Addr;
use crate::capture::decode::{dhcp, dhcpv6, mdns, netbios, ssdp, PacketMeta};
use crate::state::oui;
use crate::state::table::{LruMap, Seed, TableKey, Upsert};

pub type Mac = [u8; 6];

/// A MAC address as a table key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MacKey(pub Mac);

impl TableKey for MacKey {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        let m = self.0;
        seed.hash1(u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]]) as u128)
    }
}

/// A MAC address set by software rather than burnt in by the maker (the U/L bit): phones and
/// laptops use random ones per network for privacy, so its vendor prefix means nothing.
pub fn locally_administered(mac: &Mac) -> bool {
    mac[0] & 0x02 != 0
}

/// One station's address: not a group (multicast, broadcast) and not all zeros.
fn is_station(mac: &Mac) -> bool {
    mac[0] & 0x01 == 0 && *mac != [0; 6]
}

/// `aa:bb:cc:dd:ee:ff` (or with `-`), any case.
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in mac.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(mac: &Mac) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Where a device's name came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameSource {
    #[default]
    None,
    /// The computer name it registers over NetBIOS.
    Netbios,
    /// The host name it announces over mDNS.
    Mdns,
    /// DHCP host name (option 12) or client FQDN (option 81).
    Dhcp,
    /// Set by the user: wins over anything learnt.
    User,
}

impl NameSource {
    pub fn parse(s: &str) -> Option<NameSource> {
        [
            NameSource::None,
            NameSource::Netbios,
            NameSource::Mdns,
            NameSource::Dhcp,
            NameSource::User,
        ]
        .into_iter()
        .find(|n| n.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NameSource::None => "",
            NameSource::Netbios => "netbios",
            NameSource::Mdns => "mdns",
            NameSource::Dhcp => "dhcp",
            NameSource::User => "user",
        }
    }
}

/// What a device most likely is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    #[default]
    Unknown,
    Phone,
    Laptop,
    Tv,
    Speaker,
    Camera,
    Printer,
    Console,
    Iot,
    Router,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Unknown,
        Kind::Phone,
        Kind::Laptop,
        Kind::Tv,
        Kind::Speaker,
        Kind::Camera,
        Kind::Printer,
        Kind::Console,
        Kind::Iot,
        Kind::Router,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unknown => "unknown",
            Kind::Phone => "phone",
            Kind::Laptop => "laptop",
            Kind::Tv => "tv",
            Kind::Speaker => "speaker",
            Kind::Camera => "camera",
            Kind::Printer => "printer",
            Kind::Console => "console",
            Kind::Iot => "iot",
            Kind::Router => "router",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Why a device's kind was guessed (the evidence named beside it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KindEvidence {
    #[default]
    None,
    /// Its DHCP vendor class.
    VendorClass,
    /// A word in its name.
    Name,
    /// A service it announces over mDNS (`mdns::SERVICES[i]`).
    Service(u8),
    /// What it announces over SSDP (UPnP: its device type or server).
    Upnp,
    /// It advertises itself as an IPv6 router.
    ServesTheLan,
    /// Set by the user.
    User,
}

impl KindEvidence {
    pub fn parse(s: &str) -> Option<KindEvidence> {
        if let Some(i) = mdns::SERVICES.iter().position(|x| *x == s) {
            return Some(KindEvidence::Service(i as u8));
        }
        [
            KindEvidence::None,
            KindEvidence::VendorClass,
            KindEvidence::Name,
            KindEvidence::Upnp,
            KindEvidence::ServesTheLan,
            KindEvidence::User,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KindEvidence::None => "",
            KindEvidence::VendorClass => "dhcp vendor class",
            KindEvidence::Name => "name",
            KindEvidence::Upnp => "upnp announcement",
            KindEvidence::Service(i) => mdns::SERVICES.get(i as usize).copied().unwrap_or(""),
            KindEvidence::ServesTheLan => "sends IPv6 router advertisements",
            KindEvidence::User => "user",
        }
    }
}

const V4_KEPT: usize = 2;
const V6_KEPT: usize = 4;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Device {
    /// Wall time (µs since the epoch) of the first and latest packet it was learnt from.
    pub first_seen: i64,
    pub last_seen: i64,
    /// IPv4 and IPv6 addresses, newest first (unused entries unspecified).
    pub v4: [Addr; V4_KEPT],
    pub v6: [Addr; V6_KEPT],
    pub name: heapless::Vec<u8, { dhcp::NAME_MAX }>,
    pub name_source: NameSource,
    pub vendor_class: heapless::Vec<u8, { dhcp::VENDOR_MAX }>,
    /// FNV-1a of the DHCP parameter request list (0: none seen) and its length.
    pub dhcp_fingerprint: u32,
    pub dhcp_options: u8,
    /// Services announced over mDNS (bit `i`: `mdns::SERVICES[i]`).
    pub services: u32,
    /// The `SERVER` of its SSDP (UPnP) announcements.
    pub upnp_server: heapless::Vec<u8, { ssdp::SERVER_MAX }>,
    pub kind: Kind,
    pub kind_evidence: KindEvidence,
    /// The maker, by MAC prefix (none for a randomized MAC; see `oui`).
    pub vendor: heapless::String<{ oui::VENDOR_MAX }>,
    /// The maker was looked up (the registry file is read at most once a second).
    vendor_tried: bool,
    /// The UTC day (wall time / 1 day) the two counts below are for; not stored.
    pub today: i64,
    /// Bytes it sent and received that day (its host entries' minutes: up to a minute late).
    pub bytes_today: u64,
    /// Alerts that day naming it as source or destination (suppressed repeats not counted).
    pub alerts_today: u32,
}

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;

impl Device {
    /// Start the day's counts afresh when `day` is a new one.
    fn roll(&mut self, day: i64) {
        if self.today != day {
            self.today = day;
            self.bytes_today = 0;
            self.alerts_today = 0;
        }
    }

    /// The day's counts as of UTC day `day` (zero when the device's are of another day).
    pub fn counts_on(&self, day: i64) -> (u64, u32) {
        if self.today == day {
            (self.bytes_today, self.alerts_today)
        } else {
            (0, 0)
        }
    }
    /// A device as the store kept it (see `output::store::load_devices`); `None` when a
    /// field does not read back (that device is learnt again).
    #[allow(clippy::too_many_arguments)]
    pub fn restored<'a>(
        mac: &str,
        name: &[u8],
        name_source: &str,
        vendor: &str,
        kind: &str,
        kind_evidence: &str,
        addrs: impl Iterator<Item = &'a str>,
        services: u32,
        vendor_class: &[u8],
        (dhcp_fingerprint, dhcp_options): (u32, u8),
        (first_seen, last_seen): (i64, i64),
    ) -> Option<(Mac, Device)> {
        let mut d = Device {
            first_seen,
            last_seen,
            name_source: NameSource::parse(name_source)?,
            kind: Kind::parse(kind)?,
            kind_evidence: KindEvidence::parse(kind_evidence)?,
            services,
            dhcp_fingerprint,
            dhcp_options,
            vendor_tried: true,
            ..Device::default()
        };
        d.name = heapless::Vec::from_slice(&name[..name.len().min(dhcp::NAME_MAX)]).ok()?;
        d.vendor_class =
            heapless::Vec::from_slice(&vendor_class[..vendor_class.len().min(dhcp::VENDOR_MAX)])
                .ok()?;
        let _ = d.vendor.push_str(vendor);
        // Oldest last in the list: add them oldest first.
        let addrs: Vec<Addr> = addrs
            .filter_map(|a| a.parse::<std::net::IpAddr>().ok().map(Addr::from))
            .collect();
        for a in addrs.into_iter().rev() {
            d.add_addr(a);
        }
        Some((parse_mac(mac)?, d))
    }

    /// The newest IPv4 address, if any.
    pub fn ipv4(&self) -> Option<Addr> {
        Some(self.v4[0]).filter(|a| *a != Addr::UNSPECIFIED)
    }

    pub fn addrs(&self) -> impl Iterator<Item = &Addr> {
        self.v4
            .iter()
            .chain(self.v6.iter())
            .filter(|a| **a != Addr::UNSPECIFIED)
    }

    pub fn has_addr(&self, a: &Addr) -> bool {
        *a != Addr::UNSPECIFIED && (self.v4.contains(a) || self.v6.contains(a))
    }

    /// Put `a` first in `list`, keeping the others in order (the oldest falls off).
    fn note(list: &mut [Addr], a: Addr) {
        let at = list.iter().position(|x| *x == a).unwrap_or(list.len() - 1);
        list[..=at].rotate_right(1);
        list[0] = a;
    }

    fn add_addr(&mut self, a: Addr) {
        // Neither the unspecified address of either family (a probe's, a client's without
        // an address yet) nor a group's is anyone's own.
        if a == Addr::UNSPECIFIED || a.as_v4() == Some([0; 4]) || a.is_group() {
            return;
        }
        if a.as_v4().is_some() {
            Self::note(&mut self.v4, a);
        } else {
            Self::note(&mut self.v6, a);
        }
    }

    fn learn_name(&mut self, name: &[u8], source: NameSource) {
        if name.is_empty() || self.name_source > source {
            return;
        }
        self.name.clear();
        let _ = self
            .name
            .extend_from_slice(&name[..name.len().min(dhcp::NAME_MAX)]);
        self.name_source = source;
    }

    /// Guess the kind from what was learnt, unless something stronger already said.
    fn guess(&mut self, kind: Kind, why: KindEvidence) {
        let rank = |e: KindEvidence| match e {
            KindEvidence::None => 0,
            KindEvidence::Name => 1,
            KindEvidence::VendorClass => 2,
            KindEvidence::Upnp => 3,
            KindEvidence::Service(_) => 3,
            KindEvidence::ServesTheLan => 4,
            KindEvidence::User => 5,
        };
        if kind != Kind::Unknown && rank(why) >= rank(self.kind_evidence) {
            self.kind = kind;
            self.kind_evidence = why;
        }
    }

    /// Set by the user (`None` leaves that part as it is). An empty name takes the user's
    /// name away: the next name learnt from the wire shows again.
    pub fn label(&mut self, name: Option<&str>, kind: Option<Kind>) {
        match name {
            Some("") => {
                self.name.clear();
                self.name_source = NameSource::None;
            }
            Some(n) => {
                self.name_source = NameSource::None;
                self.learn_name(n.as_bytes(), NameSource::User);
            }
            None => {}
        }
        if let Some(k) = kind {
            self.kind = k;
            self.kind_evidence = KindEvidence::User;
        }
    }
}

/// What a device offering an mDNS service most likely is, strongest first (an Apple TV
/// announces `_airplay` and `_raop`; a speaker `_raop` or `_spotify-connect` alone).
const SERVICE_KINDS: [(&str, Kind); 12] = [
    ("_ipp", Kind::Printer),
    ("_ipps", Kind::Printer),
    ("_printer", Kind::Printer),
    ("_pdl-datastream", Kind::Printer),
    ("_googlecast", Kind::Tv),
    ("_airplay", Kind::Tv),
    ("_sonos", Kind::Speaker),
    ("_spotify-connect", Kind::Speaker),
    ("_raop", Kind::Speaker),
    ("_hap", Kind::Iot),
    ("_apple-mobdev2", Kind::Phone),
    ("_workstation", Kind::Laptop),
];

/// The kind the services in `bits` point to, with the service that says so.
fn service_kind(bits: u32) -> Option<(Kind, u8)> {
    SERVICE_KINDS.iter().find_map(|(name, kind)| {
        let i = mdns::SERVICES.iter().position(|s| s == name)?;
        (bits & 1 << i != 0).then_some((*kind, i as u8))
    })
}

/// What an SSDP announcement's device type (or, failing that, its server) says a device is.
fn upnp_kind(target: &[u8], server: &[u8]) -> Kind {
    const BY_TARGET: &[(&str, Kind)] = &[
        ("internetgatewaydevice", Kind::Router),
        ("wanconnectiondevice", Kind::Router),
        ("dial-multiscreen", Kind::Tv),
        ("device:printer", Kind::Printer),
        ("zoneplayer", Kind::Speaker),
        ("mediarenderer", Kind::Tv),
    ];
    const BY_SERVER: &[(&str, Kind)] = &[
        ("sonos", Kind::Speaker),
        ("webos", Kind::Tv),
        ("tizen", Kind::Tv),
        ("android tv", Kind::Tv),
        ("miniupnpd", Kind::Router),
        ("playstation", Kind::Console),
        ("xbox", Kind::Console),
    ];
    match find_kind(target, BY_TARGET, false) {
        Kind::Unknown => find_kind(server, BY_SERVER, false),
        k => k,
    }
}

/// A new UDP flow (`sport` → `dport`, its first packet) may carry messages `learns_from`
/// reads: a quick test on the first packet (five destination ports, or SSDP's source port),
/// which `learns_from` then narrows to the exact pairs on each message.
#[inline]
pub fn may_learn_from(sport: u16, dport: u16) -> bool {
    matches!(dport, 67 | 68 | 137 | 547 | 5353) || sport == 1900
}

/// The UDP ports whose messages the inventory reads: DHCP's (a client's 68, a server's 67,
/// or a relay's, both 67), a DHCPv6 client's (546 to 547), mDNS's (5353 both ways), NetBIOS
/// name service (137 both ways) and SSDP from a device (1900: announcements, and answers to a
/// searcher's port).
#[inline]
pub fn learns_from(sport: u16, dport: u16) -> bool {
    matches!(
        (sport, dport),
        (68, 67) | (67, 68) | (67, 67) | (546, 547) | (5353, 5353) | (137, 137) | (1900, _)
    )
}

/// Kinds told by words in a DHCP vendor class (lower case, matched as prefixes).
const VENDOR_CLASSES: &[(&str, Kind)] = &[
    ("android-dhcp", Kind::Phone),
    ("msft", Kind::Laptop),
    ("dhcpcd", Kind::Iot),
    ("udhcp", Kind::Iot),
];

/// Kinds told by words in a device's own name (lower case, matched anywhere).
const NAME_WORDS: &[(&str, Kind)] = &[
    ("iphone", Kind::Phone),
    ("ipad", Kind::Phone),
    ("galaxy", Kind::Phone),
    ("pixel", Kind::Phone),
    ("android", Kind::Phone),
    ("macbook", Kind::Laptop),
    ("laptop", Kind::Laptop),
    ("thinkpad", Kind::Laptop),
    ("desktop", Kind::Laptop),
    ("chromecast", Kind::Tv),
    ("roku", Kind::Tv),
    ("appletv", Kind::Tv),
    ("apple-tv", Kind::Tv),
    ("bravia", Kind::Tv),
    ("-tv", Kind::Tv),
    ("sonos", Kind::Speaker),
    ("homepod", Kind::Speaker),
    ("echo", Kind::Speaker),
    ("speaker", Kind::Speaker),
    ("camera", Kind::Camera),
    ("ipcam", Kind::Camera),
    ("printer", Kind::Printer),
    ("epson", Kind::Printer),
    ("brother", Kind::Printer),
    ("playstation", Kind::Console),
    ("xbox", Kind::Console),
    ("nintendo", Kind::Console),
    ("openwrt", Kind::Router),
    ("router", Kind::Router),
];

fn find_kind(text: &[u8], table: &[(&str, Kind)], prefix: bool) -> Kind {
    let lower: heapless::Vec<u8, 64> = text
        .iter()
        .take(64)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    table
        .iter()
        .find(|(w, _)| {
            let w = w.as_bytes();
            if prefix {
                lower.starts_with(w)
            } else {
                lower.windows(w.len()).any(|x| x == w)
            }
        })
        .map_or(Kind::Unknown, |(_, k)| *k)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceCounters {
    /// Devices added to the table (first seen, or seen again after being forgotten).
    pub added: u64,
    /// Forgotten to make room.
    pub evicted: u64,
    /// Learning packets that did not parse (a damaged DHCP message, say).
    pub malformed: u64,
}

pub struct Devices {
    map: LruMap<MacKey, Device>,
    /// The IEEE registry file for makers the built-in table lacks (`None`: built-in only).
    registry: Option<String>,
    /// Packet time (µs) before which the registry file is not read again.
    next_registry_read: u64,
    pub counters: DeviceCounters,
}

/// What an alert says of a device beside its address: MAC, name, maker, kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceTag {
    pub mac: Mac,
    /// As learnt (lossy UTF-8 of the bytes) or given by the user; may be empty.
    pub name: heapless::String<{ dhcp::NAME_MAX * 3 }>,
    pub vendor: heapless::String<{ oui::VENDOR_MAX }>,
    pub kind: Kind,
}

impl DeviceTag {
    fn of(mac: &Mac, d: &Device) -> DeviceTag {
        let mut t = DeviceTag {
            mac: *mac,
            vendor: d.vendor.clone(),
            kind: d.kind,
            ..DeviceTag::default()
        };
        // Lossy UTF-8 without allocating (refreshed every second): a replacement character
        // per bad sequence, at most three bytes for each byte, so it always fits.
        for chunk in d.name.utf8_chunks() {
            let _ = t.name.push_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                let _ = t.name.push('\u{fffd}');
            }
        }
        t
    }
}

/// 0 for IPv4, 1 for IPv6 (the index of `Directory::current`).
fn family(a: &Addr) -> usize {
    a.as_v4().is_none() as usize
}

/// The inventory's devices by address, for naming the parties of alerts: a copy the detection
/// engine refreshes once a second (alerts are judged where the inventory cannot be borrowed).
/// Its capacity is fixed at creation: the inventory's, with every address a device keeps.
pub struct Directory {
    /// (address, index into `tags`), sorted by address.
    addrs: Vec<(Addr, u16)>,
    tags: Vec<DeviceTag>,
    /// Each device's current (newest) IPv4 and IPv6 address, by index into `tags`.
    current: Vec<[Addr; 2]>,
    cap: usize,
}

impl Directory {
    pub fn new(devices: usize) -> Directory {
        let cap = devices.min(u16::MAX as usize);
        Directory {
            addrs: Vec::with_capacity(cap * (V4_KEPT + V6_KEPT)),
            tags: Vec::with_capacity(cap),
            current: Vec::with_capacity(cap),
            cap,
        }
    }

    /// Copy the inventory (in place: nothing is allocated after the first fill).
    pub fn refresh(&mut self, inv: &Devices) {
        self.addrs.clear();
        self.tags.clear();
        self.current.clear();
        for (mac, d) in inv.iter() {
            if self.tags.len() == self.cap {
                break;
            }
            let i = self.tags.len() as u16;
            self.tags.push(DeviceTag::of(mac, d));
            self.current.push([d.v4[0], d.v6[0]]);
            self.addrs.extend(d.addrs().map(|a| (*a, i)));
        }
        // The inventory lists the most recently seen last: a stable sort keeps that order
        // among equal addresses, and the lookup takes the last (an address that moved).
        self.addrs.sort_by_key(|a| a.0);
    }

    /// The device that has address `a`, if the inventory knows one.
    pub fn lookup(&self, a: &Addr) -> Option<&DeviceTag> {
        self.index_of(a).map(|i| &self.tags[i])
    }

    fn index_of(&self, a: &Addr) -> Option<usize> {
        let end = self.addrs.partition_point(|(x, _)| x <= a);
        let (x, i) = self.addrs.get(end.checked_sub(1)?)?;
        (x == a).then_some(*i as usize)
    }

    /// The device that has address `a` (its MAC), and its current address of `a`'s family
    /// (`a` itself unless the device has moved on to a newer one).
    pub fn current(&self, a: &Addr) -> Option<(Mac, Addr)> {
        let i = self.index_of(a)?;
        Some((self.tags[i].mac, self.current[i][family(a)]))
    }

    /// Device `mac`'s current address of the family of `like`, if the inventory knows one.
    pub fn current_of(&self, mac: &Mac, like: &Addr) -> Option<Addr> {
        let i = self.tags.iter().position(|t| t.mac == *mac)?;
        Some(self.current[i][family(like)]).filter(|a| *a != Addr::UNSPECIFIED)
    }

    pub fn len(&self) -> usize {
        self.tags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

impl Devices {
    pub fn new(capacity: usize) -> Devices {
        Devices {
            map: LruMap::new(capacity, 1),
            registry: Some(oui::REGISTRY.to_string()),
            next_registry_read: 0,
            counters: DeviceCounters::default(),
        }
    }

    /// The registry file read for makers the built-in table lacks (`None`: none).
    pub fn set_registry(&mut self, path: Option<String>) {
        self.registry = path;
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

    pub fn get(&self, mac: &Mac) -> Option<&Device> {
        self.map.find(&MacKey(*mac)).map(|id| self.map.get(id))
    }

    /// An alert at wall time `ts` named device `mac` as a party.
    pub fn note_alert(&mut self, mac: &Mac, ts: i64) {
        if let Some(d) = self.get_mut(mac) {
            d.roll(ts.div_euclid(DAY_US));
            d.alerts_today = d.alerts_today.saturating_add(1);
        }
    }

    /// Today's traffic afresh: `each` calls back with (device, UTC day, bytes) per host entry.
    pub fn set_traffic(&mut self, day: i64, each: impl FnOnce(&mut dyn FnMut(&Mac, u64))) {
        let mut id = self.map.oldest(0);
        while let Some(i) = id {
            id = self.map.newer(i);
            let d = self.map.get_mut(i);
            d.roll(day);
            d.bytes_today = 0;
        }
        each(&mut |mac, bytes| {
            if let Some(d) = self.get_mut(mac) {
                d.roll(day);
                d.bytes_today = d.bytes_today.saturating_add(bytes);
            }
        });
    }

    pub fn get_mut(&mut self, mac: &Mac) -> Option<&mut Device> {
        let id = self.map.find(&MacKey(*mac))?;
        Some(self.map.get_mut(id))
    }

    /// Devices from least to most recently seen.
    pub fn iter(&self) -> impl Iterator<Item = (&Mac, &Device)> + '_ {
        self.map
            .iter_class(0)
            .map(move |id| (&self.map.key(id).0, self.map.get(id)))
    }

    /// Put back devices the store kept (at start, before any packet): a device already
    /// learnt is left as it is; the table's capacity holds (the most recently seen kept).
    pub fn restore(&mut self, mut rows: Vec<(Mac, Device)>) {
        rows.sort_by_key(|(_, d)| d.last_seen);
        for (mac, d) in rows {
            if self.get(&mac).is_some() {
                continue;
            }
            let counters = &mut self.counters;
            let (id, _) = self.map.entry(
                MacKey(mac),
                0,
                0,
                |_, _, _| counters.evicted += 1,
                |slot| *slot = d,
            );
            self.map.touch(id, 0, 0);
        }
    }

    /// The device that has (or most recently had) address `a`, if any: a scan of the table,
    /// for alerts and views, never per packet.
    pub fn by_addr(&self, a: &Addr) -> Option<(&Mac, &Device)> {
        self.iter()
            .filter(|(_, d)| d.has_addr(a))
            .max_by_key(|(_, d)| d.last_seen)
    }

    /// A UDP message on a port `learns_from` names, from `src`:`sport`, seen at packet time
    /// `now` (monotonic µs) and wall time `ts`.
    pub fn udp(&mut self, payload: &[u8], src: Addr, sport: u16, now: u64, ts: i64) {
        match sport {
            5353 => self.mdns(payload, src, now, ts),
            1900 => self.ssdp(payload, src, now, ts),
            137 => self.netbios(payload, src, now, ts),
            546 => self.dhcpv6(payload, src, now, ts),
            _ => self.dhcp(payload, now, ts),
        }
    }

    /// The device of address `src`, seen now (`None`: no device has it yet; the messages
    /// that name a device by its address wait for ARP, DHCP or neighbour discovery).
    fn by_addr_seen(&mut self, src: &Addr, now: u64, ts: i64) -> Option<&mut Device> {
        let mac = self.by_addr(src).map(|(mac, _)| *mac)?;
        Some(self.seen(mac, now, ts))
    }

    /// An SSDP announcement or answer from `src`: its server and what it is.
    fn ssdp(&mut self, payload: &[u8], src: Addr, now: u64, ts: i64) {
        let m = match ssdp::parse(payload) {
            Ok(m) => m,
            Err(ssdp::SsdpError::NotAnAnnouncement) => return,
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        let Some(d) = self.by_addr_seen(&src, now, ts) else {
            return;
        };
        if !m.server.is_empty() {
            d.upnp_server = m.server.clone();
        }
        d.guess(upnp_kind(&m.target, &m.server), KindEvidence::Upnp);
    }

    /// A NetBIOS name registration or answer from `src`: its computer name.
    fn netbios(&mut self, payload: &[u8], src: Addr, now: u64, ts: i64) {
        let n = match netbios::parse(payload) {
            Ok(n) => n,
            Err(netbios::NetbiosError::Truncated) => {
                self.counters.malformed += 1;
                return;
            }
            Err(_) => return,
        };
        if let Some(d) = self.by_addr_seen(&src, now, ts) {
            d.learn_name(&n.name, NameSource::Netbios);
        }
    }

    /// An mDNS response from `src`: the device that has that address (learnt from ARP, DHCP
    /// or neighbour discovery; an address no device has yet is left alone) announces a host
    /// name and services.
    fn mdns(&mut self, payload: &[u8], src: Addr, now: u64, ts: i64) {
        let m = match mdns::parse(payload) {
            Ok(m) => m,
            Err(mdns::MdnsError::Query) => return,
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        if m.host.is_empty() && m.services == 0 {
            return;
        }
        let Some(d) = self.by_addr_seen(&src, now, ts) else {
            return;
        };
        d.learn_name(&m.host, NameSource::Mdns);
        d.services |= m.services;
        if let Some((kind, i)) = service_kind(d.services) {
            d.guess(kind, KindEvidence::Service(i));
        }
    }

    /// The device of `mac`, added if new, marked seen at packet time `now` / wall time `ts`.
    fn seen(&mut self, mac: Mac, now: u64, ts: i64) -> &mut Device {
        let counters = &mut self.counters;
        let (id, how) = self.map.entry(
            MacKey(mac),
            0,
            now,
            |_, _, _| counters.evicted += 1,
            |d| {
                *d = Device {
                    first_seen: ts,
                    ..Device::default()
                }
            },
        );
        if how != Upsert::Found {
            counters.added += 1;
        }
        self.map.touch(id, now, 0);
        let d = self.map.get_mut(id);
        d.last_seen = d.last_seen.max(ts);
        if !d.vendor_tried {
            // The built-in table costs a binary search; the registry file a scan of a few MB,
            // so a flood of made-up MACs reads it at most once a second (a device left without
            // its maker is looked up again when next seen).
            let read_file = now >= self.next_registry_read;
            let registry = self.registry.as_deref().filter(|_| read_file);
            if registry.is_some() {
                self.next_registry_read = now.saturating_add(1_000_000);
            }
            let found = oui::vendor(&mac, registry);
            let builtin_only = registry.is_none() && self.registry.is_some();
            d.vendor_tried = found.is_some() || !builtin_only || locally_administered(&mac);
            if let Some(v) = found {
                d.vendor.clear();
                let _ = d.vendor.push_str(&v);
            }
        }
        d
    }

    /// An ARP request or reply: its sender's hardware and protocol addresses (a probe's
    /// 0.0.0.0 says nothing of the address).
    #[inline(never)]
    pub fn arp(&mut self, m: &PacketMeta) {
        if let Some(mac) = Some(m.ll_addr).filter(is_station) {
            self.seen(mac, m.now, m.ts).add_addr(m.src);
        }
    }

    /// A DHCP message (`payload`: a UDP payload, as captured) seen at packet time `now`
    /// (monotonic µs) and wall time `ts`.
    pub fn dhcp(&mut self, payload: &[u8], now: u64, ts: i64) {
        let Ok(d) = dhcp::parse(payload) else {
            self.counters.malformed += 1;
            return;
        };
        if d.from_client {
            if !is_station(&d.chaddr) {
                return;
            }
            let dev = self.seen(d.chaddr, now, ts);
            dev.learn_name(&d.host_name, NameSource::Dhcp);
            if !d.vendor_class.is_empty() {
                dev.vendor_class = d.vendor_class.clone();
                dev.guess(
                    find_kind(&d.vendor_class, VENDOR_CLASSES, true),
                    KindEvidence::VendorClass,
                );
            }
            if d.prl_len > 0 {
                dev.dhcp_fingerprint = d.prl_hash;
                dev.dhcp_options = d.prl_len;
            }
            dev.add_addr(Addr::v4(d.ciaddr));
            dev.guess(
                find_kind(&dev.name.clone(), NAME_WORDS, false),
                KindEvidence::Name,
            );
        } else {
            // A server's answer: an ACK gives its client an address.
            if d.msg_type == dhcp::msg::ACK && is_station(&d.chaddr) && d.yiaddr != [0; 4] {
                self.seen(d.chaddr, now, ts).add_addr(Addr::v4(d.yiaddr));
            }
        }
    }

    /// A client's DHCPv6 message from `src` (its link-local address): the device that has
    /// that address (from neighbour discovery), or else the one its DUID names.
    fn dhcpv6(&mut self, payload: &[u8], src: Addr, now: u64, ts: i64) {
        let d = match dhcpv6::parse(payload) {
            Ok(d) => d,
            Err(dhcpv6::Dhcpv6Error::NotFromClient) => return,
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        let mac = match self.by_addr(&src) {
            Some((mac, _)) => *mac,
            None => match d.duid_mac.filter(is_station) {
                Some(mac) => mac,
                None => return,
            },
        };
        let dev = self.seen(mac, now, ts);
        dev.add_addr(src);
        dev.learn_name(&d.host_name, NameSource::Dhcp);
        if !d.vendor_class.is_empty() {
            dev.vendor_class = d.vendor_class.clone();
            dev.guess(
                find_kind(&d.vendor_class, VENDOR_CLASSES, true),
                KindEvidence::VendorClass,
            );
        }
        dev.guess(
            find_kind(&dev.name.clone(), NAME_WORDS, false),
            KindEvidence::Name,
        );
    }

    /// An IPv6 neighbour-discovery message (ICMPv6 133-136) with its link-layer address.
    #[inline(never)]
    pub fn ndp(&mut self, m: &PacketMeta) {
        let Some(mac) = Some(m.ll_addr).filter(is_station) else {
            return;
        };
        match m.icmp_type {
            // Router advertisement: the sender routes this LAN.
            134 => {
                let d = self.seen(mac, m.now, m.ts);
                d.add_addr(m.src);
                d.guess(Kind::Router, KindEvidence::ServesTheLan);
            }
            // Neighbour solicitation: its source is the sender's; with no source (duplicate
            // address detection) the target is the address the sender is about to take.
            135 => {
                let a = if m.src == Addr::UNSPECIFIED {
                    m.target
                } else {
                    m.src
                };
                self.seen(mac, m.now, m.ts).add_addr(a);
            }
            // Neighbour advertisement: the target is the sender's.
            136 => {
                let d = self.seen(mac, m.now, m.ts);
                d.add_addr(m.src);
                d.add_addr(m.target);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Addr {
        Addr::v4(s.parse::<std::net::Ipv4Addr>().unwrap().octets())
    }

    #[test]
    fn addresses_newest_first_and_the_oldest_falls_off() {
        let mut d = Device::default();
        for a in ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3"] {
            d.add_addr(v4(a));
        }
        assert_eq!(d.v4, [v4("10.0.0.3"), v4("10.0.0.1")]);
        assert!(d.has_addr(&v4("10.0.0.1")));
        assert!(!d.has_addr(&v4("10.0.0.2")));
        assert!(!d.has_addr(&Addr::UNSPECIFIED));
    }

    #[test]
    fn a_users_label_wins_over_what_is_learnt() {
        let mut d = Device::default();
        d.learn_name(b"android-1234", NameSource::Dhcp);
        d.guess(
            find_kind(b"android-1234", NAME_WORDS, false),
            KindEvidence::Name,
        );
        assert_eq!(d.kind, Kind::Phone);
        d.label(Some("Anna's phone"), Some(Kind::Laptop));
        d.learn_name(b"other", NameSource::Dhcp);
        d.guess(Kind::Router, KindEvidence::ServesTheLan);
        assert_eq!(&d.name[..], "Anna's phone".as_bytes());
        assert_eq!(d.name_source, NameSource::User);
        assert_eq!(
            (d.kind, d.kind_evidence),
            (Kind::Laptop, KindEvidence::User)
        );
    }

    #[test]
    fn the_table_forgets_the_device_seen_longest_ago_and_counts_it() {
        let mut t = Devices::new(2);
        for (i, now) in [(1u8, 1u64), (2, 2), (1, 3), (3, 4)] {
            t.seen([0, 0, 0, 0, 0, i], now, now as i64);
        }
        assert_eq!(t.len(), 2);
        assert!(t.get(&[0, 0, 0, 0, 0, 2]).is_none());
        assert!(t.get(&[0, 0, 0, 0, 0, 1]).is_some());
        assert_eq!(t.counters.added, 3);
        assert_eq!(t.counters.evicted, 1);
    }

    #[test]
    fn the_registry_file_is_read_at_most_once_a_second() {
        let dir = std::env::temp_dir().join(format!("netwatch-dev-oui-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("oui.csv");
        std::fs::write(
            &path,
            "MA-L,00D0EF,IGT,x\nMA-L,00D0F0,Convision Technology,y\n",
        )
        .unwrap();
        let mut t = Devices::new(16);
        t.set_registry(Some(path.to_str().unwrap().to_string()));
        let (a, b) = ([0x00, 0xd0, 0xef, 0, 0, 1], [0x00, 0xd0, 0xf0, 0, 0, 2]);
        t.seen(a, 1_000_000, 1);
        t.seen(b, 1_500_000, 2);
        assert_eq!(t.get(&a).unwrap().vendor.as_str(), "IGT");
        assert_eq!(
            t.get(&b).unwrap().vendor.as_str(),
            "",
            "a second read within the second"
        );
        // Seen again a second later: looked up then.
        t.seen(b, 2_000_000, 3);
        assert_eq!(t.get(&b).unwrap().vendor.as_str(), "Convision Technology");
        // A built-in brand needs no read.
        t.seen([0xb8, 0x27, 0xeb, 0, 0, 3], 2_000_001, 4);
        assert_eq!(
            t.get(&[0xb8, 0x27, 0xeb, 0, 0, 3]).unwrap().vendor.as_str(),
            "Raspberry Pi"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn randomized_and_group_macs() {
        assert!(locally_administered(&[0xda, 0xa1, 0x19, 1, 2, 3]));
        assert!(!locally_administered(&[0x3c, 0x22, 0xfb, 1, 2, 3]));
        assert!(!is_station(&[0x01, 0x00, 0x5e, 0, 0, 0xfb]));
        assert!(!is_station(&[0; 6]));
        assert_eq!(
            mac_text(&[0x3c, 0x22, 0xfb, 1, 2, 0xab]),
            "3c:22:fb:01:02:ab"
        );
    }
}
