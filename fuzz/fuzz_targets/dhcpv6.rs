//! DHCPv6 client messages as the device inventory reads them: DUIDs, FQDNs, vendor classes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::dhcpv6(data);
});
