-- Tokens spent on a tenant's behalf, per UTC day and model: added to in the
-- transaction that stores the analysis that used them, so a committed run
-- counts once and a failed or overtaken one not at all. Kept identical to
-- the PostgreSQL schema.
CREATE TABLE llm_usage_daily (
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    day               TEXT NOT NULL,
    model             TEXT NOT NULL,
    requests          BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, model)
);
