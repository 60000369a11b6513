//! `netwatch devices`: the LAN's devices as the daemon last stored them, as text or JSON.

use std::io::Write;
use std::path::PathBuf;

use netwatch::config::ConfigSource;
use netwatch::state::devices::{locally_administered, mac_text};

use super::alerts::Printable;
use super::{store_of, Fail};

pub const USAGE: &str = "\
netwatch devices [-c CONFIG | --uci UCIFILE | --db FILE] [OPTIONS]

Without -c or --uci: /etc/netwatch/netwatch.toml, else /etc/config/netwatch (OpenWrt), if
present; else the built-in defaults.

Lists the devices of the LAN as the daemon last stored them (every 10 minutes and when it
stops), most recently seen first: MAC address, kind, name, maker, addresses, last seen.
Devices are learnt passively from ARP, DHCP and DHCPv6, IPv6 neighbour discovery, mDNS,
SSDP and NetBIOS. Names came off the wire: they are printed escaped.

OPTIONS:
    --db FILE         Database file (default: store.path of the config)
    --keep N          Files to read with --db (default: store.keep of the config)
    --json            Each device as the API's JSON object, one per line
    -h, --help        This help
";

pub fn devices(mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let (mut config, mut db, mut keep, mut json) = (ConfigSource::installed(), None, None, false);
    while let Some(a) = p.next().map_err(usage)? {
        match a {
            Short('c') | Long("config") => {
                config = ConfigSource::Toml(PathBuf::from(p.value().map_err(usage)?))
            }
            Long("uci") => config = ConfigSource::Uci(PathBuf::from(p.value().map_err(usage)?)),
            Long("db") => db = Some(PathBuf::from(p.value().map_err(usage)?)),
            Long("keep") => keep = Some(super::number(&mut p, "--keep")?.clamp(1, 16) as u32),
            Long("json") => json = true,
            Long("help") | Short('h') => {
                print!("{USAGE}");
                return Ok(());
            }
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    let (_, path, keep) = store_of(&config, db, keep)?;
    let mut rows = netwatch::store::load_devices(&path, keep);
    rows.sort_by(|a, b| b.1.last_seen.cmp(&a.1.last_seen).then(a.0.cmp(&b.0)));
    let stdout = std::io::stdout();
    let mut o = std::io::BufWriter::new(stdout.lock());
    for (mac, d) in &rows {
        let res = if json {
            let mut b = String::with_capacity(400);
            netwatch::web::device_json(&mut b, mac, d, None);
            writeln!(o, "{b}")
        } else {
            let mut last = String::new();
            let _ = netwatch::detect::write_timestamp(&mut last, d.last_seen);
            let addrs: Vec<String> = d.addrs().map(|a| a.to_string()).collect();
            let name = String::from_utf8_lossy(&d.name);
            let name = if name.is_empty() {
                "-".to_string()
            } else {
                Printable(&name).to_string()
            };
            writeln!(
                o,
                "{}{}  {:<8} {:<24} {:<16} {}  last seen {last}",
                mac_text(mac),
                if locally_administered(mac) { "*" } else { " " },
                d.kind.as_str(),
                name,
                if d.vendor.is_empty() {
                    "-"
                } else {
                    d.vendor.as_str()
                },
                if addrs.is_empty() {
                    "-".to_string()
                } else {
                    addrs.join(" ")
                },
            )
        };
        if res.is_err() {
            break;
        }
    }
    if !json && !rows.is_empty() {
        let _ = writeln!(o, "(* a randomized MAC address)");
    }
    let _ = o.flush();
    Ok(())
}
