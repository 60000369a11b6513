//! Multicast DNS responses (RFC 6762/6763), for the device inventory: the host name a device
//! announces for itself (the owner of its A/AAAA records, or the target of its services'
//! SRV records, under `.local`) and the service types it offers (`_googlecast._tcp`,
//! `_airplay._tcp`, `_ipp._tcp`, …), which say what kind of device it is.
//!
//! Read in place from the UDP payload of port 5353; nothing is allocated. Limits: at most
//! `MAX_RECORDS` records are read; names follow at most 16 compression pointers, each to an
//! earlier offset (`Loop` otherwise); a label longer than 63 bytes or a name longer than 255
//! is refused; a record running past the captured bytes ends the read (what came before is
//! kept).

/// Records read from one message at most.
pub const MAX_RECORDS: usize = 64;
const MAX_NAME: usize = 255;
const MAX_POINTERS: usize = 16;

/// Service types whose announcement says something about the device (a bit each in
/// `Mdns::services`, in this order).
pub const SERVICES: [&str; 14] = [
    "_googlecast",
    "_airplay",
    "_raop",
    "_spotify-connect",
    "_sonos",
    "_ipp",
    "_ipps",
    "_printer",
    "_pdl-datastream",
    "_hap",
    "_companion-link",
    "_apple-mobdev2",
    "_smb",
    "_workstation",
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mdns {
    /// The first label of the host name announced (`livingroom-tv` of
    /// `livingroom-tv.local`), cut to 63 bytes.
    pub host: heapless::Vec<u8, 63>,
    /// Bit `i`: service type `SERVICES[i]` was announced (as a PTR owner or target, or an SRV
    /// owner).
    pub services: u32,
    /// Records read.
    pub records: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdnsError {
    Truncated,
    /// A query, not a response: it says what a device looks for, not what it is.
    Query,
    BadLabel,
    NameTooLong,
    Loop,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// A (possibly compressed) name at `pos`, dotted, into `out`; the offset after its encoding.
fn name(
    msg: &[u8],
    mut pos: usize,
    out: &mut heapless::Vec<u8, MAX_NAME>,
) -> Result<usize, MdnsError> {
    out.clear();
    let mut after = None;
    let mut jumps = 0;
    loop {
        let &l = msg.get(pos).ok_or(MdnsError::Truncated)?;
        match l & 0xc0 {
            0x00 => {
                if l == 0 {
                    return Ok(after.unwrap_or(pos + 1));
                }
                let label = msg
                    .get(pos + 1..pos + 1 + l as usize)
                    .ok_or(MdnsError::Truncated)?;
                if !out.is_empty() {
                    out.push(b'.').map_err(|_| MdnsError::NameTooLong)?;
                }
                out.extend_from_slice(label)
                    .map_err(|_| MdnsError::NameTooLong)?;
                pos += 1 + l as usize;
            }
            0xc0 => {
                let to = (be16(msg, pos).ok_or(MdnsError::Truncated)? & 0x3fff) as usize;
                jumps += 1;
                if to >= pos || jumps > MAX_POINTERS {
                    return Err(MdnsError::Loop);
                }
                after.get_or_insert(pos + 2);
                pos = to;
            }
            _ => return Err(MdnsError::BadLabel),
        }
    }
}

/// The first label of a name under `.local`, if it is one.
fn local_host(n: &[u8]) -> Option<&[u8]> {
    let lower = n.len() >= 6 && n[n.len() - 6..].eq_ignore_ascii_case(b".local");
    if !lower {
        return None;
    }
    n.split(|&c| c == b'.').next().filter(|h| !h.is_empty())
}

/// The services named in `n` (`_googlecast._tcp.local`, or an instance under one).
fn services_in(n: &[u8]) -> u32 {
    let mut bits = 0;
    for label in n.split(|&c| c == b'.') {
        if label.first() != Some(&b'_') {
            continue;
        }
        for (i, s) in SERVICES.iter().enumerate() {
            if label.eq_ignore_ascii_case(s.as_bytes()) {
                bits |= 1 << i;
            }
        }
    }
    bits
}

fn set_host(d: &mut Mdns, host: &[u8]) {
    if d.host.is_empty() {
        let _ = d.host.extend_from_slice(&host[..host.len().min(63)]);
    }
}

/// Parse an mDNS response.
pub fn parse(msg: &[u8]) -> Result<Mdns, MdnsError> {
    let flags = be16(msg, 2).ok_or(MdnsError::Truncated)?;
    if msg.len() < 12 {
        return Err(MdnsError::Truncated);
    }
    if flags & 0x8000 == 0 {
        return Err(MdnsError::Query);
    }
    let count = |at| be16(msg, at).unwrap_or(0) as usize;
    let (qd, rr) = (count(4), count(6) + count(8) + count(10));
    let mut d = Mdns::default();
    let mut n = heapless::Vec::<u8, MAX_NAME>::new();
    let mut pos = 12;
    for _ in 0..qd.min(MAX_RECORDS) {
        pos = name(msg, pos, &mut n)? + 4;
    }
    for _ in 0..rr.min(MAX_RECORDS) {
        let end = match name(msg, pos, &mut n) {
            Ok(e) => e,
            Err(MdnsError::Truncated) => break,
            Err(e) => return Err(e),
        };
        let (Some(ty), Some(len)) = (be16(msg, end), be16(msg, end + 8)) else {
            break;
        };
        let rdata = end + 10;
        if rdata + len as usize > msg.len() {
            break;
        }
        d.records += 1;
        d.services |= services_in(&n);
        match ty {
            // A, AAAA: the owner is the device's host name.
            1 | 28 => {
                if let Some(h) = local_host(&n) {
                    set_host(&mut d, h);
                }
            }
            // PTR: the target may name a service instance; SRV: the target is the host.
            12 | 33 => {
                let at = if ty == 33 { rdata + 6 } else { rdata };
                let mut t = heapless::Vec::<u8, MAX_NAME>::new();
                if name(msg, at, &mut t).is_ok() {
                    d.services |= services_in(&t);
                    if ty == 33 {
                        if let Some(h) = local_host(&t) {
                            set_host(&mut d, h);
                        }
                    }
                }
            }
            _ => {}
        }
        pos = rdata + len as usize;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for l in name.split('.') {
            out.push(l.len() as u8);
            out.extend_from_slice(l.as_bytes());
        }
        out.push(0);
        out
    }

    fn rr(owner: &[u8], ty: u16, rdata: &[u8]) -> Vec<u8> {
        let mut r = owner.to_vec();
        r.extend_from_slice(&ty.to_be_bytes());
        r.extend_from_slice(&[0x80, 1, 0, 0, 0x11, 0x94]);
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
        r
    }

    fn response(records: &[Vec<u8>]) -> Vec<u8> {
        let mut m = vec![0, 0, 0x84, 0, 0, 0, 0, records.len() as u8, 0, 0, 0, 0];
        for r in records {
            m.extend_from_slice(r);
        }
        m
    }

    #[test]
    fn a_cast_device_announces_its_name_and_services() {
        let mut srv = vec![0, 0, 0, 0, 0x1f, 0x49];
        srv.extend_from_slice(&wire("Living-Room-TV.local"));
        let m = response(&[
            rr(
                &wire("_googlecast._tcp.local"),
                12,
                &wire("Living Room TV._googlecast._tcp.local"),
            ),
            rr(&wire("Living Room TV._googlecast._tcp.local"), 33, &srv),
            rr(&wire("Living-Room-TV.local"), 1, &[192, 168, 1, 50]),
        ]);
        let d = parse(&m).unwrap();
        assert_eq!(&d.host[..], b"Living-Room-TV");
        assert_eq!(d.services, 1);
        assert_eq!(d.records, 3);
    }

    #[test]
    fn compressed_names_are_followed_backwards_only() {
        // An A record whose owner points back at the first record's name.
        let mut m = response(&[rr(&wire("printer.local"), 1, &[10, 0, 0, 9])]);
        m[7] = 2;
        m.extend_from_slice(&rr(&[0xc0, 12], 28, &[0; 16]));
        let d = parse(&m).unwrap();
        assert_eq!(&d.host[..], b"printer");
        assert_eq!(d.records, 2);
        // A pointer to itself, and one forwards.
        let mut m = response(&[rr(&[0xc0, 12], 1, &[1, 2, 3, 4])]);
        assert_eq!(parse(&m), Err(MdnsError::Loop));
        m[12..14].copy_from_slice(&[0xc0, 40]);
        assert_eq!(parse(&m), Err(MdnsError::Loop));
    }

    #[test]
    fn queries_and_damage_are_refused_and_nothing_panics() {
        let q = [0u8, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse(&q), Err(MdnsError::Query));
        assert_eq!(parse(&[0, 0, 0x84]), Err(MdnsError::Truncated));
        let mut bad = response(&[rr(&wire("x.local"), 1, &[1, 2, 3, 4])]);
        bad[12] = 0x45;
        assert_eq!(parse(&bad), Err(MdnsError::BadLabel));
        let full = response(&[
            rr(
                &wire("_ipp._tcp.local"),
                12,
                &wire("Office._ipp._tcp.local"),
            ),
            rr(&wire("office.local"), 1, &[10, 0, 0, 2]),
        ]);
        for n in 0..=full.len() {
            let _ = parse(&full[..n]);
        }
        // A cut record keeps what came before it.
        let d = parse(&full[..full.len() - 2]).unwrap();
        assert_eq!(d.services, 1 << 5);
        assert!(d.host.is_empty());
    }
}
