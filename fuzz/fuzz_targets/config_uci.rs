//! The OpenWrt UCI file: parse, conversion and validation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::config_uci(data);
});
