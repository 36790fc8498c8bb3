//! Memberships: which users belong to a tenant, with which role.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row as _;
use switchboard_core::{Email, Role, Slug, TenantId, TenantStatus, UserId};

use super::{now_ms, parse_col, CredentialTx, DbError, DbResult, TenantTx};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: UserId,
    #[schema(value_type = String)]
    pub email: Email,
    pub role: Role,
    /// Unix milliseconds.
    #[serde(skip)]
    pub created_at_ms: i64,
}

fn from_row(row: &AnyRow) -> Result<Member, sqlx::Error> {
    Ok(Member {
        user_id: parse_col(&row.try_get::<String, _>("user_id")?, "user_id")?,
        email: parse_col(&row.try_get::<String, _>("email")?, "email")?,
        role: parse_col(&row.try_get::<String, _>("role")?, "role")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

const SELECT: &str = "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id";

/// Members in user-id order, after `after`.
///
/// The page comes back as one row holding a JSON array rather than a row
/// per member: each row costs a driver conversion (and on SQLite a hop
/// between threads), which made lists the slowest reads (BENCHMARKS.md).
/// The aggregate is spelled differently on each backend (decision 0007).
pub async fn list(tx: &mut TenantTx, after: Option<UserId>, limit: i64) -> DbResult<Vec<Member>> {
    let aggregate = match tx.backend() {
        super::Backend::Sqlite => "json_group_array(json_array(user_id, email, role, created_at))",
        super::Backend::Postgres => {
            "COALESCE(json_agg(json_build_array(user_id, email, role, created_at)), '[]')::text"
        }
    };
    let row = sqlx::query(&format!(
        "SELECT {aggregate} AS page FROM ({SELECT} WHERE m.tenant_id = $1 AND ($2 IS NULL OR m.user_id > $2) \
         ORDER BY m.user_id LIMIT $3) AS p"
    ))
    .bind(tx.tenant_param())
    .bind(after.map(|a| a.to_string()))
    .bind(limit)
    .fetch_one(tx.conn())
    .await?;
    let page: String = row.try_get("page")?;
    let entries: Vec<(String, String, String, i64)> =
        serde_json::from_str(&page).map_err(|e| sqlx::Error::ColumnDecode {
            index: "page".into(),
            source: Box::new(e),
        })?;
    let mut members = entries
        .into_iter()
        .map(|(user_id, email, role, created_at)| {
            Ok(Member {
                user_id: parse_col(&user_id, "user_id")?,
                email: parse_col(&email, "email")?,
                role: parse_col(&role, "role")?,
                created_at_ms: created_at,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    // Aggregates need not keep the subquery's order.
    members.sort_by_key(|m| m.user_id);
    Ok(members)
}

pub async fn get(tx: &mut TenantTx, user: UserId) -> DbResult<Option<Member>> {
    let row = sqlx::query(&format!(
        "{SELECT} WHERE m.tenant_id = $1 AND m.user_id = $2"
    ))
    .bind(tx.tenant_param())
    .bind(user.to_string())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn insert(tx: &mut TenantTx, user: UserId, role: Role) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(tx.tenant_param())
    .bind(user.to_string())
    .bind(role.as_str())
    .bind(now_ms())
    .execute(tx.conn())
    .await
    .map_err(DbError::conflict_on("member"))?;
    Ok(())
}

pub async fn set_role(tx: &mut TenantTx, user: UserId, role: Role) -> DbResult<bool> {
    let done =
        sqlx::query("UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2")
            .bind(tx.tenant_param())
            .bind(user.to_string())
            .bind(role.as_str())
            .execute(tx.conn())
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn remove(tx: &mut TenantTx, user: UserId) -> DbResult<bool> {
    let done = sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2")
        .bind(tx.tenant_param())
        .bind(user.to_string())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_owners(tx: &mut TenantTx) -> DbResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM memberships WHERE tenant_id = $1 AND role = 'owner'",
    )
    .bind(tx.tenant_param())
    .fetch_one(tx.conn())
    .await?;
    Ok(row.try_get("n")?)
}

/// A tenant a signed-in user belongs to, as seen at sign-in.
#[derive(Clone, Debug)]
pub struct UserTenant {
    pub tenant_id: TenantId,
    pub slug: Slug,
    pub status: TenantStatus,
    pub role: Role,
}

/// Every tenant of one user; needs the user revealed on the credential transaction.
pub(crate) async fn tenants_of_user(
    tx: &mut CredentialTx,
    user: UserId,
) -> DbResult<Vec<UserTenant>> {
    let rows = sqlx::query(
        "SELECT m.tenant_id, t.slug, t.status, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id \
         WHERE m.user_id = $1 ORDER BY t.slug",
    )
    .bind(user.to_string())
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(UserTenant {
                tenant_id: parse_col(&row.try_get::<String, _>("tenant_id")?, "tenant_id")?,
                slug: parse_col(&row.try_get::<String, _>("slug")?, "slug")?,
                status: parse_col(&row.try_get::<String, _>("status")?, "status")?,
                role: parse_col(&row.try_get::<String, _>("role")?, "role")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(DbError::from)
}
