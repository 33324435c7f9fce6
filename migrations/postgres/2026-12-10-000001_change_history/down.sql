ALTER TABLE audit_events DROP COLUMN changed_fields;
DROP TABLE change_history;
