use std::collections::HashSet;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::changes::Kind;
use super::schema::{client_name_keys, client_statements, clients, settings};
use super::{Backend, DbConnection, Scanned, planned_for_values};
use crate::authz::scope::Predicate;
use crate::domain::names::{match_key, match_key_version, pair_keys, stored_pair_keys};
use crate::sealing::Sealed;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clients, treat_none_as_default_value = false)]
pub struct ClientRow {
    pub id: String,
    pub given_name: String,
    pub family_name: String,
    pub preferred_name: Option<String>,
    pub date_of_birth: NaiveDate,
    pub gender: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub address_suburb: Option<String>,
    pub address_state: Option<String>,
    pub address_postcode: Option<String>,
    pub interpreter_language: Option<String>,
    /// Sealed, bound to the client's id (see `sealing`).
    pub medicare_number: Option<Sealed>,
    /// Sealed, bound to the client's id.
    pub tax_file_number: Option<Sealed>,
    pub gp_details: Option<String>,
    pub safety_alerts: String,
    pub protective_marking: i32,
    pub restricted: bool,
    pub lead_division_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

/// A client row as reads load it: with whether statements are kept with its fields (after
/// refused corrections). That is rare, so a read asks for the statements only when there are
/// some, rather than running a second query for every client it shows.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = clients)]
pub struct StoredClient {
    #[diesel(embed)]
    pub row: ClientRow,
    #[diesel(select_expression = has_statements(), select_expression_type = HasStatements)]
    pub has_statements: bool,
}

type HasStatements = diesel::dsl::exists<
    diesel::dsl::Filter<
        client_statements::table,
        diesel::dsl::Eq<client_statements::client_id, clients::id>,
    >,
>;

fn has_statements() -> HasStatements {
    diesel::dsl::exists(
        client_statements::table.filter(client_statements::client_id.eq(clients::id)),
    )
}

/// Changes to a client; `None` leaves a column alone, `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = clients)]
pub struct ClientChanges {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub preferred_name: Option<Option<String>>,
    pub date_of_birth: Option<NaiveDate>,
    pub gender: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub address_line1: Option<Option<String>>,
    pub address_line2: Option<Option<String>>,
    pub address_suburb: Option<Option<String>>,
    pub address_state: Option<Option<String>>,
    pub address_postcode: Option<Option<String>>,
    pub interpreter_language: Option<Option<String>>,
    pub medicare_number: Option<Option<Sealed>>,
    pub tax_file_number: Option<Option<Sealed>>,
    pub gp_details: Option<Option<String>>,
    pub safety_alerts: Option<String>,
    pub protective_marking: Option<i32>,
    pub restricted: Option<bool>,
}

#[derive(Debug, Default, Clone)]
pub struct ClientFilter {
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
}

impl ClientFilter {
    /// The client fields this filter tests, each of which the caller must be able to read.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> {
        [
            ("family_name", self.family_name.is_some()),
            ("given_name", self.given_name.is_some()),
            ("date_of_birth", self.date_of_birth.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, used)| used.then_some(field))
    }
}

pub fn find(
    conn: &mut DbConnection,
    reachable: Predicate<clients::table>,
    id: &str,
) -> QueryResult<Option<StoredClient>> {
    clients::table
        .filter(clients::id.eq(id))
        .filter(reachable)
        .select(StoredClient::as_select())
        .first(conn)
        .optional()
}

/// Those of the clients `ids` that `reachable` lets through.
pub fn find_many(
    conn: &mut DbConnection,
    reachable: Predicate<clients::table>,
    ids: &[String],
) -> QueryResult<Vec<StoredClient>> {
    clients::table
        .filter(clients::id.eq_any(ids))
        .filter(reachable)
        .select(StoredClient::as_select())
        .load(conn)
}

/// Those of the clients `ids` that `reachable` lets through, by id only.
pub fn reachable_ids(
    conn: &mut DbConnection,
    reachable: Predicate<clients::table>,
    ids: &[String],
) -> QueryResult<HashSet<String>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let found: Vec<String> = clients::table
        .filter(clients::id.eq_any(ids))
        .filter(reachable)
        .select(clients::id)
        .load(conn)?;
    Ok(found.into_iter().collect())
}

/// Those of the clients `ids` that exist, whoever may see them.
pub fn existing(conn: &mut DbConnection, ids: &[String]) -> QueryResult<HashSet<String>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let found: Vec<String> = clients::table
        .filter(clients::id.eq_any(ids))
        .select(clients::id)
        .load(conn)?;
    Ok(found.into_iter().collect())
}

/// The clients `filter` selects after `after`, in id order, that `reachable` lets through:
/// at most `limit`, looking at no more than `scan` rows.
pub fn list(
    conn: &mut DbConnection,
    reachable: Predicate<clients::table>,
    filter: &ClientFilter,
    after: Option<&str>,
    limit: i64,
    scan: i64,
) -> QueryResult<Scanned<StoredClient>> {
    let scanned_to = scan_end(conn, filter, after, scan)?;
    let query = filtered(
        clients::table
            .select(StoredClient::as_select())
            .into_boxed(),
        filter,
        after,
    )
    .filter(reachable);
    scanned_page(conn, query, scanned_to, limit)
}

/// The first `limit` rows of `query` (clients after a cursor, narrowed to those a caller may
/// see) in id order, up to `scanned_to`, where a look found by [`scan_end`] stopped.
pub fn scanned_page<'a, ST, T>(
    conn: &mut DbConnection,
    query: clients::BoxedQuery<'a, Backend, ST>,
    scanned_to: Option<String>,
    limit: i64,
) -> QueryResult<Scanned<T>>
where
    clients::BoxedQuery<'a, Backend, ST>: for<'b> diesel::query_dsl::LoadQuery<'b, DbConnection, T>,
{
    let mut query = query.order(clients::id).limit(limit);
    if let Some(last) = &scanned_to {
        query = query.filter(clients::id.le(last.clone()));
    }
    let rows = planned_for_values(conn, |conn| query.load(conn))?;
    Ok(Scanned { rows, scanned_to })
}

/// Where a look at `scan` rows past `after`, among the clients `filter` selects, stops: the
/// last of them, or `None` when fewer remain. Found on the filters' own index, before any
/// row scope's look-ups.
pub fn scan_end(
    conn: &mut DbConnection,
    filter: &ClientFilter,
    after: Option<&str>,
    scan: i64,
) -> QueryResult<Option<String>> {
    filtered(
        clients::table.select(clients::id).into_boxed(),
        filter,
        after,
    )
    .order(clients::id)
    .offset(scan - 1)
    .limit(1)
    .first(conn)
    .optional()
}

/// `query` narrowed by `filter` to the rows after `after`. Look-alike names match: the
/// filters compare match keys (see `domain::names`).
fn filtered<'a, ST>(
    mut query: clients::BoxedQuery<'a, Backend, ST>,
    filter: &ClientFilter,
    after: Option<&str>,
) -> clients::BoxedQuery<'a, Backend, ST> {
    if let Some(name) = &filter.family_name {
        query = query.filter(clients::family_name_key.eq(match_key(name)));
    }
    if let Some(name) = &filter.given_name {
        query = query.filter(clients::given_name_key.eq(match_key(name)));
    }
    if let Some(date) = filter.date_of_birth {
        query = query.filter(clients::date_of_birth.eq(date));
    }
    if let Some(after) = after {
        query = query.filter(clients::id.gt(after.to_owned()));
    }
    query
}

/// What a search by name ranks: a client's names, date of birth and lead division, and
/// whether the client is restricted.
#[derive(Debug, Clone, Queryable)]
pub struct NameCandidate {
    pub id: String,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub lead_division_id: String,
    pub restricted: bool,
}

/// A search by name: with a date of birth, every client born that day within reach is a
/// candidate (tens among a million: the date's index bounds it, and the ranking then tolerates
/// any misspelling it accepts); without one (a search by both names), the candidates are the
/// clients who share a pair key with the names asked for ([`pair_keys`]: both names one edit
/// away or closer, in order or swapped), found in the name index.
#[derive(Debug, Clone)]
pub enum NameLookup {
    BornOn(NaiveDate),
    Names(Vec<String>),
}

impl NameLookup {
    pub fn new(family_name: &str, given_name: Option<&str>, born_on: Option<NaiveDate>) -> Self {
        match (born_on, given_name) {
            (Some(date), _) => Self::BornOn(date),
            (None, given_name) => Self::Names(
                pair_keys(family_name, given_name.unwrap_or_default())
                    .into_iter()
                    .collect(),
            ),
        }
    }
}

/// The most candidates one search ranks. Clients born on one day, or with both names close to
/// those asked for, number in the tens or hundreds even among a million clients; the bound
/// keeps a pathological query's memory and time small.
pub const MAX_CANDIDATES: i64 = 5_000;

/// Clients within reach that `lookup` finds (at most [`MAX_CANDIDATES`]), by id, for ranking
/// by name in memory ([`crate::domain::names::best_matches`]).
pub fn name_candidates(
    conn: &mut DbConnection,
    reachable: Predicate<clients::table>,
    lookup: &NameLookup,
) -> QueryResult<Vec<NameCandidate>> {
    let mut query = clients::table
        .filter(reachable)
        .select((
            clients::id,
            clients::given_name,
            clients::family_name,
            clients::date_of_birth,
            clients::lead_division_id,
            clients::restricted,
        ))
        .into_boxed();
    query = match lookup {
        NameLookup::BornOn(date) => query.filter(clients::date_of_birth.eq(*date)),
        NameLookup::Names(keys) => query.filter(
            clients::id.eq_any(
                client_name_keys::table
                    .filter(client_name_keys::name_key.eq_any(keys.clone()))
                    .select(client_name_keys::client_id),
            ),
        ),
    };
    // Unordered: an ORDER BY could lead the planner to walk every client in id order rather
    // than start from the index. The ranking sorts them by id, so that equal scores always
    // come in the same order.
    let mut candidates: Vec<NameCandidate> = query.limit(MAX_CANDIDATES).load(conn)?;
    candidates.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    if candidates.len() as i64 == MAX_CANDIDATES {
        tracing::warn!(
            limit = MAX_CANDIDATES,
            "a name search reached its bound of candidates; only those were ranked"
        );
    }
    Ok(candidates)
}

/// The match keys of a client's names, kept beside them: every write of a name sets them.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = clients)]
struct NameKeys {
    given_name_key: Option<String>,
    family_name_key: Option<String>,
}

impl NameKeys {
    fn of(given_name: Option<&str>, family_name: Option<&str>) -> Self {
        Self {
            given_name_key: given_name.map(match_key),
            family_name_key: family_name.map(match_key),
        }
    }
}

/// The index keys of a client's names ([`stored_pair_keys`]) with the client's id.
fn index_keys<'a>(
    id: &'a str,
    given_name: &str,
    family_name: &str,
) -> impl Iterator<Item = (String, &'a str)> {
    stored_pair_keys(given_name, family_name)
        .into_iter()
        .map(move |key| (key, id))
}

/// A row of the name index to insert.
type IndexKeyRow<'a> = (
    diesel::dsl::Eq<client_name_keys::name_key, &'a String>,
    diesel::dsl::Eq<client_name_keys::client_id, &'a str>,
);

/// `keys` as rows of the name index to insert.
fn index_key_rows<'a>(keys: &'a [(String, &'a str)]) -> Vec<IndexKeyRow<'a>> {
    keys.iter()
        .map(|(key, id)| {
            (
                client_name_keys::name_key.eq(key),
                client_name_keys::client_id.eq(*id),
            )
        })
        .collect()
}

/// Adds the index keys of a client's names.
fn insert_index_keys(
    conn: &mut DbConnection,
    id: &str,
    given_name: &str,
    family_name: &str,
) -> QueryResult<()> {
    let keys: Vec<_> = index_keys(id, given_name, family_name).collect();
    let rows = index_key_rows(&keys);
    // One statement for them all, which needs the concrete connection.
    crate::on_backend!(conn, |conn| {
        diesel::insert_into(client_name_keys::table)
            .values(&rows)
            .execute(conn)
            .map(drop)
    })
}

/// Replaces the index keys of a client's names with those of their names as stored now.
fn renew_index_keys(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    let (given_name, family_name): (String, String) = clients::table
        .filter(clients::id.eq(id))
        .select((clients::given_name, clients::family_name))
        .first(conn)?;
    remove_index_keys(conn, &[id])?;
    insert_index_keys(conn, id, &given_name, &family_name)
}

/// Removes the index keys of `client_ids`' names (at disposal, before the clients go).
pub fn remove_index_keys<Id: AsRef<str>>(
    conn: &mut DbConnection,
    client_ids: &[Id],
) -> QueryResult<usize> {
    let client_ids: Vec<&str> = client_ids.iter().map(AsRef::as_ref).collect();
    diesel::delete(client_name_keys::table.filter(client_name_keys::client_id.eq_any(client_ids)))
        .execute(conn)
}

/// A client row (owned or borrowed) with the match keys of its names, as stored.
fn with_match_keys<R: std::borrow::Borrow<ClientRow>>(
    row: R,
) -> (
    R,
    diesel::dsl::Eq<clients::given_name_key, String>,
    diesel::dsl::Eq<clients::family_name_key, String>,
) {
    let given_name_key = match_key(&row.borrow().given_name);
    let family_name_key = match_key(&row.borrow().family_name);
    (
        row,
        clients::given_name_key.eq(given_name_key),
        clients::family_name_key.eq(family_name_key),
    )
}

pub fn insert(conn: &mut DbConnection, row: &ClientRow) -> QueryResult<()> {
    diesel::insert_into(clients::table)
        .values(with_match_keys(row))
        .execute(conn)?;
    insert_index_keys(conn, &row.id, &row.given_name, &row.family_name)?;
    super::changes::record(conn, Kind::Client, &row.id, row.updated_at)
}

/// Inserts `rows` as [`insert`] does, a statement per [`super::ROWS_PER_INSERT`] rows (bulk
/// loads: `seed-synthetic`).
pub fn insert_many(conn: &mut DbConnection, rows: &[ClientRow]) -> QueryResult<()> {
    let clients: Vec<_> = rows.iter().cloned().map(with_match_keys).collect();
    // Rows with their keys (a tuple) are not what `COPY` takes: statements on both backends.
    crate::insert_chunks!(conn, clients::table, clients)?;
    let mut keys: Vec<_> = rows
        .iter()
        .flat_map(|row| index_keys(&row.id, &row.given_name, &row.family_name))
        .collect();
    // In key order, the index grows by runs of neighbouring entries instead of one entry at a
    // random place per row: a load's pages stay in the cache however large the index is.
    keys.sort_unstable();
    crate::insert_batches!(conn, client_name_keys::table, index_key_rows(&keys))
}

/// Applies `changes` if the client is still at `version`; returns whether it was.
pub fn update(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    changes: &ClientChanges,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let keys = NameKeys::of(
        changes.given_name.as_deref(),
        changes.family_name.as_deref(),
    );
    let before = super::changes::Before {
        marking: marking_of(conn, id, changes.protective_marking)?,
        ..Default::default()
    };
    let updated = diesel::update(clients::table)
        .filter(clients::id.eq(id))
        .filter(clients::version.eq(version))
        .set((
            changes,
            keys,
            clients::updated_at.eq(now),
            clients::version.eq(version + 1),
        ))
        .execute(conn)?;
    if updated == 1 {
        if changes.given_name.is_some() || changes.family_name.is_some() {
            renew_index_keys(conn, id)?;
        }
        super::changes::record_after(conn, Kind::Client, id, now, before)?;
    }
    Ok(updated == 1)
}

/// Client `id`'s protective marking, when `changing` says a change is about to change it.
fn marking_of(
    conn: &mut DbConnection,
    id: &str,
    changing: Option<i32>,
) -> QueryResult<Option<i32>> {
    if changing.is_none() {
        return Ok(None);
    }
    clients::table
        .filter(clients::id.eq(id))
        .select(clients::protective_marking)
        .first(conn)
        .optional()
}

/// The `settings` key of the match-key version the stored keys were made with.
const KEY_VERSION_SETTING: &str = "name_match_key_version";

/// Clients whose keys one transaction of [`refresh_name_keys`] makes.
const REFRESH_BATCH: i64 = 1_000;

/// Makes the stored match keys and index keys of every client whose keys are missing (rows
/// written before the keys existed) or were made by another version of
/// [`match_key_version`] (a new Unicode release, a change of the algorithms). Runs after the
/// migrations, a batch of clients per transaction (each batch can be made again, and the
/// version is stored last, so an interrupted refresh resumes at the next start); answers how
/// many clients it updated.
pub fn refresh_name_keys(conn: &mut DbConnection) -> QueryResult<usize> {
    let version = match_key_version();
    let stored: Option<String> = settings::table
        .filter(settings::key.eq(KEY_VERSION_SETTING))
        .select(settings::value)
        .first(conn)
        .optional()?;
    let all = stored.as_deref() != Some(version.as_str());
    let mut refreshed = 0;
    let mut after = String::new();
    loop {
        let names: Vec<(String, String, String)> = conn.transaction(|conn| {
            let mut query = clients::table
                .select((clients::id, clients::given_name, clients::family_name))
                .filter(clients::id.gt(&after))
                .into_boxed();
            if !all {
                query = query.filter(
                    clients::given_name_key
                        .is_null()
                        .or(clients::family_name_key.is_null()),
                );
            }
            let names: Vec<(String, String, String)> =
                query.order(clients::id).limit(REFRESH_BATCH).load(conn)?;
            for (id, given_name, family_name) in &names {
                diesel::update(clients::table.filter(clients::id.eq(id)))
                    .set(NameKeys::of(Some(given_name), Some(family_name)))
                    .execute(conn)?;
                remove_index_keys(conn, &[id])?;
                insert_index_keys(conn, id, given_name, family_name)?;
            }
            Ok::<_, diesel::result::Error>(names)
        })?;
        refreshed += names.len();
        match names.into_iter().last() {
            Some((id, _, _)) => after = id,
            None => break,
        }
    }
    if stored.is_none() {
        diesel::insert_into(settings::table)
            .values((
                settings::key.eq(KEY_VERSION_SETTING),
                settings::value.eq(&version),
            ))
            .execute(conn)?;
    } else if all {
        diesel::update(settings::table.filter(settings::key.eq(KEY_VERSION_SETTING)))
            .set(settings::value.eq(&version))
            .execute(conn)?;
    }
    Ok(refreshed)
}
