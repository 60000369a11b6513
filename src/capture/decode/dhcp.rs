//! DHCPv4 messages (RFC 2131/2132), for the device inventory: who the client is (its hardware
//! address), what it calls itself and what software it runs (host name, vendor class, the
//! options it asks for), and the address a server gave it. Read in place from the UDP payload
//! of packets on ports 67/68 only; nothing is allocated and nothing of the payload is kept
//! beyond the bounded fields below.
//!
//! Limits: options are read up to the end of the captured bytes (a snapshot length may cut
//! them: what was read is kept); an option whose length runs past the end ends the read; the
//! magic cookie must be present. Option overload (52) into `sname`/`file` is not followed.

/// Longest name kept (a DNS label's limit; longer names are cut, and said so by `name_cut`).
pub const NAME_MAX: usize = 63;
/// Longest vendor class kept.
pub const VENDOR_MAX: usize = 32;

const COOKIE: [u8; 4] = [99, 130, 83, 99];
const FIXED: usize = 236;

/// Message types (option 53).
pub mod msg {
    pub const DISCOVER: u8 = 1;
    pub const OFFER: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const DECLINE: u8 = 4;
    pub const ACK: u8 = 5;
    pub const NAK: u8 = 6;
    pub const RELEASE: u8 = 7;
    pub const INFORM: u8 = 8;
}

/// What a DHCP message says about its client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dhcp {
    /// BOOTREQUEST (from a client) or BOOTREPLY (from a server).
    pub from_client: bool,
    /// Option 53 (0 when absent: plain BOOTP).
    pub msg_type: u8,
    /// The client's hardware address (`chaddr`, Ethernet only).
    pub chaddr: [u8; 6],
    /// The address the client has (`ciaddr`) and the one a server gives it (`yiaddr`).
    pub ciaddr: [u8; 4],
    pub yiaddr: [u8; 4],
    /// Option 50: the address a client asks for.
    pub requested: [u8; 4],
    /// Option 12 (host name) or, when absent, the first label of option 81 (client FQDN).
    pub host_name: heapless::Vec<u8, NAME_MAX>,
    /// The name was longer than `NAME_MAX` bytes.
    pub name_cut: bool,
    /// Option 60 (vendor class identifier), cut to `VENDOR_MAX` bytes.
    pub vendor_class: heapless::Vec<u8, VENDOR_MAX>,
    /// Option 55 (parameter request list): the option codes a client asks for, in its order:
    /// a fingerprint of its DHCP client software. Hashed (FNV-1a 32), with the count.
    pub prl_hash: u32,
    pub prl_len: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DhcpError {
    /// Shorter than the fixed part and the cookie.
    Truncated,
    /// Not Ethernet addresses (htype 1, hlen 6), or no magic cookie.
    NotEthernetDhcp,
}

/// The first `N` bytes of `v`, and whether it was longer.
pub(super) fn cut<const N: usize>(v: &[u8]) -> (heapless::Vec<u8, N>, bool) {
    let n = v.len().min(N);
    let mut out = heapless::Vec::new();
    // Cannot fail: at most N bytes.
    let _ = out.extend_from_slice(&v[..n]);
    (out, v.len() > N)
}

fn addr(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}

/// Parse the DHCP message in a UDP payload.
pub fn parse(p: &[u8]) -> Result<Dhcp, DhcpError> {
    if p.len() < FIXED + 4 {
        return Err(DhcpError::Truncated);
    }
    if p[1] != 1 || p[2] != 6 || p[FIXED..FIXED + 4] != COOKIE {
        return Err(DhcpError::NotEthernetDhcp);
    }
    let mut d = Dhcp {
        from_client: p[0] == 1,
        ciaddr: addr(p, 12),
        yiaddr: addr(p, 16),
        ..Dhcp::default()
    };
    d.chaddr.copy_from_slice(&p[28..34]);
    let mut fqdn: Option<(u8, &[u8])> = None;
    let mut at = FIXED + 4;
    while let Some(&code) = p.get(at) {
        match code {
            0 => {
                at += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let Some(&len) = p.get(at + 1) else { break };
        let Some(v) = p.get(at + 2..at + 2 + len as usize) else {
            break;
        };
        match code {
            53 if len == 1 => d.msg_type = v[0],
            50 if len == 4 => d.requested = addr(v, 0),
            12 => {
                (d.host_name, d.name_cut) = cut(v);
            }
            60 => d.vendor_class = cut(v).0,
            55 => {
                d.prl_hash = v.iter().fold(0x811c_9dc5u32, |h, &c| {
                    (h ^ c as u32).wrapping_mul(0x0100_0193)
                });
                d.prl_len = len;
            }
            // Flags, two RCODE bytes, then the name (RFC 4702: wire format when the E flag is
            // set, else ASCII); only its first label is kept, as a host name.
            81 if len > 3 => fqdn = Some((v[0], &v[3..])),
            _ => {}
        }
        at += 2 + len as usize;
    }
    if d.host_name.is_empty() {
        if let Some((flags, f)) = fqdn {
            let label = if flags & 0x04 != 0 {
                // Wire format (the E flag): a length byte, then the label.
                let l = f.first().map_or(0, |&l| l as usize);
                f.get(1..1 + l).unwrap_or_default()
            } else {
                f.split(|&c| c == b'.').next().unwrap_or_default()
            };
            (d.host_name, d.name_cut) = cut(label);
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(op: u8, mac: [u8; 6], yiaddr: [u8; 4], options: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; FIXED];
        p[0] = op;
        p[1] = 1;
        p[2] = 6;
        p[16..20].copy_from_slice(&yiaddr);
        p[28..34].copy_from_slice(&mac);
        p.extend_from_slice(&COOKIE);
        p.extend_from_slice(options);
        p
    }

    const MAC: [u8; 6] = [0x3c, 0x22, 0xfb, 1, 2, 3];

    #[test]
    fn a_request_names_its_client_and_its_software() {
        let opts = [
            &[53, 1, 3][..],
            &[50, 4, 192, 168, 1, 50],
            &[12, 6],
            b"Pixel7",
            &[60, 13],
            b"android-dhcp-",
            &[55, 4, 1, 3, 6, 15],
            &[255],
        ]
        .concat();
        let d = parse(&message(1, MAC, [0; 4], &opts)).unwrap();
        assert!(d.from_client);
        assert_eq!(d.msg_type, msg::REQUEST);
        assert_eq!(d.chaddr, MAC);
        assert_eq!(d.requested, [192, 168, 1, 50]);
        assert_eq!(&d.host_name[..], b"Pixel7");
        assert_eq!(&d.vendor_class[..], b"android-dhcp-");
        assert_eq!(d.prl_len, 4);
        assert_ne!(d.prl_hash, 0);
    }

    #[test]
    fn an_ack_gives_the_address_and_a_fqdn_stands_in_for_a_missing_host_name() {
        let name = b"\x06laptop\x03lan\x00";
        let mut opts = vec![53, 1, 5, 81, 3 + name.len() as u8, 0x05, 0, 0];
        opts.extend_from_slice(name);
        opts.push(255);
        let d = parse(&message(2, MAC, [192, 168, 1, 77], &opts)).unwrap();
        assert!(!d.from_client);
        assert_eq!(d.msg_type, msg::ACK);
        assert_eq!(d.yiaddr, [192, 168, 1, 77]);
        assert_eq!(&d.host_name[..], b"laptop");
        // ASCII form.
        let mut opts = vec![81, 13, 0x00, 0, 0];
        opts.extend_from_slice(b"desk.home.");
        opts.extend_from_slice(&[0, 255]);
        let d = parse(&message(1, MAC, [0; 4], &opts)).unwrap();
        assert_eq!(&d.host_name[..], b"desk");
    }

    #[test]
    fn long_names_are_cut_and_bad_options_end_the_read_without_a_panic() {
        let mut opts = vec![12, 200];
        opts.extend_from_slice(&[b'a'; 200]);
        let d = parse(&message(1, MAC, [0; 4], &opts)).unwrap();
        assert_eq!(d.host_name.len(), NAME_MAX);
        assert!(d.name_cut);
        // An option running past the end: what came before is kept.
        let d = parse(&message(1, MAC, [0; 4], &[53, 1, 1, 12, 50, b'x'])).unwrap();
        assert_eq!(d.msg_type, msg::DISCOVER);
        assert!(d.host_name.is_empty());
        // No cookie, wrong hardware type, too short.
        let mut m = message(1, MAC, [0; 4], &[]);
        m[FIXED] = 0;
        assert_eq!(parse(&m), Err(DhcpError::NotEthernetDhcp));
        let mut m = message(1, MAC, [0; 4], &[]);
        m[1] = 6;
        assert_eq!(parse(&m), Err(DhcpError::NotEthernetDhcp));
        assert_eq!(parse(&m[..100]), Err(DhcpError::Truncated));
        // Every prefix of a valid message parses or errs, never panics.
        let full = message(
            1,
            MAC,
            [0; 4],
            &[53, 1, 1, 12, 3, b'a', b'b', b'c', 81, 4, 1, 0, 0, 9],
        );
        for n in 0..=full.len() {
            let _ = parse(&full[..n]);
        }
    }
}
