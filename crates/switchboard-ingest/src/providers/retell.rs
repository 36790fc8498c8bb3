//! Retell AI webhooks: `call_started`, `call_ended`, `call_analyzed`, each
//! carrying the call object. Other events are ignored.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{external_id, free_form, parse_json, phone, seconds, turn_bounds, usd_cents};
use crate::model::{
    CallFields, CallUpdate, Direction, ParseError, ProviderAnalysis, Speaker, Stage, Turn, Turns,
    Word,
};

#[derive(Deserialize)]
struct EventName {
    event: String,
}

#[derive(Deserialize)]
struct Envelope {
    event: String,
    call: Option<Call>,
}

fn stage_of(event: &str) -> Option<Stage> {
    match event {
        "call_started" => Some(Stage::Started),
        "call_ended" => Some(Stage::Ended),
        "call_analyzed" => Some(Stage::Analyzed),
        _ => None,
    }
}

#[derive(Deserialize)]
struct Call {
    call_id: String,
    agent_id: Option<String>,
    call_type: Option<String>,
    direction: Option<String>,
    from_number: Option<String>,
    to_number: Option<String>,
    start_timestamp: Option<i64>,
    end_timestamp: Option<i64>,
    duration_ms: Option<i64>,
    transcript_object: Option<Vec<RetellTurn>>,
    recording_url: Option<String>,
    disconnection_reason: Option<String>,
    call_analysis: Option<Analysis>,
    call_cost: Option<CallCost>,
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct RetellTurn {
    role: String,
    content: String,
    #[serde(default)]
    words: Vec<RetellWord>,
}

#[derive(Deserialize)]
struct RetellWord {
    word: crate::model::CompactString,
    start: f64,
    end: f64,
}

#[derive(Deserialize)]
struct Analysis {
    call_summary: Option<String>,
    user_sentiment: Option<String>,
    call_successful: Option<bool>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct CallCost {
    /// Cents, possibly fractional.
    combined_cost: Option<f64>,
}

/// Reads one Retell webhook body; `Ok(None)` for events Switchboard ignores.
pub fn parse(body: &[u8]) -> Result<Option<CallUpdate>, ParseError> {
    // One pass for a payload that fits (nearly all). Events Switchboard
    // ignores may carry other shapes, so one that does not fit is read again
    // for its name alone before its error is reported.
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(_) => {
            let name: EventName = parse_json(body)?;
            if stage_of(&name.event).is_none() {
                return Ok(None);
            }
            parse_json(body)?
        }
    };
    let Some(stage) = stage_of(&envelope.event) else {
        return Ok(None);
    };
    let call = envelope
        .call
        .ok_or_else(|| ParseError::new("call", "missing"))?;
    let turns = call.transcript_object.map(read_turns).transpose()?;
    let test = call.call_type.as_deref().map(|t| t == "web_call");
    let direction = match call.direction.as_deref() {
        None => None,
        Some(d) => Some(
            Direction::parse(d)
                .ok_or_else(|| ParseError::new("call.direction", "expected inbound or outbound"))?,
        ),
    };
    let cost = call
        .call_cost
        .and_then(|c| c.combined_cost)
        .map(|cents| usd_cents("call.call_cost.combined_cost", cents, 1.0))
        .transpose()?;
    let analysis = call
        .call_analysis
        .map(|a| -> Result<_, ParseError> {
            Ok(ProviderAnalysis {
                summary: a.call_summary,
                user_sentiment: a.user_sentiment,
                call_successful: a.call_successful,
                extra: free_form(
                    "call.call_analysis",
                    (!a.extra.is_empty()).then_some(Value::Object(a.extra)),
                )?,
            })
        })
        .transpose()?;
    Ok(Some(CallUpdate {
        external_id: external_id("call.call_id", &call.call_id)?,
        stage,
        occurred_at: match stage {
            Stage::Started => call.start_timestamp,
            _ => call.end_timestamp,
        },
        fields: CallFields {
            provider_agent_id: call.agent_id,
            direction,
            from: phone(call.from_number),
            to: phone(call.to_number),
            started_at: call.start_timestamp,
            ended_at: call.end_timestamp,
            duration_ms: call.duration_ms,
            test,
            turns: turns.map(Turns::Here),
            recording_url: call.recording_url.filter(|u| !u.is_empty()),
            disconnection_reason: call.disconnection_reason,
            analysis,
            cost,
            metadata: free_form("call.metadata", call.metadata)?,
        },
    }))
}

fn read_turns(turns: Vec<RetellTurn>) -> Result<Vec<Turn>, ParseError> {
    let mut out = Vec::with_capacity(turns.len());
    for (i, t) in turns.into_iter().enumerate() {
        let speaker = match t.role.as_str() {
            "agent" => Speaker::Agent,
            "user" => Speaker::Customer,
            // Tool calls and the like are not speech.
            _ => continue,
        };
        let mut words = Vec::with_capacity(t.words.len());
        for (j, w) in t.words.into_iter().enumerate() {
            let at = |which: &str| format!("call.transcript_object[{i}].words[{j}].{which}");
            words.push(Word {
                word: w.word,
                start: seconds(|| at("start"), w.start)?,
                end: seconds(|| at("end"), w.end)?,
            });
        }
        out.push(turn_bounds(Turn {
            speaker,
            text: t.content,
            start: None,
            end: None,
            words,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDED: &str = r#"{
      "event": "call_ended",
      "call": {
        "call_id": "Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6",
        "agent_id": "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD",
        "call_type": "phone_call",
        "direction": "inbound",
        "from_number": "+12137771234",
        "to_number": "+12137771235",
        "call_status": "ended",
        "start_timestamp": 1714608475945,
        "end_timestamp": 1714608491736,
        "duration_ms": 15791,
        "transcript_object": [
          {"role": "agent", "content": "Hi there", "words": [{"word": "Hi", "start": 0.7, "end": 1.0}, {"word": "there", "start": 1.0, "end": 1.3}]},
          {"role": "user", "content": "Hello", "words": [{"word": "Hello", "start": 2.0, "end": 2.4}]}
        ],
        "recording_url": "https://recordings.example/abc.wav",
        "disconnection_reason": "user_hangup",
        "call_cost": {"combined_cost": 70.5, "product_costs": []},
        "some_future_field": {"kept": "in the raw payload"}
      }
    }"#;

    #[test]
    fn reads_call_ended() {
        let u = parse(ENDED.as_bytes()).unwrap().unwrap();
        assert_eq!(u.external_id, "Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6");
        assert_eq!(u.stage, Stage::Ended);
        let f = &u.fields;
        assert_eq!(f.direction, Some(Direction::Inbound));
        assert_eq!(f.from.as_deref(), Some("+12137771234"));
        assert_eq!(f.test, Some(false));
        assert_eq!(f.duration_ms, Some(15791));
        let turns = f.turns_here().unwrap();
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[1].speaker, Speaker::Customer);
        assert_eq!(turns[0].start, Some(0.7));
        assert_eq!(turns[0].end, Some(1.3));
        assert_eq!(f.cost.as_ref().unwrap().amount_minor, 71);
        assert_eq!(f.disconnection_reason.as_deref(), Some("user_hangup"));
    }

    #[test]
    fn web_calls_are_test_calls_and_analysis_is_read() {
        let body = r#"{"event":"call_analyzed","call":{"call_id":"c1","call_type":"web_call",
            "call_analysis":{"call_summary":"Asked about hours.","user_sentiment":"Positive","call_successful":true,"in_voicemail":false}}}"#;
        let u = parse(body.as_bytes()).unwrap().unwrap();
        assert_eq!(u.stage, Stage::Analyzed);
        assert_eq!(u.fields.test, Some(true));
        let a = u.fields.analysis.unwrap();
        assert_eq!(a.summary.as_deref(), Some("Asked about hours."));
        assert_eq!(a.call_successful, Some(true));
        assert_eq!(a.extra.unwrap()["in_voicemail"], false);
    }

    #[test]
    fn other_events_are_ignored() {
        // Whether or not the rest has the shape of a kept event.
        for body in [
            r#"{"event":"transcript_updated","call":{}}"#,
            r#"{"event":"transcript_updated","call":{"call_id":"c1"}}"#,
        ] {
            assert_eq!(parse(body.as_bytes()), Ok(None), "{body}");
        }
    }

    #[test]
    fn bad_payloads_name_the_field() {
        let cases: &[(&str, &str)] = &[
            (r#"{"event":"call_ended"}"#, "call"),
            (r#"{"event":"call_ended","call":{}}"#, "call"),
            (
                r#"{"event":"call_ended","call":{"call_id":""}}"#,
                "call.call_id",
            ),
            (
                r#"{"event":"call_ended","call":{"call_id":"c","start_timestamp":"soon"}}"#,
                "call.start_timestamp",
            ),
            (
                r#"{"event":"call_ended","call":{"call_id":"c","direction":"sideways"}}"#,
                "call.direction",
            ),
            (
                r#"{"event":"call_ended","call":{"call_id":"c","transcript_object":[{"role":"agent","content":"x","words":[{"word":"x","start":-1,"end":1}]}]}}"#,
                "call.transcript_object[0].words[0].start",
            ),
            (
                r#"{"event":"call_ended","call":{"call_id":"c","transcript_object":[{"role":"agent"}]}}"#,
                "call.transcript_object[0]",
            ),
            (r#"{"event":"call_ended","call":{"call_id":"c""#, "body"),
            (r#"[]"#, "body"),
        ];
        for (body, field) in cases {
            let e = parse(body.as_bytes()).unwrap_err();
            assert!(e.field.starts_with(field), "{body}: {e:?}");
        }
    }
}
