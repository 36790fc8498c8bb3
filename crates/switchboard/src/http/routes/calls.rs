//! `/api/v1/calls`: calls sent directly in Switchboard's call JSON, the call
//! list and detail, recordings and deletion.

use std::time::Duration;

use crate::http::extract::{Path, Query};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::{AgentId, CallId, E164};
use switchboard_ingest::providers::switchboard::{self as call_json, CallDocument};
use switchboard_ingest::{import, Direction, Source, Stage};

use super::members::parse_id;
use crate::auth::TenantScope;
use crate::db::calls::{self, CallFilter, CallRecord};
use crate::db::{agents, analyses, audit, pipeline_jobs, Mode};
use crate::http::extract::{parse_param, perm, read_limited, Authorized, JsonBody, RequestIdText};
use crate::http::pagination::{Listing, Page};
use crate::http::problem::{ApiResult, Problem};
use crate::http::routes::{audit_event, parse_rfc3339};
use crate::http::AppState;
use crate::ingest::{self, Accepted, AnalysisStage, CallView, ImportReport};
use crate::objects::{AudioFormat, ObjectKey};
use crate::pull::{self, PullError};

/// How long a recording URL works.
const RECORDING_URL_TTL: Duration = Duration::from_secs(300);

/// The answer to `POST /api/v1/calls`: the call's `id`, and as `call_id`
/// too, as webhooks and imports name it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CallAccepted {
    pub id: CallId,
    #[serde(flatten)]
    pub accepted: Accepted,
}

/// Creates or updates a call from Switchboard's call JSON. The same
/// `external_id` again is the same call; a byte-identical resend changes nothing.
#[utoipa::path(post, path = "/api/v1/calls", tag = "calls", security(("bearer" = [])), request_body = CallDocument,
    responses((status = 201, body = CallAccepted, description = "a new call or a change to one"),
              (status = 200, body = CallAccepted, description = "a byte-identical resend"),
              (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authorized<perm::CallsIngest>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> ApiResult<(StatusCode, Json<CallAccepted>)> {
    // Keys are sorted, so the canonical text identifies a resend.
    let raw = body.to_string();
    let valid = call_json::parse_value(body).map_err(Problem::validation_of)?;
    if let Some(agent) = valid.agent_id {
        let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
        let exists = agents::get(&mut tx, agent).await?.is_some();
        tx.commit().await?;
        if !exists {
            return Err(Problem::field("agent_id", "no such agent"));
        }
    }
    let accepted = ingest::accept(
        &state,
        auth.ctx.scope(),
        Source::Api,
        ingest::Filing::quiet(valid.agent_id),
        valid.update,
        ingest::event_key_of(raw.as_bytes()),
        ingest::RawPayload::Json(raw),
    )
    .await?;
    let status = if accepted.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(CallAccepted {
            id: accepted.call_id,
            accepted,
        }),
    ))
}

/// Imports many calls at once: JSON Lines of call documents
/// (`application/x-ndjson`) or CSV (`text/csv`; columns in docs/call-json.md).
/// Every line is taken or refused on its own; the report names each refused
/// line and its bad fields. An import that outlasts its timeout
/// (`http.transfer_timeout_secs`) still runs to its end: send it again for the
/// report, in which the lines already taken are duplicates.
#[utoipa::path(post, path = "/api/v1/calls/import", tag = "calls", security(("bearer" = [])),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, body = ImportReport),
              (status = 413, body = Problem, content_type = "application/problem+json"),
              (status = 415, body = Problem, content_type = "application/problem+json")))]
pub async fn import(
    State(state): State<AppState>,
    auth: Authorized<perm::CallsIngest>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ImportReport>> {
    let format = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| match ct.split(';').next().unwrap_or("").trim() {
            "text/csv" => Some(import::Format::Csv),
            "application/x-ndjson" | "application/jsonl" | "application/json-lines" => {
                Some(import::Format::Jsonl)
            }
            _ => None,
        })
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Send JSON Lines or CSV",
            )
            .detail("Content-Type must be application/x-ndjson or text/csv")
        })?;
    let bytes = read_limited(body, state.config.http.import_limit_bytes).await?;
    let lines = import::parse(format, &bytes);
    // The import goes on to its last line even when the request times out
    // or the client goes away first: sent again, the lines already taken
    // are duplicates, and the report is whole.
    let scope = *auth.ctx.scope();
    let run = tokio::spawn(async move {
        ingest::import(&state, &scope, lines.into_iter().map(Ok), |_| {}).await
    });
    let report = run.await.map_err(|_| Problem::internal())??;
    Ok(Json(report))
}

/// Filters of the call list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// An agent id.
    pub agent_id: Option<String>,
    /// RFC 3339; calls started at or after.
    pub since: Option<String>,
    /// RFC 3339; calls started before.
    pub until: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
    /// `true` for billable calls only, `false` for test calls only.
    pub billable: Option<String>,
    /// `started`, `ended` or `analyzed`.
    pub status: Option<String>,
    /// An E.164 number, as caller or callee.
    pub phone: Option<String>,
    /// Text that must appear in the transcript (case-insensitive).
    pub q: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/calls", tag = "calls", security(("bearer" = [])), params(CallQuery),
    responses((status = 200, body = Page<CallView>), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authorized<perm::CallsViewAll>,
    Query(q): Query<CallQuery>,
) -> ApiResult<Json<Page<CallView>>> {
    let listing = Listing::new(
        state.cursor_key(),
        "calls",
        auth.ctx.tenant_id().to_string(),
        q.limit,
        q.cursor,
    )?;
    let filter = CallFilter {
        agent: parse_param::<AgentId>("agent_id", q.agent_id.as_deref())?,
        since: q
            .since
            .as_deref()
            .map(|t| parse_rfc3339("since", t))
            .transpose()?,
        until: q
            .until
            .as_deref()
            .map(|t| parse_rfc3339("until", t))
            .transpose()?,
        direction: q
            .direction
            .as_deref()
            .map(|d| {
                Direction::parse(d)
                    .map(Direction::as_str)
                    .ok_or_else(|| Problem::field("direction", "expected inbound or outbound"))
            })
            .transpose()?,
        test: parse_param::<bool>("billable", q.billable.as_deref())?.map(|b| !b),
        stage: parse_param::<Stage>("status", q.status.as_deref())
            .map_err(|_| Problem::field("status", "expected started, ended or analyzed"))?,
        phone: parse_param::<E164>("phone", q.phone.as_deref())?.map(|p| p.to_string()),
        text: q
            .q
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                if t.chars().count() > 200 {
                    Err(Problem::field("q", "at most 200 characters"))
                } else if t.contains(char::is_control) {
                    // Searched text has none (`model::search_text`).
                    Err(Problem::field("q", "must not contain control characters"))
                } else {
                    Ok(t.to_lowercase())
                }
            })
            .transpose()?,
    };
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let rows = calls::list(&mut tx, &filter, listing.position()?, listing.fetch()).await?;
    tx.commit().await?;
    Ok(Json(listing.page(
        rows.into_iter().map(|c| CallView::new(c, false)).collect(),
        |c| c.id.to_string(),
    )))
}

#[utoipa::path(get, path = "/api/v1/calls/{id}", tag = "calls", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = CallView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authorized<perm::CallsViewAll>,
    Path(id): Path<String>,
) -> ApiResult<Json<CallView>> {
    let id = parse_id::<CallId>(&id)?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let mut call = calls::get(&mut tx, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let job = pipeline_jobs::get(&mut tx, id).await?;
    let analysis = analyses::document(&mut tx, id).await?;
    tx.commit().await?;
    match ingest::load_turns(&state.objects, auth.ctx.scope(), &mut call).await {
        // Only an event never answered 2xx lacks its raw entry (its process
        // stopped before writing it): the call is shown without its
        // transcript until the sender's resend writes it.
        Err(ingest::IngestError::Transcript(reason)) => {
            tracing::warn!(call = %id, %reason, "a call's transcript is not in its raw document");
        }
        other => other?,
    }
    let mut view = CallView::new(call, true);
    view.stages.analysis = job.map(|j| AnalysisStage::from(&j));
    view.analysis = analysis
        .map(serde_json::value::RawValue::from_string)
        .transpose()
        .map_err(|e| {
            tracing::error!(error = %e, "a stored analysis is not JSON");
            Problem::internal()
        })?;
    Ok(Json(view))
}

/// Deletes the call, its events and its objects (raw, meta, audio). A
/// provider's or the recording pull's call stays deleted: their later
/// events of it are acknowledged and not stored (decision 0019).
#[utoipa::path(delete, path = "/api/v1/calls/{id}", tag = "calls", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authorized<perm::CallsDelete>,
    RequestIdText(request_id): RequestIdText,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id::<CallId>(&id)?;
    let scope = auth.ctx.scope();
    let mut tx = state.db.tenant(scope, Mode::Write).await?;
    let call = calls::delete(&mut tx, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "call.deleted",
            "call",
            id.to_string(),
            serde_json::json!({"source": call.source.as_str(), "external_id": call.external_id}),
        ),
    )
    .await?;
    let raw = ObjectKey::raw(scope, id);
    let mut keys = vec![
        raw.clone(),
        ObjectKey::meta(scope, id),
        ObjectKey::enriched(scope, id),
        ObjectKey::final_v1(scope, id),
    ];
    // Every format, not only the one the row names: a recording written
    // while this request ran may not be named yet (`recordings::adopt_audio`
    // removes one that arrives after).
    for audio in call
        .audio_key
        .as_deref()
        .and_then(|k| ObjectKey::stored(scope, k))
        .into_iter()
        .chain(AudioFormat::ALL.map(|format| ObjectKey::audio(scope, id, format)))
    {
        if !keys.contains(&audio) {
            keys.push(audio);
        }
    }
    state.ingestor.forget_objects(&keys).await;
    // Objects go first: if one cannot be deleted the row stays, and the
    // request can be repeated.
    for key in &keys {
        state
            .objects
            .delete(key)
            .await
            .map_err(crate::ingest::IngestError::from)?;
    }
    // A raw document set aside as unreadable holds payloads too (decision 0014).
    state
        .objects
        .delete_set_aside(&raw)
        .await
        .map_err(crate::ingest::IngestError::from)?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Redirects to a short-lived signed URL of the stored recording.
#[utoipa::path(get, path = "/api/v1/calls/{id}/recording", tag = "calls", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 302, description = "to a signed URL valid for 5 minutes"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn recording(
    State(state): State<AppState>,
    auth: Authorized<perm::CallsViewAll>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let call = find_call(&state, auth.ctx.scope(), &id).await?;
    let key = call
        .audio_key
        .as_deref()
        .and_then(|k| ObjectKey::stored(auth.ctx.scope(), k))
        .ok_or_else(|| Problem::not_found().detail("this call has no stored recording"))?;
    let url = state
        .objects
        .signed_url(&key, RECORDING_URL_TTL)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "signing a recording URL failed");
            Problem::internal()
        })?;
    Ok((StatusCode::FOUND, [(header::LOCATION, url)]).into_response())
}

/// The caller's tenant's call `id`, read in a transaction of its own; 404
/// for anyone else's.
async fn find_call(state: &AppState, scope: &TenantScope, id: &str) -> ApiResult<CallRecord> {
    let id = parse_id::<CallId>(id)?;
    let mut tx = state.db.tenant(scope, Mode::Read).await?;
    let call = calls::get(&mut tx, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(call)
}

/// Stores audio as the call's recording. `Content-Type` names the format
/// (audio/wav, audio/mpeg, audio/ogg, audio/webm, audio/mp4, audio/flac).
#[utoipa::path(post, path = "/api/v1/calls/{id}/audio", tag = "calls", security(("bearer" = [])), params(("id" = String, Path)),
    request_body(content = Vec<u8>, content_type = "audio/wav"),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 413, body = Problem, content_type = "application/problem+json"),
              (status = 415, body = Problem, content_type = "application/problem+json")))]
pub async fn upload_audio(
    State(state): State<AppState>,
    auth: Authorized<perm::CallsIngest>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let scope = auth.ctx.scope();
    // Checked in a read transaction: the write transaction (SQLite's one
    // writer) is opened only once the upload is in hand, so a slow client
    // cannot hold up every other tenant's writes.
    let call = find_call(&state, scope, &id).await?;
    let format = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(AudioFormat::from_content_type)
        .ok_or_else(|| {
            Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Send audio")
                .detail("Content-Type must be one of audio/wav, audio/mpeg, audio/ogg, audio/webm, audio/mp4, audio/flac")
        })?;
    let bytes = read_limited(body, state.config.http.audio_limit_bytes).await?;
    if bytes.is_empty() {
        return Err(Problem::field("body", "the audio is empty"));
    }
    let key = ObjectKey::audio(scope, call.id, format);
    state
        .objects
        .put(&key, bytes)
        .await
        .map_err(crate::ingest::IngestError::from)?;
    if crate::recordings::adopt_audio(&state, scope, call.id, &key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found())
    }
}

/// Fetches the recording of a call from the recording-provider pull again,
/// now: one the pull gave up on after it failed run after run, or any whose
/// audio is not stored. Answers when the audio is stored; a provider that
/// still fails gives 502 with its answer, recorded on the call too.
#[utoipa::path(post, path = "/api/v1/calls/{id}/recording/fetch", tag = "calls", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 502, body = Problem, content_type = "application/problem+json")))]
pub async fn fetch_recording(
    State(state): State<AppState>,
    auth: Authorized<perm::CallsIngest>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let scope = *auth.ctx.scope();
    let call = find_call(&state, &scope, &id).await?;
    if call.source != Source::RecordingProvider {
        return Err(
            Problem::conflict("not-pulled", "Not a pulled recording").detail(
                "only calls of the recording-provider pull are fetched on request; \
             Twilio recordings are fetched again on their own schedule (stages.recording_retry_at)",
            ),
        );
    }
    if call.audio_status == "stored" {
        return Err(
            Problem::conflict("recording-stored", "The recording is stored")
                .detail("GET /api/v1/calls/{id}/recording serves it"),
        );
    }
    // Goes on to its end (the audio stored, or the failure recorded) even
    // when the client goes away first.
    let fetch =
        tokio::spawn(
            async move { pull::refetch(&state, &scope, call.id, &call.external_id).await },
        );
    match fetch.await.map_err(|_| Problem::internal())? {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(PullError::NotConfigured) => Err(Problem::conflict(
            "no-recording-provider",
            "No recording provider is connected",
        )
        .detail("connect one under /api/v1/settings/credentials/recording_provider")),
        Err(PullError::Provider(reason) | PullError::Recording { reason, .. }) => {
            Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                "provider-failed",
                "The provider did not serve the recording",
            )
            .detail(reason))
        }
        Err(PullError::Db(e)) => Err(e.into()),
        Err(PullError::Ingest(e)) => Err(e.into()),
        Err(PullError::Busy | PullError::LeaseLost) => {
            Err(Problem::conflict("pull-running", "A pull is running")
                .detail("the tenant's recording pull is running; send this again when it ends"))
        }
    }
}

#[derive(Deserialize)]
pub struct SignedQuery {
    expires: Option<i64>,
    sig: Option<String>,
}

/// Serves an object of the local store to the holder of a signed URL.
/// Not in the API document: these URLs are only ever handed out by the API.
pub async fn serve_object(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<SignedQuery>,
) -> ApiResult<Response> {
    let (Some(expires), Some(sig)) = (q.expires, q.sig.as_deref()) else {
        return Err(Problem::not_found());
    };
    let key = state
        .objects
        .verify_local_url(&key, expires, sig)
        .ok_or_else(Problem::not_found)?;
    let bytes = state
        .objects
        .get(&key)
        .await
        .map_err(|_| Problem::not_found())?;
    let content_type = key
        .as_str()
        .rsplit_once('.')
        .and_then(|(_, ext)| AudioFormat::from_extension(ext))
        .map_or("application/octet-stream", AudioFormat::content_type);
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// Queues the call for analysis again: after a rubric change, or to re-drive
/// a `failed` job. Answers with where the job stands.
#[utoipa::path(post, path = "/api/v1/calls/{id}/reanalyse", tag = "calls", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 202, body = AnalysisStage), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn reanalyse(
    State(state): State<AppState>,
    auth: Authorized<perm::QaEdit>,
    RequestIdText(request_id): RequestIdText,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<AnalysisStage>)> {
    let id = parse_id::<CallId>(&id)?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    calls::get(&mut tx, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    pipeline_jobs::enqueue(&mut tx, id, crate::db::now_ms()).await?;
    let job = pipeline_jobs::get(&mut tx, id)
        .await?
        .ok_or_else(Problem::internal)?;
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "call.reanalysis_requested",
            "call",
            id.to_string(),
            serde_json::json!({"revision": job.revision}),
        ),
    )
    .await?;
    tx.commit().await?;
    state.pipeline.tenant_has_work(auth.ctx.tenant_id());
    Ok((StatusCode::ACCEPTED, Json(AnalysisStage::from(&job))))
}
