//! A tenant's `ai-config.json`: how its calls are analysed — the PII
//! policy, what the summary and next steps should say (instructions for the
//! LLM when one is configured), the model and language, the tenant's own
//! entity patterns and lists, and the silence threshold of talk metrics.
//!
//! Every field is optional: `{}` is the default policy (redact every PII
//! kind, three-sentence summaries, 3-second gaps). [`parse_config`] reports
//! every problem at once with the JSON path of the field, as the QA rubric
//! does. The format is documented in `docs/ai-config.md`.

use serde::{Deserialize, Serialize};

use crate::pii::PiiKind;
use crate::qa::{parse_document, words, FieldError, MAX_ID_CHARS, MAX_TEXT_CHARS};
use crate::talk::DEFAULT_MIN_GAP_S;

/// Longest regular expression of a tenant pattern, in characters.
pub const MAX_PATTERN_CHARS: usize = 500;
/// Compiled size limit of one pattern: the `regex` crate matches in linear
/// time, and this bounds the memory a hostile pattern can claim.
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;
const MAX_PATTERNS: usize = 50;
const MAX_LISTS: usize = 50;
const MAX_LIST_VALUES: usize = 1000;

/// The document as stored and shown: what the tenant wrote, with defaults
/// filled in.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AiConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The chat model for summaries, next steps and LLM questions; the
    /// platform's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// BCP 47 tag of the calls' language (`en` by default).
    pub language: String,
    pub summary: SummaryConfig,
    pub next_steps: NextStepsConfig,
    pub pii: PiiPolicy,
    pub entities: EntityConfig,
    pub talk: TalkConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SummaryConfig {
    /// What the LLM is asked for; unused by the extractive summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Sentences of the extractive summary, 1 to 10.
    pub max_sentences: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NextStepsConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PiiPolicy {
    /// Redact transcripts before they are stored in outputs or sent to an LLM.
    pub redact: bool,
    pub kinds: Vec<PiiKind>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TalkConfig {
    /// Silences at least this long count as non-talk time.
    pub min_gap_seconds: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct EntityConfig {
    pub patterns: Vec<EntityPattern>,
    pub lists: Vec<EntityList>,
}

impl PartialEq for EntityConfig {
    fn eq(&self, other: &Self) -> bool {
        self.lists == other.lists
            && self.patterns.len() == other.patterns.len()
            && self
                .patterns
                .iter()
                .zip(&other.patterns)
                .all(|(a, b)| a.name == b.name && a.regex.as_str() == b.regex.as_str())
    }
}

/// A tenant entity found by a regular expression (policy or order numbers).
#[derive(Clone, Debug, Serialize)]
pub struct EntityPattern {
    pub name: String,
    #[serde(serialize_with = "serialize_regex")]
    pub regex: regex::Regex,
}

fn serialize_regex<S: serde::Serializer>(r: &regex::Regex, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str())
}

/// A tenant entity found by name (its products, branches, competitors),
/// matched on whole words, case-insensitively.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EntityList {
    pub name: String,
    pub values: Vec<String>,
}

impl Default for AiConfig {
    fn default() -> Self {
        AiConfig {
            version: None,
            model: None,
            language: "en".into(),
            summary: SummaryConfig {
                instructions: None,
                max_sentences: 3,
            },
            next_steps: NextStepsConfig { instructions: None },
            pii: PiiPolicy {
                redact: true,
                kinds: PiiKind::ALL.to_vec(),
            },
            entities: EntityConfig::default(),
            talk: TalkConfig {
                min_gap_seconds: DEFAULT_MIN_GAP_S,
            },
        }
    }
}

// The document as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    version: Option<String>,
    model: Option<String>,
    language: Option<String>,
    summary: Option<RawSummary>,
    next_steps: Option<RawNextSteps>,
    pii: Option<RawPii>,
    entities: Option<RawEntities>,
    talk: Option<RawTalk>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSummary {
    instructions: Option<String>,
    max_sentences: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNextSteps {
    instructions: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPii {
    redact: Option<bool>,
    kinds: Option<Vec<PiiKind>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntities {
    #[serde(default)]
    patterns: Vec<RawPattern>,
    #[serde(default)]
    lists: Vec<RawList>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    name: Option<String>,
    regex: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    name: Option<String>,
    values: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTalk {
    min_gap_seconds: Option<f64>,
}

/// Reads and validates an `ai-config.json`: a document that is not JSON or
/// has a value of the wrong type yields that one error (with its path);
/// otherwise every semantic problem is reported.
pub fn parse_config(json: &[u8]) -> Result<AiConfig, Vec<FieldError>> {
    validate(parse_document::<RawConfig>(json)?)
}

/// An entity name: the same alphabet as rubric ids, since it becomes a
/// `kind` in results and a column in flat outputs.
fn check_name(field: String, name: Option<String>, errors: &mut Vec<FieldError>) -> String {
    match name {
        None => {
            errors.push(FieldError::new(field, "is required"));
            String::new()
        }
        Some(n)
            if n.is_empty()
                || n.chars().count() > MAX_ID_CHARS
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
        {
            errors.push(FieldError::new(
                field,
                format!("must be 1 to {MAX_ID_CHARS} characters of a-z, 0-9 and _"),
            ));
            n
        }
        Some(n) => n,
    }
}

fn check_text(field: &str, text: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let text = text?;
    if text.trim().is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be 1 to {MAX_TEXT_CHARS} characters, not blank"),
        ));
    }
    Some(text)
}

fn validate(raw: RawConfig) -> Result<AiConfig, Vec<FieldError>> {
    let mut errors = Vec::new();
    let defaults = AiConfig::default();
    let version = raw.version;
    if version
        .as_ref()
        .is_some_and(|v| v.trim().is_empty() || v.chars().count() > MAX_ID_CHARS)
    {
        errors.push(FieldError::new(
            "version",
            format!("must be 1 to {MAX_ID_CHARS} characters, not blank"),
        ));
    }
    let model = raw.model;
    if model
        .as_ref()
        .is_some_and(|m| m.trim().is_empty() || m.len() > 200)
    {
        errors.push(FieldError::new(
            "model",
            "must be 1 to 200 characters, not blank",
        ));
    }
    let language = match raw.language {
        None => defaults.language,
        Some(l) => {
            let ok = (2..=35).contains(&l.len())
                && l.split('-').all(|part| {
                    !part.is_empty()
                        && part.len() <= 8
                        && part.bytes().all(|b| b.is_ascii_alphanumeric())
                });
            if !ok {
                errors.push(FieldError::new(
                    "language",
                    "expected a language tag such as en or en-GB",
                ));
            }
            l
        }
    };
    let summary_raw = raw.summary.unwrap_or(RawSummary {
        instructions: None,
        max_sentences: None,
    });
    let max_sentences = match summary_raw.max_sentences {
        None => defaults.summary.max_sentences,
        Some(n) if (1..=10).contains(&n) => n as usize,
        Some(_) => {
            errors.push(FieldError::new("summary.max_sentences", "must be 1 to 10"));
            1
        }
    };
    let summary = SummaryConfig {
        instructions: check_text(
            "summary.instructions",
            summary_raw.instructions,
            &mut errors,
        ),
        max_sentences,
    };
    let next_steps = NextStepsConfig {
        instructions: check_text(
            "next_steps.instructions",
            raw.next_steps.and_then(|n| n.instructions),
            &mut errors,
        ),
    };
    let pii = match raw.pii {
        None => defaults.pii,
        Some(p) => {
            let mut kinds = p.kinds.unwrap_or_else(|| PiiKind::ALL.to_vec());
            let before = kinds.len();
            let mut seen = Vec::new();
            kinds.retain(|k| {
                let fresh = !seen.contains(k);
                seen.push(*k);
                fresh
            });
            if kinds.len() != before {
                errors.push(FieldError::new("pii.kinds", "lists a kind twice"));
            }
            PiiPolicy {
                redact: p.redact.unwrap_or(true),
                kinds,
            }
        }
    };
    let entities = match raw.entities {
        None => EntityConfig::default(),
        Some(e) => validate_entities(e, &mut errors),
    };
    let talk = match raw.talk.and_then(|t| t.min_gap_seconds) {
        None => defaults.talk,
        Some(g) if g.is_finite() && g > 0.0 && g <= 600.0 => TalkConfig { min_gap_seconds: g },
        Some(_) => {
            errors.push(FieldError::new(
                "talk.min_gap_seconds",
                "must be greater than 0 and at most 600",
            ));
            defaults.talk
        }
    };
    if errors.is_empty() {
        Ok(AiConfig {
            version,
            model,
            language,
            summary,
            next_steps,
            pii,
            entities,
            talk,
        })
    } else {
        Err(errors)
    }
}

fn validate_entities(raw: RawEntities, errors: &mut Vec<FieldError>) -> EntityConfig {
    if raw.patterns.len() > MAX_PATTERNS {
        errors.push(FieldError::new(
            "entities.patterns",
            format!("at most {MAX_PATTERNS} patterns"),
        ));
    }
    if raw.lists.len() > MAX_LISTS {
        errors.push(FieldError::new(
            "entities.lists",
            format!("at most {MAX_LISTS} lists"),
        ));
    }
    let mut names: Vec<String> = Vec::new();
    let mut unique = |field: String, name: &str, errors: &mut Vec<FieldError>| {
        if names.iter().any(|n| n == name) {
            errors.push(FieldError::new(field, "is used by another entity"));
        } else if !name.is_empty() {
            names.push(name.to_owned());
        }
    };
    let mut patterns = Vec::new();
    for (i, p) in raw.patterns.into_iter().enumerate() {
        let field = |f: &str| format!("entities.patterns[{i}].{f}");
        let name = check_name(field("name"), p.name, errors);
        unique(field("name"), &name, errors);
        match p.regex {
            None => errors.push(FieldError::new(field("regex"), "is required")),
            Some(r) if r.is_empty() || r.chars().count() > MAX_PATTERN_CHARS => {
                errors.push(FieldError::new(
                    field("regex"),
                    format!("must be 1 to {MAX_PATTERN_CHARS} characters"),
                ))
            }
            Some(r) => match regex::RegexBuilder::new(&r)
                .size_limit(PATTERN_SIZE_LIMIT)
                .build()
            {
                Ok(regex) if regex.is_match("") => errors.push(FieldError::new(
                    field("regex"),
                    "matches the empty text, so it would match everywhere",
                )),
                Ok(regex) => patterns.push(EntityPattern { name, regex }),
                Err(e) => errors.push(FieldError::new(
                    field("regex"),
                    format!(
                        "not a valid regular expression: {}",
                        first_line(&e.to_string())
                    ),
                )),
            },
        }
    }
    let mut lists = Vec::new();
    for (i, l) in raw.lists.into_iter().enumerate() {
        let field = |f: &str| format!("entities.lists[{i}].{f}");
        let name = check_name(field("name"), l.name, errors);
        unique(field("name"), &name, errors);
        match l.values {
            None => errors.push(FieldError::new(field("values"), "is required")),
            Some(v) if v.is_empty() || v.len() > MAX_LIST_VALUES => errors.push(FieldError::new(
                field("values"),
                format!("must hold 1 to {MAX_LIST_VALUES} values"),
            )),
            Some(values) => {
                for (j, value) in values.iter().enumerate() {
                    if words(value).is_empty() || value.chars().count() > 200 {
                        errors.push(FieldError::new(
                            format!("entities.lists[{i}].values[{j}]"),
                            "must hold a word and be at most 200 characters",
                        ));
                    }
                }
                lists.push(EntityList { name, values });
            }
        }
    }
    EntityConfig { patterns, lists }
}

/// The regex crate's messages draw the pattern over several lines; the
/// last line says what is wrong.
fn first_line(message: &str) -> String {
    message
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(message)
        .trim()
        .trim_start_matches("error: ")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(json: &str) -> Vec<(String, String)> {
        parse_config(json.as_bytes())
            .expect_err("must be refused")
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    #[test]
    fn an_empty_document_is_the_default_policy() {
        let c = parse_config(b"{}").unwrap();
        assert_eq!(c, AiConfig::default());
        assert!(c.pii.redact);
        assert_eq!(c.pii.kinds, PiiKind::ALL.to_vec());
        assert_eq!(c.summary.max_sentences, 3);
    }

    #[test]
    fn a_full_document_is_read() {
        let c = parse_config(
            br#"{"version": "v7", "model": "small-model", "language": "en-GB",
                "summary": {"instructions": "Two sentences for an adjuster.", "max_sentences": 2},
                "next_steps": {"instructions": "Actions the agent promised."},
                "pii": {"redact": true, "kinds": ["card", "ssn"]},
                "entities": {"patterns": [{"name": "policy_number", "regex": "POL-[0-9]{6}"}],
                             "lists": [{"name": "product", "values": ["home cover", "motor"]}]},
                "talk": {"min_gap_seconds": 2.5}}"#,
        )
        .unwrap();
        assert_eq!(c.version.as_deref(), Some("v7"));
        assert_eq!(c.pii.kinds, vec![PiiKind::Card, PiiKind::Ssn]);
        assert_eq!(c.entities.patterns[0].regex.as_str(), "POL-[0-9]{6}");
        assert_eq!(c.entities.lists[0].values.len(), 2);
        assert_eq!(c.talk.min_gap_seconds, 2.5);
        assert_eq!(c.summary.max_sentences, 2);
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let e = errors(
            r#"{"language": "not a tag!", "summary": {"max_sentences": 0},
                "entities": {"patterns": [{"name": "Bad Name", "regex": "("},
                                          {"name": "empty", "regex": "a*"}],
                             "lists": [{"name": "empty", "values": ["  "]}]},
                "talk": {"min_gap_seconds": -1}}"#,
        );
        let fields: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "language",
                "summary.max_sentences",
                "entities.patterns[0].name",
                "entities.patterns[0].regex",
                "entities.patterns[1].regex",
                "entities.lists[0].name",
                "entities.lists[0].values[0]",
                "talk.min_gap_seconds",
            ],
            "{e:?}"
        );
        assert!(
            e[3].1.starts_with("not a valid regular expression"),
            "{e:?}"
        );
    }

    #[test]
    fn wrong_types_and_unknown_fields_name_their_path() {
        assert_eq!(
            errors(r#"{"pii": {"kinds": ["phone", "shoe_size"]}}"#)[0].0,
            "pii.kinds[1]"
        );
        assert_eq!(errors(r#"{"colour": "red"}"#)[0].0, "colour");
        assert_eq!(errors(r#"{"pii": {"redact": "yes"}}"#)[0].0, "pii.redact");
        assert_eq!(errors("{").first().unwrap().0, "body");
        assert_eq!(errors("[]").first().unwrap().0, "body");
    }

    #[test]
    fn a_huge_pattern_is_refused_not_compiled_forever() {
        let e = errors(
            r#"{"entities": {"patterns": [{"name": "big", "regex": "(\\w{1000}){1000}"}]}}"#,
        );
        assert_eq!(e[0].0, "entities.patterns[0].regex");
    }
}
