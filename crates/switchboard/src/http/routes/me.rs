//! `GET /api/v1/me`: who the credentials belong to.

use axum::Json;
use serde::Serialize;
use switchboard_core::{PermissionSet, Plan, Role, Slug, TenantId};

use crate::auth::{Actor, Impersonation, Operator, Principal};
use crate::http::extract::Caller;
use crate::http::problem::Problem;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    /// `user`, `external_user`, `api_key`, `operator` (impersonating) or `platform_admin`.
    pub kind: &'static str,
    /// The user, key or operator id.
    pub id: String,
    /// An email address or a key name.
    pub label: String,
    pub tenant: Option<MeTenant>,
    pub role: Option<Role>,
    #[schema(value_type = Vec<String>)]
    pub permissions: PermissionSet,
    pub platform_admin: bool,
    pub impersonation: Option<Impersonation>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeTenant {
    pub id: TenantId,
    #[schema(value_type = String)]
    pub slug: Slug,
    pub plan: Plan,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn me(Caller(principal): Caller) -> Json<Me> {
    Json(match principal {
        Principal::Tenant(ctx) => {
            let actor = ctx.actor.audit_ref();
            Me {
                kind: match ctx.actor {
                    Actor::User { .. } => "user",
                    Actor::ExternalUser { .. } => "external_user",
                    Actor::ApiKey { .. } => "api_key",
                    Actor::Operator { .. } => "operator",
                    Actor::CommandLine => "cli",
                },
                id: actor.id,
                label: actor.label,
                tenant: Some(MeTenant {
                    id: ctx.tenant_id(),
                    slug: ctx.tenant_slug.clone(),
                    plan: ctx.plan,
                }),
                role: ctx.role,
                permissions: ctx.permissions,
                platform_admin: matches!(ctx.actor, Actor::Operator { .. }),
                impersonation: ctx.impersonation.clone(),
            }
        }
        Principal::Platform(op) => {
            let actor = op.audit_ref();
            Me {
                kind: match op {
                    Operator::PlatformAdmin { .. } => "platform_admin",
                    Operator::CommandLine => "cli",
                },
                id: actor.id,
                label: actor.label,
                tenant: None,
                role: None,
                permissions: PermissionSet::empty(),
                platform_admin: true,
                impersonation: None,
            }
        }
    })
}
