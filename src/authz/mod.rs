//! Authorisation in one place. A handler asks the caller for a [`Permit`] for one resource
//! and action; the permit carries the row scope (turned into SQL by [`scope`]) and the field
//! mask (applied by [`mask::apply`] to everything the permit discloses). Handlers never look
//! at role names.
pub mod catalogue;
pub mod checklist;
pub mod dual_control;
pub mod mask;
pub mod policy;
pub mod scope;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDate;

pub use catalogue::{Action, Resource, Scope};
pub use policy::{CompiledPolicy, PolicySource, PolicyStore};

use crate::auth::training::{TrainingRecord, TrainingRules};
use crate::domain::{OrganisationKind, PrincipalKind, ProtectiveMarking};
use crate::error::{ApiError, DocumentToAccept};

/// The authenticated caller, as the database says they are on this request (not as their
/// token said when it was issued).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal: a person's user id, or an API client's id.
    pub user_id: String,
    pub kind: PrincipalKind,
    pub session_id: String,
    /// Exempt from any MFA requirement (demo accounts of a demo database).
    pub mfa_exempt: bool,
    /// Has confirmed a TOTP authenticator.
    pub mfa_enrolled: bool,
    /// The password was set by someone else: the caller may only choose a new one.
    pub must_change_password: bool,
    pub username: String,
    pub organisation_id: String,
    pub organisation_kind: OrganisationKind,
    pub roles: Vec<String>,
    pub clearance: ProtectiveMarking,
    /// The caller's training as recorded (see `auth::training`).
    pub training: TrainingRecord,
    /// The policy documents in force that apply to the caller's roles and that they have not
    /// accepted (none for an API client: a system cannot read terms).
    pub terms_to_accept: Vec<DocumentToAccept>,
    /// The caller's organisation is a CSP whose contract has ended with its wrap-up still
    /// open: the caller may take part in the wrap-up and nothing else.
    pub winding_up: bool,
}

impl Caller {
    /// Whether the policy requires MFA of this caller and they have not set it up: such a
    /// caller may only enrol (see `api::context::EnrollingCtx`; a password set by someone else is replaced first). Decided on every request,
    /// so a role that gains the requirement mid-session is held to it at once.
    pub fn must_enrol_in_mfa(&self, policy: &CompiledPolicy) -> bool {
        self.mfa_required(policy) && !self.mfa_enrolled
    }

    /// Whether the policy requires a second factor of this caller: of a person whose roles
    /// need it, unless exempted. A system (API client) authenticates with its secret alone
    /// and can never enrol.
    pub fn mfa_required(&self, policy: &CompiledPolicy) -> bool {
        self.kind == PrincipalKind::Person && !self.mfa_exempt && policy.requires_mfa(&self.roles)
    }

    /// What this caller's session is limited to on `today`, if anything: a password set by
    /// someone else is replaced first, then a second factor the policy requires is enrolled;
    /// the principal of a CSP whose contract has ended takes part in its wrap-up alone; then
    /// the policy documents in force are accepted; last, expired training leaves only `/me`,
    /// logout and one's own password (someone else must record the new training).
    pub fn session_limit(
        &self,
        policy: &CompiledPolicy,
        training: &TrainingRules,
        today: NaiveDate,
    ) -> Option<SessionLimit> {
        if self.must_change_password {
            Some(SessionLimit::PasswordChange)
        } else if self.must_enrol_in_mfa(policy) {
            Some(SessionLimit::MfaEnrolment)
        } else if self.winding_up {
            Some(SessionLimit::WrapUp)
        } else if !self.terms_to_accept.is_empty() {
            Some(SessionLimit::TermsAcceptance)
        } else if training.standing(self.training, today).expired {
            Some(SessionLimit::TrainingExpired)
        } else {
            None
        }
    }

    /// Whether the caller may act at all: the principal of a CSP whose contract has ended may
    /// only if it is a person whose roles may certify the wrap-up (the policy's
    /// `wrap_up_certificate, create`).
    pub fn may_act(&self, policy: &CompiledPolicy) -> bool {
        !self.winding_up || may_wind_up(policy, self.kind, &self.roles)
    }

    /// A record may not be marked above the clearance of whoever writes it.
    pub fn check_marking(&self, marking: Option<ProtectiveMarking>) -> Result<(), ApiError> {
        self.at_most_own_clearance("protective_marking", marking)
    }

    /// Nobody grants a clearance above their own.
    pub fn check_clearance_grant(
        &self,
        clearance: Option<ProtectiveMarking>,
    ) -> Result<(), ApiError> {
        self.at_most_own_clearance("clearance", clearance)
    }

    fn at_most_own_clearance(
        &self,
        field: &str,
        marking: Option<ProtectiveMarking>,
    ) -> Result<(), ApiError> {
        if marking.is_some_and(|marking| marking > self.clearance) {
            return Err(ApiError::invalid(
                field,
                "must not be above your own clearance",
            ));
        }
        Ok(())
    }
}

/// Whether a principal of a CSP whose contract has ended, with a wrap-up open, may still sign
/// in, for the wrap-up alone: a person whose roles may certify the return or destruction of the
/// client files.
pub fn may_wind_up(policy: &CompiledPolicy, kind: PrincipalKind, roles: &[String]) -> bool {
    kind == PrincipalKind::Person
        && policy.allows(roles, Resource::WrapUpCertificate, Action::Create)
}

/// A session that may do one thing only until it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionLimit {
    /// Choose a new password (the current one was set by someone else).
    PasswordChange,
    /// Enrol the second factor the policy requires.
    MfaEnrolment,
    /// Read and accept the policy documents in force that apply to the caller.
    TermsAcceptance,
    /// Nothing but `/me`, logout and one's own password: the caller's training has expired.
    TrainingExpired,
    /// Take part in the wrap-up of the caller's organisation's ended contract.
    WrapUp,
}

/// The permission to perform one action on one resource, with what it reaches.
#[derive(Debug, Clone)]
pub struct Permit {
    pub resource: Resource,
    pub action: Action,
    scopes: BTreeSet<Scope>,
    readable: BTreeSet<&'static str>,
    writable: BTreeSet<&'static str>,
    caller: Arc<Caller>,
    purpose: Option<String>,
    today: NaiveDate,
}

/// What a caller's roles add up to for one resource.
pub struct Grants {
    pub actions: Vec<(Action, BTreeSet<Scope>)>,
    pub readable: BTreeSet<&'static str>,
    pub writable: BTreeSet<&'static str>,
}

/// The union of the grants of every role the caller holds, with the scopes as they apply to a
/// principal of `kind` (see [`Permit::decide`]).
pub fn grants(
    policy: &CompiledPolicy,
    roles: &[String],
    kind: PrincipalKind,
    resource: Resource,
) -> Grants {
    let mut grants = Grants {
        actions: Vec::new(),
        readable: BTreeSet::new(),
        writable: BTreeSet::new(),
    };
    for role in roles.iter().filter_map(|role| policy.role(role)) {
        for ((granted_resource, action), scopes) in &role.actions {
            if *granted_resource != resource {
                continue;
            }
            let scopes = scopes.iter().map(|scope| effective_scope(*scope, kind));
            match grants.actions.iter_mut().find(|(known, _)| known == action) {
                Some((_, known_scopes)) => known_scopes.extend(scopes),
                None => grants.actions.push((*action, scopes.collect())),
            }
        }
        grants
            .readable
            .extend(role.readable.get(&resource).into_iter().flatten());
        grants
            .writable
            .extend(role.writable.get(&resource).into_iter().flatten());
    }
    grants.actions.sort();
    grants
}

impl Permit {
    /// Decides whether `caller` may perform `action` on `resource`: 403 when no role grants
    /// it, 403 `purpose_of_use_required` when every granted scope needs a purpose and none
    /// was stated.
    pub fn decide(
        policy: &CompiledPolicy,
        caller: Arc<Caller>,
        resource: Resource,
        action: Action,
        purpose: Option<String>,
        today: NaiveDate,
    ) -> Result<Permit, ApiError> {
        // Fields come only from the roles whose row scope this request may use: a role that
        // needs a purpose of use lends its fields only when one is stated.
        let (mut granted, mut scopes) = (false, BTreeSet::new());
        let (mut readable, mut writable) = (BTreeSet::new(), BTreeSet::new());
        for role in caller.roles.iter().filter_map(|role| policy.role(role)) {
            let Some(role_scopes) = role.actions.get(&(resource, action)) else {
                continue;
            };
            granted = true;
            let usable: Vec<Scope> = role_scopes
                .iter()
                .copied()
                .filter(|scope| purpose.is_some() || *scope != Scope::AnyWithPurpose)
                .map(|scope| effective_scope(scope, caller.kind))
                .collect();
            if usable.is_empty() {
                continue;
            }
            scopes.extend(usable);
            readable.extend(role.readable.get(&resource).into_iter().flatten());
            writable.extend(role.writable.get(&resource).into_iter().flatten());
        }
        if !granted {
            return Err(ApiError::forbidden(format!(
                "Your role does not allow {} on {}.",
                action.name(),
                resource.name()
            )));
        }
        if scopes.is_empty() {
            return Err(purpose_of_use_required());
        }
        Ok(Permit {
            resource,
            action,
            scopes,
            readable,
            writable,
            caller,
            purpose,
            today,
        })
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    pub fn purpose(&self) -> Option<&str> {
        self.purpose.as_deref()
    }

    pub fn scopes(&self) -> &BTreeSet<Scope> {
        &self.scopes
    }

    pub fn today(&self) -> NaiveDate {
        self.today
    }

    pub fn can_read(&self, field: &str) -> bool {
        self.readable.contains(field)
    }

    pub fn can_write(&self, field: &str) -> bool {
        self.writable.contains(field)
    }

    pub fn readable(&self) -> &BTreeSet<&'static str> {
        &self.readable
    }

    /// 403 `field_not_writable` naming every catalogued field in `fields` the caller may not
    /// write. Names that are not fields of the resource are left for the body's parser to
    /// reject as unknown (422).
    pub fn check_writable<'a>(
        &self,
        fields: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), ApiError> {
        let mut denied: Vec<String> = fields
            .into_iter()
            .filter(|field| self.resource.field(field).is_some() && !self.can_write(field))
            .cloned()
            .collect();
        if denied.is_empty() {
            return Ok(());
        }
        denied.sort();
        Err(ApiError::FieldNotWritable(denied))
    }

    /// 403 when filtering on `field` would reveal a field the caller may not read.
    pub fn check_filterable(&self, field: &str) -> Result<(), ApiError> {
        if self.can_read(field) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                code: "filter_not_allowed",
                detail: format!("You may not filter on {field}, which your role cannot read."),
            })
        }
    }

    /// A record of a `restricted` client may be read only with a stated purpose of use.
    pub fn check_restricted(&self, restricted: bool) -> Result<(), ApiError> {
        if restricted && self.purpose.is_none() {
            Err(purpose_of_use_required())
        } else {
            Ok(())
        }
    }
}

/// The scope a grant gives a principal of `kind`: `assigned` narrows a person to the
/// allocations assigned to them, while a system (an API client, which no allocation names)
/// syncs its CSP's whole active caseload, so for it `assigned` is `allocation`
/// (docs/policies.md, "Need to know down to the worker").
fn effective_scope(scope: Scope, kind: PrincipalKind) -> Scope {
    match (scope, kind) {
        (Scope::Assigned, PrincipalKind::ApiClient) => Scope::Allocation,
        (scope, _) => scope,
    }
}

fn purpose_of_use_required() -> ApiError {
    ApiError::Forbidden {
        code: "purpose_of_use_required",
        detail: "State why you need this record in the X-Purpose-Of-Use header.".into(),
    }
}
