//! Twilio voice status callbacks and recording status callbacks, sent as
//! form parameters (or, for JSON-bodied callbacks, the same names in a JSON
//! object).

use super::{external_id, phone};
use crate::model::{CallFields, CallUpdate, Direction, ParseError, Stage};

/// Reads one callback; `Ok(None)` when it says nothing Switchboard keeps (a
/// recording still in progress, a call still ringing).
pub fn parse(params: &[(String, String)]) -> Result<Option<CallUpdate>, ParseError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let sid = get("CallSid").ok_or_else(|| ParseError::new("CallSid", "missing"))?;
    let external_id = external_id("CallSid", sid)?;
    let number = |name: &str| phone(get(name).map(str::to_owned));
    // Whole seconds, read as milliseconds: a count whose milliseconds do
    // not fit is as bad as a negative one.
    let seconds_ms = |name: &'static str| -> Result<Option<i64>, ParseError> {
        get(name)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .and_then(|n| n.checked_mul(1000))
                    .ok_or_else(|| ParseError::new(name, "expected a whole number of seconds"))
            })
            .transpose()
    };
    let occurred_at = get("Timestamp").and_then(rfc2822_ms);

    if let Some(status) = get("RecordingStatus") {
        if status != "completed" {
            return Ok(None);
        }
        // Where it may be fetched from is the server's decision (only
        // Twilio's API gets the credentials); here it must be a URL.
        let url = get("RecordingUrl")
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or_else(|| ParseError::new("RecordingUrl", "expected an http(s) URL"))?;
        return Ok(Some(CallUpdate {
            external_id,
            stage: Stage::Ended,
            occurred_at,
            fields: CallFields {
                // Not `RecordingDuration`: a recording is often shorter than
                // its call, and this callback, received last, would win.
                recording_url: Some(url.to_owned()),
                ..CallFields::default()
            },
        }));
    }

    let status = get("CallStatus").ok_or_else(|| ParseError::new("CallStatus", "missing"))?;
    let stage = match status {
        "queued" | "initiated" | "ringing" => return Ok(None),
        "in-progress" | "answered" => Stage::Started,
        "completed" | "busy" | "failed" | "no-answer" | "canceled" => Stage::Ended,
        _ => {
            return Err(ParseError::new(
                "CallStatus",
                "expected a Twilio call status such as completed",
            ))
        }
    };
    let direction = get("Direction").map(|d| {
        if d == "inbound" {
            Direction::Inbound
        } else {
            Direction::Outbound
        }
    });
    let duration_ms = seconds_ms("CallDuration")?;
    let ended_at = (stage == Stage::Ended).then_some(occurred_at).flatten();
    let started_at = match (stage, occurred_at, ended_at, duration_ms) {
        (Stage::Started, at, ..) => at,
        (_, _, Some(end), Some(d)) => Some(end.checked_sub(d).ok_or_else(|| {
            ParseError::new("CallDuration", "longer than the time before Timestamp")
        })?),
        _ => None,
    };
    Ok(Some(CallUpdate {
        external_id,
        stage,
        occurred_at,
        fields: CallFields {
            direction,
            from: number("From"),
            to: number("To"),
            started_at,
            ended_at,
            duration_ms,
            test: Some(false),
            disconnection_reason: (stage == Stage::Ended && status != "completed")
                .then(|| status.to_owned()),
            ..CallFields::default()
        },
    }))
}

fn rfc2822_ms(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc2822)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Form parameters of a JSON-bodied callback: the top-level string and number members.
pub fn params_from_json(body: &[u8]) -> Result<Vec<(String, String)>, ParseError> {
    let value: serde_json::Value = super::parse_json(body)?;
    let obj = value
        .as_object()
        .ok_or_else(|| ParseError::new("body", "expected a JSON object"))?;
    Ok(obj
        .iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k.clone(), s.clone())),
            serde_json::Value::Number(n) => Some((k.clone(), n.to_string())),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn completed_call_status() {
        let u = parse(&p(&[
            ("CallSid", "CA0001"),
            ("CallStatus", "completed"),
            ("Direction", "inbound"),
            ("From", "+14155550123"),
            ("To", "+14155550100"),
            ("CallDuration", "42"),
            ("Timestamp", "Tue, 03 Mar 2026 10:00:42 +0000"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(u.stage, Stage::Ended);
        assert_eq!(u.fields.duration_ms, Some(42_000));
        assert_eq!(
            u.fields.ended_at.unwrap() - u.fields.started_at.unwrap(),
            42_000
        );
        assert_eq!(u.fields.direction, Some(Direction::Inbound));
        assert!(u.fields.disconnection_reason.is_none());
    }

    #[test]
    fn recording_status() {
        let u = parse(&p(&[
            ("CallSid", "CA0001"),
            ("RecordingSid", "RE0001"),
            ("RecordingStatus", "completed"),
            (
                "RecordingUrl",
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0001",
            ),
            ("RecordingDuration", "41"),
        ]))
        .unwrap()
        .unwrap();
        assert!(u.fields.recording_url.unwrap().ends_with("RE0001"));
        assert_eq!(
            u.fields.duration_ms, None,
            "the recording's length is not the call's"
        );
        assert_eq!(
            parse(&p(&[
                ("CallSid", "CA1"),
                ("RecordingStatus", "in-progress")
            ])),
            Ok(None)
        );
    }

    #[test]
    fn bad_callbacks_name_the_field() {
        for (params, field) in [
            (p(&[("CallStatus", "completed")]), "CallSid"),
            (p(&[("CallSid", "CA1")]), "CallStatus"),
            (
                p(&[("CallSid", "CA1"), ("CallStatus", "exploded")]),
                "CallStatus",
            ),
            (
                p(&[
                    ("CallSid", "CA1"),
                    ("CallStatus", "completed"),
                    ("CallDuration", "-4"),
                ]),
                "CallDuration",
            ),
            (
                p(&[
                    ("CallSid", "CA1"),
                    ("RecordingStatus", "completed"),
                    ("RecordingUrl", "ftp://x"),
                ]),
                "RecordingUrl",
            ),
        ] {
            assert_eq!(parse(&params).unwrap_err().field, field);
        }
    }

    /// Found by the `twilio` fuzz target (fuzz/README.md): seconds whose
    /// milliseconds do not fit an i64 panicked on overflow (and wrapped in
    /// release builds); so did a duration reaching back past i64::MIN from
    /// the end time.
    #[test]
    fn durations_beyond_milliseconds_name_the_field() {
        for (params, field) in [
            (
                p(&[
                    ("CallSid", "CA0001"),
                    ("CallStatus", "completed"),
                    ("CallDuration", "008000000000077810100"),
                ]),
                "CallDuration",
            ),
            (
                p(&[
                    ("CallSid", "CA1"),
                    ("CallStatus", "completed"),
                    ("CallDuration", "9223372036854775"),
                    ("Timestamp", "Mon, 01 Jan 1900 00:00:00 +0000"),
                ]),
                "CallDuration",
            ),
        ] {
            assert_eq!(parse(&params).unwrap_err().field, field, "{params:?}");
        }
    }
}
