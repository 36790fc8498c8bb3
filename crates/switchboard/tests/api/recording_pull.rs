//! The recording-provider pull against a stand-in provider started by the
//! test: OAuth2 tokens that expire mid-run, a paginated list, and a download
//! that fails once and must be retried by the next run without skipping.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_core::Role;

use crate::helpers::TestApp;

crate::on_both_backends!(
    pulls_recordings_resuming_after_failures,
    private_provider_addresses_are_refused,
    a_hanging_provider_holds_up_only_its_tenant,
    a_recording_that_never_downloads_is_given_up,
    recordings_due_together_are_fetched_together,
    a_download_may_take_longer_than_a_request,
    a_recording_listed_late_is_taken_by_the_look_back
);

#[derive(Default)]
struct Fake {
    tokens_issued: AtomicUsize,
    /// The valid token and how many more requests it may serve.
    current: Mutex<(String, usize)>,
    /// Whether rec-3's download has failed once already.
    failed_once: Mutex<bool>,
    /// A recording whose download always fails.
    always_fails: Mutex<Option<&'static str>>,
    /// Downloads send half the audio, pause this long, then the rest.
    download_pause: Mutex<Option<std::time::Duration>>,
    /// Whether [`LATE`], a long call's recording, is listed yet.
    late_listed: Mutex<bool>,
    /// Every recording downloaded, in order.
    downloaded: Mutex<Vec<String>>,
}

/// A recording of a call that started before rec-3 and ended after rec-5
/// started: a provider lists it only once the call is over.
const LATE: (&str, &str) = ("rec-late", "2026-03-01T10:30:00Z");

/// The one without an id can never be taken.
const RECORDINGS: [(&str, &str); 6] = [
    ("rec-1", "2026-03-01T09:00:00Z"),
    ("rec-2", "2026-03-01T10:00:00Z"),
    ("rec-3", "2026-03-01T11:00:00Z"),
    ("rec-4", "2026-03-01T12:00:00Z"),
    ("", "2026-03-01T12:30:00Z"),
    ("rec-5", "2026-03-01T13:00:00Z"),
];

impl Fake {
    /// Tokens serve three requests, then expire.
    fn authorised(&self, h: &HeaderMap) -> bool {
        let mut current = self.current.lock().unwrap();
        let presented = h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if presented != format!("Bearer {}", current.0) || current.1 == 0 {
            return false;
        }
        current.1 -= 1;
        true
    }
}

async fn token(State(f): State<Arc<Fake>>, body: String) -> axum::response::Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let has = |k: &str, v: &str| form.iter().any(|(a, b)| a == k && b == v);
    if !(has("grant_type", "password")
        && has("client_id", "switchboard")
        && has("client_secret", "client-secret-1")
        && has("username", "ops")
        && has("password", "provider pass phrase "))
    {
        return AxumStatus::UNAUTHORIZED.into_response();
    }
    let n = f.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    *f.current.lock().unwrap() = (format!("tok-{n}"), 3);
    axum::Json(
        json!({"access_token": format!("tok-{n}"), "token_type": "bearer", "expires_in": 60}),
    )
    .into_response()
}

async fn list(
    State(f): State<Arc<Fake>>,
    h: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> axum::response::Response {
    if !f.authorised(&h) {
        return AxumStatus::UNAUTHORIZED.into_response();
    }
    let param = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone());
    let since = param("since").unwrap_or_default();
    let offset: usize = param("page_token")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // Inclusive of `since`, oldest first, two per page.
    let late = (*f.late_listed.lock().unwrap()).then_some(&LATE);
    let mut matching: Vec<_> = RECORDINGS
        .iter()
        .chain(late)
        .filter(|(_, at)| *at >= since.as_str())
        .collect();
    matching.sort_by_key(|(_, at)| *at);
    let items: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(2)
        .map(|(id, at)| {
            let mut item = json!({"id": id, "started_at": at, "direction": "inbound", "from": "+14155550123",
            "to": "+14155550100", "duration_seconds": 61.5, "agent": "desk-7"});
            if id.is_empty() {
                item.as_object_mut().unwrap().remove("id");
            }
            item
        })
        .collect();
    let next = (offset + 2 < matching.len()).then(|| (offset + 2).to_string());
    axum::Json(json!({"items": items, "next_page_token": next})).into_response()
}

async fn download(
    State(f): State<Arc<Fake>>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> axum::response::Response {
    if !f.authorised(&h) {
        return AxumStatus::UNAUTHORIZED.into_response();
    }
    f.downloaded.lock().unwrap().push(id.clone());
    if *f.always_fails.lock().unwrap() == Some(id.as_str()) {
        return AxumStatus::BAD_GATEWAY.into_response();
    }
    if id == "rec-3" {
        let mut failed = f.failed_once.lock().unwrap();
        if !*failed {
            *failed = true;
            return AxumStatus::BAD_GATEWAY.into_response();
        }
    }
    let audio = format!("audio of {id}");
    let Some(pause) = *f.download_pause.lock().unwrap() else {
        return ([("content-type", "audio/mpeg")], audio).into_response();
    };
    let (first, rest) = audio.split_at(audio.len() / 2);
    let halves = vec![first.to_owned(), rest.to_owned()];
    let body = futures_util::stream::unfold((halves, 0), move |(halves, sent)| async move {
        if sent == 1 {
            tokio::time::sleep(pause).await;
        }
        let half = halves.get(sent)?.clone();
        Some((Ok::<_, std::io::Error>(half), (halves, sent + 1)))
    });
    (
        [("content-type", "audio/mpeg")],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

async fn start_fake() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let app = axum::Router::new()
        .route("/oauth/token", post(token))
        .route("/v2/recordings", get(list))
        .route("/v2/recordings/{id}/audio", get(download))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, fake)
}

async fn pulls_recordings_resuming_after_failures(app: TestApp) {
    let (base, fake) = start_fake().await;
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let run = || app.post("/api/v1/settings/recording-pull/run", &owner, json!({}));

    run().await.problem(StatusCode::NOT_FOUND);
    let status = app.get("/api/v1/settings/recording-pull", &owner).await;
    assert_eq!(status.body["started"], false);

    let mut cred = json!({"base_url": base, "client_id": "switchboard", "client_secret": "client-secret-1",
        "username": "ops", "password": "provider pass phrase ", "token_path": "/oauth/token",
        "recordings_path": "/v2/recordings", "recording_download_path": "/v2/recordings/{id}/audio"});
    let path = "/api/v1/settings/credentials/recording_provider";
    let bad = app
        .call(
            Method::PUT,
            path,
            Some(&owner),
            Some(json!({"base_url": "ftp://x", "token_path": "oauth", "every_minutes": 1})),
        )
        .await;
    bad.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.fields().contains(&"every_minutes".to_owned()),
        "{}",
        bad.text
    );
    assert!(
        bad.fields()
            .starts_with(&["base_url".to_owned(), "client_id".to_owned()]),
        "{:?}",
        bad.fields()
    );
    // This tenant's provider is pulled hourly instead of every 15 minutes.
    cred["every_minutes"] = json!(60);
    let put = app
        .call(Method::PUT, path, Some(&owner), Some(cred.clone()))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert!(!put.text.contains("client-secret-1") && !put.text.contains("provider pass phrase "));
    assert_eq!(
        app.post(&format!("{path}/test"), &owner, json!({}))
            .await
            .body["ok"],
        true
    );

    // First run: rec-1 and rec-2, then rec-3's download fails; the run stops there.
    let first = run().await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["created"], 2, "{}", first.text);
    assert!(
        first.body["error"].as_str().unwrap().contains("rec-3"),
        "{}",
        first.text
    );
    let status = app
        .get("/api/v1/settings/recording-pull", &owner)
        .await
        .body;
    assert_eq!(status["last_status"], "failed");
    assert_eq!(status["last_error"], first.body["error"], "{status}");
    assert_eq!(status["high_water_mark"], "2026-03-01T10:00:00Z");
    let next = time::OffsetDateTime::parse(
        status["next_run_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ahead = next - time::OffsetDateTime::now_utc();
    assert!(
        ahead > time::Duration::minutes(58) && ahead < time::Duration::minutes(62),
        "the next run is due in {ahead}"
    );

    // Second run: from the mark on, no recording skipped (the item without
    // an id is passed over); tokens expired on the way.
    let second = run().await;
    assert_eq!(second.body["error"], Value::Null, "{}", second.text);
    assert_eq!(second.body["created"], 3, "{}", second.text);
    assert_eq!(
        second.body["skipped"], 1,
        "the item without an id: {}",
        second.text
    );
    assert!(
        fake.tokens_issued.load(Ordering::SeqCst) >= 4,
        "tokens were refreshed mid-run"
    );
    let status = app
        .get("/api/v1/settings/recording-pull", &owner)
        .await
        .body;
    assert_eq!(
        (&status["last_status"], &status["total_created"]),
        (&json!("ok"), &json!(5))
    );
    assert_eq!(status["last_error"], Value::Null, "a good run clears it");

    let calls = app.get("/api/v1/calls?limit=50", &owner).await.body["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(calls.len(), 5);
    for c in &calls {
        assert_eq!(c["source"], "recording_provider");
        assert_eq!(c["stages"]["recording"], "stored", "{c}");
        assert_eq!(c["duration_ms"], 61_500);
    }
    let rec = app
        .get(
            &format!(
                "/api/v1/calls/{}/recording",
                calls[0]["id"].as_str().unwrap()
            ),
            &owner,
        )
        .await;
    let audio = app
        .client
        .get(rec.headers["location"].to_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(audio.headers()["content-type"], "audio/mpeg");
    assert!(audio.text().await.unwrap().starts_with("audio of rec-"));

    // A third run finds only what it already has.
    let third = run().await;
    assert_eq!(third.body["created"], 0, "{}", third.text);
    assert_eq!(
        app.get("/api/v1/calls?limit=50", &owner).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // Wrong provider credentials: the run reports it and keeps the mark.
    cred["client_secret"] = json!("not-the-secret");
    app.call(Method::PUT, path, Some(&owner), Some(cred)).await;
    let refused = run().await;
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("refused the token"),
        "{}",
        refused.text
    );
    let status = app
        .get("/api/v1/settings/recording-pull", &owner)
        .await
        .body;
    assert_eq!(status["high_water_mark"], "2026-03-01T13:00:00Z");

    // Another node holding the lease keeps this one from running.
    use switchboard::db::recording_pull::{finish, release, renew, try_lease, Lease, RunOutcome};
    let lease = |owner, now: i64, only_if_due| Lease {
        owner,
        now,
        until: now + 60_000,
        only_if_due,
    };
    let scope = switchboard::auth::Operator::command_line().scope_for(t.id);
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let db = app.db();
    let tx = || db.tenant(&scope, switchboard::db::Mode::Write);
    let mut t1 = tx().await.unwrap();
    assert!(try_lease(&mut t1, lease("node-a", now, false))
        .await
        .unwrap());
    assert!(!try_lease(&mut t1, lease("node-b", now, false))
        .await
        .unwrap());
    t1.commit().await.unwrap();
    run().await.problem(StatusCode::CONFLICT);
    assert_eq!(
        app.get("/api/v1/settings/recording-pull", &owner)
            .await
            .body["running"],
        true
    );
    // Only the holder renews or releases a lease.
    let outcome = |at| RunOutcome {
        at,
        error: None,
        listed: 0,
        created: 0,
        next_run_at: at,
    };
    let mut t2 = tx().await.unwrap();
    assert!(!renew(&mut t2, "node-b", now + 60_000).await.unwrap());
    finish(&mut t2, "node-b", outcome(now)).await.unwrap();
    t2.commit().await.unwrap();
    let status = app
        .get("/api/v1/settings/recording-pull", &owner)
        .await
        .body;
    assert_eq!(status["running"], true, "{status}");
    // A run that outlives its lease loses it to the next, and with it the
    // right to renew it or to record an outcome.
    let later = now + 120_000;
    let mut t3 = tx().await.unwrap();
    assert!(try_lease(&mut t3, lease("node-c", later, false))
        .await
        .unwrap());
    assert!(!renew(&mut t3, "node-a", later + 60_000).await.unwrap());
    finish(&mut t3, "node-a", outcome(later)).await.unwrap();
    assert!(renew(&mut t3, "node-c", later + 90_000).await.unwrap());
    t3.commit().await.unwrap();
    assert_eq!(
        app.get("/api/v1/settings/recording-pull", &owner)
            .await
            .body["running"],
        true
    );
    let mut t4 = tx().await.unwrap();
    finish(&mut t4, "node-c", outcome(later)).await.unwrap();
    // A node that found the tenant due just before another finished its run
    // does not run it again: a scheduled run's lease needs the run still due
    // (the next is due at `later`). A run asked for by hand need not wait.
    assert!(!try_lease(&mut t4, lease("node-d", now, true))
        .await
        .unwrap());
    assert!(try_lease(&mut t4, lease("node-d", now, false))
        .await
        .unwrap());
    release(&mut t4, "node-d").await.unwrap();
    assert!(try_lease(&mut t4, lease("node-e", later, true))
        .await
        .unwrap());
    finish(&mut t4, "node-e", outcome(later)).await.unwrap();
    t4.commit().await.unwrap();
    let status = app
        .get("/api/v1/settings/recording-pull", &owner)
        .await
        .body;
    assert_eq!(status["running"], false, "{status}");
}

/// With the platform's default settings (the tests' other servers allow
/// private addresses, for their stand-in providers on loopback), a tenant
/// cannot point the pull at the server's own network: not by an address
/// (refused when saved), nor by a name that resolves to one (refused when
/// connecting, before any request leaves).
async fn private_provider_addresses_are_refused(app: TestApp) {
    let (base, fake) = start_fake().await;
    let app = TestApp::spawn_with(app.backend, "strict outbound", |c| {
        c.providers.allow_private_addresses = false
    })
    .await
    .unwrap();
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let path = "/api/v1/settings/credentials/recording_provider";
    let cred = |base_url: &str| {
        json!({"base_url": base_url, "client_id": "switchboard", "client_secret": "client-secret-1",
        "username": "ops", "password": "provider pass phrase ", "token_path": "/oauth/token",
        "recordings_path": "/v2/recordings", "recording_download_path": "/v2/recordings/{id}/audio"})
    };
    for literal in [
        base.clone(),
        "http://169.254.169.254".to_owned(),
        "http://[::ffff:10.0.0.1]:8080".to_owned(),
    ] {
        let refused = app
            .call(Method::PUT, path, Some(&owner), Some(cred(&literal)))
            .await;
        refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            refused.fields(),
            ["base_url"],
            "{literal}: {}",
            refused.text
        );
    }
    let by_name = base.replace("127.0.0.1", "localhost");
    let put = app
        .call(Method::PUT, path, Some(&owner), Some(cred(&by_name)))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let check = app.post(&format!("{path}/test"), &owner, json!({})).await;
    assert_eq!(check.body["ok"], false, "{}", check.text);
    let refusal = "localhost is not a public internet address";
    assert!(
        check.body["message"].as_str().unwrap().contains(refusal),
        "{}",
        check.text
    );
    let run = app
        .post("/api/v1/settings/recording-pull/run", &owner, json!({}))
        .await;
    assert!(
        run.body["error"].as_str().unwrap().contains(refusal),
        "{}",
        run.text
    );
    assert_eq!(run.body["created"], 0);
    assert_eq!(
        fake.tokens_issued.load(Ordering::SeqCst),
        0,
        "no request reached the provider's address"
    );
}

/// The scheduler runs due tenants side by side: one whose provider never
/// answers (until the request times out) does not delay the others.
async fn a_hanging_provider_holds_up_only_its_tenant(app: TestApp) {
    let (base, _fake) = start_fake().await;
    let asked = Arc::new(AtomicUsize::new(0));
    let hanging = {
        let asked = asked.clone();
        axum::Router::new().route(
            "/oauth/token",
            post(move || {
                asked.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<String>()
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hanging).await });
    let app = TestApp::spawn_with(app.backend, "hanging provider", |c| {
        c.providers.timeout_secs = 8
    })
    .await
    .unwrap();
    let mut owners = Vec::new();
    // The hanging tenant first, as the scheduler meets them.
    for (slug, base_url) in [("slowco", &hanging_base), ("quickco", &base)] {
        owners.push(connect(&app, slug, base_url).await.1);
    }
    let started = std::time::Instant::now();
    switchboard::pull::start_due(&app.state, &switchboard::pull::Runs::default()).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "starting the runs waited for one: {:?}",
        started.elapsed()
    );
    let status = |owner: &str| {
        let owner = owner.to_owned();
        let app = &app;
        async move {
            app.get("/api/v1/settings/recording-pull", &owner)
                .await
                .body
        }
    };
    loop {
        let quick = status(&owners[1]).await;
        // Its first run ends at the stand-in's one failing download.
        if !quick["last_run_at"].is_null() {
            assert_eq!(quick["last_created"], 2, "{quick}");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(6),
            "the other tenant's run waited for the hanging one: {quick}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let slow = status(&owners[0]).await;
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "the hanging provider was asked"
    );
    assert_eq!(slow["last_status"], Value::Null, "still waiting: {slow}");
}

/// A recording whose download keeps failing stops the pull at it for a few
/// runs (any of which may find it back), then is given up: its call is kept
/// with its audio `failed`, and the recordings after it are taken.
async fn a_recording_that_never_downloads_is_given_up(app: TestApp) {
    let (base, fake) = start_fake().await;
    *fake.always_fails.lock().unwrap() = Some("rec-2");
    let (tenant, owner) = connect(&app, "acme", &base).await;
    let run = || app.post("/api/v1/settings/recording-pull/run", &owner, json!({}));
    let status = || app.get("/api/v1/settings/recording-pull", &owner);
    let limit = switchboard::pull::GIVE_UP_AFTER_RUNS;
    for n in 1..limit {
        let stopped = run().await.body;
        assert!(
            stopped["error"].as_str().unwrap().contains("rec-2"),
            "{stopped}"
        );
        assert_eq!(stopped["given_up"], json!([]));
        let s = status().await.body;
        assert_eq!(
            (&s["stuck_on"], &s["stuck_runs"]),
            (&json!("rec-2"), &json!(n)),
            "{s}"
        );
    }
    let last = run().await.body;
    assert_eq!(last["given_up"][0]["recording"], "rec-2", "{last}");
    assert!(
        last["given_up"][0]["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 502"),
        "{last}"
    );
    // It went on, to the next recording's one failure.
    assert!(last["error"].as_str().unwrap().contains("rec-3"), "{last}");
    let s = status().await.body;
    assert_eq!(
        (&s["stuck_on"], &s["stuck_runs"]),
        (&json!("rec-3"), &json!(1)),
        "{s}"
    );
    let rest = run().await.body;
    assert_eq!(
        (&rest["error"], &rest["created"]),
        (&Value::Null, &json!(3)),
        "{rest}"
    );
    let s = status().await.body;
    assert_eq!(
        (&s["stuck_on"], &s["stuck_runs"]),
        (&Value::Null, &json!(0)),
        "{s}"
    );
    assert_eq!(s["total_created"], 4, "rec-1, rec-3, rec-4, rec-5: {s}");

    let calls = app.get("/api/v1/calls?limit=50", &owner).await.body["items"]
        .as_array()
        .unwrap()
        .clone();
    let given_up = calls
        .iter()
        .find(|c| c["external_id"] == "rec-2")
        .expect("the given-up recording's call is kept");
    assert_eq!(given_up["stages"]["recording"], "failed", "{given_up}");
    assert!(
        given_up["stages"]["recording_error"]
            .as_str()
            .unwrap()
            .starts_with(&format!("given up after {limit} runs")),
        "{given_up}"
    );
    let call_id = given_up["id"].as_str().unwrap().to_owned();
    let call_path = format!("/api/v1/calls/{call_id}");
    let retry_in = |call: &Value| {
        let at = call["stages"]["recording_retry_at"].as_str().map(|at| {
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap()
        });
        at.map(|at| (at - time::OffsetDateTime::now_utc()).whole_seconds())
    };
    // On the recording retry schedule from now on: its first round is due
    // a minute after the give-up.
    assert!(
        retry_in(given_up).is_some_and(|s| (30..=60).contains(&s)),
        "{given_up}"
    );

    // As a run would: it holds the pull's lease.
    let hold_lease = |held: bool| {
        let sql = if held {
            format!(
                "UPDATE recording_pull SET lease_owner = 'a-run', lease_until = {} WHERE tenant_id = '{}'",
                i64::MAX / 2,
                tenant
            )
        } else {
            "UPDATE recording_pull SET lease_owner = NULL, lease_until = NULL".to_owned()
        };
        let app = &app;
        async move { app.as_table_owner(&sql).await }
    };

    // Fetched again on request: while the provider still fails, 502 with
    // its answer, recorded on the call; once it serves it, stored.
    let fetch_path = format!(
        "/api/v1/calls/{}/recording/fetch",
        given_up["id"].as_str().unwrap()
    );
    let fetch = || app.post(&fetch_path, &owner, json!({}));
    // Not while a run holds the pull's lease: both would download it.
    hold_lease(true).await;
    let running = fetch().await;
    assert_eq!(running.status, StatusCode::CONFLICT, "{}", running.text);
    assert_eq!(
        running.body["type"].as_str().unwrap().rsplit('/').next(),
        Some("pull-running")
    );
    hold_lease(false).await;
    let failing = fetch().await;
    assert_eq!(failing.status, StatusCode::BAD_GATEWAY, "{}", failing.text);
    assert!(
        failing.body["detail"]
            .as_str()
            .unwrap()
            .contains("HTTP 502"),
        "{}",
        failing.text
    );
    let still = app.get(&call_path, &owner).await.body;
    assert_eq!(still["stages"]["recording"], "failed", "{still}");
    assert!(
        still["stages"]["recording_error"]
            .as_str()
            .unwrap()
            .starts_with("downloading recording rec-2"),
        "the latest failure replaces the give-up: {still}"
    );
    assert!(
        retry_in(&still).is_some_and(|s| (270..=300).contains(&s)),
        "the failed fetch was a round; the next is due in 5 minutes: {still}"
    );

    // The scheduled rounds go through the pull too.
    let scheduled_round = || async {
        app.as_table_owner(&format!(
            "UPDATE calls SET audio_retry_at = 1 WHERE id = '{call_id}'"
        ))
        .await;
        switchboard::recordings::retry_due(&app.state).await;
        for _ in 0..100 {
            let call = app.get(&call_path, &owner).await.body;
            if call["stages"]["recording"] != "pending" {
                return call;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the scheduled round did not end");
    };
    // While a run holds the lease, the round waits a minute, uncounted.
    hold_lease(true).await;
    let waited = scheduled_round().await;
    assert_eq!(waited["stages"]["recording"], "failed", "{waited}");
    assert_eq!(
        waited["stages"]["recording_error"], still["stages"]["recording_error"],
        "{waited}"
    );
    assert!(
        retry_in(&waited).is_some_and(|s| (30..=60).contains(&s)),
        "{waited}"
    );
    hold_lease(false).await;
    let failed_again = scheduled_round().await;
    assert_eq!(
        failed_again["stages"]["recording"], "failed",
        "{failed_again}"
    );
    assert!(
        retry_in(&failed_again).is_some_and(|s| (1_770..=1_800).contains(&s)),
        "the third round (give-up, on request, this one) is followed by the fourth in 30 minutes: {failed_again}"
    );
    *fake.always_fails.lock().unwrap() = None;
    let stored = scheduled_round().await;
    assert_eq!(stored["stages"]["recording"], "stored", "{stored}");
    assert!(
        stored["stages"].get("recording_retry_at").is_none(),
        "{stored}"
    );
    // A pulled call whose audio is not stored is fetched on request too.
    app.as_table_owner(&format!(
        "UPDATE calls SET audio_status = 'failed' WHERE id = '{call_id}'"
    ))
    .await;
    let fetched = fetch().await;
    assert_eq!(fetched.status, StatusCode::NO_CONTENT, "{}", fetched.text);
    let after = run().await;
    assert_eq!(
        after.status,
        StatusCode::OK,
        "the fetch gave the lease back: {}",
        after.text
    );
    let stored = app.get(&call_path, &owner).await.body;
    assert_eq!(stored["stages"]["recording"], "stored", "{stored}");
    let recording = app.get(&format!("{call_path}/recording"), &owner).await;
    assert_eq!(recording.status, StatusCode::FOUND, "{}", recording.text);
    let again = fetch().await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(
        again.body["type"].as_str().unwrap().rsplit('/').next(),
        Some("recording-stored")
    );

    // Only the pull's calls are fetched on request.
    let posted = app.post_call(&owner, "posted-1").await;
    let other = app
        .post(
            &format!(
                "/api/v1/calls/{}/recording/fetch",
                posted.body["id"].as_str().unwrap()
            ),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(other.status, StatusCode::CONFLICT, "{}", other.text);
    assert_eq!(
        other.body["type"].as_str().unwrap().rsplit('/').next(),
        Some("not-pulled")
    );
}

/// Connects `app`'s tenant `slug` to the stand-in provider at `base`.
async fn connect(app: &TestApp, slug: &str, base: &str) -> (switchboard_core::TenantId, String) {
    let t = app.seed_tenant(slug).await;
    let owner = app.token(t.email(Role::Owner)).await;
    set_connection(app, &owner, base, json!({})).await;
    (t.id, owner)
}

/// Saves the tenant's connection to the stand-in provider, with `extra` settings.
async fn set_connection(app: &TestApp, owner: &str, base: &str, extra: Value) {
    let mut cred = json!({"base_url": base, "client_id": "switchboard", "client_secret": "client-secret-1",
        "username": "ops", "password": "provider pass phrase ", "token_path": "/oauth/token",
        "recordings_path": "/v2/recordings", "recording_download_path": "/v2/recordings/{id}/audio"});
    for (k, v) in extra.as_object().unwrap() {
        cred[k] = v.clone();
    }
    let put = app
        .call(
            Method::PUT,
            "/api/v1/settings/credentials/recording_provider",
            Some(owner),
            Some(cred),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
}

/// The list is read from the high-water mark by start time, so a long
/// call's recording that a provider lists only once the call is over
/// appears behind the mark. Runs list again from `lookback_minutes` before
/// it; what they took already costs a read, not another download.
async fn a_recording_listed_late_is_taken_by_the_look_back(app: TestApp) {
    let (base, fake) = start_fake().await;
    let (_, owner) = connect(&app, "acme", &base).await;
    let run = || app.post("/api/v1/settings/recording-pull/run", &owner, json!({}));
    run().await; // rec-1, rec-2, then rec-3 fails once
    assert_eq!(run().await.body["created"], 3); // the mark is now rec-5's start
    *fake.late_listed.lock().unwrap() = true;
    fake.downloaded.lock().unwrap().clear();
    // Without a look-back (the default), or one too short to reach back to
    // its start, it is missed.
    let r = run().await;
    assert_eq!(r.body["created"], 0, "{}", r.text);
    set_connection(&app, &owner, &base, json!({"lookback_minutes": 60})).await;
    let r = run().await;
    assert_eq!(r.body["created"], 0, "{}", r.text);
    set_connection(&app, &owner, &base, json!({"lookback_minutes": 180})).await;
    let r = run().await;
    assert_eq!(r.body["created"], 1, "{}", r.text);
    assert_eq!(*fake.downloaded.lock().unwrap(), ["rec-late"]);
    let stages = recording_stages(&app, &owner).await;
    assert!(
        stages.contains(&("rec-late".to_owned(), "stored".to_owned())),
        "{stages:?}"
    );
    // Listed again by every later run, it is not taken again.
    let r = run().await;
    assert_eq!(r.body["created"], 0, "{}", r.text);
    assert_eq!(*fake.downloaded.lock().unwrap(), ["rec-late"]);
    // Deleted by the tenant while still in the window, it stays deleted
    // (decision 0019): listed again, it is neither stored nor downloaded.
    let late = "SELECT id FROM calls WHERE external_id = 'rec-late'";
    let id = app.owner_strings(late).await.remove(0);
    let deleted = app.delete(&format!("/api/v1/calls/{id}"), &owner).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let r = run().await;
    assert_eq!(r.body["created"], 0, "{}", r.text);
    assert_eq!(*fake.downloaded.lock().unwrap(), ["rec-late"]);
    assert!(app.owner_strings(late).await.is_empty());
    let bad = app
        .call(
            Method::PUT,
            "/api/v1/settings/credentials/recording_provider",
            Some(&owner),
            Some(json!({"base_url": base, "client_id": "switchboard", "client_secret": "client-secret-1",
                "username": "ops", "password": "x", "token_path": "/oauth/token",
                "recordings_path": "/v2/recordings", "recording_download_path": "/v2/recordings/{id}/audio",
                "lookback_minutes": 1441})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert!(bad.text.contains("lookback_minutes"), "{}", bad.text);
}

/// The pulled calls' recording stages, by recording id.
async fn recording_stages(app: &TestApp, owner: &str) -> Vec<(String, String)> {
    let mut stages: Vec<(String, String)> = app.get("/api/v1/calls?limit=50", owner).await.body
        ["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let stage = c["stages"]["recording"].as_str().unwrap_or_default();
            (
                c["external_id"].as_str().unwrap().to_owned(),
                stage.to_owned(),
            )
        })
        .collect();
    stages.sort();
    stages
}

/// Several recordings of one tenant due another round at once all share
/// the pull's lease: each used to find it taken by another and wait a
/// minute, so the last of n waited n minutes.
async fn recordings_due_together_are_fetched_together(app: TestApp) {
    let (base, _fake) = start_fake().await;
    let (tenant, owner) = connect(&app, "acme", &base).await;
    let run = || app.post("/api/v1/settings/recording-pull/run", &owner, json!({}));
    run().await; // rec-1, rec-2, then rec-3 fails once
    let r = run().await;
    assert_eq!(r.body["created"], 3, "{}", r.text);
    // As if all five had been given up and were due another round.
    app.as_table_owner(&format!(
        "UPDATE calls SET audio_status = 'failed', audio_key = NULL, audio_retry_at = 1 \
         WHERE tenant_id = '{tenant}'"
    ))
    .await;
    switchboard::recordings::retry_due(&app.state).await;
    let started = std::time::Instant::now();
    loop {
        let stages = recording_stages(&app, &owner).await;
        if stages.iter().all(|(_, stage)| stage == "stored") {
            assert_eq!(stages.len(), 5, "{stages:?}");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "not all fetched: {stages:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A recording is read over as long as `providers.download_timeout_secs`
/// allows, not the per-request `providers.timeout_secs`: a long call's
/// audio on an ordinary link takes minutes.
async fn a_download_may_take_longer_than_a_request(app: TestApp) {
    let (base, fake) = start_fake().await;
    *fake.download_pause.lock().unwrap() = Some(std::time::Duration::from_millis(2_500));
    let app = TestApp::spawn_with(app.backend, "short provider timeout", |c| {
        c.providers.timeout_secs = 1;
        c.providers.download_timeout_secs = 30;
    })
    .await
    .unwrap();
    let (_, owner) = connect(&app, "acme", &base).await;
    let r = app
        .post("/api/v1/settings/recording-pull/run", &owner, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["created"], 2, "{}", r.text);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("rec-3")),
        "stopped at the stand-in's one failing download, not a timeout: {}",
        r.text
    );
    let stages = recording_stages(&app, &owner).await;
    assert_eq!(
        stages,
        [
            ("rec-1".into(), "stored".into()),
            ("rec-2".into(), "stored".into()),
            ("rec-3".into(), "none".into())
        ],
    );
}
