//! What the unusual-usage rules read: a period's audit events, and the few facts beyond it
//! they ask about candidates ([`crate::oversight::Lookups`]).
use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::connection::DefaultLoadingMode;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::DbConnection;
use super::directory::UserRow;
use super::schema::{allocations, audit_events, cases, clients, sessions, users};
use crate::oversight::{Event, Lookups, Period, SessionSpan};

#[derive(Queryable)]
struct EventRow {
    id: String,
    actor_user_id: Option<String>,
    actor_organisation_id: Option<String>,
    occurred_at: NaiveDateTime,
    method: String,
    route: String,
    outcome: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    client_ids: String,
    fields: String,
    purpose_of_use: Option<String>,
    ip: Option<String>,
    attempted_username: Option<String>,
}

/// How much of each request to load: the rules need who, when, what and which clients; the
/// CSP access report also needs the method and the fields disclosed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Rules,
    WithFields,
}

/// Every request in the period (of `actors` only, when given), oldest first.
pub fn events(
    conn: &mut DbConnection,
    period: &Period,
    actors: Option<&[String]>,
    detail: Detail,
) -> anyhow::Result<Vec<Event>> {
    let mut query = audit_events::table
        .filter(audit_events::occurred_at.ge(period.from))
        .filter(audit_events::occurred_at.lt(period.to))
        .into_boxed();
    if let Some(actors) = actors {
        query = query.filter(audit_events::actor_user_id.eq_any(actors.to_vec()));
    }
    // A month of the trail is close to a million rows: columns nobody reads are not loaded
    // (an empty text costs no allocation), and rows become events as they stream.
    let unless_rules = |column: &'static str| {
        sql::<Text>(if detail == Detail::Rules {
            "''"
        } else {
            column
        })
    };
    // Time order alone: the (time) index gives it without a sort.
    let rows = query
        .order(audit_events::occurred_at)
        .select((
            audit_events::id,
            audit_events::actor_user_id,
            audit_events::actor_organisation_id,
            audit_events::occurred_at,
            unless_rules("method"),
            audit_events::route,
            audit_events::outcome,
            audit_events::resource_type,
            audit_events::resource_id,
            audit_events::client_ids,
            unless_rules("fields"),
            audit_events::purpose_of_use,
            audit_events::ip,
            audit_events::attempted_username,
        ))
        .load_iter::<EventRow, DefaultLoadingMode>(conn)?;
    rows.map(|row| {
        let row = row?;
        Ok(Event {
            client_ids: serde_json::from_str(&row.client_ids)?,
            fields: row.fields,
            id: row.id,
            actor_user_id: row.actor_user_id,
            actor_organisation_id: row.actor_organisation_id,
            occurred_at: row.occurred_at,
            method: row.method,
            route: row.route,
            outcome: row.outcome,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            purpose_of_use: row.purpose_of_use,
            ip: row.ip,
            attempted_username: row.attempted_username,
        })
    })
    .collect()
}

/// user, ip, created, expires, ended.
type SessionColumns = (
    String,
    Option<String>,
    NaiveDateTime,
    NaiveDateTime,
    Option<NaiveDateTime>,
);

/// Every user and API client of an organisation, whatever their status.
pub fn principals_of(conn: &mut DbConnection, organisation_id: &str) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(users::organisation_id.eq(organisation_id))
        .order(users::id)
        .select(UserRow::as_select())
        .load(conn)
}

pub struct DbLookups<'a>(pub &'a mut DbConnection);

impl Lookups for DbLookups<'_> {
    fn disclosures_of(
        &mut self,
        actor: &str,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> anyhow::Result<Vec<(NaiveDateTime, Vec<String>)>> {
        let rows: Vec<(NaiveDateTime, String)> = audit_events::table
            .filter(audit_events::actor_user_id.eq(actor))
            .filter(audit_events::occurred_at.ge(from))
            .filter(audit_events::occurred_at.lt(to))
            .filter(audit_events::outcome.eq("allowed"))
            .filter(audit_events::client_ids.ne("[]"))
            .select((audit_events::occurred_at, audit_events::client_ids))
            .load(self.0)?;
        rows.into_iter()
            .map(|(at, clients)| Ok((at, serde_json::from_str(&clients)?)))
            .collect()
    }

    fn restricted_clients(&mut self) -> anyhow::Result<BTreeSet<String>> {
        let ids: Vec<String> = clients::table
            .filter(clients::restricted.eq(true))
            .select(clients::id)
            .load(self.0)?;
        Ok(ids.into_iter().collect())
    }

    fn allocation_ended(
        &mut self,
        organisation_id: &str,
        resource_type: &str,
        resource_id: &str,
        on: NaiveDate,
    ) -> anyhow::Result<Option<NaiveDate>> {
        let ended = allocations::table
            .inner_join(cases::table)
            .filter(allocations::organisation_id.eq(organisation_id))
            .filter(allocations::ends_on.lt(on))
            .select(allocations::ends_on)
            .order(allocations::ends_on.desc())
            .into_boxed();
        let ended = match resource_type {
            "client" => ended.filter(cases::client_id.eq(resource_id.to_owned())),
            "case" => ended.filter(cases::id.eq(resource_id.to_owned())),
            _ => return Ok(None),
        };
        Ok(ended
            .first::<Option<NaiveDate>>(self.0)
            .optional()?
            .flatten())
    }

    fn previous_request(
        &mut self,
        actor: &str,
        before: NaiveDateTime,
    ) -> anyhow::Result<Option<NaiveDateTime>> {
        Ok(audit_events::table
            .filter(audit_events::actor_user_id.eq(actor))
            .filter(audit_events::occurred_at.lt(before))
            .select(diesel::dsl::max(audit_events::occurred_at))
            .first(self.0)?)
    }

    fn sessions(
        &mut self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> anyhow::Result<Vec<SessionSpan>> {
        let rows: Vec<SessionColumns> = sessions::table
            .filter(sessions::created_at.lt(to))
            .filter(sessions::expires_at.gt(from))
            .filter(sessions::ended_at.is_null().or(sessions::ended_at.gt(from)))
            .select((
                sessions::user_id,
                sessions::ip,
                sessions::created_at,
                sessions::expires_at,
                sessions::ended_at,
            ))
            .load(self.0)?;
        Ok(rows
            .into_iter()
            .map(|(user_id, ip, started, expires, ended)| SessionSpan {
                user_id,
                ip,
                started,
                ended: ended.unwrap_or(expires).min(expires),
            })
            .collect())
    }
}
