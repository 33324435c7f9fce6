//! The synthetic department's audit trail: `--audit-rows` rows over the twelve months before
//! now, in time order, sealed onto one hash chain and stored by `audit::append_all`, the
//! writer's own path for read rows (so `casebridge audit verify` passes). Busy users do most
//! of the work (a Zipf-like draw over the staff), and each role does what it is for: mostly
//! reads of clients, cases and notes, some searches and writes, logins and a few refusals.
use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{Duration, NaiveDateTime, SubsecRound};
use diesel::Connection;
use rand::distributions::{Distribution, WeightedIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Directory, Options, Staff, pick};
use crate::audit::chain::{AuditEvent, ChainHead};
use crate::audit::{PendingRow, append_all};
use crate::db::DbConnection;

/// Rows per transaction (each `append_all` call stores them in a few statements).
const ROWS_PER_TRANSACTION: usize = 50_000;

const CLIENT_FIELDS: &str = r#"["id","given_name","family_name","preferred_name","date_of_birth","gender","phone","email","address","interpreter_language","safety_alerts","lead_division_id"]"#;
const CASE_FIELDS: &str = r#"["id","client_id","division_id","service_type","status","opened_at","closed_at","risk_level"]"#;
const NOTE_FIELDS: &str =
    r#"["id","case_id","author_id","created_at","note_type","visibility","body"]"#;
const PROFILE_FIELDS: &str =
    r#"["id","given_name","family_name","date_of_birth","lead_division_id"]"#;

/// What one row records.
struct Action {
    method: &'static str,
    route: &'static str,
    path: String,
    status: i32,
    reason: Option<&'static str>,
    resource_type: Option<&'static str>,
    resource_id: Option<String>,
    clients: BTreeSet<String>,
    fields: &'static str,
    purpose: Option<&'static str>,
    attempted_username: Option<String>,
}

impl Action {
    fn new(method: &'static str, route: &'static str, path: String) -> Self {
        Self {
            method,
            route,
            path,
            status: 200,
            reason: None,
            resource_type: None,
            resource_id: None,
            clients: BTreeSet::new(),
            fields: "[]",
            purpose: None,
            attempted_username: None,
        }
    }
}

struct Trail<'a> {
    rng: ChaCha8Rng,
    directory: &'a Directory,
}

impl Trail<'_> {
    /// A client `staff` may reach: of their division, or allocated to their provider. None
    /// for a provider without clients.
    fn client_of(&mut self, staff: &Staff) -> Option<u32> {
        let pool = if staff.organisation < 2 {
            &self.directory.division_clients[staff.organisation]
        } else {
            &self.directory.allocated[staff.organisation]
        };
        (!pool.is_empty()).then(|| *pick(&mut self.rng, pool))
    }

    fn client_id(&self, client: u32) -> String {
        self.directory.clients[client as usize].to_string()
    }

    fn case_of(&mut self, client: u32) -> String {
        let (first, count) = self.directory.client_cases[client as usize];
        let case = first + self.rng.gen_range(0..u32::from(count));
        self.directory.cases[case as usize].to_string()
    }

    /// A read of a client, a case or its notes, or a write of a note or a client.
    fn case_work(&mut self, staff: &Staff) -> Action {
        let Some(client) = self.client_of(staff) else {
            return self.login(staff);
        };
        let client_id = self.client_id(client);
        let draw = self.rng.gen_range(0..100);
        let mut action = match draw {
            0..55 => {
                let mut a = Action::new(
                    "GET",
                    "/api/v1/clients/{id}",
                    format!("/api/v1/clients/{client_id}"),
                );
                a.resource_type = Some("client");
                a.fields = CLIENT_FIELDS;
                a
            }
            55..72 => {
                let case = self.case_of(client);
                let mut a =
                    Action::new("GET", "/api/v1/cases/{id}", format!("/api/v1/cases/{case}"));
                a.resource_type = Some("case");
                a.resource_id = Some(case);
                a.fields = CASE_FIELDS;
                a
            }
            72..88 => {
                let case = self.case_of(client);
                let mut a = Action::new(
                    "GET",
                    "/api/v1/cases/{id}/notes",
                    format!("/api/v1/cases/{case}/notes"),
                );
                a.resource_type = Some("note");
                a.fields = NOTE_FIELDS;
                a
            }
            88..94 => {
                let case = self.case_of(client);
                let mut a = Action::new(
                    "POST",
                    "/api/v1/cases/{id}/notes",
                    format!("/api/v1/cases/{case}/notes"),
                );
                a.status = 201;
                a.resource_type = Some("note");
                a.resource_id = Some(uuid::Uuid::from_u128(self.rng.r#gen()).to_string());
                a.fields = NOTE_FIELDS;
                a
            }
            94..97 => {
                let mut a = Action::new(
                    "PATCH",
                    "/api/v1/clients/{id}",
                    format!("/api/v1/clients/{client_id}"),
                );
                a.resource_type = Some("client");
                a.fields = r#"["phone","address"]"#;
                a
            }
            _ => {
                // A client outside the caller's reach: 404, recorded as denied, naming no one.
                let other = self.rng.gen_range(0..self.directory.clients.len());
                let mut a = Action::new(
                    "GET",
                    "/api/v1/clients/{id}",
                    format!("/api/v1/clients/{}", self.directory.clients[other]),
                );
                a.status = 404;
                a.reason = Some("not_found");
                return a;
            }
        };
        if action.resource_type == Some("client") {
            action.resource_id = Some(client_id.clone());
        }
        action.clients.insert(client_id);
        action
    }

    /// Another division's search for common clients: a few matches, each disclosed.
    fn search(&mut self) -> Action {
        let mut action = Action::new("GET", "/api/v1/profiles", "/api/v1/profiles".to_owned());
        action.resource_type = Some("profile");
        action.fields = PROFILE_FIELDS;
        for _ in 0..self.rng.gen_range(0..4) {
            let client = self.rng.gen_range(0..self.directory.clients.len());
            action
                .clients
                .insert(self.directory.clients[client].to_string());
        }
        action
    }

    fn login(&mut self, staff: &Staff) -> Action {
        let mut action = Action::new(
            "POST",
            "/api/v1/auth/login",
            "/api/v1/auth/login".to_owned(),
        );
        action.attempted_username = Some(staff.username.clone());
        if self.rng.gen_bool(0.04) {
            action.status = 401;
            action.reason = Some("invalid_credentials");
        }
        action
    }

    fn oversight(&mut self, staff: &Staff) -> Action {
        let (route, resource) = match staff.role {
            "auditor" => ("/api/v1/audit/events", "audit_event"),
            "dept_admin" => ("/api/v1/users", "user"),
            "records_manager" => ("/api/v1/retention/schedules", "retention_schedule"),
            _ => ("/api/v1/reports/unusual-activity", "report"),
        };
        let mut action = Action::new("GET", route, route.to_owned());
        action.resource_type = Some(resource);
        action
    }

    fn action(&mut self, staff: &Staff) -> Action {
        if self.rng.gen_bool(0.03) {
            return self.login(staff);
        }
        match staff.role {
            "division_searcher" => self.search(),
            "privacy_officer" => {
                // Any client, always with a purpose of use.
                let client = self.rng.gen_range(0..self.directory.clients.len()) as u32;
                let client_id = self.client_id(client);
                let mut a = Action::new(
                    "GET",
                    "/api/v1/clients/{id}",
                    format!("/api/v1/clients/{client_id}"),
                );
                a.resource_type = Some("client");
                a.resource_id = Some(client_id.clone());
                a.fields = CLIENT_FIELDS;
                a.purpose = Some("access request from the client");
                a.clients.insert(client_id);
                a
            }
            "auditor" | "dept_admin" | "records_manager" => self.oversight(staff),
            _ if self.rng.gen_bool(0.05) => self.search(),
            _ => self.case_work(staff),
        }
    }
}

/// Appends `options.audit_rows` rows ending at `now`; answers how many.
pub(super) fn generate(
    conn: &mut DbConnection,
    directory: &Directory,
    options: &Options,
    now: NaiveDateTime,
    started: Instant,
) -> anyhow::Result<usize> {
    anyhow::ensure!(
        !directory.staff.is_empty() && !directory.clients.is_empty(),
        "an audit trail needs at least one active user and one client"
    );
    // Its own stream: the clients do not change with the number of audit rows.
    let mut trail = Trail {
        rng: ChaCha8Rng::seed_from_u64(options.seed ^ 0xa0d1_7000),
        directory,
    };
    let busy = WeightedIndex::new(
        (0..directory.staff.len()).map(|rank| 1.0 / (rank as f64 + 1.0).powf(0.6)),
    )
    .expect("weights");
    let start = now - Duration::days(365);
    let step = Duration::days(365).num_microseconds().expect("a year") / options.audit_rows as i64;
    let mut head = ChainHead::start();
    let mut written = 0;
    while written < options.audit_rows {
        let count = ROWS_PER_TRANSACTION.min(options.audit_rows - written);
        let mut rows = Vec::with_capacity(count);
        for i in written..written + count {
            // In time order, as the service appends them; microseconds, which both
            // databases keep, so the hashes survive the round trip.
            let occurred_at = (start
                + Duration::microseconds(step * i as i64 + trail.rng.gen_range(0..step.max(1))))
            .trunc_subsecs(6);
            let staff = &directory.staff[busy.sample(&mut trail.rng)];
            let action = trail.action(staff);
            rows.push(row(&mut trail.rng, occurred_at, staff, directory, action));
        }
        conn.transaction(|conn| append_all(conn, &mut head, rows))?;
        written += count;
        eprintln!(
            "seed-synthetic: {written}/{} audit rows in {:.1} s",
            options.audit_rows,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(written)
}

fn row(
    rng: &mut ChaCha8Rng,
    occurred_at: NaiveDateTime,
    staff: &Staff,
    directory: &Directory,
    action: Action,
) -> PendingRow {
    let random: [u8; 10] = rng.r#gen();
    let millis = occurred_at.and_utc().timestamp_millis() as u64;
    let status = action.status;
    let event = AuditEvent {
        id: uuid::Builder::from_unix_timestamp_millis(millis, &random)
            .into_uuid()
            .to_string(),
        chain_id: String::new(),
        sequence: 0,
        occurred_at,
        request_id: uuid::Uuid::from_u128(rng.r#gen()).to_string(),
        actor_user_id: Some(staff.id.clone()),
        actor_organisation_id: Some(directory.organisations[staff.organisation].clone()),
        actor_roles: serde_json::json!([staff.role]).to_string(),
        actor_kind: "user".to_owned(),
        method: action.method.to_owned(),
        route: action.route.to_owned(),
        path: action.path,
        status,
        outcome: if status < 400 { "allowed" } else { "denied" }.to_owned(),
        reason: action.reason.map(str::to_owned),
        resource_type: action.resource_type.map(str::to_owned),
        resource_id: action.resource_id,
        client_ids: serde_json::json!(action.clients).to_string(),
        fields: if action.clients.is_empty() && status >= 400 {
            "[]".to_owned()
        } else {
            action.fields.to_owned()
        },
        purpose_of_use: action.purpose.map(str::to_owned),
        attempted_username: action.attempted_username,
        ip: Some(format!(
            "10.{}.{}.{}",
            staff.organisation,
            rng.gen_range(0..256),
            rng.gen_range(1..255)
        )),
        user_agent: Some(
            if staff.organisation < 2 {
                "Mozilla/5.0 (Windows NT 10.0) department-portal"
            } else {
                "Mozilla/5.0 (Macintosh) csp-portal"
            }
            .to_owned(),
        ),
        duration_ms: rng.gen_range(2..80),
        attempted_client_id: None,
        also_refused: None,
        trace_id: None,
        caller_request_id: None,
        changed_fields: None,
        previous_hash: String::new(),
        hash: String::new(),
    };
    PendingRow::new(event, action.clients)
}
