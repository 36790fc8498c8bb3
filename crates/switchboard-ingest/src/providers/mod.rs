//! One module per provider, each turning that provider's payload into
//! [`CallUpdate`]s. Unknown extra fields are accepted (the raw payload keeps
//! them); a field of the wrong type, or a missing call id, is a
//! [`ParseError`] naming the field.

pub mod retell;
pub mod switchboard;
pub mod twilio;
pub mod vapi;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::{CallUpdate, Cost, ParseError, Source, Turn, Word};

/// Reads one webhook body of `source` whole and alone.
pub type BodyParser = fn(&[u8]) -> Result<Option<CallUpdate>, Vec<ParseError>>;

/// The parser of `source`'s webhook bodies, for the sources whose calls'
/// transcripts are kept in their raw documents only and read from there
/// again (decision 0026): those whose every event is one JSON body that
/// this parser alone reads into it. Twilio's callbacks carry no transcript.
pub fn body_parser(source: Source) -> Option<BodyParser> {
    match source {
        Source::Retell => Some(|body| retell::parse(body).map_err(|e| vec![e])),
        Source::Vapi => Some(|body| vapi::parse(body).map_err(|e| vec![e])),
        Source::Generic => Some(|body| switchboard::parse(body).map(|valid| Some(valid.update))),
        _ => None,
    }
}

/// Deserialises `body`, naming the field that did not fit.
///
/// Tracking the path costs a third of a large payload's parse, so only a
/// payload that fails is parsed again, with tracking, to name the field.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ParseError> {
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ParseError::new("body", format!("not valid JSON: {inner}"))
        } else {
            shape_error(&path, &inner.to_string())
        }
    })
}

/// A value of the wrong shape at `path` (`.` for the top level). A missing
/// member is named itself, not its parent.
pub(crate) fn shape_error(path: &str, message: &str) -> ParseError {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match (path, missing) {
        (".", Some(member)) => member.to_owned(),
        (_, Some(member)) => format!("{path}.{member}"),
        (".", None) => "body".to_owned(),
        (_, None) => path.to_owned(),
    };
    ParseError::new(field, switchboard_core::value::without_sent_value(message))
}

/// Longest accepted provider call id.
pub const MAX_EXTERNAL_ID: usize = 200;

pub(crate) fn external_id(field: &str, id: &str) -> Result<String, ParseError> {
    let id = id.trim();
    if id.is_empty() || id.len() > MAX_EXTERNAL_ID || id.chars().any(char::is_control) {
        return Err(ParseError::new(
            field,
            format!("expected 1 to {MAX_EXTERNAL_ID} printable characters"),
        ));
    }
    Ok(id.to_owned())
}

/// A time in seconds from the start of the call: finite and not negative.
pub(crate) fn seconds(field: impl Fn() -> String, value: f64) -> Result<f64, ParseError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(ParseError::new(
            field(),
            "expected a non-negative number of seconds",
        ))
    }
}

/// Fills a turn's start and end from its words where the sender gave none.
pub(crate) fn turn_bounds(mut turn: Turn) -> Turn {
    if turn.start.is_none() {
        turn.start = turn.words.first().map(|w: &Word| w.start);
    }
    if turn.end.is_none() {
        turn.end = turn.words.last().map(|w| w.end);
    }
    turn
}

/// A provider's phone text as E.164 when possible, else as sent without
/// control characters (PostgreSQL refuses a NUL in text, and a number has
/// no use for any of them).
pub(crate) fn phone(text: Option<String>) -> Option<String> {
    let text = text?;
    let trimmed = text.trim();
    if let Some(e164) = switchboard_core::E164::normalise(trimmed) {
        return Some(e164.to_string());
    }
    let printable: String = trimmed.chars().filter(|c| !c.is_control()).collect();
    (!printable.is_empty()).then_some(printable)
}

/// Deepest nesting kept in a free-form value (metadata, a provider's own
/// analysis). A stored update holds such a value a few levels below its top,
/// and a value so deep that it could not be read back from the database
/// would make its call unreadable; no sender needs a tenth of this.
pub const MAX_FREE_FORM_DEPTH: usize = 32;

/// A sender's free-form value, `None` for JSON `null`; refused, naming
/// `field`, when nested deeper than [`MAX_FREE_FORM_DEPTH`].
pub(crate) fn free_form(field: &str, value: Option<Value>) -> Result<Option<Value>, ParseError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    /// Levels of arrays and objects (a parsed value is at most as deep
    /// as the parser allows, so the recursion is bounded).
    fn depth(value: &Value) -> usize {
        match value {
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    if depth(&value) <= MAX_FREE_FORM_DEPTH {
        return Ok(Some(value));
    }
    Err(ParseError::new(
        field,
        format!("nested more than {MAX_FREE_FORM_DEPTH} levels deep"),
    ))
}

/// A provider's cost, in `units_per_cent` (1 for cents, 0.01 for dollars),
/// as whole US cents.
pub(crate) fn usd_cents(field: &str, amount: f64, units_per_cent: f64) -> Result<Cost, ParseError> {
    let cents = amount / units_per_cent;
    if cents.is_finite() && (0.0..1e11).contains(&cents) {
        Ok(Cost {
            amount_minor: cents.round() as i64,
            currency: "USD".into(),
        })
    } else {
        Err(ParseError::new(field, "expected a non-negative amount"))
    }
}
