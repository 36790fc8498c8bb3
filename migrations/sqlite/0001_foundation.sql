-- Foundation schema (SQLite). Times are Unix milliseconds; ids are prefixed
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
