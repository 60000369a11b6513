//! The nftables side: a table of our own, `inet netwatch` (fw4 owns `inet fw4` and leaves other
//! tables alone on reload), with a timeout set per address family and one prerouting chain
//! that drops their sources. The same text is the OpenWrt package's
//! `/usr/share/nftables.d/ruleset-post/30-netwatch.nft` (fw4 loads it at each reload) and what
//! the daemon loads at start elsewhere; loading it again keeps the sets' elements (only the
//! chain's rules are replaced), so blocks survive both.

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

/// The table, its sets (at most `max` elements each) and its chain, idempotent.
pub fn table(max: u32) -> String {
    format!(
        "table inet netwatch {{\n\
         \tset v4 {{ type ipv4_addr; flags timeout; size {max}; }}\n\
         \tset v6 {{ type ipv6_addr; flags timeout; size {max}; }}\n\
         \tchain prerouting {{ type filter hook prerouting priority -150; policy accept; }}\n\
         }}\n\
         flush chain inet netwatch prerouting\n\
         table inet netwatch {{\n\
         \tchain prerouting {{\n\
         \t\tip saddr @v4 counter drop comment \"netwatch blocks\"\n\
         \t\tip6 saddr @v6 counter drop comment \"netwatch blocks\"\n\
         \t}}\n\
         }}\n"
    )
}

fn set_of(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "v4"
    } else {
        "v6"
    }
}

/// Add `ip` for `secs` (an element already there gets the new timeout).
pub fn add(ip: &IpAddr, secs: u64) -> String {
    let s = set_of(ip);
    // Deleting first makes a repeated block restart its timeout (add keeps the old one).
    format!(
        "add element inet netwatch {s} {{ {ip} }}\ndelete element inet netwatch {s} {{ {ip} }}\n\
         add element inet netwatch {s} {{ {ip} timeout {secs}s }}\n"
    )
}

pub fn delete(ip: &IpAddr) -> String {
    let s = set_of(ip);
    // Adding first makes deleting an element that already expired not an error.
    format!(
        "add element inet netwatch {s} {{ {ip} }}\ndelete element inet netwatch {s} {{ {ip} }}\n"
    )
}

/// Run `nft -f -` with `script` on its standard input; the error is nft's own words.
pub fn run(nft: &str, script: &str) -> Result<(), String> {
    let mut child = Command::new(nft)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {nft} ({e})"))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(script.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{nft}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let err: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.starts_with("Error") || l.contains("rror"))
        .unwrap_or("failed")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    Err(format!("{nft} refused: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_our_table_and_the_right_set() {
        let t = table(256);
        assert!(t.starts_with("table inet netwatch {"));
        assert!(t.contains("set v6 { type ipv6_addr; flags timeout; size 256; }"));
        assert!(t.contains("flush chain inet netwatch prerouting\n"));
        assert!(t.contains("ip saddr @v4 counter drop"));
        let a = add(&"10.0.0.9".parse().unwrap(), 3600);
        assert!(a.ends_with("add element inet netwatch v4 { 10.0.0.9 timeout 3600s }\n"));
        let d = delete(&"2001:db8::9".parse().unwrap());
        assert!(d.ends_with("delete element inet netwatch v6 { 2001:db8::9 }\n"));
        // The OpenWrt package's copy (fw4 loads it at each reload) is this very text.
        let shipped = include_str!("../../../openwrt/files/netwatch.nft");
        assert_eq!(
            shipped,
            table(256),
            "openwrt/files/netwatch.nft is out of date"
        );
        let e = run("/nonexistent/nft", "").unwrap_err();
        assert!(e.contains("cannot run /nonexistent/nft"), "{e}");
    }
}
