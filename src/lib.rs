//! NetWatch: a network intrusion-detection sensor for routers and small boards.
//!
//! Data path (one direction): `capture` (libpcap) → `decode` (`PacketMeta`) → `flow`
//! (bounded flow table) and `window` (1 s / 10 s / 60 s aggregates) → `detect` (five rules,
//! per-host baselines, suppression, plain-language explanations) → `output` (EVE JSON,
//! syslog); `enrich` optionally asks a language model on the LAN about an alert, off the
//! packet path. `daemon` runs it live (tokio, one thread) with
//! the SQLite `store`, judges its own `health` once a minute and feeds the `web` server
//! (REST, WebSockets, /metrics on a thread of its own); `privdrop` sheds root after the
//! captures are open. `pipeline` wires the stages; `config` validates the TOML (and the web
//! API's overrides, parsed by `json_reader`); `table` is the fixed-capacity map every stage
//! uses; `clock` turns packet timestamps into the monotonic packet time all logic runs on.

pub mod addr;
pub mod alloc;
pub mod capture;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod detect;
pub mod enrich;
pub mod flow;
#[doc(hidden)]
pub mod fuzz;
pub mod health;
pub mod json_reader;
pub mod logger;
pub mod output;
pub mod pipeline;
pub mod privdrop;
pub mod reasm;
pub mod sketch;
pub mod store;
pub mod table;
pub mod uci;
pub mod web;
pub mod window;
