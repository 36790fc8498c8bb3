//! External identity providers: JWTs verified against a JWKS served by a
//! local fake provider that counts how often its keys are fetched.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

use switchboard::config::{ClaimMapping, IdentityProviderConfig, JwtAlgorithm};

use crate::helpers::{Backend, TestApp};

const RSA_ISSUER: &str = "https://clerk.idp.example";
const EC_ISSUER: &str = "https://cognito.idp.example";

async fn fake_jwks() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let jwks: Value = serde_json::from_str(include_str!("../fixtures/idp-jwks.json")).unwrap();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = jwks.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

fn provider(
    name: &str,
    issuer: &str,
    jwks: &str,
    algorithm: JwtAlgorithm,
) -> IdentityProviderConfig {
    IdentityProviderConfig {
        name: name.into(),
        issuer: issuer.into(),
        audience: "switchboard".into(),
        jwks_url: jwks.parse().unwrap(),
        algorithm,
        claims: ClaimMapping::default(),
        leeway_secs: 0,
        min_refetch_interval_secs: 1,
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(iss: &str, org: &str) -> Value {
    json!({"iss": iss, "aud": "switchboard", "exp": now() + 300, "nbf": now() - 5, "sub": "user_ext_1",
           "org_id": org, "org_name": "Acme", "user_id": "user_ext_1", "email": "ext.person@acme.example", "org_role": "org:admin"})
}

fn rs256(kid: &str, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(
        &h,
        claims,
        &EncodingKey::from_rsa_pem(include_bytes!("../fixtures/idp-rsa.pem")).unwrap(),
    )
    .unwrap()
}

fn es256(claims: &Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("ec-test-1".into());
    jsonwebtoken::encode(
        &h,
        claims,
        &EncodingKey::from_ec_pem(include_bytes!("../fixtures/idp-ec.pem")).unwrap(),
    )
    .unwrap()
}

async fn spawn(backend: Backend, name: &str) -> Option<(TestApp, Arc<AtomicUsize>)> {
    let (jwks, hits) = fake_jwks().await;
    let app = TestApp::spawn_with(backend, name, |c| {
        c.auth.identity_providers = vec![
            provider("clerk", RSA_ISSUER, &jwks, JwtAlgorithm::RS256),
            provider("cognito", EC_ISSUER, &jwks, JwtAlgorithm::ES256),
        ];
    })
    .await?;
    Some((app, hits))
}

#[tokio::test]
async fn sqlite_external_tokens() {
    if let Some((app, hits)) = spawn(Backend::Sqlite, "external_idp::sqlite_external_tokens").await
    {
        external_tokens_are_verified_and_mapped(app, hits).await;
    }
}

#[tokio::test]
async fn postgres_external_tokens() {
    if let Some((app, hits)) =
        spawn(Backend::Postgres, "external_idp::postgres_external_tokens").await
    {
        external_tokens_are_verified_and_mapped(app, hits).await;
    }
}

async fn external_tokens_are_verified_and_mapped(app: TestApp, hits: Arc<AtomicUsize>) {
    let t = app.seed_tenant("acme").await; // external org id: org_acme
    let good = rs256("rsa-test-1", &claims(RSA_ISSUER, "org_acme"));
    let me = app.get("/api/v1/me", &good).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["kind"], "external_user");
    assert_eq!(me.body["tenant"]["id"], t.id.to_string());
    assert_eq!(me.body["role"], "admin");
    assert_eq!(me.body["label"], "ext.person@acme.example");
    assert_eq!(
        app.get("/api/v1/members", &good).await.status,
        StatusCode::OK,
        "admin role grants users:manage"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "keys are cached");

    let ec = es256(&claims(EC_ISSUER, "org_acme"));
    assert_eq!(app.get("/api/v1/me", &ec).await.status, StatusCode::OK);

    let mut wrong_aud = claims(RSA_ISSUER, "org_acme");
    wrong_aud["aud"] = json!("another-app");
    let mut expired = claims(RSA_ISSUER, "org_acme");
    expired["exp"] = json!(now() - 60);
    let mut not_yet = claims(RSA_ISSUER, "org_acme");
    not_yet["nbf"] = json!(now() + 600);
    // HS256 keyed with the provider's public key: the classic confusion.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-test-1".into());
    let confused = jsonwebtoken::encode(
        &hs,
        &claims(RSA_ISSUER, "org_acme"),
        &EncodingKey::from_secret(include_bytes!("../fixtures/idp-rsa.pub.pem")),
    )
    .unwrap();
    // An ES256 token presented to the RS256 provider.
    let mut swapped = Header::new(Algorithm::ES256);
    swapped.kid = Some("ec-test-1".into());
    let wrong_alg = jsonwebtoken::encode(
        &swapped,
        &claims(RSA_ISSUER, "org_acme"),
        &EncodingKey::from_ec_pem(include_bytes!("../fixtures/idp-ec.pem")).unwrap(),
    )
    .unwrap();
    for (what, token) in [
        ("wrong audience", rs256("rsa-test-1", &wrong_aud)),
        ("expired", rs256("rsa-test-1", &expired)),
        ("not yet valid", rs256("rsa-test-1", &not_yet)),
        ("HS256 with the public key", confused),
        ("algorithm not pinned for the issuer", wrong_alg),
    ] {
        let reply = app.get("/api/v1/me", &token).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            reply.text
        );
    }

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let before = hits.load(Ordering::SeqCst);
    let unknown_kid = rs256("rotated-away", &claims(RSA_ISSUER, "org_acme"));
    app.get("/api/v1/me", &unknown_kid)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before + 1,
        "an unknown kid refetches the keys once"
    );
    app.get("/api/v1/me", &unknown_kid)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before + 1,
        "and not again right away"
    );

    let stranger = rs256("rsa-test-1", &claims(RSA_ISSUER, "org_nobody"));
    assert_eq!(
        app.get("/api/v1/me", &stranger)
            .await
            .problem(StatusCode::FORBIDDEN)["type"],
        "/problems/unknown-organisation"
    );
}
