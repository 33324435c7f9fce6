//! Incremental sync: the clients, cases, allocations and notes that changed since a cursor,
//! each as the caller may see it now, or as a removal when it has left the caller's reach.
//! A CSP system keeps its copy current without reading everything again; the feed itself is
//! kept by `db::changes`.
use std::collections::{BTreeMap, HashMap, HashSet};

use actix_web::{get, web};
use serde::Deserialize;
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::api::cases::types::{AllocationRecord, CaseRecord};
use crate::api::clients::types::ClientRecord;
use crate::api::context::{AppState, Ctx};
use crate::api::disclosure::{Disclosed, Feed};
use crate::api::housekeeping;
use crate::api::notes::NoteRecord;
use crate::api::request::{PageRequest, Params, limit_within};
use crate::authz::{Action, Permit, Resource, Scope, scope};
use crate::db::changes::{self, Entry, Kind};
use crate::db::{DbConnection, cases, clients, notes};
use crate::error::{ApiError, ApiResult, Problem};
use crate::sealing::Keyring;

pub fn routes(config: &mut ServiceConfig) {
    config.service(list_changes);
}

/// Entries one writer job of pruning removes at most.
const PRUNE_AT_MOST: i64 = 10_000;

/// Keeps the change feed while the server runs: every few minutes it records the access
/// that began or ended by date, and every hour it prunes entries older than the configured
/// days.
pub fn keep_the_feed(state: web::Data<AppState>) {
    let kept = chrono::Duration::days(i64::from(state.config.change_feed_days));
    housekeeping::repeat(
        state.clone(),
        std::time::Duration::from_secs(5 * 60),
        "recording allocations that start or end by date",
        changes::announce_dated_changes,
    );
    housekeeping::repeat(
        state,
        std::time::Duration::from_secs(60 * 60),
        "pruning the change feed",
        move |conn, now| {
            Ok(changes::prune(conn, now - kept, PRUNE_AT_MOST)? as i64 == PRUNE_AT_MOST)
        },
    );
}

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangeParams {
    /// The `next_cursor` of the previous answer. Without it, the answer holds no changes and
    /// a cursor for now: take it, read the lists once, then follow the feed.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub since: Option<String>,
    /// How many changes to look at (default 100): an answer may hold fewer items, as a
    /// record changed twice is given once, as it is now.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// The kind of a changed record.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ChangeKind {
    Client,
    Case,
    Allocation,
    Note,
}

/// A changed record, as its own endpoint shows it to the caller now: the schema of its
/// `type`. `anyOf`, not `oneOf`: every field of a record may be masked, so a record can match
/// more than one of them.
pub struct ChangedRecord;

impl utoipa::PartialSchema for ChangedRecord {
    fn schema() -> RefOr<Schema> {
        let records = [
            ClientRecord::name(),
            CaseRecord::name(),
            AllocationRecord::name(),
            NoteRecord::name(),
        ];
        records
            .into_iter()
            .fold(AnyOfBuilder::new(), |any_of, name| {
                any_of.item(Ref::from_schema_name(name))
            })
            .description(Some(
                "The record, as its own endpoint shows it to the caller now.",
            ))
            .into()
    }
}

impl ToSchema for ChangedRecord {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <ClientRecord as ToSchema>::schemas(schemas);
        <CaseRecord as ToSchema>::schemas(schemas);
        <AllocationRecord as ToSchema>::schemas(schemas);
        <NoteRecord as ToSchema>::schemas(schemas);
    }
}

/// A record that changed: as the caller may see it now, or `removed` when it has left the
/// caller's reach (an allocation ended, a case archived, a file disposed of, a client
/// restricted and no purpose of use stated): delete your copy. A removed client takes its
/// cases, allocations and notes with it.
#[derive(ToSchema)]
pub struct Change {
    #[schema(rename = "type")]
    pub kind: ChangeKind,
    #[schema(format = Uuid)]
    pub id: String,
    pub removed: bool,
    /// Absent when `removed`.
    #[schema(required = false)]
    pub record: ChangedRecord,
}

/// What changed since a cursor.
#[derive(ToSchema)]
pub struct ChangePage {
    /// In the order they changed; each record once, as it is now.
    pub items: Vec<Change>,
    /// Pass as `since` next time: always present, the same as `since` when nothing changed.
    pub next_cursor: String,
    /// Whether more changes follow at once (otherwise poll again later).
    pub more: bool,
}

/// The read permits of the kinds the feed tells of: a kind the caller may not read is left
/// out of their feed.
struct Readers {
    client: Option<Permit>,
    case: Option<Permit>,
    allocation: Option<Permit>,
    note: Option<Permit>,
}

impl Readers {
    fn all(&self) -> impl Iterator<Item = &Permit> {
        [&self.client, &self.case, &self.allocation, &self.note]
            .into_iter()
            .flatten()
    }

    fn of(&self, kind: Kind) -> Option<&Permit> {
        match kind {
            Kind::Client => self.client.as_ref(),
            Kind::Case => self.case.as_ref(),
            Kind::Allocation => self.allocation.as_ref(),
            Kind::Note => self.note.as_ref(),
        }
    }

    /// Whose entries the caller reads: their own (a person limited to the allocations
    /// assigned to them for any kind, who must not learn even the ids of the rest of their
    /// CSP's caseload), their organisation's, or (a department-wide reader) all of them.
    fn audience(&self) -> Option<String> {
        let department_wide = self.all().any(|permit| {
            permit
                .scopes()
                .iter()
                .any(|scope| matches!(scope, Scope::Any | Scope::AnyWithPurpose))
        });
        let assigned_only = self.all().any(|permit| {
            permit
                .scopes()
                .iter()
                .all(|scope| *scope == Scope::Assigned)
        });
        let caller = self.all().next().map(|permit| permit.caller());
        caller.filter(|_| !department_wide).map(|caller| {
            if assigned_only {
                caller.user_id.clone()
            } else {
                caller.organisation_id.clone()
            }
        })
    }
}

/// What changed since a cursor
///
/// The clients, cases, allocations and notes that changed after `since`, within the caller's
/// rows and masks, each as its own endpoint shows it now; a record that has left the
/// caller's reach comes as `{type, id, removed: true}`, with no data. Restricted clients and
/// their records come only with `X-Purpose-Of-Use`. Start without `since`, then follow
/// `next_cursor` while `more` is true, and poll with it afterwards. Read like a list: the
/// audit row names every client and field disclosed.
#[utoipa::path(
    tag = "changes",
    params(ChangeParams, ("X-Purpose-Of-Use" = Option<String>, Header)),
    responses(
        (status = 200, body = ChangePage),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_cursor`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "The caller may read none of the kinds"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/changes")]
async fn list_changes(ctx: Ctx, params: Params<ChangeParams>) -> ApiResult<Disclosed> {
    let readers = Readers {
        client: ctx.nested_permit(Resource::Client),
        case: ctx.nested_permit(Resource::Case),
        allocation: ctx.nested_permit(Resource::Allocation),
        note: ctx.nested_permit(Resource::Note),
    };
    let first = match readers.all().next() {
        Some(permit) => permit.clone(),
        // May read none of them: the refusal of the first says why.
        None => ctx.permit(Resource::Client, Action::Read)?,
    };
    let params = params.parse(&first)?;
    let limit = limit_within(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let since = match params.since.as_deref() {
        Some(cursor) if cursor.bytes().all(|byte| byte.is_ascii_digit()) => Some(
            cursor
                .parse::<i64>()
                .map_err(|_| PageRequest::invalid_cursor())?,
        ),
        Some(_) => return Err(PageRequest::invalid_cursor()),
        None => None,
    };
    let keyring = ctx.keyring();
    ctx.db()
        .read(move |conn| {
            let mut feed = Feed::new(first.purpose().map(str::to_owned));
            let Some(since) = since else {
                return Ok(feed.respond(changes::latest(conn)?.to_string(), false));
            };
            let audience = readers.audience();
            let entries = changes::after(conn, audience.as_deref(), since, limit)?;
            // A cursor past the newest entry was never issued: following it would skip
            // whatever comes before it.
            if since > changes::latest(conn)? {
                return Err(PageRequest::invalid_cursor());
            }
            if since < changes::pruned_through(conn)? {
                return Err(ApiError::Gone {
                    code: "cursor_expired",
                    detail: "The change feed no longer holds changes that old: take a new \
                             cursor (no `since`) and read the lists once."
                        .into(),
                });
            }
            let more = entries.len() as i64 == limit;
            let next_cursor = entries.last().map_or(since, |entry| entry.seq);
            let entries = latest_of_each(entries, &readers);
            let mut found = Found::load(conn, &keyring, &readers, &entries)?;
            if audience.is_none() {
                found.removals_only_of_disposed_clients(conn, &entries)?;
            }
            for entry in &entries {
                let permit = readers
                    .of(entry.kind)
                    .expect("kinds without a reader are left out");
                found.add(&mut feed, permit, entry)?;
            }
            Ok(feed.respond(next_cursor.to_string(), more))
        })
        .await
}

/// The entries of kinds the caller reads and is cleared for, each record once, at its last
/// change, in order. An entry above the caller's clearance is not mentioned at all: not even
/// its record's id as a removal.
fn latest_of_each(entries: Vec<Entry>, readers: &Readers) -> Vec<Entry> {
    let cleared = readers
        .all()
        .next()
        .map_or(0, |permit| permit.caller().clearance.rank());
    let mut last: HashMap<(Kind, String), i64> = HashMap::new();
    for entry in &entries {
        last.insert((entry.kind, entry.resource_id.clone()), entry.seq);
    }
    entries
        .into_iter()
        .filter(|entry| readers.of(entry.kind).is_some())
        .filter(|entry| entry.protective_marking <= cleared)
        .filter(|entry| last[&(entry.kind, entry.resource_id.clone())] == entry.seq)
        .collect()
}

/// The changed records the caller reaches now, by id, each loaded as its own endpoint loads
/// it (scope, clearance, restricted clients only with a purpose of use).
#[derive(Default)]
struct Found {
    clients: BTreeMap<String, ClientRecord>,
    cases: BTreeMap<String, CaseRecord>,
    allocations: BTreeMap<String, AllocationRecord>,
    notes: BTreeMap<String, NoteRecord>,
    /// Records of the page the caller is not told of even as a removal.
    unmentioned: HashSet<(Kind, String)>,
}

impl Found {
    fn load(
        conn: &mut DbConnection,
        keyring: &Keyring,
        readers: &Readers,
        entries: &[Entry],
    ) -> ApiResult<Self> {
        // A kind the caller may not read, or of which nothing changed, costs no query.
        let wanted = |kind: Kind| {
            let ids: Vec<String> = entries
                .iter()
                .filter(|entry| entry.kind == kind)
                .map(|entry| entry.resource_id.clone())
                .collect();
            readers
                .of(kind)
                .filter(|_| !ids.is_empty())
                .map(|permit| (permit, ids))
        };
        let mut found = Found::default();
        if let Some((permit, ids)) = wanted(Kind::Client) {
            let rows = clients::find_many(conn, scope::listable_clients(permit), &ids)?;
            for record in super::clients::records(conn, keyring, rows)? {
                found.clients.insert(record.id.clone(), record);
            }
        }
        if let Some((permit, ids)) = wanted(Kind::Case) {
            let rows = cases::find_many(conn, scope::cases(permit, true), &ids)?;
            for record in super::cases::assemble(conn, rows, readers.allocation.as_ref())? {
                found.cases.insert(record.id.clone(), record);
            }
        }
        // An allocation is read on a case the caller reaches, as its endpoint reads it.
        if let (Some((permit, ids)), Some(case_permit)) = (wanted(Kind::Allocation), &readers.case)
        {
            let rows = cases::find_allocations(conn, scope::allocations(permit), &ids)?;
            let on_cases = clients_of_cases(conn, case_permit, rows.iter().map(|r| &r.case_id))?;
            for row in rows {
                if let Some(client_id) = on_cases.get(&row.case_id) {
                    let record = AllocationRecord::from_row(row, client_id);
                    found.allocations.insert(record.id.clone(), record);
                }
            }
        }
        if let Some((permit, ids)) = wanted(Kind::Note) {
            let rows = notes::find_many(conn, scope::notes(permit), &ids)?;
            let on_cases = clients_of_cases(conn, permit, rows.iter().map(|r| &r.case_id))?;
            for row in rows {
                if let Some(client_id) = on_cases.get(&row.case_id) {
                    let record = NoteRecord::from_row(row, client_id)?;
                    found.notes.insert(record.id.clone(), record);
                }
            }
        }
        Ok(found)
    }

    /// A department-wide reader is addressed every entry, including those of records above
    /// their clearance: of what they do not find, they are told only of disposed files.
    fn removals_only_of_disposed_clients(
        &mut self,
        conn: &mut DbConnection,
        entries: &[Entry],
    ) -> ApiResult<()> {
        let missing: Vec<String> = entries
            .iter()
            .filter(|entry| entry.kind == Kind::Client)
            .filter(|entry| !self.clients.contains_key(&entry.resource_id))
            .map(|entry| entry.resource_id.clone())
            .collect();
        let kept = clients::existing(conn, &missing)?;
        for entry in entries {
            let unmentioned = match entry.kind {
                Kind::Client => kept.contains(&entry.resource_id),
                Kind::Case => !self.cases.contains_key(&entry.resource_id),
                Kind::Allocation => !self.allocations.contains_key(&entry.resource_id),
                Kind::Note => false,
            };
            if unmentioned {
                self.unmentioned
                    .insert((entry.kind, entry.resource_id.clone()));
            }
        }
        Ok(())
    }

    /// Adds `entry` to the feed: its record as the caller may see it, or its removal. A note
    /// never leaves anyone's reach on its own (notes are not edited; its case or client
    /// goes): one not found is one the caller never could see, and is left out.
    fn add(&mut self, feed: &mut Feed, permit: &Permit, entry: &Entry) -> ApiResult<()> {
        let (kind, id) = (entry.kind.as_str(), entry.resource_id.as_str());
        if self
            .unmentioned
            .contains(&(entry.kind, entry.resource_id.clone()))
        {
            return Ok(());
        }
        let none = Default::default;
        match entry.kind {
            Kind::Client => match self.clients.remove(id) {
                Some(record) => feed.changed(kind, permit, &record, none())?,
                None => feed.removed(kind, id),
            },
            Kind::Case => match self.cases.remove(id) {
                Some(record) => {
                    let nested = super::cases::allocation_fields(std::slice::from_ref(&record));
                    let nested = nested.into_iter().map(|f| format!("allocations.{f}"));
                    feed.changed(kind, permit, &record, nested.collect())?
                }
                None => feed.removed(kind, id),
            },
            Kind::Allocation => match self.allocations.remove(id) {
                Some(record) => feed.changed(kind, permit, &record, none())?,
                None => feed.removed(kind, id),
            },
            Kind::Note => {
                if let Some(record) = self.notes.remove(id) {
                    feed.changed(kind, permit, &record, none())?;
                }
            }
        }
        Ok(())
    }
}

/// The clients of those of `case_ids` that `permit` reaches (in a list's terms), by case.
fn clients_of_cases<'a>(
    conn: &mut DbConnection,
    permit: &Permit,
    case_ids: impl Iterator<Item = &'a String>,
) -> ApiResult<HashMap<String, String>> {
    let mut case_ids: Vec<String> = case_ids.cloned().collect();
    case_ids.sort_unstable();
    case_ids.dedup();
    if case_ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(
        cases::find_many(conn, scope::cases(permit, true), &case_ids)?
            .into_iter()
            .map(|case| (case.id, case.client_id))
            .collect(),
    )
}
