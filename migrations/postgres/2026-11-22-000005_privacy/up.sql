-- The privacy lifecycle of a client file: the collection notices the department issues and
-- those given to each client, consents and their withdrawal, privacy complaints, and legal
-- holds (which stop a file from being disposed of).
CREATE TABLE collection_notices (
    id TEXT PRIMARY KEY NOT NULL,
    version TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    effective_from DATE NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX collection_notices_effective ON collection_notices (effective_from);

-- Each time a client was given a collection notice (on their file's creation, and later).
CREATE TABLE notices_given (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    notice_id TEXT NOT NULL REFERENCES collection_notices (id),
    given_on DATE NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('verbal', 'written', 'electronic')),
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX notices_given_client ON notices_given (client_id, recorded_at);

-- A consent is never deleted (until the file is disposed of): withdrawal is recorded on it.
CREATE TABLE consents (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    purpose TEXT NOT NULL,
    given_on DATE NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('verbal', 'written', 'electronic')),
    expires_on DATE,
    withdrawn_on DATE,
    withdrawal_method TEXT CHECK (withdrawal_method IN ('verbal', 'written', 'electronic')),
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL,
    withdrawal_recorded_by TEXT REFERENCES users (id),
    withdrawal_recorded_at TIMESTAMP
);
CREATE INDEX consents_client ON consents (client_id, recorded_at);
CREATE INDEX consents_purpose ON consents (purpose, client_id);

CREATE TABLE complaints (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT REFERENCES clients (id),
    received_on DATE NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('phone', 'email', 'letter', 'in_person', 'online')),
    summary TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received', 'investigating', 'resolved', 'withdrawn')),
    due_on DATE NOT NULL,
    outcome TEXT,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX complaints_due ON complaints (status, due_on);
CREATE INDEX complaints_client ON complaints (client_id);

CREATE TABLE legal_holds (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    reason TEXT NOT NULL,
    placed_by TEXT NOT NULL REFERENCES users (id),
    placed_at TIMESTAMP NOT NULL,
    released_by TEXT REFERENCES users (id),
    released_at TIMESTAMP,
    release_reason TEXT
);
CREATE INDEX legal_holds_client ON legal_holds (client_id, placed_at);
