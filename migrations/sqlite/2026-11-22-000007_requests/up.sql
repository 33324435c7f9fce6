-- The client's rights (IPP 6 and 7): requests to see their file and to correct it, each due a
-- statutory period after receipt, and the statements a client asked to be kept with a field
-- whose correction was refused (every later reader of that field sees them).
CREATE TABLE access_requests (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    received_on DATE NOT NULL,
    requester TEXT NOT NULL,
    identity_verified BOOLEAN NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received', 'in_progress', 'completed', 'refused')),
    due_on DATE NOT NULL,
    -- Why a request was refused (told to the requester), or a note on its completion.
    reason TEXT,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX access_requests_due ON access_requests (status, due_on);
CREATE INDEX access_requests_client ON access_requests (client_id);

CREATE TABLE correction_requests (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    received_on DATE NOT NULL,
    field TEXT NOT NULL,
    -- JSON: the value the client asked for, as the client update body would carry it.
    requested_value TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received', 'corrected', 'refused')),
    due_on DATE NOT NULL,
    refusal_reason TEXT,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL,
    decided_by TEXT REFERENCES users (id),
    decided_at TIMESTAMP,
    version INTEGER NOT NULL
);
CREATE INDEX correction_requests_due ON correction_requests (status, due_on);
CREATE INDEX correction_requests_client ON correction_requests (client_id);

CREATE TABLE client_statements (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    field TEXT NOT NULL,
    statement TEXT NOT NULL,
    correction_request_id TEXT NOT NULL REFERENCES correction_requests (id),
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX client_statements_client ON client_statements (client_id, recorded_at);
