//! Twilio callbacks: the bytes as a form body (decoded as the server
//! decodes it) and as a JSON body, through `providers::twilio`; neither
//! may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = switchboard_ingest_fuzz::twilio_form(data);
    let _ = switchboard_ingest_fuzz::twilio_json(data);
});
