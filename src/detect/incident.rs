//! Incidents: one episode of one rule family from one subject, so that an attack is one row
//! that grows instead of an alert every `suppress_s`.
//!
//! The subject is the suppression key's first address: the scanner, the brute-forcer, the
//! querying client of a DNS tunnel, the beaconing client, the flooded server (a flood's
//! sources are forged), the host that departs from its baseline. Both port-scan rules are one
//! family (`portscan`): nmap against a subnet crosses the vertical threshold on each host and
//! the horizontal one on each port, and that is one attack. An incident stays open while its
//! alerts (emitted or held back by suppression) keep coming; after `incident_idle_s` without
//! one it is closed, and the next alert from the same subject opens a new incident.
//!
//! Fixed memory: an LRU table of the suppression table's capacity; an incident evicted while
//! open is counted, and its next alert opens a new one.

use crate::addr::Addr;
use crate::state::table::{LruMap, Seed, TableKey};

use super::{Alert, RuleId, SuppressKey};

/// What every alert carries of its incident (copied at each emission: the counts so far).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncidentInfo {
    /// Unique id (numbered on from the highest id the store holds; 0: no incident).
    pub id: u64,
    /// Packet time (µs since the epoch) of the incident's first and latest alert.
    pub first_seen: i64,
    pub last_seen: i64,
    /// Alerts emitted in this incident, and sightings of any (emitted or held back).
    pub alerts: u32,
    pub events: u32,
    /// Distinct victims (destinations, or the hosts a sweep probed): exact up to
    /// `Victims::EXACT`, estimated beyond.
    pub victims: u32,
}

/// The family an alert's rule belongs to: the name its incidents carry.
pub fn family(rule: RuleId) -> &'static str {
    match rule {
        RuleId::PortscanVertical | RuleId::PortscanHorizontal => "portscan",
        r => r.name(),
    }
}

/// The rules of a family name (or of a rule name), for filters.
pub fn family_of_name(name: &str) -> Option<&'static str> {
    RuleId::ALL
        .iter()
        .find(|r| r.name() == name || family(**r) == name)
        .map(|r| family(*r))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Key {
    family: u8,
    who: Addr,
}

impl TableKey for Key {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        seed.hash(self.who.bits(), 0, 0, self.family as u64)
    }
}

fn key_of(k: &SuppressKey) -> Key {
    let family = match k.rule {
        RuleId::PortscanHorizontal => RuleId::PortscanVertical as u8,
        r => r as u8,
    };
    Key { family, who: k.a }
}

/// Distinct victims: the first `EXACT` by hash, then a 64-bit linear-counting bitmap.
#[derive(Clone, Copy, Default)]
struct Victims {
    exact: [u32; Victims::EXACT],
    n: u8,
    bits: u64,
}

impl Victims {
    const EXACT: usize = 8;

    fn add(&mut self, a: Addr) {
        let x = a.as_u128();
        if x == 0 {
            return;
        }
        let h = crate::state::sketch::mix(x as u64 ^ (x >> 64) as u64);
        self.bits |= 1 << (h & 63);
        let h = (h >> 32) as u32;
        let n = self.n as usize;
        if n < Self::EXACT && !self.exact[..n].contains(&h) {
            self.exact[n] = h;
            self.n += 1;
        }
    }

    fn count(&self) -> u32 {
        if (self.n as usize) < Self::EXACT {
            return self.n as u32;
        }
        let zeros = self.bits.count_zeros();
        let est = if zeros == 0 {
            64.0 * 64f64.ln()
        } else {
            -64.0 * (zeros as f64 / 64.0).ln()
        };
        (est.round() as u32).max(Self::EXACT as u32)
    }
}

#[derive(Clone, Copy, Default)]
struct State {
    info: IncidentInfo,
    /// Monotonic packet time of the latest sighting.
    last_now: u64,
    victims: Victims,
}

/// The open incidents.
pub struct Incidents {
    table: LruMap<Key, State>,
    pub idle_us: u64,
    next_id: u64,
    pub evictions: u64,
}

impl Incidents {
    pub fn new(capacity: usize, idle_s: u32) -> Incidents {
        Incidents {
            table: LruMap::new(capacity, 1),
            idle_us: idle_s as u64 * 1_000_000,
            next_id: 1,
            evictions: 0,
        }
    }

    /// Number new incidents from `id` on (the daemon passes one past the store's highest).
    pub fn number_from(&mut self, id: u64) {
        self.next_id = self.next_id.max(id.max(1));
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn footprint_bytes(&self) -> usize {
        self.table.footprint_bytes()
    }

    /// Attach `alert` (emitted or held back) to its incident, opening one when the subject
    /// has none open; `now` is monotonic packet time.
    pub fn attach(&mut self, key: &SuppressKey, now: u64, emitted: bool, alert: &mut Alert) {
        let k = key_of(key);
        let ts = alert.ts;
        let st = match self.table.find(&k) {
            Some(id) if now <= self.table.get(id).last_now.saturating_add(self.idle_us) => {
                self.table.touch(id, now, 0);
                self.table.get_mut(id)
            }
            found => {
                let fresh = State {
                    info: IncidentInfo {
                        id: self.next_id,
                        first_seen: alert.first_seen.min(ts),
                        last_seen: ts,
                        ..IncidentInfo::default()
                    },
                    last_now: now,
                    victims: Victims::default(),
                };
                self.next_id += 1;
                let id = match found {
                    Some(id) => {
                        *self.table.get_mut(id) = fresh;
                        self.table.touch(id, now, 0);
                        id
                    }
                    None => {
                        let (id, evicted) = self.table.insert(k, fresh, 0, now);
                        if evicted.is_some() {
                            self.evictions += 1;
                        }
                        id
                    }
                };
                self.table.get_mut(id)
            }
        };
        st.last_now = now;
        st.info.last_seen = st.info.last_seen.max(ts);
        st.info.events = st.info.events.saturating_add(1);
        if emitted {
            st.info.alerts = st.info.alerts.saturating_add(1);
        }
        st.victims.add(alert.dst);
        if alert.rule == RuleId::PortscanHorizontal {
            for h in &alert.evidence.hosts {
                st.victims.add(*h);
            }
        }
        st.info.victims = st.victims.count();
        alert.incident = st.info;
    }

    /// Attach an alert that did not come through suppression (sensor health): its own
    /// incident per kind, by the alert's stable key.
    pub fn attach_unkeyed(&mut self, now: u64, alert: &mut Alert) {
        let key = SuppressKey {
            rule: alert.rule,
            a: Addr::v6((alert.key as u128).to_be_bytes()),
            b: Addr::UNSPECIFIED,
            port: 0,
            extra: 0,
        };
        self.attach(&key, now, true, alert);
    }
}

/// State of an incident whose latest alert was at `last_seen`, at time `now` (both µs):
/// active while alerts come within `quiet_s`, quiet until `idle_s` has passed without one,
/// closed after.
pub fn state(last_seen: i64, now: i64, quiet_s: u32, idle_s: u32) -> &'static str {
    let idle = now.saturating_sub(last_seen);
    if idle > idle_s as i64 * 1_000_000 {
        "closed"
    } else if idle > quiet_s as i64 * 1_000_000 {
        "quiet"
    } else {
        "active"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, b: u8) -> Addr {
        Addr::v4([10, 0, a, b])
    }

    fn alert(rule: RuleId, src: Addr, dst: Addr, ts: i64) -> (SuppressKey, Alert) {
        let mut a = Alert::new(rule, ts);
        a.src = src;
        a.dst = dst;
        let k = SuppressKey {
            rule,
            a: src,
            b: if rule == RuleId::PortscanVertical {
                dst
            } else {
                Addr::UNSPECIFIED
            },
            port: 22,
            extra: 0,
        };
        (k, a)
    }

    #[test]
    fn one_subject_one_incident_until_idle() {
        let mut inc = Incidents::new(16, 600);
        let s = v4(0, 9);
        let mut ids = Vec::new();
        // A slow scan: a vertical alert per target, a horizontal one, minutes apart.
        for (i, rule) in [
            RuleId::PortscanVertical,
            RuleId::PortscanVertical,
            RuleId::PortscanHorizontal,
            RuleId::PortscanVertical,
        ]
        .into_iter()
        .enumerate()
        {
            let t = i as u64 * 240_000_000;
            let (k, mut a) = alert(rule, s, v4(1, i as u8 + 1), 1_000_000 + t as i64);
            inc.attach(&k, t, i != 1, &mut a);
            ids.push(a.incident);
        }
        assert!(ids.iter().all(|i| i.id == 1), "{ids:?}");
        let last = ids[3];
        assert_eq!((last.alerts, last.events, last.victims), (3, 4, 4));
        assert_eq!(last.first_seen, 1_000_000);
        // Another rule from the same subject is another incident.
        let (k, mut a) = alert(RuleId::Bruteforce, s, v4(1, 1), 2_000_000_000);
        inc.attach(&k, 1_000_000_000, true, &mut a);
        assert_eq!(a.incident.id, 2);
        // Past the idle time the same subject and family opens a new incident.
        let (k, mut a) = alert(RuleId::PortscanVertical, s, v4(1, 1), 3_000_000_000);
        inc.attach(&k, 720_000_000 + 601_000_000, true, &mut a);
        assert_eq!(
            (a.incident.id, a.incident.alerts, a.incident.victims),
            (3, 1, 1)
        );
    }

    #[test]
    fn numbering_continues_and_evictions_count() {
        let mut inc = Incidents::new(2, 600);
        inc.number_from(41);
        for i in 0..3u8 {
            let (k, mut a) = alert(RuleId::Bruteforce, v4(2, i), v4(1, 1), 5);
            inc.attach(&k, i as u64, true, &mut a);
            assert_eq!(a.incident.id, 41 + i as u64);
        }
        assert!(inc.evictions >= 1);
        assert!(inc.len() <= 2);
    }

    #[test]
    fn victims_exact_then_estimated() {
        let mut v = Victims::default();
        for i in 0..5u8 {
            v.add(v4(3, i));
            v.add(v4(3, i));
        }
        assert_eq!(v.count(), 5);
        for i in 0..40u8 {
            v.add(v4(4, i));
        }
        let n = v.count();
        assert!((30..=60).contains(&n), "45 victims estimated as {n}");
    }

    #[test]
    fn states_by_time() {
        let s = 1_000_000_000i64;
        assert_eq!(state(s, s + 10_000_000, 60, 3600), "active");
        assert_eq!(state(s, s + 61_000_000, 60, 3600), "quiet");
        assert_eq!(state(s, s + 3_601_000_000, 60, 3600), "closed");
    }
}
