//! Platform-wide secrets, sealed with the master key.

use sqlx::{AnyConnection, Row as _};

use super::{now_ms, DbResult};
use crate::secrets::Sealed;

pub async fn get(conn: &mut AnyConnection, name: &str) -> DbResult<Option<Sealed>> {
    let row = sqlx::query("SELECT sealed FROM platform_secrets WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(row
        .map(|r| r.try_get::<String, _>("sealed"))
        .transpose()?
        .map(Sealed::from_stored))
}

/// Inserts unless another node got there first; the caller re-reads.
pub async fn insert_if_absent(
    conn: &mut AnyConnection,
    name: &str,
    sealed: &Sealed,
) -> DbResult<()> {
    sqlx::query("INSERT INTO platform_secrets (name, sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(sealed.as_str())
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn all(conn: &mut AnyConnection) -> DbResult<Vec<(String, Sealed)>> {
    let rows = sqlx::query("SELECT name, sealed FROM platform_secrets ORDER BY name")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("name")?,
                Sealed::from_stored(r.try_get("sealed")?),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub async fn replace(conn: &mut AnyConnection, name: &str, sealed: &Sealed) -> DbResult<()> {
    sqlx::query("UPDATE platform_secrets SET sealed = $2 WHERE name = $1")
        .bind(name)
        .bind(sealed.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
