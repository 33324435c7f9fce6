-- Identity and access management: organisation suspension, onboarding checks, MFA, lockout,
-- API clients (principals in `users` with kind 'api_client') and periodic access reviews.
ALTER TABLE organisations ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'suspended'));

ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person'
    CHECK (kind IN ('person', 'api_client'));
-- Why the status last changed (for example 'dormant', 'access_review', 'csp_reported_departure').
ALTER TABLE users ADD COLUMN status_reason TEXT;
-- When the account last became active: with last_login_at, the start of a dormancy period.
ALTER TABLE users ADD COLUMN activated_at TIMESTAMP;
ALTER TABLE users ADD COLUMN training_completed_on DATE;
ALTER TABLE users ADD COLUMN security_check_completed_on DATE;
ALTER TABLE users ADD COLUMN security_check_reference TEXT;
ALTER TABLE users ADD COLUMN acceptable_use_accepted_on DATE;
ALTER TABLE users ADD COLUMN approved_at TIMESTAMP;
ALTER TABLE users ADD COLUMN approved_by TEXT REFERENCES users (id);
-- TOTP (RFC 6238): the secret, when it was confirmed, and the last time step accepted, so
-- that a code is accepted once.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_confirmed_at TIMESTAMP;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
-- Demo accounts of a demo database only: they log in with the password alone.
ALTER TABLE users ADD COLUMN mfa_exempt BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX users_kind ON users (kind, organisation_id);

ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;

-- The hashed secret of an API client (the principal is its row in users).
CREATE TABLE api_client_secrets (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id),
    secret_hash TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL
);

-- Failed logins per username tried, whether or not the account exists, so that a lockout
-- does not reveal which usernames are real.
CREATE TABLE login_throttle (
    username TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);

CREATE TABLE access_reviews (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    due_on DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    opened_by TEXT NOT NULL REFERENCES users (id),
    opened_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    -- Null when the review closed itself after its due date.
    closed_by TEXT REFERENCES users (id),
    version INTEGER NOT NULL
);
CREATE INDEX access_reviews_organisation ON access_reviews (organisation_id, status);

CREATE TABLE access_review_items (
    id TEXT PRIMARY KEY NOT NULL,
    review_id TEXT NOT NULL REFERENCES access_reviews (id),
    subject_id TEXT NOT NULL REFERENCES users (id),
    decision TEXT CHECK (decision IN ('keep', 'revoke')),
    comment TEXT,
    decided_by TEXT REFERENCES users (id),
    decided_at TIMESTAMP,
    -- Set when a dept_admin made or confirmed the decision; a csp_manager only proposes.
    confirmed_by TEXT REFERENCES users (id),
    confirmed_at TIMESTAMP,
    -- What closing the review did: 'kept', 'revoked' or 'suspended_without_decision'.
    outcome TEXT,
    UNIQUE (review_id, subject_id)
);
CREATE INDEX access_review_items_subject ON access_review_items (subject_id);
