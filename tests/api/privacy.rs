//! The privacy lifecycle of a client file (issue 5): collection notices on every new file,
//! consents and their withdrawal (which takes effect on the next search), privacy complaints
//! and legal holds. Refusals and bad input store nothing.
use casebridge::db::schema::{clients, complaints, consents, legal_holds, notices_given};
use casebridge::demo::{
    ENDED_ALLOCATION_CLIENT, NO_SHARING_CLIENT, NORTHSIDE, NOTICE_VERSION, RESTRICTED_CLIENT,
};
use chrono::NaiveDate;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, demo_client, new_client, spawn_app};
use crate::writes::{assert_problem, count, day};

fn with_notice(version: &str, given_on: String) -> Value {
    let mut body = new_client();
    body["collection_notice"] =
        json!({"version": version, "given_on": given_on, "method": "written"});
    body
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["client_id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn a_new_client_file_needs_the_collection_notice_in_effect() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let clients_before = count!(app, clients::table);

    let mut without = new_client();
    without.as_object_mut().unwrap().remove("collection_notice");
    let refused = app.post("/api/v1/clients", &caseworker, without).await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "collection_notice_required",
    );
    assert_eq!(refused.body["collection_notice"]["version"], NOTICE_VERSION);
    assert!(
        !refused.body["collection_notice"]["text"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let unknown = app
        .post(
            "/api/v1/clients",
            &caseworker,
            with_notice("1999-1", day(0)),
        )
        .await;
    assert_problem(
        &unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "collection_notice_required",
    );
    let future = app
        .post(
            "/api/v1/clients",
            &caseworker,
            with_notice(NOTICE_VERSION, day(1)),
        )
        .await;
    assert_problem(
        &future,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        future.body["errors"][0]["field"],
        "collection_notice.given_on"
    );
    assert_eq!(
        count!(app, clients::table),
        clients_before,
        "nothing stored"
    );

    let created = app.post("/api/v1/clients", &caseworker, new_client()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let client = created.body["id"].as_str().unwrap().to_owned();
    let given = app
        .get(
            &format!("/api/v1/clients/{client}/collection-notices"),
            &caseworker,
        )
        .await;
    assert_eq!(given.status, StatusCode::OK, "{}", given.body);
    assert_eq!(given.body["items"][0]["version"], NOTICE_VERSION);
    assert_eq!(given.body["items"][0]["current"], true);
    assert_eq!(given.body["items"][0]["method"], "verbal");

    // Only a privacy officer issues a notice; a new version takes over on its first day.
    let notice = json!({"version": "2026-2", "text": "Updated notice.", "effective_from": day(0)});
    let refused = app
        .post("/api/v1/collection-notices", &caseworker, notice.clone())
        .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    let privacy = app.login("privacy").await;
    for (body, status, code) in [
        (
            json!({"version": "2026-3", "text": "Old.", "effective_from": day(-1)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"version": "", "text": "Empty.", "effective_from": day(0)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"version": NOTICE_VERSION, "text": "Again.", "effective_from": day(0)}),
            StatusCode::CONFLICT,
            "notice_version_exists",
        ),
    ] {
        assert_problem(
            &app.post("/api/v1/collection-notices", &privacy, body).await,
            status,
            code,
        );
    }
    let issued = app
        .post("/api/v1/collection-notices", &privacy, notice)
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let searcher = app.login("searcher").await;
    let current = app
        .get("/api/v1/collection-notices/current", &searcher)
        .await;
    assert_eq!(current.body["version"], "2026-2", "{}", current.body);
    let past = app
        .post(
            "/api/v1/clients",
            &caseworker,
            with_notice(NOTICE_VERSION, day(0)),
        )
        .await;
    assert_problem(
        &past,
        StatusCode::UNPROCESSABLE_ENTITY,
        "collection_notice_required",
    );
    assert_eq!(past.body["collection_notice"]["version"], "2026-2");

    // Every client of the division now needs the new version, until it is recorded.
    let report = "/api/v1/reports/collection-notices-outdated?limit=200";
    let outdated = app.get(report, &caseworker).await;
    assert_eq!(outdated.status, StatusCode::OK, "{}", outdated.body);
    let first = app.client_id(0);
    assert!(ids(&outdated.body).contains(&first));
    assert!(ids(&outdated.body).contains(&client));
    let entry = &outdated.body["items"][0];
    assert_eq!(entry["last_version"], NOTICE_VERSION, "{entry}");
    assert_eq!(entry["current_version"], "2026-2");
    let recorded = app
        .post(
            &format!("/api/v1/clients/{first}/collection-notices"),
            &caseworker,
            json!({"version": "2026-2", "given_on": day(0), "method": "electronic"}),
        )
        .await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.body);
    assert!(!ids(&app.get(report, &caseworker).await.body).contains(&first));

    // A CSP gives the notice only to clients allocated to it (issue 20, part 1): another
    // CSP's client is answered as if it did not exist.
    let csp = app.login("csp-north").await;
    let eastern_client = app.client_id(1);
    let refused = app
        .post(
            &format!("/api/v1/clients/{eastern_client}/collection-notices"),
            &csp,
            json!({"version": "2026-2", "given_on": day(0), "method": "verbal"}),
        )
        .await;
    assert_problem(&refused, StatusCode::NOT_FOUND, "not_found");
    assert_problem(
        &app.get(report, &searcher).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let other_division = app.client_id(100);
    assert_problem(
        &app.get(
            &format!("/api/v1/clients/{other_division}/collection-notices"),
            &caseworker,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

/// The demo clients with a case allocated to Northside today.
const NORTHSIDE_CLIENTS: [usize; 7] = [0, 3, 6, 12, 15, 18, 21];

pub fn given_today(version: &str) -> Value {
    json!({"version": version, "given_on": day(0), "method": "verbal"})
}

/// Issues collection notice version `2026-2`, in effect today, so that every client lacks it.
async fn issue_new_notice(app: &TestApp) {
    let privacy = app.login("privacy").await;
    let issued = app
        .post(
            "/api/v1/collection-notices",
            &privacy,
            json!({"version": "2026-2", "text": "Updated notice.", "effective_from": day(0)}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
}

/// Every client id of the outdated-notices report at `path`, following its cursors.
async fn all_outdated(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            Some(cursor) => format!("{path}&cursor={cursor}"),
            None => path.to_owned(),
        };
        let page = app.get(&page_path, token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        found.extend(ids(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return found,
        }
    }
}

fn sorted_ids(app: &TestApp, indexes: &[usize]) -> Vec<String> {
    let mut ids: Vec<String> = indexes.iter().map(|index| app.client_id(*index)).collect();
    ids.sort();
    ids
}

#[actix_web::test]
async fn a_csp_worker_records_the_notice_given_to_a_client_allocated_to_it() {
    let app = spawn_app().await;
    let csp = app.login("csp-north").await;
    let client = app.client_id(3);
    let path = format!("/api/v1/clients/{client}/collection-notices");
    let recorded = app.post(&path, &csp, given_today(NOTICE_VERSION)).await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.body);
    let northside = app.organisation_id(NORTHSIDE);
    assert_eq!(
        recorded.body["given_by_organisation_id"],
        northside.as_str()
    );
    assert_eq!(
        recorded.body["recorded_by"],
        app.user_id("csp-north").as_str()
    );
    assert_eq!(recorded.body["current"], true);

    let audit = app.audit_row_of(&recorded);
    assert_eq!(audit.outcome, "allowed");
    assert_eq!(audit.resource_type.as_deref(), Some("notice_given"));
    assert!(audit.client_ids.contains(&client), "{}", audit.client_ids);

    let caseworker = app.login("caseworker").await;
    let listed = app.get(&path, &caseworker).await;
    let last = listed.body["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["id"], recorded.body["id"]);
    assert_eq!(last["given_by_organisation_id"], northside.as_str());
}

#[actix_web::test]
async fn a_csp_manager_inherits_the_notice_duty() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let client = app.client_id(0);
    let recorded = app
        .post(
            &format!("/api/v1/clients/{client}/collection-notices"),
            &manager,
            given_today(NOTICE_VERSION),
        )
        .await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.body);
}

#[actix_web::test]
async fn a_csp_cannot_record_a_notice_for_a_client_not_allocated_to_it() {
    let app = spawn_app().await;
    let csp = app.login("csp-north").await;
    let before = count!(app, notices_given::table);
    let unknown = "0193a000-0000-7000-8000-000000000000".to_owned();
    // Eastern's client, a client whose allocation to Northside ended, another division's
    // client and an unknown id are answered alike.
    for client in [
        app.client_id(1),
        app.client_id(ENDED_ALLOCATION_CLIENT),
        app.client_id(100),
        unknown,
    ] {
        let refused = app
            .post(
                &format!("/api/v1/clients/{client}/collection-notices"),
                &csp,
                given_today(NOTICE_VERSION),
            )
            .await;
        assert_problem(&refused, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(app.audit_row_of(&refused).outcome, "denied");
    }
    assert_eq!(count!(app, notices_given::table), before, "nothing stored");
}

#[actix_web::test]
async fn a_notice_by_a_csp_with_invalid_fields_stores_nothing() {
    let app = spawn_app().await;
    let csp = app.login("csp-north").await;
    let before = count!(app, notices_given::table);
    let path = format!("/api/v1/clients/{}/collection-notices", app.client_id(3));
    let future = app
        .post(
            &path,
            &csp,
            json!({"version": NOTICE_VERSION, "given_on": day(1), "method": "verbal"}),
        )
        .await;
    assert_problem(
        &future,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let unknown_field = app
        .post(
            &path,
            &csp,
            json!({"version": NOTICE_VERSION, "given_on": day(0), "method": "verbal",
                   "given_by_organisation_id": app.organisation_id(NORTHSIDE)}),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count!(app, notices_given::table), before, "nothing stored");
}

#[actix_web::test]
async fn roles_without_the_notice_duty_are_refused() {
    let app = spawn_app().await;
    let path = format!("/api/v1/clients/{}/collection-notices", app.client_id(3));
    for user in ["searcher", "auditor", "admin"] {
        let token = app.login(user).await;
        let refused = app.post(&path, &token, given_today(NOTICE_VERSION)).await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    }
}

#[actix_web::test]
async fn the_outdated_report_by_csp_lists_its_allocated_clients_lacking_the_current_notice() {
    let app = spawn_app().await;
    issue_new_notice(&app).await;
    let northside = app.organisation_id(NORTHSIDE);
    let caseworker = app.login("caseworker").await;
    let path = format!("/api/v1/reports/collection-notices-outdated?csp_id={northside}&limit=2");
    assert_eq!(
        all_outdated(&app, &caseworker, &path).await,
        sorted_ids(&app, &NORTHSIDE_CLIENTS)
    );

    let csp = app.login("csp-north").await;
    let client = app.client_id(3);
    let recorded = app
        .post(
            &format!("/api/v1/clients/{client}/collection-notices"),
            &csp,
            given_today("2026-2"),
        )
        .await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.body);
    let outstanding: Vec<usize> = NORTHSIDE_CLIENTS
        .into_iter()
        .filter(|index| *index != 3)
        .collect();
    assert_eq!(
        all_outdated(&app, &caseworker, &path).await,
        sorted_ids(&app, &outstanding)
    );
}

#[actix_web::test]
async fn the_outdated_report_refuses_a_csp_id_that_is_not_a_csp() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let division = app.organisation_id(casebridge::demo::HOUSING_SUPPORT);
    for csp_id in [
        division.as_str(),
        "not-a-uuid",
        "0193a000-0000-7000-8000-000000000000",
    ] {
        let refused = app
            .get(
                &format!("/api/v1/reports/collection-notices-outdated?csp_id={csp_id}"),
                &caseworker,
            )
            .await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(
            refused.body["errors"][0]["field"], "csp_id",
            "{}",
            refused.body
        );
    }
}

#[actix_web::test]
async fn the_csp_access_report_counts_its_allocated_clients_lacking_the_current_notice() {
    let app = spawn_app().await;
    let northside = app.organisation_id(NORTHSIDE);
    let now = chrono::Utc::now();
    let path = format!(
        "/api/v1/reports/csp-access?organisation_id={northside}&from={}&to={}",
        (now - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        (now + chrono::Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    let auditor = app.login("auditor").await;
    let summary = |response: &crate::helpers::Response| {
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        (
            response.body["summary"]["allocated_clients"]
                .as_i64()
                .unwrap(),
            response.body["summary"]["clients_without_current_notice"]
                .as_i64()
                .unwrap(),
        )
    };
    assert_eq!(
        summary(&app.get(&path, &auditor).await),
        (7, 0),
        "all given"
    );

    issue_new_notice(&app).await;
    assert_eq!(summary(&app.get(&path, &auditor).await), (7, 7));
    let csp = app.login("csp-north").await;
    let recorded = app
        .post(
            &format!("/api/v1/clients/{}/collection-notices", app.client_id(0)),
            &csp,
            given_today("2026-2"),
        )
        .await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.body);
    assert_eq!(summary(&app.get(&path, &auditor).await), (7, 6));
}

async fn found_by(app: &TestApp, token: &str, index: usize) -> bool {
    let (given, family) = demo_client(index);
    let response = app
        .get(
            &format!("/api/v1/profiles?family_name={family}&given_name={given}"),
            token,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let id = app.client_id(index);
    response.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|profile| profile["id"] == id.as_str())
}

#[actix_web::test]
async fn a_withdrawn_consent_hides_the_client_from_other_divisions_at_once() {
    let app = spawn_app().await;
    let searcher = app.login("searcher").await;
    let caseworker = app.login("caseworker").await;
    assert!(found_by(&app, &searcher, 0).await);
    assert!(
        !found_by(&app, &searcher, NO_SHARING_CLIENT).await,
        "never consented"
    );
    assert!(
        found_by(&app, &caseworker, NO_SHARING_CLIENT).await,
        "own division"
    );

    let client = app.client_id(0);
    let consents_path = format!("/api/v1/clients/{client}/consents");
    let listed = app.get(&consents_path, &caseworker).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let consent = listed.body["items"][0].clone();
    assert_eq!(consent["purpose"], "share_basic_profile_with_divisions");
    assert_eq!(consent["current"], true);
    let withdraw = format!(
        "{consents_path}/{}/withdraw",
        consent["id"].as_str().unwrap()
    );

    let before_given = app
        .post(
            &withdraw,
            &caseworker,
            json!({"withdrawn_on": day(-60), "method": "verbal"}),
        )
        .await;
    assert_problem(
        &before_given,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let withdrawn = app
        .post(
            &withdraw,
            &caseworker,
            json!({"withdrawn_on": day(0), "method": "verbal"}),
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
    assert_eq!(withdrawn.body["current"], false);
    assert_eq!(withdrawn.body["withdrawal_method"], "verbal");
    let again = app
        .post(
            &withdraw,
            &caseworker,
            json!({"withdrawn_on": day(0), "method": "verbal"}),
        )
        .await;
    assert_problem(&again, StatusCode::CONFLICT, "consent_withdrawn");
    assert!(!found_by(&app, &searcher, 0).await, "the next search");
    assert!(found_by(&app, &caseworker, 0).await, "own division");
    let audited = app.audit_rows("/api/v1/clients/{id}/consents/{consent_id}/withdraw");
    assert!(audited.iter().any(|row| row.client_ids.contains(&client)));

    for (body, field) in [
        (
            json!({"purpose": "marketing", "given_on": day(0), "method": "written"}),
            "purpose",
        ),
        (
            json!({"purpose": "share_basic_profile_with_divisions", "given_on": day(1), "method": "written"}),
            "given_on",
        ),
        (
            json!({"purpose": "share_basic_profile_with_divisions", "given_on": day(0), "method": "written", "expires_on": day(0)}),
            "expires_on",
        ),
    ] {
        let response = app.post(&consents_path, &caseworker, body).await;
        assert_problem(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(response.body["errors"][0]["field"], field);
    }
    assert_eq!(count!(app, consents::table), 25, "nothing stored");
    let given = app
        .post(
            &consents_path,
            &caseworker,
            json!({"purpose": "share_basic_profile_with_divisions", "given_on": day(0), "method": "written", "expires_on": day(365)}),
        )
        .await;
    assert_eq!(given.status, StatusCode::CREATED, "{}", given.body);
    assert!(found_by(&app, &searcher, 0).await, "consent given again");
    let history = app.get(&consents_path, &caseworker).await;
    assert_eq!(
        history.body["items"].as_array().unwrap().len(),
        2,
        "never deleted"
    );

    let csp = app.login("csp-north").await;
    let body = json!({"purpose": "share_basic_profile_with_divisions", "given_on": day(0), "method": "written"});
    assert_problem(
        &app.post(&consents_path, &csp, body.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_problem(
        &app.get(&consents_path, &searcher).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let other_division = format!("/api/v1/clients/{}/consents", app.client_id(100));
    assert_problem(
        &app.post(&other_division, &caseworker, body).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let privacy = app.login("privacy").await;
    assert_problem(
        &app.get(&consents_path, &privacy).await,
        StatusCode::FORBIDDEN,
        "purpose_of_use_required",
    );
    let with_purpose = app
        .get_with(
            &consents_path,
            &privacy,
            &[("X-Purpose-Of-Use", "Complaint C-3")],
        )
        .await;
    assert_eq!(with_purpose.status, StatusCode::OK, "{}", with_purpose.body);
}

#[actix_web::test]
async fn a_privacy_complaint_goes_from_received_to_resolved_and_then_stays() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let client = app.client_id(0);
    for (body, field) in [
        (
            json!({"received_on": day(1), "channel": "email", "summary": "S"}),
            "received_on",
        ),
        (
            json!({"received_on": day(0), "channel": "email", "summary": ""}),
            "summary",
        ),
        (
            json!({"client_id": "00000000-0000-7000-8000-000000000000", "received_on": day(0), "channel": "email", "summary": "S"}),
            "client_id",
        ),
    ] {
        let response = app.post("/api/v1/complaints", &privacy, body).await;
        assert_problem(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(
            response.body["errors"][0]["field"], field,
            "{}",
            response.body
        );
    }
    let fax = app
        .post(
            "/api/v1/complaints",
            &privacy,
            json!({"received_on": day(0), "channel": "fax", "summary": "S"}),
        )
        .await;
    assert!(fax.status.is_client_error(), "{}", fax.body);
    assert_eq!(count!(app, complaints::table), 0, "nothing stored");

    let created = app
        .post(
            "/api/v1/complaints",
            &privacy,
            json!({"client_id": client, "received_on": day(-40), "channel": "email",
                   "summary": "My address was given to my former partner's caseworker."}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["due_on"], day(-10));
    assert_eq!(created.body["overdue"], true);
    assert_eq!(created.body["status"], "received");
    let path = format!(
        "/api/v1/complaints/{}",
        created.body["id"].as_str().unwrap()
    );
    let overdue = app.get("/api/v1/complaints?overdue=true", &privacy).await;
    assert_eq!(overdue.body["items"][0]["id"], created.body["id"]);

    let investigating = json!({"status": "investigating"});
    assert_problem(
        &app.patch(&path, &privacy, investigating.clone(), None)
            .await,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );
    let no_outcome = app
        .patch(
            &path,
            &privacy,
            json!({"status": "resolved"}),
            Some("\"1\""),
        )
        .await;
    assert_problem(
        &no_outcome,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let moved = app
        .patch(&path, &privacy, investigating, Some("\"1\""))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["status"], "investigating");
    let stale = app
        .patch(
            &path,
            &privacy,
            json!({"status": "withdrawn"}),
            Some("\"1\""),
        )
        .await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED, "version_mismatch");
    let resolved = app
        .patch(
            &path,
            &privacy,
            json!({"status": "resolved", "outcome": "Access removed; apology sent."}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(resolved.body["overdue"], false);
    let reopened = app
        .patch(
            &path,
            &privacy,
            json!({"status": "investigating"}),
            Some("\"3\""),
        )
        .await;
    assert_problem(&reopened, StatusCode::CONFLICT, "complaint_closed");
    let rows = app.audit_rows("/api/v1/complaints/{id}");
    assert!(
        rows.iter()
            .any(|row| row.method == "PATCH" && row.client_ids.contains(&client))
    );

    for user in ["caseworker", "auditor", "records", "csp-north"] {
        let token = app.login(user).await;
        assert_problem(
            &app.get("/api/v1/complaints", &token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
}

#[actix_web::test]
async fn a_legal_hold_is_placed_and_released_once() {
    let app = spawn_app().await;
    let records = app.login("records").await;
    let holds = format!("/api/v1/clients/{}/legal-holds", app.client_id(0));
    assert_problem(
        &app.post(&holds, &records, json!({"reason": ""})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let caseworker = app.login("caseworker").await;
    assert_problem(
        &app.post(&holds, &caseworker, json!({"reason": "Mine"}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let auditor = app.login("auditor").await;
    assert_problem(
        &app.get(&holds, &auditor).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let restricted = format!(
        "/api/v1/clients/{}/legal-holds",
        app.client_id(RESTRICTED_CLIENT)
    );
    assert_problem(
        &app.post(&restricted, &records, json!({"reason": "Inquiry"}))
            .await,
        StatusCode::FORBIDDEN,
        "purpose_of_use_required",
    );
    let nobody = "/api/v1/clients/00000000-0000-7000-8000-000000000000/legal-holds";
    assert_problem(
        &app.post(nobody, &records, json!({"reason": "Inquiry"}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(count!(app, legal_holds::table), 0, "nothing stored");

    let placed = app
        .post(
            &holds,
            &records,
            json!({"reason": "Subpoena from the County Court, matter 123"}),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    assert_eq!(placed.body["active"], true);
    let release = format!("{holds}/{}/release", placed.body["id"].as_str().unwrap());
    let released = app
        .post(&release, &records, json!({"reason": "Matter settled"}))
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    assert_eq!(released.body["active"], false);
    assert_eq!(released.body["release_reason"], "Matter settled");
    assert_problem(
        &app.post(&release, &records, json!({"reason": "Again"}))
            .await,
        StatusCode::CONFLICT,
        "hold_released",
    );
    let listed = app.get(&holds, &records).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
}

pub async fn profile_search(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let response = app.get(&format!("/api/v1/profiles?{query}"), token).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{query}: {}",
        response.body
    );
    for profile in response.body["items"].as_array().unwrap() {
        let mut keys: Vec<&str> = profile
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "date_of_birth",
                "family_name",
                "given_name",
                "id",
                "lead_division_contact_email",
                "lead_division_id",
                "lead_division_name"
            ]
        );
    }
    response.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|profile| profile["id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn the_common_client_search_tolerates_spelling_and_ranks_the_closest_first() {
    let app = spawn_app().await;
    let searcher = app.login("searcher").await;
    // Demo client 0 is Alex Nguyen, 12 is Alex Nguyen-Lee, 3 is Deepa Patel.
    assert_eq!(demo_client(0), ("Alex".into(), "Nguyen".into()));
    assert_eq!(demo_client(12), ("Alex".into(), "Nguyen-Lee".into()));
    let (nguyen, nguyen_lee) = (app.client_id(0), app.client_id(12));
    for query in [
        "family_name=nguyan&given_name=ALEX",
        "family_name=Ngúyen&given_name=alex",
        "family_name=nguyen&given_name=Alez",
    ] {
        let found = profile_search(&app, &searcher, query).await;
        assert_eq!(found.first(), Some(&nguyen), "{query}: {found:?}");
    }
    let both = profile_search(&app, &searcher, "family_name=Nguyen&given_name=Alex").await;
    assert_eq!(
        both,
        [nguyen.clone(), nguyen_lee.clone()],
        "the exact name first"
    );
    let double = profile_search(&app, &searcher, "family_name=nguyen%20lee&given_name=alex").await;
    assert_eq!(double.first(), Some(&nguyen_lee));
    assert!(
        profile_search(&app, &searcher, "family_name=Patel&given_name=Alex")
            .await
            .is_empty()
    );
    let (given, family) = demo_client(3);
    let patel = app.client_id(3);
    let born = app.with_db(|conn| {
        clients::table
            .filter(clients::id.eq(&patel))
            .select(clients::date_of_birth)
            .first::<NaiveDate>(conn)
            .unwrap()
    });
    let by_birth = profile_search(
        &app,
        &searcher,
        &format!("family_name={}&date_of_birth={born}", family.to_uppercase()),
    )
    .await;
    assert_eq!(by_birth, [patel], "{given} {family}");
    let wrong_birth = profile_search(
        &app,
        &searcher,
        &format!("family_name={family}&date_of_birth=1901-01-01"),
    )
    .await;
    assert!(wrong_birth.is_empty());
}

#[actix_web::test]
async fn a_probable_duplicate_file_needs_the_callers_confirmation() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let first = app.post("/api/v1/clients", &caseworker, new_client()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let stored = count!(app, clients::table);
    let mut again = new_client();
    again["family_name"] = json!("castelano");
    let refused = app
        .post("/api/v1/clients", &caseworker, again.clone())
        .await;
    assert_problem(&refused, StatusCode::CONFLICT, "possible_duplicate");
    assert_eq!(refused.body["candidates"], json!([first.body["id"]]));
    assert_eq!(count!(app, clients::table), stored, "nothing stored");
    let row = app
        .audit_rows("/api/v1/clients")
        .into_iter()
        .rfind(|row| row.status == 409)
        .unwrap();
    assert_eq!(
        row.client_ids,
        json!([first.body["id"]]).to_string(),
        "the refusal's row names the candidates it disclosed"
    );
    let mut other_birthday = again.clone();
    other_birthday["date_of_birth"] = json!("1984-03-10");
    let created = app
        .post("/api/v1/clients", &caseworker, other_birthday)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    again["confirm_new"] = json!(true);
    let confirmed = app.post("/api/v1/clients", &caseworker, again).await;
    assert_eq!(confirmed.status, StatusCode::CREATED, "{}", confirmed.body);
}
