DELETE FROM audit_event_clients WHERE disclosed = 0;
ALTER TABLE audit_event_clients DROP COLUMN disclosed;
ALTER TABLE audit_events DROP COLUMN also_refused;
ALTER TABLE audit_events DROP COLUMN attempted_client_id;
