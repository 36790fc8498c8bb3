//! Bad input gets its exact 4xx problem, and nothing is written.

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard_core::Role;

use crate::helpers::TestApp;

crate::on_both_backends!(
    malformed_bodies_get_precise_problems,
    bad_ids_cursors_and_limits,
    unknown_routes_and_methods_are_problems
);

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> crate::helpers::Reply {
    let res = app
        .client
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    crate::helpers::Reply::from(res).await
}

async fn malformed_bodies_get_precise_problems(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let path = "/api/v1/members";
    let malformed = raw(
        &app,
        Method::POST,
        path,
        &owner,
        "application/json",
        b"{\"email\": \"a@b.example\", ".to_vec(),
    )
    .await;
    assert_eq!(
        malformed.problem(StatusCode::BAD_REQUEST)["type"],
        "/problems/malformed-json"
    );
    let wrong_type = raw(
        &app,
        Method::POST,
        path,
        &owner,
        "application/json",
        br#"{"email": 42, "role": "member"}"#.to_vec(),
    )
    .await;
    wrong_type.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_type.fields(), vec!["email"]);
    let missing = raw(
        &app,
        Method::POST,
        path,
        &owner,
        "application/json",
        br#"{"email": "x@acme.example"}"#.to_vec(),
    )
    .await;
    assert!(missing.problem(StatusCode::UNPROCESSABLE_ENTITY)["detail"]
        .as_str()
        .unwrap()
        .contains("role"));
    let unknown = raw(
        &app,
        Method::POST,
        path,
        &owner,
        "application/json",
        br#"{"email": "x@acme.example", "role": "member", "admin": true}"#.to_vec(),
    )
    .await;
    assert!(unknown.problem(StatusCode::UNPROCESSABLE_ENTITY)["detail"]
        .as_str()
        .unwrap()
        .contains("admin"));
    let not_json = raw(
        &app,
        Method::POST,
        path,
        &owner,
        "text/plain",
        b"email=x".to_vec(),
    )
    .await;
    not_json.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = raw(
        &app,
        Method::POST,
        path,
        &owner,
        "application/json",
        format!("{{\"email\": \"{}\"}}", "a".repeat(2 * 1024 * 1024)).into_bytes(),
    )
    .await;
    huge.problem(StatusCode::PAYLOAD_TOO_LARGE);
    let array = raw(
        &app,
        Method::POST,
        path,
        &owner,
        "application/json",
        b"[1,2,3]".to_vec(),
    )
    .await;
    array.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let members = app.get("/api/v1/members", &owner).await;
    assert_eq!(
        members.body["items"].as_array().unwrap().len(),
        5,
        "nothing was written"
    );
    let audit = app.get("/api/v1/audit?action=member.added", &owner).await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        5,
        "nothing was audited"
    );
}

async fn bad_ids_cursors_and_limits(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    for id in [
        "nope",
        "usr_../../etc",
        "ten_01jc5s9x3m4q2a7vbn8k6w0yzd",
        "usr_01jc5s9x3m4q2a7vbn8k6w0yzd",
        "%00",
    ] {
        app.get(&format!("/api/v1/members/{id}"), &owner)
            .await
            .problem(StatusCode::NOT_FOUND);
        app.delete(&format!("/api/v1/api-keys/{id}"), &owner)
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    // Call ids end up in object keys: nothing that is not a call id gets
    // that far, on any call route.
    for id in [
        "call_..%2F..%2Fetc%2Fpasswd",
        "..%2F..",
        "call_01jc5s9x3m4q2a7vbn8k6w0yzd%2F..",
        "%2e%2e",
        "%FF",
    ] {
        for (method, path) in [
            (Method::GET, format!("/api/v1/calls/{id}")),
            (Method::GET, format!("/api/v1/calls/{id}/recording")),
            (Method::DELETE, format!("/api/v1/calls/{id}")),
        ] {
            app.call(method, &path, Some(&owner), None)
                .await
                .problem(StatusCode::NOT_FOUND);
        }
        let upload = app
            .client
            .post(app.url(&format!("/api/v1/calls/{id}/audio")))
            .bearer_auth(&owner)
            .header("content-type", "audio/wav")
            .body("RIFF")
            .send()
            .await
            .unwrap();
        crate::helpers::Reply::from(upload)
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    for cursor in ["x", "a.b", "eyJ9.eyJ9", "%F0%9F%92%A5", &"A".repeat(5000)] {
        let reply = app
            .get(&format!("/api/v1/members?cursor={cursor}"), &owner)
            .await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.fields(), vec!["cursor"]);
    }
    for limit in ["0", "201", "-5", "ten", "99999999999999999999"] {
        assert_eq!(
            app.get(&format!("/api/v1/api-keys?limit={limit}"), &owner)
                .await
                .fields(),
            vec!["limit"]
        );
    }
    // A genuine cursor of another list is a page that does not exist.
    let page = app.get("/api/v1/members?limit=1", &owner).await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    app.get(&format!("/api/v1/api-keys?cursor={cursor}"), &owner)
        .await
        .problem(StatusCode::NOT_FOUND);
}

async fn unknown_routes_and_methods_are_problems(app: TestApp) {
    app.call(Method::GET, "/api/v1/nothing-here", None, None)
        .await
        .problem(StatusCode::NOT_FOUND);
    app.call(Method::PUT, "/api/v1/me", None, Some(json!({})))
        .await
        .problem(StatusCode::METHOD_NOT_ALLOWED);
}
