//! The cross-tenant isolation suite. Two tenants with mirrored data; for
//! every operation in the OpenAPI document, and every route outside it
//! (`switchboard::http::UNDOCUMENTED_ROUTES`), tenant A's credentials are tried
//! against tenant B's ids, cursors, filters and tenant-naming fields. Each
//! answer must be 404 or 403 (200 only where the probe is a filter, which
//! must then return none of B's data), must contain none of B's identifiers,
//! and must leave B's data as it was. An operation without probes here fails
//! the suite, so every new route has to join it.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_core::Role;

use crate::helpers::{Reply, Seeded, TestApp};

crate::on_both_backends!(tenant_a_can_never_reach_tenant_b);

struct Probe {
    method: Method,
    path: String,
    body: Option<Value>,
    /// Answers that are acceptable.
    expect: &'static [StatusCode],
}

const HIDDEN: &[StatusCode] = &[StatusCode::NOT_FOUND];
const REFUSED: &[StatusCode] = &[StatusCode::FORBIDDEN];
const HIDDEN_OR_REFUSED: &[StatusCode] = &[StatusCode::NOT_FOUND, StatusCode::FORBIDDEN];
/// A filter naming B's ids answers with an empty page (checked for B data).
const FILTERED: &[StatusCode] = &[StatusCode::OK];
/// Public or self-describing routes: whatever they answer, never B's data.
const ANY: &[StatusCode] = &[
    StatusCode::OK,
    StatusCode::UNAUTHORIZED,
    StatusCode::NO_CONTENT,
    StatusCode::BAD_REQUEST,
    StatusCode::FORBIDDEN,
];

fn probe(
    method: Method,
    path: impl Into<String>,
    body: Option<Value>,
    expect: &'static [StatusCode],
) -> Probe {
    Probe {
        method,
        path: path.into(),
        body,
        expect,
    }
}

struct TenantB {
    seeded: Seeded,
    api_key_id: String,
    agent_id: String,
    webhook_url: String,
    call_id: String,
    cursors: Vec<(&'static str, String)>,
    secrets: Vec<String>,
}

/// The probes for one documented operation, or `None` if the suite does not know it.
fn probes_for(method: &Method, path: &str, b: &TenantB) -> Option<Vec<Probe>> {
    let bid = b.seeded.id.to_string();
    let slug = &b.seeded.slug;
    let member = b.seeded.user(Role::Manager).to_string();
    let key = &b.api_key_id;
    let cursor = |list: &str| {
        b.cursors
            .iter()
            .find(|(l, _)| *l == list)
            .map(|(_, c)| c.clone())
            .expect("cursor of B")
    };
    let m = method.clone();
    Some(match (method.as_str(), path) {
        ("GET", "/healthz" | "/readyz" | "/metrics" | "/api/openapi.json") => {
            vec![probe(m, path, None, ANY)]
        }
        ("POST", "/api/v1/auth/login") => vec![probe(
            m,
            path,
            Some(
                json!({"email": "owner@alpha.example", "password": crate::helpers::PASSWORD, "tenant": slug}),
            ),
            &[StatusCode::UNAUTHORIZED],
        )],
        ("POST", "/api/v1/auth/refresh") => vec![probe(m, path, None, &[StatusCode::UNAUTHORIZED])],
        ("POST", "/api/v1/auth/logout") => {
            vec![probe(m, format!("{path}?tenant_id={bid}"), None, REFUSED)]
        }
        ("GET", "/api/v1/me") => vec![
            probe(m.clone(), format!("{path}?tenant_id={bid}"), None, REFUSED),
            probe(m, format!("{path}?customer_id={slug}"), None, REFUSED),
        ],
        ("GET", "/api/v1/members") => vec![
            probe(
                m.clone(),
                format!("{path}?cursor={}", cursor("members")),
                None,
                HIDDEN,
            ),
            probe(m, format!("{path}?tenant_id={bid}"), None, REFUSED),
        ],
        ("POST", "/api/v1/members") => vec![
            probe(
                m.clone(),
                path,
                Some(
                    json!({"tenant_id": bid, "email": "intruder@alpha.example", "role": "owner", "password": "long enough password"}),
                ),
                REFUSED,
            ),
            probe(
                m,
                path,
                Some(
                    json!({"customer_id": slug, "email": "intruder@alpha.example", "role": "owner", "password": "long enough password"}),
                ),
                REFUSED,
            ),
        ],
        ("GET" | "PATCH" | "DELETE", "/api/v1/members/{user_id}") => {
            vec![probe(
                m,
                path.replace("{user_id}", &member),
                Some(json!({"role": "viewer"})).filter(|_| method == Method::PATCH),
                HIDDEN,
            )]
        }
        ("GET", "/api/v1/api-keys") => vec![
            probe(
                m.clone(),
                format!("{path}?cursor={}", cursor("api-keys")),
                None,
                HIDDEN,
            ),
            probe(m, format!("{path}?tenant_id={bid}"), None, REFUSED),
        ],
        ("POST", "/api/v1/api-keys") => vec![probe(
            m,
            path,
            Some(json!({"tenant_id": bid, "name": "intruder"})),
            REFUSED,
        )],
        ("GET" | "DELETE", "/api/v1/api-keys/{id}") => {
            vec![probe(m, path.replace("{id}", key), None, HIDDEN)]
        }
        ("GET", "/api/v1/settings/branding") => {
            vec![probe(m, format!("{path}?tenant_id={bid}"), None, REFUSED)]
        }
        ("PUT", "/api/v1/settings/branding") => vec![probe(
            m,
            path,
            Some(json!({"tenant_id": bid, "primary_color": "#ff0000"})),
            REFUSED,
        )],
        ("GET", "/api/v1/audit") => vec![
            probe(
                m.clone(),
                format!("{path}?cursor={}", cursor("audit")),
                None,
                HIDDEN,
            ),
            probe(m.clone(), format!("{path}?tenant_id={bid}"), None, REFUSED),
            probe(
                m,
                format!("{path}?actor={}", b.seeded.user(Role::Owner)),
                None,
                FILTERED,
            ),
        ],
        ("GET" | "POST", "/api/v1/platform/tenants") => {
            vec![probe(
                m,
                path,
                Some(json!({"slug": "intruder", "name": "Intruder"}))
                    .filter(|_| method == Method::POST),
                REFUSED,
            )]
        }
        ("GET", "/api/v1/platform/tenants/{id}")
        | (
            "POST",
            "/api/v1/platform/tenants/{id}/suspend" | "/api/v1/platform/tenants/{id}/reactivate",
        ) => {
            vec![probe(
                m,
                path.replace("{id}", &bid),
                None,
                HIDDEN_OR_REFUSED,
            )]
        }
        ("POST", "/api/v1/platform/impersonate/{tenant}") => vec![probe(
            m,
            path.replace("{tenant}", &bid),
            None,
            HIDDEN_OR_REFUSED,
        )],
        ("GET", "/api/v1/agents") => vec![
            probe(
                m.clone(),
                format!("{path}?cursor={}", cursor("agents")),
                None,
                HIDDEN,
            ),
            probe(m, format!("{path}?tenant_id={bid}"), None, REFUSED),
        ],
        ("POST", "/api/v1/agents") => vec![probe(
            m,
            path,
            Some(json!({"tenant_id": bid, "name": "intruder", "provider": "retell"})),
            REFUSED,
        )],
        ("GET" | "PATCH" | "DELETE", "/api/v1/agents/{id}") => vec![probe(
            m,
            path.replace("{id}", &b.agent_id),
            Some(json!({"status": "inactive"})).filter(|_| method == Method::PATCH),
            HIDDEN,
        )],
        ("POST", "/api/v1/agents/{id}/rotate-token" | "/api/v1/agents/{id}/rotate-secret") => {
            vec![probe(m, path.replace("{id}", &b.agent_id), None, HIDDEN)]
        }
        ("GET" | "DELETE", "/api/v1/settings/credentials/{provider}")
        | ("POST", "/api/v1/settings/credentials/{provider}/test") => vec![probe(
            m,
            format!("{}?tenant_id={bid}", path.replace("{provider}", "retell")),
            None,
            REFUSED,
        )],
        ("PUT", "/api/v1/settings/credentials/{provider}") => vec![probe(
            m,
            path.replace("{provider}", "retell"),
            Some(json!({"tenant_id": bid, "api_key": "intruder-key-123"})),
            REFUSED,
        )],
        ("GET", "/api/v1/calls") => vec![
            probe(
                m.clone(),
                format!("{path}?cursor={}", cursor("calls")),
                None,
                HIDDEN,
            ),
            probe(m.clone(), format!("{path}?tenant_id={bid}"), None, REFUSED),
            probe(m, format!("{path}?agent_id={}", b.agent_id), None, FILTERED),
        ],
        ("POST", "/api/v1/calls") => vec![probe(
            m,
            path,
            Some(
                json!({"customer_id": slug, "external_id": "intruder", "direction": "inbound",
                "from": "+14155550123", "to": "+14155550100", "started_at": "2026-03-01T10:00:00Z"}),
            ),
            REFUSED,
        )],
        ("POST", "/api/v1/calls/import") => vec![probe(
            m,
            format!("{path}?customer_id={slug}"),
            None,
            REFUSED,
        )],
        ("GET", "/api/v1/settings/recording-pull")
        | ("POST", "/api/v1/settings/recording-pull/run") => {
            vec![probe(m, format!("{path}?tenant_id={bid}"), None, REFUSED)]
        }
        // The local store's signed URLs: without B's signature, B's
        // recording is not there, whoever asks.
        ("GET", "/objects/{*key}") => {
            let key = format!("{bid}/audio/{}.wav", b.call_id);
            vec![
                probe(m.clone(), format!("/objects/{key}"), None, HIDDEN),
                probe(
                    m,
                    format!("/objects/{key}?expires=4102444800&sig={}", "0".repeat(64)),
                    None,
                    HIDDEN,
                ),
            ]
        }
        ("GET" | "DELETE", "/api/v1/calls/{id}")
        | ("GET", "/api/v1/calls/{id}/recording")
        | ("POST", "/api/v1/calls/{id}/audio" | "/api/v1/calls/{id}/recording/fetch") => {
            vec![probe(m, path.replace("{id}", &b.call_id), None, HIDDEN)]
        }
        // The stream itself is tested in `insight`: it carries only the
        // caller's tenant's events.
        ("GET", "/api/v1/events") => vec![
            probe(m.clone(), format!("{path}?tenant_id={bid}"), None, REFUSED),
            probe(m, format!("{path}?customer_id={slug}"), None, REFUSED),
        ],
        ("POST", "/api/v1/calls/{id}/reanalyse") => {
            vec![probe(m, path.replace("{id}", &b.call_id), None, HIDDEN)]
        }
        ("GET", "/api/v1/settings/ai-config" | "/api/v1/settings/qa-config") => vec![
            probe(m.clone(), format!("{path}?tenant_id={bid}"), None, REFUSED),
            // B saved version 2 of each; A has none of its own beyond the starter.
            probe(m, format!("{path}?version=2"), None, HIDDEN),
        ],
        ("PUT", "/api/v1/settings/ai-config" | "/api/v1/settings/qa-config") => vec![probe(
            m,
            path,
            Some(json!({"tenant_id": bid, "pass_mark": 10, "criteria": []})),
            REFUSED,
        )],
        (
            "GET",
            "/api/v1/analytics/overview" | "/api/v1/analytics/qa" | "/api/v1/analytics/agents",
        ) => vec![
            probe(m.clone(), format!("{path}?tenant_id={bid}"), None, REFUSED),
            probe(m, format!("{path}?agent_id={}", b.agent_id), None, FILTERED),
        ],
        // B's webhook URL is a capability of B's provider, not of A's
        // credentials: without B's signing key nothing is accepted.
        ("POST", "/webhooks/{provider}/{token}") => vec![probe(
            m,
            b.webhook_url.clone(),
            Some(json!({"event": "call_ended", "call": {"call_id": "intruder"}})),
            &[StatusCode::UNAUTHORIZED],
        )],
        _ => return None,
    })
}

async fn tenant_b(app: &TestApp) -> TenantB {
    let seeded = app.seed_tenant("bravo").await;
    let owner = app.token(seeded.email(Role::Owner)).await;
    let mut secrets = Vec::new();
    for i in 0..3 {
        let k = app
            .post(
                "/api/v1/api-keys",
                &owner,
                json!({"name": format!("bravo key {i}")}),
            )
            .await;
        secrets.push(k.body["key"].as_str().unwrap().to_owned());
    }
    let key_list = app.get("/api/v1/api-keys?limit=1", &owner).await;
    let api_key_id = key_list.body["items"][0]["id"].as_str().unwrap().to_owned();
    app.call(
        Method::PUT,
        "/api/v1/settings/credentials/retell",
        Some(&owner),
        Some(json!({"api_key": "bravo-retell-key-1"})),
    )
    .await;
    for (path, doc) in [
        ("/api/v1/settings/ai-config", json!({"version": "bravo-ai"})),
        (
            "/api/v1/settings/ai-config",
            json!({"version": "bravo-ai-2"}),
        ),
        (
            "/api/v1/settings/qa-config",
            serde_json::from_str(crate::insight::RUBRIC).unwrap(),
        ),
    ] {
        let saved = app.call(Method::PUT, path, Some(&owner), Some(doc)).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    }
    let mut agents = Vec::new();
    for name in ["bravo desk", "bravo sales"] {
        let a = app
            .post(
                "/api/v1/agents",
                &owner,
                json!({"name": name, "provider": "retell"}),
            )
            .await;
        agents.push(a.body["agent"].clone());
    }
    let mut calls = Vec::new();
    for i in 0..2 {
        let c = app
            .post(
                "/api/v1/calls",
                &owner,
                json!({"external_id": format!("bravo-{i}"), "agent_id": agents[0]["id"], "direction": "inbound",
                    "from": "+14155550123", "to": "+14155550100", "started_at": "2026-03-01T10:00:00Z",
                    "turns": [{"speaker": "agent", "text": "Thank you for calling bravo.", "start": 0.0, "end": 2.0},
                              {"speaker": "customer", "text": "I want to file a claim.", "start": 2.5, "end": 4.0}]}),
            )
            .await;
        calls.push(c.body["call_id"].as_str().expect("B's call").to_owned());
    }
    // B's first call has a stored recording, so that the recording probes
    // would find one if ownership were not checked.
    let upload = app
        .client
        .post(app.url(&format!("/api/v1/calls/{}/audio", calls[0])))
        .bearer_auth(&owner)
        .header("content-type", "audio/wav")
        .body(b"RIFF bravo recording".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::NO_CONTENT);
    let own = app
        .get(&format!("/api/v1/calls/{}/recording", calls[0]), &owner)
        .await;
    assert_eq!(own.status, StatusCode::FOUND, "B reaches its own recording");
    let mut cursors = Vec::new();
    for (name, list) in [
        ("members", "/api/v1/members?limit=1"),
        ("api-keys", "/api/v1/api-keys?limit=1"),
        ("audit", "/api/v1/audit?limit=1"),
        ("agents", "/api/v1/agents?limit=1"),
        ("calls", "/api/v1/calls?limit=1"),
    ] {
        let page = app.get(list, &owner).await;
        cursors.push((
            name,
            page.body["next_cursor"]
                .as_str()
                .expect("B has more than one page")
                .to_owned(),
        ));
    }
    // B's calls are analysed, so its analytics have something to leak.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.get("/api/v1/analytics/overview", &owner).await.body["total"]["calls"] != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "B's calls were never analysed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    TenantB {
        seeded,
        api_key_id,
        agent_id: agents[0]["id"].as_str().unwrap().to_owned(),
        webhook_url: agents[0]["webhook_url"]
            .as_str()
            .unwrap()
            .trim_start_matches(&app.base)
            .to_owned(),
        call_id: calls[0].clone(),
        cursors,
        secrets,
    }
}

/// Everything that would betray B in an answer to A.
fn b_markers(b: &TenantB) -> Vec<String> {
    let mut m = vec![
        b.seeded.id.to_string(),
        b.seeded.slug.clone(),
        "bravo.example".into(),
        b.api_key_id.clone(),
        b.agent_id.clone(),
        b.call_id.clone(),
        b.webhook_url.rsplit('/').next().unwrap().to_owned(),
        "bravo-retell".into(),
        "bravo-ai".into(),
    ];
    m.extend(b.seeded.users.iter().map(|u| u.1.to_string()));
    m.extend(b.secrets.iter().map(|s| s[..12].to_owned()));
    m
}

async fn snapshot(app: &TestApp, b: &TenantB) -> Vec<Value> {
    let owner = app.token(b.seeded.email(Role::Owner)).await;
    let mut out = Vec::new();
    for path in [
        "/api/v1/members?limit=200",
        "/api/v1/api-keys?limit=200",
        "/api/v1/settings/branding",
        "/api/v1/agents?limit=200",
        "/api/v1/calls?limit=200",
        "/api/v1/settings/credentials/retell",
        "/api/v1/settings/ai-config",
        "/api/v1/settings/qa-config",
    ] {
        let mut body = app.get(path, &owner).await.body;
        // Unsigned requests to B's webhook URL are counted on B's agent for
        // B's operator to see: that is the one change A may cause.
        for agent in body["items"].as_array_mut().into_iter().flatten() {
            if let Some(a) = agent.as_object_mut() {
                a.remove("signature_failures");
                a.remove("last_signature_failure_at");
            }
        }
        out.push(body);
    }
    out
}

async fn tenant_a_can_never_reach_tenant_b(app: TestApp) {
    let a = app.seed_tenant("alpha").await;
    let b = tenant_b(&app).await;
    let before = snapshot(&app, &b).await;
    let a_owner = app.token(a.email(Role::Owner)).await;
    let a_key = app
        .api_key(
            &a,
            &switchboard_core::Permission::ALL
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>(),
        )
        .await;
    let markers = b_markers(&b);

    let doc = app
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .body;
    let mut unknown = Vec::new();
    let mut tried = 0;
    let mut operations: Vec<(Method, &str)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                operations.push((method, path.as_str()));
            }
        }
    }
    operations.extend(switchboard::http::UNDOCUMENTED_ROUTES.map(|path| (Method::GET, path)));
    for (method, path) in operations {
        let Some(probes) = probes_for(&method, path, &b) else {
            unknown.push(format!("{method} {path}"));
            continue;
        };
        for p in probes {
            for cred in [&a_owner, &a_key] {
                let reply: Reply = app
                    .call(p.method.clone(), &p.path, Some(cred), p.body.clone())
                    .await;
                tried += 1;
                assert!(
                    p.expect.contains(&reply.status),
                    "{} {} answered {}: {}",
                    p.method,
                    p.path,
                    reply.status,
                    reply.text
                );
                for marker in &markers {
                    assert!(
                        !reply.text.contains(marker.as_str()),
                        "{} {} revealed {marker}: {}",
                        p.method,
                        p.path,
                        reply.text
                    );
                }
                if p.expect == FILTERED && !p.path.starts_with("/api/v1/analytics/") {
                    assert_eq!(reply.body["items"], json!([]), "{} {}", p.method, p.path);
                }
                if p.expect == FILTERED && p.path.starts_with("/api/v1/analytics/") {
                    let counted = reply.body["total"]["calls"]
                        .as_i64()
                        .or(reply.body["qa_scored"].as_i64())
                        .unwrap_or(reply.body["items"].as_array().map_or(0, |a| a.len() as i64));
                    assert_eq!(counted, 0, "{} {}: {}", p.method, p.path, reply.text);
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "operations missing from the isolation suite: {unknown:?}"
    );
    assert!(tried > 40, "only {tried} probes ran");
    assert_eq!(snapshot(&app, &b).await, before, "B's data changed");
    // A's own settings are A's: B's Retell key is configured, A's is not,
    // and nothing of B's key (its hint, "ey-1") shows through.
    let own = app
        .get("/api/v1/settings/credentials/retell", &a_owner)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert_eq!(own.body["configured"], false, "{}", own.text);
    assert_eq!(own.body["hint"], Value::Null, "{}", own.text);
    for secret in &b.secrets {
        assert_eq!(
            app.get("/api/v1/me", secret).await.status,
            StatusCode::OK,
            "B's keys still work"
        );
    }
}
