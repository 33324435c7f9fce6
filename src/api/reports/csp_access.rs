//! `/reports/csp-access`: the periodic audit of one organisation's access. For each of its
//! users and API clients: the clients accessed, the fields disclosed, refusals, notes written,
//! the last login and the unusual-usage findings. JSON, or CSV for a spreadsheet.
use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpRequest, get};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::unusual::checked_period;
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed};
use crate::api::request::{Params, field_id, utc};
use crate::authz::{Action, Resource};
use crate::db::{directory, notices, oversight as queries};
use crate::domain::{PrincipalKind, StoredAsText, Timestamp, UserStatus};
use crate::error::{ApiError, ApiResult, Problem};
use crate::oversight::{self, Event, Finding};

/// Routes whose allowed POST writes a note.
const NOTE_ROUTES: &[&str] = &["/api/v1/cases/{id}/notes", "/api/v1/notes/{id}/amendments"];

#[derive(Debug, Serialize, ToSchema)]
pub struct CspAccessEntry {
    #[schema(required = false, format = Uuid)]
    pub principal_id: String,
    #[schema(required = false)]
    pub kind: PrincipalKind,
    #[schema(required = false)]
    pub username: String,
    #[schema(required = false)]
    pub display_name: String,
    #[schema(required = false)]
    pub status: UserStatus,
    /// Requests made in the period.
    #[schema(required = false)]
    pub requests: usize,
    /// Distinct clients whose data was disclosed to them.
    #[schema(required = false)]
    pub clients_accessed: usize,
    #[schema(required = false)]
    pub client_ids: Vec<String>,
    /// Every field disclosed, as `resource.field`.
    #[schema(required = false)]
    pub fields_disclosed: Vec<String>,
    /// Refused requests.
    #[schema(required = false)]
    pub denials: usize,
    #[schema(required = false)]
    pub notes_written: usize,
    #[schema(required = false)]
    pub last_login_at: Option<DateTime<Utc>>,
    /// The unusual-usage findings about them in the period.
    #[schema(required = false)]
    pub findings: Vec<Finding>,
}

impl Disclose for CspAccessEntry {
    fn id(&self) -> &str {
        &self.principal_id
    }
    /// The entry names clients but holds none of their data.
    fn client_id(&self) -> Option<&str> {
        None
    }
}

/// The organisation's clients today and the collection notice (issue 20, part 1: the CSP
/// gives the notice to the clients allocated to it).
#[derive(Debug, Serialize, ToSchema)]
pub struct CspAccessSummary {
    /// Clients with a case allocated to the organisation today.
    #[schema(required = false)]
    pub allocated_clients: i64,
    /// Of those, the clients never given the collection notice in effect (0 when none is).
    #[schema(required = false)]
    pub clients_without_current_notice: i64,
}

/// The report's body: the entries, and the summary. The schema of the body that
/// `Disclosed::with_summary` builds; never constructed itself.
#[allow(dead_code)]
#[derive(Debug, Serialize, ToSchema)]
pub struct CspAccessReport {
    pub items: Vec<CspAccessEntry>,
    /// Always null: the report is one page.
    pub next_cursor: Option<String>,
    pub summary: CspAccessSummary,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CspAccessParams {
    #[param(format = Uuid)]
    pub organisation_id: String,
    /// From this time, inclusive.
    #[param(value_type = String, format = DateTime)]
    pub from: Timestamp,
    /// Up to this time, exclusive; at most 31 days after `from`.
    #[param(value_type = String, format = DateTime)]
    pub to: Timestamp,
}

#[derive(Default)]
struct Tally {
    requests: usize,
    clients: BTreeSet<String>,
    fields: BTreeSet<String>,
    denials: usize,
    notes_written: usize,
}

fn tally(events: &[Event]) -> anyhow::Result<BTreeMap<&str, Tally>> {
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    for event in events {
        let Some(actor) = event.actor_user_id.as_deref() else {
            continue;
        };
        let tally = tallies.entry(actor).or_default();
        tally.requests += 1;
        if event.denied() {
            tally.denials += 1;
        }
        if !event.allowed() {
            continue;
        }
        if !event.client_ids.is_empty() {
            tally
                .clients
                .extend(event.client_ids.iter().map(|client| client.to_string()));
            let resource = event.resource_type.as_deref().unwrap_or_default();
            let fields: Vec<String> = serde_json::from_str(&event.fields)?;
            tally
                .fields
                .extend(fields.iter().map(|field| format!("{resource}.{field}")));
        }
        if &*event.method == "POST" && NOTE_ROUTES.contains(&&*event.route) {
            tally.notes_written += 1;
        }
    }
    Ok(tallies)
}

/// An organisation's access audit
///
/// One entry per user and API client of the organisation (any status) for the period, and a
/// `summary` of the organisation's clients today: how many have a case allocated to it, and
/// how many of those lack the collection notice in effect. `Accept: text/csv` answers the same
/// entries as CSV, without the summary. The run's audit row names the organisation as its
/// resource (the register of CSPs shows the latest run).
#[utoipa::path(tag = "reports", params(CspAccessParams), responses(
    (status = 200, content((CspAccessReport = "application/json"), (String = "text/csv"))),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/reports/csp-access")]
pub async fn csp_access(
    ctx: Ctx,
    req: HttpRequest,
    params: Params<CspAccessParams>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::CspAccess, Action::Read)?;
    let summary_permit = ctx.permit(Resource::CspAccessSummary, Action::Read)?;
    let params = params.parse(&permit)?;
    let organisation_id = field_id("organisation_id", &params.organisation_id)?;
    let period = checked_period(params.from, params.to)?;
    let config = ctx.state.config.oversight.clone();
    let today = ctx.state.clock.today();
    let audited = organisation_id.clone();
    let (entries, summary) = ctx
        .db()
        .read_long(move |conn| {
            if directory::organisation_kind(conn, &organisation_id)?.is_none() {
                return Err(ApiError::invalid(
                    "organisation_id",
                    "is not an organisation",
                ));
            }
            let principals = queries::principals_of(conn, &organisation_id)?;
            let ids: Vec<String> = principals.iter().map(|row| row.id.clone()).collect();
            let events = queries::events(conn, &period, Some(&ids), queries::Detail::WithFields)?;
            let mut lookups = queries::DbLookups(conn);
            let mut findings = oversight::findings(&config, &period, &events, None, &mut lookups)?;
            let mut tallies = tally(&events)?;
            let current = notices::current(conn, today)?;
            let (allocated_clients, clients_without_current_notice) =
                notices::allocated_notice_counts(
                    conn,
                    &organisation_id,
                    current.as_ref().map(|notice| notice.id.as_str()),
                    today,
                )?;
            let summary = CspAccessSummary {
                allocated_clients,
                clients_without_current_notice,
            };
            let entries = principals
                .into_iter()
                .map(|row| {
                    let tally = tallies.remove(row.id.as_str()).unwrap_or_default();
                    let (theirs, others) = findings
                        .drain(..)
                        .partition(|finding| finding.actor_user_id.as_deref() == Some(&row.id));
                    findings = others;
                    Ok(CspAccessEntry {
                        kind: PrincipalKind::from_stored(&row.kind)?,
                        status: UserStatus::from_stored(&row.status)?,
                        last_login_at: row.last_login_at.map(utc),
                        requests: tally.requests,
                        clients_accessed: tally.clients.len(),
                        client_ids: tally.clients.into_iter().collect(),
                        fields_disclosed: tally.fields.into_iter().collect(),
                        denials: tally.denials,
                        notes_written: tally.notes_written,
                        findings: theirs,
                        principal_id: row.id,
                        username: row.username,
                        display_name: row.display_name,
                    })
                })
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((entries, summary))
        })
        .await?;
    // The audit row names the organisation: the register of CSPs finds its latest run by it.
    let disclosed = if disclosure::wants_csv(&req) {
        disclosure::csv(&permit, &entries)?
    } else {
        disclosure::page(&permit, &entries, None)?.with_summary(&summary_permit, &summary)?
    };
    Ok(disclosed.naming(audited))
}
