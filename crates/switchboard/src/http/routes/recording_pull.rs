//! `/api/v1/settings/recording-pull`: the recording-provider pull of the
//! tenant — where it stands, and running it now.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::http::extract::{perm, Authorized};
use crate::http::problem::{ApiResult, Problem};
use crate::http::routes::rfc3339;
use crate::http::AppState;
use crate::pull::{self, PullError, RunSummary};

#[derive(Serialize, utoipa::ToSchema)]
pub struct PullStatus {
    /// Whether a run has ever started (a provider is connected under
    /// `/api/v1/settings/credentials/recording_provider`).
    pub started: bool,
    /// The start time of the newest recording taken.
    pub high_water_mark: Option<String>,
    pub running: bool,
    pub last_run_at: Option<String>,
    /// `ok` or `failed`.
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub last_listed: i64,
    pub last_created: i64,
    pub total_created: i64,
    pub next_run_at: Option<String>,
    /// The recording whose download stopped the last runs, if one did;
    /// after `GIVE_UP_AFTER_RUNS` (5) runs in a row it is given up.
    pub stuck_on: Option<String>,
    /// How many runs in a row it has stopped.
    pub stuck_runs: i64,
}

#[utoipa::path(get, path = "/api/v1/settings/recording-pull", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = PullStatus), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn status(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
) -> ApiResult<Json<PullStatus>> {
    let s = pull::status(&state, auth.ctx.scope()).await?;
    let now = crate::db::now_ms();
    Ok(Json(match s {
        None => PullStatus {
            started: false,
            high_water_mark: None,
            running: false,
            last_run_at: None,
            last_status: None,
            last_error: None,
            last_listed: 0,
            last_created: 0,
            total_created: 0,
            next_run_at: None,
            stuck_on: None,
            stuck_runs: 0,
        },
        Some(s) => PullStatus {
            started: true,
            high_water_mark: s.high_water_mark.map(rfc3339),
            running: s.lease_until.is_some_and(|l| l > now),
            last_run_at: s.last_run_at.map(rfc3339),
            last_status: s.last_status,
            last_error: s.last_error,
            last_listed: s.last_listed,
            last_created: s.last_created,
            total_created: s.total_created,
            next_run_at: Some(rfc3339(s.next_run_at)),
            stuck_on: s.stuck_on,
            stuck_runs: s.stuck_runs,
        },
    }))
}

/// Runs the pull now and answers with what it did (a failure the next run
/// will retry is reported in `error`, with 200).
#[utoipa::path(post, path = "/api/v1/settings/recording-pull/run", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = RunSummary), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn run(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
) -> ApiResult<Json<RunSummary>> {
    let scope = *auth.ctx.scope();
    // The run goes on to its end, and releases its lease, even when the
    // client goes away or the request times out first.
    let run =
        tokio::spawn(async move { pull::run_once(&state, &scope, pull::Trigger::Request).await });
    match run.await.map_err(|_| Problem::internal())? {
        Ok(summary) => Ok(Json(summary)),
        Err(PullError::NotConfigured) => Err(Problem::not_found()
            .detail("connect a recording provider under /api/v1/settings/credentials/recording_provider first")),
        Err(PullError::Busy | PullError::LeaseLost) => Err(Problem::new(StatusCode::CONFLICT, "pull-running", "A pull is already running")
            .detail("wait for it to finish")),
        Err(PullError::Db(e)) => Err(e.into()),
        Err(PullError::Ingest(e)) => Err(e.into()),
        Err(PullError::Provider(e) | PullError::Recording { reason: e, .. }) => {
            tracing::error!(error = %e, "recording pull failed outside a run");
            Err(Problem::internal())
        }
    }
}
