-- The change feed (GET /api/v1/changes): one entry per change of a client, case, allocation
-- or note, written in the change's transaction (db::changes). `seq` only grows (AUTOINCREMENT
-- never reuses a number) and writes are serialised, so entries become visible in `seq` order.
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    -- The lowest marking the record had before or after the change: readers not cleared for
    -- it are told nothing of it, not even its removal.
    protective_marking INTEGER NOT NULL
);
-- Disposal replaces a client's entries with one removal, by index.
CREATE INDEX changes_client ON changes (client_id);
-- The organisations that had the changed record in reach (lead division, case divisions,
-- CSPs with an allocation): a caller reads its own organisation's entries by index.
CREATE TABLE change_audiences (
    organisation_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, seq)
);
CREATE INDEX change_audiences_seq ON change_audiences (seq);
-- Access that starts or ends by date is told to the feed on that day, found by these.
CREATE INDEX allocations_starts_on ON allocations (starts_on);
CREATE INDEX allocations_ends_on ON allocations (ends_on);
