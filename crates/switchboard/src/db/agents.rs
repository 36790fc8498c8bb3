//! Voice agents of a tenant. The webhook token itself is never stored: only
//! the nonce it is derived from (with the platform pepper) and its keyed hash,
//! which is how an incoming webhook finds its agent.

use sqlx::any::AnyRow;
use sqlx::Row as _;
use switchboard_core::{AgentId, TenantId, TenantStatus};
use switchboard_ingest::Source;

use super::{now_ms, parse_col, CredentialTx, DbResult, TenantTx};
use crate::secrets::Sealed;

#[derive(Clone, Debug)]
pub struct AgentRecord {
    pub id: AgentId,
    pub name: String,
    pub provider: Source,
    pub provider_agent_id: Option<String>,
    /// `pending_validation`, `active`, `inactive` or `error`.
    pub status: String,
    pub error_message: Option<String>,
    pub token_nonce: String,
    /// Non-secret verification settings (Vapi's scheme and header names).
    pub webhook_auth: serde_json::Value,
    /// Sealed list of webhook secrets (Vapi, Standard Webhooks), newest first.
    pub webhook_secrets: Option<Sealed>,
    pub last_webhook_received_at: Option<i64>,
    pub signature_failures: Refusals,
    pub refused_while_inactive: Refusals,
    pub created_at: i64,
    pub updated_at: i64,
}

pub struct NewAgent<'a> {
    pub id: AgentId,
    pub name: &'a str,
    pub provider: Source,
    pub provider_agent_id: Option<&'a str>,
    pub token_nonce: &'a str,
    pub token_hash: &'a str,
    pub webhook_auth: &'a serde_json::Value,
    pub webhook_secrets: Option<&'a Sealed>,
}

const COLUMNS: &str =
    "id, name, provider, provider_agent_id, status, error_message, token_nonce, webhook_auth, \
    webhook_secrets, last_webhook_received_at, signature_failures, last_signature_failure_at, \
    refused_while_inactive, last_refused_while_inactive_at, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<AgentRecord, sqlx::Error> {
    let provider: String = row.try_get("provider")?;
    let auth: String = row.try_get("webhook_auth")?;
    Ok(AgentRecord {
        id: parse_col(&row.try_get::<String, _>("id")?, "id")?,
        name: row.try_get("name")?,
        provider: parse_col(&provider, "provider")?,
        provider_agent_id: row.try_get("provider_agent_id")?,
        status: row.try_get("status")?,
        error_message: row.try_get("error_message")?,
        token_nonce: row.try_get("token_nonce")?,
        webhook_auth: serde_json::from_str(&auth).map_err(|e| sqlx::Error::ColumnDecode {
            index: "webhook_auth".into(),
            source: Box::new(e),
        })?,
        webhook_secrets: row
            .try_get::<Option<String>, _>("webhook_secrets")?
            .map(Sealed::from_stored),
        last_webhook_received_at: row.try_get("last_webhook_received_at")?,
        signature_failures: Refusal::BadSignature.read(row)?,
        refused_while_inactive: Refusal::WhileInactive.read(row)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn insert(tx: &mut TenantTx, new: NewAgent<'_>) -> DbResult<AgentRecord> {
    let now = now_ms();
    let row = sqlx::query(&format!(
        "INSERT INTO agents (tenant_id, token_hash, id, name, provider, provider_agent_id, status, token_nonce, \
         webhook_auth, webhook_secrets, signature_failures, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending_validation', $7, $8, $9, 0, $10, $10) RETURNING {COLUMNS}"
    ))
    .bind(tx.tenant_param())
    .bind(new.token_hash)
    .bind(new.id.to_string())
    .bind(new.name)
    .bind(new.provider.as_str())
    .bind(new.provider_agent_id)
    .bind(new.token_nonce)
    .bind(new.webhook_auth.to_string())
    .bind(new.webhook_secrets.map(Sealed::as_str))
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok(from_row(&row)?)
}

/// Agents newest first, before `before`.
pub async fn list(
    tx: &mut TenantTx,
    before: Option<AgentId>,
    limit: i64,
) -> DbResult<Vec<AgentRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM agents WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(tx.tenant_param())
    .bind(before.map(|b| b.to_string()))
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

pub async fn get(tx: &mut TenantTx, id: AgentId) -> DbResult<Option<AgentRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM agents WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// The tenant's agent of `provider` that names `provider_agent_id` as its
/// provider's id; the oldest, should several name it.
pub async fn find_by_provider_agent_id(
    tx: &mut TenantTx,
    provider: Source,
    provider_agent_id: &str,
) -> DbResult<Option<AgentRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM agents WHERE tenant_id = $1 AND provider = $2 AND provider_agent_id = $3 \
         ORDER BY id LIMIT 1"
    ))
    .bind(tx.tenant_param())
    .bind(provider.as_str())
    .bind(provider_agent_id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// What a person may change on an agent; `None` keeps the current value.
#[derive(Default)]
pub struct AgentChanges<'a> {
    pub name: Option<&'a str>,
    pub provider_agent_id: Option<Option<&'a str>>,
    pub status: Option<&'a str>,
    /// A Vapi agent's scheme, in its stored form.
    pub webhook_auth: Option<&'a serde_json::Value>,
}

/// `status = "active"` asks for the agent to take webhooks again; only a
/// correctly signed webhook proves it is set up right, so an agent that
/// has not had one since it was created or given a new Vapi scheme
/// (`validated_at`), or that showed `error` (it has an error message then,
/// which an agent switched off keeps for this), becomes
/// `pending_validation` instead; so does one given a new Vapi scheme while
/// switched on.
pub async fn update(
    tx: &mut TenantTx,
    id: AgentId,
    c: AgentChanges<'_>,
) -> DbResult<Option<AgentRecord>> {
    let row = sqlx::query(&format!(
        "UPDATE agents SET name = COALESCE($3, name), \
            provider_agent_id = CASE WHEN $4 = 1 THEN $5 ELSE provider_agent_id END, \
            status = CASE \
                WHEN $6 = 'inactive' OR ($6 IS NULL AND status = 'inactive') THEN 'inactive' \
                WHEN $8 IS NOT NULL THEN 'pending_validation' \
                WHEN $6 = 'active' AND status <> 'active' \
                    AND (error_message IS NOT NULL OR validated_at IS NULL) THEN 'pending_validation' \
                ELSE COALESCE($6, status) END, \
            error_message = CASE WHEN $6 = 'active' OR ($8 IS NOT NULL AND status <> 'inactive') \
                THEN NULL ELSE error_message END, \
            updated_at = $7, webhook_auth = COALESCE($8, webhook_auth), \
            validated_at = CASE WHEN $8 IS NULL THEN validated_at END \
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .bind(c.name)
    .bind(i64::from(c.provider_agent_id.is_some()))
    .bind(c.provider_agent_id.flatten())
    .bind(c.status)
    .bind(now_ms())
    .bind(c.webhook_auth.map(serde_json::Value::to_string))
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// A new URL for the agent; the old one stops working at once. An active
/// agent is `pending_validation` again until a correctly signed webhook
/// shows the provider uses the new URL (one switched off, or showing an
/// error, stays as it is).
pub async fn rotate_token(
    tx: &mut TenantTx,
    id: AgentId,
    nonce: &str,
    hash: &str,
) -> DbResult<Option<AgentRecord>> {
    let row = sqlx::query(&format!(
        "UPDATE agents SET token_nonce = $3, token_hash = $4, updated_at = $5, \
            status = CASE WHEN status = 'active' THEN 'pending_validation' ELSE status END \
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .bind(nonce)
    .bind(hash)
    .bind(now_ms())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn delete(tx: &mut TenantTx, id: AgentId) -> DbResult<bool> {
    let done = sqlx::query("DELETE FROM agents WHERE tenant_id = $1 AND id = $2")
        .bind(tx.tenant_param())
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Replaces the sealed secrets (master-key rotation).
pub async fn replace_secrets(tx: &mut TenantTx, id: AgentId, sealed: &Sealed) -> DbResult<()> {
    sqlx::query("UPDATE agents SET webhook_secrets = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tx.tenant_param())
        .bind(id.to_string())
        .bind(sealed.as_str())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// How stale an active agent's `last_webhook_received_at` may be before a
/// webhook rewrites it.
pub(crate) const WEBHOOK_TIME_RESOLUTION_MS: i64 = 1_000;

/// A correctly signed webhook arrived: a pending agent becomes active.
///
/// An active agent's time is rewritten at most once per
/// [`WEBHOOK_TIME_RESOLUTION_MS`]: under a flood every ingest batch would
/// otherwise update, and on PostgreSQL lock, the same row until it commits,
/// and concurrent batches would queue behind one another.
pub async fn record_webhook(tx: &mut TenantTx, id: AgentId, at: i64) -> DbResult<()> {
    sqlx::query(
        "UPDATE agents SET last_webhook_received_at = $3, validated_at = COALESCE(validated_at, $3), \
            status = CASE WHEN status IN ('pending_validation', 'error') THEN 'active' ELSE status END, \
            error_message = CASE WHEN status = 'error' THEN NULL ELSE error_message END \
         WHERE tenant_id = $1 AND id = $2 AND (status <> 'active' OR last_webhook_received_at IS NULL \
            OR last_webhook_received_at < $4)",
    )
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .bind(at)
    .bind(at - WEBHOOK_TIME_RESOLUTION_MS)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Webhooks an agent refused for one reason, for the operator to see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusals {
    pub count: i64,
    pub last_at: Option<i64>,
}

/// Why an agent's webhook was refused, of the reasons that are counted.
#[derive(Clone, Copy, Debug)]
pub enum Refusal {
    /// A bad signature or a stale timestamp.
    BadSignature,
    /// The agent is switched off.
    WhileInactive,
}

impl Refusal {
    /// The count's column and the last time's.
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            Refusal::BadSignature => ("signature_failures", "last_signature_failure_at"),
            Refusal::WhileInactive => ("refused_while_inactive", "last_refused_while_inactive_at"),
        }
    }

    fn read(self, row: &AnyRow) -> Result<Refusals, sqlx::Error> {
        let (count, last_at) = self.columns();
        Ok(Refusals {
            count: row.try_get(count)?,
            last_at: row.try_get(last_at)?,
        })
    }
}

/// Counts a webhook the agent refused at `at`; nothing else is stored.
pub async fn record_refusal(tx: &mut TenantTx, id: AgentId, why: Refusal, at: i64) -> DbResult<()> {
    let (count, last_at) = why.columns();
    sqlx::query(&format!(
        "UPDATE agents SET {count} = {count} + 1, {last_at} = $3 WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .bind(at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// An agent whose webhook could not be processed for a reason the tenant
/// must fix (e.g. no credentials to verify with).
pub async fn record_error(tx: &mut TenantTx, id: AgentId, message: &str) -> DbResult<()> {
    sqlx::query(
        // Not an agent switched off (it may have been while the webhook was
        // on its way): `error` would let its webhooks in again.
        "UPDATE agents SET status = 'error', error_message = $3, updated_at = $4 \
         WHERE tenant_id = $1 AND id = $2 AND status <> 'inactive'",
    )
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .bind(message)
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The agent a webhook token belongs to, with its tenant's status.
pub struct TokenOwner {
    pub tenant_id: TenantId,
    pub tenant_status: TenantStatus,
    pub agent: AgentRecord,
}

pub(crate) async fn find_by_token_hash(
    tx: &mut CredentialTx,
    hash: &str,
) -> DbResult<Option<TokenOwner>> {
    let row = sqlx::query(&format!(
        "SELECT a.tenant_id, t.status AS tenant_status, {} FROM agents a JOIN tenants t ON t.id = a.tenant_id \
         WHERE a.token_hash = $1",
        COLUMNS
            .split(", ")
            .map(|c| format!("a.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(hash)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(TokenOwner {
        tenant_id: parse_col(&row.try_get::<String, _>("tenant_id")?, "tenant_id")?,
        tenant_status: parse_col(&row.try_get::<String, _>("tenant_status")?, "tenant_status")?,
        agent: from_row(&row)?,
    }))
}
