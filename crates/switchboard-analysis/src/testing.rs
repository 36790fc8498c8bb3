//! Transcripts for the crate's tests.

use proptest::prelude::*;
use switchboard_ingest::{Speaker, Turn, Word};

/// A turn without times.
pub fn turn(speaker: Speaker, text: &str) -> Turn {
    Turn {
        speaker,
        text: text.into(),
        start: None,
        end: None,
        words: vec![],
    }
}

/// A turn spanning `start..end` seconds, without word timings.
pub fn timed(speaker: Speaker, text: &str, start: f64, end: f64) -> Turn {
    Turn {
        start: Some(start),
        end: Some(end),
        ..turn(speaker, text)
    }
}

/// Transcripts as providers may send them: any text, missing, negative,
/// infinite or NaN times, words that are not in the text.
pub fn arbitrary_turns() -> impl Strategy<Value = Vec<Turn>> {
    let time = prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-1.0),
        0.0..600.0f64
    ];
    let word =
        ("[a-z0-9@.$]{0,8}", time.clone(), time.clone()).prop_map(|(word, start, end)| Word {
            word: word.into(),
            start,
            end,
        });
    let turn = (
        any::<bool>(),
        "[ -~]{0,80}",
        proptest::option::of(time.clone()),
        proptest::option::of(time),
        proptest::collection::vec(word, 0..6),
    )
        .prop_map(|(agent, text, start, end, words)| Turn {
            speaker: if agent {
                Speaker::Agent
            } else {
                Speaker::Customer
            },
            text,
            start,
            end,
            words,
        });
    proptest::collection::vec(turn, 0..40)
}
