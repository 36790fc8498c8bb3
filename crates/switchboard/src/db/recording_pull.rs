//! The recording-provider pull of one tenant: its high-water mark, its lease
//! and the outcome of its last run.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::{DbResult, TenantTx};

#[derive(Clone, Debug, Default)]
pub struct PullState {
    pub high_water_mark: Option<i64>,
    pub lease_until: Option<i64>,
    pub next_run_at: i64,
    pub last_run_at: Option<i64>,
    /// `ok` or `failed`.
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub last_listed: i64,
    pub last_created: i64,
    pub total_created: i64,
    /// The recording whose download stopped the last `stuck_runs` runs.
    pub stuck_on: Option<String>,
    pub stuck_runs: i64,
}

const COLUMNS: &str =
    "high_water_mark, lease_until, next_run_at, last_run_at, last_status, last_error, \
    last_listed, last_created, total_created, stuck_on, stuck_runs";

fn from_row(r: &AnyRow) -> Result<PullState, sqlx::Error> {
    Ok(PullState {
        high_water_mark: r.try_get("high_water_mark")?,
        lease_until: r.try_get("lease_until")?,
        next_run_at: r.try_get("next_run_at")?,
        last_run_at: r.try_get("last_run_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        last_listed: r.try_get("last_listed")?,
        last_created: r.try_get("last_created")?,
        total_created: r.try_get("total_created")?,
        stuck_on: r.try_get("stuck_on")?,
        stuck_runs: r.try_get("stuck_runs")?,
    })
}

pub async fn get(tx: &mut TenantTx) -> DbResult<Option<PullState>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM recording_pull WHERE tenant_id = $1"
    ))
    .bind(tx.tenant_param())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// A lease asked for.
pub struct Lease<'a> {
    pub owner: &'a str,
    pub now: i64,
    pub until: i64,
    /// Only while the next run is due (a scheduled run: another node that
    /// found it due too may have just finished it).
    pub only_if_due: bool,
}

/// Takes the tenant's lease for `lease.owner` until `lease.until` unless
/// another run holds it; the update is atomic, so of two nodes racing only
/// one wins.
pub async fn try_lease(tx: &mut TenantTx, lease: Lease<'_>) -> DbResult<bool> {
    sqlx::query(
        "INSERT INTO recording_pull (tenant_id, next_run_at) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(tx.tenant_param())
    .bind(lease.now)
    .execute(tx.conn())
    .await?;
    let due = if lease.only_if_due {
        " AND next_run_at <= $3"
    } else {
        ""
    };
    let done = sqlx::query(&format!(
        "UPDATE recording_pull SET lease_until = $2, lease_owner = $4 \
         WHERE tenant_id = $1 AND (lease_until IS NULL OR lease_until < $3){due}"
    ))
    .bind(tx.tenant_param())
    .bind(lease.until)
    .bind(lease.now)
    .bind(lease.owner)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends `owner`'s lease to `until`; `false` when it is no longer
/// `owner`'s (it expired and another run took it).
pub async fn renew(tx: &mut TenantTx, owner: &str, until: i64) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE recording_pull SET lease_until = $3 WHERE tenant_id = $1 AND lease_owner = $2",
    )
    .bind(tx.tenant_param())
    .bind(owner)
    .bind(until)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves the high-water mark forward (never back).
pub async fn advance(tx: &mut TenantTx, mark: i64) -> DbResult<()> {
    sqlx::query(
        "UPDATE recording_pull SET high_water_mark = $2 \
         WHERE tenant_id = $1 AND (high_water_mark IS NULL OR high_water_mark < $2)",
    )
    .bind(tx.tenant_param())
    .bind(mark)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records, for the run of `owner` (a run that lost its lease records
/// nothing), that `recording` (`None`: none) is where runs stop, `runs`
/// runs in a row.
pub async fn set_stuck(
    tx: &mut TenantTx,
    owner: &str,
    recording: Option<&str>,
    runs: i64,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE recording_pull SET stuck_on = $3, stuck_runs = $4 \
         WHERE tenant_id = $1 AND lease_owner = $2",
    )
    .bind(tx.tenant_param())
    .bind(owner)
    .bind(recording)
    .bind(runs)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Gives up `owner`'s lease without recording a run (a recording fetched
/// on request).
pub async fn release(tx: &mut TenantTx, owner: &str) -> DbResult<()> {
    sqlx::query(
        "UPDATE recording_pull SET lease_until = NULL, lease_owner = NULL \
         WHERE tenant_id = $1 AND lease_owner = $2",
    )
    .bind(tx.tenant_param())
    .bind(owner)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// What a run did.
pub struct RunOutcome<'a> {
    pub at: i64,
    pub error: Option<&'a str>,
    pub listed: i64,
    pub created: i64,
    pub next_run_at: i64,
}

/// Records a finished run and releases its lease; a run that lost its
/// lease to another records nothing (the other's outcome will tell).
pub async fn finish(tx: &mut TenantTx, owner: &str, o: RunOutcome<'_>) -> DbResult<()> {
    sqlx::query(
        "UPDATE recording_pull SET lease_until = NULL, lease_owner = NULL, last_run_at = $2, last_status = $3, \
            last_error = $4, last_listed = $5, last_created = $6, total_created = total_created + $6, \
            next_run_at = $7 \
         WHERE tenant_id = $1 AND lease_owner = $8",
    )
    .bind(tx.tenant_param())
    .bind(o.at)
    .bind(if o.error.is_some() { "failed" } else { "ok" })
    .bind(o.error)
    .bind(o.listed)
    .bind(o.created)
    .bind(o.next_run_at)
    .bind(owner)
    .execute(tx.conn())
    .await?;
    Ok(())
}
