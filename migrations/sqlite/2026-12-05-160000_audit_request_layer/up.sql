-- A refused or failed request about a client names that client without disclosing their
-- data: the event keeps the client it aimed at, and the client's index row is marked as not
-- disclosed, so the client's access log shows who tried while breach impact (which reads
-- the disclosed clients only) is unchanged.
ALTER TABLE audit_events ADD COLUMN attempted_client_id TEXT;
-- The anonymous requests from the same address refused (429) since its previous refusal row
-- and counted instead of recorded one by one.
ALTER TABLE audit_events ADD COLUMN also_refused BIGINT;
ALTER TABLE audit_event_clients ADD COLUMN disclosed BOOLEAN NOT NULL DEFAULT 1;
