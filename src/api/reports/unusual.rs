//! `/reports/unusual-activity`: the unusual-usage rules (`crate::oversight`) over a period.
use actix_web::get;
use chrono::Duration;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclosed, Page};
use crate::api::request::{PageRequest, Params};
use crate::authz::{Action, Resource};
use crate::db::oversight as queries;
use crate::domain::Timestamp;
use crate::error::{ApiError, ApiResult, Problem};
use crate::oversight::{self, Finding, Period, Rule};

/// The longest period one unusual-activity report covers.
const MAX_REPORT_DAYS: i64 = 31;

/// A report's period: `from` before `to`, at most 31 days.
pub(super) fn checked_period(from: Timestamp, to: Timestamp) -> ApiResult<Period> {
    let period = Period {
        from: from.get(),
        to: to.get(),
    };
    if period.to <= period.from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    if period.to - period.from > Duration::days(MAX_REPORT_DAYS) {
        return Err(ApiError::invalid(
            "to",
            format!("must be at most {MAX_REPORT_DAYS} days after from"),
        ));
    }
    Ok(period)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnusualActivityParams {
    /// From this time, inclusive.
    #[param(value_type = String, format = DateTime)]
    pub from: Timestamp,
    /// Up to this time, exclusive; at most 31 days after `from`.
    #[param(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// Only this rule's findings.
    pub rule: Option<Rule>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// Unusual activity
///
/// The findings of the unusual-usage rules (or of one rule) over the period, by rule, each
/// with the actor, a plain-language reason, the figures behind it and the audit events that
/// prove it. The rules and their thresholds are in `docs/oversight.md`.
#[utoipa::path(tag = "reports", params(UnusualActivityParams), responses(
    (status = 200, body = Page<Finding>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/reports/unusual-activity")]
pub async fn unusual_activity(
    ctx: Ctx,
    params: Params<UnusualActivityParams>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Finding, Action::Read)?;
    let params = params.parse(&permit)?;
    let period = checked_period(params.from, params.to)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let only = params.rule;
    let config = ctx.state.config.oversight.clone();
    let events = queries::events_in_parts(ctx.db(), &period, queries::Detail::Rules).await?;
    let found = ctx
        .db()
        .read_long(move |conn| {
            let mut lookups = queries::DbLookups(conn);
            Ok(oversight::findings(
                &config,
                &period,
                &events,
                only,
                &mut lookups,
            )?)
        })
        .await?;
    let (found, next_cursor) = page.of(found, |finding| &finding.id)?;
    disclosure::page(&permit, &found, next_cursor)
}
