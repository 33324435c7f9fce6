//! Facts about the installation (`settings`: key and value), such as that it holds demo data.
use diesel::prelude::*;

use super::DbConnection;
use super::schema::settings;

pub fn get(conn: &mut DbConnection, key: &str) -> QueryResult<Option<String>> {
    settings::table
        .filter(settings::key.eq(key))
        .select(settings::value)
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, key: &str, value: &str) -> QueryResult<()> {
    diesel::insert_into(settings::table)
        .values((settings::key.eq(key), settings::value.eq(value)))
        .execute(conn)
        .map(drop)
}

/// Sets `key` to `value`, whether or not it was set.
pub fn set(conn: &mut DbConnection, key: &str, value: &str) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::delete(settings::table.filter(settings::key.eq(key))).execute(conn)?;
        insert(conn, key, value)
    })
}
