//! A language model server's HTTP reply and its chat-completion JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netwatch::fuzz::llm_reply(data);
});
