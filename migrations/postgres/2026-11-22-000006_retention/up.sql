-- Retention: how long each kind of service's files are kept, archived cases, and the
-- certificates of disposal (which hold no personal data: counts and keyed hashes of ids).
CREATE TABLE retention_schedules (
    id TEXT PRIMARY KEY NOT NULL,
    service_type TEXT NOT NULL UNIQUE,
    archive_after_years INTEGER NOT NULL CHECK (archive_after_years >= 0),
    dispose_after_years INTEGER NOT NULL CHECK (dispose_after_years >= archive_after_years),
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);

-- Set when a closed case passes its schedule's archive_after_years: read-only from then on,
-- out of every CSP's reach, read by department roles with a purpose of use.
ALTER TABLE cases ADD COLUMN archived_at TIMESTAMP;

CREATE TABLE disposal_certificates (
    id TEXT PRIMARY KEY NOT NULL,
    disposed_at TIMESTAMP NOT NULL,
    authorised_by TEXT NOT NULL REFERENCES users (id),
    -- JSON: the schedules applied, the number of records deleted by kind, and the
    -- HMAC-SHA256 (the service's disposal key) of each disposed client id.
    schedules TEXT NOT NULL,
    record_counts TEXT NOT NULL,
    client_id_hashes TEXT NOT NULL
);
