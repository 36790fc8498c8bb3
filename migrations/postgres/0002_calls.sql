-- Calls in (PostgreSQL): agents with their webhook tokens, sealed provider
-- credentials, calls and the provider events that describe them. Kept
-- column-for-column identical to the PostgreSQL schema.

CREATE TABLE agents (
    tenant_id                 TEXT NOT NULL REFERENCES tenants(id),
    id                        TEXT NOT NULL,
    name                      TEXT NOT NULL,
    provider                  TEXT NOT NULL,
    provider_agent_id         TEXT,
    status                    TEXT NOT NULL,
    error_message             TEXT,
    token_nonce               TEXT NOT NULL,
    token_hash                TEXT NOT NULL UNIQUE,
    webhook_auth              TEXT NOT NULL,
    webhook_secrets           TEXT,
    last_webhook_received_at  BIGINT,
    signature_failures        BIGINT NOT NULL DEFAULT 0,
    last_signature_failure_at BIGINT,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE provider_credentials (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    provider   TEXT NOT NULL,
    sealed     TEXT NOT NULL,
    hint       TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, provider)
);

CREATE TABLE calls (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    id              TEXT NOT NULL,
    source          TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    agent_id        TEXT,
    stage           TEXT NOT NULL,
    direction       TEXT,
    from_number     TEXT,
    to_number       TEXT,
    started_at      BIGINT,
    ended_at        BIGINT,
    duration_ms     BIGINT,
    is_test         BIGINT NOT NULL,
    details         TEXT NOT NULL,
    transcript_text TEXT NOT NULL,
    audio_key       TEXT,
    audio_status    TEXT NOT NULL,
    audio_error     TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, source, external_id)
);
CREATE INDEX calls_by_agent ON calls(tenant_id, agent_id, id);

CREATE TABLE call_events (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    call_id     TEXT NOT NULL,
    event_key   TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    update_json TEXT NOT NULL,
    raw         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, call_id, event_key)
);

-- Row-level security, as for every tenant table (see 0001). Agents are also
-- visible by the keyed hash of a presented webhook token, so an incoming
-- webhook can find its agent before the tenant is known.
ALTER TABLE agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agents
    USING (tenant_id = switchboard_setting('app.tenant_id')
        OR token_hash = switchboard_setting('app.credential_hash'));

ALTER TABLE provider_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE provider_credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON provider_credentials
    USING (tenant_id = switchboard_setting('app.tenant_id'));

ALTER TABLE calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE calls FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calls
    USING (tenant_id = switchboard_setting('app.tenant_id'));

ALTER TABLE call_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON call_events
    USING (tenant_id = switchboard_setting('app.tenant_id'));

GRANT SELECT, INSERT, UPDATE, DELETE ON agents, provider_credentials, calls, call_events
    TO switchboard_app;
