-- Issue 20, part 1: CSPs give the collection notice too. Each notice given names the
-- organisation whose person recorded it giving it (the department's division or the CSP), so
-- the department can see which CSP gave which notice. Rows recorded before are the recorder's
-- organisation. SQLite cannot add a NOT NULL column with a reference, so the table is rebuilt
-- (nothing references it).
CREATE TABLE notices_given_new (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    notice_id TEXT NOT NULL REFERENCES collection_notices (id),
    given_on DATE NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('verbal', 'written', 'electronic')),
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL,
    given_by_organisation_id TEXT NOT NULL REFERENCES organisations (id)
);
INSERT INTO notices_given_new
    SELECT notices_given.id, client_id, notice_id, given_on, method, recorded_by, recorded_at,
           users.organisation_id
    FROM notices_given JOIN users ON users.id = notices_given.recorded_by;
DROP TABLE notices_given;
ALTER TABLE notices_given_new RENAME TO notices_given;
CREATE INDEX notices_given_client ON notices_given (client_id, recorded_at);
CREATE INDEX notices_given_notice ON notices_given (notice_id, client_id);
