//! Switchboard call JSON: `providers::switchboard::parse` must not panic, and
//! every valid call, written back as a document, validates to the same call.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = switchboard_ingest_fuzz::call_json(data);
});
