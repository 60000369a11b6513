//! SSDP (UPnP discovery, UDP 1900) announcements and answers, for the device inventory: the
//! `SERVER` header (operating system, UPnP version, product) and the device or service type
//! announced (`NT` of a `NOTIFY`, `ST` of an answer), which say what kind of device sent
//! them. Searches (`M-SEARCH`) say what the sender looks for, not what it is: refused.
//!
//! Read in place from the UDP payload; nothing is allocated. Limits: at most `MAX_HEADERS`
//! header lines and `MAX_LINE` bytes a line are read (an oversized header ends the read:
//! what came before is kept); header names are matched without regard to case.

pub const MAX_HEADERS: usize = 32;
pub const MAX_LINE: usize = 512;
/// Longest `SERVER` value kept.
pub const SERVER_MAX: usize = 64;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ssdp {
    /// The `SERVER` header, cut to `SERVER_MAX` bytes.
    pub server: heapless::Vec<u8, SERVER_MAX>,
    /// The device or service type (`NT`, else `ST`), cut to 96 bytes.
    pub target: heapless::Vec<u8, 96>,
    /// A `NOTIFY` with `NTS: ssdp:byebye`: the device is leaving.
    pub byebye: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsdpError {
    /// Neither a `NOTIFY` nor an `HTTP/1.x 200` answer (a search, or not SSDP).
    NotAnAnnouncement,
    /// The start line has no end within `MAX_LINE` bytes.
    Truncated,
}

fn cut<const N: usize>(v: &[u8]) -> heapless::Vec<u8, N> {
    heapless::Vec::from_slice(&v[..v.len().min(N)]).unwrap_or_default()
}

/// Parse an SSDP message.
pub fn parse(p: &[u8]) -> Result<Ssdp, SsdpError> {
    let mut lines = p.split(|&c| c == b'\n');
    let start = lines.next().ok_or(SsdpError::Truncated)?;
    if start.len() > MAX_LINE || start.len() == p.len() {
        return Err(SsdpError::Truncated);
    }
    let notify = start.starts_with(b"NOTIFY ");
    let answer = start.starts_with(b"HTTP/1.") && start.get(8..13) == Some(b" 200 ");
    if !notify && !answer {
        return Err(SsdpError::NotAnAnnouncement);
    }
    let mut d = Ssdp::default();
    for line in lines.take(MAX_HEADERS) {
        if line.len() > MAX_LINE {
            break;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"SERVER") {
            d.server = cut(value);
        } else if name.eq_ignore_ascii_case(b"NT")
            || (name.eq_ignore_ascii_case(b"ST") && d.target.is_empty())
        {
            d.target = cut(value);
        } else if name.eq_ignore_ascii_case(b"NTS") {
            d.byebye = value.eq_ignore_ascii_case(b"ssdp:byebye");
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifies_and_answers_say_what_a_device_is_and_searches_do_not() {
        let n = b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n\
            LOCATION: http://192.168.1.50:8008/ssdp/device-desc.xml\r\nNT: urn:dial-multiscreen-org:service:dial:1\r\n\
            NTS: ssdp:alive\r\nserver: Linux/3.8.13+, UPnP/1.0, Portable SDK for UPnP devices/1.6.18\r\n\r\n";
        let d = parse(n).unwrap();
        assert_eq!(&d.target[..], b"urn:dial-multiscreen-org:service:dial:1");
        assert!(d.server.starts_with(b"Linux/3.8.13+"));
        assert!(!d.byebye);
        let a = b"HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
            SERVER: OpenWRT/OpenWrt UPnP/1.1 MiniUPnPd/2.3.3\r\n\r\n";
        let d = parse(a).unwrap();
        assert_eq!(
            &d.target[..],
            b"urn:schemas-upnp-org:device:InternetGatewayDevice:1"
        );
        let s = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nST: ssdp:all\r\n\r\n";
        assert_eq!(parse(s), Err(SsdpError::NotAnAnnouncement));
        let bye = b"NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\nNTS: ssdp:byebye\r\n\r\n";
        assert!(parse(bye).unwrap().byebye);
    }

    #[test]
    fn oversized_and_cut_messages_keep_what_came_before_and_never_panic() {
        let mut m = b"NOTIFY * HTTP/1.1\r\nSERVER: ".to_vec();
        m.extend(std::iter::repeat_n(b'x', 300));
        m.extend_from_slice(b"\r\nNT: ");
        m.extend(std::iter::repeat_n(b'y', 2000));
        m.extend_from_slice(b"\r\nNTS: ssdp:byebye\r\n\r\n");
        let d = parse(&m).unwrap();
        assert_eq!(d.server.len(), SERVER_MAX);
        // The oversized NT line ends the read: NTS after it is not seen.
        assert!(d.target.is_empty() && !d.byebye);
        for n in 0..m.len().min(400) {
            let _ = parse(&m[..n]);
        }
        assert_eq!(parse(&[b'N'; 600]), Err(SsdpError::Truncated));
    }
}
