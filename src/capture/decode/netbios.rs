//! NetBIOS name service (RFC 1002, UDP 137), for the device inventory: the computer name a
//! Windows or Samba host registers, refreshes or answers for on the LAN.
//!
//! Read in place from the UDP payload; nothing is allocated. Only name registrations,
//! refreshes and positive answers are taken (a query names what the sender looks for), and
//! only names with the workstation (0x00) or server (0x20) suffix: group and service names
//! (domains, browsers, messengers) name no computer. Names use the first-level encoding of
//! RFC 1001 §14.1 (32 letters from `A` to `P`), uncompressed; anything else is refused.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetbiosName {
    /// The computer name, trailing spaces removed (at most 15 bytes).
    pub name: heapless::Vec<u8, 15>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetbiosError {
    Truncated,
    /// A query, or an operation that names no computer (release, WACK, negative answer).
    NotARegistration,
    /// Not a first-level encoded name of 16 bytes, or a group/service name.
    NotAComputerName,
}

/// Parse a NetBIOS name service message.
pub fn parse(p: &[u8]) -> Result<NetbiosName, NetbiosError> {
    if p.len() < 12 + 34 {
        return Err(NetbiosError::Truncated);
    }
    let flags = u16::from_be_bytes([p[2], p[3]]);
    let (response, opcode, rcode) = (flags & 0x8000 != 0, (flags >> 11) & 0xf, flags & 0xf);
    let ok = match opcode {
        // Registration, refresh (8, and 9 as some stacks send it), multi-homed registration.
        5 | 8 | 9 | 15 => !response || rcode == 0,
        // A positive answer to a name query.
        0 => response && rcode == 0,
        _ => false,
    };
    if !ok {
        return Err(NetbiosError::NotARegistration);
    }
    // The question (or, in an answer, the answer record's name) comes first: a length of 32,
    // the encoded name, a zero label.
    let enc = &p[12..46];
    if enc[0] != 32 || enc[33] != 0 || !enc[1..33].iter().all(|c| (b'A'..=b'P').contains(c)) {
        return Err(NetbiosError::NotAComputerName);
    }
    let mut raw = [0u8; 16];
    for (i, b) in raw.iter_mut().enumerate() {
        *b = (enc[1 + 2 * i] - b'A') << 4 | (enc[2 + 2 * i] - b'A');
    }
    if !matches!(raw[15], 0x00 | 0x20) {
        return Err(NetbiosError::NotAComputerName);
    }
    let name = raw[..15].trim_ascii_end();
    if name.is_empty() || name[0] == b'*' || name.iter().any(|c| *c < 0x20) {
        return Err(NetbiosError::NotAComputerName);
    }
    Ok(NetbiosName {
        name: heapless::Vec::from_slice(name).map_err(|_| NetbiosError::NotAComputerName)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(name: &str, suffix: u8) -> Vec<u8> {
        let mut raw = [b' '; 16];
        raw[..name.len()].copy_from_slice(name.as_bytes());
        raw[15] = suffix;
        let mut out = vec![32];
        for b in raw {
            out.push(b'A' + (b >> 4));
            out.push(b'A' + (b & 0xf));
        }
        out.push(0);
        out
    }

    fn message(flags: u16, name: &[u8]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34];
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
        m.extend_from_slice(name);
        m.extend_from_slice(&[0, 0x20, 0, 1]);
        m
    }

    #[test]
    fn registrations_and_answers_name_a_computer() {
        // Registration request (opcode 5, broadcast), refresh (8), a positive answer (0).
        for flags in [0x2910, 0x4010, 0x8500] {
            let d = parse(&message(flags, &encode("DESKTOP-7Q2", 0x00))).unwrap();
            assert_eq!(&d.name[..], b"DESKTOP-7Q2", "{flags:x}");
        }
        assert_eq!(
            &parse(&message(0x2910, &encode("NAS", 0x20))).unwrap().name[..],
            b"NAS"
        );
    }

    #[test]
    fn queries_groups_and_damage_are_refused() {
        // A name query (opcode 0, request), a release (6), a negative answer.
        for flags in [0x0110, 0x3010, 0x8503] {
            assert_eq!(
                parse(&message(flags, &encode("DESKTOP-7Q2", 0))),
                Err(NetbiosError::NotARegistration),
                "{flags:x}"
            );
        }
        // The domain master browser (suffix 0x1b), a bad letter, the "*" name.
        assert_eq!(
            parse(&message(0x2910, &encode("WORKGROUP", 0x1b))),
            Err(NetbiosError::NotAComputerName)
        );
        let mut bad = encode("PC", 0);
        bad[5] = b'Z';
        assert_eq!(
            parse(&message(0x2910, &bad)),
            Err(NetbiosError::NotAComputerName)
        );
        assert_eq!(
            parse(&message(0x2910, &encode("*", 0))),
            Err(NetbiosError::NotAComputerName)
        );
        let m = message(0x2910, &encode("PC", 0));
        for n in 0..m.len() {
            let _ = parse(&m[..n]);
        }
        assert_eq!(parse(&m[..40]), Err(NetbiosError::Truncated));
    }
}
