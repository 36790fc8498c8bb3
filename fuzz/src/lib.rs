//! What each fuzz target does with its input, shared with the seed test of
//! the ingest crate (`crates/switchboard-ingest/tests/fuzz_seeds.rs`
//! includes this file as a module), so a seed means the same thing to the
//! fuzzer and to `cargo test`.
//!
//! Every function must return for any input; a panic is a finding. Only
//! `call_json` checks more than that: a validated call, written back as a
//! call document, validates again to the same call.

use serde_json::{json, Map, Value};
use switchboard_ingest::import::{self, Format};
use switchboard_ingest::providers::{retell, switchboard, twilio, vapi};
use switchboard_ingest::signature::{self, HmacAlgorithm, SignatureEncoding, VapiAuth, VapiHmac};

/// How a parser answered, for the seed test's `ok-` / `ignored-` / `bad-` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Read (or, for signatures, verified).
    Ok,
    /// Read, but an event Switchboard does not keep (or an empty import).
    Ignored,
    /// Refused; the field named by the first error.
    Bad(String),
}

pub fn retell(data: &[u8]) -> Outcome {
    match retell::parse(data) {
        Ok(Some(_)) => Outcome::Ok,
        Ok(None) => Outcome::Ignored,
        Err(e) => Outcome::Bad(e.field),
    }
}

pub fn vapi(data: &[u8]) -> Outcome {
    match vapi::parse(data) {
        Ok(Some(_)) => Outcome::Ok,
        Ok(None) => Outcome::Ignored,
        Err(e) => Outcome::Bad(e.field),
    }
}

fn twilio_params(params: &[(String, String)]) -> Outcome {
    match twilio::parse(params) {
        Ok(Some(_)) => Outcome::Ok,
        Ok(None) => Outcome::Ignored,
        Err(e) => Outcome::Bad(e.field),
    }
}

/// A form-encoded callback body, decoded as the server decodes it.
pub fn twilio_form(data: &[u8]) -> Outcome {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    twilio_params(&params)
}

/// A JSON-bodied callback.
pub fn twilio_json(data: &[u8]) -> Outcome {
    match twilio::params_from_json(data) {
        Ok(params) => twilio_params(&params),
        Err(e) => Outcome::Bad(e.field),
    }
}

/// Switchboard's call JSON, with the round trip checked on every valid call.
pub fn call_json(data: &[u8]) -> Outcome {
    match switchboard::parse(data) {
        Ok(valid) => {
            check_valid_call(&valid);
            Outcome::Ok
        }
        Err(errors) => Outcome::Bad(errors.first().map(|e| e.field.clone()).unwrap_or_default()),
    }
}

/// What docs/call-json.md promises of a validated call, and that the call
/// written back as a document is valid and reads as the same call. The
/// rebuilt document goes through `parse_value` (the API's path) so floats
/// are compared exactly, without a text round trip.
pub fn check_valid_call(valid: &switchboard::ValidCall) {
    let u = &valid.update;
    let f = &u.fields;
    let started_at = f.started_at.expect("a valid call has started_at");
    if let Some(ended_at) = f.ended_at {
        assert!(ended_at >= started_at, "ended_at before started_at: {f:?}");
    }
    assert_eq!(u.occurred_at, f.ended_at.or(Some(started_at)));
    let turns = f.turns_here().unwrap_or_default();
    assert!(turns.len() <= switchboard::MAX_TURNS);
    for (i, t) in turns.iter().enumerate() {
        for s in [t.start, t.end].into_iter().flatten() {
            assert!(
                s.is_finite() && s >= 0.0,
                "turns[{i}] has a bad time: {t:?}"
            );
        }
        if let (Some(s), Some(e)) = (t.start, t.end) {
            assert!(e >= s, "turns[{i}] ends before it starts: {t:?}");
        }
    }

    let mut doc = Map::new();
    doc.insert("external_id".into(), json!(u.external_id));
    if let Some(agent) = valid.agent_id {
        doc.insert("agent_id".into(), json!(agent.to_string()));
    }
    let direction = f.direction.expect("a valid call has a direction");
    doc.insert("direction".into(), json!(direction.as_str()));
    doc.insert("from".into(), json!(f.from));
    doc.insert("to".into(), json!(f.to));
    doc.insert("started_at".into(), json!(rfc3339(started_at)));
    if let Some(ended_at) = f.ended_at {
        doc.insert("ended_at".into(), json!(rfc3339(ended_at)));
    }
    doc.insert("stage".into(), json!(u.stage.as_str()));
    doc.insert("test".into(), json!(f.test));
    doc.insert("turns".into(), serde_json::to_value(turns).unwrap());
    if let Some(url) = &f.recording_url {
        doc.insert("recording_url".into(), json!(url));
    }
    if let Some(reason) = &f.disconnection_reason {
        doc.insert("disconnection_reason".into(), json!(reason));
    }
    if let Some(summary) = f.analysis.as_ref().and_then(|a| a.summary.as_ref()) {
        doc.insert("summary".into(), json!(summary));
    }
    if let Some(cost) = &f.cost {
        doc.insert("cost".into(), serde_json::to_value(cost).unwrap());
    }
    if let Some(metadata) = &f.metadata {
        doc.insert("metadata".into(), metadata.clone());
    }
    let doc = Value::Object(doc);
    match switchboard::parse_value(doc.clone()) {
        Ok(again) => assert_eq!(
            &again, valid,
            "the rebuilt document {doc} reads differently"
        ),
        Err(e) => panic!("the rebuilt document {doc} does not validate: {e:?}"),
    }
}

/// Unix milliseconds as the RFC 3339 text a call document carries.
fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("a parsed time is in range")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a parsed time can be written as RFC 3339")
}

/// A bulk import: `Ok` when every line is valid, `Bad` with the first bad
/// line's first field otherwise.
pub fn import(format: Format, data: &[u8]) -> Outcome {
    let lines = import::parse(format, data);
    if lines.is_empty() {
        return Outcome::Ignored;
    }
    for line in &lines {
        if let Err(errors) = &line.result {
            return Outcome::Bad(errors.first().map(|e| e.field.clone()).unwrap_or_default());
        }
    }
    Outcome::Ok
}

/// Default clock for inputs whose `now_ms` field is not a number.
const NOW_MS: i64 = 1_700_000_000_000;

/// The first `n` newline-separated text fields and the rest as the body.
fn fields(data: &[u8], n: usize) -> (Vec<Option<String>>, &[u8]) {
    let mut parts = data.splitn(n + 1, |b| *b == b'\n');
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(
            parts
                .next()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        );
    }
    (out, parts.next().unwrap_or_default())
}

/// A header field: absent when the input ran out or it reads `<none>`.
fn header(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|h| *h != "<none>")
}

fn text(field: &Option<String>) -> &str {
    field.as_deref().unwrap_or_default()
}

fn now(field: &Option<String>) -> i64 {
    text(field).trim().parse().unwrap_or(NOW_MS)
}

/// Picks one of `names` by the field's text, or by its bytes when it names none.
fn choose(field: &Option<String>, names: &[&str]) -> usize {
    let t = text(field);
    names
        .iter()
        .position(|n| *n == t)
        .unwrap_or_else(|| t.bytes().fold(0usize, |a, b| a.wrapping_add(b as usize)) % names.len())
}

/// One signature check. The input is newline-separated text fields, the
/// raw body last; the first field names the scheme:
///
/// - `retell`: api key, header, now_ms, body
/// - `standard`: secrets (space-separated), webhook-id, webhook-timestamp,
///   webhook-signature, now_ms, body
/// - `twilio`: auth token, url, header, `json` or `form`, body (the JSON
///   body, or the form parameters to decode)
/// - `vapi`: `bearer`/`secret`/`hmac`, secret, headers (tab-separated
///   `name:value`), now_ms, `sha256`/`sha512`, `hex`/`base64`, signature
///   header name, timestamp header name, payload format, body
///
/// A header field reading `<none>` (or missing) is an absent header.
pub fn signatures(data: &[u8]) -> Outcome {
    let (scheme, rest) = fields(data, 1);
    let result = match choose(&scheme[0], &["retell", "standard", "twilio", "vapi"]) {
        0 => {
            let (f, body) = fields(rest, 3);
            signature::verify_retell(text(&f[0]), body, header(&f[1]), now(&f[2]))
        }
        1 => {
            let (f, body) = fields(rest, 5);
            let secrets: Vec<&str> = text(&f[0]).split(' ').collect();
            signature::verify_standard(
                &secrets,
                header(&f[1]),
                header(&f[2]),
                header(&f[3]),
                body,
                now(&f[4]),
            )
        }
        2 => {
            let (f, body) = fields(rest, 4);
            let json = choose(&f[3], &["form", "json"]) == 1;
            let form: Vec<(String, String)> = if json {
                Vec::new()
            } else {
                url::form_urlencoded::parse(body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            };
            signature::verify_twilio(
                text(&f[0]),
                text(&f[1]),
                &form,
                json.then_some(body),
                header(&f[2]),
            )
        }
        _ => {
            let (f, body) = fields(rest, 9);
            let auth = match choose(&f[0], &["bearer", "secret", "hmac"]) {
                0 => VapiAuth::Bearer,
                1 => VapiAuth::Secret,
                _ => VapiAuth::Hmac(VapiHmac {
                    algorithm: match choose(&f[4], &["sha256", "sha512"]) {
                        0 => HmacAlgorithm::Sha256,
                        _ => HmacAlgorithm::Sha512,
                    },
                    encoding: match choose(&f[5], &["hex", "base64"]) {
                        0 => SignatureEncoding::Hex,
                        _ => SignatureEncoding::Base64,
                    },
                    signature_header: text(&f[6]).to_owned(),
                    timestamp_header: text(&f[7]).to_owned(),
                    payload_format: text(&f[8]).to_owned(),
                }),
            };
            let headers: Vec<(&str, &str)> = text(&f[2])
                .split('\t')
                .filter_map(|h| h.split_once(':'))
                .collect();
            signature::verify_vapi(&auth, text(&f[1]), &headers[..], body, now(&f[3]))
        }
    };
    match result {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::Bad(format!("{e:?}")),
    }
}
