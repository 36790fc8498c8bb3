//! The audit log: filters and paging over HTTP, and tamper detection by
//! `audit verify` (library and command line) for an edited, an inserted and
//! a deleted entry.

use reqwest::StatusCode;
use serde_json::json;
use switchboard::auth::Operator;
use switchboard::db::{audit, Mode};
use switchboard_core::Role;

use crate::helpers::TestApp;

crate::on_both_backends!(
    audit_log_filters_and_pages,
    verify_detects_edited_inserted_and_deleted_entries,
    cli_audit_verify_exit_code_names_the_broken_entry
);

async fn audit_log_filters_and_pages(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    for i in 0..3 {
        app.post("/api/v1/api-keys", &owner, json!({"name": format!("k{i}")}))
            .await;
    }
    let by_action = app
        .get("/api/v1/audit?action=api_key.created", &owner)
        .await;
    assert_eq!(by_action.body["items"].as_array().unwrap().len(), 3);
    let by_actor = app
        .get(
            &format!("/api/v1/audit?actor={}", t.user(Role::Owner)),
            &owner,
        )
        .await;
    assert_eq!(
        by_actor.body["items"].as_array().unwrap().len(),
        3,
        "the CLI seeded the rest"
    );
    let future = app
        .get("/api/v1/audit?since=2999-01-01T00:00:00Z", &owner)
        .await;
    assert!(future.body["items"].as_array().unwrap().is_empty());
    let bad = app
        .get("/api/v1/audit?since=yesterday&limit=0", &owner)
        .await;
    bad.problem(StatusCode::UNPROCESSABLE_ENTITY);

    let mut entries = Vec::new();
    let mut path = "/api/v1/audit?limit=4".to_owned();
    loop {
        let page = app.get(&path, &owner).await;
        entries.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/audit?limit=4&cursor={c}"),
            None => break,
        }
    }
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let total = 1 + 5 + 3; // tenant created, five members, three keys
    assert_eq!(seqs, (1..=total).rev().collect::<Vec<_>>());
    for w in entries.windows(2) {
        assert_eq!(
            w[0]["prev_hash"], w[1]["hash"],
            "each entry links to the one before"
        );
    }
}

async fn verify(
    app: &TestApp,
    tenant: switchboard_core::TenantId,
) -> Result<i64, audit::BrokenChain> {
    let mut tx = app
        .db()
        .tenant(&Operator::command_line().scope_for(tenant), Mode::Read)
        .await
        .unwrap();
    audit::verify(&mut tx).await.unwrap()
}

async fn verify_detects_edited_inserted_and_deleted_entries(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let other = app.seed_tenant("other").await;
    assert_eq!(verify(&app, t.id).await, Ok(6));
    let id = t.id;

    app.as_table_owner(&format!("UPDATE audit_log SET details = '{{\"role\":\"viewer\"}}' WHERE tenant_id = '{id}' AND seq = 3")).await;
    let broken = verify(&app, id).await.unwrap_err();
    assert_eq!(
        (broken.seq, broken.reason.contains("edited")),
        (3, true),
        "{broken}"
    );
    assert_eq!(
        verify(&app, other.id).await,
        Ok(6),
        "another tenant's chain is its own"
    );

    let app2 = TestApp::spawn(app.backend, "audit inserted").await.unwrap();
    let t2 = app2.seed_tenant("acme").await;
    let id2 = t2.id;
    app2.as_table_owner(&format!(
        "INSERT INTO audit_log SELECT tenant_id, 99, 'aud_forged', at, actor_type, actor_id, actor_label, impersonator_id, impersonator_label, \
         action, target_type, target_id, details, request_id, prev_hash, hash FROM audit_log WHERE tenant_id = '{id2}' AND seq = 4"
    )).await;
    // Make room at 5 (in two steps, so the primary key never collides) and
    // move the forged copy there.
    app2.as_table_owner(&format!(
        "UPDATE audit_log SET seq = -seq WHERE tenant_id = '{id2}' AND seq BETWEEN 5 AND 6"
    ))
    .await;
    app2.as_table_owner(&format!(
        "UPDATE audit_log SET seq = 1 - seq WHERE tenant_id = '{id2}' AND seq < 0"
    ))
    .await;
    app2.as_table_owner("UPDATE audit_log SET seq = 5 WHERE id = 'aud_forged'")
        .await;
    let broken = verify(&app2, id2).await.unwrap_err();
    assert_eq!(broken.seq, 5, "{broken}");

    let app3 = TestApp::spawn(app.backend, "audit deleted").await.unwrap();
    let t3 = app3.seed_tenant("acme").await;
    app3.as_table_owner(&format!(
        "DELETE FROM audit_log WHERE tenant_id = '{}' AND seq = 2",
        t3.id
    ))
    .await;
    assert_eq!(verify(&app3, t3.id).await.unwrap_err().seq, 3);

    let app4 = TestApp::spawn(app.backend, "audit tail deleted")
        .await
        .unwrap();
    let t4 = app4.seed_tenant("acme").await;
    app4.as_table_owner(&format!(
        "DELETE FROM audit_log WHERE tenant_id = '{}' AND seq = 6",
        t4.id
    ))
    .await;
    assert!(verify(&app4, t4.id)
        .await
        .unwrap_err()
        .reason
        .contains("newest"));
}

async fn cli_audit_verify_exit_code_names_the_broken_entry(app: TestApp) {
    let t = app.seed_tenant("acme").await;
    let run = || async { app.cli(&["audit", "verify"]).output().await.unwrap() };
    let ok = run().await;
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stderr).contains("acme: intact (6 entries)"));
    app.as_table_owner(&format!(
        "UPDATE audit_log SET actor_label = 'someone else' WHERE tenant_id = '{}' AND seq = 4",
        t.id
    ))
    .await;
    let bad = run().await;
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("acme: BROKEN at audit entry 4"), "{stderr}");
}
