-- A password set by someone else (an administrator's reset, an initial password) must be
-- replaced by its holder before the account can do anything else.
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT FALSE;
-- Access that needs a second administrator's approval (dual control): the roles, clearance
-- or organisation asked for, and who asked, until another administrator approves or rejects
-- it. A new account with such access waits as `pending` with grant_requested_by set.
ALTER TABLE users ADD COLUMN pending_roles TEXT;
ALTER TABLE users ADD COLUMN pending_clearance INTEGER CHECK (pending_clearance BETWEEN 0 AND 2);
ALTER TABLE users ADD COLUMN pending_organisation_id TEXT REFERENCES organisations (id);
ALTER TABLE users ADD COLUMN grant_requested_by TEXT;
ALTER TABLE users ADD COLUMN grant_requested_at TIMESTAMP;

-- Alerts for changes the auditor hears of at once: a password set by someone else, access
-- granted under dual control, and an API client's new secret.
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('denial_burst', 'restricted_client_read', 'lockout', 'password_reset', 'access_granted', 'secret_rotated'));
