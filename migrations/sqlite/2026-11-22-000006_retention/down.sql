DROP TABLE disposal_certificates;
ALTER TABLE cases DROP COLUMN archived_at;
DROP TABLE retention_schedules;
