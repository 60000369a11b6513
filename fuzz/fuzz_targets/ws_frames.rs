//! WebSocket frames from a dashboard client, read with the server's limits.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = netwatch::fuzz::ws_frames(data);
});
