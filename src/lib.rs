//! NetWatch: a network intrusion-detection sensor for routers and small boards.
//!
//! One folder per stage of the data path (one direction):
//! `capture` (libpcap live handles and files, `decode` into `PacketMeta`, IP `reasm`) →
//! `state` (the bounded flow table, 1 s / 10 s / 60 s windows, the fixed-capacity `table`
//! every stage uses, sketches, the packet `clock`) → `detect` (five rules, per-host
//! baselines, suppression, plain-language explanations) → `output` (EVE JSON, syslog, the
//! SQLite `store`) and `web` (REST, WebSockets, /metrics on a thread of its own); `enrich`
//! optionally asks a language model on the LAN about an alert, off the packet path.
//! `pipeline` wires capture to detection for a replay and the daemon alike; `daemon` runs it
//! live (tokio, one thread), judges its own `health` and sheds root (`privdrop`); `config`
//! loads and layers the TOML, UCI and the web API's overrides. `addr`, `alloc`, `json_reader`
//! and `logger` are the foundations every stage shares.
//!
//! The old flat paths (`netwatch::flow`, `netwatch::store`, ...) stay as re-exports for the
//! tests, benchmarks and fuzz targets that use them.

pub mod addr;
pub mod alloc;
pub mod capture;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod enrich;
#[doc(hidden)]
pub mod fuzz;
pub mod json_reader;
pub mod logger;
pub mod notify;
pub mod output;
pub mod pipeline;
pub mod settings;
pub mod state;
pub mod web;

pub use capture::{decode, reasm};
pub use config::uci;
pub use daemon::{health, privdrop};
pub use output::store;
pub use state::{clock, flow, sketch, table, window};
