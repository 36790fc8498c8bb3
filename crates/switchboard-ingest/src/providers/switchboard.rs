//! Switchboard's own call JSON (docs/call-json.md): what `POST /api/v1/calls`,
//! Standard Webhooks senders and imports send. Validated strictly, every bad
//! field reported at once.

use serde::Deserialize;
use serde_json::Value;
use switchboard_core::{AgentId, E164};

use super::{external_id, parse_json, vapi::rfc3339_ms};
use crate::model::{
    CallFields, CallUpdate, Cost, Direction, ParseError, ProviderAnalysis, Speaker, Stage, Turn,
    Turns, Word,
};

/// The documented call JSON, as sent. Unknown members are ignored here and
/// kept in the raw payload.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct CallDocument {
    /// The sender's id of the call; the same id again updates the same call.
    pub external_id: String,
    /// A Switchboard agent id (`agt_…`) of the tenant.
    pub agent_id: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// E.164, e.g. `+14155550123`.
    pub from: String,
    pub to: String,
    /// RFC 3339.
    pub started_at: String,
    pub ended_at: Option<String>,
    /// `started`, `ended` (default) or `analyzed`.
    pub stage: Option<String>,
    /// A test call is kept but never billed. Default false.
    pub test: Option<bool>,
    /// Left out, the call keeps the turns it has; `[]` clears them.
    pub turns: Option<Vec<TurnDocument>>,
    pub recording_url: Option<String>,
    pub disconnection_reason: Option<String>,
    pub summary: Option<String>,
    pub cost: Option<Cost>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Optional, for senders that name the tenant: it must be the receiving
    /// tenant (its id or slug), or the document is refused.
    pub tenant_id: Option<String>,
    /// The same, under the name older systems use.
    pub customer_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct TurnDocument {
    /// `agent` or `customer`.
    pub speaker: Speaker,
    pub text: String,
    /// Seconds from the start of the call.
    pub start: Option<f64>,
    pub end: Option<f64>,
    #[serde(default)]
    pub words: Vec<Word>,
}

/// A validated document: the update, and the agent it names (if any).
#[derive(Clone, Debug, PartialEq)]
pub struct ValidCall {
    pub update: CallUpdate,
    pub agent_id: Option<AgentId>,
    /// The tenant the document names, by field: the receiver must check it
    /// is its own (only it knows which that is).
    pub names_tenant: Vec<(&'static str, String)>,
}

pub const MAX_TURNS: usize = 20_000;

/// Every bad field of a document, collected before answering.
#[derive(Default)]
struct Errors(Vec<ParseError>);

impl Errors {
    fn check<T>(&mut self, r: Result<T, ParseError>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }

    fn fail(&mut self, (field, message): (impl Into<String>, impl Into<String>)) {
        self.0.push(ParseError::new(field, message));
    }
}

/// Parses and validates a body.
pub fn parse(body: &[u8]) -> Result<ValidCall, Vec<ParseError>> {
    let doc: CallDocument = parse_json(body).map_err(|e| vec![e])?;
    validate(doc)
}

/// Validates a document already read as JSON (the API's body extractor
/// has checked its syntax), naming the path of a field of the wrong type.
pub fn parse_value(value: Value) -> Result<ValidCall, Vec<ParseError>> {
    let doc: CallDocument = serde_path_to_error::deserialize(value).map_err(|e| {
        vec![super::shape_error(
            &e.path().to_string(),
            &e.into_inner().to_string(),
        )]
    })?;
    validate(doc)
}

fn validate(doc: CallDocument) -> Result<ValidCall, Vec<ParseError>> {
    let mut errors = Errors::default();
    let external = errors.check(external_id("external_id", &doc.external_id));
    let agent_id = doc.agent_id.as_deref().and_then(|a| {
        errors.check(
            a.parse::<AgentId>()
                .map_err(|e| ParseError::new("agent_id", e.to_string())),
        )
    });
    let direction = errors.check(
        Direction::parse(&doc.direction)
            .ok_or_else(|| ParseError::new("direction", "expected inbound or outbound")),
    );
    let from =
        errors.check(E164::parse(&doc.from).map_err(|e| ParseError::new("from", e.to_string())));
    let to = errors.check(E164::parse(&doc.to).map_err(|e| ParseError::new("to", e.to_string())));
    let started_at = errors.check(rfc3339_ms("started_at", &doc.started_at));
    let ended_at = doc
        .ended_at
        .as_deref()
        .and_then(|t| errors.check(rfc3339_ms("ended_at", t)));
    if let (Some(s), Some(e)) = (started_at, ended_at) {
        if e < s {
            errors.fail(("ended_at", "must not be before started_at"));
        }
    }
    let stage = match doc.stage.as_deref() {
        None => Some(Stage::Ended),
        Some(s) => errors.check(
            Stage::parse(s)
                .ok_or_else(|| ParseError::new("stage", "expected started, ended or analyzed")),
        ),
    };
    let has_turns = doc.turns.is_some();
    let documents = doc.turns.unwrap_or_default();
    if documents.len() > MAX_TURNS {
        errors.fail(("turns", format!("at most {MAX_TURNS} turns")));
    }
    let mut turns = Vec::with_capacity(documents.len());
    for (i, t) in documents.into_iter().enumerate() {
        // A time the turn does not state is taken from its words, and is
        // checked (and named) as the word's.
        let start_field = match (t.start, t.words.first()) {
            (None, Some(_)) => format!("turns[{i}].words[0].start"),
            _ => format!("turns[{i}].start"),
        };
        let end_field = match (t.end, t.words.len()) {
            (None, n @ 1..) => format!("turns[{i}].words[{}].end", n - 1),
            _ => format!("turns[{i}].end"),
        };
        let turn = super::turn_bounds(Turn {
            speaker: t.speaker,
            text: t.text,
            start: t.start,
            end: t.end,
            words: t.words,
        });
        let bad_time = |v: Option<f64>| v.is_some_and(|s| !s.is_finite() || s < 0.0);
        if bad_time(turn.start) {
            errors.fail((start_field, "expected a non-negative number of seconds"));
        }
        if bad_time(turn.end) || matches!((turn.start, turn.end), (Some(s), Some(e)) if e < s) {
            errors.fail((end_field, "expected a number of seconds not before start"));
        }
        turns.push(turn);
    }
    if let Some(url) = &doc.recording_url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            errors.fail(("recording_url", "expected an http(s) URL"));
        }
    }
    if let Some(cost) = &doc.cost {
        if cost.amount_minor < 0 {
            errors.fail(("cost.amount_minor", "must not be negative"));
        }
        if cost.currency.len() != 3 || !cost.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.fail(("cost.currency", "expected an ISO 4217 code such as USD"));
        }
    }
    let metadata = errors
        .check(super::free_form("metadata", doc.metadata))
        .flatten();
    if !errors.0.is_empty() {
        return Err(errors.0);
    }
    // An event states only what its document states: a later document
    // without turns or `test` must not clear what an earlier one said.
    let turns = has_turns.then_some(turns);
    let (Some(external_id), Some(direction), Some(from), Some(to), Some(started_at), Some(stage)) =
        (external, direction, from, to, started_at, stage)
    else {
        unreachable!("every None above recorded an error");
    };
    let names_tenant = [
        ("tenant_id", doc.tenant_id),
        ("customer_id", doc.customer_id),
    ]
    .into_iter()
    .filter_map(|(field, named)| Some((field, named?)))
    .collect();
    Ok(ValidCall {
        agent_id,
        names_tenant,
        update: CallUpdate {
            external_id,
            stage,
            occurred_at: ended_at.or(Some(started_at)),
            fields: CallFields {
                provider_agent_id: None,
                direction: Some(direction),
                from: Some(from.to_string()),
                to: Some(to.to_string()),
                started_at: Some(started_at),
                ended_at,
                duration_ms: None,
                test: doc.test,
                turns: turns.map(Turns::Here),
                recording_url: doc.recording_url,
                disconnection_reason: doc.disconnection_reason,
                analysis: doc.summary.map(|s| ProviderAnalysis {
                    summary: Some(s),
                    ..ProviderAnalysis::default()
                }),
                cost: doc.cost,
                metadata,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"external_id":"ext-1","direction":"inbound","from":"+14155550123","to":"+14155550100",
        "started_at":"2026-03-01T10:00:00Z","ended_at":"2026-03-01T10:05:00Z",
        "turns":[{"speaker":"agent","text":"Hello","start":0,"end":1.5},{"speaker":"customer","text":"Hi","start":2,"end":2.5}],
        "cost":{"amount_minor":42,"currency":"USD"},"extra":"ignored"}"#;

    #[test]
    fn reads_a_good_document() {
        let v = parse(GOOD.as_bytes()).unwrap();
        assert_eq!(v.update.external_id, "ext-1");
        assert_eq!(v.update.stage, Stage::Ended);
        assert_eq!(v.update.fields.turns_here().unwrap().len(), 2);
        assert_eq!(v.update.fields.test, None, "not stated, so not stated");
        assert_eq!(
            v.update.fields.ended_at.unwrap() - v.update.fields.started_at.unwrap(),
            300_000
        );
    }

    #[test]
    fn a_later_document_leaves_what_it_does_not_state() {
        let first = GOOD.replace(r#""extra""#, r#""test":true,"extra""#);
        let later = r#"{"external_id":"ext-1","direction":"inbound","from":"+14155550123","to":"+14155550100",
            "started_at":"2026-03-01T10:00:00Z","stage":"analyzed","summary":"Booked."}"#;
        let cleared = later.replace(r#""stage""#, r#""turns":[],"stage""#);
        let stored = |body: &str, at: i64| crate::model::StoredUpdate {
            update: parse(body.as_bytes()).unwrap().update,
            received_at: at,
            event_key: at.to_string(),
        };
        let (_, merged) = crate::model::merge(vec![stored(&first, 1), stored(later, 2)]);
        assert_eq!(merged.turns_here().map(|t| t.len()), Some(2));
        assert_eq!(merged.test, Some(true));
        assert_eq!(
            merged.analysis.and_then(|a| a.summary).as_deref(),
            Some("Booked.")
        );
        let (_, merged) = crate::model::merge(vec![stored(&first, 1), stored(&cleared, 2)]);
        assert_eq!(
            merged.turns_here().map(|t| t.len()),
            Some(0),
            "[] clears the turns"
        );
    }

    #[test]
    fn reports_every_bad_field() {
        let body = r#"{"external_id":"","agent_id":"usr_1","direction":"up","from":"555","to":"+14155550100",
            "started_at":"2026-03-01T10:00:00Z","ended_at":"2026-03-01T09:00:00Z","stage":"later",
            "turns":[{"speaker":"agent","text":"x","start":5,"end":1}],"cost":{"amount_minor":-1,"currency":"usd"}}"#;
        let fields: Vec<String> = parse(body.as_bytes())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "external_id",
                "agent_id",
                "direction",
                "from",
                "ended_at",
                "stage",
                "turns[0].end",
                "cost.amount_minor",
                "cost.currency"
            ]
        );
    }

    #[test]
    fn type_errors_name_the_path() {
        let body = r#"{"external_id":"e","direction":"inbound","from":"+14155550123","to":"+14155550100",
            "started_at":"2026-03-01T10:00:00Z","turns":[{"speaker":"robot","text":"x"}]}"#;
        assert_eq!(
            parse(body.as_bytes()).unwrap_err()[0].field,
            "turns[0].speaker"
        );
    }

    fn with_turn(turn: &str) -> String {
        format!(
            r#"{{"external_id":"e","direction":"inbound","from":"+14155550123","to":"+14155550100",
            "started_at":"2026-03-01T10:00:00Z","turns":[{turn}]}}"#
        )
    }

    /// Found by the `call_json` fuzz target (fuzz/README.md): a turn's
    /// times taken from its words were not checked, so a valid call could
    /// hold a turn that ends before it starts, or starts before the call.
    #[test]
    fn times_taken_from_words_are_checked_as_the_words() {
        for (turn, field) in [
            (
                r#"{"speaker":"customer","text":"Hi","words":[{"word":"Hi","start":5.2,"end":0.5}]}"#,
                "turns[0].words[0].end",
            ),
            (
                r#"{"speaker":"agent","text":"a b","words":[{"word":"a","start":-1,"end":0.5},{"word":"b","start":0.5,"end":1}]}"#,
                "turns[0].words[0].start",
            ),
            (
                r#"{"speaker":"agent","text":"a b","start":3,"words":[{"word":"a","start":0,"end":1},{"word":"b","start":1,"end":2}]}"#,
                "turns[0].words[1].end",
            ),
        ] {
            let fields: Vec<String> = parse(with_turn(turn).as_bytes())
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect();
            assert_eq!(fields, [field], "{turn}");
        }
        let ok = parse(
            with_turn(
                r#"{"speaker":"agent","text":"Hi","words":[{"word":"Hi","start":0.2,"end":0.5}]}"#,
            )
            .as_bytes(),
        )
        .unwrap();
        let turn = &ok.update.fields.turns_here().unwrap()[0];
        assert_eq!((turn.start, turn.end), (Some(0.2), Some(0.5)));
    }

    /// Found while checking the `call_json` round trip (fuzz/README.md):
    /// these are RFC 3339, but year -1 and year 10000 in UTC, so the call
    /// could never be written out again.
    #[test]
    fn times_outside_years_0_to_9999_in_utc_are_refused() {
        let doc = |started: &str, ended: &str| {
            format!(
                r#"{{"external_id":"e","direction":"inbound","from":"+14155550123","to":"+14155550100",
                "started_at":"{started}","ended_at":"{ended}"}}"#
            )
        };
        let e =
            parse(doc("0000-01-01T00:00:00+01:00", "2026-03-01T10:00:00Z").as_bytes()).unwrap_err();
        assert_eq!(e[0].field, "started_at");
        let e =
            parse(doc("2026-03-01T10:00:00Z", "9999-12-31T23:59:59-01:00").as_bytes()).unwrap_err();
        assert_eq!(e[0].field, "ended_at");
        assert!(parse(doc("0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z").as_bytes()).is_ok());
    }
}
