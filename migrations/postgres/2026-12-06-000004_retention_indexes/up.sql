-- What a retention run looks up (db::retention::to_archive, to_dispose): the closed cases of
-- a service type closed before its schedule's cutoff, one range per schedule; archived_at is
-- read from the index, so cases archived already are passed over without reading their rows.
CREATE INDEX cases_retention ON cases (status, service_type, closed_at, archived_at);
