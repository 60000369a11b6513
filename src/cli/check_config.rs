//! `netwatch check-config [--uci] FILE`: validate a configuration and say what it costs.

use std::path::PathBuf;

use netwatch::config::ConfigSource;
use netwatch::pipeline::Pipeline;

use super::Fail;

pub const USAGE: &str = "\
netwatch check-config [--uci] FILE

Parses and validates FILE (TOML, or OpenWrt UCI with --uci). Unknown keys and out-of-range values are reported with the key,
the value and the allowed range (exit code 2). On success prints the profile and the memory
the fixed-size tables take, and the settings changed through the web API (overrides.toml in
the state directory) that are laid over the file.
";

pub fn check_config(mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let mut file = None;
    let mut uci = false;
    while let Some(a) = p.next().map_err(usage)? {
        match a {
            Long("help") | Short('h') => {
                print!("{USAGE}");
                return Ok(());
            }
            Long("uci") => uci = true,
            Value(v) if file.is_none() => file = Some(PathBuf::from(v)),
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    let file = file.ok_or_else(|| Fail::Usage("check-config needs a FILE".into()))?;
    let src = if uci {
        ConfigSource::Uci(file.clone())
    } else {
        ConfigSource::Toml(file.clone())
    };
    let (cfg, overrides) = src.load().map_err(|e| Fail::Config(e.to_string()))?;
    let bytes = Pipeline::new(&cfg).footprint_bytes();
    println!(
        "{}: ok (profile {}, {} flows, fixed tables {:.1} MiB)",
        file.display(),
        cfg.profile.name(),
        cfg.capacity.flows,
        bytes as f64 / (1024.0 * 1024.0)
    );
    if let Some(p) = overrides {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        println!(
            "settings changed through the web API, laid over the file ({}):\n{}",
            p.display(),
            text.trim_end()
        );
    }
    Ok(())
}
