-- Insight: tenant configuration versions, the durable analysis pipeline,
-- analyses, and the daily rollups dashboards read. Kept column-for-column
-- identical to the PostgreSQL schema. Scores are integers: QA scores in
-- hundredths of a point (0 to 10000), sentiment in thousandths (-1000 to 1000).

-- Every accepted ai-config.json / qa-config.json, never changed once
-- written; the active one is the highest version of its kind.
CREATE TABLE tenant_configs (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    kind       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    document   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT,
    PRIMARY KEY (tenant_id, kind, version)
);

-- One job per call. `revision` grows with every enqueue, so a run that was
-- overtaken by new events of its call cannot finish over the newer one.
CREATE TABLE pipeline_jobs (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    call_id     TEXT NOT NULL,
    status      TEXT NOT NULL,
    stage       TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    attempts    BIGINT NOT NULL,
    run_at      BIGINT NOT NULL,
    lease_until BIGINT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, call_id)
);
CREATE INDEX pipeline_jobs_due ON pipeline_jobs(tenant_id, status, run_at);

-- The latest analysis of each call, with the figures rollups are made of.
CREATE TABLE call_analyses (
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    call_id            TEXT NOT NULL,
    revision           BIGINT NOT NULL,
    analyser_version   BIGINT NOT NULL,
    ai_config_version  BIGINT,
    qa_config_version  BIGINT,
    rubric_version     TEXT,
    day                TEXT NOT NULL,
    agent_id           TEXT NOT NULL,
    hour               BIGINT NOT NULL,
    weekday            BIGINT NOT NULL,
    billable           BIGINT NOT NULL,
    duration_ms        BIGINT NOT NULL,
    sentiment_agent    BIGINT,
    sentiment_customer BIGINT,
    qa_score           BIGINT,
    qa_passed          BIGINT,
    categories         TEXT NOT NULL,
    document           TEXT NOT NULL,
    -- The call's lines of the CCI v2.0-flat files, made with the analysis
    -- so a day's files are rewritten without reading documents back.
    flat_call          TEXT NOT NULL,
    flat_qa            TEXT NOT NULL,
    analysed_at        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, call_id)
);
CREATE INDEX call_analyses_by_day ON call_analyses(tenant_id, day, agent_id);

-- Per tenant, day and agent ('' for calls without one): recomputed from
-- call_analyses for the one bucket a change touches.
CREATE TABLE daily_rollups (
    tenant_id              TEXT NOT NULL REFERENCES tenants(id),
    day                    TEXT NOT NULL,
    agent_id               TEXT NOT NULL,
    calls                  BIGINT NOT NULL,
    billable_calls         BIGINT NOT NULL,
    duration_ms            BIGINT NOT NULL,
    sentiment_agent_sum    BIGINT NOT NULL,
    sentiment_agent_n      BIGINT NOT NULL,
    sentiment_customer_sum BIGINT NOT NULL,
    sentiment_customer_n   BIGINT NOT NULL,
    qa_scored              BIGINT NOT NULL,
    qa_score_sum           BIGINT NOT NULL,
    qa_passed              BIGINT NOT NULL,
    categories             TEXT NOT NULL,
    hours                  TEXT NOT NULL,
    weekdays               TEXT NOT NULL,
    updated_at             BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, agent_id)
);
