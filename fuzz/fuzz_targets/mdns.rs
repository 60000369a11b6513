//! mDNS responses as the device inventory reads them: records, compressed names, services.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::mdns(data);
});
