//! Platform operations on tenants, shared by the platform API and the
//! command line: each change and its audit entry commit together.

use switchboard_core::{Email, Role, TenantId, TenantStatus};

use crate::auth::password::PasswordHash;
use crate::auth::Operator;
use crate::db::audit::{self, AuditEvent};
use crate::db::tenant_configs::{self, ConfigKind};
use crate::db::tenants::{self, NewTenant, Tenant};
use crate::db::users::{self, User};
use crate::db::{memberships, Db, DbResult, Mode};

fn operator_event(
    operator: &Operator,
    request_id: Option<String>,
    action: &'static str,
    tenant: TenantId,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        actor: operator.audit_ref(),
        impersonator: None,
        action,
        target_type: "tenant",
        target_id: tenant.to_string(),
        details,
        request_id,
    }
}

pub async fn create_tenant(
    db: &Db,
    operator: &Operator,
    new: NewTenant,
    request_id: Option<String>,
) -> DbResult<Tenant> {
    let mut platform = db.platform(Mode::Write).await?;
    let tenant = tenants::create(platform.conn(), new).await?;
    let mut tx = platform.into_tenant(&operator.scope_for(tenant.id)).await?;
    audit::append(&mut tx, operator_event(operator, request_id, "tenant.created", tenant.id,
        serde_json::json!({"slug": tenant.slug, "name": tenant.name, "plan": tenant.plan, "industry": tenant.industry}))).await?;
    // Every tenant starts with its industry's rubric as version 1, so its
    // first calls are scored and the rubric can be edited from there.
    tenant_configs::append(
        &mut tx,
        ConfigKind::Qa,
        crate::pipeline::starter_rubric(tenant.industry),
        Some("system"),
    )
    .await?;
    tx.commit().await?;
    Ok(tenant)
}

/// Suspends or reactivates; `None` when there is no such tenant.
pub async fn set_status(
    db: &Db,
    operator: &Operator,
    tenant: TenantId,
    status: TenantStatus,
    request_id: Option<String>,
) -> DbResult<Option<Tenant>> {
    let mut tx = db.tenant(&operator.scope_for(tenant), Mode::Write).await?;
    let Some(before) = tenants::find(tx.conn(), tenant).await? else {
        return Ok(None);
    };
    let updated = tenants::set_status(tx.conn(), tenant, status).await?;
    if before.status != status {
        let action = match status {
            TenantStatus::Suspended => "tenant.suspended",
            TenantStatus::Active => "tenant.reactivated",
        };
        audit::append(
            &mut tx,
            operator_event(operator, request_id, action, tenant, serde_json::json!({})),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(updated)
}

/// Adds a person to a tenant, creating the account if needed. An existing
/// account keeps its password.
pub async fn add_member(
    db: &Db,
    operator: &Operator,
    tenant: TenantId,
    email: &Email,
    role: Role,
    password: Option<&PasswordHash>,
) -> DbResult<User> {
    let mut tx = db.tenant(&operator.scope_for(tenant), Mode::Write).await?;
    let user = match users::find_by_email(tx.conn(), email).await? {
        Some(user) => user,
        None => users::create(tx.conn(), email, password, false).await?,
    };
    memberships::insert(&mut tx, user.id, role).await?;
    audit::append(
        &mut tx,
        AuditEvent {
            actor: operator.audit_ref(),
            impersonator: None,
            action: "member.added",
            target_type: "user",
            target_id: user.id.to_string(),
            details: serde_json::json!({"email": email.as_str(), "role": role}),
            request_id: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Creates a platform admin, or promotes an existing account.
pub async fn add_platform_admin(db: &Db, email: &Email, password: &PasswordHash) -> DbResult<User> {
    let mut tx = db.platform(Mode::Write).await?;
    let user = match users::find_by_email(tx.conn(), email).await? {
        Some(user) => {
            users::set_platform_admin(tx.conn(), user.id, true).await?;
            User {
                is_platform_admin: true,
                ..user
            }
        }
        None => users::create(tx.conn(), email, Some(password), true).await?,
    };
    tx.commit().await?;
    Ok(user)
}

/// A tenant by id or slug, as typed at the command line.
/// Every tenant, for the background work that visits them all (resuming
/// recording fetches, the pull scheduler, master-key rotation). Read a page
/// at a time, each in its own short transaction.
pub async fn all(db: &Db) -> DbResult<Vec<Tenant>> {
    const PAGE: i64 = 500;
    let mut out: Vec<Tenant> = Vec::new();
    loop {
        let mut tx = db.platform(Mode::Read).await?;
        let page = tenants::list(tx.conn(), out.last().map(|t| t.id), PAGE).await?;
        tx.commit().await?;
        let done = (page.len() as i64) < PAGE;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

pub async fn resolve(db: &Db, id_or_slug: &str) -> DbResult<Option<Tenant>> {
    let mut tx = db.platform(Mode::Read).await?;
    let found = if let Ok(id) = id_or_slug.parse::<TenantId>() {
        tenants::find(tx.conn(), id).await?
    } else if let Ok(slug) = switchboard_core::Slug::parse(id_or_slug) {
        tenants::find_by_slug(tx.conn(), &slug).await?
    } else {
        None
    };
    tx.commit().await?;
    Ok(found)
}
