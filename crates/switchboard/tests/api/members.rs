//! Members, API keys and branding: the tenant administration API.

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard_core::Role;

use crate::helpers::TestApp;

crate::on_both_backends!(
    members_are_listed_added_changed_and_removed,
    the_last_owner_stays_and_only_owners_grant_ownership,
    roles_without_users_manage_are_refused,
    api_keys_are_shown_once_scoped_and_revocable,
    api_key_scopes_cannot_exceed_the_creator,
    branding_is_validated_field_by_field,
    members_list_pages_with_cursors,
);

async fn members_are_listed_added_changed_and_removed(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let list = app.get("/api/v1/members", &owner).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 5);

    let added = app.post("/api/v1/members", &owner, json!({"email": "New.Agent@Acme.example", "role": "member", "password": "a fresh long password"})).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(added.body["email"], "new.agent@acme.example");
    let id = added.body["user_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.login("new.agent@acme.example", "a fresh long password", None)
            .await
            .status,
        StatusCode::OK
    );

    let again = app
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "new.agent@acme.example", "role": "viewer"}),
        )
        .await;
    again.problem(StatusCode::CONFLICT);

    let changed = app
        .call(
            Method::PATCH,
            &format!("/api/v1/members/{id}"),
            Some(&owner),
            Some(json!({"role": "manager"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["role"], "manager");
    assert_eq!(
        app.get(&format!("/api/v1/members/{id}"), &owner).await.body["role"],
        "manager"
    );

    let removed = app.delete(&format!("/api/v1/members/{id}"), &owner).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    app.get(&format!("/api/v1/members/{id}"), &owner)
        .await
        .problem(StatusCode::NOT_FOUND);

    let audit = app.get("/api/v1/audit?limit=3", &owner).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["member.removed", "member.role_changed", "member.added"]
    );
    assert_eq!(
        audit.body["items"][0]["actor"]["label"],
        t.email(Role::Owner)
    );

    // A new account needs a password; an unknown role is named.
    let no_pw = app
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "x@acme.example", "role": "member"}),
        )
        .await;
    assert_eq!(no_pw.fields(), vec!["password"]);
    let both = app
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "nope", "role": "emperor", "password": "short"}),
        )
        .await;
    both.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(both.fields(), vec!["email", "role", "password"]);
}

async fn the_last_owner_stays_and_only_owners_grant_ownership(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let admin = app.token(t.email(Role::Admin)).await;
    let owner_id = t.user(Role::Owner);
    let demote = app
        .call(
            Method::PATCH,
            &format!("/api/v1/members/{owner_id}"),
            Some(&owner),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(
        demote.problem(StatusCode::CONFLICT)["type"],
        "/problems/last-owner"
    );
    let remove = app
        .delete(&format!("/api/v1/members/{owner_id}"), &owner)
        .await;
    remove.problem(StatusCode::CONFLICT);

    let manager_id = t.user(Role::Manager);
    let by_admin = app
        .call(
            Method::PATCH,
            &format!("/api/v1/members/{manager_id}"),
            Some(&admin),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(
        by_admin.problem(StatusCode::FORBIDDEN)["type"],
        "/problems/owner-required"
    );
    let admin_removes_owner = app
        .delete(&format!("/api/v1/members/{owner_id}"), &admin)
        .await;
    admin_removes_owner.problem(StatusCode::FORBIDDEN);

    let promoted = app
        .call(
            Method::PATCH,
            &format!("/api/v1/members/{manager_id}"),
            Some(&owner),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK);
    // With two owners, one may step down.
    let step_down = app
        .call(
            Method::PATCH,
            &format!("/api/v1/members/{owner_id}"),
            Some(&owner),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(step_down.status, StatusCode::OK, "{}", step_down.text);
}

async fn roles_without_users_manage_are_refused(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    for role in [Role::Manager, Role::Member, Role::Viewer] {
        let token = app.token(t.email(role)).await;
        let reply = app.get("/api/v1/members", &token).await;
        assert_eq!(
            reply.problem(StatusCode::FORBIDDEN)["permission"],
            "users:manage",
            "{role}"
        );
        let add = app.post("/api/v1/members", &token, json!({"email": "x@acme.example", "role": "owner", "password": "long enough password"})).await;
        add.problem(StatusCode::FORBIDDEN);
    }
    let members = app
        .get("/api/v1/members", &app.token(t.email(Role::Owner)).await)
        .await;
    assert_eq!(
        members.body["items"].as_array().unwrap().len(),
        5,
        "nothing was written"
    );
}

async fn api_keys_are_shown_once_scoped_and_revocable(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let created = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "Runtime", "scopes": ["calls:view_all", "users:manage"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let id = created.body["api_key"]["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(created.body["api_key"]["prefix"].as_str().unwrap()));

    let listed = app.get("/api/v1/api-keys", &owner).await;
    assert!(!listed.text.contains(&key), "the secret never comes back");
    assert!(!app
        .get(&format!("/api/v1/api-keys/{id}"), &owner)
        .await
        .text
        .contains(&key[13..]));
    assert_eq!(listed.body["items"][0]["status"], "active");

    let me = app.get("/api/v1/me", &key).await;
    assert_eq!(me.body["kind"], "api_key");
    assert_eq!(
        me.body["permissions"],
        json!(["calls:view_all", "users:manage"])
    );
    assert_eq!(
        app.get("/api/v1/members", &key).await.status,
        StatusCode::OK,
        "scope grants the route"
    );
    app.get("/api/v1/audit", &key)
        .await
        .problem(StatusCode::FORBIDDEN);

    let revoked = app.delete(&format!("/api/v1/api-keys/{id}"), &owner).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    app.get("/api/v1/me", &key)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get(&format!("/api/v1/api-keys/{id}"), &owner)
            .await
            .body["status"],
        "revoked"
    );

    let past = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "old", "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(past.fields(), vec!["expires_at"]);
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let expiring = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "brief", "expires_at": soon}),
        )
        .await;
    assert_eq!(expiring.status, StatusCode::CREATED);
    let brief = expiring.body["key"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", &brief).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    app.get("/api/v1/me", &brief)
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

async fn api_key_scopes_cannot_exceed_the_creator(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let key = app.api_key(&t, &["settings:manage"]).await;
    let escalate = app
        .post(
            "/api/v1/api-keys",
            &key,
            json!({"name": "more", "scopes": ["users:manage"]}),
        )
        .await;
    assert_eq!(
        escalate.problem(StatusCode::FORBIDDEN)["type"],
        "/problems/scope-exceeds-grant"
    );
    let bad = app
        .post(
            "/api/v1/api-keys",
            &key,
            json!({"name": "", "scopes": ["settings:manage", "root:everything"]}),
        )
        .await;
    assert_eq!(bad.fields(), vec!["name", "scopes[1]"]);
    let same = app
        .post(
            "/api/v1/api-keys",
            &key,
            json!({"name": "same", "scopes": ["settings:manage"]}),
        )
        .await;
    assert_eq!(same.status, StatusCode::CREATED);
}

async fn branding_is_validated_field_by_field(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let good = json!({"display_name": "Acme Care", "logo_url": "https://cdn.acme.example/logo.svg", "primary_color": "#112233", "accent_color": "#AABBCC"});
    let put = app
        .call(
            Method::PUT,
            "/api/v1/settings/branding",
            Some(&owner),
            Some(good),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(put.body["accent_color"], "#aabbcc");
    let viewer = app.token(t.email(Role::Viewer)).await;
    assert_eq!(
        app.get("/api/v1/settings/branding", &viewer).await.body["display_name"],
        "Acme Care"
    );

    let bad = json!({"display_name": "", "logo_url": "javascript:alert(1)", "primary_color": "red", "accent_color": "#12345"});
    let reply = app
        .call(
            Method::PUT,
            "/api/v1/settings/branding",
            Some(&owner),
            Some(bad),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.fields(),
        vec!["display_name", "logo_url", "primary_color", "accent_color"]
    );
    assert_eq!(
        app.get("/api/v1/settings/branding", &viewer).await.body["primary_color"],
        "#112233",
        "nothing was written"
    );
    app.call(
        Method::PUT,
        "/api/v1/settings/branding",
        Some(&viewer),
        Some(json!({})),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
}

async fn members_list_pages_with_cursors(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/members?limit=2".to_owned();
    loop {
        let page = app.get(&path, &owner).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|m| m["user_id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/members?limit=2&cursor={c}"),
            None => break,
        }
    }
    let mut expected: Vec<String> = t.users.iter().map(|u| u.1.to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected, "every member exactly once, in order");
}
