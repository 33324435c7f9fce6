//! A client's requests for access to and correction of their file, and the statements kept
//! with fields whose correction was refused.
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::DbConnection;
use super::retention::{Records, delete_or_count};
use super::schema::{access_requests, client_statements, correction_requests};
use crate::domain::{AccessRequestStatus, CorrectionStatus, StoredAsText};
use crate::sealing::Sealed;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = access_requests)]
pub struct AccessRequestRow {
    pub id: String,
    pub client_id: String,
    pub received_on: NaiveDate,
    pub requester: String,
    pub identity_verified: bool,
    pub status: String,
    pub due_on: NaiveDate,
    pub reason: Option<String>,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = correction_requests)]
pub struct CorrectionRequestRow {
    pub id: String,
    pub client_id: String,
    pub received_on: NaiveDate,
    pub field: String,
    /// JSON as the client update body would carry it; sealed, bound to the request's id,
    /// since it may be a Medicare or tax file number.
    pub requested_value: Sealed,
    pub reason: String,
    pub status: String,
    pub due_on: NaiveDate,
    pub refusal_reason: Option<String>,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_statements)]
pub struct StatementRow {
    pub id: String,
    pub client_id: String,
    pub field: String,
    /// Sealed, bound to the statement's id: it may quote the number it is about.
    pub statement: Sealed,
    pub correction_request_id: String,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
}

pub const OPEN_ACCESS: [AccessRequestStatus; 2] = [
    AccessRequestStatus::Received,
    AccessRequestStatus::InProgress,
];
pub const OPEN_CORRECTION: [CorrectionStatus; 1] = [CorrectionStatus::Received];

fn texts<T: StoredAsText>(statuses: &[T]) -> Vec<&'static str> {
    statuses.iter().map(|status| status.as_str()).collect()
}

/// Which requests a list holds.
#[derive(Debug, Default, Clone)]
pub struct RequestFilter {
    /// One status, by its stored text.
    pub status: Option<&'static str>,
    pub client_id: Option<String>,
    /// Open requests due before this day.
    pub overdue_on: Option<NaiveDate>,
}

pub fn find_access(conn: &mut DbConnection, id: &str) -> QueryResult<Option<AccessRequestRow>> {
    access_requests::table
        .filter(access_requests::id.eq(id))
        .select(AccessRequestRow::as_select())
        .first(conn)
        .optional()
}

pub fn list_access(
    conn: &mut DbConnection,
    filter: &RequestFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<AccessRequestRow>> {
    let mut query = access_requests::table
        .select(AccessRequestRow::as_select())
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(access_requests::status.eq(status));
    }
    if let Some(client_id) = &filter.client_id {
        query = query.filter(access_requests::client_id.eq(client_id.clone()));
    }
    if let Some(day) = filter.overdue_on {
        query = query
            .filter(access_requests::status.eq_any(texts(&OPEN_ACCESS)))
            .filter(access_requests::due_on.lt(day));
    }
    if let Some(after) = after {
        query = query.filter(access_requests::id.gt(after.to_owned()));
    }
    query.order(access_requests::id).limit(limit).load(conn)
}

pub fn insert_access(conn: &mut DbConnection, row: &AccessRequestRow) -> QueryResult<()> {
    diesel::insert_into(access_requests::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Moves an access request on if it is still at `version`; returns whether it was.
pub fn progress_access(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    status: AccessRequestStatus,
    identity_verified: bool,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(access_requests::table)
        .filter(access_requests::id.eq(id))
        .filter(access_requests::version.eq(version))
        .set((
            access_requests::status.eq(status.as_str()),
            access_requests::identity_verified.eq(identity_verified),
            access_requests::reason.eq(reason),
            access_requests::updated_at.eq(now),
            access_requests::version.eq(version + 1),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

pub fn find_correction(
    conn: &mut DbConnection,
    id: &str,
) -> QueryResult<Option<CorrectionRequestRow>> {
    correction_requests::table
        .filter(correction_requests::id.eq(id))
        .select(CorrectionRequestRow::as_select())
        .first(conn)
        .optional()
}

pub fn list_corrections(
    conn: &mut DbConnection,
    filter: &RequestFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<CorrectionRequestRow>> {
    let mut query = correction_requests::table
        .select(CorrectionRequestRow::as_select())
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(correction_requests::status.eq(status));
    }
    if let Some(client_id) = &filter.client_id {
        query = query.filter(correction_requests::client_id.eq(client_id.clone()));
    }
    if let Some(day) = filter.overdue_on {
        query = query
            .filter(correction_requests::status.eq_any(texts(&OPEN_CORRECTION)))
            .filter(correction_requests::due_on.lt(day));
    }
    if let Some(after) = after {
        query = query.filter(correction_requests::id.gt(after.to_owned()));
    }
    query.order(correction_requests::id).limit(limit).load(conn)
}

pub fn insert_correction(conn: &mut DbConnection, row: &CorrectionRequestRow) -> QueryResult<()> {
    diesel::insert_into(correction_requests::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Records the decision on a correction request still at `version`; returns whether it was.
pub fn decide_correction(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    status: CorrectionStatus,
    refusal_reason: Option<&str>,
    decided_by: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(correction_requests::table)
        .filter(correction_requests::id.eq(id))
        .filter(correction_requests::version.eq(version))
        .set((
            correction_requests::status.eq(status.as_str()),
            correction_requests::refusal_reason.eq(refusal_reason),
            correction_requests::decided_by.eq(decided_by),
            correction_requests::decided_at.eq(now),
            correction_requests::version.eq(version + 1),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Keeps a statement with the client's file: a change of the client's record (it shows the
/// statements), told to the change feed.
pub fn insert_statement(conn: &mut DbConnection, row: &StatementRow) -> QueryResult<()> {
    diesel::insert_into(client_statements::table)
        .values(row)
        .execute(conn)?;
    super::changes::record(
        conn,
        super::changes::Kind::Client,
        &row.client_id,
        row.recorded_at,
    )
}

/// The statements kept with the files of `client_ids`, oldest first.
pub fn statements_of(
    conn: &mut DbConnection,
    client_ids: &[&str],
) -> QueryResult<Vec<StatementRow>> {
    client_statements::table
        .filter(client_statements::client_id.eq_any(client_ids))
        .select(StatementRow::as_select())
        .order((client_statements::recorded_at, client_statements::id))
        .load(conn)
}

/// Of `client_ids`, those with an open access or correction request.
pub fn with_open_requests(
    conn: &mut DbConnection,
    client_ids: &[String],
) -> QueryResult<Vec<String>> {
    let mut open: Vec<String> = access_requests::table
        .filter(access_requests::client_id.eq_any(client_ids))
        .filter(access_requests::status.eq_any(texts(&OPEN_ACCESS)))
        .select(access_requests::client_id)
        .load(conn)?;
    open.extend(
        correction_requests::table
            .filter(correction_requests::client_id.eq_any(client_ids))
            .filter(correction_requests::status.eq_any(texts(&OPEN_CORRECTION)))
            .select(correction_requests::client_id)
            .load::<String>(conn)?,
    );
    Ok(open)
}

/// Of `client_ids`, those with an access or correction request recorded, changed or decided
/// at `since` or later: activity on the file (see `db::retention::active_since`).
pub fn active_since(
    conn: &mut DbConnection,
    client_ids: &[String],
    since: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    // An access request's `updated_at` starts at its recording.
    let mut active: Vec<String> = access_requests::table
        .filter(access_requests::client_id.eq_any(client_ids))
        .filter(access_requests::updated_at.ge(since))
        .select(access_requests::client_id)
        .load(conn)?;
    active.extend(
        correction_requests::table
            .filter(correction_requests::client_id.eq_any(client_ids))
            .filter(
                correction_requests::recorded_at
                    .ge(since)
                    .or(correction_requests::decided_at.ge(since)),
            )
            .select(correction_requests::client_id)
            .load::<String>(conn)?,
    );
    Ok(active)
}

/// Deletes (or counts, see [`Records`]) the requests and statements of disposed clients;
/// returns counts by kind.
pub fn dispose(
    conn: &mut DbConnection,
    client_ids: &[String],
    records: Records,
) -> QueryResult<[(&'static str, usize); 3]> {
    Ok([
        (
            "client_statements",
            delete_or_count!(
                conn,
                records,
                client_statements::table.filter(client_statements::client_id.eq_any(client_ids))
            ),
        ),
        (
            "correction_requests",
            delete_or_count!(
                conn,
                records,
                correction_requests::table
                    .filter(correction_requests::client_id.eq_any(client_ids))
            ),
        ),
        (
            "access_requests",
            delete_or_count!(
                conn,
                records,
                access_requests::table.filter(access_requests::client_id.eq_any(client_ids))
            ),
        ),
    ])
}
