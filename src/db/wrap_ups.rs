//! Contract wrap-ups: what a CSP held (its principals, the clients ever allocated to it), what
//! the audit trail shows was disclosed to it (the annex, a page of clients at a time), and its
//! certificates of return or destruction.
use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::{count_star, exists, max, min, not};
use diesel::prelude::*;

use super::DbConnection;
use super::directory::OrganisationRow;
use super::schema::{
    allocations, audit_event_clients, audit_events, cases, organisations, users,
    wrap_up_certificates, wrap_ups,
};
use crate::domain::{OrganisationKind, StoredAsText, WrapUpStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = wrap_ups)]
pub struct WrapUpRow {
    pub id: String,
    pub organisation_id: String,
    pub contract_ends_on: NaiveDate,
    pub status: String,
    pub opened_by: String,
    pub opened_at: NaiveDateTime,
    pub closed_by: Option<String>,
    pub closed_at: Option<NaiveDateTime>,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = wrap_up_certificates)]
pub struct CertificateRow {
    pub id: String,
    pub wrap_up_id: String,
    pub what: String,
    pub how: String,
    pub done_on: NaiveDate,
    pub by_whom: String,
    pub statement: String,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
}

/// A user or API client of the organisation, as the wrap-up lists them.
#[derive(Debug, Clone, Queryable)]
pub struct PrincipalRow {
    pub id: String,
    pub kind: String,
    pub username: String,
    pub display_name: String,
    pub roles: String,
    pub status: String,
}

pub fn insert(conn: &mut DbConnection, row: &WrapUpRow) -> QueryResult<()> {
    diesel::insert_into(wrap_ups::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The organisation's latest wrap-up: the open one, else the last closed.
pub fn latest(conn: &mut DbConnection, organisation_id: &str) -> QueryResult<Option<WrapUpRow>> {
    wrap_ups::table
        .filter(wrap_ups::organisation_id.eq(organisation_id))
        .order(wrap_ups::id.desc())
        .select(WrapUpRow::as_select())
        .first(conn)
        .optional()
}

pub fn certificates(conn: &mut DbConnection, wrap_up_id: &str) -> QueryResult<Vec<CertificateRow>> {
    wrap_up_certificates::table
        .filter(wrap_up_certificates::wrap_up_id.eq(wrap_up_id))
        .order(wrap_up_certificates::id)
        .select(CertificateRow::as_select())
        .load(conn)
}

/// How many certificates the wrap-up holds.
pub fn certificate_count(conn: &mut DbConnection, wrap_up_id: &str) -> QueryResult<i64> {
    wrap_up_certificates::table
        .filter(wrap_up_certificates::wrap_up_id.eq(wrap_up_id))
        .count()
        .get_result(conn)
}

/// Adds a certificate and counts it as a change of its wrap-up, so that a close prepared
/// before it was recorded no longer matches.
pub fn insert_certificate(conn: &mut DbConnection, row: &CertificateRow) -> QueryResult<()> {
    diesel::insert_into(wrap_up_certificates::table)
        .values(row)
        .execute(conn)?;
    diesel::update(wrap_ups::table.filter(wrap_ups::id.eq(&row.wrap_up_id)))
        .set(wrap_ups::version.eq(wrap_ups::version + 1))
        .execute(conn)
        .map(drop)
}

/// Closes the wrap-up if it is still open at `version`; returns whether it was.
pub fn close(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    by: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(wrap_ups::table)
        .filter(wrap_ups::id.eq(id))
        .filter(wrap_ups::version.eq(version))
        .filter(wrap_ups::status.eq(WrapUpStatus::Open.as_str()))
        .set((
            wrap_ups::status.eq(WrapUpStatus::Closed.as_str()),
            wrap_ups::closed_by.eq(by),
            wrap_ups::closed_at.eq(at),
            wrap_ups::version.eq(version + 1),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Every user and API client of the organisation, whatever their status.
pub fn principals(
    conn: &mut DbConnection,
    organisation_id: &str,
) -> QueryResult<Vec<PrincipalRow>> {
    users::table
        .filter(users::organisation_id.eq(organisation_id))
        .order(users::id)
        .select((
            users::id,
            users::kind,
            users::username,
            users::display_name,
            users::roles,
            users::status,
        ))
        .load(conn)
}

/// How many clients ever had a case allocated to the organisation.
pub fn allocated_client_count(conn: &mut DbConnection, organisation_id: &str) -> QueryResult<i64> {
    allocations::table
        .inner_join(cases::table)
        .filter(allocations::organisation_id.eq(organisation_id))
        .select(diesel::dsl::count(cases::client_id).aggregate_distinct())
        .get_result(conn)
}

/// A page of the clients ever allocated to the organisation, by id: its allocations on
/// `allocations_organisation`, each case by its key.
pub fn allocated_clients(
    conn: &mut DbConnection,
    organisation_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<String>> {
    let mut query = allocations::table
        .inner_join(cases::table)
        .filter(allocations::organisation_id.eq(organisation_id))
        .select(cases::client_id)
        .distinct()
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(cases::client_id.gt(after.to_owned()));
    }
    query.order(cases::client_id).limit(limit).load(conn)
}

/// An allocation of a client's case to the organisation.
#[derive(Debug, Clone, Queryable)]
pub struct ClientAllocation {
    pub client_id: String,
    pub case_id: String,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
}

/// The organisation's allocations of cases of `client_ids`, by client, start and id. Two
/// look-ups: the clients' cases (`cases_client`), then those cases' allocations to the
/// organisation (`allocations_case_organisation`). Joined in one statement, SQLite (which
/// keeps no statistics) walked every allocation of the organisation, tens of thousands for a
/// large CSP, for each page of the annex.
pub fn allocations_of(
    conn: &mut DbConnection,
    organisation_id: &str,
    client_ids: &[String],
) -> QueryResult<Vec<ClientAllocation>> {
    let client_of: HashMap<String, String> = cases::table
        .filter(cases::client_id.eq_any(client_ids))
        .select((cases::id, cases::client_id))
        .load(conn)?
        .into_iter()
        .collect();
    let mut found: Vec<(String, NaiveDate, String, Option<NaiveDate>)> = allocations::table
        .filter(allocations::case_id.eq_any(client_of.keys()))
        .filter(allocations::organisation_id.eq(organisation_id))
        .select((
            allocations::case_id,
            allocations::starts_on,
            allocations::id,
            allocations::ends_on,
        ))
        .load(conn)?;
    let client = |case_id: &str| client_of[case_id].clone();
    found.sort_by_cached_key(|(case_id, starts_on, id, _)| {
        (client(case_id), *starts_on, id.clone())
    });
    Ok(found
        .into_iter()
        .map(|(case_id, starts_on, _, ends_on)| ClientAllocation {
            client_id: client(&case_id),
            case_id,
            starts_on,
            ends_on,
        })
        .collect())
}

/// What the organisation's principals were disclosed of each of `client_ids`, from the audit
/// trail: per client, resource and set of fields, the first and last disclosure and how many
/// requests made one. Each client's rows are found on its key in `audit_event_clients` and
/// each event by its key. Reads of the annex itself (`except_resource`) are left out: they
/// name the clients the annex lists, nothing of their files.
pub fn disclosures_to(
    conn: &mut DbConnection,
    organisation_id: &str,
    client_ids: &[String],
    except_resource: &str,
) -> QueryResult<Vec<DisclosureGroup>> {
    audit_event_clients::table
        .inner_join(audit_events::table)
        .filter(audit_event_clients::client_id.eq_any(client_ids))
        .filter(audit_event_clients::disclosed.eq(true))
        .filter(audit_events::actor_organisation_id.eq(organisation_id))
        .filter(audit_events::outcome.eq("allowed"))
        .filter(
            audit_events::resource_type
                .is_null()
                .or(audit_events::resource_type
                    .ne(except_resource)
                    .assume_not_null()),
        )
        .group_by((
            audit_event_clients::client_id,
            audit_events::resource_type,
            audit_events::fields,
        ))
        .select((
            audit_event_clients::client_id,
            audit_events::resource_type,
            audit_events::fields,
            min(audit_event_clients::occurred_at),
            max(audit_event_clients::occurred_at),
            count_star(),
        ))
        .load(conn)
}

/// One group of [`disclosures_to`].
#[derive(Debug, Clone, Queryable)]
pub struct DisclosureGroup {
    pub client_id: String,
    pub resource_type: Option<String>,
    /// The fields disclosed, JSON as the audit row holds them.
    pub fields: String,
    pub first: Option<NaiveDateTime>,
    pub last: Option<NaiveDateTime>,
    /// The requests that disclosed them.
    pub requests: i64,
}

/// A CSP whose contract ended without a closed wrap-up, with its open wrap-up (if any) and the
/// number of its certificates.
pub struct Outstanding {
    pub organisation: OrganisationRow,
    pub open: Option<(WrapUpRow, i64)>,
}

/// CSPs whose contract ended before `today` without a closed wrap-up for that end, with their
/// open wrap-up (if any) and its number of certificates.
pub fn outstanding(conn: &mut DbConnection, today: NaiveDate) -> QueryResult<Vec<Outstanding>> {
    let closed_for_this_end = wrap_ups::table
        .filter(wrap_ups::organisation_id.eq(organisations::id))
        .filter(wrap_ups::status.eq(WrapUpStatus::Closed.as_str()))
        .filter(
            wrap_ups::contract_ends_on
                .nullable()
                .eq(organisations::contract_ends_on),
        );
    let organisations: Vec<OrganisationRow> = organisations::table
        .filter(organisations::kind.eq(OrganisationKind::Csp.as_str()))
        .filter(organisations::contract_ends_on.lt(today))
        .filter(not(exists(closed_for_this_end)))
        .order(organisations::id)
        .select(OrganisationRow::as_select())
        .load(conn)?;
    organisations
        .into_iter()
        .map(|organisation| {
            let open = wrap_ups::table
                .filter(wrap_ups::organisation_id.eq(&organisation.id))
                .filter(wrap_ups::status.eq(WrapUpStatus::Open.as_str()))
                .select(WrapUpRow::as_select())
                .first(conn)
                .optional()?;
            let open = match open {
                Some(wrap_up) => {
                    let certificates = certificate_count(conn, &wrap_up.id)?;
                    Some((wrap_up, certificates))
                }
                None => None,
            };
            Ok(Outstanding { organisation, open })
        })
        .collect()
}
