//! Importing an existing CCI-style layout (a local directory or an
//! `s3://bucket[/prefix]`) into a tenant, so deployments of that layout can
//! move in place:
//!
//! ```text
//! <org>/meta/<call>.json                 call metadata (required; one call each)
//! <org>/audio/<call>.<wav|mp3|…>         the recording (optional)
//! results/<org>/final/v1.0/<call>.json   transcript, tried first …
//! results/<org>/enriched/<call>.json     … then this …
//! results/<org>/raw/<call>.json          … then this
//! ```
//!
//! Field names differ between deployments, so the common spellings are
//! accepted (docs/cci-import.md). Every call goes through the normal
//! ingestion path; importing the same layout twice changes nothing.

use std::sync::Arc;

use anyhow::Context as _;
use futures_util::TryStreamExt as _;
use object_store::path::Path;
use object_store::ObjectStore;
use serde_json::{json, Value};
use switchboard_ingest::import::Line;
use switchboard_ingest::providers::switchboard as call_json;
use switchboard_ingest::ParseError;

use crate::auth::TenantScope;
use crate::config::Config;
use crate::db::{calls, Mode};
use crate::http::AppState;
use crate::ingest::{self, ImportReport};
use crate::objects::{AudioFormat, ObjectKey};

/// Opens the layout's root: a directory, or `s3://bucket[/prefix]` with the
/// configured S3 settings.
pub fn open_root(config: &Config, root: &str) -> anyhow::Result<(Arc<dyn ObjectStore>, Path)> {
    if let Some(rest) = root.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut c = config.clone();
        c.object_store_url = Some(format!("s3://{bucket}"));
        Ok((crate::objects::s3_store(&c)?, Path::from(prefix)))
    } else {
        let store = object_store::local::LocalFileSystem::new_with_prefix(root)
            .with_context(|| format!("opening {root}"))?;
        Ok((Arc::new(store), Path::from("")))
    }
}

fn join(prefix: &Path, rest: &str) -> Path {
    if prefix.as_ref().is_empty() {
        Path::from(rest)
    } else {
        Path::from(format!("{prefix}/{rest}"))
    }
}

async fn read_json(store: &dyn ObjectStore, path: &Path) -> Option<Value> {
    let bytes = store.get(path).await.ok()?.bytes().await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn first_text<'a>(v: &'a Value, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| v.get(*n).and_then(Value::as_str))
}

/// A time as RFC 3339, from RFC 3339 text or Unix seconds or milliseconds.
fn time_text(v: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match v.get(*n)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(num) => {
            let raw = num.as_f64()?;
            let ms = if raw > 1e11 { raw } else { raw * 1000.0 } as i64;
            Some(crate::http::routes::rfc3339(ms))
        }
        _ => None,
    })
}

/// Turns from a results document: `turns`, or `transcript` as a list of
/// `{speaker|role, text|content, start, end}`.
fn turns_of(doc: &Value) -> Option<Value> {
    let list = doc
        .get("turns")
        .or_else(|| doc.get("transcript"))?
        .as_array()?;
    let turns: Vec<Value> = list
        .iter()
        .filter_map(|t| {
            let who = first_text(t, &["speaker", "role", "channel"])?.to_ascii_lowercase();
            let speaker = match who.as_str() {
                "agent" | "bot" | "assistant" | "ch_0" | "spk_0" => "agent",
                "customer" | "caller" | "user" | "ch_1" | "spk_1" => "customer",
                _ => return None,
            };
            let mut turn = json!({"speaker": speaker, "text": first_text(t, &["text", "content"]).unwrap_or("")});
            for k in ["start", "end"] {
                if let Some(x) = t.get(k).and_then(Value::as_f64) {
                    turn[k] = json!(x);
                }
            }
            Some(turn)
        })
        .collect();
    Some(Value::Array(turns))
}

/// The call document for one meta file (and its results, if any).
fn document(call: &str, meta: &Value, results: Option<&Value>) -> Value {
    let mut doc = json!({
        "external_id": first_text(meta, &["call_id", "id", "contact_id"]).unwrap_or(call),
        "direction": first_text(meta, &["direction"]).map(str::to_ascii_lowercase).unwrap_or_else(|| "inbound".into()),
        "from": first_text(meta, &["from", "from_number", "caller", "ani", "customer_phone"]).unwrap_or(""),
        "to": first_text(meta, &["to", "to_number", "callee", "dnis", "agent_phone"]).unwrap_or(""),
        "metadata": meta,
    });
    if let Some(t) = time_text(
        meta,
        &["started_at", "start_time", "timestamp", "call_date"],
    ) {
        doc["started_at"] = json!(t);
    }
    if let Some(t) = time_text(meta, &["ended_at", "end_time"]) {
        doc["ended_at"] = json!(t);
    }
    if let Some(turns) = results.and_then(turns_of) {
        doc["turns"] = turns;
    }
    if let Some(summary) = results.and_then(|r| first_text(r, &["summary"])) {
        doc["summary"] = json!(summary);
    }
    doc
}

/// Imports every call of `org` under the root into the tenant.
pub async fn import(
    state: &AppState,
    scope: &TenantScope,
    store: &dyn ObjectStore,
    root: &Path,
    org: &str,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<ImportReport> {
    let meta_dir = join(root, &format!("{org}/meta"));
    let mut metas: Vec<Path> = store
        .list(Some(&meta_dir))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .with_context(|| format!("listing {meta_dir}"))?;
    metas.retain(|p| p.extension() == Some("json"));
    metas.sort();
    let audio: Vec<Path> = store
        .list(Some(&join(root, &format!("{org}/audio"))))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .unwrap_or_default();

    let mut lines = Vec::with_capacity(metas.len());
    let mut stems = Vec::with_capacity(metas.len());
    for (i, path) in metas.iter().enumerate() {
        let call = path
            .filename()
            .and_then(|f| f.strip_suffix(".json"))
            .unwrap_or("")
            .to_owned();
        let result = match read_json(store, path).await {
            None => Err(vec![ParseError::new(
                "meta",
                format!("{path} is not a JSON document"),
            )]),
            Some(meta) => {
                let mut results = None;
                for kind in ["final/v1.0", "enriched", "raw"] {
                    results = read_json(
                        store,
                        &join(root, &format!("results/{org}/{kind}/{call}.json")),
                    )
                    .await;
                    if results.is_some() {
                        break;
                    }
                }
                Ok(document(&call, &meta, results.as_ref()))
            }
        };
        let (result, raw) = match result {
            Ok(doc) => {
                let raw = serde_json::to_vec(&doc).unwrap_or_default();
                (call_json::parse_value(doc), raw)
            }
            Err(e) => (Err(e), Vec::new()),
        };
        lines.push(Line {
            line: i + 1,
            result,
            raw,
        });
        stems.push(call);
        progress(i + 1, metas.len() * 2);
    }
    let total = metas.len();
    let report = ingest::import(state, scope, lines, |n| progress(total + n, total * 2)).await?;

    // Recordings, for the calls that were taken (now or before).
    for stem in &stems {
        let Some(path) = audio.iter().find(|p| {
            p.filename()
                .and_then(|f| f.rsplit_once('.'))
                .is_some_and(|(s, _)| s == stem)
        }) else {
            continue;
        };
        let Some(format) = path.extension().and_then(AudioFormat::from_extension) else {
            continue;
        };
        let Some(meta) = read_json(store, &join(root, &format!("{org}/meta/{stem}.json"))).await
        else {
            continue;
        };
        let external = first_text(&meta, &["call_id", "id", "contact_id"])
            .unwrap_or(stem)
            .to_owned();
        let mut tx = state.db.tenant(scope, Mode::Read).await?;
        let call =
            calls::find_external(&mut tx, switchboard_ingest::Source::Import, &external).await?;
        tx.commit().await?;
        let Some(call) = call.filter(|c| c.audio_status != "stored") else {
            continue;
        };
        let bytes = store.get(path).await?.bytes().await?;
        let key = ObjectKey::audio(scope, call.id, format);
        state.objects.put(&key, bytes).await?;
        let mut tx = state.db.tenant(scope, Mode::Write).await?;
        calls::set_audio(&mut tx, call.id, "stored", Some(key.as_str()), None).await?;
        tx.commit().await?;
    }
    Ok(report)
}
