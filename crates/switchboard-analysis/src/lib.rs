//! Call analysis with no IO and no network: everything here is a plain
//! function of a transcript (`switchboard_ingest::Turn`s) and the tenant's
//! settings, so it is fast to test and to benchmark.
//!
//! [`analyse`] is the whole local analysis of one call, in the order the
//! pipeline needs it: redaction first, so nothing downstream (outputs,
//! entities, an LLM) ever sees what the policy redacts.

pub mod ai_config;
pub mod entities;
pub mod pii;
pub mod qa;
pub mod sentiment;
pub mod summary;
pub mod talk;
#[cfg(test)]
mod testing;

use serde::Serialize;
use switchboard_ingest::Turn;

use crate::ai_config::AiConfig;
use crate::entities::{Entity, KeyPhrase};
use crate::pii::PiiKind;
use crate::qa::{QaConfig, QaResult};
use crate::sentiment::CallSentiment;
use crate::summary::Summary;
use crate::talk::TalkMetrics;

/// Bumped whenever the analysers change what they compute, so stored
/// analyses say which code produced them.
pub const ANALYSER_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Redaction {
    pub applied: bool,
    pub kinds: Vec<PiiKind>,
    /// Findings replaced, per kind (only kinds found).
    pub found: Vec<(PiiKind, usize)>,
}

/// Everything the local analysers say about one call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallAnalysis {
    pub analyser_version: u32,
    pub redaction: Redaction,
    /// The transcript as outputs may show it (redacted when the policy says so).
    pub turns: Vec<Turn>,
    pub sentiment: CallSentiment,
    pub talk: TalkMetrics,
    pub entities: Vec<Entity>,
    pub key_phrases: Vec<KeyPhrase>,
    /// `None` when the tenant has no rubric.
    pub qa: Option<QaResult>,
    pub summary: Summary,
}

/// Analyses one call. `duration_s` is the call's own length when the
/// provider said it.
pub fn analyse(
    turns: &[Turn],
    duration_s: Option<f64>,
    ai: &AiConfig,
    rubric: Option<&QaConfig>,
) -> CallAnalysis {
    let (turns, found) = if ai.pii.redact {
        pii::redact_turns(turns, &ai.pii.kinds)
    } else {
        (turns.to_vec(), Vec::new())
    };
    CallAnalysis {
        analyser_version: ANALYSER_VERSION,
        redaction: Redaction {
            applied: ai.pii.redact,
            kinds: if ai.pii.redact {
                ai.pii.kinds.clone()
            } else {
                Vec::new()
            },
            found,
        },
        sentiment: sentiment::call_sentiment(&turns),
        talk: talk::talk_metrics(&turns, duration_s, ai.talk.min_gap_seconds),
        entities: entities::entities(&turns, &ai.entities),
        key_phrases: entities::key_phrases(&turns),
        qa: rubric.map(|r| qa::evaluate(r, &turns, duration_s)),
        summary: summary::extractive(&turns, ai.summary.max_sentences),
        turns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{arbitrary_turns, timed as turn};
    use proptest::prelude::*;
    use switchboard_ingest::Speaker;

    #[test]
    fn redaction_comes_before_every_other_analyser() {
        let turns = [
            turn(
                Speaker::Agent,
                "Thank you for calling. Can I have your card number?",
                0.0,
                4.0,
            ),
            turn(
                Speaker::Customer,
                "Sure, it is 4111 1111 1111 1111 and my email is kim@example.net.",
                4.5,
                10.0,
            ),
        ];
        let rubric = qa::parse_config(
            br#"{"pass_mark": 50, "criteria": [{"id": "greet", "name": "Greets", "weight": 1,
                "type": "rule", "speaker": "agent", "match": "any", "phrases": ["thank you for calling"]}]}"#,
        )
        .unwrap();
        let a = analyse(&turns, Some(12.0), &AiConfig::default(), Some(&rubric));
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("4111"), "{json}");
        assert!(!json.contains("kim@example.net"), "{json}");
        assert!(a.turns[1].text.contains("[CARD]") && a.turns[1].text.contains("[EMAIL]"));
        assert_eq!(
            a.redaction.found,
            vec![(PiiKind::Email, 1), (PiiKind::Card, 1)]
        );
        assert!(a.entities.iter().all(|e| e.kind != "email"));
        assert_eq!(a.qa.as_ref().unwrap().score, Some(100.0));
        assert_eq!(a.talk.duration_s, 12.0);
    }

    #[test]
    fn a_policy_without_redaction_keeps_the_text() {
        let mut ai = AiConfig::default();
        ai.pii.redact = false;
        let turns = [turn(
            Speaker::Customer,
            "Email me at kim@example.net",
            0.0,
            2.0,
        )];
        let a = analyse(&turns, None, &ai, None);
        assert_eq!(a.turns, turns.to_vec());
        assert!(!a.redaction.applied);
        assert_eq!(a.entities[0].kind, "email");
        assert!(a.qa.is_none());
    }

    proptest! {
        #[test]
        fn any_transcript_is_analysed_without_panic(turns in arbitrary_turns(), duration in proptest::option::of(-10.0..10_000.0f64)) {
            let rubric = qa::parse_config(
                br#"{"pass_mark": 70, "criteria": [
                    {"id": "a", "name": "A", "weight": 2, "type": "rule", "match": "any", "phrases": ["hello"], "within": {"first_seconds": 10}},
                    {"id": "b", "name": "B", "weight": 1, "type": "rule", "speaker": "customer", "match": "none", "phrases": ["cancel"], "within": {"last_seconds": 30}}],
                    "categories": [{"id": "c", "name": "C", "match": "all", "phrases": ["a", "b"]}]}"#,
            ).unwrap();
            let a = analyse(&turns, duration, &AiConfig::default(), Some(&rubric));
            prop_assert_eq!(a.turns.len(), turns.len());
            prop_assert_eq!(a.sentiment.turns.len(), turns.len());
            prop_assert!(a.talk.duration_s.is_finite());
            if let Some(score) = a.qa.as_ref().and_then(|q| q.score) {
                prop_assert!((0.0..=100.0).contains(&score));
            }
        }
    }

    #[test]
    fn ten_thousand_turns_one_speaker() {
        let turns: Vec<Turn> = (0..10_000)
            .map(|i| {
                turn(
                    Speaker::Customer,
                    "I would like to cancel my policy please.",
                    i as f64,
                    i as f64 + 0.5,
                )
            })
            .collect();
        let a = analyse(&turns, None, &AiConfig::default(), None);
        assert_eq!(a.sentiment.turns.len(), 10_000);
        assert_eq!(a.talk.talk_s_agent, 0.0);
        assert!(a.summary.next_steps.is_empty());
    }
}
