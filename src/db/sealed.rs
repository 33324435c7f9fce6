//! The sealed columns as stored (see `sealing`): which data keys their values were sealed
//! under, and re-sealing values under the current key a small batch at a time, for a key
//! rotation and for plaintext stored before sealing existed.
//!
//! Each batch is read, sealed in memory, then written in one short transaction that replaces
//! a value only if it is still the one that was read, so a concurrent change by the running
//! service is never overwritten (it is looked at again in the next pass). Passes repeat until
//! one finds nothing left to re-seal.
use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};

use super::{Database, DatabaseKind, DbConnection};
use crate::sealing::{Keyring, Sealed, SealedColumn};

diesel::define_sql_function!(fn substr(text: Nullable<Text>, start: Integer, length: Integer) -> Nullable<Text>);

/// Values re-sealed per transaction: few enough that a batch holds the (SQLite) write lock
/// for milliseconds, so the running service's writes never wait long behind a rotation.
pub const BATCH_SIZE: i64 = 100;

/// Passes over a column before giving up: values that keep arriving under an older key mean
/// an instance seals with keys other than this one's.
const MAX_PASSES: usize = 5;

/// Which stored values a re-sealing takes.
#[derive(Debug, Clone)]
pub enum Stale {
    /// Plaintext, stored before sealing existed.
    Plaintext,
    /// Everything not sealed under this key: older keys' values, and plaintext.
    NotUnder(String),
}

impl Stale {
    /// The `NOT LIKE` pattern of the values it takes.
    fn pattern(&self) -> String {
        match self {
            Stale::Plaintext => format!("{}%", Sealed::prefix()),
            Stale::NotUnder(key_id) => format!("{}%", Sealed::prefix_of_key(key_id)),
        }
    }
}

/// Binds `$table` to the schema module of `$column`'s table and `$value` to its column, and
/// evaluates `$body`: one query written once for every sealed column.
macro_rules! with_column {
    ($column:expr, |$table:ident, $value:ident| $body:expr) => {
        match $column {
            SealedColumn::ClientMedicareNumber => {
                use crate::db::schema::clients as $table;
                let $value = $table::medicare_number;
                $body
            }
            SealedColumn::ClientTaxFileNumber => {
                use crate::db::schema::clients as $table;
                let $value = $table::tax_file_number;
                $body
            }
            SealedColumn::UserTotpSecret => {
                use crate::db::schema::users as $table;
                let $value = $table::totp_secret;
                $body
            }
            SealedColumn::CorrectionRequestedValue => {
                use crate::db::schema::correction_requests as $table;
                let $value = $table::requested_value;
                $body
            }
            SealedColumn::ClientStatement => {
                use crate::db::schema::client_statements as $table;
                let $value = $table::statement;
                $body
            }
            SealedColumn::IdempotentResponse => {
                use crate::db::schema::idempotency_keys as $table;
                let $value = $table::response_body;
                $body
            }
            SealedColumn::ChangeHistory => {
                use crate::db::schema::change_history as $table;
                let $value = $table::changes;
                $body
            }
        }
    };
}

/// The table a column belongs to, for the clean-up after plaintext was sealed.
fn table_of(column: SealedColumn) -> &'static str {
    column
        .name()
        .split_once('.')
        .map_or(column.name(), |(table, _)| table)
}

/// The ids of the keys that `column`'s values were sealed under.
pub fn key_ids_in_use(
    conn: &mut DbConnection,
    column: SealedColumn,
) -> QueryResult<BTreeSet<String>> {
    let prefixes: Vec<Option<String>> = with_column!(column, |table, value| {
        table::table
            .filter(value.nullable().like(format!("{}%", Sealed::prefix())))
            .select(substr(
                value.nullable(),
                1,
                Sealed::KEYED_PREFIX_LENGTH as i32,
            ))
            .distinct()
            .load(conn)
    })?;
    Ok(prefixes
        .into_iter()
        .flatten()
        .filter_map(|prefix| Sealed::key_id_of_prefix(&prefix).map(str::to_owned))
        .collect())
}

/// The next values of `column` that `stale` takes, after the row `after`, by row id.
fn stale_values(
    conn: &mut DbConnection,
    column: SealedColumn,
    stale: &Stale,
    after: &str,
) -> QueryResult<Vec<(String, String)>> {
    let rows: Vec<(String, Option<String>)> = with_column!(column, |table, value| {
        // NULL is NOT LIKE nothing, so empty values are never taken.
        table::table
            .filter(value.nullable().not_like(stale.pattern()))
            .filter(table::id.gt(after))
            .order(table::id)
            .limit(BATCH_SIZE)
            .select((table::id, value.nullable()))
            .load(conn)
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, stored)| stored.map(|stored| (id, stored)))
        .collect())
}

/// Replaces `column`'s value in the row `id` if it is still `stored`; answers whether it was.
fn replace(
    conn: &mut DbConnection,
    column: SealedColumn,
    id: &str,
    stored: &str,
    sealed: &Sealed,
) -> QueryResult<bool> {
    let updated = with_column!(column, |table, value| {
        diesel::update(
            table::table
                .filter(table::id.eq(id))
                .filter(value.nullable().eq(stored)),
        )
        .set(value.eq(sealed))
        .execute(conn)
    })?;
    Ok(updated == 1)
}

/// `stored` sealed afresh under the current key: opened first if it is sealed, else taken
/// as the plaintext it is.
fn reseal_value(
    keyring: &Keyring,
    column: SealedColumn,
    id: &str,
    stored: &str,
) -> anyhow::Result<Sealed> {
    let plaintext = if Sealed::is_sealed_form(stored) {
        keyring
            .open(column, id, &Sealed::from_stored(stored.to_owned()))
            .with_context(|| format!("row {id}"))?
    } else {
        stored.to_owned()
    };
    keyring.seal(column, id, &plaintext)
}

/// How many values of each column were re-sealed.
#[derive(Debug, Default, Clone)]
pub struct Resealed(pub BTreeMap<SealedColumn, usize>);

impl Resealed {
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }
}

/// Re-seals under the current key every value of every sealed column that `stale` takes,
/// a batch per transaction.
pub fn reseal(db: &Database, keyring: &Keyring, stale: &Stale) -> anyhow::Result<Resealed> {
    let mut resealed = Resealed::default();
    let mut write = db.write_conn()?;
    if db.kind() == DatabaseKind::Sqlite {
        // The cells a batch replaces are zeroed, so that what they held does not stay in the
        // file's free space.
        write.batch_execute("PRAGMA secure_delete = ON;")?;
    }
    let outcome = (|| {
        for column in SealedColumn::ALL {
            let count = resealed.0.entry(column).or_default();
            let mut passes = 0;
            loop {
                let found = reseal_pass(db, &mut write, keyring, column, stale, count)?;
                if found == 0 {
                    break;
                }
                passes += 1;
                anyhow::ensure!(
                    passes < MAX_PASSES,
                    "{column}: values keep arriving that are not sealed under data key {}: \
                     is an instance running with other data keys?",
                    keyring.current_id()
                );
            }
        }
        anyhow::Ok(())
    })();
    if db.kind() == DatabaseKind::Sqlite {
        write.batch_execute("PRAGMA secure_delete = OFF;")?;
    }
    outcome?;
    Ok(resealed)
}

/// One pass over `column`; answers how many stale values it found.
fn reseal_pass(
    db: &Database,
    write: &mut DbConnection,
    keyring: &Keyring,
    column: SealedColumn,
    stale: &Stale,
    resealed: &mut usize,
) -> anyhow::Result<usize> {
    let mut found = 0;
    let mut after = String::new();
    loop {
        let batch = stale_values(&mut *db.read_conn()?, column, stale, &after)?;
        let Some((last, _)) = batch.last() else {
            return Ok(found);
        };
        after = last.clone();
        found += batch.len();
        // Sealed before the transaction, so that it holds the write lock only to write.
        let sealed = batch
            .iter()
            .map(|(id, stored)| reseal_value(keyring, column, id, stored))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let replaced = write.transaction(|conn| {
            let mut replaced = 0;
            for ((id, stored), sealed) in batch.iter().zip(&sealed) {
                replaced += usize::from(replace(conn, column, id, stored, sealed)?);
            }
            QueryResult::Ok(replaced)
        })?;
        *resealed += replaced;
        if (batch.len() as i64) < BATCH_SIZE {
            return Ok(found);
        }
    }
}

/// Before an instance serves: refuses a database holding values sealed under keys it does
/// not hold (a missing or wrong key file would otherwise answer 500 for them), and seals any
/// plaintext left from before sealing existed. After sealing plaintext it rewrites the
/// tables, so the plaintext does not stay in the files: a SQLite checkpoint that empties the
/// write-ahead log (its batches zeroed the old cells), a `VACUUM FULL` of each table on
/// PostgreSQL.
pub fn prepare(db: &Database, keyring: &Keyring) -> anyhow::Result<()> {
    let held = keyring.key_ids();
    let mut missing = BTreeSet::new();
    {
        let mut conn = db.read_conn()?;
        for column in SealedColumn::ALL {
            missing.extend(
                key_ids_in_use(&mut conn, column)?
                    .into_iter()
                    .filter(|id| !held.contains(id)),
            );
        }
    }
    anyhow::ensure!(
        missing.is_empty(),
        "the database holds values sealed under data key(s) {} that this instance does not \
         hold: start it with the key file (<data dir>/data-keys) or CASEBRIDGE_DATA_KEY they \
         were sealed with",
        missing.into_iter().collect::<Vec<_>>().join(", ")
    );
    let resealed = reseal(db, keyring, &Stale::Plaintext)?;
    if resealed.total() == 0 {
        return Ok(());
    }
    for (column, count) in &resealed.0 {
        if *count > 0 {
            tracing::warn!(column = %column, count, "sealed plaintext stored before encryption at rest");
        }
    }
    let tables: BTreeSet<&str> = resealed
        .0
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(column, _)| table_of(*column))
        .collect();
    scrub(db, &tables)
}

/// Leaves no copy of replaced values in the database's files (see [`prepare`]).
pub fn scrub(db: &Database, tables: &BTreeSet<&str>) -> anyhow::Result<()> {
    let mut conn = db.write_conn()?;
    match db.kind() {
        DatabaseKind::Sqlite => {
            #[derive(QueryableByName)]
            struct Checkpoint {
                #[diesel(sql_type = Integer)]
                busy: i32,
            }
            let checkpoint: Checkpoint =
                diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result(&mut *conn)?;
            if checkpoint.busy != 0 {
                tracing::warn!(
                    "the write-ahead log could not be emptied now; SQLite empties it at a later checkpoint"
                );
            }
        }
        DatabaseKind::Postgres => {
            for table in tables {
                // Names from the sealed-column catalogue, never from input.
                conn.batch_execute(&format!("VACUUM FULL {table}"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sealed_column_names_its_table() {
        let tables: BTreeSet<&str> = SealedColumn::ALL.into_iter().map(table_of).collect();
        assert_eq!(
            tables,
            BTreeSet::from([
                "change_history",
                "client_statements",
                "clients",
                "correction_requests",
                "idempotency_keys",
                "users"
            ])
        );
    }
}
