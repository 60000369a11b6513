//! Device makers by MAC prefix (the IEEE's MA-L assignments).
//!
//! Built in: `oui.bin`, the prefixes of a documented list of consumer and network brands under
//! short names (see `oui_gen.py`, which builds it from Debian's `ieee-data`; 26 KB). Where the
//! full registry is installed (`/usr/share/ieee-data/oui.csv` on Debian and Raspberry Pi OS)
//! a prefix the built-in table lacks is looked up there: a scan of the file, done once per new
//! device, so the registry is never held in memory.

use std::io::BufRead;

static BLOB: &[u8] = include_bytes!("oui.bin");

/// Where Debian's `ieee-data` keeps the registry.
pub const REGISTRY: &str = "/usr/share/ieee-data/oui.csv";

/// Longest maker name kept.
pub const VENDOR_MAX: usize = 32;

/// The built-in table: (vendor names, entries of 4 bytes: prefix and vendor index).
fn table() -> Option<(Vec<&'static str>, &'static [u8])> {
    let rest = BLOB.strip_prefix(b"OUI1")?;
    let (&n, mut rest) = rest.split_first()?;
    let mut names = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (&l, r) = rest.split_first()?;
        let (name, r) = r.split_at_checked(l as usize)?;
        names.push(std::str::from_utf8(name).ok()?);
        rest = r;
    }
    let (count, entries) = rest.split_first_chunk::<4>()?;
    let count = u32::from_le_bytes(*count) as usize;
    Some((names, entries.get(..count.checked_mul(4)?)?))
}

/// The built-in short name of the maker of prefix `oui`, if it is one of the listed brands.
pub fn builtin(oui: [u8; 3]) -> Option<&'static str> {
    let (names, entries) = table()?;
    let n = entries.len() / 4;
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let e = &entries[mid * 4..mid * 4 + 4];
        match e[..3].cmp(&oui[..]) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return names.get(e[3] as usize).copied(),
        }
    }
    None
}

/// The organization name the registry file at `path` gives prefix `oui` (MA-L rows:
/// `MA-L,XXXXXX,Name,Address`, the name possibly quoted), cut to `VENDOR_MAX` bytes at a
/// character boundary. `None` when the file is missing or has no such row.
pub fn from_registry(path: &str, oui: [u8; 3]) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let want = format!("MA-L,{:02X}{:02X}{:02X},", oui[0], oui[1], oui[2]);
    for line in std::io::BufReader::new(f).split(b'\n') {
        let line = line.ok()?;
        let Some(rest) = line.strip_prefix(want.as_bytes()) else {
            continue;
        };
        let rest = String::from_utf8_lossy(rest);
        let name = match rest.strip_prefix('"') {
            Some(q) => q.split('"').next().unwrap_or_default(),
            None => rest.split(',').next().unwrap_or_default(),
        };
        let name = name.trim();
        let mut end = name.len().min(VENDOR_MAX);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        return Some(name[..end].trim_end().to_string()).filter(|s| !s.is_empty());
    }
    None
}

/// The maker of `mac`: the built-in short name, else the registry's (when `registry` names a
/// file that exists). A randomized (locally administered) MAC has no maker.
pub fn vendor(mac: &[u8; 6], registry: Option<&str>) -> Option<String> {
    if mac[0] & 0x02 != 0 {
        return None;
    }
    let oui = [mac[0], mac[1], mac[2]];
    builtin(oui)
        .map(str::to_string)
        .or_else(|| registry.and_then(|p| from_registry(p, oui)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_knows_common_brands() {
        let (names, entries) = table().expect("oui.bin parses");
        assert!(names.contains(&"Apple") && names.contains(&"Raspberry Pi"));
        assert!(entries.len() / 4 > 1000);
        // Sorted, so the binary search finds every entry.
        assert!(entries
            .chunks(4)
            .zip(entries.chunks(4).skip(1))
            .all(|(a, b)| a[..3] < b[..3]));
        for e in entries.chunks(4).step_by(97) {
            assert_eq!(builtin([e[0], e[1], e[2]]), Some(names[e[3] as usize]));
        }
        // Raspberry Pi Trading's B8:27:EB.
        assert_eq!(builtin([0xb8, 0x27, 0xeb]), Some("Raspberry Pi"));
        assert_eq!(builtin([0x00, 0x00, 0x00]), None);
    }

    #[test]
    fn the_registry_file_names_the_rest_and_randomized_macs_have_no_maker() {
        let dir = std::env::temp_dir().join(format!("netwatch-oui-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("oui.csv");
        std::fs::write(
            &path,
            "Registry,Assignment,Organization Name,Organization Address\n\
             MA-L,00D0EF,IGT,9295 PROTOTYPE DRIVE RENO NV US 89511\n\
             MA-L,0050C2,\"Example, Very Long Organization Name Limited\",Somewhere\n\
             MA-M,AABBCC1,Not a MA-L row,x\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        assert_eq!(
            vendor(&[0x00, 0xd0, 0xef, 1, 2, 3], Some(p)).as_deref(),
            Some("IGT")
        );
        assert_eq!(
            vendor(&[0x00, 0x50, 0xc2, 1, 2, 3], Some(p)).as_deref(),
            Some("Example, Very Long Organization")
        );
        assert_eq!(vendor(&[0xaa, 0xbb, 0xcc, 1, 2, 3], Some(p)), None);
        assert_eq!(vendor(&[0x00, 0xd0, 0xef, 1, 2, 3], None), None);
        assert_eq!(
            vendor(&[0x00, 0xd0, 0xef, 1, 2, 3], Some("/nonexistent/oui.csv")),
            None
        );
        // A built-in brand wins; a randomized MAC has no maker.
        assert_eq!(
            vendor(&[0xb8, 0x27, 0xeb, 1, 2, 3], Some(p)).as_deref(),
            Some("Raspberry Pi")
        );
        assert_eq!(vendor(&[0xda, 0xa1, 0x19, 1, 2, 3], Some(p)), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
