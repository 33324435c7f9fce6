DROP INDEX cases_client_division;
CREATE INDEX cases_client_division ON cases (client_id, division_id);
DROP INDEX cases_division;
CREATE INDEX cases_division ON cases (division_id);
