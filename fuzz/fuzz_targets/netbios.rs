//! NetBIOS name service messages as the device inventory reads them: encoded names.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::netbios(data);
});
