//! Health, readiness, metrics, the OpenAPI document, request ids, rate
//! limits (in-process and on a real Redis) and graceful shutdown.

use reqwest::{Method, StatusCode};
use switchboard::config::Secret;
use switchboard_core::Role;

use crate::helpers::{Backend, TestApp};

crate::on_both_backends!(
    health_readiness_metrics_and_request_ids,
    openapi_documents_every_route_with_problems
);

async fn health_readiness_metrics_and_request_ids(app: TestApp) {
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(health
        .headers
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("req_"));
    assert_eq!(
        app.call(Method::GET, "/readyz", None, None).await.body["status"],
        "ready"
    );
    app.call(Method::GET, "/api/v1/me", None, None).await;
    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    assert!(
        metrics.text.contains("switchboard_http_requests_total"),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("route=\"/api/v1/me\""));
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "req_from_the_caller")
        .send()
        .await
        .unwrap();
    assert_eq!(
        echoed.headers().get("x-request-id").unwrap(),
        "req_from_the_caller"
    );
}

async fn openapi_documents_every_route_with_problems(app: TestApp) {
    let doc = app
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let paths = doc["paths"].as_object().unwrap();
    for expected in [
        "/api/v1/me",
        "/api/v1/members/{user_id}",
        "/api/v1/platform/impersonate/{tenant}",
        "/api/v1/audit",
        "/metrics",
    ] {
        assert!(paths.contains_key(expected), "{expected} missing");
    }
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = TestApp::spawn_with(Backend::Sqlite, "rate limits", |c| {
        c.rate_limits.tenant_per_second.growth = 2;
        c.rate_limits.login_per_account_per_minute = 3;
    })
    .await
    .unwrap();
    let t = app.seed_tenant("acme").await;
    let key = app.api_key(&t, &["calls:view_all"]).await;
    let mut limited = None;
    for _ in 0..10 {
        let reply = app.get("/api/v1/me", &key).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("the tenant limit (burst 4) was hit within 10 requests");
    limited.problem(StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry));

    for _ in 0..3 {
        app.login(t.email(Role::Viewer), "wrong password", None)
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    let blocked = app
        .login(t.email(Role::Viewer), crate::helpers::PASSWORD, None)
        .await;
    blocked.problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.headers.get("retry-after").is_some());
}

/// Behind a load balancer every connection comes from it: the clients it
/// names in `X-Forwarded-For` get budgets of their own when it is trusted,
/// and the header is ignored when it is not (anyone can send it).
#[tokio::test]
async fn clients_behind_a_trusted_proxy_are_limited_one_by_one() {
    async fn statuses(app: &TestApp, forwarded: fn(usize) -> String) -> Vec<StatusCode> {
        let mut statuses = Vec::new();
        for i in 0..30 {
            let reply = app
                .client
                .get(app.url("/healthz"))
                .header("x-forwarded-for", forwarded(i))
                .send()
                .await
                .unwrap();
            statuses.push(reply.status());
        }
        statuses
    }
    let spawn = |trusted: &'static [&'static str]| {
        TestApp::spawn_with(Backend::Sqlite, "trusted proxies", move |c| {
            c.rate_limits.per_ip_per_second = 5;
            c.http.trusted_proxies = trusted.iter().map(|n| n.parse().unwrap()).collect();
        })
    };
    let limited = |s: &[StatusCode]| s.contains(&StatusCode::TOO_MANY_REQUESTS);

    let behind = spawn(&["127.0.0.1/32"]).await.unwrap();
    let one_client = statuses(&behind, |_| "198.51.100.1".into()).await;
    assert!(limited(&one_client), "{one_client:?}");
    let many = statuses(&behind, |i| format!("198.51.100.{}, 127.0.0.1", i + 10)).await;
    assert!(!limited(&many), "each client has a budget: {many:?}");

    let untrusted = spawn(&["10.0.0.0/8"]).await.unwrap();
    let forged = statuses(&untrusted, |i| format!("198.51.100.{}", i + 10)).await;
    assert!(limited(&forged), "a forged header buys nothing: {forged:?}");
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[tokio::test]
async fn rate_limits_are_shared_through_redis() {
    let reachable = match redis::Client::open(redis_url()) {
        Ok(c) => c.get_multiplexed_async_connection().await.is_ok(),
        Err(_) => false,
    };
    if !reachable {
        assert!(
            std::env::var_os("CI").is_none(),
            "Redis is unreachable at {} and CI must test it",
            redis_url()
        );
        println!(
            "SKIPPED (Redis unreachable at {}): operations::rate_limits_are_shared_through_redis",
            redis_url()
        );
        return;
    }
    let tweak = |c: &mut switchboard::config::Config| {
        c.redis_url = Some(Secret::new(redis_url()));
        c.rate_limits.login_per_account_per_minute = 4;
    };
    // Two nodes sharing one Redis and one database see one budget.
    let node1 = TestApp::spawn_with(Backend::Sqlite, "redis node 1", tweak)
        .await
        .unwrap();
    let unique = format!(
        "nobody-{}@acme.example",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    for _ in 0..2 {
        node1
            .login(&unique, "wrong password", None)
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    let node2 = TestApp::spawn_with(Backend::Sqlite, "redis node 2", tweak)
        .await
        .unwrap();
    for _ in 0..2 {
        node2
            .login(&unique, "wrong password", None)
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    let blocked = node2.login(&unique, "wrong password", None).await;
    blocked.problem(StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = blocked
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15).contains(&retry), "{retry}");
}
