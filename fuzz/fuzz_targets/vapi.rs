//! Vapi server messages: `providers::vapi::parse` must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = switchboard_ingest_fuzz::vapi(data);
});
