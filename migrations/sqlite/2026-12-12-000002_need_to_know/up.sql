-- Need to know down to the worker: change-feed entries are addressed to organisations and to
-- the workers their allocations are assigned to (a CSP worker limited to the `assigned` scope
-- reads their own entries), so the audience column names either (both are UUIDs).
ALTER TABLE change_audiences RENAME COLUMN organisation_id TO audience_id;
