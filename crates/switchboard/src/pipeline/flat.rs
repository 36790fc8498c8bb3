//! CCI's v2.0-flat outputs: per tenant and day, one JSON line per analysed
//! call (`final/v2.0-flat/calls/<day>.jsonl`) and one per call and rubric
//! criterion (`final/v2.0-flat/qa/<day>.jsonl`), for warehouses and BI
//! tools. A day is marked when one of its analyses changes and rewritten
//! whole from the stored analyses once it has been quiet for
//! `flat_interval_ms`, so the files are always a function of the database.

use serde_json::{json, Value};

use crate::auth::TenantScope;
use crate::db::analyses::{self, DayRow};
use crate::db::{flat_days, now_ms, DbError, Mode};
use crate::http::routes::rfc3339;
use crate::http::AppState;
use crate::objects::{FlatTable, ObjectKey};

fn num(v: &Value) -> Value {
    v.as_f64()
        .map_or(Value::Null, |x| json!((x * 1000.0).round() / 1000.0))
}

/// The call's line and its criteria's lines.
pub fn lines(row: &DayRow, day: &str) -> (Value, Vec<Value>) {
    let doc: Value = serde_json::from_str(&row.document).unwrap_or(Value::Null);
    let qa = &doc["qa"];
    let categories: Vec<&str> = qa["categories"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default();
    let talk = &doc["talk"];
    let call = json!({
        "call_id": row.call_id,
        "day": day,
        "external_id": row.external_id,
        "source": row.source,
        "agent_id": Some(&row.agent_id).filter(|a| !a.is_empty()),
        "direction": row.direction,
        "started_at": row.started_at.map(rfc3339),
        "duration_s": row.duration_ms as f64 / 1000.0,
        "billable": row.billable,
        "sentiment_agent": num(&doc["sentiment"]["agent"]["overall"]),
        "sentiment_customer": num(&doc["sentiment"]["customer"]["overall"]),
        "sentiment_customer_trend": num(&doc["sentiment"]["customer"]["trend"]),
        "talk_s_agent": num(&talk["talk_s_agent"]),
        "talk_s_customer": num(&talk["talk_s_customer"]),
        "non_talk_s": num(&talk["non_talk_s"]),
        "interruptions": talk["interruptions"].as_array().map_or(0, |i| i.len()),
        "agent_talk_ratio": num(&talk["agent_talk_ratio"]),
        "wpm_agent": num(&talk["wpm_agent"]),
        "wpm_customer": num(&talk["wpm_customer"]),
        "qa_score": num(&qa["score"]),
        "qa_passed": qa["passed"],
        "rubric_version": doc["rubric_version"],
        "qa_config_version": doc["qa_config_version"],
        "categories": categories.join(";"),
        "summary": doc["summary"]["text"],
        "summary_method": doc["summary"]["method"],
        "next_steps": doc["summary"]["next_steps"].as_array().map(|s| {
            s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | ")
        }),
        "analysed_at": doc["analysed_at"],
    });
    let criteria = qa["criteria"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let mut turns: Vec<u64> = c["evidence"]
                        .as_array()
                        .map(|e| e.iter().filter_map(|e| e["turn"].as_u64()).collect())
                        .unwrap_or_default();
                    turns.dedup();
                    json!({
                        "call_id": row.call_id,
                        "day": day,
                        "agent_id": Some(&row.agent_id).filter(|a| !a.is_empty()),
                        "rubric_version": doc["rubric_version"],
                        "criterion_id": c["id"],
                        "criterion": c["name"],
                        "weight": c["weight"],
                        "status": c["status"],
                        "evidence_turns": turns,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    (call, criteria)
}

fn jsonl(values: impl IntoIterator<Item = Value>) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        serde_json::to_writer(&mut out, &v).expect("serialises");
        out.push(b'\n');
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum FlatError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("object store: {0}")]
    Objects(#[from] object_store::Error),
}

/// Rewrites the tenant's days that changed and have been quiet for
/// `quiet_ms`; returns how many.
pub async fn flush(
    state: &AppState,
    scope: &TenantScope,
    quiet_ms: i64,
) -> Result<usize, FlatError> {
    let quiet = quiet_ms;
    let mut tx = state.db.tenant(scope, Mode::Read).await?;
    let due = flat_days::due(&mut tx, now_ms() - quiet).await?;
    tx.commit().await?;
    for (day, seen) in &due {
        let mut tx = state.db.tenant(scope, Mode::Read).await?;
        let rows = analyses::day_rows(&mut tx, day).await?;
        tx.commit().await?;
        let (mut calls, mut qa) = (Vec::with_capacity(rows.len()), Vec::new());
        for row in &rows {
            let (call, criteria) = lines(row, day);
            calls.push(call);
            qa.extend(criteria);
        }
        let (Some(calls_key), Some(qa_key)) = (
            ObjectKey::flat(scope, FlatTable::Calls, day),
            ObjectKey::flat(scope, FlatTable::Qa, day),
        ) else {
            continue;
        };
        if rows.is_empty() {
            state.objects.delete(&calls_key).await?;
            state.objects.delete(&qa_key).await?;
        } else {
            state.objects.put(&calls_key, jsonl(calls)).await?;
            state.objects.put(&qa_key, jsonl(qa)).await?;
        }
        let mut tx = state.db.tenant(scope, Mode::Write).await?;
        flat_days::clear(&mut tx, day, *seen).await?;
        tx.commit().await?;
    }
    Ok(due.len())
}
