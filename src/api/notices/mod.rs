//! Collection notices (IPP 1.3): a privacy officer issues each version of the notice the
//! department gives clients; every client file records the notices given to the client, the
//! first on the file's creation (`POST /clients` refuses a new file without one); a report
//! lists the clients not yet given the version in effect.
use actix_web::{get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::clients;
use crate::api::context::{Ctx, Recorder};
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{Body, PageRequest, Params, field_id, new_id, path_id, utc};
use crate::authz::{Action, Resource, scope};
use crate::db::notices::{self as queries, NoticeGivenRow, NoticeRow};
use crate::db::{DbConnection, Scanned, directory};
use crate::domain::{Date, Medium, OrganisationKind, StoredAsText};
use crate::error::{ApiError, ApiResult, CurrentNotice, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(issue_notice)
        .service(current_notice)
        .service(record_notice_given)
        .service(notices_given)
        .service(outdated_notices);
}

/// A version of the collection notice.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionNoticeRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub version: String,
    #[schema(required = false)]
    pub text: String,
    #[schema(required = false)]
    pub effective_from: NaiveDate,
    #[schema(required = false, format = Uuid)]
    pub created_by: String,
    #[schema(required = false)]
    pub created_at: DateTime<Utc>,
}

impl From<NoticeRow> for CollectionNoticeRecord {
    fn from(row: NoticeRow) -> Self {
        Self {
            id: row.id,
            version: row.version,
            text: row.text,
            effective_from: row.effective_from,
            created_by: row.created_by,
            created_at: utc(row.created_at),
        }
    }
}

impl Disclose for CollectionNoticeRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        None
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCollectionNotice {
    /// A name for the version, such as `2026-2`; unique.
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub version: String,
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub text: String,
    /// Today or later, and not before the latest notice already issued.
    pub effective_from: Date,
}

/// A collection notice given to a client, as a new client file or a later record states it.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeGiven {
    /// The version given: the one in effect.
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub version: String,
    /// Not in the future, nor before the version took effect.
    pub given_on: Date,
    pub method: Medium,
}

/// A collection notice given to a client.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeGivenRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub client_id: String,
    #[schema(required = false)]
    pub version: String,
    #[schema(required = false)]
    pub given_on: NaiveDate,
    #[schema(required = false)]
    pub method: Medium,
    /// Whether it is the version in effect.
    #[schema(required = false)]
    pub current: bool,
    #[schema(required = false, format = Uuid)]
    pub recorded_by: String,
    #[schema(required = false)]
    pub recorded_at: DateTime<Utc>,
    /// The organisation that gave it: the recorder's division, or the CSP whose worker gave it.
    #[schema(required = false, format = Uuid)]
    pub given_by_organisation_id: String,
}

impl NoticeGivenRecord {
    fn of(row: NoticeGivenRow, version: String, current: Option<&NoticeRow>) -> ApiResult<Self> {
        Ok(Self {
            current: current.is_some_and(|current| current.id == row.notice_id),
            method: Medium::from_stored(&row.method)?,
            id: row.id,
            client_id: row.client_id,
            version,
            given_on: row.given_on,
            recorded_by: row.recorded_by,
            recorded_at: utc(row.recorded_at),
            given_by_organisation_id: row.given_by_organisation_id,
        })
    }
}

impl Disclose for NoticeGivenRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
}

/// A client not yet given the notice in effect.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeStatusRecord {
    #[schema(required = false, format = Uuid)]
    pub client_id: String,
    /// The last version the client was given; null if none was recorded.
    #[schema(required = false)]
    pub last_version: Option<String>,
    #[schema(required = false)]
    pub last_given_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub last_method: Option<Medium>,
    #[schema(required = false)]
    pub current_version: String,
}

impl Disclose for NoticeStatusRecord {
    fn id(&self) -> &str {
        &self.client_id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
}

/// Checks a notice given against the one in effect on `today`, and returns both. A missing,
/// past or unknown version is `collection_notice_required` with the notice to give.
pub fn check_given<'a>(
    conn: &mut DbConnection,
    given: Option<&'a NoticeGiven>,
    today: NaiveDate,
) -> ApiResult<(NoticeRow, &'a NoticeGiven)> {
    let Some(current) = queries::current(conn, today)? else {
        return Err(ApiError::CollectionNoticeRequired {
            detail: "No collection notice is in effect: a privacy officer must issue one before \
                     client files can be created."
                .into(),
            notice: None,
        });
    };
    let required = |detail: String| ApiError::CollectionNoticeRequired {
        detail,
        notice: Some(CurrentNotice {
            version: current.version.clone(),
            text: current.text.clone(),
        }),
    };
    let Some(given) = given else {
        return Err(required(
            "Give the client the collection notice and record it as `collection_notice`.".into(),
        ));
    };
    if given.version != current.version {
        return Err(required(format!(
            "Version {} is not the collection notice in effect (version {}).",
            given.version, current.version
        )));
    }
    if given.given_on.get() > today {
        return Err(ApiError::invalid(
            "collection_notice.given_on",
            "must not be in the future",
        ));
    }
    if given.given_on.get() < current.effective_from {
        return Err(ApiError::invalid(
            "collection_notice.given_on",
            format!(
                "must not be before the version took effect ({})",
                current.effective_from
            ),
        ));
    }
    Ok((current, given))
}

/// Records `given` (checked by [`check_given`] against `notice`) for the client.
pub fn record_given(
    conn: &mut DbConnection,
    client_id: &str,
    notice: &NoticeRow,
    given: &NoticeGiven,
    recorder: &Recorder,
) -> ApiResult<NoticeGivenRecord> {
    let row = NoticeGivenRow {
        id: new_id(),
        client_id: client_id.to_owned(),
        notice_id: notice.id.clone(),
        given_on: given.given_on.get(),
        method: given.method.as_str().to_owned(),
        recorded_by: recorder.by.clone(),
        recorded_at: recorder.at,
        given_by_organisation_id: recorder.organisation.clone(),
    };
    queries::insert_given(conn, &row)?;
    NoticeGivenRecord::of(row, notice.version.clone(), Some(notice))
}

/// Issue a collection notice
///
/// A new version of the notice the department gives clients when it collects their
/// information. It is in effect from `effective_from` until a later version takes effect.
#[utoipa::path(tag = "privacy", request_body = NewCollectionNotice, responses(
    (status = 201, body = CollectionNoticeRecord, headers(("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "`notice_version_exists`"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/collection-notices")]
async fn issue_notice(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::CollectionNotice, Action::Create)?;
    let reader = ctx.permit(Resource::CollectionNotice, Action::Read)?;
    let new: NewCollectionNotice = body.parse(&permit)?;
    let today = ctx.state.clock.today();
    if new.effective_from.get() < today {
        return Err(ApiError::invalid(
            "effective_from",
            "must not be in the past",
        ));
    }
    let row = NoticeRow {
        id: new_id(),
        version: new.version,
        text: new.text,
        effective_from: new.effective_from.get(),
        created_by: ctx.caller.user_id.clone(),
        created_at: ctx.now(),
    };
    ctx.write(move |conn| {
        if queries::by_version(conn, &row.version)?.is_some() {
            return Err(ApiError::conflict(
                "notice_version_exists",
                format!("A notice with version {} was issued already.", row.version),
            ));
        }
        if let Some(latest) = queries::latest_effective_from(conn)?
            && row.effective_from < latest
        {
            return Err(ApiError::invalid(
                "effective_from",
                format!("must not be before the latest notice's ({latest})"),
            ));
        }
        queries::insert(conn, &row)?;
        let record = CollectionNoticeRecord::from(row);
        let location = "/api/v1/collection-notices/current".to_owned();
        disclosure::created(&reader, &record, location)
    })
    .await
}

/// The collection notice in effect
#[utoipa::path(tag = "privacy", responses(
    (status = 200, body = CollectionNoticeRecord),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "None has been issued"),
), security(("bearer" = [])))]
#[get("/collection-notices/current")]
async fn current_notice(ctx: Ctx) -> ApiResult<Disclosed> {
    let reader = ctx.permit(Resource::CollectionNotice, Action::Read)?;
    let today = ctx.state.clock.today();
    let row = ctx
        .db()
        .read(move |conn| Ok(queries::current(conn, today)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    disclosure::one(&reader, &CollectionNoticeRecord::from(row))
}

/// Record a collection notice given to a client
///
/// For a client given the notice again (a new version, or at a later contact). The version
/// must be the one in effect (otherwise `collection_notice_required`, with that version).
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid)), request_body = NoticeGiven, responses(
    (status = 201, body = NoticeGivenRecord, headers(("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/clients/{id}/collection-notices")]
async fn record_notice_given(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::NoticeGiven, Action::Create)?;
    let reader = ctx.permit(Resource::NoticeGiven, Action::Read)?;
    let client_id = path_id(&id)?;
    let given: NoticeGiven = body.parse(&permit)?;
    let today = ctx.state.clock.today();
    let recorder = ctx.recorder();
    ctx.write(move |conn| {
        clients::load(conn, &permit, &client_id)?;
        let (notice, given) = check_given(conn, Some(&given), today)?;
        let record = record_given(conn, &client_id, &notice, given, &recorder)?;
        let location = format!("/api/v1/clients/{client_id}/collection-notices");
        disclosure::created(&reader, &record, location)
    })
    .await
}

/// Collection notices given to a client
///
/// Oldest first; `current` marks those of the version in effect.
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = Page<NoticeGivenRecord>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/clients/{id}/collection-notices")]
async fn notices_given(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let today = ctx.state.clock.today();
    clients::records_of(&ctx, Resource::NoticeGiven, &id, move |conn, client_id| {
        given_to(conn, client_id, today)
    })
    .await
}

/// Every collection notice a client was given, oldest first.
pub fn given_to(
    conn: &mut DbConnection,
    client_id: &str,
    today: NaiveDate,
) -> ApiResult<Vec<NoticeGivenRecord>> {
    let current = queries::current(conn, today)?;
    queries::given_to(conn, client_id)?
        .into_iter()
        .map(|(row, version)| NoticeGivenRecord::of(row, version, current.as_ref()))
        .collect()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutdatedParams {
    /// Only the clients with a case allocated to this CSP (an organisation of kind `csp`)
    /// today: those it is to give the notice.
    #[param(format = Uuid)]
    pub csp_id: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`: a client's id, or where the previous page
    /// stopped looking, sealed.
    pub cursor: Option<String>,
}

/// The outdated-notices report's name in its sealed cursors (`PageRequest::finish_scan`).
const OUTDATED_LIST: &str = "collection-notices-outdated";

/// Clients not given the notice in effect
///
/// Clients within the caller's reach whose last collection notice is older than the version
/// in effect (or who have none recorded), with the last one they were given. Empty when no
/// notice has been issued. With `csp_id`, only the clients with a case allocated to that CSP
/// today, which the CSP is to give the notice (issue 20, part 1).
#[utoipa::path(tag = "reports", params(OutdatedParams), responses(
    (status = 200, body = Page<NoticeStatusRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/reports/collection-notices-outdated")]
async fn outdated_notices(ctx: Ctx, params: Params<OutdatedParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::NoticeStatus, Action::Read)?;
    let params = params.parse(&permit)?;
    let keyring = ctx.keyring();
    let page = PageRequest::parse_scanned(
        params.limit,
        params.cursor.as_deref(),
        &keyring,
        OUTDATED_LIST,
    )?;
    let csp_id = params
        .csp_id
        .as_deref()
        .map(|id| field_id("csp_id", id))
        .transpose()?;
    let today = ctx.state.clock.today();
    let (reader, scan) = (permit.clone(), ctx.state.config.list_scan_rows);
    let (records, next_cursor) = ctx
        .db()
        .read(move |conn| {
            if let Some(csp_id) = &csp_id
                && directory::organisation_kind(conn, csp_id)?.as_deref()
                    != Some(OrganisationKind::Csp.as_str())
            {
                return Err(ApiError::invalid("csp_id", "is not a CSP"));
            }
            let Some(current) = queries::current(conn, today)? else {
                return Ok((Vec::new(), None));
            };
            let reachable = scope::listable_clients(&reader);
            let after = page.after.as_deref();
            let Scanned {
                rows: mut ids,
                scanned_to,
            } = match &csp_id {
                Some(csp_id) => queries::allocated_clients_without(
                    conn,
                    reachable,
                    csp_id,
                    &current.id,
                    today,
                    after,
                    page.fetch(),
                )?,
                None => queries::clients_without(
                    conn,
                    reachable,
                    &current.id,
                    after,
                    page.fetch(),
                    scan,
                )?,
            };
            let next_cursor =
                page.finish_scan(&mut ids, |id| id, scanned_to, &keyring, OUTDATED_LIST)?;
            let mut last: std::collections::BTreeMap<String, (NoticeGivenRow, String)> =
                queries::last_given(conn, &ids)?
                    .into_iter()
                    .map(|(row, version)| (row.client_id.clone(), (row, version)))
                    .collect();
            let records = ids
                .into_iter()
                .map(|client_id| {
                    let given = last.remove(&client_id);
                    Ok(NoticeStatusRecord {
                        last_given_on: given.as_ref().map(|(row, _)| row.given_on),
                        last_method: given
                            .as_ref()
                            .map(|(row, _)| Medium::from_stored(&row.method))
                            .transpose()?,
                        last_version: given.map(|(_, version)| version),
                        current_version: current.version.clone(),
                        client_id,
                    })
                })
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((records, next_cursor))
        })
        .await?;
    disclosure::page(&permit, &records, next_cursor)
}
