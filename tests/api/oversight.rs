//! Unusual usage (issue 6): each rule fires on a scenario built for it, with the audit events
//! that prove it, and an ordinary day of work produces no finding.
use std::collections::BTreeSet;

use casebridge::audit::chain::AuditEvent;
use casebridge::config::Config;
use casebridge::db::schema::audit_events;
use casebridge::demo::{ENDED_ALLOCATION_CLIENT, RESTRICTED_CLIENT};
use chrono::{Datelike, Duration, SecondsFormat, TimeZone, Utc};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, demo_client, spawn_app_with};

/// Every hour of every day is working time, so that only the rule under test can fire.
fn always_working(config: &mut Config) {
    config.oversight.working_hours = (0, 24);
    config.oversight.working_days = "mon-sun".parse().unwrap();
}

async fn app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(|config| {
        always_working(config);
        configure(config);
    })
    .await
}

fn time(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Northside's access audit over the hour up to now.
fn northside_access_path(app: &TestApp) -> String {
    let now = Utc::now();
    format!(
        "/api/v1/reports/csp-access?organisation_id={}&from={}&to={}",
        app.organisation_id(casebridge::demo::NORTHSIDE),
        time(now - Duration::hours(1)),
        time(now + Duration::minutes(5))
    )
}

/// A CSV body's reader and its header's columns.
fn csv_columns(body: &Value) -> (csv::Reader<&[u8]>, Vec<String>) {
    let mut reader = csv::Reader::from_reader(body.as_str().unwrap().as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    (reader, header)
}

/// The report over the last two hours, as (rule, subject) pairs, and the findings.
async fn report(app: &TestApp) -> (BTreeSet<(String, String)>, Vec<Value>) {
    let auditor = app.login("auditor").await;
    let now = Utc::now();
    let path = format!(
        "/api/v1/reports/unusual-activity?from={}&to={}",
        time(now - Duration::hours(2)),
        time(now + Duration::minutes(5))
    );
    let response = app.get(&path, &auditor).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let findings = response.body["items"].as_array().unwrap().clone();
    let pairs = findings
        .iter()
        .map(|finding| {
            (
                finding["rule"].as_str().unwrap().to_owned(),
                finding["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (pairs, findings)
}

fn pair(rule: &str, subject: &str) -> (String, String) {
    (rule.to_owned(), subject.to_owned())
}

/// Every event a finding cites exists in the trail and belongs to its actor.
fn check_evidence(app: &TestApp, finding: &Value) {
    let ids: Vec<String> = serde_json::from_value(finding["event_ids"].clone()).unwrap();
    assert!(!ids.is_empty(), "{finding}");
    let actors: Vec<Option<String>> = app.with_db(|conn| {
        audit_events::table
            .filter(audit_events::id.eq_any(&ids))
            .select(audit_events::actor_user_id)
            .load(conn)
            .unwrap()
    });
    assert_eq!(
        actors.len(),
        ids.len(),
        "every cited event exists: {finding}"
    );
    if let Some(actor) = finding["actor_user_id"].as_str() {
        assert!(
            actors.iter().all(|a| a.as_deref() == Some(actor)),
            "{finding}"
        );
    }
}

/// Stores a copy of `row` as if the same request had been made `days_ago` (the user's past).
fn as_if_earlier(app: &TestApp, row: &AuditEvent, days_ago: i64) {
    let mut old = row.clone();
    old.id = uuid::Uuid::now_v7().to_string();
    old.chain_id = uuid::Uuid::now_v7().to_string();
    old.occurred_at -= Duration::days(days_ago);
    app.with_db(|conn| {
        diesel::insert_into(audit_events::table)
            .values(&old)
            .execute(conn)
            .unwrap()
    });
}

async fn read_client(app: &TestApp, token: &str, index: usize) -> StatusCode {
    let path = format!("/api/v1/clients/{}", app.client_id(index));
    app.get(&path, token).await.status
}

async fn search(app: &TestApp, token: &str, index: usize) -> Value {
    let (given, family) = demo_client(index);
    let response = app
        .get(
            &format!("/api/v1/profiles?family_name={family}&given_name={given}"),
            token,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body
}

#[actix_web::test]
async fn an_ordinary_day_of_work_produces_no_finding() {
    let app = app_with(|_| {}).await;
    let caseworker = app.login("caseworker").await;
    for index in [0, 1, 3, 4] {
        assert_eq!(read_client(&app, &caseworker, index).await, StatusCode::OK);
    }
    let cases = app.get("/api/v1/cases", &caseworker).await;
    assert_eq!(cases.status, StatusCode::OK);
    // Their usual: the same caseload listed every working day of the past fortnight.
    let listing = app.audit_rows("/api/v1/cases").remove(0);
    for days_ago in 1..=14 {
        as_if_earlier(&app, &listing, days_ago);
    }
    search(&app, &caseworker, 6).await;
    assert_eq!(read_client(&app, &caseworker, 6).await, StatusCode::OK);
    let csp = app.login("csp-north").await;
    assert_eq!(read_client(&app, &csp, 0).await, StatusCode::OK);
    let note = app
        .post(
            &format!("/api/v1/cases/{}/notes", app.case_id(0)),
            &csp,
            json!({"note_type": "contact", "body": "Visited; all well."}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.body);
    let searcher = app.login("searcher").await;
    search(&app, &searcher, 3).await;
    // One mistyped id is not a burst.
    let response = app
        .get(
            &format!("/api/v1/clients/{}", uuid::Uuid::now_v7()),
            &caseworker,
        )
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    let (pairs, findings) = report(&app).await;
    assert!(pairs.is_empty(), "{findings:#?}");
}

#[actix_web::test]
async fn reading_many_more_clients_than_usual_is_reported() {
    let app = app_with(|config| config.oversight.unusual_clients_floor = 5).await;
    let caseworker = app.login("caseworker").await;
    let list = app.get("/api/v1/clients?limit=200", &caseworker).await;
    assert_eq!(list.status, StatusCode::OK);
    let listed = list.body["items"].as_array().unwrap().len();
    assert!(listed > 5);
    // Under the floor: not reported.
    let leader = app.login("teamleader").await;
    for index in [0, 1, 3] {
        assert_eq!(read_client(&app, &leader, index).await, StatusCode::OK);
    }
    let (pairs, findings) = report(&app).await;
    let expected: BTreeSet<_> = [pair("many_distinct_clients", &app.user_id("caseworker"))].into();
    assert_eq!(pairs, expected, "{findings:#?}");
    assert_eq!(findings[0]["figures"]["distinct_clients"], listed);
    assert_eq!(findings[0]["figures"]["median_previous_30_days"], 0.0);
    check_evidence(&app, &findings[0]);
}

#[actix_web::test]
async fn client_data_read_outside_working_days_is_reported() {
    // Today (in the department's time zone) is made a day off.
    let today = chrono_tz::Australia::Sydney
        .from_utc_datetime(&Utc::now().naive_utc())
        .weekday();
    let working = today.succ().to_string().to_lowercase();
    let app = spawn_app_with(|config| {
        config.oversight.working_hours = (0, 24);
        config.oversight.working_days = working.parse().unwrap();
    })
    .await;
    let caseworker = app.login("caseworker").await;
    assert_eq!(read_client(&app, &caseworker, 0).await, StatusCode::OK);
    assert_eq!(read_client(&app, &caseworker, 1).await, StatusCode::OK);
    let (pairs, findings) = report(&app).await;
    let expected: BTreeSet<_> = [pair("outside_working_hours", &app.user_id("caseworker"))].into();
    assert_eq!(pairs, expected, "{findings:#?}");
    assert_eq!(findings[0]["figures"]["requests"], 2);
    check_evidence(&app, &findings[0]);
}

#[actix_web::test]
async fn every_read_of_a_restricted_client_is_listed_with_its_purpose() {
    let app = app_with(|_| {}).await;
    let privacy = app.login("privacy").await;
    let path = format!("/api/v1/clients/{}", app.client_id(RESTRICTED_CLIENT));
    let purpose = "Access request APP-7 from the client";
    let response = app
        .get_with(&path, &privacy, &[("X-Purpose-Of-Use", purpose)])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let (pairs, findings) = report(&app).await;
    let expected: BTreeSet<_> = [pair("restricted_client_read", &app.user_id("privacy"))].into();
    assert_eq!(pairs, expected, "{findings:#?}");
    assert_eq!(findings[0]["figures"]["purpose_of_use"], purpose);
    assert_eq!(
        findings[0]["figures"]["client_ids"],
        json!([app.client_id(RESTRICTED_CLIENT)])
    );
    check_evidence(&app, &findings[0]);
}

#[actix_web::test]
async fn ten_refusals_within_an_hour_are_an_attempted_violation() {
    let app = app_with(|_| {}).await;
    let csp = app.login("csp-north").await;
    for _ in 0..10 {
        assert_eq!(read_client(&app, &csp, 1).await, StatusCode::NOT_FOUND);
    }
    let other = app.login("csp-east").await;
    for _ in 0..9 {
        assert_eq!(read_client(&app, &other, 0).await, StatusCode::NOT_FOUND);
    }
    let (pairs, findings) = report(&app).await;
    let expected: BTreeSet<_> = [pair("repeated_denials", &app.user_id("csp-north"))].into();
    assert_eq!(pairs, expected, "{findings:#?}");
    assert_eq!(findings[0]["figures"]["in_one_hour"], 10);
    assert_eq!(findings[0]["event_ids"].as_array().unwrap().len(), 10);
    check_evidence(&app, &findings[0]);
}

#[actix_web::test]
async fn trying_a_client_after_the_allocation_ended_is_reported() {
    let app = app_with(|_| {}).await;
    let csp = app.login("csp-north").await;
    // Client 9's allocation to Northside ended yesterday; client 1 was never Northside's.
    assert_eq!(
        read_client(&app, &csp, ENDED_ALLOCATION_CLIENT).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(read_client(&app, &csp, 1).await, StatusCode::NOT_FOUND);
    let (pairs, findings) = report(&app).await;
    let expected: BTreeSet<_> = [pair("after_allocation_ended", &app.user_id("csp-north"))].into();
    assert_eq!(pairs, expected, "{findings:#?}");
    let yesterday = (Utc::now() - Duration::days(1)).date_naive().to_string();
    assert_eq!(
        findings[0]["figures"]["allocation_ended_on"],
        yesterday.as_str()
    );
    assert_eq!(
        findings[0]["figures"]["resource_id"],
        app.client_id(ENDED_ALLOCATION_CLIENT).as_str()
    );
    check_evidence(&app, &findings[0]);
}

#[actix_web::test]
async fn an_account_active_again_after_60_silent_days_is_reported() {
    let app = app_with(|_| {}).await;
    app.login("caseworker").await;
    // The caseworker's previous request, 90 days ago.
    as_if_earlier(&app, &app.audit_rows("/api/v1/auth/login")[0], 90);
    let (pairs, findings) = report(&app).await;
    let expected: BTreeSet<_> = [pair("dormant_account_active", &app.user_id("caseworker"))].into();
    assert_eq!(pairs, expected, "{findings:#?}");
    assert_eq!(findings[0]["figures"]["days_silent"], 90);
    check_evidence(&app, &findings[0]);
}

#[actix_web::test]
async fn one_account_used_from_two_addresses_at_once_is_reported() {
    // The test client is on 127.0.0.1: as a trusted proxy it may say whom it forwards for.
    let app = app_with(|config| config.trusted_proxies = "127.0.0.0/8".parse().unwrap()).await;
    for address in ["203.0.113.7", "198.51.100.23"] {
        let response = app
            .request(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "caseworker", "password": PASSWORD})),
                &[("X-Forwarded-For", address)],
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }
    let (pairs, findings) = report(&app).await;
    let expected: BTreeSet<_> = [pair("shared_credentials", &app.user_id("caseworker"))].into();
    assert_eq!(pairs, expected, "{findings:#?}");
    assert_eq!(
        findings[0]["figures"]["addresses"],
        json!(["198.51.100.23", "203.0.113.7"])
    );
    check_evidence(&app, &findings[0]);
}

#[actix_web::test]
async fn profile_searches_never_followed_up_are_fishing() {
    let app = app_with(|config| config.oversight.fishing_searches = 3).await;
    let searcher = app.login("searcher").await;
    for index in [0, 1, 3] {
        search(&app, &searcher, index).await;
    }
    // The same number of searches, each followed by work on the client found: not fishing.
    let caseworker = app.login("caseworker").await;
    for index in [0, 1, 3] {
        search(&app, &caseworker, index).await;
        assert_eq!(read_client(&app, &caseworker, index).await, StatusCode::OK);
    }
    let (pairs, findings) = report(&app).await;
    let expected: BTreeSet<_> = [pair("fishing_searches", &app.user_id("searcher"))].into();
    assert_eq!(pairs, expected, "{findings:#?}");
    assert_eq!(findings[0]["figures"]["without_follow_up"], 3);
    check_evidence(&app, &findings[0]);
}

#[actix_web::test]
async fn only_an_auditor_reads_the_report_and_the_period_is_checked() {
    let app = app_with(|_| {}).await;
    let now = Utc::now();
    let path = |from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>| {
        format!(
            "/api/v1/reports/unusual-activity?from={}&to={}",
            time(from),
            time(to)
        )
    };
    let day = path(now - Duration::days(1), now);
    for user in [
        "admin",
        "caseworker",
        "teamleader",
        "searcher",
        "csp-north",
        "csp-north-manager",
        "csp-east",
        "privacy",
        "records",
    ] {
        let token = app.login(user).await;
        let response = app.get(&day, &token).await;
        assert_eq!(
            response.status,
            StatusCode::FORBIDDEN,
            "{user}: {}",
            response.body
        );
    }
    let auditor = app.login("auditor").await;
    assert_eq!(app.get(&day, &auditor).await.status, StatusCode::OK);
    for (what, bad) in [
        ("backwards", path(now, now - Duration::days(1))),
        ("too long", path(now - Duration::days(40), now)),
    ] {
        let response = app.get(&bad, &auditor).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            response.body
        );
        assert_eq!(response.body["errors"][0]["field"], "to", "{what}");
    }
    let response = app
        .get(
            "/api/v1/reports/unusual-activity?from=yesterday&to=today",
            &auditor,
        )
        .await;
    assert!(response.status.is_client_error(), "{}", response.body);
}

#[actix_web::test]
async fn an_organisations_access_audit_lists_each_of_its_principals_as_json_and_csv() {
    let app = app_with(|_| {}).await;
    let csp = app.login("csp-north").await;
    for index in [0, 3] {
        assert_eq!(read_client(&app, &csp, index).await, StatusCode::OK);
    }
    assert_eq!(read_client(&app, &csp, 1).await, StatusCode::NOT_FOUND);
    let note = app
        .post(
            &format!("/api/v1/cases/{}/notes", app.case_id(0)),
            &csp,
            json!({"note_type": "contact", "body": "Visited."}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.body);
    let east = app.login("csp-east").await;
    assert_eq!(read_client(&app, &east, 1).await, StatusCode::OK);

    let northside = app.organisation_id(casebridge::demo::NORTHSIDE);
    let path = northside_access_path(&app);
    let auditor = app.login("auditor").await;
    let response = app.get(&path, &auditor).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let entries = response.body["items"].as_array().unwrap();
    let principals: BTreeSet<&str> = entries
        .iter()
        .map(|entry| entry["username"].as_str().unwrap())
        .collect();
    assert!(principals.contains("csp-north") && principals.contains("csp-north-manager"));
    assert!(!principals.contains("csp-east"), "{principals:?}");
    let worker = entries
        .iter()
        .find(|entry| entry["username"] == "csp-north")
        .unwrap();
    let seen: BTreeSet<String> = [app.client_id(0), app.client_id(3)].into();
    let listed: BTreeSet<String> = serde_json::from_value(worker["client_ids"].clone()).unwrap();
    assert_eq!(listed, seen);
    assert_eq!(worker["clients_accessed"], 2);
    assert_eq!(worker["denials"], 1);
    assert_eq!(worker["notes_written"], 1);
    let fields: Vec<&str> = worker["fields_disclosed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field.as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"client.address") && fields.contains(&"note.body"),
        "{fields:?}"
    );
    assert!(!fields.contains(&"client.medicare_number"), "{fields:?}");
    assert!(worker["last_login_at"].is_string());
    let manager = entries
        .iter()
        .find(|entry| entry["username"] == "csp-north-manager")
        .unwrap();
    assert_eq!(manager["requests"], 0);

    let csv = app
        .get_with(&path, &auditor, &[("Accept", "text/csv")])
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let (mut reader, header) = csv_columns(&csv.body);
    assert_eq!(
        header[..7],
        [
            "principal_id",
            "kind",
            "username",
            "display_name",
            "status",
            "requests",
            "clients_accessed"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), entries.len());
    let worker_row = rows.iter().find(|row| &row[2] == "csp-north").unwrap();
    let client_ids = &worker_row[header.iter().position(|c| c == "client_ids").unwrap()];
    assert!(client_ids.contains(&app.client_id(3)), "{worker_row:?}");

    for user in ["csp-north-manager", "privacy", "admin"] {
        let token = app.login(user).await;
        let response = app.get(&path, &token).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{user}");
    }
    let unknown = path.replace(&northside, &uuid::Uuid::now_v7().to_string());
    let response = app.get(&unknown, &auditor).await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.body
    );
    assert_eq!(response.body["errors"][0]["field"], "organisation_id");
}

#[actix_web::test]
async fn the_csv_of_an_organisations_access_audit_has_its_lines_columns_and_no_summary() {
    let app = app_with(|_| {}).await;
    let csp = app.login("csp-north").await;
    assert_eq!(read_client(&app, &csp, 0).await, StatusCode::OK);
    let path = northside_access_path(&app);
    let auditor = app.login("auditor").await;
    let json = app.get(&path, &auditor).await;
    assert_eq!(json.status, StatusCode::OK, "{}", json.body);
    let line_keys: BTreeSet<&str> = json.body["items"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();

    let csv = app
        .get_with(&path, &auditor, &[("Accept", "text/csv")])
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let (_, header) = csv_columns(&csv.body);
    let columns: BTreeSet<&str> = header.iter().map(String::as_str).collect();
    assert_eq!(columns, line_keys);
    assert!(json.body["summary"]["allocated_clients"].as_i64().unwrap() > 0);
}

#[actix_web::test]
async fn findings_come_in_pages_by_rule_and_one_rule_can_be_asked_for() {
    let app = app_with(|_| {}).await;
    let privacy = app.login("privacy").await;
    let restricted = format!("/api/v1/clients/{}", app.client_id(RESTRICTED_CLIENT));
    let purpose = "Complaint C-12 from the client";
    let response = app
        .get_with(&restricted, &privacy, &[("X-Purpose-Of-Use", purpose)])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let csp = app.login("csp-north").await;
    for _ in 0..10 {
        assert_eq!(read_client(&app, &csp, 1).await, StatusCode::NOT_FOUND);
    }
    let (_, everything) = report(&app).await;
    let rules: Vec<&str> = everything
        .iter()
        .map(|finding| finding["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["restricted_client_read", "repeated_denials"]);

    let auditor = app.login("auditor").await;
    let now = Utc::now();
    let base = format!(
        "/api/v1/reports/unusual-activity?from={}&to={}",
        time(now - Duration::hours(2)),
        time(now + Duration::minutes(5))
    );
    let first = app.get(&format!("{base}&limit=1"), &auditor).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["items"], json!([everything[0]]));
    let cursor = first.body["next_cursor"].as_str().unwrap();
    assert_eq!(cursor, everything[0]["id"]);
    let second = app
        .get(&format!("{base}&limit=1&cursor={cursor}"), &auditor)
        .await;
    assert_eq!(second.body["items"], json!([everything[1]]));
    assert_eq!(second.body["next_cursor"], Value::Null);

    let only = app
        .get(&format!("{base}&rule=repeated_denials"), &auditor)
        .await;
    assert_eq!(only.body["items"], json!([everything[1]]), "{}", only.body);

    let unknown_cursor = app
        .get(
            &format!("{base}&cursor=00000000-0000-8000-8000-000000000000"),
            &auditor,
        )
        .await;
    assert_eq!(unknown_cursor.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown_cursor.body["code"], "invalid_cursor");
    for bad in ["rule=everything", "limit=0", "limit=201"] {
        let response = app.get(&format!("{base}&{bad}"), &auditor).await;
        assert!(
            response.status.is_client_error(),
            "{bad}: {}",
            response.body
        );
    }
}
