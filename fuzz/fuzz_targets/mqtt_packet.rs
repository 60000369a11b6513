//! What an MQTT broker sends back (CONNACK, PUBACK, PINGRESP, DISCONNECT, anything else),
//! cut into packets across reads of any size.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = netwatch::fuzz::mqtt_packet(data);
});
