//! Incident reports: what anyone who uses the system reports to the privacy officer.
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::incident_reports;
use crate::authz::scope::Predicate;
use crate::domain::{IncidentStatus, StoredAsText};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_reports)]
pub struct IncidentReportRow {
    pub id: String,
    pub kind: String,
    pub description: String,
    pub occurred_at: Option<NaiveDateTime>,
    /// JSON array of user and API client ids.
    pub involved_user_ids: String,
    /// JSON array of client ids.
    pub client_ids: String,
    pub sessions_ended: bool,
    pub reported_by: String,
    pub reporter_organisation_id: String,
    pub reported_at: NaiveDateTime,
    pub status: String,
    pub breach_id: Option<String>,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

/// The report `id`, if `reachable`.
pub fn find(
    conn: &mut DbConnection,
    reachable: Predicate<incident_reports::table>,
    id: &str,
) -> QueryResult<Option<IncidentReportRow>> {
    incident_reports::table
        .filter(incident_reports::id.eq(id))
        .filter(reachable)
        .select(IncidentReportRow::as_select())
        .first(conn)
        .optional()
}

/// A page of the reachable reports, oldest first.
pub fn list(
    conn: &mut DbConnection,
    reachable: Predicate<incident_reports::table>,
    status: Option<IncidentStatus>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<IncidentReportRow>> {
    let mut query = incident_reports::table
        .filter(reachable)
        .select(IncidentReportRow::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(incident_reports::status.eq(status.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(incident_reports::id.gt(after.to_owned()));
    }
    query.order(incident_reports::id).limit(limit).load(conn)
}

/// The ids of the reports a breach was opened from, oldest first.
pub fn of_breach(conn: &mut DbConnection, breach_id: &str) -> QueryResult<Vec<String>> {
    incident_reports::table
        .filter(incident_reports::breach_id.eq(breach_id))
        .select(incident_reports::id)
        .order(incident_reports::id)
        .load(conn)
}

pub fn insert(conn: &mut DbConnection, row: &IncidentReportRow) -> QueryResult<()> {
    diesel::insert_into(incident_reports::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Moves the report to `status` if it is still at `version`; returns whether it was.
pub fn set_status(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    status: IncidentStatus,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(incident_reports::table)
        .filter(incident_reports::id.eq(id))
        .filter(incident_reports::version.eq(version))
        .set((
            incident_reports::status.eq(status.as_str()),
            incident_reports::updated_at.eq(now),
            incident_reports::version.eq(version + 1),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Links the report to the breach opened from it (`breach_opened`), if it is still open;
/// returns whether it was.
pub fn open_breach(
    conn: &mut DbConnection,
    id: &str,
    breach_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let open = [
        IncidentStatus::Received.as_str(),
        IncidentStatus::Assessing.as_str(),
    ];
    let updated = diesel::update(incident_reports::table)
        .filter(incident_reports::id.eq(id))
        .filter(incident_reports::status.eq_any(open))
        .set((
            incident_reports::status.eq(IncidentStatus::BreachOpened.as_str()),
            incident_reports::breach_id.eq(breach_id),
            incident_reports::updated_at.eq(now),
            incident_reports::version.eq(incident_reports::version + 1),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}
