//! Reading the audit trail, newest first.
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{audit_event_clients, audit_events, cases, notes};
use crate::audit::chain::AuditEvent;

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor_user_id: Option<String>,
    pub actor_organisation_id: Option<String>,
    /// Events that disclosed this client, or that aimed at it without disclosing anything
    /// (`attempted_client_id`; see `disclosed_only`).
    pub client_id: Option<String>,
    /// With `client_id`: only the events that disclosed the client's data.
    pub disclosed_only: bool,
    pub outcome: Option<String>,
    pub route: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// Narrows `$query` (boxed, selecting events) by `$filter`'s actor, organisation, outcome and
/// route, and pages it by time then id, newest first, after `$after` (a time and an id). `$at`
/// and `$id` are the time and id columns the page is ordered by: the event's own, or its copy
/// in the client index. A macro because the two queries' types differ.
macro_rules! page_of_events {
    ($query:expr, $filter:expr, $after:expr, $limit:expr, $at:expr, $id:expr) => {{
        let filter: &AuditFilter = $filter;
        let mut query = $query;
        if let Some(actor) = &filter.actor_user_id {
            query = query.filter(audit_events::actor_user_id.eq(actor.clone()));
        }
        if let Some(organisation) = &filter.actor_organisation_id {
            query = query.filter(audit_events::actor_organisation_id.eq(organisation.clone()));
        }
        if let Some(outcome) = &filter.outcome {
            query = query.filter(audit_events::outcome.eq(outcome.clone()));
        }
        if let Some(route) = &filter.route {
            query = query.filter(audit_events::route.eq(route.clone()));
        }
        if let Some(from) = filter.from {
            query = query.filter($at.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter($at.lt(to));
        }
        if let Some((at, id)) = $after {
            query = query.filter($at.lt(at).or($at.eq(at).and($id.lt(id))));
        }
        query.order(($at.desc(), $id.desc())).limit($limit)
    }};
}

/// The route of the CSP access audit, as its audit rows store it.
pub const CSP_ACCESS_ROUTE: &str = "/api/v1/reports/csp-access";

/// When the CSP access audit of `organisation_id` last ran and was allowed (its audit row names
/// the organisation as its resource): one look-up in the partial index
/// `audit_events_csp_access_runs`, whose condition is written out, not bound, so that it
/// applies.
pub fn last_csp_access_run(
    conn: &mut DbConnection,
    organisation_id: &str,
) -> QueryResult<Option<NaiveDateTime>> {
    let runs = diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "route = '{CSP_ACCESS_ROUTE}' AND outcome = 'allowed'"
    ));
    audit_events::table
        .filter(runs)
        .filter(audit_events::resource_id.eq(organisation_id))
        .order(audit_events::occurred_at.desc())
        .select(audit_events::occurred_at)
        .first(conn)
        .optional()
}

/// A page of events matching `filter`, newest first, after the event `after` (the previous
/// page's last). Ordered by time then id, which the indexes on (actor, time), (organisation,
/// time), (outcome, time, id), (route, time, id) and (client, time, event) serve directly.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    let after = match after {
        Some(after) => {
            let at: Option<NaiveDateTime> = audit_events::table
                .find(after)
                .select(audit_events::occurred_at)
                .first(conn)
                .optional()?;
            let Some(at) = at else { return Ok(Vec::new()) };
            Some((at, after.to_owned()))
        }
        None => None,
    };
    match &filter.client_id {
        None => page_of_events!(
            audit_events::table
                .select(AuditEvent::as_select())
                .into_boxed(),
            filter,
            after,
            limit,
            audit_events::occurred_at,
            audit_events::id
        )
        .load(conn),
        // Driven by the client's index rows (client, time, event), which copy the event's
        // time and id, newest first: a page reads about as many rows as it shows, however
        // long the client's history, where `id IN (SELECT ...)` listed and sorted all of it.
        Some(client) => {
            let mut query = audit_events::table
                .inner_join(audit_event_clients::table)
                .filter(audit_event_clients::client_id.eq(client.clone()))
                .select(AuditEvent::as_select())
                .into_boxed();
            if filter.disclosed_only {
                query = query.filter(audit_event_clients::disclosed.eq(true));
            }
            page_of_events!(
                query,
                filter,
                after,
                limit,
                audit_event_clients::occurred_at,
                audit_event_clients::event_id
            )
            .load(conn)
        }
    }
}

/// The client of case `id`, for the audit row of a refused request about that case; never
/// shown to the caller, so no row scope applies.
pub fn client_of_case(conn: &mut DbConnection, id: &str) -> QueryResult<Option<String>> {
    cases::table
        .find(id)
        .select(cases::client_id)
        .first(conn)
        .optional()
}

/// The client of note `id`'s case, likewise for an audit row only.
pub fn client_of_note(conn: &mut DbConnection, id: &str) -> QueryResult<Option<String>> {
    notes::table
        .inner_join(cases::table)
        .filter(notes::id.eq(id))
        .select(cases::client_id)
        .first(conn)
        .optional()
}
