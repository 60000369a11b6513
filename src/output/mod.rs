//! Outputs: how alerts and statistics leave the process. `json` holds the small allocation-free
//! JSON writer everything uses (attacker-controlled bytes are escaped there, once); `eve`
//! writes alerts as Suricata-compatible EVE JSON lines.

pub mod eve;
pub mod json;
