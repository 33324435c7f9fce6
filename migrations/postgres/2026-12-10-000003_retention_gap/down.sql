DROP INDEX clients_updated_at;
DROP INDEX retention_schedules_without_cases;
DELETE FROM retention_schedules WHERE service_type IS NULL;
ALTER TABLE retention_schedules DROP CONSTRAINT retention_schedules_dispose_at_least_zero;
ALTER TABLE retention_schedules DROP CONSTRAINT retention_schedules_kind;
ALTER TABLE retention_schedules ALTER COLUMN archive_after_years SET NOT NULL;
ALTER TABLE retention_schedules ALTER COLUMN service_type SET NOT NULL;
