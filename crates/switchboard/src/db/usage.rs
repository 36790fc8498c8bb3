//! LLM tokens spent per tenant, day and model.

use sqlx::Row as _;

use super::{DbResult, TenantTx};
use crate::openai::Usage;

pub async fn add_llm(tx: &mut TenantTx, day: &str, model: &str, u: Usage) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO llm_usage_daily (tenant_id, day, model, requests, prompt_tokens, completion_tokens) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (tenant_id, day, model) DO UPDATE SET \
            requests = llm_usage_daily.requests + excluded.requests, \
            prompt_tokens = llm_usage_daily.prompt_tokens + excluded.prompt_tokens, \
            completion_tokens = llm_usage_daily.completion_tokens + excluded.completion_tokens",
    )
    .bind(tx.tenant_param())
    .bind(day)
    .bind(model)
    .bind(u.requests)
    .bind(u.prompt_tokens)
    .bind(u.completion_tokens)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The sum over `since <= day < until` (either bound optional).
pub async fn llm_total(
    tx: &mut TenantTx,
    since: Option<&str>,
    until: Option<&str>,
) -> DbResult<Usage> {
    let row = sqlx::query(
        // PostgreSQL sums BIGINTs as NUMERIC: cast back.
        "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) AS requests, \
            CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS prompt_tokens, \
            CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS completion_tokens \
         FROM llm_usage_daily WHERE tenant_id = $1 AND ($2 IS NULL OR day >= $2) AND ($3 IS NULL OR day < $3)",
    )
    .bind(tx.tenant_param())
    .bind(since)
    .bind(until)
    .fetch_one(tx.conn())
    .await?;
    Ok(Usage {
        requests: row.try_get("requests")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
    })
}
