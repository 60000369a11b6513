//! Outputs: how alerts and statistics leave the process. `json` holds the small allocation-free
//! JSON writer everything uses (attacker-controlled bytes are escaped there, once); `eve`
//! writes alerts as Suricata-compatible EVE JSON lines, `eve_file` appends them to a rotated
//! file, `syslog` formats them for a syslog collector and `syslog_transport` carries them there;
//! `store` keeps alerts and minute history in SQLite on flash.

pub mod eve;
pub mod eve_file;
pub mod json;
pub mod store;
pub mod syslog;
pub mod syslog_transport;
