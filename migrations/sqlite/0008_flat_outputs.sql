-- Days whose CCI v2.0-flat files (final/v2.0-flat/calls|qa/<day>.jsonl)
-- must be rewritten: marked in the transaction that changes an analysis of
-- that day, cleared by the writer once the files hold that change. Kept
-- identical to the PostgreSQL schema.
CREATE TABLE flat_days (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    day         TEXT NOT NULL,
    dirty_since BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day)
);
