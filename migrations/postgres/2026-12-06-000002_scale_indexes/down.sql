DROP INDEX notices_given_notice;
DROP INDEX audit_events_route;
DROP INDEX audit_events_outcome;
DROP INDEX audit_events_organisation;
DROP INDEX cases_status;
DROP INDEX allocations_case_organisation;
DROP INDEX cases_client_division;
DROP INDEX clients_date_of_birth;
