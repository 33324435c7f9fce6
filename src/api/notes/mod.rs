//! Case notes. Never edited in place: an amendment is a new note pointing at the one it
//! amends, and both stay readable. CSPs see and write only `shared` notes.
use actix_web::{get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{Body, PageRequest, Params, new_id, path_id, utc, write_body};
use crate::authz::{Action, Permit, Resource, scope};
use crate::db::DbConnection;
use crate::db::cases::{self as cases, CaseRow};
use crate::db::notes::{self as queries, NoteRow};
use crate::domain::{NoteType, ProtectiveMarking, StoredAsText, Visibility};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_notes)
        .service(create_note)
        .service(get_note)
        .service(amend_note);
}

/// A note as the caller may see it: fields their role may not read are absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub case_id: String,
    #[schema(required = false, format = Uuid)]
    pub author_id: String,
    #[schema(required = false, format = Uuid)]
    pub author_organisation_id: String,
    #[schema(required = false)]
    pub created_at: DateTime<Utc>,
    #[schema(required = false)]
    pub note_type: NoteType,
    #[schema(required = false)]
    pub visibility: Visibility,
    #[schema(required = false)]
    pub protective_marking: ProtectiveMarking,
    #[schema(required = false)]
    pub body: String,
    /// The note this one amends.
    #[schema(required = false, format = Uuid)]
    pub amends_note_id: Option<String>,
    #[serde(skip)]
    pub client_id: String,
}

impl NoteRecord {
    pub fn from_row(row: NoteRow, client_id: &str) -> anyhow::Result<Self> {
        Ok(Self {
            id: row.id,
            case_id: row.case_id,
            author_id: row.author_id,
            author_organisation_id: row.author_organisation_id,
            created_at: utc(row.created_at),
            note_type: NoteType::from_stored(&row.note_type)?,
            visibility: Visibility::from_stored(&row.visibility)?,
            protective_marking: ProtectiveMarking::from_rank(row.protective_marking)?,
            body: row.body,
            amends_note_id: row.amends_note_id,
            client_id: client_id.to_owned(),
        })
    }
}

impl Disclose for NoteRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "note_type": "contact", "visibility": "shared",
    "body": "Visited today; the tenancy plan is on track."
}))]
pub struct NewNote {
    pub note_type: NoteType,
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub body: String,
    /// Default `department` for roles that may choose; CSP notes are always `shared`.
    pub visibility: Option<Visibility>,
    /// Default `OFFICIAL`; at most the caller's clearance.
    pub protective_marking: Option<ProtectiveMarking>,
}

/// An amendment keeps the amended note's visibility and marking.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteAmendment {
    /// Default: the amended note's type.
    pub note_type: Option<NoteType>,
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub body: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoteListParams {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// The case `id`, if `permit`'s row scope reaches it (404 otherwise).
fn reachable_case(conn: &mut DbConnection, permit: &Permit, id: &str) -> ApiResult<CaseRow> {
    let case = cases::find(conn, scope::cases(permit, false), id)?.ok_or(ApiError::NotFound)?;
    permit.check_restricted(cases::client_is_restricted(conn, &case.client_id)?)?;
    Ok(case)
}

/// A note the permit reaches, on a case it reaches.
fn load(conn: &mut DbConnection, permit: &Permit, id: &str) -> ApiResult<NoteRecord> {
    let note = queries::find(conn, scope::notes(permit), id)?.ok_or(ApiError::NotFound)?;
    let case = reachable_case(conn, permit, &note.case_id)?;
    Ok(NoteRecord::from_row(note, &case.client_id)?)
}

/// List a case's notes
#[utoipa::path(tag = "notes", params(("id" = String, Path, format = Uuid), NoteListParams), responses(
    (status = 200, body = Page<NoteRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/cases/{id}/notes")]
async fn list_notes(
    ctx: Ctx,
    id: web::Path<String>,
    params: Params<NoteListParams>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Note, Action::Read)?;
    let params = params.parse(&permit)?;
    let case_id = path_id(&id)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let (reader, request) = (permit.clone(), page.clone());
    let (records, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let case = reachable_case(conn, &reader, &case_id)?;
            let mut rows = queries::list_for_case(
                conn,
                scope::notes(&reader),
                &case.id,
                request.after.as_deref(),
                request.fetch(),
            )?;
            let next_cursor = request.finish(&mut rows, |row| &row.id);
            let records = rows
                .into_iter()
                .map(|row| NoteRecord::from_row(row, &case.client_id))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok((records, next_cursor))
        })
        .await?;
    disclosure::page(&permit, &records, next_cursor)
}

/// Add a note to a case
#[utoipa::path(tag = "notes", params(("id" = String, Path, format = Uuid)), request_body = NewNote, responses(
    (status = 201, body = NoteRecord, headers(("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/cases/{id}/notes")]
async fn create_note(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Note, Action::Create)?;
    let reader = ctx.permit(Resource::Note, Action::Read)?;
    let case_id = path_id(&id)?;
    let new: NewNote = write_body(&permit, body)?;
    ctx.caller.check_marking(new.protective_marking)?;
    let marking = new
        .protective_marking
        .unwrap_or(ProtectiveMarking::Official);
    // Whoever may not choose a note's visibility writes shared notes only.
    let visibility = new.visibility.unwrap_or(if permit.can_write("visibility") {
        Visibility::Department
    } else {
        Visibility::Shared
    });
    let (caller, now) = (ctx.caller.clone(), ctx.now());
    ctx.write(move |conn| {
        let case = reachable_case(conn, &permit, &case_id)?;
        let row = NoteRow {
            id: new_id(),
            case_id: case.id,
            author_id: caller.user_id.clone(),
            author_organisation_id: caller.organisation_id.clone(),
            created_at: now,
            note_type: new.note_type.as_str().to_owned(),
            visibility: visibility.as_str().to_owned(),
            protective_marking: marking.rank(),
            body: new.body,
            amends_note_id: None,
        };
        queries::insert(conn, &row)?;
        let record = NoteRecord::from_row(row, &case.client_id)?;
        disclosure::created(&reader, &record, format!("/api/v1/notes/{}", record.id))
    })
    .await
}

/// Get a note
#[utoipa::path(tag = "notes", params(("id" = String, Path, format = Uuid), ("X-Purpose-Of-Use" = Option<String>, Header)), responses(
    (status = 200, body = NoteRecord),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/notes/{id}")]
async fn get_note(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Note, Action::Read)?;
    let id = path_id(&id)?;
    let reader = permit.clone();
    let record = ctx.db().read(move |conn| load(conn, &reader, &id)).await?;
    disclosure::one(&permit, &record)
}

/// Amend a note
///
/// Adds a new note that points at this one; the original stays as it was.
#[utoipa::path(tag = "notes", params(("id" = String, Path, format = Uuid)), request_body = NoteAmendment, responses(
    (status = 201, body = NoteRecord, headers(("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/notes/{id}/amendments")]
async fn amend_note(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Note, Action::Create)?;
    let reader = ctx.permit(Resource::Note, Action::Read)?;
    let id = path_id(&id)?;
    let amendment: NoteAmendment = write_body(&permit, body)?;
    let (caller, now) = (ctx.caller.clone(), ctx.now());
    let original_reader = reader.clone();
    ctx.write(move |conn| {
        let original = load(conn, &original_reader, &id)?;
        // Amending needs the create permit's reach too: a privacy officer reads but may not write.
        reachable_case(conn, &permit, &original.case_id)?;
        let row = NoteRow {
            id: new_id(),
            case_id: original.case_id.clone(),
            author_id: caller.user_id.clone(),
            author_organisation_id: caller.organisation_id.clone(),
            created_at: now,
            note_type: amendment
                .note_type
                .unwrap_or(original.note_type)
                .as_str()
                .to_owned(),
            visibility: original.visibility.as_str().to_owned(),
            protective_marking: original.protective_marking.rank(),
            body: amendment.body,
            amends_note_id: Some(original.id.clone()),
        };
        queries::insert(conn, &row)?;
        let record = NoteRecord::from_row(row, &original.client_id)?;
        disclosure::created(&reader, &record, format!("/api/v1/notes/{}", record.id))
    })
    .await
}
