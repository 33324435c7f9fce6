//! Retention schedules, archiving closed cases and disposing of client files.
use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{
    allocations, cases, clients, complaints, consents, disposal_certificates, legal_holds, notes,
    notices_given, retention_schedules,
};
use crate::domain::{ComplaintStatus, StoredAsText};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = retention_schedules)]
pub struct ScheduleRow {
    pub id: String,
    pub service_type: String,
    pub archive_after_years: i32,
    pub dispose_after_years: i32,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = disposal_certificates)]
pub struct CertificateRow {
    pub id: String,
    pub disposed_at: NaiveDateTime,
    pub authorised_by: String,
    pub schedules: String,
    pub record_counts: String,
    pub client_id_hashes: String,
}

/// A case as retention sees it.
#[derive(Debug, Clone, Queryable)]
pub struct CaseLife {
    pub id: String,
    pub client_id: String,
    pub service_type: String,
    pub status: String,
    pub closed_at: Option<NaiveDateTime>,
    pub archived_at: Option<NaiveDateTime>,
}

pub fn schedules(conn: &mut DbConnection) -> QueryResult<Vec<ScheduleRow>> {
    retention_schedules::table
        .order(retention_schedules::service_type)
        .select(ScheduleRow::as_select())
        .load(conn)
}

pub fn schedule_for(
    conn: &mut DbConnection,
    service_type: &str,
) -> QueryResult<Option<ScheduleRow>> {
    retention_schedules::table
        .filter(retention_schedules::service_type.eq(service_type))
        .select(ScheduleRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert_schedule(conn: &mut DbConnection, row: &ScheduleRow) -> QueryResult<()> {
    diesel::insert_into(retention_schedules::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Every case, by client: retention reads them all (a client is disposable only when all
/// its cases are) in one pass, with no list of ids for the database to take.
pub fn case_lives(conn: &mut DbConnection) -> QueryResult<Vec<CaseLife>> {
    cases::table
        .order((cases::client_id, cases::id))
        .select((
            cases::id,
            cases::client_id,
            cases::service_type,
            cases::status,
            cases::closed_at,
            cases::archived_at,
        ))
        .load(conn)
}

pub fn archive(
    conn: &mut DbConnection,
    case_ids: &[String],
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(cases::table)
        .filter(cases::id.eq_any(case_ids))
        .filter(cases::archived_at.is_null())
        .set(cases::archived_at.eq(now))
        .execute(conn)
}

/// Of `client_ids`, those with an active legal hold, an open complaint or an open access or
/// correction request: they are kept.
pub fn held(conn: &mut DbConnection, client_ids: &[String]) -> QueryResult<Vec<String>> {
    let mut held: Vec<String> = legal_holds::table
        .filter(legal_holds::client_id.eq_any(client_ids))
        .filter(legal_holds::released_at.is_null())
        .select(legal_holds::client_id)
        .load(conn)?;
    let open = [
        ComplaintStatus::Received.as_str(),
        ComplaintStatus::Investigating.as_str(),
    ];
    held.extend(
        complaints::table
            .filter(complaints::client_id.eq_any(client_ids))
            .filter(complaints::status.eq_any(open))
            .select(complaints::client_id.assume_not_null())
            .load::<String>(conn)?,
    );
    held.extend(super::requests::with_open_requests(conn, client_ids)?);
    held.sort_unstable();
    held.dedup();
    Ok(held)
}

/// Deletes the personal data of `client_ids` (their files, cases, allocations, notes,
/// consents, notices given, legal holds, complaints, access and correction requests and the
/// statements kept with the file) and returns how many records of each
/// kind went. Audit rows stay: they hold ids only.
pub fn dispose(
    conn: &mut DbConnection,
    client_ids: &[String],
) -> QueryResult<BTreeMap<&'static str, usize>> {
    let case_ids: Vec<String> = cases::table
        .filter(cases::client_id.eq_any(client_ids))
        .select(cases::id)
        .load(conn)?;
    let mut counts = BTreeMap::new();
    counts.insert(
        "notes",
        diesel::delete(notes::table.filter(notes::case_id.eq_any(&case_ids))).execute(conn)?,
    );
    counts.insert(
        "allocations",
        diesel::delete(allocations::table.filter(allocations::case_id.eq_any(&case_ids)))
            .execute(conn)?,
    );
    counts.insert(
        "cases",
        diesel::delete(cases::table.filter(cases::id.eq_any(&case_ids))).execute(conn)?,
    );
    counts.insert(
        "consents",
        diesel::delete(consents::table.filter(consents::client_id.eq_any(client_ids)))
            .execute(conn)?,
    );
    counts.insert(
        "notices_given",
        diesel::delete(notices_given::table.filter(notices_given::client_id.eq_any(client_ids)))
            .execute(conn)?,
    );
    counts.insert(
        "legal_holds",
        diesel::delete(legal_holds::table.filter(legal_holds::client_id.eq_any(client_ids)))
            .execute(conn)?,
    );
    counts.insert(
        "complaints",
        diesel::delete(complaints::table.filter(complaints::client_id.eq_any(client_ids)))
            .execute(conn)?,
    );
    counts.extend(super::requests::dispose(conn, client_ids)?);
    // The name index is derived from the names: it goes with them, and is not counted.
    super::clients::remove_index_keys(conn, client_ids)?;
    counts.insert(
        "clients",
        diesel::delete(clients::table.filter(clients::id.eq_any(client_ids))).execute(conn)?,
    );
    Ok(counts)
}

pub fn insert_certificate(conn: &mut DbConnection, row: &CertificateRow) -> QueryResult<()> {
    diesel::insert_into(disposal_certificates::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn certificate(conn: &mut DbConnection, id: &str) -> QueryResult<Option<CertificateRow>> {
    disposal_certificates::table
        .filter(disposal_certificates::id.eq(id))
        .select(CertificateRow::as_select())
        .first(conn)
        .optional()
}
