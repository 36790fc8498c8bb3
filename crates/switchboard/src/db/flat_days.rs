//! Days whose flat output files are out of date.

use sqlx::Row as _;

use super::{DbResult, TenantTx};

/// Marks the day as changed at `now` (the newest change wins).
pub async fn mark(tx: &mut TenantTx, day: &str, now: i64) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO flat_days (tenant_id, day, dirty_since) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, day) DO UPDATE SET dirty_since = excluded.dirty_since",
    )
    .bind(tx.tenant_param())
    .bind(day)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Days changed at or before `settled_before`, with when they last changed.
pub async fn due(tx: &mut TenantTx, settled_before: i64) -> DbResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT day, dirty_since FROM flat_days WHERE tenant_id = $1 AND dirty_since <= $2 ORDER BY day",
    )
    .bind(tx.tenant_param())
    .bind(settled_before)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("day")?, r.try_get("dirty_since")?)))
        .collect()
}

/// Clears the mark if nothing changed the day since `seen`.
pub async fn clear(tx: &mut TenantTx, day: &str, seen: i64) -> DbResult<()> {
    sqlx::query("DELETE FROM flat_days WHERE tenant_id = $1 AND day = $2 AND dirty_since = $3")
        .bind(tx.tenant_param())
        .bind(day)
        .bind(seen)
        .execute(tx.conn())
        .await?;
    Ok(())
}
