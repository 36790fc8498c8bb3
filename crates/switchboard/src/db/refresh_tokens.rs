//! Refresh tokens, in rotation families. A token is used once: refreshing
//! marks it used and issues its successor in the same family; presenting a
//! used token again means it was stolen, so the whole family is revoked.

use sqlx::Row as _;
use switchboard_core::{RefreshFamilyId, RefreshTokenId, TenantId, UserId};

use super::{now_ms, parse_col, CredentialTx, DbResult};

#[derive(Clone, Debug)]
pub struct RefreshToken {
    pub id: RefreshTokenId,
    pub family_id: RefreshFamilyId,
    pub tenant_id: Option<TenantId>,
    pub user_id: UserId,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub(crate) async fn insert(
    tx: &mut CredentialTx,
    family: RefreshFamilyId,
    tenant: Option<TenantId>,
    user: UserId,
    token_hash: &str,
    expires_at: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, tenant_id, user_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(RefreshTokenId::generate().to_string())
    .bind(family.to_string())
    .bind(tenant.map(|t| t.to_string()))
    .bind(user.to_string())
    .bind(token_hash)
    .bind(now_ms())
    .bind(expires_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn find_by_hash(
    tx: &mut CredentialTx,
    token_hash: &str,
) -> DbResult<Option<RefreshToken>> {
    let row = sqlx::query(
        "SELECT id, family_id, tenant_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(RefreshToken {
        id: parse_col(&row.try_get::<String, _>("id")?, "id")?,
        family_id: parse_col(&row.try_get::<String, _>("family_id")?, "family_id")?,
        tenant_id: row
            .try_get::<Option<String>, _>("tenant_id")?
            .map(|t| parse_col(&t, "tenant_id"))
            .transpose()?,
        user_id: parse_col(&row.try_get::<String, _>("user_id")?, "user_id")?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    }))
}

/// Marks a token used; false when it was already used (a concurrent refresh won).
pub(crate) async fn mark_used(tx: &mut CredentialTx, id: RefreshTokenId) -> DbResult<bool> {
    let done =
        sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id.to_string())
            .bind(now_ms())
            .execute(tx.conn())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every token of a family; the user must be revealed on the transaction.
pub(crate) async fn revoke_family(
    tx: &mut CredentialTx,
    family: RefreshFamilyId,
    user: UserId,
) -> DbResult<u64> {
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $3 WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(family.to_string())
    .bind(user.to_string())
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

/// Whether a family is still live (some token in it not revoked).
pub(crate) async fn family_is_live(
    tx: &mut CredentialTx,
    family: RefreshFamilyId,
    user: UserId,
) -> DbResult<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM refresh_tokens WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(family.to_string())
    .bind(user.to_string())
    .fetch_one(tx.conn())
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}
