//! Alerts: raised with the audit row that caused them, acknowledged by oversight staff, and
//! delivered to a webhook when one is configured.
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{alerts, audit_events};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = alerts)]
pub struct AlertRow {
    pub id: String,
    pub kind: String,
    pub actor_user_id: Option<String>,
    pub subject: String,
    pub reason: String,
    pub event_id: String,
    pub raised_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub acknowledged_by: Option<String>,
    pub acknowledgement_note: Option<String>,
    pub delivery: String,
    pub delivery_attempts: i32,
    pub next_delivery_at: Option<NaiveDateTime>,
    pub delivered_at: Option<NaiveDateTime>,
    pub version: i32,
}

/// Who refused requests are counted for: the account, else the username tried, else the
/// address.
pub enum Subject<'a> {
    User(&'a str),
    Username(&'a str),
    Address(&'a str),
}

pub fn insert(conn: &mut DbConnection, row: &AlertRow) -> QueryResult<()> {
    diesel::insert_into(alerts::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Refused requests of `subject` in (since, until], counted up to `at_most`.
pub fn denials(
    conn: &mut DbConnection,
    subject: &Subject,
    (since, until): (NaiveDateTime, NaiveDateTime),
    at_most: i64,
) -> QueryResult<i64> {
    // Written out, not bound, so that the partial indexes on refused rows apply.
    let refused = diesel::dsl::sql::<diesel::sql_types::Bool>("outcome = 'denied'");
    let query = audit_events::table
        .filter(refused)
        .filter(audit_events::occurred_at.gt(since))
        .filter(audit_events::occurred_at.le(until))
        .select(audit_events::id)
        .limit(at_most)
        .into_boxed();
    let ids: Vec<String> = match subject {
        Subject::User(id) => query.filter(audit_events::actor_user_id.eq(id.to_string())),
        Subject::Username(name) => query
            .filter(audit_events::actor_user_id.is_null())
            .filter(audit_events::attempted_username.eq(name.to_string())),
        Subject::Address(ip) => query
            .filter(audit_events::actor_user_id.is_null())
            .filter(audit_events::attempted_username.is_null())
            .filter(audit_events::ip.eq(ip.to_string())),
    }
    .load(conn)?;
    Ok(ids.len() as i64)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<AlertRow>> {
    alerts::table
        .find(id)
        .select(AlertRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(
    conn: &mut DbConnection,
    acknowledged: Option<bool>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<AlertRow>> {
    let mut query = alerts::table.select(AlertRow::as_select()).into_boxed();
    match acknowledged {
        Some(true) => query = query.filter(alerts::acknowledged_at.is_not_null()),
        Some(false) => query = query.filter(alerts::acknowledged_at.is_null()),
        None => {}
    }
    if let Some(after) = after {
        query = query.filter(alerts::id.gt(after.to_owned()));
    }
    query.order(alerts::id).limit(limit).load(conn)
}

/// Acknowledges the alert if nobody has; false when someone already had.
pub fn acknowledge(
    conn: &mut DbConnection,
    id: &str,
    by: &str,
    note: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let changed = diesel::update(alerts::table)
        .filter(alerts::id.eq(id))
        .filter(alerts::acknowledged_at.is_null())
        .set((
            alerts::acknowledged_at.eq(at),
            alerts::acknowledged_by.eq(by),
            alerts::acknowledgement_note.eq(note),
            alerts::version.eq(alerts::version + 1),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Alerts whose delivery is due, oldest first.
pub fn due_for_delivery(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<AlertRow>> {
    alerts::table
        .filter(alerts::delivery.eq("pending"))
        .filter(alerts::next_delivery_at.le(now))
        .order(alerts::id)
        .limit(limit)
        .select(AlertRow::as_select())
        .load(conn)
}

/// Records a delivery attempt: delivered, or the next attempt's time (None: given up).
pub fn record_delivery(
    conn: &mut DbConnection,
    id: &str,
    delivered_at: Option<NaiveDateTime>,
    next_attempt: Option<NaiveDateTime>,
) -> QueryResult<()> {
    let delivery = match (delivered_at, next_attempt) {
        (Some(_), _) => "delivered",
        (None, Some(_)) => "pending",
        (None, None) => "failed",
    };
    diesel::update(alerts::table.filter(alerts::id.eq(id)))
        .set((
            alerts::delivery.eq(delivery),
            alerts::delivery_attempts.eq(alerts::delivery_attempts + 1),
            alerts::next_delivery_at.eq(next_attempt),
            alerts::delivered_at.eq(delivered_at),
        ))
        .execute(conn)
        .map(drop)
}
