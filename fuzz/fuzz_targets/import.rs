//! Bulk imports: the same bytes as JSON Lines and as CSV through
//! `import::parse`; neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_ingest::import::Format;

fuzz_target!(|data: &[u8]| {
    let _ = switchboard_ingest_fuzz::import(Format::Jsonl, data);
    let _ = switchboard_ingest_fuzz::import(Format::Csv, data);
});
