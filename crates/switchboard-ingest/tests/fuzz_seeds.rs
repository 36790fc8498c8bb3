//! Every seed of the fuzz targets (`fuzz/seeds/<target>/`) through the
//! same code the fuzzer runs (`fuzz/src/lib.rs`, included here), so the
//! seeds, and the crashes the fuzzer found and that were added to them,
//! stay checked by `cargo test` without nightly or libFuzzer.
//!
//! A seed's name says what its parser must answer: `ok-…` read (or, for
//! signatures, verified), `ignored-…` read but not kept, `bad-…` refused
//! with a field named. No seed may panic.

#[path = "../../../fuzz/src/lib.rs"]
mod harness;

use std::path::Path;

use harness::Outcome;
use switchboard_ingest::import::Format;

const SEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds");

const TARGETS: [&str; 6] = [
    "call_json",
    "import",
    "retell",
    "signatures",
    "twilio",
    "vapi",
];

/// The seeds of one target, by file name, in name order.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(SEEDS).join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

/// Checks the outcome against the seed's name.
fn expect(target: &str, name: &str, outcome: Outcome) {
    let ok = if name.starts_with("ok-") {
        outcome == Outcome::Ok
    } else if name.starts_with("ignored-") {
        outcome == Outcome::Ignored
    } else if name.starts_with("bad-") {
        matches!(&outcome, Outcome::Bad(field) if !field.is_empty())
    } else {
        panic!("{target}/{name}: a seed's name starts with ok-, ignored- or bad-");
    };
    assert!(ok, "{target}/{name}: {outcome:?}");
}

/// Seed directories of the analysis crate's targets, which its own
/// `tests/fuzz_seeds.rs` checks.
const ANALYSIS_TARGETS: [&str; 2] = ["ai_config", "qa_config"];

#[test]
fn every_seed_directory_has_a_test() {
    let mut dirs: Vec<String> = std::fs::read_dir(SEEDS)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|d| !ANALYSIS_TARGETS.contains(&d.as_str()))
        .collect();
    dirs.sort();
    assert_eq!(dirs, TARGETS);
}

#[test]
fn retell_seeds() {
    for (name, data) in seeds("retell") {
        expect("retell", &name, harness::retell(&data));
    }
}

#[test]
fn vapi_seeds() {
    for (name, data) in seeds("vapi") {
        expect("vapi", &name, harness::vapi(&data));
    }
}

/// `.json` seeds are JSON-bodied callbacks, the others form bodies; each
/// is also read the other way, where only not panicking counts.
#[test]
fn twilio_seeds() {
    for (name, data) in seeds("twilio") {
        let (as_json, as_form) = (harness::twilio_json(&data), harness::twilio_form(&data));
        expect(
            "twilio",
            &name,
            if name.ends_with(".json") {
                as_json
            } else {
                as_form
            },
        );
    }
}

#[test]
fn call_json_seeds() {
    for (name, data) in seeds("call_json") {
        expect("call_json", &name, harness::call_json(&data));
    }
}

/// `.csv` seeds are CSV, `.jsonl` JSON Lines; each is also read as the
/// other format, where only not panicking counts.
#[test]
fn import_seeds() {
    for (name, data) in seeds("import") {
        let jsonl = harness::import(Format::Jsonl, &data);
        let csv = harness::import(Format::Csv, &data);
        if name.ends_with(".csv") {
            expect("import", &name, csv);
        } else {
            assert!(name.ends_with(".jsonl"), "import/{name}: .csv or .jsonl");
            expect("import", &name, jsonl);
        }
    }
}

#[test]
fn signatures_seeds() {
    for (name, data) in seeds("signatures") {
        expect("signatures", &name, harness::signatures(&data));
    }
}
