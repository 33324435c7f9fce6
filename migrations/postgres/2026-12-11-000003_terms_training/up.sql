-- Issue 20, parts 3 and 4: the department's policy documents (acceptable use, the privacy and
-- security policy), each version published once and in force until the next version of its
-- kind supersedes it; and each person's acceptance of a version. A person who has not accepted
-- the version in force of a document that applies to one of their roles is limited to reading
-- and accepting it (api::context). Training currency needs no table: users.training_completed_on
-- and the configured period (--training-valid-days) decide it.
CREATE TABLE policy_documents (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('acceptable_use', 'privacy_and_security_policy')),
    version TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    -- JSON array of role names.
    applies_to_roles TEXT NOT NULL,
    published_by TEXT NOT NULL REFERENCES users (id),
    published_at TIMESTAMP NOT NULL,
    -- When the next version of the same kind was published; NULL while in force.
    superseded_at TIMESTAMP,
    UNIQUE (kind, version)
);
-- One version in force per kind; every request reads the versions in force by this index.
CREATE UNIQUE INDEX policy_documents_in_force ON policy_documents (kind) WHERE superseded_at IS NULL;

CREATE TABLE policy_acceptances (
    user_id TEXT NOT NULL REFERENCES users (id),
    document_id TEXT NOT NULL REFERENCES policy_documents (id),
    accepted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, document_id)
);
