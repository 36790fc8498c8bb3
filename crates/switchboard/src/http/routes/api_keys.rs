//! `/api/v1/api-keys`: machine credentials of the tenant. The secret is
//! returned once, by the request that creates it.

use crate::http::extract::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::{ApiKeyId, Permission, PermissionSet};

use super::members::parse_id;
use crate::auth::api_key::PlaintextApiKey;
use crate::auth::service::default_api_key_scopes;
use crate::db::api_keys::{self, ApiKeyRecord, NewApiKey};
use crate::db::{audit, now_ms, Mode};
use crate::http::extract::{perm, Authorized, JsonBody, RequestIdText};
use crate::http::pagination::{Listing, Page, PageQuery};
use crate::http::problem::{ApiResult, Problem};
use crate::http::routes::{audit_event, parse_rfc3339, rfc3339, Validator};
use crate::http::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: ApiKeyId,
    pub name: String,
    /// The visible start of the key (`sbk_AbCd1234`).
    pub prefix: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: PermissionSet,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
    pub created_by: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(k: ApiKeyRecord) -> Self {
        let status = match (k.revoked_at, k.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(e)) if e <= now_ms() => "expired",
            _ => "active",
        };
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
            status,
            created_by: k.created_by,
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// 1 to 100 characters.
    pub name: String,
    /// Permissions the key carries; at most those of its creator. Defaults to read-only.
    pub scopes: Option<Vec<String>>,
    /// RFC 3339; in the future. Never expires when left out.
    pub expires_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    /// The secret. Shown this once; store it now.
    pub key: String,
    pub api_key: ApiKeyView,
}

#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<ApiKeyView>), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<ApiKeyView>>> {
    let listing = Listing::new(
        state.cursor_key(),
        "api_keys",
        auth.ctx.tenant_id().to_string(),
        q.limit,
        q.cursor,
    )?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let rows = api_keys::list(&mut tx, listing.position()?, listing.fetch()).await?;
    tx.commit().await?;
    Ok(Json(listing.page(
        rows.into_iter().map(ApiKeyView::from).collect(),
        |k| k.id.to_string(),
    )))
}

#[utoipa::path(get, path = "/api/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ApiKeyView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKeyView>> {
    let id = parse_id::<ApiKeyId>(&id)?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let key = api_keys::get(&mut tx, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(Json(key.into()))
}

#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = [])), request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    RequestIdText(request_id): RequestIdText,
    JsonBody(body): JsonBody<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let mut v = Validator::default();
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        v.check::<(), _>("name", Err("expected 1 to 100 characters"));
    }
    let scopes: PermissionSet = match &body.scopes {
        None => default_api_key_scopes(),
        Some(list) => list
            .iter()
            .enumerate()
            .filter_map(|(i, s)| v.check(&format!("scopes[{i}]"), s.parse::<Permission>()))
            .collect(),
    };
    let expires_at = body.expires_at.as_deref().and_then(|t| {
        v.check(
            "expires_at",
            parse_rfc3339("expires_at", t).map_err(|_| "expected an RFC 3339 time"),
        )
    });
    if expires_at.is_some_and(|e| e <= now_ms()) {
        v.check::<(), _>("expires_at", Err("must be in the future"));
    }
    v.finish()?;
    create_key(&state, &auth.ctx, request_id, &name, scopes, expires_at)
        .await
        .map(|k| (StatusCode::CREATED, Json(k)))
}

/// Creates a key for `ctx` (shared by the API and the command line).
pub async fn create_key(
    state: &AppState,
    ctx: &crate::auth::TenantContext,
    request_id: Option<String>,
    name: &str,
    scopes: PermissionSet,
    expires_at: Option<i64>,
) -> ApiResult<CreatedApiKey> {
    if !scopes.is_subset_of(ctx.permissions) {
        return Err(Problem::forbidden(
            "scope-exceeds-grant",
            "A key cannot carry permissions its creator lacks",
        )
        .detail(format!(
            "you lack: {:?}",
            PermissionSet::from_iter(scopes.iter().filter(|p| !ctx.can(*p)))
        )));
    }
    let secret = PlaintextApiKey::generate();
    let hash = secret.hash(&state.auth.keys().credential_pepper);
    let creator = ctx.actor.audit_ref();
    let mut tx = state.db.tenant(ctx.scope(), Mode::Write).await?;
    let record = api_keys::insert(
        &mut tx,
        NewApiKey {
            name,
            prefix: secret.visible_prefix(),
            hash: &hash,
            scopes,
            created_by: Some(&creator.id),
            expires_at,
        },
    )
    .await?;
    audit::append(
        &mut tx,
        audit_event(
            ctx,
            request_id,
            "api_key.created",
            "api_key",
            record.id.to_string(),
            serde_json::json!({"name": name, "prefix": record.prefix, "scopes": scopes}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedApiKey {
        key: secret.reveal().to_owned(),
        api_key: record.into(),
    })
}

/// Revokes a key at once; it keeps its place in the list, marked revoked.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn revoke(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    RequestIdText(request_id): RequestIdText,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id::<ApiKeyId>(&id)?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    let key = api_keys::revoke(&mut tx, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "api_key.revoked",
            "api_key",
            id.to_string(),
            serde_json::json!({"name": key.name, "prefix": key.prefix}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
