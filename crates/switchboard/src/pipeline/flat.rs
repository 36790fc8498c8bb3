//! CCI's v2.0-flat outputs: per tenant and day, one JSON line per analysed
//! call (`final/v2.0-flat/calls/<day>.jsonl`) and one per call and rubric
//! criterion (`final/v2.0-flat/qa/<day>.jsonl`), for warehouses and BI
//! tools. A day is marked when one of its analyses changes and rewritten
//! whole from the stored analyses once it has been quiet for
//! `flat_interval_ms`, so the files are always a function of the database.

use serde_json::json;
use switchboard_analysis::qa::Status;
use switchboard_analysis::CallAnalysis;

use crate::auth::TenantScope;
use crate::db::analyses;
use crate::db::calls::CallRecord;
use crate::db::{flat_days, now_ms, DbError, Mode};
use crate::http::routes::rfc3339;
use crate::http::AppState;
use crate::objects::{FlatTable, ObjectKey};

fn round3(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
        .map(|v| (v * 1000.0).round() / 1000.0)
}

/// What the flat lines say besides the analysis itself.
pub struct LineContext<'a> {
    pub call: &'a CallRecord,
    pub day: &'a str,
    pub duration_ms: i64,
    pub rubric_version: Option<&'a str>,
    pub qa_config_version: Option<i64>,
    pub analysed_at: &'a str,
}

/// The call's line of the calls file, and its lines of the QA file (each
/// ending in a newline).
pub fn lines(cx: &LineContext<'_>, a: &CallAnalysis) -> (String, String) {
    let call = cx.call;
    let agent = call.agent_id.map(|a| a.to_string());
    let qa = a.qa.as_ref();
    let categories: Vec<&str> = qa
        .map(|q| q.categories.iter().map(|c| c.id.as_str()).collect())
        .unwrap_or_default();
    let talk = &a.talk;
    let line = json!({
        "call_id": call.id,
        "day": cx.day,
        "external_id": call.external_id,
        "source": call.source.as_str(),
        "agent_id": agent,
        "direction": call.fields.direction.map(|d| d.as_str()),
        "started_at": call.fields.started_at.map(rfc3339),
        "duration_s": cx.duration_ms as f64 / 1000.0,
        "billable": !call.is_test,
        "sentiment_agent": round3(a.sentiment.agent.overall),
        "sentiment_customer": round3(a.sentiment.customer.overall),
        "sentiment_customer_trend": round3(a.sentiment.customer.trend),
        "talk_s_agent": round3(Some(talk.talk_s_agent)),
        "talk_s_customer": round3(Some(talk.talk_s_customer)),
        "non_talk_s": round3(Some(talk.non_talk_s)),
        "interruptions": talk.interruptions.len(),
        "agent_talk_ratio": round3(talk.agent_talk_ratio),
        "wpm_agent": round3(talk.wpm_agent),
        "wpm_customer": round3(talk.wpm_customer),
        "qa_score": round3(qa.and_then(|q| q.score)),
        "qa_passed": qa.and_then(|q| q.passed),
        "rubric_version": cx.rubric_version,
        "qa_config_version": cx.qa_config_version,
        "categories": categories.join(";"),
        "summary": a.summary.text,
        "summary_method": a.summary.method,
        "next_steps": a.summary.next_steps.join(" | "),
        "analysed_at": cx.analysed_at,
    });
    let mut qa_lines = String::new();
    for c in qa.map(|q| q.criteria.as_slice()).unwrap_or_default() {
        let mut turns: Vec<usize> = c.evidence.iter().map(|e| e.turn).collect();
        turns.dedup();
        let status = match c.status {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::NotEvaluated => "not_evaluated",
        };
        qa_lines.push_str(
            &json!({
                "call_id": call.id,
                "day": cx.day,
                "agent_id": agent,
                "rubric_version": cx.rubric_version,
                "criterion_id": c.id,
                "criterion": c.name,
                "weight": c.weight,
                "status": status,
                "evidence_turns": turns,
            })
            .to_string(),
        );
        qa_lines.push('\n');
    }
    (line.to_string(), qa_lines)
}

#[derive(Debug, thiserror::Error)]
pub enum FlatError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("object store: {0}")]
    Objects(#[from] object_store::Error),
}

/// Rewrites the tenant's days that changed and have been quiet for
/// `quiet_ms`.
pub async fn flush(state: &AppState, scope: &TenantScope, quiet_ms: i64) -> Result<(), FlatError> {
    let mut tx = state.db.tenant(scope, Mode::Read).await?;
    let due = flat_days::due(&mut tx, now_ms() - quiet_ms).await?;
    tx.commit().await?;
    for (day, seen) in &due {
        let mut tx = state.db.tenant(scope, Mode::Read).await?;
        let rows = analyses::flat_lines_of_day(&mut tx, day).await?;
        tx.commit().await?;
        let (mut calls, mut qa) = (Vec::new(), Vec::new());
        for (call, criteria) in &rows {
            calls.extend_from_slice(call.as_bytes());
            calls.push(b'\n');
            qa.extend_from_slice(criteria.as_bytes());
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
            state.objects.put(&calls_key, calls).await?;
            state.objects.put(&qa_key, qa).await?;
        }
        let mut tx = state.db.tenant(scope, Mode::Write).await?;
        flat_days::clear(&mut tx, day, *seen).await?;
        tx.commit().await?;
    }
    Ok(())
}
