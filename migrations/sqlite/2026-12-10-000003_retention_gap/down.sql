DROP INDEX clients_updated_at;
DELETE FROM retention_schedules WHERE service_type IS NULL;
CREATE TABLE retention_schedules_old (
    id TEXT PRIMARY KEY NOT NULL,
    service_type TEXT NOT NULL UNIQUE,
    archive_after_years INTEGER NOT NULL CHECK (archive_after_years >= 0),
    dispose_after_years INTEGER NOT NULL CHECK (dispose_after_years >= archive_after_years),
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
INSERT INTO retention_schedules_old
    SELECT id, service_type, archive_after_years, dispose_after_years, created_by, created_at
    FROM retention_schedules;
DROP TABLE retention_schedules;
ALTER TABLE retention_schedules_old RENAME TO retention_schedules;
