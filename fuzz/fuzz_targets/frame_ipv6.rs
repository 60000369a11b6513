//! Frames of link type 229 (raw IPv6): both decoders agree, then the whole pipeline.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::frame(229, data);
});
