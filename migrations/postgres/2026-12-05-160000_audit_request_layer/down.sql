DELETE FROM audit_event_clients WHERE NOT disclosed;
ALTER TABLE audit_event_clients DROP COLUMN disclosed;
ALTER TABLE audit_events DROP COLUMN also_refused;
ALTER TABLE audit_events DROP COLUMN attempted_client_id;
