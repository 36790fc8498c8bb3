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
