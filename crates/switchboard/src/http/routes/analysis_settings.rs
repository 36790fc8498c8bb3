//! `/api/v1/settings/ai-config` and `/api/v1/settings/qa-config`: the
//! tenant's analysis policy and QA rubric. Every accepted document becomes a
//! new version (all kept, the newest in force, copied to the object store's
//! `config/` folder); a rejected one names each bad field and changes
//! nothing.

use crate::http::extract::Query;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::auth::TenantContext;
use crate::db::tenant_configs::{self, ConfigKind, ConfigVersion};
use crate::db::{audit, tenants, Mode};
use crate::http::extract::{perm, Authorized, JsonBody, RequestIdText, Tenant};
use crate::http::problem::{ApiResult, Problem};
use crate::http::routes::{audit_event, rfc3339};
use crate::http::AppState;
use crate::objects::ObjectKey;

/// A configuration document and which version it is.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConfigDocument {
    /// 1, 2, …; `null` for the built-in default no one has saved.
    pub version: Option<i64>,
    /// The newest version: the one in force.
    pub latest_version: Option<i64>,
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
    pub created_at: Option<String>,
    /// Who saved it: `user:<id>`, `api_key:<id>`, `system` for the starter rubric.
    pub created_by: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct VersionQuery {
    /// An earlier version to read; the one in force when absent.
    pub version: Option<String>,
}

fn document_of(v: &ConfigVersion, latest: Option<i64>) -> Result<ConfigDocument, Problem> {
    Ok(ConfigDocument {
        version: Some(v.version),
        latest_version: latest,
        document: serde_json::from_str(&v.document).map_err(|e| {
            tracing::error!(error = %e, "a stored configuration is not JSON");
            Problem::internal()
        })?,
        created_at: Some(rfc3339(v.created_at)),
        created_by: v.created_by.clone(),
    })
}

/// The default a tenant has before saving its own: the empty ai-config
/// (every field defaulted), or its industry's starter rubric.
async fn built_in(
    state: &AppState,
    ctx: &TenantContext,
    kind: ConfigKind,
) -> ApiResult<ConfigDocument> {
    let document = match kind {
        ConfigKind::Ai => {
            serde_json::to_value(switchboard_analysis::ai_config::AiConfig::default())
                .expect("serialises")
        }
        ConfigKind::Qa => {
            let mut tx = state.db.tenant(ctx.scope(), Mode::Read).await?;
            let industry = tenants::own(&mut tx).await?.industry;
            tx.commit().await?;
            serde_json::from_str(crate::pipeline::starter_rubric(industry))
                .expect("starter is JSON")
        }
    };
    Ok(ConfigDocument {
        version: None,
        latest_version: None,
        document,
        created_at: None,
        created_by: None,
    })
}

async fn read(
    state: &AppState,
    ctx: &TenantContext,
    kind: ConfigKind,
    query: VersionQuery,
) -> ApiResult<Json<ConfigDocument>> {
    let wanted = match query.version.as_deref() {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| Problem::field("version", "expected a version number (1, 2, …)"))?,
        ),
    };
    let mut tx = state.db.tenant(ctx.scope(), Mode::Read).await?;
    let latest = tenant_configs::active(&mut tx, kind).await?;
    let found = match wanted {
        None => latest.clone(),
        Some(v) => Some(
            tenant_configs::get(&mut tx, kind, v)
                .await?
                .ok_or_else(Problem::not_found)?,
        ),
    };
    tx.commit().await?;
    match found {
        Some(v) => Ok(Json(document_of(&v, latest.map(|l| l.version))?)),
        None => Ok(Json(built_in(state, ctx, kind).await?)),
    }
}

fn who(ctx: &TenantContext) -> String {
    let (actor, _) = ctx.audit_actors();
    format!("{}:{}", actor.kind, actor.id)
}

/// Validates with the analysis crate's own parser, so the API and the
/// pipeline can never disagree about what is valid.
fn validate(kind: ConfigKind, body: &serde_json::Value) -> Result<Option<String>, Problem> {
    let bytes = serde_json::to_vec(body).expect("serialises");
    let result = match kind {
        ConfigKind::Ai => switchboard_analysis::ai_config::parse_config(&bytes).map(|c| c.version),
        ConfigKind::Qa => switchboard_analysis::qa::parse_config(&bytes).map(|c| c.version),
    };
    result.map_err(Problem::validation_of_config)
}

async fn save(
    state: &AppState,
    ctx: &TenantContext,
    request_id: Option<String>,
    kind: ConfigKind,
    body: serde_json::Value,
) -> ApiResult<Json<ConfigDocument>> {
    let label = validate(kind, &body)?;
    let text = body.to_string();
    let mut tx = state.db.tenant(ctx.scope(), Mode::Write).await?;
    let saved = tenant_configs::append(&mut tx, kind, &text, Some(&who(ctx))).await?;
    audit::append(
        &mut tx,
        audit_event(
            ctx,
            request_id,
            match kind {
                ConfigKind::Ai => "ai_config.updated",
                ConfigKind::Qa => "qa_config.updated",
            },
            "config",
            kind.file_name().to_owned(),
            serde_json::json!({"version": saved.version, "label": label}),
        ),
    )
    .await?;
    // The object copy is written before the commit, like every object: a
    // failed write leaves the version in force unchanged.
    state
        .objects
        .put(&ObjectKey::config(ctx.scope(), kind), text.into_bytes())
        .await
        .map_err(crate::ingest::IngestError::from)?;
    tx.commit().await?;
    Ok(Json(document_of(&saved, Some(saved.version))?))
}

/// The ai-config in force (or an earlier version).
#[utoipa::path(get, path = "/api/v1/settings/ai-config", tag = "settings", security(("bearer" = [])), params(VersionQuery),
    responses((status = 200, body = ConfigDocument), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_ai(
    State(state): State<AppState>,
    Tenant(ctx): Tenant,
    Query(q): Query<VersionQuery>,
) -> ApiResult<Json<ConfigDocument>> {
    read(&state, &ctx, ConfigKind::Ai, q).await
}

/// Saves a new ai-config version; see docs/ai-config.md.
#[utoipa::path(put, path = "/api/v1/settings/ai-config", tag = "settings", security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = ConfigDocument), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn put_ai(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    RequestIdText(request_id): RequestIdText,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> ApiResult<Json<ConfigDocument>> {
    save(&state, &auth.ctx, request_id, ConfigKind::Ai, body).await
}

/// The QA rubric in force (or an earlier version).
#[utoipa::path(get, path = "/api/v1/settings/qa-config", tag = "settings", security(("bearer" = [])), params(VersionQuery),
    responses((status = 200, body = ConfigDocument), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_qa(
    State(state): State<AppState>,
    Tenant(ctx): Tenant,
    Query(q): Query<VersionQuery>,
) -> ApiResult<Json<ConfigDocument>> {
    read(&state, &ctx, ConfigKind::Qa, q).await
}

/// Saves a new rubric version; see docs/qa-config.md. Calls already
/// analysed keep their scores until re-analysed (`switchboard reanalyse`).
#[utoipa::path(put, path = "/api/v1/settings/qa-config", tag = "settings", security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = ConfigDocument), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn put_qa(
    State(state): State<AppState>,
    auth: Authorized<perm::QaEdit>,
    RequestIdText(request_id): RequestIdText,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> ApiResult<Json<ConfigDocument>> {
    save(&state, &auth.ctx, request_id, ConfigKind::Qa, body).await
}
