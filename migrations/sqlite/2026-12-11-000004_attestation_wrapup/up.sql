-- The CSP partnership's annual attestation and its contract wrap-up (issue 20, parts 5 and 8).

-- A CSP's annual attestation of its compliance with its privacy and data security
-- obligations: the checklist in force when it was submitted (its version and each question's
-- text as answered, JSON), who signed it, and the department's acknowledgement.
CREATE TABLE attestations (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    statement TEXT NOT NULL,
    checklist_version TEXT NOT NULL,
    -- JSON array of {question_id, question, answer}.
    answers TEXT NOT NULL,
    signed_by_name TEXT NOT NULL,
    signed_by_position TEXT NOT NULL,
    submitted_by TEXT NOT NULL REFERENCES users (id),
    submitted_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('submitted', 'acknowledged')),
    acknowledged_by TEXT REFERENCES users (id),
    acknowledged_at TIMESTAMP,
    version INTEGER NOT NULL DEFAULT 1,
    CHECK (period_start <= period_end)
);
-- An organisation's attestations a page at a time, and its latest period (overdue report).
CREATE INDEX attestations_organisation ON attestations (organisation_id, id);
CREATE INDEX attestations_organisation_period ON attestations (organisation_id, period_end);

-- The wrap-up of a CSP's contract: opened by the department for the contract end it covers,
-- closed once a return-or-destruction certificate is recorded. One open at a time per CSP;
-- while it is open and the contract has ended, the CSP's manager may sign in for it alone.
CREATE TABLE wrap_ups (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    contract_ends_on DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    opened_by TEXT NOT NULL REFERENCES users (id),
    opened_at TIMESTAMP NOT NULL,
    closed_by TEXT REFERENCES users (id),
    closed_at TIMESTAMP,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX wrap_ups_one_open ON wrap_ups (organisation_id) WHERE status = 'open';
CREATE INDEX wrap_ups_organisation ON wrap_ups (organisation_id, id);

-- What the CSP certifies it returned or destroyed, when, by whom.
CREATE TABLE wrap_up_certificates (
    id TEXT PRIMARY KEY NOT NULL,
    wrap_up_id TEXT NOT NULL REFERENCES wrap_ups (id),
    what TEXT NOT NULL,
    how TEXT NOT NULL CHECK (how IN ('returned', 'destroyed')),
    done_on DATE NOT NULL,
    by_whom TEXT NOT NULL,
    statement TEXT NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX wrap_up_certificates_wrap_up ON wrap_up_certificates (wrap_up_id, id);
