-- A CSP's reach to a client or case is checked on every request (authz::scope: an open case
-- within clearance with an active allocation to the caller's CSP). With the columns the check
-- reads in these two indexes it reads no case or allocation row: each row read is one more
-- B-tree descent, and at a million clients reading them lowered the throughput of
-- `GET /clients/{id}` at 64 connections by 5 to 18 % (docs/benchmarks.md).
DROP INDEX cases_client;
CREATE INDEX cases_client ON cases (client_id, archived_at, protective_marking, id);
DROP INDEX allocations_case_organisation;
CREATE INDEX allocations_case_organisation
    ON allocations (case_id, organisation_id, starts_on, ends_on, worker_id);
