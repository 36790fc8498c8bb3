//! Calls in: the one path every call takes, whether it came by webhook, the
//! API or an import. An event is stored with its raw payload, the call is
//! re-projected from all its events, and the raw and meta objects are
//! written — all before the transaction commits, so a 2xx means everything
//! is durable and a redelivery is a no-op (invariant 6).

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use switchboard_core::{AgentId, CallId};
use switchboard_ingest::model::{Cost, ProviderAnalysis};
use switchboard_ingest::{CallUpdate, Source, Turn};

use crate::auth::TenantScope;
use crate::db::calls::{self, CallRecord, StoredEvent};
use crate::db::{agents, now_ms, DbError, Mode};
use crate::http::problem::Problem;
use crate::http::routes::rfc3339;
use crate::http::AppState;
use crate::objects::ObjectKey;
use crate::secrets::hex;

/// What became of an accepted event.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub call_id: CallId,
    /// The same event had been accepted before; nothing changed.
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("object store: {0}")]
    Objects(#[from] object_store::Error),
}

impl From<IngestError> for Problem {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Db(db) => db.into(),
            IngestError::Objects(o) => {
                tracing::error!(error = %o, "object store write failed");
                Problem::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "storage-unavailable",
                    "Storage is unavailable",
                )
                .detail("nothing was stored; send it again later")
            }
        }
    }
}

/// The identity of an event among its call's events: a digest of the raw
/// payload, so a byte-identical redelivery is recognised.
pub fn event_key_of(raw: &[u8]) -> String {
    hex(&Sha256::digest(raw))
}

/// Stores one event of a call and everything that follows from it.
pub async fn accept(
    state: &AppState,
    scope: &TenantScope,
    source: Source,
    agent: Option<AgentId>,
    update: &CallUpdate,
    event_key: &str,
    raw: &str,
) -> Result<Accepted, IngestError> {
    let mut tx = state.db.tenant(scope, Mode::Write).await?;
    let call = calls::upsert(&mut tx, source, &update.external_id, agent).await?;
    if let Some(agent) = agent {
        agents::record_webhook(&mut tx, agent, now_ms()).await?;
    }
    if !calls::insert_event(&mut tx, call, event_key, update, raw).await? {
        tx.commit().await?;
        return Ok(Accepted {
            call_id: call,
            duplicate: true,
        });
    }
    let events = calls::events(&mut tx, call).await?;
    calls::project(&mut tx, call, &events).await?;
    let record = calls::get(&mut tx, call)
        .await?
        .ok_or(DbError::Other(sqlx::Error::RowNotFound))?;
    state
        .objects
        .put(&ObjectKey::raw(scope, call), raw_document(&events))
        .await?;
    state
        .objects
        .put(
            &ObjectKey::meta(scope, call),
            serde_json::to_vec_pretty(&CallView::new(record, false)).expect("serialises"),
        )
        .await?;
    tx.commit().await?;
    Ok(Accepted {
        call_id: call,
        duplicate: false,
    })
}

/// `<tenant>/raw/<call>.json`: every event as it was received.
fn raw_document(events: &[StoredEvent]) -> Vec<u8> {
    let items: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "event_key": e.stored.event_key,
                "received_at": rfc3339(e.stored.received_at),
                "payload": serde_json::from_str::<serde_json::Value>(&e.raw)
                    .unwrap_or_else(|_| serde_json::Value::String(e.raw.clone())),
            })
        })
        .collect();
    serde_json::to_vec_pretty(&items).expect("serialises")
}

/// One line of an import that was not taken, and why.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LineErrors {
    /// 1-based, as an editor shows it (CSV: the line the row starts on).
    pub line: usize,
    pub errors: Vec<crate::http::problem::FieldError>,
}

/// What an import did, line by line.
#[derive(Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub total: usize,
    pub accepted: usize,
    /// Lines identical to an event already stored: nothing changed.
    pub duplicates: usize,
    pub failed: usize,
    /// Every failed line with its bad fields.
    pub errors: Vec<LineErrors>,
}

/// Ingests parsed import lines one by one (each its own transaction, so
/// one bad line costs only itself); `progress` is told after each line.
pub async fn import(
    state: &AppState,
    scope: &TenantScope,
    lines: Vec<switchboard_ingest::import::Line>,
    mut progress: impl FnMut(usize),
) -> Result<ImportReport, IngestError> {
    let mut report = ImportReport {
        total: lines.len(),
        ..ImportReport::default()
    };
    let mut known_agents = std::collections::HashMap::new();
    for (done, line) in lines.into_iter().enumerate() {
        let outcome = match line.result {
            Err(errors) => Err(errors),
            Ok(valid) => {
                let agent_ok = match valid.agent_id {
                    None => true,
                    Some(agent) => match known_agents.get(&agent) {
                        Some(known) => *known,
                        None => {
                            let mut tx = state.db.tenant(scope, Mode::Read).await?;
                            let known = agents::get(&mut tx, agent).await?.is_some();
                            tx.commit().await?;
                            known_agents.insert(agent, known);
                            known
                        }
                    },
                };
                if agent_ok {
                    Ok(valid)
                } else {
                    Err(vec![switchboard_ingest::ParseError::new(
                        "agent_id",
                        "no such agent",
                    )])
                }
            }
        };
        match outcome {
            Ok(valid) => {
                let raw = String::from_utf8_lossy(&line.raw);
                let accepted = accept(
                    state,
                    scope,
                    Source::Import,
                    valid.agent_id,
                    &valid.update,
                    &event_key_of(&line.raw),
                    &raw,
                )
                .await?;
                if accepted.duplicate {
                    report.duplicates += 1;
                } else {
                    report.accepted += 1;
                }
            }
            Err(errors) => {
                report.failed += 1;
                report.errors.push(LineErrors {
                    line: line.line,
                    errors: errors
                        .into_iter()
                        .map(|e| crate::http::problem::FieldError {
                            field: e.field,
                            message: e.message,
                        })
                        .collect(),
                });
            }
        }
        progress(done + 1);
    }
    Ok(report)
}

/// Where each processing stage of a call stands.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Stages {
    /// `started`, `ended` or `analyzed`: how far the provider's events go.
    pub provider: &'static str,
    /// `none` (no recording), `available` (the provider has one),
    /// `pending` (being fetched), `stored`, or `failed`.
    pub recording: String,
    /// Why fetching the recording failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_error: Option<String>,
}

/// A call as the API (and the meta object) shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CallView {
    pub id: CallId,
    /// `retell`, `vapi`, `twilio`, `generic`, `api` or `import`.
    #[schema(value_type = String)]
    pub source: Source,
    pub external_id: String,
    pub agent_id: Option<AgentId>,
    pub direction: Option<&'static str>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_ms: Option<i64>,
    /// Test calls (web calls, dashboard tests) are kept but never billed.
    pub billable: bool,
    pub cost: Option<Cost>,
    pub disconnection_reason: Option<String>,
    pub provider_analysis: Option<ProviderAnalysis>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub stages: Stages,
    /// Only on the single-call view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turns: Option<Vec<Turn>>,
    pub created_at: String,
    pub updated_at: String,
}

impl CallView {
    pub fn new(c: CallRecord, with_turns: bool) -> Self {
        let f = c.fields;
        Self {
            id: c.id,
            source: c.source,
            external_id: c.external_id,
            agent_id: c.agent_id,
            direction: f.direction.map(|d| d.as_str()),
            from: f.from,
            to: f.to,
            started_at: f.started_at.map(rfc3339),
            ended_at: f.ended_at.map(rfc3339),
            duration_ms: f.duration_ms,
            billable: !c.is_test,
            cost: f.cost,
            disconnection_reason: f.disconnection_reason,
            provider_analysis: f.analysis,
            metadata: f.metadata,
            stages: Stages {
                provider: c.stage.as_str(),
                recording: c.audio_status,
                recording_error: c.audio_error,
            },
            turns: with_turns.then(|| f.turns.unwrap_or_default()),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}
