//! Frames of link type 0 (BSD loopback (DLT_NULL)): both decoders agree, then the whole pipeline.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::frame(0, data);
});
