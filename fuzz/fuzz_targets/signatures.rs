//! Webhook signature checks (Retell, Standard Webhooks, Twilio, Vapi) on
//! fuzzed keys, headers, clocks and bodies: they must refuse, never panic.
//! Input layout: see `signatures` in ../src/lib.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = switchboard_ingest_fuzz::signatures(data);
});
