DROP TABLE incident_reports;
DELETE FROM alerts WHERE kind = 'incident_reported';
CREATE TABLE alerts_new (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('denial_burst', 'restricted_client_read', 'lockout', 'password_reset', 'access_granted', 'secret_rotated')),
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
