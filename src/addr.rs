//! `Addr`: one fixed-size type for IPv4 and IPv6 addresses on the packet path.
//!
//! IPv4 is stored IPv4-mapped (`::ffff:a.b.c.d`), so every table key has the same 16-byte
//! layout, hashing and comparing cost two machine words, and no enum tag is matched per packet.
//! `Cidr` is the parsed form of the `home_net` and allowlist entries in the config.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 address, IPv4 kept as IPv4-mapped IPv6.
#[derive(Clone, Copy, Default)]
pub struct Addr(pub [u8; 16]);

impl Addr {
    pub const UNSPECIFIED: Addr = Addr([0; 16]);

    #[inline]
    pub fn v4(b: [u8; 4]) -> Addr {
        Addr(((0xffffu128 << 32) | u32::from_be_bytes(b) as u128).to_be_bytes())
    }

    /// The address as one big-endian number: ordering and equality in two word compares.
    #[inline]
    pub fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// The bytes as one little-endian number: an order defined by the bytes alone (the same
    /// on every architecture) that costs no byte swap on little-endian CPUs. For internal
    /// orderings nobody reads, such as which end of a flow key comes first.
    #[inline]
    pub fn le(&self) -> u128 {
        u128::from_le_bytes(self.0)
    }

    /// The bytes as one native-endian number: for hashing only (no byte swap; the value
    /// differs between architectures, so nothing observable may depend on it).
    #[inline]
    pub fn bits(&self) -> u128 {
        u128::from_ne_bytes(self.0)
    }

    /// The last four bytes (the IPv4 address of an IPv4-mapped one) as one native-endian
    /// word: for equality tests of addresses already known to be IPv4.
    #[inline]
    pub fn v4_word(&self) -> u32 {
        u32::from_ne_bytes([self.0[12], self.0[13], self.0[14], self.0[15]])
    }

    pub fn v6(b: [u8; 16]) -> Addr {
        Addr(b)
    }

    #[inline]
    pub fn is_v4(&self) -> bool {
        self.as_u128() >> 32 == 0xffff
    }

    /// The four IPv4 bytes, if this is an IPv4 address.
    pub fn as_v4(&self) -> Option<[u8; 4]> {
        if self.is_v4() {
            Some([self.0[12], self.0[13], self.0[14], self.0[15]])
        } else {
            None
        }
    }

    /// Multicast or broadcast: never the target of a scan or a beacon, and never a flood victim.
    pub fn is_group(&self) -> bool {
        match self.as_v4() {
            Some(b) => b[0] >= 224 || b == [255, 255, 255, 255],
            None => self.0[0] == 0xff,
        }
    }

    /// Bytes as they go into a Community ID hash: 4 for IPv4, 16 for IPv6.
    pub fn wire_bytes(&self) -> &[u8] {
        if self.is_v4() {
            &self.0[12..]
        } else {
            &self.0
        }
    }

    pub fn to_ip(&self) -> IpAddr {
        match self.as_v4() {
            Some(b) => IpAddr::V4(Ipv4Addr::from(b)),
            None => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }
}

impl PartialEq for Addr {
    #[inline]
    fn eq(&self, o: &Addr) -> bool {
        u128::from_ne_bytes(self.0) == u128::from_ne_bytes(o.0)
    }
}

impl Eq for Addr {}

impl PartialOrd for Addr {
    fn partial_cmp(&self, o: &Addr) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Addr {
    #[inline]
    fn cmp(&self, o: &Addr) -> std::cmp::Ordering {
        self.as_u128().cmp(&o.as_u128())
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(v4) => Addr::v4(v4.octets()),
            IpAddr::V6(v6) => Addr::v6(v6.octets()),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_ip().fmt(f)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An address block such as `192.168.1.0/24` or `fd00::/8`. A bare address is a /32 or /128.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cidr {
    base: Addr,
    /// Prefix length over the 128-bit mapped form (IPv4 /24 is stored as /120).
    bits: u8,
}

impl Cidr {
    pub fn base(&self) -> Addr {
        self.base
    }

    /// Prefix length over the 128-bit mapped form.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    pub fn contains(&self, a: &Addr) -> bool {
        let full = (self.bits / 8) as usize;
        if self.base.0[..full] != a.0[..full] {
            return false;
        }
        let rem = self.bits % 8;
        if rem == 0 {
            return true;
        }
        let mask = 0xffu8 << (8 - rem);
        (self.base.0[full] & mask) == (a.0[full] & mask)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (ip_s, len_s) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let ip: IpAddr = ip_s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u8 = match len_s {
            Some(l) => l
                .trim()
                .parse()
                .ok()
                .filter(|&n: &u8| n <= max)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0..={max}"))?,
            None => max,
        };
        let bits = if ip.is_ipv4() { len + 96 } else { len };
        let mut base = Addr::from(ip);
        // Clear host bits so `contains` compares whole bytes safely.
        for i in 0..16u8 {
            let start = i * 8;
            if start >= bits {
                base.0[i as usize] = 0;
            } else if start + 8 > bits {
                base.0[i as usize] &= 0xffu8 << (8 - (bits - start));
            }
        }
        Ok(Cidr { base, bits })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.base.is_v4() {
            write!(f, "{}/{}", self.base, self.bits - 96)
        } else {
            write!(f, "{}/{}", self.base, self.bits)
        }
    }
}

/// Keyed 64-bit hash of an address: multiply, fold the high half down, multiply, fold — the
/// second round gives the avalanche HyperLogLog's rank bits need; cheap enough for every packet.
#[inline]
pub fn addr_hash(a: &Addr, key: u64) -> u64 {
    let v = a.as_u128();
    let (hi, lo) = ((v >> 64) as u64, v as u64);
    let mut h = (lo ^ key).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi.rotate_left(32);
    h ^= h >> 32;
    h = h.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    h ^ (h >> 29)
}

#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// This machine's host name (printable ASCII only; empty when the system has none).
pub fn hostname() -> String {
    let mut b = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let r = unsafe { libc::gethostname(b.as_mut_ptr().cast(), b.len()) };
    if r != 0 {
        return String::new();
    }
    let n = b.iter().position(|c| *c == 0).unwrap_or(0);
    String::from_utf8_lossy(&b[..n])
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains_v4_and_v6() {
        let c: Cidr = "192.168.1.77/24".parse().unwrap();
        assert!(c.contains(&Addr::v4([192, 168, 1, 3])));
        assert!(!c.contains(&Addr::v4([192, 168, 2, 3])));
        let c: Cidr = "10.0.0.0/9".parse().unwrap();
        assert!(c.contains(&Addr::v4([10, 127, 0, 1])));
        assert!(!c.contains(&Addr::v4([10, 128, 0, 1])));
        let c: Cidr = "fd00::/8".parse().unwrap();
        assert!(c.contains(&"fd12::1".parse::<IpAddr>().unwrap().into()));
        assert!(!c.contains(&Addr::v4([10, 0, 0, 1])));
        assert_eq!(c.to_string(), "fd00::/8");
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn display_and_groups() {
        assert_eq!(Addr::v4([1, 2, 3, 4]).to_string(), "1.2.3.4");
        assert!(Addr::v4([239, 255, 255, 250]).is_group());
        assert!(Addr::v4([255, 255, 255, 255]).is_group());
        assert!(!Addr::v4([192, 168, 1, 255]).is_group());
    }
}
