//! Collection notices: the versions the department issues and those given to each client.
use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::clients::{ClientFilter, scan_end, scanned_page};
use super::schema::{allocations, cases, clients, collection_notices, notices_given};
use super::{DbConnection, Scanned};
use crate::authz::scope::Predicate;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = collection_notices)]
pub struct NoticeRow {
    pub id: String,
    pub version: String,
    pub text: String,
    pub effective_from: NaiveDate,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = notices_given, treat_none_as_default_value = false)]
pub struct NoticeGivenRow {
    pub id: String,
    pub client_id: String,
    pub notice_id: String,
    pub given_on: NaiveDate,
    pub method: String,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
    /// The organisation of the person who recorded it: a division, or the CSP that gave it.
    pub given_by_organisation_id: String,
}

/// The notice in effect on `today`: the latest to take effect by then.
pub fn current(conn: &mut DbConnection, today: NaiveDate) -> QueryResult<Option<NoticeRow>> {
    collection_notices::table
        .filter(collection_notices::effective_from.le(today))
        .order((
            collection_notices::effective_from.desc(),
            collection_notices::created_at.desc(),
        ))
        .select(NoticeRow::as_select())
        .first(conn)
        .optional()
}

pub fn by_version(conn: &mut DbConnection, version: &str) -> QueryResult<Option<NoticeRow>> {
    collection_notices::table
        .filter(collection_notices::version.eq(version))
        .select(NoticeRow::as_select())
        .first(conn)
        .optional()
}

/// The latest effective date of any notice issued.
pub fn latest_effective_from(conn: &mut DbConnection) -> QueryResult<Option<NaiveDate>> {
    collection_notices::table
        .select(diesel::dsl::max(collection_notices::effective_from))
        .first(conn)
}

pub fn insert(conn: &mut DbConnection, row: &NoticeRow) -> QueryResult<()> {
    diesel::insert_into(collection_notices::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn insert_given(conn: &mut DbConnection, row: &NoticeGivenRow) -> QueryResult<()> {
    diesel::insert_into(notices_given::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Stores `rows` in batches (bulk loads).
pub fn insert_given_many(conn: &mut DbConnection, rows: &[NoticeGivenRow]) -> QueryResult<()> {
    crate::insert_batches!(conn, notices_given::table, rows)
}

/// The notices given to one client, with their versions, oldest first.
pub fn given_to(
    conn: &mut DbConnection,
    client_id: &str,
) -> QueryResult<Vec<(NoticeGivenRow, String)>> {
    notices_given::table
        .inner_join(collection_notices::table)
        .filter(notices_given::client_id.eq(client_id))
        .order((notices_given::recorded_at, notices_given::id))
        .select((NoticeGivenRow::as_select(), collection_notices::version))
        .load(conn)
}

/// Not given notice `$current_id`: the client `$client_id` (a column of the enclosing query)
/// has no row of it, one look-up in `notices_given_client`. A macro because the expression's
/// type cannot be named.
macro_rules! without_notice {
    ($client_id:expr, $current_id:expr) => {
        not(exists(
            notices_given::table
                .filter(notices_given::client_id.eq($client_id))
                .filter(notices_given::notice_id.eq($current_id.to_owned())),
        ))
    };
}

/// The allocations to organisation `$csp_id` that are active on `$today` (within their dates)
/// with their cases, which are not archived: read from `allocations_organisation`, each case
/// by its key, so the work is bounded by the CSP's allocations. A macro because the query's
/// type cannot be named.
macro_rules! active_allocations_to {
    ($csp_id:expr, $today:expr) => {{
        let today: NaiveDate = $today;
        allocations::table
            .inner_join(cases::table)
            .filter(allocations::organisation_id.eq($csp_id.to_owned()))
            .filter(allocations::starts_on.le(today))
            .filter(
                allocations::ends_on
                    .is_null()
                    .or(allocations::ends_on.ge(today).assume_not_null()),
            )
            .filter(cases::archived_at.is_null())
    }};
}

/// Clients within reach that were never given notice `current_id`, by id after `after`.
///
/// Correlated on the client (`NOT EXISTS`, one look-up in `notices_given_client` per
/// client): `NOT IN (SELECT ...)` had the database list everyone ever given the current
/// notice, most of the department's clients, for every page of the report.
pub fn clients_without(
    conn: &mut DbConnection,
    reachable: Predicate<clients::table>,
    current_id: &str,
    after: Option<&str>,
    limit: i64,
    scan: i64,
) -> QueryResult<Scanned<String>> {
    // Once nearly every client has the notice, a full page may lie far away: look at no
    // more than `scan` clients, as the client list does.
    let scanned_to = scan_end(conn, &ClientFilter::default(), after, scan)?;
    let mut query = clients::table
        .filter(reachable)
        .filter(without_notice!(clients::id, current_id))
        .select(clients::id)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(clients::id.gt(after.to_owned()));
    }
    scanned_page(conn, query, scanned_to, limit)
}

/// Clients within reach with a case actively allocated to CSP `csp_id` on `today` that were
/// never given notice `current_id`, by id after `after`. The candidates come from the CSP's
/// allocations (see [`active_allocations_to`]), at most `limit` of them, and then those within
/// reach by their keys, so a page costs the CSP's active allocations, never the client base.
/// `scanned_to` is the last candidate when there may be more.
#[allow(clippy::too_many_arguments)]
pub fn allocated_clients_without(
    conn: &mut DbConnection,
    reachable: Predicate<clients::table>,
    csp_id: &str,
    current_id: &str,
    today: NaiveDate,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Scanned<String>> {
    let mut candidates = active_allocations_to!(csp_id, today)
        .filter(without_notice!(cases::client_id, current_id))
        .select(cases::client_id)
        .distinct()
        .into_boxed();
    if let Some(after) = after {
        candidates = candidates.filter(cases::client_id.gt(after.to_owned()));
    }
    let candidates: Vec<String> = candidates.order(cases::client_id).limit(limit).load(conn)?;
    let scanned_to = if candidates.len() as i64 == limit {
        candidates.last().cloned()
    } else {
        None
    };
    if candidates.is_empty() {
        return Ok(Scanned {
            rows: Vec::new(),
            scanned_to,
        });
    }
    let rows = clients::table
        .filter(reachable)
        .filter(clients::id.eq_any(&candidates))
        .order(clients::id)
        .select(clients::id)
        .load(conn)?;
    Ok(Scanned { rows, scanned_to })
}

/// How many clients have a case actively allocated to CSP `csp_id` on `today`, and how many of
/// them were never given notice `current_id` (none when no notice is in effect). Counted over
/// the CSP's active allocations (see [`active_allocations_to`]).
pub fn allocated_notice_counts(
    conn: &mut DbConnection,
    csp_id: &str,
    current_id: Option<&str>,
    today: NaiveDate,
) -> QueryResult<(i64, i64)> {
    let distinct_clients = || diesel::dsl::count(cases::client_id).aggregate_distinct();
    let allocated = active_allocations_to!(csp_id, today)
        .select(distinct_clients())
        .get_result(conn)?;
    let without = match current_id {
        Some(current_id) => active_allocations_to!(csp_id, today)
            .filter(without_notice!(cases::client_id, current_id))
            .select(distinct_clients())
            .get_result(conn)?,
        None => 0,
    };
    Ok((allocated, without))
}

/// The last notice given to each of `client_ids` (that was given one), with its version.
pub fn last_given(
    conn: &mut DbConnection,
    client_ids: &[String],
) -> QueryResult<Vec<(NoticeGivenRow, String)>> {
    // An empty page has none; the query would only ask the database to confirm it.
    if client_ids.is_empty() {
        return Ok(Vec::new());
    }
    let all: Vec<(NoticeGivenRow, String)> = notices_given::table
        .inner_join(collection_notices::table)
        .filter(notices_given::client_id.eq_any(client_ids))
        .order((notices_given::recorded_at.desc(), notices_given::id.desc()))
        .select((NoticeGivenRow::as_select(), collection_notices::version))
        .load(conn)?;
    let mut seen = std::collections::BTreeSet::new();
    Ok(all
        .into_iter()
        .filter(|(row, _)| seen.insert(row.client_id.clone()))
        .collect())
}
