-- Notifications go to named recipients: the Victorian Information Commissioner (`ovic`,
-- formerly `information_commissioner`), the Commonwealth one (`oaic`), the police, another
-- agency, a CSP, or an individual. SQLite cannot change a CHECK: the table is rebuilt.
CREATE TABLE breach_notifications_new (
    id TEXT PRIMARY KEY NOT NULL,
    breach_id TEXT NOT NULL REFERENCES breaches (id),
    recipient TEXT NOT NULL
        CHECK (recipient IN ('individual', 'ovic', 'oaic', 'police', 'other_agency', 'csp')),
    client_id TEXT,
    method TEXT NOT NULL,
    sent_on DATE NOT NULL,
    snapshot_id TEXT NOT NULL REFERENCES breach_snapshots (id),
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL
);
INSERT INTO breach_notifications_new
    SELECT id, breach_id,
        CASE recipient WHEN 'information_commissioner' THEN 'ovic' ELSE recipient END,
        client_id, method, sent_on, snapshot_id, recorded_by, recorded_at
    FROM breach_notifications;
DROP TABLE breach_notifications;
ALTER TABLE breach_notifications_new RENAME TO breach_notifications;
CREATE INDEX breach_notifications_breach ON breach_notifications (breach_id);

-- The breach register made complete (OVIC's data breach guideline, VPDSS 9): when the breach
-- occurred (a moment, or a period from occurred_at to occurred_until), the agencies on whose
-- behalf it is reported (a JSON array of names), individuals added by hand, and decisions
-- not to notify with their ground.
ALTER TABLE breaches ADD COLUMN occurred_at TIMESTAMP;
ALTER TABLE breaches ADD COLUMN occurred_until TIMESTAMP;
ALTER TABLE breaches ADD COLUMN on_behalf_of TEXT NOT NULL DEFAULT '[]';

-- Affected individuals the audit trail cannot show (a lost paper file, a breach inside a
-- CSP's own system). client_id names a client without a foreign key, as notifications do:
-- the register outlives a disposed file and keeps ids only.
CREATE TABLE breach_manual_individuals (
    id TEXT PRIMARY KEY NOT NULL,
    breach_id TEXT NOT NULL REFERENCES breaches (id),
    client_id TEXT NOT NULL,
    -- JSON array of the kinds of information involved.
    information_kinds TEXT NOT NULL,
    -- The rank of the highest protective marking of the records involved.
    protective_marking INTEGER NOT NULL,
    source TEXT NOT NULL
        CHECK (source IN ('paper_record', 'csp_system', 'other_system', 'verbal', 'other')),
    reason TEXT NOT NULL,
    added_by TEXT NOT NULL REFERENCES users (id),
    added_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX breach_manual_individuals_client
    ON breach_manual_individuals (breach_id, client_id);

-- A decision not to notify an individual (client_id) or another recipient, with its ground.
CREATE TABLE breach_decisions_not_to_notify (
    id TEXT PRIMARY KEY NOT NULL,
    breach_id TEXT NOT NULL REFERENCES breaches (id),
    recipient TEXT NOT NULL
        CHECK (recipient IN ('individual', 'ovic', 'oaic', 'police', 'other_agency', 'csp')),
    client_id TEXT,
    ground TEXT NOT NULL CHECK (ground IN (
        'serious_harm_not_likely_after_remedial_action', 'law_enforcement_prejudice',
        'serious_threat_to_life_health_or_safety', 'inconsistent_with_secrecy_provision',
        'notified_by_another_agency', 'commissioner_exemption', 'other')),
    explanation TEXT,
    decided_by TEXT NOT NULL REFERENCES users (id),
    decided_at TIMESTAMP NOT NULL
);
CREATE INDEX breach_decisions_not_to_notify_breach
    ON breach_decisions_not_to_notify (breach_id);
