//! CSPs' annual attestations, and which CSPs under contract are overdue for one.
use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::DbConnection;
use super::directory::OrganisationRow;
use super::schema::{attestations, organisations};
use crate::authz::scope;
use crate::domain::{AttestationStatus, OrganisationKind, StoredAsText};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = attestations)]
pub struct AttestationRow {
    pub id: String,
    pub organisation_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub statement: String,
    pub checklist_version: String,
    /// JSON array of the questions as answered.
    pub answers: String,
    pub signed_by_name: String,
    pub signed_by_position: String,
    pub submitted_by: String,
    pub submitted_at: NaiveDateTime,
    pub status: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub version: i32,
}

pub fn insert(conn: &mut DbConnection, row: &AttestationRow) -> QueryResult<()> {
    diesel::insert_into(attestations::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Attestation `id` of organisation `organisation_id`.
pub fn find(
    conn: &mut DbConnection,
    organisation_id: &str,
    id: &str,
) -> QueryResult<Option<AttestationRow>> {
    attestations::table
        .filter(attestations::id.eq(id))
        .filter(attestations::organisation_id.eq(organisation_id))
        .select(AttestationRow::as_select())
        .first(conn)
        .optional()
}

/// A page of an organisation's attestations, oldest first.
pub fn list(
    conn: &mut DbConnection,
    organisation_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<AttestationRow>> {
    let mut query = attestations::table
        .filter(attestations::organisation_id.eq(organisation_id))
        .select(AttestationRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(attestations::id.gt(after.to_owned()));
    }
    query.order(attestations::id).limit(limit).load(conn)
}

/// Records the department's acknowledgement if the attestation is still at `version` and not
/// yet acknowledged; returns whether it was.
pub fn acknowledge(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    by: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(attestations::table)
        .filter(attestations::id.eq(id))
        .filter(attestations::version.eq(version))
        .filter(attestations::status.eq(AttestationStatus::Submitted.as_str()))
        .set((
            attestations::status.eq(AttestationStatus::Acknowledged.as_str()),
            attestations::acknowledged_by.eq(by),
            attestations::acknowledged_at.eq(at),
            attestations::version.eq(version + 1),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// The organisation's attestation of the latest period: one look-up on
/// `attestations_organisation_period`.
pub fn latest(
    conn: &mut DbConnection,
    organisation_id: &str,
) -> QueryResult<Option<AttestationRow>> {
    attestations::table
        .filter(attestations::organisation_id.eq(organisation_id))
        .order((attestations::period_end.desc(), attestations::id.desc()))
        .select(AttestationRow::as_select())
        .first(conn)
        .optional()
}

/// CSPs in good standing on `today` with no attestation of a period ending on or after
/// `cutoff` that also started their contract before it (or have no start date), with their
/// latest attestation if any; only those of `among` when given (by primary key). One look-up
/// per CSP on `attestations_organisation_period`.
pub fn overdue(
    conn: &mut DbConnection,
    today: NaiveDate,
    cutoff: NaiveDate,
    among: Option<&[String]>,
) -> QueryResult<Vec<(OrganisationRow, Option<AttestationRow>)>> {
    let recent = attestations::table
        .filter(attestations::organisation_id.eq(organisations::id))
        .filter(attestations::period_end.ge(cutoff));
    let mut query = organisations::table
        .filter(organisations::kind.eq(OrganisationKind::Csp.as_str()))
        .filter(scope::in_good_standing(today))
        .filter(not(exists(recent)))
        .filter(
            organisations::contract_starts_on
                .is_null()
                .or(organisations::contract_starts_on
                    .lt(cutoff)
                    .assume_not_null()),
        )
        .order(organisations::id)
        .select(OrganisationRow::as_select())
        .into_boxed();
    if let Some(among) = among {
        query = query.filter(organisations::id.eq_any(among.to_vec()));
    }
    let organisations: Vec<OrganisationRow> = query.load(conn)?;
    organisations
        .into_iter()
        .map(|organisation| {
            let latest = latest(conn, &organisation.id)?;
            Ok((organisation, latest))
        })
        .collect()
}
