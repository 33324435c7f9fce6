DROP INDEX cases_client;
CREATE INDEX cases_client ON cases (client_id);
DROP INDEX allocations_case_organisation;
CREATE INDEX allocations_case_organisation ON allocations (case_id, organisation_id, starts_on);
