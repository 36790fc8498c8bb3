-- Foundation schema (PostgreSQL). Times are Unix milliseconds; ids are prefixed
-- ULIDs as TEXT. Kept column-for-column identical to the PostgreSQL schema so
-- that every query has one definition for both backends.

CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    slug            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    plan            TEXT NOT NULL,
    status          TEXT NOT NULL,
    industry        TEXT NOT NULL,
    branding        TEXT NOT NULL,
    external_org_id TEXT UNIQUE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,
    password_hash     TEXT,
    is_platform_admin BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL
);

CREATE TABLE memberships (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships(user_id);

CREATE TABLE api_keys (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    PRIMARY KEY (tenant_id, id)
);

-- tenant_id is NULL for platform-admin sessions, which belong to no tenant.
CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL,
    tenant_id   TEXT REFERENCES tenants(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family_id);

CREATE TABLE audit_log (
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    seq                BIGINT NOT NULL,
    id                 TEXT NOT NULL UNIQUE,
    at                 BIGINT NOT NULL,
    actor_type         TEXT NOT NULL,
    actor_id           TEXT NOT NULL,
    actor_label        TEXT NOT NULL,
    impersonator_id    TEXT,
    impersonator_label TEXT,
    action             TEXT NOT NULL,
    target_type        TEXT NOT NULL,
    target_id          TEXT NOT NULL,
    details            TEXT NOT NULL,
    request_id         TEXT,
    prev_hash          TEXT NOT NULL,
    hash               TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

-- The head of each tenant's chain. Appending updates it first, which
-- serialises appenders of one tenant (a row lock on PostgreSQL) and lets
-- verification notice a deleted tail.
CREATE TABLE audit_heads (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL
);

-- Platform-wide secrets (token signing key, credential pepper, cursor key),
-- sealed with the master key.
CREATE TABLE platform_secrets (
    name       TEXT PRIMARY KEY,
    sealed     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);


-- Row-level security --------------------------------------------------------
-- The application never runs as the owner of these tables: every pooled
-- connection switches to switchboard_app, which has neither ownership nor
-- BYPASSRLS, and RLS is FORCEd so that even the owner is filtered.
-- app.tenant_id is set per transaction with set_config(..., true); unset or
-- empty sees nothing. Two narrow extra keys exist for sign-in, before a tenant
-- is known: app.credential_hash reveals only the row whose keyed hash matches
-- a presented secret, app.user_id reveals a signed-in user's own rows.

CREATE FUNCTION switchboard_setting(name TEXT) RETURNS TEXT
    LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting(name, true), '') $$;

DO $$
BEGIN
    CREATE ROLE switchboard_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
GRANT switchboard_app TO CURRENT_USER;

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
    USING (tenant_id = switchboard_setting('app.tenant_id')
        OR user_id = switchboard_setting('app.user_id'));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = switchboard_setting('app.tenant_id')
        OR key_hash = switchboard_setting('app.credential_hash'));

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens
    USING (tenant_id = switchboard_setting('app.tenant_id')
        OR user_id = switchboard_setting('app.user_id')
        OR token_hash = switchboard_setting('app.credential_hash'));

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = switchboard_setting('app.tenant_id'));

ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_heads
    USING (tenant_id = switchboard_setting('app.tenant_id'));

GRANT USAGE ON SCHEMA public TO switchboard_app;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON tenants, users, memberships, api_keys, refresh_tokens, audit_heads, platform_secrets
    TO switchboard_app;
-- The audit log is append-only for the application.
GRANT SELECT, INSERT ON audit_log TO switchboard_app;
