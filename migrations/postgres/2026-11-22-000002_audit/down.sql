DROP TABLE audit_event_clients;
DROP TABLE audit_events;
