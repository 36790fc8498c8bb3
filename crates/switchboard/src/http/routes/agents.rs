//! `/api/v1/agents`: the tenant's voice agents, each with its own webhook URL.

use crate::http::extract::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::AgentId;
use switchboard_ingest::signature::{HmacAlgorithm, SignatureEncoding, VapiAuth, VapiHmac};
use switchboard_ingest::Source;

use super::members::parse_id;
use crate::auth::webhook;
use crate::auth::TenantContext;
use crate::db::agents::{self, AgentChanges, AgentRecord, NewAgent};
use crate::db::{audit, Mode};
use crate::http::extract::{perm, Authorized, JsonBody, RequestIdText};
use crate::http::pagination::{Listing, Page, PageQuery};
use crate::http::problem::{ApiResult, Problem};
use crate::http::routes::{audit_event, rfc3339, Validator};
use crate::http::AppState;
use crate::secrets::Sealed;

#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub id: AgentId,
    pub name: String,
    /// `retell`, `vapi`, `twilio` or `generic` (Standard Webhooks).
    #[schema(value_type = String)]
    pub provider: Source,
    pub provider_agent_id: Option<String>,
    /// `pending_validation` until the first correctly signed webhook, then
    /// `active`; `inactive` when switched off; `error` with `error_message`.
    pub status: String,
    pub error_message: Option<String>,
    /// Give this URL to the provider. Treat it as a secret; rotate it with
    /// `POST /api/v1/agents/{id}/rotate-token`.
    pub webhook_url: String,
    /// Vapi's verification scheme (no secrets).
    #[schema(value_type = Option<Object>)]
    pub webhook_auth: Option<serde_json::Value>,
    pub last_webhook_received_at: Option<String>,
    /// Webhooks refused for a bad signature or stale timestamp.
    pub signature_failures: i64,
    pub last_signature_failure_at: Option<String>,
    /// Webhooks refused because the agent is switched off (`inactive`):
    /// the provider is still sending to it.
    pub refused_while_inactive: i64,
    pub last_refused_while_inactive_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl AgentView {
    fn new(state: &AppState, a: AgentRecord) -> Self {
        let token = webhook::token(&state.auth.keys().credential_pepper, a.id, &a.token_nonce);
        Self {
            webhook_url: format!(
                "{}/webhooks/{}/{token}",
                state.config.public_base(),
                a.provider.as_str()
            ),
            id: a.id,
            name: a.name,
            provider: a.provider,
            provider_agent_id: a.provider_agent_id,
            status: a.status,
            error_message: a.error_message,
            webhook_auth: (a.provider == Source::Vapi).then_some(a.webhook_auth),
            last_webhook_received_at: a.last_webhook_received_at.map(rfc3339),
            signature_failures: a.signature_failures.count,
            last_signature_failure_at: a.signature_failures.last_at.map(rfc3339),
            refused_while_inactive: a.refused_while_inactive.count,
            last_refused_while_inactive_at: a.refused_while_inactive.last_at.map(rfc3339),
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

/// How Vapi authenticates to this agent's URL.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VapiAuthInput {
    /// `bearer` (Authorization header), `secret` (X-Vapi-Secret) or `hmac`.
    pub scheme: String,
    /// The shared secret, as configured in Vapi; generated when left out.
    pub secret: Option<String>,
    /// HMAC only: `sha256` (default) or `sha512`.
    pub algorithm: Option<String>,
    /// HMAC only; default `x-signature`.
    pub signature_header: Option<String>,
    /// HMAC only; default `x-timestamp`.
    pub timestamp_header: Option<String>,
    /// HMAC only; default `{timestamp}.{body}`.
    pub payload_format: Option<String>,
    /// HMAC only: `hex` (default) or `base64`.
    pub encoding: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// 1 to 100 characters.
    pub name: String,
    /// `retell`, `vapi`, `twilio` or `generic`.
    pub provider: String,
    /// The provider's id of the agent (Retell `agent_id`, Vapi `assistantId`).
    pub provider_agent_id: Option<String>,
    /// Vapi only; `{"scheme": "bearer"}` when left out.
    pub vapi_auth: Option<VapiAuthInput>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedAgent {
    pub agent: AgentView,
    /// For `generic` (a `whsec_` Standard Webhooks secret) and `vapi`: the
    /// secret the sender signs with, when Switchboard generated it (one the
    /// tenant chose is not echoed). Shown this once.
    pub signing_secret: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    /// Left out: unchanged. Not `null`.
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub provider_agent_id: Option<Option<String>>,
    /// `active` or `inactive`. `active` gives `pending_validation` to an
    /// agent that has had no correctly signed webhook yet or showed `error`:
    /// its next correctly signed webhook makes it active. Not `null`.
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(value_type = Option<String>)]
    pub status: Option<Option<String>>,
    /// Vapi only: how Vapi authenticates from now on, as at creation but
    /// without `secret` (the agent keeps its secret; `rotate-secret`
    /// changes it). An agent that is not switched off becomes
    /// `pending_validation` until a webhook proves the new scheme. Not `null`.
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(value_type = Option<VapiAuthInput>)]
    pub vapi_auth: Option<Option<VapiAuthInput>>,
}

fn check_name(v: &mut Validator, name: &str) -> Option<String> {
    let name = name.trim();
    v.check(
        "name",
        if (1..=100).contains(&name.chars().count()) {
            Ok(name.to_owned())
        } else {
            Err("expected 1 to 100 characters")
        },
    )
}

fn check_provider_agent_id(v: &mut Validator, id: &str) -> Option<String> {
    let id = id.trim();
    v.check(
        "provider_agent_id",
        if (1..=200).contains(&id.len()) && !id.chars().any(char::is_control) {
            Ok(id.to_owned())
        } else {
            Err("expected 1 to 200 printable characters")
        },
    )
}

/// The stored (non-secret) form of a Vapi scheme.
pub fn vapi_auth_json(auth: &VapiAuth) -> serde_json::Value {
    match auth {
        VapiAuth::Bearer => serde_json::json!({"scheme": "bearer"}),
        VapiAuth::Secret => serde_json::json!({"scheme": "secret"}),
        VapiAuth::Hmac(h) => serde_json::json!({
            "scheme": "hmac",
            "algorithm": match h.algorithm { HmacAlgorithm::Sha256 => "sha256", HmacAlgorithm::Sha512 => "sha512" },
            "signature_header": h.signature_header,
            "timestamp_header": h.timestamp_header,
            "payload_format": h.payload_format,
            "encoding": match h.encoding { SignatureEncoding::Hex => "hex", SignatureEncoding::Base64 => "base64" },
        }),
    }
}

/// Reads the stored form back; anything unexpected falls back to bearer.
pub fn vapi_auth_from_json(v: &serde_json::Value) -> VapiAuth {
    let text = |k: &str| v.get(k).and_then(|x| x.as_str());
    match text("scheme") {
        Some("secret") => VapiAuth::Secret,
        Some("hmac") => {
            let d = VapiHmac::default();
            VapiAuth::Hmac(VapiHmac {
                algorithm: if text("algorithm") == Some("sha512") {
                    HmacAlgorithm::Sha512
                } else {
                    HmacAlgorithm::Sha256
                },
                signature_header: text("signature_header")
                    .map_or(d.signature_header, str::to_owned),
                timestamp_header: text("timestamp_header")
                    .map_or(d.timestamp_header, str::to_owned),
                payload_format: text("payload_format").map_or(d.payload_format, str::to_owned),
                encoding: if text("encoding") == Some("base64") {
                    SignatureEncoding::Base64
                } else {
                    SignatureEncoding::Hex
                },
            })
        }
        _ => VapiAuth::Bearer,
    }
}

/// `vapi_auth` for an agent of `provider`: read for Vapi (bearer when left
/// out), refused for any other provider.
fn vapi_auth_of(
    v: &mut Validator,
    provider: Option<Source>,
    input: Option<VapiAuthInput>,
) -> (Option<VapiAuth>, Option<String>) {
    if provider == Some(Source::Vapi) {
        return parse_vapi_auth(v, input);
    }
    if input.is_some() {
        v.check::<(), _>("vapi_auth", Err("only for vapi agents"));
    }
    (None, None)
}

fn parse_vapi_auth(
    v: &mut Validator,
    input: Option<VapiAuthInput>,
) -> (Option<VapiAuth>, Option<String>) {
    let Some(input) = input else {
        return (Some(VapiAuth::Bearer), None);
    };
    let header_name = |v: &mut Validator, field: &str, value: Option<String>, default: String| {
        let value = value.unwrap_or(default).to_ascii_lowercase();
        v.check(
            field,
            if (1..=64).contains(&value.len())
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                Ok(value)
            } else {
                Err("expected a header name of 1 to 64 letters, digits and hyphens")
            },
        )
    };
    let secret = input.secret.and_then(|s| {
        v.check(
            "vapi_auth.secret",
            // Sent in a header, which is trimmed and must be visible ASCII:
            // any other secret could never be matched.
            if (16..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) {
                Ok(s)
            } else {
                Err("expected 16 to 256 visible ASCII characters, without spaces")
            },
        )
    });
    let auth = match input.scheme.as_str() {
        "bearer" => Some(VapiAuth::Bearer),
        "secret" => Some(VapiAuth::Secret),
        "hmac" => {
            let d = VapiHmac::default();
            let algorithm = match input.algorithm.as_deref() {
                None | Some("sha256") => Some(HmacAlgorithm::Sha256),
                Some("sha512") => Some(HmacAlgorithm::Sha512),
                Some(_) => v.check("vapi_auth.algorithm", Err("expected sha256 or sha512")),
            };
            let encoding = match input.encoding.as_deref() {
                None | Some("hex") => Some(SignatureEncoding::Hex),
                Some("base64") => Some(SignatureEncoding::Base64),
                Some(_) => v.check("vapi_auth.encoding", Err("expected hex or base64")),
            };
            let payload_format = input.payload_format.unwrap_or(d.payload_format);
            if !payload_format.contains("{body}") || payload_format.len() > 200 {
                v.check::<(), _>(
                    "vapi_auth.payload_format",
                    Err("expected at most 200 characters including {body}"),
                );
            }
            let sig = header_name(
                v,
                "vapi_auth.signature_header",
                input.signature_header,
                d.signature_header,
            );
            let ts = header_name(
                v,
                "vapi_auth.timestamp_header",
                input.timestamp_header,
                d.timestamp_header,
            );
            match (algorithm, encoding, sig, ts) {
                (
                    Some(algorithm),
                    Some(encoding),
                    Some(signature_header),
                    Some(timestamp_header),
                ) => Some(VapiAuth::Hmac(VapiHmac {
                    algorithm,
                    signature_header,
                    timestamp_header,
                    payload_format,
                    encoding,
                })),
                _ => None,
            }
        }
        _ => v.check("vapi_auth.scheme", Err("expected bearer, secret or hmac")),
    };
    (auth, secret)
}

/// The associated data binding an agent's sealed secrets to it.
pub fn secrets_aad(ctx_tenant: &str, agent: AgentId) -> String {
    format!("agent:{ctx_tenant}:{agent}")
}

/// Opens an agent's webhook secrets (newest first).
pub fn open_secrets(state: &AppState, tenant: &str, agent: &AgentRecord) -> Option<Vec<String>> {
    let sealed = agent.webhook_secrets.as_ref()?;
    let plain = state
        .keyring
        .open(sealed, &secrets_aad(tenant, agent.id))
        .map_err(|e| tracing::error!(error = %e, agent = %agent.id, "cannot open webhook secrets"))
        .ok()?;
    serde_json::from_slice(&plain).ok()
}

fn generate_secret(provider: Source) -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    match provider {
        Source::Generic => format!("whsec_{body}"),
        _ => body,
    }
}

#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<AgentView>), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<AgentView>>> {
    let listing = Listing::new(
        state.cursor_key(),
        "agents",
        auth.ctx.tenant_id().to_string(),
        q.limit,
        q.cursor,
    )?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let rows = agents::list(&mut tx, listing.position()?, listing.fetch()).await?;
    tx.commit().await?;
    Ok(Json(
        listing.page(
            rows.into_iter()
                .map(|a| AgentView::new(&state, a))
                .collect(),
            |a| a.id.to_string(),
        ),
    ))
}

#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", security(("bearer" = [])), request_body = CreateAgent,
    responses((status = 201, body = CreatedAgent), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    RequestIdText(request_id): RequestIdText,
    JsonBody(body): JsonBody<CreateAgent>,
) -> ApiResult<(StatusCode, Json<CreatedAgent>)> {
    let mut v = Validator::default();
    let name = check_name(&mut v, &body.name);
    let provider = v.check(
        "provider",
        Source::parse(&body.provider)
            .filter(|p| p.is_agent_provider())
            .ok_or("expected retell, vapi, twilio or generic"),
    );
    let provider_agent_id = body
        .provider_agent_id
        .as_deref()
        .and_then(|p| check_provider_agent_id(&mut v, p));
    let (vapi_auth, vapi_secret) = vapi_auth_of(&mut v, provider, body.vapi_auth);
    v.finish()?;
    let (Some(name), Some(provider)) = (name, provider) else {
        return Err(Problem::internal());
    };
    let created = create_agent(
        &state,
        &auth.ctx,
        request_id,
        &name,
        provider,
        provider_agent_id.as_deref(),
        vapi_auth,
        vapi_secret,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Creates an agent (shared by the API and the demo).
#[allow(clippy::too_many_arguments)]
pub async fn create_agent(
    state: &AppState,
    ctx: &TenantContext,
    request_id: Option<String>,
    name: &str,
    provider: Source,
    provider_agent_id: Option<&str>,
    vapi_auth: Option<VapiAuth>,
    vapi_secret: Option<String>,
) -> ApiResult<CreatedAgent> {
    // A secret the tenant chose is not sent back: only one Switchboard
    // generated is shown, once.
    let chosen = vapi_secret.is_some();
    let signing_secret = match provider {
        Source::Generic => Some(generate_secret(provider)),
        Source::Vapi => Some(vapi_secret.unwrap_or_else(|| generate_secret(provider))),
        _ => None,
    };
    let auth_json = vapi_auth
        .as_ref()
        .map(vapi_auth_json)
        .unwrap_or_else(|| serde_json::json!({}));
    let id = AgentId::generate();
    let nonce = webhook::new_nonce();
    let pepper = &state.auth.keys().credential_pepper;
    let token_hash = webhook::token_hash(pepper, &webhook::token(pepper, id, &nonce));
    let sealed = signing_secret.as_ref().map(|s| {
        state.keyring.seal(
            &serde_json::to_vec(&[s]).expect("serialises"),
            &secrets_aad(&ctx.tenant_id().to_string(), id),
        )
    });
    let mut tx = state.db.tenant(ctx.scope(), Mode::Write).await?;
    let record = agents::insert(
        &mut tx,
        NewAgent {
            id,
            name,
            provider,
            provider_agent_id,
            token_nonce: &nonce,
            token_hash: &token_hash,
            webhook_auth: &auth_json,
            webhook_secrets: sealed.as_ref(),
        },
    )
    .await?;
    audit::append(
        &mut tx,
        audit_event(
            ctx,
            request_id,
            "agent.created",
            "agent",
            record.id.to_string(),
            serde_json::json!({"name": name, "provider": provider.as_str()}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedAgent {
        agent: AgentView::new(state, record),
        signing_secret: signing_secret.filter(|_| !chosen),
    })
}

#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentView>> {
    let id = parse_id::<AgentId>(&id)?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let agent = agents::get(&mut tx, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(Json(AgentView::new(&state, agent)))
}

#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = UpdateAgent,
    responses((status = 200, body = AgentView), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    RequestIdText(request_id): RequestIdText,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateAgent>,
) -> ApiResult<Json<AgentView>> {
    let id = parse_id::<AgentId>(&id)?;
    let mut v = Validator::default();
    let name = v
        .not_null("name", body.name)
        .and_then(|n| check_name(&mut v, &n));
    // `Some(None)`: removed.
    let provider_agent_id = body.provider_agent_id.and_then(|p| match p {
        None => Some(None),
        Some(p) => check_provider_agent_id(&mut v, &p).map(Some),
    });
    let status = v.not_null("status", body.status);
    let status = status.as_deref().and_then(|s| {
        v.check(
            "status",
            match s {
                "active" | "inactive" => Ok(s),
                _ => Err("expected active or inactive"),
            },
        )
    });
    let webhook_auth = match v.not_null("vapi_auth", body.vapi_auth) {
        None => None,
        Some(input) => {
            let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
            let provider = agents::get(&mut tx, id)
                .await?
                .ok_or_else(Problem::not_found)?
                .provider;
            tx.commit().await?;
            if input.secret.is_some() {
                v.check::<(), _>(
                    "vapi_auth.secret",
                    Err("the secret is changed with rotate-secret"),
                );
            }
            let input = VapiAuthInput {
                secret: None,
                ..input
            };
            vapi_auth_of(&mut v, Some(provider), Some(input))
                .0
                .map(|a| vapi_auth_json(&a))
        }
    };
    v.finish()?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    let agent = agents::update(
        &mut tx,
        id,
        AgentChanges {
            name: name.as_deref(),
            provider_agent_id: provider_agent_id.as_ref().map(Option::as_deref),
            status,
            webhook_auth: webhook_auth.as_ref(),
        },
    )
    .await?
    .ok_or_else(Problem::not_found)?;
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "agent.updated",
            "agent",
            id.to_string(),
            serde_json::json!({"name": name, "provider_agent_id": provider_agent_id, "vapi_auth": webhook_auth,
                "status": (status.is_some() || webhook_auth.is_some()).then_some(&agent.status)}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(AgentView::new(&state, agent)))
}

#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    RequestIdText(request_id): RequestIdText,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id::<AgentId>(&id)?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    if !agents::delete(&mut tx, id).await? {
        return Err(Problem::not_found());
    }
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "agent.deleted",
            "agent",
            id.to_string(),
            serde_json::json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the webhook URL; the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/agents/{id}/rotate-token", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn rotate_token(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    RequestIdText(request_id): RequestIdText,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentView>> {
    let id = parse_id::<AgentId>(&id)?;
    let pepper = &state.auth.keys().credential_pepper;
    let nonce = webhook::new_nonce();
    let hash = webhook::token_hash(pepper, &webhook::token(pepper, id, &nonce));
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    let agent = agents::rotate_token(&mut tx, id, &nonce, &hash)
        .await?
        .ok_or_else(Problem::not_found)?;
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "agent.token_rotated",
            "agent",
            id.to_string(),
            serde_json::json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(AgentView::new(&state, agent)))
}

/// Secrets an agent keeps: the newest, and the one before it while senders
/// switch over.
const KEPT_SECRETS: usize = 2;

/// Gives a `generic` or `vapi` agent a new signing secret, shown this once.
/// The previous one keeps working until the next rotation, so a sender can
/// switch over without losing events (Standard Webhooks senders may sign
/// with both meanwhile).
#[utoipa::path(post, path = "/api/v1/agents/{id}/rotate-secret", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = CreatedAgent), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    RequestIdText(request_id): RequestIdText,
    Path(id): Path<String>,
) -> ApiResult<Json<CreatedAgent>> {
    let id = parse_id::<AgentId>(&id)?;
    let tenant = auth.ctx.tenant_id().to_string();
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    let agent = agents::get(&mut tx, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    if !matches!(agent.provider, Source::Generic | Source::Vapi) {
        return Err(Problem::conflict("no-signing-secret", "This agent has no signing secret")
            .detail("its provider signs with the tenant's credentials: replace them under /api/v1/settings/credentials"));
    }
    let secret = generate_secret(agent.provider);
    let mut secrets = vec![secret.clone()];
    secrets.extend(open_secrets(&state, &tenant, &agent).unwrap_or_default());
    secrets.truncate(KEPT_SECRETS);
    let sealed = state.keyring.seal(
        &serde_json::to_vec(&secrets).expect("serialises"),
        &secrets_aad(&tenant, id),
    );
    agents::replace_secrets(&mut tx, id, &sealed).await?;
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "agent.secret_rotated",
            "agent",
            id.to_string(),
            serde_json::json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(CreatedAgent {
        agent: AgentView::new(&state, agent),
        signing_secret: Some(secret),
    }))
}

/// Re-seals an agent's secrets under the active master key (rotation).
pub fn rewrap(
    state_keyring: &crate::secrets::Keyring,
    tenant: &str,
    agent: &AgentRecord,
) -> anyhow::Result<Option<Sealed>> {
    agent
        .webhook_secrets
        .as_ref()
        .map(|s| {
            state_keyring
                .rewrap(s, &secrets_aad(tenant, agent.id))
                .map_err(|e| {
                    anyhow::anyhow!("cannot re-wrap the secrets of agent {}: {e}", agent.id)
                })
        })
        .transpose()
}
