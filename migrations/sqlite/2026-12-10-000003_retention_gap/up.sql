-- Issue 21, the retention gap: a client who never had a case is disposed of once their file
-- has had no activity for the years of the one schedule without a service type, the schedule
-- for clients without cases (retention::Cutoffs). Such a schedule archives nothing, so both
-- its service type and its archive period are NULL; every other schedule has both. SQLite
-- cannot drop a NOT NULL, so the table is rebuilt (nothing references it).
CREATE TABLE retention_schedules_new (
    id TEXT PRIMARY KEY NOT NULL,
    service_type TEXT UNIQUE,
    archive_after_years INTEGER CHECK (archive_after_years >= 0),
    dispose_after_years INTEGER NOT NULL CHECK (dispose_after_years >= 0),
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    CHECK ((service_type IS NULL) = (archive_after_years IS NULL)),
    CHECK (dispose_after_years >= archive_after_years)
);
INSERT INTO retention_schedules_new
    SELECT id, service_type, archive_after_years, dispose_after_years, created_by, created_at
    FROM retention_schedules;
DROP TABLE retention_schedules;
ALTER TABLE retention_schedules_new RENAME TO retention_schedules;
-- At most one schedule for clients without cases.
CREATE UNIQUE INDEX retention_schedules_without_cases ON retention_schedules ((service_type IS NULL))
    WHERE service_type IS NULL;

-- A run finds the clients whose file has not changed since the cutoff by this index
-- (db::retention::to_dispose_without_cases), not by reading every client.
CREATE INDEX clients_updated_at ON clients (updated_at);
