//! PATCH /api/config bodies: JSON reader, overrides, validation, write-back.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::config_patch(data);
});
