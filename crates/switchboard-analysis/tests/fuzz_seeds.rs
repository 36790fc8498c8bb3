//! Every seed of the analysis fuzz targets (`fuzz/seeds/ai_config/`,
//! `fuzz/seeds/qa_config/`) through the code the fuzzer runs
//! (`fuzz/src/analysis.rs`, included here), so the seeds and any crash the
//! fuzzer finds stay checked by `cargo test` without nightly or libFuzzer.
//! A seed named `ok-…` must be accepted (and analyse a call), `bad-…`
//! refused with a field named; none may panic.

#[path = "../../../fuzz/src/analysis.rs"]
mod harness;

use std::path::Path;

const SEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds");

fn check(target: &str, run: fn(&[u8]) -> Result<(), String>) {
    let dir = Path::new(SEEDS).join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    seeds.sort();
    let (mut ok, mut bad) = (0, 0);
    for path in seeds {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = run(&std::fs::read(&path).unwrap());
        match (name.split('-').next(), outcome) {
            (Some("ok"), Ok(())) => ok += 1,
            (Some("bad"), Err(field)) if !field.is_empty() => bad += 1,
            (_, outcome) => panic!("{target}/{name}: answered {outcome:?}"),
        }
    }
    assert!(
        ok > 0 && bad > 0,
        "{target}: needs accepted and refused seeds"
    );
}

#[test]
fn ai_config_seeds() {
    check("ai_config", harness::ai_config);
}

#[test]
fn qa_config_seeds() {
    check("qa_config", harness::qa_config);
}
