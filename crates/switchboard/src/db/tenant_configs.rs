//! Versions of a tenant's `ai-config.json` and `qa-config.json`. Accepted
//! documents are appended, never changed; the highest version is in force.

use sqlx::Row as _;

use super::{now_ms, DbResult, TenantTx};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigKind {
    Ai,
    Qa,
}

impl ConfigKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigKind::Ai => "ai",
            ConfigKind::Qa => "qa",
        }
    }

    /// The file name in the object store's `config/` folder.
    pub fn file_name(self) -> &'static str {
        match self {
            ConfigKind::Ai => "ai-config.json",
            ConfigKind::Qa => "qa-config.json",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConfigVersion {
    pub version: i64,
    pub document: String,
    pub created_at: i64,
    /// The user (or `cli`, `system`) who saved it.
    pub created_by: Option<String>,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<ConfigVersion, sqlx::Error> {
    Ok(ConfigVersion {
        version: r.try_get("version")?,
        document: r.try_get("document")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

/// The version in force, if the tenant ever saved one.
pub async fn active(tx: &mut TenantTx, kind: ConfigKind) -> DbResult<Option<ConfigVersion>> {
    let row = sqlx::query(
        "SELECT version, document, created_at, created_by FROM tenant_configs \
         WHERE tenant_id = $1 AND kind = $2 ORDER BY version DESC LIMIT 1",
    )
    .bind(tx.tenant_param())
    .bind(kind.as_str())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn get(
    tx: &mut TenantTx,
    kind: ConfigKind,
    version: i64,
) -> DbResult<Option<ConfigVersion>> {
    let row = sqlx::query(
        "SELECT version, document, created_at, created_by FROM tenant_configs \
         WHERE tenant_id = $1 AND kind = $2 AND version = $3",
    )
    .bind(tx.tenant_param())
    .bind(kind.as_str())
    .bind(version)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Appends a validated document as the next version and returns it. The
/// primary key makes two concurrent saves of one tenant collide instead of
/// sharing a number.
pub async fn append(
    tx: &mut TenantTx,
    kind: ConfigKind,
    document: &str,
    created_by: Option<&str>,
) -> DbResult<ConfigVersion> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO tenant_configs (tenant_id, kind, version, document, created_at, created_by) \
         SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4, $5 FROM tenant_configs \
         WHERE tenant_id = $1 AND kind = $2 \
         RETURNING version",
    )
    .bind(tx.tenant_param())
    .bind(kind.as_str())
    .bind(document)
    .bind(now)
    .bind(created_by)
    .fetch_one(tx.conn())
    .await
    .map_err(super::DbError::conflict_on("config version"))?;
    Ok(ConfigVersion {
        version: row.try_get("version")?,
        document: document.to_owned(),
        created_at: now,
        created_by: created_by.map(str::to_owned),
    })
}
