//! External identity providers: JWTs verified against the provider's JWKS.
//! The algorithm is pinned per provider (a token claiming another is refused,
//! which closes HS/RS confusion), `iss`, `aud`, `exp` and `nbf` are checked,
//! and keys are cached and fetched again when an unknown `kid` appears — at
//! most once per `min_refetch_interval_secs`, so forged kids cannot make us
//! hammer the provider.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::RwLock;

use crate::config::{IdentityProviderConfig, JwtAlgorithm};

/// The verified claims of an external token, after the claim mapping.
#[derive(Clone, Debug)]
pub struct ExternalIdentity {
    pub provider: String,
    pub org_id: String,
    pub org_name: Option<String>,
    pub user_id: String,
    pub email: Option<String>,
    pub role: switchboard_core::Role,
}

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("the token names no known issuer")]
    UnknownIssuer,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not the one pinned for this provider")]
    WrongAlgorithm,
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the provider's keys could not be fetched: {0}")]
    Fetch(String),
    #[error("the token failed verification: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the token lacks the claim {0}")]
    MissingClaim(String),
}

struct Provider {
    config: IdentityProviderConfig,
    keys: RwLock<KeyCache>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

pub struct ExternalVerifier {
    providers: Vec<Provider>,
    http: reqwest::Client,
}

impl ExternalVerifier {
    pub fn new(configs: &[IdentityProviderConfig]) -> Self {
        Self {
            providers: configs
                .iter()
                .map(|c| Provider {
                    config: c.clone(),
                    keys: RwLock::default(),
                })
                .collect(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a TLS client with default settings builds"),
        }
    }

    /// The issuer a JWT claims, read without verification, to pick the provider.
    pub fn claimed_issuer(token: &str) -> Option<String> {
        let payload = token.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        let value: Value = serde_json::from_slice(&bytes).ok()?;
        value.get("iss")?.as_str().map(str::to_owned)
    }

    pub fn knows_issuer(&self, issuer: &str) -> bool {
        self.providers.iter().any(|p| p.config.issuer == issuer)
    }

    pub async fn verify(&self, token: &str) -> Result<ExternalIdentity, ExternalError> {
        let issuer = Self::claimed_issuer(token).ok_or(ExternalError::Malformed)?;
        let provider = self
            .providers
            .iter()
            .find(|p| p.config.issuer == issuer)
            .ok_or(ExternalError::UnknownIssuer)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| ExternalError::Malformed)?;
        let pinned = match provider.config.algorithm {
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::ES256 => Algorithm::ES256,
        };
        if header.alg != pinned {
            return Err(ExternalError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(ExternalError::UnknownKey)?;
        let key = self.key(provider, &kid).await?;
        let mut validation = Validation::new(pinned);
        validation.set_issuer(&[&provider.config.issuer]);
        validation.set_audience(&[&provider.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = provider.config.leeway_secs;
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)?.claims;
        map_claims(&provider.config, &claims)
    }

    async fn key(&self, provider: &Provider, kid: &str) -> Result<DecodingKey, ExternalError> {
        if let Some(key) = provider.keys.read().await.keys.get(kid) {
            return Ok(key.clone());
        }
        let mut cache = provider.keys.write().await;
        if let Some(key) = cache.keys.get(kid) {
            return Ok(key.clone());
        }
        if cache.fetched_at.is_some_and(|at| {
            at.elapsed() < Duration::from_secs(provider.config.min_refetch_interval_secs)
        }) {
            return Err(ExternalError::UnknownKey);
        }
        cache.fetched_at = Some(Instant::now());
        let set: JwkSet = self
            .http
            .get(provider.config.jwks_url.clone())
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| ExternalError::Fetch(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| ExternalError::Fetch(e.without_url().to_string()))?;
        cache.keys = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or(ExternalError::UnknownKey)
    }
}

/// Reads a claim by a dotted path (`o.id` reaches `{"o": {"id": …}}`).
fn claim<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(claims, |v, part| v.get(part))
}

fn claim_str(claims: &Value, path: &str) -> Option<String> {
    claim(claims, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn map_claims(
    config: &IdentityProviderConfig,
    claims: &Value,
) -> Result<ExternalIdentity, ExternalError> {
    let m = &config.claims;
    let role = m
        .role
        .as_deref()
        .and_then(|path| claim_str(claims, path))
        .and_then(|r| r.trim_start_matches("org:").parse().ok())
        .unwrap_or(m.default_role);
    Ok(ExternalIdentity {
        provider: config.name.clone(),
        org_id: claim_str(claims, &m.org_id)
            .ok_or_else(|| ExternalError::MissingClaim(m.org_id.clone()))?,
        org_name: claim_str(claims, &m.org_name),
        user_id: claim_str(claims, &m.user_id)
            .or_else(|| claim_str(claims, "sub"))
            .ok_or_else(|| ExternalError::MissingClaim(m.user_id.clone()))?,
        email: claim_str(claims, &m.email),
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClaimMapping;

    fn config(mapping: ClaimMapping) -> IdentityProviderConfig {
        IdentityProviderConfig {
            name: "clerk".into(),
            issuer: "https://clerk.example".into(),
            audience: "switchboard".into(),
            jwks_url: "https://clerk.example/.well-known/jwks.json"
                .parse()
                .unwrap(),
            algorithm: JwtAlgorithm::RS256,
            claims: mapping,
            leeway_secs: 0,
            min_refetch_interval_secs: 10,
        }
    }

    #[test]
    fn default_mapping_reads_clerk_claims() {
        let claims = serde_json::json!({"org_id": "org_1", "org_name": "Acme", "user_id": "user_9", "email": "a@example.com", "org_role": "org:admin"});
        let id = map_claims(&config(ClaimMapping::default()), &claims).unwrap();
        assert_eq!(
            (id.org_id.as_str(), id.user_id.as_str()),
            ("org_1", "user_9")
        );
        assert_eq!(id.role, switchboard_core::Role::Admin);
        assert_eq!(id.org_name.as_deref(), Some("Acme"));
    }

    #[test]
    fn nested_paths_and_defaults() {
        let mapping = ClaimMapping {
            org_id: "o.id".into(),
            role: Some("o.rol".into()),
            ..ClaimMapping::default()
        };
        let claims = serde_json::json!({"o": {"id": "org_2", "rol": "superhero"}, "sub": "user_3"});
        let id = map_claims(&config(mapping), &claims).unwrap();
        assert_eq!(id.org_id, "org_2");
        assert_eq!(id.user_id, "user_3");
        assert_eq!(
            id.role,
            switchboard_core::Role::Member,
            "unknown role falls back to the default"
        );
    }

    #[test]
    fn missing_org_is_refused() {
        let claims = serde_json::json!({"user_id": "u"});
        assert!(matches!(
            map_claims(&config(ClaimMapping::default()), &claims),
            Err(ExternalError::MissingClaim(_))
        ));
    }
}
