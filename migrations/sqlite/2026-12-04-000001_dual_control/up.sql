-- A password set by someone else (an administrator's reset, an initial password) must be
-- replaced by its holder before the account can do anything else.
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT 0;
-- Access that needs a second administrator's approval (dual control): the roles, clearance
-- or organisation asked for, and who asked, until another administrator approves or rejects
-- it. A new account with such access waits as `pending` with grant_requested_by set.
ALTER TABLE users ADD COLUMN pending_roles TEXT;
ALTER TABLE users ADD COLUMN pending_clearance INTEGER CHECK (pending_clearance BETWEEN 0 AND 2);
ALTER TABLE users ADD COLUMN pending_organisation_id TEXT REFERENCES organisations (id);
ALTER TABLE users ADD COLUMN grant_requested_by TEXT;
ALTER TABLE users ADD COLUMN grant_requested_at TIMESTAMP;

-- Alerts for changes the auditor hears of at once: a password set by someone else, access
-- granted under dual control, and an API client's new secret. SQLite cannot alter a CHECK constraint: the table is rebuilt.
CREATE TABLE alerts_new (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('denial_burst', 'restricted_client_read', 'lockout', 'password_reset', 'access_granted', 'secret_rotated')),
    actor_user_id TEXT,
    -- The user id, or for an unidentified caller the username tried or the address.
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    -- The audit event that raised it (stored in the same transaction).
    event_id TEXT NOT NULL REFERENCES audit_events (id),
    raised_at TIMESTAMP NOT NULL,
    acknowledged_at TIMESTAMP,
    acknowledged_by TEXT REFERENCES users (id),
    acknowledgement_note TEXT,
    delivery TEXT NOT NULL CHECK (delivery IN ('none', 'pending', 'delivered', 'failed')),
    delivery_attempts INTEGER NOT NULL,
    next_delivery_at TIMESTAMP,
    delivered_at TIMESTAMP,
    version INTEGER NOT NULL
);
INSERT INTO alerts_new SELECT * FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE INDEX alerts_delivery ON alerts (delivery, next_delivery_at);
CREATE INDEX alerts_open ON alerts (acknowledged_at, id);
