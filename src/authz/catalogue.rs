//! What the code knows: the roles, the resources, their actions, row scopes and fields. The
//! policy files grant these; `casebridge policy check` rejects anything not listed here.
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::OrganisationKind;

/// A role and the kind of organisation its holders must belong to.
pub struct RoleDef {
    pub name: &'static str,
    pub organisation_kind: OrganisationKind,
}

pub const ROLES: &[RoleDef] = &[
    RoleDef {
        name: "dept_caseworker",
        organisation_kind: OrganisationKind::DepartmentDivision,
    },
    RoleDef {
        name: "dept_team_leader",
        organisation_kind: OrganisationKind::DepartmentDivision,
    },
    RoleDef {
        name: "division_searcher",
        organisation_kind: OrganisationKind::DepartmentDivision,
    },
    RoleDef {
        name: "csp_worker",
        organisation_kind: OrganisationKind::Csp,
    },
    RoleDef {
        name: "csp_manager",
        organisation_kind: OrganisationKind::Csp,
    },
    RoleDef {
        name: "dept_admin",
        organisation_kind: OrganisationKind::DepartmentDivision,
    },
    RoleDef {
        name: "auditor",
        organisation_kind: OrganisationKind::DepartmentDivision,
    },
    RoleDef {
        name: "privacy_officer",
        organisation_kind: OrganisationKind::DepartmentDivision,
    },
    RoleDef {
        name: "records_manager",
        organisation_kind: OrganisationKind::DepartmentDivision,
    },
];

pub fn role(name: &str) -> Option<&'static RoleDef> {
    ROLES.iter().find(|role| role.name == name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Client,
    Case,
    Allocation,
    Note,
    Profile,
    User,
    Organisation,
    AuditEvent,
    ApiClient,
    AccessReview,
    AccessRegister,
    /// The data breach register.
    Breach,
    /// The individuals a breach affected, computed from the audit trail.
    BreachImpact,
    /// The draft of a breach notification.
    BreachNotice,
    /// An individual added to a breach by hand (a lost paper file, a CSP's own system).
    BreachIndividual,
    /// A finding of the unusual-usage rules.
    Finding,
    /// One principal's line of an organisation's access audit.
    CspAccess,
    /// The summary of an organisation's access audit: its clients today and the collection
    /// notice. A resource of its own, so that the lines' CSV has only the lines' columns.
    CspAccessSummary,
    /// An alert raised as a request happened.
    Alert,
    /// A version of the privacy collection notice the department gives clients.
    CollectionNotice,
    /// A collection notice given to one client.
    NoticeGiven,
    /// Whether a client was given the collection notice in effect.
    NoticeStatus,
    /// A client's consent to a purpose, and its withdrawal.
    Consent,
    /// A privacy complaint.
    Complaint,
    /// An incident anyone who uses the system reports: suspected misuse, compromised
    /// credentials, a data breach, a lost device.
    IncidentReport,
    /// A legal hold on a client's file: it stops the file being disposed of.
    LegalHold,
    /// How long a service type's files are kept.
    RetentionSchedule,
    /// A run of retention: archiving and disposal.
    RetentionRun,
    /// The record disposal leaves.
    DisposalCertificate,
    /// A client's request to see their file (IPP 6); `export` is the bundle of the file.
    AccessRequest,
    /// A client's request to correct their file (IPP 7).
    CorrectionRequest,
    /// An access or correction request still open after its due date.
    OverdueRequest,
    /// An audit event as an access request's bundle shows it to the client: who, when, what,
    /// which fields; never other clients' ids, addresses or devices.
    AccessLogEntry,
    /// An entry of a client's, case's or allocation's change history: who changed which
    /// fields when, and (with a read of the record itself) their values before and after.
    ChangeHistory,
    /// A version of a policy document the department publishes (acceptable use, the privacy
    /// and security policy); `accept` records the caller's own acceptance of it.
    PolicyDocument,
    /// A person who has not accepted a policy document in force that applies to them.
    TermsNotAccepted,
    /// A CSP's annual attestation of its compliance with its privacy and data security
    /// obligations, and the department's acknowledgement of it.
    Attestation,
    /// A line of the overdue-attestations report: a CSP under contract without a recent one.
    OverdueAttestation,
    /// The wrap-up of a CSP's contract: its users, API clients and certificates.
    WrapUp,
    /// A client of the wrap-up's annex: what the audit trail shows was disclosed to the CSP,
    /// and so must come back.
    WrapUpAnnex,
    /// A CSP's certificate that it returned or destroyed client files at the contract's end.
    WrapUpCertificate,
    /// A line of the outstanding wrap-ups report: a CSP whose contract ended without one closed.
    OutstandingWrapUp,
    /// A line of the register of CSPs with access: a CSP's contract, standing, principals,
    /// last attestation, access review and access audit, and its wrap-up.
    CspRegister,
    /// Not a record: a role granted `mfa, required` must log in with a second factor.
    Mfa,
    /// Not a record: a role granted `dual_control, required` is granted to an account only
    /// when a second person approves (four eyes).
    DualControl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    Create,
    Update,
    Search,
    SetPassword,
    /// Export part of the audit trail in bulk.
    Export,
    /// Read the audit history of one client (its access log).
    ReadClientHistory,
    /// Record a user's training, security check and acceptable-use dates.
    RecordOnboarding,
    Approve,
    Suspend,
    Reactivate,
    Deactivate,
    RevokeSessions,
    RotateSecret,
    Revoke,
    /// Make an access-review decision that takes effect when the review closes; on a breach,
    /// decide not to notify someone.
    Decide,
    /// Propose an access-review decision that needs a `decide` holder's confirmation.
    Propose,
    Close,
    Required,
    /// Carry out a breach's containment steps (suspend, end sessions, change credentials).
    Contain,
    /// Acknowledge an alert.
    Acknowledge,
    /// Record that a client withdrew a consent.
    Withdraw,
    /// Release a legal hold.
    Release,
    /// Apply a client's correction request to their file.
    Correct,
    /// Restore the values an entry of a change history changed.
    Revert,
    /// Accept a policy document for oneself.
    Accept,
    /// Assign an allocation to one of its CSP's workers (or leave it unassigned).
    Assign,
}

/// Which rows an action reaches. Each becomes a SQL predicate (see `authz::scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Records of the caller's own division.
    Division,
    /// Records with an allocation, active today, to the caller's organisation (for notes:
    /// only the `shared` ones).
    Allocation,
    /// As `allocation`, through allocations assigned to the caller: a person reaches only the
    /// records of allocations whose `worker_id` is theirs (need to know). An API client (a
    /// CSP's system, no person) reaches its CSP's whole active caseload, as with `allocation`.
    Assigned,
    /// Records belonging to the caller's own organisation.
    OwnOrganisation,
    /// Every record, and each request must state a purpose of use.
    AnyWithPurpose,
    /// Every record.
    Any,
    /// Only the caller's own user record.
    #[serde(rename = "self")]
    OwnRecord,
    /// Clients with a current consent to sharing their basic profile with other divisions.
    Consented,
}

pub struct ResourceDef {
    pub resource: Resource,
    pub name: &'static str,
    pub actions: &'static [(Action, &'static [Scope])],
    pub fields: &'static [&'static str],
}

use Action::*;
use Scope::*;

pub const RESOURCES: &[ResourceDef] = &[
    ResourceDef {
        resource: Resource::Client,
        name: "client",
        actions: &[
            (Read, &[Division, Allocation, Assigned, AnyWithPurpose]),
            (Create, &[Division]),
            (Update, &[Division, Allocation, Assigned]),
            (Correct, &[AnyWithPurpose]),
        ],
        fields: &[
            "id",
            "given_name",
            "family_name",
            "preferred_name",
            "date_of_birth",
            "gender",
            "phone",
            "email",
            "address",
            "interpreter_language",
            "medicare_number",
            "tax_file_number",
            "gp_details",
            "safety_alerts",
            "protective_marking",
            "restricted",
            "lead_division_id",
            "created_at",
            "updated_at",
            "version",
            // Written on creation only: the collection notice given (see `notice_given`), and
            // the caller's word that a possible duplicate is a different person.
            "collection_notice",
            "confirm_new",
        ],
    },
    ResourceDef {
        resource: Resource::Case,
        name: "case",
        actions: &[
            (Read, &[Division, Allocation, Assigned, AnyWithPurpose]),
            (Create, &[Division]),
            (Update, &[Division]),
        ],
        fields: &[
            "id",
            "client_id",
            "division_id",
            "service_type",
            "status",
            "opened_at",
            "closed_at",
            "archived_at",
            "lead_worker_id",
            "summary",
            "risk_level",
            "protective_marking",
            "allocations",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::Allocation,
        name: "allocation",
        actions: &[
            (Read, &[Division, OwnOrganisation, Assigned, AnyWithPurpose]),
            (Create, &[Division]),
            (Update, &[Division]),
            (Assign, &[OwnOrganisation]),
        ],
        fields: &[
            "id",
            "case_id",
            "organisation_id",
            "worker_id",
            "starts_on",
            "ends_on",
            "service_description",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::Note,
        name: "note",
        actions: &[
            (Read, &[Division, Allocation, Assigned, AnyWithPurpose]),
            (Create, &[Division, Allocation, Assigned]),
        ],
        fields: &[
            "id",
            "case_id",
            "author_id",
            "author_organisation_id",
            "created_at",
            "note_type",
            "visibility",
            "protective_marking",
            "body",
            "amends_note_id",
        ],
    },
    ResourceDef {
        resource: Resource::Profile,
        name: "profile",
        actions: &[(Search, &[Division, Consented, Any])],
        fields: &[
            "id",
            "given_name",
            "family_name",
            "date_of_birth",
            "lead_division_id",
            "lead_division_name",
            "lead_division_contact_email",
        ],
    },
    ResourceDef {
        resource: Resource::User,
        name: "user",
        actions: &[
            (Read, &[Any, OwnOrganisation]),
            (Create, &[Any, OwnOrganisation]),
            (Update, &[Any]),
            (SetPassword, &[Any, OwnRecord]),
            (RecordOnboarding, &[Any, OwnOrganisation]),
            (Approve, &[Any]),
            (Suspend, &[Any, OwnOrganisation]),
            (Reactivate, &[Any]),
            (Deactivate, &[Any, OwnOrganisation]),
            (RevokeSessions, &[Any]),
        ],
        fields: &[
            "id",
            "username",
            "display_name",
            "email",
            "organisation_id",
            "roles",
            "status",
            "status_reason",
            "clearance",
            "created_at",
            "last_login_at",
            "training_completed_on",
            "security_check_completed_on",
            "security_check_reference",
            "acceptable_use_accepted_on",
            "approved_at",
            "mfa_enrolled",
            "password_change_required",
            "pending_access_change",
            "version",
            // Write-only: an initial password given when creating a user.
            "password",
        ],
    },
    ResourceDef {
        resource: Resource::Organisation,
        name: "organisation",
        actions: &[(Read, &[Any]), (Create, &[Any]), (Update, &[Any])],
        fields: &[
            "id",
            "name",
            "kind",
            "status",
            "contact_email",
            "contract_starts_on",
            "contract_ends_on",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::AuditEvent,
        name: "audit_event",
        actions: &[
            (Read, &[Any]),
            (Export, &[Any]),
            (ReadClientHistory, &[Any, AnyWithPurpose]),
        ],
        fields: &[
            "id",
            "occurred_at",
            "request_id",
            "actor_user_id",
            "actor_organisation_id",
            "actor_roles",
            "actor_kind",
            "method",
            "route",
            "path",
            "status",
            "outcome",
            "reason",
            "resource_type",
            "resource_id",
            "client_ids",
            "fields",
            "purpose_of_use",
            "attempted_username",
            "ip",
            "user_agent",
            "duration_ms",
            "attempted_client_id",
            "also_refused",
            "trace_id",
            "caller_request_id",
            "changed_fields",
            "chain_id",
            "sequence",
        ],
    },
    ResourceDef {
        resource: Resource::ApiClient,
        name: "api_client",
        actions: &[
            (Read, &[Any]),
            (Create, &[Any]),
            (RotateSecret, &[Any]),
            (Revoke, &[Any]),
        ],
        fields: &[
            "id",
            "name",
            "organisation_id",
            "roles",
            "status",
            "status_reason",
            "clearance",
            "created_at",
            "last_used_at",
            "secret_issued_at",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::AccessReview,
        name: "access_review",
        actions: &[
            (Read, &[Any, OwnOrganisation]),
            (Create, &[Any]),
            (Decide, &[Any]),
            (Propose, &[OwnOrganisation]),
            (Close, &[Any]),
        ],
        fields: &[
            "id",
            "organisation_id",
            "due_on",
            "status",
            "opened_by",
            "opened_at",
            "closed_at",
            "closed_by",
            "items",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::AccessRegister,
        name: "access_register",
        actions: &[(Read, &[Any])],
        fields: &[
            "id",
            "kind",
            "username",
            "display_name",
            "organisation_id",
            "roles",
            "status",
            "status_reason",
            "dormant",
            "clearance",
            "created_at",
            "training_completed_on",
            "security_check_completed_on",
            "acceptable_use_accepted_on",
            "approved_at",
            "last_login_at",
            "mfa_enrolled",
            "last_review",
            "review_overdue",
            "training_due_on",
            "training_expires_soon",
            "training_expired",
        ],
    },
    ResourceDef {
        resource: Resource::Breach,
        name: "breach",
        actions: &[
            (Read, &[Any]),
            (Create, &[Any]),
            (Update, &[Any]),
            (Contain, &[Any]),
            (Decide, &[Any]),
        ],
        fields: &[
            "id",
            "aware_at",
            "reported_by",
            "source",
            "description",
            "kinds",
            "suspected_actor_ids",
            "window_from",
            "window_to",
            "occurred_at",
            "occurred_until",
            "on_behalf_of",
            "incident_report_ids",
            "assessment_due_on",
            "assessment_overdue",
            "status",
            "eligible",
            "assessment",
            "assessed_at",
            "assessed_by",
            "extensions",
            "containment_actions",
            "notifications",
            "notifications_required",
            "decisions_not_to_notify",
            "review",
            "reviewed_at",
            "reviewed_by",
            "created_by",
            "created_at",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::BreachImpact,
        name: "breach_impact",
        actions: &[(Read, &[Any]), (Create, &[Any])],
        fields: &[
            "breach_id",
            "snapshot_id",
            "computed_at",
            "window_from",
            "window_to",
            "suspected_actor_ids",
            "number_affected",
            "counts_by_kind",
            "required_notifications",
            "individuals",
        ],
    },
    ResourceDef {
        resource: Resource::BreachIndividual,
        name: "breach_individual",
        actions: &[(Read, &[Any]), (Create, &[Any])],
        fields: &[
            "id",
            "breach_id",
            "client_id",
            "source",
            "reason",
            "information_kinds",
            "protective_marking",
            "added_by",
            "added_at",
        ],
    },
    ResourceDef {
        resource: Resource::BreachNotice,
        name: "breach_notice",
        actions: &[(Read, &[Any])],
        fields: &[
            "breach_id",
            "snapshot_id",
            "recipient",
            "client_id",
            "agency",
            "contact",
            "aware_at",
            "how_it_occurred",
            "breach_kinds",
            "occurred",
            "period",
            "on_behalf_of",
            "information_kinds",
            "recommended_steps",
            "containment_steps",
            "number_affected",
            "individuals_at_risk",
            "number_notified",
            "not_notifying",
            "how_to_complain",
        ],
    },
    ResourceDef {
        resource: Resource::Finding,
        name: "finding",
        actions: &[(Read, &[Any])],
        fields: &[
            "id",
            "rule",
            "actor_user_id",
            "subject",
            "reason",
            "figures",
            "event_ids",
        ],
    },
    ResourceDef {
        resource: Resource::CspAccess,
        name: "csp_access",
        actions: &[(Read, &[Any])],
        fields: &[
            "principal_id",
            "kind",
            "username",
            "display_name",
            "status",
            "requests",
            "clients_accessed",
            "client_ids",
            "fields_disclosed",
            "denials",
            "notes_written",
            "last_login_at",
            "findings",
        ],
    },
    ResourceDef {
        resource: Resource::CspAccessSummary,
        name: "csp_access_summary",
        actions: &[(Read, &[Any])],
        fields: &["allocated_clients", "clients_without_current_notice"],
    },
    ResourceDef {
        resource: Resource::Alert,
        name: "alert",
        actions: &[(Read, &[Any]), (Acknowledge, &[Any])],
        fields: &[
            "id",
            "kind",
            "actor_user_id",
            "subject",
            "reason",
            "event_id",
            "raised_at",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledgement_note",
            "delivery",
            "delivery_attempts",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::PolicyDocument,
        name: "policy_document",
        actions: &[(Read, &[Any]), (Create, &[Any]), (Accept, &[OwnRecord])],
        fields: &[
            "id",
            "kind",
            "version",
            "title",
            "text",
            "applies_to_roles",
            "published_by",
            "published_at",
            "in_force",
            "accepted_at",
        ],
    },
    ResourceDef {
        resource: Resource::TermsNotAccepted,
        name: "terms_not_accepted",
        actions: &[(Read, &[Any])],
        fields: &[
            "id",
            "username",
            "display_name",
            "organisation_id",
            "roles",
            "documents",
        ],
    },
    ResourceDef {
        resource: Resource::Mfa,
        name: "mfa",
        actions: &[(Required, &[Any])],
        fields: &[],
    },
    ResourceDef {
        resource: Resource::DualControl,
        name: "dual_control",
        actions: &[(Required, &[Any])],
        fields: &[],
    },
    ResourceDef {
        resource: Resource::CollectionNotice,
        name: "collection_notice",
        actions: &[(Read, &[Any]), (Create, &[Any])],
        fields: &[
            "id",
            "version",
            "text",
            "effective_from",
            "created_by",
            "created_at",
        ],
    },
    ResourceDef {
        resource: Resource::NoticeGiven,
        name: "notice_given",
        actions: &[
            (Read, &[Division, Allocation, Assigned, AnyWithPurpose]),
            (Create, &[Division, Allocation, Assigned, AnyWithPurpose]),
        ],
        fields: &[
            "id",
            "client_id",
            "version",
            "given_on",
            "method",
            "current",
            "recorded_by",
            "recorded_at",
            "given_by_organisation_id",
        ],
    },
    ResourceDef {
        resource: Resource::NoticeStatus,
        name: "notice_status",
        actions: &[(Read, &[Division, AnyWithPurpose])],
        fields: &[
            "client_id",
            "last_version",
            "last_given_on",
            "last_method",
            "current_version",
        ],
    },
    ResourceDef {
        resource: Resource::Consent,
        name: "consent",
        actions: &[
            (Read, &[Division, AnyWithPurpose]),
            (Create, &[Division, AnyWithPurpose]),
            (Withdraw, &[Division, AnyWithPurpose]),
        ],
        fields: &[
            "id",
            "client_id",
            "purpose",
            "given_on",
            "method",
            "expires_on",
            "current",
            "withdrawn_on",
            "withdrawal_method",
            "recorded_by",
            "recorded_at",
            "withdrawal_recorded_by",
            "withdrawal_recorded_at",
        ],
    },
    ResourceDef {
        resource: Resource::Complaint,
        name: "complaint",
        actions: &[(Read, &[Any]), (Create, &[Any]), (Update, &[Any])],
        fields: &[
            "id",
            "client_id",
            "received_on",
            "channel",
            "summary",
            "status",
            "due_on",
            "overdue",
            "outcome",
            "recorded_by",
            "recorded_at",
            "updated_at",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::IncidentReport,
        name: "incident_report",
        // `create`'s scope is whom a report may name as involved: users of the reporter's own
        // organisation, or any user. `read`'s: the reporter's own reports, or every report.
        actions: &[
            (Read, &[OwnRecord, Any]),
            (Create, &[OwnOrganisation, Any]),
            (Update, &[Any]),
        ],
        fields: &[
            "id",
            "kind",
            "description",
            "occurred_at",
            "involved_user_ids",
            "client_ids",
            "sessions_ended",
            "reported_by",
            "reporter_organisation_id",
            "reported_at",
            "status",
            "breach_id",
            "updated_at",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::LegalHold,
        name: "legal_hold",
        actions: &[(Read, &[Any]), (Create, &[Any]), (Release, &[Any])],
        fields: &[
            "id",
            "client_id",
            "reason",
            "active",
            "placed_by",
            "placed_at",
            "released_by",
            "released_at",
            "release_reason",
        ],
    },
    ResourceDef {
        resource: Resource::RetentionSchedule,
        name: "retention_schedule",
        actions: &[(Read, &[Any]), (Create, &[Any])],
        fields: &[
            "id",
            "applies_to",
            "service_type",
            "archive_after_years",
            "dispose_after_years",
            "created_by",
            "created_at",
        ],
    },
    ResourceDef {
        resource: Resource::RetentionRun,
        name: "retention_run",
        actions: &[(Read, &[Any]), (Create, &[Any])],
        fields: &[
            "id",
            "dry_run",
            "ran_at",
            "archived_case_ids",
            "disposed_client_ids",
            "record_counts",
            "certificate_id",
        ],
    },
    ResourceDef {
        resource: Resource::DisposalCertificate,
        name: "disposal_certificate",
        actions: &[(Read, &[Any])],
        fields: &[
            "id",
            "disposed_at",
            "authorised_by",
            "schedules",
            "record_counts",
            "client_id_hashes",
        ],
    },
    ResourceDef {
        resource: Resource::AccessRequest,
        name: "access_request",
        actions: &[
            (Read, &[Any]),
            (Create, &[Any]),
            (Update, &[Any]),
            (Export, &[Any]),
        ],
        fields: &[
            "id",
            "client_id",
            "received_on",
            "requester",
            "identity_verified",
            "status",
            "due_on",
            "overdue",
            "reason",
            "recorded_by",
            "recorded_at",
            "updated_at",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::CorrectionRequest,
        name: "correction_request",
        actions: &[(Read, &[Any]), (Create, &[Any]), (Decide, &[Any])],
        fields: &[
            "id",
            "client_id",
            "received_on",
            "field",
            "requested_value",
            "reason",
            "status",
            "due_on",
            "overdue",
            "refusal_reason",
            "recorded_by",
            "recorded_at",
            "decided_by",
            "decided_at",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::OverdueRequest,
        name: "overdue_request",
        actions: &[(Read, &[Any])],
        fields: &[
            "kind",
            "id",
            "client_id",
            "received_on",
            "due_on",
            "status",
            "days_overdue",
        ],
    },
    ResourceDef {
        resource: Resource::AccessLogEntry,
        name: "access_log_entry",
        actions: &[(Read, &[Any])],
        fields: &[
            "id",
            "occurred_at",
            "actor_user_id",
            "actor_organisation_id",
            "actor_kind",
            "method",
            "route",
            "outcome",
            "resource_type",
            "fields",
            "purpose_of_use",
        ],
    },
    ResourceDef {
        resource: Resource::ChangeHistory,
        name: "change_history",
        actions: &[
            (
                Read,
                &[
                    Division,
                    Allocation,
                    Assigned,
                    OwnOrganisation,
                    AnyWithPurpose,
                    Any,
                ],
            ),
            (Revert, &[Division]),
        ],
        fields: &[
            "id",
            "resource_type",
            "resource_id",
            "client_id",
            "case_id",
            "action",
            "reverts",
            "changed_at",
            "changed_by",
            "changed_by_kind",
            "organisation_id",
            "request_id",
            "fields",
            "changes",
        ],
    },
    ResourceDef {
        resource: Resource::Attestation,
        name: "attestation",
        actions: &[
            (Read, &[Any, OwnOrganisation]),
            (Create, &[OwnOrganisation]),
            (Acknowledge, &[Any]),
        ],
        fields: &[
            "id",
            "organisation_id",
            "period_start",
            "period_end",
            "statement",
            "checklist_version",
            "answers",
            "signed_by_name",
            "signed_by_position",
            "submitted_by",
            "submitted_at",
            "status",
            "acknowledged_by",
            "acknowledged_at",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::OverdueAttestation,
        name: "overdue_attestation",
        actions: &[(Read, &[Any])],
        fields: &[
            "id",
            "name",
            "contract_starts_on",
            "contract_ends_on",
            "last_attestation_id",
            "last_period_end",
            "last_acknowledged",
            "due_on",
            "days_overdue",
        ],
    },
    ResourceDef {
        resource: Resource::WrapUp,
        name: "wrap_up",
        actions: &[
            (Read, &[Any, OwnOrganisation]),
            (Create, &[Any]),
            (Close, &[Any]),
        ],
        fields: &[
            "id",
            "organisation_id",
            "contract_ends_on",
            "status",
            "opened_by",
            "opened_at",
            "closed_by",
            "closed_at",
            "principals",
            "allocated_clients",
            "certificates",
            "version",
        ],
    },
    ResourceDef {
        resource: Resource::WrapUpAnnex,
        name: "wrap_up_annex",
        actions: &[(Read, &[Any, OwnOrganisation])],
        fields: &[
            "client_id",
            "allocations",
            "fields",
            "disclosures",
            "first_disclosed_at",
            "last_disclosed_at",
        ],
    },
    ResourceDef {
        resource: Resource::WrapUpCertificate,
        name: "wrap_up_certificate",
        actions: &[(Create, &[Any, OwnOrganisation])],
        fields: &["what", "how", "when", "by_whom", "statement"],
    },
    ResourceDef {
        resource: Resource::OutstandingWrapUp,
        name: "outstanding_wrap_up",
        actions: &[(Read, &[Any])],
        fields: &[
            "id",
            "name",
            "contract_ends_on",
            "days_since_end",
            "wrap_up_id",
            "wrap_up_status",
            "certificates",
        ],
    },
    ResourceDef {
        resource: Resource::CspRegister,
        name: "csp_register",
        actions: &[(Read, &[Any])],
        fields: &[
            "id",
            "name",
            "status",
            "contract_starts_on",
            "contract_ends_on",
            "in_good_standing",
            "users",
            "api_clients",
            "training_due_soon",
            "training_overdue",
            "terms_not_accepted",
            "last_attestation",
            "attestation_overdue",
            "last_access_review",
            "last_csp_access_report_at",
            "wrap_up",
        ],
    },
];

impl Resource {
    pub fn def(self) -> &'static ResourceDef {
        RESOURCES
            .iter()
            .find(|def| def.resource == self)
            .expect("every resource is catalogued")
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    pub fn by_name(name: &str) -> Option<Resource> {
        RESOURCES
            .iter()
            .find(|def| def.name == name)
            .map(|def| def.resource)
    }

    /// The resource whose collection a path segment names: `clients`, `api-clients`.
    pub fn by_collection(segment: &str) -> Option<Resource> {
        let name = segment.strip_suffix('s')?.replace('-', "_");
        Resource::by_name(&name)
    }

    /// The catalogued spelling of `field`, or None when the resource has no such field.
    pub fn field(self, field: &str) -> Option<&'static str> {
        self.def()
            .fields
            .iter()
            .copied()
            .find(|known| *known == field)
    }
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Read,
        Create,
        Update,
        Search,
        SetPassword,
        Export,
        ReadClientHistory,
        RecordOnboarding,
        Approve,
        Suspend,
        Reactivate,
        Deactivate,
        RevokeSessions,
        RotateSecret,
        Revoke,
        Decide,
        Propose,
        Close,
        Required,
        Contain,
        Acknowledge,
        Withdraw,
        Release,
        Correct,
        Revert,
        Accept,
        Assign,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Read => "read",
            Create => "create",
            Update => "update",
            Search => "search",
            SetPassword => "set_password",
            Export => "export",
            ReadClientHistory => "read_client_history",
            RecordOnboarding => "record_onboarding",
            Approve => "approve",
            Suspend => "suspend",
            Reactivate => "reactivate",
            Deactivate => "deactivate",
            RevokeSessions => "revoke_sessions",
            RotateSecret => "rotate_secret",
            Revoke => "revoke",
            Decide => "decide",
            Propose => "propose",
            Close => "close",
            Required => "required",
            Contain => "contain",
            Acknowledge => "acknowledge",
            Withdraw => "withdraw",
            Release => "release",
            Correct => "correct",
            Revert => "revert",
            Accept => "accept",
            Assign => "assign",
        }
    }

    pub fn by_name(name: &str) -> Option<Action> {
        Self::ALL
            .iter()
            .copied()
            .find(|action| action.name() == name)
    }
}

impl Scope {
    pub const ALL: &'static [Scope] = &[
        Division,
        Allocation,
        Assigned,
        OwnOrganisation,
        AnyWithPurpose,
        Any,
        OwnRecord,
        Consented,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Division => "division",
            Allocation => "allocation",
            Assigned => "assigned",
            OwnOrganisation => "own_organisation",
            AnyWithPurpose => "any_with_purpose",
            Any => "any",
            OwnRecord => "self",
            Consented => "consented",
        }
    }

    pub fn by_name(name: &str) -> Option<Scope> {
        Self::ALL.iter().copied().find(|scope| scope.name() == name)
    }
}
