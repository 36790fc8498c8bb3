//! The analysis pipeline: every call with a transcript is analysed once per
//! version of its events, durably.
//!
//! Ingest queues a job in the same transaction that stores the event
//! (`pipeline_jobs`, one row per call) and, after the commit, hints this
//! node's workers with the tenant. Workers claim due jobs under a lease,
//! run the stages — transcribe (audio-only calls wait as
//! `needs_transcription` until a transcription endpoint exists), enrich and
//! analyse (the pure `switchboard_analysis::analyse`, off the async
//! threads), finalise (analysis row, the day's rollup, `enriched/` and
//! `final/v1.0/` objects, job `done`) — and a failure is retried on a
//! backoff schedule until it is `failed` with its error. A claimed batch
//! is read in one query and finalised in one transaction: per call, the
//! round trips to the database and the commit were most of the pipeline's
//! cost (BENCHMARKS.md).
//!
//! Every stage is idempotent: results are keyed by call and replaced, a
//! call's previous figures are counted out of its rollup as the new ones
//! are counted in, and a run finishes only if its job still has the
//! revision and attempt it claimed, so a run overtaken by a newer event of
//! its call writes nothing.
//!
//! Jobs of other nodes, retries and expired leases are found by a sweep of
//! every tenant at `poll_interval_ms`.

pub mod flat;
mod llm;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use serde::Serialize;
use switchboard_analysis::ai_config::AiConfig;
use switchboard_analysis::qa::QaConfig;
use switchboard_analysis::CallAnalysis;
use switchboard_core::{CallId, IndustryTemplate, TenantId};
use tokio::sync::Notify;

use crate::auth::{Operator, TenantScope};
use crate::db::analyses::{self, AnalysisRow, Figures};
use crate::db::calls::{self, CallRecord};
use crate::db::pipeline_jobs::{self, Claimed, JobStatus};
use crate::db::rollups::{self, Rollup};
use crate::db::tenant_configs::{self, ConfigKind};
use crate::db::{now_ms, tenants, Db, DbError, Mode, TenantTx};
use crate::http::routes::{day_text, utc, utc_day};
use crate::http::AppState;
use crate::ingest::CallView;
use crate::objects::ObjectKey;

/// The rubric a new tenant starts with, by industry.
pub fn starter_rubric(industry: IndustryTemplate) -> &'static str {
    match industry {
        IndustryTemplate::Insurance => include_str!("starter/insurance.json"),
        IndustryTemplate::RealEstate => include_str!("starter/real_estate.json"),
        IndustryTemplate::Generic => include_str!("starter/generic.json"),
    }
}

/// Wakes this node's workers when ingest has queued work.
#[derive(Clone, Default)]
pub struct Hints {
    inner: Arc<HintsInner>,
}

#[derive(Default)]
struct HintsInner {
    tenants: Mutex<HashSet<TenantId>>,
    wake: Notify,
}

impl Hints {
    pub fn tenant_has_work(&self, tenant: TenantId) {
        self.inner
            .tenants
            .lock()
            .expect("hint set poisoned")
            .insert(tenant);
        self.inner.wake.notify_one();
    }

    fn take(&self) -> Vec<TenantId> {
        self.inner
            .tenants
            .lock()
            .expect("hint set poisoned")
            .drain()
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("object store: {0}")]
    Objects(#[from] object_store::Error),
    #[error("stored configuration is unreadable: {0}")]
    Config(String),
    #[error("the analysis task failed: {0}")]
    Task(String),
    #[error("LLM: {0}")]
    Llm(crate::openai::EndpointError),
    #[error("transcription: {0}")]
    Transcription(crate::openai::EndpointError),
    #[error("ingesting the transcript: {0}")]
    Ingest(#[from] crate::ingest::IngestError),
    #[error("the tenant's LLM key cannot be opened")]
    Credential,
    #[error("the job's lease expired on every attempt")]
    LeasesExpired,
}

/// The tenant's configuration in force, with the versions that scored a call.
pub struct ActiveConfig {
    pub ai: AiConfig,
    pub ai_version: Option<i64>,
    pub qa: QaConfig,
    pub qa_version: Option<i64>,
}

/// The tenant's active ai-config and rubric; a tenant that never saved a
/// rubric is scored with its industry's starter.
pub async fn active_config(tx: &mut TenantTx) -> Result<ActiveConfig, StageError> {
    let bad = |e: Vec<switchboard_analysis::qa::FieldError>| {
        StageError::Config(
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    };
    let (ai, ai_version) = match tenant_configs::active(tx, ConfigKind::Ai).await? {
        Some(v) => (
            switchboard_analysis::ai_config::parse_config(v.document.as_bytes()).map_err(bad)?,
            Some(v.version),
        ),
        None => (AiConfig::default(), None),
    };
    let (qa, qa_version) = match tenant_configs::active(tx, ConfigKind::Qa).await? {
        Some(v) => (
            switchboard_analysis::qa::parse_config(v.document.as_bytes()).map_err(bad)?,
            Some(v.version),
        ),
        None => {
            let industry = tenants::own(tx).await?.industry;
            (
                switchboard_analysis::qa::parse_config(starter_rubric(industry).as_bytes())
                    .map_err(bad)?,
                None,
            )
        }
    };
    Ok(ActiveConfig {
        ai,
        ai_version,
        qa,
        qa_version,
    })
}

/// How the pipeline behaves (`[pipeline]` in the configuration file).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Whether `serve` runs workers in-process (`worker` always does).
    pub workers: bool,
    /// Jobs analysed at once per node.
    pub concurrency: usize,
    /// How often every tenant is swept for due jobs (retries, expired
    /// leases, other nodes' work).
    pub poll_interval_ms: u64,
    /// How long a claimed job is a worker's before another may take it.
    pub lease_secs: u64,
    /// Runs before a job is `failed`.
    pub max_attempts: i64,
    /// The first retry waits this long; each next one four times longer.
    pub retry_base_ms: u64,
    /// A day's flat output files are rewritten once its analyses have not
    /// changed for this long (a busy day is not rewritten per call).
    pub flat_interval_ms: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            workers: true,
            concurrency: 2,
            poll_interval_ms: 2_000,
            lease_secs: 120,
            max_attempts: 5,
            retry_base_ms: 2_000,
            flat_interval_ms: 10_000,
        }
    }
}

impl PipelineConfig {
    /// The wait before the retry that follows `attempts` runs, capped at an hour.
    pub fn backoff_ms(&self, attempts: i64) -> i64 {
        let exp = attempts.saturating_sub(1).clamp(0, 10) as u32;
        (self.retry_base_ms.saturating_mul(4u64.saturating_pow(exp))).min(3_600_000) as i64
    }
}

/// Jobs claimed per round trip.
const CLAIM_BATCH: i64 = 32;

/// Runs workers until the task is dropped: on a hint, the hinted tenants;
/// every poll interval, all of them.
pub async fn run_workers(state: AppState) {
    let cfg = state.config.pipeline.clone();
    let poll = Duration::from_millis(cfg.poll_interval_ms.max(10));
    let mut next_sweep = tokio::time::Instant::now();
    loop {
        let sweep = tokio::time::Instant::now() >= next_sweep;
        let tenants: Vec<TenantId> = if sweep {
            next_sweep = tokio::time::Instant::now() + poll;
            state.pipeline.take();
            match crate::tenancy::all(&state.db).await {
                Ok(all) => all.into_iter().map(|t| t.id).collect(),
                Err(e) => {
                    tracing::error!(error = %e, "listing tenants for the pipeline failed");
                    Vec::new()
                }
            }
        } else {
            state.pipeline.take()
        };
        for tenant in tenants {
            let scope = Operator::command_line().scope_for(tenant);
            if let Err(e) = drain_tenant(&state, &scope).await {
                tracing::error!(error = %e, tenant = %tenant, "claiming pipeline jobs failed");
            }
            if let Err(e) = flat::flush(&state, &scope, cfg.flat_interval_ms as i64).await {
                tracing::error!(error = %e, tenant = %tenant, "writing flat outputs failed");
            }
        }
        tokio::select! {
            _ = state.pipeline.inner.wake.notified() => {}
            _ = tokio::time::sleep_until(next_sweep) => {}
        }
    }
}

/// Runs the tenant's due jobs until none is left; returns how many ran.
pub async fn drain_tenant(state: &AppState, scope: &TenantScope) -> Result<usize, DbError> {
    let cfg = &state.config.pipeline;
    let mut ran = 0;
    loop {
        let now = now_ms();
        let mut tx = state.db.tenant(scope, Mode::Write).await?;
        let claimed = pipeline_jobs::claim(
            &mut tx,
            now,
            now + cfg.lease_secs as i64 * 1000,
            CLAIM_BATCH,
        )
        .await?;
        if claimed.is_empty() {
            tx.commit().await?;
            return Ok(ran);
        }
        // One read of the tenant's configuration serves the whole batch.
        let config = active_config(&mut tx).await.map(Arc::new);
        tx.commit().await?;
        ran += claimed.len();
        run_batch(state, scope, &config, claimed).await;
    }
}

/// One run of a claimed batch, every job ending in a recorded outcome
/// whatever happens. Jobs are analysed side by side; the analyses that are
/// ready are then stored in one transaction, so a batch costs one commit
/// (one fsync on SQLite) and each rollup bucket it touches is written once.
async fn run_batch(
    state: &AppState,
    scope: &TenantScope,
    config: &Result<Arc<ActiveConfig>, StageError>,
    claimed: Vec<Claimed>,
) {
    let cfg = &state.config.pipeline;
    let mut calls = match read_calls(state, scope, &claimed).await {
        Ok(calls) => calls,
        Err(e) => {
            let e = StageError::Db(e);
            for job in &claimed {
                record_failure(state, scope, job, &e).await;
            }
            return;
        }
    };
    let jobs = claimed.into_iter().map(|job| {
        let call = calls.remove(&job.call_id);
        (job, call)
    });
    let prepared: Vec<(Claimed, Result<Step, StageError>)> = futures_util::stream::iter(jobs)
        .map(|(job, call)| async move {
            let step = match config {
                // Leases ran out this often: the job kills its workers.
                _ if job.attempts > cfg.max_attempts => Err(StageError::LeasesExpired),
                Ok(config) => prepare(state, scope, config.clone(), &job, call).await,
                Err(e) => Err(StageError::Config(e.to_string())),
            };
            (job, step)
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .collect()
        .await;
    let mut ready = Vec::with_capacity(prepared.len());
    for (job, step) in prepared {
        match step {
            Ok(Step::Ready(analysed)) => ready.push(*analysed),
            Ok(Step::Done(outcome)) => {
                tracing::debug!(call = %job.call_id, ?outcome, "a pipeline job ran")
            }
            Err(e) => record_failure(state, scope, &job, &e).await,
        }
    }
    if ready.is_empty() {
        return;
    }
    // Jobs, analyses and rollups are locked in one order by every batch.
    ready.sort_by_key(|a| a.job.call_id);
    if let Err(e) = store(state, scope, &ready).await {
        for analysed in &ready {
            record_failure(state, scope, &analysed.job, &e).await;
        }
    }
}

/// The batch's calls by id, read together; a deleted call is missing.
async fn read_calls(
    state: &AppState,
    scope: &TenantScope,
    jobs: &[Claimed],
) -> Result<HashMap<CallId, CallRecord>, DbError> {
    let ids: Vec<CallId> = jobs.iter().map(|j| j.call_id).collect();
    let mut tx = state.db.tenant(scope, Mode::Read).await?;
    let calls = calls::get_many(&mut tx, &ids).await?;
    tx.commit().await?;
    Ok(calls.into_iter().map(|c| (c.id, c)).collect())
}

async fn record_failure(state: &AppState, scope: &TenantScope, job: &Claimed, error: &StageError) {
    let retry = job.attempts < state.config.pipeline.max_attempts
        && !matches!(error, StageError::LeasesExpired);
    tracing::warn!(%error, call = %job.call_id, attempts = job.attempts, retry, "a pipeline stage failed");
    let outcome = async {
        let mut tx = state.db.tenant(scope, Mode::Write).await?;
        let (status, run_at) = if retry {
            (
                JobStatus::Queued,
                Some(now_ms() + state.config.pipeline.backoff_ms(job.attempts)),
            )
        } else {
            (JobStatus::Failed, None)
        };
        let error = error.to_string();
        pipeline_jobs::finish(&mut tx, job, status, "enrich", Some(&error), run_at).await?;
        tx.commit().await
    };
    if let Err(e) = outcome.await {
        // The lease will expire and the job be taken up again.
        tracing::error!(error = %e, call = %job.call_id, "recording a pipeline failure failed");
    }
}

/// What became of a run.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Waiting for what it lacks; see [`JobStatus`].
    Waiting(JobStatus),
    /// The call is gone.
    CallDeleted,
    /// A newer revision or attempt owns the job now.
    Overtaken,
}

/// Where a job stands after its stages up to finalising.
enum Step {
    /// Finished without an analysis to store.
    Done(Outcome),
    /// Analysed; its row and objects are stored with its batch.
    Ready(Box<Analysed>),
}

/// An analysis ready to be stored, with its objects' bytes.
struct Analysed {
    job: Claimed,
    row: AnalysisRow,
    llm_used: Option<LlmUse>,
    enriched: bytes::Bytes,
    final_doc: bytes::Bytes,
}

/// Every stage of one claimed job but the storing of its analysis:
/// transcribe or analyse its call (`None` when deleted), ask the LLM when
/// one is configured, and make the `enriched/` and `final/v1.0/` objects.
async fn prepare(
    state: &AppState,
    scope: &TenantScope,
    config: Arc<ActiveConfig>,
    job: &Claimed,
    call: Option<CallRecord>,
) -> Result<Step, StageError> {
    let db = &state.db;
    let Some(mut call) = call else {
        let mut tx = db.tenant(scope, Mode::Write).await?;
        pipeline_jobs::delete(&mut tx, job.call_id).await?;
        tx.commit().await?;
        return Ok(Step::Done(Outcome::CallDeleted));
    };
    crate::ingest::load_turns(&state.objects, scope, &mut call).await?;

    // Transcribe: an audio-only call is transcribed when an endpoint is
    // configured — the transcript comes back in as an event of the call,
    // which queues a new revision of this job — and waits visibly otherwise.
    let turns = call.fields.turns_here().unwrap_or_default().to_vec();
    if turns.is_empty() {
        let mut status = JobStatus::NoTranscript;
        if call.audio_status == "stored" {
            let endpoint =
                crate::openai::Endpoint::new(&state.http, &state.config.transcription, None);
            match endpoint {
                Some(endpoint) => {
                    if transcribe(state, scope, &call, &endpoint, &config.ai.language).await? {
                        return Ok(Step::Done(Outcome::Overtaken));
                    }
                }
                None => status = JobStatus::NeedsTranscription,
            }
        }
        let mut tx = db.tenant(scope, Mode::Write).await?;
        let mine = pipeline_jobs::finish(&mut tx, job, status, "transcribe", None, None).await?;
        tx.commit().await?;
        return Ok(Step::Done(if mine {
            Outcome::Waiting(status)
        } else {
            Outcome::Overtaken
        }));
    }

    // Enrich and analyse: pure and CPU-bound, so off the async threads.
    let duration_s = call.fields.duration_ms.map(|ms| ms as f64 / 1000.0);
    let analysing = config.clone();
    let mut analysis = tokio::task::spawn_blocking(move || {
        switchboard_analysis::analyse(&turns, duration_s, &analysing.ai, Some(&analysing.qa))
    })
    .await
    .map_err(|e| StageError::Task(e.to_string()))?;

    // With an LLM configured, it writes the summary and next steps and
    // answers the rubric's questions, from the redacted transcript.
    let mut llm_used = None;
    if let Some(endpoint) = llm_endpoint(state, scope, &config.ai).await? {
        let usage = llm::enrich(&endpoint, &config.ai, &config.qa, &mut analysis)
            .await
            .map_err(StageError::Llm)?;
        llm_used = Some(LlmUse {
            model: endpoint.model().to_owned(),
            usage,
        });
    }

    let analysed_at = now_ms();
    let stored = StoredAnalysis {
        ai_config_version: config.ai_version,
        qa_config_version: config.qa_version,
        rubric_version: config.qa.version.clone(),
        analysed_at: crate::http::routes::rfc3339(analysed_at),
        llm: llm_used.clone(),
        analysis: &analysis,
    };
    let row = analysis_row(&call, job, &analysis, &stored, analysed_at);
    let view = CallView::new(call.clone(), false);
    let enriched = serde_json::to_vec(&EnrichedDoc {
        call_id: call.id,
        analyser_version: analysis.analyser_version,
        redaction: &analysis.redaction,
        turns: &analysis.turns,
        sentiment: &analysis.sentiment,
        talk: &analysis.talk,
        entities: &analysis.entities,
        key_phrases: &analysis.key_phrases,
    })
    .expect("serialises");
    // The stored document is already JSON: the final object embeds it as is.
    let final_doc = serde_json::to_vec(&FinalDoc {
        call: &view,
        analysis: &serde_json::value::RawValue::from_string(row.document.clone())
            .expect("the document is JSON"),
    })
    .expect("serialises");
    Ok(Step::Ready(Box::new(Analysed {
        job: *job,
        row,
        llm_used,
        enriched: enriched.into(),
        final_doc: final_doc.into(),
    })))
}

/// Finalises a batch of analyses in one transaction: each job is taken
/// first, which both checks the run still owns it and holds its row lock
/// (on SQLite, the write lock), so a newer run's writes — objects included —
/// wait for ours; an overtaken run writes nothing. Each call's previous
/// figures are counted out of their rollup as the new ones are counted in.
/// The objects are written before the commit, so a committed analysis has
/// them.
async fn store(
    state: &AppState,
    scope: &TenantScope,
    batch: &[Analysed],
) -> Result<(), StageError> {
    let mut tx = state.db.tenant(scope, Mode::Write).await?;
    match finalise(state, scope, &mut tx, batch).await {
        Ok(stored) => {
            tx.commit().await?;
            for call in stored {
                let analysed = crate::events::Event::analysed(call);
                state.events.publish(scope.tenant_id(), analysed);
            }
            Ok(())
        }
        Err(e) => {
            // Released now, so recording the failures does not find the
            // jobs still held (and skip them as overtaken).
            if let Err(rollback) = tx.rollback().await {
                tracing::error!(error = %rollback, "rolling back a pipeline batch failed");
            }
            Err(e)
        }
    }
}

/// The writes of [`store`], in its transaction; the calls stored.
async fn finalise(
    state: &AppState,
    scope: &TenantScope,
    tx: &mut TenantTx,
    batch: &[Analysed],
) -> Result<Vec<CallId>, StageError> {
    let mut changes: BTreeMap<(String, String), Rollup> = BTreeMap::new();
    let mut days = BTreeSet::new();
    let mut stored = Vec::with_capacity(batch.len());
    for analysed in batch {
        let (job, row) = (&analysed.job, &analysed.row);
        if !pipeline_jobs::finish(tx, job, JobStatus::Done, "finalise", None, None).await? {
            tracing::debug!(call = %job.call_id, outcome = ?Outcome::Overtaken, "a pipeline job ran");
            continue;
        }
        if let Some((day, agent, figures)) = analyses::stored_figures(tx, row.call_id).await? {
            changes
                .entry((day.clone(), agent))
                .or_insert_with(Rollup::empty)
                .count(&figures, -1);
            days.insert(day);
        }
        analyses::upsert(tx, row).await?;
        changes
            .entry((row.day.clone(), row.agent_id.clone()))
            .or_insert_with(Rollup::empty)
            .count(&row.figures, 1);
        days.insert(row.day.clone());
        if let Some(used) = analysed.llm_used.as_ref().filter(|u| u.usage.requests > 0) {
            let day = utc_day(row.analysed_at);
            crate::db::usage::add_llm(tx, &day, &used.model, used.usage).await?;
        }
        stored.push(analysed);
    }
    for ((day, agent), change) in &changes {
        rollups::add(tx, day, agent, change).await?;
    }
    let now = now_ms();
    for day in &days {
        crate::db::flat_days::mark(tx, day, now).await?;
    }
    let puts: Vec<(ObjectKey, bytes::Bytes)> = stored
        .iter()
        .flat_map(|a| {
            let call = a.row.call_id;
            [
                (ObjectKey::enriched(scope, call), a.enriched.clone()),
                (ObjectKey::final_v1(scope, call), a.final_doc.clone()),
            ]
        })
        .collect();
    state.objects.put_all(puts).await?;
    Ok(stored.iter().map(|a| a.row.call_id).collect())
}

/// The LLM endpoint for this tenant: the platform's, with the tenant's own
/// key when it has one; `None` when no LLM is configured.
async fn llm_endpoint(
    state: &AppState,
    scope: &TenantScope,
    ai: &AiConfig,
) -> Result<Option<crate::openai::Endpoint>, StageError> {
    if state.config.llm.base_url.is_none() {
        return Ok(None);
    }
    let byok = crate::http::routes::credentials::open_credential(
        state,
        scope,
        crate::db::credentials::CredentialProvider::Llm,
    )
    .await
    .map_err(|_| StageError::Credential)?
    .and_then(|c| c["api_key"].as_str().map(str::to_owned));
    let mut config = state.config.llm.clone();
    if let Some(model) = &ai.model {
        config.model = model.clone();
    }
    Ok(crate::openai::Endpoint::new(&state.http, &config, byok))
}

/// Transcribes the call's stored audio and ingests the transcript; `false`
/// when the audio holds no speech.
async fn transcribe(
    state: &AppState,
    scope: &TenantScope,
    call: &CallRecord,
    endpoint: &crate::openai::Endpoint,
    language: &str,
) -> Result<bool, StageError> {
    use crate::objects::AudioFormat;
    let key = call
        .audio_key
        .as_deref()
        .and_then(|k| ObjectKey::stored(scope, k))
        .ok_or_else(|| StageError::Config("the call's audio key is not the tenant's".into()))?;
    let format = key
        .as_str()
        .rsplit('.')
        .next()
        .and_then(AudioFormat::from_extension)
        .unwrap_or(AudioFormat::Wav);
    let audio = state.objects.get(&key).await?;
    let file_name = format!("{}.{}", call.id, format.extension());
    let (transcription, raw) = endpoint
        .transcribe(audio, &file_name, format.content_type(), Some(language))
        .await
        .map_err(StageError::Transcription)?;
    let turns = crate::openai::to_turns(&transcription);
    if turns.is_empty() {
        return Ok(false);
    }
    let update = switchboard_ingest::CallUpdate {
        external_id: call.external_id.clone(),
        stage: call.stage,
        occurred_at: Some(now_ms()),
        fields: switchboard_ingest::model::CallFields {
            turns: Some(turns.into()),
            ..Default::default()
        },
    };
    // One transcript per stored recording: a retry after a crash is a
    // duplicate event, not a second transcript.
    let event_key = format!(
        "transcription:{}",
        crate::ingest::event_key_of(key.as_str().as_bytes())
    );
    crate::ingest::accept(
        state,
        scope,
        call.source,
        // A transcript proves nothing about the agent's webhook URL: its
        // status and last webhook time stay the provider's events'.
        crate::ingest::Filing::quiet(call.agent_id),
        update,
        event_key,
        crate::ingest::RawPayload::detect(raw),
    )
    .await?;
    Ok(true)
}

/// `<tenant>/enriched/<call>.json`: the redacted transcript with the local
/// analysers' results.
#[derive(Serialize)]
struct EnrichedDoc<'a> {
    call_id: switchboard_core::CallId,
    analyser_version: u32,
    redaction: &'a switchboard_analysis::Redaction,
    turns: &'a [switchboard_ingest::Turn],
    sentiment: &'a switchboard_analysis::sentiment::CallSentiment,
    talk: &'a switchboard_analysis::talk::TalkMetrics,
    entities: &'a [switchboard_analysis::entities::Entity],
    key_phrases: &'a [switchboard_analysis::entities::KeyPhrase],
}

/// `<tenant>/final/v1.0/<call>.json`: the call and its whole analysis.
#[derive(Serialize)]
struct FinalDoc<'a> {
    call: &'a CallView,
    analysis: &'a serde_json::value::RawValue,
}

/// Which model an analysis used and what it cost in tokens.
#[derive(Clone, Serialize)]
pub struct LlmUse {
    pub model: String,
    pub usage: crate::openai::Usage,
}

/// The analysis document as stored and served.
#[derive(Serialize)]
pub struct StoredAnalysis<'a> {
    pub ai_config_version: Option<i64>,
    pub qa_config_version: Option<i64>,
    pub rubric_version: Option<String>,
    pub analysed_at: String,
    /// Present when an LLM wrote the summary and answered the questions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmUse>,
    #[serde(flatten)]
    #[serde(serialize_with = "without_word_timings")]
    pub analysis: &'a CallAnalysis,
}

/// The analysis with its turns' text and times but not their word timings,
/// which the `enriched/` object keeps: they are most of a transcript's
/// JSON, and the stored document, the API and the final object need none.
fn without_word_timings<S: serde::Serializer>(a: &&CallAnalysis, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct TurnText<'t> {
        speaker: switchboard_ingest::Speaker,
        text: &'t str,
        #[serde(skip_serializing_if = "Option::is_none")]
        start: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        end: Option<f64>,
    }
    #[derive(Serialize)]
    struct View<'v> {
        analyser_version: u32,
        redaction: &'v switchboard_analysis::Redaction,
        turns: Vec<TurnText<'v>>,
        sentiment: &'v switchboard_analysis::sentiment::CallSentiment,
        talk: &'v switchboard_analysis::talk::TalkMetrics,
        entities: &'v [switchboard_analysis::entities::Entity],
        key_phrases: &'v [switchboard_analysis::entities::KeyPhrase],
        qa: &'v Option<switchboard_analysis::qa::QaResult>,
        summary: &'v switchboard_analysis::summary::Summary,
    }
    View {
        analyser_version: a.analyser_version,
        redaction: &a.redaction,
        turns: a
            .turns
            .iter()
            .map(|t| TurnText {
                speaker: t.speaker,
                text: &t.text,
                start: t.start,
                end: t.end,
            })
            .collect(),
        sentiment: &a.sentiment,
        talk: &a.talk,
        entities: &a.entities,
        key_phrases: &a.key_phrases,
        qa: &a.qa,
        summary: &a.summary,
    }
    .serialize(s)
}

fn milli(x: Option<f64>) -> Option<i64> {
    x.filter(|v| v.is_finite())
        .map(|v| (v * 1000.0).round() as i64)
}

/// The row of an analysis: its document, the figures its rollup counts,
/// and its lines of the day's flat files.
fn analysis_row(
    call: &CallRecord,
    job: &Claimed,
    a: &CallAnalysis,
    stored: &StoredAnalysis<'_>,
    analysed_at: i64,
) -> AnalysisRow {
    let started = utc(call.fields.started_at.unwrap_or(call.created_at));
    let day = day_text(started.date());
    let qa = a.qa.as_ref();
    let figures = Figures {
        hour: i64::from(started.hour()),
        weekday: i64::from(started.weekday().number_days_from_monday()),
        billable: !call.is_test,
        duration_ms: call
            .fields
            .duration_ms
            .or_else(|| Some(call.fields.ended_at? - call.fields.started_at?).filter(|d| *d >= 0))
            .unwrap_or(0),
        sentiment_agent: milli(a.sentiment.agent.overall),
        sentiment_customer: milli(a.sentiment.customer.overall),
        qa_score: qa.and_then(|q| q.score).map(|s| (s * 100.0).round() as i64),
        qa_passed: qa.and_then(|q| q.passed),
        categories: qa
            .map(|q| q.categories.iter().map(|c| c.id.clone()).collect())
            .unwrap_or_default(),
    };
    let (flat_call, flat_qa) = flat::lines(
        &flat::LineContext {
            call,
            day: &day,
            duration_ms: figures.duration_ms,
            rubric_version: stored.rubric_version.as_deref(),
            qa_config_version: stored.qa_config_version,
            analysed_at: &stored.analysed_at,
        },
        a,
    );
    AnalysisRow {
        call_id: call.id,
        revision: job.revision,
        analyser_version: i64::from(a.analyser_version),
        ai_config_version: stored.ai_config_version,
        qa_config_version: stored.qa_config_version,
        rubric_version: stored.rubric_version.clone(),
        day,
        agent_id: call.agent_id.map(|a| a.to_string()).unwrap_or_default(),
        figures,
        document: serde_json::to_string(stored).expect("analyses serialise"),
        flat_call,
        flat_qa,
        analysed_at,
    }
}

/// Queues every call of the tenant started at or after `since` (all when
/// `None`) for analysis again; returns how many.
pub async fn requeue_all(
    db: &Db,
    scope: &TenantScope,
    since: Option<i64>,
) -> Result<Vec<switchboard_core::CallId>, DbError> {
    let mut tx = db.tenant(scope, Mode::Write).await?;
    let ids = calls::ids_since(&mut tx, since).await?;
    let now = now_ms();
    for id in &ids {
        pipeline_jobs::enqueue(&mut tx, *id, now).await?;
    }
    tx.commit().await?;
    Ok(ids)
}

fn pending(counts: &[(JobStatus, i64)]) -> u64 {
    counts
        .iter()
        .filter(|(s, _)| matches!(s, JobStatus::Queued | JobStatus::Running))
        .map(|(_, n)| (*n).max(0) as u64)
        .sum()
}

/// The bar `settle` advances, for `total` jobs.
pub fn progress_bar(total: u64) -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} analysing {bar:40} {pos}/{len}  {per_sec}  eta {eta}",
        )
        .expect("a valid template"),
    )
}

/// Runs the tenant's jobs here until none is queued or running (waiting
/// out retries' backoff), advancing `bar` as they finish; returns the jobs
/// per status at the end.
pub async fn settle(
    state: &AppState,
    scope: &TenantScope,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<(JobStatus, i64)>, DbError> {
    let progress = {
        let (db, bar, scope) = (state.db.clone(), bar.clone(), *scope);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let Ok(mut tx) = db.tenant(&scope, Mode::Read).await else {
                    continue;
                };
                if let Ok(counts) = pipeline_jobs::counts(&mut tx).await {
                    bar.set_position(bar.length().unwrap_or(0).saturating_sub(pending(&counts)));
                }
            }
        })
    };
    let counts = loop {
        drain_tenant(state, scope).await?;
        let mut tx = state.db.tenant(scope, Mode::Read).await?;
        let counts = pipeline_jobs::counts(&mut tx).await?;
        tx.commit().await?;
        if pending(&counts) == 0 {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    progress.abort();
    bar.finish();
    if let Err(e) = flat::flush(state, scope, 0).await {
        tracing::error!(error = %e, "writing flat outputs failed");
    }
    Ok(counts)
}
