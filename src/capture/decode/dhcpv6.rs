//! DHCPv6 messages from clients (RFC 8415), for the device inventory: the client's name from
//! its FQDN option (39, RFC 4704), its vendor class (16), and the link-layer address its DUID
//! holds when it is built from one (types 1 and 3, Ethernet). Read in place from the UDP
//! payload of packets from port 546 to port 547 only; nothing is allocated and nothing of the
//! payload is kept beyond the bounded fields below.
//!
//! Limits: options are read up to the end of the captured bytes (what was read is kept); an
//! option whose length runs past the end ends the read. Relayed messages (a relay agent's
//! `Relay-forward`) and servers' messages are not read: they say nothing of a client that its
//! own messages on the LAN do not.

use super::dhcp::{cut, NAME_MAX, VENDOR_MAX};

/// Client message types (RFC 8415 §7.3).
pub mod msg {
    pub const SOLICIT: u8 = 1;
    pub const REQUEST: u8 = 3;
    pub const CONFIRM: u8 = 4;
    pub const RENEW: u8 = 5;
    pub const REBIND: u8 = 6;
    pub const RELEASE: u8 = 8;
    pub const DECLINE: u8 = 9;
    pub const INFORMATION_REQUEST: u8 = 11;
}

const OPT_CLIENTID: u16 = 1;
const OPT_VENDOR_CLASS: u16 = 16;
const OPT_CLIENT_FQDN: u16 = 39;
const DUID_LLT: u16 = 1;
const DUID_LL: u16 = 3;
const HW_ETHERNET: u16 = 1;

/// What a client's DHCPv6 message says about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dhcpv6 {
    pub msg_type: u8,
    /// The Ethernet address in the client's DUID (types LLT and LL), if it has one. Taken
    /// when the message's source address names no known device: a DUID-LLT keeps the address
    /// of the interface it was first made on, which may not be the one sending.
    pub duid_mac: Option<[u8; 6]>,
    /// The first label of the client FQDN option (the client's own name for itself).
    pub host_name: heapless::Vec<u8, NAME_MAX>,
    /// The first vendor-class string of option 16 (after its enterprise number), cut to
    /// `VENDOR_MAX` bytes.
    pub vendor_class: heapless::Vec<u8, VENDOR_MAX>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dhcpv6Error {
    /// Shorter than the message type and transaction id.
    Truncated,
    /// A server's or a relay's message (nothing to learn; not malformed).
    NotFromClient,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Parse a DHCPv6 message in a UDP payload.
pub fn parse(p: &[u8]) -> Result<Dhcpv6, Dhcpv6Error> {
    if p.len() < 4 {
        return Err(Dhcpv6Error::Truncated);
    }
    let t = p[0];
    if !matches!(
        t,
        msg::SOLICIT
            | msg::REQUEST
            | msg::CONFIRM
            | msg::RENEW
            | msg::REBIND
            | msg::RELEASE
            | msg::DECLINE
            | msg::INFORMATION_REQUEST
    ) {
        return Err(Dhcpv6Error::NotFromClient);
    }
    let mut d = Dhcpv6 {
        msg_type: t,
        ..Dhcpv6::default()
    };
    let mut at = 4;
    while let Some(head) = p.get(at..at + 4) {
        let code = be16(head, 0);
        let len = be16(head, 2) as usize;
        let Some(v) = p.get(at + 4..at + 4 + len) else {
            break;
        };
        match code {
            OPT_CLIENTID if v.len() >= 4 => {
                // DUID type, hardware type, then (LLT) four bytes of time, then the address.
                let mac_at = match be16(v, 0) {
                    DUID_LLT => 8,
                    DUID_LL => 4,
                    _ => usize::MAX,
                };
                if be16(v, 2) == HW_ETHERNET && v.len() == mac_at.saturating_add(6) {
                    let mut mac = [0u8; 6];
                    mac.copy_from_slice(&v[mac_at..]);
                    d.duid_mac = Some(mac);
                }
            }
            // Enterprise number, then strings each with a two-byte length: the first is kept.
            OPT_VENDOR_CLASS if v.len() >= 6 => {
                let n = be16(v, 4) as usize;
                if let Some(s) = v.get(6..6 + n) {
                    d.vendor_class = cut(s).0;
                }
            }
            // Flags, then the name in DNS wire format (RFC 4704 §4.2; may be partial: no
            // terminating zero). Its first label is the host name.
            OPT_CLIENT_FQDN if v.len() >= 2 => {
                let l = v[1] as usize;
                if l < 64 {
                    if let Some(label) = v.get(2..2 + l) {
                        d.host_name = cut(label).0;
                    }
                }
            }
            _ => {}
        }
        at += 4 + len;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(code: u16, v: &[u8]) -> Vec<u8> {
        let mut o = code.to_be_bytes().to_vec();
        o.extend_from_slice(&(v.len() as u16).to_be_bytes());
        o.extend_from_slice(v);
        o
    }

    const MAC: [u8; 6] = [0x3c, 0x22, 0xfb, 1, 2, 3];

    fn solicit(opts: &[Vec<u8>]) -> Vec<u8> {
        let mut p = vec![msg::SOLICIT, 0x12, 0x34, 0x56];
        for o in opts {
            p.extend_from_slice(o);
        }
        p
    }

    #[test]
    fn a_solicit_names_its_client_by_fqdn_duid_and_vendor_class() {
        let mut duid = vec![0, 1, 0, 1, 0x2c, 0x11, 0x22, 0x33];
        duid.extend_from_slice(&MAC);
        let mut vc = vec![0, 0, 1, 0x37, 0, 8];
        vc.extend_from_slice(b"MSFT 5.0");
        let p = solicit(&[
            opt(OPT_CLIENTID, &duid),
            opt(OPT_VENDOR_CLASS, &vc),
            opt(OPT_CLIENT_FQDN, b"\x01\x07desktop\x04home\x00"),
        ]);
        let d = parse(&p).unwrap();
        assert_eq!(d.msg_type, msg::SOLICIT);
        assert_eq!(d.duid_mac, Some(MAC));
        assert_eq!(&d.host_name[..], b"desktop");
        assert_eq!(&d.vendor_class[..], b"MSFT 5.0");
        // DUID-LL, and a partial FQDN (no terminating zero).
        let mut ll = vec![0, 3, 0, 1];
        ll.extend_from_slice(&MAC);
        let d = parse(&solicit(&[
            opt(OPT_CLIENTID, &ll),
            opt(OPT_CLIENT_FQDN, b"\x00\x05phone"),
        ]))
        .unwrap();
        assert_eq!(d.duid_mac, Some(MAC));
        assert_eq!(&d.host_name[..], b"phone");
    }

    #[test]
    fn servers_relays_and_odd_duids_give_nothing_and_bad_lengths_stop_the_read() {
        assert_eq!(parse(&[2, 0, 0, 0]), Err(Dhcpv6Error::NotFromClient));
        assert_eq!(parse(&[12, 0, 0, 0]), Err(Dhcpv6Error::NotFromClient));
        assert_eq!(parse(&[1, 0, 0]), Err(Dhcpv6Error::Truncated));
        // A DUID-EN (type 2) and a DUID-LL of another hardware type hold no Ethernet address.
        let en = opt(OPT_CLIENTID, &[0, 2, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6]);
        let tr = opt(OPT_CLIENTID, &[0, 3, 0, 6, 1, 2, 3, 4, 5, 6]);
        assert_eq!(parse(&solicit(&[en])).unwrap().duid_mac, None);
        assert_eq!(parse(&solicit(&[tr])).unwrap().duid_mac, None);
        // An option running past the end: what came before is kept, nothing after is read.
        let mut p = solicit(&[opt(OPT_CLIENT_FQDN, b"\x00\x03tv1")]);
        p.extend_from_slice(&[0, 16, 0, 200, 0, 0]);
        let d = parse(&p).unwrap();
        assert_eq!(&d.host_name[..], b"tv1");
        assert!(d.vendor_class.is_empty());
        // A label length beyond a DNS label's (64+: compression or garbage) names nothing.
        let d = parse(&solicit(&[opt(OPT_CLIENT_FQDN, b"\x00\xc0\x0c")])).unwrap();
        assert!(d.host_name.is_empty());
        // A label longer than the captured option: nothing.
        let d = parse(&solicit(&[opt(OPT_CLIENT_FQDN, b"\x00\x09ab")])).unwrap();
        assert!(d.host_name.is_empty());
    }
}
