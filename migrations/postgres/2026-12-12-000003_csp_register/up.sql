-- The register of CSPs with access (issue 20, part 7): the latest allowed run of the CSP
-- access audit (`GET /reports/csp-access`) for each CSP, whose audit row names the CSP as its
-- resource. Only those rows are indexed, so other requests' rows cost nothing more to store;
-- the register finds each CSP's latest run by one look-up.
CREATE INDEX audit_events_csp_access_runs ON audit_events (resource_id, occurred_at)
    WHERE route = '/api/v1/reports/csp-access' AND outcome = 'allowed';
