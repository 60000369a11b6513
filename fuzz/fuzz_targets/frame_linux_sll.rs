//! Frames of link type 113 (Linux cooked capture v1): both decoders agree, then the whole pipeline.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::frame(113, data);
});
