-- A username is unique among active accounts (a login must find one account), not across
-- every account: a CSP manager's request for a username another organisation holds is
-- accepted as `pending` like any other, and the department resolves the clash when it
-- approves (api::users, docs/security/names.md). The service refuses a username held by
-- any account the caller can see.
-- SQLite cannot drop a column's UNIQUE: the table is rebuilt, with foreign keys off (the
-- tables that refer to users keep their rows), in a transaction of its own (metadata.toml).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE users_new (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    roles TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'deactivated')),
    clearance INTEGER NOT NULL CHECK (clearance BETWEEN 0 AND 2),
    password_hash TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'api_client')),
    status_reason TEXT,
    activated_at TIMESTAMP,
    training_completed_on DATE,
    security_check_completed_on DATE,
    security_check_reference TEXT,
    acceptable_use_accepted_on DATE,
    approved_at TIMESTAMP,
    approved_by TEXT REFERENCES users (id),
    totp_secret TEXT,
    totp_confirmed_at TIMESTAMP,
    totp_last_step BIGINT,
    mfa_exempt BOOLEAN NOT NULL DEFAULT 0,
    password_change_required BOOLEAN NOT NULL DEFAULT 0,
    pending_roles TEXT,
    pending_clearance INTEGER CHECK (pending_clearance BETWEEN 0 AND 2),
    pending_organisation_id TEXT REFERENCES organisations (id),
    grant_requested_by TEXT,
    grant_requested_at TIMESTAMP
);
-- Fails loudly if a later migration added a column this list does not have.
INSERT INTO users_new SELECT * FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_kind ON users (kind, organisation_id);
CREATE UNIQUE INDEX users_active_username ON users (username) WHERE status = 'active';
CREATE INDEX users_username ON users (username);
-- A lookup within one organisation reads that organisation's entries only.
CREATE INDEX users_organisation_username ON users (organisation_id, username);
COMMIT;
PRAGMA foreign_keys = ON;
