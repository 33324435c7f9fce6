-- Oversight: alerts raised as requests happen, and the data breach register: each suspected breach, what was done to contain it, the affected
-- individuals computed from the audit trail (snapshots), the assessment, the notifications
-- sent and the post-incident review.
CREATE TABLE breaches (
    id TEXT PRIMARY KEY NOT NULL,
    aware_at TIMESTAMP NOT NULL,
    reported_by TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('internal', 'csp', 'public')),
    description TEXT NOT NULL,
    -- JSON arrays: the kinds of breach ('access', 'disclosure', 'loss') and the principals
    -- (users or API clients) suspected of it.
    kinds TEXT NOT NULL,
    suspected_actor_ids TEXT NOT NULL,
    window_from TIMESTAMP NOT NULL,
    window_to TIMESTAMP NOT NULL,
    -- 30 days after aware_at unless extended (breach_extensions).
    assessment_due_on DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('assessing', 'assessed', 'reviewed')),
    eligible BOOLEAN,
    -- JSON: the harm assessment (kinds of information, likelihood of serious harm, reasons,
    -- steps taken to reduce harm).
    assessment TEXT,
    assessed_at TIMESTAMP,
    assessed_by TEXT REFERENCES users (id),
    -- JSON: the post-incident review (root cause, lessons, actions).
    review TEXT,
    reviewed_at TIMESTAMP,
    reviewed_by TEXT REFERENCES users (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX breaches_due ON breaches (status, assessment_due_on);

CREATE TABLE breach_extensions (
    id TEXT PRIMARY KEY NOT NULL,
    breach_id TEXT NOT NULL REFERENCES breaches (id),
    previous_due_on DATE NOT NULL,
    new_due_on DATE NOT NULL,
    reason TEXT NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX breach_extensions_breach ON breach_extensions (breach_id);

CREATE TABLE breach_containment_actions (
    id TEXT PRIMARY KEY NOT NULL,
    breach_id TEXT NOT NULL REFERENCES breaches (id),
    action TEXT NOT NULL,
    target_id TEXT NOT NULL,
    -- What the action found and did, such as 'suspended' or 'already_suspended'.
    outcome TEXT NOT NULL,
    performed_by TEXT NOT NULL REFERENCES users (id),
    performed_at TIMESTAMP NOT NULL
);
CREATE INDEX breach_containment_breach ON breach_containment_actions (breach_id);

-- The affected individuals as computed at one moment, kept as the basis of notifications.
CREATE TABLE breach_snapshots (
    id TEXT PRIMARY KEY NOT NULL,
    breach_id TEXT NOT NULL REFERENCES breaches (id),
    taken_at TIMESTAMP NOT NULL,
    taken_by TEXT NOT NULL REFERENCES users (id),
    content TEXT NOT NULL
);
CREATE INDEX breach_snapshots_breach ON breach_snapshots (breach_id, taken_at);

CREATE TABLE breach_notifications (
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
CREATE INDEX breach_notifications_breach ON breach_notifications (breach_id);

-- Recent refusals by subject, for alerts on bursts of them; only refused rows are indexed, so
-- the rows of ordinary requests cost nothing more to store.
CREATE INDEX audit_events_denied_actor ON audit_events (actor_user_id, occurred_at)
    WHERE outcome = 'denied';
CREATE INDEX audit_events_denied_username ON audit_events (attempted_username, occurred_at)
    WHERE outcome = 'denied';
CREATE INDEX audit_events_denied_ip ON audit_events (ip, occurred_at)
    WHERE outcome = 'denied';

-- An alert raised as it happened (denial bursts, restricted-client reads, lockouts), with its
-- acknowledgement and, when a webhook is configured, its delivery.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('denial_burst', 'restricted_client_read', 'lockout')),
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
CREATE INDEX alerts_delivery ON alerts (delivery, next_delivery_at);
CREATE INDEX alerts_open ON alerts (acknowledged_at, id);
