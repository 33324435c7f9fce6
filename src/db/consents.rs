//! Consents: given, withdrawn, never deleted (until the client's file is disposed of).
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::DbConnection;
use super::schema::consents;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consents, treat_none_as_default_value = false)]
pub struct ConsentRow {
    pub id: String,
    pub client_id: String,
    pub purpose: String,
    pub given_on: NaiveDate,
    pub method: String,
    pub expires_on: Option<NaiveDate>,
    pub withdrawn_on: Option<NaiveDate>,
    pub withdrawal_method: Option<String>,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
    pub withdrawal_recorded_by: Option<String>,
    pub withdrawal_recorded_at: Option<NaiveDateTime>,
}

pub struct Withdrawal<'a> {
    pub on: NaiveDate,
    pub method: &'a str,
    pub by: &'a str,
    pub at: NaiveDateTime,
}

pub fn of_client(conn: &mut DbConnection, client_id: &str) -> QueryResult<Vec<ConsentRow>> {
    consents::table
        .filter(consents::client_id.eq(client_id))
        .order((consents::recorded_at, consents::id))
        .select(ConsentRow::as_select())
        .load(conn)
}

pub fn find(conn: &mut DbConnection, client_id: &str, id: &str) -> QueryResult<Option<ConsentRow>> {
    consents::table
        .filter(consents::client_id.eq(client_id))
        .filter(consents::id.eq(id))
        .select(ConsentRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, row: &ConsentRow) -> QueryResult<()> {
    diesel::insert_into(consents::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Stores `rows` in batches (bulk loads).
pub fn insert_many(conn: &mut DbConnection, rows: &[ConsentRow]) -> QueryResult<()> {
    crate::insert_batches!(conn, consents::table, rows)
}

/// Records the withdrawal unless one was recorded already; returns whether it was recorded.
pub fn withdraw(conn: &mut DbConnection, id: &str, withdrawal: &Withdrawal) -> QueryResult<bool> {
    let updated = diesel::update(consents::table)
        .filter(consents::id.eq(id))
        .filter(consents::withdrawn_on.is_null())
        .set((
            consents::withdrawn_on.eq(withdrawal.on),
            consents::withdrawal_method.eq(withdrawal.method),
            consents::withdrawal_recorded_by.eq(withdrawal.by),
            consents::withdrawal_recorded_at.eq(withdrawal.at),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}
