//! A tenant's `qa-config.json`: parsing it, and analysing a call with it
//! when it is accepted, must not panic.
#![no_main]

#[path = "../src/analysis.rs"]
mod analysis;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = analysis::qa_config(data);
});
