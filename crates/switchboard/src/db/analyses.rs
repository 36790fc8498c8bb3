//! The latest analysis of each call: the whole document, and the few
//! figures the daily rollups are made of, as columns.

use sqlx::Row as _;
use switchboard_core::CallId;

use super::{DbResult, TenantTx};

/// One call's analysis as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisRow {
    pub call_id: CallId,
    pub revision: i64,
    pub analyser_version: i64,
    pub ai_config_version: Option<i64>,
    pub qa_config_version: Option<i64>,
    pub rubric_version: Option<String>,
    /// `yyyy-mm-dd` (UTC) of the call's start.
    pub day: String,
    /// `""` for a call without an agent.
    pub agent_id: String,
    /// What the call counts in its rollup.
    pub figures: Figures,
    pub document: String,
    /// The call's line of the day's flat calls file.
    pub flat_call: String,
    /// Its lines of the day's flat QA file, each ending in a newline.
    pub flat_qa: String,
    pub analysed_at: i64,
}

const FIGURES: &str = "day, agent_id, hour, weekday, billable, duration_ms, sentiment_agent, \
    sentiment_customer, qa_score, qa_passed, categories";

/// The rollup-relevant part of an analysis. Scores are integers: `qa_score`
/// in hundredths of a point, sentiments in thousandths.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub hour: i64,
    /// 0 = Monday.
    pub weekday: i64,
    pub billable: bool,
    pub duration_ms: i64,
    pub sentiment_agent: Option<i64>,
    pub sentiment_customer: Option<i64>,
    pub qa_score: Option<i64>,
    pub qa_passed: Option<bool>,
    pub categories: Vec<String>,
}

fn figures(r: &sqlx::any::AnyRow) -> Result<Figures, sqlx::Error> {
    let categories: String = r.try_get("categories")?;
    Ok(Figures {
        hour: r.try_get("hour")?,
        weekday: r.try_get("weekday")?,
        billable: r.try_get::<i64, _>("billable")? != 0,
        duration_ms: r.try_get("duration_ms")?,
        sentiment_agent: r.try_get("sentiment_agent")?,
        sentiment_customer: r.try_get("sentiment_customer")?,
        qa_score: r.try_get("qa_score")?,
        qa_passed: r.try_get::<Option<i64>, _>("qa_passed")?.map(|p| p != 0),
        categories: serde_json::from_str(&categories).map_err(|e| sqlx::Error::ColumnDecode {
            index: "categories".into(),
            source: Box::new(e),
        })?,
    })
}

/// What a stored analysis counts in its rollup: its bucket `(day, agent)`
/// and figures.
pub async fn stored_figures(
    tx: &mut TenantTx,
    call: CallId,
) -> DbResult<Option<(String, String, Figures)>> {
    let row = sqlx::query(&format!(
        "SELECT {FIGURES} FROM call_analyses WHERE tenant_id = $1 AND call_id = $2"
    ))
    .bind(tx.tenant_param())
    .bind(call.to_string())
    .fetch_optional(tx.conn())
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("day")?, r.try_get("agent_id")?, figures(&r)?)),
        None => None,
    })
}

/// Stores the call's analysis, replacing the previous one.
pub async fn upsert(tx: &mut TenantTx, a: &AnalysisRow) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO call_analyses (tenant_id, call_id, revision, analyser_version, ai_config_version, \
            qa_config_version, rubric_version, day, agent_id, hour, weekday, billable, duration_ms, \
            sentiment_agent, sentiment_customer, qa_score, qa_passed, categories, document, flat_call, flat_qa, \
            analysed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
         ON CONFLICT (tenant_id, call_id) DO UPDATE SET revision = excluded.revision, \
            analyser_version = excluded.analyser_version, ai_config_version = excluded.ai_config_version, \
            qa_config_version = excluded.qa_config_version, rubric_version = excluded.rubric_version, \
            day = excluded.day, agent_id = excluded.agent_id, hour = excluded.hour, weekday = excluded.weekday, \
            billable = excluded.billable, duration_ms = excluded.duration_ms, \
            sentiment_agent = excluded.sentiment_agent, sentiment_customer = excluded.sentiment_customer, \
            qa_score = excluded.qa_score, qa_passed = excluded.qa_passed, categories = excluded.categories, \
            document = excluded.document, flat_call = excluded.flat_call, flat_qa = excluded.flat_qa, \
            analysed_at = excluded.analysed_at",
    )
    .bind(tx.tenant_param())
    .bind(a.call_id.to_string())
    .bind(a.revision)
    .bind(a.analyser_version)
    .bind(a.ai_config_version)
    .bind(a.qa_config_version)
    .bind(a.rubric_version.as_deref())
    .bind(&a.day)
    .bind(&a.agent_id)
    .bind(a.figures.hour)
    .bind(a.figures.weekday)
    .bind(i64::from(a.figures.billable))
    .bind(a.figures.duration_ms)
    .bind(a.figures.sentiment_agent)
    .bind(a.figures.sentiment_customer)
    .bind(a.figures.qa_score)
    .bind(a.figures.qa_passed.map(i64::from))
    .bind(serde_json::to_string(&a.figures.categories).expect("serialises"))
    .bind(&a.document)
    .bind(&a.flat_call)
    .bind(&a.flat_qa)
    .bind(a.analysed_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The analysis document of a call.
pub async fn document(tx: &mut TenantTx, call: CallId) -> DbResult<Option<String>> {
    let row =
        sqlx::query("SELECT document FROM call_analyses WHERE tenant_id = $1 AND call_id = $2")
            .bind(tx.tenant_param())
            .bind(call.to_string())
            .fetch_optional(tx.conn())
            .await?;
    Ok(row.map(|r| r.try_get("document")).transpose()?)
}

/// How many calls have an analysis.
pub async fn count(tx: &mut TenantTx) -> DbResult<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM call_analyses WHERE tenant_id = $1")
        .bind(tx.tenant_param())
        .fetch_one(tx.conn())
        .await?;
    Ok(row.try_get("n")?)
}

/// The flat lines of every analysis of one day, by call id: (calls line,
/// QA lines).
pub async fn flat_lines_of_day(tx: &mut TenantTx, day: &str) -> DbResult<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT flat_call, flat_qa FROM call_analyses WHERE tenant_id = $1 AND day = $2 ORDER BY call_id",
    )
    .bind(tx.tenant_param())
    .bind(day)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("flat_call")?, r.try_get("flat_qa")?)))
        .collect()
}
