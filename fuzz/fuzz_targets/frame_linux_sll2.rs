//! Frames of link type 276 (Linux cooked capture v2): both decoders agree, then the whole pipeline.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::frame(276, data);
});
