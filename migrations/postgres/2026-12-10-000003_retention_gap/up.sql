-- Issue 21, the retention gap: a client who never had a case is disposed of once their file
-- has had no activity for the years of the one schedule without a service type, the schedule
-- for clients without cases (retention::Cutoffs). Such a schedule archives nothing, so both
-- its service type and its archive period are NULL; every other schedule has both.
ALTER TABLE retention_schedules ALTER COLUMN service_type DROP NOT NULL;
ALTER TABLE retention_schedules ALTER COLUMN archive_after_years DROP NOT NULL;
ALTER TABLE retention_schedules ADD CONSTRAINT retention_schedules_kind
    CHECK ((service_type IS NULL) = (archive_after_years IS NULL));
ALTER TABLE retention_schedules ADD CONSTRAINT retention_schedules_dispose_at_least_zero
    CHECK (dispose_after_years >= 0);
-- At most one schedule for clients without cases.
CREATE UNIQUE INDEX retention_schedules_without_cases ON retention_schedules ((service_type IS NULL))
    WHERE service_type IS NULL;

-- A run finds the clients whose file has not changed since the cutoff by this index
-- (db::retention::to_dispose_without_cases), not by reading every client.
CREATE INDEX clients_updated_at ON clients (updated_at);
