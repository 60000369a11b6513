//! MQTT packets, 3.1.1 (protocol level 4) and 5: the few a publishing client sends (CONNECT,
//! PUBLISH, PINGREQ, DISCONNECT) and a bounded reader for what a broker sends back (CONNACK,
//! PUBACK, PINGRESP, DISCONNECT; anything else is skipped). Everything read is untrusted:
//! lengths are checked before use, a packet over `MAX_PACKET` is an error, never a panic.

/// Longest packet the reader accepts from a broker (ours are CONNACK/PUBACK-sized; version 5
/// adds properties such as a reason string).
pub const MAX_PACKET: usize = 4096;

/// Protocol level: 4 is MQTT 3.1.1, 5 is MQTT 5.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V311,
    V5,
}

/// What CONNECT carries besides the protocol level.
pub struct Connect<'a> {
    pub client_id: &'a str,
    pub keepalive_s: u16,
    pub will_topic: &'a str,
    pub will_payload: &'a [u8],
    pub username: &'a str,
    pub password: &'a str,
}

/// The variable-length "remaining length" (1 to 4 bytes, 7 bits each).
fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&s[..n]);
}

/// A fixed header and its body as one packet.
fn frame(out: &mut Vec<u8>, first: u8, body: &[u8]) {
    out.clear();
    out.push(first);
    put_len(out, body.len());
    out.extend_from_slice(body);
}

/// CONNECT with a clean session, a retained last will (QoS 1) and, when set, user name and
/// password.
pub fn connect(out: &mut Vec<u8>, v: Version, c: &Connect) {
    let mut b = Vec::with_capacity(64 + c.will_payload.len());
    put_str(&mut b, b"MQTT");
    b.push(if v == Version::V5 { 5 } else { 4 });
    let mut flags = 0x02 | 0x04 | 0x08 | 0x20; // clean start, will, will QoS 1, will retain
    if !c.username.is_empty() {
        flags |= 0x80;
        if !c.password.is_empty() {
            flags |= 0x40;
        }
    }
    b.push(flags);
    b.extend_from_slice(&c.keepalive_s.to_be_bytes());
    if v == Version::V5 {
        b.push(0); // no CONNECT properties
    }
    put_str(&mut b, c.client_id.as_bytes());
    if v == Version::V5 {
        b.push(0); // no will properties
    }
    put_str(&mut b, c.will_topic.as_bytes());
    put_str(&mut b, c.will_payload);
    if !c.username.is_empty() {
        put_str(&mut b, c.username.as_bytes());
        if !c.password.is_empty() {
            put_str(&mut b, c.password.as_bytes());
        }
    }
    frame(out, 0x10, &b);
}

/// PUBLISH (QoS 0 when `id` is 0, else QoS 1 with that packet identifier).
pub fn publish(
    out: &mut Vec<u8>,
    v: Version,
    topic: &str,
    payload: &[u8],
    retain: bool,
    id: u16,
    dup: bool,
) {
    let mut b = Vec::with_capacity(topic.len() + payload.len() + 8);
    put_str(&mut b, topic.as_bytes());
    if id != 0 {
        b.extend_from_slice(&id.to_be_bytes());
    }
    if v == Version::V5 {
        b.push(0); // no properties
    }
    b.extend_from_slice(payload);
    let first = 0x30 | u8::from(retain) | if id != 0 { 0x02 } else { 0 } | u8::from(dup) << 3;
    frame(out, first, &b);
}

pub fn pingreq(out: &mut Vec<u8>) {
    frame(out, 0xC0, &[]);
}

/// DISCONNECT (normal; the broker drops the last will).
pub fn disconnect(out: &mut Vec<u8>, v: Version) {
    frame(out, 0xE0, if v == Version::V5 { &[0, 0] } else { &[] });
}

/// A packet from the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// CONNACK: 0 is accepted; anything else the broker's refusal (3.1.1 return code or a
    /// version 5 reason code).
    ConnAck {
        code: u8,
    },
    /// PUBACK for a QoS 1 publish; `code` ≥ 0x80 is a version 5 refusal.
    PubAck {
        id: u16,
        code: u8,
    },
    PingResp,
    /// The broker closes the session (version 5), with its reason code.
    Disconnect {
        code: u8,
    },
    /// Any other packet type (skipped).
    Other(u8),
}

/// Why the reader gave up on the stream (the connection is then closed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// A remaining length longer than 4 bytes.
    BadLength,
    /// A packet longer than `MAX_PACKET`.
    TooLong(usize),
    /// A packet too short for its type.
    Short(u8),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::BadLength => f.write_str("a malformed packet length"),
            ReadError::TooLong(n) => write!(f, "a packet of {n} bytes (over {MAX_PACKET})"),
            ReadError::Short(t) => write!(f, "a truncated packet of type {t}"),
        }
    }
}

/// Bytes from the broker, cut into packets. Holds at most one packet plus a read's worth.
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    pub fn new() -> Reader {
        Reader {
            buf: Vec::with_capacity(512),
        }
    }

    /// Add bytes read from the connection.
    pub fn feed(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Bytes waiting (never more than a packet and a read).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole packet, `Ok(None)` until one has arrived.
    pub fn next(&mut self, v: Version) -> Result<Option<Packet>, ReadError> {
        let Some(&first) = self.buf.first() else {
            return Ok(None);
        };
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let Some(&b) = self.buf.get(i) else {
                return Ok(None);
            };
            len |= usize::from(b & 0x7F) << (7 * (i - 1));
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            if i > 4 {
                return Err(ReadError::BadLength);
            }
        }
        if len > MAX_PACKET {
            return Err(ReadError::TooLong(len));
        }
        if self.buf.len() < i + len {
            return Ok(None);
        }
        let p = parse(first, &self.buf[i..i + len], v);
        self.buf.drain(..i + len);
        p.map(Some)
    }
}

fn parse(first: u8, body: &[u8], v: Version) -> Result<Packet, ReadError> {
    let ty = first >> 4;
    let short = || ReadError::Short(ty);
    Ok(match ty {
        2 => Packet::ConnAck {
            code: *body.get(1).ok_or_else(short)?,
        },
        4 => {
            let id = body.get(..2).ok_or_else(short)?;
            Packet::PubAck {
                id: u16::from_be_bytes([id[0], id[1]]),
                // Version 5 may leave the reason code out (success).
                code: if v == Version::V5 {
                    body.get(2).copied().unwrap_or(0)
                } else {
                    0
                },
            }
        }
        13 => Packet::PingResp,
        14 => Packet::Disconnect {
            code: body.first().copied().unwrap_or(0),
        },
        t => Packet::Other(t),
    })
}

/// Words for a CONNACK refusal code (3.1.1 return codes 1–5, version 5 reason codes).
pub fn refusal(v: Version, code: u8) -> &'static str {
    match (v, code) {
        (Version::V311, 1) | (Version::V5, 0x84) => "unsupported protocol version",
        (Version::V311, 2) | (Version::V5, 0x85) => "client identifier not allowed",
        (Version::V311, 3) | (Version::V5, 0x88) => "server unavailable",
        (Version::V311, 4) | (Version::V5, 0x86) => "bad user name or password",
        (Version::V311, 5) | (Version::V5, 0x87) => "not authorized",
        _ => "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_311_matches_the_specification_layout() {
        let mut out = Vec::new();
        let c = Connect {
            client_id: "netwatch-r1",
            keepalive_s: 30,
            will_topic: "netwatch/r1/status",
            will_payload: b"offline",
            username: "u",
            password: "p",
        };
        connect(&mut out, Version::V311, &c);
        let body_len = 10 + 2 + 11 + 2 + 18 + 2 + 7 + 2 + 1 + 2 + 1;
        assert_eq!(out[0], 0x10);
        assert_eq!(usize::from(out[1]), body_len);
        assert_eq!(&out[2..10], b"\x00\x04MQTT\x04\xEE");
        assert_eq!(&out[10..12], &[0, 30]);
        assert_eq!(&out[12..25], b"\x00\x0bnetwatch-r1");
        assert!(out.ends_with(b"\x00\x01u\x00\x01p"));
        // Version 5: level 5 and the two empty property lists.
        connect(&mut out, Version::V5, &c);
        assert_eq!(usize::from(out[1]), body_len + 2);
        assert_eq!(&out[8..13], b"\x05\xEE\x00\x1e\x00");
    }

    #[test]
    fn publish_flags_ids_and_long_lengths() {
        let mut out = Vec::new();
        publish(&mut out, Version::V311, "a/b", b"x", true, 0, false);
        assert_eq!(out, b"\x31\x06\x00\x03a/bx");
        publish(&mut out, Version::V5, "a/b", b"x", false, 7, true);
        assert_eq!(out, b"\x3A\x09\x00\x03a/b\x00\x07\x00x");
        let big = vec![b'y'; 300];
        publish(&mut out, Version::V311, "t", &big, false, 0, false);
        // 300 + 3 = 303 = 0b10_0101111: 0xAF 0x02.
        assert_eq!(&out[..3], &[0x30, 0xAF, 0x02]);
        assert_eq!(out.len(), 3 + 303);
    }

    #[test]
    fn reader_cuts_packets_across_reads() {
        let mut r = Reader::new();
        r.feed(&[0x20, 0x02, 0x00]);
        assert_eq!(r.next(Version::V311), Ok(None));
        r.feed(&[0x00, 0x40, 0x02, 0x00, 0x07, 0xD0, 0x00]);
        assert_eq!(r.next(Version::V311), Ok(Some(Packet::ConnAck { code: 0 })));
        assert_eq!(
            r.next(Version::V311),
            Ok(Some(Packet::PubAck { id: 7, code: 0 }))
        );
        assert_eq!(r.next(Version::V311), Ok(Some(Packet::PingResp)));
        assert_eq!(r.next(Version::V311), Ok(None));
        assert_eq!(r.pending(), 0);
        // Version 5: a refusal with properties after the reason code.
        r.feed(&[0x20, 0x05, 0x00, 0x86, 0x02, 0x1F, 0x00]);
        let Ok(Some(Packet::ConnAck { code })) = r.next(Version::V5) else {
            panic!("no CONNACK")
        };
        assert_eq!(refusal(Version::V5, code), "bad user name or password");
        r.feed(&[0x40, 0x03, 0x00, 0x09, 0x97]);
        assert_eq!(
            r.next(Version::V5),
            Ok(Some(Packet::PubAck { id: 9, code: 0x97 }))
        );
    }

    #[test]
    fn reader_refuses_what_it_cannot_hold() {
        let mut r = Reader::new();
        r.feed(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
        assert_eq!(r.next(Version::V311), Err(ReadError::BadLength));
        let mut r = Reader::new();
        r.feed(&[0x30, 0x80, 0x80, 0x01]);
        assert_eq!(r.next(Version::V311), Err(ReadError::TooLong(16384)));
        let mut r = Reader::new();
        r.feed(&[0x20, 0x01, 0x00]);
        assert_eq!(r.next(Version::V311), Err(ReadError::Short(2)));
        let mut r = Reader::new();
        r.feed(&[0x40, 0x00]);
        assert_eq!(r.next(Version::V311), Err(ReadError::Short(4)));
    }
}
