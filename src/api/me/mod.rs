//! `/me`: who the caller is and what the policy lets them do, so a frontend can shape its
//! screens. It reveals nothing about anyone else.
use std::collections::BTreeMap;

use actix_web::{HttpResponse, get};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::api::context::Ctx;
use crate::authz::catalogue::RESOURCES;
use crate::authz::{Action, Scope, grants};
use crate::db::schema::{organisations, users};
use crate::domain::{OrganisationKind, ProtectiveMarking};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config.service(me);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[schema(format = Uuid)]
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub organisation: MyOrganisation,
    pub roles: Vec<String>,
    pub clearance: ProtectiveMarking,
    /// For each resource: the actions allowed with their row scopes, and the fields readable
    /// and writable.
    pub permissions: BTreeMap<String, ResourcePermissions>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyOrganisation {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    pub kind: OrganisationKind,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePermissions {
    pub actions: Vec<AllowedAction>,
    pub readable_fields: Vec<String>,
    pub writable_fields: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllowedAction {
    pub action: Action,
    pub scopes: Vec<Scope>,
}

/// The caller and their effective permissions
#[utoipa::path(tag = "me", responses(
    (status = 200, body = Me),
    (status = 401, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/me")]
async fn me(ctx: Ctx) -> ApiResult<HttpResponse> {
    let user_id = ctx.caller.user_id.clone();
    let (display_name, organisation_name) = ctx
        .db()
        .read(move |conn| {
            users::table
                .inner_join(organisations::table)
                .filter(users::id.eq(&user_id))
                .select((users::display_name, organisations::name))
                .first::<(String, String)>(conn)
                .map_err(ApiError::from)
        })
        .await?;
    let caller = &ctx.caller;
    let permissions = RESOURCES
        .iter()
        .filter_map(|def| {
            let granted = grants(ctx.policy(), &caller.roles, def.resource);
            let permissions = ResourcePermissions {
                actions: granted
                    .actions
                    .into_iter()
                    .map(|(action, scopes)| AllowedAction {
                        action,
                        scopes: scopes.into_iter().collect(),
                    })
                    .collect(),
                readable_fields: granted.readable.iter().map(|f| f.to_string()).collect(),
                writable_fields: granted.writable.iter().map(|f| f.to_string()).collect(),
            };
            (!permissions.actions.is_empty()).then(|| (def.name.to_owned(), permissions))
        })
        .collect();
    Ok(HttpResponse::Ok().json(Me {
        id: caller.user_id.clone(),
        username: caller.username.clone(),
        display_name,
        organisation: MyOrganisation {
            id: caller.organisation_id.clone(),
            name: organisation_name,
            kind: caller.organisation_kind,
        },
        roles: caller.roles.clone(),
        clearance: caller.clearance,
        permissions,
    }))
}
