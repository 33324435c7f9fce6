use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::changes::{self, Kind};
use super::schema::notes;
use crate::authz::scope::Predicate;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = notes, treat_none_as_default_value = false)]
pub struct NoteRow {
    pub id: String,
    pub case_id: String,
    pub author_id: String,
    pub author_organisation_id: String,
    pub created_at: NaiveDateTime,
    pub note_type: String,
    pub visibility: String,
    pub protective_marking: i32,
    pub body: String,
    pub amends_note_id: Option<String>,
}

pub fn find(
    conn: &mut DbConnection,
    reachable: Predicate<notes::table>,
    id: &str,
) -> QueryResult<Option<NoteRow>> {
    notes::table
        .filter(notes::id.eq(id))
        .filter(reachable)
        .select(NoteRow::as_select())
        .first(conn)
        .optional()
}

/// Those of the notes `ids` that `reachable` lets through.
pub fn find_many(
    conn: &mut DbConnection,
    reachable: Predicate<notes::table>,
    ids: &[String],
) -> QueryResult<Vec<NoteRow>> {
    notes::table
        .filter(notes::id.eq_any(ids))
        .filter(reachable)
        .select(NoteRow::as_select())
        .load(conn)
}

pub fn list_for_case(
    conn: &mut DbConnection,
    reachable: Predicate<notes::table>,
    case_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<NoteRow>> {
    let mut query = notes::table
        .filter(notes::case_id.eq(case_id.to_owned()))
        .filter(reachable)
        .select(NoteRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(notes::id.gt(after.to_owned()));
    }
    query.order(notes::id).limit(limit).load(conn)
}

pub fn insert(conn: &mut DbConnection, row: &NoteRow) -> QueryResult<()> {
    diesel::insert_into(notes::table)
        .values(row)
        .execute(conn)?;
    changes::record(conn, Kind::Note, &row.id, row.created_at)
}

/// Stores `rows` in batches (bulk loads).
pub fn insert_many(conn: &mut DbConnection, rows: &[NoteRow]) -> QueryResult<()> {
    crate::insert_batches!(conn, notes::table, rows)
}
