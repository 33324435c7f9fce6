DROP TABLE breach_decisions_not_to_notify;
DROP TABLE breach_manual_individuals;
ALTER TABLE breaches DROP COLUMN on_behalf_of;
ALTER TABLE breaches DROP COLUMN occurred_until;
ALTER TABLE breaches DROP COLUMN occurred_at;
CREATE TABLE breach_notifications_old (
    id TEXT PRIMARY KEY NOT NULL,
    breach_id TEXT NOT NULL REFERENCES breaches (id),
    recipient TEXT NOT NULL
        CHECK (recipient IN ('information_commissioner', 'individual', 'other_agency')),
    client_id TEXT,
    method TEXT NOT NULL,
    sent_on DATE NOT NULL,
    snapshot_id TEXT NOT NULL REFERENCES breach_snapshots (id),
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL
);
INSERT INTO breach_notifications_old
    SELECT id, breach_id,
        CASE recipient WHEN 'ovic' THEN 'information_commissioner'
            WHEN 'individual' THEN 'individual' ELSE 'other_agency' END,
        client_id, method, sent_on, snapshot_id, recorded_by, recorded_at
    FROM breach_notifications;
DROP TABLE breach_notifications;
ALTER TABLE breach_notifications_old RENAME TO breach_notifications;
CREATE INDEX breach_notifications_breach ON breach_notifications (breach_id);
