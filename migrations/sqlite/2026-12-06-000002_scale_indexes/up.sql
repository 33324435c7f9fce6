-- Indexes for the filters and sorts of the lists, searches and reports, so that no request
-- reads the clients, cases, notes, allocations, consents or audit tables whole at department
-- scale (a million clients). docs/scaling.md lists each index with what it serves.

-- GET /clients?date_of_birth=: the clients born that day, already in the list's id order.
CREATE INDEX clients_date_of_birth ON clients (date_of_birth, id);

-- The row scopes' correlated subqueries: a client's cases in a division (the `division`
-- scope on clients) and a case's allocations to one organisation (the `allocation` scope).
-- With both columns, SQLite looks up the row's own cases or allocations instead of every
-- case of the division or every allocation of the CSP, which it may otherwise choose (it
-- plans without statistics).
CREATE INDEX cases_client_division ON cases (client_id, division_id);
CREATE INDEX allocations_case_organisation ON allocations (case_id, organisation_id, starts_on);

-- GET /cases?status= and /clients/{id}/cases?status=: the cases of a status in id order.
CREATE INDEX cases_status ON cases (status, id);

-- GET /audit/events?actor_organisation_id=: an organisation's requests, newest first.
CREATE INDEX audit_events_organisation ON audit_events (actor_organisation_id, occurred_at);

-- GET /audit/events?outcome= and ?route=: the requests with that outcome or on that route,
-- newest first. With `id` so that the list's order (time, then id) needs no sort.
CREATE INDEX audit_events_outcome ON audit_events (outcome, occurred_at, id);
CREATE INDEX audit_events_route ON audit_events (route, occurred_at, id);

-- GET /reports/collection-notices-outdated: whether a client was given the current notice,
-- and (PostgreSQL's anti-join) those given it in client order.
CREATE INDEX notices_given_notice ON notices_given (notice_id, client_id);
