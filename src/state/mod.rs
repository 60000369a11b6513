//! State the pipeline keeps between packets, all of it in tables of fixed capacity chosen at
//! start (`capacity`): the bidirectional `flow` table, the 1 s / 10 s / 60 s traffic `window`s, the
//! fixed-capacity LRU `table` every stage builds on, the `sketch`es (distinct counts, top
//! talkers) and the packet `clock` all logic runs on.

pub mod capacity;
pub mod clock;
pub mod devices;
pub mod flow;
pub mod oui;
pub mod sketch;
pub mod table;
pub mod window;
