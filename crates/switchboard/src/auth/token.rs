//! Session access tokens (short-lived HS256 JWTs, algorithm pinned) and
//! refresh-token secrets (opaque, stored as keyed hashes).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::distributions::{Alphanumeric, DistString as _};
use serde::{Deserialize, Serialize};
use switchboard_core::{RefreshFamilyId, TenantId, UserId};
use zeroize::Zeroizing;

pub const ISSUER: &str = "switchboard";
pub const AUDIENCE: &str = "switchboard-api";

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A signed-in user's session.
    Session,
    /// A platform operator acting in a tenant.
    Impersonation,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub kind: TokenKind,
    /// The tenant; absent for a platform admin's own session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<TenantId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<RefreshFamilyId>,
    pub iat: i64,
    pub exp: i64,
}

pub fn issue(key: &[u8], claims: &AccessClaims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key),
    )
    .expect("HS256 signing of serialisable claims cannot fail")
}

/// Verifies signature (HS256 only), issuer, audience and expiry.
pub fn verify(key: &[u8], token: &str) -> Result<AccessClaims, jsonwebtoken::errors::Error> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 5;
    jsonwebtoken::decode::<AccessClaims>(token, &DecodingKey::from_secret(key), &validation)
        .map(|d| d.claims)
}

/// An opaque refresh token; only its keyed hash is stored.
pub fn new_refresh_secret() -> Zeroizing<String> {
    Zeroizing::new(format!(
        "sbr_{}",
        Alphanumeric.sample_string(&mut rand::rngs::OsRng, 48)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in: i64) -> AccessClaims {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: UserId::generate(),
            kind: TokenKind::Session,
            tid: Some(TenantId::generate()),
            sid: None,
            iat: now,
            exp: now + exp_in,
        }
    }

    #[test]
    fn round_trip() {
        let c = claims(60);
        let t = issue(b"k", &c);
        assert_eq!(verify(b"k", &t).unwrap().sub, c.sub);
    }

    #[test]
    fn refuses_wrong_key_expired_and_unsigned() {
        let t = issue(b"k", &claims(60));
        assert!(verify(b"other", &t).is_err());
        assert!(verify(b"k", &issue(b"k", &claims(-60))).is_err());
        // alg "none" with the same claims
        let parts: Vec<&str> = t.split('.').collect();
        use base64::Engine as _;
        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(verify(b"k", &format!("{none_header}.{}.", parts[1])).is_err());
    }
}
