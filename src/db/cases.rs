use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::changes::{self, Kind};
use super::schema::{allocations, cases, clients, users};
use super::{Backend, DbConnection, Scanned, planned_for_values};
use crate::authz::scope::Predicate;
use crate::domain::{PrincipalKind, StoredAsText, UserStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cases, treat_none_as_default_value = false)]
pub struct CaseRow {
    pub id: String,
    pub client_id: String,
    pub division_id: String,
    pub service_type: String,
    pub status: String,
    pub opened_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub archived_at: Option<NaiveDateTime>,
    pub lead_worker_id: Option<String>,
    pub summary: String,
    pub risk_level: String,
    pub protective_marking: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = cases)]
pub struct CaseChanges {
    pub service_type: Option<String>,
    pub status: Option<String>,
    pub closed_at: Option<Option<NaiveDateTime>>,
    pub lead_worker_id: Option<Option<String>>,
    pub summary: Option<String>,
    pub risk_level: Option<String>,
    pub protective_marking: Option<i32>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = allocations, treat_none_as_default_value = false)]
pub struct AllocationRow {
    pub id: String,
    pub case_id: String,
    pub organisation_id: String,
    pub worker_id: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub service_description: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

#[derive(Debug, Default, Clone)]
pub struct CaseFilter {
    pub client_id: Option<String>,
    pub status: Option<String>,
}

pub fn find(
    conn: &mut DbConnection,
    reachable: Predicate<cases::table>,
    id: &str,
) -> QueryResult<Option<CaseRow>> {
    cases::table
        .filter(cases::id.eq(id))
        .filter(reachable)
        .select(CaseRow::as_select())
        .first(conn)
        .optional()
}

/// Those of the cases `ids` that `reachable` lets through.
pub fn find_many(
    conn: &mut DbConnection,
    reachable: Predicate<cases::table>,
    ids: &[String],
) -> QueryResult<Vec<CaseRow>> {
    cases::table
        .filter(cases::id.eq_any(ids))
        .filter(reachable)
        .select(CaseRow::as_select())
        .load(conn)
}

/// Those of the allocations `ids` that `reachable` lets through.
pub fn find_allocations(
    conn: &mut DbConnection,
    reachable: Predicate<allocations::table>,
    ids: &[String],
) -> QueryResult<Vec<AllocationRow>> {
    allocations::table
        .filter(allocations::id.eq_any(ids))
        .filter(reachable)
        .select(AllocationRow::as_select())
        .load(conn)
}

/// The cases `filter` selects after `after`, in id order, that `reachable` lets through: at
/// most `limit`, looking at no more than `scan` rows (all of them when `None`: one client's
/// cases, for their access request).
pub fn list(
    conn: &mut DbConnection,
    reachable: Predicate<cases::table>,
    filter: &CaseFilter,
    after: Option<&str>,
    limit: i64,
    scan: Option<i64>,
) -> QueryResult<Scanned<CaseRow>> {
    // The scan's end is found on the filters' own index, before the row scope's look-ups.
    let scanned_to = match scan {
        Some(scan) => filtered(cases::table.select(cases::id).into_boxed(), filter, after)
            .order(cases::id)
            .offset(scan - 1)
            .limit(1)
            .first::<String>(conn)
            .optional()?,
        None => None,
    };
    let mut query = filtered(
        cases::table.select(CaseRow::as_select()).into_boxed(),
        filter,
        after,
    )
    .filter(reachable);
    if let Some(last) = &scanned_to {
        query = query.filter(cases::id.le(last.clone()));
    }
    let rows = planned_for_values(conn, |conn| query.order(cases::id).limit(limit).load(conn))?;
    Ok(Scanned { rows, scanned_to })
}

/// `query` narrowed by `filter` to the rows after `after`.
fn filtered<'a, ST>(
    mut query: cases::BoxedQuery<'a, Backend, ST>,
    filter: &CaseFilter,
    after: Option<&str>,
) -> cases::BoxedQuery<'a, Backend, ST> {
    if let Some(client_id) = &filter.client_id {
        query = query.filter(cases::client_id.eq(client_id.clone()));
    }
    if let Some(status) = &filter.status {
        query = if filter.client_id.is_some() {
            // A client's few cases are found by the client. Compared as an expression, the
            // status cannot lead SQLite (which keeps no statistics) to walk every case of that
            // status by `cases_status` instead.
            query.filter(cases::status.concat("").eq(status.clone()))
        } else {
            query.filter(cases::status.eq(status.clone()))
        };
    }
    if let Some(after) = after {
        query = query.filter(cases::id.gt(after.to_owned()));
    }
    query
}

pub fn client_is_restricted(conn: &mut DbConnection, client_id: &str) -> QueryResult<bool> {
    clients::table
        .filter(clients::id.eq(client_id))
        .select(clients::restricted)
        .first(conn)
}

pub fn insert(conn: &mut DbConnection, row: &CaseRow) -> QueryResult<()> {
    diesel::insert_into(cases::table)
        .values(row)
        .execute(conn)?;
    changes::record(conn, Kind::Case, &row.id, row.updated_at)
}

/// Stores `rows` in batches (bulk loads).
pub fn insert_many(conn: &mut DbConnection, rows: &[CaseRow]) -> QueryResult<()> {
    crate::insert_batches!(conn, cases::table, rows)
}

pub fn update(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    changes: &CaseChanges,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let marking = match changes.protective_marking {
        Some(_) => cases::table
            .filter(cases::id.eq(id))
            .select(cases::protective_marking)
            .first::<i32>(conn)
            .optional()?,
        None => None,
    };
    let updated = diesel::update(cases::table)
        .filter(cases::id.eq(id))
        .filter(cases::version.eq(version))
        .set((
            changes,
            cases::updated_at.eq(now),
            cases::version.eq(version + 1),
        ))
        .execute(conn)?;
    if updated == 1 {
        let before = changes::Before {
            marking,
            ..Default::default()
        };
        changes::record_after(conn, Kind::Case, id, now, before)?;
        // The case's marking bounds whether its client is in reach through it, too.
        if marking.is_some() {
            let client_id: String = cases::table
                .filter(cases::id.eq(id))
                .select(cases::client_id)
                .first(conn)?;
            changes::record(conn, Kind::Client, &client_id, now)?;
        }
    }
    Ok(updated == 1)
}

/// The allocations of `case_ids` that `reachable` lets through.
pub fn allocations_of(
    conn: &mut DbConnection,
    reachable: Predicate<allocations::table>,
    case_ids: Vec<String>,
) -> QueryResult<Vec<AllocationRow>> {
    // An empty page has none; the query would only ask the database to confirm it.
    if case_ids.is_empty() {
        return Ok(Vec::new());
    }
    allocations::table
        .filter(allocations::case_id.eq_any(case_ids))
        .filter(reachable)
        .select(AllocationRow::as_select())
        .order(allocations::id)
        .load(conn)
}

pub fn find_allocation(
    conn: &mut DbConnection,
    case_id: &str,
    id: &str,
) -> QueryResult<Option<AllocationRow>> {
    allocations::table
        .filter(allocations::id.eq(id))
        .filter(allocations::case_id.eq(case_id))
        .select(AllocationRow::as_select())
        .first(conn)
        .optional()
}

/// Stores `rows` in batches (bulk loads).
pub fn insert_allocations(conn: &mut DbConnection, rows: &[AllocationRow]) -> QueryResult<()> {
    crate::insert_batches!(conn, allocations::table, rows)
}

pub fn insert_allocation(conn: &mut DbConnection, row: &AllocationRow) -> QueryResult<()> {
    diesel::insert_into(allocations::table)
        .values(row)
        .execute(conn)?;
    changes::record_allocation(conn, &row.id, &row.case_id, row.updated_at)
}

/// A change of one allocation.
#[derive(Debug, Clone, Copy)]
pub enum AllocationChange<'a> {
    /// When it ends (None: open-ended).
    Ends(Option<NaiveDate>),
    /// The worker it is assigned to (None: unassigned), and the one it was assigned to, whom
    /// the change feed tells of the allocation's records' removal.
    Assign {
        worker_id: Option<&'a str>,
        previous: Option<&'a str>,
    },
}

/// Applies `change` to allocation `id` of case `case_id` if it is still at `version`, with its
/// change-feed entries in the same transaction; false when the version has moved on.
pub fn update_allocation(
    conn: &mut DbConnection,
    case_id: &str,
    id: &str,
    version: i32,
    change: AllocationChange,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let versioned = diesel::update(allocations::table)
        .filter(allocations::id.eq(id))
        .filter(allocations::version.eq(version));
    let stamp = (
        allocations::updated_at.eq(now),
        allocations::version.eq(version + 1),
    );
    let updated = match change {
        AllocationChange::Ends(ends_on) => versioned
            .set((allocations::ends_on.eq(ends_on), stamp))
            .execute(conn)?,
        AllocationChange::Assign { worker_id, .. } => versioned
            .set((allocations::worker_id.eq(worker_id), stamp))
            .execute(conn)?,
    };
    if updated == 1 {
        match change {
            AllocationChange::Ends(_) => changes::record_allocation(conn, id, case_id, now)?,
            AllocationChange::Assign { previous, .. } => {
                changes::record_reassignment(conn, id, case_id, previous, now)?
            }
        }
    }
    Ok(updated == 1)
}

/// Whether `user_id` is an active person of `organisation_id`: someone an allocation of that
/// organisation may be assigned to.
pub fn is_active_worker_of(
    conn: &mut DbConnection,
    user_id: &str,
    organisation_id: &str,
) -> QueryResult<bool> {
    let found: i64 = users::table
        .filter(users::id.eq(user_id))
        .filter(users::organisation_id.eq(organisation_id))
        .filter(users::kind.eq(PrincipalKind::Person.as_str()))
        .filter(users::status.eq(UserStatus::Active.as_str()))
        .count()
        .get_result(conn)?;
    Ok(found == 1)
}
