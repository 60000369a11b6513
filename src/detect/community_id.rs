//! Community ID v1 (corelight/community-id-spec): a flow hash SIEMs share, so an alert from
//! NetWatch pivots to the same flow in Zeek or Suricata logs. Written into a fixed buffer,
//! no allocation.

use crate::addr::Addr;
use crate::capture::decode::proto;

/// "1:" + 28 base64 characters.
pub type CommunityId = heapless::String<30>;

/// ICMP types that have a counterpart (request ↔ reply); others are one-way.
fn icmp_counterpart(proto_num: u8, t: u8) -> Option<u8> {
    let pairs: &[(u8, u8)] = if proto_num == proto::ICMP {
        &[
            (8, 0),
            (0, 8),
            (13, 14),
            (14, 13),
            (15, 16),
            (16, 15),
            (17, 18),
            (18, 17),
            (10, 9),
            (9, 10),
        ]
    } else {
        &[
            (128, 129),
            (129, 128),
            (133, 134),
            (134, 133),
            (135, 136),
            (136, 135),
            (130, 131),
            (131, 130),
            (144, 145),
            (145, 144),
        ]
    };
    pairs.iter().find(|p| p.0 == t).map(|p| p.1)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Community ID of a flow. For ICMP/ICMPv6 pass the type as `sport` and the code as `dport`.
pub fn community_id(
    seed: u16,
    src: Addr,
    sport: u16,
    dst: Addr,
    dport: u16,
    proto_num: u8,
) -> CommunityId {
    let mut dport = dport;
    let mut one_way = false;
    if proto_num == proto::ICMP || proto_num == proto::ICMPV6 {
        match icmp_counterpart(proto_num, sport as u8) {
            Some(c) => dport = c as u16,
            None => one_way = true,
        }
    }
    let keep = one_way || (src.wire_bytes(), sport) <= (dst.wire_bytes(), dport);
    let (a, ap, b, bp) = if keep {
        (src, sport, dst, dport)
    } else {
        (dst, dport, src, sport)
    };
    let mut h = sha1_smol::Sha1::new();
    h.update(&seed.to_be_bytes());
    h.update(a.wire_bytes());
    h.update(b.wire_bytes());
    h.update(&[proto_num, 0]);
    if matches!(
        proto_num,
        proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6 | 132
    ) {
        h.update(&ap.to_be_bytes());
        h.update(&bp.to_be_bytes());
    }
    let d = h.digest().bytes();
    let mut out = CommunityId::new();
    let _ = out.push_str("1:");
    for chunk in d.chunks(3) {
        let n = chunk.len();
        let v = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            let c = if i <= n {
                B64[((v >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            };
            let _ = out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Addr {
        s.parse::<std::net::IpAddr>().unwrap().into()
    }

    // Published baseline vectors of the Community ID spec.
    #[test]
    fn spec_vectors() {
        let (x, y) = (a("1.2.3.4"), a("5.6.7.8"));
        assert_eq!(
            community_id(0, x, 1122, y, 3344, 6).as_str(),
            "1:wCb3OG7yAFWelaUydu0D+125CLM="
        );
        assert_eq!(
            community_id(0, y, 3344, x, 1122, 6).as_str(),
            "1:wCb3OG7yAFWelaUydu0D+125CLM="
        );
        assert_eq!(
            community_id(0, x, 1122, y, 3344, 17).as_str(),
            "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="
        );
        assert_eq!(
            community_id(0, x, 8, y, 0, 1).as_str(),
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="
        );
        assert_eq!(
            community_id(0, y, 0, x, 0, 1).as_str(),
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="
        );
        let (p, q) = (
            a("fe80:1:203:405:607:809:a0b:c0d"),
            a("fe80:1011:1213:1415:1617:1819:1a1b:1c1d"),
        );
        assert_eq!(
            community_id(0, p, 128, q, 0, 58).as_str(),
            "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="
        );
        assert_eq!(
            community_id(1, x, 1122, y, 3344, 6).as_str(),
            "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="
        );
        assert_eq!(
            community_id(1, x, 1122, y, 3344, 17).as_str(),
            "1:OShq+iKDAMVouh/4bMxB9Sz4amw="
        );
        assert_eq!(
            community_id(1, x, 8, y, 0, 1).as_str(),
            "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="
        );
        assert_eq!(
            community_id(1, p, 128, q, 0, 58).as_str(),
            "1:IO27GQzPuCtNnwFvjWALMHu5tJE="
        );
        assert_eq!(
            community_id(0, x, 0, y, 0, 46).as_str(),
            "1:ikv3kmf89luf73WPz1jOs49S768="
        );
    }
}
