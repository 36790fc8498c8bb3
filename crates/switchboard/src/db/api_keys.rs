//! Tenant API keys. Only a keyed hash of the secret is stored.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row as _;
use switchboard_core::{ApiKeyId, Permission, PermissionSet, Plan, Slug, TenantId, TenantStatus};

use super::{now_ms, parse_col, CredentialTx, DbError, DbResult, TenantTx};
use crate::auth::api_key::ApiKeyHash;

#[derive(Clone, Debug, Serialize)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub name: String,
    /// The visible start of the key, to recognise it in a list.
    pub prefix: String,
    pub scopes: PermissionSet,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub hash: &'a ApiKeyHash,
    pub scopes: PermissionSet,
    pub created_by: Option<&'a str>,
    pub expires_at: Option<i64>,
}

const COLUMNS: &str = "id, name, prefix, scopes, created_by, created_at, expires_at, revoked_at";

fn scopes_to_text(scopes: PermissionSet) -> String {
    scopes
        .iter()
        .map(Permission::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

fn from_row(row: &AnyRow) -> Result<ApiKeyRecord, sqlx::Error> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiKeyRecord {
        id: parse_col(&row.try_get::<String, _>("id")?, "id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: scopes
            .split_whitespace()
            .map(|s| parse_col::<Permission>(s, "scopes"))
            .collect::<Result<PermissionSet, _>>()?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

pub async fn insert(tx: &mut TenantTx, new: NewApiKey<'_>) -> DbResult<ApiKeyRecord> {
    let row = sqlx::query(&format!(
        "INSERT INTO api_keys (tenant_id, key_hash, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL) \
         RETURNING {COLUMNS}"
    ))
    .bind(tx.tenant_param())
    .bind(new.hash.as_str())
    .bind(ApiKeyId::generate().to_string())
    .bind(new.name)
    .bind(new.prefix)
    .bind(scopes_to_text(new.scopes))
    .bind(new.created_by)
    .bind(now_ms())
    .bind(new.expires_at)
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::conflict_on("key"))?;
    Ok(from_row(&row)?)
}

/// Keys newest first, before `before`.
pub async fn list(
    tx: &mut TenantTx,
    before: Option<ApiKeyId>,
    limit: i64,
) -> DbResult<Vec<ApiKeyRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(tx.tenant_param())
    .bind(before.map(|b| b.to_string()))
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

pub async fn get(tx: &mut TenantTx, id: ApiKeyId) -> DbResult<Option<ApiKeyRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Revokes a key; revoking a revoked key keeps the first revocation time.
pub async fn revoke(tx: &mut TenantTx, id: ApiKeyId) -> DbResult<Option<ApiKeyRecord>> {
    let row = sqlx::query(&format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .bind(now_ms())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// What a presented key resolves to, with the tenant facts every request needs.
#[derive(Clone, Debug)]
pub struct KeyOwner {
    pub tenant_id: TenantId,
    pub tenant_slug: Slug,
    pub tenant_plan: Plan,
    pub tenant_status: TenantStatus,
    pub key: ApiKeyRecord,
}

pub(crate) async fn find_by_hash(
    tx: &mut CredentialTx,
    hash: &ApiKeyHash,
) -> DbResult<Option<KeyOwner>> {
    let row = sqlx::query(
        "SELECT k.tenant_id, t.slug, t.plan, t.status, k.id, k.name, k.prefix, k.scopes, k.created_by, \
                k.created_at, k.expires_at, k.revoked_at \
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = $1",
    )
    .bind(hash.as_str())
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(KeyOwner {
        tenant_id: parse_col(&row.try_get::<String, _>("tenant_id")?, "tenant_id")?,
        tenant_slug: parse_col(&row.try_get::<String, _>("slug")?, "slug")?,
        tenant_plan: parse_col(&row.try_get::<String, _>("plan")?, "plan")?,
        tenant_status: parse_col(&row.try_get::<String, _>("status")?, "status")?,
        key: from_row(&row)?,
    }))
}
