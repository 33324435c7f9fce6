DROP INDEX cases_retention;
CREATE INDEX cases_retention ON cases (status, service_type, closed_at, archived_at);
