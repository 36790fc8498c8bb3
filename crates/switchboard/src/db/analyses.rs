//! The latest analysis of each call: the whole document, and the few
//! figures the daily rollups are made of, as columns.

use sqlx::Row as _;
use switchboard_core::CallId;

use super::{DbResult, TenantTx};

/// One call's analysis as stored. Scores are integers: `qa_score` in
/// hundredths of a point, sentiments in thousandths.
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
    pub hour: i64,
    /// 0 = Monday.
    pub weekday: i64,
    pub billable: bool,
    pub duration_ms: i64,
    pub sentiment_agent: Option<i64>,
    pub sentiment_customer: Option<i64>,
    pub qa_score: Option<i64>,
    pub qa_passed: Option<bool>,
    /// Ids of the categories the call was tagged with.
    pub categories: Vec<String>,
    pub document: String,
    pub analysed_at: i64,
}

impl AnalysisRow {
    pub fn figures(&self) -> Figures {
        Figures {
            hour: self.hour,
            weekday: self.weekday,
            billable: self.billable,
            duration_ms: self.duration_ms,
            sentiment_agent: self.sentiment_agent,
            sentiment_customer: self.sentiment_customer,
            qa_score: self.qa_score,
            qa_passed: self.qa_passed,
            categories: self.categories.clone(),
        }
    }
}

const FIGURES: &str =
    "call_id, day, agent_id, hour, weekday, billable, duration_ms, sentiment_agent, \
    sentiment_customer, qa_score, qa_passed, categories";

/// The rollup-relevant part of an analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub hour: i64,
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
            sentiment_agent, sentiment_customer, qa_score, qa_passed, categories, document, analysed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
         ON CONFLICT (tenant_id, call_id) DO UPDATE SET revision = excluded.revision, \
            analyser_version = excluded.analyser_version, ai_config_version = excluded.ai_config_version, \
            qa_config_version = excluded.qa_config_version, rubric_version = excluded.rubric_version, \
            day = excluded.day, agent_id = excluded.agent_id, hour = excluded.hour, weekday = excluded.weekday, \
            billable = excluded.billable, duration_ms = excluded.duration_ms, \
            sentiment_agent = excluded.sentiment_agent, sentiment_customer = excluded.sentiment_customer, \
            qa_score = excluded.qa_score, qa_passed = excluded.qa_passed, categories = excluded.categories, \
            document = excluded.document, analysed_at = excluded.analysed_at",
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
    .bind(a.hour)
    .bind(a.weekday)
    .bind(i64::from(a.billable))
    .bind(a.duration_ms)
    .bind(a.sentiment_agent)
    .bind(a.sentiment_customer)
    .bind(a.qa_score)
    .bind(a.qa_passed.map(i64::from))
    .bind(serde_json::to_string(&a.categories).expect("serialises"))
    .bind(&a.document)
    .bind(a.analysed_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The analysis document of a call, with when it was made.
pub async fn document(tx: &mut TenantTx, call: CallId) -> DbResult<Option<(String, i64)>> {
    let row = sqlx::query(
        "SELECT document, analysed_at FROM call_analyses WHERE tenant_id = $1 AND call_id = $2",
    )
    .bind(tx.tenant_param())
    .bind(call.to_string())
    .fetch_optional(tx.conn())
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("document")?, r.try_get("analysed_at")?)),
        None => None,
    })
}

pub async fn delete(tx: &mut TenantTx, call: CallId) -> DbResult<()> {
    sqlx::query("DELETE FROM call_analyses WHERE tenant_id = $1 AND call_id = $2")
        .bind(tx.tenant_param())
        .bind(call.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// How many calls have an analysis.
pub async fn count(tx: &mut TenantTx) -> DbResult<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM call_analyses WHERE tenant_id = $1")
        .bind(tx.tenant_param())
        .fetch_one(tx.conn())
        .await?;
    Ok(row.try_get("n")?)
}

/// What a flat output row says about the call besides its analysis.
pub struct DayRow {
    pub call_id: CallId,
    pub external_id: String,
    pub source: String,
    pub agent_id: String,
    pub direction: Option<String>,
    pub started_at: Option<i64>,
    pub duration_ms: i64,
    pub billable: bool,
    pub document: String,
}

/// Every analysis of one day with its call's identity, by call id.
pub async fn day_rows(tx: &mut TenantTx, day: &str) -> DbResult<Vec<DayRow>> {
    let rows = sqlx::query(
        "SELECT a.call_id, c.external_id, c.source, a.agent_id, c.direction, c.started_at, a.duration_ms, \
            a.billable, a.document \
         FROM call_analyses a JOIN calls c ON c.tenant_id = a.tenant_id AND c.id = a.call_id \
         WHERE a.tenant_id = $1 AND a.day = $2 ORDER BY a.call_id",
    )
    .bind(tx.tenant_param())
    .bind(day)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DayRow {
                call_id: super::parse_col(&r.try_get::<String, _>("call_id")?, "call_id")?,
                external_id: r.try_get("external_id")?,
                source: r.try_get("source")?,
                agent_id: r.try_get("agent_id")?,
                direction: r.try_get("direction")?,
                started_at: r.try_get("started_at")?,
                duration_ms: r.try_get("duration_ms")?,
                billable: r.try_get::<i64, _>("billable")? != 0,
                document: r.try_get("document")?,
            })
        })
        .collect()
}
