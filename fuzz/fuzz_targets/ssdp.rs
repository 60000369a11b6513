//! SSDP announcements and answers as the device inventory reads them: headers, limits.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::ssdp(data);
});
