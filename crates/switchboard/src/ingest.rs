//! Calls in: the one path every call takes, whether it came by webhook, the
//! API or an import. An event is stored with its raw payload, the call is
//! re-projected from all its events, and the raw and meta objects are
//! written — all before the transaction commits, so a 2xx means everything
//! is durable and a redelivery is a no-op (invariant 6).

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use switchboard_core::{AgentId, CallId, TenantId};
use switchboard_ingest::model::{self, Cost, ProviderAnalysis, StoredUpdate, Turns};
use switchboard_ingest::providers::body_parser;
use switchboard_ingest::{CallUpdate, Source, Turn};

use crate::auth::TenantScope;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex, OwnedMutexGuard};

use crate::db::calls::{self, CallRecord, Projection, Upserted};
use crate::db::writers::{Registration, Session, WriterId};
use crate::db::{agents, now_ms, pipeline_jobs, Db, DbError, Mode, TenantTx};
use crate::http::problem::Problem;
use crate::http::routes::rfc3339;
use crate::http::AppState;
use crate::objects::ObjectKey;
use crate::objects::Objects;
use crate::pipeline::Hints;
use crate::secrets::hex;
use switchboard_ingest::packed::Packed;

/// What became of an accepted event.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub call_id: CallId,
    /// The same event had been accepted before; nothing changed.
    pub duplicate: bool,
    /// The event was the call's first.
    #[serde(skip)]
    pub(crate) created: bool,
    /// The tenant deleted the call and its sender resends on its own
    /// (decision 0019): the event was acknowledged and not stored.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
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
    /// The event committed, but its objects could not be made durable.
    #[error("{0}")]
    NotDurable(String),
    /// This process's writer lock was lost while a batch was written
    /// (decision 0018): it did not commit.
    #[error("this writer's lock was lost while the batch was written")]
    LockLost,
    /// A transcript kept in the call's raw document (decision 0026) is not
    /// in it, or does not read.
    #[error("the call's transcript: {0}")]
    Transcript(String),
    /// An import's input could not be read on; `taken` is what became of
    /// the lines before.
    #[error("the input could not be read after {} lines (those were imported): {error}", taken.total)]
    Input {
        taken: Box<ImportReport>,
        error: std::io::Error,
    },
}

impl From<IngestError> for Problem {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Db(db) => db.into(),
            IngestError::Batch(_) | IngestError::LockLost => Problem::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "Storage is unavailable",
            )
            .detail("nothing was stored; send it again later"),
            IngestError::NotDurable(_) => Problem::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "Storage is unavailable",
            )
            .detail("the event may have been kept but is not yet safe; send it again later (a resend is never stored twice)"),
            IngestError::Transcript(reason) => {
                tracing::error!(%reason, "a call's transcript cannot be read");
                Problem::internal()
            }
            // Only a file on the command line is read as it is imported.
            e @ IngestError::Input { .. } => {
                Problem::bad_request("unreadable-body", "The body could not be read")
                    .detail(e.to_string())
            }
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

impl IngestError {
    /// Whether the error is the storage's as a whole (the database or the
    /// object store out of reach, busy or full, or this writer's lock lost)
    /// rather than one event's: then every event of a batch would fail on
    /// its own as well.
    fn is_storage_wide(&self) -> bool {
        match self {
            IngestError::Db(DbError::Other(e)) => match e {
                sqlx::Error::Database(db) => {
                    let code = db.code().unwrap_or_default();
                    storage_wide_code(&code)
                }
                sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::Decode(_)
                | sqlx::Error::ColumnNotFound(_)
                | sqlx::Error::RowNotFound
                | sqlx::Error::TypeNotFound { .. } => false,
                _ => true,
            },
            // A store out of reach answers each read only after its
            // retries: taken for one that is, so that a batch is not
            // retried event by event at that pace.
            IngestError::Objects(_) | IngestError::LockLost => true,
            _ => false,
        }
    }
}

/// Whether a database's error code says the database as a whole failed.
fn storage_wide_code(code: &str) -> bool {
    if code.len() == 5 {
        // PostgreSQL's SQLSTATE classes: connection exceptions,
        // insufficient resources, operator intervention, system errors.
        ["08", "53", "57", "58"]
            .iter()
            .any(|class| code.starts_with(class))
    } else {
        // SQLite's (extended) result codes, at most four digits: the low
        // byte is the primary one, BUSY, LOCKED, IOERR, FULL, CANTOPEN.
        code.parse::<i32>()
            .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14))
    }
}

/// The identity of an event among its call's events: a digest of the raw
/// payload, so a byte-identical redelivery is recognised. BLAKE3, which
/// hashes a 44 KB payload in a third of SHA-256's time on the machines
/// here; events stored before it kept their SHA-256 keys (decision 0021).
pub fn event_key_of(raw: &[u8]) -> String {
    hex(blake3::hash(raw).as_bytes())
}

/// Longest Standard Webhooks `webhook-id` kept as it is in an event key.
const MAX_WEBHOOK_ID: usize = 200;

/// The identity of a Standard Webhooks event: its `webhook-id`, which the
/// sender keeps across retries. A longer id than anyone sends is kept as
/// its digest: PostgreSQL refuses index entries of more than 2,704 bytes,
/// and the event key is part of `call_events`' primary key (such an id
/// failed every batch it was in).
pub fn event_key_of_webhook_id(id: &str) -> String {
    if id.len() <= MAX_WEBHOOK_ID {
        format!("webhook-id:{id}")
    } else {
        format!("webhook-id-sha256:{}", hex(&Sha256::digest(id.as_bytes())))
    }
}

/// Which agent an event's call is filed under, and which agent's webhook
/// URL the event proved working (only a provider's webhook proves one).
#[derive(Clone, Copy, Debug)]
pub struct Filing {
    pub agent: Option<AgentId>,
    pub seen: Option<AgentId>,
}

impl Filing {
    /// A call posted, imported or pulled: no agent's status changes.
    pub fn quiet(agent: Option<AgentId>) -> Filing {
        Filing { agent, seen: None }
    }

    /// A webhook that `received_by`'s URL took, of `filed_under`'s call
    /// (another agent's when the payload names it, decision 0017).
    pub fn webhook(filed_under: AgentId, received_by: AgentId) -> Filing {
        Filing {
            agent: Some(filed_under),
            seen: Some(received_by),
        }
    }
}

/// Stores one event of a call and everything that follows from it.
pub async fn accept(
    state: &AppState,
    scope: &TenantScope,
    source: Source,
    filing: Filing,
    update: CallUpdate,
    event_key: String,
    raw: RawPayload,
) -> Result<Accepted, IngestError> {
    let job = Job::prepare(*scope, source, filing, update, event_key, raw, now_ms());
    state.ingestor.accept(job).await
}

/// One event waiting to be written, with the work that needs no database
/// done already: the writer is serial on SQLite, request handlers are not.
struct Job {
    scope: TenantScope,
    source: Source,
    agent: Option<AgentId>,
    /// The agent whose webhook URL this event proved working, if any.
    seen: Option<AgentId>,
    external_id: String,
    event_key: String,
    received_at: i64,
    update: Packed,
    raw: RawPayload,
    /// The search text of this event's turns when its stored update only
    /// refers to them (decision 0026): the database cannot make it again.
    search_text: Option<String>,
    /// The call as this event alone describes it, stored if it is the
    /// call's first (most are: providers send one or three per call);
    /// taken by the batch that writes it (see [`Job::first`]).
    alone: Option<Projection>,
    /// The raw document of a call that has only this event.
    raw_alone: Bytes,
}

impl Job {
    fn prepare(
        scope: TenantScope,
        source: Source,
        Filing { agent, seen }: Filing,
        mut update: CallUpdate,
        event_key: String,
        raw: RawPayload,
        received_at: i64,
    ) -> Job {
        // Turns that the raw document holds in a body the source's parser
        // reads again are stored there only (decision 0026).
        let kept_in_raw =
            matches!(raw, RawPayload::ProviderBody(_)) && body_parser(source).is_some();
        let search_text = match update.fields.turns_here() {
            Some(turns) if kept_in_raw && !turns.is_empty() => Some(model::search_text(turns)),
            _ => None,
        };
        if search_text.is_some() {
            update.fields.turns = Some(Turns::InRawEvent(event_key.clone()));
        }
        let packed = Packed::of(&update);
        let external_id = update.external_id.clone();
        let alone = Some(
            Projection::of(vec![StoredUpdate {
                update,
                received_at,
                event_key: event_key.clone(),
            }])
            .knowing(&event_key, search_text.as_deref()),
        );
        let raw_alone = raw_document(&event_key, received_at, &raw).into();
        Job {
            scope,
            source,
            agent,
            seen,
            external_id,
            event_key,
            received_at,
            update: packed,
            raw,
            search_text,
            alone,
            raw_alone,
        }
    }
}

impl Job {
    /// The call as this event alone describes it. Prepared on the request
    /// thread; a job written a second time (alone, after its batch failed)
    /// has it made again from the packed update.
    fn first(&mut self) -> Result<Projection, IngestError> {
        if let Some(first) = self.alone.take() {
            return Ok(first);
        }
        let update = switchboard_ingest::packed::unpack(self.update.as_str()).map_err(|e| {
            IngestError::Batch(format!("an update packed just now does not unpack: {e}"))
        })?;
        Ok(Projection::of(vec![StoredUpdate {
            update,
            received_at: self.received_at,
            event_key: self.event_key.clone(),
        }])
        .knowing(&self.event_key, self.search_text.as_deref()))
    }

    fn event_in(&self) -> calls::EventIn<'_> {
        calls::EventIn {
            key: &self.event_key,
            received_at: self.received_at,
            update: &self.update,
        }
    }

    /// Tenant, then the call: the order a batch takes its locks in. Not
    /// the agent: events of one call may name different agents, and two
    /// batches ordering such calls differently could deadlock.
    fn lock_order(&self) -> (TenantId, &'static str, &str) {
        (
            self.scope.tenant_id(),
            self.source.as_str(),
            &self.external_id,
        )
    }
}

/// Events per transaction at most.
const MAX_BATCH: usize = 64;

/// A batch with fewer events than this waits for more, up to
/// [`Batching::linger`]. Under a flood batches are larger than this anyway,
/// so only moderate load waits, where a commit of a few events costs nearly
/// as much as one of many.
const LINGER_BELOW: usize = MAX_BATCH / 4;

/// How incoming events are grouped into transactions.
#[derive(Clone, Copy, Debug)]
pub struct Batching {
    /// Batch writers at once (one on SQLite).
    pub writers: std::num::NonZeroUsize,
    /// How long a small batch waits for more events (`database.ingest_linger_us`).
    pub linger: std::time::Duration,
}

/// Group commit for incoming events. A commit that is durable costs a
/// device flush (milliseconds here, and SQLite has one writer), so writers
/// take every event waiting in the queue — up to [`MAX_BATCH`], whatever
/// their tenants — into one transaction. A committed batch's objects go to
/// the syncer, which writes and syncs what every batch committed since its
/// last round at once, while the writers go on with the next batches; an
/// event is answered once both its commit and its objects are durable
/// (decision 0010). Under light load a batch is one event and nothing waits.
#[derive(Clone)]
pub struct Ingestor {
    queue: mpsc::Sender<(Job, Reply)>,
    unsynced: Unsynced,
    last_seen: LastSeen,
}

/// The last-seen time each agent's row got from this process's batches,
/// once committed. A batch skips the agent's update while that is within
/// the row's resolution (decision 0022): on PostgreSQL the update is a
/// round trip of every batch, and its row lock keeps the next batch of
/// the same agent waiting until the commit. The update also turns an
/// `error` or `pending_validation` agent `active`, so whatever may put an
/// agent in either state forgets them all ([`Ingestor::forget_last_seen`]).
#[derive(Clone, Default)]
struct LastSeen(Arc<std::sync::Mutex<HashMap<AgentId, i64>>>);

impl LastSeen {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, i64>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a batch of this process committed `agent`'s time recently
    /// enough that `at` would not change its row.
    fn recorded_for(&self, agent: AgentId, at: i64) -> bool {
        self.map()
            .get(&agent)
            .is_some_and(|&recorded| recorded >= at - agents::WEBHOOK_TIME_RESOLUTION_MS)
    }

    fn committed(&self, seen: &[(AgentId, i64)]) {
        let mut map = self.map();
        for &(agent, at) in seen {
            let recorded = map.entry(agent).or_insert(at);
            *recorded = (*recorded).max(at);
        }
    }

    fn forget_all(&self) {
        self.map().clear();
    }
}

type Reply = oneshot::Sender<Result<Accepted, IngestError>>;
type Queue = Arc<Mutex<mpsc::Receiver<(Job, Reply)>>>;

/// Object versions that committed (or committing) batches wrote and the
/// syncer has not yet made durable. A later event of the same call
/// appends to the version here, not to the stored one; a batch registers
/// its versions while it holds its calls' locks, so the newest version of
/// a key holds every event before it. Each key keeps its versions in the
/// order their batches wrote them: a batch whose commit fails takes back
/// only its own, and the one it was built on is the newest again (dropping
/// the key instead lost that one's entry when it was not yet written). The
/// syncer writes only versions of batches that committed: a batch whose
/// commit failed once left objects of calls that were never stored.
///
/// A sync round takes its versions and writes them under `round`, so
/// that forgetting a deleted call's keys can wait for a round that took
/// them before they were forgotten.
#[derive(Clone, Default)]
struct Unsynced {
    versions: Arc<std::sync::Mutex<Versions>>,
    round: Arc<Mutex<()>>,
}

/// Each key's versions not yet written, oldest first.
type Versions = HashMap<ObjectKey, Vec<Version>>;

struct Version {
    batch: u64,
    bytes: Bytes,
    committed: bool,
}

impl Unsynced {
    fn map(&self) -> std::sync::MutexGuard<'_, Versions> {
        self.versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The newest version, committed or not: a batch holds the locks of
    /// the calls whose versions it registers until it commits, so the next
    /// batch to extend one finds it committed, or taken back.
    fn get(&self, key: &ObjectKey) -> Option<Bytes> {
        self.map()
            .get(key)
            .and_then(|versions| versions.last())
            .map(|v| v.bytes.clone())
    }

    /// Registers a batch's versions; returns their keys, which are all its
    /// commit or failure has to touch.
    fn register(&self, batch: u64, versions: Vec<(ObjectKey, Bytes)>) -> Vec<ObjectKey> {
        let mut map = self.map();
        let mut keys = Vec::with_capacity(versions.len());
        for (key, bytes) in versions {
            map.entry(key.clone()).or_default().push(Version {
                batch,
                bytes,
                committed: false,
            });
            keys.push(key);
        }
        keys
    }

    /// Starts a sync round: the newest committed version of every key not
    /// yet durable, with the batch that wrote it, and the round's guard, to
    /// be held until what the round took is written or given up.
    async fn begin_round(&self) -> (OwnedMutexGuard<()>, Vec<(ObjectKey, u64, Bytes)>) {
        let guard = self.round.clone().lock_owned().await;
        (guard, self.all())
    }

    /// The newest committed version of every key not yet durable, with
    /// the batch that wrote it.
    fn all(&self) -> Vec<(ObjectKey, u64, Bytes)> {
        self.map()
            .iter()
            .filter_map(|(key, versions)| {
                let v = versions.iter().rev().find(|v| v.committed)?;
                Some((key.clone(), v.batch, v.bytes.clone()))
            })
            .collect()
    }

    /// Changes the versions of each of `keys`, dropping a key left with none.
    fn change(
        &self,
        keys: impl IntoIterator<Item = (ObjectKey, u64)>,
        f: impl Fn(&mut Vec<Version>, u64),
    ) {
        let mut map = self.map();
        for (key, batch) in keys {
            if let Some(versions) = map.get_mut(&key) {
                f(versions, batch);
                if versions.is_empty() {
                    map.remove(&key);
                }
            }
        }
    }

    /// Forgets every version of `keys`, and returns once no sync round
    /// can still write one: a round that took them before is waited for.
    async fn forget_keys(&self, keys: &[ObjectKey]) {
        {
            let mut map = self.map();
            for key in keys {
                map.remove(key);
            }
        }
        drop(self.round.lock().await);
    }

    /// A batch committed: its versions (of `keys`) may be written, and the
    /// ones they were built on are no longer needed to fall back on.
    fn committed(&self, batch: u64, keys: Vec<ObjectKey>) {
        self.change(keys.into_iter().map(|k| (k, batch)), |versions, batch| {
            if let Some(at) = versions.iter().position(|v| v.batch == batch) {
                versions.drain(..at);
                versions[0].committed = true;
            }
        });
    }

    /// Forgets the versions (of `keys`) of a batch that did not commit.
    fn forget_batch(&self, batch: u64, keys: Vec<ObjectKey>) {
        self.change(keys.into_iter().map(|k| (k, batch)), |versions, batch| {
            versions.retain(|v| v.batch != batch)
        });
    }

    /// Forgets these written versions and the older ones they contain; a
    /// version a later batch registered meanwhile stays.
    fn forget(&self, written: impl IntoIterator<Item = (ObjectKey, u64)>) {
        self.change(written, |versions, written| {
            versions.retain(|v| v.batch > written)
        });
    }
}

/// A committed batch waiting for its objects to be durable.
struct Committed {
    tenants: Vec<TenantId>,
    results: Vec<Accepted>,
    replies: Vec<Reply>,
    /// The holding of this process's writer lock it was committed under.
    session: Session,
}

impl Ingestor {
    /// Starts the batch writers (one for SQLite, which has a single
    /// writer anyway; `database.ingest_writers` for PostgreSQL) and the
    /// syncer on a thread of their own: on the shared runtime each of a
    /// batch's statements waited for a worker to finish parsing some other
    /// request's payload before the batch could go on.
    pub fn start(
        db: Db,
        objects: Objects,
        hints: Hints,
        events: crate::events::Events,
        batching: Batching,
        registration: Registration,
    ) -> Ingestor {
        let registration = Arc::new(registration);
        let drops = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        let rx: Queue = Arc::new(Mutex::new(rx));
        let (committed, to_sync) = mpsc::channel(4 * MAX_BATCH);
        let unsynced = Unsynced::default();
        let pending = unsynced.clone();
        let last_seen = LastSeen::default();
        let recorded = last_seen.clone();
        let batches = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("ingest-writer")
            .build()
            .expect("a runtime for the ingest writers");
        std::thread::Builder::new()
            .name("ingest-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut running = tokio::task::JoinSet::new();
                    running.spawn(sync_objects(
                        objects.clone(),
                        unsynced.clone(),
                        (registration.clone(), drops.clone()),
                        hints,
                        events,
                        to_sync,
                    ));
                    for _ in 0..batching.writers.get() {
                        running.spawn(write_batches(
                            Writer {
                                db: db.clone(),
                                objects: objects.clone(),
                                unsynced: unsynced.clone(),
                                registration: registration.clone(),
                                drops: drops.clone(),
                                batches: batches.clone(),
                                committed: committed.clone(),
                                last_seen: last_seen.clone(),
                            },
                            rx.clone(),
                            batching.linger,
                        ));
                    }
                    drop(committed);
                    // Until the queue closes (every sender, the app state,
                    // is gone) and the syncer has answered the last batch.
                    while running.join_next().await.is_some() {}
                })
            })
            .expect("a thread for the ingest writers");
        Ingestor {
            queue,
            unsynced: pending,
            last_seen: recorded,
        }
    }

    /// Something other than a batch may have changed agents' rows (marked
    /// one `error`, made one `pending_validation` again): the next batch
    /// that sees each working writes its row again.
    pub fn forget_last_seen(&self) {
        self.last_seen.forget_all();
    }

    /// Drops the versions of `keys` not yet written (a round that failed
    /// leaves them for the next), and returns once this process's syncer
    /// can no longer write them: a deleted call's raw and meta objects must
    /// not be written back after it is gone.
    pub async fn forget_objects(&self, keys: &[ObjectKey]) {
        self.unsynced.forget_keys(keys).await;
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

/// What a batch writer works with.
struct Writer {
    db: Db,
    objects: Objects,
    unsynced: Unsynced,
    /// This process among the database's writers: stored with each event.
    registration: Arc<Registration>,
    /// How many times the syncer dropped the unwritten versions (decision
    /// 0018): a batch that may have built on dropped ones does not commit.
    drops: Arc<std::sync::atomic::AtomicU64>,
    /// Numbers the batches, so a batch forgets only its own versions.
    batches: Arc<std::sync::atomic::AtomicU64>,
    committed: mpsc::Sender<Committed>,
    last_seen: LastSeen,
}

/// The next batch: every event waiting, up to [`MAX_BATCH`]; when that is
/// fewer than [`LINGER_BELOW`], what else arrives within `linger`. `None`
/// once the queue is closed and empty.
async fn next_batch<T>(rx: &mut mpsc::Receiver<T>, linger: std::time::Duration) -> Option<Vec<T>> {
    fn take_waiting<T>(batch: &mut Vec<T>, rx: &mut mpsc::Receiver<T>) {
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
    }
    let mut batch = vec![rx.recv().await?];
    take_waiting(&mut batch, rx);
    // Off by default: then no clock read or timer per batch.
    if linger.is_zero() {
        return Some(batch);
    }
    let until = tokio::time::Instant::now() + linger;
    while batch.len() < LINGER_BELOW {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(next)) => {
                batch.push(next);
                take_waiting(&mut batch, rx);
            }
            // The time is up, or the queue closed: write what there is.
            Err(_) | Ok(None) => break,
        }
    }
    Some(batch)
}

async fn write_batches(writer: Writer, rx: Queue, linger: std::time::Duration) {
    loop {
        let Some(mut batch) = next_batch(&mut *rx.lock().await, linger).await else {
            return;
        };
        // Every batch locks its calls' rows in this one order, so two
        // batches on PostgreSQL cannot each wait for a call the other
        // created first (a deadlock, found by the concurrent-events test).
        // Stable: the events of one call keep their order of arrival.
        batch.sort_by(|(a, _), (b, _)| a.lock_order().cmp(&b.lock_order()));
        let (jobs, replies): (Vec<Job>, Vec<_>) = batch.into_iter().unzip();
        write_or_narrow(&writer, jobs, replies).await;
    }
}

/// Writes a batch. One event whose call cannot be written (a stored row
/// that does not read back, say) must not fail the events that came with
/// it: when the batch fails while writing one event, that event is refused
/// and the others are written again without it; when the failure is no
/// one event's, each is written alone. Not when the storage as a whole
/// fails (out of reach, busy), where each would fail as slowly as the
/// batch did: then every event left is refused at once.
async fn write_or_narrow(writer: &Writer, mut jobs: Vec<Job>, mut replies: Vec<Reply>) {
    let mut attempt = Attempt::default();
    loop {
        let Failed {
            error,
            replies: mut left,
        } = match write_and_pass_on(writer, &mut jobs, replies, &mut attempt).await {
            Ok(()) => return,
            Err(failed) => failed,
        };
        if jobs.len() == 1 || error.is_storage_wide() {
            return refuse(left, &error);
        }
        let Some(culprit) = attempt.writing.take() else {
            tracing::warn!(error = %error, events = jobs.len(), "an ingest batch failed; its events are written one by one");
            return write_one_by_one(writer, jobs, left, &mut attempt).await;
        };
        tracing::warn!(error = %error, events = jobs.len(), "an event of an ingest batch cannot be written; the others are written without it");
        refuse(vec![left.remove(culprit)], &error);
        jobs.remove(culprit);
        replies = left;
    }
}

async fn write_one_by_one(
    writer: &Writer,
    jobs: Vec<Job>,
    replies: Vec<Reply>,
    attempt: &mut Attempt,
) {
    let mut rest = jobs.into_iter().zip(replies);
    while let Some((mut job, reply)) = rest.next() {
        let written =
            write_and_pass_on(writer, std::slice::from_mut(&mut job), vec![reply], attempt).await;
        if let Err(Failed { error, replies }) = written {
            refuse(replies, &error);
            if error.is_storage_wide() {
                return refuse(rest.map(|(_, reply)| reply).collect(), &error);
            }
        }
    }
}

/// A batch that did not commit: nothing of it was stored.
struct Failed {
    error: IngestError,
    replies: Vec<Reply>,
}

/// What one attempt at writing a batch leaves for the next.
#[derive(Default)]
struct Attempt {
    /// Live writers already waited [`LIVE_WRITER_WAIT`] for in vain: not
    /// waited for again.
    stuck: Vec<WriterId>,
    /// The job (its index in the batch) being written when it failed, if
    /// the failure was that job's.
    writing: Option<usize>,
}

fn refuse(replies: Vec<Reply>, error: &IngestError) {
    if replies.is_empty() {
        return;
    }
    tracing::error!(error = %error, events = replies.len(), "ingest events failed; nothing of them was stored");
    let message = error.to_string();
    for reply in replies {
        let _ = reply.send(Err(IngestError::Batch(message.clone())));
    }
}

/// Writes `jobs` (in lock order) as one batch and passes it to the syncer,
/// which answers `replies` once its objects are durable.
async fn write_and_pass_on(
    writer: &Writer,
    jobs: &mut [Job],
    replies: Vec<Reply>,
    attempt: &mut Attempt,
) -> Result<(), Failed> {
    let tenants: Vec<TenantId> = jobs.iter().map(|j| j.scope.tenant_id()).collect();
    let session = writer.registration.session();
    match write_batch(writer, jobs, attempt).await {
        Ok(results) => {
            // A closed syncer drops the replies: "the ingest writer stopped".
            let _ = writer
                .committed
                .send(Committed {
                    tenants,
                    results,
                    replies,
                    session,
                })
                .await;
            Ok(())
        }
        Err(error) => Err(Failed { error, replies }),
    }
}

/// How soon a failed round's objects are written again when no batch
/// comes to do it: other processes wait for them (decision 0018).
const RETRY_ROUND_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Writes and syncs, in rounds, every object version not yet durable, then
/// answers the batches committed before the round began: one device flush
/// (local store) for all of them. A round that fails answers its batches
/// with an error (their events are committed; the resend finds the
/// objects written, or writes them) and leaves its versions for the next,
/// which runs with the next batch or after [`RETRY_ROUND_AFTER`].
///
/// A round writes only while this process holds its writer lock as it did
/// when the round's batches committed (decision 0018). Otherwise other
/// processes may have taken it for dead meanwhile and written documents
/// without its entries, which these versions would now replace: they are
/// dropped, and their events answered 503 so that their resends write them
/// again.
async fn sync_objects(
    objects: Objects,
    unsynced: Unsynced,
    (registration, drops): (Arc<Registration>, Arc<std::sync::atomic::AtomicU64>),
    hints: Hints,
    events: crate::events::Events,
    mut to_sync: mpsc::Receiver<Committed>,
) {
    let mut failed = false;
    let mut session = registration.session();
    loop {
        let first = if failed {
            match tokio::time::timeout(RETRY_ROUND_AFTER, to_sync.recv()).await {
                Ok(None) => return,
                Ok(Some(first)) => Some(first),
                Err(_) => None,
            }
        } else {
            match to_sync.recv().await {
                None => return,
                first => first,
            }
        };
        let mut round: Vec<Committed> = first.into_iter().collect();
        while let Ok(next) = to_sync.try_recv() {
            round.push(next);
        }
        let (round_guard, versions) = unsynced.begin_round().await;
        let written: Vec<(ObjectKey, u64)> = versions
            .iter()
            .map(|(key, batch, _)| (key.clone(), *batch))
            .collect();
        let held = registration.held().await;
        if held.is_none_or(|now| now != session || round.iter().any(|b| b.session != now)) {
            tracing::error!("this writer's lock was lost; its unwritten objects are dropped and their events answered 503");
            drops.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            unsynced.forget(written);
            drop(round_guard);
            session = held.unwrap_or(session);
            failed = false;
            answer_unsynced(round, "this writer's lock was lost".into());
            continue;
        }
        // Every event of the round is still unanswered: a new object a crash
        // leaves torn is written again by the resends (decision 0014).
        let outcome = objects
            .put_all_new_in_place(
                versions
                    .into_iter()
                    .map(|(key, _, bytes)| (key, bytes))
                    .collect(),
            )
            .await;
        drop(round_guard);
        failed = outcome.is_err();
        match outcome {
            Ok(()) => {
                unsynced.forget(written);
                for batch in round {
                    // A redelivery changed nothing: no work, no news.
                    for (tenant, result) in batch
                        .tenants
                        .iter()
                        .zip(&batch.results)
                        .filter(|(_, r)| !r.duplicate)
                    {
                        hints.tenant_has_work(*tenant);
                        events.publish(
                            *tenant,
                            crate::events::Event::received(result.call_id, result.created),
                        );
                    }
                    for (reply, result) in batch.replies.into_iter().zip(batch.results) {
                        let _ = reply.send(Ok(result));
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "writing committed events' objects failed; they are answered 503 and retried");
                answer_unsynced(round, format!("object store: {e}"));
            }
        }
    }
}

/// Answers a round's committed events with 503: not yet durable.
fn answer_unsynced(round: Vec<Committed>, message: String) {
    for reply in round.into_iter().flat_map(|b| b.replies) {
        let _ = reply.send(Err(IngestError::NotDurable(message.clone())));
    }
}

/// Writes every job (in lock order) in one transaction, tenant by tenant,
/// registers the objects that follow as not yet durable, and commits: all
/// of the batch is stored, or none of it. Answers in the jobs' order.
async fn write_batch(
    writer: &Writer,
    jobs: &mut [Job],
    attempt: &mut Attempt,
) -> Result<Vec<Accepted>, IngestError> {
    let mut results = Vec::with_capacity(jobs.len());
    let mut tx: Option<TenantTx> = None;
    // Two events of one call in a batch: its last objects are the whole story.
    let mut puts = Puts {
        objects: HashMap::new(),
        seen: Vec::new(),
        attempt,
    };
    let drops = writer.drops.load(std::sync::atomic::Ordering::Acquire);
    for group in jobs.chunk_by_mut(|a, b| a.scope.tenant_id() == b.scope.tenant_id()) {
        let tx = match &mut tx {
            Some(open) => {
                open.rescope(&group[0].scope).await?;
                open
            }
            None => tx.insert(writer.db.tenant(&group[0].scope, Mode::Write).await?),
        };
        let offset = results.len();
        results.extend(write_tenant(tx, writer, (group, offset), &mut puts).await?);
    }
    let batch = writer
        .batches
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let keys = writer
        .unsynced
        .register(batch, puts.objects.into_iter().collect());
    if writer.drops.load(std::sync::atomic::Ordering::Acquire) != drops {
        writer.unsynced.forget_batch(batch, keys);
        return Err(IngestError::LockLost);
    }
    if let Some(tx) = tx {
        if let Err(e) = tx.commit().await {
            writer.unsynced.forget_batch(batch, keys);
            return Err(e.into());
        }
    }
    writer.unsynced.committed(batch, keys);
    writer.last_seen.committed(&puts.seen);
    Ok(results)
}

/// What a batch leaves for after its commit: the objects it writes, by key
/// (a later version replaces an earlier), and the agents' last-seen times
/// it wrote; and what its attempt learnt on the way.
struct Puts<'a> {
    objects: HashMap<ObjectKey, Bytes>,
    /// The agents' last-seen times the batch wrote.
    seen: Vec<(AgentId, i64)>,
    attempt: &'a mut Attempt,
}

/// How long a live process is waited for to write its entries in a call's
/// raw document (normally milliseconds: its next sync round). One that
/// takes longer is stuck, not late, and the call's lock is held meanwhile.
const LIVE_WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long after its last write a document that does not parse is taken
/// for one still being written; and how long after its reception an event
/// committed before writers were recorded is waited for.
const UNFINISHED_WRITE_MS: i64 = 2_000;

impl Puts<'_> {
    /// The call's raw document as this batch leaves it so far: written by
    /// this batch, by a batch not yet synced, or stored. `committed` are the
    /// call's other events in the database.
    ///
    /// Another process on the same storage (a second node, `switchboard
    /// import` beside the server) may have committed one of them and not
    /// yet written its document: extending the stored one meanwhile would
    /// lose that event's entry, whichever of the two writes lands last. So a
    /// stored document that lacks an event is extended only once the event's
    /// writer is gone (decision 0018): it died before writing its objects,
    /// so the event was never answered 2xx and its resend restores the
    /// entry. This process's own events are never missing (they wait in
    /// `unsynced`) unless a crash of an earlier run lost them. The call's
    /// lock, held meanwhile, keeps later events of the call waiting in turn.
    /// A stored document that does not parse is new (decision 0014: only a
    /// new object is written in place), so none of the call's writers has
    /// written it whole: it is waited for while one of them lives, or while
    /// it was written just now, then set aside and started again.
    async fn raw_document(
        &mut self,
        tx: &mut TenantTx,
        writer: &Writer,
        key: &ObjectKey,
        committed: &[calls::EventOrigin],
    ) -> Result<Option<Bytes>, IngestError> {
        if let Some(pending) = self.objects.get(key) {
            return Ok(Some(pending.clone()));
        }
        if let Some(unsynced) = writer.unsynced.get(key) {
            return Ok(Some(unsynced));
        }
        let waited = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            let stored = match writer.objects.get_with_modified(key).await {
                Ok((stored, modified)) => Some((stored, modified)),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            // A document that does not parse is still being written by
            // another process, or was created by a round a crash cut short
            // (decision 0014): none of its entries is known.
            let entries = match &stored {
                None => Some(Vec::new()),
                Some((doc, _)) => raw_entries(doc).ok(),
            };
            let missing: Vec<&calls::EventOrigin> = committed
                .iter()
                .filter(|o| {
                    entries.as_ref().is_none_or(|known| {
                        !known.iter().any(|e| e.event_key == o.event_key.as_str())
                    })
                })
                .collect();
            let written_just_now = match (&entries, &stored) {
                (None, Some((_, modified))) => now_ms() < modified + UNFINISHED_WRITE_MS,
                _ => false,
            };
            let alive = self.writer_of(tx, writer, &missing).await?;
            if written_just_now || alive.is_some() {
                if waited.elapsed() < LIVE_WRITER_WAIT {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(50));
                    continue;
                }
                self.attempt.stuck.extend(alive);
            }
            if !missing.is_empty() && entries.is_some() {
                tracing::warn!(
                    stuck = alive.is_some(),
                    "a call's raw document lacks events the database has; extending it as it is"
                );
            }
            if entries.is_none() {
                // None of its events was answered 2xx while it was
                // unreadable: their resends fill the new document.
                if let Some(aside) = writer.objects.set_aside(key).await? {
                    tracing::warn!(
                        kept = aside.as_str(),
                        "a call's raw document does not parse; starting it again"
                    );
                }
                return Ok(None);
            }
            return Ok(stored.map(|(doc, _)| doc));
        }
    }

    /// A process other than this one that committed one of `events` and
    /// may still write its entry: one that is alive (and not found stuck by
    /// this batch), or, for an event committed before writers were
    /// recorded, one that received it just now.
    async fn writer_of(
        &self,
        tx: &mut TenantTx,
        writer: &Writer,
        events: &[&calls::EventOrigin],
    ) -> Result<Option<WriterId>, IngestError> {
        let own = writer.registration.id();
        for event in events {
            let alive = match event.writer {
                Some(other) if other == own || self.attempt.stuck.contains(&other) => false,
                Some(other) => writer.registration.is_alive(tx, other).await?,
                None => now_ms() < event.received_at + UNFINISHED_WRITE_MS,
            };
            if alive {
                return Ok(Some(event.writer.unwrap_or(WriterId::UNRECORDED)));
            }
        }
        Ok(None)
    }
}

/// How long a reader waits for the raw document to list an event whose
/// transcript it holds: the committing process writes it in its next sync
/// round, milliseconds after the commit.
const RAW_ENTRY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Puts in `call` the turns its stored fields only refer to, read again
/// from the event's entry in its raw document (decision 0026). A document
/// that lacks the entry, or is still being written, is read again after a
/// pause, for up to [`RAW_ENTRY_WAIT`]. Turns that are already here are
/// left as they are.
pub async fn load_turns(
    objects: &Objects,
    scope: &TenantScope,
    call: &mut CallRecord,
) -> Result<(), IngestError> {
    let Some(Turns::InRawEvent(event_key)) = &call.fields.turns else {
        return Ok(());
    };
    let parse = body_parser(call.source).ok_or_else(|| {
        IngestError::Transcript(format!(
            "{} calls keep no transcript in raw documents",
            call.source.as_str()
        ))
    })?;
    let key = ObjectKey::raw(scope, call.id);
    let waited = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(5);
    let payload = loop {
        let document = match objects.get(&key).await {
            Ok(document) => Some(document),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let found = document
            .as_deref()
            .and_then(|d| raw_payload_of(d, event_key));
        if let Some(payload) = found {
            break payload;
        }
        if waited.elapsed() >= RAW_ENTRY_WAIT {
            return Err(IngestError::Transcript(format!(
                "event {event_key} is not in the raw document"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(200));
    };
    let turns = parse(payload.as_bytes())
        .map_err(|errors| {
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            IngestError::Transcript(format!("event {event_key} no longer reads: {first}"))
        })?
        .and_then(|update| update.fields.turns)
        .and_then(Turns::into_here)
        .ok_or_else(|| IngestError::Transcript(format!("event {event_key} has no transcript")))?;
    call.fields.turns = Some(Turns::Here(turns));
    Ok(())
}

/// The payload of event `event_key` in a raw document; `None` when the
/// document does not (yet) parse or list it.
fn raw_payload_of(document: &[u8], event_key: &str) -> Option<String> {
    raw_entries(document)
        .ok()?
        .into_iter()
        .find(|e| e.event_key == event_key)
        .map(|e| e.payload.get().to_owned())
}

fn raw_entries(doc: &[u8]) -> Result<Vec<RawEntry<'_>>, IngestError> {
    serde_json::from_slice(doc)
        .map_err(|e| IngestError::Batch(format!("the stored raw document does not parse: {e}")))
}

/// The jobs of one tenant, in lock order: one upsert creates the calls of
/// all of them with their first events or locks the existing ones, then
/// each other event is stored; the agents' last-seen times come last, so
/// their rows (on PostgreSQL) are locked briefly.
async fn write_tenant(
    tx: &mut TenantTx,
    writer: &Writer,
    (group, offset): (&mut [Job], usize),
    puts: &mut Puts<'_>,
) -> Result<Vec<Accepted>, IngestError> {
    // A call's later events in the batch find it created by its first:
    // `upsert_of[k]` is the upsert of job k's call.
    let mut first_of: HashMap<(Source, &str), usize> = HashMap::new();
    let mut upsert_of = Vec::with_capacity(group.len());
    let mut firsts = Vec::new();
    for (k, job) in group.iter().enumerate() {
        let next = first_of.len();
        let upsert = *first_of
            .entry((job.source, job.external_id.as_str()))
            .or_insert(next);
        if upsert == next {
            firsts.push(k);
        }
        upsert_of.push(upsert);
    }
    drop(first_of);
    let firsts: Vec<(usize, Projection)> = firsts
        .into_iter()
        .map(|k| Ok((k, group[k].first()?)))
        .collect::<Result<_, IngestError>>()?;
    let mut upserts = calls::create_or_lock_many(
        tx,
        writer.registration.id(),
        firsts
            .into_iter()
            .map(|(k, first)| {
                let job = &group[k];
                calls::FirstEvent {
                    source: job.source,
                    external_id: &job.external_id,
                    agent_id: job.agent,
                    first,
                    event: job.event_in(),
                }
            })
            .collect(),
    )
    .await?;
    // Ordered by agent: agent rows are locked in one order too.
    let mut seen_at: std::collections::BTreeMap<AgentId, i64> = Default::default();
    let mut accepted = Vec::with_capacity(group.len());
    for (k, (job, first)) in group.iter().zip(upsert_of).enumerate() {
        // A call posted or imported for an agent leaves its status alone.
        if let Some(agent) = job.seen {
            let at = seen_at.entry(agent).or_insert(job.received_at);
            *at = (*at).max(job.received_at);
        }
        // The call's first event in the batch takes the upsert's answer;
        // its later ones find the call as that leaves it.
        let later = upserts[first].for_later_events();
        let upserted = std::mem::replace(&mut upserts[first], later);
        puts.attempt.writing = Some(offset + k);
        accepted.push(write_one(tx, writer, job, upserted, puts).await?);
        puts.attempt.writing = None;
    }
    for (agent, at) in seen_at {
        if writer.last_seen.recorded_for(agent, at) {
            continue;
        }
        agents::record_webhook(tx, agent, at).await?;
        puts.seen.push((agent, at));
    }
    Ok(accepted)
}

async fn write_one(
    tx: &mut TenantTx,
    writer: &Writer,
    job: &Job,
    upserted: Upserted,
    puts: &mut Puts<'_>,
) -> Result<Accepted, IngestError> {
    let (record, raw_document, created, duplicate) = match upserted {
        Upserted::Deleted(call) => {
            return Ok(Accepted {
                call_id: call,
                duplicate: true,
                created: false,
                deleted: true,
            })
        }
        // Stored with its first event (and analysis job) by the upsert.
        Upserted::Created(record) => (*record, Some(job.raw_alone.clone()), true, false),
        Upserted::Existing(call) => {
            let new = calls::insert_event(
                tx,
                writer.registration.id(),
                call,
                &job.event_key,
                job.received_at,
                &job.update,
            )
            .await?;
            let (record, mut committed) = if new {
                let (events, origins) = calls::events(tx, call).await?;
                let record = calls::project(
                    tx,
                    call,
                    events,
                    (&job.event_key, job.search_text.as_deref()),
                )
                .await?;
                if record.fields.has_turns() {
                    pipeline_jobs::enqueue(tx, call, job.received_at).await?;
                }
                (record, origins)
            } else {
                // Committed before, but its objects may not have been
                // durable when the server stopped (decision 0010): the
                // resend writes the meta object again, and the raw entry
                // when the document lacks it.
                let record = calls::get(tx, call)
                    .await?
                    .ok_or_else(|| IngestError::Batch("a locked call vanished".into()))?;
                (record, calls::event_origins(tx, call).await?)
            };
            committed.retain(|e| e.event_key != job.event_key);
            let key = ObjectKey::raw(&job.scope, call);
            let earlier = puts.raw_document(tx, writer, &key, &committed).await?;
            let document = append_raw(
                earlier.as_deref(),
                &job.event_key,
                job.received_at,
                &job.raw,
            )?;
            // A resend that puts back the raw entry holding the call's
            // transcript (decision 0026) lets an analysis that could not
            // read it run again.
            let restores_transcript = matches!(
                &record.fields.turns,
                Some(Turns::InRawEvent(key)) if *key == job.event_key
            );
            if !new && document.is_some() && restores_transcript {
                pipeline_jobs::enqueue(tx, call, job.received_at).await?;
            }
            (record, document.map(Bytes::from), false, !new)
        }
    };
    let call = record.id;
    puts.put_call(&job.scope, record, raw_document);
    Ok(Accepted {
        call_id: call,
        duplicate,
        created,
        deleted: false,
    })
}

impl Puts<'_> {
    /// The call's meta object, and its raw document when it changed.
    fn put_call(&mut self, scope: &TenantScope, record: CallRecord, raw: Option<Bytes>) {
        let call = record.id;
        if let Some(raw) = raw {
            self.objects.insert(ObjectKey::raw(scope, call), raw);
        }
        self.objects.insert(
            ObjectKey::meta(scope, call),
            serde_json::to_vec(&CallView::new(record, false))
                .expect("serialises")
                .into(),
        );
    }
}

/// An entry of `<tenant>/raw/<call>.json`: what it is known by, and the
/// payload as received (borrowed, not read).
#[derive(serde::Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    event_key: Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

/// An event's payload as received, for the raw document.
pub enum RawPayload {
    /// JSON that a parser has read whole (a provider's body, a document
    /// Switchboard serialised): kept verbatim without being read again.
    Json(String),
    /// Anything else (form bodies): kept as a JSON string.
    Text(String),
    /// A webhook body that the parser of the call's source read whole
    /// ([`body_parser`]): kept verbatim like [`RawPayload::Json`], and its
    /// turns are read from it again rather than stored in the database
    /// (decision 0026).
    ProviderBody(String),
}

impl RawPayload {
    /// `raw` as JSON when it is, as text otherwise (one pass to tell).
    pub fn detect(raw: String) -> Self {
        if serde_json::from_str::<serde::de::IgnoredAny>(&raw).is_ok() {
            RawPayload::Json(raw)
        } else {
            RawPayload::Text(raw)
        }
    }

    /// A body that a JSON parser accepted whole, as text (invalid UTF-8,
    /// which a parser may skip over in values it ignores, is replaced).
    pub fn parsed_json(body: &[u8]) -> Self {
        RawPayload::Json(text_of(body))
    }

    /// A webhook body that [`body_parser`] of the call's source read. Invalid
    /// UTF-8 can only be in values the parser skips, so the replaced text
    /// reads into the same call.
    pub fn provider_body(body: &[u8]) -> Self {
        RawPayload::ProviderBody(text_of(body))
    }
}

/// `body` as text, invalid UTF-8 replaced.
fn text_of(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

/// The raw document of a call that has had only this event: every event
/// as it was received, in order of arrival.
fn raw_document(event_key: &str, received_at: i64, raw: &RawPayload) -> Vec<u8> {
    let mut document = b"[".to_vec();
    push_raw_entry(&mut document, event_key, received_at, raw);
    document.push(b']');
    document
}

/// Appends `{"event_key":…,"received_at":…,"payload":…}`, the payload
/// verbatim when it is JSON.
fn push_raw_entry(out: &mut Vec<u8>, event_key: &str, received_at: i64, raw: &RawPayload) {
    let text = |s: &str| serde_json::to_string(s).expect("a string serialises");
    out.extend_from_slice(b"{\"event_key\":");
    out.extend_from_slice(text(event_key).as_bytes());
    out.extend_from_slice(b",\"received_at\":");
    out.extend_from_slice(text(&rfc3339(received_at)).as_bytes());
    out.extend_from_slice(b",\"payload\":");
    match raw {
        RawPayload::Json(json) | RawPayload::ProviderBody(json) => {
            out.extend_from_slice(json.as_bytes())
        }
        RawPayload::Text(other) => out.extend_from_slice(text(other).as_bytes()),
    }
    out.push(b'}');
}

/// The raw document `earlier` (the call's events so far) with one more
/// event; `None` when `earlier` already lists it (left by a batch whose
/// objects were written but whose commit failed, or whose objects a crash
/// interrupted). The database keeps no raw payloads: this document is
/// where they are. The earlier entries' bytes are kept as they are.
fn append_raw(
    earlier: Option<&[u8]>,
    event_key: &str,
    received_at: i64,
    raw: &RawPayload,
) -> Result<Option<Vec<u8>>, IngestError> {
    let Some(earlier) = earlier else {
        return Ok(Some(raw_document(event_key, received_at, raw)));
    };
    let entries = raw_entries(earlier)?;
    if entries.iter().any(|e| e.event_key == event_key) {
        return Ok(None);
    }
    // A JSON array that parsed: its last byte but white space is `]`.
    let end = earlier
        .iter()
        .rposition(|b| *b == b']')
        .expect("a parsed array ends with ]");
    let mut document = earlier[..end].to_vec();
    if !entries.is_empty() {
        document.push(b',');
    }
    push_raw_entry(&mut document, event_key, received_at, raw);
    document.push(b']');
    Ok(Some(document))
}

/// One line of an import that was not taken, and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineErrors {
    /// 1-based, as an editor shows it (CSV: the line the row starts on).
    pub line: usize,
    pub errors: Vec<crate::http::problem::FieldError>,
}

/// What an import did, line by line.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub total: usize,
    pub accepted: usize,
    /// Lines identical to an event already stored: nothing changed.
    pub duplicates: usize,
    pub failed: usize,
    /// Every failed line with its bad fields.
    pub errors: Vec<LineErrors>,
    /// Calls taken without their recording (a CCI layout's audio file that
    /// could not be read), with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audio_errors: Vec<LineErrors>,
}

impl ImportReport {
    /// Adds a later part of the same import.
    pub fn absorb(&mut self, later: ImportReport) {
        self.total += later.total;
        self.accepted += later.accepted;
        self.duplicates += later.duplicates;
        self.failed += later.failed;
        self.errors.extend(later.errors);
        self.audio_errors.extend(later.audio_errors);
    }
}

/// Invariant 1 for call documents read without the API's body extractor
/// (Standard Webhooks bodies, import lines): the fields of `named` that name
/// a tenant other than `scope`'s, by id or slug.
pub async fn foreign_tenant_fields(
    state: &AppState,
    scope: &TenantScope,
    named: &[(&'static str, String)],
) -> Result<Vec<&'static str>, DbError> {
    let own = scope.tenant_id().to_string();
    if named.iter().all(|(_, n)| *n == own) {
        return Ok(Vec::new());
    }
    let mut tx = state.db.tenant(scope, Mode::Read).await?;
    let slug = crate::db::tenants::own(&mut tx).await?.slug;
    tx.commit().await?;
    Ok(named
        .iter()
        .filter(|(_, n)| *n != own && n.as_str() != slug.as_str())
        .map(|(field, _)| *field)
        .collect())
}

/// Lines of an import in flight at once: they share the ingest writer's
/// batches, where one at a time would pay a commit and a sync each.
const IMPORT_WINDOW: usize = 64;

/// Ingests parsed import lines, each on its own (one bad line costs only
/// itself), many at once but a call's lines in file order: a window ends
/// before a line whose call is already in it. `progress` is told as lines
/// finish.
///
/// Lines are read only as the window takes them, so an import of any size
/// holds a window's lines and the report of its bad ones. An error reading
/// them ends the import there, once the lines before it are taken: running
/// it again takes those as duplicates.
pub async fn import(
    state: &AppState,
    scope: &TenantScope,
    lines: impl Iterator<Item = std::io::Result<switchboard_ingest::import::Line>> + Send,
    mut progress: impl FnMut(usize),
) -> Result<ImportReport, IngestError> {
    let mut report = ImportReport::default();
    let known_agents = Mutex::new(HashMap::new());
    let mut lines = lines.peekable();
    let mut unreadable = None;
    while lines.peek().is_some() {
        let mut window = Vec::new();
        let mut calls = std::collections::HashSet::new();
        while let Some(line) = lines.peek() {
            let call = line
                .as_ref()
                .ok()
                .and_then(|l| l.result.as_ref().ok())
                .map(|v| v.update.external_id.clone());
            if window.len() == IMPORT_WINDOW || call.is_some_and(|c| !calls.insert(c)) {
                break;
            }
            match lines.next().expect("a line was peeked") {
                Ok(line) => window.push(line),
                Err(error) => {
                    unreadable = Some(error);
                    break;
                }
            }
        }
        report.total += window.len();
        let outcomes = futures_util::future::join_all(
            window
                .into_iter()
                .map(|line| import_line(state, scope, line, &known_agents)),
        )
        .await;
        for outcome in outcomes {
            match outcome? {
                Ok(accepted) if accepted.duplicate => report.duplicates += 1,
                Ok(_) => report.accepted += 1,
                Err(failed) => {
                    report.failed += 1;
                    report.errors.push(failed);
                }
            }
        }
        progress(report.total);
        if let Some(error) = unreadable {
            return Err(IngestError::Input {
                taken: Box::new(report),
                error,
            });
        }
    }
    Ok(report)
}

/// One import line: accepted, or refused with its reasons.
async fn import_line(
    state: &AppState,
    scope: &TenantScope,
    line: switchboard_ingest::import::Line,
    known_agents: &Mutex<HashMap<AgentId, bool>>,
) -> Result<Result<Accepted, LineErrors>, IngestError> {
    let refused = |errors: Vec<switchboard_ingest::ParseError>| LineErrors {
        line: line.line,
        errors: errors.into_iter().map(Into::into).collect(),
    };
    let valid = match line.result {
        Ok(valid) => valid,
        Err(errors) => return Ok(Err(refused(errors))),
    };
    let foreign = foreign_tenant_fields(state, scope, &valid.names_tenant).await?;
    if !foreign.is_empty() {
        return Ok(Err(refused(
            foreign
                .into_iter()
                .map(|field| {
                    switchboard_ingest::ParseError::new(
                        field,
                        "names another tenant; only the importing tenant's calls are imported",
                    )
                })
                .collect(),
        )));
    }
    if let Some(agent) = valid.agent_id {
        let known = known_agents.lock().await.get(&agent).copied();
        let known = match known {
            Some(known) => known,
            None => {
                let mut tx = state.db.tenant(scope, Mode::Read).await?;
                let known = agents::get(&mut tx, agent).await?.is_some();
                tx.commit().await?;
                known_agents.lock().await.insert(agent, known);
                known
            }
        };
        if !known {
            return Ok(Err(refused(vec![switchboard_ingest::ParseError::new(
                "agent_id",
                "no such agent",
            )])));
        }
    }
    let accepted = accept(
        state,
        scope,
        Source::Import,
        Filing::quiet(valid.agent_id),
        valid.update,
        event_key_of(&line.raw),
        RawPayload::parsed_json(&line.raw),
    )
    .await?;
    Ok(Ok(accepted))
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
    /// When a failed fetch is tried again (absent: it is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_retry_at: Option<String>,
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
    /// Only on the single-call view: who was on the call, the agent first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<Participant>>,
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

/// One side of a call.
#[derive(Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Participant {
    /// `agent` or `customer`, as transcript turns name the speakers.
    #[schema(value_type = String)]
    pub role: switchboard_ingest::Speaker,
    /// E.164, when the provider gave it.
    pub phone: Option<String>,
    /// The Switchboard agent, on the agent's side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// The agent and the customer of a call: an inbound call is from the
/// customer to the agent, an outbound one the other way; without a
/// direction, neither number can be placed.
pub fn participants(
    direction: Option<switchboard_ingest::Direction>,
    from: Option<&str>,
    to: Option<&str>,
    agent_id: Option<AgentId>,
) -> Vec<Participant> {
    use switchboard_ingest::{Direction, Speaker};
    let (agent, customer) = match direction {
        Some(Direction::Inbound) => (to, from),
        Some(Direction::Outbound) => (from, to),
        None => (None, None),
    };
    vec![
        Participant {
            role: Speaker::Agent,
            phone: agent.map(str::to_owned),
            agent_id,
        },
        Participant {
            role: Speaker::Customer,
            phone: customer.map(str::to_owned),
            agent_id: None,
        },
    ]
}

impl CallView {
    pub fn new(c: CallRecord, with_turns: bool) -> Self {
        let f = c.fields;
        let participants = with_turns
            .then(|| participants(f.direction, f.from.as_deref(), f.to.as_deref(), c.agent_id));
        Self {
            participants,
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
                recording_retry_at: c.audio_retry_at.map(rfc3339),
                analysis: None,
            },
            turns: with_turns.then(|| f.turns.and_then(Turns::into_here).unwrap_or_default()),
            analysis: None,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const LINGER: Duration = Duration::from_millis(2);

    /// Sends `value` into the queue `after` from now (the clock is paused).
    fn send_later(tx: &mpsc::Sender<u32>, value: u32, after: Duration) {
        let tx = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            tx.send(value).await.unwrap();
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_batch_takes_in_what_arrives_while_it_lingers() {
        let (tx, mut rx) = mpsc::channel(MAX_BATCH);
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
        send_later(&tx, 3, Duration::from_millis(1));
        send_later(&tx, 4, Duration::from_millis(5));
        let start = tokio::time::Instant::now();
        assert_eq!(next_batch(&mut rx, LINGER).await.unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(start.elapsed(), LINGER);
        // The late one starts the next batch.
        assert_eq!(next_batch(&mut rx, LINGER).await.unwrap(), vec![4]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_large_enough_or_without_linger_does_not_wait() {
        let (tx, mut rx) = mpsc::channel(MAX_BATCH * 2);
        for i in 0..MAX_BATCH as u32 + 1 {
            tx.send(i).await.unwrap();
        }
        send_later(&tx, 1000, Duration::from_millis(1));
        let start = tokio::time::Instant::now();
        let full = next_batch(&mut rx, LINGER).await.unwrap();
        assert_eq!(full.len(), MAX_BATCH);
        assert_eq!(start.elapsed(), Duration::ZERO);
        // One left waiting and no linger: written alone, at once.
        assert_eq!(
            next_batch(&mut rx, Duration::ZERO).await.unwrap(),
            vec![MAX_BATCH as u32]
        );
        assert_eq!(start.elapsed(), Duration::ZERO);
        // A batch reaching the threshold while it lingers stops waiting.
        for i in 0..LINGER_BELOW as u32 - 1 {
            tx.send(i).await.unwrap();
        }
        let at = tokio::time::Instant::now();
        let batch = next_batch(&mut rx, LINGER).await.unwrap();
        assert_eq!(batch.len(), LINGER_BELOW);
        assert_eq!(batch.last(), Some(&1000));
        assert_eq!(at.elapsed(), Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_queue_ends_the_wait_and_then_the_batches() {
        let (tx, mut rx) = mpsc::channel(MAX_BATCH);
        tx.send(7).await.unwrap();
        drop(tx);
        let start = tokio::time::Instant::now();
        assert_eq!(next_batch(&mut rx, LINGER).await.unwrap(), vec![7]);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(next_batch(&mut rx, LINGER).await, None);
    }

    #[test]
    fn only_errors_of_the_storage_as_a_whole_fail_every_event_of_a_batch() {
        let decode = sqlx::Error::ColumnDecode {
            index: "update_json".into(),
            source: "packed text is not base64".into(),
        };
        assert!(!IngestError::Db(DbError::Other(decode)).is_storage_wide());
        assert!(!IngestError::Batch("a locked call vanished".into()).is_storage_wide());
        assert!(IngestError::Db(DbError::Other(sqlx::Error::PoolTimedOut)).is_storage_wide());
        assert!(IngestError::LockLost.is_storage_wide());
        // PostgreSQL: a byte sequence is one value's; a lost connection is not.
        assert!(!storage_wide_code("22021"));
        assert!(!storage_wide_code("42501"));
        assert!(storage_wide_code("08006"));
        assert!(storage_wide_code("53100"));
        // SQLite: a constraint is one row's; BUSY (also as BUSY_SNAPSHOT) is not.
        assert!(!storage_wide_code("2067"));
        assert!(storage_wide_code("5"));
        assert!(storage_wide_code("517"));
        let unreachable = object_store::Error::Generic {
            store: "S3",
            source: "connection refused".into(),
        };
        assert!(IngestError::Objects(unreachable).is_storage_wide());
    }

    #[test]
    fn participants_follow_the_direction() {
        use switchboard_ingest::{Direction, Speaker};
        let agent = AgentId::generate();
        let phones = |p: Vec<Participant>| {
            p.into_iter()
                .map(|p| (p.role, p.phone, p.agent_id))
                .collect::<Vec<_>>()
        };
        let (caller, line) = (Some("+14155550123"), Some("+14155550100"));
        assert_eq!(
            phones(participants(
                Some(Direction::Inbound),
                caller,
                line,
                Some(agent)
            )),
            [
                (Speaker::Agent, line.map(Into::into), Some(agent)),
                (Speaker::Customer, caller.map(Into::into), None)
            ]
        );
        assert_eq!(
            phones(participants(Some(Direction::Outbound), line, caller, None)),
            [
                (Speaker::Agent, line.map(Into::into), None),
                (Speaker::Customer, caller.map(Into::into), None)
            ]
        );
        assert_eq!(
            phones(participants(None, caller, line, None)),
            [
                (Speaker::Agent, None, None),
                (Speaker::Customer, None, None)
            ]
        );
    }

    fn entries(doc: &[u8]) -> Vec<serde_json::Value> {
        serde_json::from_slice::<serde_json::Value>(doc)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn raw_documents_grow_by_arrival_and_keep_payloads_verbatim() {
        let first = raw_document(
            "k1",
            1_700_000_000_000,
            &RawPayload::Json(r#"{"event":"call_started","x":1}"#.into()),
        );
        let second = append_raw(
            Some(&first),
            "k2",
            1_700_000_001_000,
            &RawPayload::Text("CallSid=CA1&CallStatus=completed".into()),
        )
        .unwrap()
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
    fn appending_keeps_any_stored_array_valid() {
        for stored in [
            "[]",
            "[ ]\n",
            "[{\"event_key\":\"k0\",\"payload\":[1, 2]}]  \n",
        ] {
            let doc = append_raw(
                Some(stored.as_bytes()),
                "k9",
                0,
                &RawPayload::Json("[]".into()),
            )
            .unwrap()
            .unwrap();
            let entries = entries(&doc);
            assert_eq!(entries.last().unwrap()["event_key"], "k9", "{stored}");
            assert_eq!(entries.len(), if stored.contains("k0") { 2 } else { 1 });
        }
    }

    #[test]
    fn payloads_are_stored_as_json_only_when_they_are() {
        assert!(matches!(
            RawPayload::detect("{\"a\": 1}".into()),
            RawPayload::Json(_)
        ));
        assert!(matches!(
            RawPayload::detect("a=1&b=2".into()),
            RawPayload::Text(_)
        ));
        assert!(matches!(
            RawPayload::detect("{\"a\": 1".into()),
            RawPayload::Text(_)
        ));
    }

    #[test]
    fn long_webhook_ids_are_kept_as_their_digest() {
        assert_eq!(event_key_of_webhook_id("msg_2Kx"), "webhook-id:msg_2Kx");
        let long = "f".repeat(3_000);
        let key = event_key_of_webhook_id(&long);
        assert!(
            key.len() < 100 && key.starts_with("webhook-id-sha256:"),
            "{key}"
        );
        assert_eq!(
            key,
            event_key_of_webhook_id(&long),
            "a retry is the same event"
        );
        assert_ne!(key, event_key_of_webhook_id(&"f".repeat(3_001)));
    }

    #[test]
    fn a_batch_that_does_not_commit_leaves_the_version_it_was_built_on() {
        let scope =
            crate::auth::Operator::command_line().scope_for(switchboard_core::TenantId::generate());
        let key = ObjectKey::raw(&scope, CallId::generate());
        let unsynced = Unsynced::default();
        let newest = |u: &Unsynced| u.get(&key).map(|b| b.to_vec());
        let written = |u: &Unsynced| -> Vec<Vec<u8>> {
            u.all().into_iter().map(|(_, _, b)| b.to_vec()).collect()
        };
        let k1 = unsynced.register(1, vec![(key.clone(), Bytes::from_static(b"[m]"))]);
        assert!(written(&unsynced).is_empty(), "not committed: not written");
        unsynced.committed(1, k1);
        let k2 = unsynced.register(2, vec![(key.clone(), Bytes::from_static(b"[m,n]"))]);
        assert_eq!(newest(&unsynced), Some(b"[m,n]".to_vec()), "built upon");
        assert_eq!(
            written(&unsynced),
            [b"[m]".to_vec()],
            "written: the committed one"
        );
        unsynced.forget_batch(2, k2);
        assert_eq!(newest(&unsynced), Some(b"[m]".to_vec()));
        // A batch that commits needs nothing to fall back on.
        let k3 = unsynced.register(3, vec![(key.clone(), Bytes::from_static(b"[m,o]"))]);
        unsynced.committed(3, k3);
        assert_eq!(unsynced.map()[&key].len(), 1);
        assert_eq!(written(&unsynced), [b"[m,o]".to_vec()]);
        // Written, that version goes, and with it any older one; a version
        // registered after the round took its versions stays.
        let k4 = unsynced.register(4, vec![(key.clone(), Bytes::from_static(b"[m,o,p]"))]);
        unsynced.forget([(key.clone(), 3)]);
        assert_eq!(newest(&unsynced), Some(b"[m,o,p]".to_vec()));
        unsynced.committed(4, k4);
        unsynced.forget([(key.clone(), 4)]);
        assert!(unsynced.map().is_empty());
    }

    #[tokio::test]
    async fn a_deleted_calls_unwritten_versions_are_forgotten_and_no_others() {
        let scope =
            crate::auth::Operator::command_line().scope_for(switchboard_core::TenantId::generate());
        let (gone, kept) = (CallId::generate(), CallId::generate());
        let unsynced = Unsynced::default();
        let keys = |call| [ObjectKey::raw(&scope, call), ObjectKey::meta(&scope, call)];
        let k1 = unsynced.register(
            1,
            keys(gone)
                .into_iter()
                .chain(keys(kept))
                .map(|k| (k, Bytes::from_static(b"[]")))
                .collect(),
        );
        unsynced.committed(1, k1);
        unsynced.forget_keys(&keys(gone)).await;
        let mut left: Vec<ObjectKey> = unsynced.all().into_iter().map(|(k, ..)| k).collect();
        left.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let mut expected = keys(kept).to_vec();
        expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(left, expected);
    }

    /// A deleted call's objects are removed after its versions are
    /// forgotten; a sync round that took them before must finish first, or
    /// it would write them back after the removal.
    #[tokio::test]
    async fn forgetting_waits_for_the_round_that_took_the_versions() {
        let scope =
            crate::auth::Operator::command_line().scope_for(switchboard_core::TenantId::generate());
        let key = ObjectKey::raw(&scope, CallId::generate());
        let unsynced = Unsynced::default();
        let k1 = unsynced.register(1, vec![(key.clone(), Bytes::from_static(b"[]"))]);
        unsynced.committed(1, k1);
        let (round, taken) = unsynced.begin_round().await;
        assert_eq!(taken.len(), 1);
        let forgetting = tokio::spawn({
            let (unsynced, key) = (unsynced.clone(), key.clone());
            async move { unsynced.forget_keys(&[key]).await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !forgetting.is_finished(),
            "forgotten while a round may still write the key"
        );
        // Already gone for the next round, though.
        assert!(unsynced.all().is_empty());
        drop(round);
        forgetting.await.unwrap();
        let (_, next) = unsynced.begin_round().await;
        assert!(next.is_empty());
    }

    #[test]
    fn an_entry_left_by_an_uncommitted_batch_is_not_repeated() {
        let first = raw_document("k1", 1, &RawPayload::Json("{}".into()));
        assert!(
            append_raw(Some(&first), "k1", 2, &RawPayload::Json("{}".into()))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_stored_document_that_does_not_parse_stops_the_write() {
        assert!(matches!(
            append_raw(
                Some(b"[{\"event_key\":"),
                "k2",
                2,
                &RawPayload::Json("{}".into())
            ),
            Err(IngestError::Batch(_))
        ));
    }
}
