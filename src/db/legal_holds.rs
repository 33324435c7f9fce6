//! Legal holds on client files.
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::legal_holds;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = legal_holds)]
pub struct LegalHoldRow {
    pub id: String,
    pub client_id: String,
    pub reason: String,
    pub placed_by: String,
    pub placed_at: NaiveDateTime,
    pub released_by: Option<String>,
    pub released_at: Option<NaiveDateTime>,
    pub release_reason: Option<String>,
}

pub fn of_client(conn: &mut DbConnection, client_id: &str) -> QueryResult<Vec<LegalHoldRow>> {
    legal_holds::table
        .filter(legal_holds::client_id.eq(client_id))
        .order((legal_holds::placed_at, legal_holds::id))
        .select(LegalHoldRow::as_select())
        .load(conn)
}

pub fn find(
    conn: &mut DbConnection,
    client_id: &str,
    id: &str,
) -> QueryResult<Option<LegalHoldRow>> {
    legal_holds::table
        .filter(legal_holds::client_id.eq(client_id))
        .filter(legal_holds::id.eq(id))
        .select(LegalHoldRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, row: &LegalHoldRow) -> QueryResult<()> {
    diesel::insert_into(legal_holds::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Releases the hold unless it was released already; returns whether it was released now.
pub fn release(
    conn: &mut DbConnection,
    id: &str,
    by: &str,
    at: NaiveDateTime,
    reason: &str,
) -> QueryResult<bool> {
    let updated = diesel::update(legal_holds::table)
        .filter(legal_holds::id.eq(id))
        .filter(legal_holds::released_at.is_null())
        .set((
            legal_holds::released_by.eq(by),
            legal_holds::released_at.eq(at),
            legal_holds::release_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}
