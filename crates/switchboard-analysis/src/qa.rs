//! Rule-based QA: a tenant's rubric (`qa-config.json`) and its evaluation
//! against a transcript.
//!
//! A rubric has weighted criteria, each either a phrase *rule* (which phrases
//! must or must not be said, by which speaker, within which part of the
//! call) or a *question* left for an LLM, a pass mark, and custom categories
//! (phrase rules that tag calls). [`parse_config`] reads and validates it,
//! reporting every problem at once with the JSON path of the field;
//! [`evaluate`] scores a transcript with it. The format is documented in
//! `docs/qa-config.md`.
//!
//! Phrase matching is case-insensitive and on word boundaries: text and
//! phrases are both cut into words (letters and digits; an apostrophe inside
//! a word belongs to it, so `don't` is one word and `customer` does not match
//! `customer's`), and a phrase matches a contiguous run of a turn's words.
//!
//! Windows (`first_seconds` / `last_seconds`) use the turns' own times.
//! Transcript order is taken as time order, so a turn without times of its
//! own is placed between the timed turns around it. A turn counts as inside
//! the window when its times (or those bounds) put it there, outside when
//! they put it outside, and — the window cannot be decided — inside
//! otherwise: when nothing around it is timed, when the bounds straddle the
//! window's edge, or, for `last_seconds`, when the call's length is unknown.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use switchboard_ingest::{Speaker, Turn};

/// Longest phrase, in characters.
pub const MAX_PHRASE_CHARS: usize = 200;
/// Longest id, in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Longest name or question, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

// ---------------------------------------------------------------------------
// The rubric
// ---------------------------------------------------------------------------

/// A validated QA rubric. Deserialising it (or [`parse_config`]) refuses
/// unknown fields and anything [`parse_config`] would refuse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct QaConfig {
    /// Recorded with every result, so an analysis says which rubric scored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// 0 to 100: a call passes with a score at least this.
    pub pass_mark: f64,
    pub criteria: Vec<Criterion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Category>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Criterion {
    pub id: String,
    pub name: String,
    /// Positive and finite.
    pub weight: f64,
    #[serde(flatten)]
    pub kind: CriterionKind,
}

/// Tagged by `type` in the JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CriterionKind {
    Rule(Rule),
    /// Answered by an LLM; never evaluated here.
    Question {
        question: String,
    },
}

/// Which phrases, said by whom, in which part of the call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    pub speaker: SpeakerFilter,
    #[serde(rename = "match")]
    pub mode: MatchMode,
    pub phrases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Window>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeakerFilter {
    Agent,
    Customer,
    #[default]
    Any,
}

impl SpeakerFilter {
    fn admits(self, speaker: Speaker) -> bool {
        match self {
            SpeakerFilter::Any => true,
            SpeakerFilter::Agent => speaker == Speaker::Agent,
            SpeakerFilter::Customer => speaker == Speaker::Customer,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// Some phrase is said.
    Any,
    /// Every phrase is said (anywhere in the window, not necessarily together).
    All,
    /// No phrase is said.
    None,
}

/// `{"first_seconds": 30}` or `{"last_seconds": 60}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// Turns starting before this many seconds into the call.
    FirstSeconds(f64),
    /// Turns ending within this many seconds of the end of the call.
    LastSeconds(f64),
}

/// A phrase rule that tags a call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Category {
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub rule: Rule,
}

/// One problem with a rubric; `field` is a JSON path such as
/// `criteria[2].weight`, or `body` for the document as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// All the problems of a rubric (the error of `QaConfig`'s `Deserialize`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<FieldError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

// The document as written: every field optional so that missing ones are
// reported together with the other semantic errors.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    version: Option<String>,
    pass_mark: Option<f64>,
    criteria: Option<Vec<RawCriterion>>,
    #[serde(default)]
    categories: Vec<RawCategory>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawKind {
    Rule,
    Question,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCriterion {
    id: Option<String>,
    name: Option<String>,
    weight: Option<f64>,
    #[serde(rename = "type")]
    kind: Option<RawKind>,
    question: Option<String>,
    speaker: Option<SpeakerFilter>,
    #[serde(rename = "match")]
    mode: Option<MatchMode>,
    phrases: Option<Vec<String>>,
    within: Option<RawWindow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    id: Option<String>,
    name: Option<String>,
    speaker: Option<SpeakerFilter>,
    #[serde(rename = "match")]
    mode: Option<MatchMode>,
    phrases: Option<Vec<String>>,
    within: Option<RawWindow>,
}

/// A window as written: exactly one of the two, checked in validation (an
/// externally tagged enum would make two keys a JSON syntax error).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    first_seconds: Option<f64>,
    last_seconds: Option<f64>,
}

impl TryFrom<RawConfig> for QaConfig {
    type Error = ConfigErrors;
    fn try_from(raw: RawConfig) -> Result<Self, ConfigErrors> {
        validate(raw).map_err(ConfigErrors)
    }
}

/// Reads and validates a `qa-config.json`. A document that is not JSON or
/// has a value of the wrong type yields that one error (with its path);
/// otherwise every semantic problem is reported.
pub fn parse_config(json: &[u8]) -> Result<QaConfig, Vec<FieldError>> {
    validate(parse_document(json)?)
}

/// Reads a tenant's JSON document as written: not JSON, or a value of the
/// wrong type, is that one error with its path.
pub(crate) fn parse_document<T: serde::de::DeserializeOwned>(
    json: &[u8],
) -> Result<T, Vec<FieldError>> {
    // serde reads a struct from an array too, which would name the array's
    // elements (`[0]`) as the bad fields.
    if json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(vec![FieldError::new(
            "body",
            "must be a JSON object, not an array",
        )]);
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    let raw: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            vec![FieldError::new("body", format!("not valid JSON: {inner}"))]
        } else {
            vec![shape_error(&path, &inner.to_string())]
        }
    })?;
    if let Err(e) = de.end() {
        return Err(vec![FieldError::new(
            "body",
            format!("not valid JSON: {e}"),
        )]);
    }
    Ok(raw)
}

/// A value of the wrong shape at `path` (`.` for the top level). A missing or
/// unknown member is named itself, not its parent.
fn shape_error(path: &str, message: &str) -> FieldError {
    let member = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (path, member) {
        (".", Some(member)) => member.to_owned(),
        (_, Some(member)) if !path.ends_with(member) => format!("{path}.{member}"),
        (".", _) => "body".to_owned(),
        _ => path.to_owned(),
    };
    // serde's messages end with the position, which the path replaces.
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    FieldError::new(field, message)
}

fn validate(raw: RawConfig) -> Result<QaConfig, Vec<FieldError>> {
    let mut errors = Vec::new();
    let version = raw.version;
    if let Some(v) = &version {
        if v.trim().is_empty() || v.chars().count() > MAX_ID_CHARS {
            errors.push(FieldError::new(
                "version",
                format!("must be 1 to {MAX_ID_CHARS} characters, not blank"),
            ));
        }
    }
    let pass_mark = match raw.pass_mark {
        None => {
            errors.push(FieldError::new("pass_mark", "is required"));
            0.0
        }
        Some(p) => {
            if !(p.is_finite() && (0.0..=100.0).contains(&p)) {
                errors.push(FieldError::new("pass_mark", "must be between 0 and 100"));
            }
            p
        }
    };

    let mut criteria = Vec::new();
    match raw.criteria {
        None => errors.push(FieldError::new("criteria", "is required")),
        Some(list) if list.is_empty() => {
            errors.push(FieldError::new("criteria", "needs at least one criterion"))
        }
        Some(list) => {
            let mut seen = HashSet::new();
            for (i, c) in list.into_iter().enumerate() {
                let at = format!("criteria[{i}]");
                let id = check_id(c.id, &at, &mut seen, &mut errors);
                let name = check_text(c.name, &format!("{at}.name"), &mut errors);
                let weight = match c.weight {
                    None => {
                        errors.push(FieldError::new(format!("{at}.weight"), "is required"));
                        0.0
                    }
                    Some(w) => {
                        if !(w.is_finite() && w > 0.0) {
                            errors.push(FieldError::new(
                                format!("{at}.weight"),
                                "must be a number greater than 0",
                            ));
                        }
                        w
                    }
                };
                let kind = match c.kind {
                    None => {
                        errors.push(FieldError::new(
                            format!("{at}.type"),
                            "is required (\"rule\" or \"question\")",
                        ));
                        None
                    }
                    Some(RawKind::Question) => {
                        for (present, field) in [
                            (c.speaker.is_some(), "speaker"),
                            (c.mode.is_some(), "match"),
                            (c.phrases.is_some(), "phrases"),
                            (c.within.is_some(), "within"),
                        ] {
                            if present {
                                errors.push(FieldError::new(
                                    format!("{at}.{field}"),
                                    "is not allowed for a question criterion",
                                ));
                            }
                        }
                        let question =
                            check_text(c.question, &format!("{at}.question"), &mut errors);
                        Some(CriterionKind::Question { question })
                    }
                    Some(RawKind::Rule) => {
                        if c.question.is_some() {
                            errors.push(FieldError::new(
                                format!("{at}.question"),
                                "is only allowed for a question criterion",
                            ));
                        }
                        let rule =
                            check_rule(c.speaker, c.mode, c.phrases, c.within, &at, &mut errors);
                        Some(CriterionKind::Rule(rule))
                    }
                };
                if let Some(kind) = kind {
                    criteria.push(Criterion {
                        id,
                        name,
                        weight,
                        kind,
                    });
                }
            }
        }
    }

    let mut categories = Vec::new();
    let mut seen = HashSet::new();
    for (i, c) in raw.categories.into_iter().enumerate() {
        let at = format!("categories[{i}]");
        let id = check_id(c.id, &at, &mut seen, &mut errors);
        let name = check_text(c.name, &format!("{at}.name"), &mut errors);
        let rule = check_rule(c.speaker, c.mode, c.phrases, c.within, &at, &mut errors);
        categories.push(Category { id, name, rule });
    }

    if errors.is_empty() {
        Ok(QaConfig {
            version,
            pass_mark,
            criteria,
            categories,
        })
    } else {
        Err(errors)
    }
}

fn check_id(
    id: Option<String>,
    at: &str,
    seen: &mut HashSet<String>,
    errors: &mut Vec<FieldError>,
) -> String {
    let field = format!("{at}.id");
    let Some(id) = id else {
        errors.push(FieldError::new(field, "is required"));
        return String::new();
    };
    let well_formed = !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !well_formed {
        errors.push(FieldError::new(
            field,
            format!("must be 1 to {MAX_ID_CHARS} of a-z, 0-9, _ and -"),
        ));
    } else if !seen.insert(id.clone()) {
        errors.push(FieldError::new(field, format!("`{id}` is used twice")));
    }
    id
}

fn check_text(text: Option<String>, field: &str, errors: &mut Vec<FieldError>) -> String {
    match text {
        None => {
            errors.push(FieldError::new(field, "is required"));
            String::new()
        }
        Some(t) => {
            if t.trim().is_empty() {
                errors.push(FieldError::new(field, "must not be blank"));
            } else if t.chars().count() > MAX_TEXT_CHARS {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {MAX_TEXT_CHARS} characters"),
                ));
            }
            t
        }
    }
}

fn check_rule(
    speaker: Option<SpeakerFilter>,
    mode: Option<MatchMode>,
    phrases: Option<Vec<String>>,
    within: Option<RawWindow>,
    at: &str,
    errors: &mut Vec<FieldError>,
) -> Rule {
    let mode = mode.unwrap_or_else(|| {
        errors.push(FieldError::new(
            format!("{at}.match"),
            "is required (\"any\", \"all\" or \"none\")",
        ));
        MatchMode::Any
    });
    let phrases = match phrases {
        None => {
            errors.push(FieldError::new(format!("{at}.phrases"), "is required"));
            Vec::new()
        }
        Some(list) => {
            if list.is_empty() {
                errors.push(FieldError::new(
                    format!("{at}.phrases"),
                    "needs at least one phrase",
                ));
            }
            for (j, p) in list.iter().enumerate() {
                let field = format!("{at}.phrases[{j}]");
                if p.trim().is_empty() {
                    errors.push(FieldError::new(field, "must not be blank"));
                } else if p.chars().count() > MAX_PHRASE_CHARS {
                    errors.push(FieldError::new(
                        field,
                        format!("must be at most {MAX_PHRASE_CHARS} characters"),
                    ));
                } else if words(p).is_empty() {
                    errors.push(FieldError::new(
                        field,
                        "must contain a word (letters or digits)",
                    ));
                }
            }
            list
        }
    };
    let within = within.and_then(|w| {
        let (name, s, window) = match (w.first_seconds, w.last_seconds) {
            (Some(s), None) => ("first_seconds", s, Window::FirstSeconds(s)),
            (None, Some(s)) => ("last_seconds", s, Window::LastSeconds(s)),
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    format!("{at}.within"),
                    "give either first_seconds or last_seconds, not both",
                ));
                return None;
            }
            (None, None) => {
                errors.push(FieldError::new(
                    format!("{at}.within"),
                    "needs first_seconds or last_seconds",
                ));
                return None;
            }
        };
        if !(s.is_finite() && s > 0.0) {
            errors.push(FieldError::new(
                format!("{at}.within.{name}"),
                "must be a number of seconds greater than 0",
            ));
        }
        Some(window)
    });
    Rule {
        speaker: speaker.unwrap_or_default(),
        mode,
        phrases,
        within,
    }
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QaResult {
    /// The rubric's `version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// In the rubric's order.
    pub criteria: Vec<CriterionResult>,
    /// 0 to 100: the weighted share of passed criteria among those
    /// evaluated; `None` when none was.
    pub score: Option<f64>,
    /// `score >= pass_mark`; `None` without a score.
    pub passed: Option<bool>,
    /// The categories whose rule holds, in the rubric's order.
    pub categories: Vec<CategoryMatch>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    NotEvaluated,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CriterionResult {
    pub id: String,
    pub name: String,
    pub weight: f64,
    pub status: Status,
    /// Every occurrence of a phrase in a turn the rule looks at, by turn then
    /// by the phrase's place in the rule: what made an `any`/`all` rule pass,
    /// or a `none` rule fail.
    pub evidence: Vec<Evidence>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Index into the transcript's turns.
    pub turn: usize,
    /// The phrase as the rubric writes it; empty for a turn an LLM's
    /// answer to a question rests on.
    pub phrase: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CategoryMatch {
    pub id: String,
    pub name: String,
    /// The turns where a phrase occurs (none for a `none` category).
    pub turns: Vec<usize>,
}

/// Scores `turns` with `config`. `call_duration_s` places the
/// `last_seconds` windows; without it (or when invalid) the call ends at
/// its last timed turn. A transcript with no words at all evaluates nothing:
/// every criterion is `not_evaluated`, no category matches, and there is no
/// score. Question criteria are always `not_evaluated` and left out of the
/// score.
pub fn evaluate(config: &QaConfig, turns: &[Turn], call_duration_s: Option<f64>) -> QaResult {
    let turn_words: Vec<Vec<String>> = turns.iter().map(|t| words(&t.text)).collect();
    let heard = turn_words.iter().any(|w| !w.is_empty());
    let timeline = Timeline::new(turns, call_duration_s);

    let mut criteria = Vec::with_capacity(config.criteria.len());
    let (mut evaluated, mut passed_weight) = (0.0, 0.0);
    for c in &config.criteria {
        let (status, evidence) = match &c.kind {
            CriterionKind::Rule(rule) if heard => {
                let (holds, evidence) = apply(rule, turns, &turn_words, &timeline);
                evaluated += c.weight;
                if holds {
                    passed_weight += c.weight;
                    (Status::Passed, evidence)
                } else {
                    (Status::Failed, evidence)
                }
            }
            _ => (Status::NotEvaluated, Vec::new()),
        };
        criteria.push(CriterionResult {
            id: c.id.clone(),
            name: c.name.clone(),
            weight: c.weight,
            status,
            evidence,
        });
    }
    let score = (evaluated > 0.0 && evaluated.is_finite())
        .then(|| (passed_weight / evaluated * 100.0).clamp(0.0, 100.0));
    let passed = score.map(|s| s >= config.pass_mark);

    let mut categories = Vec::new();
    if heard {
        for cat in &config.categories {
            let (holds, evidence) = apply(&cat.rule, turns, &turn_words, &timeline);
            if holds {
                let mut found: Vec<usize> = evidence.iter().map(|e| e.turn).collect();
                found.dedup();
                categories.push(CategoryMatch {
                    id: cat.id.clone(),
                    name: cat.name.clone(),
                    turns: found,
                });
            }
        }
    }

    QaResult {
        version: config.version.clone(),
        criteria,
        score,
        passed,
        categories,
    }
}

/// An answer to one question criterion (from an LLM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub id: String,
    pub yes: bool,
    /// Turns the answer rests on (indices into the transcript).
    pub turns: Vec<usize>,
}

/// Fills question criteria in from `answers` and recomputes the score.
/// Answers to unknown ids, or to criteria that are not questions, are
/// ignored; evidence turns outside the transcript are dropped; a question
/// without an answer stays `not_evaluated`.
pub fn answer_questions(
    result: &mut QaResult,
    config: &QaConfig,
    answers: &[Answer],
    turns: usize,
) {
    for (c, r) in config.criteria.iter().zip(result.criteria.iter_mut()) {
        let CriterionKind::Question { .. } = &c.kind else {
            continue;
        };
        if let Some(a) = answers.iter().find(|a| a.id == c.id) {
            r.status = if a.yes {
                Status::Passed
            } else {
                Status::Failed
            };
            r.evidence = a
                .turns
                .iter()
                .filter(|&&t| t < turns)
                .map(|&t| Evidence {
                    turn: t,
                    phrase: String::new(),
                })
                .collect();
        }
    }
    let (mut evaluated, mut passed_weight) = (0.0, 0.0);
    for r in &result.criteria {
        match r.status {
            Status::Passed => {
                evaluated += r.weight;
                passed_weight += r.weight;
            }
            Status::Failed => evaluated += r.weight,
            Status::NotEvaluated => {}
        }
    }
    result.score = (evaluated > 0.0 && evaluated.is_finite())
        .then(|| (passed_weight / evaluated * 100.0).clamp(0.0, 100.0));
    result.passed = result.score.map(|s| s >= config.pass_mark);
}

/// Whether `rule` holds, and every phrase occurrence it saw.
fn apply(
    rule: &Rule,
    turns: &[Turn],
    turn_words: &[Vec<String>],
    timeline: &Timeline,
) -> (bool, Vec<Evidence>) {
    let phrases: Vec<Vec<String>> = rule.phrases.iter().map(|p| words(p)).collect();
    let mut said = vec![false; phrases.len()];
    let mut evidence = Vec::new();
    for (i, turn) in turns.iter().enumerate() {
        if !rule.speaker.admits(turn.speaker) || !timeline.within(i, rule.within) {
            continue;
        }
        for (j, phrase) in phrases.iter().enumerate() {
            if contains(&turn_words[i], phrase) {
                said[j] = true;
                evidence.push(Evidence {
                    turn: i,
                    phrase: rule.phrases[j].clone(),
                });
            }
        }
    }
    let holds = match rule.mode {
        MatchMode::Any => said.iter().any(|&s| s),
        MatchMode::All => !said.is_empty() && said.iter().all(|&s| s),
        MatchMode::None => !said.iter().any(|&s| s),
    };
    (holds, evidence)
}

/// Lower-cased words: runs of letters and digits, with apostrophes inside a
/// word kept (typographic ones read as `'`).
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        while cur.ends_with('\'') {
            cur.pop();
        }
        if !cur.is_empty() {
            out.push(std::mem::take(cur));
        }
        cur.clear();
    };
    for ch in text.chars() {
        // Transcripts are mostly ASCII: lower-case it without the Unicode tables.
        if ch.is_ascii() {
            if ch.is_ascii_alphanumeric() {
                cur.push(ch.to_ascii_lowercase());
            } else if ch == '\'' && !cur.is_empty() {
                cur.push('\'');
            } else {
                flush(&mut cur, &mut out);
            }
            continue;
        }
        let ch = match ch {
            '\u{2019}' | '\u{2018}' | '\u{02BC}' => '\'',
            c => c,
        };
        if ch.is_alphanumeric() {
            cur.extend(ch.to_lowercase());
        } else if ch == '\'' && !cur.is_empty() {
            cur.push('\'');
        } else {
            flush(&mut cur, &mut out);
        }
    }
    flush(&mut cur, &mut out);
    out
}

fn contains(hay: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Where each turn lies in time, as far as can be told.
struct Timeline {
    /// Bounds on each turn's start and end: `(start_lo, start_hi, end_lo,
    /// end_hi)`, infinite where unknown.
    bounds: Vec<(f64, f64, f64, f64)>,
    /// The end of the call, when known.
    duration: Option<f64>,
}

impl Timeline {
    fn new(turns: &[Turn], call_duration_s: Option<f64>) -> Self {
        let known = |v: Option<f64>| v.filter(|x| x.is_finite());
        let n = turns.len();
        // Transcript order is time order: a turn starts no earlier than the
        // turns before it started, and ends no later than those after it end.
        let mut bounds = vec![
            (
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY
            );
            n
        ];
        let (mut prev_start, mut prev_time) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
        for (i, t) in turns.iter().enumerate() {
            let (s, e) = (known(t.start), known(t.end));
            let b = &mut bounds[i];
            b.0 = s.unwrap_or(prev_start);
            b.2 = e.unwrap_or_else(|| s.unwrap_or(prev_time).max(prev_time));
            if let Some(s) = s {
                prev_start = prev_start.max(s);
                prev_time = prev_time.max(s);
            }
            if let Some(e) = e {
                prev_time = prev_time.max(e);
            }
        }
        let (mut next_start, mut next_end) = (f64::INFINITY, f64::INFINITY);
        for (i, t) in turns.iter().enumerate().rev() {
            let (s, e) = (known(t.start), known(t.end));
            let b = &mut bounds[i];
            b.1 = s.unwrap_or_else(|| e.unwrap_or(next_start).min(next_start));
            b.3 = e.unwrap_or(next_end);
            if let Some(s) = s {
                next_start = next_start.min(s);
            }
            if let Some(e) = e {
                next_end = next_end.min(e);
            }
        }
        let heard_until = turns
            .iter()
            .flat_map(|t| [known(t.start), known(t.end)])
            .flatten()
            .fold(None, |acc: Option<f64>, x| {
                Some(acc.map_or(x, |a| a.max(x)))
            });
        let given = known(call_duration_s).filter(|d| *d > 0.0);
        let duration = match (given, heard_until) {
            (Some(d), Some(h)) => Some(d.max(h)),
            (d, h) => d.or(h),
        };
        Timeline { bounds, duration }
    }

    fn within(&self, i: usize, window: Option<Window>) -> bool {
        let (start_lo, start_hi, end_lo, end_hi) = self.bounds[i];
        match window {
            None => true,
            Some(Window::FirstSeconds(n)) => {
                if start_hi < n {
                    true
                } else {
                    // Outside when surely starting at or after n; undecided
                    // counts as inside.
                    start_lo < n
                }
            }
            Some(Window::LastSeconds(n)) => {
                let Some(d) = self.duration else {
                    return true;
                };
                let cutoff = d - n;
                if end_lo > cutoff {
                    true
                } else {
                    end_hi > cutoff
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn turn(speaker: Speaker, text: &str, start: f64, end: f64) -> Turn {
        Turn {
            speaker,
            text: text.to_owned(),
            start: Some(start),
            end: Some(end),
            words: Vec::new(),
        }
    }

    fn untimed(speaker: Speaker, text: &str) -> Turn {
        Turn {
            speaker,
            text: text.to_owned(),
            start: None,
            end: None,
            words: Vec::new(),
        }
    }

    const INSURANCE: &str = r#"{
      "version": "2026-11-insurance-v3",
      "pass_mark": 80,
      "criteria": [
        {"id": "greeting", "name": "Greets the caller", "weight": 10, "type": "rule",
         "speaker": "agent", "match": "any",
         "phrases": ["thank you for calling", "good morning", "good afternoon"],
         "within": {"first_seconds": 30}},
        {"id": "identity", "name": "Verifies identity", "weight": 20, "type": "rule",
         "speaker": "agent", "match": "all", "phrases": ["policy number", "date of birth"]},
        {"id": "recording-disclosure", "name": "Discloses recording", "weight": 15,
         "type": "rule", "speaker": "agent", "match": "any",
         "phrases": ["this call is recorded", "this call may be recorded"],
         "within": {"first_seconds": 60}},
        {"id": "no_guarantees", "name": "Makes no guarantees", "weight": 25, "type": "rule",
         "speaker": "agent", "match": "none", "phrases": ["guarantee", "promise you"]},
        {"id": "closing", "name": "Offers further help", "weight": 10, "type": "rule",
         "speaker": "agent", "match": "any", "phrases": ["anything else", "have a great day"],
         "within": {"last_seconds": 45}},
        {"id": "empathy", "name": "Acknowledges frustration", "weight": 20, "type": "question",
         "question": "Did the agent acknowledge the customer's frustration?"}
      ],
      "categories": [
        {"id": "cancellation", "name": "Cancellation intent", "speaker": "customer",
         "match": "any", "phrases": ["cancel", "cancellation"]},
        {"id": "complaint", "name": "Complaint", "speaker": "customer", "match": "any",
         "phrases": ["unacceptable", "complaint"]},
        {"id": "competitor", "name": "Mentions a competitor", "speaker": "any",
         "match": "any", "phrases": ["geico", "progressive"]},
        {"id": "no-claim", "name": "No claim discussed", "match": "none",
         "phrases": ["claim"]}
      ]
    }"#;

    fn insurance_call() -> Vec<Turn> {
        use Speaker::*;
        vec![
            turn(Agent, "Good morning, thank you for calling Acme Insurance. This call is recorded for quality.", 0.0, 6.0),
            turn(Customer, "Hi, I want to CANCEL my policy. This is unacceptable, my premium went up again!", 6.0, 14.0),
            turn(Agent, "I'm sorry to hear that. Can I have your policy-number and date of birth?", 14.0, 22.0),
            turn(Customer, "It's AC-1234, born March 3rd.", 22.0, 30.0),
            turn(Agent, "Thanks. I can offer a loyalty discount, and I guarantee your rate won't rise next year.", 30.0, 50.0),
            turn(Customer, "Fine, I'll stay. Can you guarantee that in writing?", 50.0, 60.0),
            turn(Agent, "Of course. Is there anything else I can help with?", 150.0, 170.0),
            turn(Customer, "No, thanks. Have a great day.", 170.0, 178.0),
        ]
    }

    fn ev(turn: usize, phrase: &str) -> Evidence {
        Evidence {
            turn,
            phrase: phrase.to_owned(),
        }
    }

    fn status_of(r: &QaResult, id: &str) -> (Status, Vec<Evidence>) {
        let c = r.criteria.iter().find(|c| c.id == id).expect(id);
        (c.status, c.evidence.clone())
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    /// A one-criterion rubric around `rule` (a JSON object's members).
    fn one_rule(rule: &str) -> QaConfig {
        let json = format!(
            r#"{{"pass_mark": 50, "criteria": [{{"id": "r", "name": "R", "weight": 1,
                "type": "rule", {rule}}}]}}"#
        );
        parse_config(json.as_bytes()).unwrap()
    }

    #[test]
    fn insurance_rubric_scores_the_call() {
        let config = parse_config(INSURANCE.as_bytes()).unwrap();
        let r = evaluate(&config, &insurance_call(), Some(180.0));

        assert_eq!(r.version.as_deref(), Some("2026-11-insurance-v3"));
        assert_eq!(
            status_of(&r, "greeting"),
            (
                Status::Passed,
                vec![ev(0, "thank you for calling"), ev(0, "good morning")]
            )
        );
        // "policy-number" matches "policy number": punctuation is a word break.
        assert_eq!(
            status_of(&r, "identity"),
            (
                Status::Passed,
                vec![ev(2, "policy number"), ev(2, "date of birth")]
            )
        );
        assert_eq!(
            status_of(&r, "recording-disclosure"),
            (Status::Passed, vec![ev(0, "this call is recorded")])
        );
        // The customer's "guarantee" (turn 5) is not the agent's.
        assert_eq!(
            status_of(&r, "no_guarantees"),
            (Status::Failed, vec![ev(4, "guarantee")])
        );
        // The customer's "have a great day" does not count for the agent.
        assert_eq!(
            status_of(&r, "closing"),
            (Status::Passed, vec![ev(6, "anything else")])
        );
        assert_eq!(status_of(&r, "empathy"), (Status::NotEvaluated, vec![]));

        // Passed 10 + 20 + 15 + 10 of 80 evaluated (the question is left out).
        assert_eq!(r.score, Some(68.75));
        assert_eq!(r.passed, Some(false));

        let cats: Vec<(&str, Vec<usize>)> = r
            .categories
            .iter()
            .map(|c| (c.id.as_str(), c.turns.clone()))
            .collect();
        assert_eq!(
            cats,
            vec![
                ("cancellation", vec![1]),
                ("complaint", vec![1]),
                ("no-claim", vec![])
            ]
        );

        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["criteria"][5]["status"], "not_evaluated");
        assert_eq!(json["criteria"][3]["evidence"][0]["turn"], 4);
    }

    #[test]
    fn config_round_trips_through_serde() {
        let config = parse_config(INSURANCE.as_bytes()).unwrap();
        let json = serde_json::to_vec(&config).unwrap();
        assert_eq!(parse_config(&json).unwrap(), config);
        let via_serde: QaConfig = serde_json::from_slice(&json).unwrap();
        assert_eq!(via_serde, config);
        assert!(serde_json::from_str::<QaConfig>(r#"{"pass_mark": 1, "criteria": []}"#).is_err());
    }

    #[test]
    fn semantic_errors_are_all_reported_with_paths() {
        let json = r#"{
          "pass_mark": 150,
          "criteria": [
            {"id": "Greeting!", "name": "G", "weight": 0, "type": "rule", "match": "any",
             "phrases": ["hello", "  ", "..."], "within": {"first_seconds": 0}},
            {"id": "dup", "name": " ", "weight": -2, "type": "rule", "match": "all",
             "phrases": []},
            {"id": "dup", "name": "Q", "weight": 1, "type": "question", "question": "Ok?",
             "phrases": ["x"]},
            {"name": "No id", "weight": 1, "type": "rule", "phrases": ["x"]},
            {"id": "long", "name": "L", "weight": 1, "type": "rule", "match": "any",
             "phrases": ["PHRASE"], "question": "why?", "within": {"last_seconds": -5}}
          ],
          "categories": [
            {"id": "", "name": "C", "match": "none"}
          ]
        }"#;
        let errors = parse_config(json.as_bytes()).unwrap_err();
        assert_eq!(
            fields(&errors),
            vec![
                "pass_mark",
                "criteria[0].id",
                "criteria[0].weight",
                "criteria[0].phrases[1]",
                "criteria[0].phrases[2]",
                "criteria[0].within.first_seconds",
                "criteria[1].name",
                "criteria[1].weight",
                "criteria[1].phrases",
                "criteria[2].id",
                "criteria[2].phrases",
                "criteria[3].id",
                "criteria[3].match",
                "criteria[4].question",
                "criteria[4].within.last_seconds",
                "categories[0].id",
                "categories[0].phrases",
            ],
            "{errors:#?}"
        );
        assert!(errors[9].message.contains("used twice"));
    }

    #[test]
    fn long_phrases_missing_fields_and_empty_criteria_are_refused() {
        let long = "a".repeat(201);
        let json = format!(
            r#"{{"criteria": [{{"id": "x", "name": "X", "weight": 1, "type": "rule",
                "match": "any", "phrases": ["{long}"]}}]}}"#
        );
        let errors = parse_config(json.as_bytes()).unwrap_err();
        assert_eq!(fields(&errors), vec!["pass_mark", "criteria[0].phrases[0]"]);

        let errors = parse_config(br#"{"pass_mark": 70, "criteria": []}"#).unwrap_err();
        assert_eq!(fields(&errors), vec!["criteria"]);

        let errors = parse_config(br#"{"pass_mark": 70}"#).unwrap_err();
        assert_eq!(fields(&errors), vec!["criteria"]);
    }

    #[test]
    fn shape_errors_name_the_field() {
        let base = |criterion: &str| {
            format!(
                r#"{{"pass_mark": 70, "criteria": [{{"id": "a", "name": "A", "weight": 1, "type": "rule", "match": "any", "phrases": ["x"]}}, {criterion}]}}"#
            )
        };
        let case = |criterion: &str| {
            let errors = parse_config(base(criterion).as_bytes()).unwrap_err();
            assert_eq!(errors.len(), 1, "{errors:?}");
            errors[0].clone()
        };

        let e = case(
            r#"{"id": "b", "name": "B", "weight": 1, "type": "rule", "speaker": "manager", "match": "any", "phrases": ["x"]}"#,
        );
        assert_eq!(e.field, "criteria[1].speaker");
        assert!(e.message.contains("manager"), "{e}");

        let e = case(
            r#"{"id": "b", "name": "B", "weigth": 1, "type": "rule", "match": "any", "phrases": ["x"]}"#,
        );
        assert_eq!(e.field, "criteria[1].weigth");

        let e = case(
            r#"{"id": "b", "name": "B", "weight": "heavy", "type": "rule", "match": "any", "phrases": ["x"]}"#,
        );
        assert_eq!(e.field, "criteria[1].weight");

        let e = case(r#"{"id": "b", "name": "B", "weight": 1, "type": "llm", "question": "?"}"#);
        assert_eq!(e.field, "criteria[1].type");

        let e = case(
            r#"{"id": "b", "name": "B", "weight": 1, "type": "rule", "match": "most", "phrases": ["x"]}"#,
        );
        assert_eq!(e.field, "criteria[1].match");

        let e = case(
            r#"{"id": "b", "name": "B", "weight": 1, "type": "rule", "match": "any", "phrases": ["x", 3]}"#,
        );
        assert_eq!(e.field, "criteria[1].phrases[1]");

        let e = case(
            r#"{"id": "b", "name": "B", "weight": 1, "type": "rule", "match": "any", "phrases": ["x"], "within": {"middle_seconds": 3}}"#,
        );
        assert_eq!(e.field, "criteria[1].within.middle_seconds");

        let e = case(
            r#"{"id": "b", "name": "B", "weight": 1, "type": "rule", "match": "any", "phrases": ["x"], "within": {"first_seconds": 3, "last_seconds": 4}}"#,
        );
        assert_eq!(e.field, "criteria[1].within");
        let e = case(
            r#"{"id": "b", "name": "B", "weight": 1, "type": "rule", "match": "any", "phrases": ["x"], "within": {}}"#,
        );
        assert_eq!(e.field, "criteria[1].within");

        let errors = parse_config(br#"{"pass_mark": 70, "criteria": [], "extra": 1}"#).unwrap_err();
        assert_eq!(fields(&errors), vec!["extra"]);

        let errors = parse_config(b"{\"pass_mark\": 70,").unwrap_err();
        assert_eq!(fields(&errors), vec!["body"]);
        let errors = parse_config(b"[]").unwrap_err();
        assert_eq!(fields(&errors), vec!["body"]);
        let errors = parse_config(b" [70, []]").unwrap_err();
        assert_eq!(fields(&errors), vec!["body"]);
        let errors = parse_config(br#"{"pass_mark": 70, "criteria": []} trailing"#).unwrap_err();
        assert_eq!(fields(&errors), vec!["body"]);
    }

    #[test]
    fn phrases_match_whole_words_case_insensitively() {
        use Speaker::*;
        let config = one_rule(r#""match": "any", "phrases": ["Don't worry", "cat"]"#);
        let r = |text: &str| evaluate(&config, &[untimed(Agent, text)], None).criteria[0].status;
        assert_eq!(r("DON’T   worry, sir!"), Status::Passed);
        assert_eq!(r("the CAT sat"), Status::Passed);
        assert_eq!(r("concatenate, cats"), Status::Failed);
        assert_eq!(r("don't, worry"), Status::Passed);
        assert_eq!(r("don't really worry"), Status::Failed);
    }

    #[test]
    fn all_needs_every_phrase_somewhere() {
        use Speaker::*;
        let config =
            one_rule(r#""speaker": "agent", "match": "all", "phrases": ["name", "address"]"#);
        let turns = [
            untimed(Agent, "your name please"),
            untimed(Customer, "my address is here"),
            untimed(Agent, "and the address?"),
        ];
        let r = evaluate(&config, &turns, None);
        assert_eq!(
            status_of(&r, "r"),
            (Status::Passed, vec![ev(0, "name"), ev(2, "address")])
        );
        let r = evaluate(&config, &turns[..2], None);
        assert_eq!(status_of(&r, "r"), (Status::Failed, vec![ev(0, "name")]));
    }

    #[test]
    fn none_rules_list_the_offending_turns() {
        use Speaker::*;
        let config = one_rule(r#""match": "none", "phrases": ["stupid", "shut up"]"#);
        let turns = [
            untimed(Agent, "hello"),
            untimed(Customer, "this is stupid"),
            untimed(Agent, "please don't say shut up"),
        ];
        let r = evaluate(&config, &turns, None);
        assert_eq!(
            status_of(&r, "r"),
            (Status::Failed, vec![ev(1, "stupid"), ev(2, "shut up")])
        );
        assert_eq!(r.score, Some(0.0));
        assert_eq!(r.passed, Some(false));
        let r = evaluate(&config, &turns[..1], None);
        assert_eq!(status_of(&r, "r"), (Status::Passed, vec![]));
        assert_eq!(r.score, Some(100.0));
        assert_eq!(r.passed, Some(true));
    }

    #[test]
    fn first_seconds_window() {
        use Speaker::*;
        let config =
            one_rule(r#""match": "any", "phrases": ["hello"], "within": {"first_seconds": 10}"#);
        let status = |turns: &[Turn]| evaluate(&config, turns, None).criteria[0].status;
        assert_eq!(status(&[turn(Agent, "hello", 9.5, 20.0)]), Status::Passed);
        assert_eq!(
            status(&[
                turn(Agent, "hi", 0.0, 5.0),
                turn(Agent, "hello", 10.0, 12.0)
            ]),
            Status::Failed
        );
        // No times at all: the window cannot be decided, so the turn counts.
        assert_eq!(status(&[untimed(Agent, "hello")]), Status::Passed);
        // An untimed turn after a turn starting at 30 s is outside.
        assert_eq!(
            status(&[turn(Agent, "hi", 30.0, 35.0), untimed(Agent, "hello")]),
            Status::Failed
        );
        // An untimed turn before one starting at 5 s is inside.
        assert_eq!(
            status(&[untimed(Agent, "hello"), turn(Agent, "hi", 5.0, 6.0)]),
            Status::Passed
        );
        // Between 5 s and 40 s: undecided, so inside.
        assert_eq!(
            status(&[
                turn(Agent, "a", 5.0, 6.0),
                untimed(Agent, "hello"),
                turn(Agent, "b", 40.0, 41.0)
            ]),
            Status::Passed
        );
        // Only an end, before 10 s: it started before it ended.
        let mut t = untimed(Agent, "hello");
        t.end = Some(8.0);
        assert_eq!(status(&[t.clone()]), Status::Passed);
        // Only an end, after a turn starting at 12 s: it started at 12 s or later.
        t.end = Some(20.0);
        assert_eq!(
            status(&[turn(Agent, "x", 12.0, 13.0), t.clone()]),
            Status::Failed
        );
        assert_eq!(status(&[t]), Status::Passed);
    }

    #[test]
    fn last_seconds_window() {
        use Speaker::*;
        let config =
            one_rule(r#""match": "any", "phrases": ["bye"], "within": {"last_seconds": 30}"#);
        let status =
            |turns: &[Turn], d: Option<f64>| evaluate(&config, turns, d).criteria[0].status;
        let early_bye = [
            turn(Agent, "bye", 10.0, 20.0),
            turn(Customer, "ok", 20.0, 25.0),
        ];
        // Without a duration the call ends at 25 s, so 20 s is in the last 30.
        assert_eq!(status(&early_bye, None), Status::Passed);
        // A 100 s call: the window starts at 70 s.
        assert_eq!(status(&early_bye, Some(100.0)), Status::Failed);
        assert_eq!(status(&early_bye, Some(f64::NAN)), Status::Passed);
        // A duration shorter than what was heard is stretched to it.
        assert_eq!(
            status(&[turn(Agent, "bye", 80.0, 90.0)], Some(10.0)),
            Status::Passed
        );
        assert_eq!(
            status(&[turn(Agent, "bye", 60.0, 70.0)], Some(100.0)),
            Status::Failed
        );
        assert_eq!(
            status(&[turn(Agent, "bye", 60.0, 70.1)], Some(100.0)),
            Status::Passed
        );
        // Untimed: undecidable with no times at all.
        assert_eq!(
            status(&[untimed(Agent, "bye")], Some(100.0)),
            Status::Passed
        );
        // Untimed turn before a turn ending at 40 s of a 100 s call: outside.
        assert_eq!(
            status(
                &[untimed(Agent, "bye"), turn(Agent, "x", 30.0, 40.0)],
                Some(100.0)
            ),
            Status::Failed
        );
        // Untimed turn after a turn ending at 80 s: inside.
        assert_eq!(
            status(
                &[turn(Agent, "x", 75.0, 80.0), untimed(Agent, "bye")],
                Some(100.0)
            ),
            Status::Passed
        );
    }

    #[test]
    fn categories_tag_the_call() {
        use Speaker::*;
        let json = r#"{"pass_mark": 0, "criteria": [{"id": "q", "name": "Q", "weight": 1,
            "type": "question", "question": "Was it good?"}],
          "categories": [
            {"id": "billing", "name": "Billing", "match": "any", "phrases": ["invoice", "bill"]},
            {"id": "refund", "name": "Refund", "speaker": "customer", "match": "all",
             "phrases": ["refund", "card"]},
            {"id": "agent-refund", "name": "Agent refund", "speaker": "agent", "match": "any",
             "phrases": ["refund"]},
            {"id": "polite", "name": "No swearing", "match": "none", "phrases": ["damn"]}
          ]}"#;
        let config = parse_config(json.as_bytes()).unwrap();
        let turns = [
            untimed(Customer, "My bill is wrong, I want a refund"),
            untimed(Agent, "Which invoice?"),
            untimed(Customer, "March. Put it back on my card. Bill me nothing!"),
        ];
        let r = evaluate(&config, &turns, None);
        let cats: Vec<(&str, Vec<usize>)> = r
            .categories
            .iter()
            .map(|c| (c.id.as_str(), c.turns.clone()))
            .collect();
        assert_eq!(
            cats,
            vec![
                ("billing", vec![0, 1, 2]),
                ("refund", vec![0, 2]),
                ("polite", vec![])
            ]
        );
        // Only a question: nothing evaluated, no score.
        assert_eq!(r.criteria[0].status, Status::NotEvaluated);
        assert_eq!(r.score, None);
        assert_eq!(r.passed, None);
    }

    #[test]
    fn empty_transcript_evaluates_nothing() {
        let config = parse_config(INSURANCE.as_bytes()).unwrap();
        for turns in [vec![], vec![untimed(Speaker::Agent, " ... ")]] {
            let r = evaluate(&config, &turns, Some(60.0));
            assert!(r.criteria.iter().all(|c| c.status == Status::NotEvaluated));
            assert!(r.criteria.iter().all(|c| c.evidence.is_empty()));
            assert_eq!(r.score, None);
            assert_eq!(r.passed, None);
            assert!(r.categories.is_empty());
        }
    }

    #[test]
    fn question_criteria_are_left_out_of_the_score() {
        use Speaker::*;
        let json = r#"{"pass_mark": 100, "criteria": [
            {"id": "hello", "name": "Hello", "weight": 3, "type": "rule", "match": "any",
             "phrases": ["hello"]},
            {"id": "q", "name": "Q", "weight": 97, "type": "question", "question": "Kind?"}]}"#;
        let config = parse_config(json.as_bytes()).unwrap();
        let r = evaluate(&config, &[untimed(Agent, "Hello!")], None);
        assert_eq!(r.score, Some(100.0));
        assert_eq!(r.passed, Some(true));
        assert_eq!(r.criteria[1].status, Status::NotEvaluated);
    }

    fn any_f64() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            (-10.0f64..500.0).prop_map(Some),
            any::<f64>().prop_map(Some),
        ]
    }

    fn any_turn() -> impl Strategy<Value = Turn> {
        (
            any::<bool>(),
            "[a-zA-Z '’,.!-]{0,40}|\\PC{0,20}",
            any_f64(),
            any_f64(),
        )
            .prop_map(|(agent, text, start, end)| Turn {
                speaker: if agent {
                    Speaker::Agent
                } else {
                    Speaker::Customer
                },
                text,
                start,
                end,
                words: Vec::new(),
            })
    }

    proptest! {
        #[test]
        fn evaluate_never_panics(
            turns in proptest::collection::vec(any_turn(), 0..12),
            duration in any_f64(),
        ) {
            let config = parse_config(INSURANCE.as_bytes()).unwrap();
            let r = evaluate(&config, &turns, duration);
            prop_assert_eq!(r.criteria.len(), config.criteria.len());
            if let Some(s) = r.score {
                prop_assert!((0.0..=100.0).contains(&s));
            }
            for c in &r.criteria {
                for e in &c.evidence {
                    prop_assert!(e.turn < turns.len());
                }
            }
            for c in &r.categories {
                for &t in &c.turns {
                    prop_assert!(t < turns.len());
                }
            }
        }
    }
    #[test]
    fn llm_answers_fill_questions_in_and_rescore() {
        let config = parse_config(
            br#"{"pass_mark": 60, "criteria": [
                {"id": "greet", "name": "Greets", "weight": 1, "type": "rule", "match": "any", "phrases": ["hello"]},
                {"id": "kind", "name": "Kind", "weight": 3, "type": "question", "question": "Was the agent kind?"},
                {"id": "solved", "name": "Solved", "weight": 1, "type": "question", "question": "Was it solved?"}]}"#,
        )
        .unwrap();
        let turns = [Turn {
            speaker: Speaker::Agent,
            text: "Hello there".into(),
            start: None,
            end: None,
            words: vec![],
        }];
        let mut r = evaluate(&config, &turns, None);
        assert_eq!(r.score, Some(100.0));
        let answers = [
            Answer {
                id: "kind".into(),
                yes: false,
                turns: vec![0, 7],
            },
            Answer {
                id: "greet".into(),
                yes: false,
                turns: vec![],
            },
            Answer {
                id: "nope".into(),
                yes: true,
                turns: vec![],
            },
        ];
        answer_questions(&mut r, &config, &answers, turns.len());
        assert_eq!(
            r.criteria[0].status,
            Status::Passed,
            "rules are not overridden"
        );
        assert_eq!(r.criteria[1].status, Status::Failed);
        assert_eq!(r.criteria[1].evidence.len(), 1, "turn 7 does not exist");
        assert_eq!(r.criteria[2].status, Status::NotEvaluated);
        assert_eq!(r.score, Some(25.0));
        assert_eq!(r.passed, Some(false));
    }
}
