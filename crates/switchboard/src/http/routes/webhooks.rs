//! `POST /webhooks/{provider}/{token}`: provider events, one URL per agent.
//! The token finds the agent and so the tenant; the signature is checked on
//! the raw body before anything is read; a bad one is counted on the agent
//! and nothing else is stored.

use crate::http::client_addr::ClientAddr;
use crate::http::extract::Path;
use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use switchboard_core::AgentId;
use switchboard_ingest::providers::{retell, switchboard, twilio, vapi};
use switchboard_ingest::signature::{self, SignatureError};
use switchboard_ingest::{CallUpdate, ParseError, Source};

use super::agents::{open_secrets, vapi_auth_from_json};
use super::credentials::open_credential;
use crate::auth::webhook::WebhookAgent;
use crate::auth::TenantScope;
use crate::db::agents::{self, Refusal};
use crate::db::{now_ms, Mode};
use crate::http::extract::{read_limited, tenant_mismatch};
use crate::http::problem::{ApiResult, Problem};
use crate::http::ratelimit::Limit;
use crate::http::AppState;
use crate::ingest::{self, Accepted};

/// A payload that could not be read: 400, naming every bad field.
fn payload_problem(errors: Vec<ParseError>) -> Problem {
    let mut p = Problem::validation_of(errors);
    p.status = StatusCode::BAD_REQUEST;
    p.kind = "/problems/malformed-payload".into();
    p.title = "The payload could not be read".into();
    p
}

/// `field` of the tenant's credential for `provider`, which this node
/// remembers for a while: every webhook of a flood is verified with it.
async fn credential_field(
    state: &AppState,
    scope: &TenantScope,
    provider: Source,
    field: &str,
) -> Result<Option<String>, Problem> {
    let credential = state
        .auth
        .provider_secret(scope, provider, open_credential(state, scope, provider))
        .await?;
    Ok(credential.and_then(|c| c[field].as_str().map(str::to_owned)))
}

/// The agent a call is filed under: the URL's, unless the URL's agent
/// names its provider's agent id and the payload names another one that an
/// agent of the tenant names (a provider's account-wide webhook pointed at
/// one agent's URL; decision 0017).
async fn owning_agent(
    state: &AppState,
    scope: &TenantScope,
    agent: &agents::AgentRecord,
    update: &CallUpdate,
) -> Result<AgentId, Problem> {
    let (Some(named), Some(own)) = (
        update.fields.provider_agent_id.as_deref(),
        agent.provider_agent_id.as_deref(),
    ) else {
        return Ok(agent.id);
    };
    if named == own {
        return Ok(agent.id);
    }
    let mut read = state.db.tenant(scope, Mode::Read).await?;
    let owner = agents::find_by_provider_agent_id(&mut read, agent.provider, named).await?;
    drop(read);
    let Some(owner) = owner.filter(|o| o.id != agent.id) else {
        return Ok(agent.id);
    };
    if owner.status == "inactive" {
        return Err(refuse_inactive(
            state,
            scope,
            owner.id,
            format!(
                "the call is of agent {}, which is switched off; reactivate it to receive its webhooks",
                owner.id
            ),
        )
        .await);
    }
    Ok(owner.id)
}

/// Counts a webhook `agent` refused, in a transaction of its own: the
/// request stores nothing else.
async fn count_refusal(
    state: &AppState,
    scope: &TenantScope,
    agent: AgentId,
    why: Refusal,
    at: i64,
) -> Result<(), Problem> {
    let mut tx = state.db.tenant(scope, Mode::Write).await?;
    agents::record_refusal(&mut tx, agent, why, at).await?;
    tx.commit().await?;
    Ok(())
}

/// Refuses a webhook for the switched-off agent `agent`, counting it on
/// that agent: its provider is still sending to it.
async fn refuse_inactive(
    state: &AppState,
    scope: &TenantScope,
    agent: AgentId,
    detail: String,
) -> Problem {
    match count_refusal(state, scope, agent, Refusal::WhileInactive, now_ms()).await {
        Ok(()) => Problem::forbidden("agent-inactive", "This agent is switched off").detail(detail),
        Err(problem) => problem,
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Why a webhook cannot be verified at all: the tenant must configure something.
fn unverifiable(what: &str) -> Problem {
    Problem::unauthorized()
        .detail(format!("this webhook cannot be verified: {what}"))
        .extension("reason", "not-configured".into())
}

#[utoipa::path(post, path = "/webhooks/{provider}/{token}", tag = "webhooks",
    params(("provider" = String, Path, description = "retell, vapi, twilio or generic"), ("token" = String, Path, description = "the agent's webhook token")),
    request_body(content = String, description = "The provider's payload, signed as the provider signs it"),
    responses((status = 200, body = Accepted), (status = 204, description = "a correctly signed event Switchboard does not keep"),
              (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "nothing is stored: the agent, or the agent the payload names (decision 0017), is switched off (`agent-inactive`), the tenant is suspended (`tenant-suspended`), or the payload names another tenant (`tenant-mismatch`)", body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 413, body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "storage failed; send it again", body = Problem, content_type = "application/problem+json")))]
pub async fn receive(
    State(state): State<AppState>,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    Path((provider, token)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let found = match Source::parse(&provider).filter(|p| p.is_agent_provider()) {
        Some(provider) => state
            .auth
            .webhook_agent(provider, &token)
            .await?
            .map(|found| (provider, found)),
        None => None,
    };
    let Some((provider, WebhookAgent { scope, agent })) = found else {
        // Guessing URLs is what the per-address limit is left for here.
        crate::http::admit_address(&state, client).await?;
        return Err(Problem::not_found());
    };
    let per_agent = Limit::per_second(state.config.rate_limits.webhooks_per_agent_per_second);
    state
        .limiter
        .admit(&format!("webhook-agent:{}", agent.id), per_agent)
        .await?;
    if agent.status == "inactive" {
        return Err(refuse_inactive(
            &state,
            &scope,
            agent.id,
            "reactivate the agent to receive its webhooks".into(),
        )
        .await);
    }
    let body = read_limited(body, state.config.http.body_limit_bytes).await?;
    let tenant = scope.tenant_id().to_string();
    let now = now_ms();
    let is_form = header_text(&headers, header::CONTENT_TYPE.as_str())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));

    let verdict = match provider {
        Source::Retell => {
            match credential_field(&state, &scope, Source::Retell, "api_key").await? {
                None => Err(unverifiable(
                    "no Retell API key is configured for this tenant",
                )),
                Some(key) => Ok(signature::verify_retell(
                    &key,
                    &body,
                    header_text(&headers, "x-retell-signature"),
                    now,
                )),
            }
        }
        Source::Twilio => {
            match credential_field(&state, &scope, Source::Twilio, "auth_token").await? {
                None => Err(unverifiable(
                    "no Twilio credentials are configured for this tenant",
                )),
                Some(auth_token) => {
                    let url = format!("{}{}", state.config.public_base(), uri);
                    let form: Vec<(String, String)> = if is_form {
                        url::form_urlencoded::parse(&body).into_owned().collect()
                    } else {
                        Vec::new()
                    };
                    Ok(signature::verify_twilio(
                        &auth_token,
                        &url,
                        &form,
                        (!is_form).then_some(&body[..]),
                        header_text(&headers, "x-twilio-signature"),
                    ))
                }
            }
        }
        Source::Vapi | Source::Generic => match open_secrets(&state, &tenant, &agent) {
            None => Err(unverifiable("the agent has no signing secret")),
            Some(secrets) if provider == Source::Vapi => {
                let pairs: Vec<(&str, &str)> = headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
                    .collect();
                // Any of the agent's secrets (the newest and, while a
                // rotation settles, the one before it); the newest's
                // verdict when none matches.
                let auth = vapi_auth_from_json(&agent.webhook_auth);
                let verify =
                    |secret: &str| signature::verify_vapi(&auth, secret, &pairs[..], &body, now);
                let mut verdicts = secrets.iter().map(|s| verify(s));
                let newest = verdicts.next().unwrap_or_else(|| verify(""));
                Ok(match newest {
                    Ok(()) => newest,
                    Err(_) => verdicts.find(Result::is_ok).unwrap_or(newest),
                })
            }
            Some(secrets) => {
                let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
                Ok(signature::verify_standard(
                    &secrets,
                    header_text(&headers, "webhook-id"),
                    header_text(&headers, "webhook-timestamp"),
                    header_text(&headers, "webhook-signature"),
                    &body,
                    now,
                ))
            }
        },
        Source::Api | Source::Import | Source::RecordingProvider => {
            return Err(Problem::not_found())
        }
    };
    match verdict {
        Err(problem) => {
            let mut tx = state.db.tenant(&scope, Mode::Write).await?;
            agents::record_error(&mut tx, agent.id, problem.detail.as_deref().unwrap_or(""))
                .await?;
            tx.commit().await?;
            state.ingestor.forget_last_seen();
            return Err(problem);
        }
        Ok(Err(e)) => {
            tracing::info!(agent = %agent.id, reason = %e, "webhook signature refused");
            count_refusal(&state, &scope, agent.id, Refusal::BadSignature, now).await?;
            return Err(Problem::unauthorized().detail(match e {
                SignatureError::Stale => "the signature's timestamp is outside the 5-minute window",
                _ => "the signature is missing or does not match",
            }));
        }
        Ok(Ok(())) => {}
    }

    let event_key = match provider {
        Source::Generic => header_text(&headers, "webhook-id")
            .map(ingest::event_key_of_webhook_id)
            .unwrap_or_else(|| ingest::event_key_of(&body)),
        _ => ingest::event_key_of(&body),
    };
    let parsed: Result<Option<CallUpdate>, Vec<ParseError>> = match provider {
        Source::Retell => retell::parse(&body).map_err(|e| vec![e]),
        Source::Vapi => vapi::parse(&body).map_err(|e| vec![e]),
        Source::Twilio => if is_form {
            Ok(url::form_urlencoded::parse(&body).into_owned().collect())
        } else {
            twilio::params_from_json(&body)
        }
        .and_then(|params| twilio::parse(&params))
        .map_err(|e| vec![e]),
        _ => match switchboard::parse(&body) {
            Ok(valid) => {
                let foreign =
                    ingest::foreign_tenant_fields(&state, &scope, &valid.names_tenant).await?;
                if let Some(field) = foreign.first() {
                    return Err(tenant_mismatch(field));
                }
                Ok(Some(valid.update))
            }
            Err(errors) => Err(errors),
        },
    };
    // A correctly signed event proves the agent's set-up, whether or not
    // Switchboard keeps (or can read) what it says.
    let update = match parsed {
        Ok(Some(update)) => update,
        unkept => {
            let mut tx = state.db.tenant(&scope, Mode::Write).await?;
            agents::record_webhook(&mut tx, agent.id, now).await?;
            tx.commit().await?;
            return match unkept {
                Err(errors) => Err(payload_problem(errors)),
                _ => Ok(StatusCode::NO_CONTENT.into_response()),
            };
        }
    };
    let raw = if is_form {
        ingest::RawPayload::Text(String::from_utf8_lossy(&body).into_owned())
    } else {
        ingest::RawPayload::provider_body(&body)
    };
    let has_recording = update.fields.recording_url.is_some();
    let owner = owning_agent(&state, &scope, &agent, &update).await?;
    let filing = ingest::Filing::webhook(owner, agent.id);
    let accepted = ingest::accept(&state, &scope, provider, filing, update, event_key, raw).await?;
    if provider == Source::Twilio && has_recording && !accepted.deleted {
        if accepted.duplicate {
            crate::recordings::fetch_if_missing(&state, &scope, accepted.call_id).await?;
        } else {
            crate::recordings::fetch_later(&state, &scope, accepted.call_id).await?;
        }
    }
    Ok(Json(accepted).into_response())
}
