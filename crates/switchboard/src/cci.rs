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

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use futures_util::TryStreamExt as _;
use object_store::local::LocalFileSystem;
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

/// A layout's root, open for reading.
pub struct Layout {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    /// A local directory's filesystem and the directory itself, resolved:
    /// nothing a symbolic link leads to outside it (the server's own
    /// files, another tenant's objects) is read.
    local: Option<(Arc<LocalFileSystem>, PathBuf)>,
}

/// Opens the layout's root: a directory, or `s3://bucket[/prefix]` with the
/// configured S3 settings.
pub fn open_root(config: &Config, root: &str) -> anyhow::Result<Layout> {
    if let Some(rest) = root.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut c = config.clone();
        c.object_store_url = Some(format!("s3://{bucket}"));
        Ok(Layout {
            store: crate::objects::s3_store(&c)?,
            prefix: Path::from(prefix),
            local: None,
        })
    } else {
        let dir = std::fs::canonicalize(root).with_context(|| format!("opening {root}"))?;
        let fs = Arc::new(
            LocalFileSystem::new_with_prefix(&dir).with_context(|| format!("opening {root}"))?,
        );
        Ok(Layout {
            store: fs.clone(),
            prefix: Path::from(""),
            local: Some((fs, dir)),
        })
    }
}

impl Layout {
    /// Locally, whether `path` is a file under the root once every link on
    /// the way is resolved (an error if it leads outside). On S3 there are
    /// no links: the read itself tells.
    fn inside(&self, path: &Path) -> Result<bool, String> {
        let Some((fs, root)) = &self.local else {
            return Ok(true);
        };
        let file = fs.path_to_filesystem(path).map_err(|e| e.to_string())?;
        match std::fs::canonicalize(&file) {
            Ok(real) if real.starts_with(root) => Ok(real.is_file()),
            Ok(_) => Err(format!(
                "{path} leads outside the layout (a symbolic link); not read"
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(format!("{path}: {e}")),
        }
    }

    /// The file at `path`, if there is one in the layout.
    async fn read(&self, path: &Path) -> Result<Option<bytes::Bytes>, String> {
        if !self.inside(path)? {
            return Ok(None);
        }
        let read = async { self.store.get(path).await?.bytes().await };
        match read.await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(format!("{path}: {e}")),
        }
    }

    /// The JSON document at `path`, if there is one.
    async fn read_json(&self, path: &Path) -> Result<Option<Value>, String> {
        let Some(bytes) = self.read(path).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{path} is not a JSON document: {e}"))
    }
}

fn join(prefix: &Path, rest: &str) -> Path {
    if prefix.as_ref().is_empty() {
        Path::from(rest)
    } else {
        Path::from(format!("{prefix}/{rest}"))
    }
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
/// `{speaker|role|channel, text|content, start, end}` (a numeric `channel`
/// 0 or 1 as `ch_0`, `ch_1`). A turn whose speaker is none of the known
/// spellings is left out; when that leaves none of a non-empty list, there
/// are no turns to import rather than an empty transcript, which would
/// clear the call's.
fn turns_of(doc: &Value) -> Option<Value> {
    let list = doc
        .get("turns")
        .or_else(|| doc.get("transcript"))?
        .as_array()?;
    let turns: Vec<Value> = list
        .iter()
        .filter_map(|t| {
            let who = match t.get("channel").and_then(Value::as_u64) {
                Some(channel) => format!("ch_{channel}"),
                None => first_text(t, &["speaker", "role", "channel"])?.to_ascii_lowercase(),
            };
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
    (!turns.is_empty() || list.is_empty()).then_some(Value::Array(turns))
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

/// Imports every call of `org` under the root into the tenant, [`CHUNK`]
/// calls at a time. A call whose recording cannot be read is taken without
/// it, and reported.
pub async fn import(
    state: &AppState,
    scope: &TenantScope,
    layout: &Layout,
    org: &str,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<ImportReport> {
    let (store, root) = (layout.store.as_ref(), &layout.prefix);
    let meta_dir = join(root, &format!("{org}/meta"));
    let mut metas: Vec<Path> = store
        .list(Some(&meta_dir))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .with_context(|| format!("listing {meta_dir}"))?;
    metas.retain(|p| p.extension() == Some("json"));
    metas.sort();
    let audio_dir = join(root, &format!("{org}/audio"));
    let audio: Vec<Path> = store
        .list(Some(&audio_dir))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .with_context(|| format!("listing {audio_dir}"))?;
    // Recordings, for the calls that were taken (now or before), found by
    // the file's name without its extension (the first listed of several).
    let mut audio_of: std::collections::HashMap<&str, &Path> = Default::default();
    for path in &audio {
        if let Some((stem, _)) = path.filename().and_then(|f| f.rsplit_once('.')) {
            audio_of.entry(stem).or_insert(path);
        }
    }
    // Each chunk is read, ingested, then given its recordings: three steps
    // of the bar per call.
    let steps = metas.len() * 3;
    let mut report = ImportReport::default();
    for (chunk, paths) in metas.chunks(CHUNK).enumerate() {
        let first = chunk * CHUNK;
        let mut lines = Vec::with_capacity(paths.len());
        let mut taken = Vec::with_capacity(paths.len());
        for (j, path) in paths.iter().enumerate() {
            let line = first + j + 1;
            let call = path
                .filename()
                .and_then(|f| f.strip_suffix(".json"))
                .unwrap_or("")
                .to_owned();
            let (result, raw) = match read_call(layout, root, org, &call, path).await {
                Ok((meta, doc)) => {
                    let raw = serde_json::to_vec(&doc).unwrap_or_default();
                    taken.push((line, call, meta));
                    (call_json::parse_value(doc), raw)
                }
                Err(e) => (Err(vec![e]), Vec::new()),
            };
            lines.push(Line { line, result, raw });
            progress(first * 3 + j + 1, steps);
        }
        let read = first * 3 + paths.len();
        let part = ingest::import(state, scope, lines.into_iter().map(Ok), |n| {
            progress(read + n, steps)
        })
        .await?;
        report.absorb(part);
        let ingested = read + paths.len();
        for (n, (line, stem, meta)) in taken.iter().enumerate() {
            progress(ingested + n + 1, steps);
            if let Some(path) = audio_of.get(stem.as_str()) {
                adopt_recording(state, scope, layout, (*line, stem, meta), path, &mut report)
                    .await?;
            }
        }
        progress(first * 3 + paths.len() * 3, steps);
    }
    Ok(report)
}

/// Calls read, ingested and given their recordings at a time: a layout's
/// size bounds the time an import takes, not the memory it holds.
pub const CHUNK: usize = 256;

/// Stores the recording at `path` as the audio of the call taken from
/// `line`, unless the call has one; a file that cannot be read is reported.
async fn adopt_recording(
    state: &AppState,
    scope: &TenantScope,
    layout: &Layout,
    (line, stem, meta): (usize, &str, &Value),
    path: &Path,
    report: &mut ImportReport,
) -> anyhow::Result<()> {
    let Some(format) = path.extension().and_then(AudioFormat::from_extension) else {
        return Ok(());
    };
    let external = first_text(meta, &["call_id", "id", "contact_id"])
        .map(str::trim)
        .unwrap_or(stem)
        .to_owned();
    let mut tx = state.db.tenant(scope, Mode::Read).await?;
    let call = calls::find_external(&mut tx, switchboard_ingest::Source::Import, &external).await?;
    tx.commit().await?;
    let Some(call) = call.filter(|c| c.audio_status != "stored") else {
        return Ok(());
    };
    let bytes = match layout.read(path).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(()),
        Err(why) => {
            report.audio_errors.push(ingest::LineErrors {
                line,
                errors: vec![crate::http::problem::FieldError {
                    field: "audio".into(),
                    message: why,
                }],
            });
            return Ok(());
        }
    };
    let key = ObjectKey::audio(scope, call.id, format);
    state.objects.put(&key, bytes).await?;
    crate::recordings::adopt_audio(state, scope, call.id, &key).await?;
    Ok(())
}

/// A call's meta document and the call document made of it and its best
/// results document; the reason, as a line's error, when they cannot be read.
async fn read_call(
    layout: &Layout,
    root: &Path,
    org: &str,
    call: &str,
    meta_path: &Path,
) -> Result<(Value, Value), ParseError> {
    let meta = layout
        .read_json(meta_path)
        .await
        .and_then(|m| m.ok_or_else(|| format!("{meta_path} is gone")))
        .map_err(|why| ParseError::new("meta", why))?;
    let mut results = None;
    for kind in ["final/v1.0", "enriched", "raw"] {
        let path = join(root, &format!("results/{org}/{kind}/{call}.json"));
        results = layout
            .read_json(&path)
            .await
            .map_err(|why| ParseError::new("results", why))?;
        if results.is_some() {
            break;
        }
    }
    let doc = document(call, &meta, results.as_ref());
    Ok((meta, doc))
}

#[cfg(test)]
mod tests {
    use super::turns_of;
    use serde_json::json;

    #[test]
    fn turns_read_numeric_channels_and_never_clear_a_transcript_by_accident() {
        let turns = turns_of(&json!({"transcript": [
            {"channel": 0, "text": "Thanks for calling"},
            {"channel": 1, "content": "Hi"},
            {"speaker": "SPEAKER_07", "text": "who is this?"}
        ]}))
        .unwrap();
        assert_eq!(
            turns,
            json!([{"speaker": "agent", "text": "Thanks for calling"}, {"speaker": "customer", "text": "Hi"}])
        );
        assert_eq!(
            turns_of(&json!({"turns": [{"speaker": "SPEAKER_00", "text": "?"}]})),
            None,
            "no turn could be read: nothing to import, not an empty transcript"
        );
        assert_eq!(turns_of(&json!({"turns": []})), Some(json!([])));
    }
}
