//! Daily rollups per tenant, day and agent, for the dashboards. Every change
//! to `call_analyses` — a new analysis, a re-analysis replacing one, a
//! deletion — takes the old figures out of their bucket and puts the new
//! ones in, in the same transaction: one row read and written per change,
//! and exact, since nothing else writes either table (a test recomputes the
//! figures from the calls' own analyses and compares).

use std::collections::BTreeMap;

use sqlx::Row as _;

use super::analyses::Figures;
use super::{now_ms, DbResult, TenantTx};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollup {
    pub calls: i64,
    pub billable_calls: i64,
    pub duration_ms: i64,
    pub sentiment_agent_sum: i64,
    pub sentiment_agent_n: i64,
    pub sentiment_customer_sum: i64,
    pub sentiment_customer_n: i64,
    pub qa_scored: i64,
    pub qa_score_sum: i64,
    pub qa_passed: i64,
    /// Category id → calls tagged with it.
    pub categories: BTreeMap<String, i64>,
    /// Calls per hour of day (UTC), 24 entries.
    pub hours: Vec<i64>,
    /// Calls per weekday, Monday first, 7 entries.
    pub weekdays: Vec<i64>,
}

impl Rollup {
    pub fn empty() -> Self {
        Rollup {
            hours: vec![0; 24],
            weekdays: vec![0; 7],
            ..Rollup::default()
        }
    }

    /// Counts one call's figures in (`sign` 1) or takes them out (−1).
    pub fn count(&mut self, f: &Figures, sign: i64) {
        self.calls += sign;
        self.billable_calls += sign * i64::from(f.billable);
        self.duration_ms += sign * f.duration_ms;
        if let Some(s) = f.sentiment_agent {
            self.sentiment_agent_sum += sign * s;
            self.sentiment_agent_n += sign;
        }
        if let Some(s) = f.sentiment_customer {
            self.sentiment_customer_sum += sign * s;
            self.sentiment_customer_n += sign;
        }
        if let Some(q) = f.qa_score {
            self.qa_scored += sign;
            self.qa_score_sum += sign * q;
            self.qa_passed += sign * i64::from(f.qa_passed == Some(true));
        }
        for c in &f.categories {
            let n = self.categories.entry(c.clone()).or_default();
            *n += sign;
            if *n == 0 {
                self.categories.remove(c);
            }
        }
        if let Some(h) = self.hours.get_mut(f.hour as usize) {
            *h += sign;
        }
        if let Some(w) = self.weekdays.get_mut(f.weekday as usize) {
            *w += sign;
        }
    }

    /// One call's figures counted in (`sign` 1) or out (−1) of nothing: a
    /// change to add to a bucket.
    pub fn counted(f: &Figures, sign: i64) -> Self {
        let mut delta = Rollup::empty();
        delta.count(f, sign);
        delta
    }

    /// Sums another rollup, or a change to one, into this one.
    pub fn merge(&mut self, other: &Rollup) {
        self.calls += other.calls;
        self.billable_calls += other.billable_calls;
        self.duration_ms += other.duration_ms;
        self.sentiment_agent_sum += other.sentiment_agent_sum;
        self.sentiment_agent_n += other.sentiment_agent_n;
        self.sentiment_customer_sum += other.sentiment_customer_sum;
        self.sentiment_customer_n += other.sentiment_customer_n;
        self.qa_scored += other.qa_scored;
        self.qa_score_sum += other.qa_score_sum;
        self.qa_passed += other.qa_passed;
        for (k, v) in &other.categories {
            let n = self.categories.entry(k.clone()).or_default();
            *n += v;
            if *n == 0 {
                self.categories.remove(k);
            }
        }
        for (a, b) in self.hours.iter_mut().zip(&other.hours) {
            *a += b;
        }
        for (a, b) in self.weekdays.iter_mut().zip(&other.weekdays) {
            *a += b;
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    r: &sqlx::any::AnyRow,
    col: &str,
) -> Result<T, sqlx::Error> {
    let text: String = r.try_get(col)?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::ColumnDecode {
        index: col.into(),
        source: Box::new(e),
    })
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Rollup, sqlx::Error> {
    Ok(Rollup {
        calls: r.try_get("calls")?,
        billable_calls: r.try_get("billable_calls")?,
        duration_ms: r.try_get("duration_ms")?,
        sentiment_agent_sum: r.try_get("sentiment_agent_sum")?,
        sentiment_agent_n: r.try_get("sentiment_agent_n")?,
        sentiment_customer_sum: r.try_get("sentiment_customer_sum")?,
        sentiment_customer_n: r.try_get("sentiment_customer_n")?,
        qa_scored: r.try_get("qa_scored")?,
        qa_score_sum: r.try_get("qa_score_sum")?,
        qa_passed: r.try_get("qa_passed")?,
        categories: decode(r, "categories")?,
        hours: decode(r, "hours")?,
        weekdays: decode(r, "weekdays")?,
    })
}

/// Adds `delta` (figures counted in and out, see [`Rollup::count`]) to the
/// bucket `(day, agent)`; a bucket left without calls is deleted. A batch
/// of analyses sums its changes per bucket first, so a bucket is read and
/// written once per batch rather than once per call.
pub async fn add(tx: &mut TenantTx, day: &str, agent: &str, delta: &Rollup) -> DbResult<()> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM daily_rollups WHERE tenant_id = $1 AND day = $2 AND agent_id = $3"
    ))
    .bind(tx.tenant_param())
    .bind(day)
    .bind(agent)
    .fetch_optional(tx.conn())
    .await?;
    let mut rollup = match row {
        Some(r) => from_row(&r)?,
        None => Rollup::empty(),
    };
    rollup.merge(delta);
    if rollup.calls <= 0 {
        sqlx::query(
            "DELETE FROM daily_rollups WHERE tenant_id = $1 AND day = $2 AND agent_id = $3",
        )
        .bind(tx.tenant_param())
        .bind(day)
        .bind(agent)
        .execute(tx.conn())
        .await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO daily_rollups (tenant_id, day, agent_id, calls, billable_calls, duration_ms, \
            sentiment_agent_sum, sentiment_agent_n, sentiment_customer_sum, sentiment_customer_n, \
            qa_scored, qa_score_sum, qa_passed, categories, hours, weekdays, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (tenant_id, day, agent_id) DO UPDATE SET calls = excluded.calls, \
            billable_calls = excluded.billable_calls, duration_ms = excluded.duration_ms, \
            sentiment_agent_sum = excluded.sentiment_agent_sum, sentiment_agent_n = excluded.sentiment_agent_n, \
            sentiment_customer_sum = excluded.sentiment_customer_sum, \
            sentiment_customer_n = excluded.sentiment_customer_n, qa_scored = excluded.qa_scored, \
            qa_score_sum = excluded.qa_score_sum, qa_passed = excluded.qa_passed, \
            categories = excluded.categories, hours = excluded.hours, weekdays = excluded.weekdays, \
            updated_at = excluded.updated_at",
    )
    .bind(tx.tenant_param())
    .bind(day)
    .bind(agent)
    .bind(rollup.calls)
    .bind(rollup.billable_calls)
    .bind(rollup.duration_ms)
    .bind(rollup.sentiment_agent_sum)
    .bind(rollup.sentiment_agent_n)
    .bind(rollup.sentiment_customer_sum)
    .bind(rollup.sentiment_customer_n)
    .bind(rollup.qa_scored)
    .bind(rollup.qa_score_sum)
    .bind(rollup.qa_passed)
    .bind(json(&rollup.categories))
    .bind(json(&rollup.hours))
    .bind(json(&rollup.weekdays))
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    Ok(())
}

const COLUMNS: &str =
    "calls, billable_calls, duration_ms, sentiment_agent_sum, sentiment_agent_n, \
    sentiment_customer_sum, sentiment_customer_n, qa_scored, qa_score_sum, qa_passed, categories, \
    hours, weekdays";

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("serialises")
}

/// Stored rollups with `since <= day < until` (either bound optional),
/// optionally of one agent, by day then agent.
pub async fn list(
    tx: &mut TenantTx,
    since: Option<&str>,
    until: Option<&str>,
    agent: Option<&str>,
) -> DbResult<Vec<(String, String, Rollup)>> {
    let rows = sqlx::query(&format!(
        "SELECT day, agent_id, {COLUMNS} \
         FROM daily_rollups WHERE tenant_id = $1 AND ($2 IS NULL OR day >= $2) \
            AND ($3 IS NULL OR day < $3) AND ($4 IS NULL OR agent_id = $4) \
         ORDER BY day, agent_id"
    ))
    .bind(tx.tenant_param())
    .bind(since)
    .bind(until)
    .bind(agent)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("day")?, r.try_get("agent_id")?, from_row(r)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(hour: i64, score: Option<i64>, categories: &[&str]) -> Figures {
        Figures {
            hour,
            weekday: 2,
            billable: true,
            duration_ms: 90_000 + hour,
            sentiment_agent: Some(400),
            sentiment_customer: Some(-120 + hour),
            qa_score: score,
            qa_passed: score.map(|s| s >= 7000),
            categories: categories.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// A batch sums its changes per bucket before writing it: the bucket
    /// must end where counting the changes one by one would have left it.
    #[test]
    fn a_summed_change_equals_the_changes_one_by_one() {
        let (a, b, a_again) = (
            call(9, Some(8000), &["billing"]),
            call(14, None, &["billing", "complaint"]),
            call(9, Some(6000), &["complaint"]),
        );
        let mut stored = Rollup::empty();
        stored.count(&a, 1);

        let mut one_by_one = stored.clone();
        one_by_one.count(&b, 1);
        one_by_one.count(&a, -1);
        one_by_one.count(&a_again, 1);

        let mut change = Rollup::counted(&b, 1);
        change.merge(&Rollup::counted(&a, -1));
        change.merge(&Rollup::counted(&a_again, 1));
        let mut summed = stored;
        summed.merge(&change);

        assert_eq!(summed, one_by_one);
        assert_eq!(summed.calls, 2);
        assert_eq!(summed.qa_scored, 1);
        assert_eq!(summed.hours[9], 1);
        assert_eq!(summed.categories.get("complaint"), Some(&2));
        assert_eq!(summed.categories.get("billing"), Some(&1));
    }

    #[test]
    fn a_category_counted_out_to_zero_disappears() {
        let f = call(3, Some(9000), &["cancellation"]);
        let mut bucket = Rollup::counted(&f, 1);
        bucket.merge(&Rollup::counted(&f, -1));
        assert_eq!(bucket, Rollup::empty());
    }
}
