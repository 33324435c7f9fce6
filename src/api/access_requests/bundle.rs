//! `GET /access-requests/{id}/bundle`: everything the department holds about the client of an
//! access request, as one JSON document. Each part is read under the caller's own read
//! permits with the request as purpose of use and leaves through the field mask; the notes and
//! the access log, which can be long, are streamed a page at a time.
use std::collections::BTreeSet;

use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{AccessRequestRecord, identity_not_verified};
use crate::api::audit::AuditEventRecord;
use crate::api::cases::{self, types::CaseRecord};
use crate::api::clients::{self, types::ClientRecord};
use crate::api::consents::{self, ConsentRecord};
use crate::api::context::Ctx;
use crate::api::correction_requests::CorrectionRequestRecord;
use crate::api::disclosure::{Disclose, masked};
use crate::api::history::{self, HistoryEntry};
use crate::api::notes::NoteRecord;
use crate::api::notices::{self, NoticeGivenRecord};
use crate::api::request::path_id;
use crate::audit::Disclosure;
use crate::authz::{Action, Permit, Resource, scope};
use crate::db::Database;
use crate::db::audit::{self as audit_queries, AuditFilter};
use crate::db::cases::{self as case_queries, CaseFilter};
use crate::db::notes as note_queries;
use crate::db::requests::{self as queries, RequestFilter};
use crate::domain::AccessRequestStatus;
use crate::error::{ApiError, ApiResult, Problem};

/// Notes or access-log events per read while streaming.
const PAGE: i64 = 500;

/// The bundle's opening parts; `notes` (every note on the client's cases, amendments
/// included) and `access_log` (every audited request that disclosed the client's data,
/// newest first, as the `access_log_entry` lines show it) follow, streamed.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessBundle {
    #[schema(value_type = AccessRequestRecord)]
    pub access_request: Map<String, Value>,
    pub generated_at: DateTime<Utc>,
    /// With the statements kept with its fields.
    #[schema(value_type = ClientRecord)]
    pub client: Map<String, Value>,
    /// With their allocations.
    #[schema(value_type = Vec<CaseRecord>)]
    pub cases: Vec<Map<String, Value>>,
    #[schema(value_type = Vec<ConsentRecord>)]
    pub consents: Vec<Map<String, Value>>,
    #[schema(value_type = Vec<NoticeGivenRecord>)]
    pub collection_notices_given: Vec<Map<String, Value>>,
    #[schema(value_type = Vec<CorrectionRequestRecord>)]
    pub correction_requests: Vec<Map<String, Value>>,
    /// Every change made to the file (the client, its cases and allocations), oldest first.
    #[schema(value_type = Vec<HistoryEntry>)]
    pub history: Vec<Map<String, Value>>,
}

/// The read permits of every part, each with the request as purpose of use.
#[derive(Clone)]
struct Permits {
    request: Permit,
    client: Permit,
    case: Permit,
    allocation: Permit,
    note: Permit,
    consent: Permit,
    notice: Permit,
    correction: Permit,
    access_log: Permit,
    history: Permit,
}

impl Permits {
    fn decide(ctx: &Ctx, purpose: &str) -> ApiResult<Self> {
        let read = |resource| ctx.permit_for(resource, Action::Read, purpose.to_owned());
        Ok(Self {
            request: read(Resource::AccessRequest)?,
            client: read(Resource::Client)?,
            case: read(Resource::Case)?,
            allocation: read(Resource::Allocation)?,
            note: read(Resource::Note)?,
            consent: read(Resource::Consent)?,
            notice: read(Resource::NoticeGiven)?,
            correction: read(Resource::CorrectionRequest)?,
            access_log: read(Resource::AccessLogEntry)?,
            history: read(Resource::ChangeHistory)?,
        })
    }

    /// The read permit of the records of a history entry's `resource_type`.
    fn of_resource(&self, resource_type: &str) -> Option<Permit> {
        [&self.client, &self.case, &self.allocation]
            .into_iter()
            .find(|permit| permit.resource.name() == resource_type)
            .cloned()
    }

    /// Every field the bundle may disclose, as `resource.field`.
    fn fields(&self) -> BTreeSet<String> {
        [
            &self.request,
            &self.client,
            &self.case,
            &self.allocation,
            &self.note,
            &self.consent,
            &self.notice,
            &self.correction,
            &self.access_log,
            &self.history,
        ]
        .iter()
        .flat_map(|permit| {
            let resource = permit.resource.name();
            permit
                .readable()
                .iter()
                .map(move |field| format!("{resource}.{field}"))
        })
        .collect()
    }
}

fn masked_all<T: Disclose>(permit: &Permit, records: &[T]) -> ApiResult<Vec<Map<String, Value>>> {
    records
        .iter()
        .map(|record| masked(permit, record))
        .collect()
}

/// Get everything held about an access request's client
///
/// One JSON document: the request, the client's record (with statements), cases with
/// allocations, consents, collection notices given, correction requests, the file's change
/// history, then every note
/// (amendments included) and the access log (who accessed the file, when, which fields),
/// streamed. Needs the requester's identity verified (409 `identity_not_verified`); a
/// refused request has none (409 `request_refused`). Audited with the request as purpose of
/// use.
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = AccessBundle, description = "The opening parts shown here, then `notes` (NoteRecord[]) and `access_log` (AuditEventRecord[])"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/access-requests/{id}/bundle")]
pub async fn access_request_bundle(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    ctx.permit(Resource::AccessRequest, Action::Export)?;
    let id = path_id(&id)?;
    let purpose = format!("access request {id}");
    let permits = Permits::decide(&ctx, &purpose)?;
    let (today, generated_at) = (ctx.state.clock.today(), ctx.state.clock.now());
    let (reader, keyring) = (permits.clone(), ctx.keyring());
    let (head, client) = ctx
        .db()
        .read(move |conn| {
            let row = queries::find_access(conn, &id)?.ok_or(ApiError::NotFound)?;
            let request = AccessRequestRecord::of(row, today)?;
            if request.status == AccessRequestStatus::Refused {
                return Err(ApiError::conflict(
                    "request_refused",
                    "The request was refused: nothing is released under it.",
                ));
            }
            if !request.identity_verified {
                return Err(identity_not_verified());
            }
            let client = clients::load_record(conn, &keyring, &reader.client, &request.client_id)?;
            let filter = CaseFilter {
                client_id: Some(client.id.clone()),
                status: None,
            };
            let case_rows = case_queries::list(
                conn,
                scope::cases(&reader.case, false),
                &filter,
                None,
                i64::MAX,
                None,
            )?
            .rows;
            let case_ids: Vec<String> = case_rows.iter().map(|case| case.id.clone()).collect();
            let case_records = cases::assemble(conn, case_rows, Some(&reader.allocation))?;
            let corrections = queries::list_corrections(
                conn,
                &RequestFilter {
                    client_id: Some(client.id.clone()),
                    ..RequestFilter::default()
                },
                None,
                i64::MAX,
            )?
            .into_iter()
            .map(|row| CorrectionRequestRecord::of(row, today, &keyring))
            .collect::<ApiResult<Vec<_>>>()?;
            let head = AccessBundle {
                access_request: masked(&reader.request, &request)?,
                generated_at: crate::api::request::utc(generated_at),
                client: masked(&reader.client, &client)?,
                cases: masked_all(&reader.case, &case_records)?,
                consents: masked_all(
                    &reader.consent,
                    &consents::of_client(conn, &client.id, today)?,
                )?,
                collection_notices_given: masked_all(
                    &reader.notice,
                    &notices::given_to(conn, &client.id, today)?,
                )?,
                correction_requests: masked_all(&reader.correction, &corrections)?,
                history: masked_all(
                    &reader.history,
                    &history::of_whole_file(
                        conn,
                        &keyring,
                        &client.id,
                        reader.history.caller().clearance.rank(),
                        |resource| reader.of_resource(resource),
                    )?,
                )?,
            };
            Ok((head, (client.id, client.restricted, case_ids)))
        })
        .await?;
    let (client_id, restricted, case_ids) = client;
    req.extensions_mut().insert(Disclosure {
        resource_type: Some(Resource::AccessRequest.name()),
        resource_id: Some(
            head.access_request
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        client_ids: BTreeSet::from([client_id.clone()]),
        restricted_client_ids: if restricted {
            BTreeSet::from([client_id.clone()])
        } else {
            BTreeSet::new()
        },
        fields: permits.fields(),
        purpose_of_use: Some(purpose),
        ..Disclosure::default()
    });
    let mut opening = serde_json::to_vec(&head).map_err(ApiError::internal)?;
    // Reopen the object for the streamed parts.
    opening.pop();
    opening.extend_from_slice(br#","notes":["#);
    let rest = Tail {
        db: ctx.db().clone(),
        permits,
        client_id,
        case_ids,
        stage: Stage::Notes {
            case: 0,
            after: None,
        },
        first: true,
    };
    let body = futures_util::stream::once(async move { Ok(Bytes::from(opening)) })
        .chain(futures_util::stream::try_unfold(rest, Tail::next));
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .streaming(body))
}

enum Stage {
    /// Notes of `case_ids[case]` after the note `after`.
    Notes {
        case: usize,
        after: Option<String>,
    },
    /// Access-log events after the event `after`.
    AccessLog {
        after: Option<String>,
    },
    Done,
}

/// The streamed parts, one page per chunk.
struct Tail {
    db: Database,
    permits: Permits,
    client_id: String,
    case_ids: Vec<String>,
    stage: Stage,
    /// No item written yet in the open array.
    first: bool,
}

impl Tail {
    async fn next(mut self) -> Result<Option<(Bytes, Self)>, actix_web::Error> {
        let mut chunk = Vec::new();
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Notes { case, .. } if case == self.case_ids.len() => {
                chunk.extend_from_slice(br#"],"access_log":["#);
                self.first = true;
                self.stage = Stage::AccessLog { after: None };
            }
            Stage::Notes { case, after } => {
                let (case_id, permit) = (self.case_ids[case].clone(), self.permits.note.clone());
                let client_id = self.client_id.clone();
                let notes = self
                    .db
                    .read(move |conn| {
                        note_queries::list_for_case(
                            conn,
                            scope::notes(&permit),
                            &case_id,
                            after.as_deref(),
                            PAGE,
                        )?
                        .into_iter()
                        .map(|row| Ok(NoteRecord::from_row(row, &client_id)?))
                        .collect::<ApiResult<Vec<_>>>()
                    })
                    .await?;
                self.stage = match notes.last() {
                    Some(last) if notes.len() as i64 == PAGE => Stage::Notes {
                        case,
                        after: Some(last.id.clone()),
                    },
                    _ => Stage::Notes {
                        case: case + 1,
                        after: None,
                    },
                };
                self.write(&mut chunk, &self.permits.note.clone(), &notes)?;
            }
            Stage::AccessLog { after } => {
                // What was disclosed; attempts that disclosed nothing are the department's.
                let filter = AuditFilter {
                    client_id: Some(self.client_id.clone()),
                    disclosed_only: true,
                    ..AuditFilter::default()
                };
                let events = self
                    .db
                    .read(move |conn| {
                        audit_queries::list(conn, &filter, after.as_deref(), PAGE)?
                            .into_iter()
                            .map(|row| Ok(AuditEventRecord::try_from(row)?))
                            .collect::<ApiResult<Vec<_>>>()
                    })
                    .await?;
                self.write(&mut chunk, &self.permits.access_log.clone(), &events)?;
                self.stage = match events.last() {
                    Some(last) if events.len() as i64 == PAGE => Stage::AccessLog {
                        after: Some(last.id.clone()),
                    },
                    _ => {
                        chunk.extend_from_slice(b"]}");
                        Stage::Done
                    }
                };
            }
            Stage::Done => return Ok(None),
        }
        Ok(Some((Bytes::from(chunk), self)))
    }

    /// Appends `records`, masked, to the open array.
    fn write<T: Disclose>(
        &mut self,
        chunk: &mut Vec<u8>,
        permit: &Permit,
        records: &[T],
    ) -> ApiResult<()> {
        for record in records {
            if !std::mem::take(&mut self.first) {
                chunk.push(b',');
            }
            serde_json::to_writer(&mut *chunk, &masked(permit, record)?)
                .map_err(ApiError::internal)?;
        }
        Ok(())
    }
}
