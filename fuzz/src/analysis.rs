//! What the analysis fuzz targets do with their input: a tenant's
//! `ai-config.json` or `qa-config.json`, parsed and, when accepted, used to
//! analyse a short call. Shared with the analysis crate's seed test
//! (`crates/switchboard-analysis/tests/fuzz_seeds.rs` includes this file),
//! like `lib.rs` for the ingest targets.
//!
//! A tenant's regular expressions, entity lists and rubric rules are run
//! against a transcript, so an accepted document must also analyse without
//! panicking. Each function answers `Ok` when the document was accepted and
//! `Err(field)` naming the first field refused; a refusal must name one.

use switchboard_analysis::ai_config::{self, AiConfig};
use switchboard_analysis::qa;
use switchboard_ingest::Turn;

/// Two speakers, word timings, an overlap and PII, so that configured
/// patterns, lists, phrase rules and windows all have something to match.
const TRANSCRIPT: &str = r#"[
  {"speaker": "agent", "text": "Thank you for calling, this is Dana. How can I help?", "start": 0.0, "end": 3.1,
   "words": [{"word": "Thank", "start": 0.0, "end": 0.3}, {"word": "you", "start": 0.3, "end": 0.5}]},
  {"speaker": "customer", "text": "Hi, my policy POL-123456 renewal went up by $84.50 and I want to cancel.", "start": 2.9, "end": 8.0},
  {"speaker": "agent", "text": "I understand. Can you confirm your phone, +1 415 555 0142, and date of birth 03/14/1985?", "start": 9.0, "end": 14.2},
  {"speaker": "customer", "text": "Yes. Email is sam.rivera@example.com. Card 4111 1111 1111 1111.", "start": 14.5, "end": 19.0},
  {"speaker": "agent", "text": "", "start": 19.5, "end": 19.5},
  {"speaker": "agent", "text": "I will send the home cover quote by Friday. Is there anything else?", "start": 20.0, "end": 24.0},
  {"speaker": "customer", "text": "No, thanks, bye.", "start": 24.2, "end": 25.0}
]"#;

fn transcript() -> Vec<Turn> {
    serde_json::from_str(TRANSCRIPT).expect("the fixed transcript parses")
}

fn first_field(errors: Vec<qa::FieldError>) -> String {
    errors
        .into_iter()
        .next()
        .map(|e| e.field)
        .unwrap_or_default()
}

pub fn ai_config(data: &[u8]) -> Result<(), String> {
    let config = ai_config::parse_config(data).map_err(first_field)?;
    let _ = switchboard_analysis::analyse(&transcript(), Some(25.0), &config, None);
    Ok(())
}

pub fn qa_config(data: &[u8]) -> Result<(), String> {
    let rubric = qa::parse_config(data).map_err(first_field)?;
    let turns = transcript();
    let _ = qa::evaluate(&rubric, &turns, Some(25.0));
    let _ = switchboard_analysis::analyse(&turns, None, &AiConfig::default(), Some(&rubric));
    Ok(())
}
