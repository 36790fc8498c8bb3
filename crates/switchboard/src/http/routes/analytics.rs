//! `/api/v1/analytics/…`: the dashboard figures, read from the daily
//! rollups (so they count analysed calls). Dates are UTC days.

use std::collections::BTreeMap;

use crate::http::extract::Query;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::AgentId;

use crate::db::rollups::{self, Rollup};
use crate::db::{usage, Mode};
use crate::http::extract::{perm, Authorized};
use crate::http::problem::{ApiResult, Problem};
use crate::http::routes::{day_text, parse_day, Validator};
use crate::http::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct RangeQuery {
    /// First day, `yyyy-mm-dd` (inclusive).
    pub since: Option<String>,
    /// Last day, `yyyy-mm-dd` (inclusive).
    pub until: Option<String>,
    pub agent_id: Option<String>,
}

struct Range {
    since: Option<String>,
    /// Exclusive: the day after `until`.
    until_exclusive: Option<String>,
    agent: Option<String>,
}

fn range(q: RangeQuery) -> Result<Range, Problem> {
    let mut v = Validator::default();
    let since = q.since.and_then(|s| v.check("since", parse_day(&s)));
    let until = q.until.and_then(|s| v.check("until", parse_day(&s)));
    let agent = q.agent_id.and_then(|a| {
        v.check(
            "agent_id",
            a.parse::<AgentId>()
                .map_err(|_| "expected an agent id (agt_…)"),
        )
    });
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            v.check::<(), _>("until", Err("must not be before since"));
        }
    }
    v.finish()?;
    Ok(Range {
        since: since.map(day_text),
        until_exclusive: until.and_then(|u| u.next_day()).map(day_text),
        agent: agent.map(|a| a.to_string()),
    })
}

/// Averages and rates of a rollup, as a dashboard shows them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// Analysed calls.
    pub calls: i64,
    pub billable_calls: i64,
    /// Billable and test minutes, rounded to 0.1.
    pub minutes: f64,
    pub average_duration_s: Option<f64>,
    /// Mean VADER compound (−1 to 1) of the agent's and the customer's turns.
    pub sentiment_agent: Option<f64>,
    pub sentiment_customer: Option<f64>,
    /// Calls with a QA score.
    pub qa_scored: i64,
    /// Mean QA score (0 to 100).
    pub qa_average: Option<f64>,
    /// Share of scored calls that passed (0 to 1).
    pub qa_pass_rate: Option<f64>,
    /// Category id → calls.
    pub categories: BTreeMap<String, i64>,
    /// Calls per hour of day (UTC), 24 entries.
    pub hours: Vec<i64>,
    /// Calls per weekday, Monday first.
    pub weekdays: Vec<i64>,
}

fn ratio(num: i64, den: i64, scale: f64) -> Option<f64> {
    (den > 0).then(|| (num as f64 / den as f64 / scale * 1000.0).round() / 1000.0)
}

impl From<&Rollup> for Figures {
    fn from(r: &Rollup) -> Self {
        Figures {
            calls: r.calls,
            billable_calls: r.billable_calls,
            minutes: (r.duration_ms as f64 / 6_000.0).round() / 10.0,
            average_duration_s: ratio(r.duration_ms, r.calls, 1000.0),
            sentiment_agent: ratio(r.sentiment_agent_sum, r.sentiment_agent_n, 1000.0),
            sentiment_customer: ratio(r.sentiment_customer_sum, r.sentiment_customer_n, 1000.0),
            qa_scored: r.qa_scored,
            qa_average: ratio(r.qa_score_sum, r.qa_scored, 100.0),
            qa_pass_rate: ratio(r.qa_passed, r.qa_scored, 1.0),
            categories: r.categories.clone(),
            hours: r.hours.clone(),
            weekdays: r.weekdays.clone(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Day {
    pub day: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Overview {
    pub total: Figures,
    /// LLM tokens spent in the range, by the day they were spent (a call
    /// re-analysed later counts on the later day).
    #[schema(value_type = Object)]
    pub llm_usage: crate::openai::Usage,
    /// Days with analysed calls, oldest first.
    pub days: Vec<Day>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentFigures {
    /// `null` for calls without an agent.
    pub agent_id: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Agents {
    pub items: Vec<AgentFigures>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct QaDay {
    pub day: String,
    pub qa_scored: i64,
    pub qa_average: Option<f64>,
    pub qa_pass_rate: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct QaOverview {
    pub qa_scored: i64,
    pub qa_average: Option<f64>,
    pub qa_pass_rate: Option<f64>,
    pub categories: BTreeMap<String, i64>,
    pub days: Vec<QaDay>,
}

async fn load(
    state: &AppState,
    auth: &Authorized<perm::AnalyticsViewAll>,
    r: &Range,
) -> ApiResult<Vec<(String, String, Rollup)>> {
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let rows = rollups::list(
        &mut tx,
        r.since.as_deref(),
        r.until_exclusive.as_deref(),
        r.agent.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Sums rollups grouped by `key`, in key order.
fn group(
    rows: &[(String, String, Rollup)],
    key: impl Fn(&(String, String, Rollup)) -> String,
) -> (Rollup, BTreeMap<String, Rollup>) {
    let mut total = Rollup::empty();
    let mut groups: BTreeMap<String, Rollup> = BTreeMap::new();
    for row in rows {
        total.merge(&row.2);
        groups
            .entry(key(row))
            .or_insert_with(Rollup::empty)
            .merge(&row.2);
    }
    (total, groups)
}

/// Calls, minutes, sentiment, QA and categories over a range of days.
#[utoipa::path(get, path = "/api/v1/analytics/overview", tag = "analytics", security(("bearer" = [])), params(RangeQuery),
    responses((status = 200, body = Overview), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn overview(
    State(state): State<AppState>,
    auth: Authorized<perm::AnalyticsViewAll>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<Json<Overview>> {
    let r = range(q)?;
    let rows = load(&state, &auth, &r).await?;
    let (total, days) = group(&rows, |r| r.0.clone());
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Read).await?;
    let llm_usage =
        usage::llm_total(&mut tx, r.since.as_deref(), r.until_exclusive.as_deref()).await?;
    tx.commit().await?;
    Ok(Json(Overview {
        llm_usage,
        total: Figures::from(&total),
        days: days
            .iter()
            .map(|(day, r)| Day {
                day: day.clone(),
                figures: Figures::from(r),
            })
            .collect(),
    }))
}

/// QA scores and pass rates per day, with category counts.
#[utoipa::path(get, path = "/api/v1/analytics/qa", tag = "analytics", security(("bearer" = [])), params(RangeQuery),
    responses((status = 200, body = QaOverview), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn qa(
    State(state): State<AppState>,
    auth: Authorized<perm::AnalyticsViewAll>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<Json<QaOverview>> {
    let rows = load(&state, &auth, &range(q)?).await?;
    let (total, days) = group(&rows, |r| r.0.clone());
    let t = Figures::from(&total);
    Ok(Json(QaOverview {
        qa_scored: t.qa_scored,
        qa_average: t.qa_average,
        qa_pass_rate: t.qa_pass_rate,
        categories: t.categories,
        days: days
            .iter()
            .map(|(day, r)| {
                let f = Figures::from(r);
                QaDay {
                    day: day.clone(),
                    qa_scored: f.qa_scored,
                    qa_average: f.qa_average,
                    qa_pass_rate: f.qa_pass_rate,
                }
            })
            .collect(),
    }))
}

/// The same figures per agent.
#[utoipa::path(get, path = "/api/v1/analytics/agents", tag = "analytics", security(("bearer" = [])), params(RangeQuery),
    responses((status = 200, body = Agents), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn agents(
    State(state): State<AppState>,
    auth: Authorized<perm::AnalyticsViewAll>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<Json<Agents>> {
    let rows = load(&state, &auth, &range(q)?).await?;
    let (_, by_agent) = group(&rows, |r| r.1.clone());
    Ok(Json(Agents {
        items: by_agent
            .iter()
            .map(|(agent, r)| AgentFigures {
                agent_id: Some(agent.clone()).filter(|a| !a.is_empty()),
                figures: Figures::from(r),
            })
            .collect(),
    }))
}
