//! Recording-provider pull: for tenants that connected a REST call-recording
//! provider (docs/recording-pull.md), obtain an OAuth2 token (password
//! grant), list recordings from the high-water mark on, download each one's
//! audio and create its call through the normal ingestion path.
//!
//! Recordings are taken in the order listed (oldest first); the mark moves
//! past a recording only once its call and audio are stored, and a run stops
//! at the first failure, so the next run retries it without skipping any.
//! A lease in `recording_pull` keeps runs of one tenant exclusive, across
//! nodes too.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use switchboard_core::{CallId, TenantId};
use tokio::sync::Semaphore;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_core::E164;
use switchboard_ingest::model::{CallFields, CallUpdate};
use switchboard_ingest::{Direction, Source, Stage};

use crate::auth::{Operator, TenantScope};
use crate::db::recording_pull::{self, PullState, RunOutcome};
use crate::db::{calls, now_ms, Mode};
use crate::http::routes::credentials::open_credential;
use crate::http::AppState;
use crate::ingest;
use crate::objects::{AudioFormat, ObjectKey};
use crate::outbound::{self, TenantHttp};

/// How long a run may go without renewing its lease (it renews with every
/// page and every recording taken) before another node may take over: at least ten
/// minutes, and longer than the longest stretch between renewals, a token,
/// a list page and a download, each possibly twice (a 401 gets a new token
/// and one retry).
fn lease_ms(state: &AppState) -> i64 {
    let p = &state.config.providers;
    let longest_secs = 2 * p.download_timeout_secs + 4 * p.timeout_secs + 60;
    i64::try_from(longest_secs.saturating_mul(1000))
        .unwrap_or(i64::MAX / 2)
        .max(10 * 60 * 1000)
}
/// The schedule: every 15 minutes unless the tenant's connection says
/// otherwise (`every_minutes`), give or take up to 90 seconds so tenants
/// spread out.
const EVERY_MINUTES: u64 = 15;
const JITTER_MS: i64 = 90 * 1000;

/// Milliseconds between scheduled runs of this connection.
fn schedule_ms(cred: &Value) -> i64 {
    let minutes = cred["every_minutes"].as_u64().unwrap_or(EVERY_MINUTES);
    minutes as i64 * 60 * 1000
}

/// How far before its mark a run lists again (`lookback_minutes`, none
/// unless the tenant's connection asks): a recording the provider lists
/// only once its call is over appears after shorter calls that started
/// later were taken, and the mark has passed its start. Off by default:
/// every run lists the window again (docs/recording-pull.md).
fn lookback_ms(cred: &Value) -> i64 {
    let minutes = cred["lookback_minutes"].as_u64().unwrap_or(0);
    minutes as i64 * 60 * 1000
}

/// How often the scheduler looks for tenants that are due.
const TICK: Duration = Duration::from_secs(30);
/// Pages per run, so one run cannot go on for ever.
const MAX_PAGES: usize = 1000;
/// Runs in a row that one recording's download may stop before the pull
/// gives that recording up and goes on past it.
pub const GIVE_UP_AFTER_RUNS: i64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("no recording provider is connected")]
    NotConfigured,
    #[error("another run holds the lease")]
    Busy,
    #[error("the run outlived its lease and another run took over")]
    LeaseLost,
    #[error("{0}")]
    Provider(String),
    /// This recording's download failed (others may well succeed).
    #[error("{reason}")]
    Recording {
        id: String,
        call: CallId,
        reason: String,
    },
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

/// The provider's connection settings, as stored (sealed) in the credential.
struct Connection {
    base_url: String,
    form: Vec<(&'static str, String)>,
    token_path: String,
    recordings_path: String,
    download_path: String,
}

impl Connection {
    /// The stored settings, refused when `base_url` names an address the
    /// server may not reach for a tenant (stored before that was checked,
    /// or while the platform allowed it).
    fn from_credential(c: &Value, http: &TenantHttp) -> Result<Self, PullError> {
        let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
        let base_url = text("base_url");
        let parsed = url::Url::parse(&base_url)
            .map_err(|_| PullError::Provider("base_url is not a URL".into()))?;
        http.check(&parsed)
            .map_err(|e| PullError::Provider(e.to_string()))?;
        Ok(Connection {
            base_url,
            form: vec![
                ("grant_type", "password".into()),
                ("client_id", text("client_id")),
                ("client_secret", text("client_secret")),
                ("username", text("username")),
                ("password", text("password")),
            ],
            token_path: text("token_path"),
            recordings_path: text("recordings_path"),
            download_path: text("recording_download_path"),
        })
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

#[derive(Deserialize)]
struct ListAnswer {
    items: Vec<Value>,
    next_page_token: Option<String>,
}

/// Asks the provider for a token.
async fn token(http: &TenantHttp, conn: &Connection) -> Result<String, PullError> {
    let res = http
        .client()
        .post(format!("{}{}", conn.base_url, conn.token_path))
        .form(&conn.form)
        .send()
        .await
        .map_err(|e| {
            PullError::Provider(format!(
                "the token request failed: {}",
                outbound::describe(e)
            ))
        })?;
    if !res.status().is_success() {
        return Err(PullError::Provider(format!(
            "the provider refused the token request (HTTP {})",
            res.status().as_u16()
        )));
    }
    let answer: TokenAnswer = res
        .json()
        .await
        .map_err(|_| PullError::Provider("the token answer has no access_token".into()))?;
    Ok(answer.access_token)
}

/// Checks the stored credential by obtaining a token (for the credential test).
pub async fn check_credential(http: &TenantHttp, cred: &Value) -> Result<(), String> {
    let conn = Connection::from_credential(cred, http).map_err(|e| e.to_string())?;
    token(http, &conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// An authorised GET that refreshes the token once when the provider says it expired.
async fn get_authorised(
    http: &TenantHttp,
    conn: &Connection,
    bearer: &mut String,
    url: &str,
    query: &[(&str, String)],
    timeout: std::time::Duration,
) -> Result<reqwest::Response, PullError> {
    let send = |bearer: String| async move {
        http.client()
            .get(url)
            .query(query)
            .timeout(timeout)
            .bearer_auth(bearer)
            .send()
            .await
            .map_err(|e| {
                PullError::Provider(format!(
                    "the provider could not be reached: {}",
                    outbound::describe(e)
                ))
            })
    };
    let res = send(bearer.clone()).await?;
    if res.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Ok(res);
    }
    *bearer = token(http, conn).await?;
    send(bearer.clone()).await
}

/// A recording's metadata as a call update; `None` when it lacks an id or a start.
fn read_recording(item: &Value) -> Option<(CallUpdate, i64)> {
    let id = item["id"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| item["id"].as_i64().map(|n| n.to_string()))?;
    let time = |k: &str| {
        item[k].as_str().and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        })
    };
    let started_at = time("started_at")?;
    let phone = |k: &str| {
        item[k]
            .as_str()
            .map(|p| E164::normalise(p).map_or_else(|| p.to_owned(), |e| e.to_string()))
    };
    let update = CallUpdate {
        external_id: id,
        stage: Stage::Ended,
        occurred_at: time("ended_at").or(Some(started_at)),
        fields: CallFields {
            direction: item["direction"].as_str().and_then(Direction::parse),
            from: phone("from"),
            to: phone("to"),
            started_at: Some(started_at),
            ended_at: time("ended_at"),
            duration_ms: item["duration_seconds"]
                .as_f64()
                .map(|s| (s * 1000.0).round() as i64),
            test: Some(false),
            provider_agent_id: item["agent"].as_str().map(str::to_owned),
            metadata: Some(item.clone()),
            ..CallFields::default()
        },
    };
    Some((update, started_at))
}

/// What one run did.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct RunSummary {
    /// Recordings the provider listed.
    pub listed: i64,
    /// Calls created (recordings already taken are not counted again).
    pub created: i64,
    /// Listed items without an id or a start time, which can never be
    /// taken: passed over rather than blocking every later run.
    pub skipped: i64,
    /// Why the run stopped early, if it did; the next run retries from there.
    pub error: Option<String>,
    /// Recordings whose download had stopped this many runs in a row
    /// (`GIVE_UP_AFTER_RUNS`): their calls are kept, their audio marked
    /// `failed`, and the pull went on past them.
    pub given_up: Vec<GivenUp>,
}

/// A recording the pull stopped trying to download.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GivenUp {
    pub recording: String,
    pub error: String,
}

/// The tenant's recording-provider credential, opened.
async fn credential(state: &AppState, scope: &TenantScope) -> Result<Value, PullError> {
    open_credential(state, scope, Source::RecordingProvider)
        .await
        .map_err(|_| PullError::Provider("the credential cannot be opened".into()))?
        .ok_or(PullError::NotConfigured)
}

/// What starts a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The scheduler found the tenant due. Another node may have found it
    /// due at the same moment and already run it: the lease is taken only
    /// while the run is still due, so it is not run twice in a row.
    Schedule,
    /// A request (a run or a fetch by hand), whenever it comes.
    Request,
}

/// Takes the tenant's pull lease for `owner`, if no run holds it; returns
/// the pull's state as the lease found it.
async fn lease(
    state: &AppState,
    scope: &TenantScope,
    owner: &str,
    trigger: Trigger,
) -> Result<PullState, PullError> {
    let now = now_ms();
    let mut tx = state.db.tenant(scope, Mode::Write).await?;
    let lease = recording_pull::Lease {
        owner,
        now,
        until: now + lease_ms(state),
        only_if_due: trigger == Trigger::Schedule,
    };
    let leased = recording_pull::try_lease(&mut tx, lease).await?;
    let before = recording_pull::get(&mut tx).await?.unwrap_or_default();
    tx.commit().await?;
    if leased {
        Ok(before)
    } else {
        Err(PullError::Busy)
    }
}

/// Runs the pull for one tenant now, if no other run holds its lease.
pub async fn run_once(
    state: &AppState,
    scope: &TenantScope,
    trigger: Trigger,
) -> Result<RunSummary, PullError> {
    let cred = credential(state, scope).await?;
    let owner = ulid::Ulid::new().to_string();
    let before = lease(state, scope, &owner, trigger).await?;
    let mut summary = RunSummary::default();
    let run = Run {
        lease_owner: &owner,
        mark: before.high_water_mark,
        stuck: before.stuck_on.map(|id| (id, before.stuck_runs)),
    };
    if let Err(e) = pull(state, scope, &cred, run, &mut summary).await {
        tracing::warn!(tenant = %scope.tenant_id(), error = %e, "recording pull stopped");
        summary.error = Some(e.to_string());
    }
    let every_ms = schedule_ms(&cred);
    // Up to a tenth of the interval, at most 90 s, either way.
    let spread = (every_ms / 10).min(JITTER_MS);
    let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), -spread..=spread);
    let finished = async {
        let mut tx = state.db.tenant(scope, Mode::Write).await?;
        recording_pull::finish(
            &mut tx,
            &owner,
            RunOutcome {
                at: now_ms(),
                error: summary.error.as_deref(),
                listed: summary.listed,
                created: summary.created,
                next_run_at: now_ms() + every_ms + jitter,
            },
        )
        .await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = finished {
        // The outcome is lost, but the lease need not be: without it given
        // back, every run and fetch of the tenant would wait for it to run out.
        give_back(state, scope, &owner).await;
        return Err(e.into());
    }
    Ok(summary)
}

/// Where a run starts.
struct Run<'a> {
    lease_owner: &'a str,
    mark: Option<i64>,
    /// The recording that stopped the last runs, and how many.
    stuck: Option<(String, i64)>,
}

async fn pull(
    state: &AppState,
    scope: &TenantScope,
    cred: &Value,
    mut run: Run<'_>,
    summary: &mut RunSummary,
) -> Result<(), PullError> {
    let http = &state.tenant_http;
    let conn = Connection::from_credential(cred, http)?;
    let mut bearer = token(http, &conn).await?;
    let mut page_token: Option<String> = None;
    // Whether a recording past the mark the run started from was reached.
    let mut went_on = run.mark.is_none();
    for _ in 0..MAX_PAGES {
        // Recordings listed again are passed over without a write: the
        // lease is renewed with every page as well as every recording taken.
        if page_token.is_some() {
            renew_lease(state, scope, run.lease_owner).await?;
        }
        let mut query = Vec::new();
        if let Some(m) = run.mark {
            query.push(("since", crate::http::routes::rfc3339(m - lookback_ms(cred))));
        }
        if let Some(t) = &page_token {
            query.push(("page_token", t.clone()));
        }
        let res = get_authorised(
            http,
            &conn,
            &mut bearer,
            &format!("{}{}", conn.base_url, conn.recordings_path),
            &query,
            std::time::Duration::from_secs(state.config.providers.timeout_secs),
        )
        .await?;
        if !res.status().is_success() {
            return Err(PullError::Provider(format!(
                "listing recordings answered HTTP {}",
                res.status().as_u16()
            )));
        }
        let page: ListAnswer = res.json().await.map_err(|_| {
            PullError::Provider("the recording list is not {items, next_page_token}".into())
        })?;
        for item in &page.items {
            summary.listed += 1;
            let Some((update, started_at)) = read_recording(item) else {
                // It can never be taken: stopping here would stop every
                // later run too. The next recording moves the mark past it.
                summary.skipped += 1;
                tracing::warn!(tenant = %scope.tenant_id(), "a listed recording has no id or started_at; skipped");
                continue;
            };
            let given_up = match take(state, scope, &conn, &mut bearer, item, &update).await {
                Ok(created) => {
                    summary.created += i64::from(created);
                    // Taken by an earlier run and listed again (the
                    // look-back): there is nothing to record.
                    let behind_mark = run.mark.is_some_and(|m| started_at <= m);
                    let stuck_here = run
                        .stuck
                        .as_ref()
                        .is_some_and(|(id, _)| *id == update.external_id);
                    if !created && behind_mark && !stuck_here {
                        continue;
                    }
                    None
                }
                Err(PullError::Recording { id, call, reason }) => {
                    let runs = match &run.stuck {
                        Some((stuck, runs)) if *stuck == id => runs + 1,
                        _ => 1,
                    };
                    if runs < GIVE_UP_AFTER_RUNS {
                        let mut tx = state.db.tenant(scope, Mode::Write).await?;
                        recording_pull::set_stuck(&mut tx, run.lease_owner, Some(&id), runs)
                            .await?;
                        tx.commit().await?;
                        return Err(PullError::Recording { id, call, reason });
                    }
                    tracing::warn!(tenant = %scope.tenant_id(), recording = %id, runs, "a recording's download keeps failing; given up");
                    Some((
                        call,
                        runs,
                        GivenUp {
                            recording: id,
                            error: reason,
                        },
                    ))
                }
                Err(e) => return Err(e),
            };
            // The mark moves and the lease is renewed together (with a
            // given-up recording's outcome): a run that lost its lease (it
            // outlived it and another run took over) stops here, without
            // moving the other's mark.
            let mut tx = state.db.tenant(scope, Mode::Write).await?;
            if !recording_pull::renew(&mut tx, run.lease_owner, now_ms() + lease_ms(state)).await? {
                return Err(PullError::LeaseLost);
            }
            if let Some((call, runs, given)) = &given_up {
                // Left to the recording retry schedule from here on
                // (`recordings::fetch`), like a Twilio recording.
                let why = format!("given up after {runs} runs: {}", given.error);
                let schedule = &state.config.providers.recording_retry_secs;
                calls::audio_failed(&mut tx, *call, &why, schedule).await?;
            }
            recording_pull::advance(&mut tx, started_at).await?;
            went_on |= run.mark.is_some_and(|m| started_at > m);
            // The stuck recording was this one (taken or given up), or,
            // past the mark the run started from, it is gone from the list.
            let past_stuck = run
                .stuck
                .as_ref()
                .is_some_and(|(id, _)| *id == update.external_id)
                || run.mark.is_none_or(|m| started_at > m);
            if past_stuck && run.stuck.take().is_some() {
                recording_pull::set_stuck(&mut tx, run.lease_owner, None, 0).await?;
            }
            tx.commit().await?;
            summary.given_up.extend(given_up.map(|(_, _, given)| given));
        }
        match page.next_page_token {
            Some(t) if !page.items.is_empty() => page_token = Some(t),
            _ => return Ok(()),
        }
    }
    if went_on {
        Ok(())
    } else {
        // Every run would list the same pages again and never get further.
        Err(PullError::Provider(format!(
            "{MAX_PAGES} pages were listed without reaching a recording past the high-water mark; \
             a shorter lookback_minutes lets runs reach new recordings"
        )))
    }
}

/// Renews the run's lease; an error once another run has taken it over.
async fn renew_lease(state: &AppState, scope: &TenantScope, owner: &str) -> Result<(), PullError> {
    let mut tx = state.db.tenant(scope, Mode::Write).await?;
    if !recording_pull::renew(&mut tx, owner, now_ms() + lease_ms(state)).await? {
        return Err(PullError::LeaseLost);
    }
    tx.commit().await?;
    Ok(())
}

/// The call's audio is stored, or given up and on the retry schedule (the
/// pull marks a recording's audio `failed` only then, and only a scheduled
/// round makes it `pending`): the pull does not fetch it again.
fn audio_settled(call: &calls::CallRecord) -> bool {
    matches!(call.audio_status.as_str(), "stored" | "failed" | "pending")
}

/// Stores one recording's call and audio; `false` when both were there
/// already (a call whose audio failed before counts when its audio lands).
async fn take(
    state: &AppState,
    scope: &TenantScope,
    conn: &Connection,
    bearer: &mut String,
    item: &Value,
    update: &CallUpdate,
) -> Result<bool, PullError> {
    // Listed again (the look-back, the recording at the mark): taken
    // already, it costs one read, not a write.
    let mut tx = state.db.tenant(scope, Mode::Read).await?;
    let known =
        calls::find_external(&mut tx, Source::RecordingProvider, &update.external_id).await?;
    let deleted = known.is_none()
        && calls::is_deleted(&mut tx, Source::RecordingProvider, &update.external_id).await?;
    tx.commit().await?;
    if deleted || known.is_some_and(|c| audio_settled(&c)) {
        return Ok(false);
    }
    let raw = item.to_string();
    let accepted = ingest::accept(
        state,
        scope,
        Source::RecordingProvider,
        ingest::Filing::quiet(None),
        update.clone(),
        ingest::event_key_of(raw.as_bytes()),
        ingest::RawPayload::Json(raw),
    )
    .await?;
    if accepted.deleted {
        // The tenant deleted the call (decision 0019): not taken again.
        return Ok(false);
    }
    fetch_audio(
        state,
        scope,
        conn,
        bearer,
        &update.external_id,
        accepted.call_id,
    )
    .await?;
    Ok(true)
}

/// Fetches the recording of a call the pull created, again, now: one that
/// was given up on, or whose audio went missing. A failure of the download
/// or of the provider is recorded on the call, with its next round on the
/// recording retry schedule, as well as returned. It holds the pull's lease
/// meanwhile, so a run never downloads the same recording at the same time.
pub async fn refetch(
    state: &AppState,
    scope: &TenantScope,
    call: CallId,
    recording: &str,
) -> Result<(), PullError> {
    let cred = credential(state, scope).await?;
    let owner = ulid::Ulid::new().to_string();
    lease(state, scope, &owner, Trigger::Request).await?;
    let fetched = fetch_leased(state, scope, &cred, call, recording).await;
    // Given back first and on its own, so that nothing after it can keep
    // the tenant's runs waiting for the lease to run out.
    give_back(state, scope, &owner).await;
    if let Err(PullError::Recording { reason, .. } | PullError::Provider(reason)) = &fetched {
        // A failed round, on request or on schedule: the next is scheduled.
        let mut tx = state.db.tenant(scope, Mode::Write).await?;
        let schedule = &state.config.providers.recording_retry_secs;
        calls::audio_failed(&mut tx, call, reason, schedule).await?;
        tx.commit().await?;
    }
    fetched
}

/// Gives `owner`'s lease back, trying again over a few seconds when the
/// database fails: a lease that is not given back keeps the tenant's runs
/// and fetches waiting until it runs out.
async fn give_back(state: &AppState, scope: &TenantScope, owner: &str) {
    let release = || async {
        let mut tx = state.db.tenant(scope, Mode::Write).await?;
        recording_pull::release(&mut tx, owner).await?;
        tx.commit().await
    };
    let mut pause = std::time::Duration::from_millis(200);
    for attempt in 1..=4 {
        match release().await {
            Ok(()) => return,
            Err(e) if attempt == 4 => {
                tracing::error!(tenant = %scope.tenant_id(), error = %e, "the pull's lease was not given back; it runs out by itself");
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause *= 3;
            }
        }
    }
}

async fn fetch_leased(
    state: &AppState,
    scope: &TenantScope,
    cred: &Value,
    call: CallId,
    recording: &str,
) -> Result<(), PullError> {
    let http = &state.tenant_http;
    let conn = Connection::from_credential(cred, http)?;
    let mut bearer = token(http, &conn).await?;
    fetch_audio(state, scope, &conn, &mut bearer, recording, call).await
}

/// Downloads recording `recording` and stores it as `call`'s audio.
async fn fetch_audio(
    state: &AppState,
    scope: &TenantScope,
    conn: &Connection,
    bearer: &mut String,
    recording: &str,
    call: CallId,
) -> Result<(), PullError> {
    let path = conn.download_path.replace("{id}", &urlencode(recording));
    let res = get_authorised(
        &state.tenant_http,
        conn,
        bearer,
        &format!("{}{path}", conn.base_url),
        &[],
        std::time::Duration::from_secs(state.config.providers.download_timeout_secs),
    )
    .await?;
    let failed = |reason: String| PullError::Recording {
        id: recording.to_owned(),
        call,
        reason,
    };
    if !res.status().is_success() {
        return Err(failed(format!(
            "downloading recording {} answered HTTP {}",
            recording,
            res.status().as_u16()
        )));
    }
    let format = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(AudioFormat::from_content_type)
        .unwrap_or(AudioFormat::Wav);
    let audio = crate::recordings::read_capped(res, state.config.http.audio_limit_bytes)
        .await
        .map_err(|e| failed(format!("reading recording {}: {e}", recording)))?;
    let key = ObjectKey::audio(scope, call, format);
    state
        .objects
        .put(&key, audio)
        .await
        .map_err(ingest::IngestError::from)?;
    crate::recordings::adopt_audio(state, scope, call, &key).await?;
    Ok(())
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The pull's state for the API.
pub async fn status(
    state: &AppState,
    scope: &TenantScope,
) -> Result<Option<PullState>, crate::db::DbError> {
    let mut tx = state.db.tenant(scope, Mode::Read).await?;
    let s = recording_pull::get(&mut tx).await?;
    tx.commit().await?;
    Ok(s)
}

/// Runs due pulls until the server stops: every tick, each tenant with a
/// connected provider whose next run is due gets one.
pub async fn scheduler(state: AppState) {
    let mut tick = tokio::time::interval(TICK);
    let runs = Runs::default();
    loop {
        tick.tick().await;
        start_due(&state, &runs).await;
    }
}

/// Runs of this node at once: a tenant whose provider is slow or hangs
/// (until its requests time out) holds up only itself.
const CONCURRENT_RUNS: usize = 4;

/// The scheduler's runs in progress.
#[derive(Clone)]
pub struct Runs {
    permits: Arc<Semaphore>,
    tenants: Arc<std::sync::Mutex<HashSet<TenantId>>>,
}

impl Default for Runs {
    fn default() -> Self {
        Runs {
            permits: Arc::new(Semaphore::new(CONCURRENT_RUNS)),
            tenants: Arc::default(),
        }
    }
}

impl Runs {
    fn tenants(&self) -> std::sync::MutexGuard<'_, HashSet<TenantId>> {
        self.tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Starts a run for every due tenant not running yet, each in a task of its
/// own, at most [`CONCURRENT_RUNS`] at once (waiting for a free slot).
pub async fn start_due(state: &AppState, runs: &Runs) {
    let Ok(tenants) = crate::tenancy::all(&state.db).await else {
        return;
    };
    for tenant in tenants
        .iter()
        .filter(|t| t.status == switchboard_core::TenantStatus::Active)
        .filter(|t| !runs.tenants().contains(&t.id))
    {
        let scope = Operator::command_line().scope_for(tenant.id);
        let due = match status(state, &scope).await {
            Ok(Some(s)) => s.next_run_at <= now_ms(),
            Ok(None) => true,
            Err(_) => false,
        };
        if !due {
            continue;
        }
        let Ok(permit) = runs.permits.clone().acquire_owned().await else {
            return;
        };
        runs.tenants().insert(tenant.id);
        let running = Running {
            runs: runs.clone(),
            tenant: tenant.id,
            _permit: permit,
        };
        let state = state.clone();
        tokio::spawn(async move {
            match run_once(&state, &scope, Trigger::Schedule).await {
                Ok(_) | Err(PullError::NotConfigured | PullError::Busy) => {}
                Err(e) => {
                    tracing::warn!(tenant = %running.tenant, error = %e, "scheduled recording pull failed")
                }
            }
        });
    }
}

/// A run in progress: its slot and its tenant's place in [`Runs`] are
/// given back when it ends, even by a panic.
struct Running {
    runs: Runs,
    tenant: TenantId,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.runs.tenants().remove(&self.tenant);
    }
}
