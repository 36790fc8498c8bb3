//! The platform API: tenants and impersonation.

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard_core::Role;

use crate::helpers::TestApp;

crate::on_both_backends!(
    platform_admins_create_list_suspend_and_reactivate_tenants,
    impersonation_acts_as_admin_and_is_audited_with_the_operator,
    tenant_credentials_cannot_use_the_platform_api,
);

async fn platform_admins_create_list_suspend_and_reactivate_tenants(app: TestApp) {
    let admin = app.platform_admin("ops@platform.example").await;
    let me = app.get("/api/v1/me", &admin).await;
    assert_eq!(me.body["kind"], "platform_admin");
    assert!(me.body["tenant"].is_null());

    let created = app.post("/api/v1/platform/tenants", &admin, json!({"slug": "northwind", "name": "Northwind Care", "plan": "starter", "industry": "insurance"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["status"], "active");
    let id = created.body["id"].as_str().unwrap().to_owned();
    app.post(
        "/api/v1/platform/tenants",
        &admin,
        json!({"slug": "northwind", "name": "Again"}),
    )
    .await
    .problem(StatusCode::CONFLICT);
    let bad = app
        .post(
            "/api/v1/platform/tenants",
            &admin,
            json!({"slug": "No Spaces", "name": "", "plan": "diamond", "industry": "mining"}),
        )
        .await;
    assert_eq!(bad.fields(), vec!["slug", "name", "plan", "industry"]);

    let list = app.get("/api/v1/platform/tenants", &admin).await;
    assert!(list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == id.as_str()));
    let suspended = app
        .post(
            &format!("/api/v1/platform/tenants/{id}/suspend"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(suspended.body["status"], "suspended");
    assert_eq!(
        app.get(&format!("/api/v1/platform/tenants/{id}"), &admin)
            .await
            .body["status"],
        "suspended"
    );
    let reactivated = app
        .post(
            &format!("/api/v1/platform/tenants/{id}/reactivate"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(reactivated.body["status"], "active");
    app.get(
        "/api/v1/platform/tenants/ten_01jc5s9x3m4q2a7vbn8k6w0yzd",
        &admin,
    )
    .await
    .problem(StatusCode::NOT_FOUND);
}

async fn impersonation_acts_as_admin_and_is_audited_with_the_operator(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let admin = app.platform_admin("ops@platform.example").await;
    let imp = app
        .post(
            &format!("/api/v1/platform/impersonate/{}", t.id),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(imp.status, StatusCode::OK, "{}", imp.text);
    let token = imp.body["access_token"].as_str().unwrap().to_owned();
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.body["kind"], "operator");
    assert_eq!(me.body["tenant"]["id"], t.id.to_string());
    assert_eq!(
        me.body["impersonation"]["operator_email"],
        "ops@platform.example"
    );
    assert_eq!(me.body["role"], "admin");

    let put = app
        .call(
            Method::PUT,
            "/api/v1/settings/branding",
            Some(&token),
            Some(json!({"primary_color": "#000000"})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let owner = app.token(t.email(Role::Owner)).await;
    let audit = app.get("/api/v1/audit?limit=2", &owner).await;
    let entry = &audit.body["items"][0];
    assert_eq!(entry["action"], "branding.updated");
    assert_eq!(entry["impersonator"]["label"], "ops@platform.example");
    assert_eq!(audit.body["items"][1]["action"], "impersonation.started");

    // The impersonation token is no platform credential.
    app.get("/api/v1/platform/tenants", &token)
        .await
        .problem(StatusCode::FORBIDDEN);
    app.post(
        "/api/v1/platform/impersonate/ten_01jc5s9x3m4q2a7vbn8k6w0yzd",
        &admin,
        json!({}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
}

async fn tenant_credentials_cannot_use_the_platform_api(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let key = app.api_key(&t, &["users:manage", "settings:manage"]).await;
    for cred in [&owner, &key] {
        app.get("/api/v1/platform/tenants", cred)
            .await
            .problem(StatusCode::FORBIDDEN);
        app.post(
            "/api/v1/platform/tenants",
            cred,
            json!({"slug": "evil", "name": "Evil"}),
        )
        .await
        .problem(StatusCode::FORBIDDEN);
        app.post(
            &format!("/api/v1/platform/impersonate/{}", t.id),
            cred,
            json!({}),
        )
        .await
        .problem(StatusCode::FORBIDDEN);
    }
}
