//! Entities and key phrases of a transcript.
//!
//! Built-in entities are phone numbers and emails (the PII scanners' own
//! findings, so what is redacted and what is reported agree), money amounts
//! and dates; the tenant adds patterns (policy or order numbers) and lists
//! (products, branches) in `ai-config.json`. Run on a redacted transcript,
//! the PII kinds that were redacted are simply not there to be found.
//!
//! Key phrases are RAKE's: candidate phrases are the runs of words between
//! stop words and punctuation, each word scored by its degree over its
//! frequency, a phrase by the sum of its words.

use rustc_hash::FxHashMap as HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;
use switchboard_ingest::Turn;

use crate::ai_config::EntityConfig;
use crate::pii::{self, PiiKind};
use crate::qa::words;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entity {
    /// `phone`, `email`, `money`, `date`, or a tenant pattern's or list's name.
    pub kind: String,
    /// As said in the transcript (for a list, the value as the tenant wrote it).
    pub text: String,
    /// Index of the turn it was said in.
    pub turn: usize,
    /// Money in minor units, when the amount and currency are clear.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<&'static str>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyPhrase {
    pub phrase: String,
    pub score: f64,
    /// How many times the phrase occurs.
    pub count: usize,
}

/// Key phrases returned per call at most.
pub const MAX_KEY_PHRASES: usize = 10;
/// Longest candidate phrase, in words: longer runs are rarely phrases.
const MAX_PHRASE_WORDS: usize = 4;

fn money_regex() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(
            r"(?ix)
            (?P<sym>[$€£])\s?(?P<a>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<c>\d{2}))?\b
            | \b(?P<b>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<d>\d{2}))?\s?(?P<word>dollars?|bucks|euros?|pounds?|usd|eur|gbp)\b",
        )
        .expect("valid")
    })
}

fn date_regex() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        let month = "(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";
        let day = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?";
        Regex::new(&format!(
            r"(?ix)
            \b\d{{4}}-\d{{2}}-\d{{2}}\b
            | \b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b
            | \b{month}\.?\s{day}(?:,?\s\d{{4}})?\b
            | \b{day}\sof\s{month}(?:,?\s\d{{4}})?\b
            | \b(?:next\s|this\s)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b
            | \b(?:today|tomorrow|yesterday)\b"
        ))
        .expect("valid")
    })
}

fn currency_of(symbol_or_word: &str) -> &'static str {
    match symbol_or_word.to_ascii_lowercase().as_str() {
        "€" | "euro" | "euros" | "eur" => "EUR",
        "£" | "pound" | "pounds" | "gbp" => "GBP",
        _ => "USD",
    }
}

/// Whole units and cents into minor units; `None` when it overflows.
fn minor_units(units: &str, cents: Option<&str>) -> Option<i64> {
    let units: i64 = units.replace(',', "").parse().ok()?;
    let cents: i64 = cents.map_or(Some(0), |c| c.parse().ok())?;
    units.checked_mul(100)?.checked_add(cents)
}

/// Every entity in the turns, by turn, then by kind in a fixed order
/// (phone, email, money, date, the tenant's patterns, then lists), then by
/// position.
pub fn entities(turns: &[Turn], config: &EntityConfig) -> Vec<Entity> {
    let mut out = Vec::new();
    let entity = |kind: &str, text: &str, turn: usize| Entity {
        kind: kind.to_owned(),
        text: text.to_owned(),
        turn,
        amount_minor: None,
        currency: None,
    };
    for (i, t) in turns.iter().enumerate() {
        let text = t.text.as_str();
        for (kind, range) in pii::find(text, &[PiiKind::Phone, PiiKind::Email]) {
            let name = if kind == PiiKind::Phone {
                "phone"
            } else {
                "email"
            };
            out.push(entity(name, &text[range], i));
        }
        for c in money_regex().captures_iter(text) {
            let (units, cents, unit) = match (c.name("a"), c.name("b")) {
                (Some(a), _) => (a, c.name("c"), c.name("sym")),
                (None, Some(b)) => (b, c.name("d"), c.name("word")),
                (None, None) => continue,
            };
            let currency = unit.map(|u| currency_of(u.as_str()));
            out.push(Entity {
                amount_minor: minor_units(units.as_str(), cents.map(|c| c.as_str())),
                currency,
                ..entity("money", c.get(0).map_or("", |m| m.as_str()), i)
            });
        }
        for m in date_regex().find_iter(text) {
            out.push(entity("date", m.as_str(), i));
        }
        for p in &config.patterns {
            for m in p.regex.find_iter(text) {
                if !m.as_str().is_empty() {
                    out.push(entity(&p.name, m.as_str(), i));
                }
            }
        }
        if config.lists.is_empty() {
            continue;
        }
        let turn_words = words(text);
        for list in &config.lists {
            for value in &list.values {
                let needle = words(value);
                let occurrences = turn_words
                    .windows(needle.len().max(1))
                    .filter(|w| !needle.is_empty() && *w == needle.as_slice())
                    .count();
                for _ in 0..occurrences {
                    out.push(entity(&list.name, value, i));
                }
            }
        }
    }
    out
}

/// Words that end a candidate phrase: function words and the fillers of
/// conversation, which carry no topic.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "don't",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "get",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "i",
    "i'd",
    "i'll",
    "i'm",
    "i've",
    "if",
    "in",
    "into",
    "is",
    "it",
    "it's",
    "its",
    "just",
    "let",
    "let's",
    "like",
    "me",
    "more",
    "most",
    "my",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "oh",
    "ok",
    "okay",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "out",
    "over",
    "own",
    "please",
    "right",
    "same",
    "see",
    "she",
    "should",
    "so",
    "some",
    "sure",
    "than",
    "thank",
    "thanks",
    "that",
    "that's",
    "the",
    "their",
    "them",
    "then",
    "there",
    "there's",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "um",
    "uh",
    "under",
    "until",
    "up",
    "us",
    "very",
    "was",
    "we",
    "we'll",
    "we're",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "why",
    "will",
    "with",
    "would",
    "yeah",
    "yes",
    "you",
    "you're",
    "your",
    "yours",
    "hi",
    "hello",
    "bye",
    "well",
    "really",
    "one",
    "go",
    "going",
    "know",
    "think",
    "want",
    "need",
    "make",
    "say",
    "said",
    "way",
    "thing",
    "things",
    "look",
    "take",
    "can't",
    "won't",
    "didn't",
    "isn't",
    "that'll",
    "you'll",
    "you've",
    "we've",
    "they're",
    "great",
    "good",
    "perfect",
    "alright",
    "absolutely",
    "definitely",
    "today",
    "day",
];

fn is_stop(word: &str) -> bool {
    static SET: OnceLock<rustc_hash::FxHashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| STOP_WORDS.iter().copied().collect())
        .contains(word)
}

/// Words of the call, each stored once; phrases are runs of word ids.
#[derive(Default)]
struct Vocabulary {
    ids: HashMap<String, u32>,
    words: Vec<String>,
}

impl Vocabulary {
    fn id(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.ids.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.push(word.to_owned());
        self.ids.insert(word.to_owned(), id);
        id
    }
}

/// Candidate phrases of `text`, appended to `out`: runs of non-stop words,
/// cut at punctuation that ends a clause, at numbers and at placeholders
/// such as `[PHONE]`. Words are as `qa::words` cuts them (lower-cased,
/// apostrophes inside a word kept), read in one pass without allocating
/// per word.
fn candidates(text: &str, vocab: &mut Vocabulary, out: &mut Vec<Vec<u32>>) {
    let mut run: Vec<u32> = Vec::new();
    let mut word = String::new();
    let mut in_brackets = false;
    let end_phrase = |run: &mut Vec<u32>, out: &mut Vec<Vec<u32>>| {
        if !run.is_empty() {
            out.push(std::mem::take(run));
        }
    };
    let mut end_word = |word: &mut String, run: &mut Vec<u32>, out: &mut Vec<Vec<u32>>| {
        while word.ends_with('\'') {
            word.pop();
        }
        if word.is_empty() {
            return;
        }
        if is_stop(word) || word.bytes().all(|b| b.is_ascii_digit()) {
            end_phrase(run, out);
        } else {
            run.push(vocab.id(word));
        }
        word.clear();
    };
    for ch in text.chars() {
        if in_brackets {
            if ch == ']' {
                in_brackets = false;
            }
            continue;
        }
        let ch = match ch {
            '\u{2019}' | '\u{2018}' | '\u{02BC}' => '\'',
            c => c,
        };
        if ch.is_ascii_alphanumeric() {
            word.push(ch.to_ascii_lowercase());
        } else if !ch.is_ascii() && ch.is_alphanumeric() {
            word.extend(ch.to_lowercase());
        } else if ch == '\'' && !word.is_empty() {
            word.push('\'');
        } else {
            end_word(&mut word, &mut run, out);
            if ".,;:!?()\"\n[]—".contains(ch) {
                end_phrase(&mut run, out);
                in_brackets = ch == '[';
            }
        }
    }
    end_word(&mut word, &mut run, out);
    end_phrase(&mut run, out);
}

/// The call's key phrases, best first (ties by first occurrence).
pub fn key_phrases(turns: &[Turn]) -> Vec<KeyPhrase> {
    let mut vocab = Vocabulary::default();
    let mut phrases: Vec<Vec<u32>> = Vec::new();
    for t in turns {
        candidates(&t.text, &mut vocab, &mut phrases);
    }
    phrases.retain(|p| {
        p.len() <= MAX_PHRASE_WORDS
            && p.iter()
                .any(|&w| vocab.words[w as usize].chars().count() > 2)
    });
    let mut freq = vec![0.0f64; vocab.words.len()];
    let mut degree = vec![0.0f64; vocab.words.len()];
    for p in &phrases {
        for &w in p {
            freq[w as usize] += 1.0;
            degree[w as usize] += p.len() as f64;
        }
    }
    // Distinct phrases in order of first occurrence, with their counts.
    let mut seen: HashMap<&[u32], usize> = HashMap::default();
    let mut distinct: Vec<(&[u32], usize)> = Vec::new();
    for p in &phrases {
        match seen.get(p.as_slice()) {
            Some(&at) => distinct[at].1 += 1,
            None => {
                seen.insert(p, distinct.len());
                distinct.push((p, 1));
            }
        }
    }
    // A phrase said again matters more than one said once: RAKE's score
    // weighs the words, the count weighs the phrase.
    let scored: Vec<f64> = distinct
        .iter()
        .map(|(p, count)| {
            let rake: f64 = p
                .iter()
                .map(|&w| degree[w as usize] / freq[w as usize])
                .sum();
            round3(rake * (1.0 + (*count as f64).ln()))
        })
        .collect();
    let mut order: Vec<usize> = (0..distinct.len()).collect();
    order.sort_by(|&a, &b| scored[b].total_cmp(&scored[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(MAX_KEY_PHRASES)
        .map(|i| KeyPhrase {
            phrase: distinct[i]
                .0
                .iter()
                .map(|&w| vocab.words[w as usize].as_str())
                .collect::<Vec<_>>()
                .join(" "),
            score: scored[i],
            count: distinct[i].1,
        })
        .collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai_config::parse_config;
    use crate::testing::turn;
    use switchboard_ingest::Speaker;

    fn kinds_and_texts(e: &[Entity]) -> Vec<(String, String, usize)> {
        e.iter()
            .map(|e| (e.kind.clone(), e.text.clone(), e.turn))
            .collect()
    }

    #[test]
    fn built_in_entities_with_money_in_minor_units() {
        let turns = [
            turn(
                Speaker::Customer,
                "Call me on (415) 555-0134 or write to sam.lee@example.org.",
            ),
            turn(
                Speaker::Agent,
                "The premium is $1,249.50 a year, or 110 dollars a month, from March 3rd, 2027.",
            ),
            turn(
                Speaker::Customer,
                "Could we do next Tuesday? I paid €30 on 2026-11-02.",
            ),
        ];
        let e = entities(&turns, &EntityConfig::default());
        assert_eq!(
            kinds_and_texts(&e),
            vec![
                ("phone".into(), "(415) 555-0134".into(), 0),
                ("email".into(), "sam.lee@example.org".into(), 0),
                ("money".into(), "$1,249.50".into(), 1),
                ("money".into(), "110 dollars".into(), 1),
                ("date".into(), "March 3rd, 2027".into(), 1),
                ("money".into(), "€30".into(), 2),
                ("date".into(), "next Tuesday".into(), 2),
                ("date".into(), "2026-11-02".into(), 2),
            ]
        );
        assert_eq!(
            (e[2].amount_minor, e[2].currency),
            (Some(124_950), Some("USD"))
        );
        assert_eq!(
            (e[3].amount_minor, e[3].currency),
            (Some(11_000), Some("USD"))
        );
        assert_eq!(
            (e[5].amount_minor, e[5].currency),
            (Some(3_000), Some("EUR"))
        );
    }

    #[test]
    fn tenant_patterns_and_lists() {
        let config = parse_config(
            br#"{"entities": {"patterns": [{"name": "policy_number", "regex": "POL-[0-9]{6}"}],
                 "lists": [{"name": "product", "values": ["Home Cover", "motor"]}]}}"#,
        )
        .unwrap()
        .entities;
        let turns = [turn(
            Speaker::Customer,
            "My policy is POL-123456, the home cover one, not motorbike or motor.",
        )];
        assert_eq!(
            kinds_and_texts(&entities(&turns, &config)),
            vec![
                ("policy_number".into(), "POL-123456".into(), 0),
                ("product".into(), "Home Cover".into(), 0),
                ("product".into(), "motor".into(), 0),
            ]
        );
    }

    #[test]
    fn an_overflowing_amount_has_no_minor_units_and_no_panic() {
        let turns = [turn(
            Speaker::Agent,
            "That is $99999999999999999999999 exactly.",
        )];
        let e = entities(&turns, &EntityConfig::default());
        assert_eq!(e[0].kind, "money");
        assert_eq!(e[0].amount_minor, None);
    }

    #[test]
    fn key_phrases_rank_repeated_topic_phrases_first() {
        let turns = [
            turn(
                Speaker::Customer,
                "I want to file a water damage claim for my kitchen.",
            ),
            turn(
                Speaker::Agent,
                "I can open a water damage claim. Was the kitchen ceiling affected?",
            ),
            turn(
                Speaker::Customer,
                "Yes, the kitchen ceiling and the [PHONE] hallway floor.",
            ),
        ];
        let k = key_phrases(&turns);
        assert_eq!(k[0].phrase, "water damage claim", "{k:?}");
        assert_eq!(k[0].count, 2);
        assert!(k.iter().any(|p| p.phrase == "kitchen ceiling"), "{k:?}");
        assert!(
            k.iter().all(|p| !p.phrase.contains("phone")),
            "placeholders are not topics"
        );
        assert!(k.len() <= MAX_KEY_PHRASES);
    }

    #[test]
    fn nothing_to_say_gives_nothing() {
        assert!(key_phrases(&[]).is_empty());
        assert!(key_phrases(&[turn(Speaker::Agent, "Okay, thank you, bye.")]).is_empty());
        assert!(entities(&[turn(Speaker::Agent, "")], &EntityConfig::default()).is_empty());
    }
}
