//! The S3 path of the object store, against a real S3-compatible server
//! (moto's, started by scripts/test at TEST_S3_ENDPOINT): objects land under
//! the tenant's prefix, recordings are served through S3's own presigned
//! URLs, and deleting a call deletes its objects.

use reqwest::StatusCode;
use serde_json::json;
use switchboard::auth::Operator;
use switchboard::config::Secret;
use switchboard::objects::{AudioFormat, ObjectKey};
use switchboard_core::CallId;
use switchboard_core::Role;

use crate::helpers::TestApp;

crate::on_both_backends!(calls_live_in_s3_when_configured, cci_layouts_import_from_s3);

fn s3_settings(c: &mut switchboard::config::Config, bucket: &str) {
    c.object_store_url = Some(format!("s3://{bucket}"));
    c.s3.endpoint = Some(endpoint());
    c.s3.allow_http = true;
    c.s3.region = Some("us-east-1".into());
    c.s3.access_key_id = Some(Secret::new("test-access-key"));
    c.s3.secret_access_key = Some(Secret::new("test-secret-key"));
}

fn endpoint() -> String {
    std::env::var("TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5055".into())
}

/// A fresh bucket, or `None` (after printing SKIPPED) when no S3 server answers outside CI.
async fn fresh_bucket() -> Option<String> {
    let client = reqwest::Client::new();
    if client.get(endpoint()).send().await.is_err() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "the S3 test server is unreachable at {} and CI must test it",
                endpoint()
            );
        }
        println!(
            "SKIPPED (S3 unreachable at {}): calls_live_in_s3_when_configured",
            endpoint()
        );
        return None;
    }
    let bucket = format!("sbtest-{}", ulid::Ulid::new().to_string().to_lowercase());
    let made = client
        .put(format!("{}/{bucket}", endpoint()))
        .send()
        .await
        .expect("create bucket");
    assert!(
        made.status().is_success(),
        "creating the bucket: {}",
        made.status()
    );
    Some(bucket)
}

async fn calls_live_in_s3_when_configured(app: TestApp) {
    let Some(bucket) = fresh_bucket().await else {
        return;
    };
    let app = TestApp::spawn_with(app.backend, "s3", |c| s3_settings(c, &bucket))
        .await
        .unwrap();
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let created = app.post_call(&owner, "s3-1").await;
    let id = created.body["call_id"].as_str().unwrap();
    // Objects are private: read them the way the server does.
    let scope = Operator::command_line().scope_for(t.id);
    let call: CallId = id.parse().unwrap();
    let keys = [
        ObjectKey::raw(&scope, call),
        ObjectKey::meta(&scope, call),
        ObjectKey::audio(&scope, call, AudioFormat::Mp3),
    ];
    let raw = app
        .state
        .objects
        .get(&keys[0])
        .await
        .expect("raw object in S3");
    assert!(String::from_utf8_lossy(&raw).contains("s3-1"));
    let anonymous = app
        .client
        .get(format!("{}/{bucket}/{}", endpoint(), keys[0].as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::FORBIDDEN,
        "objects are not public"
    );

    let upload = app
        .client
        .post(app.url(&format!("/api/v1/calls/{id}/audio")))
        .bearer_auth(&owner)
        .header("content-type", "audio/mpeg")
        .body(b"ID3-fake-mp3".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::NO_CONTENT);
    let r = app
        .get(&format!("/api/v1/calls/{id}/recording"), &owner)
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    let location = r.headers["location"].to_str().unwrap();
    assert!(
        location.starts_with(&endpoint()) && location.contains("X-Amz-Signature"),
        "{location}"
    );
    let audio = app.client.get(location).send().await.unwrap();
    assert_eq!(audio.bytes().await.unwrap().as_ref(), b"ID3-fake-mp3");

    // A raw document set aside as unreadable (decision 0014) moves within
    // the tenant's prefix and is deleted with the call.
    let aside = app
        .state
        .objects
        .set_aside(&keys[0])
        .await
        .unwrap()
        .unwrap();
    assert!(aside
        .as_str()
        .starts_with(&format!("{}/unreadable/raw/", t.id)));
    assert_eq!(app.state.objects.get(&aside).await.unwrap(), raw);
    app.state.objects.put(&keys[0], raw).await.unwrap();

    let d = app.delete(&format!("/api/v1/calls/{id}"), &owner).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    for key in keys.iter().chain([&aside]) {
        assert!(
            matches!(
                app.state.objects.get(key).await,
                Err(object_store::Error::NotFound { .. })
            ),
            "{} was not deleted",
            key.as_str()
        );
    }
}

/// `switchboard import --cci s3://bucket/prefix` reads the layout from S3.
async fn cci_layouts_import_from_s3(app: TestApp) {
    let Some(bucket) = fresh_bucket().await else {
        return;
    };
    let t = app.seed_tenant("acme").await;
    let owner = app.token(t.email(Role::Owner)).await;
    let mut config = app.state.config.as_ref().clone();
    s3_settings(&mut config, &bucket);
    let store = switchboard::cci::open_root(&config, &format!("s3://{bucket}"))
        .unwrap()
        .store;
    let meta = json!({"call_id": "s3-cci-1", "start_time": "2026-03-01T10:00:00Z", "caller": "+14155550123",
        "callee": "+14155550100"});
    for (path, body) in [
        ("archive/orgx/meta/a1.json", meta.to_string().into_bytes()),
        ("archive/orgx/audio/a1.mp3", b"ID3-archived".to_vec()),
    ] {
        store
            .put(&object_store::path::Path::from(path), body.into())
            .await
            .unwrap();
    }
    let mut cmd = app.cli(&[
        "import",
        "--tenant",
        "acme",
        "--cci",
        &format!("s3://{bucket}/archive"),
    ]);
    cmd.env("SWITCHBOARD_S3__ENDPOINT", endpoint())
        .env("SWITCHBOARD_S3__ALLOW_HTTP", "true")
        .env("SWITCHBOARD_S3__REGION", "us-east-1")
        .env("SWITCHBOARD_S3__ACCESS_KEY_ID", "test-access-key")
        .env("SWITCHBOARD_S3__SECRET_ACCESS_KEY", "test-secret-key");
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = app.get("/api/v1/calls", &owner).await.body["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["external_id"], "s3-cci-1");
    assert_eq!(calls[0]["stages"]["recording"], "stored");
}
