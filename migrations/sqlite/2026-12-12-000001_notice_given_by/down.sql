CREATE TABLE notices_given_old (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    notice_id TEXT NOT NULL REFERENCES collection_notices (id),
    given_on DATE NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('verbal', 'written', 'electronic')),
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL
);
INSERT INTO notices_given_old
    SELECT id, client_id, notice_id, given_on, method, recorded_by, recorded_at
    FROM notices_given;
DROP TABLE notices_given;
ALTER TABLE notices_given_old RENAME TO notices_given;
CREATE INDEX notices_given_client ON notices_given (client_id, recorded_at);
CREATE INDEX notices_given_notice ON notices_given (notice_id, client_id);
