//! Crash safety: the real binary is killed with SIGKILL in the middle of a
//! webhook flood and started again; every webhook that was answered 2xx must
//! be there exactly once (invariant 6).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use switchboard_ingest::signature::sign_standard;

use crate::helpers::fresh_postgres_url;

#[tokio::test]
async fn sqlite_webhooks_survive_kill_9() {
    kill_9_during_a_flood(None).await;
}

#[tokio::test]
async fn postgres_webhooks_survive_kill_9() {
    match fresh_postgres_url().await {
        Some(url) => kill_9_during_a_flood(Some(url)).await,
        None => {
            println!("SKIPPED (PostgreSQL unreachable): crash::postgres_webhooks_survive_kill_9")
        }
    }
}

struct Binary {
    data: std::path::PathBuf,
    database_url: Option<String>,
    master_key: String,
}

impl Binary {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.args(args)
            .arg("--data")
            .arg(&self.data)
            .env("SWITCHBOARD_MASTER_KEY", &self.master_key)
            .env("SWITCHBOARD_LOG__FILTER", "warn")
            .env("SWITCHBOARD_RATE_LIMITS__PER_IP_PER_SECOND", "1000000")
            .env(
                "SWITCHBOARD_RATE_LIMITS__WEBHOOKS_PER_AGENT_PER_SECOND",
                "1000000",
            )
            .env(
                "SWITCHBOARD_RATE_LIMITS__TENANT_PER_SECOND__GROWTH",
                "1000000",
            )
            .env_remove("DATABASE_URL");
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("the binary runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    async fn serve(&self, bind: &str) -> Child {
        let mut child = self
            .command(&["serve", "--bind", bind])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client
                .get(format!("http://{bind}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return child;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Not left running behind the failed test.
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not become ready at {bind}");
    }
}

async fn kill_9_during_a_flood(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let bin = Binary {
        data: dir.path().to_path_buf(),
        database_url,
        master_key: switchboard::secrets::generate_key_text().to_string(),
    };
    bin.run(&[
        "tenant",
        "create",
        "--slug",
        "crash",
        "--name",
        "Crash Test Co",
        "--plan",
        "growth",
    ]);
    let key = bin.run(&[
        "apikey",
        "create",
        "--tenant",
        "crash",
        "--name",
        "flood",
        "--scope",
        "settings:manage",
        "--scope",
        "calls:view_all",
    ]);
    let bind = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut server = bin.serve(&bind).await;
    let client = reqwest::Client::new();
    let agent: Value = client
        .post(format!("http://{bind}/api/v1/agents"))
        .bearer_auth(&key)
        .json(&json!({"name": "Flood", "provider": "generic"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = agent["signing_secret"]
        .as_str()
        .expect("a signing secret")
        .to_owned();
    let url = agent["agent"]["webhook_url"].as_str().unwrap().to_owned();

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut senders = Vec::new();
    for worker in 0..8 {
        let (client, url, secret, acknowledged) = (
            client.clone(),
            url.clone(),
            secret.clone(),
            acknowledged.clone(),
        );
        senders.push(tokio::spawn(async move {
            for n in 0..100_000 {
                let id = format!("flood-{worker}-{n}");
                match send_flood_webhook(&client, &url, &secret, &id).await {
                    Ok(r) if r.status().is_success() => acknowledged.lock().unwrap().push(id),
                    Ok(r) => panic!("unexpected answer {} before the crash", r.status()),
                    // The server is gone: this worker's flood is over.
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    for s in senders {
        s.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 20,
        "the flood barely started: {}",
        acknowledged.len()
    );

    let mut server = bin.serve(&bind).await;
    // external id -> the ids of the calls that carry it
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page_url = format!("http://{bind}/api/v1/calls?limit=200");
        if let Some(c) = &cursor {
            page_url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(&page_url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for call in page["items"].as_array().expect("a page") {
            seen.entry(call["external_id"].as_str().unwrap().to_owned())
                .or_default()
                .push(call["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    // A provider that resends what it had no answer for, or resends anyway,
    // changes nothing.
    for id in acknowledged.iter().take(20) {
        let again = send_flood_webhook(&client, &url, &secret, id)
            .await
            .expect("the restarted server answers");
        assert!(again.status().is_success(), "{}", again.status());
        let again: Value = again.json().await.unwrap();
        assert_eq!(again["duplicate"], true, "{id}: {again}");
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged webhooks were lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let doubled: Vec<_> = seen.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(doubled.is_empty(), "calls stored twice: {doubled:?}");
    // A 2xx also meant the call's objects were durable: its raw document
    // holds the payload as sent, and its meta object is there.
    let tenants: Vec<_> = std::fs::read_dir(dir.path().join("objects"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(tenants.len(), 1, "{tenants:?}");
    for external in &acknowledged {
        let call = &seen[external][0];
        let raw = std::fs::read_to_string(tenants[0].join(format!("raw/{call}.json")))
            .unwrap_or_else(|e| panic!("the raw document of {external} ({call}): {e}"));
        assert!(
            raw.contains(&format!("\"external_id\":\"{external}\"")),
            "{external}: {raw}"
        );
        let meta = std::fs::read(tenants[0].join(format!("meta/{call}.json")))
            .unwrap_or_else(|e| panic!("the meta object of {external} ({call}): {e}"));
        let meta: Value = serde_json::from_slice(&meta).expect("meta is JSON");
        assert_eq!(meta["external_id"], external.as_str());
    }
    println!(
        "{} webhooks acknowledged before SIGKILL, all present once with their objects after restart; resends are duplicates",
        acknowledged.len()
    );
}

/// Sends the flood's webhook for one external id: the same body every time,
/// so a resend is a redelivery.
async fn send_flood_webhook(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    id: &str,
) -> reqwest::Result<reqwest::Response> {
    let body = json!({"external_id": id, "direction": "inbound", "from": "+14155550123",
        "to": "+14155550100", "started_at": "2026-03-01T10:00:00Z",
        "turns": [{"speaker": "agent", "text": format!("Hello, you are caller {id}")}]})
    .to_string();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = sign_standard(secret, id, ts, body.as_bytes()).unwrap();
    client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
}
