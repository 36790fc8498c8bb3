-- Tokens spent on a tenant's behalf, per UTC day and model: added to in the
-- transaction that stores the analysis that used them, so a committed run
-- counts once and a failed or overtaken one not at all. Kept identical to
-- the SQLite schema.
CREATE TABLE llm_usage_daily (
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    day               TEXT NOT NULL,
    model             TEXT NOT NULL,
    requests          BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, model)
);

ALTER TABLE llm_usage_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_usage_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llm_usage_daily
    USING (tenant_id = switchboard_setting('app.tenant_id'));
GRANT SELECT, INSERT, UPDATE, DELETE ON llm_usage_daily TO switchboard_app;
