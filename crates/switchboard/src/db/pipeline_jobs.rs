//! The analysis pipeline's jobs: one row per call, claimed with a lease
//! that expires (so a crashed worker's job is taken up again), retried on a
//! backoff schedule, and ended `done`, `failed` (with its error), or waiting
//! for what it lacks (`needs_transcription`, `no_transcript`).

use sqlx::Row as _;
use switchboard_core::CallId;

use super::{now_ms, parse_col, Backend, DbResult, TenantTx};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
    /// Audio only, and no transcription endpoint is configured.
    NeedsTranscription,
    /// Neither a transcript nor audio: nothing to analyse.
    NoTranscript,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::NeedsTranscription => "needs_transcription",
            JobStatus::NoTranscript => "no_transcript",
        }
    }
}

impl std::str::FromStr for JobStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "failed" => JobStatus::Failed,
            "needs_transcription" => JobStatus::NeedsTranscription,
            "no_transcript" => JobStatus::NoTranscript,
            _ => return Err(()),
        })
    }
}

#[derive(Clone, Debug)]
pub struct Job {
    pub call_id: CallId,
    pub status: JobStatus,
    /// The stage reached: `transcribe`, `enrich`, `analyse` or `finalise`.
    pub stage: String,
    pub revision: i64,
    pub attempts: i64,
    pub run_at: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// A job taken by a worker: it must finish with the same revision.
#[derive(Clone, Copy, Debug)]
pub struct Claimed {
    pub call_id: CallId,
    pub revision: i64,
    pub attempts: i64,
}

/// Queues the call for analysis (again): a new revision, attempts reset.
pub async fn enqueue(tx: &mut TenantTx, call: CallId, run_at: i64) -> DbResult<()> {
    enqueue_many(tx, &[call], run_at).await
}

/// The statement that queues calls, around its rows: each row is
/// `(tenant, call, 'queued', 'enrich', 1, 0, run_at, NULL, NULL, now, now)`.
/// A call queued before is queued again as a new revision.
pub(crate) const ENQUEUE: (&str, &str) = (
    "INSERT INTO pipeline_jobs (tenant_id, call_id, status, stage, revision, attempts, run_at, \
        lease_until, last_error, created_at, updated_at)",
    "ON CONFLICT (tenant_id, call_id) DO UPDATE SET status = 'queued', stage = 'enrich', \
        revision = pipeline_jobs.revision + 1, attempts = 0, run_at = excluded.run_at, \
        lease_until = NULL, last_error = NULL, updated_at = excluded.updated_at",
);

/// [`enqueue`] for several calls in one statement.
pub async fn enqueue_many(tx: &mut TenantTx, calls: &[CallId], run_at: i64) -> DbResult<()> {
    if calls.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..calls.len())
        .map(|i| {
            format!(
                "($1, ${}, 'queued', 'enrich', 1, 0, $2, NULL, NULL, $3, $3)",
                i + 4
            )
        })
        .collect();
    let (insert, again) = ENQUEUE;
    let sql = format!("{insert} VALUES {} {again}", rows.join(", "));
    let mut query = sqlx::query(&sql)
        .bind(tx.tenant_param())
        .bind(run_at)
        .bind(now_ms());
    for call in calls {
        query = query.bind(call.to_string());
    }
    query.execute(tx.conn()).await?;
    Ok(())
}

/// Takes up to `limit` due jobs — queued and due, or running with an
/// expired lease — under a lease until `lease_until`. On PostgreSQL, rows
/// another worker is claiming are skipped rather than waited for.
pub async fn claim(
    tx: &mut TenantTx,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> DbResult<Vec<Claimed>> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let due = "((status = 'queued' AND run_at <= $3) OR (status = 'running' AND lease_until < $3))";
    let rows = sqlx::query(&format!(
        "UPDATE pipeline_jobs SET status = 'running', attempts = attempts + 1, lease_until = $2, \
            updated_at = $3 \
         WHERE tenant_id = $1 AND {due} AND call_id IN ( \
            SELECT call_id FROM pipeline_jobs WHERE tenant_id = $1 AND {due} \
            ORDER BY run_at LIMIT $4{lock}) \
         RETURNING call_id, revision, attempts"
    ))
    .bind(tx.tenant_param())
    .bind(lease_until)
    .bind(now)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Claimed {
                call_id: parse_col(&r.try_get::<String, _>("call_id")?, "call_id")?,
                revision: r.try_get("revision")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .collect()
}

/// Ends a claimed run with `status` (`stage` reached, `error` when it
/// failed, `run_at` for a retry). `false` when the job was re-queued or
/// re-claimed since: the run was overtaken and must not write its results.
/// On PostgreSQL this takes the job's row lock, so the caller's writes that
/// follow in the same transaction cannot interleave with a newer run's; a
/// job whose row another transaction holds (ingest queueing a new revision
/// of it) counts as overtaken instead of being waited for. A pipeline batch
/// finishes many jobs in one transaction while an ingest batch may be
/// queueing several of them in another order: waiting could deadlock, and
/// the new revision, once committed, supersedes this run anyway (if it rolls
/// back, the lease expires and the job runs again).
pub async fn finish(
    tx: &mut TenantTx,
    claimed: &Claimed,
    status: JobStatus,
    stage: &str,
    error: Option<&str>,
    run_at: Option<i64>,
) -> DbResult<bool> {
    let unless_locked = match tx.backend() {
        Backend::Postgres => {
            " AND call_id IN (SELECT call_id FROM pipeline_jobs \
                WHERE tenant_id = $1 AND call_id = $2 FOR UPDATE SKIP LOCKED)"
        }
        Backend::Sqlite => "",
    };
    let done = sqlx::query(&format!(
        "UPDATE pipeline_jobs SET status = $5, stage = $6, last_error = $7, \
            run_at = COALESCE($8, run_at), lease_until = NULL, updated_at = $9 \
         WHERE tenant_id = $1 AND call_id = $2 AND revision = $3 AND attempts = $4 \
            AND status = 'running'{unless_locked}"
    ))
    .bind(tx.tenant_param())
    .bind(claimed.call_id.to_string())
    .bind(claimed.revision)
    .bind(claimed.attempts)
    .bind(status.as_str())
    .bind(stage)
    .bind(error)
    .bind(run_at)
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn get(tx: &mut TenantTx, call: CallId) -> DbResult<Option<Job>> {
    let row = sqlx::query(
        "SELECT call_id, status, stage, revision, attempts, run_at, last_error, updated_at \
         FROM pipeline_jobs WHERE tenant_id = $1 AND call_id = $2",
    )
    .bind(tx.tenant_param())
    .bind(call.to_string())
    .fetch_optional(tx.conn())
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Job {
        call_id: parse_col(&r.try_get::<String, _>("call_id")?, "call_id")?,
        status: parse_col(&r.try_get::<String, _>("status")?, "status")?,
        stage: r.try_get("stage")?,
        revision: r.try_get("revision")?,
        attempts: r.try_get("attempts")?,
        run_at: r.try_get("run_at")?,
        last_error: r.try_get("last_error")?,
        updated_at: r.try_get("updated_at")?,
    }))
}

pub async fn delete(tx: &mut TenantTx, call: CallId) -> DbResult<()> {
    sqlx::query("DELETE FROM pipeline_jobs WHERE tenant_id = $1 AND call_id = $2")
        .bind(tx.tenant_param())
        .bind(call.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// How many of the tenant's jobs are in each status.
pub async fn counts(tx: &mut TenantTx) -> DbResult<Vec<(JobStatus, i64)>> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM pipeline_jobs WHERE tenant_id = $1 GROUP BY status ORDER BY status",
    )
    .bind(tx.tenant_param())
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                parse_col(&r.try_get::<String, _>("status")?, "status")?,
                r.try_get("n")?,
            ))
        })
        .collect()
}
