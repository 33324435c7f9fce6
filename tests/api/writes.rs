//! Writes: which role may change which field, the If-Match preconditions, cases, allocations,
//! notes, users and organisations. Every refusal is also checked to have stored nothing.
use std::collections::BTreeMap;

use casebridge::db::clients::ClientRow;
use casebridge::db::schema::{allocations, cases, clients, notes, organisations, users};
use casebridge::demo::{EASTERN, FAMILY_SERVICES, HOUSING_SUPPORT, NORTHSIDE};
use chrono::{Duration, NaiveDate, Utc};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, new_client, spawn_app};

/// Housing Support's client allocated to Northside.
const NORTHSIDE_CLIENT: usize = 3;
/// Housing Support's client allocated to no one.
const UNALLOCATED_CLIENT: usize = 8;
/// The PROTECTED client, above a caseworker's clearance.
const PROTECTED_CLIENT: usize = casebridge::demo::PROTECTED_CLIENT;

// ---- shared helpers (bad_input.rs and auth.rs use them too) --------------------------------

/// Asserts an RFC 9457 problem with `status` and `code`.
#[track_caller]
pub fn assert_problem(response: &Response, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "body: {}", response.body);
    assert_eq!(response.code(), code, "body: {}", response.body);
    let content_type = response
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type:?}"
    );
    for member in ["type", "title", "detail"] {
        assert!(
            response.body[member].is_string(),
            "problem without {member}: {}",
            response.body
        );
    }
    assert_eq!(response.body["status"], status.as_u16());
}

/// Asserts 403 `field_not_writable` naming exactly `fields`.
#[track_caller]
pub fn assert_not_writable(response: &Response, fields: &[&str]) {
    assert_problem(response, StatusCode::FORBIDDEN, "field_not_writable");
    assert_eq!(response.body["fields"], json!(fields));
}

/// Asserts 422 with `field` (or a part of it, like `field[0]`) among the offending fields.
#[track_caller]
pub fn assert_invalid(response: &Response, field: &str) {
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let errors = response.body["errors"]
        .as_array()
        .expect("422 lists its errors");
    let names = |error: &Value| {
        let name = error["field"].as_str().unwrap_or_default();
        name == field
            || name.starts_with(&format!("{field}["))
            || name.starts_with(&format!("{field}."))
    };
    assert!(
        errors.iter().any(names),
        "no error for {field}: {}",
        response.body
    );
}

/// Rows per table: the same before and after a refused request means nothing was stored.
pub fn stored_rows(app: &TestApp) -> BTreeMap<&'static str, i64> {
    app.with_db(|conn| {
        let count = |name, query: Result<i64, diesel::result::Error>| (name, query.unwrap());
        BTreeMap::from([
            count("clients", clients::table.count().get_result(conn)),
            count("cases", cases::table.count().get_result(conn)),
            count("allocations", allocations::table.count().get_result(conn)),
            count("notes", notes::table.count().get_result(conn)),
            count("users", users::table.count().get_result(conn)),
            count(
                "organisations",
                organisations::table.count().get_result(conn),
            ),
        ])
    })
}

/// A client's stored row, to show that a refused write changed nothing.
pub fn client_row(app: &TestApp, id: &str) -> String {
    app.with_db(|conn| {
        format!(
            "{:?}",
            clients::table
                .find(id)
                .select(ClientRow::as_select())
                .first(conn)
                .unwrap()
        )
    })
}

pub fn client_path(app: &TestApp, index: usize) -> String {
    format!("/api/v1/clients/{}", app.client_id(index))
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The day `offset` days from today, as a request body carries it.
pub fn day(offset: i64) -> String {
    (today() + chrono::Duration::days(offset)).to_string()
}

/// Rows in a table, to show that a refused request stored nothing.
macro_rules! count {
    ($app:expr, $table:path) => {
        $app.with_db(|conn| $table.count().get_result::<i64>(conn).unwrap())
    };
}
pub(crate) use count;

/// A GET that must succeed.
pub async fn read(app: &TestApp, path: &str, token: &str) -> Response {
    let response = app.get(path, token).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "GET {path}: {}",
        response.body
    );
    response
}

// ---- local helpers ---------------------------------------------------------------------------

fn case_path(app: &TestApp, index: usize) -> String {
    format!("/api/v1/cases/{}", app.case_id(index))
}

fn new_case(client_id: &str) -> Value {
    json!({"client_id": client_id, "service_type": "tenancy support", "risk_level": "medium", "summary": "Intake"})
}

fn new_allocation(organisation_id: &str, starts_on: NaiveDate) -> Value {
    json!({"organisation_id": organisation_id, "starts_on": starts_on.to_string(), "service_description": "Outreach visits"})
}

/// A new allocation to demo CSP `csp`, assigned to its demo worker (who then reaches it).
fn assigned_allocation(app: &TestApp, csp: &str, starts_on: NaiveDate) -> Value {
    let mut body = new_allocation(&app.organisation_id(csp), starts_on);
    body["worker_id"] = json!(app.demo_worker_of(csp));
    body
}

fn new_user(username: &str, organisation_id: &str, role: &str) -> Value {
    json!({
        "username": username,
        "display_name": "New Person",
        "email": format!("{username}@example.org"),
        "organisation_id": organisation_id,
        "roles": [role],
        "clearance": "OFFICIAL",
    })
}

fn note_ids(page: &Response) -> Vec<String> {
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|note| note["id"].as_str().unwrap().to_owned())
        .collect()
}

fn stored_note(app: &TestApp, id: &str) -> (String, String, Option<String>) {
    app.with_db(|conn| {
        notes::table
            .find(id)
            .select((notes::visibility, notes::body, notes::amends_note_id))
            .first(conn)
            .unwrap()
    })
}

/// A client of Family Services, outside Housing Support's rows. Found by division, not by
/// `client_id(100)`: demo clients 100 and 16 share a name, so that helper may return either.
fn family_client_id(app: &TestApp) -> String {
    let family = app.organisation_id(FAMILY_SERVICES);
    app.with_db(|conn| {
        clients::table
            .filter(clients::lead_division_id.eq(family))
            .select(clients::id)
            .first(conn)
            .unwrap()
    })
}

/// The demo allocation on demo client `index`'s case.
fn allocation_id(app: &TestApp, index: usize) -> String {
    let case = app.case_id(index);
    app.with_db(|conn| {
        allocations::table
            .filter(allocations::case_id.eq(case))
            .select(allocations::id)
            .first(conn)
            .unwrap()
    })
}

// ---- field-level write permissions -----------------------------------------------------------

#[actix_web::test]
async fn a_caseworker_updates_a_phone_with_if_match_and_the_version_increments() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let path = client_path(&app, 0);
    let before = read(&app, &path, &token).await;
    assert_eq!(before.etag(), "\"1\"");
    assert_eq!(before.body["version"], 1);

    let updated = app
        .patch(
            &path,
            &token,
            json!({"phone": "0399990000"}),
            Some(&before.etag()),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.etag(), "\"2\"");
    assert_eq!(updated.body["version"], 2);
    assert_eq!(updated.body["phone"], "0399990000");

    let after = read(&app, &path, &token).await;
    assert_eq!(after.body["phone"], "0399990000");
    assert_eq!(after.etag(), "\"2\"");
    assert_eq!(
        after.body["given_name"], before.body["given_name"],
        "other fields are untouched"
    );
}

#[actix_web::test]
async fn a_csp_worker_updates_phone_and_address_of_an_allocated_client() {
    let app = spawn_app().await;
    let csp = app.login("csp-north").await;
    let path = client_path(&app, NORTHSIDE_CLIENT);
    let before = read(&app, &path, &csp).await;
    let address = json!({"line1": "7 New Lane", "line2": null, "suburb": "Coburg", "state": "VIC", "postcode": "3058"});

    let updated = app
        .patch(
            &path,
            &csp,
            json!({"phone": "0455512345", "address": address}),
            Some(&before.etag()),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.etag(), "\"2\"");
    assert!(
        updated.body.get("medicare_number").is_none(),
        "the response is masked for the CSP"
    );

    let department_view = read(&app, &path, &app.login("teamleader").await).await;
    assert_eq!(department_view.body["phone"], "0455512345");
    assert_eq!(department_view.body["address"], address);
    assert_eq!(department_view.body["version"], 2);

    // Once the allocation has ended the client is out of reach.
    let ended = app.client_id(casebridge::demo::ENDED_ALLOCATION_CLIENT);
    let stored = client_row(&app, &ended);
    let response = app
        .patch(
            &format!("/api/v1/clients/{ended}"),
            &csp,
            json!({"phone": "0455512345"}),
            Some("\"1\""),
        )
        .await;
    assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(client_row(&app, &ended), stored);
}

#[actix_web::test]
async fn a_csp_worker_may_not_write_medicare_number_or_given_name() {
    let app = spawn_app().await;
    let csp = app.login("csp-north").await;
    let id = app.client_id(NORTHSIDE_CLIENT);
    let path = client_path(&app, NORTHSIDE_CLIENT);
    let etag = read(&app, &path, &csp).await.etag();
    let stored = client_row(&app, &id);

    let medicare = app
        .patch(
            &path,
            &csp,
            json!({"medicare_number": "2123456701"}),
            Some(&etag),
        )
        .await;
    assert_not_writable(&medicare, &["medicare_number"]);
    // A permitted field in the same body is not stored either.
    let name = app
        .patch(
            &path,
            &csp,
            json!({"given_name": "Changed", "phone": "0400000001"}),
            Some(&etag),
        )
        .await;
    assert_not_writable(&name, &["given_name"]);
    let both = app
        .patch(
            &path,
            &csp,
            json!({"medicare_number": "2123456701", "given_name": "X"}),
            Some(&etag),
        )
        .await;
    assert_not_writable(&both, &["given_name", "medicare_number"]);

    assert_eq!(client_row(&app, &id), stored);
}

#[actix_web::test]
async fn a_caseworker_may_not_write_a_tax_file_number() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let id = app.client_id(1);
    let path = client_path(&app, 1);
    let etag = read(&app, &path, &token).await.etag();
    let stored = client_row(&app, &id);

    let response = app
        .patch(
            &path,
            &token,
            json!({"tax_file_number": "123456782"}),
            Some(&etag),
        )
        .await;
    assert_not_writable(&response, &["tax_file_number"]);
    assert_eq!(client_row(&app, &id), stored);
}

#[actix_web::test]
async fn a_caseworker_may_not_create_a_client_with_a_tax_file_number() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let before = stored_rows(&app);
    let mut body = new_client();
    body["tax_file_number"] = json!("123456782");

    let response = app.post("/api/v1/clients", &token, body).await;
    assert_not_writable(&response, &["tax_file_number"]);
    assert_eq!(stored_rows(&app), before);

    // Without the field the same client is created.
    let created = app.post("/api/v1/clients", &token, new_client()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.etag(), "\"1\"");
    let location = created.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(
        read(&app, &location, &token).await.body["family_name"],
        "Castellano"
    );
}

#[actix_web::test]
async fn unknown_fields_are_422_and_store_nothing() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let id = app.client_id(0);
    let path = client_path(&app, 0);
    let etag = read(&app, &path, &token).await.etag();
    let (row, rows) = (client_row(&app, &id), stored_rows(&app));

    let patch = app
        .patch(
            &path,
            &token,
            json!({"phone": "0400000002", "favourite_colour": "blue"}),
            Some(&etag),
        )
        .await;
    assert_problem(
        &patch,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let mut body = new_client();
    body["favourite_colour"] = json!("blue");
    let post = app.post("/api/v1/clients", &token, body).await;
    assert_problem(&post, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let nested = app
        .patch(
            &path,
            &token,
            json!({"address": {"line1": "1 A St", "planet": "Mars"}}),
            Some(&etag),
        )
        .await;
    assert_problem(
        &nested,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    assert_eq!(client_row(&app, &id), row);
    assert_eq!(stored_rows(&app), rows);
}

// ---- preconditions ---------------------------------------------------------------------------

#[actix_web::test]
async fn a_patch_without_if_match_is_428() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let id = app.client_id(0);
    let stored = client_row(&app, &id);

    let response = app
        .patch(
            &client_path(&app, 0),
            &token,
            json!({"phone": "0400000003"}),
            None,
        )
        .await;
    assert_problem(
        &response,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );
    let case = app
        .patch(
            &case_path(&app, 0),
            &token,
            json!({"summary": "changed"}),
            None,
        )
        .await;
    assert_problem(
        &case,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );

    assert_eq!(client_row(&app, &id), stored);
    assert_eq!(
        read(&app, &case_path(&app, 0), &token).await.body["version"],
        1
    );
}

/// Both read the client; `first` patches; `second`'s patch with the ETag it read is 412 and
/// leaves `first`'s change in place.
async fn stale_write_is_refused(first: &str, second: &str) {
    let app = spawn_app().await;
    let (first, second) = (app.login(first).await, app.login(second).await);
    let id = app.client_id(NORTHSIDE_CLIENT);
    let path = client_path(&app, NORTHSIDE_CLIENT);
    let first_read = read(&app, &path, &first).await;
    let second_read = read(&app, &path, &second).await;
    assert_eq!(first_read.etag(), second_read.etag());

    let written = app
        .patch(
            &path,
            &first,
            json!({"phone": "0411111111"}),
            Some(&first_read.etag()),
        )
        .await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.body);
    let stored = client_row(&app, &id);

    let stale = app
        .patch(
            &path,
            &second,
            json!({"phone": "0422222222"}),
            Some(&second_read.etag()),
        )
        .await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED, "version_mismatch");
    assert_eq!(client_row(&app, &id), stored);
    let now = read(&app, &path, &second).await;
    assert_eq!(now.body["phone"], "0411111111");
    assert_eq!(now.etag(), written.etag());
}

#[actix_web::test]
async fn a_csp_edit_is_not_overwritten_by_a_department_worker_holding_an_old_etag() {
    stale_write_is_refused("csp-north", "caseworker").await;
}

#[actix_web::test]
async fn a_department_edit_is_not_overwritten_by_a_csp_worker_holding_an_old_etag() {
    stale_write_is_refused("caseworker", "csp-north").await;
}

// ---- cases -----------------------------------------------------------------------------------

#[actix_web::test]
async fn a_caseworker_opens_a_case_for_a_client_in_scope() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let client = app.client_id(UNALLOCATED_CLIENT);

    let created = app.post("/api/v1/cases", &token, new_case(&client)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.etag(), "\"1\"");
    assert_eq!(created.body["status"], "open");
    assert_eq!(created.body["client_id"], client);
    assert_eq!(
        created.body["division_id"],
        app.organisation_id(HOUSING_SUPPORT)
    );
    let location = created.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/api/v1/cases/{}", created.body["id"].as_str().unwrap())
    );
    assert_eq!(
        read(&app, &location, &token).await.body["summary"],
        "Intake"
    );

    // The division is the caller's; it cannot be chosen.
    let before = stored_rows(&app);
    let mut elsewhere = new_case(&client);
    elsewhere["division_id"] = json!(app.organisation_id(FAMILY_SERVICES));
    assert_not_writable(
        &app.post("/api/v1/cases", &token, elsewhere).await,
        &["division_id"],
    );
    assert_eq!(stored_rows(&app), before);
}

#[actix_web::test]
async fn a_case_for_a_client_out_of_scope_is_404_and_not_stored() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let before = stored_rows(&app);

    for client in [family_client_id(&app), app.client_id(PROTECTED_CLIENT)] {
        let response = app.post("/api/v1/cases", &token, new_case(&client)).await;
        assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
    }
    let unknown = app
        .post(
            "/api/v1/cases",
            &token,
            new_case(&uuid::Uuid::now_v7().to_string()),
        )
        .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(stored_rows(&app), before);
}

#[actix_web::test]
async fn a_csp_worker_may_not_open_or_change_a_case() {
    let app = spawn_app().await;
    let csp = app.login("csp-north").await;
    let before = stored_rows(&app);

    let open = app
        .post(
            "/api/v1/cases",
            &csp,
            new_case(&app.client_id(NORTHSIDE_CLIENT)),
        )
        .await;
    assert_problem(&open, StatusCode::FORBIDDEN, "forbidden");
    let change = app
        .patch(
            &case_path(&app, NORTHSIDE_CLIENT),
            &csp,
            json!({"status": "closed"}),
            Some("\"1\""),
        )
        .await;
    assert_problem(&change, StatusCode::FORBIDDEN, "forbidden");

    assert_eq!(stored_rows(&app), before);
    let case = read(
        &app,
        &case_path(&app, NORTHSIDE_CLIENT),
        &app.login("caseworker").await,
    )
    .await;
    assert_eq!(
        (case.body["status"].as_str(), case.body["version"].as_i64()),
        (Some("open"), Some(1))
    );
}

#[actix_web::test]
async fn closing_a_case_sets_closed_at() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let path = case_path(&app, 0);
    let before = read(&app, &path, &token).await;
    assert_eq!(before.body["closed_at"], Value::Null);

    let closed = app
        .patch(
            &path,
            &token,
            json!({"status": "closed"}),
            Some(&before.etag()),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(closed.body["status"], "closed");
    assert_eq!(closed.etag(), "\"2\"");
    let closed_at: chrono::DateTime<Utc> = closed.body["closed_at"]
        .as_str()
        .expect("closed_at is set")
        .parse()
        .unwrap();
    assert!(
        (Utc::now() - closed_at).num_seconds().abs() < 60,
        "closed_at {closed_at} is now"
    );
    assert_eq!(
        read(&app, &path, &token).await.body["closed_at"],
        closed.body["closed_at"]
    );
}

// ---- allocations -----------------------------------------------------------------------------

#[actix_web::test]
async fn only_a_team_leader_creates_or_ends_allocations() {
    let app = spawn_app().await;
    let eastern = app.organisation_id(EASTERN);
    let case = case_path(&app, UNALLOCATED_CLIENT);
    let existing = format!(
        "{}/allocations/{}",
        case_path(&app, NORTHSIDE_CLIENT),
        allocation_id(&app, NORTHSIDE_CLIENT)
    );
    let before = stored_rows(&app);

    for username in ["caseworker", "csp-north", "csp-east"] {
        let token = app.login(username).await;
        let create = app
            .post(
                &format!("{case}/allocations"),
                &token,
                new_allocation(&eastern, today()),
            )
            .await;
        assert_problem(&create, StatusCode::FORBIDDEN, "forbidden");
        let end = app
            .patch(
                &existing,
                &token,
                json!({"ends_on": today().to_string()}),
                Some("\"1\""),
            )
            .await;
        assert_problem(&end, StatusCode::FORBIDDEN, "forbidden");
    }

    assert_eq!(stored_rows(&app), before);
    let allocation = allocation_id(&app, NORTHSIDE_CLIENT);
    let ends_on: Option<NaiveDate> = app.with_db(|conn| {
        allocations::table
            .find(allocation)
            .select(allocations::ends_on)
            .first(conn)
            .unwrap()
    });
    assert_eq!(ends_on, None);
}

#[actix_web::test]
async fn an_allocation_gives_a_csp_access_and_ending_it_takes_it_away() {
    let app = spawn_app().await;
    let (leader, east) = (app.login("teamleader").await, app.login("csp-east").await);
    let client = client_path(&app, UNALLOCATED_CLIENT);
    let case = case_path(&app, UNALLOCATED_CLIENT);
    assert_problem(
        &app.get(&client, &east).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let created = app
        .post(
            &format!("{case}/allocations"),
            &leader,
            assigned_allocation(&app, EASTERN, today() - Duration::days(7)),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let location = created.headers["location"].to_str().unwrap().to_owned();
    let fetched = read(&app, &location, &leader).await;
    assert_eq!(
        fetched.body, created.body,
        "the Location names the new allocation"
    );
    assert_eq!(fetched.etag(), created.etag());
    assert_eq!(
        read(&app, &location, &east).await.body["organisation_id"],
        app.organisation_id(EASTERN)
    );
    assert_problem(
        &app.get(&location, &app.login("csp-north").await).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(
        read(&app, &client, &east).await.body["id"],
        app.client_id(UNALLOCATED_CLIENT)
    );
    read(&app, &case, &east).await;
    assert_problem(
        &app.get(&client, &app.login("csp-north").await).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let yesterday = (today() - Duration::days(1)).to_string();
    let ended = app
        .patch(
            &format!(
                "{case}/allocations/{}",
                created.body["id"].as_str().unwrap()
            ),
            &leader,
            json!({"ends_on": yesterday}),
            Some(&created.etag()),
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.body["ends_on"], yesterday);
    assert_problem(
        &app.get(&client, &east).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &app.get(&case, &east).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[actix_web::test]
async fn an_allocation_to_a_division_is_422() {
    let app = spawn_app().await;
    let leader = app.login("teamleader").await;
    let before = stored_rows(&app);

    let path = format!("{}/allocations", case_path(&app, UNALLOCATED_CLIENT));
    let response = app
        .post(
            &path,
            &leader,
            new_allocation(&app.organisation_id(FAMILY_SERVICES), today()),
        )
        .await;
    assert_invalid(&response, "organisation_id");
    assert_eq!(stored_rows(&app), before);
}

#[actix_web::test]
async fn an_allocation_with_bad_dates_or_a_foreign_worker_is_422() {
    let app = spawn_app().await;
    let leader = app.login("teamleader").await;
    let eastern = app.organisation_id(EASTERN);
    let path = format!("{}/allocations", case_path(&app, UNALLOCATED_CLIENT));
    let before = stored_rows(&app);

    let mut backwards = new_allocation(&eastern, today());
    backwards["ends_on"] = json!((today() - Duration::days(1)).to_string());
    assert_invalid(&app.post(&path, &leader, backwards).await, "ends_on");
    let mut foreign_worker = new_allocation(&eastern, today());
    foreign_worker["worker_id"] = json!(app.user_id("csp-north"));
    assert_invalid(&app.post(&path, &leader, foreign_worker).await, "worker_id");
    assert_eq!(stored_rows(&app), before);

    // Ending an allocation before it starts is refused too, and leaves it open.
    let existing = allocation_id(&app, NORTHSIDE_CLIENT);
    let end_path = format!(
        "{}/allocations/{existing}",
        case_path(&app, NORTHSIDE_CLIENT)
    );
    let too_early = (today() - Duration::days(365)).to_string();
    assert_invalid(
        &app.patch(
            &end_path,
            &leader,
            json!({"ends_on": too_early}),
            Some("\"1\""),
        )
        .await,
        "ends_on",
    );
    let stale = app
        .patch(
            &end_path,
            &leader,
            json!({"ends_on": today().to_string()}),
            Some("\"7\""),
        )
        .await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED, "version_mismatch");
    let ends_on: Option<NaiveDate> = app.with_db(|conn| {
        allocations::table
            .find(existing)
            .select(allocations::ends_on)
            .first(conn)
            .unwrap()
    });
    assert_eq!(ends_on, None);
}

/// An allocation goes to a CSP under contract, not merely to an organisation of kind `csp`.
#[actix_web::test]
async fn an_allocation_to_a_csp_whose_contract_has_ended_is_422() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let former = app
        .post(
            "/api/v1/organisations",
            &admin,
            json!({"name": "Former Provider", "kind": "csp", "contact_email": "office@former.example",
                   "contract_starts_on": "2020-01-01", "contract_ends_on": "2021-12-31"}),
        )
        .await;
    assert_eq!(former.status, StatusCode::CREATED, "{}", former.body);
    let before = stored_rows(&app);

    let path = format!("{}/allocations", case_path(&app, UNALLOCATED_CLIENT));
    let response = app
        .post(
            &path,
            &app.login("teamleader").await,
            new_allocation(former.body["id"].as_str().unwrap(), today()),
        )
        .await;
    assert_invalid(&response, "organisation_id");
    assert_eq!(stored_rows(&app), before);
}

/// SPEC: access ends when a contract ends, even while the allocation itself is still open:
/// the CSP's staff are refused outright, and the department still reads the client.
#[actix_web::test]
async fn ending_a_csp_contract_ends_its_access() {
    let app = spawn_app().await;
    let (admin, east) = (app.login("admin").await, app.login("csp-east").await);
    let client = client_path(&app, 1);
    read(&app, &client, &east).await;

    let organisation = format!("/api/v1/organisations/{}", app.organisation_id(EASTERN));
    let etag = read(&app, &organisation, &admin).await.etag();
    let yesterday = (today() - Duration::days(1)).to_string();
    let ended = app
        .patch(
            &organisation,
            &admin,
            json!({"contract_ends_on": yesterday}),
            Some(&etag),
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);

    assert_problem(
        &app.get(&client, &east).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    read(&app, &client, &app.login("caseworker").await).await;
}

// ---- notes -----------------------------------------------------------------------------------

#[actix_web::test]
async fn a_department_note_is_invisible_to_the_csp() {
    let app = spawn_app().await;
    let (caseworker, csp) = (app.login("caseworker").await, app.login("csp-north").await);
    let notes = format!("{}/notes", case_path(&app, NORTHSIDE_CLIENT));

    let created = app
        .post(
            &notes,
            &caseworker,
            json!({"note_type": "assessment", "body": "Risk review."}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["visibility"], "department");
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(stored_note(&app, &id).0, "department");

    assert_problem(
        &app.get(&format!("/api/v1/notes/{id}"), &csp).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let csp_list = read(&app, &format!("{notes}?limit=200"), &csp).await;
    assert!(!note_ids(&csp_list).contains(&id));
    assert!(
        note_ids(&csp_list).contains(&app.note_id(NORTHSIDE_CLIENT, "shared")),
        "the CSP still sees shared notes"
    );
    assert_eq!(
        read(&app, &format!("/api/v1/notes/{id}"), &caseworker)
            .await
            .body["body"],
        "Risk review."
    );

    // Nor can the CSP amend it.
    let before = stored_rows(&app);
    let amend = app
        .post(
            &format!("/api/v1/notes/{id}/amendments"),
            &csp,
            json!({"body": "Seen it."}),
        )
        .await;
    assert_problem(&amend, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(stored_rows(&app), before);
}

#[actix_web::test]
async fn a_csp_note_on_an_allocated_case_is_stored_as_shared() {
    let app = spawn_app().await;
    let csp = app.login("csp-north").await;

    let created = app
        .post(
            &format!("{}/notes", case_path(&app, NORTHSIDE_CLIENT)),
            &csp,
            json!({"note_type": "contact", "body": "Visited."}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["visibility"], "shared");
    assert_eq!(
        created.body["author_organisation_id"],
        app.organisation_id(NORTHSIDE)
    );
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        stored_note(&app, &id),
        ("shared".into(), "Visited.".into(), None)
    );
    assert_eq!(
        read(
            &app,
            &format!("/api/v1/notes/{id}"),
            &app.login("caseworker").await
        )
        .await
        .body["visibility"],
        "shared"
    );

    // A case not allocated to Northside does not exist for it.
    let before = stored_rows(&app);
    let elsewhere = app
        .post(
            &format!("{}/notes", case_path(&app, UNALLOCATED_CLIENT)),
            &csp,
            json!({"note_type": "contact", "body": "x"}),
        )
        .await;
    assert_problem(&elsewhere, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(stored_rows(&app), before);
}

#[actix_web::test]
async fn a_csp_worker_may_not_choose_a_note_visibility() {
    let app = spawn_app().await;
    let csp = app.login("csp-north").await;
    let before = stored_rows(&app);
    let notes = format!("{}/notes", case_path(&app, NORTHSIDE_CLIENT));

    for visibility in ["department", "shared"] {
        let response = app
            .post(
                &notes,
                &csp,
                json!({"note_type": "contact", "body": "x", "visibility": visibility}),
            )
            .await;
        assert_not_writable(&response, &["visibility"]);
    }
    assert_eq!(stored_rows(&app), before);
}

#[actix_web::test]
async fn an_amendment_is_a_new_note_and_the_original_is_unchanged() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let original = app.note_id(NORTHSIDE_CLIENT, "shared");
    let original_path = format!("/api/v1/notes/{original}");
    let before = read(&app, &original_path, &token).await;

    let amendment = app
        .post(
            &format!("{original_path}/amendments"),
            &token,
            json!({"body": "Correction: visit was on Tuesday."}),
        )
        .await;
    assert_eq!(amendment.status, StatusCode::CREATED, "{}", amendment.body);
    assert_eq!(amendment.body["amends_note_id"], original);
    assert_eq!(
        amendment.body["visibility"], "shared",
        "an amendment keeps the original's visibility"
    );
    let id = amendment.body["id"].as_str().unwrap().to_owned();
    assert_ne!(id, original);

    assert_eq!(read(&app, &original_path, &token).await.body, before.body);
    assert_eq!(
        read(&app, &format!("/api/v1/notes/{id}"), &token)
            .await
            .body["body"],
        "Correction: visit was on Tuesday."
    );
    let listed = note_ids(
        &read(
            &app,
            &format!("{}/notes", case_path(&app, NORTHSIDE_CLIENT)),
            &token,
        )
        .await,
    );
    assert!(listed.contains(&original) && listed.contains(&id));
    // The CSP the case is allocated to reads both too.
    let csp = app.login("csp-north").await;
    read(&app, &original_path, &csp).await;
    read(&app, &format!("/api/v1/notes/{id}"), &csp).await;
}

#[actix_web::test]
async fn a_note_cannot_be_edited_or_deleted() {
    let app = spawn_app().await;
    let token = app.login("teamleader").await;
    let id = app.note_id(0, "department");
    let path = format!("/api/v1/notes/{id}");
    let stored = stored_note(&app, &id);
    let before = stored_rows(&app);

    for method in [Method::PATCH, Method::PUT, Method::DELETE] {
        let response = app
            .request(
                method.clone(),
                &path,
                Some(&token),
                Some(json!({"body": "rewritten"})),
                &[("If-Match", "\"1\"")],
            )
            .await;
        assert!(
            [StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&response.status),
            "{method} {path}: {} {}",
            response.status,
            response.body
        );
    }
    assert_eq!(stored_note(&app, &id), stored);
    assert_eq!(stored_rows(&app), before);
}

// ---- users and organisations -----------------------------------------------------------------

#[actix_web::test]
async fn an_admin_creates_an_organisation_and_a_duplicate_name_is_409() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let body = json!({"name": "Westside Support", "kind": "csp", "contact_email": "hello@westside.example",
                      "contract_starts_on": "2024-01-01", "contract_ends_on": "2030-12-31"});

    let created = app
        .post("/api/v1/organisations", &admin, body.clone())
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let location = created.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(
        read(&app, &location, &admin).await.body["name"],
        "Westside Support"
    );
    let before = stored_rows(&app);

    let duplicate = app.post("/api/v1/organisations", &admin, body).await;
    assert_problem(&duplicate, StatusCode::CONFLICT, "name_taken");
    let existing = app
        .post(
            "/api/v1/organisations",
            &admin,
            json!({"name": NORTHSIDE, "kind": "csp", "contact_email": "x@y.example"}),
        )
        .await;
    assert_problem(&existing, StatusCode::CONFLICT, "name_taken");
    let not_admin = app
        .post(
            "/api/v1/organisations",
            &app.login("teamleader").await,
            json!({"name": "Other", "kind": "csp", "contact_email": "x@y.example"}),
        )
        .await;
    assert_problem(&not_admin, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(stored_rows(&app), before);
}

#[actix_web::test]
async fn a_role_of_the_wrong_organisation_kind_is_422() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let before = stored_rows(&app);

    let csp_role_in_division = app
        .post(
            "/api/v1/users",
            &admin,
            new_user(
                "new.worker",
                &app.organisation_id(HOUSING_SUPPORT),
                "csp_worker",
            ),
        )
        .await;
    assert_invalid(&csp_role_in_division, "roles");
    let division_role_in_csp = app
        .post(
            "/api/v1/users",
            &admin,
            new_user(
                "new.worker",
                &app.organisation_id(NORTHSIDE),
                "dept_caseworker",
            ),
        )
        .await;
    assert_invalid(&division_role_in_csp, "roles");
    assert_eq!(stored_rows(&app), before);

    let fitting = app
        .post(
            "/api/v1/users",
            &admin,
            new_user("new.worker", &app.organisation_id(NORTHSIDE), "csp_worker"),
        )
        .await;
    assert_eq!(fitting.status, StatusCode::CREATED, "{}", fitting.body);
    assert_eq!(fitting.body["status"], "pending");

    // A role change is held to the same rule.
    let path = format!("/api/v1/users/{}", app.user_id("csp-north"));
    let etag = read(&app, &path, &admin).await.etag();
    assert_invalid(
        &app.patch(
            &path,
            &admin,
            json!({"roles": ["dept_team_leader"]}),
            Some(&etag),
        )
        .await,
        "roles",
    );
    assert_eq!(
        read(&app, &path, &admin).await.body["roles"],
        json!(["csp_worker"])
    );
}

#[actix_web::test]
async fn a_duplicate_username_is_409() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let before = stored_rows(&app);

    let response = app
        .post(
            "/api/v1/users",
            &admin,
            new_user(
                "caseworker",
                &app.organisation_id(HOUSING_SUPPORT),
                "dept_caseworker",
            ),
        )
        .await;
    assert_problem(&response, StatusCode::CONFLICT, "username_taken");
    assert_eq!(stored_rows(&app), before);
}

#[actix_web::test]
async fn only_an_admin_creates_users() {
    let app = spawn_app().await;
    let before = stored_rows(&app);

    // A csp_manager creates users only in its own organisation.
    for (username, code) in [
        ("caseworker", "forbidden"),
        ("teamleader", "forbidden"),
        ("csp-north-manager", "organisation_not_allowed"),
        ("privacy", "forbidden"),
    ] {
        let token = app.login(username).await;
        let body = new_user(
            "sneaky",
            &app.organisation_id(HOUSING_SUPPORT),
            "dept_admin",
        );
        assert_problem(
            &app.post("/api/v1/users", &token, body).await,
            StatusCode::FORBIDDEN,
            code,
        );
    }
    assert_eq!(stored_rows(&app), before);
}
