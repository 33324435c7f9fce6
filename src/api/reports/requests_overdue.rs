//! `GET /reports/requests-overdue`: the client's access and correction requests still open
//! after their statutory due date.
use actix_web::get;
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::authz::{Action, Resource};
use crate::db::requests::{self as queries, RequestFilter};
use crate::error::{ApiResult, Problem};

/// Which of the client's rights a request exercises.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Access,
    Correction,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueRequest {
    #[schema(required = false)]
    pub kind: RequestKind,
    /// The request's id: `/access-requests/{id}` or `/correction-requests/{id}`.
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub client_id: String,
    #[schema(required = false)]
    pub received_on: NaiveDate,
    #[schema(required = false)]
    pub due_on: NaiveDate,
    #[schema(required = false)]
    pub status: String,
    #[schema(required = false)]
    pub days_overdue: i64,
}

impl Disclose for OverdueRequest {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
}

/// Overdue access and correction requests
///
/// Every access request not completed or refused, and every correction request not decided,
/// past its due date; longest overdue first.
#[utoipa::path(tag = "reports", responses(
    (status = 200, body = Page<OverdueRequest>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/reports/requests-overdue")]
pub async fn requests_overdue(ctx: Ctx) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::OverdueRequest, Action::Read)?;
    let today = ctx.state.clock.today();
    let filter = RequestFilter {
        overdue_on: Some(today),
        ..RequestFilter::default()
    };
    let mut overdue = ctx
        .db()
        .read(move |conn| {
            let entry =
                |kind, id, client_id, received_on, due_on: NaiveDate, status| OverdueRequest {
                    kind,
                    id,
                    client_id,
                    received_on,
                    due_on,
                    status,
                    days_overdue: (today - due_on).num_days(),
                };
            let mut overdue: Vec<OverdueRequest> =
                queries::list_access(conn, &filter, None, i64::MAX)?
                    .into_iter()
                    .map(|row| {
                        entry(
                            RequestKind::Access,
                            row.id,
                            row.client_id,
                            row.received_on,
                            row.due_on,
                            row.status,
                        )
                    })
                    .collect();
            overdue.extend(
                queries::list_corrections(conn, &filter, None, i64::MAX)?
                    .into_iter()
                    .map(|row| {
                        entry(
                            RequestKind::Correction,
                            row.id,
                            row.client_id,
                            row.received_on,
                            row.due_on,
                            row.status,
                        )
                    }),
            );
            Ok(overdue)
        })
        .await?;
    overdue.sort_by(|a, b| a.due_on.cmp(&b.due_on).then_with(|| a.id.cmp(&b.id)));
    disclosure::page(&permit, &overdue, None)
}
