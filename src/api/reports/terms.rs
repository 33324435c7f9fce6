//! Who has not accepted the policy documents in force: the people the department chases (each
//! is limited to reading and accepting them until they do).
use actix_web::get;
use serde::Serialize;
use utoipa::ToSchema;

use super::RegisterParams;
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{PageRequest, Params, field_id};
use crate::authz::{Action, Resource};
use crate::db::DbConnection;
use crate::db::policy_documents::{self as queries, InForce};
use crate::error::{ApiError, ApiResult, DocumentToAccept, Problem};

/// An active person who has not accepted a policy document in force that applies to them.
#[derive(Debug, Serialize, ToSchema)]
pub struct TermsNotAcceptedEntry {
    /// The person's user id.
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub username: String,
    #[schema(required = false)]
    pub display_name: String,
    #[schema(required = false, format = Uuid)]
    pub organisation_id: String,
    #[schema(required = false)]
    pub roles: Vec<String>,
    /// The versions in force they have yet to accept.
    #[schema(required = false)]
    pub documents: Vec<DocumentToAccept>,
}

impl Disclose for TermsNotAcceptedEntry {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        None
    }
}

/// The policy documents in force, each with the roles it applies to.
fn in_force(conn: &mut DbConnection) -> ApiResult<Vec<(Vec<String>, InForce)>> {
    queries::in_force_summaries(conn)?
        .into_iter()
        .map(|document| Ok((document.roles()?, document)))
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(ApiError::internal)
}

/// Each document's id and the roles it applies to, as the queries of who owes it take them.
fn applying(documents: &[(Vec<String>, InForce)]) -> Vec<(String, Vec<String>)> {
    documents
        .iter()
        .map(|(roles, document)| (document.id.clone(), roles.clone()))
        .collect()
}

/// The documents in force, each by id with the roles it applies to: what people must accept
/// (`db::policy_documents::not_accepted` and `not_accepted_count` take them).
pub fn documents_owed(conn: &mut DbConnection) -> ApiResult<Vec<(String, Vec<String>)>> {
    Ok(applying(&in_force(conn)?))
}

/// Who has not accepted the policy documents in force
///
/// Every active person holding a role that a policy document in force applies to and who has
/// not accepted that version, with the documents outstanding; in user id order.
#[utoipa::path(tag = "reports", params(RegisterParams), responses(
    (status = 200, body = Page<TermsNotAcceptedEntry>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/reports/terms-not-accepted")]
pub async fn terms_not_accepted(ctx: Ctx, params: Params<RegisterParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::TermsNotAccepted, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let organisation_id = params
        .organisation_id
        .as_deref()
        .map(|id| field_id("organisation_id", id))
        .transpose()?;
    let (documents, rows, accepted, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let documents = in_force(conn)?;
            let applying = applying(&documents);
            let mut rows = queries::not_accepted(
                conn,
                &applying,
                organisation_id.as_deref(),
                page.after.as_deref(),
                page.fetch(),
            )?;
            let next_cursor = page.finish(&mut rows, |row| &row.id);
            let user_ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
            let document_ids: Vec<String> = applying.into_iter().map(|(id, _)| id).collect();
            let accepted = queries::accepted_by(conn, &user_ids, &document_ids)?;
            Ok((documents, rows, accepted, next_cursor))
        })
        .await?;
    let entries = rows
        .into_iter()
        .map(|row| {
            let roles: Vec<String> =
                serde_json::from_str(&row.roles).map_err(ApiError::internal)?;
            let owed = documents.iter().filter(|(applies, document)| {
                applies.iter().any(|role| roles.contains(role))
                    && !accepted
                        .iter()
                        .any(|(user, id)| *user == row.id && *id == document.id)
            });
            let documents = owed
                .map(|(_, document)| document.to_accept())
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(ApiError::internal)?;
            Ok(TermsNotAcceptedEntry {
                id: row.id,
                username: row.username,
                display_name: row.display_name,
                organisation_id: row.organisation_id,
                roles,
                documents,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    disclosure::page(&permit, &entries, next_cursor)
}
