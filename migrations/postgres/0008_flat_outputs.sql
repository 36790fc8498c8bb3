-- Days whose CCI v2.0-flat files (final/v2.0-flat/calls|qa/<day>.jsonl)
-- must be rewritten: marked in the transaction that changes an analysis of
-- that day, cleared by the writer once the files hold that change. Kept
-- identical to the SQLite schema.
CREATE TABLE flat_days (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    day         TEXT NOT NULL,
    dirty_since BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

ALTER TABLE flat_days ENABLE ROW LEVEL SECURITY;
ALTER TABLE flat_days FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON flat_days
    USING (tenant_id = switchboard_setting('app.tenant_id'));
GRANT SELECT, INSERT, UPDATE, DELETE ON flat_days TO switchboard_app;
