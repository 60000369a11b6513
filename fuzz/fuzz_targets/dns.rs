//! DNS messages: header and first question, name, registered domain.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::dns(data);
});
