//! Containment: the steps a privacy officer takes at once when a breach is suspected. All of a
//! request's steps are carried out in one transaction, or none is (a bad target refuses the
//! whole request), and each is recorded with what it found and did.
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::api::request::new_id;
use crate::auth::client_secret;
use crate::authz::{Caller, Permit, scope};
use crate::db::DbConnection;
use crate::db::breaches::ContainmentRow;
use crate::db::directory::{self, OrganisationChanges, UserChanges, UserRow};
use crate::domain::{ContainmentStep, OrganisationStatus, PrincipalKind, StoredAsText, UserStatus};
use crate::error::{ApiError, ApiResult};

/// Why the sessions a containment step ends were ended.
const ENDED_REASON: &str = "breach_containment";

#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainmentAction {
    pub action: ContainmentStep,
    /// A user or API client id; for `suspend_organisation`, an organisation id.
    #[schema(format = Uuid)]
    pub target_id: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainmentRequest {
    #[validate(length(min = 1, max = 20))]
    #[schema(min_items = 1, max_items = 20)]
    pub actions: Vec<ContainmentAction>,
}

pub struct Containment<'a> {
    pub permit: &'a Permit,
    pub caller: &'a Caller,
    pub breach_id: &'a str,
    pub now: NaiveDateTime,
}

impl Containment<'_> {
    /// Carries out every step and records each. An error leaves the transaction to be rolled
    /// back, so a refused request changes nothing.
    pub fn carry_out(&self, conn: &mut DbConnection, steps: &[ContainmentAction]) -> ApiResult<()> {
        for (index, step) in steps.iter().enumerate() {
            let field = format!("actions[{index}].target_id");
            let outcome = self.step(conn, step, &field)?;
            crate::db::breaches::insert_containment(
                conn,
                &ContainmentRow {
                    id: new_id(),
                    breach_id: self.breach_id.to_owned(),
                    action: step.action.as_str().to_owned(),
                    target_id: step.target_id.clone(),
                    outcome: outcome.to_owned(),
                    performed_by: self.caller.user_id.clone(),
                    performed_at: self.now,
                },
            )?;
        }
        Ok(())
    }

    fn step(
        &self,
        conn: &mut DbConnection,
        step: &ContainmentAction,
        field: &str,
    ) -> ApiResult<&'static str> {
        let target = step.target_id.as_str();
        match step.action {
            ContainmentStep::SuspendUser => {
                let principal = self.principal(conn, target, field, None)?;
                let status = UserStatus::from_stored(&principal.status)?;
                if matches!(status, UserStatus::Pending | UserStatus::Active) {
                    let changes = UserChanges::status(UserStatus::Suspended, Some(ENDED_REASON));
                    directory::change_status(conn, target, &changes, self.now)?;
                    return Ok("suspended");
                }
                self.end_sessions(conn, target)?;
                Ok(match status {
                    UserStatus::Deactivated => "already_deactivated",
                    _ => "already_suspended",
                })
            }
            ContainmentStep::RevokeSessions => {
                self.principal(conn, target, field, None)?;
                self.end_sessions(conn, target)?;
                Ok("sessions_ended")
            }
            ContainmentStep::RotateApiClientSecret => {
                let client = self.principal(conn, target, field, Some(PrincipalKind::ApiClient))?;
                if client.status == UserStatus::Deactivated.as_str() {
                    return Ok("already_revoked");
                }
                // A secret nobody is shown: the old one stops working, and a dept_admin issues
                // the next one with POST /api-clients/{id}/rotate-secret once it is safe.
                let unknown = client_secret::digest(&client_secret::generate());
                directory::set_client_secret(conn, target, &unknown, self.now, None)?;
                directory::change_user(conn, target, &UserChanges::default(), self.now)?;
                self.end_sessions(conn, target)?;
                Ok("secret_replaced")
            }
            ContainmentStep::SuspendOrganisation => {
                if target == self.caller.organisation_id {
                    return Err(ApiError::invalid(
                        field,
                        "is your own organisation: suspending it would lock its staff out",
                    ));
                }
                let organisation =
                    directory::find_organisation(conn, scope::organisations(self.permit), target)?
                        .ok_or_else(|| ApiError::invalid(field, "is not an organisation"))?;
                if organisation.status == OrganisationStatus::Suspended.as_str() {
                    directory::end_organisation_sessions(conn, target, ENDED_REASON, self.now)?;
                    return Ok("already_suspended");
                }
                let changes = OrganisationChanges {
                    status: Some(OrganisationStatus::Suspended.as_str().to_owned()),
                    ..OrganisationChanges::default()
                };
                directory::update_organisation(
                    conn,
                    target,
                    organisation.version,
                    &changes,
                    self.now,
                )?;
                directory::end_organisation_sessions(conn, target, ENDED_REASON, self.now)?;
                Ok("suspended")
            }
        }
    }

    /// The user or API client `target`, which may not be the caller.
    fn principal(
        &self,
        conn: &mut DbConnection,
        target: &str,
        field: &str,
        only: Option<PrincipalKind>,
    ) -> ApiResult<UserRow> {
        if target == self.caller.user_id {
            return Err(ApiError::invalid(field, "is your own account"));
        }
        let found = match only {
            Some(kind) => directory::find_user(conn, kind, scope::users(self.permit), target)?,
            None => directory::find_principal(conn, scope::users(self.permit), target)?,
        };
        found.ok_or_else(|| {
            ApiError::invalid(
                field,
                match only {
                    Some(_) => "is not an API client",
                    None => "is not a user or API client",
                },
            )
        })
    }

    fn end_sessions(&self, conn: &mut DbConnection, target: &str) -> ApiResult<()> {
        Ok(directory::end_sessions(
            conn,
            target,
            None,
            ENDED_REASON,
            self.now,
        )?)
    }
}
