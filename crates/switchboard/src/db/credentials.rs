//! A tenant's provider credentials, sealed with the master key. Only a hint
//! (the last characters) is ever read back out for display.

use sqlx::Row as _;
use switchboard_ingest::Source;

use super::{now_ms, DbResult, TenantTx};
use crate::secrets::Sealed;

/// Whose credential it is: a call provider's, or the tenant's own LLM key
/// (bring-your-own-key) for the analysis pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialProvider {
    Calls(Source),
    Llm,
}

impl CredentialProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialProvider::Calls(s) => s.as_str(),
            CredentialProvider::Llm => "llm",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "llm" => Some(CredentialProvider::Llm),
            other => Source::parse(other).map(CredentialProvider::Calls),
        }
    }
}

impl From<Source> for CredentialProvider {
    fn from(s: Source) -> Self {
        CredentialProvider::Calls(s)
    }
}

pub struct StoredCredential {
    pub sealed: Sealed,
    pub hint: String,
    pub updated_at: i64,
}

/// The associated data binding a sealed credential to its tenant and
/// provider, so a ciphertext copied to another row does not open.
pub fn aad(tenant: &str, provider: impl Into<CredentialProvider>) -> String {
    format!("credential:{tenant}:{}", provider.into().as_str())
}

pub async fn put(
    tx: &mut TenantTx,
    provider: impl Into<CredentialProvider>,
    sealed: &Sealed,
    hint: &str,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO provider_credentials (tenant_id, provider, sealed, hint, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, provider) DO UPDATE SET sealed = excluded.sealed, hint = excluded.hint, \
         updated_at = excluded.updated_at",
    )
    .bind(tx.tenant_param())
    .bind(provider.into().as_str())
    .bind(sealed.as_str())
    .bind(hint)
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn get(
    tx: &mut TenantTx,
    provider: impl Into<CredentialProvider>,
) -> DbResult<Option<StoredCredential>> {
    let row = sqlx::query(
        "SELECT sealed, hint, updated_at FROM provider_credentials WHERE tenant_id = $1 AND provider = $2",
    )
    .bind(tx.tenant_param())
    .bind(provider.into().as_str())
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(StoredCredential {
        sealed: Sealed::from_stored(row.try_get("sealed")?),
        hint: row.try_get("hint")?,
        updated_at: row.try_get("updated_at")?,
    }))
}

pub async fn delete(tx: &mut TenantTx, provider: impl Into<CredentialProvider>) -> DbResult<bool> {
    let done =
        sqlx::query("DELETE FROM provider_credentials WHERE tenant_id = $1 AND provider = $2")
            .bind(tx.tenant_param())
            .bind(provider.into().as_str())
            .execute(tx.conn())
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Every sealed credential of the tenant, for master-key rotation.
pub async fn all(tx: &mut TenantTx) -> DbResult<Vec<(CredentialProvider, Sealed)>> {
    let rows =
        sqlx::query("SELECT provider, sealed FROM provider_credentials WHERE tenant_id = $1")
            .bind(tx.tenant_param())
            .fetch_all(tx.conn())
            .await?;
    rows.iter()
        .filter_map(|r| {
            let provider: String = r.try_get("provider").ok()?;
            Some(Ok((
                CredentialProvider::parse(&provider)?,
                Sealed::from_stored(r.try_get("sealed").ok()?),
            )))
        })
        .collect()
}

pub async fn replace_sealed(
    tx: &mut TenantTx,
    provider: impl Into<CredentialProvider>,
    sealed: &Sealed,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE provider_credentials SET sealed = $3 WHERE tenant_id = $1 AND provider = $2",
    )
    .bind(tx.tenant_param())
    .bind(provider.into().as_str())
    .bind(sealed.as_str())
    .execute(tx.conn())
    .await?;
    Ok(())
}
