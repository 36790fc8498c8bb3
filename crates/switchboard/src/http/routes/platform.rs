//! `/api/v1/platform`: what platform admins do across tenants.

use crate::http::extract::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::{IndustryTemplate, Plan, Slug, TenantId, TenantStatus};

use super::members::parse_id;
use crate::auth::Operator;
use crate::db::audit::{self, AuditEvent};
use crate::db::tenants::{self, Branding, NewTenant, Tenant};
use crate::db::Mode;
use crate::http::extract::{JsonBody, PlatformAdmin, RequestIdText};
use crate::http::pagination::{Listing, Page, PageQuery};
use crate::http::problem::{ApiResult, Problem};
use crate::http::routes::{rfc3339, Validator};
use crate::http::AppState;
use crate::tenancy;

#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: TenantId,
    #[schema(value_type = String)]
    pub slug: Slug,
    pub name: String,
    pub plan: Plan,
    pub status: TenantStatus,
    pub industry: IndustryTemplate,
    pub branding: Branding,
    pub external_org_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id,
            slug: t.slug,
            name: t.name,
            plan: t.plan,
            status: t.status,
            industry: t.industry,
            branding: t.branding,
            external_org_id: t.external_org_id,
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub slug: String,
    /// 1 to 120 characters.
    pub name: String,
    /// Defaults to `trial`.
    pub plan: Option<String>,
    /// Defaults to `generic`.
    pub industry: Option<String>,
    /// The identity provider's organisation id whose members sign in to this tenant.
    pub external_org_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImpersonationToken {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub tenant_id: TenantId,
}

pub fn validate(body: CreateTenant) -> Result<NewTenant, Problem> {
    let mut v = Validator::default();
    let slug = v.check("slug", Slug::parse(&body.slug));
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 120 {
        v.check::<(), _>("name", Err("expected 1 to 120 characters"));
    }
    let plan = body
        .plan
        .as_deref()
        .map_or(Some(Plan::Trial), |p| v.check("plan", p.parse()));
    let industry = body
        .industry
        .as_deref()
        .map_or(Some(IndustryTemplate::Generic), |i| {
            v.check("industry", i.parse())
        });
    let external_org_id = body.external_org_id.map(|o| o.trim().to_owned());
    if external_org_id
        .as_ref()
        .is_some_and(|o| o.is_empty() || o.len() > 200)
    {
        v.check::<(), _>("external_org_id", Err("expected 1 to 200 characters"));
    }
    v.finish()?;
    Ok(NewTenant {
        slug: slug.expect("validated"),
        name,
        plan: plan.expect("validated"),
        industry: industry.expect("validated"),
        external_org_id,
    })
}

#[utoipa::path(get, path = "/api/v1/platform/tenants", tag = "platform", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<TenantView>), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    _: PlatformAdmin,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<TenantView>>> {
    let listing = Listing::new(
        state.cursor_key(),
        "tenants",
        "platform".into(),
        q.limit,
        q.cursor,
    )?;
    let mut tx = state.db.platform(Mode::Read).await?;
    let rows = tenants::list(tx.conn(), listing.position()?, listing.fetch()).await?;
    tx.commit().await?;
    Ok(Json(listing.page(
        rows.into_iter().map(TenantView::from).collect(),
        |t| t.id.to_string(),
    )))
}

#[utoipa::path(get, path = "/api/v1/platform/tenants/{id}", tag = "platform", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    _: PlatformAdmin,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantView>> {
    let id = parse_id::<TenantId>(&id)?;
    let mut tx = state.db.platform(Mode::Read).await?;
    let tenant = tenants::find(tx.conn(), id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(Json(tenant.into()))
}

#[utoipa::path(post, path = "/api/v1/platform/tenants", tag = "platform", security(("bearer" = [])), request_body = CreateTenant,
    responses((status = 201, body = TenantView), (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    PlatformAdmin(op): PlatformAdmin,
    RequestIdText(request_id): RequestIdText,
    JsonBody(body): JsonBody<CreateTenant>,
) -> ApiResult<(StatusCode, Json<TenantView>)> {
    let new = validate(body)?;
    let tenant = tenancy::create_tenant(&state.db, &op, new, request_id).await?;
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

async fn set_status(
    state: &AppState,
    op: &Operator,
    id: &str,
    status: TenantStatus,
    request_id: Option<String>,
) -> ApiResult<Json<TenantView>> {
    let id = parse_id::<TenantId>(id)?;
    let tenant = tenancy::set_status(&state.db, op, id, status, request_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    Ok(Json(tenant.into()))
}

#[utoipa::path(post, path = "/api/v1/platform/tenants/{id}/suspend", tag = "platform", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn suspend(
    State(state): State<AppState>,
    PlatformAdmin(op): PlatformAdmin,
    RequestIdText(rid): RequestIdText,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantView>> {
    set_status(&state, &op, &id, TenantStatus::Suspended, rid).await
}

#[utoipa::path(post, path = "/api/v1/platform/tenants/{id}/reactivate", tag = "platform", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn reactivate(
    State(state): State<AppState>,
    PlatformAdmin(op): PlatformAdmin,
    RequestIdText(rid): RequestIdText,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantView>> {
    set_status(&state, &op, &id, TenantStatus::Active, rid).await
}

/// A short-lived token acting in the tenant as an admin, carrying the
/// operator's identity; every action with it is audited with the operator.
#[utoipa::path(post, path = "/api/v1/platform/impersonate/{tenant}", tag = "platform", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = ImpersonationToken), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn impersonate(
    State(state): State<AppState>,
    PlatformAdmin(op): PlatformAdmin,
    RequestIdText(request_id): RequestIdText,
    Path(tenant): Path<String>,
) -> ApiResult<Json<ImpersonationToken>> {
    let Operator::PlatformAdmin { id: operator, .. } = &op else {
        return Err(Problem::internal());
    };
    let tenant_id = parse_id::<TenantId>(&tenant)?;
    let mut tx = state
        .db
        .tenant(&op.scope_for(tenant_id), Mode::Write)
        .await?;
    let tenant = tenants::find(tx.conn(), tenant_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    if tenant.status == TenantStatus::Suspended {
        return Err(crate::auth::AuthError::TenantSuspended.into());
    }
    let (token, ttl) = state.auth.impersonation_token(*operator, tenant_id);
    let operator_ref = op.audit_ref();
    audit::append(
        &mut tx,
        AuditEvent {
            actor: operator_ref.clone(),
            impersonator: Some(operator_ref),
            action: "impersonation.started",
            target_type: "tenant",
            target_id: tenant_id.to_string(),
            details: serde_json::json!({"expires_in": ttl}),
            request_id,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(ImpersonationToken {
        access_token: token,
        token_type: "Bearer",
        expires_in: ttl,
        tenant_id,
    }))
}
