//! The authorisation matrix: every demo role against every read endpoint, for records inside
//! and outside its reach, with the exact keys each 200 discloses (nested objects included).
//!
//! Expected key sets are written from SPEC's field matrix ("Roles and the default policy");
//! where SPEC is silent (note fields for CSPs, user fields for a CSP manager, client
//! metadata) `policies/policy.csv` decides. Expected rows are computed from the demo fixture
//! indices (`casebridge::demo`): client `i < 24` is Housing Support's, allocated to Northside
//! when `i % 3 == 0` (client 9's allocation ended yesterday), to Eastern Outreach when
//! `i % 3 == 1`; client 2 is restricted, client 5 PROTECTED; clients 100 and 101 are Family
//! Services'.
//!
//! Fixture ids are resolved by name *and* lead division ([`Demo::load`]): demo clients 16 and
//! 100 (and 17 and 101) have the same name, so `TestApp::client_id(100)` alone may answer
//! client 16.
use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use casebridge::demo::{
    self, EASTERN, ENDED_ALLOCATION_CLIENT, FAMILY_SERVICES, HOUSING_CLIENTS, HOUSING_SUPPORT,
    NORTHSIDE, PROTECTED_CLIENT, RESTRICTED_CLIENT,
};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Response, TestApp, demo_client, keys, spawn_app, spawn_app_with};

const PURPOSE_HEADER: &str = "X-Purpose-Of-Use";
const PURPOSE: &str = "Access request APP-12 from the client";

// ---- expected key sets ---------------------------------------------------------------------

type Keys = &'static [&'static str];

/// dept_team_leader and privacy_officer: every client field.
#[rustfmt::skip]
const CLIENT_ALL: Keys = &[
    "id", "given_name", "family_name", "preferred_name", "date_of_birth", "gender", "phone", "email", "address",
    "interpreter_language", "medicare_number", "tax_file_number", "gp_details", "safety_alerts",
    "protective_marking", "restricted", "lead_division_id", "created_at", "updated_at", "version",
];
/// dept_caseworker: everything but the tax file number.
#[rustfmt::skip]
const CLIENT_CASEWORKER: Keys = &[
    "id", "given_name", "family_name", "preferred_name", "date_of_birth", "gender", "phone", "email", "address",
    "interpreter_language", "medicare_number", "gp_details", "safety_alerts", "protective_marking", "restricted",
    "lead_division_id", "created_at", "updated_at", "version",
];
/// csp_worker / csp_manager: no Medicare, GP, TFN, marking, restricted or lead division.
#[rustfmt::skip]
const CLIENT_CSP: Keys = &[
    "id", "given_name", "family_name", "date_of_birth", "preferred_name", "gender", "phone", "email", "address",
    "interpreter_language", "safety_alerts", "created_at", "updated_at", "version",
];
/// csp_worker under a policy without `client.date_of_birth` (see test 4).
#[rustfmt::skip]
const CLIENT_CSP_WITHOUT_BIRTH: Keys = &[
    "id", "given_name", "family_name", "preferred_name", "gender", "phone", "email", "address",
    "interpreter_language", "safety_alerts", "created_at", "updated_at", "version",
];
const ADDRESS: Keys = &["line1", "line2", "suburb", "state", "postcode"];

/// Department roles (and a privacy officer) read every case field.
#[rustfmt::skip]
const CASE_DEPARTMENT: Keys = &[
    "id", "client_id", "division_id", "service_type", "status", "opened_at", "closed_at", "archived_at", "lead_worker_id",
    "summary", "risk_level", "protective_marking", "allocations", "version",
];
/// CSP roles: SPEC's seven case fields plus their own organisation's allocations.
#[rustfmt::skip]
const CASE_CSP: Keys = &[
    "id", "client_id", "service_type", "status", "opened_at", "closed_at", "risk_level", "allocations",
];
/// SPEC's allocation record plus its `version` (metadata the field matrix does not cover; the
/// policy lets every allocation reader read it, as with a client's). Every role that reads
/// allocations reads all of it.
#[rustfmt::skip]
const ALLOCATION: Keys = &[
    "id", "case_id", "organisation_id", "worker_id", "starts_on", "ends_on", "service_description", "version",
];

#[rustfmt::skip]
const NOTE_DEPARTMENT: Keys = &[
    "id", "case_id", "author_id", "author_organisation_id", "created_at", "note_type", "visibility",
    "protective_marking", "body", "amends_note_id",
];
/// SPEC is silent on note fields for CSPs; the policy leaves out the protective marking.
#[rustfmt::skip]
const NOTE_CSP: Keys = &[
    "id", "case_id", "author_id", "author_organisation_id", "created_at", "note_type", "visibility", "body",
    "amends_note_id",
];

/// The basic profile: SPEC's column plus the lead division's name and contact email.
#[rustfmt::skip]
const PROFILE: Keys = &[
    "id", "given_name", "family_name", "date_of_birth", "lead_division_id", "lead_division_name",
    "lead_division_contact_email",
];

#[rustfmt::skip]
const USER_ADMIN: Keys = &[
    "id", "username", "display_name", "email", "organisation_id", "roles", "status", "status_reason", "clearance",
    "created_at", "last_login_at", "training_completed_on", "security_check_completed_on",
    "security_check_reference", "acceptable_use_accepted_on", "approved_at", "mfa_enrolled",
    "password_change_required", "pending_access_change", "version",
];
/// A CSP manager's view of its staff: everything it asks for and records, but no version (it
/// changes its staff only through the lifecycle actions).
#[rustfmt::skip]
const USER_CSP_MANAGER: Keys = &[
    "id", "username", "display_name", "email", "organisation_id", "roles", "status", "status_reason", "clearance",
    "created_at", "last_login_at", "training_completed_on", "security_check_completed_on",
    "security_check_reference", "acceptable_use_accepted_on", "approved_at", "mfa_enrolled",
    "password_change_required", "pending_access_change",
];
#[rustfmt::skip]
const ORGANISATION: Keys = &[
    "id", "name", "kind", "status", "contact_email", "contract_starts_on", "contract_ends_on", "version",
];

#[rustfmt::skip]
const ME: Keys = &[
    "id", "username", "display_name", "organisation", "roles", "clearance", "mfa", "password", "training_due_on",
    "training_expires_soon", "training_expired", "terms_to_accept", "permissions",
];
const ME_ORGANISATION: Keys = &["id", "name", "kind"];
const ME_PERMISSIONS: Keys = &["actions", "readable_fields", "writable_fields"];
const PAGE: Keys = &["items", "next_cursor"];

// ---- the role table --------------------------------------------------------------------------

/// What a role gets from one kind of read.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// 200 with exactly these keys for a record in scope; 404 for one out of scope.
    Reads(Keys),
    /// 404 whatever the record: the role reaches no such row (a CSP and department notes).
    Hidden,
    /// 403 with this problem code whatever the record: the role lacks the function.
    Denied(&'static str),
}

use Access::{Denied, Hidden, Reads};

const FORBIDDEN: Access = Denied("forbidden");
const PURPOSE_REQUIRED: Access = Denied("purpose_of_use_required");

/// One row of the matrix: a demo account, with or without a stated purpose of use.
struct Role {
    user: &'static str,
    purpose: bool,
    /// Demo clients (by index) whose client, cases and notes this caller must reach...
    in_scope: &'static [usize],
    /// ...and some it must not.
    out_of_scope: &'static [usize],
    /// Which demo clients (and so their one case each) its lists hold.
    lists: fn(usize) -> bool,
    clients: Access,
    cases: Access,
    shared_notes: Access,
    department_notes: Access,
    profiles: Access,
    users: Access,
    /// The organisation whose users `users` reaches; None: every organisation.
    users_of: Option<&'static str>,
    organisations: Access,
    /// A client's and a case's change history.
    history: Access,
    /// The resources `/me` lists permissions for.
    me: Keys,
}

/// An entry of a change history, to every role that reads one...
#[rustfmt::skip]
const HISTORY_ALL: Keys = &[
    "id", "resource_type", "resource_id", "client_id", "case_id", "action", "reverts", "changed_at",
    "changed_by", "changed_by_kind", "organisation_id", "request_id", "fields", "changes",
];
/// ...but the auditor, who sees who changed which fields, never their values.
#[rustfmt::skip]
const HISTORY_WITHOUT_VALUES: Keys = &[
    "id", "resource_type", "resource_id", "client_id", "case_id", "action", "reverts", "changed_at",
    "changed_by", "changed_by_kind", "organisation_id", "request_id", "fields",
];

/// Every role reads the collection notice in effect (`collection_notice`), and reads and
/// accepts the policy documents (`policy_document`). Roles that read client content must log
/// in with MFA (`mfa`) and are granted under dual control (`dual_control`).
const DEPARTMENT_WORKER: Keys = &[
    "allocation",
    "case",
    "change_history",
    "client",
    "collection_notice",
    "consent",
    "dual_control",
    "incident_report",
    "mfa",
    "note",
    "notice_given",
    "notice_status",
    "policy_document",
    "profile",
    "user",
];
/// CSP roles, dept_admin, privacy_officer and auditor must log in with MFA (`mfa`). CSP roles
/// record the collection notice given to their allocated clients (`notice_given`, issue 20).
const CSP_WORKER: Keys = &[
    "allocation",
    "case",
    "change_history",
    "client",
    "collection_notice",
    "dual_control",
    "incident_report",
    "mfa",
    "note",
    "notice_given",
    "policy_document",
    "user",
];
const CSP_MANAGER: Keys = &[
    "access_review",
    "allocation",
    "attestation",
    "case",
    "change_history",
    "client",
    "collection_notice",
    "dual_control",
    "incident_report",
    "mfa",
    "note",
    "notice_given",
    "policy_document",
    "user",
    "wrap_up",
    "wrap_up_annex",
    "wrap_up_certificate",
];
const DEPARTMENT_ADMIN: Keys = &[
    "access_register",
    "access_review",
    "api_client",
    "attestation",
    "collection_notice",
    "dual_control",
    "incident_report",
    "mfa",
    "organisation",
    "policy_document",
    "terms_not_accepted",
    "outstanding_wrap_up",
    "overdue_attestation",
    "csp_register",
    "user",
    "wrap_up",
    "wrap_up_annex",
    "wrap_up_certificate",
];
const PRIVACY_OFFICER: Keys = &[
    "access_log_entry",
    "access_request",
    "alert",
    "allocation",
    "audit_event",
    "breach",
    "breach_impact",
    "breach_individual",
    "breach_notice",
    "case",
    "change_history",
    "client",
    "collection_notice",
    "complaint",
    "consent",
    "correction_request",
    "disposal_certificate",
    "dual_control",
    "incident_report",
    "legal_hold",
    "mfa",
    "note",
    "notice_given",
    "notice_status",
    "overdue_request",
    "policy_document",
    "retention_schedule",
    "user",
];
/// The audit trail, its reports, alerts, the breach register, CSPs' attestations and contract
/// wrap-ups are the auditor's only resources besides its own password: no client content.
const AUDITOR: Keys = &[
    "access_register",
    "alert",
    "attestation",
    "audit_event",
    "breach",
    "change_history",
    "collection_notice",
    "csp_access",
    "csp_access_summary",
    "disposal_certificate",
    "finding",
    "incident_report",
    "mfa",
    "policy_document",
    "terms_not_accepted",
    "outstanding_wrap_up",
    "overdue_attestation",
    "csp_register",
    "user",
    "wrap_up",
    "wrap_up_annex",
];
/// The records manager: legal holds, no client content.
const RECORDS_MANAGER: Keys = &[
    "collection_notice",
    "disposal_certificate",
    "incident_report",
    "legal_hold",
    "policy_document",
    "retention_run",
    "retention_schedule",
    "user",
];

fn nothing(_: usize) -> bool {
    false
}
fn housing(index: usize) -> bool {
    index < HOUSING_CLIENTS
}
fn housing_unrestricted(index: usize) -> bool {
    housing(index) && index != RESTRICTED_CLIENT
}
fn housing_below_protected(index: usize) -> bool {
    housing(index) && index != PROTECTED_CLIENT
}
fn housing_below_protected_unrestricted(index: usize) -> bool {
    housing_unrestricted(index) && index != PROTECTED_CLIENT
}
fn every_client(_: usize) -> bool {
    true
}
fn northside_active(index: usize) -> bool {
    actively_allocated(index, NORTHSIDE)
}
fn eastern_active(index: usize) -> bool {
    actively_allocated(index, EASTERN)
}

/// The matrix. Each row: who (and whether they state a purpose of use), which demo clients
/// are in and out of their reach, and what each kind of read gives them.
#[rustfmt::skip]
const ROLES: &[Role] = &[
    Role { user: "admin", purpose: false, in_scope: &[0], out_of_scope: &[100], lists: nothing,
        clients: FORBIDDEN, cases: FORBIDDEN, shared_notes: FORBIDDEN, department_notes: FORBIDDEN,
        profiles: FORBIDDEN, users: Reads(USER_ADMIN), users_of: None, organisations: Reads(ORGANISATION), history: FORBIDDEN,
        me: DEPARTMENT_ADMIN },
    Role { user: "caseworker", purpose: false, in_scope: &[0, 8], out_of_scope: &[100, PROTECTED_CLIENT],
        lists: housing_below_protected_unrestricted,
        clients: Reads(CLIENT_CASEWORKER), cases: Reads(CASE_DEPARTMENT),
        shared_notes: Reads(NOTE_DEPARTMENT), department_notes: Reads(NOTE_DEPARTMENT),
        profiles: Reads(PROFILE), users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: Reads(HISTORY_ALL),
        me: DEPARTMENT_WORKER },
    // A purpose of use opens restricted clients, never another division or a higher marking.
    Role { user: "caseworker", purpose: true, in_scope: &[0, RESTRICTED_CLIENT], out_of_scope: &[100, PROTECTED_CLIENT],
        lists: housing_below_protected,
        clients: Reads(CLIENT_CASEWORKER), cases: Reads(CASE_DEPARTMENT),
        shared_notes: Reads(NOTE_DEPARTMENT), department_notes: Reads(NOTE_DEPARTMENT),
        profiles: Reads(PROFILE), users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: Reads(HISTORY_ALL),
        me: DEPARTMENT_WORKER },
    Role { user: "teamleader", purpose: false, in_scope: &[0, PROTECTED_CLIENT], out_of_scope: &[100, 101],
        lists: housing_unrestricted,
        clients: Reads(CLIENT_ALL), cases: Reads(CASE_DEPARTMENT),
        shared_notes: Reads(NOTE_DEPARTMENT), department_notes: Reads(NOTE_DEPARTMENT),
        profiles: Reads(PROFILE), users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: Reads(HISTORY_ALL),
        me: DEPARTMENT_WORKER },
    Role { user: "teamleader", purpose: true, in_scope: &[RESTRICTED_CLIENT, PROTECTED_CLIENT], out_of_scope: &[100],
        lists: housing,
        clients: Reads(CLIENT_ALL), cases: Reads(CASE_DEPARTMENT),
        shared_notes: Reads(NOTE_DEPARTMENT), department_notes: Reads(NOTE_DEPARTMENT),
        profiles: Reads(PROFILE), users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: Reads(HISTORY_ALL),
        me: DEPARTMENT_WORKER },
    Role { user: "searcher", purpose: false, in_scope: &[100], out_of_scope: &[0], lists: nothing,
        clients: FORBIDDEN, cases: FORBIDDEN, shared_notes: FORBIDDEN, department_notes: FORBIDDEN,
        profiles: Reads(PROFILE), users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: FORBIDDEN,
        me: &["collection_notice", "dual_control", "incident_report", "mfa", "policy_document", "profile", "user"] },
    Role { user: "csp-north", purpose: false, in_scope: &[0, 3],
        out_of_scope: &[1, 8, ENDED_ALLOCATION_CLIENT, RESTRICTED_CLIENT, PROTECTED_CLIENT, 100],
        lists: northside_active,
        clients: Reads(CLIENT_CSP), cases: Reads(CASE_CSP),
        shared_notes: Reads(NOTE_CSP), department_notes: Hidden,
        profiles: FORBIDDEN, users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: Reads(HISTORY_ALL),
        me: CSP_WORKER },
    // A purpose of use widens nothing for a CSP.
    Role { user: "csp-north", purpose: true, in_scope: &[0],
        out_of_scope: &[1, ENDED_ALLOCATION_CLIENT, RESTRICTED_CLIENT, 100],
        lists: northside_active,
        clients: Reads(CLIENT_CSP), cases: Reads(CASE_CSP),
        shared_notes: Reads(NOTE_CSP), department_notes: Hidden,
        profiles: FORBIDDEN, users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: Reads(HISTORY_ALL),
        me: CSP_WORKER },
    Role { user: "csp-north-manager", purpose: false, in_scope: &[0], out_of_scope: &[1, ENDED_ALLOCATION_CLIENT],
        lists: northside_active,
        clients: Reads(CLIENT_CSP), cases: Reads(CASE_CSP),
        shared_notes: Reads(NOTE_CSP), department_notes: Hidden,
        profiles: FORBIDDEN, users: Reads(USER_CSP_MANAGER), users_of: Some(NORTHSIDE), organisations: FORBIDDEN, history: Reads(HISTORY_ALL),
        me: CSP_MANAGER },
    Role { user: "csp-east", purpose: false, in_scope: &[1], out_of_scope: &[0, 8, ENDED_ALLOCATION_CLIENT],
        lists: eastern_active,
        clients: Reads(CLIENT_CSP), cases: Reads(CASE_CSP),
        shared_notes: Reads(NOTE_CSP), department_notes: Hidden,
        profiles: FORBIDDEN, users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: Reads(HISTORY_ALL),
        me: CSP_WORKER },
    // Reads every client's history (without values), and nothing else of a client's.
    Role { user: "auditor", purpose: false, in_scope: &[0, 100], out_of_scope: &[], lists: nothing,
        clients: FORBIDDEN, cases: FORBIDDEN, shared_notes: FORBIDDEN, department_notes: FORBIDDEN,
        profiles: FORBIDDEN, users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: Reads(HISTORY_WITHOUT_VALUES),
        me: AUDITOR },
    // Without a purpose of use a privacy officer reads nothing, not even whether a record exists.
    Role { user: "privacy", purpose: false, in_scope: &[0], out_of_scope: &[100], lists: nothing,
        clients: PURPOSE_REQUIRED, cases: PURPOSE_REQUIRED,
        shared_notes: PURPOSE_REQUIRED, department_notes: PURPOSE_REQUIRED,
        profiles: FORBIDDEN, users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: PURPOSE_REQUIRED,
        me: PRIVACY_OFFICER },
    // With one, any client of any division up to PROTECTED: nothing is out of scope.
    Role { user: "privacy", purpose: true, in_scope: &[0, RESTRICTED_CLIENT, PROTECTED_CLIENT, 100], out_of_scope: &[],
        lists: every_client,
        clients: Reads(CLIENT_ALL), cases: Reads(CASE_DEPARTMENT),
        shared_notes: Reads(NOTE_DEPARTMENT), department_notes: Reads(NOTE_DEPARTMENT),
        profiles: FORBIDDEN, users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: Reads(HISTORY_ALL),
        me: PRIVACY_OFFICER },
    Role { user: "records", purpose: false, in_scope: &[0], out_of_scope: &[100], lists: nothing,
        clients: FORBIDDEN, cases: FORBIDDEN, shared_notes: FORBIDDEN, department_notes: FORBIDDEN,
        profiles: FORBIDDEN, users: FORBIDDEN, users_of: None, organisations: FORBIDDEN, history: FORBIDDEN,
        me: RECORDS_MANAGER },
];

impl Role {
    fn label(&self) -> String {
        format!(
            "{}{}",
            self.user,
            if self.purpose { " (with purpose)" } else { "" }
        )
    }

    fn headers(&self) -> Vec<(&'static str, &'static str)> {
        if self.purpose {
            vec![(PURPOSE_HEADER, PURPOSE)]
        } else {
            vec![]
        }
    }

    fn organisation(&self) -> &'static str {
        organisation_of(self.user)
    }

    /// Department roles see every allocation of a case; a CSP only its own organisation's.
    fn sees_allocation_of(&self, csp: &str) -> bool {
        let is_csp = matches!(self.organisation(), NORTHSIDE | EASTERN);
        !is_csp || csp == self.organisation()
    }
}

fn organisation_of(user: &str) -> &'static str {
    demo::ACCOUNTS
        .iter()
        .find(|account| account.0 == user)
        .map(|account| account.2)
        .expect("a demo account")
}

/// The CSP demo client `index`'s case is allocated to (see `casebridge::demo`).
fn allocated_to(index: usize) -> Option<&'static str> {
    match index {
        i if i >= HOUSING_CLIENTS => None,
        i if i % 3 == 0 => Some(NORTHSIDE),
        i if i % 3 == 1 => Some(EASTERN),
        _ => None,
    }
}

/// Whether demo client `index`'s case has an allocation to `csp` active today.
fn actively_allocated(index: usize, csp: &str) -> bool {
    allocated_to(index) == Some(csp) && index != ENDED_ALLOCATION_CLIENT
}

fn demo_indices() -> impl Iterator<Item = usize> {
    (0..HOUSING_CLIENTS).chain([100, 101])
}

// ---- fixtures --------------------------------------------------------------------------------

/// The ids of the demo data, by fixture index and name.
struct Demo {
    clients: BTreeMap<usize, String>,
    cases: BTreeMap<usize, String>,
    shared_notes: BTreeMap<usize, String>,
    department_notes: BTreeMap<usize, String>,
    organisations: BTreeMap<&'static str, String>,
    users: BTreeMap<&'static str, String>,
}

impl Demo {
    fn load(app: &TestApp) -> Demo {
        use casebridge::db::schema::{cases, clients, notes};
        let organisations: BTreeMap<&'static str, String> =
            [HOUSING_SUPPORT, FAMILY_SERVICES, NORTHSIDE, EASTERN]
                .into_iter()
                .map(|name| (name, app.organisation_id(name)))
                .collect();
        let users = demo::ACCOUNTS
            .iter()
            .map(|account| (account.0, app.user_id(account.0)))
            .collect();
        let mut demo = Demo {
            clients: BTreeMap::new(),
            cases: BTreeMap::new(),
            shared_notes: BTreeMap::new(),
            department_notes: BTreeMap::new(),
            organisations,
            users,
        };
        for index in demo_indices() {
            let (given, family) = demo_client(index);
            let division = demo.organisations[if housing(index) {
                HOUSING_SUPPORT
            } else {
                FAMILY_SERVICES
            }]
            .clone();
            let client: Vec<String> = app.with_db(|conn| {
                clients::table
                    .filter(clients::given_name.eq(given))
                    .filter(clients::family_name.eq(family))
                    .filter(clients::lead_division_id.eq(division))
                    .select(clients::id)
                    .load(conn)
                    .unwrap()
            });
            assert_eq!(client.len(), 1, "demo client {index} is one client");
            let case: Vec<String> = app.with_db(|conn| {
                cases::table
                    .filter(cases::client_id.eq(&client[0]))
                    .select(cases::id)
                    .load(conn)
                    .unwrap()
            });
            assert_eq!(case.len(), 1, "demo client {index} has one case");
            let case_notes: Vec<(String, String)> = app.with_db(|conn| {
                notes::table
                    .filter(notes::case_id.eq(&case[0]))
                    .select((notes::id, notes::visibility))
                    .load(conn)
                    .unwrap()
            });
            assert_eq!(
                case_notes.len(),
                2,
                "demo case {index} has a shared and a department note"
            );
            for (id, visibility) in case_notes {
                let notes = if visibility == "shared" {
                    &mut demo.shared_notes
                } else {
                    &mut demo.department_notes
                };
                notes.insert(index, id);
            }
            demo.clients.insert(index, client[0].clone());
            demo.cases.insert(index, case[0].clone());
        }
        demo
    }

    fn client_ids(&self, reaches: impl Fn(usize) -> bool) -> BTreeSet<String> {
        self.clients
            .iter()
            .filter(|(index, _)| reaches(**index))
            .map(|(_, id)| id.clone())
            .collect()
    }

    fn case_ids(&self, reaches: impl Fn(usize) -> bool) -> BTreeSet<String> {
        self.cases
            .iter()
            .filter(|(index, _)| reaches(**index))
            .map(|(_, id)| id.clone())
            .collect()
    }

    fn index_of_case(&self, id: &str) -> Option<usize> {
        self.cases
            .iter()
            .find(|(_, case)| *case == id)
            .map(|(index, _)| *index)
    }

    fn index_of_client(&self, id: &str) -> Option<usize> {
        self.clients
            .iter()
            .find(|(_, client)| *client == id)
            .map(|(index, _)| *index)
    }

    fn organisation_name(&self, id: &str) -> &'static str {
        self.organisations
            .iter()
            .find(|(_, known)| *known == id)
            .map(|(name, _)| *name)
            .unwrap_or("<unknown>")
    }

    /// Names the demo fixture an id belongs to, for readable failures.
    fn describe(&self, id: &str) -> String {
        match (self.index_of_client(id), self.index_of_case(id)) {
            (Some(index), _) => format!("client {index}"),
            (_, Some(index)) => format!("case of client {index}"),
            _ => id.to_owned(),
        }
    }
}

/// The problem document of a 404 for a record that does not exist: a record out of scope
/// must answer exactly the same.
async fn absent_body(app: &TestApp, token: &str) -> Value {
    let response = app
        .get(&format!("/api/v1/clients/{}", uuid::Uuid::now_v7()), token)
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.body);
    assert_eq!(response.code(), "not_found");
    response.body
}

// ---- checks ----------------------------------------------------------------------------------

/// What one probe must answer.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Ok(Keys),
    NotFound,
    Forbidden(&'static str),
}

impl Access {
    fn expect(self, in_scope: bool) -> Expect {
        match self {
            Reads(keys) if in_scope => Expect::Ok(keys),
            Reads(_) | Hidden => Expect::NotFound,
            Denied(code) => Expect::Forbidden(code),
        }
    }
}

type Check = Result<(), String>;

fn key_set(value: &Value) -> BTreeSet<String> {
    keys(value).into_iter().collect()
}

fn set(keys: Keys) -> BTreeSet<String> {
    keys.iter().map(|key| key.to_string()).collect()
}

/// Exactly `expected` keys: none missing, none extra.
fn expect_keys(what: &str, value: &Value, expected: Keys) -> Check {
    if !value.is_object() {
        return Err(format!("{what} is not an object: {value}"));
    }
    let (actual, expected) = (key_set(value), set(expected));
    if actual == expected {
        return Ok(());
    }
    let extra: Vec<_> = actual.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&actual).collect();
    Err(format!(
        "{what}: extra keys {extra:?}, missing keys {missing:?}"
    ))
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, actual: T, expected: T) -> Check {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("{what}: got {actual:?}, expected {expected:?}"))
    }
}

/// The status and, for errors, the problem. Ok(Some(keys)) when the body still needs checking.
fn check_status(
    response: &Response,
    expect: Expect,
    absent: &Value,
) -> Result<Option<Keys>, String> {
    let unexpected = |wanted: &str| {
        Err(format!(
            "expected {wanted}, got {} {}",
            response.status, response.body
        ))
    };
    match expect {
        Expect::Ok(keys) if response.status == StatusCode::OK => Ok(Some(keys)),
        Expect::Ok(_) => unexpected("200"),
        Expect::NotFound
            if response.status == StatusCode::NOT_FOUND && response.body == *absent =>
        {
            Ok(None)
        }
        Expect::NotFound => unexpected("404 exactly as for an absent record"),
        Expect::Forbidden(code)
            if response.status == StatusCode::FORBIDDEN && response.code() == code =>
        {
            Ok(None)
        }
        Expect::Forbidden(code) => unexpected(&format!("403 {code}")),
    }
}

/// The items of a `{items, next_cursor}` page.
fn page_items(body: &Value) -> Result<&Vec<Value>, String> {
    expect_keys("page", body, PAGE)?;
    body["items"]
        .as_array()
        .ok_or_else(|| "items is not an array".to_owned())
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| item["id"].as_str().unwrap_or("<no id>").to_owned())
        .collect()
}

/// Ids of a page or walk as a set, failing on duplicates.
fn id_set(items: &[Value]) -> Result<BTreeSet<String>, String> {
    let ids = ids(items);
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    if set.len() == ids.len() {
        Ok(set)
    } else {
        Err(format!("duplicate ids in {ids:?}"))
    }
}

fn expect_ids(
    demo: &Demo,
    what: &str,
    actual: &BTreeSet<String>,
    expected: &BTreeSet<String>,
) -> Check {
    if actual == expected {
        return Ok(());
    }
    let describe = |ids: Vec<&String>| {
        ids.into_iter()
            .map(|id| demo.describe(id))
            .collect::<Vec<_>>()
    };
    Err(format!(
        "{what}: unexpected {:?}, missing {:?}",
        describe(actual.difference(expected).collect()),
        describe(expected.difference(actual).collect())
    ))
}

fn check_client(body: &Value, keys: Keys, id: &str) -> Check {
    expect_keys("client", body, keys)?;
    expect_eq("client id", body["id"].as_str(), Some(id))?;
    if keys.contains(&"address") {
        expect_keys("client address", &body["address"], ADDRESS)?;
    }
    Ok(())
}

/// A case's keys, and its allocations: the ones the role may see, each with exactly the
/// allocation keys.
fn check_case(demo: &Demo, role: &Role, body: &Value, keys: Keys, index: usize) -> Check {
    expect_keys("case", body, keys)?;
    expect_eq(
        "case id",
        body["id"].as_str(),
        Some(demo.cases[&index].as_str()),
    )?;
    if !keys.contains(&"allocations") {
        return Ok(());
    }
    let allocations = body["allocations"]
        .as_array()
        .ok_or("allocations is not an array")?;
    let expected: Vec<&str> = allocated_to(index)
        .filter(|csp| role.sees_allocation_of(csp))
        .into_iter()
        .collect();
    let actual: Vec<&str> = allocations
        .iter()
        .map(|a| demo.organisation_name(a["organisation_id"].as_str().unwrap_or("")))
        .collect();
    expect_eq(&format!("allocations of case {index}"), actual, expected)?;
    for allocation in allocations {
        expect_keys("allocation", allocation, ALLOCATION)?;
        expect_eq(
            "allocation case_id",
            allocation["case_id"].as_str(),
            Some(demo.cases[&index].as_str()),
        )?;
    }
    Ok(())
}

/// Collects every probe's outcome so that one run reports every cell that is wrong.
#[derive(Default)]
struct Tally {
    probes: usize,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, label: impl Into<String>, result: Check) {
        self.probes += 1;
        if let Err(problem) = result {
            self.failures.push(format!("{}: {problem}", label.into()));
        }
    }

    fn finish(self, what: &str) {
        eprintln!(
            "{what}: {} probes, {} failed",
            self.probes,
            self.failures.len()
        );
        assert!(
            self.failures.is_empty(),
            "{what}: {} of {} probes failed:\n  {}",
            self.failures.len(),
            self.probes,
            self.failures.join("\n  ")
        );
    }
}

// ---- 1. the matrix ---------------------------------------------------------------------------

/// The record endpoints, each probed with a demo client's record.
#[derive(Debug, Clone, Copy)]
enum Record {
    Client,
    ClientCases,
    Case,
    CaseNotes,
    SharedNote,
    DepartmentNote,
    ClientHistory,
    CaseHistory,
}

const RECORDS: [Record; 8] = [
    Record::Client,
    Record::ClientCases,
    Record::Case,
    Record::CaseNotes,
    Record::SharedNote,
    Record::DepartmentNote,
    Record::ClientHistory,
    Record::CaseHistory,
];

impl Record {
    fn path(self, demo: &Demo, index: usize) -> String {
        match self {
            Record::Client => format!("/api/v1/clients/{}", demo.clients[&index]),
            Record::ClientCases => format!("/api/v1/clients/{}/cases", demo.clients[&index]),
            Record::Case => format!("/api/v1/cases/{}", demo.cases[&index]),
            Record::CaseNotes => format!("/api/v1/cases/{}/notes", demo.cases[&index]),
            Record::SharedNote => format!("/api/v1/notes/{}", demo.shared_notes[&index]),
            Record::DepartmentNote => format!("/api/v1/notes/{}", demo.department_notes[&index]),
            Record::ClientHistory => format!("/api/v1/clients/{}/history", demo.clients[&index]),
            Record::CaseHistory => format!("/api/v1/cases/{}/history", demo.cases[&index]),
        }
    }

    fn access(self, role: &Role) -> Access {
        match self {
            Record::Client => role.clients,
            // The client is looked up first; its cases are then listed.
            Record::ClientCases => match role.clients {
                Reads(_) => role.cases,
                other => other,
            },
            Record::Case => role.cases,
            Record::CaseNotes | Record::SharedNote => role.shared_notes,
            Record::DepartmentNote => role.department_notes,
            Record::ClientHistory | Record::CaseHistory => role.history,
        }
    }

    fn check_body(self, demo: &Demo, role: &Role, index: usize, keys: Keys, body: &Value) -> Check {
        match self {
            Record::Client => check_client(body, keys, &demo.clients[&index]),
            Record::ClientCases => {
                let items = page_items(body)?;
                expect_eq("case ids", ids(items), vec![demo.cases[&index].clone()])?;
                check_case(demo, role, &items[0], keys, index)
            }
            Record::Case => check_case(demo, role, body, keys, index),
            Record::CaseNotes => {
                let items = page_items(body)?;
                let mut expected = BTreeSet::from([demo.shared_notes[&index].clone()]);
                if let Reads(_) = role.department_notes {
                    expected.insert(demo.department_notes[&index].clone());
                }
                expect_eq("note ids", id_set(items)?, expected)?;
                items
                    .iter()
                    .try_for_each(|note| expect_keys("note", note, keys))
            }
            Record::SharedNote => {
                expect_keys("note", body, keys)?;
                expect_eq(
                    "note",
                    body["id"].as_str(),
                    Some(demo.shared_notes[&index].as_str()),
                )
            }
            Record::DepartmentNote => {
                expect_keys("note", body, keys)?;
                expect_eq(
                    "note",
                    body["id"].as_str(),
                    Some(demo.department_notes[&index].as_str()),
                )
            }
            Record::ClientHistory | Record::CaseHistory => {
                let items = page_items(body)?;
                // Client 0's phone was changed before the probes (`change_client_zero`).
                if matches!(self, Record::ClientHistory) && index == 0 && items.is_empty() {
                    return Err("client 0's history holds no entry".into());
                }
                items
                    .iter()
                    .try_for_each(|entry| expect_keys("history entry", entry, keys))
            }
        }
    }
}

#[actix_web::test]
async fn every_role_reads_exactly_what_the_matrix_allows() {
    let app = spawn_app().await;
    let demo = Demo::load(&app);
    change_client_zero(&app).await;
    let absent = absent_body(&app, &app.login("caseworker").await).await;
    let mut tally = Tally::default();
    for role in ROLES {
        // The table itself: fixtures said to be in scope are in the role's lists, the others not.
        if let Reads(_) = role.clients {
            for &index in role.in_scope.iter().chain(role.out_of_scope) {
                let in_scope = role.in_scope.contains(&index);
                assert_eq!(
                    (role.lists)(index),
                    in_scope,
                    "{}: table inconsistent for client {index}",
                    role.label()
                );
            }
        }
        let token = app.login(role.user).await;
        let headers = role.headers();
        for (fixtures, in_scope) in [(role.in_scope, true), (role.out_of_scope, false)] {
            for &index in fixtures {
                for record in RECORDS {
                    let response = app
                        .get_with(&record.path(&demo, index), &token, &headers)
                        .await;
                    let result =
                        check_status(&response, record.access(role).expect(in_scope), &absent)
                            .and_then(|ok| {
                                ok.map_or(Ok(()), |keys| {
                                    record.check_body(&demo, role, index, keys, &response.body)
                                })
                            });
                    let scope = if in_scope { "in scope" } else { "out of scope" };
                    tally.record(
                        format!("{} {record:?} of client {index} ({scope})", role.label()),
                        result,
                    );
                }
            }
        }
        check_lists_and_directory(&app, &demo, role, &token, &absent, &mut tally).await;
    }
    tally.finish("authorisation matrix");
}

/// Changes client 0's phone, so that its history holds an entry every reader of it sees.
async fn change_client_zero(app: &TestApp) {
    let path = format!("/api/v1/clients/{}", app.client_id(0));
    let caseworker = app.login("caseworker").await;
    let changed = app
        .patch_current(
            &path,
            &caseworker,
            serde_json::json!({"phone": "0400 123 456"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
}

/// The list, search, directory and `/me` cells of one role's row.
async fn check_lists_and_directory(
    app: &TestApp,
    demo: &Demo,
    role: &Role,
    token: &str,
    absent: &Value,
    tally: &mut Tally,
) {
    let headers = role.headers();
    let headers = headers.as_slice();
    let label = role.label();
    let get = |path: String| async move { app.get_with(&path, token, headers).await };

    // Lists of clients and cases: every item with exactly the role's keys.
    let response = get("/api/v1/clients?limit=200".into()).await;
    let result = check_status(&response, role.clients.expect(true), absent).and_then(|ok| {
        let Some(keys) = ok else { return Ok(()) };
        let items = page_items(&response.body)?;
        if items.is_empty() {
            return Err("no clients".into());
        }
        items
            .iter()
            .try_for_each(|item| check_client(item, keys, item["id"].as_str().unwrap_or_default()))
    });
    tally.record(format!("{label} GET /clients"), result);

    let response = get("/api/v1/cases?limit=200".into()).await;
    let result = check_status(&response, role.cases.expect(true), absent).and_then(|ok| {
        let Some(keys) = ok else { return Ok(()) };
        let items = page_items(&response.body)?;
        if items.is_empty() {
            return Err("no cases".into());
        }
        items.iter().try_for_each(|item| {
            let id = item["id"].as_str().unwrap_or_default();
            let index = demo
                .index_of_case(id)
                .ok_or_else(|| format!("{id} is no demo case"))?;
            check_case(demo, role, item, keys, index)
        })
    });
    tally.record(format!("{label} GET /cases"), result);

    // Basic-profile search: a client in reach, and a restricted one (left out without a purpose,
    // like every list).
    for (index, in_scope) in [(0, true), (RESTRICTED_CLIENT, role.purpose)] {
        let (given, family) = demo_client(index);
        let response = get(format!(
            "/api/v1/profiles?family_name={family}&given_name={given}"
        ))
        .await;
        let result = check_status(&response, role.profiles.expect(true), absent).and_then(|ok| {
            let Some(keys) = ok else { return Ok(()) };
            let items = page_items(&response.body)?;
            // Names match tolerantly, so other clients may follow the one searched for.
            let found = ids(items);
            let searched = &demo.clients[&index];
            expect_eq("searched client listed", found.contains(searched), in_scope)?;
            expect_eq(
                "searched client first",
                found.first() == Some(searched),
                in_scope,
            )?;
            for item in items {
                expect_keys("profile", item, keys)?;
                expect_eq(
                    "lead division",
                    item["lead_division_id"].as_str(),
                    Some(demo.organisations[HOUSING_SUPPORT].as_str()),
                )?;
                expect_eq(
                    "lead division name",
                    item["lead_division_name"].as_str(),
                    Some(HOUSING_SUPPORT),
                )?;
                expect_eq(
                    "lead division email is given",
                    item["lead_division_contact_email"]
                        .as_str()
                        .is_some_and(|e| e.contains('@')),
                    true,
                )?;
            }
            Ok(())
        });
        tally.record(format!("{label} GET /profiles for client {index}"), result);
    }

    // Users: the list holds exactly the users in reach; a single user out of reach is 404.
    let reaches_user = |username: &str| {
        role.users_of
            .is_none_or(|organisation| organisation_of(username) == organisation)
    };
    let response = get("/api/v1/users?limit=200".into()).await;
    let result = check_status(&response, role.users.expect(true), absent).and_then(|ok| {
        let Some(keys) = ok else { return Ok(()) };
        let items = page_items(&response.body)?;
        let expected: BTreeSet<String> = demo
            .users
            .iter()
            .filter(|(username, _)| reaches_user(username))
            .map(|(_, id)| id.clone())
            .collect();
        expect_eq("user ids", id_set(items)?, expected)?;
        items
            .iter()
            .try_for_each(|item| expect_keys("user", item, keys))
    });
    tally.record(format!("{label} GET /users"), result);
    for username in ["csp-north", "caseworker"] {
        let response = get(format!("/api/v1/users/{}", demo.users[username])).await;
        let result = check_status(&response, role.users.expect(reaches_user(username)), absent)
            .and_then(|ok| ok.map_or(Ok(()), |keys| expect_keys("user", &response.body, keys)));
        tally.record(format!("{label} GET /users/{{{username}}}"), result);
    }

    // Organisations.
    let response = get("/api/v1/organisations?limit=200".into()).await;
    let result = check_status(&response, role.organisations.expect(true), absent).and_then(|ok| {
        let Some(keys) = ok else { return Ok(()) };
        let items = page_items(&response.body)?;
        expect_eq(
            "organisation ids",
            id_set(items)?,
            demo.organisations.values().cloned().collect(),
        )?;
        items
            .iter()
            .try_for_each(|item| expect_keys("organisation", item, keys))
    });
    tally.record(format!("{label} GET /organisations"), result);
    let response = get(format!(
        "/api/v1/organisations/{}",
        demo.organisations[NORTHSIDE]
    ))
    .await;
    let result = check_status(&response, role.organisations.expect(true), absent).and_then(|ok| {
        ok.map_or(Ok(()), |keys| {
            expect_keys("organisation", &response.body, keys)
        })
    });
    tally.record(format!("{label} GET /organisations/{{id}}"), result);

    // `/me`: every role; its readable fields are the keys the role was just shown.
    let response = get("/api/v1/me".into()).await;
    let result = check_status(&response, Expect::Ok(ME), absent).and_then(|_| {
        let body = &response.body;
        expect_keys("me", body, ME)?;
        expect_keys("me.organisation", &body["organisation"], ME_ORGANISATION)?;
        expect_eq("username", body["username"].as_str(), Some(role.user))?;
        expect_eq(
            "organisation",
            body["organisation"]["name"].as_str(),
            Some(role.organisation()),
        )?;
        expect_keys("me.permissions", &body["permissions"], role.me)?;
        for resource in role.me {
            expect_keys(
                &format!("me.permissions.{resource}"),
                &body["permissions"][resource],
                ME_PERMISSIONS,
            )?;
        }
        for (resource, access) in [
            ("client", role.clients),
            ("case", role.cases),
            ("note", role.shared_notes),
            ("profile", role.profiles),
            ("user", role.users),
            ("organisation", role.organisations),
        ] {
            if let Reads(keys) = access {
                let readable: BTreeSet<String> = body["permissions"][resource]["readable_fields"]
                    .as_array()
                    .map(|fields| {
                        fields
                            .iter()
                            .filter_map(|f| f.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                expect_eq(
                    &format!("me.permissions.{resource}.readable_fields"),
                    readable,
                    set(keys),
                )?;
            }
        }
        Ok(())
    });
    tally.record(format!("{label} GET /me"), result);
}

// ---- 2. clearance and purpose of use ---------------------------------------------------------

#[actix_web::test]
async fn clearance_hides_protected_clients_and_restricted_clients_need_a_purpose() {
    let app = spawn_app().await;
    let demo = Demo::load(&app);
    let caseworker = app.login("caseworker").await;
    let teamleader = app.login("teamleader").await;
    let searcher = app.login("searcher").await;
    let absent = absent_body(&app, &caseworker).await;
    let with_purpose = [(PURPOSE_HEADER, PURPOSE)];
    let blank_purpose = [(PURPOSE_HEADER, "   ")];

    for record in RECORDS {
        // PROTECTED is above a caseworker's clearance: it does not exist for them, purpose or not.
        let path = record.path(&demo, PROTECTED_CLIENT);
        for headers in [&[][..], &with_purpose[..]] {
            let response = app.get_with(&path, &caseworker, headers).await;
            assert_eq!(
                response.status,
                StatusCode::NOT_FOUND,
                "caseworker {record:?} of the PROTECTED client"
            );
            assert_eq!(
                response.body, absent,
                "caseworker {record:?} of the PROTECTED client answers as if absent"
            );
        }
        let response = app.get(&path, &teamleader).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "teamleader {record:?} of the PROTECTED client: {}",
            response.body
        );

        // Restricted: a stated purpose (not a blank one) opens it.
        let path = record.path(&demo, RESTRICTED_CLIENT);
        for headers in [&[][..], &blank_purpose[..]] {
            let response = app.get_with(&path, &caseworker, headers).await;
            assert_eq!(
                response.status,
                StatusCode::FORBIDDEN,
                "caseworker {record:?} of the restricted client"
            );
            assert_eq!(response.code(), "purpose_of_use_required");
        }
        let response = app.get_with(&path, &caseworker, &with_purpose).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "caseworker {record:?} of the restricted client with a purpose"
        );
    }

    let response = app
        .get(&Record::Client.path(&demo, PROTECTED_CLIENT), &teamleader)
        .await;
    assert_eq!(response.body["protective_marking"], "PROTECTED");
    check_client(&response.body, CLIENT_ALL, &demo.clients[&PROTECTED_CLIENT]).unwrap();
    let response = app
        .get_with(
            &Record::Client.path(&demo, RESTRICTED_CLIENT),
            &caseworker,
            &with_purpose,
        )
        .await;
    assert_eq!(response.body["restricted"], true);
    check_client(
        &response.body,
        CLIENT_CASEWORKER,
        &demo.clients[&RESTRICTED_CLIENT],
    )
    .unwrap();

    // Lists leave restricted clients (and their cases) out without a purpose and include them with one;
    // a purpose never brings in a PROTECTED client above clearance.
    let restricted = (
        &demo.clients[&RESTRICTED_CLIENT],
        &demo.cases[&RESTRICTED_CLIENT],
    );
    let protected = (
        &demo.clients[&PROTECTED_CLIENT],
        &demo.cases[&PROTECTED_CLIENT],
    );
    for (token, headers, sees_restricted, sees_protected) in [
        (&caseworker, &[][..], false, false),
        (&caseworker, &with_purpose[..], true, false),
        (&teamleader, &[][..], false, true),
        (&teamleader, &with_purpose[..], true, true),
    ] {
        let clients = id_set(&walk(&app, "/api/v1/clients", token, headers, 200).await).unwrap();
        let cases = id_set(&walk(&app, "/api/v1/cases", token, headers, 200).await).unwrap();
        assert_eq!(
            clients.contains(restricted.0),
            sees_restricted,
            "restricted client in list (purpose: {})",
            !headers.is_empty()
        );
        assert_eq!(
            cases.contains(restricted.1),
            sees_restricted,
            "restricted client's case in list"
        );
        assert_eq!(
            clients.contains(protected.0),
            sees_protected,
            "PROTECTED client in list"
        );
        assert_eq!(
            cases.contains(protected.1),
            sees_protected,
            "PROTECTED client's case in list"
        );
    }

    // The basic-profile search keeps to the same rules.
    let search = |index: usize| {
        let (given, family) = demo_client(index);
        format!("/api/v1/profiles?family_name={family}&given_name={given}")
    };
    for (token, index, headers, found) in [
        (&searcher, RESTRICTED_CLIENT, &[][..], false),
        (&searcher, PROTECTED_CLIENT, &[][..], false),
        (&searcher, PROTECTED_CLIENT, &with_purpose[..], false),
        (&caseworker, PROTECTED_CLIENT, &[][..], false),
        (&teamleader, PROTECTED_CLIENT, &[][..], true),
    ] {
        let response = app.get_with(&search(index), token, headers).await;
        assert_eq!(response.status, StatusCode::OK);
        let listed = ids(page_items(&response.body).unwrap());
        assert_eq!(
            listed.first() == Some(&demo.clients[&index]),
            found,
            "profile search for client {index}: {listed:?}"
        );
        assert_eq!(listed.contains(&demo.clients[&index]), found);
    }
}

// ---- 3. lists and searches: every page, every filter, every cursor ---------------------------

/// Follows `next_cursor` from `path` with pages of `limit` until the last page; checks each
/// page's shape and size and returns every item.
async fn walk(
    app: &TestApp,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    limit: usize,
) -> Vec<Value> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        assert!(page < 100, "{path}: more than 100 pages");
        let url = match &cursor {
            Some(cursor) => format!("{path}{separator}limit={limit}&cursor={cursor}"),
            None => format!("{path}{separator}limit={limit}"),
        };
        let response = app.get_with(&url, token, headers).await;
        assert_eq!(response.status, StatusCode::OK, "{url}: {}", response.body);
        let page_items =
            page_items(&response.body).unwrap_or_else(|problem| panic!("{url}: {problem}"));
        assert!(
            page_items.len() <= limit,
            "{url}: {} items on a page of {limit}",
            page_items.len()
        );
        items.extend(page_items.iter().cloned());
        match response.body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(
                    page_items.len(),
                    limit,
                    "{url}: a page before the last is full"
                );
                cursor = Some(next.to_owned());
            }
            None => break,
        }
    }
    items
}

/// How a cursor names the last record of a page, learnt from one the service issued, so
/// that a test can forge a cursor naming any record (one out of scope included).
enum CursorFormat {
    Id,
    Base64Id,
}

impl CursorFormat {
    async fn learn(app: &TestApp, token: &str) -> CursorFormat {
        let response = app.get("/api/v1/clients?limit=1", token).await;
        let issued = response.body["next_cursor"]
            .as_str()
            .expect("a first page of one has a next page");
        let last = response.body["items"][0]["id"].as_str().expect("an id");
        if issued == last {
            CursorFormat::Id
        } else if issued == URL_SAFE_NO_PAD.encode(last) {
            CursorFormat::Base64Id
        } else {
            panic!("cursor {issued:?} is neither the last id {last:?} nor its base64")
        }
    }

    fn cursor_for(&self, id: &str) -> String {
        match self {
            CursorFormat::Id => id.to_owned(),
            CursorFormat::Base64Id => URL_SAFE_NO_PAD.encode(id),
        }
    }
}

#[actix_web::test]
async fn lists_hold_exactly_the_rows_in_scope_on_every_page_filter_and_cursor() {
    let app = spawn_app().await;
    let demo = Demo::load(&app);
    let mut tally = Tally::default();
    let cursor_format = CursorFormat::learn(&app, &app.login("caseworker").await).await;
    for role in ROLES {
        let (Reads(client_keys), Reads(case_keys)) = (role.clients, role.cases) else {
            continue;
        };
        let label = role.label();
        let token = app.login(role.user).await;
        let headers = role.headers();
        let expected_clients = demo.client_ids(role.lists);
        let expected_cases = demo.case_ids(role.lists);
        assert!(
            !expected_clients.is_empty(),
            "{label}: the table gives lists to check"
        );

        // Every page of three, and one page of everything, hold exactly the rows in scope.
        for limit in [3, 200] {
            let clients = walk(&app, "/api/v1/clients", &token, &headers, limit).await;
            let result = id_set(&clients)
                .and_then(|ids| expect_ids(&demo, "client ids", &ids, &expected_clients))
                .and_then(|_| {
                    clients.iter().try_for_each(|item| {
                        check_client(item, client_keys, item["id"].as_str().unwrap_or_default())
                    })
                });
            tally.record(format!("{label} walk /clients limit={limit}"), result);

            for (path, expected) in [
                ("/api/v1/cases", expected_cases.clone()),
                ("/api/v1/cases?status=open", expected_cases.clone()),
                ("/api/v1/cases?status=closed", BTreeSet::new()),
            ] {
                let cases = walk(&app, path, &token, &headers, limit).await;
                let result = id_set(&cases)
                    .and_then(|ids| expect_ids(&demo, "case ids", &ids, &expected))
                    .and_then(|_| {
                        cases.iter().try_for_each(|item| {
                            let index = demo
                                .index_of_case(item["id"].as_str().unwrap_or_default())
                                .ok_or("not a demo case")?;
                            check_case(&demo, role, item, case_keys, index)
                        })
                    });
                tally.record(format!("{label} walk {path} limit={limit}"), result);
            }
        }

        // Any cursor, even one naming a record out of scope, only ever continues within scope.
        for index in demo_indices() {
            for (resource, cursor_id, expected) in [
                ("clients", &demo.clients[&index], &expected_clients),
                ("cases", &demo.cases[&index], &expected_cases),
            ] {
                let cursor = cursor_format.cursor_for(cursor_id);
                let response = app
                    .get_with(
                        &format!("/api/v1/{resource}?limit=200&cursor={cursor}"),
                        &token,
                        &headers,
                    )
                    .await;
                let result = (response.status == StatusCode::OK)
                    .then_some(())
                    .ok_or_else(|| format!("{} {}", response.status, response.body))
                    .and_then(|_| id_set(page_items(&response.body)?))
                    .and_then(|ids| {
                        let after: BTreeSet<String> = expected
                            .iter()
                            .filter(|id| *id > cursor_id)
                            .cloned()
                            .collect();
                        expect_ids(&demo, "ids after the cursor", &ids, &after)
                    });
                tally.record(
                    format!("{label} /{resource} after the cursor of client {index}"),
                    result,
                );
            }
        }

        // Filtering by any demo client's name (pages of one, so the cursor is followed too)
        // finds it only when it is in scope, and never the namesake out of scope.
        for index in demo_indices() {
            let (given, family) = demo_client(index);
            let path = format!(
                "/api/v1/clients?family_name={family}&given_name={}",
                given.to_uppercase()
            );
            let found = walk(&app, &path, &token, &headers, 1).await;
            let expected = demo.client_ids(|other| {
                (role.lists)(other) && demo_client(other) == (given.clone(), family.clone())
            });
            let result = id_set(&found)
                .and_then(|ids| expect_ids(&demo, "filtered client ids", &ids, &expected))
                .and_then(|_| {
                    found.iter().try_for_each(|item| {
                        check_client(item, client_keys, item["id"].as_str().unwrap_or_default())
                    })
                });
            tally.record(
                format!("{label} /clients filtered to client {index}'s name"),
                result,
            );
        }
        let by_birth = walk(
            &app,
            "/api/v1/clients?date_of_birth=1950-01-01",
            &token,
            &headers,
            3,
        )
        .await;
        let expected = demo.client_ids(|index| index == 0 && (role.lists)(index));
        tally.record(
            format!("{label} /clients?date_of_birth=1950-01-01"),
            id_set(&by_birth).and_then(|ids| expect_ids(&demo, "client ids", &ids, &expected)),
        );
    }
    tally.finish("lists");
}

// ---- 4. filtering on a field the caller may not read ----------------------------------------

#[actix_web::test]
async fn filtering_on_a_field_the_caller_cannot_read_is_forbidden() {
    let policies = tempfile::tempdir().expect("temp dir");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    std::fs::copy(
        shipped.join("model.conf"),
        policies.path().join("model.conf"),
    )
    .unwrap();
    let policy = std::fs::read_to_string(shipped.join("policy.csv")).unwrap();
    let removed = "p, csp_worker, client.date_of_birth, read, -";
    let kept: Vec<&str> = policy
        .lines()
        .filter(|line| line.trim() != removed)
        .collect();
    assert_eq!(
        kept.len() + 1,
        policy.lines().count(),
        "the shipped policy grants {removed:?} exactly once"
    );
    std::fs::write(policies.path().join("policy.csv"), kept.join("\n") + "\n").unwrap();
    let dir = policies.path().to_owned();
    let app = spawn_app_with(move |config| config.policy_dir = Some(dir)).await;
    let demo = Demo::load(&app);
    let client_0 = BTreeSet::from([demo.clients[&0].clone()]);
    let (_, family_0) = demo_client(0);
    let both_filters = format!("/api/v1/clients?family_name={family_0}&date_of_birth=1950-01-01");

    for user in ["csp-north", "csp-north-manager"] {
        let token = app.login(user).await;
        for path in [
            "/api/v1/clients?date_of_birth=1950-01-01",
            both_filters.as_str(),
        ] {
            let response = app.get(path, &token).await;
            assert_eq!(
                response.status,
                StatusCode::FORBIDDEN,
                "{user} {path}: {}",
                response.body
            );
            assert_eq!(response.code(), "filter_not_allowed", "{user} {path}");
        }
        // Filtering on a field they still read works, and the field they lost is masked.
        let response = app
            .get(&format!("/api/v1/clients?family_name={family_0}"), &token)
            .await;
        assert_eq!(response.status, StatusCode::OK, "{user}: {}", response.body);
        let items = page_items(&response.body).unwrap();
        assert_eq!(
            id_set(items).unwrap(),
            client_0,
            "{user} filtering on family_name"
        );
        check_client(&items[0], CLIENT_CSP_WITHOUT_BIRTH, &demo.clients[&0]).unwrap();
        let response = app.get(&Record::Client.path(&demo, 0), &token).await;
        check_client(&response.body, CLIENT_CSP_WITHOUT_BIRTH, &demo.clients[&0]).unwrap();
    }

    // Roles whose grants did not change filter on the date of birth as before.
    let caseworker = app.login("caseworker").await;
    let response = app
        .get("/api/v1/clients?date_of_birth=1950-01-01", &caseworker)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(
        id_set(page_items(&response.body).unwrap()).unwrap(),
        client_0
    );
}

// ---- 5. CSP notes ----------------------------------------------------------------------------

#[actix_web::test]
async fn csp_workers_read_only_shared_notes_of_cases_actively_allocated_to_them() {
    let app = spawn_app().await;
    let demo = Demo::load(&app);
    let mut tally = Tally::default();
    let absent = absent_body(&app, &app.login("caseworker").await).await;
    for (user, csp) in [("csp-north", NORTHSIDE), ("csp-east", EASTERN)] {
        let token = app.login(user).await;
        for index in demo_indices() {
            let allocated = actively_allocated(index, csp);
            let label = format!(
                "{user} on client {index}'s case ({})",
                if allocated {
                    "allocated"
                } else {
                    "not allocated"
                }
            );

            let response = app.get(&Record::CaseNotes.path(&demo, index), &token).await;
            let expect = if allocated {
                Expect::Ok(NOTE_CSP)
            } else {
                Expect::NotFound
            };
            let result = check_status(&response, expect, &absent).and_then(|ok| {
                let Some(keys) = ok else { return Ok(()) };
                let items = page_items(&response.body)?;
                expect_eq(
                    "note ids",
                    ids(items),
                    vec![demo.shared_notes[&index].clone()],
                )?;
                expect_eq(
                    "visibility",
                    items[0]["visibility"].as_str(),
                    Some("shared"),
                )?;
                expect_keys("note", &items[0], keys)
            });
            tally.record(format!("{label}: list notes"), result);

            let response = app
                .get(&Record::SharedNote.path(&demo, index), &token)
                .await;
            let result = check_status(&response, expect, &absent)
                .and_then(|ok| ok.map_or(Ok(()), |keys| expect_keys("note", &response.body, keys)));
            tally.record(format!("{label}: shared note"), result);

            let response = app
                .get(&Record::DepartmentNote.path(&demo, index), &token)
                .await;
            tally.record(
                format!("{label}: department note"),
                check_status(&response, Expect::NotFound, &absent).map(drop),
            );
        }
    }
    tally.finish("CSP notes");
}

// ---- 6. allocations: only active ones reach, and a CSP sees only its own ----------------------

#[actix_web::test]
async fn a_csp_sees_only_its_own_allocations_and_only_active_ones_give_access() {
    let app = spawn_app().await;
    let demo = Demo::load(&app);
    let teamleader = app.login("teamleader").await;
    let north = app.login("csp-north").await;
    let east = app.login("csp-east").await;
    let absent = absent_body(&app, &teamleader).await;
    let today = chrono::Utc::now().date_naive();
    // Client 3's case (Northside's) is given to Eastern too from today; client 6's (Northside's)
    // from tomorrow.
    let (shared, not_yet) = (3, 6);
    for (index, starts_on) in [
        (shared, today),
        (not_yet, today + chrono::Duration::days(1)),
    ] {
        let body = serde_json::json!({
            "organisation_id": demo.organisations[EASTERN],
            "worker_id": app.demo_worker_of(EASTERN),
            "starts_on": starts_on,
            "service_description": "Outreach visits",
        });
        let response = app
            .post(
                &format!("/api/v1/cases/{}/allocations", demo.cases[&index]),
                &teamleader,
                body,
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::CREATED,
            "allocating client {index}'s case: {}",
            response.body
        );
    }
    let allocated_to = |case: &Value| -> Vec<&'static str> {
        let mut names: Vec<&'static str> = case["allocations"]
            .as_array()
            .expect("allocations")
            .iter()
            .map(|allocation| {
                expect_keys("allocation", allocation, ALLOCATION).unwrap();
                demo.organisation_name(allocation["organisation_id"].as_str().unwrap_or_default())
            })
            .collect();
        names.sort();
        names
    };

    let response = app
        .get(&Record::Case.path(&demo, shared), &teamleader)
        .await;
    assert_eq!(
        allocated_to(&response.body),
        [EASTERN, NORTHSIDE],
        "the department sees every allocation"
    );

    for (token, csp) in [(&north, NORTHSIDE), (&east, EASTERN)] {
        let response = app.get(&Record::Case.path(&demo, shared), token).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{csp} reads the shared case: {}",
            response.body
        );
        expect_keys("case", &response.body, CASE_CSP).unwrap();
        assert_eq!(
            allocated_to(&response.body),
            [csp],
            "{csp} sees only its own allocation"
        );
        let listed = walk(&app, "/api/v1/cases", token, &[], 3).await;
        let item = listed
            .iter()
            .find(|case| case["id"] == demo.cases[&shared].as_str())
            .expect("the shared case is listed");
        assert_eq!(
            allocated_to(item),
            [csp],
            "{csp} sees only its own allocation in the list"
        );
        for record in [Record::Client, Record::SharedNote] {
            let response = app.get(&record.path(&demo, shared), token).await;
            assert_eq!(
                response.status,
                StatusCode::OK,
                "{csp} {record:?} of the shared case"
            );
        }
        let response = app
            .get(&Record::DepartmentNote.path(&demo, shared), token)
            .await;
        assert_eq!(
            (response.status, &response.body),
            (StatusCode::NOT_FOUND, &absent),
            "{csp} department note"
        );
    }

    // An allocation that starts tomorrow reaches nothing today.
    for record in RECORDS {
        let response = app.get(&record.path(&demo, not_yet), &east).await;
        assert_eq!(
            (response.status, &response.body),
            (StatusCode::NOT_FOUND, &absent),
            "csp-east {record:?} of client {not_yet}"
        );
    }
    let listed = id_set(&walk(&app, "/api/v1/clients", &east, &[], 3).await).unwrap();
    let expected = demo.client_ids(|index| eastern_active(index) || index == shared);
    expect_ids(&demo, "csp-east's clients", &listed, &expected).unwrap();
    let response = app.get(&Record::Case.path(&demo, not_yet), &north).await;
    assert_eq!(
        allocated_to(&response.body),
        [NORTHSIDE],
        "Northside does not see Eastern's future allocation"
    );
}

/// Every demo account against the breach register's additions: only a privacy officer adds
/// an affected individual by hand or records a decision not to notify; everyone else is
/// refused (403) and nothing is stored.
#[actix_web::test]
async fn the_breach_register_additions_follow_the_policy_for_every_role() {
    use casebridge::db::schema::{breach_decisions_not_to_notify, breach_manual_individuals};
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let breach = crate::breaches::record(&app, &privacy, crate::breaches::new_breach(&[])).await;
    let snapshot = app
        .act(
            &format!("/api/v1/breaches/{breach}/affected-snapshots"),
            &privacy,
        )
        .await;
    assert_eq!(snapshot.status, StatusCode::CREATED);
    let stored = || -> (i64, i64) {
        app.with_db(|conn| {
            (
                breach_manual_individuals::table
                    .count()
                    .get_result(conn)
                    .unwrap(),
                breach_decisions_not_to_notify::table
                    .count()
                    .get_result(conn)
                    .unwrap(),
            )
        })
    };
    const NO: StatusCode = StatusCode::FORBIDDEN;
    #[rustfmt::skip]
    let table: &[(&str, StatusCode, StatusCode)] = &[
        // user               add by hand          decide not to notify
        ("admin",             NO,                  NO),
        ("caseworker",        NO,                  NO),
        ("teamleader",        NO,                  NO),
        ("searcher",          NO,                  NO),
        ("csp-north",         NO,                  NO),
        ("csp-north-manager", NO,                  NO),
        ("csp-east",          NO,                  NO),
        ("auditor",           NO,                  NO),
        ("records",           NO,                  NO),
        ("privacy",           StatusCode::CREATED, StatusCode::OK),
    ];
    for (user, add, decide) in table {
        let token = app.login(user).await;
        let before = stored();
        let added = app
            .post(
                &format!("/api/v1/breaches/{breach}/affected-individuals"),
                &token,
                serde_json::json!({
                    "client_id": app.client_id(0),
                    "source": "csp_system",
                    "reason": "Seen in the CSP's own case system.",
                    "information_kinds": ["contact"],
                }),
            )
            .await;
        assert_eq!(added.status, *add, "{user} add: {}", added.body);
        let decided = app
            .post(
                &format!("/api/v1/breaches/{breach}/decisions-not-to-notify"),
                &token,
                serde_json::json!({"recipient": "police", "ground": "other", "explanation": "No crime."}),
            )
            .await;
        assert_eq!(decided.status, *decide, "{user} decide: {}", decided.body);
        let after = stored();
        if *add == NO {
            assert_eq!(after, before, "{user}: a refused request stores nothing");
        } else {
            assert_eq!(after, (before.0 + 1, before.1 + 1), "{user}");
        }
    }
}

/// Every demo account against the policy documents: everyone reads the documents in force
/// and accepts them; only the department (dept_admin, privacy_officer) publishes, and only
/// dept_admin and the auditor read who has not accepted. A refused publication stores nothing.
#[actix_web::test]
async fn policy_documents_follow_the_policy_for_every_role() {
    use casebridge::db::schema::policy_documents;
    let app = spawn_app().await;
    let document = |kind: &str, version: &str, roles: &[&str]| {
        serde_json::json!({
            "kind": kind, "version": version, "title": "Acceptable use",
            "text": "Use client information only for the service you deliver.",
            "applies_to_roles": roles,
        })
    };
    let every_role: Vec<&str> = casebridge::authz::catalogue::ROLES
        .iter()
        .map(|role| role.name)
        .collect();
    let published = app
        .post(
            "/api/v1/policy-documents",
            &app.login("admin").await,
            document("acceptable_use", "1", &every_role),
        )
        .await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
    let stored =
        || -> i64 { app.with_db(|conn| policy_documents::table.count().get_result(conn).unwrap()) };
    const NO: StatusCode = StatusCode::FORBIDDEN;
    const OK: StatusCode = StatusCode::OK;
    #[rustfmt::skip]
    let table: &[(&str, StatusCode, StatusCode)] = &[
        // user               publish              who has not accepted
        ("admin",             StatusCode::CREATED, OK),
        ("caseworker",        NO,                  NO),
        ("teamleader",        NO,                  NO),
        ("searcher",          NO,                  NO),
        ("csp-north",         NO,                  NO),
        ("csp-north-manager", NO,                  NO),
        ("csp-east",          NO,                  NO),
        ("auditor",           NO,                  OK),
        ("records",           NO,                  NO),
        ("privacy",           StatusCode::CREATED, NO),
    ];
    for (index, (user, publish, report)) in table.iter().enumerate() {
        let token = app.login(user).await;
        let current = app.get("/api/v1/policy-documents/current", &token).await;
        assert_eq!(current.status, OK, "{user} current: {}", current.body);
        let me = app.get("/api/v1/me", &token).await;
        for owed in me.body["terms_to_accept"].as_array().unwrap() {
            let id = owed["id"].as_str().unwrap();
            let accepted = app
                .act(&format!("/api/v1/policy-documents/{id}/acceptance"), &token)
                .await;
            assert_eq!(
                accepted.status,
                StatusCode::CREATED,
                "{user} accept: {}",
                accepted.body
            );
        }
        let before = stored();
        // A document for a role nobody probing after it holds, so that no one is held by it.
        let published = app
            .post(
                "/api/v1/policy-documents",
                &token,
                document(
                    "privacy_and_security_policy",
                    &index.to_string(),
                    &["records_manager"],
                ),
            )
            .await;
        assert_eq!(
            published.status, *publish,
            "{user} publish: {}",
            published.body
        );
        let expected = before + i64::from(*publish == StatusCode::CREATED);
        assert_eq!(
            stored(),
            expected,
            "{user}: a refused publication stores nothing"
        );
        let listed = app.get("/api/v1/reports/terms-not-accepted", &token).await;
        assert_eq!(listed.status, *report, "{user} report: {}", listed.body);
    }
}

#[actix_web::test]
async fn attestations_and_wrap_ups_follow_the_policy_for_every_role() {
    use casebridge::db::schema::{attestations, wrap_ups};
    let app = spawn_app().await;
    let northside = app.organisation_id(NORTHSIDE);
    let eastern = app.organisation_id(EASTERN);
    let admin = app.login("admin").await;
    let opened = app
        .act(
            &format!("/api/v1/organisations/{northside}/wrap-up"),
            &admin,
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let stored = || -> (i64, i64) {
        app.with_db(|conn| {
            (
                attestations::table.count().get_result(conn).unwrap(),
                wrap_ups::table.count().get_result(conn).unwrap(),
            )
        })
    };
    let today = app.clock.today();
    const OK: u16 = 200;
    const NO: u16 = 403;
    #[rustfmt::skip]
    let table: &[(&str, [u16; 6], u16, u16)] = &[
        // user             attestations, checklist, overdue, wrap-up, annex, outstanding   attest  open
        ("admin",             [OK, OK, OK, OK, OK, OK],                                    NO,     201),
        ("caseworker",        [NO, NO, NO, NO, NO, NO],                                    NO,     NO),
        ("teamleader",        [NO, NO, NO, NO, NO, NO],                                    NO,     NO),
        ("searcher",          [NO, NO, NO, NO, NO, NO],                                    NO,     NO),
        ("csp-north",         [NO, NO, NO, NO, NO, NO],                                    NO,     NO),
        ("csp-north-manager", [OK, OK, NO, OK, OK, NO],                                    422,    NO),
        ("csp-east",          [NO, NO, NO, NO, NO, NO],                                    NO,     NO),
        ("auditor",           [OK, OK, OK, OK, OK, OK],                                    NO,     NO),
        ("privacy",           [NO, NO, NO, NO, NO, NO],                                    NO,     NO),
        ("records",           [NO, NO, NO, NO, NO, NO],                                    NO,     NO),
    ];
    let reads = [
        format!("/api/v1/organisations/{northside}/attestations"),
        "/api/v1/attestation-checklist".to_owned(),
        "/api/v1/reports/attestations-overdue".to_owned(),
        format!("/api/v1/organisations/{northside}/wrap-up"),
        format!("/api/v1/organisations/{northside}/wrap-up/annex"),
        "/api/v1/reports/wrap-ups-outstanding".to_owned(),
    ];
    for (user, expected, attest, open) in table {
        let token = app.login(user).await;
        for (path, status) in reads.iter().zip(expected) {
            let response = app.get(path, &token).await;
            assert_eq!(
                response.status.as_u16(),
                *status,
                "{user} GET {path}: {}",
                response.body
            );
        }
        let before = stored();
        let attested = app
            .post(
                &format!("/api/v1/organisations/{northside}/attestations"),
                &token,
                serde_json::json!({
                    "period_start": today - chrono::Duration::days(364),
                    "period_end": today,
                    "statement": "All obligations met.",
                    "answers": {},
                    "signed_by_name": "N. North",
                    "signed_by_position": "CEO",
                }),
            )
            .await;
        // The manager is told what its answers lack; everyone else is refused first.
        let attest = if *attest == 201 { 422 } else { *attest };
        assert_eq!(
            attested.status.as_u16(),
            attest,
            "{user} attest: {}",
            attested.body
        );
        let opened = app
            .act(&format!("/api/v1/organisations/{eastern}/wrap-up"), &token)
            .await;
        assert_eq!(
            opened.status.as_u16(),
            *open,
            "{user} open: {}",
            opened.body
        );
        let after = stored();
        assert_eq!(after.0, before.0, "{user}: no attestation stored");
        assert_eq!(after.1, before.1 + u16::from(*open == 201) as i64, "{user}");
    }
}

/// The register of CSPs: dept_admin and auditor read every field of every CSP; every other
/// role is refused, with or without a filter.
#[actix_web::test]
async fn the_csp_register_follows_the_policy_for_every_role() {
    const REGISTER: Keys = &[
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
    ];
    let app = spawn_app().await;
    #[rustfmt::skip]
    let table: &[(&str, u16)] = &[
        ("admin", 200), ("caseworker", 403), ("teamleader", 403), ("searcher", 403),
        ("csp-north", 403), ("csp-north-manager", 403), ("csp-east", 403), ("auditor", 200),
        ("privacy", 403), ("records", 403),
    ];
    for (user, status) in table {
        let token = app.login(user).await;
        for path in [
            "/api/v1/reports/csp-register",
            "/api/v1/reports/csp-register?in_good_standing=true",
        ] {
            let response = app.get(path, &token).await;
            assert_eq!(
                response.status.as_u16(),
                *status,
                "{user} GET {path}: {}",
                response.body
            );
            if *status != 200 {
                continue;
            }
            let items = page_items(&response.body).unwrap();
            let names: BTreeSet<&str> = items
                .iter()
                .map(|item| item["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, BTreeSet::from([NORTHSIDE, EASTERN]), "{user}");
            for item in items {
                assert_eq!(
                    keys(item),
                    set(REGISTER).into_iter().collect::<Vec<_>>(),
                    "{user}"
                );
            }
        }
    }
}

/// Every demo account against the incident reports: each reports and reads its own report,
/// with the fields the policy gives it; only a privacy officer reads another's report (others:
/// 404, as if it did not exist) and moves a report on (others, its reporter included: 403,
/// and nothing changes).
#[actix_web::test]
async fn incident_reports_follow_the_policy_for_every_role() {
    use crate::incident_reports::{DEMO_USERS, REPORT_ALL, REPORT_OWN, misuse, reported};
    let app = spawn_app().await;
    let reporter = app.login("csp-east").await;
    let theirs = reported(&app, &reporter, misuse()).await;
    let path = format!("/api/v1/incident-reports/{theirs}");
    for user in DEMO_USERS {
        let token = app.login(user).await;
        let privacy = *user == "privacy";
        let own = reported(&app, &token, misuse()).await;
        let read = app
            .get(&format!("/api/v1/incident-reports/{own}"), &token)
            .await;
        let expected = if privacy { REPORT_ALL } else { REPORT_OWN };
        assert_eq!(
            keys(&read.body),
            set(expected).into_iter().collect::<Vec<_>>(),
            "{user}"
        );
        let listed = app.get("/api/v1/incident-reports", &token).await;
        assert_eq!(listed.status, StatusCode::OK, "{user}");
        let listed: BTreeSet<String> = ids(page_items(&listed.body).unwrap()).into_iter().collect();
        assert!(listed.contains(&own), "{user}");
        // csp-east reported it: to it, the report is its own.
        let reaches = privacy || *user == "csp-east";
        assert_eq!(
            listed.contains(&theirs),
            reaches,
            "{user} lists csp-east's report"
        );
        let another = app.get(&path, &token).await;
        let expected = if reaches {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(another.status, expected, "{user} reads csp-east's report");
        let etag = app.get(&path, &reporter).await.etag();
        let moved = app
            .patch(
                &path,
                &token,
                serde_json::json!({"status": "assessing"}),
                Some(&etag),
            )
            .await;
        if privacy {
            assert_eq!(moved.status, StatusCode::OK, "{user}: {}", moved.body);
        } else {
            assert_eq!(
                moved.status,
                StatusCode::FORBIDDEN,
                "{user}: {}",
                moved.body
            );
            assert_eq!(
                app.get(&path, &reporter).await.etag(),
                etag,
                "{user}: nothing changed"
            );
        }
    }
}

#[actix_web::test]
async fn assigning_an_allocation_follows_the_policy_for_every_role() {
    use crate::incident_reports::DEMO_USERS;
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let case = app.case_id(0);
    let record = app.get(&format!("/api/v1/cases/{case}"), &manager).await;
    let allocation = record.body["allocations"][0]["id"].as_str().unwrap();
    let path = format!("/api/v1/cases/{case}/allocations/{allocation}");
    let worker = app.user_id("csp-north");
    for user in DEMO_USERS {
        let token = app.login(user).await;
        let etag = app.get(&path, &manager).await.etag();
        let assigned = app
            .request(
                reqwest::Method::POST,
                &format!("{path}/assign"),
                Some(&token),
                Some(serde_json::json!({ "worker_id": worker })),
                &[("If-Match", &etag)],
            )
            .await;
        let expected = if *user == "csp-north-manager" {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(assigned.status, expected, "{user}: {}", assigned.body);
    }
}
