//! `/api/v1/settings/credentials/{provider}`: the tenant's provider
//! credentials. Write-only: sealed at rest, never returned or logged; reads
//! show presence, a hint (the last 4 characters) and the update time.

use crate::http::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_ingest::Source;

use crate::auth::TenantScope;
use crate::db::credentials::{self, aad, CredentialProvider};
use crate::db::{audit, Mode};
use crate::http::extract::{perm, Authorized, JsonBody, RequestIdText};
use crate::http::problem::{ApiResult, Problem};
use crate::http::routes::{audit_event, rfc3339, Validator};
use crate::http::AppState;

/// What a credential field may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A key or token: its last 4 characters are the credential's hint.
    Secret,
    /// Another opaque value without spaces (a client id).
    Opaque,
    /// A user name or password: kept exactly as sent, spaces and all.
    Login,
    /// A Twilio account SID: `AC` and 32 hexadecimal digits.
    AccountSid,
    /// An http(s) base URL.
    Url,
    /// A path on that URL, starting with `/`.
    Path,
    /// Optional: whole minutes, a number from `min` to `max` (the pull's
    /// schedule, its look-back).
    Minutes { min: u64, max: u64 },
}

/// The recording pull's schedule: every 15 minutes unless the tenant says
/// otherwise, at least every 5 and at most once a day.
const PULL_EVERY_MINUTES: Kind = Kind::Minutes { min: 5, max: 1440 };
/// How far before its mark the pull lists again: up to a day.
const PULL_LOOKBACK_MINUTES: Kind = Kind::Minutes { min: 0, max: 1440 };

/// What each provider's credential holds.
fn fields_of(provider: CredentialProvider) -> &'static [(&'static str, Kind)] {
    let provider = match provider {
        // The tenant's own key for the platform's LLM endpoint.
        CredentialProvider::Llm => return &[("api_key", Kind::Secret)],
        CredentialProvider::Calls(source) => source,
    };
    match provider {
        Source::Retell | Source::Vapi => &[("api_key", Kind::Secret)],
        Source::Twilio => &[
            ("account_sid", Kind::AccountSid),
            ("auth_token", Kind::Secret),
        ],
        Source::RecordingProvider => &[
            ("base_url", Kind::Url),
            ("client_id", Kind::Opaque),
            ("client_secret", Kind::Secret),
            ("username", Kind::Login),
            ("password", Kind::Login),
            ("token_path", Kind::Path),
            ("recordings_path", Kind::Path),
            ("recording_download_path", Kind::Path),
            ("every_minutes", PULL_EVERY_MINUTES),
            ("lookback_minutes", PULL_LOOKBACK_MINUTES),
        ],
        _ => &[],
    }
}

/// A field as sent, checked and in the form it is stored in.
fn check_field(kind: Kind, value: &Value) -> Result<Value, std::borrow::Cow<'static, str>> {
    if let Kind::Minutes { min, max } = kind {
        return value
            .as_u64()
            .filter(|m| (min..=max).contains(m))
            .map(Value::from)
            .ok_or_else(|| format!("expected whole minutes from {min} to {max}").into());
    }
    let text = value.as_str().ok_or("expected a string")?;
    let text = if kind == Kind::Login {
        text
    } else {
        text.trim()
    };
    Ok(Value::String(check_text(kind, text)?.to_owned()))
}

fn check_text(kind: Kind, value: &str) -> Result<&str, &'static str> {
    let plain = !value.is_empty() && value.len() <= 512 && !value.chars().any(char::is_whitespace);
    match kind {
        Kind::Secret if plain && value.len() >= 8 => Ok(value),
        Kind::Secret => Err("expected 8 to 512 characters without spaces"),
        Kind::Opaque if plain => Ok(value),
        Kind::Opaque => Err("expected 1 to 512 characters without spaces"),
        Kind::Login if (1..=512).contains(&value.len()) && !value.contains(char::is_control) => {
            Ok(value)
        }
        Kind::Login => Err("expected 1 to 512 characters"),
        Kind::AccountSid
            if value.len() == 34
                && value.starts_with("AC")
                && value[2..].bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(value)
        }
        Kind::AccountSid => Err("expected AC followed by 32 hexadecimal digits"),
        Kind::Url
            if plain
                && url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) =>
        {
            Ok(value.trim_end_matches('/'))
        }
        Kind::Url => Err("expected an http(s) URL"),
        Kind::Path if plain && value.starts_with('/') => Ok(value),
        Kind::Path => Err("expected a path starting with /"),
        Kind::Minutes { .. } => Err("expected a number"),
    }
}

fn parse_provider(text: &str) -> Result<CredentialProvider, Problem> {
    CredentialProvider::parse(text)
        .filter(|p| !fields_of(*p).is_empty())
        .ok_or_else(Problem::not_found)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CredentialStatus {
    pub provider: String,
    pub configured: bool,
    /// The last 4 characters of the secret.
    pub hint: Option<String>,
    pub updated_at: Option<String>,
}

/// `retell` and `vapi`: `{"api_key": "…"}`; `twilio`: `{"account_sid": "AC…", "auth_token": "…"}`;
/// `recording_provider`: `base_url, client_id, client_secret, username, password, token_path,
/// recordings_path, recording_download_path`, optionally `every_minutes` and `lookback_minutes` (docs/recording-pull.md).
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct CredentialInput(pub serde_json::Map<String, Value>);

/// Opens the tenant's credential for `provider`, if configured.
pub async fn open_credential(
    state: &AppState,
    scope: &TenantScope,
    provider: impl Into<CredentialProvider>,
) -> Result<Option<Value>, Problem> {
    let provider = provider.into();
    let mut tx = state.db.tenant(scope, Mode::Read).await?;
    let stored = credentials::get(&mut tx, provider).await?;
    tx.commit().await?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    let plain = state
        .keyring
        .open(&stored.sealed, &aad(&scope.tenant_id().to_string(), provider))
        .map_err(|e| {
            tracing::error!(error = %e, provider = provider.as_str(), "cannot open a provider credential");
            Problem::internal()
        })?;
    Ok(serde_json::from_slice(&plain).ok())
}

#[utoipa::path(get, path = "/api/v1/settings/credentials/{provider}", tag = "settings", security(("bearer" = [])),
    params(("provider" = String, Path, description = "retell, vapi, twilio, recording_provider or llm")),
    responses((status = 200, body = CredentialStatus), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    Path(provider): Path<String>,
) -> ApiResult<Json<CredentialStatus>> {
    let provider = parse_provider(&provider)?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let stored = credentials::get(&mut tx, provider).await?;
    tx.commit().await?;
    Ok(Json(CredentialStatus {
        provider: provider.as_str().into(),
        configured: stored.is_some(),
        hint: stored.as_ref().map(|s| s.hint.clone()),
        updated_at: stored.map(|s| rfc3339(s.updated_at)),
    }))
}

#[utoipa::path(put, path = "/api/v1/settings/credentials/{provider}", tag = "settings", security(("bearer" = [])),
    params(("provider" = String, Path, description = "retell, vapi, twilio, recording_provider or llm")), request_body = CredentialInput,
    responses((status = 200, body = CredentialStatus), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn put(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    RequestIdText(request_id): RequestIdText,
    Path(provider): Path<String>,
    JsonBody(CredentialInput(body)): JsonBody<CredentialInput>,
) -> ApiResult<Json<CredentialStatus>> {
    let provider = parse_provider(&provider)?;
    let mut v = Validator::default();
    let mut clean = serde_json::Map::new();
    let mut hint = String::new();
    for (field, kind) in fields_of(provider) {
        let value = match body.get(*field) {
            // The schedule and the look-back are the optional fields.
            None if matches!(kind, Kind::Minutes { .. }) => continue,
            sent => sent.unwrap_or(&Value::Null),
        };
        if let Some(checked) = v.check(field, check_field(*kind, value)) {
            if let (Kind::Secret, Some(s)) = (kind, checked.as_str()) {
                let chars: Vec<char> = s.chars().collect();
                hint = chars[chars.len().saturating_sub(4)..].iter().collect();
            }
            clean.insert((*field).into(), checked);
        }
    }
    for extra in body
        .keys()
        .filter(|k| !fields_of(provider).iter().any(|(f, _)| f == k))
    {
        v.check::<(), _>(extra, Err("unknown field"));
    }
    if let Some(Ok(url)) = clean
        .get("base_url")
        .and_then(Value::as_str)
        .map(url::Url::parse)
    {
        v.check("base_url", state.tenant_http.check(&url));
    }
    v.finish()?;
    let tenant = auth.ctx.tenant_id().to_string();
    let sealed = state.keyring.seal(
        &serde_json::to_vec(&clean).expect("serialises"),
        &aad(&tenant, provider),
    );
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    credentials::put(&mut tx, provider, &sealed, &hint).await?;
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "credential.updated",
            "credential",
            provider.as_str().into(),
            serde_json::json!({"hint": hint}),
        ),
    )
    .await?;
    let stored = credentials::get(&mut tx, provider).await?;
    tx.commit().await?;
    Ok(Json(CredentialStatus {
        provider: provider.as_str().into(),
        configured: true,
        hint: Some(hint),
        updated_at: stored.map(|s| rfc3339(s.updated_at)),
    }))
}

#[utoipa::path(delete, path = "/api/v1/settings/credentials/{provider}", tag = "settings", security(("bearer" = [])),
    params(("provider" = String, Path, description = "retell, vapi, twilio, recording_provider or llm")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    RequestIdText(request_id): RequestIdText,
    Path(provider): Path<String>,
) -> ApiResult<StatusCode> {
    let provider = parse_provider(&provider)?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    if !credentials::delete(&mut tx, provider).await? {
        return Err(Problem::not_found());
    }
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "credential.deleted",
            "credential",
            provider.as_str().into(),
            serde_json::json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CredentialCheck {
    /// Whether the provider accepted the credentials.
    pub ok: bool,
    /// The provider's HTTP status, when it answered.
    pub provider_status: Option<u16>,
    pub message: String,
}

/// Asks the provider whether it accepts the stored credentials (a read-only
/// request to its API).
#[utoipa::path(post, path = "/api/v1/settings/credentials/{provider}/test", tag = "settings", security(("bearer" = [])),
    params(("provider" = String, Path, description = "retell, vapi, twilio, recording_provider or llm")),
    responses((status = 200, body = CredentialCheck), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn test(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    Path(provider): Path<String>,
) -> ApiResult<Json<CredentialCheck>> {
    let provider = parse_provider(&provider)?;
    let cred = open_credential(&state, auth.ctx.scope(), provider)
        .await?
        .ok_or_else(|| {
            Problem::not_found().detail("no credentials are configured for this provider")
        })?;
    let text = |k: &str| cred[k].as_str().unwrap_or_default().to_owned();
    let p = &state.config.providers;
    let source = match provider {
        CredentialProvider::Llm => {
            let Some(base) = &state.config.llm.base_url else {
                return Ok(Json(CredentialCheck {
                    ok: false,
                    provider_status: None,
                    message: "no LLM endpoint is configured on this platform".into(),
                }));
            };
            let request = state
                .http
                .get(format!("{}/models", base.as_str().trim_end_matches('/')))
                .bearer_auth(text("api_key"));
            return Ok(Json(check_answer(request.send().await)));
        }
        CredentialProvider::Calls(source) => source,
    };
    if source == Source::RecordingProvider {
        return Ok(Json(
            match crate::pull::check_credential(&state.tenant_http, &cred).await {
                Ok(()) => CredentialCheck {
                    ok: true,
                    provider_status: Some(200),
                    message: "the provider issued a token".into(),
                },
                Err(message) => CredentialCheck {
                    ok: false,
                    provider_status: None,
                    message,
                },
            },
        ));
    }
    let request = match source {
        Source::Retell => state
            .http
            .get(format!("{}/list-agents", p.retell_api_base))
            .bearer_auth(text("api_key")),
        Source::Vapi => state
            .http
            .get(format!("{}/assistant?limit=1", p.vapi_api_base))
            .bearer_auth(text("api_key")),
        Source::Twilio => {
            let sid = text("account_sid");
            state
                .http
                .get(format!(
                    "{}/2010-04-01/Accounts/{}.json",
                    p.twilio_api_base,
                    url::form_urlencoded::byte_serialize(sid.as_bytes()).collect::<String>()
                ))
                .basic_auth(sid, Some(text("auth_token")))
        }
        _ => return Err(Problem::not_found()),
    };
    Ok(Json(check_answer(request.send().await)))
}

/// What a provider's answer to a credential check means.
fn check_answer(answer: reqwest::Result<reqwest::Response>) -> CredentialCheck {
    match answer {
        Ok(res) if res.status().is_success() => CredentialCheck {
            ok: true,
            provider_status: Some(res.status().as_u16()),
            message: "the provider accepted the credentials".into(),
        },
        Ok(res) => CredentialCheck {
            ok: false,
            provider_status: Some(res.status().as_u16()),
            message: match res.status().as_u16() {
                401 | 403 => "the provider refused the credentials".into(),
                s => format!("the provider answered HTTP {s}"),
            },
        },
        Err(e) => CredentialCheck {
            ok: false,
            provider_status: None,
            message: if e.is_timeout() {
                "the provider did not answer in time".into()
            } else {
                "the provider could not be reached".into()
            },
        },
    }
}
