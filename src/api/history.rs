//! The change history of client files: every creation and change of a client, case or
//! allocation keeps an entry (who, when, which request, each changed field before and after),
//! written in the change's transaction by [`History`]. Reading it (`GET /clients/{id}/history`,
//! `GET /cases/{id}/history`) needs the `change_history` permit for the reach; the values are
//! shown only as the record's own read permit shows the record now, so a history discloses
//! nothing its record would not. A client's entry can be reverted through the normal write
//! path (`api::clients`).
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use actix_web::{HttpRequest, get, post, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::api::clients::types::{ClientRecord, ClientUpdate};
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{
    PageRequest, Params, expected_version, new_id, path_id, utc, write_body,
};
use crate::authz::{Action, Permit, Resource, scope};
use crate::db::DbConnection;
use crate::db::history::{self as queries, Author, EntryRow, Subject};
use crate::domain::{ProtectiveMarking, StoredAsText};
use crate::error::{ApiError, ApiResult, Problem};
use crate::sealing::{Keyring, SealedColumn};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(client_history)
        .service(case_history)
        .service(revert_client_change);
}

/// A record whose changes the history keeps.
pub trait Tracked: Disclose {
    /// The resource, as entries name it.
    const RESOURCE: Resource;
    /// The case whose history shows the record's entries.
    fn case_id(&self) -> Option<&str>;
}

/// A record's bookkeeping, not its content: never a changed field.
const BOOKKEEPING: [&str; 6] = [
    "id",
    "version",
    "created_at",
    "updated_at",
    "statements",
    "allocations",
];

/// A field's value before and after a change (`null`: absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    pub before: Value,
    pub after: Value,
}

/// Changed fields by name.
pub type FieldChanges = BTreeMap<String, FieldChange>;

/// The fields whose values differ between two serialised records, with both values; with no
/// `before` (a creation), the fields `after` gives a value.
pub fn changed_fields(
    before: Option<&Map<String, Value>>,
    after: &Map<String, Value>,
) -> FieldChanges {
    let names: BTreeSet<&String> = after
        .keys()
        .chain(before.into_iter().flat_map(Map::keys))
        .collect();
    names
        .into_iter()
        .filter(|name| !BOOKKEEPING.contains(&name.as_str()))
        .filter_map(|name| {
            let old = before
                .and_then(|before| before.get(name))
                .cloned()
                .unwrap_or(Value::Null);
            let new = after.get(name).cloned().unwrap_or(Value::Null);
            (old != new).then(|| {
                (
                    name.clone(),
                    FieldChange {
                        before: old,
                        after: new,
                    },
                )
            })
        })
        .collect()
}

/// What made an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistoryAction {
    Created,
    Updated,
    /// Restored the values an earlier entry changed (`reverts` names it).
    Reverted,
}

impl HistoryAction {
    fn as_str(self) -> &'static str {
        match self {
            HistoryAction::Created => "created",
            HistoryAction::Updated => "updated",
            HistoryAction::Reverted => "reverted",
        }
    }

    fn from_stored(stored: &str) -> anyhow::Result<Self> {
        [Self::Created, Self::Updated, Self::Reverted]
            .into_iter()
            .find(|action| action.as_str() == stored)
            .ok_or_else(|| anyhow::anyhow!("unknown history action"))
    }
}

/// How a request's changes enter the history: who makes them, when, sealed with which keys.
/// Made by [`Ctx::history`], taken into the write's closure.
#[derive(Clone)]
pub struct History {
    pub author: Author,
    pub at: NaiveDateTime,
    pub keyring: Arc<Keyring>,
}

/// The names of the fields a change changed, for its audit row.
pub type Changed = BTreeSet<String>;

impl History {
    /// Records the creation of `record`, with the values it was created with.
    pub fn created<T: Tracked>(&self, conn: &mut DbConnection, record: &T) -> ApiResult<Changed> {
        self.store(conn, record, HistoryAction::Created, None, None)
    }

    /// Records the change of a record from `before` to `after`; nothing when no field changed.
    pub fn updated<T: Tracked>(
        &self,
        conn: &mut DbConnection,
        before: &T,
        after: &T,
    ) -> ApiResult<Changed> {
        self.store(conn, after, HistoryAction::Updated, None, Some(before))
    }

    /// Records a revert of the entry `reverts`, as [`History::updated`] does.
    pub fn reverted<T: Tracked>(
        &self,
        conn: &mut DbConnection,
        reverts: &str,
        before: &T,
        after: &T,
    ) -> ApiResult<Changed> {
        self.store(
            conn,
            after,
            HistoryAction::Reverted,
            Some(reverts),
            Some(before),
        )
    }

    fn store<T: Tracked>(
        &self,
        conn: &mut DbConnection,
        record: &T,
        action: HistoryAction,
        reverts: Option<&str>,
        before: Option<&T>,
    ) -> ApiResult<Changed> {
        let after = as_object(record)?;
        let before = before.map(as_object).transpose()?;
        let mut changes = changed_fields(before.as_ref(), &after);
        if action == HistoryAction::Created {
            changes.retain(|_, change| !change.after.is_null());
        }
        if changes.is_empty() {
            return Ok(Changed::new());
        }
        let names: Changed = changes.keys().cloned().collect();
        let protective_marking = [Some(&after), before.as_ref()]
            .into_iter()
            .flatten()
            .map(marking_of)
            .collect::<ApiResult<Vec<i32>>>()?
            .into_iter()
            .max()
            .unwrap_or_default();
        let id = new_id();
        let sealed = self.keyring.seal(
            SealedColumn::ChangeHistory,
            &id,
            &serde_json::to_string(&changes).map_err(ApiError::internal)?,
        )?;
        let row = EntryRow {
            resource_type: T::RESOURCE.name().to_owned(),
            resource_id: record.id().to_owned(),
            client_id: record.client_id().unwrap_or_default().to_owned(),
            case_id: record.case_id().map(str::to_owned),
            action: action.as_str().to_owned(),
            reverts: reverts.map(str::to_owned),
            changed_at: self.at,
            changed_by: self.author.principal_id.clone(),
            changed_by_kind: self.author.principal_kind.as_str().to_owned(),
            organisation_id: self.author.organisation_id.clone(),
            request_id: self.author.request_id.clone(),
            protective_marking,
            fields: serde_json::to_string(&names).map_err(ApiError::internal)?,
            changes: sealed,
            id,
        };
        queries::insert(conn, &row)?;
        Ok(names)
    }
}

/// The protective marking of a serialised record, as its rank (`OFFICIAL` when it has none:
/// an allocation's is its case's, which its readers already had to be cleared for).
fn marking_of(record: &Map<String, Value>) -> ApiResult<i32> {
    match record.get("protective_marking") {
        None => Ok(ProtectiveMarking::Official.rank()),
        Some(marking) => Ok(ProtectiveMarking::deserialize(marking)
            .map_err(ApiError::internal)?
            .rank()),
    }
}

fn as_object<T: Serialize>(record: &T) -> ApiResult<Map<String, Value>> {
    match serde_json::to_value(record).map_err(ApiError::internal)? {
        Value::Object(fields) => Ok(fields),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "a record serialises as an object"
        ))),
    }
}

/// An entry of a record's change history as the caller may see it: `fields` and `changes`
/// hold only fields the caller may read of the record now, `changes` only for a caller who
/// may read the record itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    #[schema(format = Uuid)]
    pub id: String,
    /// `client`, `case` or `allocation`.
    #[schema(required = false)]
    pub resource_type: String,
    #[schema(required = false, format = Uuid)]
    pub resource_id: String,
    #[schema(required = false, format = Uuid)]
    pub client_id: String,
    #[schema(required = false, format = Uuid)]
    pub case_id: Option<String>,
    #[schema(required = false)]
    pub action: HistoryAction,
    /// The entry a revert undid.
    #[schema(required = false, format = Uuid)]
    pub reverts: Option<String>,
    #[schema(required = false)]
    pub changed_at: DateTime<Utc>,
    /// The person's user id or the API client's id.
    #[schema(required = false, format = Uuid)]
    pub changed_by: String,
    /// `person` or `api_client`.
    #[schema(required = false)]
    pub changed_by_kind: String,
    #[schema(required = false, format = Uuid)]
    pub organisation_id: String,
    /// The request that made the change, as its audit row names it.
    #[schema(required = false)]
    pub request_id: String,
    /// The changed fields' names.
    #[schema(required = false)]
    pub fields: Vec<String>,
    /// Each changed field's value before and after.
    #[schema(required = false)]
    pub changes: FieldChanges,
    /// The client is restricted: a read of their history raises an alert, as a read of
    /// their file does.
    #[serde(skip)]
    pub client_restricted: bool,
}

impl Disclose for HistoryEntry {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
    fn restricted(&self) -> bool {
        self.client_restricted
    }
}

impl HistoryEntry {
    /// The entry of a stored row, its values opened.
    pub fn open(row: EntryRow, keyring: &Keyring) -> ApiResult<Self> {
        let changes = keyring.open(SealedColumn::ChangeHistory, &row.id, &row.changes)?;
        Ok(Self {
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            client_id: row.client_id,
            case_id: row.case_id,
            action: HistoryAction::from_stored(&row.action)?,
            reverts: row.reverts,
            changed_at: utc(row.changed_at),
            changed_by: row.changed_by,
            changed_by_kind: row.changed_by_kind,
            organisation_id: row.organisation_id,
            request_id: row.request_id,
            fields: serde_json::from_str(&row.fields).map_err(ApiError::internal)?,
            changes: serde_json::from_str(&changes).map_err(ApiError::internal)?,
            client_restricted: false,
            id: row.id,
        })
    }

    /// The entry cut to what `lens` shows; `None` when it shows none of its fields.
    fn seen_through(mut self, lens: &Lens) -> Option<Self> {
        if let Some(permit) = &lens.readable {
            self.fields.retain(|field| permit.can_read(field));
            if self.fields.is_empty() {
                return None;
            }
        }
        match (&lens.readable, lens.values) {
            (Some(permit), true) => self.changes.retain(|field, _| permit.can_read(field)),
            _ => self.changes.clear(),
        }
        Some(self)
    }
}

/// How a caller sees one record's entries: through their read permit of its resource (which
/// fields), and whether that permit reaches the record (the values).
#[derive(Clone)]
struct Lens {
    readable: Option<Permit>,
    values: bool,
}

/// How a caller sees a case's entries: the case's through one lens; an allocation's only
/// when they reach the allocation (an entry names it), its values only through their
/// allocation permit's reach (a CSP sees its own allocations).
struct CaseLenses {
    client_restricted: bool,
    case: Lens,
    allocation_permit: Option<Permit>,
    allocations_seen: HashSet<String>,
    allocations_valued: HashSet<String>,
}

impl CaseLenses {
    fn lens_of(&self, entry: &HistoryEntry) -> Option<Lens> {
        if entry.resource_type == Resource::Case.name() {
            return Some(self.case.clone());
        }
        self.allocations_seen
            .contains(&entry.resource_id)
            .then(|| Lens {
                readable: self.allocation_permit.clone(),
                values: self.allocations_valued.contains(&entry.resource_id),
            })
    }
}

/// Query parameters of a history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The history list's name in its sealed cursors.
const HISTORY_LIST: &str = "history";

/// One page of `subject`'s entries, each seen through the lens `lens_of` gives it (`None`:
/// the entry is out of the caller's sight). Entries the caller may not see are skipped, so a
/// page may hold fewer than `limit`; its cursor is sealed, as it may name such an entry.
fn page_of(
    conn: &mut DbConnection,
    keyring: &Keyring,
    (subject, client_restricted): (Subject, bool),
    clearance: i32,
    page: &PageRequest,
    lens_of: impl Fn(&HistoryEntry) -> Option<Lens>,
) -> ApiResult<(Vec<HistoryEntry>, Option<String>)> {
    let mut rows = queries::entries(
        conn,
        subject,
        clearance,
        page.after.as_deref(),
        page.fetch(),
    )?;
    let next = page.finish(&mut rows, |row| row.id.as_str());
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let entry = HistoryEntry {
            client_restricted,
            ..HistoryEntry::open(row, keyring)?
        };
        if let Some(lens) = lens_of(&entry) {
            entries.extend(entry.seen_through(&lens));
        }
    }
    let next = next
        .map(|last| keyring.seal_cursor(HISTORY_LIST, &last))
        .transpose()?;
    Ok((entries, next))
}

/// Every entry about client `client_id`'s file (the client, its cases and allocations),
/// oldest first, each seen through the read permit `permit_of` gives for its resource type,
/// which reaches the whole file (an access request's bundle: every permit has the request as
/// purpose of use).
pub fn of_whole_file(
    conn: &mut DbConnection,
    keyring: &Keyring,
    client_id: &str,
    clearance: i32,
    permit_of: impl Fn(&str) -> Option<Permit>,
) -> ApiResult<Vec<HistoryEntry>> {
    let mut entries = Vec::new();
    for row in queries::of_clients(conn, &[client_id], clearance)? {
        let entry = HistoryEntry::open(row, keyring)?;
        let lens = Lens {
            readable: permit_of(&entry.resource_type),
            values: true,
        };
        entries.extend(entry.seen_through(&lens));
    }
    Ok(entries)
}

/// The fields a page of entries discloses, named `changes.field`.
fn disclosed_values(entries: &[HistoryEntry]) -> BTreeSet<String> {
    entries
        .iter()
        .flat_map(|entry| entry.changes.keys().cloned())
        .collect()
}

fn respond(
    permit: &Permit,
    entries: &[HistoryEntry],
    next: Option<String>,
) -> ApiResult<Disclosed> {
    let values = if permit.can_read("changes") {
        disclosed_values(entries)
    } else {
        BTreeSet::new()
    };
    Ok(disclosure::page(permit, entries, next)?.with_nested_fields("changes", &values))
}

/// What a read of a history starts from: the caller's `change_history` read permit, the
/// record's id and the page asked for.
struct HistoryRequest {
    permit: Permit,
    id: String,
    page: PageRequest,
    keyring: Arc<Keyring>,
}

impl HistoryRequest {
    fn of(ctx: &Ctx, id: &str, params: Params<HistoryParams>) -> ApiResult<Self> {
        let permit = ctx.permit(Resource::ChangeHistory, Action::Read)?;
        let id = path_id(id)?;
        let params = params.parse(&permit)?;
        let keyring = ctx.keyring();
        let page = PageRequest::parse_scanned(
            params.limit,
            params.cursor.as_deref(),
            &keyring,
            HISTORY_LIST,
        )?;
        Ok(Self {
            permit,
            id,
            page,
            keyring,
        })
    }
}

/// A client's change history
///
/// Each creation and change of the client's file, oldest first: who, when, which request,
/// and each changed field before and after. Shows the fields the caller may read of the
/// client now, and values only to a caller who may read the client (masked as the client
/// is); the auditor sees who changed which fields and when. A restricted client's history
/// needs `X-Purpose-Of-Use`.
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, format = Uuid), HistoryParams, ("X-Purpose-Of-Use" = Option<String>, Header)),
    responses(
        (status = 200, body = Page<HistoryEntry>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/clients/{id}/history")]
async fn client_history(
    ctx: Ctx,
    id: web::Path<String>,
    params: Params<HistoryParams>,
) -> ApiResult<Disclosed> {
    let HistoryRequest {
        permit,
        id,
        page,
        keyring,
    } = HistoryRequest::of(&ctx, &id, params)?;
    let client_permit = ctx.nested_permit(Resource::Client);
    let reader = permit.clone();
    let (entries, next) = ctx
        .db()
        .read(move |conn| {
            let client = crate::api::clients::load(conn, &reader, &id)?;
            let values = match &client_permit {
                Some(permit) => reaches(crate::api::clients::load(conn, permit, &id))?,
                None => false,
            };
            let lens = Lens {
                readable: client_permit,
                values,
            };
            let subject = (Subject::Record(&id), client.row.restricted);
            let clearance = reader.caller().clearance.rank();
            page_of(conn, &keyring, subject, clearance, &page, |_| {
                Some(lens.clone())
            })
        })
        .await?;
    respond(&permit, &entries, next)
}

/// A case's change history
///
/// Each creation and change of the case and of its allocations, oldest first, as the
/// client's history shows them: an allocation's entries only to a caller who may see that
/// allocation (a CSP sees its own).
#[utoipa::path(
    tag = "cases",
    params(("id" = String, Path, format = Uuid), HistoryParams, ("X-Purpose-Of-Use" = Option<String>, Header)),
    responses(
        (status = 200, body = Page<HistoryEntry>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/cases/{id}/history")]
async fn case_history(
    ctx: Ctx,
    id: web::Path<String>,
    params: Params<HistoryParams>,
) -> ApiResult<Disclosed> {
    let HistoryRequest {
        permit,
        id,
        page,
        keyring,
    } = HistoryRequest::of(&ctx, &id, params)?;
    let case_permit = ctx.nested_permit(Resource::Case);
    let allocation_permit = ctx.nested_permit(Resource::Allocation);
    let reader = permit.clone();
    let (entries, next) = ctx
        .db()
        .read(move |conn| {
            let lenses = case_lenses(conn, &reader, case_permit, allocation_permit, &id)?;
            let subject = (Subject::Case(&id), lenses.client_restricted);
            let clearance = reader.caller().clearance.rank();
            page_of(conn, &keyring, subject, clearance, &page, |entry| {
                lenses.lens_of(entry)
            })
        })
        .await?;
    respond(&permit, &entries, next)
}

/// Whether a look-up of the record under a read permit found it: not found, or refused for
/// want of a purpose of use, is `false`; any other error is the answer.
fn reaches<T>(found: ApiResult<T>) -> ApiResult<bool> {
    match found {
        Ok(_) => Ok(true),
        Err(ApiError::NotFound | ApiError::Forbidden { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

/// How the caller sees case `id`'s entries: 404 unless `history` reaches the case.
fn case_lenses(
    conn: &mut DbConnection,
    history: &Permit,
    case_permit: Option<Permit>,
    allocation_permit: Option<Permit>,
    id: &str,
) -> ApiResult<CaseLenses> {
    use crate::db::cases as cases_queries;
    let case =
        cases_queries::find(conn, scope::cases(history, false), id)?.ok_or(ApiError::NotFound)?;
    let client_restricted = cases_queries::client_is_restricted(conn, &case.client_id)?;
    history.check_restricted(client_restricted)?;
    let values = match &case_permit {
        Some(permit) => cases_queries::find(conn, scope::cases(permit, false), id)?.is_some(),
        None => false,
    };
    let mut reached = |permit: Option<&Permit>| -> ApiResult<HashSet<String>> {
        let Some(permit) = permit else {
            return Ok(HashSet::new());
        };
        let allocations =
            cases_queries::allocations_of(conn, scope::allocations(permit), vec![id.to_owned()])?;
        Ok(allocations
            .into_iter()
            .map(|allocation| allocation.id)
            .collect())
    };
    let allocations_valued = reached(allocation_permit.as_ref())?;
    let mut allocations_seen = reached(Some(history))?;
    allocations_seen.extend(allocations_valued.iter().cloned());
    Ok(CaseLenses {
        client_restricted,
        case: Lens {
            readable: case_permit,
            values,
        },
        allocation_permit,
        allocations_seen,
        allocations_valued,
    })
}

/// Revert a change to a client
///
/// Restores the values the entry `entry_id` of the client's history changed, through the
/// client's normal write path: the caller must be allowed to write each of those fields,
/// `If-Match` names the client's current version, and the revert is audited and kept in the
/// history as an entry of its own (`action: reverted`, `reverts` naming the entry). A
/// creation is not reverted (409 `not_revertible`).
#[utoipa::path(
    tag = "clients",
    params(
        ("id" = String, Path, format = Uuid),
        ("entry_id" = String, Path, format = Uuid),
        ("If-Match" = String, Header, description = "The client's current ETag", pattern = r#"^(W/)?"[0-9]{1,9}"$"#),
    ),
    responses(
        (status = 200, body = ClientRecord, headers(("ETag" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 428, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/clients/{id}/history/{entry_id}/revert")]
async fn revert_client_change(
    ctx: Ctx,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::ChangeHistory, Action::Revert)?;
    let writer = ctx.permit(Resource::Client, Action::Update)?;
    let reader = ctx.permit(Resource::Client, Action::Read)?;
    let (id, entry_id) = (path_id(&path.0)?, path_id(&path.1)?);
    let version = expected_version(&req)?;
    let (change, keyring, caller) = (
        crate::api::clients::Change::of(&ctx),
        ctx.keyring(),
        ctx.caller.clone(),
    );
    ctx.write(move |conn| {
        crate::api::clients::load(conn, &permit, &id)?;
        let entry = queries::find(conn, &entry_id)?
            .filter(|row| row.resource_type == Resource::Client.name() && row.resource_id == id)
            .ok_or(ApiError::NotFound)
            .and_then(|row| HistoryEntry::open(row, &keyring))?;
        if entry.action == HistoryAction::Created {
            return Err(ApiError::conflict(
                "not_revertible",
                "An entry that records the creation of the file cannot be reverted.",
            ));
        }
        let previous: Map<String, Value> = entry
            .changes
            .into_iter()
            .map(|(field, change)| (field, change.before))
            .collect();
        let update: ClientUpdate = write_body(&writer, Value::Object(previous))?;
        caller.check_marking(update.protective_marking)?;
        let changed = change.apply(conn, &writer, &id, version, update, Some(&entry.id))?;
        Ok(disclosure::one(&reader, &changed.record)?.changing(changed.fields))
    })
    .await
}
