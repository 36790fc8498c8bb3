//! `/api/v1/members`: who belongs to the tenant, with which role. Only owners
//! grant or take away ownership, and the last owner can be neither removed
//! nor demoted.

use crate::http::extract::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::{Email, Role, UserId};

use crate::auth::password::{PasswordHash, PlaintextPassword};
use crate::auth::TenantContext;
use crate::db::{audit, memberships, users, Mode, TenantTx};
use crate::http::extract::{perm, Authorized, JsonBody, RequestIdText};
use crate::http::pagination::{Listing, Page, PageQuery};
use crate::http::problem::{ApiResult, Problem};
use crate::http::routes::{audit_event, rfc3339, Validator};
use crate::http::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    /// RFC 3339.
    pub joined_at: String,
}

impl From<memberships::Member> for MemberView {
    fn from(m: memberships::Member) -> Self {
        Self {
            user_id: m.user_id,
            email: m.email.to_string(),
            role: m.role,
            joined_at: rfc3339(m.created_at_ms),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub email: String,
    pub role: String,
    /// Required when the person has no account yet: 12 to 256 characters.
    pub password: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    pub role: String,
}

pub(crate) fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, Problem> {
    raw.parse().map_err(|_| Problem::not_found())
}

fn require_owner_for(ctx: &TenantContext, role: Role) -> ApiResult<()> {
    if role == Role::Owner && ctx.role != Some(Role::Owner) {
        return Err(Problem::forbidden(
            "owner-required",
            "Only owners grant or take away ownership",
        ));
    }
    Ok(())
}

async fn guard_last_owner(tx: &mut TenantTx, current: Role) -> ApiResult<()> {
    if current == Role::Owner && memberships::count_owners(tx).await? <= 1 {
        return Err(
            Problem::conflict("last-owner", "The last owner must stay an owner")
                .detail("make someone else an owner first"),
        );
    }
    Ok(())
}

/// Lists members in the order they first signed up.
#[utoipa::path(get, path = "/api/v1/members", tag = "members", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<MemberView>), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authorized<perm::UsersManage>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<MemberView>>> {
    let listing = Listing::new(
        state.cursor_key(),
        "members",
        auth.ctx.tenant_id().to_string(),
        q.limit,
        q.cursor,
    )?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let rows = memberships::list(&mut tx, listing.position()?, listing.fetch()).await?;
    tx.commit().await?;
    Ok(Json(listing.page(
        rows.into_iter().map(MemberView::from).collect(),
        |m| m.user_id.to_string(),
    )))
}

#[utoipa::path(get, path = "/api/v1/members/{user_id}", tag = "members", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = MemberView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authorized<perm::UsersManage>,
    Path(id): Path<String>,
) -> ApiResult<Json<MemberView>> {
    let user = parse_id::<UserId>(&id)?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let member = memberships::get(&mut tx, user)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(Json(member.into()))
}

/// Adds a person, creating their account when they have none.
#[utoipa::path(post, path = "/api/v1/members", tag = "members", security(("bearer" = [])), request_body = AddMember,
    responses((status = 201, body = MemberView), (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn add(
    State(state): State<AppState>,
    auth: Authorized<perm::UsersManage>,
    RequestIdText(request_id): RequestIdText,
    JsonBody(body): JsonBody<AddMember>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    let mut v = Validator::default();
    let email = v.check("email", Email::parse(&body.email));
    let role = v.check("role", body.role.parse::<Role>());
    let password = body
        .password
        .map(|p| v.check("password", PlaintextPassword::new(p)));
    v.finish()?;
    let (email, role) = (email.expect("validated"), role.expect("validated"));
    require_owner_for(&auth.ctx, role)?;
    // Hash before the transaction: argon2 is slow and must not hold the writer.
    let hash = match password.flatten() {
        Some(p) => Some(PasswordHash::of(&p).await),
        None => None,
    };
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    let user = match users::find_by_email(tx.conn(), &email).await? {
        Some(user) => user,
        None => {
            let Some(hash) = &hash else {
                return Err(Problem::field(
                    "password",
                    "this person has no account yet; give them a password of 12 to 256 characters",
                ));
            };
            users::create(tx.conn(), &email, Some(hash), false).await?
        }
    };
    memberships::insert(&mut tx, user.id, role)
        .await
        .map_err(|e| match e {
            crate::db::DbError::Conflict(_) => {
                Problem::conflict("already-member", "This person is already a member")
            }
            e => e.into(),
        })?;
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "member.added",
            "user",
            user.id.to_string(),
            serde_json::json!({"email": email.as_str(), "role": role}),
        ),
    )
    .await?;
    let member = memberships::get(&mut tx, user.id)
        .await?
        .ok_or_else(Problem::internal)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(member.into())))
}

#[utoipa::path(patch, path = "/api/v1/members/{user_id}", tag = "members", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = ChangeRole,
    responses((status = 200, body = MemberView), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn change_role(
    State(state): State<AppState>,
    auth: Authorized<perm::UsersManage>,
    RequestIdText(request_id): RequestIdText,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ChangeRole>,
) -> ApiResult<Json<MemberView>> {
    let user = parse_id::<UserId>(&id)?;
    let role = body
        .role
        .parse::<Role>()
        .map_err(|e| Problem::field("role", e.to_string()))?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    let current = memberships::get(&mut tx, user)
        .await?
        .ok_or_else(Problem::not_found)?;
    require_owner_for(&auth.ctx, role)?;
    require_owner_for(&auth.ctx, current.role)?;
    if role != Role::Owner {
        guard_last_owner(&mut tx, current.role).await?;
    }
    memberships::set_role(&mut tx, user, role).await?;
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "member.role_changed",
            "user",
            user.to_string(),
            serde_json::json!({"from": current.role, "to": role}),
        ),
    )
    .await?;
    let member = memberships::get(&mut tx, user)
        .await?
        .ok_or_else(Problem::internal)?;
    tx.commit().await?;
    Ok(Json(member.into()))
}

#[utoipa::path(delete, path = "/api/v1/members/{user_id}", tag = "members", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn remove(
    State(state): State<AppState>,
    auth: Authorized<perm::UsersManage>,
    RequestIdText(request_id): RequestIdText,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user = parse_id::<UserId>(&id)?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    let current = memberships::get(&mut tx, user)
        .await?
        .ok_or_else(Problem::not_found)?;
    require_owner_for(&auth.ctx, current.role)?;
    guard_last_owner(&mut tx, current.role).await?;
    memberships::remove(&mut tx, user).await?;
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "member.removed",
            "user",
            user.to_string(),
            serde_json::json!({"email": current.email.as_str(), "role": current.role}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
