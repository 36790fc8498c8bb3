//! Calls in: the one path every call takes, whether it came by webhook, the
//! API or an import. An event is stored with its raw payload, the call is
//! re-projected from all its events, and the raw and meta objects are
//! written — all before the transaction commits, so a 2xx means everything
//! is durable and a redelivery is a no-op (invariant 6).

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};
use switchboard_core::{AgentId, CallId, TenantId};
use switchboard_ingest::model::{Cost, ProviderAnalysis, StoredUpdate};
use switchboard_ingest::{CallUpdate, Source, Turn};

use crate::auth::TenantScope;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::db::calls::{self, CallRecord, Projection, Upserted};
use crate::db::{agents, now_ms, pipeline_jobs, Db, DbError, Mode, TenantTx};
use crate::http::problem::Problem;
use crate::http::routes::rfc3339;
use crate::http::AppState;
use crate::objects::ObjectKey;
use crate::objects::Objects;
use crate::pipeline::Hints;
use crate::secrets::hex;

/// What became of an accepted event.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub call_id: CallId,
    /// The same event had been accepted before; nothing changed.
    pub duplicate: bool,
    /// The event was the call's first.
    #[serde(skip)]
    pub(crate) created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("object store: {0}")]
    Objects(#[from] object_store::Error),
    /// The batch this event was written in failed (the cause is logged once).
    #[error("{0}")]
    Batch(String),
}

impl From<IngestError> for Problem {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Db(db) => db.into(),
            IngestError::Batch(_) => Problem::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "Storage is unavailable",
            )
            .detail("nothing was stored; send it again later"),
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
    update: CallUpdate,
    event_key: String,
    raw: String,
) -> Result<Accepted, IngestError> {
    let job = Job::prepare(*scope, source, agent, update, event_key, raw, now_ms());
    state.ingestor.accept(job).await
}

/// One event waiting to be written, with the work that needs no database
/// done already: the writer is serial on SQLite, request handlers are not.
struct Job {
    scope: TenantScope,
    source: Source,
    agent: Option<AgentId>,
    external_id: String,
    event_key: String,
    received_at: i64,
    update_json: String,
    raw: String,
    /// The call as this event alone describes it, stored if it is the
    /// call's first (most are: providers send one or three per call).
    alone: Projection,
    /// The raw document of a call that has only this event.
    raw_alone: Vec<u8>,
}

impl Job {
    fn prepare(
        scope: TenantScope,
        source: Source,
        agent: Option<AgentId>,
        update: CallUpdate,
        event_key: String,
        raw: String,
        received_at: i64,
    ) -> Job {
        let update_json = serde_json::to_string(&update).expect("updates serialise");
        let external_id = update.external_id.clone();
        let alone = Projection::of(vec![StoredUpdate {
            update,
            received_at,
            event_key: event_key.clone(),
        }]);
        let raw_alone = raw_document(&event_key, received_at, &raw);
        Job {
            scope,
            source,
            agent,
            external_id,
            event_key,
            received_at,
            update_json,
            raw,
            alone,
            raw_alone,
        }
    }
}

impl Job {
    /// Tenant, agent, then the call: the order a batch takes its locks in.
    fn lock_order(&self) -> (TenantId, Option<AgentId>, &'static str, &str) {
        (
            self.scope.tenant_id(),
            self.agent,
            self.source.as_str(),
            &self.external_id,
        )
    }
}

/// Events per transaction at most.
const MAX_BATCH: usize = 64;

/// Group commit for incoming events. A commit that is durable costs an
/// fsync (milliseconds on ordinary disks, and SQLite has one writer), so
/// writers take every event waiting in the queue — up to [`MAX_BATCH`],
/// whatever their tenants — into one transaction and answer them all after
/// its commit. Under light load a batch is one event and nothing waits.
#[derive(Clone)]
pub struct Ingestor {
    queue: mpsc::Sender<(Job, oneshot::Sender<Result<Accepted, IngestError>>)>,
}

type Queue = Arc<Mutex<mpsc::Receiver<(Job, oneshot::Sender<Result<Accepted, IngestError>>)>>>;

impl Ingestor {
    /// Starts `writers` batch writers (one for SQLite, which has a single
    /// writer anyway; a few for PostgreSQL, whose commits overlap).
    pub fn start(
        db: Db,
        objects: Objects,
        hints: Hints,
        events: crate::events::Events,
        writers: usize,
    ) -> Ingestor {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        let rx: Queue = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            tokio::spawn(write_batches(
                db.clone(),
                objects.clone(),
                hints.clone(),
                events.clone(),
                rx.clone(),
            ));
        }
        Ingestor { queue }
    }

    async fn accept(&self, job: Job) -> Result<Accepted, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((job, reply))
            .await
            .map_err(|_| IngestError::Batch("the ingest queue is closed".into()))?;
        answer
            .await
            .map_err(|_| IngestError::Batch("the ingest writer stopped".into()))?
    }
}

async fn write_batches(
    db: Db,
    objects: Objects,
    hints: Hints,
    events: crate::events::Events,
    rx: Queue,
) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        let (jobs, replies): (Vec<Job>, Vec<_>) = batch.into_iter().unzip();
        let tenants: Vec<TenantId> = jobs.iter().map(|j| j.scope.tenant_id()).collect();
        let count = jobs.len();
        match write_batch(&db, &objects, jobs).await {
            Ok(results) => {
                // A redelivery changed nothing: no work, no news.
                for (tenant, result) in tenants.iter().zip(&results).filter(|(_, r)| !r.duplicate) {
                    hints.tenant_has_work(*tenant);
                    events.publish(
                        *tenant,
                        crate::events::Event::received(result.call_id, result.created),
                    );
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = count, "an ingest batch failed; nothing of it was stored");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(IngestError::Batch(message.clone())));
                }
            }
        }
    }
}

/// Writes every job in one transaction (tenant by tenant), then the
/// objects, then commits: all of the batch is stored, or none of it.
async fn write_batch(
    db: &Db,
    objects: &Objects,
    jobs: Vec<Job>,
) -> Result<Vec<Accepted>, IngestError> {
    let mut results: Vec<Option<Accepted>> = vec![None; jobs.len()];
    let mut jobs: Vec<(usize, Job)> = jobs.into_iter().enumerate().collect();
    // Every batch locks its calls' rows in this one order, so two batches
    // on PostgreSQL cannot each wait for a call the other created first (a
    // deadlock, found by the concurrent-events test). Stable: the events of
    // one call keep their order of arrival.
    jobs.sort_by(|(_, a), (_, b)| a.lock_order().cmp(&b.lock_order()));
    let mut tx: Option<TenantTx> = None;
    // Two events of one call in a batch: its last objects are the whole story.
    let mut puts: HashMap<ObjectKey, Vec<u8>> = HashMap::new();
    let mut deferred = Deferred::default();
    let mut jobs = jobs.into_iter().peekable();
    while let Some((i, job)) = jobs.next() {
        let tx = match &mut tx {
            Some(open) => {
                if open.tenant_id() != job.scope.tenant_id() {
                    open.rescope(&job.scope).await?;
                }
                open
            }
            None => tx.insert(db.tenant(&job.scope, Mode::Write).await?),
        };
        let (agent, received_at) = (job.agent, job.received_at);
        results[i] = Some(write_one(tx, objects, job, &mut deferred, &mut puts).await?);
        let next_differs = jobs.peek().is_none_or(|(_, next)| {
            next.scope.tenant_id() != tx.tenant_id() || next.agent != agent
        });
        if next_differs {
            deferred.flush(tx).await?;
            // Once per agent, last: the agent's row is locked (on
            // PostgreSQL) for as short a time as possible.
            if let Some(agent) = agent {
                agents::record_webhook(tx, agent, received_at).await?;
            }
        }
    }
    objects
        .put_all(
            puts.into_iter()
                .map(|(key, bytes)| (key, bytes.into()))
                .collect(),
        )
        .await?;
    if let Some(tx) = tx {
        tx.commit().await?;
    }
    results
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| IngestError::Batch("an event of the batch was not written".into()))
}

/// The rows that follow from creating calls, written for several calls in
/// one statement each: a round trip per statement is most of a small
/// write's cost. Written before anything reads them (an event of a call
/// that is not new) and before the transaction leaves the tenant.
#[derive(Default)]
struct Deferred {
    events: Vec<calls::NewEvent>,
    to_analyse: Vec<CallId>,
}

impl Deferred {
    async fn flush(&mut self, tx: &mut TenantTx) -> Result<(), IngestError> {
        calls::insert_new_events(tx, &self.events).await?;
        pipeline_jobs::enqueue_many(tx, &self.to_analyse, now_ms()).await?;
        self.events.clear();
        self.to_analyse.clear();
        Ok(())
    }
}

async fn write_one(
    tx: &mut TenantTx,
    objects: &Objects,
    job: Job,
    deferred: &mut Deferred,
    puts: &mut HashMap<ObjectKey, Vec<u8>>,
) -> Result<Accepted, IngestError> {
    let has_turns = job.alone.fields.has_turns();
    let (record, raw_document, created) = match calls::create_or_lock(
        tx,
        job.source,
        &job.external_id,
        job.agent,
        job.alone,
    )
    .await?
    {
        Upserted::Created(record) => {
            deferred.events.push(calls::NewEvent {
                call: record.id,
                event_key: job.event_key,
                received_at: job.received_at,
                update_json: job.update_json,
            });
            if has_turns {
                deferred.to_analyse.push(record.id);
            }
            (record, job.raw_alone, true)
        }
        Upserted::Existing(call) => {
            deferred.flush(tx).await?;
            if !calls::insert_event(tx, call, &job.event_key, job.received_at, &job.update_json)
                .await?
            {
                return Ok(Accepted {
                    call_id: call,
                    duplicate: true,
                    created: false,
                });
            }
            let events = calls::events(tx, call).await?;
            let record = calls::project(tx, call, events).await?;
            if record.fields.has_turns() {
                pipeline_jobs::enqueue(tx, call, job.received_at).await?;
            }
            let key = ObjectKey::raw(&job.scope, call);
            let earlier = match puts.get(&key) {
                Some(pending) => Some(pending.clone()),
                None => match objects.get(&key).await {
                    Ok(stored) => Some(stored.to_vec()),
                    Err(object_store::Error::NotFound { .. }) => None,
                    Err(e) => return Err(e.into()),
                },
            };
            let document = append_raw(
                earlier.as_deref(),
                &job.event_key,
                job.received_at,
                &job.raw,
            )?;
            (record, document, false)
        }
    };
    let call = record.id;
    puts.insert(ObjectKey::raw(&job.scope, call), raw_document);
    puts.insert(
        ObjectKey::meta(&job.scope, call),
        serde_json::to_vec(&CallView::new(record, false)).expect("serialises"),
    );
    Ok(Accepted {
        call_id: call,
        duplicate: false,
        created,
    })
}

/// An entry of `<tenant>/raw/<call>.json`.
#[derive(Serialize, serde::Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    event_key: Cow<'a, str>,
    #[serde(borrow)]
    received_at: Cow<'a, str>,
    /// The payload as received when it is JSON; form bodies as a string.
    #[serde(borrow)]
    payload: &'a RawValue,
}

/// The raw document of a call that has had only this event: every event
/// as it was received, in order of arrival.
fn raw_document(event_key: &str, received_at: i64, raw: &str) -> Vec<u8> {
    append_raw(None, event_key, received_at, raw).expect("a new document has no stored part")
}

/// The raw document `earlier` (the call's events so far) with one more
/// event. The database keeps no raw payloads: this document is where they
/// are. An entry with the same key (left by a batch that wrote its objects
/// but did not commit) is not repeated.
fn append_raw(
    earlier: Option<&[u8]>,
    event_key: &str,
    received_at: i64,
    raw: &str,
) -> Result<Vec<u8>, IngestError> {
    let mut entries: Vec<RawEntry> = match earlier {
        Some(bytes) => serde_json::from_slice(bytes).map_err(|e| {
            IngestError::Batch(format!("the stored raw document does not parse: {e}"))
        })?,
        None => Vec::new(),
    };
    let as_text;
    let payload: &RawValue = match serde_json::from_str(raw) {
        Ok(json) => json,
        Err(_) => {
            as_text = RawValue::from_string(serde_json::to_string(raw).expect("serialises"))
                .expect("a JSON string is JSON");
            &as_text
        }
    };
    if !entries.iter().any(|e| e.event_key == event_key) {
        entries.push(RawEntry {
            event_key: event_key.into(),
            received_at: rfc3339(received_at).into(),
            payload,
        });
    }
    Ok(serde_json::to_vec(&entries).expect("serialises"))
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
                let accepted = accept(
                    state,
                    scope,
                    Source::Import,
                    valid.agent_id,
                    valid.update,
                    event_key_of(&line.raw),
                    String::from_utf8_lossy(&line.raw).into_owned(),
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
                    errors: errors.into_iter().map(Into::into).collect(),
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
    /// The analysis pipeline's job (single-call view; absent when the call
    /// has never been queued: no transcript and no audio yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisStage>,
}

/// Where a call's analysis stands.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AnalysisStage {
    pub status: crate::db::pipeline_jobs::JobStatus,
    /// The stage reached: `transcribe`, `enrich`, `analyse` or `finalise`.
    pub stage: String,
    pub attempts: i64,
    /// Why the last run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When a queued job runs next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<String>,
    pub updated_at: String,
}

impl From<&crate::db::pipeline_jobs::Job> for AnalysisStage {
    fn from(j: &crate::db::pipeline_jobs::Job) -> Self {
        use crate::db::pipeline_jobs::JobStatus;
        AnalysisStage {
            status: j.status,
            stage: j.stage.clone(),
            attempts: j.attempts,
            error: j.last_error.clone(),
            next_run_at: (j.status == JobStatus::Queued).then(|| rfc3339(j.run_at)),
            updated_at: rfc3339(j.updated_at),
        }
    }
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
    /// The latest analysis (single-call view, once analysed): the local
    /// analysers' results, the QA score and the summary, with the
    /// configuration versions that produced them. See `docs/analysis.md`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub analysis: Option<Box<serde_json::value::RawValue>>,
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
                analysis: None,
            },
            turns: with_turns.then(|| f.turns.unwrap_or_default()),
            analysis: None,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(doc: &[u8]) -> Vec<serde_json::Value> {
        serde_json::from_slice::<serde_json::Value>(doc)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn raw_documents_grow_by_arrival_and_keep_payloads_verbatim() {
        let first = raw_document("k1", 1_700_000_000_000, r#"{"event":"call_started","x":1}"#);
        let second = append_raw(
            Some(&first),
            "k2",
            1_700_000_001_000,
            "CallSid=CA1&CallStatus=completed",
        )
        .unwrap();
        let doc = entries(&second);
        assert_eq!(doc.len(), 2);
        assert_eq!(doc[0]["event_key"], "k1");
        assert_eq!(doc[0]["payload"]["x"], 1, "JSON payloads stay JSON");
        assert_eq!(doc[0]["received_at"], "2023-11-14T22:13:20Z");
        assert_eq!(
            doc[1]["payload"], "CallSid=CA1&CallStatus=completed",
            "form bodies are kept as text"
        );
        // Untouched bytes of the earlier entries: the payload is not re-formatted.
        assert!(String::from_utf8(second)
            .unwrap()
            .contains(r#"{"event":"call_started","x":1}"#));
    }

    #[test]
    fn an_entry_left_by_an_uncommitted_batch_is_not_repeated() {
        let first = raw_document("k1", 1, "{}");
        let again = append_raw(Some(&first), "k1", 2, "{}").unwrap();
        assert_eq!(entries(&again).len(), 1);
    }

    #[test]
    fn a_stored_document_that_does_not_parse_stops_the_write() {
        assert!(matches!(
            append_raw(Some(b"[{\"event_key\":"), "k2", 2, "{}"),
            Err(IngestError::Batch(_))
        ));
    }
}
