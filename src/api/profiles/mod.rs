//! `/profiles`: the basic-profile search other divisions use to find clients they have in
//! common. Names match tolerantly ([`crate::domain::names`]) and results come best match
//! first. It returns the basic profile only, at most 20 matches, needs a family name plus one
//! more criterion so that it cannot be used to list clients, and reaches other divisions'
//! clients only with their consent when the policy says so (the `consented` row scope).
use crate::domain::Date;
use std::collections::{BTreeMap, HashMap};

use actix_web::get;
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::api::clients::{self, types::Statements};
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{Params, name_query};
use crate::authz::{Action, Resource, scope};
use crate::db::clients::{ClientFilter, NameLookup, name_candidates};
use crate::db::schema::organisations;
use crate::domain::names;
use crate::error::{ApiError, ApiResult, Problem};

pub const MAX_RESULTS: usize = 20;

pub fn routes(config: &mut ServiceConfig) {
    config.service(search_profiles);
}

/// A client's basic profile, with whom to call about them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub given_name: String,
    #[schema(required = false)]
    pub family_name: String,
    #[schema(required = false)]
    pub date_of_birth: NaiveDate,
    #[schema(required = false, format = Uuid)]
    pub lead_division_id: String,
    #[schema(required = false)]
    pub lead_division_name: String,
    #[schema(required = false)]
    pub lead_division_contact_email: String,
    /// Statements the client asked to be kept with a name or date of birth whose correction
    /// was refused, by field.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(required = false)]
    pub statements: Statements,
}

impl Disclose for ProfileRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProfileSearch {
    /// Matched tolerantly (see above).
    #[param(required = true, min_length = 1)]
    pub family_name: Option<String>,
    /// Matched tolerantly.
    pub given_name: Option<String>,
    pub date_of_birth: Option<Date>,
}

/// Search basic profiles
///
/// Needs `family_name` and at least one of `given_name`, `date_of_birth`. Names match
/// ignoring case, accents, hyphens, spaces and look-alike letters of other scripts or widths
/// (Unicode TS #39 confusables), and a name one edit away (a letter wrong, missing, added, or
/// two neighbours swapped) matches a little lower; one part of a double-barrelled name
/// matches it, and given and family names entered the wrong way round match too. The date of
/// birth matches exactly. At most 20 results, the closest first.
#[utoipa::path(tag = "profiles", params(ProfileSearch), responses(
    (status = 200, body = Page<ProfileRecord>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/profiles")]
async fn search_profiles(ctx: Ctx, params: Params<ProfileSearch>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Profile, Action::Search)?;
    let params = params.parse(&permit)?;
    let family_name = name_query("family_name", params.family_name)?;
    let given_name = name_query("given_name", params.given_name)?;
    if family_name.is_none() || (given_name.is_none() && params.date_of_birth.is_none()) {
        return Err(ApiError::invalid(
            "family_name",
            "a family name and a given name or date of birth are required",
        ));
    }
    let filter = ClientFilter {
        family_name,
        given_name,
        date_of_birth: params.date_of_birth.map(Date::get),
    };
    for field in filter.fields() {
        permit.check_filterable(field)?;
    }
    let (reader, keyring) = (permit.clone(), ctx.keyring());
    let profiles = ctx
        .db()
        .read(move |conn| {
            let family_name = filter.family_name.as_deref().unwrap_or_default();
            let given_name = filter.given_name.as_deref();
            let lookup = NameLookup::new(family_name, given_name, filter.date_of_birth);
            let candidates = name_candidates(conn, scope::listable_clients(&reader), &lookup)?;
            let rows = names::best_matches(
                candidates,
                |candidate| (&candidate.given_name, &candidate.family_name),
                family_name,
                given_name,
                MAX_RESULTS,
            );
            let divisions: HashMap<String, (String, String)> = organisations::table
                .filter(
                    organisations::id.eq_any(
                        rows.iter()
                            .map(|r| r.lead_division_id.clone())
                            .collect::<Vec<_>>(),
                    ),
                )
                .select((
                    organisations::id,
                    organisations::name,
                    organisations::contact_email,
                ))
                .load::<(String, String, String)>(conn)?
                .into_iter()
                .map(|(id, name, email)| (id, (name, email)))
                .collect();
            let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
            let mut statements = clients::statements_of(conn, &keyring, &ids)?;
            Ok(rows
                .into_iter()
                .map(|row| {
                    let (name, email) = divisions
                        .get(&row.lead_division_id)
                        .cloned()
                        .unwrap_or_default();
                    ProfileRecord {
                        statements: statements.remove(&row.id).unwrap_or_default(),
                        id: row.id,
                        given_name: row.given_name,
                        family_name: row.family_name,
                        date_of_birth: row.date_of_birth,
                        lead_division_id: row.lead_division_id,
                        lead_division_name: name,
                        lead_division_contact_email: email,
                    }
                })
                .collect::<Vec<_>>())
        })
        .await?;
    disclosure::page(&permit, &profiles, None)
}
