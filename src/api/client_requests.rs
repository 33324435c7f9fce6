//! What a client's access and correction requests share: each is received on a day (not in
//! the future), due a statutory period later (`CASEBRIDGE_REQUEST_RESPONSE_DAYS`), listed
//! oldest first with the same filters, and read one at a time.
use chrono::{Duration, NaiveDate};
use diesel::QueryResult;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed};
use crate::api::request::{DueListParams, PageRequest, Params, optional_field_id, path_id};
use crate::authz::{Action, Resource, scope};
use crate::db::DbConnection;
use crate::db::clients as client_queries;
use crate::db::requests::RequestFilter;
use crate::domain::StoredAsText;
use crate::error::{ApiError, ApiResult};
use crate::sealing::Keyring;
use utoipa::ToSchema;

/// A stored request of one kind, and how it becomes the record a caller sees.
pub trait ClientRequest: Sized + Send + 'static {
    type Record: Disclose + Send + 'static;
    const RESOURCE: Resource;
    /// The collection's path under `/api/v1`.
    const COLLECTION: &'static str;

    fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Self>>;
    fn list(
        conn: &mut DbConnection,
        filter: &RequestFilter,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Self>>;
    fn insert(&self, conn: &mut DbConnection) -> QueryResult<()>;
    fn id(&self) -> &str;
    fn client_id(&self) -> &str;
    /// The record as of `today` (which decides whether it is overdue), its sealed fields
    /// opened with `keyring`.
    fn record(self, today: NaiveDate, keyring: &Keyring) -> ApiResult<Self::Record>;
}

/// The day a request was received: not in the future.
pub fn received_by(day: NaiveDate, today: NaiveDate) -> ApiResult<NaiveDate> {
    if day > today {
        return Err(ApiError::invalid(
            "received_on",
            "must not be in the future",
        ));
    }
    Ok(day)
}

/// When the answer to a request received on `received_on` is due.
pub fn due_on(ctx: &Ctx, received_on: NaiveDate) -> NaiveDate {
    received_on + Duration::days(i64::from(ctx.state.config.privacy.request_response_days))
}

/// Records a new request about a client within the caller's reach (else 422 on
/// `client_id`), with its audit row in the same transaction: 201 with its location.
pub async fn create<R: ClientRequest>(ctx: &Ctx, row: R) -> ApiResult<Disclosed> {
    let permit = ctx.permit(R::RESOURCE, Action::Create)?;
    let reader = ctx.permit(R::RESOURCE, Action::Read)?;
    let (today, keyring) = (ctx.state.clock.today(), ctx.keyring());
    ctx.write(move |conn| {
        if client_queries::find(conn, scope::clients(&permit), row.client_id())?.is_none() {
            return Err(ApiError::invalid("client_id", "is not a client"));
        }
        row.insert(conn)?;
        let location = format!("/api/v1/{}/{}", R::COLLECTION, row.id());
        disclosure::created(&reader, &row.record(today, &keyring)?, location)
    })
    .await
}

/// One page of requests of kind `R` as the list's query asks.
pub async fn page<R: ClientRequest, S: StoredAsText + ToSchema>(
    ctx: &Ctx,
    params: Params<DueListParams<S>>,
) -> ApiResult<Disclosed>
where
    DueListParams<S>: serde::de::DeserializeOwned,
{
    let permit = ctx.permit(R::RESOURCE, Action::Read)?;
    let params = params.parse(&permit)?;
    let today = ctx.state.clock.today();
    let filter = RequestFilter {
        status: params.status.map(StoredAsText::as_str),
        client_id: optional_field_id("client_id", params.client_id.as_deref())?,
        overdue_on: params.overdue.unwrap_or(false).then_some(today),
    };
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let keyring = ctx.keyring();
    let (records, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let mut rows = R::list(conn, &filter, page.after.as_deref(), page.fetch())?;
            let next_cursor = page.finish(&mut rows, |row| row.id());
            let records = rows
                .into_iter()
                .map(|row| row.record(today, &keyring))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((records, next_cursor))
        })
        .await?;
    disclosure::page(&permit, &records, next_cursor)
}

/// One request of kind `R`, or 404.
pub async fn one<R: ClientRequest>(ctx: &Ctx, id: &str) -> ApiResult<Disclosed> {
    let permit = ctx.permit(R::RESOURCE, Action::Read)?;
    let id = path_id(id)?;
    let today = ctx.state.clock.today();
    let row = ctx
        .db()
        .read(move |conn| R::find(conn, &id)?.ok_or(ApiError::NotFound))
        .await?;
    disclosure::one(&permit, &row.record(today, &ctx.state.keyring)?)
}
