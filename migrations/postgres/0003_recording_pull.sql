-- Recording-provider pull: one row per tenant that has connected a
-- call-recording provider. The lease makes a run exclusive across nodes;
-- the high-water mark is the start time (Unix ms) of the newest recording
-- taken, so a failed run resumes where it stopped.

CREATE TABLE recording_pull (
    tenant_id       TEXT PRIMARY KEY REFERENCES tenants(id),
    high_water_mark BIGINT,
    lease_until     BIGINT,
    next_run_at     BIGINT NOT NULL,
    last_run_at     BIGINT,
    last_status     TEXT,
    last_error      TEXT,
    last_listed     BIGINT NOT NULL DEFAULT 0,
    last_created    BIGINT NOT NULL DEFAULT 0,
    total_created   BIGINT NOT NULL DEFAULT 0
);

ALTER TABLE recording_pull ENABLE ROW LEVEL SECURITY;
ALTER TABLE recording_pull FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON recording_pull
    USING (tenant_id = switchboard_setting('app.tenant_id'));
GRANT SELECT, INSERT, UPDATE, DELETE ON recording_pull TO switchboard_app;
