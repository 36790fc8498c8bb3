//! `switchboard demo` seeds through the same paths as real traffic, and
//! seeding again changes nothing.

use serde_json::Value;
use switchboard::app::App;

use crate::helpers::TestApp;

crate::on_both_backends!(demo_seed_is_realistic_and_idempotent);

async fn demo_seed_is_realistic_and_idempotent(app: TestApp) {
    let wrapped = App {
        state: app.state.clone(),
    };
    let dir = app.state.config.data_dir.clone();
    let (logins, admin) = switchboard::demo::seed(&wrapped, &dir, 40)
        .await
        .expect("seeded");
    let key = logins
        .api_keys
        .get("demo-larkspur")
        .expect("an API key")
        .clone();
    let me = app.get("/api/v1/me", &key).await;
    assert_eq!(me.status, reqwest::StatusCode::OK, "{}", me.text);

    let owner_password = logins.passwords["owner@larkspur.example"].clone();
    let owner = app
        .login("owner@larkspur.example", &owner_password, None)
        .await
        .body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let agents = app.get("/api/v1/agents", &owner).await.body["items"]
        .as_array()
        .unwrap()
        .clone();
    let providers: Vec<&str> = agents
        .iter()
        .map(|a| a["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers.len(), 3, "{providers:?}");
    let calls: Vec<Value> = app.get("/api/v1/calls?limit=200", &owner).await.body["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(calls.len(), 40);
    // Each agent's calls came in in its provider's own format.
    let provider_of = |agent_id: &Value| {
        agents
            .iter()
            .find(|a| &a["id"] == agent_id)
            .map(|a| a["provider"].clone())
    };
    for c in &calls {
        assert_eq!(
            Some(c["source"].clone()),
            provider_of(&c["agent_id"]),
            "{c}"
        );
    }
    for source in ["retell", "vapi", "generic"] {
        assert!(calls.iter().any(|c| c["source"] == source), "{source}");
    }
    let first = app
        .get(
            &format!("/api/v1/calls/{}", calls[0]["id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert!(
        first.body["turns"].as_array().unwrap().len() > 2,
        "{}",
        first.text
    );

    // A deleted demo call comes back on the next run; the others are left
    // exactly as they are.
    let deleted = calls[3]["id"].as_str().unwrap();
    let gone = app
        .delete(&format!("/api/v1/calls/{deleted}"), &owner)
        .await;
    assert_eq!(
        gone.status,
        reqwest::StatusCode::NO_CONTENT,
        "{}",
        gone.text
    );
    let kept = app
        .get(
            &format!("/api/v1/calls/{}", calls[0]["id"].as_str().unwrap()),
            &owner,
        )
        .await
        .body;
    // So is a deleted demo agent (as after a run cut short between two).
    let agent = agents[1]["id"].as_str().unwrap();
    let gone = app.delete(&format!("/api/v1/agents/{agent}"), &owner).await;
    assert_eq!(
        gone.status,
        reqwest::StatusCode::NO_CONTENT,
        "{}",
        gone.text
    );
    let (again, admin_again) = switchboard::demo::seed(&wrapped, &dir, 40)
        .await
        .expect("seeded again");
    let after = app
        .get(
            &format!("/api/v1/calls/{}", calls[0]["id"].as_str().unwrap()),
            &owner,
        )
        .await
        .body;
    assert_eq!(after["turns"], kept["turns"]);
    assert_eq!(after["updated_at"], kept["updated_at"], "untouched");
    let external_ids = |items: &Value| {
        let mut ids: Vec<String> = items
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["external_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        external_ids(&app.get("/api/v1/calls?limit=200", &owner).await.body["items"]),
        external_ids(&Value::Array(calls.clone())),
        "the deleted call is back, under its number"
    );
    assert_eq!(admin, admin_again);
    assert_eq!(again.api_keys, logins.api_keys);
    assert_eq!(
        app.get("/api/v1/calls?limit=200", &owner).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        40
    );
    assert_eq!(
        app.get("/api/v1/agents", &owner).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Every call is analysed before the demo prints its URL, so every
    // figure of the overview is real.
    switchboard::demo::analyse_demo_calls(&wrapped)
        .await
        .expect("analysed");
    let overview = app.get("/api/v1/analytics/overview", &owner).await.body;
    assert_eq!(overview["total"]["calls"], 40, "{overview}");
    assert_eq!(overview["total"]["qa_scored"], 40, "{overview}");
    let average = overview["total"]["qa_average"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&average), "{overview}");
    assert!(
        overview["total"]["billable_calls"].as_i64().unwrap() < 40,
        "some demo calls are test calls: {overview}"
    );
    let rubric = app.get("/api/v1/settings/qa-config", &owner).await.body;
    assert_eq!(
        rubric["version"], 1,
        "the demo tenant has its starter rubric"
    );
}
