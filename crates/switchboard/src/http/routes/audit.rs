//! `GET /api/v1/audit`: the tenant's audit log, newest first.

use crate::http::extract::Query;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::db::audit::{self, ActorRef, AuditFilter};
use crate::db::Mode;
use crate::http::extract::{perm, Authorized};
use crate::http::pagination::{Listing, Page};
use crate::http::problem::{ApiResult, Problem};
use crate::http::routes::{parse_rfc3339, rfc3339};
use crate::http::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries by this actor id (a user, key or operator id).
    pub actor: Option<String>,
    /// Only this action, e.g. `member.added`.
    pub action: Option<String>,
    /// RFC 3339; entries at or after.
    pub since: Option<String>,
    /// RFC 3339; entries before.
    pub until: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    pub id: String,
    pub seq: i64,
    pub at: String,
    pub actor: ActorRef,
    /// The platform operator when the action was taken through impersonation.
    pub impersonator: Option<ActorRef>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub request_id: Option<String>,
    pub hash: String,
    pub prev_hash: String,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Page<AuditEntryView>), (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authorized<perm::AuditView>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntryView>>> {
    let listing = Listing::new(
        state.cursor_key(),
        "audit",
        auth.ctx.tenant_id().to_string(),
        q.limit,
        q.cursor,
    )?;
    let filter = AuditFilter {
        actor_id: q.actor,
        action: q.action,
        since_ms: q
            .since
            .as_deref()
            .map(|s| parse_rfc3339("since", s))
            .transpose()?,
        until_ms: q
            .until
            .as_deref()
            .map(|s| parse_rfc3339("until", s))
            .transpose()?,
    };
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let rows = audit::list(&mut tx, &filter, listing.position()?, listing.fetch()).await?;
    tx.commit().await?;
    let views = rows
        .into_iter()
        .map(|e| AuditEntryView {
            id: e.id,
            seq: e.seq,
            at: rfc3339(e.at_ms),
            actor: e.actor,
            impersonator: e.impersonator,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            details: e.details,
            request_id: e.request_id,
            hash: e.hash,
            prev_hash: e.prev_hash,
        })
        .collect();
    Ok(Json(listing.page(views, |e| e.seq.to_string())))
}
