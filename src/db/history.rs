//! The change history of client files: an entry per creation or change of a client, case or
//! allocation, stored in the change's transaction with who made it, the request, the names of
//! the fields it changed and (sealed) their values before and after. What the values are and
//! who may read them is the API's business (`api::history`); this module stores and finds.
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::change_history;
use crate::domain::PrincipalKind;
use crate::sealing::Sealed;

/// Who made a change, for its history: the principal, its organisation, the request.
#[derive(Debug, Clone)]
pub struct Author {
    /// A person's user id or an API client's id.
    pub principal_id: String,
    pub principal_kind: PrincipalKind,
    pub organisation_id: String,
    pub request_id: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = change_history, treat_none_as_default_value = false)]
pub struct EntryRow {
    pub id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub client_id: String,
    pub case_id: Option<String>,
    pub action: String,
    pub reverts: Option<String>,
    pub changed_at: NaiveDateTime,
    pub changed_by: String,
    pub changed_by_kind: String,
    pub organisation_id: String,
    pub request_id: String,
    /// The higher of the record's protective markings before and after the change.
    pub protective_marking: i32,
    /// The changed fields' names, a JSON list.
    pub fields: String,
    /// `{field: {before, after}}`, sealed (`SealedColumn::ChangeHistory`, bound to `id`).
    pub changes: Sealed,
}

pub fn insert(conn: &mut DbConnection, row: &EntryRow) -> QueryResult<()> {
    crate::on_backend!(conn, |conn| {
        diesel::insert_into(change_history::table)
            .values(row)
            .execute(conn)
            .map(drop)
    })
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<EntryRow>> {
    change_history::table
        .find(id)
        .select(EntryRow::as_select())
        .first(conn)
        .optional()
}

/// Whose entries a history shows.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// One record's own (a client's).
    Record(&'a str),
    /// A case's and its allocations'.
    Case(&'a str),
}

/// `subject`'s entries at or below the marking `clearance`, oldest first, after the entry
/// `after`: at most `limit`.
pub fn entries(
    conn: &mut DbConnection,
    subject: Subject,
    clearance: i32,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<EntryRow>> {
    let mut query = change_history::table
        .filter(change_history::protective_marking.le(clearance))
        .select(EntryRow::as_select())
        .order(change_history::id)
        .limit(limit)
        .into_boxed();
    query = match subject {
        Subject::Record(id) => query.filter(change_history::resource_id.eq(id.to_owned())),
        Subject::Case(id) => query.filter(change_history::case_id.eq(id.to_owned())),
    };
    if let Some(after) = after {
        query = query.filter(change_history::id.gt(after.to_owned()));
    }
    query.load(conn)
}

/// Every entry about the clients `client_ids` (their files, cases and allocations) at or
/// below the marking `clearance`, oldest first: for an access request's bundle.
pub fn of_clients(
    conn: &mut DbConnection,
    client_ids: &[&str],
    clearance: i32,
) -> QueryResult<Vec<EntryRow>> {
    change_history::table
        .filter(change_history::client_id.eq_any(client_ids))
        .filter(change_history::protective_marking.le(clearance))
        .select(EntryRow::as_select())
        .order(change_history::id)
        .load(conn)
}
