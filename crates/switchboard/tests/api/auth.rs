//! Sign-in, refresh rotation and reuse detection, sign-out, and every way a
//! bearer token can be wrong.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard::auth::token::{self, AccessClaims, TokenKind};
use switchboard_core::Role;

use crate::helpers::{TestApp, PASSWORD};

crate::on_both_backends!(
    login_issues_an_access_token_and_a_strict_refresh_cookie,
    unknown_user_and_wrong_password_get_the_same_answer,
    refresh_rotates_and_a_replayed_token_revokes_the_family,
    logout_ends_access_and_refresh,
    bad_tokens_are_refused_with_401,
    a_user_of_several_tenants_must_name_one,
    suspension_locks_the_tenant_out,
    verified_credentials_are_remembered_until_a_change_on_this_node,
);

fn refresh_cookie(reply: &crate::helpers::Reply) -> String {
    let header = reply
        .headers
        .get("set-cookie")
        .expect("cookie set")
        .to_str()
        .unwrap()
        .to_owned();
    header.split(';').next().unwrap().trim().to_owned()
}

async fn refresh(app: &TestApp, cookie: &str) -> crate::helpers::Reply {
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    crate::helpers::Reply::from(res).await
}

async fn login_issues_an_access_token_and_a_strict_refresh_cookie(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let reply = app.login(t.email(Role::Owner), PASSWORD, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 900);
    let cookie = reply.headers.get("set-cookie").unwrap().to_str().unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/auth/refresh"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain-HTTP deployments cannot use Secure cookies"
    );
    let me = app
        .get("/api/v1/me", reply.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["kind"], "user");
    assert_eq!(me.body["label"], t.email(Role::Owner));
    assert_eq!(me.body["role"], "owner");
    assert_eq!(me.body["tenant"]["id"], t.id.to_string());
    assert!(me.body["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "users:manage"));
}

async fn unknown_user_and_wrong_password_get_the_same_answer(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let wrong = app
        .login(t.email(Role::Owner), "not the password at all", None)
        .await;
    let unknown = app.login("nobody@acme.example", PASSWORD, None).await;
    wrong.problem(StatusCode::UNAUTHORIZED);
    unknown.problem(StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body);
    assert!(wrong.headers.get("set-cookie").is_none());
}

async fn refresh_rotates_and_a_replayed_token_revokes_the_family(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let login = app.login(t.email(Role::Manager), PASSWORD, None).await;
    let first = refresh_cookie(&login);
    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let second = refresh_cookie(&rotated);
    assert_ne!(first, second, "the refresh token rotates");
    let access = rotated.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", &access).await.status, StatusCode::OK);

    // The first token again: stolen. The whole family dies, including the
    // legitimate successor and the access tokens of this sign-in.
    refresh(&app, &first)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    refresh(&app, &second)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    app.get("/api/v1/me", &access)
        .await
        .problem(StatusCode::UNAUTHORIZED);

    // Other sign-ins of the same person are untouched.
    let other = app.token(t.email(Role::Manager)).await;
    assert_eq!(app.get("/api/v1/me", &other).await.status, StatusCode::OK);

    let missing = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    refresh(&app, "sb_refresh=sbr_forged")
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

async fn logout_ends_access_and_refresh(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let login = app.login(t.email(Role::Viewer), PASSWORD, None).await;
    let cookie = refresh_cookie(&login);
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let out = app
        .call(Method::POST, "/api/v1/auth/logout", Some(&access), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
    assert!(out
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    app.get("/api/v1/me", &access)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    refresh(&app, &cookie)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let key = app.api_key(&t, &["calls:view_all"]).await;
    app.call(Method::POST, "/api/v1/auth/logout", Some(&key), None)
        .await
        .problem(StatusCode::BAD_REQUEST);
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn bad_tokens_are_refused_with_401(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let good = app.token(t.email(Role::Owner)).await;
    let key = app.state.auth.keys().token_signing.to_vec();
    let claims = |exp: i64, aud: &str| AccessClaims {
        iss: token::ISSUER.into(),
        aud: aud.into(),
        sub: t.user(Role::Owner),
        kind: TokenKind::Session,
        tid: Some(t.id),
        sid: None,
        iat: now(),
        exp,
    };
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let parts: Vec<&str> = good.split('.').collect();
    let mut tampered_payload: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    tampered_payload["sub"] = json!(t.user(Role::Viewer).to_string());
    let rsa = EncodingKey::from_rsa_pem(include_bytes!("../fixtures/idp-rsa.pem")).unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not-a-token".into()),
        (
            "tampered payload",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&tampered_payload.to_string()),
                parts[2]
            ),
        ),
        (
            "tampered signature",
            format!("{}.{}.{}", parts[0], parts[1], b64("forged")),
        ),
        (
            "alg none",
            format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), parts[1]),
        ),
        (
            "expired",
            token::issue(&key, &claims(now() - 120, token::AUDIENCE)),
        ),
        (
            "wrong audience",
            token::issue(&key, &claims(now() + 600, "someone-else")),
        ),
        (
            "wrong key",
            token::issue(
                b"another key entirely",
                &claims(now() + 600, token::AUDIENCE),
            ),
        ),
        (
            "RS256 with our issuer (algorithm confusion)",
            jsonwebtoken::encode(
                &Header::new(Algorithm::RS256),
                &claims(now() + 600, token::AUDIENCE),
                &rsa,
            )
            .unwrap(),
        ),
        (
            "unknown api key",
            format!("sbk_abcdefgh_{}", "x".repeat(40)),
        ),
    ];
    for (what, token) in cases {
        let reply = app.get("/api/v1/me", &token).await;
        reply.problem(StatusCode::UNAUTHORIZED);
        assert_eq!(
            reply.headers.get("www-authenticate").unwrap(),
            "Bearer",
            "{what}"
        );
    }
    let none = app.call(Method::GET, "/api/v1/me", None, None).await;
    none.problem(StatusCode::UNAUTHORIZED);
    let basic = app
        .client
        .get(app.url("/api/v1/me"))
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

async fn a_user_of_several_tenants_must_name_one(app: TestApp) {
    let a = app.seed_tenant("alpha").await;
    let b = app.seed_tenant("bravo").await;
    let email = a.email(Role::Member).to_owned();
    switchboard::tenancy::add_member(
        app.db(),
        &switchboard::auth::Operator::command_line(),
        b.id,
        &switchboard_core::Email::parse(&email).unwrap(),
        Role::Viewer,
        None,
    )
    .await
    .unwrap();
    let ambiguous = app.login(&email, PASSWORD, None).await;
    ambiguous.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ambiguous.fields(), vec!["tenant"]);
    assert_eq!(ambiguous.body["tenants"], json!(["alpha", "bravo"]));
    let into_b = app.login(&email, PASSWORD, Some("bravo")).await;
    assert_eq!(into_b.status, StatusCode::OK);
    let me = app
        .get("/api/v1/me", into_b.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.body["tenant"]["slug"], "bravo");
    assert_eq!(me.body["role"], "viewer");
    // A tenant the person does not belong to looks like a wrong password.
    let c = app.seed_tenant("charlie").await;
    app.login(&email, PASSWORD, Some(&c.slug))
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

async fn suspension_locks_the_tenant_out(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let token = app.token(t.email(Role::Owner)).await;
    let key = app.api_key(&t, &["calls:view_all"]).await;
    switchboard::tenancy::set_status(
        app.db(),
        &switchboard::auth::Operator::command_line(),
        t.id,
        switchboard_core::TenantStatus::Suspended,
        None,
    )
    .await
    .unwrap();
    for credential in [&token, &key] {
        for path in ["/api/v1/me", "/api/v1/members", "/api/v1/settings/branding"] {
            let reply = app.get(path, credential).await;
            assert_eq!(
                reply.problem(StatusCode::FORBIDDEN)["type"],
                "/problems/tenant-suspended",
                "{path}"
            );
        }
    }
    assert_eq!(
        app.login(t.email(Role::Owner), PASSWORD, None)
            .await
            .problem(StatusCode::FORBIDDEN)["type"],
        "/problems/tenant-suspended"
    );
    switchboard::tenancy::set_status(
        app.db(),
        &switchboard::auth::Operator::command_line(),
        t.id,
        switchboard_core::TenantStatus::Active,
        None,
    )
    .await
    .unwrap();
    assert_eq!(app.get("/api/v1/me", &token).await.status, StatusCode::OK);
}

/// The credential cache answers repeated requests from memory; a change made
/// behind the server's back (as the CLI does) shows once the cache is
/// forgotten, which any state-changing request on the node does at once.
/// Expiry after the TTL is covered by the cache's unit tests.
async fn verified_credentials_are_remembered_until_a_change_on_this_node(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let key = app.api_key(&t, &["calls:view_all"]).await;
    assert_eq!(app.get("/api/v1/me", &key).await.status, StatusCode::OK);
    switchboard::tenancy::set_status(
        app.db(),
        &switchboard::auth::Operator::command_line(),
        t.id,
        switchboard_core::TenantStatus::Suspended,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        app.get("/api/v1/me", &key).await.status,
        StatusCode::OK,
        "answered from the cache: the suspension happened outside this node"
    );
    app.login("nobody@acme.example", "wrong password", None)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/api/v1/me", &key)
            .await
            .problem(StatusCode::FORBIDDEN)["type"],
        "/problems/tenant-suspended"
    );
}
