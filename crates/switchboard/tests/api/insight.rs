//! Insight: every call with a transcript is analysed by the durable
//! pipeline with the tenant's configuration; rubric versions, retries,
//! re-drive, the CLI, outputs in the object store and exact rollups.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_core::Role;

use crate::helpers::{Reply, Seeded, TestApp};

crate::on_both_backends!(
    a_call_is_analysed_with_the_tenants_rubric_and_redacted_outputs,
    a_rejected_configuration_leaves_the_active_version_in_force,
    rollups_stay_exact_under_redelivery_reanalysis_and_deletion,
    a_failing_stage_is_retried_then_failed_then_redriven,
    the_worker_and_reanalyse_commands_run_the_pipeline,
    an_llm_writes_the_summary_and_answers_the_rubric_questions,
    audio_only_calls_wait_for_or_get_a_transcription,
    live_events_reach_only_the_tenants_own_listeners
);

pub const RUBRIC: &str = r#"{
  "version": "test-rubric-v2", "pass_mark": 60,
  "criteria": [
    {"id": "greeting", "name": "Greets", "weight": 30, "type": "rule", "speaker": "agent",
     "match": "any", "phrases": ["thank you for calling"], "within": {"first_seconds": 30}},
    {"id": "verifies", "name": "Verifies identity", "weight": 20, "type": "rule", "speaker": "agent",
     "match": "any", "phrases": ["policy number"]},
    {"id": "no_promises", "name": "No promises", "weight": 50, "type": "rule", "speaker": "agent",
     "match": "none", "phrases": ["i promise"]},
    {"id": "empathy", "name": "Empathy", "weight": 10, "type": "question", "question": "Was the agent kind?"}
  ],
  "categories": [{"id": "claim", "name": "Claim", "speaker": "customer", "match": "any", "phrases": ["claim"]}]
}"#;

/// A two-minute call.
fn call_json(external_id: &str, started_at: &str, agent_text: &str, customer_text: &str) -> Value {
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let start = time::OffsetDateTime::parse(started_at, rfc3339).expect("an RFC 3339 time");
    let ended_at = (start + time::Duration::minutes(2))
        .format(rfc3339)
        .unwrap();
    json!({
        "external_id": external_id, "direction": "inbound",
        "from": "+14155550123", "to": "+14155550100",
        "started_at": started_at, "ended_at": ended_at,
        "turns": [
            {"speaker": "agent", "text": agent_text, "start": 0.5, "end": 6.0},
            {"speaker": "customer", "text": customer_text, "start": 7.0, "end": 15.0},
            {"speaker": "agent", "text": "Thanks, I will email you the claim form today.", "start": 16.0, "end": 20.0}
        ]
    })
}

/// Polls the call until its analysis job reaches `status`.
async fn wait_for(app: &TestApp, token: &str, call: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = app.get(&format!("/api/v1/calls/{call}"), token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        if reply.body["stages"]["analysis"]["status"] == status {
            return reply.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "call {call} never reached {status}: {}",
            reply.body["stages"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post_call(app: &TestApp, token: &str, body: Value) -> String {
    let reply = app.post("/api/v1/calls", token, body).await;
    assert!(reply.status.is_success(), "{}", reply.text);
    reply.body["call_id"].as_str().unwrap().to_owned()
}

fn object(app: &TestApp, tenant: &Seeded, path: &str) -> Option<Value> {
    let file = app
        .state
        .config
        .data_dir
        .join("objects")
        .join(tenant.id.to_string())
        .join(path);
    std::fs::read(file)
        .ok()
        .map(|b| serde_json::from_slice(&b).expect("objects are JSON"))
}

/// The lines of a day's flat file once they satisfy `done`.
async fn flat_lines(
    app: &TestApp,
    tenant: &Seeded,
    table: &str,
    day: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let file = app
        .state
        .config
        .data_dir
        .join("objects")
        .join(tenant.id.to_string())
        .join(format!("final/v2.0-flat/{table}/{day}.jsonl"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let lines: Vec<Value> = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        if done(&lines) {
            return lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{table}/{day}: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn put_rubric(app: &TestApp, token: &str, rubric: &str) -> Reply {
    app.call(
        Method::PUT,
        "/api/v1/settings/qa-config",
        Some(token),
        Some(serde_json::from_str(rubric).unwrap()),
    )
    .await
}

async fn a_call_is_analysed_with_the_tenants_rubric_and_redacted_outputs(app: TestApp) {
    let t = app.seed_tenant("insight").await;
    let owner = app.token(t.email(Role::Owner)).await;

    // A new tenant starts with its industry's starter rubric as version 1.
    let starter = app.get("/api/v1/settings/qa-config", &owner).await;
    assert_eq!(starter.status, StatusCode::OK, "{}", starter.text);
    assert_eq!(starter.body["version"], 1);
    assert_eq!(starter.body["created_by"], "system");
    assert_eq!(starter.body["document"]["version"], "starter-generic-v1");

    let saved = put_rubric(&app, &owner, RUBRIC).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    assert_eq!(saved.body["version"], 2);
    assert_eq!(
        object(&app, &t, "config/qa-config.json").unwrap()["version"],
        "test-rubric-v2"
    );

    let id = post_call(
        &app,
        &owner,
        call_json(
            "insight-1",
            "2026-03-01T10:00:00Z",
            "Thank you for calling, may I have your policy number?",
            "Sure, it is 4111 1111 1111 1111, I want to file a claim. Email me at dana@example.net.",
        ),
    )
    .await;
    let call = wait_for(&app, &owner, &id, "done").await;
    let a = &call["analysis"];
    assert_eq!(a["qa_config_version"], 2);
    assert_eq!(a["rubric_version"], "test-rubric-v2");
    // Greeting, verification and no promises pass; the question is left out.
    assert_eq!(a["qa"]["score"], 100.0, "{}", a["qa"]);
    assert_eq!(a["qa"]["passed"], true);
    assert_eq!(a["qa"]["criteria"][3]["status"], "not_evaluated");
    assert_eq!(a["qa"]["categories"][0]["id"], "claim");
    assert_eq!(a["summary"]["method"], "extractive");
    assert_eq!(
        a["summary"]["next_steps"][0],
        "Thanks, I will email you the claim form today."
    );
    assert!(a["sentiment"]["customer"]["overall"].is_number());
    assert!(a["talk"]["talk_s_agent"].as_f64().unwrap() > 0.0);
    // The call keeps what was said; every output carries the redacted text.
    assert!(call["turns"][1]["text"].as_str().unwrap().contains("4111"));
    let redacted = a["turns"][1]["text"].as_str().unwrap();
    assert!(
        redacted.contains("[CARD]") && redacted.contains("[EMAIL]"),
        "{redacted}"
    );
    for doc in [
        object(&app, &t, &format!("enriched/{id}.json")).expect("enriched object"),
        object(&app, &t, &format!("final/v1.0/{id}.json")).expect("final object"),
    ] {
        let text = doc.to_string();
        assert!(!text.contains("4111 1111"), "{text}");
        assert!(!text.contains("dana@example.net"), "{text}");
    }
    let final_doc = object(&app, &t, &format!("final/v1.0/{id}.json")).unwrap();
    assert_eq!(final_doc["call"]["id"], id.as_str());
    assert_eq!(final_doc["analysis"]["qa"]["score"], 100.0);

    let calls = flat_lines(&app, &t, "calls", "2026-03-01", |l| l.len() == 1).await;
    assert_eq!(calls[0]["call_id"], id.as_str());
    assert_eq!(calls[0]["external_id"], "insight-1");
    assert_eq!(calls[0]["qa_score"], 100.0);
    assert_eq!(calls[0]["categories"], "claim");
    assert_eq!(calls[0]["rubric_version"], "test-rubric-v2");
    assert!(!calls[0].to_string().contains("4111"));
    let qa = flat_lines(&app, &t, "qa", "2026-03-01", |l| l.len() == 4).await;
    assert_eq!(qa[0]["criterion_id"], "greeting");
    assert_eq!(qa[0]["status"], "passed");
    assert_eq!(qa[0]["evidence_turns"], json!([0]));
    assert_eq!(qa[3]["status"], "not_evaluated");

    let overview = app.get("/api/v1/analytics/overview", &owner).await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.text);
    assert_eq!(overview.body["total"]["calls"], 1);
    assert_eq!(overview.body["total"]["qa_average"], 100.0);
    assert_eq!(overview.body["total"]["categories"]["claim"], 1);
    assert_eq!(overview.body["days"][0]["day"], "2026-03-01");
    assert_eq!(overview.body["total"]["hours"][10], 1);
    // 2026-03-01 is a Sunday.
    assert_eq!(overview.body["total"]["weekdays"][6], 1);
}

async fn a_rejected_configuration_leaves_the_active_version_in_force(app: TestApp) {
    let t = app.seed_tenant("strict").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let viewer = app.token(t.email(Role::Viewer)).await;
    let bad = r#"{"pass_mark": 70, "criteria": [
        {"id": "a", "name": "A", "weight": 0, "type": "rule", "match": "any", "phrases": ["hi"]},
        {"id": "b", "name": "B", "weight": 1, "type": "rule", "speaker": "robot", "match": "any", "phrases": ["x"]}]}"#;
    let reply = put_rubric(&app, &owner, bad).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.fields().iter().any(|f| f.starts_with("criteria[")),
        "{}",
        reply.text
    );
    let reply = put_rubric(
        &app,
        &owner,
        r#"{"pass_mark": 70, "criteria": [{"id": "a", "name": "A", "weight": -2, "type": "rule", "match": "any", "phrases": ["hi"]}]}"#,
    )
    .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.fields(), vec!["criteria[0].weight"], "{}", reply.text);
    let reply = put_rubric(&app, &viewer, RUBRIC).await;
    reply.problem(StatusCode::FORBIDDEN);
    let active = app.get("/api/v1/settings/qa-config", &owner).await;
    assert_eq!(active.body["version"], 1, "{}", active.text);
    assert_eq!(active.body["document"]["version"], "starter-generic-v1");

    // ai-config: the built-in default until saved, then versions.
    let ai = app.get("/api/v1/settings/ai-config", &owner).await;
    assert_eq!(ai.body["version"], Value::Null);
    assert_eq!(ai.body["document"]["pii"]["redact"], true);
    let reply = app
        .call(
            Method::PUT,
            "/api/v1/settings/ai-config",
            Some(&owner),
            Some(json!({"pii": {"kinds": ["phone", "shoe_size"]}, "talk": {"min_gap_seconds": 0}})),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.fields(), vec!["pii.kinds[1]"], "{}", reply.text);
    let reply = app
        .call(
            Method::PUT,
            "/api/v1/settings/ai-config",
            Some(&owner),
            Some(json!({"summary": {"max_sentences": 99}, "entities": {"patterns": [{"name": "order", "regex": "("}]}})),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.fields(),
        vec!["summary.max_sentences", "entities.patterns[0].regex"],
        "{}",
        reply.text
    );
    for (n, doc) in [
        json!({"pii": {"redact": false}}),
        json!({"summary": {"max_sentences": 1}}),
    ]
    .into_iter()
    .enumerate()
    {
        let saved = app
            .call(
                Method::PUT,
                "/api/v1/settings/ai-config",
                Some(&owner),
                Some(doc),
            )
            .await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
        assert_eq!(saved.body["version"], n as i64 + 1);
    }
    let first = app
        .get("/api/v1/settings/ai-config?version=1", &owner)
        .await;
    assert_eq!(first.body["document"], json!({"pii": {"redact": false}}));
    assert_eq!(first.body["latest_version"], 2);
    app.get("/api/v1/settings/ai-config?version=9", &owner)
        .await
        .problem(StatusCode::NOT_FOUND);
    let reply = app
        .get("/api/v1/settings/ai-config?version=zero", &owner)
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.fields(), vec!["version"]);
    let audit = app
        .get("/api/v1/audit?action=ai_config.updated", &owner)
        .await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        audit.text
    );
}

/// What the overview must say, recomputed from the calls' own analyses.
fn expected_total(analyses: &[Value]) -> (i64, f64, i64) {
    let scores: Vec<f64> = analyses
        .iter()
        .filter_map(|a| a["qa"]["score"].as_f64())
        .collect();
    let mean = (scores.iter().sum::<f64>() / scores.len() as f64 * 1000.0).round() / 1000.0;
    let passed = analyses
        .iter()
        .filter(|a| a["qa"]["passed"] == true)
        .count() as i64;
    (analyses.len() as i64, mean, passed)
}

async fn check_rollups(app: &TestApp, token: &str, calls: &[String]) {
    let mut analyses = Vec::new();
    for id in calls {
        analyses.push(wait_for(app, token, id, "done").await["analysis"].clone());
    }
    let (n, mean, passed) = expected_total(&analyses);
    let overview = app.get("/api/v1/analytics/overview", token).await.body;
    assert_eq!(overview["total"]["calls"], n, "{overview}");
    assert_eq!(overview["total"]["qa_scored"], n);
    assert_eq!(
        overview["total"]["qa_average"].as_f64().unwrap(),
        mean,
        "{overview}"
    );
    let rate = overview["total"]["qa_pass_rate"].as_f64().unwrap();
    assert!(
        (rate - passed as f64 / n as f64).abs() < 0.001,
        "{overview}"
    );
    let per_day: i64 = overview["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["calls"].as_i64().unwrap())
        .sum();
    assert_eq!(per_day, n);
}

async fn rollups_stay_exact_under_redelivery_reanalysis_and_deletion(app: TestApp) {
    let t = app.seed_tenant("rollups").await;
    let owner = app.token(t.email(Role::Owner)).await;
    assert_eq!(
        put_rubric(&app, &owner, RUBRIC).await.status,
        StatusCode::OK
    );
    let lines = [
        (
            "r-1",
            "2026-03-01T10:00:00Z",
            "Thank you for calling, what is your policy number?",
            "I need to make a claim.",
        ),
        (
            "r-2",
            "2026-03-01T15:30:00Z",
            "Hello there.",
            "Just a question about my bill.",
        ),
        (
            "r-3",
            "2026-03-02T09:00:00Z",
            "Thank you for calling. I promise this is covered.",
            "A claim for my car.",
        ),
        (
            "r-4",
            "2026-03-03T11:00:00Z",
            "Thank you for calling, your policy number please?",
            "Fine, thanks.",
        ),
    ];
    let mut calls = Vec::new();
    for (ext, at, agent, customer) in lines {
        calls.push(post_call(&app, &owner, call_json(ext, at, agent, customer)).await);
    }
    check_rollups(&app, &owner, &calls).await;

    // A byte-identical resend is a no-op; a new event of the same call is a
    // new revision, analysed again, counted once.
    let resend = app
        .post(
            "/api/v1/calls",
            &owner,
            call_json(lines[1].0, lines[1].1, lines[1].2, lines[1].3),
        )
        .await;
    assert_eq!(resend.status, StatusCode::OK, "{}", resend.text);
    let changed = post_call(
        &app,
        &owner,
        call_json(
            "r-2",
            "2026-03-04T15:30:00Z",
            "Thank you for calling, your policy number?",
            "Thanks.",
        ),
    )
    .await;
    assert_eq!(changed, calls[1]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let c = wait_for(&app, &owner, &changed, "done").await;
        if c["analysis"]["qa"]["score"] == 100.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "r-2 was not re-analysed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check_rollups(&app, &owner, &calls).await;
    let days: Vec<String> = app.get("/api/v1/analytics/overview", &owner).await.body["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        days,
        ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"],
        "r-2 moved to its new day"
    );

    // A rubric change, then re-analysis of one call on request.
    let strict = RUBRIC.replace("\"pass_mark\": 60", "\"pass_mark\": 99");
    assert_eq!(
        put_rubric(&app, &owner, &strict).await.status,
        StatusCode::OK
    );
    let requested = app
        .post(
            &format!("/api/v1/calls/{}/reanalyse", calls[2]),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(requested.status, StatusCode::ACCEPTED, "{}", requested.text);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while wait_for(&app, &owner, &calls[2], "done").await["analysis"]["qa_config_version"] != 3 {
        assert!(tokio::time::Instant::now() < deadline, "not re-analysed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check_rollups(&app, &owner, &calls).await;

    // Deleting a call takes it out of its day.
    let gone = calls.remove(0);
    let deleted = app.delete(&format!("/api/v1/calls/{gone}"), &owner).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert!(object(&app, &t, &format!("final/v1.0/{gone}.json")).is_none());
    check_rollups(&app, &owner, &calls).await;
    // The flat files follow: r-1 left 2026-03-01 and r-2 moved to 03-04.
    flat_lines(&app, &t, "calls", "2026-03-01", |l| l.is_empty()).await;
    let moved = flat_lines(&app, &t, "calls", "2026-03-04", |l| l.len() == 1).await;
    assert_eq!(moved[0]["call_id"], calls[0].as_str());
    let day2 = flat_lines(&app, &t, "qa", "2026-03-02", |l| l.len() == 4).await;
    assert_eq!(day2[0]["rubric_version"], "test-rubric-v2");
    let agents = app.get("/api/v1/analytics/agents", &owner).await;
    assert_eq!(
        agents.body["items"][0]["agent_id"],
        Value::Null,
        "{}",
        agents.text
    );
    assert_eq!(agents.body["items"][0]["calls"], 3);
    let qa = app
        .get(
            "/api/v1/analytics/qa?since=2026-03-02&until=2026-03-03",
            &owner,
        )
        .await;
    assert_eq!(qa.status, StatusCode::OK, "{}", qa.text);
    assert_eq!(qa.body["qa_scored"], 2, "{}", qa.text);
    let bad = app
        .get(
            "/api/v1/analytics/overview?since=yesterday&until=2026-02-30&agent_id=nope",
            &owner,
        )
        .await;
    bad.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.fields(), vec!["since", "until", "agent_id"]);
}

async fn a_failing_stage_is_retried_then_failed_then_redriven(app: TestApp) {
    let t = app.seed_tenant("faulty").await;
    let owner = app.token(t.email(Role::Owner)).await;
    // A file where the final outputs' folder belongs: every write of a
    // final object fails, as a full or broken disk would.
    let blocker = app
        .state
        .config
        .data_dir
        .join("objects")
        .join(t.id.to_string())
        .join("final");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, b"not a folder").unwrap();
    let id = post_call(
        &app,
        &owner,
        call_json(
            "f-1",
            "2026-03-01T10:00:00Z",
            "Thank you for calling.",
            "A claim please.",
        ),
    )
    .await;
    let failed = wait_for(&app, &owner, &id, "failed").await;
    let stage = &failed["stages"]["analysis"];
    assert_eq!(
        stage["attempts"], app.state.config.pipeline.max_attempts,
        "{stage}"
    );
    assert!(
        stage["error"].as_str().unwrap().starts_with("object store"),
        "{stage}"
    );
    assert!(
        failed.get("analysis").is_none(),
        "nothing of a failed run is stored"
    );
    assert_eq!(
        app.get("/api/v1/analytics/overview", &owner).await.body["total"]["calls"],
        0
    );

    std::fs::remove_file(&blocker).unwrap();
    let redriven = app
        .post(&format!("/api/v1/calls/{id}/reanalyse"), &owner, json!({}))
        .await;
    assert_eq!(redriven.status, StatusCode::ACCEPTED, "{}", redriven.text);
    assert_eq!(redriven.body["status"], "queued");
    assert_eq!(redriven.body["attempts"], 0);
    let done = wait_for(&app, &owner, &id, "done").await;
    assert!(done["stages"]["analysis"].get("error").is_none());
    assert_eq!(
        app.get("/api/v1/analytics/overview", &owner).await.body["total"]["calls"],
        1
    );
    // A viewer may not re-drive.
    let viewer = app.token(t.email(Role::Viewer)).await;
    app.post(&format!("/api/v1/calls/{id}/reanalyse"), &viewer, json!({}))
        .await
        .problem(StatusCode::FORBIDDEN);
}

async fn the_worker_and_reanalyse_commands_run_the_pipeline(app: TestApp) {
    // A server without workers, so only the commands can analyse.
    let quiet = TestApp::spawn_with(app.backend, "quiet server", |c| c.pipeline.workers = false)
        .await
        .expect("the backend is reachable: the outer server started");
    let t = quiet.seed_tenant("cli").await;
    let owner = quiet.token(t.email(Role::Owner)).await;
    let id = post_call(
        &quiet,
        &owner,
        call_json(
            "c-1",
            "2026-03-01T10:00:00Z",
            "Thank you for calling.",
            "A claim please.",
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = quiet.get(&format!("/api/v1/calls/{id}"), &owner).await.body;
    assert_eq!(
        c["stages"]["analysis"]["status"], "queued",
        "no worker ran it"
    );

    let out = quiet
        .cli(&["reanalyse", "--tenant", "cli"])
        .output()
        .await
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    wait_for(&quiet, &owner, &id, "done").await;

    // `switchboard worker` analyses what the server queues.
    let mut worker = quiet
        .cli(&["worker"])
        .env("SWITCHBOARD_PIPELINE__POLL_INTERVAL_MS", "100")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("worker starts");
    let second = post_call(
        &quiet,
        &owner,
        call_json(
            "c-2",
            "2026-03-02T10:00:00Z",
            "Thank you for calling.",
            "Hello.",
        ),
    )
    .await;
    let analysed = wait_for(&quiet, &owner, &second, "done").await;
    worker.kill().await.expect("worker stops");
    assert_eq!(analysed["analysis"]["qa_config_version"], 1);
    let bad = quiet
        .cli(&["reanalyse", "--tenant", "cli", "--since", "March"])
        .output()
        .await
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since"));
}

async fn an_llm_writes_the_summary_and_answers_the_rubric_questions(app: TestApp) {
    let (base, fake) = crate::fake_openai::start().await;
    *fake.rate_limit_first.lock().unwrap() = 1;
    let llm = TestApp::spawn_with(app.backend, "llm server", |c| {
        c.llm.base_url = Some(base.clone());
        c.llm.api_key = Some(switchboard::config::Secret::new("platform-llm-key-0001"));
        c.llm.retry_base_ms = 10;
    })
    .await
    .expect("the backend is reachable: the outer server started");
    let t = llm.seed_tenant("byok").await;
    let owner = llm.token(t.email(Role::Owner)).await;
    assert_eq!(
        put_rubric(&llm, &owner, RUBRIC).await.status,
        StatusCode::OK
    );
    let saved = llm
        .call(
            Method::PUT,
            "/api/v1/settings/credentials/llm",
            Some(&owner),
            Some(json!({"api_key": "tenant-byok-key-1234"})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    assert_eq!(saved.body["hint"], "1234");
    let checked = llm
        .post("/api/v1/settings/credentials/llm/test", &owner, json!({}))
        .await;
    assert_eq!(checked.body["ok"], true, "{}", checked.text);

    let id = post_call(
        &llm,
        &owner,
        call_json(
            "llm-1",
            "2026-03-01T10:00:00Z",
            "Thank you for calling, may I have your policy number?",
            "It is on my card 4111 1111 1111 1111, I need a claim form.",
        ),
    )
    .await;
    let call = wait_for(&llm, &owner, &id, "done").await;
    let a = &call["analysis"];
    assert_eq!(a["summary"]["method"], "llm", "{}", a["summary"]);
    assert_eq!(
        a["summary"]["text"],
        "The caller filed a claim and asked for the form."
    );
    assert_eq!(
        a["summary"]["next_steps"][0],
        "Email the claim form to the caller"
    );
    // The question was answered "no": (30 + 20 + 50) of 110 evaluated.
    assert_eq!(a["qa"]["criteria"][3]["status"], "failed", "{}", a["qa"]);
    assert_eq!(a["qa"]["criteria"][3]["evidence"][0]["turn"], 1);
    let score = a["qa"]["score"].as_f64().unwrap();
    assert!((score - 100.0 * 100.0 / 110.0).abs() < 1e-9, "{score}");
    assert_eq!(a["llm"]["model"], "gpt-4o-mini");
    assert_eq!(a["llm"]["usage"]["requests"], 2);
    assert_eq!(a["llm"]["usage"]["prompt_tokens"], 200);

    let chats = fake.requests_to("/v1/chat/completions");
    assert_eq!(chats.len(), 3, "one 429, retried, and the questions");
    for (auth, body) in &chats {
        assert_eq!(
            auth, "Bearer tenant-byok-key-1234",
            "the tenant's own key wins"
        );
        assert!(
            !body.contains("4111"),
            "an unredacted card reached the LLM: {body}"
        );
        assert!(body.contains("[CARD]"));
    }
    let overview = llm.get("/api/v1/analytics/overview", &owner).await.body;
    assert_eq!(overview["llm_usage"]["requests"], 2, "{overview}");
    assert_eq!(overview["llm_usage"]["completion_tokens"], 40);

    // Re-analysing is a new, legitimate use: counted again, once.
    llm.post(&format!("/api/v1/calls/{id}/reanalyse"), &owner, json!({}))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while llm.get("/api/v1/analytics/overview", &owner).await.body["llm_usage"]["requests"] != 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "re-analysis not counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn audio_only_calls_wait_for_or_get_a_transcription(app: TestApp) {
    let audio_only = |ext: &str| {
        json!({"external_id": ext, "direction": "inbound", "from": "+14155550123",
               "to": "+14155550100", "started_at": "2026-03-01T10:00:00Z"})
    };
    let upload = |app: &TestApp, token: String, id: String| {
        let req = app
            .client
            .post(app.url(&format!("/api/v1/calls/{id}/audio")))
            .bearer_auth(token)
            .header("content-type", "audio/wav")
            .body(b"RIFF\x24\x00\x00\x00WAVEfmt fake audio".to_vec());
        async move {
            let res = req.send().await.unwrap();
            assert!(res.status().is_success(), "{}", res.text().await.unwrap());
        }
    };
    // Without a transcription endpoint the call waits, visibly.
    let t = app.seed_tenant("silent").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let id = post_call(&app, &owner, audio_only("a-1")).await;
    let call = app.get(&format!("/api/v1/calls/{id}"), &owner).await.body;
    assert!(
        call["stages"].get("analysis").is_none(),
        "nothing to analyse yet: {call}"
    );
    upload(&app, owner.clone(), id.clone()).await;
    wait_for(&app, &owner, &id, "needs_transcription").await;

    // With one, the recording is transcribed and the call analysed.
    let (base, fake) = crate::fake_openai::start().await;
    let stt = TestApp::spawn_with(app.backend, "stt server", |c| {
        c.transcription.base_url = Some(base.clone());
        c.transcription.api_key = Some(switchboard::config::Secret::new("platform-stt-key-0001"));
    })
    .await
    .expect("the backend is reachable");
    let t = stt.seed_tenant("spoken").await;
    let owner = stt.token(t.email(Role::Owner)).await;
    let id = post_call(&stt, &owner, audio_only("a-2")).await;
    upload(&stt, owner.clone(), id.clone()).await;
    let call = wait_for(&stt, &owner, &id, "done").await;
    assert_eq!(
        call["turns"].as_array().unwrap().len(),
        2,
        "{}",
        call["turns"]
    );
    assert_eq!(call["turns"][0]["speaker"], "agent");
    assert_eq!(call["turns"][1]["text"], "I want to file a claim.");
    // The starter rubric's greeting rule heard the transcribed agent.
    assert_eq!(call["analysis"]["qa"]["criteria"][0]["id"], "greeting");
    assert_eq!(
        call["analysis"]["qa"]["criteria"][0]["status"], "passed",
        "{}",
        call["analysis"]["qa"]
    );
    let sent = fake.requests_to("/v1/audio/transcriptions");
    assert_eq!(sent.len(), 1, "transcribed once");
    assert_eq!(sent[0].0, "Bearer platform-stt-key-0001");
    assert!(sent[0].1.contains("whisper-1") && sent[0].1.contains("fake audio"));

    // A provider's call transcribed later: the transcript is no webhook,
    // and the agent's last webhook time stays its provider's.
    let (owner, agent, _) = crate::calls_in::retell_agent(&stt, "voiced").await;
    let url = agent["webhook_url"].as_str().unwrap();
    let started = crate::calls_in::retell_event("call_started", "voiced-1", json!({}));
    let reply = crate::calls_in::send_retell(&stt, url, &started).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let id = reply.body["call_id"].as_str().unwrap().to_owned();
    let agent_path = format!("/api/v1/agents/{}", agent["id"].as_str().unwrap());
    let last_webhook = || async {
        let agent = stt.get(&agent_path, &owner).await.body;
        agent["last_webhook_received_at"].clone()
    };
    let before = last_webhook().await;
    assert!(before.is_string(), "{before}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    upload(&stt, owner.clone(), id.clone()).await;
    let call = wait_for(&stt, &owner, &id, "done").await;
    assert_eq!(call["turns"].as_array().unwrap().len(), 2, "{call}");
    assert_eq!(last_webhook().await, before);
}

async fn live_events_reach_only_the_tenants_own_listeners(app: TestApp) {
    let a = app.seed_tenant("listener").await;
    let b = app.seed_tenant("other").await;
    let a_owner = app.token(a.email(Role::Owner)).await;
    let b_owner = app.token(b.email(Role::Owner)).await;
    let listen = |token: &str| {
        app.client
            .get(app.url("/api/v1/events"))
            .bearer_auth(token)
            .send()
    };
    let mut a_stream = listen(&a_owner).await.unwrap();
    assert_eq!(
        a_stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut b_stream = listen(&b_owner).await.unwrap();
    let id = post_call(
        &app,
        &a_owner,
        call_json(
            "e-1",
            "2026-03-01T10:00:00Z",
            "Thank you for calling.",
            "A claim.",
        ),
    )
    .await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(seen.contains("event: call.created") && seen.contains("event: call.analysed")) {
        let chunk = tokio::time::timeout_at(deadline, a_stream.chunk())
            .await
            .expect("events in time")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(&id), "{seen}");
    // B's listener heard nothing of A's call.
    let heard = tokio::time::timeout(Duration::from_millis(500), b_stream.chunk()).await;
    assert!(heard.is_err(), "B received {:?}", heard);
    // A member lacks calls:view_all.
    let member = app.token(a.email(Role::Member)).await;
    assert_eq!(
        listen(&member).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}

/// On PostgreSQL a pipeline batch finishes its jobs in one transaction
/// while ingest may be queueing new revisions of some of them in another:
/// a job row held by another transaction is skipped (the run counts as
/// overtaken) instead of waited for, so the two can never deadlock.
#[tokio::test]
async fn postgres_finishing_skips_a_job_another_transaction_holds() {
    use sqlx::Connection as _;
    use switchboard::auth::Operator;
    use switchboard::db::pipeline_jobs::{self, JobStatus};
    use switchboard::db::{now_ms, Mode};

    let Some(app) = TestApp::spawn_with(
        crate::helpers::Backend::Postgres,
        "postgres_finishing_skips_a_job_another_transaction_holds",
        |c| c.pipeline.workers = false,
    )
    .await
    else {
        return;
    };
    let tenant = app.seed_tenant("lockco").await;
    let token = app.token(tenant.email(Role::Owner)).await;
    let call = post_call(
        &app,
        &token,
        call_json(
            "lock-1",
            "2026-11-20T10:00:00Z",
            "Thank you for calling.",
            "A claim.",
        ),
    )
    .await;

    let scope = Operator::command_line().scope_for(tenant.id);
    let mut tx = app.db().tenant(&scope, Mode::Write).await.unwrap();
    let claimed = pipeline_jobs::claim(&mut tx, now_ms(), now_ms() + 60_000, 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].call_id.to_string(), call);

    // Another transaction holds the job's row, as ingest does while it
    // queues a new revision.
    let mut holder = sqlx::PgConnection::connect(app.database_url.as_deref().unwrap())
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT 1 FROM pipeline_jobs WHERE call_id = $1 FOR UPDATE")
        .bind(&call)
        .execute(&mut holder)
        .await
        .unwrap();

    // The run finishing its job in a transaction of its own, as a batch does.
    let finish = || async {
        let mut tx = app.db().tenant(&scope, Mode::Write).await.unwrap();
        let job = &claimed[0];
        let finished = pipeline_jobs::finish(&mut tx, job, JobStatus::Done, "finalise", None, None);
        let finished = tokio::time::timeout(Duration::from_secs(5), finished)
            .await
            .expect("finishing waited for the held row")
            .unwrap();
        tx.commit().await.unwrap();
        finished
    };
    assert!(!finish().await, "a held job counts as overtaken");

    // Released, the same run finishes.
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    assert!(finish().await);
}
