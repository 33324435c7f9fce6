ALTER TABLE audit_events DROP COLUMN caller_request_id;
ALTER TABLE audit_events DROP COLUMN trace_id;
