//! Webhook signature schemes, each checked on the raw body in constant time
//! and, where the scheme carries a timestamp, within a freshness window.
//! `now_ms` is passed in so the checks stay pure and testable.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};
use subtle::ConstantTimeEq as _;

/// Why a signature was refused. The caller answers 401 whatever the reason;
/// the reason is for the operator's counters and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the timestamp is outside the freshness window")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// Retell and Standard Webhooks allow five minutes either way.
pub const FRESHNESS_MS: i64 = 5 * 60 * 1000;

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn fresh(timestamp_ms: i64, now_ms: i64) -> Result<(), SignatureError> {
    // `abs_diff`: any i64 may come from a header, and a difference that
    // overflows must be stale, not a panic (or, wrapped, fresh).
    if now_ms.abs_diff(timestamp_ms) > FRESHNESS_MS.unsigned_abs() {
        Err(SignatureError::Stale)
    } else {
        Ok(())
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Retell: `x-retell-signature: v=<unix ms>,d=<hex HMAC-SHA256(api key, body + ms)>`.
pub fn verify_retell(
    api_key: &str,
    body: &[u8],
    header: Option<&str>,
    now_ms: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut digest = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("v", v)) => timestamp = Some(v),
            Some(("d", d)) => digest = Some(d),
            _ => return Err(SignatureError::Malformed),
        }
    }
    let (Some(ts_text), Some(digest)) = (timestamp, digest) else {
        return Err(SignatureError::Malformed);
    };
    let ts: i64 = ts_text.parse().map_err(|_| SignatureError::Malformed)?;
    let given = hex_decode(digest).ok_or(SignatureError::Malformed)?;
    fresh(ts, now_ms)?;
    let expected = hmac_sha256(api_key.as_bytes(), &[body, ts_text.as_bytes()]);
    same(&expected, &given)
        .then_some(())
        .ok_or(SignatureError::Mismatch)
}

/// The header value Retell would send; for tests, the demo and benchmarks.
pub fn sign_retell(api_key: &str, body: &[u8], timestamp_ms: i64) -> String {
    let ts = timestamp_ms.to_string();
    format!(
        "v={ts},d={}",
        hex_encode(&hmac_sha256(api_key.as_bytes(), &[body, ts.as_bytes()]))
    )
}

/// Standard Webhooks: `webhook-signature` is a space-separated list of
/// `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`; any entry
/// matching any of `secrets` (`whsec_…`, several during a rotation) passes.
pub fn verify_standard(
    secrets: &[&str],
    id: Option<&str>,
    timestamp: Option<&str>,
    signatures: Option<&str>,
    body: &[u8],
    now_ms: i64,
) -> Result<(), SignatureError> {
    let (Some(id), Some(ts_text), Some(signatures)) = (id, timestamp, signatures) else {
        return Err(SignatureError::Missing);
    };
    let ts: i64 = ts_text.parse().map_err(|_| SignatureError::Malformed)?;
    fresh(ts.saturating_mul(1000), now_ms)?;
    let given: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|sig| STANDARD.decode(sig).ok())
        .collect();
    if given.is_empty() {
        return Err(SignatureError::Malformed);
    }
    for secret in secrets {
        let Some(key) = standard_secret_bytes(secret) else {
            continue;
        };
        let expected = hmac_sha256(&key, &[id.as_bytes(), b".", ts_text.as_bytes(), b".", body]);
        if given.iter().any(|g| same(&expected, g)) {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The key bytes of a `whsec_<base64>` secret.
pub fn standard_secret_bytes(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()
}

/// The `webhook-signature` value a Standard Webhooks sender would send.
pub fn sign_standard(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = standard_secret_bytes(secret)?;
    let ts = timestamp.to_string();
    Some(format!(
        "v1,{}",
        STANDARD.encode(hmac_sha256(
            &key,
            &[id.as_bytes(), b".", ts.as_bytes(), b".", body]
        ))
    ))
}

/// Twilio: base64 HMAC-SHA1 under the auth token of the full URL followed by
/// every form parameter (sorted by name, then value) as name + value. JSON
/// bodies are signed over the URL alone, which carries `bodySHA256`. Twilio
/// may sign the URL with or without the scheme's default port, so both are
/// tried.
pub fn verify_twilio(
    auth_token: &str,
    url: &str,
    form: &[(String, String)],
    json_body: Option<&[u8]>,
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let given = STANDARD
        .decode(header.trim())
        .map_err(|_| SignatureError::Malformed)?;
    if let Some(body) = json_body {
        let parsed = url::Url::parse(url).map_err(|_| SignatureError::Malformed)?;
        let claimed = parsed
            .query_pairs()
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v.into_owned())
            .ok_or(SignatureError::Missing)?;
        if !same(
            hex_encode(&Sha256::digest(body)).as_bytes(),
            claimed.as_bytes(),
        ) {
            return Err(SignatureError::Mismatch);
        }
    }
    let params = if json_body.is_some() { &[][..] } else { form };
    for candidate in url_port_variants(url) {
        if same(&twilio_mac(auth_token, &candidate, params), &given) {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

fn twilio_mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac.finalize().into_bytes().to_vec()
}

/// The `X-Twilio-Signature` Twilio would send.
pub fn sign_twilio(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(twilio_mac(auth_token, url, params))
}

/// The URL as given, and with the default port added or removed.
fn url_port_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Ok(parsed) = url::Url::parse(url) else {
        return out;
    };
    let default = match parsed.scheme() {
        "https" => 443,
        "http" => 80,
        _ => return out,
    };
    // `url` hides a default port, so the spellings are compared as text;
    // the first occurrence of the host is the authority.
    if let Some(host) = parsed.host_str() {
        let explicit = format!("{host}:{default}");
        out.push(if url.contains(&explicit) {
            url.replacen(&explicit, host, 1)
        } else {
            url.replacen(host, &explicit, 1)
        });
    }
    out
}

/// How a Vapi server URL authenticates its requests, per agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VapiAuth {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `X-Vapi-Secret: <secret>`.
    Secret,
    Hmac(VapiHmac),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VapiHmac {
    pub algorithm: HmacAlgorithm,
    pub signature_header: String,
    pub timestamp_header: String,
    /// With `{timestamp}` and `{body}` placeholders.
    pub payload_format: String,
    pub encoding: SignatureEncoding,
}

impl Default for VapiHmac {
    fn default() -> Self {
        Self {
            algorithm: HmacAlgorithm::Sha256,
            signature_header: "x-signature".into(),
            timestamp_header: "x-timestamp".into(),
            payload_format: "{timestamp}.{body}".into(),
            encoding: SignatureEncoding::Hex,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HmacAlgorithm {
    Sha256,
    Sha512,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureEncoding {
    Hex,
    Base64,
}

impl VapiHmac {
    fn mac(&self, secret: &[u8], timestamp: &str, body: &[u8]) -> Vec<u8> {
        // The body is spliced in as bytes: it need not be UTF-8.
        let (before, after) = self
            .payload_format
            .split_once("{body}")
            .unwrap_or((self.payload_format.as_str(), ""));
        let before = before.replace("{timestamp}", timestamp);
        let after = after.replace("{timestamp}", timestamp);
        macro_rules! run {
            ($h:ty) => {{
                let mut m = Hmac::<$h>::new_from_slice(secret).expect("any key length");
                m.update(before.as_bytes());
                if self.payload_format.contains("{body}") {
                    m.update(body);
                }
                m.update(after.as_bytes());
                m.finalize().into_bytes().to_vec()
            }};
        }
        match self.algorithm {
            HmacAlgorithm::Sha256 => run!(Sha256),
            HmacAlgorithm::Sha512 => run!(Sha512),
        }
    }

    pub fn sign(&self, secret: &str, timestamp: &str, body: &[u8]) -> String {
        let mac = self.mac(secret.as_bytes(), timestamp, body);
        match self.encoding {
            SignatureEncoding::Hex => hex_encode(&mac),
            SignatureEncoding::Base64 => STANDARD.encode(mac),
        }
    }
}

/// Looks up a request header by name, case-insensitively.
pub trait HeaderLookup {
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderLookup for [(&str, &str)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

pub fn verify_vapi(
    auth: &VapiAuth,
    secret: &str,
    headers: &(impl HeaderLookup + ?Sized),
    body: &[u8],
    now_ms: i64,
) -> Result<(), SignatureError> {
    match auth {
        VapiAuth::Bearer => {
            let given = headers
                .header("authorization")
                .ok_or(SignatureError::Missing)?;
            let token = given
                .strip_prefix("Bearer ")
                .or_else(|| given.strip_prefix("bearer "))
                .ok_or(SignatureError::Malformed)?;
            same(token.trim().as_bytes(), secret.as_bytes())
                .then_some(())
                .ok_or(SignatureError::Mismatch)
        }
        VapiAuth::Secret => {
            let given = headers
                .header("x-vapi-secret")
                .ok_or(SignatureError::Missing)?;
            same(given.trim().as_bytes(), secret.as_bytes())
                .then_some(())
                .ok_or(SignatureError::Mismatch)
        }
        VapiAuth::Hmac(h) => {
            let given = headers
                .header(&h.signature_header)
                .ok_or(SignatureError::Missing)?
                .trim();
            let given = given
                .strip_prefix("sha256=")
                .or_else(|| given.strip_prefix("sha512="))
                .unwrap_or(given);
            let given = match h.encoding {
                SignatureEncoding::Hex => hex_decode(given),
                SignatureEncoding::Base64 => STANDARD.decode(given).ok(),
            }
            .ok_or(SignatureError::Malformed)?;
            let uses_timestamp = h.payload_format.contains("{timestamp}");
            let timestamp = headers.header(&h.timestamp_header).unwrap_or("");
            if uses_timestamp {
                let ts: i64 = timestamp
                    .trim()
                    .parse()
                    .map_err(|_| SignatureError::Malformed)?;
                // Seconds or milliseconds, whichever the sender uses.
                // Saturating: a far-off time is stale, not an overflow.
                let ts_ms = if ts < 100_000_000_000 {
                    ts.saturating_mul(1000)
                } else {
                    ts
                };
                fresh(ts_ms, now_ms)?;
            }
            same(&h.mac(secret.as_bytes(), timestamp.trim(), body), &given)
                .then_some(())
                .ok_or(SignatureError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published vectors in ../shared/fixtures/webhook-signatures.json.
    fn vectors() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/webhook-signatures.json"
        );
        let text = std::fs::read_to_string(path).expect("shared fixtures beside the repository");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn retell_published_vector() {
        let v = &vectors()["retell"];
        let body = v["body"].as_str().unwrap().as_bytes();
        let key = v["key"].as_str().unwrap();
        let ts = v["timestamp_ms"].as_i64().unwrap();
        let header = v["expected_header"].as_str().unwrap();
        assert_eq!(sign_retell(key, body, ts), header);
        assert_eq!(verify_retell(key, body, Some(header), ts + 1000), Ok(()));
        assert_eq!(
            verify_retell(key, body, Some(header), ts + FRESHNESS_MS + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_retell("other-key", body, Some(header), ts),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_retell(key, b"{\"event\":\"call_started\"}", Some(header), ts),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn retell_malformed_headers() {
        for bad in [
            "",
            "v=1",
            "d=ab",
            "v=x,d=ab",
            "v=1,d=zz",
            "v=1,d=abc",
            "q=1,d=ab",
        ] {
            assert_eq!(
                verify_retell("k", b"{}", Some(bad), 1),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            verify_retell("k", b"{}", None, 1),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn twilio_published_vector() {
        let v = &vectors()["twilio"];
        let token = v["auth_token"].as_str().unwrap();
        let url = v["url"].as_str().unwrap();
        let params: Vec<(String, String)> = v["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let expected = v["expected_signature"].as_str().unwrap();
        assert_eq!(sign_twilio(token, url, &params), expected);
        assert_eq!(
            verify_twilio(token, url, &params, None, Some(expected)),
            Ok(())
        );
        // Signed without the port, received with it (and the other way round).
        let with_port = url.replace("mycompany.com", "mycompany.com:443");
        assert_eq!(
            verify_twilio(token, &with_port, &params, None, Some(expected)),
            Ok(())
        );
        let signed_with_port = sign_twilio(token, &with_port, &params);
        assert_eq!(
            verify_twilio(token, url, &params, None, Some(&signed_with_port)),
            Ok(())
        );
        let mut tampered = params.clone();
        tampered[0].1.push('9');
        assert_eq!(
            verify_twilio(token, url, &tampered, None, Some(expected)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn twilio_json_bodies_are_bound_by_their_digest() {
        let body = br#"{"CallSid":"CA1"}"#;
        let digest = hex_encode(&Sha256::digest(body));
        let url = format!("https://sb.example/webhooks/twilio/t?bodySHA256={digest}");
        let sig = sign_twilio("tok", &url, &[]);
        assert_eq!(
            verify_twilio("tok", &url, &[], Some(body), Some(&sig)),
            Ok(())
        );
        assert_eq!(
            verify_twilio("tok", &url, &[], Some(br#"{"CallSid":"CA2"}"#), Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn standard_webhooks_published_vector_and_rotation() {
        let v = &vectors()["standard_webhooks"];
        let secret = v["secret"].as_str().unwrap();
        let id = v["id"].as_str().unwrap();
        let ts = v["timestamp"].as_i64().unwrap();
        let body = v["body"].as_str().unwrap().as_bytes();
        let expected = v["expected_signature"].as_str().unwrap();
        assert_eq!(sign_standard(secret, id, ts, body).unwrap(), expected);
        let now = ts * 1000 + 10_000;
        let ts_text = ts.to_string();
        let check = |secrets: &[&str], sigs: &str, now: i64| {
            verify_standard(secrets, Some(id), Some(&ts_text), Some(sigs), body, now)
        };
        assert_eq!(check(&[secret], expected, now), Ok(()));
        // Several signatures (the sender rotating) and several secrets (us rotating).
        let other = "whsec_dGhlIG90aGVyIHNlY3JldCBrZXkgb2YgMzIgYnl0ZXM=";
        let both = format!("v1,AAAA {expected}");
        assert_eq!(check(&[secret], &both, now), Ok(()));
        assert_eq!(check(&[other, secret], expected, now), Ok(()));
        assert_eq!(
            check(&[other], expected, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&[secret], expected, ts * 1000 + FRESHNESS_MS + 1_000),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(&[secret], "v2,abc", now),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn vapi_schemes() {
        let body = br#"{"message":{"type":"end-of-call-report"}}"#;
        let bearer: &[(&str, &str)] = &[("Authorization", "Bearer s3cret")];
        assert_eq!(
            verify_vapi(&VapiAuth::Bearer, "s3cret", bearer, body, 0),
            Ok(())
        );
        assert_eq!(
            verify_vapi(&VapiAuth::Bearer, "other", bearer, body, 0),
            Err(SignatureError::Mismatch)
        );
        let secret: &[(&str, &str)] = &[("X-Vapi-Secret", "s3cret")];
        assert_eq!(
            verify_vapi(&VapiAuth::Secret, "s3cret", secret, body, 0),
            Ok(())
        );
        assert_eq!(
            verify_vapi(&VapiAuth::Secret, "s3cret", bearer, body, 0),
            Err(SignatureError::Missing)
        );
        for (algorithm, encoding) in [
            (HmacAlgorithm::Sha256, SignatureEncoding::Hex),
            (HmacAlgorithm::Sha512, SignatureEncoding::Base64),
        ] {
            let h = VapiHmac {
                algorithm,
                encoding,
                signature_header: "x-vapi-signature".into(),
                ..VapiHmac::default()
            };
            let now = 1_700_000_000_000;
            let ts = (now / 1000).to_string();
            let sig = h.sign("s3cret", &ts, body);
            let headers: &[(&str, &str)] = &[("X-Vapi-Signature", &sig), ("X-Timestamp", &ts)];
            let auth = VapiAuth::Hmac(h.clone());
            assert_eq!(verify_vapi(&auth, "s3cret", headers, body, now), Ok(()));
            assert_eq!(
                verify_vapi(&auth, "s3cret", headers, b"{}", now),
                Err(SignatureError::Mismatch)
            );
            assert_eq!(
                verify_vapi(&auth, "s3cret", headers, body, now + FRESHNESS_MS + 1_000),
                Err(SignatureError::Stale)
            );
        }
    }

    /// The HMAC covers what the agent's payload format says, computed here
    /// without [`VapiHmac::sign`]; without `{timestamp}` there is no
    /// freshness window and no timestamp header is needed.
    #[test]
    fn vapi_hmac_signs_the_configured_payload_format() {
        let body = br#"{"message":{"type":"end-of-call-report"}}"#;
        let expected = |payload: &[u8]| {
            let mut m = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
            m.update(payload);
            hex_encode(&m.finalize().into_bytes())
        };
        let now = 1_700_000_000_000;
        let ts = (now / 1000).to_string();

        let body_first = VapiHmac {
            payload_format: "{body}.{timestamp}".into(),
            ..VapiHmac::default()
        };
        let signed = [&body[..], b".", ts.as_bytes()].concat();
        let sig = expected(&signed);
        let headers: &[(&str, &str)] = &[("x-signature", &sig), ("x-timestamp", &ts)];
        let auth = VapiAuth::Hmac(body_first);
        assert_eq!(verify_vapi(&auth, "s3cret", headers, body, now), Ok(()));
        assert_eq!(
            verify_vapi(
                &VapiAuth::Hmac(VapiHmac::default()),
                "s3cret",
                headers,
                body,
                now
            ),
            Err(SignatureError::Mismatch),
            "the default format puts the timestamp first"
        );
        assert_eq!(
            verify_vapi(&auth, "s3cret", headers, body, now + FRESHNESS_MS + 1_000),
            Err(SignatureError::Stale)
        );

        let body_only = VapiAuth::Hmac(VapiHmac {
            payload_format: "{body}".into(),
            ..VapiHmac::default()
        });
        let sig = expected(body);
        let headers: &[(&str, &str)] = &[("x-signature", &sig)];
        for at in [now, now + 100 * FRESHNESS_MS] {
            assert_eq!(verify_vapi(&body_only, "s3cret", headers, body, at), Ok(()));
        }
        assert_eq!(
            verify_vapi(&body_only, "s3cret", headers, b"{}", now),
            Err(SignatureError::Mismatch)
        );
    }

    /// Found by the `signatures` fuzz target (fuzz/README.md): a timestamp
    /// far from now overflowed the freshness check (Standard Webhooks'
    /// seconds saturate to i64::MIN); the same held for Retell's
    /// milliseconds and Vapi's seconds-to-milliseconds. All are stale.
    #[test]
    fn extreme_timestamps_are_stale_not_an_overflow() {
        let now = 1_700_000_000_000;
        assert_eq!(
            verify_standard(
                &["\x04ll"],
                Some("\x00\x00\x0004367"),
                Some("-16006000085904165"),
                Some(""),
                b"",
                now
            ),
            Err(SignatureError::Stale)
        );
        for (ts, now) in [(i64::MIN, now), (i64::MAX, -now)] {
            let header = format!("v={ts},d=00");
            assert_eq!(
                verify_retell("k", b"{}", Some(&header), now),
                Err(SignatureError::Stale),
                "{header}"
            );
        }
        let auth = VapiAuth::Hmac(VapiHmac::default());
        let headers: &[(&str, &str)] =
            &[("x-signature", "00"), ("x-timestamp", "-9223372036854776")];
        assert_eq!(
            verify_vapi(&auth, "s", headers, b"{}", now),
            Err(SignatureError::Stale)
        );
    }
}
