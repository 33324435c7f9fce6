DROP INDEX users_organisation_username;
CREATE INDEX users_organisation ON users (organisation_id);
DROP INDEX users_username;
DROP INDEX users_active_username;
ALTER TABLE users ADD CONSTRAINT users_username_key UNIQUE (username);
