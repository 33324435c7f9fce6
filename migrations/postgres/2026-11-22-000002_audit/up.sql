-- The audit trail. Each service instance writes its own hash chain (chain_id); within a
-- chain, `sequence` counts from 1 and `hash` covers the row's content and the previous
-- row's hash, so an edited, deleted or reordered row breaks the chain at that row.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    chain_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    request_id TEXT NOT NULL,
    actor_user_id TEXT,
    actor_organisation_id TEXT,
    actor_roles TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    resource_type TEXT,
    resource_id TEXT,
    client_ids TEXT NOT NULL,
    fields TEXT NOT NULL,
    purpose_of_use TEXT,
    attempted_username TEXT,
    ip TEXT,
    user_agent TEXT,
    duration_ms BIGINT NOT NULL,
    previous_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (chain_id, sequence)
);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id, occurred_at);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at);
CREATE INDEX audit_events_request ON audit_events (request_id);

-- One row per client an event disclosed, so that a client's access log is an index range.
CREATE TABLE audit_event_clients (
    client_id TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    event_id TEXT NOT NULL REFERENCES audit_events (id),
    PRIMARY KEY (client_id, occurred_at, event_id)
);
