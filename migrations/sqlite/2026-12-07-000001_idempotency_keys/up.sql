-- The POSTs a caller sent with an Idempotency-Key (api::idempotency): a retry with the same
-- key and request gets the first response back instead of applying the change again. The key
-- and the request are kept as hashes; the response is sealed (it may hold a client's file).
-- `token` names the attempt that holds the key; the change's own transaction sets `applied`
-- only while that attempt still holds it, so two attempts can never both apply.
CREATE TABLE idempotency_keys (
    id TEXT PRIMARY KEY NOT NULL,
    principal_id TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    token TEXT NOT NULL,
    applied BOOLEAN NOT NULL DEFAULT 0,
    response_status INTEGER,
    response_headers TEXT,
    response_body TEXT,
    disclosure TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX idempotency_keys_principal_key ON idempotency_keys (principal_id, key_hash);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
