-- The change history of client files (GET /api/v1/clients/{id}/history, /cases/{id}/history):
-- one entry per creation or change of a client, case or allocation, written in the change's
-- transaction. `changes` holds each changed field's value before and after, sealed
-- (SealedColumn::ChangeHistory): old tax file numbers stay as secret as current ones.
CREATE TABLE change_history (
    id TEXT PRIMARY KEY NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    -- The case a case's or an allocation's entry belongs to (a case's history shows both).
    case_id TEXT,
    -- created, updated or reverted
    action TEXT NOT NULL,
    -- The entry a revert undid.
    reverts TEXT,
    changed_at TIMESTAMP NOT NULL,
    changed_by TEXT NOT NULL,
    changed_by_kind TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    -- The higher of the record's markings before and after the change: a reader not cleared
    -- for it is not shown the entry, though the record's marking was lowered since.
    protective_marking INTEGER NOT NULL,
    -- The names of the changed fields (a JSON list), readable without the values.
    fields TEXT NOT NULL,
    changes TEXT NOT NULL
);
-- A record's entries in order (ids are time-ordered UUIDs), by index.
CREATE INDEX change_history_resource ON change_history (resource_id, id);
CREATE INDEX change_history_case ON change_history (case_id, id);
-- Disposal removes a client's history with the client.
CREATE INDEX change_history_client ON change_history (client_id);
-- The audit row of a write names the fields it changed (a JSON list; NULL when none).
ALTER TABLE audit_events ADD COLUMN changed_fields TEXT;
