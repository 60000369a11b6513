//! Capture files (pcap, pcapng): read whole and through small windows alike, then each frame
//! through a pipeline.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::capture_file(data);
});
