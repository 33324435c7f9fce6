//! Privacy complaints.
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::DbConnection;
use super::schema::complaints;
use crate::domain::{ComplaintStatus, StoredAsText};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = complaints)]
pub struct ComplaintRow {
    pub id: String,
    pub client_id: Option<String>,
    pub received_on: NaiveDate,
    pub channel: String,
    pub summary: String,
    pub status: String,
    pub due_on: NaiveDate,
    pub outcome: Option<String>,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

#[derive(Debug, Default, Clone)]
pub struct ComplaintFilter {
    pub status: Option<ComplaintStatus>,
    pub client_id: Option<String>,
    /// Open complaints due before this day.
    pub overdue_on: Option<NaiveDate>,
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ComplaintRow>> {
    complaints::table
        .filter(complaints::id.eq(id))
        .select(ComplaintRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(
    conn: &mut DbConnection,
    filter: &ComplaintFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<ComplaintRow>> {
    let mut query = complaints::table
        .select(ComplaintRow::as_select())
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(complaints::status.eq(status.as_str()));
    }
    if let Some(client_id) = &filter.client_id {
        query = query.filter(complaints::client_id.eq(client_id.clone()));
    }
    if let Some(day) = filter.overdue_on {
        let open = [
            ComplaintStatus::Received.as_str(),
            ComplaintStatus::Investigating.as_str(),
        ];
        query = query
            .filter(complaints::status.eq_any(open))
            .filter(complaints::due_on.lt(day));
    }
    if let Some(after) = after {
        query = query.filter(complaints::id.gt(after.to_owned()));
    }
    query.order(complaints::id).limit(limit).load(conn)
}

pub fn insert(conn: &mut DbConnection, row: &ComplaintRow) -> QueryResult<()> {
    diesel::insert_into(complaints::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Moves the complaint on if it is still at `version`; returns whether it was.
pub fn progress(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    status: ComplaintStatus,
    outcome: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(complaints::table)
        .filter(complaints::id.eq(id))
        .filter(complaints::version.eq(version))
        .set((
            complaints::status.eq(status.as_str()),
            complaints::outcome.eq(outcome),
            complaints::updated_at.eq(now),
            complaints::version.eq(version + 1),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}
