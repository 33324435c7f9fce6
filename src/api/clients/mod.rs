//! `/clients`: the client record, cut by role (fields) and relationship (rows).
pub mod types;

use actix_web::{HttpRequest, get, patch, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

use std::collections::HashMap;
use std::sync::Arc;

use self::types::{
    ClientListParams, ClientRecord, ClientStatement, ClientUpdate, NewClient, Statements,
};
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::history::{self, History, Tracked};
use crate::api::notices;
use crate::api::request::{
    Body, PageRequest, Params, expected_version, name_query, new_id, path_id, utc, write_body,
};
use crate::authz::{Action, Permit, Resource, scope};
use crate::db::clients::{self as queries, ClientFilter, ClientRow, NameLookup, StoredClient};
use crate::db::requests;
use crate::db::{DbConnection, Scanned};
use crate::domain::Date;
use crate::domain::ProtectiveMarking;
use crate::domain::names;
use crate::error::{ApiError, ApiResult, Problem};
use crate::sealing::{Keyring, SealedColumn};

/// The client list's name in its sealed cursors (`PageRequest::finish_scan`).
const CLIENT_LIST: &str = "clients";

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_clients)
        .service(create_client)
        .service(get_client)
        .service(update_client);
}

/// Every record of one kind kept on a client's file (consents, notices given, legal holds),
/// as one page: 404 unless the client is within the reach of the caller's `resource, read`.
pub async fn records_of<T, F>(
    ctx: &Ctx,
    resource: Resource,
    id: &str,
    load_records: F,
) -> ApiResult<Disclosed>
where
    T: Disclose + Send + 'static,
    F: FnOnce(&mut DbConnection, &str) -> ApiResult<Vec<T>> + Send + 'static,
{
    let permit = ctx.permit(resource, Action::Read)?;
    let client_id = path_id(id)?;
    let reader = permit.clone();
    let records = ctx
        .db()
        .read(move |conn| {
            load(conn, &reader, &client_id)?;
            load_records(conn, &client_id)
        })
        .await?;
    disclosure::page(&permit, &records, None)
}

/// A client the permit reaches, as stored, or 404; a restricted one needs a purpose of use.
/// Its sealed fields stay sealed: for the checks that disclose nothing (reach, version).
pub fn load(conn: &mut DbConnection, permit: &Permit, id: &str) -> ApiResult<StoredClient> {
    let client = queries::find(conn, scope::clients(permit), id)?.ok_or(ApiError::NotFound)?;
    permit.check_restricted(client.row.restricted)?;
    Ok(client)
}

/// Like [`load`], as the client's record: with its statements, its sealed fields opened.
pub fn load_record(
    conn: &mut DbConnection,
    keyring: &Keyring,
    permit: &Permit,
    id: &str,
) -> ApiResult<ClientRecord> {
    let client = load(conn, permit, id)?;
    Ok(records(conn, keyring, vec![client])?.remove(0))
}

/// Client records with the statements kept with their fields.
pub(super) fn records(
    conn: &mut DbConnection,
    keyring: &Keyring,
    clients: Vec<StoredClient>,
) -> ApiResult<Vec<ClientRecord>> {
    let with_statements: Vec<&str> = clients
        .iter()
        .filter(|client| client.has_statements)
        .map(|client| client.row.id.as_str())
        .collect();
    let mut statements = if with_statements.is_empty() {
        HashMap::new()
    } else {
        statements_of(conn, keyring, &with_statements)?
    };
    clients
        .into_iter()
        .map(|client| {
            let mut record = ClientRecord::open(client.row, keyring)?;
            record.statements = statements.remove(&record.id).unwrap_or_default();
            Ok(record)
        })
        .collect()
}

/// The statements kept with the files of `client_ids` (after refused corrections), by
/// client and field. Every path a client's fields leave by carries them; the field mask
/// shows each only with its field.
pub fn statements_of(
    conn: &mut DbConnection,
    keyring: &Keyring,
    client_ids: &[&str],
) -> ApiResult<HashMap<String, Statements>> {
    let mut by_client: HashMap<String, Statements> = HashMap::new();
    for row in requests::statements_of(conn, client_ids)? {
        let statement = keyring.open(SealedColumn::ClientStatement, &row.id, &row.statement)?;
        by_client
            .entry(row.client_id)
            .or_default()
            .entry(row.field)
            .or_default()
            .push(ClientStatement {
                statement,
                correction_request_id: row.correction_request_id,
                recorded_at: utc(row.recorded_at),
            });
    }
    Ok(by_client)
}

/// The most candidates a `possible_duplicate` names.
const MAX_DUPLICATE_CANDIDATES: usize = 10;

/// Refuses a new client born the same day as one within the caller's reach (row scope and
/// clearance: a file outside it is never a candidate, so the answer says nothing about it)
/// with close names, unless the caller confirmed it is someone else. A restricted
/// candidate is named only with a purpose of use, as lists name restricted clients; without
/// one it is withheld, and `confirm_new` cannot override a candidate the caller was not shown.
fn check_not_duplicate(
    conn: &mut DbConnection,
    reader: &Permit,
    new: &ClientRow,
    confirm_new: bool,
) -> ApiResult<()> {
    let lookup = NameLookup::new(
        &new.family_name,
        Some(&new.given_name),
        Some(new.date_of_birth),
    );
    let born_same_day = queries::name_candidates(conn, scope::clients(reader), &lookup)?;
    let (shown, withheld): (Vec<_>, Vec<_>) = names::best_matches(
        born_same_day,
        |candidate| (&candidate.given_name, &candidate.family_name),
        &new.family_name,
        Some(&new.given_name),
        MAX_DUPLICATE_CANDIDATES,
    )
    .into_iter()
    .partition(|candidate| reader.check_restricted(candidate.restricted).is_ok());
    if withheld.is_empty() && (confirm_new || shown.is_empty()) {
        return Ok(());
    }
    Err(ApiError::PossibleDuplicate {
        candidates: shown.into_iter().map(|candidate| candidate.id).collect(),
        restricted_withheld: !withheld.is_empty(),
        purpose: reader.purpose().map(str::to_owned),
    })
}

/// List clients
///
/// Only clients within the caller's row scope; fields the caller may not read are absent.
/// Without `X-Purpose-Of-Use`, restricted clients are left out.
#[utoipa::path(
    tag = "clients",
    params(ClientListParams),
    responses(
        (status = 200, body = Page<ClientRecord>),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Invalid cursor"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/clients")]
async fn list_clients(ctx: Ctx, params: Params<ClientListParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Client, Action::Read)?;
    let params = params.parse(&permit)?;
    let keyring = ctx.keyring();
    let page = PageRequest::parse_scanned(
        params.limit,
        params.cursor.as_deref(),
        &keyring,
        CLIENT_LIST,
    )?;
    let filter = ClientFilter {
        family_name: name_query("family_name", params.family_name)?,
        given_name: name_query("given_name", params.given_name)?,
        date_of_birth: params.date_of_birth.map(Date::get),
    };
    for field in filter.fields() {
        permit.check_filterable(field)?;
    }
    let (reader, scan) = (permit.clone(), ctx.state.config.list_scan_rows);
    let (records, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let Scanned {
                mut rows,
                scanned_to,
            } = queries::list(
                conn,
                scope::listable_clients(&reader),
                &filter,
                page.after.as_deref(),
                page.fetch(),
                scan,
            )?;
            let next_cursor = page.finish_scan(
                &mut rows,
                |client| &client.row.id,
                scanned_to,
                &keyring,
                CLIENT_LIST,
            )?;
            Ok((records(conn, &keyring, rows)?, next_cursor))
        })
        .await?;
    disclosure::page(&permit, &records, next_cursor)
}

/// Create a client
///
/// The new client belongs to the caller's division. The collection notice given to the client
/// is required (422 `collection_notice_required` carries the notice in effect). The response
/// shows what the caller may read.
#[utoipa::path(
    tag = "clients",
    request_body = NewClient,
    responses(
        (status = 201, body = ClientRecord, headers(("ETag" = String), ("Location" = String))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Role may not create clients, or `field_not_writable`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`possible_duplicate`, with the candidates within the caller's reach (a restricted one only with `X-Purpose-Of-Use`, else `restricted_candidate_withheld`)"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Invalid, or `collection_notice_required` with the notice in effect"),
    ),
    security(("bearer" = []))
)]
#[post("/clients")]
async fn create_client(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Client, Action::Create)?;
    let reader = ctx.permit(Resource::Client, Action::Read)?;
    let new: NewClient = write_body(&permit, body)?;
    ctx.caller.check_marking(new.protective_marking)?;
    let marking = new
        .protective_marking
        .unwrap_or(ProtectiveMarking::Official);
    let now = ctx.now();
    let address = new.address.unwrap_or_default();
    let keyring = ctx.keyring();
    let id = new_id();
    let row = ClientRow {
        medicare_number: keyring.seal_optional(
            SealedColumn::ClientMedicareNumber,
            &id,
            new.medicare_number.map(String::from).as_deref(),
        )?,
        tax_file_number: keyring.seal_optional(
            SealedColumn::ClientTaxFileNumber,
            &id,
            new.tax_file_number.map(String::from).as_deref(),
        )?,
        id,
        given_name: new.given_name.into(),
        family_name: new.family_name.into(),
        preferred_name: new.preferred_name.map(String::from),
        date_of_birth: new.date_of_birth.get(),
        gender: new.gender,
        phone: new.phone,
        email: new.email,
        address_line1: address.line1,
        address_line2: address.line2,
        address_suburb: address.suburb,
        address_state: address.state,
        address_postcode: address.postcode,
        interpreter_language: new.interpreter_language,
        gp_details: new.gp_details,
        safety_alerts: types::alerts_json(new.safety_alerts),
        protective_marking: marking.rank(),
        restricted: new.restricted.unwrap_or(false),
        lead_division_id: ctx.caller.organisation_id.clone(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let record = ClientRecord::open(row.clone(), &keyring)?;
    let given = new.collection_notice;
    let confirm_new = new.confirm_new;
    let today = ctx.state.clock.today();
    let recorder = ctx.recorder();
    let history = ctx.history();
    // The checks run on a reader first, so that the writer, which every write of the service
    // waits for, never spends its time refusing; inside the write they run again (index
    // lookups, bounded by the clients born that day with close names) so that two requests
    // for the same person cannot both pass.
    let (first_reader, first_row, first_given) = (reader.clone(), row.clone(), given.clone());
    ctx.db()
        .read(move |conn| {
            notices::check_given(conn, first_given.as_ref(), today)?;
            check_not_duplicate(conn, &first_reader, &first_row, confirm_new)
        })
        .await?;
    ctx.write(move |conn| {
        let (notice, given) = notices::check_given(conn, given.as_ref(), today)?;
        check_not_duplicate(conn, &reader, &row, confirm_new)?;
        queries::insert(conn, &row)?;
        let changed = history.created(conn, &record)?;
        notices::record_given(conn, &row.id, &notice, given, &recorder)?;
        Ok(
            disclosure::created(&reader, &record, format!("/api/v1/clients/{}", record.id))?
                .changing(changed),
        )
    })
    .await
}

/// Get a client
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, format = Uuid), ("X-Purpose-Of-Use" = Option<String>, Header, description = "Required for restricted clients and for privacy officers")),
    responses(
        (status = 200, body = ClientRecord, headers(("ETag" = String))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/clients/{id}")]
async fn get_client(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Client, Action::Read)?;
    let id = path_id(&id)?;
    let (reader, keyring) = (permit.clone(), ctx.keyring());
    let record = ctx
        .db()
        .read(move |conn| load_record(conn, &keyring, &reader, &id))
        .await?;
    disclosure::one(&permit, &record)
}

/// Update a client
///
/// Needs `If-Match` with the ETag last read. Writing a field the role may not write is 403
/// `field_not_writable` and changes nothing.
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)),
    request_body = ClientUpdate,
    responses(
        (status = 200, body = ClientRecord, headers(("ETag" = String))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 428, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/clients/{id}")]
async fn update_client(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Client, Action::Update)?;
    let reader = ctx.permit(Resource::Client, Action::Read)?;
    let id = path_id(&id)?;
    let version = expected_version(&req)?;
    let update: ClientUpdate = write_body(&permit, body)?;
    ctx.caller.check_marking(update.protective_marking)?;
    let change = Change::of(&ctx);
    ctx.write(move |conn| {
        let changed = change.apply(conn, &permit, &id, version, update, None)?;
        Ok(disclosure::one(&reader, &changed.record)?.changing(changed.fields))
    })
    .await
}

/// A change to a client's fields, ready to make: the one way they change (a PATCH, an
/// applied correction, a revert of an entry of the history), so that each is checked,
/// versioned and kept in the history alike.
pub struct Change {
    keyring: Arc<Keyring>,
    history: History,
}

/// A client as a change left it, and the fields it changed.
pub struct Changed {
    pub record: ClientRecord,
    pub fields: history::Changed,
}

impl Change {
    /// A change by the caller of `ctx`.
    pub fn of(ctx: &Ctx) -> Self {
        Self {
            keyring: ctx.keyring(),
            history: ctx.history(),
        }
    }

    /// Makes `update` to client `id` if `writer` reaches it and it is still at `version`
    /// (412 otherwise); `reverts` names the history entry a revert undoes.
    pub fn apply(
        &self,
        conn: &mut DbConnection,
        writer: &Permit,
        id: &str,
        version: i32,
        update: ClientUpdate,
        reverts: Option<&str>,
    ) -> ApiResult<Changed> {
        let before = load_record(conn, &self.keyring, writer, id)?;
        let changes = update.into_changes(&self.keyring, id)?;
        let now = self.history.at;
        if before.version != version || !queries::update(conn, id, version, &changes, now)? {
            return Err(ApiError::PreconditionFailed);
        }
        let record = load_record(conn, &self.keyring, writer, id)?;
        let fields = match reverts {
            Some(entry) => self.history.reverted(conn, entry, &before, &record)?,
            None => self.history.updated(conn, &before, &record)?,
        };
        Ok(Changed { record, fields })
    }
}

impl Tracked for ClientRecord {
    const RESOURCE: Resource = Resource::Client;
    fn case_id(&self) -> Option<&str> {
        None
    }
}
