//! Tenants: a platform table (it has no `tenant_id`; a tenant is its own row).

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};
use switchboard_core::{HexColor, IndustryTemplate, Plan, Slug, TenantId, TenantStatus};

use super::{now_ms, parse_col, DbError, DbResult, TenantTx};

#[derive(Clone, Debug, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: Slug,
    pub name: String,
    pub plan: Plan,
    pub status: TenantStatus,
    pub industry: IndustryTemplate,
    pub branding: Branding,
    pub external_org_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How a tenant's dashboard looks. Stored as JSON text.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Branding {
    pub display_name: Option<String>,
    pub logo_url: Option<String>,
    pub primary_color: Option<HexColor>,
    pub accent_color: Option<HexColor>,
}

pub struct NewTenant {
    pub slug: Slug,
    pub name: String,
    pub plan: Plan,
    pub industry: IndustryTemplate,
    pub external_org_id: Option<String>,
}

const COLUMNS: &str =
    "id, slug, name, plan, status, industry, branding, external_org_id, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Tenant, sqlx::Error> {
    let branding: String = row.try_get("branding")?;
    Ok(Tenant {
        id: parse_col(&row.try_get::<String, _>("id")?, "id")?,
        slug: parse_col(&row.try_get::<String, _>("slug")?, "slug")?,
        name: row.try_get("name")?,
        plan: parse_col(&row.try_get::<String, _>("plan")?, "plan")?,
        status: parse_col(&row.try_get::<String, _>("status")?, "status")?,
        industry: parse_col(&row.try_get::<String, _>("industry")?, "industry")?,
        branding: serde_json::from_str(&branding).map_err(|e| sqlx::Error::ColumnDecode {
            index: "branding".into(),
            source: e.into(),
        })?,
        external_org_id: row.try_get("external_org_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn create(conn: &mut AnyConnection, new: NewTenant) -> DbResult<Tenant> {
    let now = now_ms();
    let row = sqlx::query(&format!(
        "INSERT INTO tenants ({COLUMNS}) VALUES ($1, $2, $3, $4, 'active', $5, '{{}}', $6, $7, $7) RETURNING {COLUMNS}"
    ))
    .bind(TenantId::generate().to_string())
    .bind(new.slug.as_str())
    .bind(&new.name)
    .bind(new.plan.as_str())
    .bind(new.industry.as_str())
    .bind(new.external_org_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() && d.message().contains("external_org_id") => {
            DbError::Conflict("external_org_id")
        }
        _ => DbError::conflict_on("slug")(e),
    })?;
    Ok(from_row(&row)?)
}

pub async fn find(conn: &mut AnyConnection, id: TenantId) -> DbResult<Option<Tenant>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn find_by_slug(conn: &mut AnyConnection, slug: &Slug) -> DbResult<Option<Tenant>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1"))
        .bind(slug.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn find_by_external_org(
    conn: &mut AnyConnection,
    org_id: &str,
) -> DbResult<Option<Tenant>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE external_org_id = $1"
    ))
    .bind(org_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Tenants in id (creation) order, after `after`.
pub async fn list(
    conn: &mut AnyConnection,
    after: Option<TenantId>,
    limit: i64,
) -> DbResult<Vec<Tenant>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
    ))
    .bind(after.map(|a| a.to_string()))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

pub async fn set_status(
    conn: &mut AnyConnection,
    id: TenantId,
    status: TenantStatus,
) -> DbResult<Option<Tenant>> {
    let row = sqlx::query(&format!(
        "UPDATE tenants SET status = $2, updated_at = $3 WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id.to_string())
    .bind(status.as_str())
    .bind(now_ms())
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// The tenant of the scoped transaction.
pub async fn own(tx: &mut TenantTx) -> DbResult<Tenant> {
    let id = tx.tenant_id();
    find(tx.conn(), id)
        .await?
        .ok_or(DbError::Other(sqlx::Error::RowNotFound))
}

pub async fn set_branding(tx: &mut TenantTx, branding: &Branding) -> DbResult<Tenant> {
    let row = sqlx::query(&format!(
        "UPDATE tenants SET branding = $2, updated_at = $3 WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(tx.tenant_param())
    .bind(serde_json::to_string(branding).expect("branding serialises"))
    .bind(now_ms())
    .fetch_one(tx.conn())
    .await?;
    Ok(from_row(&row)?)
}
