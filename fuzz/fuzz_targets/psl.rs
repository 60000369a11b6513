//! Domain names through the public-suffix walk.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::psl(data);
});
