-- The clients a kept idempotent response names, so that disposing of a client's file also
-- deletes the copies of it kept for retries (db::retention), by index.
CREATE TABLE idempotency_key_clients (
    client_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    PRIMARY KEY (client_id, key_id)
);
CREATE INDEX idempotency_key_clients_key ON idempotency_key_clients (key_id);
