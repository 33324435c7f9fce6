//! What the unusual-usage rules read: a period's audit events, and the few facts beyond it
//! they ask about candidates ([`crate::oversight::Lookups`]).
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::LazyLock;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::connection::DefaultLoadingMode;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::dsl::sql;
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamp};
use diesel::sqlite::{Sqlite, SqliteType, SqliteValue};
use rustc_hash::FxHashSet;
use serde::Deserialize;

use super::MultiRawValue;
use super::directory::UserRow;
use super::schema::{allocations, audit_events, cases, clients, sessions, users};
use super::{Backend, Database, DbConnection};
use crate::error::ApiError;
use crate::oversight::{Event, Lookups, Period, SessionSpan, Shared};

#[derive(Queryable)]
struct EventRow {
    id: String,
    actor_user_id: Option<String>,
    actor_organisation_id: Option<String>,
    occurred_at: RowTime,
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

/// How much of each request to load: the rules need who, when, what and which clients (and
/// what a refused request tried to reach); the CSP access report also needs the method, the
/// fields disclosed and the record of every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Rules,
    WithFields,
}

/// The client ids of a row, read without copying each one.
#[derive(Deserialize)]
struct ClientIds<'a>(#[serde(borrow)] Vec<Cow<'a, str>>);

/// Every request in the period, oldest first, read in consecutive parts at once, each on a
/// connection of its own: a month of the trail is close to a million rows, and reading and
/// decoding them is each part's core's work.
pub async fn events_in_parts(
    db: &Database,
    period: &Period,
    detail: Detail,
) -> Result<Vec<Event>, ApiError> {
    let parts = std::thread::available_parallelism().map_or(1, |cores| cores.get().min(4));
    let loads = period
        .in_parts(parts)
        .into_iter()
        .map(|part| db.read_long(move |conn| Ok(events(conn, &part, None, detail)?)));
    let parts = futures_util::future::try_join_all(loads).await?;
    let mut all = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for part in parts {
        all.extend(part);
    }
    Ok(all)
}

/// Every request in the period (of `actors` only, when given), oldest first.
pub fn events(
    conn: &mut DbConnection,
    period: &Period,
    actors: Option<&[String]>,
    detail: Detail,
) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    let mut shared = Interner::default();
    // A day at a time: PostgreSQL's client holds a query's whole result before the first
    // row is read, and a month's would be hundreds of megabytes.
    for day in period.in_steps_of(Duration::days(1)) {
        load(conn, &day, actors, detail, &mut shared, &mut events)?;
    }
    Ok(events)
}

/// Appends the requests in the period to `events`, oldest first.
fn load(
    conn: &mut DbConnection,
    period: &Period,
    actors: Option<&[String]>,
    detail: Detail,
    shared: &mut Interner,
    events: &mut Vec<Event>,
) -> anyhow::Result<()> {
    let mut query = audit_events::table
        .filter(audit_events::occurred_at.ge(period.from))
        .filter(audit_events::occurred_at.lt(period.to))
        .into_boxed();
    if let Some(actors) = actors {
        query = query.filter(audit_events::actor_user_id.eq_any(actors.to_vec()));
    }
    // Columns nobody reads are not loaded (an empty text or a null costs no allocation),
    // text that repeats is kept once, and rows become events as they stream.
    let rules = detail == Detail::Rules;
    let unless_rules = |column: &'static str| sql::<Text>(if rules { "''" } else { column });
    // What a refused request tried to reach is read only from refusals.
    let of_refusals = |column: &str| {
        sql::<Nullable<Text>>(&if rules {
            format!("CASE WHEN outcome = 'denied' THEN {column} END")
        } else {
            column.to_owned()
        })
    };
    // Time order alone: the (time) index gives it without a sort.
    let rows = query
        .order(audit_events::occurred_at)
        .select((
            audit_events::id,
            audit_events::actor_user_id,
            of_refusals("actor_organisation_id"),
            audit_events::occurred_at,
            unless_rules("method"),
            audit_events::route,
            audit_events::outcome,
            of_refusals("resource_type"),
            of_refusals("resource_id"),
            audit_events::client_ids,
            unless_rules("fields"),
            audit_events::purpose_of_use,
            audit_events::ip,
            of_refusals("attempted_username"),
        ))
        .load_iter::<EventRow, DefaultLoadingMode>(conn)?;
    for row in rows {
        let row = row?;
        let client_ids: ClientIds = serde_json::from_str(&row.client_ids)?;
        events.push(Event {
            client_ids: client_ids.0.iter().map(|id| shared.get(id)).collect(),
            fields: row.fields,
            id: row.id,
            actor_user_id: row.actor_user_id.map(|text| shared.get(&text)),
            actor_organisation_id: row.actor_organisation_id.map(|text| shared.get(&text)),
            occurred_at: row.occurred_at.0,
            method: shared.get(&row.method),
            route: shared.get(&row.route),
            outcome: shared.get(&row.outcome),
            resource_type: row.resource_type.map(|text| shared.get(&text)),
            resource_id: row.resource_id,
            purpose_of_use: row.purpose_of_use,
            ip: row.ip.map(|text| shared.get(&text)),
            attempted_username: row.attempted_username,
        });
    }
    Ok(())
}

/// A row's time. SQLite keeps times as text, which diesel parses by trying formats spelled
/// for strftime, reading the spelling again for every value (a tenth of a month's report);
/// the times the service writes have one format, read here from items prepared once.
/// Anything else is left to diesel.
#[derive(FromSqlRow)]
struct RowTime(NaiveDateTime);

static WRITTEN_TIME: LazyLock<Vec<Item<'static>>> =
    LazyLock::new(|| StrftimeItems::new("%F %T%.f").parse().unwrap_or_default());

impl FromSql<Timestamp, Sqlite> for RowTime {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        if value.value_type() == Some(SqliteType::Text) {
            let mut parsed = Parsed::new();
            if chrono::format::parse(&mut parsed, value.read_text(), WRITTEN_TIME.iter()).is_ok()
                && let Ok(at) = parsed.to_naive_datetime_with_offset(0)
            {
                return Ok(RowTime(at));
            }
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(RowTime)
    }
}

impl FromSql<Timestamp, Pg> for RowTime {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(RowTime)
    }
}

impl FromSql<Timestamp, Backend> for RowTime {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<RowTime, Timestamp>()
    }
}

/// One copy of each text the period's rows repeat (actors, routes, addresses, clients).
/// Looked up several times a row, so with a fast hash rather than the default one that
/// resists chosen collisions: the texts are ids and routes the service wrote and the
/// addresses requests came from, and the set lives only as long as one report.
#[derive(Default)]
struct Interner(FxHashSet<Shared>);

impl Interner {
    fn get(&mut self, text: &str) -> Shared {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared = Shared::from(text);
        self.0.insert(shared.clone());
        shared
    }
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
