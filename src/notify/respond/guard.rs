//! The guard rails: addresses never blocked, whatever asks. This router's own addresses (its
//! interfaces), its default gateways, the DNS servers it is configured with (resolv.conf,
//! and OpenWrt's resolv.conf.auto), `respond.allow`, and the LAN (`home_net`) unless
//! `respond.block_lan`; never anything but a unicast address; never for a SYN flood (its
//! sources may be forged: blocking them is a denial of service on ourselves, and the kernel's
//! SYN cookies already answer the flood).

use std::net::IpAddr;

use crate::addr::{Addr, Cidr};
use crate::detect::RuleId;

/// Why a block was refused (shown to whoever asked, stored with the refusal).
pub fn refusal(
    ip: IpAddr,
    rule: Option<RuleId>,
    system: &System,
    allow: &[Cidr],
    lan: Option<&[Cidr]>,
) -> Option<String> {
    let a = Addr::from(ip);
    let unicast = match ip {
        IpAddr::V4(v) => {
            !(v.is_unspecified()
                || v.is_loopback()
                || v.is_multicast()
                || v.is_broadcast()
                || v.is_link_local())
        }
        IpAddr::V6(v) => {
            !(v.is_unspecified()
                || v.is_loopback()
                || v.is_multicast()
                || (v.segments()[0] & 0xffc0) == 0xfe80)
        }
    };
    if !unicast {
        return Some(format!("{ip} is not a unicast address outside this link"));
    }
    if rule == Some(RuleId::Synflood) {
        return Some(format!(
            "{ip} was a SYN flood's source, which may be forged; the kernel's SYN cookies answer floods"
        ));
    }
    if system.own.contains(&ip) {
        return Some(format!("{ip} is one of this router's own addresses"));
    }
    if system.gateways.contains(&ip) {
        return Some(format!("{ip} is this router's default gateway"));
    }
    if system.dns.contains(&ip) {
        return Some(format!("{ip} is a DNS server this router uses"));
    }
    if allow.iter().any(|c| c.contains(&a)) {
        return Some(format!("{ip} is in respond.allow"));
    }
    if let Some(lan) = lan {
        if lan.iter().any(|c| c.contains(&a)) {
            return Some(format!(
                "{ip} is on the LAN (home_net); set respond.block_lan = true to block LAN hosts"
            ));
        }
    }
    None
}

/// What the system says is never to be blocked; read at start and once a minute.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct System {
    pub own: Vec<IpAddr>,
    pub gateways: Vec<IpAddr>,
    pub dns: Vec<IpAddr>,
}

impl System {
    pub fn read() -> System {
        let mut dns = Vec::new();
        for f in [
            "/etc/resolv.conf",
            "/tmp/resolv.conf.d/resolv.conf.auto",
            "/tmp/resolv.conf.auto",
        ] {
            if let Ok(t) = std::fs::read_to_string(f) {
                dns.extend(nameservers(&t));
            }
        }
        let mut gateways = Vec::new();
        if let Ok(t) = std::fs::read_to_string("/proc/net/route") {
            gateways.extend(gateways_v4(&t));
        }
        if let Ok(t) = std::fs::read_to_string("/proc/net/ipv6_route") {
            gateways.extend(gateways_v6(&t));
        }
        System {
            own: own_addresses(),
            gateways,
            dns,
        }
    }
}

/// `nameserver` lines of a resolv.conf.
pub fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|v| v.split_whitespace().next()?.split('%').next()?.parse().ok())
        .collect()
}

/// Gateways of IPv4 default routes (`/proc/net/route`: hex, host byte order).
pub fn gateways_v4(text: &str) -> Vec<IpAddr> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(1) != Some(&"00000000") || f.get(7) != Some(&"00000000") {
                return None;
            }
            let g = u32::from_str_radix(f.get(2)?, 16)
                .ok()
                .filter(|g| *g != 0)?;
            Some(IpAddr::from(g.to_le_bytes()))
        })
        .collect()
}

/// Next hops of IPv6 default routes (`/proc/net/ipv6_route`: destination, length, …, next hop).
pub fn gateways_v6(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.first()? != &"00000000000000000000000000000000" || f.get(1)? != &"00" {
                return None;
            }
            let h = u128::from_str_radix(f.get(4)?, 16)
                .ok()
                .filter(|h| *h != 0)?;
            Some(IpAddr::from(h.to_be_bytes()))
        })
        .collect()
}

/// Every address of this machine's interfaces.
fn own_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below with freeifaddrs; each node's
    // ifa_addr is null or points at a sockaddr of the family it names.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut p = head;
        while !p.is_null() {
            let sa = (*p).ifa_addr;
            if !sa.is_null() {
                match i32::from((*sa).sa_family) {
                    libc::AF_INET => {
                        let s = &*(sa as *const libc::sockaddr_in);
                        out.push(IpAddr::from(s.sin_addr.s_addr.to_ne_bytes()));
                    }
                    libc::AF_INET6 => {
                        let s = &*(sa as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(s.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn system_files_are_read() {
        assert_eq!(
            nameservers("# x\nnameserver 192.168.1.1\nnameserver fe80::1%eth0\nsearch lan\n"),
            [ip("192.168.1.1"), ip("fe80::1")]
        );
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(gateways_v4(route), [ip("192.168.1.1")]);
        let r6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n\
                  fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n";
        assert_eq!(gateways_v6(r6), [ip("fe80::1")]);
        assert!(System::read().own.contains(&ip("127.0.0.1")));
    }

    #[test]
    fn each_guard_rail_refuses_with_its_reason() {
        let sys = System {
            own: vec![ip("203.0.113.1")],
            gateways: vec![ip("203.0.113.254")],
            dns: vec![ip("9.9.9.9")],
        };
        let allow = ["198.51.100.0/24".parse::<Cidr>().unwrap()];
        let lan = ["192.168.0.0/16".parse::<Cidr>().unwrap()];
        let r = |s: &str, rule, lan_on: bool| {
            refusal(ip(s), rule, &sys, &allow, lan_on.then_some(&lan[..]))
        };
        assert_eq!(r("45.33.32.156", None, true), None);
        for (a, rule, want) in [
            ("0.0.0.0", None, "unicast"),
            ("224.0.0.251", None, "unicast"),
            ("fe80::1", None, "unicast"),
            ("45.33.32.156", Some(RuleId::Synflood), "forged"),
            ("203.0.113.1", None, "own addresses"),
            ("203.0.113.254", None, "gateway"),
            ("9.9.9.9", None, "DNS server"),
            ("198.51.100.7", None, "respond.allow"),
            ("192.168.1.50", Some(RuleId::PortscanVertical), "block_lan"),
        ] {
            let why = r(a, rule, true).unwrap_or_default();
            assert!(why.contains(want), "{a}: {why}");
        }
        assert_eq!(r("192.168.1.50", None, false), None, "block_lan = true");
    }
}
