//! Calls in, black-box: agents and their webhook URLs, signed provider
//! webhooks merging into one call, the calls API, recordings and deletion.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_core::Role;
use switchboard_ingest::signature::{
    sign_retell, sign_standard, sign_twilio, HmacAlgorithm, SignatureEncoding, VapiHmac,
};

use crate::helpers::{Reply, TestApp};

crate::on_both_backends!(
    retell_events_merge_into_one_call_exactly_once,
    a_resend_writes_the_objects_a_crash_lost,
    a_live_writer_is_waited_for_and_a_dead_one_is_not,
    concurrent_events_of_many_calls_merge_in_shared_batches,
    bad_webhooks_store_nothing,
    standard_vapi_and_twilio_webhooks,
    calls_api_creates_lists_filters_and_deletes,
    audio_upload_and_signed_recording_urls,
    credentials_are_write_only,
    master_key_rotation_rewraps_tenant_secrets,
    twilio_recordings_are_fetched_with_the_tenant_credentials,
    imports_report_every_bad_line,
    cci_layouts_import_in_place,
    cci_layouts_import_chunk_by_chunk,
    two_processes_extend_the_same_raw_documents,
    signature_variants_over_http,
    uploads_and_imports_outlast_the_request_timeout,
    rows_stored_before_packing_are_read_as_they_are,
    webhook_transcripts_are_read_from_the_raw_document,
    text_postgresql_refuses_and_values_too_deep_to_read_back,
    a_webhook_on_its_way_does_not_switch_an_agent_back_on,
    webhooks_are_limited_per_agent_not_per_address,
    calls_go_to_the_agent_their_payload_names,
    a_call_that_cannot_be_written_fails_only_its_own_event,
    a_deleted_call_stays_deleted_for_its_provider,
    an_import_that_cannot_be_read_on_keeps_what_it_took,
    objects_a_failed_round_left_are_written_without_a_new_event,
    an_agent_put_back_to_proving_itself_is_active_on_its_next_webhook,
);

const RETELL_KEY: &str = "key_retell_test_0123456789";

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Posts a raw body with headers to a webhook URL.
async fn post_raw(
    app: &TestApp,
    url: &str,
    body: &str,
    headers: &[(&str, String)],
    content_type: &str,
) -> Reply {
    let mut req = app
        .client
        .post(url)
        .header("content-type", content_type)
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    Reply::from(req.send().await.expect("sent")).await
}

pub(crate) async fn send_retell(app: &TestApp, url: &str, body: &str) -> Reply {
    let sig = sign_retell(RETELL_KEY, body.as_bytes(), now_ms());
    post_raw(
        app,
        url,
        body,
        &[("x-retell-signature", sig)],
        "application/json",
    )
    .await
}

pub(crate) fn retell_event(event: &str, call_id: &str, extra: Value) -> String {
    let mut call = json!({
        "call_id": call_id,
        "agent_id": "retell-agent-1",
        "call_type": "phone_call",
        "direction": "inbound",
        "from_number": "+14155550123",
        "to_number": "+14155550100",
        "start_timestamp": 1_770_000_000_000i64,
    });
    for (k, v) in extra.as_object().unwrap() {
        call[k] = v.clone();
    }
    json!({"event": event, "call": call}).to_string()
}

/// An owner token and a Retell agent with the tenant's Retell key configured.
/// Stores `key` as the tenant's Retell API key, which Retell signs with.
async fn put_retell_key(app: &TestApp, owner: &str, key: &str) {
    let put = app
        .call(
            Method::PUT,
            "/api/v1/settings/credentials/retell",
            Some(owner),
            Some(json!({ "api_key": key })),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
}

pub(crate) async fn retell_agent(app: &TestApp, slug: &str) -> (String, Value, String) {
    let t = app.seed_tenant(slug).await;
    let owner = app.token(t.email(Role::Owner)).await;
    put_retell_key(app, &owner, RETELL_KEY).await;
    let agent = app
        .post("/api/v1/agents", &owner, json!({"name": "Front desk", "provider": "retell", "provider_agent_id": "retell-agent-1"}))
        .await;
    assert_eq!(agent.status, StatusCode::CREATED, "{}", agent.text);
    (owner, agent.body["agent"].clone(), t.id.to_string())
}

async fn calls_of(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/calls{query}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

/// A batch commits before its objects are synced (decision 0010): a crash
/// in between leaves a committed event without its objects, and no 2xx, so
/// the provider resends it. The resend is a duplicate that writes them.
async fn a_resend_writes_the_objects_a_crash_lost(app: TestApp) {
    let (owner, agent, tenant) = retell_agent(&app, "acme").await;
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    let started = retell_event("call_started", "call-lost", json!({}));
    let ended = retell_event("call_ended", "call-lost", json!({"duration_ms": 5_000}));
    let first = send_retell(&app, &url, &started).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let call = first.body["call_id"].as_str().unwrap().to_owned();
    assert_eq!(send_retell(&app, &url, &ended).await.status, StatusCode::OK);
    let objects = app.state.config.data_dir.join("objects");
    let raw = objects.join(format!("{tenant}/raw/{call}.json"));
    let meta = objects.join(format!("{tenant}/meta/{call}.json"));
    let entries = |path: &std::path::Path| -> Vec<Value> {
        serde_json::from_slice::<Value>(&std::fs::read(path).expect("the raw object"))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    assert_eq!(entries(&raw).len(), 2);

    // The crash lost the second event's objects: the first event's document is back.
    let first_only: Vec<Value> = entries(&raw)[..1].to_vec();
    std::fs::write(&raw, serde_json::to_vec(&first_only).unwrap()).unwrap();
    std::fs::remove_file(&meta).unwrap();
    for _ in 0..2 {
        let again = send_retell(&app, &url, &ended).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(again.body["duplicate"], true);
        assert_eq!(again.body["call_id"], call.as_str());
    }
    let restored = entries(&raw);
    assert_eq!(restored.len(), 2, "the lost entry is written once");
    assert_eq!(restored[1]["payload"]["event"], "call_ended");
    let stored: Value = serde_json::from_slice(&std::fs::read(&meta).expect("meta")).unwrap();
    assert_eq!(stored["duration_ms"], 5_000);

    // The raw document was durable, the meta object not.
    std::fs::remove_file(&meta).unwrap();
    let again = send_retell(&app, &url, &ended).await;
    assert_eq!(again.body["duplicate"], true);
    assert!(meta.exists(), "the meta object is written again");
    assert_eq!(entries(&raw).len(), 2);

    // Nothing of the call was durable but its rows: the resend writes both.
    std::fs::remove_file(&raw).unwrap();
    let again = send_retell(&app, &url, &started).await;
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(entries(&raw).len(), 1);

    // The call's next event does not wait for the lost entry: the process
    // that committed its event (this one, as if restarted with its id) is
    // not going to write it (decision 0018). Its resend still does.
    let analyzed = retell_event("call_analyzed", "call-lost", json!({"duration_ms": 5_000}));
    let sent = std::time::Instant::now();
    let next = send_retell(&app, &url, &analyzed).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    assert!(
        sent.elapsed() < std::time::Duration::from_millis(1_500),
        "waited {:?} for an entry nobody is writing",
        sent.elapsed()
    );
    let events: Vec<Value> = entries(&raw)
        .iter()
        .map(|e| e["payload"]["event"].clone())
        .collect();
    assert_eq!(events, [json!("call_started"), json!("call_analyzed")]);
    send_retell(&app, &url, &ended).await;
    assert_eq!(entries(&raw).len(), 3);

    // A new document is written under its own name (decision 0014): another
    // process may be writing it, or a crash before the round's sync may
    // have torn it. Written just now, it is waited for as long as a missing
    // entry would be; then, since none of its events was answered, it is
    // started again and their resends fill it. The torn bytes are kept.
    let whole = std::fs::read(&raw).unwrap();
    let torn = &whole[..whole.len() / 2];
    std::fs::write(&raw, torn).unwrap();
    let sent = std::time::Instant::now();
    let again = send_retell(&app, &url, &analyzed).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["duplicate"], true);
    assert!(
        sent.elapsed() >= std::time::Duration::from_millis(1_500),
        "a document written {:?} ago was taken for a torn one",
        sent.elapsed()
    );
    let events: Vec<Value> = entries(&raw)
        .iter()
        .map(|e| e["payload"]["event"].clone())
        .collect();
    assert_eq!(events, [json!("call_analyzed")]);
    let set_aside = objects.join(format!("{tenant}/unreadable/raw"));
    let kept: Vec<Vec<u8>> = std::fs::read_dir(&set_aside)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{call}.json."))
        })
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(kept, [torn.to_vec()], "the torn document is kept aside");
    send_retell(&app, &url, &started).await;
    send_retell(&app, &url, &ended).await;
    assert_eq!(entries(&raw).len(), 3);

    // Deleting the call deletes what was set aside too.
    let deleted = app.delete(&format!("/api/v1/calls/{call}"), &owner).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert!(!raw.exists());
    assert_eq!(std::fs::read_dir(&set_aside).unwrap().count(), 0);
}

/// Sends a Retell webhook that must still be unanswered after `held_ms`
/// (it waits for a write), then lets `release` write and takes the answer.
async fn held_until(
    (app, url, body): (&TestApp, &str, &str),
    held_ms: u64,
    what: &str,
    release: impl FnOnce(),
) -> Reply {
    let sending = send_retell(app, url, body);
    tokio::pin!(sending);
    let early = tokio::time::timeout(std::time::Duration::from_millis(held_ms), &mut sending);
    assert!(early.await.is_err(), "{what}");
    release();
    sending.await
}

/// Another process (a second node, `switchboard import`) commits an event
/// of a call and writes its raw entry in its next sync round. However long
/// that takes, a process extending the document meanwhile waits for it while
/// that process lives, and not at all once it is gone (decision 0018).
async fn a_live_writer_is_waited_for_and_a_dead_one_is_not(app: TestApp) {
    use switchboard::db::writers::Registration;
    let (_owner, agent, tenant) = retell_agent(&app, "acme").await;
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    let started = retell_event("call_started", "call-shared", json!({}));
    let first = send_retell(&app, &url, &started).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let call = first.body["call_id"].as_str().unwrap().to_owned();
    let raw = app
        .state
        .config
        .data_dir
        .join(format!("objects/{tenant}/raw/{call}.json"));
    let entries = || -> Vec<Value> {
        serde_json::from_slice(&std::fs::read(&raw).expect("the raw object")).unwrap()
    };
    let keys = || -> Vec<String> {
        entries()
            .iter()
            .map(|e| e["event_key"].as_str().unwrap().to_owned())
            .collect()
    };
    // What the other process has committed and not yet written: received
    // long ago, so no waiting by the clock would wait for it.
    let other = Registration::register(app.db()).await.unwrap();
    let other_id = other.id().get();
    let app = &app;
    let committed_by_other = |key: &'static str| {
        let sql = format!(
            "INSERT INTO call_events (tenant_id, call_id, event_key, received_at, update_json, writer) \
             SELECT tenant_id, call_id, '{key}', received_at - 60000, update_json, {other_id} \
             FROM call_events WHERE call_id = '{call}' ORDER BY received_at LIMIT 1"
        );
        async move { app.as_table_owner(&sql).await }
    };

    // The other process's sync round: the document with its entry.
    let written_by_other = |mut entries: Vec<Value>, key: &str| {
        entries.insert(
            0,
            json!({"event_key": key, "received_at": now_ms() - 60_000,
                   "payload": {"event": "call_started", "from": "the other process"}}),
        );
        std::fs::write(&raw, serde_json::to_vec(&entries).unwrap()).unwrap();
    };

    committed_by_other("other-process-1").await;
    let ended = retell_event("call_ended", "call-shared", json!({"duration_ms": 5_000}));
    let reply = held_until(
        (app, &url, &ended),
        2_500,
        "the document was extended without the live process's entry",
        || written_by_other(entries(), "other-process-1"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(keys().len(), 3, "{:?}", keys());
    assert_eq!(keys()[0], "other-process-1");

    // A document that does not parse is one a process is still creating
    // (decision 0014): waited for while a writer of the call's events
    // lives, though its event is not the call's latest.
    committed_by_other("other-process-2").await;
    let whole = std::fs::read(&raw).unwrap();
    std::fs::write(&raw, &whole[..whole.len() / 2]).unwrap();
    let analyzed = retell_event(
        "call_analyzed",
        "call-shared",
        json!({"duration_ms": 6_000}),
    );
    let reply = held_until(
        (app, &url, &analyzed),
        3_000,
        "a document the live process is writing was set aside",
        || written_by_other(serde_json::from_slice(&whole).unwrap(), "other-process-2"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(keys().len(), 5, "{:?}", keys());

    // The other process dies before writing its next entry: nothing is
    // waited for, and the entry is missing until the event's resend.
    committed_by_other("other-process-3").await;
    drop(other);
    let sent = std::time::Instant::now();
    let analyzed = retell_event(
        "call_analyzed",
        "call-shared",
        json!({"duration_ms": 5_000}),
    );
    let reply = send_retell(app, &url, &analyzed).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        sent.elapsed() < std::time::Duration::from_millis(1_500),
        "waited {:?} for a process that is gone",
        sent.elapsed()
    );
    assert_eq!(keys().len(), 6, "{:?}", keys());
    assert!(!keys().iter().any(|k| k == "other-process-3"));
}

async fn retell_events_merge_into_one_call_exactly_once(app: TestApp) {
    let (owner, agent, tenant) = retell_agent(&app, "acme").await;
    assert_eq!(agent["status"], "pending_validation");
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&app.base) && url.contains("/webhooks/retell/wh_"),
        "{url}"
    );

    let started = retell_event("call_started", "call-a", json!({}));
    let ended = retell_event(
        "call_ended",
        "call-a",
        json!({
            "end_timestamp": 1_770_000_090_000i64,
            "duration_ms": 90_000,
            "disconnection_reason": "user_hangup",
            "recording_url": "https://recordings.example/a.wav",
            "transcript_object": [
                {"role": "agent", "content": "Thanks for calling, how can I help?", "words": [{"word": "Thanks", "start": 0.4, "end": 0.8}]},
                {"role": "user", "content": "I need to move my appointment.", "words": [{"word": "I", "start": 2.0, "end": 2.1}]}
            ],
            "call_cost": {"combined_cost": 42}
        }),
    );
    let analyzed = retell_event(
        "call_analyzed",
        "call-a",
        json!({"call_analysis": {"call_summary": "Moved an appointment.", "user_sentiment": "Positive", "call_successful": true}}),
    );
    // Out of order, with redeliveries.
    let mut call_ids = Vec::new();
    for body in [&analyzed, &ended, &started, &ended, &analyzed, &started] {
        let r = send_retell(&app, &url, body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        call_ids.push(r.body["call_id"].as_str().unwrap().to_owned());
    }
    assert!(call_ids.iter().all(|c| c == &call_ids[0]), "{call_ids:?}");
    let calls = calls_of(&app, &owner, "").await;
    assert_eq!(calls.len(), 1);
    let detail = app
        .get(&format!("/api/v1/calls/{}", call_ids[0]), &owner)
        .await;
    let c = &detail.body;
    assert_eq!(c["source"], "retell");
    assert_eq!(c["agent_id"], agent["id"]);
    assert_eq!(c["stages"]["provider"], "analyzed");
    assert_eq!(c["stages"]["recording"], "available");
    assert_eq!(c["duration_ms"], 90_000);
    assert_eq!(c["from"], "+14155550123");
    assert_eq!(c["disconnection_reason"], "user_hangup");
    assert_eq!(c["provider_analysis"]["summary"], "Moved an appointment.");
    assert_eq!(c["cost"], json!({"amount_minor": 42, "currency": "USD"}));
    assert_eq!(c["billable"], true);
    assert_eq!(c["turns"].as_array().unwrap().len(), 2);
    assert_eq!(c["turns"][1]["speaker"], "customer");

    // The raw payloads and the metadata are in the object store, under the tenant.
    let raw = std::fs::read_to_string(
        app.state
            .config
            .data_dir
            .join(format!("objects/{tenant}/raw/{}.json", call_ids[0])),
    )
    .expect("raw object");
    let raw: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        raw.as_array().unwrap().len(),
        3,
        "one entry per distinct event"
    );
    assert!(app
        .state
        .config
        .data_dir
        .join(format!("objects/{tenant}/meta/{}.json", call_ids[0]))
        .exists());

    let agent_now = app
        .get(
            &format!("/api/v1/agents/{}", agent["id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(agent_now.body["status"], "active");
    assert!(agent_now.body["last_webhook_received_at"].is_string());

    // Ignored events are acknowledged and change nothing.
    let other = send_retell(
        &app,
        &url,
        &json!({"event": "transcript_updated", "call": {"call_id": "x"}}).to_string(),
    )
    .await;
    assert_eq!(other.status, StatusCode::NO_CONTENT);
    // A web call is a test call, not billable.
    let web = retell_event("call_ended", "call-web", json!({"call_type": "web_call"}));
    assert_eq!(send_retell(&app, &url, &web).await.status, StatusCode::OK);
    assert_eq!(calls_of(&app, &owner, "?billable=false").await.len(), 1);
    assert_eq!(calls_of(&app, &owner, "?billable=true").await.len(), 1);
}

/// Sent all at once, events of new and known calls share ingest batches
/// (a batch creates calls and merges into them in one transaction).
async fn concurrent_events_of_many_calls_merge_in_shared_batches(app: TestApp) {
    let (owner, agent, tenant) = retell_agent(&app, "acme").await;
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    let mut bodies = Vec::new();
    for n in 0..12 {
        let id = format!("flood-{n}");
        let ended = retell_event(
            "call_ended",
            &id,
            json!({"end_timestamp": 1_770_000_060_000i64 + n, "transcript_object": [
                {"role": "user", "content": format!("Call number {n}."), "words": []}
            ]}),
        );
        bodies.push(retell_event("call_started", &id, json!({})));
        bodies.push(ended.clone());
        bodies.push(retell_event(
            "call_analyzed",
            &id,
            json!({"call_analysis": {"call_summary": format!("Summary {n}.")}}),
        ));
        bodies.push(ended);
    }
    let replies =
        futures_util::future::join_all(bodies.iter().map(|b| send_retell(&app, &url, b))).await;
    let mut ids = std::collections::BTreeMap::new();
    for (n, r) in replies.iter().enumerate() {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let previous = ids.insert(n / 4, r.body["call_id"].as_str().unwrap().to_owned());
        if let Some(previous) = previous {
            assert_eq!(previous, r.body["call_id"], "one call per provider call id");
        }
    }
    assert_eq!(calls_of(&app, &owner, "?limit=100").await.len(), 12);
    for (n, id) in &ids {
        let c = app.get(&format!("/api/v1/calls/{id}"), &owner).await.body;
        assert_eq!(c["stages"]["provider"], "analyzed", "{c}");
        assert_eq!(c["provider_analysis"]["summary"], format!("Summary {n}."));
        assert_eq!(c["turns"][0]["text"], format!("Call number {n}."));
        assert_eq!(c["duration_ms"], 60_000 + *n as i64);
        let raw: Value = serde_json::from_slice(
            &std::fs::read(
                app.state
                    .config
                    .data_dir
                    .join(format!("objects/{tenant}/raw/{id}.json")),
            )
            .expect("raw object"),
        )
        .unwrap();
        assert_eq!(
            raw.as_array().unwrap().len(),
            3,
            "every distinct event, once: {raw}"
        );
    }
}

async fn bad_webhooks_store_nothing(app: TestApp) {
    let (owner, agent, _) = retell_agent(&app, "acme").await;
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    let body = retell_event("call_ended", "call-b", json!({}));

    let wrong = sign_retell("not-the-key-at-all", body.as_bytes(), now_ms());
    let r = post_raw(
        &app,
        &url,
        &body,
        &[("x-retell-signature", wrong)],
        "application/json",
    )
    .await;
    r.problem(StatusCode::UNAUTHORIZED);
    let stale = sign_retell(RETELL_KEY, body.as_bytes(), now_ms() - 6 * 60 * 1000);
    let r = post_raw(
        &app,
        &url,
        &body,
        &[("x-retell-signature", stale)],
        "application/json",
    )
    .await;
    assert!(r.problem(StatusCode::UNAUTHORIZED)["detail"]
        .as_str()
        .unwrap()
        .contains("window"));
    let r = post_raw(&app, &url, &body, &[], "application/json").await;
    r.problem(StatusCode::UNAUTHORIZED);

    // Correctly signed but malformed or truncated: 400 naming the field.
    let r = send_retell(
        &app,
        &url,
        &retell_event("call_ended", "c", json!({"start_timestamp": "soon"})),
    )
    .await;
    assert_eq!(
        r.problem(StatusCode::BAD_REQUEST)["errors"][0]["field"],
        "call.start_timestamp"
    );
    let r = send_retell(&app, &url, &body[..body.len() / 2]).await;
    assert_eq!(
        r.problem(StatusCode::BAD_REQUEST)["errors"][0]["field"],
        "body"
    );

    // Unknown tokens, another provider's path, a token of the wrong shape: 404 revealing nothing.
    let unknown = url.replace("/wh_", "/wh_0");
    let r = send_retell(&app, &unknown[..unknown.len() - 1], &body).await;
    let not_found = r.problem(StatusCode::NOT_FOUND).clone();
    let r = send_retell(&app, &url.replace("/retell/", "/vapi/"), &body).await;
    assert_eq!(r.problem(StatusCode::NOT_FOUND), &not_found);
    let r = send_retell(
        &app,
        &format!("{}/webhooks/retell/..%2F..%2Fetc", app.base),
        &body,
    )
    .await;
    assert_eq!(r.problem(StatusCode::NOT_FOUND), &not_found);

    // Oversized: 413.
    let huge = "x".repeat(app.state.config.http.body_limit_bytes + 1);
    send_retell(&app, &url, &huge)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE);
    // A body cut off by the sender is not "too large": 400.
    {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let address = app.base.trim_start_matches("http://").to_owned();
        let path = url.trim_start_matches(&app.base);
        let mut conn = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(&body.as_bytes()[..body.len() / 3])
            .await
            .unwrap();
        conn.shutdown().await.unwrap();
        let mut status = vec![0; 12];
        conn.read_exact(&mut status).await.unwrap();
        assert_eq!(String::from_utf8(status).unwrap(), "HTTP/1.1 400");
    }

    assert!(
        calls_of(&app, &owner, "").await.is_empty(),
        "nothing was stored"
    );
    let a = app
        .get(
            &format!("/api/v1/agents/{}", agent["id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(a.body["signature_failures"], 3, "{}", a.text);
    assert_eq!(
        a.body["status"], "active",
        "the correctly signed (if malformed) events validated it"
    );

    // A rotated token kills the old URL.
    let rotated = app
        .post(
            &format!(
                "/api/v1/agents/{}/rotate-token",
                agent["id"].as_str().unwrap()
            ),
            &owner,
            json!({}),
        )
        .await;
    let new_url = rotated.body["webhook_url"].as_str().unwrap();
    assert_ne!(new_url, url);
    assert_eq!(
        rotated.body["status"], "pending_validation",
        "the provider has yet to use the new URL"
    );
    send_retell(&app, &url, &body)
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        send_retell(&app, new_url, &body).await.status,
        StatusCode::OK
    );
    let a = app
        .get(
            &format!("/api/v1/agents/{}", agent["id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(a.body["status"], "active", "{}", a.text);

    // The node remembers agents and provider keys for webhook floods; a
    // change through the API still takes effect on the next webhook.
    put_retell_key(&app, &owner, "a-newer-retell-key-0002").await;
    send_retell(&app, new_url, &body)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let agent_path = format!("/api/v1/agents/{}", agent["id"].as_str().unwrap());
    let off = app
        .call(
            Method::PATCH,
            &agent_path,
            Some(&owner),
            Some(json!({"status": "inactive"})),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    assert_eq!(off.body["refused_while_inactive"], 0, "{}", off.text);
    for _ in 0..2 {
        send_retell(&app, new_url, &body)
            .await
            .problem(StatusCode::FORBIDDEN);
    }
    // Counted for the operator: the provider still sends to it.
    let refused = app.get(&agent_path, &owner).await;
    assert_eq!(
        refused.body["refused_while_inactive"], 2,
        "{}",
        refused.text
    );
    assert!(
        refused.body["last_refused_while_inactive_at"].is_string(),
        "{}",
        refused.text
    );

    // PATCH: `null` removes what can be removed, and is refused elsewhere.
    let set = app
        .patch(
            &agent_path,
            &owner,
            json!({"provider_agent_id": "agent_7c1e"}),
        )
        .await;
    assert_eq!(set.body["provider_agent_id"], "agent_7c1e", "{}", set.text);
    let cleared = app
        .patch(&agent_path, &owner, json!({"provider_agent_id": null}))
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert_eq!(
        cleared.body["provider_agent_id"],
        Value::Null,
        "{}",
        cleared.text
    );
    let refused = app
        .patch(&agent_path, &owner, json!({"name": null, "status": null}))
        .await;
    refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.fields(), ["name", "status"], "{}", refused.text);
    // A Vapi secret that no header could carry is refused at once.
    let r = app
        .post(
            "/api/v1/agents",
            &owner,
            json!({"name": "Spaced", "provider": "vapi",
            "vapi_auth": {"scheme": "secret", "secret": " 0123456789abcdefg"}}),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["vapi_auth.secret"], "{}", r.text);

    // Switched back on, an agent is active at once only if a correctly
    // signed webhook has proved it set up, and it is not showing an error.
    let set_status = |path: String, status: &'static str| {
        let (app, owner) = (&app, &owner);
        async move {
            let r = app.patch(&path, owner, json!({ "status": status })).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.body["status"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(set_status(agent_path.clone(), "active").await, "active");
    let fresh = app
        .post(
            "/api/v1/agents",
            &owner,
            json!({"name": "Back office", "provider": "retell"}),
        )
        .await;
    let fresh_path = format!(
        "/api/v1/agents/{}",
        fresh.body["agent"]["id"].as_str().unwrap()
    );
    assert_eq!(
        set_status(fresh_path.clone(), "active").await,
        "pending_validation"
    );
    assert_eq!(set_status(fresh_path.clone(), "inactive").await, "inactive");
    assert_eq!(set_status(fresh_path, "active").await, "pending_validation");

    let deleted = app
        .delete("/api/v1/settings/credentials/retell", &owner)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    send_retell(&app, new_url, &body)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let errored = app.get(&agent_path, &owner).await;
    assert_eq!(errored.body["status"], "error", "{}", errored.text);
    // Switched off and on again, it still has to prove itself.
    assert_eq!(set_status(agent_path.clone(), "inactive").await, "inactive");
    let off = app.get(&agent_path, &owner).await;
    assert_eq!(
        off.body["error_message"], errored.body["error_message"],
        "{}",
        off.text
    );
    put_retell_key(&app, &owner, RETELL_KEY).await;
    assert_eq!(
        set_status(agent_path.clone(), "active").await,
        "pending_validation"
    );
    assert_eq!(
        send_retell(&app, new_url, &body).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get(&agent_path, &owner).await.body["status"], "active");
}

async fn standard_vapi_and_twilio_webhooks(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;

    // Standard Webhooks: a whsec_ secret shown once; the webhook-id deduplicates.
    let generic = app
        .post(
            "/api/v1/agents",
            &owner,
            json!({"name": "CRM", "provider": "generic"}),
        )
        .await;
    assert_eq!(generic.status, StatusCode::CREATED, "{}", generic.text);
    let secret = generic.body["signing_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let url = generic.body["agent"]["webhook_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"external_id": "crm-1", "direction": "outbound", "from": "+14155550100", "to": "+14155550199",
        "started_at": "2026-03-01T10:00:00Z", "ended_at": "2026-03-01T10:03:00Z",
        "turns": [{"speaker": "agent", "text": "Hello from the CRM"}], "unknown_extra": {"kept": true}})
    .to_string();
    let ts = now_ms() / 1000;
    let sig = sign_standard(&secret, "msg_1", ts, body.as_bytes()).unwrap();
    let headers = [
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig),
    ];
    for _ in 0..2 {
        let r = post_raw(&app, &url, &body, &headers, "application/json").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let mut bad = headers.clone();
    bad[2].1 = "v1,AAAA".into();
    post_raw(&app, &url, &body, &bad, "application/json")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let mut stale = headers.clone();
    stale[1].1 = (ts - 6 * 60).to_string();
    stale[2].1 = sign_standard(&secret, "msg_1", ts - 6 * 60, body.as_bytes()).unwrap();
    post_raw(&app, &url, &body, &stale, "application/json")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let generic_path = format!(
        "/api/v1/agents/{}",
        generic.body["agent"]["id"].as_str().unwrap()
    );
    let counted = app.get(&generic_path, &owner).await;
    assert_eq!(counted.body["signature_failures"], 2, "{}", counted.text);
    assert_eq!(calls_of(&app, &owner, "?direction=outbound").await.len(), 1);
    // Correctly signed, but a bad document: 400 naming the member, nothing stored.
    let standard = |id: &str, body: &str| {
        let headers = [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", ts.to_string()),
            (
                "webhook-signature",
                sign_standard(&secret, id, ts, body.as_bytes()).unwrap(),
            ),
        ];
        let (app, url, body) = (&app, url.clone(), body.to_owned());
        async move { post_raw(app, &url, &body, &headers, "application/json").await }
    };
    let wrong = body.replace("+14155550199", "12");
    let r = standard("msg_bad", &wrong).await;
    assert_eq!(
        r.problem(StatusCode::BAD_REQUEST)["errors"][0]["field"],
        "to",
        "{}",
        r.text
    );
    assert_eq!(calls_of(&app, &owner, "?direction=outbound").await.len(), 1);
    // The sender's unknown members are kept in the raw payload.
    let crm_1 = id_of(&app, &t.id.to_string(), "crm-1").await;
    let raw = std::fs::read_to_string(
        app.state
            .config
            .data_dir
            .join(format!("objects/{}/raw/{crm_1}.json", t.id)),
    )
    .unwrap();
    let raw: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        raw[0]["payload"]["unknown_extra"],
        json!({"kept": true}),
        "{raw}"
    );
    // A later event that states less leaves the rest as it was.
    let analyzed = json!({"external_id": "crm-1", "direction": "outbound", "from": "+14155550100",
        "to": "+14155550199", "started_at": "2026-03-01T10:00:00Z", "stage": "analyzed",
        "summary": "Confirmed the renewal."})
    .to_string();
    let r = standard("msg_2", &analyzed).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let merged = app
        .get(&format!("/api/v1/calls/{crm_1}"), &owner)
        .await
        .body;
    assert_eq!(merged["turns"][0]["text"], "Hello from the CRM", "{merged}");
    assert_eq!(
        merged["provider_analysis"]["summary"], "Confirmed the renewal.",
        "{merged}"
    );
    // A webhook-id longer than PostgreSQL can index is kept as its digest,
    // and a retry of it is still recognised.
    // Incompressible, as PostgreSQL would otherwise compress it to fit.
    let long_id: String = (0..48u32)
        .map(|i| switchboard::ingest::event_key_of(&i.to_le_bytes()))
        .collect();
    let long = json!({"external_id": "crm-long", "direction": "inbound", "from": "+14155550100",
        "to": "+14155550199", "started_at": "2026-03-01T10:00:00Z"})
    .to_string();
    for duplicate in [false, true] {
        let r = standard(&long_id, &long).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["duplicate"], duplicate, "{}", r.text);
    }
    // A body that names a tenant must name this one (by id or slug), or it
    // is refused and nothing is stored (invariant 1).
    let naming = |id: &str, field: &str, tenant: String| {
        let body = json!({"external_id": id, "direction": "outbound", "from": "+14155550100",
            "to": "+14155550199", "started_at": "2026-03-01T11:00:00Z", field: tenant})
        .to_string();
        let sig = sign_standard(&secret, id, ts, body.as_bytes()).unwrap();
        let headers = [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", sig),
        ];
        let (app, url) = (&app, url.clone());
        async move { post_raw(app, &url, &body, &headers, "application/json").await }
    };
    for (field, other) in [
        (
            "tenant_id",
            switchboard_core::TenantId::generate().to_string(),
        ),
        ("customer_id", "some-other-tenant".to_owned()),
    ] {
        let r = naming("crm-foreign", field, other).await;
        r.problem(StatusCode::FORBIDDEN);
        assert_eq!(r.body["field"], field, "{}", r.text);
    }
    assert_eq!(calls_of(&app, &owner, "?direction=outbound").await.len(), 1);
    for (n, (field, own)) in [
        ("tenant_id", t.id.to_string()),
        ("customer_id", t.slug.clone()),
    ]
    .into_iter()
    .enumerate()
    {
        let r = naming(&format!("crm-own-{n}"), field, own).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    assert_eq!(calls_of(&app, &owner, "?direction=outbound").await.len(), 3);
    // A new secret, shown once; the old one works until the next rotation.
    let generic_id = generic.body["agent"]["id"].as_str().unwrap().to_owned();
    let rotate_path = format!("/api/v1/agents/{generic_id}/rotate-secret");
    let rotate = || app.post(&rotate_path, &owner, json!({}));
    let rotated = rotate().await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let second = rotated.body["signing_secret"].as_str().unwrap().to_owned();
    assert!(second.starts_with("whsec_") && second != secret);
    let signed_with = |key: &str, id: &str| {
        let body = json!({"external_id": id, "direction": "inbound", "from": "+14155550100",
            "to": "+14155550199", "started_at": "2026-03-01T12:00:00Z"})
        .to_string();
        let headers = [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", ts.to_string()),
            (
                "webhook-signature",
                sign_standard(key, id, ts, body.as_bytes()).unwrap(),
            ),
        ];
        let (app, url) = (&app, url.clone());
        async move { post_raw(app, &url, &body, &headers, "application/json").await }
    };
    assert_eq!(signed_with(&second, "rot-new").await.status, StatusCode::OK);
    assert_eq!(signed_with(&secret, "rot-old").await.status, StatusCode::OK);
    // A second rotation retires the first secret.
    let third = rotate().await.body["signing_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    signed_with(&secret, "rot-retired")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        signed_with(&second, "rot-second").await.status,
        StatusCode::OK
    );
    assert_eq!(
        signed_with(&third, "rot-third").await.status,
        StatusCode::OK
    );

    // Vapi with a bearer secret chosen by the tenant.
    let vapi = app
        .post("/api/v1/agents", &owner, json!({"name": "Sales", "provider": "vapi", "vapi_auth": {"scheme": "bearer", "secret": "a-long-vapi-shared-secret"}}))
        .await;
    assert_eq!(vapi.status, StatusCode::CREATED, "{}", vapi.text);
    assert_eq!(
        vapi.body["signing_secret"],
        Value::Null,
        "a chosen secret is not echoed"
    );
    assert!(!vapi.text.contains("a-long-vapi-shared-secret"));
    let vurl = vapi.body["agent"]["webhook_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = json!({"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call",
        "call": {"id": "vapi-1", "type": "webCall"},
        "artifact": {"messages": [{"role": "bot", "message": "Hi", "secondsFromStart": 0.2, "duration": 500}]},
        "cost": 0.25, "startedAt": "2026-03-01T11:00:00Z", "endedAt": "2026-03-01T11:01:00Z"}})
    .to_string();
    let ok = post_raw(
        &app,
        &vurl,
        &report,
        &[("authorization", "Bearer a-long-vapi-shared-secret".into())],
        "application/json",
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    post_raw(
        &app,
        &vurl,
        &report,
        &[("authorization", "Bearer wrong".into())],
        "application/json",
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);
    let vapi_path = format!(
        "/api/v1/agents/{}",
        vapi.body["agent"]["id"].as_str().unwrap()
    );
    assert_eq!(
        app.get(&vapi_path, &owner).await.body["signature_failures"],
        1
    );
    let r = post_raw(
        &app,
        &vurl,
        &report.replace("\"cost\":0.25", "\"cost\":\"a quarter\""),
        &[("authorization", "Bearer a-long-vapi-shared-secret".into())],
        "application/json",
    )
    .await;
    assert_eq!(
        r.problem(StatusCode::BAD_REQUEST)["errors"][0]["field"],
        "message.cost",
        "{}",
        r.text
    );
    let call = app
        .get(
            &format!("/api/v1/calls/{}", ok.body["call_id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(
        call.body["billable"], false,
        "a Vapi web call is a test call"
    );
    assert_eq!(call.body["cost"]["amount_minor"], 25);
    // After a rotation Vapi may send the new secret or, until it is
    // updated, the old one.
    let vapi_id = vapi.body["agent"]["id"].as_str().unwrap();
    let rotated = app
        .post(
            &format!("/api/v1/agents/{vapi_id}/rotate-secret"),
            &owner,
            json!({}),
        )
        .await;
    let new_secret = rotated.body["signing_secret"].as_str().unwrap().to_owned();
    for (n, secret) in [new_secret.as_str(), "a-long-vapi-shared-secret"]
        .iter()
        .enumerate()
    {
        let report = report.replace("vapi-1", &format!("vapi-rotated-{n}"));
        let r = post_raw(
            &app,
            &vurl,
            &report,
            &[("authorization", format!("Bearer {secret}"))],
            "application/json",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }

    // Twilio: without credentials the agent cannot verify, and says so.
    let twilio = app
        .post(
            "/api/v1/agents",
            &owner,
            json!({"name": "Line 1", "provider": "twilio"}),
        )
        .await;
    let turl = twilio.body["agent"]["webhook_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let params = vec![
        ("CallSid".to_owned(), "CA0001".to_owned()),
        ("CallStatus".to_owned(), "completed".to_owned()),
        ("Direction".to_owned(), "inbound".to_owned()),
        ("From".to_owned(), "+14155550123".to_owned()),
        ("To".to_owned(), "+14155550100".to_owned()),
        ("CallDuration".to_owned(), "42".to_owned()),
    ];
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let sig = sign_twilio("twilio-auth-token-1", &turl, &params);
    let form_ct = "application/x-www-form-urlencoded";
    post_raw(
        &app,
        &turl,
        &form,
        &[("x-twilio-signature", sig.clone())],
        form_ct,
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);
    let agent = app
        .get(
            &format!(
                "/api/v1/agents/{}",
                twilio.body["agent"]["id"].as_str().unwrap()
            ),
            &owner,
        )
        .await;
    assert_eq!(agent.body["status"], "error");
    let put = app
        .call(Method::PUT, "/api/v1/settings/credentials/twilio", Some(&owner),
            Some(json!({"account_sid": "AC00000000000000000000000000000001", "auth_token": "twilio-auth-token-1"})))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let r = post_raw(&app, &turl, &form, &[("x-twilio-signature", sig)], form_ct).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let call = app
        .get(
            &format!("/api/v1/calls/{}", r.body["call_id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(call.body["duration_ms"], 42_000);
    // Its recording callback, received after, is the same call; the
    // recording's length is not the call's.
    let recording = vec![
        ("CallSid".to_owned(), "CA0001".to_owned()),
        ("RecordingSid".to_owned(), "RE0001".to_owned()),
        ("RecordingStatus".to_owned(), "completed".to_owned()),
        (
            "RecordingUrl".to_owned(),
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0001".to_owned(),
        ),
        ("RecordingDuration".to_owned(), "30".to_owned()),
    ];
    let rform = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&recording)
        .finish();
    let rsig = sign_twilio("twilio-auth-token-1", &turl, &recording);
    let rec = post_raw(
        &app,
        &turl,
        &rform,
        &[("x-twilio-signature", rsig)],
        form_ct,
    )
    .await;
    assert_eq!(rec.status, StatusCode::OK, "{}", rec.text);
    assert_eq!(rec.body["call_id"], r.body["call_id"]);
    let call = app
        .get(
            &format!("/api/v1/calls/{}", r.body["call_id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(call.body["duration_ms"], 42_000, "{}", call.text);
    let agent = app
        .get(
            &format!(
                "/api/v1/agents/{}",
                twilio.body["agent"]["id"].as_str().unwrap()
            ),
            &owner,
        )
        .await;
    assert_eq!(agent.body["status"], "active");
}

fn doc(external_id: &str, direction: &str, text: &str) -> Value {
    json!({"external_id": external_id, "direction": direction, "from": "+14155550123", "to": "+14155550100",
        "started_at": "2026-03-01T10:00:00Z", "ended_at": "2026-03-01T10:02:00Z",
        "turns": [{"speaker": "agent", "text": text, "start": 0.0, "end": 2.0},
                  {"speaker": "customer", "text": "Thanks", "start": 2.5, "end": 3.0}]})
}

async fn calls_api_creates_lists_filters_and_deletes(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let viewer = app.token(t.email(Role::Viewer)).await;

    let first = app
        .post(
            "/api/v1/calls",
            &owner,
            doc("ext-1", "inbound", "Your policy renews in March"),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let again = app
        .post(
            "/api/v1/calls",
            &owner,
            doc("ext-1", "inbound", "Your policy renews in March"),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.body,
        json!({"id": first.body["call_id"], "call_id": first.body["call_id"], "duplicate": true})
    );
    let detail = app
        .get(
            &format!("/api/v1/calls/{}", first.body["id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(
        detail.body["participants"],
        json!([{"role": "agent", "phone": "+14155550100"}, {"role": "customer", "phone": "+14155550123"}]),
        "{}",
        detail.text
    );
    // The same external id with new content updates the same call.
    let changed = app
        .post(
            "/api/v1/calls",
            &owner,
            doc("ext-1", "inbound", "Your POLICY renews in April"),
        )
        .await;
    assert_eq!(changed.body["call_id"], first.body["call_id"]);
    for i in 0..3 {
        let r = app
            .post(
                "/api/v1/calls",
                &owner,
                doc(
                    &format!("ext-out-{i}"),
                    "outbound",
                    "Calling about your quote",
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    // A call posted for an agent does not make the agent look live: only
    // a correctly signed webhook to its URL does.
    let agent = app
        .post(
            "/api/v1/agents",
            &owner,
            json!({"name": "Outbound desk", "provider": "retell"}),
        )
        .await;
    let agent_id = agent.body["agent"]["id"].as_str().unwrap().to_owned();
    // Unlike the other four in every field the list filters by.
    let mut for_agent = doc("ext-agent", "inbound", "Hello");
    for_agent["agent_id"] = json!(agent_id);
    for_agent["from"] = json!("+14155550199");
    for_agent["started_at"] = json!("2026-03-05T09:00:00Z");
    for_agent["ended_at"] = json!("2026-03-05T09:01:00Z");
    for_agent["stage"] = json!("analyzed");
    let r = app.post("/api/v1/calls", &owner, for_agent).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let agent = app.get(&format!("/api/v1/agents/{agent_id}"), &owner).await;
    assert_eq!(agent.body["status"], "pending_validation", "{}", agent.text);
    assert_eq!(agent.body["last_webhook_received_at"], Value::Null);
    // Retell signs with the tenant's API key: the agent has no secret of its own.
    app.post(
        &format!("/api/v1/agents/{agent_id}/rotate-secret"),
        &owner,
        json!({}),
    )
    .await
    .problem(StatusCode::CONFLICT);

    // Viewers read, but cannot write.
    app.post("/api/v1/calls", &viewer, doc("ext-v", "inbound", "x"))
        .await
        .problem(StatusCode::FORBIDDEN);

    assert_eq!(calls_of(&app, &viewer, "").await.len(), 5);
    assert_eq!(
        calls_of(&app, &viewer, "?direction=outbound").await.len(),
        3
    );
    let found = calls_of(&app, &viewer, "?q=policy%20renews%20in%20april").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], first.body["call_id"]);
    assert!(
        calls_of(&app, &viewer, "?q=100%25").await.is_empty(),
        "% is literal"
    );
    let external_ids = |calls: Vec<Value>| -> Vec<String> {
        let mut ids: Vec<String> = calls
            .iter()
            .map(|c| c["external_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let others = ["ext-1", "ext-out-0", "ext-out-1", "ext-out-2"];
    for q in [
        format!("?agent_id={agent_id}"),
        "?phone=%2B14155550199".to_owned(),
        "?status=analyzed".to_owned(),
        "?since=2026-03-02T00:00:00Z".to_owned(),
    ] {
        assert_eq!(
            external_ids(calls_of(&app, &viewer, &q).await),
            ["ext-agent"],
            "{q}"
        );
    }
    for q in [
        "?phone=%2B14155550123",
        "?status=ended",
        "?since=2026-03-01T10:00:00Z&until=2026-03-01T10:00:01Z",
    ] {
        assert_eq!(
            external_ids(calls_of(&app, &viewer, q).await),
            others,
            "{q}"
        );
    }
    // Both ends of the range count: before its start, or from its end on, nothing.
    for q in [
        "?until=2026-03-01T09:59:59Z",
        "?since=2026-03-01T10:00:01Z&until=2026-03-05T08:59:59Z",
    ] {
        assert!(calls_of(&app, &viewer, q).await.is_empty(), "{q}");
    }
    let page = app.get("/api/v1/calls?limit=2", &viewer).await;
    let next = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/api/v1/calls?limit=2&cursor={next}"), &viewer)
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 2);

    // Bad input names the field; nothing is written.
    let mut bad = doc("ext-bad", "sideways", "x");
    bad["from"] = json!("0800 FLOWERS");
    let r = app.post("/api/v1/calls", &owner, bad).await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["direction", "from"]);
    let r = app.post("/api/v1/calls", &owner, json!({"external_id": "x", "agent_id": "agt_01jc5s9x3m4q2a7vbn8k6w0yzd",
        "direction": "inbound", "from": "+14155550123", "to": "+14155550100", "started_at": "2026-03-01T10:00:00Z"})).await;
    assert_eq!(r.fields(), ["agent_id"]);
    for q in [
        "?direction=up",
        "?billable=maybe",
        "?since=yesterday",
        "?phone=12",
        "?status=done",
        "?agent_id=usr_1",
    ] {
        let r = app.get(&format!("/api/v1/calls{q}"), &viewer).await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    // A query string that cannot be read at all is a problem too, naming
    // the parameter, not a plain-text 400.
    for (q, field) in [("?limit=1&limit=2", "limit"), ("?limit=many", "limit")] {
        let r = app.get(&format!("/api/v1/calls{q}"), &viewer).await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), [field], "{q}: {}", r.text);
    }
    // So is a path parameter that is not even UTF-8: it names nothing.
    app.get("/api/v1/calls/%FF%FE", &viewer)
        .await
        .problem(StatusCode::NOT_FOUND);
    let raw = app
        .client
        .post(app.url("/api/v1/calls"))
        .bearer_auth(&owner)
        .header("content-type", "application/json")
        .body("{\"external_id\": ")
        .send()
        .await
        .unwrap();
    Reply::from(raw).await.problem(StatusCode::BAD_REQUEST);
    assert_eq!(calls_of(&app, &viewer, "").await.len(), 5);

    // Deleting needs calls:delete, is audited, and removes the objects.
    let id = first.body["call_id"].as_str().unwrap();
    app.delete(&format!("/api/v1/calls/{id}"), &viewer)
        .await
        .problem(StatusCode::FORBIDDEN);
    let d = app.delete(&format!("/api/v1/calls/{id}"), &owner).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    app.get(&format!("/api/v1/calls/{id}"), &owner)
        .await
        .problem(StatusCode::NOT_FOUND);
    assert!(!app
        .state
        .config
        .data_dir
        .join(format!("objects/{}/raw/{id}.json", t.id))
        .exists());
    let audit = app.get("/api/v1/audit?action=call.deleted", &owner).await;
    assert_eq!(audit.body["items"][0]["target_id"], id);
}

async fn audio_upload_and_signed_recording_urls(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let created = app
        .post(
            "/api/v1/calls",
            &owner,
            doc("ext-audio", "inbound", "Hello"),
        )
        .await;
    let id = created.body["call_id"].as_str().unwrap();
    app.get(&format!("/api/v1/calls/{id}/recording"), &owner)
        .await
        .problem(StatusCode::NOT_FOUND);

    let audio = b"RIFF\x24\x00\x00\x00WAVEfmt fake audio bytes".to_vec();
    let upload = |ct: &'static str, body: Vec<u8>| {
        app.client
            .post(app.url(&format!("/api/v1/calls/{id}/audio")))
            .bearer_auth(&owner)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    Reply::from(upload("text/plain", audio.clone()).await.unwrap())
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let empty = Reply::from(upload("audio/wav", Vec::new()).await.unwrap()).await;
    empty.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.fields(), ["body"], "{}", empty.text);
    assert_eq!(
        upload("audio/wav", audio.clone()).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );

    let r = app
        .get(&format!("/api/v1/calls/{id}/recording"), &owner)
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    let location = r.headers["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains(&format!("/objects/{}/audio/{id}.wav", t.id)),
        "{location}"
    );
    let fetched = app.client.get(&location).send().await.unwrap();
    assert_eq!(fetched.headers()["content-type"], "audio/wav");
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), audio);
    // A tampered or re-pointed URL is refused.
    for bad in [
        location.replace("sig=", "sig=0"),
        location.replace(
            &t.id.to_string(),
            &switchboard_core::TenantId::generate().to_string(),
        ),
        location.replace("expires=", "expires=1"),
    ] {
        assert_eq!(
            app.client.get(&bad).send().await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
    let detail = app.get(&format!("/api/v1/calls/{id}"), &owner).await;
    assert_eq!(detail.body["stages"]["recording"], "stored");

    // Over `http.audio_limit_bytes`: 413, and the stored audio is kept.
    let small = TestApp::spawn_with(app.backend, "small audio limit", |c| {
        c.http.audio_limit_bytes = 64
    })
    .await
    .unwrap();
    let t2 = small.seed_tenant("beta").await;
    let owner2 = small.token(t2.email(Role::Owner)).await;
    let call2 = small
        .post("/api/v1/calls", &owner2, doc("ext-big", "inbound", "Hello"))
        .await;
    let id2 = call2.body["call_id"].as_str().unwrap();
    let send = |body: Vec<u8>| {
        small
            .client
            .post(small.url(&format!("/api/v1/calls/{id2}/audio")))
            .bearer_auth(&owner2)
            .header("content-type", "audio/wav")
            .body(body)
            .send()
    };
    assert_eq!(
        send(vec![7; 64]).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    Reply::from(send(vec![8; 65]).await.unwrap())
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE);
    let kept = small
        .get(&format!("/api/v1/calls/{id2}/recording"), &owner2)
        .await;
    let location = kept.headers["location"].to_str().unwrap().to_owned();
    let stored = small.client.get(&location).send().await.unwrap();
    assert_eq!(stored.bytes().await.unwrap().to_vec(), vec![7; 64]);

    // A slow upload holds no write lock: other writes go on while its body
    // is still on the way (on SQLite they once waited for it to finish).
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(
        format!(
            "POST /api/v1/calls/{id}/audio HTTP/1.1\r\nhost: {address}\r\n\
             authorization: Bearer {owner}\r\ncontent-type: audio/wav\r\n\
             content-length: {}\r\n\r\n",
            2 * audio.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    slow.write_all(&audio).await.unwrap();
    let meanwhile = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        app.post(
            "/api/v1/calls",
            &owner,
            doc("ext-audio-meanwhile", "inbound", "Hi"),
        ),
    )
    .await
    .expect("a write while an upload is in flight is not held up by it");
    assert_eq!(meanwhile.status, StatusCode::CREATED, "{}", meanwhile.text);
    slow.write_all(&audio).await.unwrap();
    let mut answer = vec![0; 12];
    slow.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 204");

    // Audio in another format replaces the earlier file, and deleting the
    // call leaves no audio of any format.
    let audio_file = |ext: &str| {
        app.state
            .config
            .data_dir
            .join(format!("objects/{}/audio/{id}.{ext}", t.id))
    };
    assert!(audio_file("wav").exists());
    assert_eq!(
        upload("audio/mpeg", b"ID3 fake mp3".to_vec())
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(audio_file("mp3").exists());
    assert!(!audio_file("wav").exists(), "the replaced wav is removed");
    // One left behind by an upload that raced a deletion (`adopt_audio`
    // removes it when it loses; here it is put there by hand).
    std::fs::write(audio_file("ogg"), b"OggS").unwrap();
    let d = app.delete(&format!("/api/v1/calls/{id}"), &owner).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.text);
    for ext in ["wav", "mp3", "ogg"] {
        assert!(!audio_file(ext).exists(), "{ext} left behind");
    }
}

async fn credentials_are_write_only(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let manager = app.token(t.email(Role::Manager)).await;
    let path = "/api/v1/settings/credentials/retell";
    let empty = app.get(path, &owner).await;
    assert_eq!(empty.body["configured"], false);
    let put = app
        .call(
            Method::PUT,
            path,
            Some(&owner),
            Some(json!({"api_key": "key_supersecret_7f3a"})),
        )
        .await;
    assert_eq!(put.body["hint"], "7f3a");
    let got = app.get(path, &owner).await;
    assert_eq!(got.body["configured"], true);
    assert_eq!(got.body["hint"], "7f3a");
    let updated = got.body["updated_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(updated, &time::format_description::well_known::Rfc3339)
            .is_ok_and(|at| (time::OffsetDateTime::now_utc() - at).whole_seconds().abs() < 60),
        "{updated}"
    );
    assert!(!got.text.contains("supersecret") && !put.text.contains("supersecret"));
    let audit = app.get("/api/v1/audit", &owner).await;
    assert!(!audit.text.contains("supersecret"));
    app.get(path, &manager).await.problem(StatusCode::FORBIDDEN);

    let bad = app
        .call(
            Method::PUT,
            "/api/v1/settings/credentials/twilio",
            Some(&owner),
            Some(json!({"account_sid": "AC1", "extra": 1})),
        )
        .await;
    bad.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.fields(), ["account_sid", "auth_token", "extra"]);
    // A secret sent in the wrong shape is refused without being repeated.
    for misplaced in [
        json!("key_misplaced_5e1b"),
        json!({"api_key": ["key_misplaced_5e1b"]}),
    ] {
        let r = app
            .call(Method::PUT, path, Some(&owner), Some(misplaced))
            .await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!r.text.contains("misplaced"), "{}", r.text);
    }
    app.get("/api/v1/settings/credentials/nobody", &owner)
        .await
        .problem(StatusCode::NOT_FOUND);

    // The check asks the provider: stand-ins for Retell, Vapi and Twilio
    // that each accept one credential, sent as that provider expects it.
    fn accepts(
        expected: &'static str,
    ) -> impl Fn(axum::http::HeaderMap) -> std::future::Ready<StatusCode> + Clone {
        move |h: axum::http::HeaderMap| {
            std::future::ready(if h.get("authorization").is_some_and(|v| v == expected) {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            })
        }
    }
    use base64::Engine as _;
    let twilio_basic: &'static str = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode("AC0123456789abcdef0123456789abcdef:twilio_token_9d2c")
    )
    .leak();
    let fake = axum::Router::new()
        .route(
            "/list-agents",
            axum::routing::get(accepts("Bearer key_supersecret_7f3a")),
        )
        .route(
            "/assistant",
            axum::routing::get(accepts("Bearer vapi_private_key_51e0")),
        )
        .route(
            "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef.json",
            axum::routing::get(accepts(twilio_basic)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, fake).await });
    let app = TestApp::spawn_with(app.backend, "credentials check", |c| {
        c.providers.retell_api_base = fake_base.clone();
        c.providers.vapi_api_base = fake_base.clone();
        c.providers.twilio_api_base = fake_base.clone();
    })
    .await
    .unwrap();
    let t = app.seed_tenant("beta").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let check = "/api/v1/settings/credentials/retell/test";
    app.post(check, &owner, json!({}))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.call(
        Method::PUT,
        path,
        Some(&owner),
        Some(json!({"api_key": "key_supersecret_7f3a"})),
    )
    .await;
    assert_eq!(app.post(check, &owner, json!({})).await.body["ok"], true);
    app.call(
        Method::PUT,
        path,
        Some(&owner),
        Some(json!({"api_key": "key_wrong_but_long"})),
    )
    .await;
    let refused = app.post(check, &owner, json!({})).await;
    assert_eq!(refused.body["ok"], false);
    assert_eq!(refused.body["provider_status"], 401);
    let d = app.delete(path, &owner).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    app.delete(path, &owner)
        .await
        .problem(StatusCode::NOT_FOUND);

    for (provider, good, wrong) in [
        (
            "vapi",
            json!({"api_key": "vapi_private_key_51e0"}),
            json!({"api_key": "vapi_private_key_0000"}),
        ),
        (
            "twilio",
            json!({"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "twilio_token_9d2c"}),
            json!({"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "twilio_token_0000"}),
        ),
    ] {
        let stored = format!("/api/v1/settings/credentials/{provider}");
        let check = format!("{stored}/test");
        for (credential, accepted) in [(good, true), (wrong, false)] {
            let put = app
                .call(Method::PUT, &stored, Some(&owner), Some(credential))
                .await;
            assert_eq!(put.status, StatusCode::OK, "{provider}: {}", put.text);
            let answer = app.post(&check, &owner, json!({})).await;
            assert_eq!(answer.body["ok"], accepted, "{provider}: {}", answer.text);
            let status = if accepted { 200 } else { 401 };
            assert_eq!(answer.body["provider_status"], status, "{provider}");
        }
    }
}

async fn master_key_rotation_rewraps_tenant_secrets(app: TestApp) {
    let (_, agent, _) = retell_agent(&app, "acme").await;
    let path = agent["webhook_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&app.base)
        .to_owned();
    let old_key = app.state.config.master_key.clone().unwrap();
    let new_key = switchboard::secrets::generate_key_text().to_string();
    let data_dir = app.state.config.data_dir.clone();
    let database_url = app.database_url.clone();
    let mut cmd = app.cli(&["master-key", "rotate"]);
    cmd.env("SWITCHBOARD_MASTER_KEY", &new_key)
        .env("SWITCHBOARD_MASTER_KEY_PREVIOUS", old_key.expose());
    let out = cmd.output().await.expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 tenant secrets"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A node holding only the new key still verifies the tenant's webhooks.
    let rotated = TestApp::spawn_with(app.backend, "after rotation", |c| {
        c.data_dir = data_dir.clone();
        c.database_url = database_url.clone().map(switchboard::config::Secret::new);
        c.master_key = Some(switchboard::config::Secret::new(new_key.clone()));
    })
    .await
    .unwrap();
    let body = retell_event("call_ended", "after-rotation", json!({}));
    let r = send_retell(&rotated, &format!("{}{path}", rotated.base), &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// A stand-in for Twilio's API: serves `RE1.wav` to the right credentials,
/// and `RE2.wav` once the flag says it is fixed (it fails until then).
/// A stand-in for Twilio's recordings: RE1 is there, RE2 fails until
/// `fixed` is set, anything else always fails (its requests are counted).
async fn fake_twilio() -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let fixed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let re2_fixed = fixed.clone();
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failing = failures.clone();
    use axum::http::HeaderMap;
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "AC00000000000000000000000000000001:twilio-auth-token-1"
        )
    );
    let app = axum::Router::new().route(
        "/2010-04-01/Accounts/{sid}/Recordings/{file}",
        axum::routing::get(
            move |axum::extract::Path((_, file)): axum::extract::Path<(String, String)>,
                  h: HeaderMap| {
                let ok = h
                    .get("authorization")
                    .is_some_and(|v| v == expected.as_str());
                let re2 = re2_fixed.load(std::sync::atomic::Ordering::SeqCst);
                let failing = failing.clone();
                async move {
                    match (ok, file.as_str()) {
                        (false, _) => (StatusCode::UNAUTHORIZED, Vec::new()),
                        (true, "RE1.wav") => (StatusCode::OK, b"RIFF-twilio-recording".to_vec()),
                        (true, "RE2.wav") if re2 => (StatusCode::OK, b"RIFF-second".to_vec()),
                        (true, "RE2.wav") => (StatusCode::INTERNAL_SERVER_ERROR, Vec::new()),
                        _ => {
                            failing.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            (StatusCode::INTERNAL_SERVER_ERROR, Vec::new())
                        }
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, fixed, failures)
}

async fn twilio_recordings_are_fetched_with_the_tenant_credentials(app: TestApp) {
    let (fake, re2_fixed, re3_requests) = fake_twilio().await;
    let app = TestApp::spawn_with(app.backend, "twilio recordings", |c| {
        c.providers.twilio_api_base = fake.clone();
        // One more round, due at once, after a fetch fails.
        c.providers.recording_retry_secs = vec![0];
    })
    .await
    .unwrap();
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    app.call(Method::PUT, "/api/v1/settings/credentials/twilio", Some(&owner),
        Some(json!({"account_sid": "AC00000000000000000000000000000001", "auth_token": "twilio-auth-token-1"}))).await;
    let agent = app
        .post(
            "/api/v1/agents",
            &owner,
            json!({"name": "Line 1", "provider": "twilio"}),
        )
        .await;
    let url = agent.body["agent"]["webhook_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let send = |call: &'static str, recording: &'static str| {
        let params = vec![
            ("CallSid".to_owned(), call.to_owned()),
            ("RecordingSid".to_owned(), recording.to_owned()),
            ("RecordingStatus".to_owned(), "completed".to_owned()),
            ("RecordingUrl".to_owned(), format!("{fake}/2010-04-01/Accounts/AC00000000000000000000000000000001/Recordings/{recording}")),
        ];
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let sig = sign_twilio("twilio-auth-token-1", &url, &params);
        let (app, url) = (&app, url.clone());
        async move {
            post_raw(
                app,
                &url,
                &form,
                &[("x-twilio-signature", sig)],
                "application/x-www-form-urlencoded",
            )
            .await
        }
    };
    let stored = send("CA-rec-1", "RE1").await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text);
    let failing = send("CA-rec-2", "RE2").await;
    let wait_for = |id: String, until: &'static str| {
        let app = &app;
        let owner = owner.clone();
        async move {
            for _ in 0..100 {
                let c = app.get(&format!("/api/v1/calls/{id}"), &owner).await;
                if c.body["stages"]["recording"] == until {
                    return c.body;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("the recording of {id} never became {until}");
        }
    };
    wait_for(
        stored.body["call_id"].as_str().unwrap().to_owned(),
        "stored",
    )
    .await;
    let r = app
        .get(
            &format!(
                "/api/v1/calls/{}/recording",
                stored.body["call_id"].as_str().unwrap()
            ),
            &owner,
        )
        .await;
    let audio = app
        .client
        .get(r.headers["location"].to_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        audio.bytes().await.unwrap().as_ref(),
        b"RIFF-twilio-recording"
    );
    let failed = wait_for(
        failing.body["call_id"].as_str().unwrap().to_owned(),
        "failed",
    )
    .await;
    assert_eq!(
        failed["stages"]["recording_error"],
        "Twilio answered HTTP 500"
    );
    assert!(
        failed["stages"]["recording_retry_at"].is_string(),
        "another round is due: {failed}"
    );
    // Twilio recovers; the next round fetches it.
    re2_fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    switchboard::recordings::retry_due(&app.state).await;
    let fetched = wait_for(
        failing.body["call_id"].as_str().unwrap().to_owned(),
        "stored",
    )
    .await;
    assert!(
        fetched["stages"]["recording_retry_at"].is_null(),
        "{fetched}"
    );

    // A recording that keeps failing gets its rounds, then stays failed.
    let lost = send("CA-rec-3", "RE3").await;
    let lost_id = lost.body["call_id"].as_str().unwrap().to_owned();
    let first_round = wait_for(lost_id.clone(), "failed").await;
    assert!(first_round["stages"]["recording_retry_at"].is_string());
    // Two nodes find it due at once: one of them fetches it.
    tokio::join!(
        switchboard::recordings::retry_due(&app.state),
        switchboard::recordings::retry_due(&app.state)
    );
    // The requests Twilio has had for RE3, and whether another round is due.
    let rounds = |call: &Value, requests: usize, again: bool, why: &str| {
        let seen = re3_requests.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(seen, requests, "{why}");
        let due = call["stages"]["recording_retry_at"].is_string();
        assert_eq!(due, again, "{why}: {call}");
    };
    let last_round = wait_for(lost_id.clone(), "failed").await;
    rounds(
        &last_round,
        6,
        false,
        "two rounds of three attempts, the last",
    );
    switchboard::recordings::retry_due(&app.state).await;
    let after = app.get(&format!("/api/v1/calls/{lost_id}"), &owner).await;
    assert_eq!(
        after.body["stages"]["recording"], "failed",
        "no third round"
    );
    // Twilio resends the callback: the event is a duplicate, but a
    // recording that failed is fetched again, and its schedule starts over.
    let resent = send("CA-rec-3", "RE3").await;
    assert_eq!(resent.body["duplicate"], true, "{}", resent.text);
    let after_resend = wait_for(lost_id.clone(), "failed").await;
    rounds(
        &after_resend,
        9,
        true,
        "the resend's round, then a new schedule",
    );
}

async fn imports_report_every_bad_line(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let good = |id: &str| doc(id, "inbound", "Imported hello").to_string();
    let jsonl = format!(
        "{}\n{}\n\n{}\n{{\"external_id\": \"cut\n{}\n",
        good("imp-1"),
        good("imp-2"),
        json!({"external_id": "imp-bad", "direction": "inbound", "from": "12", "to": "+14155550100", "started_at": "2026-03-01T10:00:00Z"}),
        good("imp-1"),
    );
    let post = |body: String, ct: &'static str| {
        app.client
            .post(app.url("/api/v1/calls/import"))
            .bearer_auth(&owner)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = Reply::from(post(jsonl, "application/x-ndjson").await.unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (
            &r.body["total"],
            &r.body["accepted"],
            &r.body["duplicates"],
            &r.body["failed"]
        ),
        (&json!(5), &json!(2), &json!(1), &json!(2))
    );
    assert_eq!(r.body["errors"][0]["line"], 4);
    assert_eq!(r.body["errors"][0]["errors"][0]["field"], "from");
    assert_eq!(r.body["errors"][1]["line"], 5);
    assert_eq!(r.body["errors"][1]["errors"][0]["field"], "body");

    let csv = "external_id,direction,from,to,started_at,test,transcript\n\
        csv-1,outbound,+14155550123,+14155550100,2026-03-02T10:00:00Z,true,\"agent: Hello\ncustomer: Hi\"\n\
        csv-2,outbound,+14155550123,+14155550100,not-a-time,false,\n"
        .to_owned();
    let r = Reply::from(post(csv, "text/csv").await.unwrap()).await;
    assert_eq!(
        (&r.body["accepted"], &r.body["failed"]),
        (&json!(1), &json!(1)),
        "{}",
        r.text
    );
    assert_eq!(r.body["errors"][0]["errors"][0]["field"], "started_at");
    Reply::from(post("x".into(), "text/plain").await.unwrap())
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let calls = calls_of(&app, &owner, "").await;
    assert_eq!(calls.len(), 3);

    // Many lines go in together, but a call's lines keep the file's order:
    // its last line is what the call says. (Another tenant, to count alone.)
    let bulk = app.seed_tenant("bulkco").await;
    let bulk_owner = app.token(bulk.email(Role::Owner)).await;
    let mut many: Vec<String> = (0..300).map(|i| good(&format!("bulk-{i}"))).collect();
    for (at, text) in [
        (10, "first version"),
        (11, "second version"),
        (150, "third version"),
    ] {
        many.insert(at, doc("bulk-same", "inbound", text).to_string());
    }
    let sent = app
        .client
        .post(app.url("/api/v1/calls/import"))
        .bearer_auth(&bulk_owner)
        .header("content-type", "application/x-ndjson")
        .body(many.join("\n"))
        .send()
        .await
        .unwrap();
    let r = Reply::from(sent).await;
    assert_eq!(
        (
            &r.body["accepted"],
            &r.body["duplicates"],
            &r.body["failed"]
        ),
        (&json!(303), &json!(0), &json!(0)),
        "{}",
        r.text
    );
    let same = calls_of(&app, &bulk_owner, "?q=version").await;
    assert_eq!(same.len(), 1);
    let same = app
        .get(
            &format!("/api/v1/calls/{}", same[0]["id"].as_str().unwrap()),
            &bulk_owner,
        )
        .await;
    // (The analysis of an earlier version may still be shown while the
    // latest one's is queued: the transcript is what must be the last.)
    assert_eq!(
        same.body["turns"][0]["text"], "third version",
        "{}",
        same.text
    );
    assert!(calls.iter().all(|c| c["source"] == "import"));

    // The command line does the same, with a report on stdout and exit code 1.
    let file = app.state.config.data_dir.join("calls.jsonl");
    // A line that names another tenant is refused; one that names this
    // tenant (here by slug) is imported.
    let mut foreign = doc("cli-foreign", "inbound", "Hello");
    foreign["tenant_id"] = json!("another-tenant");
    let mut own = doc("cli-own", "inbound", "Hello");
    own["customer_id"] = json!("acme");
    std::fs::write(
        &file,
        format!("{}\n{{\"bad\": 1}}\n{foreign}\n{own}\n", good("cli-1")),
    )
    .unwrap();
    let mut cmd = app.cli(&["import", "--tenant", "acme"]);
    cmd.arg(&file);
    let out = cmd.output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report on stdout");
    assert_eq!(
        (&report["accepted"], &report["failed"]),
        (&json!(2), &json!(2))
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: external_id"), "{stderr}");
    assert!(stderr.contains("line 3: tenant_id"), "{stderr}");
    assert_eq!(calls_of(&app, &owner, "").await.len(), 5);
}

/// Writes a small CCI-style layout: two good calls (one with audio and a
/// final transcript, one with a raw transcript) and one without a start.
fn write_cci_layout(root: &std::path::Path) {
    let put = |rel: &str, body: &[u8]| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    };
    put(
        "northwind-org/meta/c1.json",
        json!({"call_id": "cci-1", "start_time": "2026-03-01T10:00:00Z",
        "direction": "Inbound", "caller": "+14155550123", "callee": "+14155550100"})
        .to_string()
        .as_bytes(),
    );
    put(
        "northwind-org/meta/c2.json",
        json!({"id": "cci-2", "timestamp": 1772359200,
        "from": "+14155550124", "to": "+14155550100"})
        .to_string()
        .as_bytes(),
    );
    put(
        "northwind-org/meta/c3.json",
        json!({"call_id": "cci-3"}).to_string().as_bytes(),
    );
    put("northwind-org/audio/c1.wav", b"RIFF-cci-audio");
    put(
        "results/northwind-org/final/v1.0/c1.json",
        json!({"turns": [{"speaker": "agent", "text": "Hello from the archive"}],
        "summary": "Greeting"})
        .to_string()
        .as_bytes(),
    );
    put(
        "results/northwind-org/raw/c2.json",
        json!({"transcript": [{"role": "user", "content": "Hi there"}]})
            .to_string()
            .as_bytes(),
    );
}

async fn cci_layouts_import_in_place(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let root = app.state.config.data_dir.join("cci");
    write_cci_layout(&root);
    // A layout may come from a customer: links that lead out of it (to the
    // server's own files) are not followed, and are reported.
    let outside = app.state.config.data_dir.join("not-in-the-layout");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("server-secret.bin"), b"SERVER-ONLY-BYTES").unwrap();
    std::fs::write(
        outside.join("m4.json"),
        json!({"call_id": "cci-linked", "start_time": "2026-03-01T10:00:00Z",
            "caller": "+14155550125", "callee": "+14155550100"})
        .to_string(),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.join("server-secret.bin"),
        root.join("northwind-org/audio/c2.wav"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.join("m4.json"),
        root.join("northwind-org/meta/c4.json"),
    )
    .unwrap();
    let import = || async {
        let root = root.to_str().expect("a UTF-8 path");
        let out = app
            .cli(&["import", "--tenant", "acme", "--cci", root])
            .output()
            .await
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&out.stderr)));
        (
            out.status.code(),
            report,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, report, stderr) = import().await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        (&report["accepted"], &report["failed"]),
        (&json!(2), &json!(2)),
        "{report}"
    );
    assert!(stderr.contains("started_at"), "{stderr}");
    let linked_meta = &report["errors"][1];
    assert_eq!(
        (&linked_meta["line"], &linked_meta["errors"][0]["field"]),
        (&json!(4), &json!("meta"))
    );
    assert!(
        linked_meta["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{report}"
    );
    assert_eq!(
        report["audio_errors"][0]["line"], 2,
        "c2's recording: {report}"
    );

    let calls = calls_of(&app, &owner, "").await;
    assert_eq!(calls.len(), 2);
    let c1 = calls.iter().find(|c| c["external_id"] == "cci-1").unwrap();
    assert_eq!(c1["stages"]["recording"], "stored");
    let detail = app
        .get(
            &format!("/api/v1/calls/{}", c1["id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(detail.body["turns"][0]["text"], "Hello from the archive");
    assert_eq!(detail.body["provider_analysis"]["summary"], "Greeting");
    let c2 = calls.iter().find(|c| c["external_id"] == "cci-2").unwrap();
    assert_eq!(c2["started_at"], "2026-03-01T10:00:00Z");
    let detail = app
        .get(
            &format!("/api/v1/calls/{}", c2["id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(detail.body["turns"][0]["speaker"], "customer");
    assert_eq!(
        c2["stages"]["recording"], "none",
        "the linked file was not copied"
    );
    let audio = app
        .state
        .config
        .data_dir
        .join(format!("objects/{}/audio", t.id));
    for stored in std::fs::read_dir(&audio).unwrap() {
        assert_ne!(
            std::fs::read(stored.unwrap().path()).unwrap(),
            b"SERVER-ONLY-BYTES"
        );
    }

    // Importing the same layout again changes nothing.
    let (_, again, _) = import().await;
    assert_eq!(
        (&again["accepted"], &again["duplicates"]),
        (&json!(0), &json!(2)),
        "{again}"
    );
    assert_eq!(calls_of(&app, &owner, "").await.len(), 2);
}

/// A layout larger than a chunk keeps its lines' numbers, reports, and
/// recordings across chunks: the import never holds the whole layout.
async fn cci_layouts_import_chunk_by_chunk(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let root = app.state.config.data_dir.join("cci-bulk");
    let calls = 2 * switchboard::cci::CHUNK + 3;
    let put = |rel: String, body: Vec<u8>| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    };
    // Sorted by name, so that line n is call n.
    let name = |i: usize| format!("c{i:04}");
    for i in 0..calls {
        let meta = if i == 300 {
            b"{not json".to_vec()
        } else {
            json!({"call_id": format!("bulk-{i}"), "start_time": "2026-03-01T10:00:00Z",
                "caller": "+14155550123", "callee": "+14155550100"})
            .to_string()
            .into_bytes()
        };
        put(format!("bulk-org/meta/{}.json", name(i)), meta);
    }
    let with_audio = [0, switchboard::cci::CHUNK + 1, calls - 1];
    for i in with_audio {
        put(
            format!("bulk-org/audio/{}.wav", name(i)),
            format!("RIFF-{i}").into_bytes(),
        );
    }
    let out = app
        .cli(&[
            "import",
            "--tenant",
            "acme",
            "--cci",
            root.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        (&report["total"], &report["accepted"], &report["failed"]),
        (&json!(calls), &json!(calls - 1), &json!(1)),
        "{report}"
    );
    assert_eq!(report["errors"][0]["line"], 301, "{report}");
    for i in with_audio {
        let sql = format!(
            "SELECT audio_status FROM calls WHERE tenant_id = '{}' AND external_id = 'bulk-{i}'",
            t.id
        );
        assert_eq!(app.owner_strings(&sql).await, ["stored"], "call {i}");
    }
    let count = format!(
        "SELECT CAST(COUNT(*) AS TEXT) FROM calls WHERE tenant_id = '{}'",
        t.id
    );
    assert_eq!(app.owner_strings(&count).await, [(calls - 1).to_string()]);
}

/// `switchboard import` beside the server (as two nodes would) adds events
/// to the same calls at the same time. Each process commits an event before
/// writing its call's raw document (decision 0010), so a process that
/// extended the stored document meanwhile would lose the other's entry when
/// one write replaced the other: every event must still be in the document.
async fn two_processes_extend_the_same_raw_documents(app: TestApp) {
    const CALLS: usize = 40;
    const EVENTS: usize = 15;
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    // Event-major, so that both processes work on every call at once.
    let lines = |side: &str| -> String {
        (0..EVENTS)
            .flat_map(|k| {
                (0..CALLS).map(move |i| {
                    doc(
                        &format!("shared-{i}"),
                        "inbound",
                        &format!("{side} event {k}"),
                    )
                    .to_string()
                })
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let file = app.state.config.data_dir.join("beside.jsonl");
    std::fs::write(&file, lines("command line")).unwrap();
    let mut cli = app.cli(&["import", "--tenant", "acme"]);
    cli.arg(&file).stdout(std::process::Stdio::piped());
    let mut cli = cli.spawn().unwrap();
    let raw_dir = app
        .state
        .config
        .data_dir
        .join(format!("objects/{}/raw", t.id));
    // Start as the command line starts storing; an import that stores
    // nothing fails the test instead of leaving it waiting.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !raw_dir.exists() {
        let ended = cli.try_wait().unwrap();
        assert!(
            ended.is_none() || raw_dir.exists(),
            "the import ended ({ended:?}) without storing anything"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the import stored nothing in 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let served = app
        .client
        .post(app.url("/api/v1/calls/import"))
        .bearer_auth(&owner)
        .header("content-type", "application/x-ndjson")
        .body(lines("server"))
        .send()
        .await
        .unwrap();
    let served = Reply::from(served).await;
    let out = cli.wait_with_output().await.unwrap();
    let beside: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    for report in [&served.body, &beside] {
        assert_eq!(
            (&report["accepted"], &report["failed"]),
            (&json!(CALLS * EVENTS), &json!(0)),
            "{report}"
        );
    }
    let documents: Vec<_> = std::fs::read_dir(&raw_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(documents.len(), CALLS);
    for path in documents {
        let entries: Vec<Value> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            entries.len(),
            2 * EVENTS,
            "{}: every event of both processes",
            path.display()
        );
    }
}

/// The signature schemes' variants, end to end: Vapi's HMAC (SHA-512,
/// base64, the tenant's header names) and `X-Vapi-Secret`; Twilio's JSON
/// bodies (`bodySHA256`) and URLs signed with the default port spelled out;
/// Standard Webhooks headers carrying several signatures.
async fn signature_variants_over_http(app: TestApp) {
    // Twilio signs the public URL; a default port makes the variants matter.
    let public = "https://calls.example.net";
    let app = TestApp::spawn_with(app.backend, "public URL on 443", |c| {
        c.public_url = Some(public.parse().unwrap())
    })
    .await
    .unwrap();
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let create = |body: Value| app.post("/api/v1/agents", &owner, body);
    // The agent's public URL, and where this test reaches the same path.
    let urls = |created: &Reply| {
        let public_url = created.body["agent"]["webhook_url"]
            .as_str()
            .unwrap()
            .to_owned();
        let local = public_url.replacen(public, &app.base, 1);
        (public_url, local)
    };
    let now_s = || now_ms() / 1000;
    let report = |id: &str| {
        json!({"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call",
            "call": {"id": id, "type": "inboundPhoneCall"},
            "startedAt": "2026-03-01T11:00:00Z", "endedAt": "2026-03-01T11:01:00Z"}})
        .to_string()
    };

    // Vapi, HMAC-SHA512 in base64 under the tenant's own header names,
    // with a generated secret shown once.
    let hmac = create(
        json!({"name": "Hmac line", "provider": "vapi", "vapi_auth": {"scheme": "hmac",
        "algorithm": "sha512", "encoding": "base64", "signature_header": "x-vapi-signature",
        "timestamp_header": "x-vapi-timestamp"}}),
    )
    .await;
    assert_eq!(hmac.status, StatusCode::CREATED, "{}", hmac.text);
    // A format that leaves the body out would sign nothing of the event.
    let unsigned = create(
        json!({"name": "No body", "provider": "vapi", "vapi_auth": {"scheme": "hmac",
        "payload_format": "{timestamp}"}}),
    )
    .await;
    unsigned.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        unsigned.fields(),
        ["vapi_auth.payload_format"],
        "{}",
        unsigned.text
    );
    let secret = hmac.body["signing_secret"].as_str().unwrap().to_owned();
    let (_, local) = urls(&hmac);
    let scheme = VapiHmac {
        algorithm: HmacAlgorithm::Sha512,
        signature_header: "x-vapi-signature".into(),
        timestamp_header: "x-vapi-timestamp".into(),
        encoding: SignatureEncoding::Base64,
        ..VapiHmac::default()
    };
    let send_hmac = |body: String, at: i64, key: String| {
        let sig = scheme.sign(&key, &at.to_string(), body.as_bytes());
        let local = local.clone();
        let app = &app;
        async move {
            post_raw(
                app,
                &local,
                &body,
                &[
                    ("x-vapi-signature", sig),
                    ("x-vapi-timestamp", at.to_string()),
                ],
                "application/json",
            )
            .await
        }
    };
    let ok = send_hmac(report("hmac-1"), now_s(), secret.clone()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    send_hmac(report("hmac-2"), now_s() - 600, secret.clone())
        .await
        .problem(StatusCode::UNAUTHORIZED);
    send_hmac(report("hmac-3"), now_s(), "another-secret-entirely".into())
        .await
        .problem(StatusCode::UNAUTHORIZED);
    // The default names do not carry it.
    let sig = scheme.sign(&secret, &now_s().to_string(), report("hmac-4").as_bytes());
    post_raw(
        &app,
        &local,
        &report("hmac-4"),
        &[("x-signature", sig), ("x-timestamp", now_s().to_string())],
        "application/json",
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);

    // The scheme changes in place; the secret and the URL stay.
    let hmac_path = format!(
        "/api/v1/agents/{}",
        hmac.body["agent"]["id"].as_str().unwrap()
    );
    let with_secret_too = app
        .patch(
            &hmac_path,
            &owner,
            json!({"vapi_auth": {"scheme": "secret", "secret": "vapi-chosen-secret-0001"}}),
        )
        .await;
    with_secret_too.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(with_secret_too.fields(), ["vapi_auth.secret"]);
    let switched = app
        .patch(
            &hmac_path,
            &owner,
            json!({"vapi_auth": {"scheme": "secret"}}),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.text);
    assert_eq!(switched.body["webhook_auth"], json!({"scheme": "secret"}));
    assert_eq!(
        switched.body["status"], "pending_validation",
        "its webhooks so far proved the old scheme"
    );
    assert!(!switched.text.contains(&secret));
    send_hmac(report("hmac-5"), now_s(), secret.clone())
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let r = post_raw(
        &app,
        &local,
        &report("hmac-5"),
        &[("x-vapi-secret", secret.clone())],
        "application/json",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(app.get(&hmac_path, &owner).await.body["status"], "active");
    // Nor is a scheme given while the agent was switched off.
    for (change, status) in [
        (json!({"status": "inactive"}), "inactive"),
        (json!({"vapi_auth": {"scheme": "bearer"}}), "inactive"),
        (json!({"status": "active"}), "pending_validation"),
    ] {
        let r = app.patch(&hmac_path, &owner, change).await;
        assert_eq!(r.body["status"], status, "{}", r.text);
    }
    let generic = create(json!({"name": "Relay", "provider": "generic"})).await;
    let not_vapi = app
        .patch(
            &format!(
                "/api/v1/agents/{}",
                generic.body["agent"]["id"].as_str().unwrap()
            ),
            &owner,
            json!({"vapi_auth": {"scheme": "bearer"}}),
        )
        .await;
    not_vapi.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_vapi.fields(), ["vapi_auth"]);

    // Vapi, the secret in X-Vapi-Secret.
    let plain = create(json!({"name": "Secret line", "provider": "vapi",
        "vapi_auth": {"scheme": "secret", "secret": "vapi-plain-secret-0001"}}))
    .await;
    let (_, local) = urls(&plain);
    let with_secret = |value: &str| {
        let (app, local, value, body) = (&app, local.clone(), value.to_owned(), report("plain-1"));
        async move {
            post_raw(
                app,
                &local,
                &body,
                &[("x-vapi-secret", value)],
                "application/json",
            )
            .await
        }
    };
    with_secret("vapi-plain-secret-0002")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        with_secret("vapi-plain-secret-0001").await.status,
        StatusCode::OK
    );

    // Twilio: a JSON body, signed over the URL that carries its digest,
    // written with the default port (":443") that the agent's URL leaves out.
    let put = app
        .call(Method::PUT, "/api/v1/settings/credentials/twilio", Some(&owner),
            Some(json!({"account_sid": "AC00000000000000000000000000000002", "auth_token": "twilio-auth-token-2"})))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let twilio = create(json!({"name": "Line 2", "provider": "twilio"})).await;
    let (public_url, local) = urls(&twilio);
    let body = json!({"CallSid": "CA0002", "CallStatus": "completed", "Direction": "inbound",
        "From": "+14155550123", "To": "+14155550100", "CallDuration": "7"})
    .to_string();
    use sha2::Digest as _;
    let digest: String = sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let query = format!("?bodySHA256={digest}");
    let with_port =
        format!("{public_url}{query}").replacen("calls.example.net", "calls.example.net:443", 1);
    let sig = sign_twilio("twilio-auth-token-2", &with_port, &[]);
    let r = post_raw(
        &app,
        &format!("{local}{query}"),
        &body,
        &[("x-twilio-signature", sig.clone())],
        "application/json",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let call = app
        .get(
            &format!("/api/v1/calls/{}", r.body["call_id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(call.body["duration_ms"], 7_000, "{}", call.text);
    // The same signature over a body whose digest differs from the URL's.
    post_raw(
        &app,
        &format!("{local}{query}"),
        &body.replace("\"7\"", "\"8\""),
        &[("x-twilio-signature", sig)],
        "application/json",
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);

    // Standard Webhooks: the header may carry several signatures (during a
    // key rotation); one that matches is enough, none is not.
    let generic = create(json!({"name": "Other system", "provider": "generic"})).await;
    let whsec = generic.body["signing_secret"].as_str().unwrap().to_owned();
    let (_, local) = urls(&generic);
    let call_doc = doc("std-multi", "inbound", "Hello").to_string();
    let ts = now_s();
    let good = sign_standard(&whsec, "msg_multi", ts, call_doc.as_bytes()).unwrap();
    let other = sign_standard(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_multi",
        ts,
        call_doc.as_bytes(),
    )
    .unwrap();
    let send_standard = |signatures: String| {
        let (app, local, call_doc) = (&app, &local, &call_doc);
        async move {
            post_raw(
                app,
                local,
                call_doc,
                &[
                    ("webhook-id", "msg_multi".into()),
                    ("webhook-timestamp", ts.to_string()),
                    ("webhook-signature", signatures),
                ],
                "application/json",
            )
            .await
        }
    };
    send_standard(format!("{other} v1,bm90IGEgc2lnbmF0dXJl"))
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let r = send_standard(format!("{other} v2,ignored {good}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Sends `body` to `path` in two halves `pause` apart, over a connection of
/// its own, and returns the answer's status line.
async fn post_slowly(
    app: &TestApp,
    path: &str,
    token: &str,
    content_type: &str,
    body: &[u8],
    pause: std::time::Duration,
) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\n\
         content-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    conn.write_all(first).await.unwrap();
    tokio::time::sleep(pause).await;
    // The server may already have answered (a timeout) and closed.
    let _ = conn.write_all(rest).await;
    let mut status = vec![0; 12];
    conn.read_exact(&mut status).await.unwrap();
    String::from_utf8(status).unwrap()
}

/// A request gets `http.request_timeout_secs`; audio uploads and imports,
/// whose bodies may take minutes to arrive, get `http.transfer_timeout_secs`.
async fn uploads_and_imports_outlast_the_request_timeout(app: TestApp) {
    let app = TestApp::spawn_with(app.backend, "one-second timeout", |c| {
        c.http.request_timeout_secs = 1;
        c.http.transfer_timeout_secs = 30;
    })
    .await
    .unwrap();
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let pause = std::time::Duration::from_millis(1_500);
    let call = doc("slow-call", "inbound", "Hello").to_string();
    assert_eq!(
        post_slowly(
            &app,
            "/api/v1/calls",
            &owner,
            "application/json",
            call.as_bytes(),
            pause
        )
        .await,
        "HTTP/1.1 503",
        "an ordinary request is cut off"
    );
    let created = app
        .post(
            "/api/v1/calls",
            &owner,
            doc("slow-call", "inbound", "Hello"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    let audio = vec![0u8; 64 * 1024];
    assert_eq!(
        post_slowly(
            &app,
            &format!("/api/v1/calls/{id}/audio"),
            &owner,
            "audio/wav",
            &audio,
            pause
        )
        .await,
        "HTTP/1.1 204"
    );
    let lines: Vec<String> = (0..20)
        .map(|i| doc(&format!("slow-import-{i}"), "inbound", "Hi").to_string())
        .collect();
    assert_eq!(
        post_slowly(
            &app,
            "/api/v1/calls/import",
            &owner,
            "application/x-ndjson",
            lines.join("\n").as_bytes(),
            pause
        )
        .await,
        "HTTP/1.1 200"
    );
    let listed = app.get("/api/v1/calls?limit=50", &owner).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 21);
}

/// Transcripts are stored packed since decision 0013; rows written before
/// hold plain JSON (named words, as before decision 0010) and must read the
/// same, on a call with one event (read from that event) and on one with
/// two (read from its merged `details`).
async fn rows_stored_before_packing_are_read_as_they_are(app: TestApp) {
    use switchboard_ingest::model::{merge, StoredUpdate};
    use switchboard_ingest::providers::retell;

    let (owner, agent, tenant) = retell_agent(&app, "acme").await;
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    let transcript = json!({
        "end_timestamp": 1_770_000_090_000i64,
        "transcript_object": [
            {"role": "agent", "content": "Thanks for calling, how can I help?", "words": [
                {"word": "Thanks", "start": 0.4, "end": 0.8}, {"word": "for", "start": 0.81, "end": 0.9},
                {"word": "calling,", "start": 0.95, "end": 1.3}]},
            {"role": "user", "content": "I need to move my appointment.", "words": [
                {"word": "I", "start": 2.0, "end": 2.1}, {"word": "need", "start": 2.125, "end": 2.4}]}
        ]
    });
    let one = retell_event("call_ended", "call-one", transcript.clone());
    let started = retell_event("call_started", "call-two", json!({}));
    let ended = retell_event("call_ended", "call-two", transcript);
    for body in [&one, &started, &ended] {
        let r = send_retell(&app, &url, body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let one_id = id_of(&app, &tenant, "call-one").await;
    let two_id = id_of(&app, &tenant, "call-two").await;
    let before = (
        stored_fields(&app, &owner, &one_id).await,
        stored_fields(&app, &owner, &two_id).await,
    );
    assert_eq!(before.0["turns"][0]["words"][2]["word"], "calling,");
    assert_eq!(before.1["turns"][1]["words"][1]["start"], 2.125);

    let stored_texts = format!(
        "SELECT update_json FROM call_events WHERE tenant_id = '{tenant}' \
         UNION ALL SELECT details FROM calls WHERE tenant_id = '{tenant}' AND details <> ''"
    );
    let stored = app.owner_strings(&stored_texts).await;
    assert_eq!(stored.len(), 4, "three events and one merged call");
    assert!(stored.iter().all(|s| s.starts_with("z1:")), "{stored:?}");

    let update = |body: &str| retell::parse(body.as_bytes()).unwrap().unwrap();
    let sql_text = |json: String| json.replace('\'', "''");
    for body in [&one, &started, &ended] {
        let key = switchboard::ingest::event_key_of(body.as_bytes());
        app.as_table_owner(&format!(
            "UPDATE call_events SET update_json = '{}' WHERE tenant_id = '{tenant}' AND event_key = '{key}'",
            sql_text(serde_json::to_string(&update(body)).unwrap())
        ))
        .await;
    }
    let (_, merged) = merge(
        [&started, &ended]
            .into_iter()
            .map(|body| StoredUpdate {
                update: update(body),
                received_at: 0,
                event_key: switchboard::ingest::event_key_of(body.as_bytes()),
            })
            .collect(),
    );
    app.as_table_owner(&format!(
        "UPDATE calls SET details = '{}' WHERE tenant_id = '{tenant}' AND id = '{two_id}'",
        sql_text(serde_json::to_string(&merged).unwrap())
    ))
    .await;
    let plain = app.owner_strings(&stored_texts).await;
    assert!(plain.iter().all(|s| s.starts_with('{')), "{plain:?}");

    assert_eq!(stored_fields(&app, &owner, &one_id).await, before.0);
    assert_eq!(stored_fields(&app, &owner, &two_id).await, before.1);
}

/// A provider's transcript is kept in the call's raw document only: the
/// database holds a reference to the event and the search text (decision
/// 0026). The API shows the turns read again from the raw document, the
/// search follows the transcript that wins, and a call whose raw entry is
/// missing is still shown.
async fn webhook_transcripts_are_read_from_the_raw_document(app: TestApp) {
    use switchboard_ingest::model::{CallUpdate, Turns};

    let (owner, agent, tenant) = retell_agent(&app, "acme").await;
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    let said = |text: &str, word: &str| {
        json!({
            "end_timestamp": 1_770_000_090_000i64,
            "transcript_object": [
                {"role": "agent", "content": text, "words": [
                    {"word": word, "start": 0.4, "end": 0.8}, {"word": "again", "start": 0.81, "end": 0.9}]},
                {"role": "user", "content": "Thanks.", "words": [{"word": "Thanks.", "start": 2.0, "end": 2.1}]}
            ]
        })
    };
    let ended = retell_event(
        "call_ended",
        "call-raw",
        said("Welcome to the clinic", "Welcome"),
    );
    let r = send_retell(&app, &url, &ended).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = id_of(&app, &tenant, "call-raw").await;
    let stored = app
        .owner_strings(&format!(
            "SELECT update_json FROM call_events WHERE tenant_id = '{tenant}'"
        ))
        .await;
    let update: CallUpdate = switchboard_ingest::packed::unpack(&stored[0]).unwrap();
    let key = switchboard::ingest::event_key_of(ended.as_bytes());
    assert_eq!(update.fields.turns, Some(Turns::InRawEvent(key)));
    let detail = app.get(&format!("/api/v1/calls/{id}"), &owner).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text);
    assert_eq!(detail.body["turns"][0]["text"], "Welcome to the clinic");
    assert_eq!(
        detail.body["turns"][0]["words"][1],
        json!({"word": "again", "start": 0.81, "end": 0.9})
    );
    assert_eq!(detail.body["turns"][1]["speaker"], "customer");
    assert_eq!(calls_of(&app, &owner, "?q=clinic").await.len(), 1);

    // An event without a transcript leaves the search text as it was; one
    // with a later transcript takes it over.
    let analyzed = retell_event(
        "call_analyzed",
        "call-raw",
        json!({"end_timestamp": 1_770_000_090_000i64, "call_analysis": {"call_summary": "Booked."}}),
    );
    let mut later = said("Welcome to the dental practice", "Welcome");
    later["end_timestamp"] = json!(1_770_000_095_000i64);
    later["call_analysis"] = json!({"call_summary": "Booked."});
    let corrected = retell_event("call_analyzed", "call-raw", later);
    let r = send_retell(&app, &url, &analyzed).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(calls_of(&app, &owner, "?q=clinic").await.len(), 1);
    let r = send_retell(&app, &url, &corrected).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(calls_of(&app, &owner, "?q=clinic").await.is_empty());
    assert_eq!(calls_of(&app, &owner, "?q=dental").await.len(), 1);
    let detail = app.get(&format!("/api/v1/calls/{id}"), &owner).await;
    assert_eq!(
        detail.body["turns"][0]["text"], "Welcome to the dental practice",
        "{}",
        detail.text
    );
    assert_eq!(detail.body["provider_analysis"]["summary"], "Booked.");
    let revision =
        format!("SELECT CAST(revision AS TEXT) FROM pipeline_jobs WHERE tenant_id = '{tenant}'");
    let queued = app.owner_strings(&revision).await;
    // A late redelivery of the first transcript does not take it back, nor
    // queue the analysis again.
    let r = send_retell(&app, &url, &ended).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(calls_of(&app, &owner, "?q=dental").await.len(), 1);
    assert_eq!(app.owner_strings(&revision).await, queued);

    // Without its raw document the call is still shown, without turns.
    let raw = app
        .state
        .config
        .data_dir
        .join(format!("objects/{tenant}/raw/{id}.json"));
    std::fs::remove_file(&raw).expect("the raw document is a file");
    let detail = app.get(&format!("/api/v1/calls/{id}"), &owner).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text);
    assert_eq!(detail.body["turns"], json!([]));
    assert_eq!(detail.body["provider_analysis"]["summary"], "Booked.");
    // The resend of the event that holds the transcript puts its entry
    // back, and queues the analysis that could not read it again.
    let r = send_retell(&app, &url, &corrected).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["duplicate"], true, "{}", r.text);
    let detail = app.get(&format!("/api/v1/calls/{id}"), &owner).await;
    assert_eq!(
        detail.body["turns"][0]["text"], "Welcome to the dental practice",
        "{}",
        detail.text
    );
    let again: i64 = app.owner_strings(&revision).await[0].parse().unwrap();
    assert_eq!(again, queued[0].parse::<i64>().unwrap() + 1);
}

/// PostgreSQL refuses a NUL in text, and a stored value nested as deep as a
/// JSON parser allows cannot be read back: either one in a call used to fail
/// its whole batch (503 for every event in it) or every later read of the
/// tenant's calls (500).
async fn text_postgresql_refuses_and_values_too_deep_to_read_back(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;

    // The API refuses a NUL anywhere in a body, naming the field.
    let nul = doc("ext-nul", "inbound", "Your policy\u{0}renews");
    let r = app.post("/api/v1/calls", &owner, nul).await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
        "turns[0].text",
        "{}",
        r.text
    );
    let r = app
        .post(
            "/api/v1/agents",
            &owner,
            json!({"name": "Front\u{0}desk", "provider": "retell"}),
        )
        .await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
        "name"
    );
    app.get("/api/v1/calls?q=policy%00", &owner)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);

    let mut deep = doc("ext-deep", "inbound", "Hello");
    deep["metadata"] =
        serde_json::from_str(&format!("{}1{}", "[".repeat(100), "]".repeat(100))).unwrap();
    let r = app.post("/api/v1/calls", &owner, deep).await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
        "metadata",
        "{}",
        r.text
    );
    let jsonl = format!(
        "{}\n{}\n",
        doc("imp-nul", "inbound", "a\u{0}b"),
        json!({"external_id": "imp-deep", "direction": "inbound", "from": "+14155550123",
            "to": "+14155550100", "started_at": "2026-03-01T10:00:00Z",
            "metadata": serde_json::from_str::<Value>(&format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40))).unwrap()}),
    );
    let r = Reply::from(
        app.client
            .post(app.url("/api/v1/calls/import"))
            .bearer_auth(&owner)
            .header("content-type", "application/x-ndjson")
            .body(jsonl)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (&r.body["accepted"], &r.body["failed"]),
        (&json!(1), &json!(1)),
        "{}",
        r.text
    );
    assert_eq!(r.body["errors"][0]["errors"][0]["field"], "metadata");
    // An imported (or webhook) transcript is kept as sent; to the search,
    // its NUL is a space.
    let found = calls_of(&app, &owner, "?q=a%20b").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let id = found[0]["id"].as_str().unwrap();
    let detail = app.get(&format!("/api/v1/calls/{id}"), &owner).await;
    assert_eq!(
        detail.body["turns"][0]["text"], "a\u{0}b",
        "{}",
        detail.text
    );
    assert!(
        calls_of(&app, &owner, "?q=customer").await.is_empty(),
        "speaker labels are not searched"
    );
    assert_eq!(calls_of(&app, &owner, "").await.len(), 1);
}

/// An agent is switched off while a webhook that cannot be verified is on
/// its way (here: the node still remembers the agent as it was). Recording
/// that webhook's error must not turn the agent to `error`, which takes
/// webhooks again.
async fn a_webhook_on_its_way_does_not_switch_an_agent_back_on(app: TestApp) {
    let (owner, agent, tenant) = retell_agent(&app, "acme").await;
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    let id = agent["id"].as_str().unwrap().to_owned();
    let gone = app
        .delete("/api/v1/settings/credentials/retell", &owner)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    let body = retell_event("call_ended", "call-off", json!({}));
    send_retell(&app, &url, &body).await;
    let path = format!("/api/v1/agents/{id}");
    assert_eq!(app.get(&path, &owner).await.body["status"], "error");
    // Switched off behind the node's back, as another node would.
    app.as_table_owner(&format!(
        "UPDATE agents SET status = 'inactive' WHERE tenant_id = '{tenant}' AND id = '{id}'"
    ))
    .await;
    send_retell(&app, &url, &body).await;
    assert_eq!(app.get(&path, &owner).await.body["status"], "inactive");
}

/// Providers send every tenant's webhooks from a few shared addresses: a
/// per-address limit would let one busy agent hold up everyone's. So
/// webhooks are limited per agent, and only unknown webhook URLs (guessing)
/// per address.
async fn webhooks_are_limited_per_agent_not_per_address(app: TestApp) {
    let app = TestApp::spawn_with(app.backend, "tight webhook limits", |c| {
        c.rate_limits.per_ip_per_second = 20;
        c.rate_limits.webhooks_per_agent_per_second = 20;
    })
    .await
    .unwrap();
    let (owner, busy, _) = retell_agent(&app, "acme").await;
    let quiet = app
        .post(
            "/api/v1/agents",
            &owner,
            json!({"name": "Back office", "provider": "retell"}),
        )
        .await;
    assert_eq!(quiet.status, StatusCode::CREATED, "{}", quiet.text);
    let url_of = |agent: &Value| agent["webhook_url"].as_str().unwrap().to_owned();
    let (busy, quiet) = (url_of(&busy), url_of(&quiet.body["agent"]));
    let mut limited = 0;
    for i in 0..60 {
        let r = send_retell(
            &app,
            &busy,
            &retell_event("call_ended", &format!("busy-{i}"), json!({})),
        )
        .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
            limited += 1;
        } else {
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
    }
    assert!(
        limited > 0,
        "60 webhooks at once to one agent were all taken"
    );
    // The other agent, from the same address, is not held up: more
    // webhooks than the address's own budget.
    for i in 0..30 {
        let r = send_retell(
            &app,
            &quiet,
            &retell_event("call_ended", &format!("quiet-{i}"), json!({})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "webhook {i}: {}", r.text);
    }
    let mut guessed = Vec::new();
    for i in 0..60 {
        let unknown = format!("{}/webhooks/retell/wh_{i:0>40}", app.base);
        guessed.push(send_retell(&app, &unknown, "{}").await.status);
    }
    assert!(guessed.contains(&StatusCode::NOT_FOUND), "{guessed:?}");
    assert!(
        guessed.contains(&StatusCode::TOO_MANY_REQUESTS),
        "guessing URLs is limited per address: {guessed:?}"
    );
}

/// A server whose small batches wait 300 ms for more events, so that
/// events a test sends together share one; its Retell agent's URL.
async fn lingering_retell_agent(app: TestApp) -> (TestApp, String, String, String) {
    let app = TestApp::spawn_with(app.backend, "lingering batches", |c| {
        c.database.ingest_linger_us = 300_000;
    })
    .await
    .unwrap();
    let (owner, agent, tenant) = retell_agent(&app, "acme").await;
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    (app, owner, url, tenant)
}

/// Events are written in shared transactions (group commit). One whose
/// call cannot be written — here its stored event no longer reads back —
/// used to fail every event that shared its batch; now the others are
/// written again without it and only it is refused.
async fn a_call_that_cannot_be_written_fails_only_its_own_event(app: TestApp) {
    let (app, owner, url, tenant) = lingering_retell_agent(app).await;
    let started = send_retell(
        &app,
        &url,
        &retell_event("call_started", "call-bad", json!({})),
    )
    .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    let bad = id_of(&app, &tenant, "call-bad").await;
    app.as_table_owner(&format!(
        "UPDATE call_events SET update_json = 'z1:not packed' WHERE tenant_id = '{tenant}' AND call_id = '{bad}'"
    ))
    .await;

    let ended = |call: &str| {
        retell_event(
            "call_ended",
            call,
            json!({"end_timestamp": 1_770_000_060_000i64}),
        )
    };
    let bodies: Vec<String> = std::iter::once(ended("call-bad"))
        .chain((0..8).map(|i| ended(&format!("call-good-{i}"))))
        .collect();
    let replies =
        futures_util::future::join_all(bodies.iter().map(|body| send_retell(&app, &url, body)))
            .await;
    assert_eq!(
        replies[0].problem(StatusCode::SERVICE_UNAVAILABLE)["type"],
        "/problems/storage-unavailable",
        "{}",
        replies[0].text
    );
    for (i, reply) in replies[1..].iter().enumerate() {
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "call-good-{i}: {}",
            reply.text
        );
    }
    let events_of = |call: String| {
        format!("SELECT CAST(COUNT(*) AS TEXT) FROM call_events WHERE tenant_id = '{tenant}' AND call_id = '{call}'")
    };
    for i in 0..8 {
        let id = id_of(&app, &tenant, &format!("call-good-{i}")).await;
        let call = app.get(&format!("/api/v1/calls/{id}"), &owner).await;
        assert_eq!(call.status, StatusCode::OK, "{}", call.text);
        assert_eq!(
            call.body["ended_at"], "2026-02-02T02:41:00Z",
            "{}",
            call.text
        );
        assert_eq!(app.owner_strings(&events_of(id)).await, ["1"]);
    }
    let events = app.owner_strings(&events_of(bad)).await;
    assert_eq!(events, ["1"], "nothing of the refused event was stored");

    // A failure that no one event's writing shows (here the batch's look-up
    // of deleted calls, which a broken row of one call fails): each event
    // is then written alone.
    app.as_table_owner(&format!(
        "INSERT INTO deleted_calls (tenant_id, source, external_id, call_id, deleted_at) \
         VALUES ('{tenant}', 'retell', 'call-broken', 'not a call id', 0)"
    ))
    .await;
    let bodies: Vec<String> = std::iter::once(ended("call-broken"))
        .chain((0..4).map(|i| ended(&format!("call-alone-{i}"))))
        .collect();
    let replies =
        futures_util::future::join_all(bodies.iter().map(|body| send_retell(&app, &url, body)))
            .await;
    replies[0].problem(StatusCode::SERVICE_UNAVAILABLE);
    for (i, reply) in replies[1..].iter().enumerate() {
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "call-alone-{i}: {}",
            reply.text
        );
    }
}

/// A provider sends later events and resends of a call on its own, after
/// the tenant may have deleted it: they are acknowledged and not stored, so
/// the call does not come back (decision 0019). A call the tenant posts
/// again is created again.
async fn a_deleted_call_stays_deleted_for_its_provider(app: TestApp) {
    // A deleted call's later events sent together, in one batch, are all
    // passed over.
    let (app, owner, url, tenant) = lingering_retell_agent(app).await;
    let ended = retell_event("call_ended", "call-gone", json!({}));
    assert_eq!(send_retell(&app, &url, &ended).await.status, StatusCode::OK);
    let id = id_of(&app, &tenant, "call-gone").await;
    let d = app.delete(&format!("/api/v1/calls/{id}"), &owner).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.text);

    let analyzed = retell_event(
        "call_analyzed",
        "call-gone",
        json!({"call_analysis": {"call_summary": "Asked about a refund."}}),
    );
    let replies = futures_util::future::join_all(
        [&analyzed, &ended].map(|body| send_retell(&app, &url, body)),
    )
    .await;
    for r in replies {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            r.body,
            json!({"call_id": id, "duplicate": true, "deleted": true})
        );
    }
    for table in ["calls", "call_events", "pipeline_jobs"] {
        let rows = format!("SELECT tenant_id FROM {table} WHERE tenant_id = '{tenant}'");
        assert!(app.owner_strings(&rows).await.is_empty(), "{table}");
    }
    let objects = app.state.config.data_dir.join("objects").join(&tenant);
    assert!(!objects.join(format!("raw/{id}.json")).exists());
    assert!(!objects.join(format!("meta/{id}.json")).exists());
    // Another tenant's call of the same id is its own.
    let (_, other_agent, other) = retell_agent(&app, "globex").await;
    let other_url = other_agent["webhook_url"].as_str().unwrap();
    let r = send_retell(&app, other_url, &ended).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body.get("deleted"), None, "{}", r.text);
    assert_ne!(id_of(&app, &other, "call-gone").await, id);

    let first = app.post_call(&owner, "api-again").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let first_id = first.body["call_id"].as_str().unwrap().to_owned();
    let d = app
        .delete(&format!("/api/v1/calls/{first_id}"), &owner)
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.text);
    let again = app.post_call(&owner, "api-again").await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_ne!(again.body["call_id"], first_id.as_str());
}

/// `switchboard import FILE` reads the file as it imports it: a read error
/// partway ends the import with the lines before it stored, and says what
/// became of each of those; nothing after it is taken.
async fn an_import_that_cannot_be_read_on_keeps_what_it_took(app: TestApp) {
    use switchboard_ingest::import::{parse, Format};
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let mut bad = doc("import-bad", "inbound", "Hello");
    bad["direction"] = json!("sideways");
    let jsonl = [
        doc("import-good", "inbound", "Hello"),
        bad,
        doc("import-after", "inbound", "Hello"),
    ]
    .map(|d| d.to_string())
    .join("\n");
    let mut lines: Vec<std::io::Result<_>> = parse(Format::Jsonl, jsonl.as_bytes())
        .into_iter()
        .map(Ok)
        .collect();
    lines.insert(2, Err(std::io::Error::other("the disk went away")));
    let scope = switchboard::auth::Operator::command_line().scope_for(t.id);
    let outcome = switchboard::ingest::import(&app.state, &scope, lines.into_iter(), |_| {}).await;
    let Err(switchboard::ingest::IngestError::Input { taken, error }) = outcome else {
        panic!("the read error ends the import");
    };
    assert_eq!(error.to_string(), "the disk went away");
    assert_eq!((taken.total, taken.accepted, taken.failed), (2, 1, 1));
    assert_eq!(taken.errors[0].line, 2);
    assert_eq!(taken.errors[0].errors[0].field, "direction");
    let listed: Vec<Value> = calls_of(&app, &owner, "")
        .await
        .into_iter()
        .map(|c| c["external_id"].clone())
        .collect();
    assert_eq!(listed, ["import-good"]);
}

/// A committed event whose objects could not be written is answered 503,
/// and its objects are written again within a second or so even if no
/// other event comes: other processes may be waiting for them (decision
/// 0018).
async fn objects_a_failed_round_left_are_written_without_a_new_event(app: TestApp) {
    let (_, agent, tenant) = retell_agent(&app, "acme").await;
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    let objects = app.state.config.data_dir.join("objects").join(&tenant);
    // A file where the meta folder goes: no meta object can be written.
    std::fs::create_dir_all(&objects).unwrap();
    let blocker = objects.join("meta");
    std::fs::write(&blocker, b"in the way").unwrap();
    let r = send_retell(
        &app,
        &url,
        &retell_event("call_ended", "call-late", json!({})),
    )
    .await;
    r.problem(StatusCode::SERVICE_UNAVAILABLE);
    let id = id_of(&app, &tenant, "call-late").await;
    let meta = blocker.join(format!("{id}.json"));
    std::fs::remove_file(&blocker).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !meta.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the objects were not written again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let raw: Value =
        serde_json::from_slice(&std::fs::read(objects.join(format!("raw/{id}.json"))).unwrap())
            .unwrap();
    assert_eq!(raw.as_array().unwrap().len(), 1);
}

async fn id_of(app: &TestApp, tenant: &str, external_id: &str) -> String {
    let sql = format!(
        "SELECT id FROM calls WHERE tenant_id = '{tenant}' AND external_id = '{external_id}'"
    );
    app.owner_strings(&sql).await.remove(0)
}

/// A call as the API shows it, but for what the analysis running beside
/// may change.
async fn stored_fields(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.get(&format!("/api/v1/calls/{id}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut call = r.body;
    let fields = call.as_object_mut().unwrap();
    fields.remove("stages");
    fields.remove("analysis");
    call
}

/// A provider's account-wide webhook pointed at one agent's URL carries
/// the calls of all the account's agents: each is filed under the agent
/// that names the payload's provider agent id (decision 0017).
async fn calls_go_to_the_agent_their_payload_names(app: TestApp) {
    let (owner, front, _) = retell_agent(&app, "acme").await;
    let url = front["webhook_url"].as_str().unwrap().to_owned();
    let front = front["id"].as_str().unwrap().to_owned();
    let other = |name: &'static str, provider_agent_id: &'static str| {
        let (app, owner) = (&app, owner.clone());
        async move {
            let r = app
                .post(
                    "/api/v1/agents",
                    &owner,
                    json!({"name": name, "provider": "retell", "provider_agent_id": provider_agent_id}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            r.body["agent"]["id"].as_str().unwrap().to_owned()
        }
    };
    let billing = other("Billing", "retell-agent-2").await;
    let night = other("Night line", "retell-agent-3").await;
    let off = app
        .patch(
            &format!("/api/v1/agents/{night}"),
            &owner,
            json!({"status": "inactive"}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);

    let send = |call: &'static str, provider_agent_id: &'static str| {
        let (app, url) = (&app, url.clone());
        async move {
            let body = retell_event("call_ended", call, json!({"agent_id": provider_agent_id}));
            send_retell(app, &url, &body).await
        }
    };
    let agent_of = |reply: Reply| {
        let (app, owner) = (&app, owner.clone());
        async move {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            let id = reply.body["call_id"].as_str().unwrap().to_owned();
            let call = app.get(&format!("/api/v1/calls/{id}"), &owner).await;
            assert_eq!(call.status, StatusCode::OK, "{}", call.text);
            call.body["agent_id"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(
        agent_of(send("c-billing", "retell-agent-2").await).await,
        billing
    );
    assert_eq!(
        agent_of(send("c-front", "retell-agent-1").await).await,
        front
    );
    // No agent names it: the URL's agent keeps the call.
    assert_eq!(
        agent_of(send("c-unknown", "retell-agent-9").await).await,
        front
    );
    // The agent it names is switched off: nothing stored, as on its own URL.
    let refused = send("c-night", "retell-agent-3").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert!(refused.text.contains("agent-inactive"), "{}", refused.text);
    let kept: Vec<String> = calls_of(&app, &owner, "")
        .await
        .iter()
        .map(|c| c["external_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!kept.contains(&"c-night".to_owned()), "{kept:?}");
    assert_eq!(kept.len(), 3, "{kept:?}");
    // Counted on the switched-off agent the call was of.
    let counted = |id: String| {
        let (app, owner) = (&app, owner.clone());
        async move {
            let agent = app.get(&format!("/api/v1/agents/{id}"), &owner).await;
            agent.body["refused_while_inactive"].clone()
        }
    };
    assert_eq!(counted(night.clone()).await, 1);
    assert_eq!(counted(front.clone()).await, 0);
    // The URL's agent is shown working; the one whose call came is not:
    // its own URL is still untried.
    let status = |id: String| {
        let (app, owner) = (&app, owner.clone());
        async move {
            let agent = app.get(&format!("/api/v1/agents/{id}"), &owner).await;
            agent.body["status"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(status(front).await, "active");
    assert_eq!(status(billing).await, "pending_validation");
}

/// A PostgreSQL writer's lock is held by a connection the server may close
/// (a restart, `idle_session_timeout`, `pg_terminate_backend`). Meanwhile
/// other nodes take the writer for dead (decision 0018), so what it has not
/// written must not be written over theirs: its events are answered 503
/// and the resend, once the lock is back, stores them.
#[tokio::test]
async fn postgres_a_writer_that_lost_its_lock_answers_nothing_2xx() {
    let Some(app) = TestApp::spawn(
        crate::helpers::Backend::Postgres,
        "postgres_a_writer_that_lost_its_lock_answers_nothing_2xx",
    )
    .await
    else {
        return;
    };
    let (_owner, agent, tenant) = retell_agent(&app, "acme").await;
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    let holders = || {
        app.owner_strings(
            "SELECT pid::text FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND classid::bigint = 1396856658 AND objsubid = 2 \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
    };
    let held = holders().await;
    assert_eq!(held.len(), 1, "the server holds one writer lock: {held:?}");
    app.as_table_owner(&format!("SELECT pg_terminate_backend({})", held[0]))
        .await;

    let started = retell_event("call_started", "call-unfenced", json!({}));
    let refused = send_retell(&app, &url, &started).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    // Taken again within a few seconds, by a new connection.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while holders().await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the lock was not taken again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The first round under the new connection still drops what it has:
    // a batch may have built on versions from before the loss.
    let mut resent = send_retell(&app, &url, &started).await;
    if resent.status == StatusCode::SERVICE_UNAVAILABLE {
        resent = send_retell(&app, &url, &started).await;
    }
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.text);
    let call = resent.body["call_id"].as_str().unwrap();
    let raw = app
        .state
        .config
        .data_dir
        .join(format!("objects/{tenant}/raw/{call}.json"));
    let entries: Vec<Value> = serde_json::from_slice(&std::fs::read(&raw).unwrap()).unwrap();
    assert_eq!(entries.len(), 1);
}

/// On PostgreSQL an event of a call being deleted waits for the deletion's
/// lock on the call's row, and is then answered as the deleted call's:
/// the look-up of deleted calls comes after the upsert that waited, so it
/// sees the deletion that committed meanwhile (decision 0019).
#[tokio::test]
async fn postgres_an_event_waiting_on_a_deletion_does_not_bring_the_call_back() {
    use sqlx::Connection as _;
    let Some(app) = TestApp::spawn(
        crate::helpers::Backend::Postgres,
        "postgres_an_event_waiting_on_a_deletion_does_not_bring_the_call_back",
    )
    .await
    else {
        return;
    };
    let (_owner, agent, tenant) = retell_agent(&app, "acme").await;
    let url = agent["webhook_url"].as_str().unwrap().to_owned();
    let ended = retell_event("call_ended", "call-racing", json!({}));
    assert_eq!(send_retell(&app, &url, &ended).await.status, StatusCode::OK);
    let id = id_of(&app, &tenant, "call-racing").await;

    // A deletion in progress, as the route makes it.
    let mut deleting = sqlx::PgConnection::connect(app.database_url.as_deref().unwrap())
        .await
        .unwrap();
    for sql in [
        "BEGIN".to_owned(),
        format!("DELETE FROM calls WHERE tenant_id = '{tenant}' AND id = '{id}'"),
        format!("DELETE FROM call_events WHERE tenant_id = '{tenant}' AND call_id = '{id}'"),
        format!(
            "INSERT INTO deleted_calls (tenant_id, source, external_id, call_id, deleted_at) \
             VALUES ('{tenant}', 'retell', 'call-racing', '{id}', 0)"
        ),
    ] {
        sqlx::query(&sql).execute(&mut deleting).await.unwrap();
    }
    let analyzed = retell_event("call_analyzed", "call-racing", json!({}));
    let sending = send_retell(&app, &url, &analyzed);
    tokio::pin!(sending);
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut sending);
    assert!(early.await.is_err(), "the event waits for the call's row");
    sqlx::query("COMMIT").execute(&mut deleting).await.unwrap();
    let r = sending.await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["deleted"], true, "{}", r.text);
    let rows = format!("SELECT id FROM calls WHERE tenant_id = '{tenant}'");
    assert!(app.owner_strings(&rows).await.is_empty());
}

/// The ingest writers skip an agent's last-seen update within a second of
/// their own (decision 0022). That update is also what turns an agent
/// `active` again: after a rotated token or an error, the next correctly
/// signed webhook does, however soon after the one before.
async fn an_agent_put_back_to_proving_itself_is_active_on_its_next_webhook(app: TestApp) {
    let (owner, agent, _) = retell_agent(&app, "acme").await;
    let path = format!("/api/v1/agents/{}", agent["id"].as_str().unwrap());
    // A correctly signed webhook for a new call; the agent's status after.
    let good_webhook = |url: String, call: String| {
        let (app, owner, path) = (&app, &owner, &path);
        async move {
            let body = retell_event("call_ended", &call, json!({}));
            let sent = send_retell(app, &url, &body).await;
            assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
            app.get(path, owner).await.body["status"].clone()
        }
    };
    let mut url = agent["webhook_url"].as_str().unwrap().to_owned();
    // Slower than a second, the writers' own resolution would set the
    // statuses right anyway and the round would prove nothing: a loaded
    // machine gets a few tries.
    for round in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(good_webhook(url, format!("call-{round}-1")).await, "active");

        let rotated = app
            .post(&format!("{path}/rotate-token"), &owner, json!({}))
            .await;
        assert_eq!(
            rotated.body["status"], "pending_validation",
            "{}",
            rotated.text
        );
        url = rotated.body["webhook_url"].as_str().unwrap().to_owned();
        assert_eq!(
            good_webhook(url.clone(), format!("call-{round}-2")).await,
            "active",
            "after a rotated token"
        );

        let deleted = app
            .delete("/api/v1/settings/credentials/retell", &owner)
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
        let refused = retell_event("call_ended", &format!("call-{round}-3"), json!({}));
        send_retell(&app, &url, &refused)
            .await
            .problem(StatusCode::UNAUTHORIZED);
        assert_eq!(app.get(&path, &owner).await.body["status"], "error");
        put_retell_key(&app, &owner, RETELL_KEY).await;
        assert_eq!(
            good_webhook(url.clone(), format!("call-{round}-4")).await,
            "active",
            "after an error"
        );
        if started.elapsed() < std::time::Duration::from_secs(1) {
            return;
        }
    }
    panic!("every round took more than a second: too slow to tell");
}
