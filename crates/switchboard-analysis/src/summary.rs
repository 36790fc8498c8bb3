//! The summary and next steps a call gets without an LLM: extractive.
//!
//! Sentences are scored by how many of the call's frequent content words
//! they hold (normalised by the square root of their length, so long
//! sentences do not win by length alone); the best are returned in the
//! order they were said, each with who said it. Next steps are the agent's
//! sentences that commit to an action ("I'll send…", "we will call you
//! back…"), in order. Both are labelled `method: extractive`, so nobody
//! mistakes them for an LLM's.

use rustc_hash::FxHashMap as HashMap;

use serde::Serialize;
use switchboard_ingest::{Speaker, Turn};

use crate::qa::words;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Extractive,
    Llm,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub method: Method,
    pub text: String,
    pub next_steps: Vec<String>,
}

/// Longest sentence kept whole, in characters; longer ones are cut.
const MAX_SENTENCE_CHARS: usize = 300;
/// Next steps kept at most.
const MAX_NEXT_STEPS: usize = 5;

/// What an agent says when committing to an action.
const COMMITMENTS: &[&[&str]] = &[
    &["i'll"],
    &["i", "will"],
    &["we'll"],
    &["we", "will"],
    &["i'm", "going", "to"],
    &["we're", "going", "to"],
    &["i", "can", "send"],
    &["you'll", "receive"],
    &["you", "will", "receive"],
    &["follow", "up"],
    &["call", "you", "back"],
    &["let", "me", "schedule"],
];

/// Words too common to say what a call was about.
const FILLER: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "for", "from", "have",
    "i", "i'm", "in", "is", "it", "it's", "me", "my", "no", "not", "of", "on", "or", "so", "that",
    "the", "this", "to", "was", "we", "with", "yes", "you", "your", "okay", "ok", "um", "uh",
    "thank", "thanks", "yeah", "hi", "hello", "please", "just", "that's", "will", "would", "could",
    "there", "what", "if", "all", "right", "sure", "great",
];

fn is_filler(word: &str) -> bool {
    static SET: std::sync::OnceLock<rustc_hash::FxHashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| FILLER.iter().copied().collect())
        .contains(word)
}

struct Sentence {
    speaker: Speaker,
    text: String,
    words: Vec<String>,
}

fn sentences(turns: &[Turn]) -> Vec<Sentence> {
    let mut out = Vec::new();
    for t in turns {
        let mut start = 0;
        let text = t.text.as_str();
        let mut push = |s: &str| {
            let s = s.trim();
            let w = words(s);
            if !w.is_empty() {
                out.push(Sentence {
                    speaker: t.speaker,
                    text: cut(s),
                    words: w,
                });
            }
        };
        for (i, c) in text.char_indices() {
            if matches!(c, '.' | '?' | '!') {
                let end = i + c.len_utf8();
                // "$1.50" and "e.g." do not end a sentence.
                let next = text[end..].chars().next();
                if next.is_none_or(char::is_whitespace) {
                    push(&text[start..end]);
                    start = end;
                }
            }
        }
        push(&text[start..]);
    }
    out
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_SENTENCE_CHARS {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_SENTENCE_CHARS).collect();
    out.push('…');
    out
}

fn speaker_label(s: Speaker) -> &'static str {
    match s {
        Speaker::Agent => "Agent",
        Speaker::Customer => "Customer",
    }
}

/// The extractive summary of `turns` in at most `max_sentences` sentences.
pub fn extractive(turns: &[Turn], max_sentences: usize) -> Summary {
    let all = sentences(turns);
    let mut freq: HashMap<&str, f64> = HashMap::default();
    for s in &all {
        for w in &s.words {
            if !is_filler(w) && w.chars().count() > 2 {
                *freq.entry(w).or_default() += 1.0;
            }
        }
    }
    let top = freq.values().copied().fold(0.0, f64::max);
    let score = |s: &Sentence| -> f64 {
        if top == 0.0 || s.words.len() < 3 {
            return 0.0;
        }
        let sum: f64 = s
            .words
            .iter()
            .filter_map(|w| freq.get(w.as_str()))
            .map(|f| f / top)
            .sum();
        sum / (s.words.len() as f64).sqrt()
    };
    let mut ranked: Vec<(usize, f64)> = all
        .iter()
        .enumerate()
        .map(|(i, s)| (i, score(s)))
        .filter(|(_, sc)| *sc > 0.0)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen: Vec<usize> = ranked
        .into_iter()
        .take(max_sentences.max(1))
        .map(|(i, _)| i)
        .collect();
    chosen.sort_unstable();
    let text = chosen
        .iter()
        .map(|&i| format!("{}: {}", speaker_label(all[i].speaker), all[i].text))
        .collect::<Vec<_>>()
        .join(" ");
    let mut next_steps: Vec<String> = Vec::new();
    for s in all.iter().filter(|s| s.speaker == Speaker::Agent) {
        let commits = COMMITMENTS
            .iter()
            .any(|c| s.words.windows(c.len()).any(|w| w == *c));
        if commits && !s.text.ends_with('?') && !next_steps.contains(&s.text) {
            next_steps.push(s.text.clone());
        }
    }
    // The last commitments are the ones the call ended on.
    let skip = next_steps.len().saturating_sub(MAX_NEXT_STEPS);
    Summary {
        method: Method::Extractive,
        text,
        next_steps: next_steps.split_off(skip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::turn;

    #[test]
    fn picks_the_topical_sentences_in_order_and_the_agents_commitments() {
        let turns = [
            turn(Speaker::Agent, "Thank you for calling, how can I help?"),
            turn(Speaker::Customer, "Hi. My basement flooded and I need to file a flood claim. The water reached the furnace."),
            turn(Speaker::Agent, "I'm sorry to hear that. I'll open a flood claim for the basement now. Is the furnace working?"),
            turn(Speaker::Customer, "No, the furnace is off."),
            turn(Speaker::Agent, "An adjuster will call you back tomorrow, and I will email you the claim number. Anything else?"),
            turn(Speaker::Customer, "No, thanks. Bye."),
        ];
        let s = extractive(&turns, 2);
        assert_eq!(s.method, Method::Extractive);
        assert_eq!(
            s.text,
            "Customer: My basement flooded and I need to file a flood claim. \
             Agent: I'll open a flood claim for the basement now."
        );
        assert_eq!(
            s.next_steps,
            vec![
                "I'll open a flood claim for the basement now.",
                "An adjuster will call you back tomorrow, and I will email you the claim number."
            ]
        );
    }

    #[test]
    fn decimals_do_not_split_sentences_and_empty_calls_summarise_to_nothing() {
        let turns = [turn(Speaker::Agent, "The fee is $12.50 per month for the premium plan. I will send the premium plan details.")];
        let s = extractive(&turns, 2);
        assert!(
            s.text.starts_with(
                "Agent: The fee is $12.50 per month for the premium plan. Agent: I will"
            ),
            "{}",
            s.text
        );
        assert_eq!(extractive(&[], 3).text, "");
        assert_eq!(
            extractive(&[turn(Speaker::Agent, "  ")], 3)
                .next_steps
                .len(),
            0
        );
    }

    #[test]
    fn very_long_sentences_are_cut() {
        let long = "claim ".repeat(200);
        let s = extractive(&[turn(Speaker::Customer, &long)], 1);
        assert!(s.text.chars().count() < MAX_SENTENCE_CHARS + 20);
        assert!(s.text.ends_with('…'));
    }
}
