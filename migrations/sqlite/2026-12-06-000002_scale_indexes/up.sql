-- Indexes for the filters and sorts of the lists, searches and reports, so that no request
-- reads the clients, cases, notes, allocations, consents or audit tables whole at department
-- scale (a million clients). docs/scaling.md lists each index with what it serves.

-- GET /clients?date_of_birth=: the clients born that day, already in the list's id order.
CREATE INDEX clients_date_of_birth ON clients (date_of_birth, id);

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
