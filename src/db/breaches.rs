//! The data breach register and what the audit trail says a breach disclosed.
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{
    audit_events, breach_containment_actions, breach_decisions_not_to_notify, breach_extensions,
    breach_manual_individuals, breach_notifications, breach_snapshots, breaches, cases, clients,
    notes,
};
use crate::domain::{BreachStatus, StoredAsText};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = breaches)]
pub struct BreachRow {
    pub id: String,
    pub aware_at: NaiveDateTime,
    pub reported_by: String,
    pub source: String,
    pub description: String,
    pub kinds: String,
    pub suspected_actor_ids: String,
    pub window_from: NaiveDateTime,
    pub window_to: NaiveDateTime,
    pub assessment_due_on: NaiveDate,
    pub status: String,
    pub eligible: Option<bool>,
    pub assessment: Option<String>,
    pub assessed_at: Option<NaiveDateTime>,
    pub assessed_by: Option<String>,
    pub review: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    pub reviewed_by: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub version: i32,
    pub occurred_at: Option<NaiveDateTime>,
    pub occurred_until: Option<NaiveDateTime>,
    /// JSON array of the agencies on whose behalf the breach is reported.
    pub on_behalf_of: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = breach_extensions)]
pub struct ExtensionRow {
    pub id: String,
    pub breach_id: String,
    pub previous_due_on: NaiveDate,
    pub new_due_on: NaiveDate,
    pub reason: String,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = breach_containment_actions)]
pub struct ContainmentRow {
    pub id: String,
    pub breach_id: String,
    pub action: String,
    pub target_id: String,
    pub outcome: String,
    pub performed_by: String,
    pub performed_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = breach_snapshots)]
pub struct SnapshotRow {
    pub id: String,
    pub breach_id: String,
    pub taken_at: NaiveDateTime,
    pub taken_by: String,
    pub content: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = breach_notifications)]
pub struct NotificationRow {
    pub id: String,
    pub breach_id: String,
    pub recipient: String,
    pub client_id: Option<String>,
    pub method: String,
    pub sent_on: NaiveDate,
    pub snapshot_id: String,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
}

/// An affected individual added by hand.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = breach_manual_individuals)]
pub struct ManualIndividualRow {
    pub id: String,
    pub breach_id: String,
    pub client_id: String,
    pub information_kinds: String,
    pub protective_marking: i32,
    pub source: String,
    pub reason: String,
    pub added_by: String,
    pub added_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = breach_decisions_not_to_notify)]
pub struct DecisionRow {
    pub id: String,
    pub breach_id: String,
    pub recipient: String,
    pub client_id: Option<String>,
    pub ground: String,
    pub explanation: Option<String>,
    pub decided_by: String,
    pub decided_at: NaiveDateTime,
}

/// Which breaches a list holds.
#[derive(Debug, Default, Clone)]
pub struct BreachFilter {
    pub eligible: Option<bool>,
    /// Only breaches still being assessed whose assessment was due before this day.
    pub assessment_due_before: Option<NaiveDate>,
}

pub fn insert(conn: &mut DbConnection, row: &BreachRow) -> QueryResult<()> {
    diesel::insert_into(breaches::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<BreachRow>> {
    breaches::table
        .find(id)
        .select(BreachRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(
    conn: &mut DbConnection,
    filter: &BreachFilter,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<BreachRow>> {
    let mut query = breaches::table.select(BreachRow::as_select()).into_boxed();
    if let Some(eligible) = filter.eligible {
        query = query.filter(breaches::eligible.eq(eligible));
    }
    if let Some(day) = filter.assessment_due_before {
        query = query
            .filter(breaches::status.eq(BreachStatus::Assessing.as_str()))
            .filter(breaches::assessment_due_on.lt(day));
    }
    if let Some(after) = after {
        query = query.filter(breaches::id.gt(after.to_owned()));
    }
    query.order(breaches::id).limit(limit).load(conn)
}

/// Records the assessment if the breach is still at `version`; false when it is not.
pub fn assess(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    eligible: bool,
    assessment: &str,
    by: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let changed = diesel::update(
        breaches::table
            .filter(breaches::id.eq(id))
            .filter(breaches::version.eq(version)),
    )
    .set((
        breaches::status.eq(BreachStatus::Assessed.as_str()),
        breaches::eligible.eq(eligible),
        breaches::assessment.eq(assessment),
        breaches::assessed_at.eq(at),
        breaches::assessed_by.eq(by),
        breaches::version.eq(version + 1),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

pub fn set_assessment_due_on(
    conn: &mut DbConnection,
    id: &str,
    due_on: NaiveDate,
) -> QueryResult<()> {
    diesel::update(breaches::table.filter(breaches::id.eq(id)))
        .set(breaches::assessment_due_on.eq(due_on))
        .execute(conn)
        .map(drop)
}

pub fn set_review(
    conn: &mut DbConnection,
    id: &str,
    review: &str,
    by: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(breaches::table.filter(breaches::id.eq(id)))
        .set((
            breaches::status.eq(BreachStatus::Reviewed.as_str()),
            breaches::review.eq(review),
            breaches::reviewed_at.eq(at),
            breaches::reviewed_by.eq(by),
        ))
        .execute(conn)
        .map(drop)
}

/// Counts a change to the breach or to what it holds (extensions, containment, notifications),
/// so that an ETag read before it no longer matches.
pub fn bump_version(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(breaches::table.filter(breaches::id.eq(id)))
        .set(breaches::version.eq(breaches::version + 1))
        .execute(conn)
        .map(drop)
}

pub fn extensions(conn: &mut DbConnection, breach_id: &str) -> QueryResult<Vec<ExtensionRow>> {
    breach_extensions::table
        .filter(breach_extensions::breach_id.eq(breach_id))
        .order(breach_extensions::id)
        .select(ExtensionRow::as_select())
        .load(conn)
}

pub fn insert_extension(conn: &mut DbConnection, row: &ExtensionRow) -> QueryResult<()> {
    diesel::insert_into(breach_extensions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn containment(conn: &mut DbConnection, breach_id: &str) -> QueryResult<Vec<ContainmentRow>> {
    breach_containment_actions::table
        .filter(breach_containment_actions::breach_id.eq(breach_id))
        .order(breach_containment_actions::id)
        .select(ContainmentRow::as_select())
        .load(conn)
}

pub fn insert_containment(conn: &mut DbConnection, row: &ContainmentRow) -> QueryResult<()> {
    diesel::insert_into(breach_containment_actions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn latest_snapshot(
    conn: &mut DbConnection,
    breach_id: &str,
) -> QueryResult<Option<SnapshotRow>> {
    breach_snapshots::table
        .filter(breach_snapshots::breach_id.eq(breach_id))
        .order((
            breach_snapshots::taken_at.desc(),
            breach_snapshots::id.desc(),
        ))
        .select(SnapshotRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert_snapshot(conn: &mut DbConnection, row: &SnapshotRow) -> QueryResult<()> {
    diesel::insert_into(breach_snapshots::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn notifications(
    conn: &mut DbConnection,
    breach_id: &str,
) -> QueryResult<Vec<NotificationRow>> {
    breach_notifications::table
        .filter(breach_notifications::breach_id.eq(breach_id))
        .order(breach_notifications::id)
        .select(NotificationRow::as_select())
        .load(conn)
}

pub fn insert_notification(conn: &mut DbConnection, row: &NotificationRow) -> QueryResult<()> {
    diesel::insert_into(breach_notifications::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn manual_individuals(
    conn: &mut DbConnection,
    breach_id: &str,
) -> QueryResult<Vec<ManualIndividualRow>> {
    breach_manual_individuals::table
        .filter(breach_manual_individuals::breach_id.eq(breach_id))
        .order(breach_manual_individuals::id)
        .select(ManualIndividualRow::as_select())
        .load(conn)
}

pub fn insert_manual_individual(
    conn: &mut DbConnection,
    row: &ManualIndividualRow,
) -> QueryResult<()> {
    diesel::insert_into(breach_manual_individuals::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn decisions(conn: &mut DbConnection, breach_id: &str) -> QueryResult<Vec<DecisionRow>> {
    breach_decisions_not_to_notify::table
        .filter(breach_decisions_not_to_notify::breach_id.eq(breach_id))
        .order(breach_decisions_not_to_notify::id)
        .select(DecisionRow::as_select())
        .load(conn)
}

pub fn insert_decision(conn: &mut DbConnection, row: &DecisionRow) -> QueryResult<()> {
    diesel::insert_into(breach_decisions_not_to_notify::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The protective markings (ranks) of records in the files of `client_ids`: (client id,
/// rank) pairs of the client records, of their cases, or of their cases' notes.
pub fn markings(
    conn: &mut DbConnection,
    of: MarkedRecords,
    client_ids: &[String],
) -> QueryResult<Vec<(String, i32)>> {
    match of {
        MarkedRecords::Clients => clients::table
            .filter(clients::id.eq_any(client_ids))
            .select((clients::id, clients::protective_marking))
            .load(conn),
        MarkedRecords::Cases => cases::table
            .filter(cases::client_id.eq_any(client_ids))
            .select((cases::client_id, cases::protective_marking))
            .load(conn),
        MarkedRecords::Notes => notes::table
            .inner_join(cases::table)
            .filter(cases::client_id.eq_any(client_ids))
            .select((cases::client_id, notes::protective_marking))
            .load(conn),
    }
}

/// Which records of a client's file [`markings`] reads.
#[derive(Debug, Clone, Copy)]
pub enum MarkedRecords {
    Clients,
    Cases,
    Notes,
}

/// One allowed request of a suspected actor that disclosed client data.
#[derive(Debug, Clone, Queryable)]
pub struct DisclosingEvent {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub resource_type: Option<String>,
    pub client_ids: String,
    pub fields: String,
}

/// Every allowed request of `actors` within [from, to) whose response named a client, oldest
/// first. Served by the (actor, time) index.
pub fn disclosing_events(
    conn: &mut DbConnection,
    actors: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<DisclosingEvent>> {
    audit_events::table
        .filter(audit_events::actor_user_id.eq_any(actors))
        .filter(audit_events::occurred_at.ge(from))
        .filter(audit_events::occurred_at.lt(to))
        .filter(audit_events::outcome.eq("allowed"))
        .filter(audit_events::client_ids.ne("[]"))
        .order((audit_events::occurred_at, audit_events::id))
        .select((
            audit_events::id,
            audit_events::occurred_at,
            audit_events::resource_type,
            audit_events::client_ids,
            audit_events::fields,
        ))
        .load(conn)
}
