//! DHCP messages as the device inventory reads them: options, names, fingerprints.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::dhcp(data);
});
