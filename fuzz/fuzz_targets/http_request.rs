//! HTTP requests to the web server: head limits, token, routing, WebSocket upgrade.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = netwatch::fuzz::http_request(data);
});
