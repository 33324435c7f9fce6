DROP INDEX cases_division;
CREATE INDEX cases_division ON cases (division_id);
