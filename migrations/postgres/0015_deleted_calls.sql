-- Calls a tenant deleted that senders resending on their own (provider
-- webhooks, the recording pull) would otherwise create again: their events
-- are acknowledged and not stored (decision 0019). Keyed as calls are.
CREATE TABLE deleted_calls (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    source      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    deleted_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, source, external_id)
);

ALTER TABLE deleted_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE deleted_calls FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deleted_calls
    USING (tenant_id = switchboard_setting('app.tenant_id'));
GRANT SELECT, INSERT, UPDATE, DELETE ON deleted_calls TO switchboard_app;
