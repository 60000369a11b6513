//! Frames of link type 101 (raw IP (DLT_RAW)): both decoders agree, then the whole pipeline.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::frame(101, data);
});
