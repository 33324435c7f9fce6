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

/// A page of events matching `filter`, newest first, after the event `after` (the previous
/// page's last). Ordered by time then id, which the indexes on (actor, time) and (client,
/// time) serve directly.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    let mut query = audit_events::table
        .select(AuditEvent::as_select())
        .into_boxed();
    if let Some(actor) = &filter.actor_user_id {
        query = query.filter(audit_events::actor_user_id.eq(actor.clone()));
    }
    if let Some(organisation) = &filter.actor_organisation_id {
        query = query.filter(audit_events::actor_organisation_id.eq(organisation.clone()));
    }
    if let Some(client) = &filter.client_id {
        let naming = audit_event_clients::table
            .filter(audit_event_clients::client_id.eq(client.clone()))
            .select(audit_event_clients::event_id);
        query = if filter.disclosed_only {
            query.filter(
                audit_events::id.eq_any(naming.filter(audit_event_clients::disclosed.eq(true))),
            )
        } else {
            query.filter(audit_events::id.eq_any(naming))
        };
    }
    if let Some(outcome) = &filter.outcome {
        query = query.filter(audit_events::outcome.eq(outcome.clone()));
    }
    if let Some(route) = &filter.route {
        query = query.filter(audit_events::route.eq(route.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::occurred_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::occurred_at.lt(to));
    }
    if let Some(after) = after {
        let at: Option<NaiveDateTime> = audit_events::table
            .find(after)
            .select(audit_events::occurred_at)
            .first(conn)
            .optional()?;
        let Some(at) = at else { return Ok(Vec::new()) };
        query = query.filter(
            audit_events::occurred_at
                .lt(at)
                .or(audit_events::occurred_at
                    .eq(at)
                    .and(audit_events::id.lt(after.to_owned()))),
        );
    }
    query
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .load(conn)
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
