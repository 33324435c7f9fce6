-- Incident reports: anyone who uses the system (department staff, CSP staff, API clients)
-- reports a suspected misuse, compromised credentials, a data breach, a lost device or
-- anything else, as the CSP agreement requires them to at once. The privacy officer assesses
-- each and may open a breach from it (breach_id). involved_user_ids and client_ids are JSON
-- arrays of ids without foreign keys: like the breach register, a report outlives a disposed
-- file and keeps ids only.
CREATE TABLE incident_reports (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN (
        'suspected_misuse', 'credentials_compromised', 'data_breach', 'lost_device', 'other')),
    description TEXT NOT NULL,
    occurred_at TIMESTAMP,
    involved_user_ids TEXT NOT NULL,
    client_ids TEXT NOT NULL,
    -- Whether the report ended every session of its reporter (own credentials compromised).
    sessions_ended BOOLEAN NOT NULL,
    reported_by TEXT NOT NULL REFERENCES users (id),
    reporter_organisation_id TEXT NOT NULL REFERENCES organisations (id),
    reported_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received', 'assessing', 'closed', 'breach_opened')),
    breach_id TEXT REFERENCES breaches (id),
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
-- A reporter's own reports, a page at a time; the privacy officer's filter on status; a
-- breach's reports.
CREATE INDEX incident_reports_reporter ON incident_reports (reported_by, id);
CREATE INDEX incident_reports_status ON incident_reports (status, id);
CREATE INDEX incident_reports_breach ON incident_reports (breach_id);

-- A report raises an `incident_reported` alert to the privacy officer with its audit row.
-- SQLite cannot alter a CHECK constraint: the table is rebuilt.
CREATE TABLE alerts_new (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('denial_burst', 'restricted_client_read', 'lockout', 'password_reset', 'access_granted', 'secret_rotated', 'incident_reported')),
    actor_user_id TEXT,
    -- The user id, or for an unidentified caller the username tried or the address.
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    -- The audit event that raised it (stored in the same transaction).
    event_id TEXT NOT NULL REFERENCES audit_events (id),
    raised_at TIMESTAMP NOT NULL,
    acknowledged_at TIMESTAMP,
    acknowledged_by TEXT REFERENCES users (id),
    acknowledgement_note TEXT,
    delivery TEXT NOT NULL CHECK (delivery IN ('none', 'pending', 'delivered', 'failed')),
    delivery_attempts INTEGER NOT NULL,
    next_delivery_at TIMESTAMP,
    delivered_at TIMESTAMP,
    version INTEGER NOT NULL
);
INSERT INTO alerts_new SELECT * FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE INDEX alerts_delivery ON alerts (delivery, next_delivery_at);
CREATE INDEX alerts_open ON alerts (acknowledged_at, id);
