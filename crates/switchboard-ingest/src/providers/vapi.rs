//! Vapi server messages. Only `end-of-call-report` describes a finished
//! call; every other message type is ignored.

use serde::Deserialize;
use serde_json::Value;

use super::{external_id, free_form, parse_json, phone, seconds, usd_cents};
use crate::model::{
    CallFields, CallUpdate, Direction, ParseError, ProviderAnalysis, Speaker, Stage, Turn, Turns,
};

const REPORT: &str = "end-of-call-report";

#[derive(Deserialize)]
struct Envelope {
    message: Message,
}

/// Only the type of a message: what a message that does not parse as a
/// report is judged by, so that a type Switchboard ignores is not refused
/// for a shape it never needed.
#[derive(Deserialize)]
struct KindOnly {
    message: TypeOnly,
}

#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    call: Option<Call>,
    artifact: Option<Artifact>,
    analysis: Option<Analysis>,
    cost: Option<f64>,
    ended_reason: Option<String>,
    started_at: Option<String>,
    ended_at: Option<String>,
    duration_ms: Option<f64>,
    timestamp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Call {
    id: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    assistant_id: Option<String>,
    customer: Option<Number>,
    phone_number: Option<Number>,
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct Number {
    number: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    messages: Option<Vec<ArtifactMessage>>,
    /// `AI: …` and `User: …` lines: the turns of a report without `messages`.
    transcript: Option<String>,
    recording: Option<Recording>,
    recording_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactMessage {
    role: String,
    message: Option<String>,
    seconds_from_start: Option<f64>,
    /// Milliseconds.
    duration: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recording {
    stereo_url: Option<String>,
    mono: Option<MonoRecording>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MonoRecording {
    combined_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Analysis {
    summary: Option<String>,
    success_evaluation: Option<Value>,
    structured_data: Option<Value>,
}

/// Reads one Vapi server message; `Ok(None)` for message types Switchboard ignores.
pub fn parse(body: &[u8]) -> Result<Option<CallUpdate>, ParseError> {
    let m = match parse_json::<Envelope>(body) {
        Ok(envelope) => envelope.message,
        Err(e) => {
            return match serde_json::from_slice::<KindOnly>(body) {
                Ok(other) if other.message.kind != REPORT => Ok(None),
                _ => Err(e),
            }
        }
    };
    if m.kind != REPORT {
        return Ok(None);
    }
    let call = m
        .call
        .ok_or_else(|| ParseError::new("message.call", "missing"))?;
    let (direction, test) = match call.kind.as_deref() {
        Some("inboundPhoneCall") => (Some(Direction::Inbound), Some(false)),
        Some("outboundPhoneCall") => (Some(Direction::Outbound), Some(false)),
        Some("webCall") => (None, Some(true)),
        _ => (None, None),
    };
    let customer = phone(call.customer.and_then(|c| c.number));
    let ours = phone(call.phone_number.and_then(|p| p.number));
    let (from, to) = match direction {
        Some(Direction::Outbound) => (ours, customer),
        _ => (customer, ours),
    };
    let started_at = m
        .started_at
        .as_deref()
        .map(|t| rfc3339_ms("message.startedAt", t))
        .transpose()?;
    let ended_at = m
        .ended_at
        .as_deref()
        .map(|t| rfc3339_ms("message.endedAt", t))
        .transpose()?;
    let (turns, recording_url) = match m.artifact {
        None => (None, None),
        Some(a) => {
            let recording = a
                .recording
                .and_then(|r| r.mono.and_then(|m| m.combined_url).or(r.stereo_url))
                .or(a.recording_url);
            let turns = match (a.messages, a.transcript) {
                (Some(messages), _) => Some(read_turns(messages)?),
                (None, Some(text)) => Some(turns_of_transcript(&text)),
                (None, None) => None,
            };
            (turns, recording)
        }
    };
    let analysis = m
        .analysis
        .map(|a| -> Result<_, ParseError> {
            let success = free_form("message.analysis.successEvaluation", a.success_evaluation)?;
            let structured = free_form("message.analysis.structuredData", a.structured_data)?;
            Ok(ProviderAnalysis {
                summary: a.summary,
                user_sentiment: None,
                call_successful: success.as_ref().and_then(|v| match v {
                    Value::Bool(b) => Some(*b),
                    Value::String(s) if s == "true" => Some(true),
                    Value::String(s) if s == "false" => Some(false),
                    _ => None,
                }),
                extra: Some(serde_json::json!({
                    "successEvaluation": success,
                    "structuredData": structured,
                })),
            })
        })
        .transpose()?;
    Ok(Some(CallUpdate {
        external_id: external_id("message.call.id", &call.id)?,
        stage: Stage::Ended,
        occurred_at: ended_at.or(m.timestamp),
        fields: CallFields {
            provider_agent_id: call.assistant_id,
            direction,
            from,
            to,
            started_at,
            ended_at,
            duration_ms: m.duration_ms.map(|d| d.round() as i64),
            test,
            turns: turns.map(Turns::Here),
            recording_url,
            disconnection_reason: m.ended_reason,
            analysis,
            cost: m
                .cost
                .map(|dollars| usd_cents("message.cost", dollars, 0.01))
                .transpose()?,
            metadata: free_form("message.call.metadata", call.metadata)?,
        },
    }))
}

fn read_turns(messages: Vec<ArtifactMessage>) -> Result<Vec<Turn>, ParseError> {
    let mut turns = Vec::new();
    for (i, msg) in messages.into_iter().enumerate() {
        let speaker = match msg.role.as_str() {
            "bot" | "assistant" => Speaker::Agent,
            "user" => Speaker::Customer,
            // System prompts and tool calls are not speech.
            _ => continue,
        };
        let start = msg
            .seconds_from_start
            .map(|s| {
                seconds(
                    || format!("message.artifact.messages[{i}].secondsFromStart"),
                    s,
                )
            })
            .transpose()?;
        let end = match (start, msg.duration) {
            (Some(s), Some(d)) => Some(
                s + seconds(|| format!("message.artifact.messages[{i}].duration"), d)? / 1000.0,
            ),
            _ => None,
        };
        turns.push(Turn {
            speaker,
            text: msg.message.unwrap_or_default(),
            start,
            end,
            words: Vec::new(),
        });
    }
    Ok(turns)
}

/// Turns without times from a transcript of `AI:` and `User:` lines; a
/// line without a speaker continues the turn before it.
fn turns_of_transcript(text: &str) -> Vec<Turn> {
    let mut turns: Vec<Turn> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let spoken = [("AI:", Speaker::Agent), ("User:", Speaker::Customer)]
            .into_iter()
            .find_map(|(label, speaker)| Some((speaker, line.strip_prefix(label)?.trim())));
        match (spoken, turns.last_mut()) {
            (Some((speaker, said)), _) => turns.push(Turn {
                speaker,
                text: said.to_owned(),
                start: None,
                end: None,
                words: Vec::new(),
            }),
            (None, Some(last)) => {
                last.text.push(' ');
                last.text.push_str(line);
            }
            // Words before any speaker cannot be attributed: left out.
            (None, None) => {}
        }
    }
    turns
}

/// Only times that can be written back as RFC 3339 in UTC (years 0 to
/// 9999) are accepted: `0000-01-01T00:00:00+01:00` parses, but is year -1
/// in UTC, and could never be shown again.
pub(crate) fn rfc3339_ms(field: &str, text: &str) -> Result<i64, ParseError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| t.checked_to_offset(time::UtcOffset::UTC))
        .filter(|t| (0..=9999).contains(&t.year()))
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .ok_or_else(|| ParseError::new(field, "expected an RFC 3339 time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"{"message":{
        "type":"end-of-call-report",
        "endedReason":"customer-ended-call",
        "call":{"id":"8d2e1c4a-0000-4000-8000-000000000001","type":"outboundPhoneCall","assistantId":"asst_1",
                "customer":{"number":"+14155550101"},"phoneNumber":{"number":"+14155550199"}},
        "artifact":{
            "messages":[
                {"role":"system","message":"You are a helpful agent"},
                {"role":"bot","message":"Hello, this is Ava.","time":1,"endTime":2,"secondsFromStart":0.5,"duration":1500},
                {"role":"user","message":"Hi Ava.","secondsFromStart":2.5,"duration":800}
            ],
            "recording":{"stereoUrl":"https://rec.example/stereo.wav","mono":{"combinedUrl":"https://rec.example/mono.wav"}}
        },
        "analysis":{"summary":"Booked a viewing.","successEvaluation":"true"},
        "cost":0.1234,
        "startedAt":"2026-03-01T10:00:00.000Z",
        "endedAt":"2026-03-01T10:02:30.000Z"
    }}"#;

    #[test]
    fn reads_end_of_call_report() {
        let u = parse(REPORT.as_bytes()).unwrap().unwrap();
        assert_eq!(u.stage, Stage::Ended);
        let f = &u.fields;
        assert_eq!(f.direction, Some(Direction::Outbound));
        assert_eq!(f.from.as_deref(), Some("+14155550199"));
        assert_eq!(f.to.as_deref(), Some("+14155550101"));
        assert_eq!(f.test, Some(false));
        let turns = f.turns_here().unwrap();
        assert_eq!(turns.len(), 2, "the system prompt is not a turn");
        assert_eq!(turns[0].end, Some(2.0));
        assert_eq!(
            f.recording_url.as_deref(),
            Some("https://rec.example/mono.wav")
        );
        assert_eq!(f.cost.as_ref().unwrap().amount_minor, 12);
        assert_eq!(f.ended_at.unwrap() - f.started_at.unwrap(), 150_000);
        assert_eq!(f.analysis.as_ref().unwrap().call_successful, Some(true));
    }

    #[test]
    fn web_calls_are_tests_and_other_messages_ignored() {
        let body =
            r#"{"message":{"type":"end-of-call-report","call":{"id":"c","type":"webCall"}}}"#;
        assert_eq!(
            parse(body.as_bytes()).unwrap().unwrap().fields.test,
            Some(true)
        );
        assert_eq!(parse(br#"{"message":{"type":"status-update"}}"#), Ok(None));
        assert_eq!(
            parse(br#"{"message":{"type":"status-update","call":{},"cost":"n/a"}}"#),
            Ok(None),
            "a message that is ignored is not judged by a report's shape"
        );
    }

    #[test]
    fn a_report_without_messages_takes_its_turns_from_the_transcript() {
        let body = r#"{"message":{"type":"end-of-call-report","call":{"id":"c"},
            "artifact":{"transcript":"AI: Hello, this is Ava.\nUser: Hi.\nI'd like to book.\nAI: Sure."}}}"#;
        let turns = parse(body.as_bytes()).unwrap().unwrap().fields.turns;
        let Some(Turns::Here(turns)) = turns else {
            panic!("turns read")
        };
        let said: Vec<(Speaker, &str)> =
            turns.iter().map(|t| (t.speaker, t.text.as_str())).collect();
        assert_eq!(
            said,
            [
                (Speaker::Agent, "Hello, this is Ava."),
                (Speaker::Customer, "Hi. I'd like to book."),
                (Speaker::Agent, "Sure."),
            ]
        );
        let without = r#"{"message":{"type":"end-of-call-report","call":{"id":"c"},"artifact":{"recordingUrl":"https://rec.example/a.wav"}}}"#;
        assert_eq!(
            parse(without.as_bytes()).unwrap().unwrap().fields.turns,
            None,
            "a report without a transcript leaves the call's turns alone"
        );
    }

    #[test]
    fn bad_payloads_name_the_field() {
        for (body, field) in [
            (
                r#"{"message":{"type":"end-of-call-report"}}"#,
                "message.call",
            ),
            (
                r#"{"message":{"type":"end-of-call-report","call":{"id":"c"},"startedAt":"yesterday"}}"#,
                "message.startedAt",
            ),
            (
                r#"{"message":{"type":"end-of-call-report","call":{"id":"c"},"cost":"free"}}"#,
                "message.cost",
            ),
            (
                r#"{"message":{"type":"end-of-call-report","call":{"id":"c"},"cost":-1}}"#,
                "message.cost",
            ),
            (r#"{"msg":{}}"#, "message"),
        ] {
            let e = parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.field, field, "{body}: {e:?}");
        }
    }
}
