-- A username is unique among active accounts (a login must find one account), not across
-- every account: a CSP manager's request for a username another organisation holds is
-- accepted as `pending` like any other, and the department resolves the clash when it
-- approves (api::users, docs/security/names.md). The service refuses a username held by
-- any account the caller can see.
ALTER TABLE users DROP CONSTRAINT users_username_key;
CREATE UNIQUE INDEX users_active_username ON users (username) WHERE status = 'active';
CREATE INDEX users_username ON users (username);
-- A lookup within one organisation reads that organisation's entries only.
DROP INDEX users_organisation;
CREATE INDEX users_organisation_username ON users (organisation_id, username);
