//! The tenant audit log: append-only and hash-chained. Each entry's hash
//! covers its content and the previous entry's hash, and `audit_heads` holds
//! the last sequence number and hash, so an edited, inserted or deleted entry
//! (including the newest) breaks verification.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row as _;
use switchboard_core::AuditEntryId;

use super::{now_ms, DbResult, TenantTx};
use crate::secrets::hex;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did something: a person, a key, the command line.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ActorRef {
    /// `user`, `external_user`, `api_key`, `operator` or `cli`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub label: String,
}

/// What is recorded: the actor, the platform operator behind an
/// impersonation, and what happened to what.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub actor: ActorRef,
    pub impersonator: Option<ActorRef>,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: String,
    pub details: serde_json::Value,
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub seq: i64,
    #[serde(skip)]
    pub at_ms: i64,
    pub actor: ActorRef,
    pub impersonator: Option<ActorRef>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

const COLUMNS: &str = "tenant_id, seq, id, at, actor_type, actor_id, actor_label, impersonator_id, impersonator_label, \
                       action, target_type, target_id, details, request_id, prev_hash, hash";

/// The exact bytes hashed for an entry. Details are hashed as stored text,
/// so verification never depends on re-serialising JSON.
struct Chained<'a> {
    tenant_id: &'a str,
    seq: i64,
    id: &'a str,
    at: i64,
    actor: (&'a str, &'a str, &'a str),
    impersonator: (Option<&'a str>, Option<&'a str>),
    action: &'a str,
    target: (&'a str, &'a str),
    details: &'a str,
    request_id: Option<&'a str>,
    prev_hash: &'a str,
}

impl Chained<'_> {
    fn hash(&self) -> String {
        let canonical = serde_json::to_string(&(
            self.tenant_id,
            self.seq,
            self.id,
            self.at,
            self.actor,
            self.impersonator,
            self.action,
            self.target,
            self.details,
            self.request_id,
            self.prev_hash,
        ))
        .expect("tuples of strings and numbers serialise");
        hex(&Sha256::digest(canonical.as_bytes()))
    }
}

pub async fn append(tx: &mut TenantTx, event: AuditEvent) -> DbResult<AuditEntry> {
    let tenant = tx.tenant_param();
    sqlx::query("INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (tenant_id) DO NOTHING")
        .bind(&tenant)
        .bind(GENESIS_HASH)
        .execute(tx.conn())
        .await?;
    // Taking the head first serialises appenders of one tenant.
    let head = sqlx::query(
        "UPDATE audit_heads SET seq = seq + 1 WHERE tenant_id = $1 RETURNING seq, hash",
    )
    .bind(&tenant)
    .fetch_one(tx.conn())
    .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let id = AuditEntryId::generate().to_string();
    let at = now_ms();
    let details = event.details.to_string();
    let (imp_id, imp_label) = match &event.impersonator {
        Some(i) => (Some(i.id.as_str()), Some(i.label.as_str())),
        None => (None, None),
    };
    let hash = Chained {
        tenant_id: &tenant,
        seq,
        id: &id,
        at,
        actor: (&event.actor.kind, &event.actor.id, &event.actor.label),
        impersonator: (imp_id, imp_label),
        action: event.action,
        target: (event.target_type, &event.target_id),
        details: &details,
        request_id: event.request_id.as_deref(),
        prev_hash: &prev_hash,
    }
    .hash();
    sqlx::query(&format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    ))
    .bind(&tenant)
    .bind(seq)
    .bind(&id)
    .bind(at)
    .bind(&event.actor.kind)
    .bind(&event.actor.id)
    .bind(&event.actor.label)
    .bind(imp_id)
    .bind(imp_label)
    .bind(event.action)
    .bind(event.target_type)
    .bind(&event.target_id)
    .bind(&details)
    .bind(event.request_id.as_deref())
    .bind(&prev_hash)
    .bind(&hash)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE audit_heads SET hash = $2 WHERE tenant_id = $1")
        .bind(&tenant)
        .bind(&hash)
        .execute(tx.conn())
        .await?;
    Ok(AuditEntry {
        id,
        seq,
        at_ms: at,
        actor: event.actor,
        impersonator: event.impersonator,
        action: event.action.to_owned(),
        target_type: event.target_type.to_owned(),
        target_id: event.target_id,
        details: event.details,
        request_id: event.request_id,
        prev_hash,
        hash,
    })
}

fn from_row(row: &AnyRow) -> Result<AuditEntry, sqlx::Error> {
    let details: String = row.try_get("details")?;
    let impersonator_id: Option<String> = row.try_get("impersonator_id")?;
    let impersonator_label: Option<String> = row.try_get("impersonator_label")?;
    Ok(AuditEntry {
        id: row.try_get("id")?,
        seq: row.try_get("seq")?,
        at_ms: row.try_get("at")?,
        actor: ActorRef {
            kind: row.try_get("actor_type")?,
            id: row.try_get("actor_id")?,
            label: row.try_get("actor_label")?,
        },
        impersonator: impersonator_id.map(|id| ActorRef {
            kind: "operator".into(),
            id,
            label: impersonator_label.unwrap_or_default(),
        }),
        action: row.try_get("action")?,
        target_type: row.try_get("target_type")?,
        target_id: row.try_get("target_id")?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        request_id: row.try_get("request_id")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// Entries newest first, with sequence numbers below `before_seq`.
pub async fn list(
    tx: &mut TenantTx,
    filter: &AuditFilter,
    before_seq: Option<i64>,
    limit: i64,
) -> DbResult<Vec<AuditEntry>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE tenant_id = $1 \
           AND ($2 IS NULL OR seq < $2) AND ($3 IS NULL OR actor_id = $3) AND ($4 IS NULL OR action = $4) \
           AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) \
         ORDER BY seq DESC LIMIT $7"
    ))
    .bind(tx.tenant_param())
    .bind(before_seq)
    .bind(filter.actor_id.as_deref())
    .bind(filter.action.as_deref())
    .bind(filter.since_ms)
    .bind(filter.until_ms)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Where and why a chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {seq} ({id}): {reason}")]
pub struct BrokenChain {
    pub seq: i64,
    pub id: String,
    pub reason: &'static str,
}

/// Walks the whole chain; `Ok(n)` when all `n` entries and the head agree.
pub async fn verify(tx: &mut TenantTx) -> DbResult<Result<i64, BrokenChain>> {
    const BATCH: i64 = 1000;
    let tenant = tx.tenant_param();
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS_HASH.to_owned();
    loop {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE tenant_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3"
        ))
        .bind(&tenant)
        .bind(expected_seq)
        .bind(BATCH)
        .fetch_all(tx.conn())
        .await?;
        for row in &rows {
            let seq: i64 = row.try_get("seq")?;
            let id: String = row.try_get("id")?;
            let broken = |reason| {
                Ok(Err(BrokenChain {
                    seq,
                    id: id.clone(),
                    reason,
                }))
            };
            if seq != expected_seq {
                return broken("sequence gap: an entry before it was deleted");
            }
            let stored_prev: String = row.try_get("prev_hash")?;
            if stored_prev != prev_hash {
                return broken(
                    "does not link to the previous entry (an entry was inserted or deleted)",
                );
            }
            let strings: Vec<Option<String>> = [
                "actor_type",
                "actor_id",
                "actor_label",
                "impersonator_id",
                "impersonator_label",
                "action",
                "target_type",
                "target_id",
                "details",
                "request_id",
            ]
            .iter()
            .map(|c| row.try_get::<Option<String>, _>(*c))
            .collect::<Result<_, _>>()?;
            let s = |i: usize| strings[i].as_deref().unwrap_or("");
            let recomputed = Chained {
                tenant_id: &tenant,
                seq,
                id: &id,
                at: row.try_get("at")?,
                actor: (s(0), s(1), s(2)),
                impersonator: (strings[3].as_deref(), strings[4].as_deref()),
                action: s(5),
                target: (s(6), s(7)),
                details: s(8),
                request_id: strings[9].as_deref(),
                prev_hash: &stored_prev,
            }
            .hash();
            let stored_hash: String = row.try_get("hash")?;
            if recomputed != stored_hash {
                return broken("content does not match its hash (the entry was edited)");
            }
            prev_hash = stored_hash;
            expected_seq += 1;
        }
        if (rows.len() as i64) < BATCH {
            break;
        }
    }
    let count = expected_seq - 1;
    let head = sqlx::query("SELECT seq, hash FROM audit_heads WHERE tenant_id = $1")
        .bind(&tenant)
        .fetch_optional(tx.conn())
        .await?;
    let (head_seq, head_hash) = match head {
        Some(h) => (h.try_get::<i64, _>("seq")?, h.try_get::<String, _>("hash")?),
        None => (0, GENESIS_HASH.to_owned()),
    };
    if head_seq != count || head_hash != prev_hash {
        return Ok(Err(BrokenChain {
            seq: count + 1,
            id: String::new(),
            reason: "the newest entries were deleted (the chain head records more)",
        }));
    }
    Ok(Ok(count))
}
