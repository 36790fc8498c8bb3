//! Fetching recordings that providers keep behind their own credentials
//! (Twilio) into the tenant's object store as the call's audio. The call is
//! marked `pending` in the database before the fetch starts, so a fetch cut
//! short by a crash is taken up again when the server next starts.

use std::time::Duration;

use switchboard_core::CallId;
use switchboard_ingest::Source;

use crate::auth::{Operator, TenantScope};
use crate::db::{calls, now_ms, Mode};
use crate::http::routes::credentials::open_credential;
use crate::http::AppState;
use crate::objects::{AudioFormat, ObjectKey};
use crate::pull::PullError;

/// Attempts per fetch, with a doubling pause between them.
const ATTEMPTS: u32 = 3;

/// A downloaded recording's body, refused once it passes `limit` bytes
/// (the same limit as an upload), without holding more than that.
pub async fn read_capped(mut res: reqwest::Response, limit: usize) -> Result<bytes::Bytes, String> {
    let too_large = || format!("the recording is larger than {limit} bytes");
    if res.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| e.without_url().to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Marks the call's recording as pending and fetches it in the background.
pub async fn fetch_later(
    state: &AppState,
    scope: &TenantScope,
    call: CallId,
) -> Result<(), crate::db::DbError> {
    let mut tx = state.db.tenant(scope, Mode::Write).await?;
    calls::set_audio(&mut tx, call, "pending", None, None).await?;
    tx.commit().await?;
    let (state, scope) = (state.clone(), *scope);
    tokio::spawn(async move { fetch(&state, &scope, call).await });
    Ok(())
}

/// For a redelivered callback: fetches the recording again unless it is
/// stored or being fetched, so a fetch that failed (or never started,
/// because marking it pending failed) gets another chance, and the retry
/// schedule starts over: the resend is news that the recording is there.
pub async fn fetch_if_missing(
    state: &AppState,
    scope: &TenantScope,
    call: CallId,
) -> Result<(), crate::db::DbError> {
    let mut tx = state.db.tenant(scope, Mode::Write).await?;
    let status = calls::get(&mut tx, call).await?.map(|c| c.audio_status);
    let missing = matches!(status.as_deref(), Some("none" | "failed"));
    if missing {
        calls::restart_audio_rounds(&mut tx, call).await?;
    }
    tx.commit().await?;
    if missing {
        fetch_later(state, scope, call).await
    } else {
        Ok(())
    }
}

/// Fetches and stores one call's recording — from Twilio, or for a call of
/// the recording-provider pull through the pull — recording the outcome on
/// the call (`stored`, or `failed` with the reason and the next round).
pub async fn fetch(state: &AppState, scope: &TenantScope, call: CallId) {
    // A call that cannot be read here is tried as a Twilio one, whose
    // attempts read it again and record any failure with a next round.
    match pulled_recording(state, scope, call).await {
        Ok(Some(recording)) => fetch_pulled(state, scope, call, &recording).await,
        _ => fetch_from_twilio(state, scope, call).await,
    }
}

/// A round of a call of the recording-provider pull, through the pull.
async fn fetch_pulled(state: &AppState, scope: &TenantScope, call: CallId, recording: &str) {
    match crate::pull::refetch(state, scope, call, recording).await {
        // Stored, or the failure recorded by `refetch`.
        Ok(()) | Err(PullError::Recording { .. } | PullError::Provider(_)) => {}
        Err(PullError::Busy) => record(state, scope, call, Outcome::Postponed).await,
        Err(e) => record(state, scope, call, Outcome::Failed(e.to_string())).await,
    }
}

/// A round of a Twilio recording: a few attempts, a second or two apart.
async fn fetch_from_twilio(state: &AppState, scope: &TenantScope, call: CallId) {
    let mut pause = Duration::from_millis(500);
    let mut outcome = Outcome::Failed("not attempted".to_owned());
    for attempt in 1..=ATTEMPTS {
        match try_fetch(state, scope, call).await {
            Ok(key) => {
                outcome = Outcome::Stored(key);
                break;
            }
            Err(e) => {
                tracing::warn!(%call, attempt, error = %e, "fetching a recording failed");
                outcome = Outcome::Failed(e);
                if attempt < ATTEMPTS {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
    }
    record(state, scope, call, outcome).await;
}

/// How a round of fetching a recording ended, as the call is to show it.
enum Outcome {
    Stored(ObjectKey),
    /// A failed round: the next one is scheduled.
    Failed(String),
    /// It could not start (a pull run holds the lease): due again in a
    /// minute, not counted.
    Postponed,
}

/// How long a pulled recording's round waits when a pull run holds the lease.
const LEASE_TAKEN_RETRY_MS: i64 = 60_000;

async fn record(state: &AppState, scope: &TenantScope, call: CallId, outcome: Outcome) {
    let result = async {
        if let Outcome::Stored(key) = &outcome {
            return adopt_audio(state, scope, call, key).await.map(drop);
        }
        let mut tx = state.db.tenant(scope, Mode::Write).await?;
        match &outcome {
            Outcome::Stored(_) => {}
            Outcome::Failed(e) => {
                let schedule = &state.config.providers.recording_retry_secs;
                calls::audio_failed(&mut tx, call, e, schedule).await?;
            }
            Outcome::Postponed => {
                let at = now_ms() + LEASE_TAKEN_RETRY_MS;
                calls::postpone_audio_retry(&mut tx, call, at).await?;
            }
        }
        tx.commit().await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(%call, error = %e, "recording the outcome of a fetch failed");
    }
}

/// Makes `key`, just written, the call's stored audio. Whatever it replaces
/// under another name (an upload in another format) is removed, and if the
/// call was deleted while its audio was on the way, so is `key`: a deleted
/// call leaves nothing behind. `false` when the call is gone.
pub async fn adopt_audio(
    state: &AppState,
    scope: &TenantScope,
    call: CallId,
    key: &ObjectKey,
) -> Result<bool, crate::db::DbError> {
    let mut tx = state.db.tenant(scope, Mode::Write).await?;
    let previous = calls::get(&mut tx, call).await?.map(|c| c.audio_key);
    let adopted = match &previous {
        Some(_) => calls::set_audio(&mut tx, call, "stored", Some(key.as_str()), None).await?,
        None => false,
    };
    tx.commit().await?;
    let unused = match previous {
        None => Some(key.clone()),
        Some(Some(old)) if old != key.as_str() => ObjectKey::stored(scope, &old),
        Some(_) => None,
    };
    if let Some(unused) = unused {
        if let Err(e) = state.objects.delete(&unused).await {
            tracing::warn!(%call, error = %e, "an audio object no call uses was left behind");
        }
    }
    Ok(adopted)
}

/// The provider's id of the call's recording when the pull created the call.
async fn pulled_recording(
    state: &AppState,
    scope: &TenantScope,
    call: CallId,
) -> Result<Option<String>, crate::db::DbError> {
    let mut tx = state.db.tenant(scope, Mode::Read).await?;
    let record = calls::get(&mut tx, call).await?;
    tx.commit().await?;
    Ok(record
        .filter(|r| r.source == Source::RecordingProvider)
        .map(|r| r.external_id))
}

async fn try_fetch(
    state: &AppState,
    scope: &TenantScope,
    call: CallId,
) -> Result<ObjectKey, String> {
    let mut tx = state
        .db
        .tenant(scope, Mode::Read)
        .await
        .map_err(|e| e.to_string())?;
    let record = calls::get(&mut tx, call)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the call was deleted")?;
    tx.commit().await.map_err(|e| e.to_string())?;
    let url = record
        .fields
        .recording_url
        .ok_or("the call has no recording URL")?;
    // The URL arrived in a signed callback, but only Twilio's own API is
    // ever sent the tenant's credentials.
    let base = format!(
        "{}/",
        state.config.providers.twilio_api_base.trim_end_matches('/')
    );
    if !url.starts_with(&base) {
        return Err(format!("the recording URL is not under {base}"));
    }
    let cred = open_credential(state, scope, Source::Twilio)
        .await
        .map_err(|_| "the Twilio credentials cannot be opened".to_owned())?
        .ok_or("no Twilio credentials are configured")?;
    let text = |k: &str| cred[k].as_str().unwrap_or_default().to_owned();
    let res = state
        .http
        .get(format!("{url}.wav"))
        .timeout(Duration::from_secs(
            state.config.providers.download_timeout_secs,
        ))
        .basic_auth(text("account_sid"), Some(text("auth_token")))
        .send()
        .await
        .map_err(|e| format!("Twilio could not be reached: {}", e.without_url()))?;
    if !res.status().is_success() {
        return Err(format!("Twilio answered HTTP {}", res.status().as_u16()));
    }
    let audio = read_capped(res, state.config.http.audio_limit_bytes)
        .await
        .map_err(|e| format!("reading the recording: {e}"))?;
    let key = ObjectKey::audio(scope, call, AudioFormat::Wav);
    state
        .objects
        .put(&key, audio)
        .await
        .map_err(|e| format!("storing the recording: {e}"))?;
    Ok(key)
}

/// How often failed fetches are looked at, and how many a tenant gets per look.
const RETRY_TICK: Duration = Duration::from_secs(30);
const RETRIES_PER_TICK: i64 = 50;

/// Fetches again, until the server stops, the recordings whose failed
/// fetch is due another round.
pub async fn retry_failed(state: AppState) {
    let mut tick = tokio::time::interval(RETRY_TICK);
    loop {
        tick.tick().await;
        retry_due(&state).await;
    }
}

/// Starts a fetch of every recording (at most [`RETRIES_PER_TICK`] per
/// tenant) whose failed fetch is due another round. Each is claimed first,
/// so of the nodes that find it due only one fetches it.
pub async fn retry_due(state: &AppState) {
    let Ok(tenants) = crate::tenancy::all(&state.db).await else {
        return;
    };
    for tenant in tenants {
        let scope = Operator::command_line().scope_for(tenant.id);
        if let Err(e) = retry_tenant(state, &scope).await {
            tracing::error!(tenant = %tenant.id, error = %e, "retrying recording fetches failed");
        }
    }
}

async fn retry_tenant(state: &AppState, scope: &TenantScope) -> Result<(), crate::db::DbError> {
    let mut tx = state.db.tenant(scope, Mode::Read).await?;
    let due = calls::due_audio_retries(&mut tx, now_ms(), RETRIES_PER_TICK).await?;
    tx.commit().await?;
    let mut claimed = Vec::with_capacity(due.len());
    for call in due {
        let mut tx = state.db.tenant(scope, Mode::Write).await?;
        if calls::claim_audio_retry(&mut tx, call, now_ms()).await? {
            claimed.push(call);
        }
        tx.commit().await?;
    }
    if claimed.is_empty() {
        return Ok(());
    }
    let (state, scope) = (state.clone(), *scope);
    tokio::spawn(async move {
        // Recordings of the pull share the tenant's one lease, so they are
        // fetched one after another, each giving it back before the next
        // asks: side by side, all but one found it taken and waited a
        // minute, one recording a minute. Twilio's need no lease.
        for call in claimed {
            match pulled_recording(&state, &scope, call).await {
                Ok(Some(recording)) => fetch_pulled(&state, &scope, call, &recording).await,
                _ => {
                    let state = state.clone();
                    tokio::spawn(async move { fetch_from_twilio(&state, &scope, call).await });
                }
            }
        }
    });
    Ok(())
}

/// Takes up every fetch a previous run left pending.
pub async fn resume_pending(state: AppState) {
    let tenants = match crate::tenancy::all(&state.db).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "listing tenants to resume recording fetches failed");
            return;
        }
    };
    for tenant in tenants {
        let scope = Operator::command_line().scope_for(tenant.id);
        let pending = async {
            let mut tx = state.db.tenant(&scope, Mode::Read).await?;
            let ids = calls::pending_audio(&mut tx).await?;
            tx.commit().await?;
            Ok::<_, crate::db::DbError>(ids)
        }
        .await
        .unwrap_or_default();
        for call in pending {
            fetch(&state, &scope, call).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::read_capped;

    fn response(body: &'static [u8]) -> reqwest::Response {
        reqwest::Response::from(axum::http::Response::new(body))
    }

    #[tokio::test]
    async fn recordings_over_the_limit_are_refused() {
        assert_eq!(
            &read_capped(response(b"RIFF1234"), 8).await.unwrap()[..],
            b"RIFF1234"
        );
        let refused = read_capped(response(b"RIFF12345"), 8).await.unwrap_err();
        assert!(refused.contains("larger than 8 bytes"), "{refused}");
    }
}
