-- Identifiers are UUIDs stored as text; timestamps are UTC; protective markings are ranks
-- (0 OFFICIAL, 1 OFFICIAL: Sensitive, 2 PROTECTED) so that clearance is a SQL comparison.
CREATE TABLE organisations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('department_division', 'csp')),
    contact_email TEXT NOT NULL,
    contract_starts_on DATE,
    contract_ends_on DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    roles TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'deactivated')),
    clearance INTEGER NOT NULL CHECK (clearance BETWEEN 0 AND 2),
    password_hash TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP,
    version INTEGER NOT NULL
);
CREATE INDEX users_organisation ON users (organisation_id);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    refresh_token_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    ended_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Digests of refresh tokens already exchanged: presenting one again is a replay.
CREATE TABLE used_refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id)
);

CREATE TABLE clients (
    id TEXT PRIMARY KEY NOT NULL,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    preferred_name TEXT,
    date_of_birth DATE NOT NULL,
    gender TEXT,
    phone TEXT,
    email TEXT,
    address_line1 TEXT,
    address_line2 TEXT,
    address_suburb TEXT,
    address_state TEXT,
    address_postcode TEXT,
    interpreter_language TEXT,
    medicare_number TEXT,
    tax_file_number TEXT,
    gp_details TEXT,
    safety_alerts TEXT NOT NULL,
    protective_marking INTEGER NOT NULL CHECK (protective_marking BETWEEN 0 AND 2),
    restricted BOOLEAN NOT NULL,
    lead_division_id TEXT NOT NULL REFERENCES organisations (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX clients_lead_division ON clients (lead_division_id);
CREATE INDEX clients_family_name ON clients (lower(family_name));

CREATE TABLE cases (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    division_id TEXT NOT NULL REFERENCES organisations (id),
    service_type TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    lead_worker_id TEXT REFERENCES users (id),
    summary TEXT NOT NULL,
    risk_level TEXT NOT NULL CHECK (risk_level IN ('low', 'medium', 'high')),
    protective_marking INTEGER NOT NULL CHECK (protective_marking BETWEEN 0 AND 2),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX cases_client ON cases (client_id);
CREATE INDEX cases_division ON cases (division_id);

CREATE TABLE allocations (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    worker_id TEXT REFERENCES users (id),
    starts_on DATE NOT NULL,
    ends_on DATE,
    service_description TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX allocations_case ON allocations (case_id);
CREATE INDEX allocations_organisation ON allocations (organisation_id, starts_on);

CREATE TABLE notes (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    author_id TEXT NOT NULL REFERENCES users (id),
    author_organisation_id TEXT NOT NULL REFERENCES organisations (id),
    created_at TIMESTAMP NOT NULL,
    note_type TEXT NOT NULL CHECK (note_type IN ('contact', 'assessment', 'case_conference', 'other')),
    visibility TEXT NOT NULL CHECK (visibility IN ('shared', 'department')),
    protective_marking INTEGER NOT NULL CHECK (protective_marking BETWEEN 0 AND 2),
    body TEXT NOT NULL,
    amends_note_id TEXT REFERENCES notes (id)
);
CREATE INDEX notes_case ON notes (case_id, id);

-- Facts about this installation, such as whether it holds demo data.
CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
