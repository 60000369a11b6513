//! `netwatch token`: print the web API's access token.

use std::path::PathBuf;

use netwatch::config::ConfigSource;

use super::{load_config, Fail};

pub const USAGE: &str = "\
netwatch token [-c CONFIG | --uci UCIFILE]

Without -c or --uci: /etc/netwatch/netwatch.toml, else /etc/config/netwatch (OpenWrt), if
present; else the built-in defaults.

Prints the token web clients must present (`Authorization: Bearer TOKEN`; the dashboard asks
for it once). With web.token unset it is generated on first use into the state directory
(the store's directory; default /tmp/netwatch on the router profile) as `web.token`, mode
0600 — run this as the user that started the daemon (root, for a service).
";

/// `netwatch token`: print the web access token (creating it on first use).
pub fn token(mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let mut config = ConfigSource::installed();
    while let Some(a) = p.next().map_err(usage)? {
        match a {
            Short('c') | Long("config") => {
                config = ConfigSource::Toml(PathBuf::from(p.value().map_err(usage)?))
            }
            Long("uci") => config = ConfigSource::Uci(PathBuf::from(p.value().map_err(usage)?)),
            Long("help") | Short('h') => {
                print!("{USAGE}");
                return Ok(());
            }
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    let cfg = load_config(&config)?;
    match &cfg.web.token {
        netwatch::config::WebToken::Off => Err(Fail::Config(
            "web.token is off: the web asks for no token (loopback only)".into(),
        )),
        netwatch::config::WebToken::Fixed(t) => {
            println!("{t}");
            Ok(())
        }
        netwatch::config::WebToken::Generated => {
            let dir = cfg.state_dir();
            let (t, _, _) = netwatch::web::load_or_create_token(&dir)
                .map_err(|e| Fail::Runtime(format!("web token in {}: {e}", dir.display())))?;
            println!("{t}");
            Ok(())
        }
    }
}
