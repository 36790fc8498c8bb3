//! Row-level security on PostgreSQL, read from the catalogue: every table
//! with a tenant_id has RLS enabled and forced and a policy, the application
//! role neither owns tables nor bypasses RLS, and an unset tenant sees nothing.

use sqlx::{Connection as _, Row as _};

use crate::helpers::{Backend, TestApp};

#[tokio::test]
async fn every_tenant_table_has_forced_rls_and_a_policy() {
    let Some(app) = TestApp::spawn(
        Backend::Postgres,
        "rls::every_tenant_table_has_forced_rls_and_a_policy",
    )
    .await
    else {
        return;
    };
    app.seed_tenant("acme").await;
    let mut conn = sqlx::PgConnection::connect(app.database_url.as_deref().unwrap())
        .await
        .unwrap();
    let tables = sqlx::query(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, \
                (SELECT count(*) FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname) AS policies \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' \
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(
        tables.len() >= 5,
        "found only {} tenant tables",
        tables.len()
    );
    for t in &tables {
        let name: String = t.get("relname");
        assert!(
            t.get::<bool, _>("relrowsecurity"),
            "{name}: RLS not enabled"
        );
        assert!(
            t.get::<bool, _>("relforcerowsecurity"),
            "{name}: RLS not forced"
        );
        assert!(t.get::<i64, _>("policies") > 0, "{name}: no policy");
    }

    let role = sqlx::query("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
        .bind(switchboard::db::APP_ROLE)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(!role.get::<bool, _>("rolsuper") && !role.get::<bool, _>("rolbypassrls"));
    let owned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = $1",
    )
    .bind(switchboard::db::APP_ROLE)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(owned, 0, "the application role owns no table");

    // As the application role: nothing without a tenant, only its own with one.
    sqlx::query(&format!("SET ROLE {}", switchboard::db::APP_ROLE))
        .execute(&mut conn)
        .await
        .unwrap();
    for table in [
        "memberships",
        "api_keys",
        "audit_log",
        "audit_heads",
        "refresh_tokens",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table} leaks rows with no tenant set");
    }
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', '', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 0, "an empty tenant sees nothing");
    let err = sqlx::query("UPDATE audit_log SET action = 'x'")
        .execute(&mut *tx)
        .await;
    assert!(
        err.is_err(),
        "the audit log is append-only for the application"
    );
}

#[tokio::test]
async fn the_pool_runs_as_the_application_role() {
    let Some(app) = TestApp::spawn(
        Backend::Postgres,
        "rls::the_pool_runs_as_the_application_role",
    )
    .await
    else {
        return;
    };
    // Several at once, so that more than one pooled connection answers.
    let roles = futures_join(&app).await;
    assert!(
        roles
            .iter()
            .all(|r| r.as_deref() == Some(switchboard::db::APP_ROLE)),
        "{roles:?}"
    );
}

async fn futures_join(app: &TestApp) -> Vec<Option<String>> {
    let mut handles = Vec::new();
    for _ in 0..4 {
        let db = app.db().clone();
        handles.push(tokio::spawn(
            async move { db.session_role().await.unwrap() },
        ));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
