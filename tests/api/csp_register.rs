//! The register of CSPs with access (issue 20, part 7): each CSP's contract and standing, its
//! principals by status and how its active people stand on training and terms, its last
//! attestation, access review, access audit run and wrap-up; who may read it; its filters and
//! pages.
use casebridge::db::schema::users;
use casebridge::demo::{EASTERN, NORTHSIDE};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::attestation_wrapup::submit;
use crate::helpers::{Response, TestApp, register_client, spawn_app};

const REGISTER: &str = "/api/v1/reports/csp-register";

// ---- fixtures -------------------------------------------------------------------------------

/// Runs the access audit of `organisation` for the last day as `token`'s holder: the answer.
pub(crate) async fn run_csp_access(app: &TestApp, token: &str, organisation: &str) -> Response {
    let to = app.clock.now().and_utc();
    let from = to - chrono::Duration::days(1);
    let path = format!(
        "/api/v1/reports/csp-access?organisation_id={}&from={}&to={}",
        app.organisation_id(organisation),
        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    app.get(&path, token).await
}

/// The register's first page of entries, as `token`'s holder sees it with `query`.
async fn entries(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let response = app.get(&format!("{REGISTER}{query}"), token).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["items"].as_array().unwrap().clone()
}

fn names(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|entry| entry["name"].as_str().unwrap())
        .collect()
}

/// `organisation`'s entry.
fn entry_of<'a>(entries: &'a [Value], organisation: &str) -> &'a Value {
    entries
        .iter()
        .find(|entry| entry["name"] == organisation)
        .unwrap_or_else(|| panic!("{organisation} not in {entries:?}"))
}

/// Records `username`'s training as completed `days` ago.
fn trained_days_ago(app: &TestApp, username: &str, days: i64) {
    let completed_on = app.clock.today() - chrono::Duration::days(days);
    app.with_db(|conn| {
        diesel::update(users::table.filter(users::username.eq(username)))
            .set(users::training_completed_on.eq(completed_on))
            .execute(conn)
            .unwrap()
    });
}

fn assert_invalid(response: &Response, field: &str) {
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.body
    );
    let fields: Vec<&str> = response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, [field], "{}", response.body);
}

/// Suspends `organisation` as `admin`.
async fn suspend(app: &TestApp, admin: &str, organisation: &str) {
    let path = format!(
        "/api/v1/organisations/{}",
        app.organisation_id(organisation)
    );
    let suspended = app
        .patch_current(&path, admin, json!({"status": "suspended"}))
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
}

// ---- the figures ----------------------------------------------------------------------------

#[actix_web::test]
async fn a_dept_admin_sees_each_csp_with_its_principals_attestation_review_audit_and_wrap_up() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let northside = app.organisation_id(NORTHSIDE);
    // Northside: a pending person, an API client, an attestation, an access review, a run of
    // its access audit and an open wrap-up.
    let pending = app.new_csp_user(&admin, "csp-north-new", NORTHSIDE).await;
    assert_eq!(pending.status, StatusCode::CREATED, "{}", pending.body);
    register_client(&app, &admin).await;
    let manager = app.login("csp-north-manager").await;
    let attested = submit(&app, &manager).await;
    assert_eq!(attested.status, StatusCode::CREATED, "{}", attested.body);
    let due_on = app.clock.today() + chrono::Duration::days(14);
    let review = app
        .post(
            "/api/v1/access-reviews",
            &admin,
            json!({"organisation_id": northside, "due_on": due_on}),
        )
        .await;
    assert_eq!(review.status, StatusCode::CREATED, "{}", review.body);
    let auditor = app.login("auditor").await;
    let run = run_csp_access(&app, &auditor, NORTHSIDE).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    let run_at = app.audit_row_of(&run).occurred_at.and_utc();
    let wrap_up = app
        .act(
            &format!("/api/v1/organisations/{northside}/wrap-up"),
            &admin,
        )
        .await;
    assert_eq!(wrap_up.status, StatusCode::CREATED, "{}", wrap_up.body);
    // A document CSP workers must accept: csp-north and csp-east owe it.
    let published = app
        .post(
            "/api/v1/policy-documents",
            &admin,
            json!({
                "kind": "acceptable_use", "version": "1", "title": "Acceptable use",
                "text": "Use client information only for the service you deliver.",
                "applies_to_roles": ["csp_worker"],
            }),
        )
        .await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
    // csp-north's training is overdue, csp-north-manager's due in 15 days.
    trained_days_ago(&app, "csp-north", 400);
    trained_days_ago(&app, "csp-north-manager", 350);

    let listed = entries(&app, &admin, "").await;
    assert_eq!(names(&listed).len(), 2, "only CSPs: {listed:?}");
    let north = entry_of(&listed, NORTHSIDE);
    assert_eq!(north["id"], northside);
    assert_eq!(north["status"], "active");
    assert_eq!(north["in_good_standing"], true);
    assert_eq!(
        north["users"],
        json!({"pending": 1, "active": 2, "suspended": 0, "deactivated": 0})
    );
    assert_eq!(
        north["api_clients"],
        json!({"pending": 0, "active": 1, "suspended": 0, "deactivated": 0})
    );
    assert_eq!(north["training_overdue"], 1);
    assert_eq!(north["training_due_soon"], 1);
    assert_eq!(north["terms_not_accepted"], 1);
    let attestation = &north["last_attestation"];
    assert_eq!(attestation["id"], attested.body["id"]);
    assert_eq!(attestation["period_end"], json!(app.clock.today()));
    assert_eq!(attestation["status"], "submitted");
    assert_eq!(attestation["acknowledged_at"], Value::Null);
    assert_eq!(north["attestation_overdue"], false);
    let last_review = &north["last_access_review"];
    assert_eq!(last_review["id"], review.body["id"]);
    assert_eq!(last_review["status"], "open");
    assert_eq!(last_review["due_on"], json!(due_on));
    assert_eq!(last_review["closed_at"], Value::Null);
    let reported_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(north["last_csp_access_report_at"].clone()).unwrap();
    assert_eq!(reported_at, run_at);
    let wrapped = &north["wrap_up"];
    assert_eq!(wrapped["id"], wrap_up.body["id"]);
    assert_eq!(wrapped["status"], "open");
    assert_eq!(wrapped["certificates"], 0);
    assert_eq!(wrapped["closed_at"], Value::Null);

    let east = entry_of(&listed, EASTERN);
    assert_eq!(
        east["users"],
        json!({"pending": 0, "active": 1, "suspended": 0, "deactivated": 0})
    );
    assert_eq!(east["training_overdue"], 0);
    assert_eq!(east["training_due_soon"], 0);
    assert_eq!(east["terms_not_accepted"], 1);
    for nothing in [
        "last_attestation",
        "last_access_review",
        "last_csp_access_report_at",
        "wrap_up",
    ] {
        assert_eq!(east[nothing], Value::Null, "{nothing}");
    }
}

#[actix_web::test]
async fn a_csp_that_never_attested_is_overdue_as_the_overdue_report_says() {
    let app = spawn_app().await;
    // The demo contracts started a year ago: the first attestation is due in 30 days.
    app.clock.advance(chrono::Duration::days(31));
    let manager = app.login("csp-north-manager").await;
    let attested = submit(&app, &manager).await;
    assert_eq!(attested.status, StatusCode::CREATED, "{}", attested.body);
    let admin = app.login("admin").await;
    let listed = entries(&app, &admin, "").await;
    assert_eq!(entry_of(&listed, NORTHSIDE)["attestation_overdue"], false);
    assert_eq!(entry_of(&listed, EASTERN)["attestation_overdue"], true);
    let overdue = app
        .get("/api/v1/reports/attestations-overdue", &admin)
        .await;
    assert_eq!(names(overdue.body["items"].as_array().unwrap()), [EASTERN]);
}

#[actix_web::test]
async fn a_csp_access_run_names_its_organisation_in_the_audit_row() {
    let app = spawn_app().await;
    let auditor = app.login("auditor").await;
    let run = run_csp_access(&app, &auditor, NORTHSIDE).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    let row = app.audit_row_of(&run);
    assert_eq!(row.resource_type.as_deref(), Some("csp_access"));
    assert_eq!(row.resource_id, Some(app.organisation_id(NORTHSIDE)));
}

#[actix_web::test]
async fn only_allowed_runs_of_the_csp_access_audit_count_as_the_last_report() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    // A refused run (a CSP's manager) and one with a bad period: neither is an audit.
    let manager = app.login("csp-north-manager").await;
    let refused = run_csp_access(&app, &manager, NORTHSIDE).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let auditor = app.login("auditor").await;
    let path = format!(
        "/api/v1/reports/csp-access?organisation_id={}&from=2026-01-01T00:00:00Z&to=2025-01-01T00:00:00Z",
        app.organisation_id(NORTHSIDE)
    );
    let invalid = app.get(&path, &auditor).await;
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        invalid.body
    );
    let listed = entries(&app, &admin, "").await;
    assert_eq!(
        entry_of(&listed, NORTHSIDE)["last_csp_access_report_at"],
        Value::Null
    );
    // An allowed run of Eastern's audit is Eastern's, not Northside's.
    let run = run_csp_access(&app, &auditor, EASTERN).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    let listed = entries(&app, &admin, "").await;
    assert_eq!(
        entry_of(&listed, NORTHSIDE)["last_csp_access_report_at"],
        Value::Null
    );
    assert_ne!(
        entry_of(&listed, EASTERN)["last_csp_access_report_at"],
        Value::Null
    );
}

// ---- who may read it ------------------------------------------------------------------------

#[actix_web::test]
async fn an_auditor_reads_the_register() {
    let app = spawn_app().await;
    let auditor = app.login("auditor").await;
    let listed = entries(&app, &auditor, "").await;
    let mut expected = vec![NORTHSIDE, EASTERN];
    let mut seen = names(&listed);
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
}

#[actix_web::test]
async fn csp_staff_and_caseworkers_are_refused_the_register() {
    let app = spawn_app().await;
    for user in ["csp-north-manager", "csp-north", "caseworker"] {
        let token = app.login(user).await;
        let refused = app.get(REGISTER, &token).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{user}");
        assert_eq!(refused.code(), "forbidden", "{user}");
        // A bad filter is refused first, not judged.
        let refused = app.get(&format!("{REGISTER}?status=closed"), &token).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{user}");
    }
}

#[actix_web::test]
async fn the_register_is_audited_as_a_read_of_csp_register() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let response = app.get(REGISTER, &admin).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let row = app.audit_row_of(&response);
    assert_eq!(row.outcome, "allowed");
    assert_eq!(row.resource_type.as_deref(), Some("csp_register"));
    assert!(
        row.fields.contains("last_csp_access_report_at"),
        "{}",
        row.fields
    );
}

// ---- filters and pages ----------------------------------------------------------------------

#[actix_web::test]
async fn bad_filter_values_are_422_naming_the_parameter() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    for (query, field) in [
        ("?status=closed", "status"),
        ("?in_good_standing=maybe", "in_good_standing"),
        ("?limit=0", "limit"),
        ("?kind=csp", "kind"),
    ] {
        assert_invalid(&app.get(&format!("{REGISTER}{query}"), &admin).await, field);
    }
}

#[actix_web::test]
async fn filters_select_csps_by_status_and_good_standing() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    suspend(&app, &admin, EASTERN).await;
    let suspended = entries(&app, &admin, "?status=suspended").await;
    assert_eq!(names(&suspended), [EASTERN]);
    assert_eq!(suspended[0]["in_good_standing"], false);
    assert_eq!(
        names(&entries(&app, &admin, "?status=active").await),
        [NORTHSIDE]
    );
    assert_eq!(
        names(&entries(&app, &admin, "?in_good_standing=true").await),
        [NORTHSIDE]
    );
    assert_eq!(
        names(&entries(&app, &admin, "?in_good_standing=false").await),
        [EASTERN]
    );
    assert!(
        entries(&app, &admin, "?status=suspended&in_good_standing=true")
            .await
            .is_empty()
    );
}

#[actix_web::test]
async fn an_ended_contract_is_out_of_good_standing_while_the_csp_stays_active() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let path = format!("/api/v1/organisations/{}", app.organisation_id(NORTHSIDE));
    let ended = app
        .patch_current(
            &path,
            &admin,
            json!({"contract_ends_on": app.clock.today() - chrono::Duration::days(1)}),
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    let out = entries(&app, &admin, "?status=active&in_good_standing=false").await;
    assert_eq!(names(&out), [NORTHSIDE]);
    assert_eq!(out[0]["in_good_standing"], false);
}

#[actix_web::test]
async fn pages_follow_the_cursor_in_csp_id_order() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let first = app.get(&format!("{REGISTER}?limit=1"), &admin).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let first_items = first.body["items"].as_array().unwrap();
    assert_eq!(first_items.len(), 1);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    assert_eq!(cursor, first_items[0]["id"]);
    let second = app
        .get(&format!("{REGISTER}?limit=1&cursor={cursor}"), &admin)
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let second_items = second.body["items"].as_array().unwrap();
    assert_eq!(second_items.len(), 1);
    assert_eq!(second.body["next_cursor"], Value::Null);
    assert!(second_items[0]["id"].as_str() > first_items[0]["id"].as_str());
    let mut seen = vec![
        first_items[0]["name"].as_str().unwrap(),
        second_items[0]["name"].as_str().unwrap(),
    ];
    seen.sort();
    let mut expected = vec![NORTHSIDE, EASTERN];
    expected.sort();
    assert_eq!(seen, expected);
    let bad = app
        .get(&format!("{REGISTER}?cursor=not-a-cursor"), &admin)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(bad.code(), "invalid_cursor");
}
