//! Retention schedules, archiving closed cases and disposing of client files.
use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use diesel::dsl::not;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::changes::Kind;
use super::schema::{
    allocations, cases, change_history, clients, complaints, consents, disposal_certificates,
    legal_holds, notes, notices_given, retention_schedules,
};
use super::{Backend, DbConnection};
use crate::domain::{CaseStatus, ComplaintStatus, StoredAsText};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = retention_schedules)]
pub struct ScheduleRow {
    pub id: String,
    /// None for the schedule for clients without cases, which archives nothing either.
    pub service_type: Option<String>,
    pub archive_after_years: Option<i32>,
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

/// A schedule's cutoff as of a run: a case of `service_type` closed before `before` is past
/// it (see `retention::Cutoffs`).
#[derive(Debug, Clone)]
pub struct Cutoff {
    pub service_type: String,
    pub before: NaiveDateTime,
}

type CasePredicate = Box<dyn BoxableExpression<cases::table, Backend, SqlType = Bool>>;

/// A case closed before its schedule's cutoff: `retention::closed_past` in SQL, for statements
/// that name their cases or clients (a writer job's re-check of its own ids, a chunk of
/// clients). Never NULL, so that its negation is "not past" for a case never closed too. The
/// status is compared as an expression, so that SQLite (which keeps no statistics) looks the
/// named rows up instead of walking every closed case of `cases_retention`. None when there
/// are no cutoffs: nothing is past.
fn closed_past(cutoffs: &[Cutoff]) -> Option<CasePredicate> {
    cutoffs
        .iter()
        .map(|cutoff| -> CasePredicate {
            Box::new(
                cases::status
                    .concat("")
                    .eq(CaseStatus::Closed.as_str())
                    .and(cases::service_type.eq(cutoff.service_type.clone()))
                    .and(cases::closed_at.assume_not_null().lt(cutoff.before)),
            )
        })
        .reduce(|any, branch| Box::new(any.or(branch)))
        .map(|any| -> CasePredicate { Box::new(cases::closed_at.is_not_null().and(any)) })
}

/// The closed cases of `cutoff`'s service type closed before it: one range of the
/// `cases_retention` index, whose columns answer the run's queries without reading the cases.
/// A query per schedule rather than one with a branch per schedule: for that one SQLite
/// gathered every match's row id to merge the branches, then read each case's row (5.6 s for
/// 671,000 cases at a million clients).
fn closed_before(cutoff: &Cutoff) -> cases::BoxedQuery<'static, Backend> {
    cases::table
        .filter(cases::status.eq(CaseStatus::Closed.as_str()))
        .filter(cases::service_type.eq(cutoff.service_type.clone()))
        .filter(cases::closed_at.lt(cutoff.before))
        .into_boxed()
}

/// Cases not archived and closed past their archive cutoff, sorted; of `among` only, when
/// given (a writer job's re-check of its own ids, looked up by id).
pub fn to_archive(
    conn: &mut DbConnection,
    cutoffs: &[Cutoff],
    among: Option<&[String]>,
) -> QueryResult<Vec<String>> {
    let mut due = Vec::new();
    if let Some(ids) = among {
        if let Some(past) = closed_past(cutoffs) {
            due = cases::table
                .filter(cases::id.eq_any(ids))
                .filter(cases::archived_at.is_null())
                .filter(past)
                .select(cases::id)
                .load(conn)?;
        }
    } else {
        for cutoff in cutoffs {
            let query = closed_before(cutoff)
                .filter(cases::archived_at.is_null())
                .select(cases::id);
            due.extend(query.load::<String>(conn)?);
        }
    }
    due.sort_unstable();
    Ok(due)
}

/// Clients with a case past its dispose cutoff and none that is not (holds aside: see
/// [`held`]), sorted; of `among` only, when given (a writer job's re-check of its own ids).
/// Two steps rather than one correlated NOT EXISTS (which diesel cannot type over a predicate
/// built at run time): the clients with a case past (from the `cases_retention` index, or
/// `among`'s by `cases_client`), then, per chunk of them, those with a case that is not,
/// through `cases_client`.
pub fn to_dispose(
    conn: &mut DbConnection,
    cutoffs: &[Cutoff],
    among: Option<&[String]>,
) -> QueryResult<Vec<String>> {
    let mut past = BTreeSet::new();
    if let Some(ids) = among {
        if let Some(closed) = closed_past(cutoffs) {
            past.extend(
                cases::table
                    .filter(cases::client_id.eq_any(ids))
                    .filter(closed)
                    .select(cases::client_id)
                    .load::<String>(conn)?,
            );
        }
    } else {
        for cutoff in cutoffs {
            let query = closed_before(cutoff).select(cases::client_id);
            past.extend(query.load::<String>(conn)?);
        }
    }
    let mut candidates: Vec<String> = past.into_iter().collect();
    let mut kept = BTreeSet::new();
    for chunk in candidates.chunks(CHUNK) {
        let past = closed_past(cutoffs).expect("cutoffs are not empty");
        kept.extend(
            cases::table
                .filter(cases::client_id.eq_any(chunk))
                .filter(not(past))
                .select(cases::client_id)
                .distinct()
                .load::<String>(conn)?,
        );
    }
    candidates.retain(|client| !kept.contains(client));
    Ok(candidates)
}

/// Clients who never had a case and whose file has had no activity since `before` (holds
/// aside: see [`held`]), sorted; of `among` only, when given (a writer job's re-check of its
/// own ids). Steps, as in [`to_dispose`]: the clients not changed since `before`, from the
/// `clients_updated_at` index; then, per chunk of them, those with a case (`cases_client`) or
/// other activity since ([`active_since`]) are kept. (One statement with a correlated NOT
/// EXISTS lets PostgreSQL's planner merge the whole clients and cases indexes instead.)
pub fn to_dispose_without_cases(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    among: Option<&[String]>,
) -> QueryResult<Vec<String>> {
    let mut query = clients::table
        .filter(clients::updated_at.lt(before))
        .select(clients::id)
        .into_boxed();
    if let Some(ids) = among {
        query = query.filter(clients::id.eq_any(ids));
    }
    let mut candidates: Vec<String> = query.load(conn)?;
    candidates.sort_unstable();
    let mut kept = BTreeSet::new();
    for chunk in candidates.chunks(CHUNK) {
        kept.extend(
            cases::table
                .filter(cases::client_id.eq_any(chunk))
                .select(cases::client_id)
                .distinct()
                .load::<String>(conn)?,
        );
        kept.extend(active_since(conn, chunk, before)?);
    }
    candidates.retain(|client| !kept.contains(client));
    Ok(candidates)
}

/// Of `client_ids`, those whose file records activity at `since` or later, other than a change
/// of the client record itself (its `updated_at`, set at creation too): a consent recorded or
/// withdrawn, a collection notice given, a complaint, access or correction request recorded,
/// changed or decided. Each is looked up by its table's `client_id` index. Reads of the file
/// are not activity: lists and searches name every client they show in the audit trail, and
/// would keep every file alive. Notes belong to cases, and legal holds keep a file while they
/// are active (see [`held`]), so neither is looked at here.
fn active_since(
    conn: &mut DbConnection,
    client_ids: &[String],
    since: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let mut active: Vec<String> = consents::table
        .filter(consents::client_id.eq_any(client_ids))
        .filter(
            consents::recorded_at
                .ge(since)
                .or(consents::withdrawal_recorded_at.ge(since)),
        )
        .select(consents::client_id)
        .load(conn)?;
    active.extend(
        notices_given::table
            .filter(notices_given::client_id.eq_any(client_ids))
            .filter(notices_given::recorded_at.ge(since))
            .select(notices_given::client_id)
            .load::<String>(conn)?,
    );
    // A complaint's `updated_at` starts at its recording.
    active.extend(
        complaints::table
            .filter(complaints::client_id.eq_any(client_ids))
            .filter(complaints::updated_at.ge(since))
            .select(complaints::client_id.assume_not_null())
            .load::<String>(conn)?,
    );
    active.extend(super::requests::active_since(conn, client_ids, since)?);
    Ok(active)
}

/// The service types of `client_ids`' cases: the schedules their disposal applies.
pub fn service_types(conn: &mut DbConnection, client_ids: &[String]) -> QueryResult<Vec<String>> {
    cases::table
        .filter(cases::client_id.eq_any(client_ids))
        .select(cases::service_type)
        .distinct()
        .load(conn)
}

/// Ids per statement: well under either database's limit on bound parameters.
pub const CHUNK: usize = 500;

pub fn schedules(conn: &mut DbConnection) -> QueryResult<Vec<ScheduleRow>> {
    // The schedule for clients without cases first, on both databases.
    retention_schedules::table
        .order((
            retention_schedules::service_type.is_not_null(),
            retention_schedules::service_type,
        ))
        .select(ScheduleRow::as_select())
        .load(conn)
}

/// The schedule for `service_type`, or (None) the one for clients without cases.
pub fn schedule_for(
    conn: &mut DbConnection,
    service_type: Option<&str>,
) -> QueryResult<Option<ScheduleRow>> {
    let query = retention_schedules::table
        .select(ScheduleRow::as_select())
        .into_boxed::<Backend>();
    match service_type {
        Some(service_type) => query.filter(retention_schedules::service_type.eq(service_type)),
        None => query.filter(retention_schedules::service_type.is_null()),
    }
    .first(conn)
    .optional()
}

pub fn insert_schedule(conn: &mut DbConnection, row: &ScheduleRow) -> QueryResult<()> {
    diesel::insert_into(retention_schedules::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn archive(
    conn: &mut DbConnection,
    case_ids: &[String],
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let archived = diesel::update(cases::table)
        .filter(cases::id.eq_any(case_ids))
        .filter(cases::archived_at.is_null())
        .set(cases::archived_at.eq(now))
        .execute(conn)?;
    // An archived case leaves every CSP's reach, and its client may too: their systems hear
    // of both.
    let archived_cases: Vec<(String, String)> = cases::table
        .filter(cases::id.eq_any(case_ids))
        .select((cases::id, cases::client_id))
        .load(conn)?;
    for (case_id, client_id) in &archived_cases {
        super::changes::record(conn, Kind::Case, case_id, now)?;
        super::changes::record(conn, Kind::Client, client_id, now)?;
    }
    Ok(archived)
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

/// What [`records`] does with the records of a client's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// Deletes them: disposal.
    Delete,
    /// Counts them: a dry run, which so counts exactly the tables disposal deletes from.
    Count,
}

/// Deletes or counts the records of `$source` (a filtered table), as `$records` says.
macro_rules! delete_or_count {
    ($conn:expr, $records:expr, $source:expr) => {
        match $records {
            Records::Delete => diesel::delete($source).execute($conn)?,
            Records::Count => $source.count().get_result::<i64>($conn)? as usize,
        }
    };
}
pub(crate) use delete_or_count;

/// Deletes the personal data of `client_ids` (their files, cases, allocations, notes,
/// consents, notices given, legal holds, complaints, access and correction requests and the
/// statements kept with the file) and returns how many records of each
/// kind went. Audit rows stay: they hold ids only; so does the change feed's one removal
/// per client, which tells the systems that copied the file to delete it too.
pub fn dispose(
    conn: &mut DbConnection,
    client_ids: &[String],
    now: NaiveDateTime,
) -> QueryResult<BTreeMap<&'static str, usize>> {
    super::changes::record_disposals(conn, client_ids, now)?;
    records(conn, client_ids, Records::Delete)
}

/// How many records of each kind disposing of `client_ids` would delete.
pub fn count(
    conn: &mut DbConnection,
    client_ids: &[String],
) -> QueryResult<BTreeMap<&'static str, usize>> {
    records(conn, client_ids, Records::Count)
}

/// The one list of what a client's file holds: disposal deletes it, a dry run counts it.
fn records(
    conn: &mut DbConnection,
    client_ids: &[String],
    records: Records,
) -> QueryResult<BTreeMap<&'static str, usize>> {
    let case_ids: Vec<String> = cases::table
        .filter(cases::client_id.eq_any(client_ids))
        .select(cases::id)
        .load(conn)?;
    let mut counts = BTreeMap::new();
    counts.insert(
        "notes",
        delete_or_count!(
            conn,
            records,
            notes::table.filter(notes::case_id.eq_any(&case_ids))
        ),
    );
    counts.insert(
        "allocations",
        delete_or_count!(
            conn,
            records,
            allocations::table.filter(allocations::case_id.eq_any(&case_ids))
        ),
    );
    counts.insert(
        "cases",
        delete_or_count!(
            conn,
            records,
            cases::table.filter(cases::id.eq_any(&case_ids))
        ),
    );
    counts.insert(
        "consents",
        delete_or_count!(
            conn,
            records,
            consents::table.filter(consents::client_id.eq_any(client_ids))
        ),
    );
    counts.insert(
        "notices_given",
        delete_or_count!(
            conn,
            records,
            notices_given::table.filter(notices_given::client_id.eq_any(client_ids))
        ),
    );
    counts.insert(
        "legal_holds",
        delete_or_count!(
            conn,
            records,
            legal_holds::table.filter(legal_holds::client_id.eq_any(client_ids))
        ),
    );
    counts.insert(
        "complaints",
        delete_or_count!(
            conn,
            records,
            complaints::table.filter(complaints::client_id.eq_any(client_ids))
        ),
    );
    counts.insert(
        "change_history",
        delete_or_count!(
            conn,
            records,
            change_history::table.filter(change_history::client_id.eq_any(client_ids))
        ),
    );
    counts.extend(super::requests::dispose(conn, client_ids, records)?);
    counts.insert(
        "kept_responses",
        super::idempotency::forget_clients(conn, client_ids, records)?,
    );
    // The name index is derived from the names: it goes with them, and is not counted.
    if records == Records::Delete {
        super::clients::remove_index_keys(conn, client_ids)?;
    }
    counts.insert(
        "clients",
        delete_or_count!(
            conn,
            records,
            clients::table.filter(clients::id.eq_any(client_ids))
        ),
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

/// Replaces a certificate's schedules, counts and hashes: a run's disposal batches complete
/// the one certificate of the run, each in its own transaction.
pub fn update_certificate(conn: &mut DbConnection, row: &CertificateRow) -> QueryResult<()> {
    diesel::update(disposal_certificates::table.filter(disposal_certificates::id.eq(&row.id)))
        .set((
            disposal_certificates::schedules.eq(&row.schedules),
            disposal_certificates::record_counts.eq(&row.record_counts),
            disposal_certificates::client_id_hashes.eq(&row.client_id_hashes),
        ))
        .execute(conn)
        .map(drop)
}
