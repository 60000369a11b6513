//! Frames of link type 108 (OpenBSD loopback (DLT_LOOP)): both decoders agree, then the whole pipeline.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::frame(108, data);
});
