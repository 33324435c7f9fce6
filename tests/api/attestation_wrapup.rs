//! The CSP partnership's annual attestation and contract wrap-up (issue 20, parts 5 and 8):
//! who may submit, acknowledge, open, certify and close; the overdue and outstanding reports;
//! the annex of what the audit trail shows was disclosed to the CSP; and the session that a
//! CSP's manager keeps after the contract ends, for the wrap-up alone.
use std::collections::BTreeSet;

use casebridge::db::schema::{attestations, users, wrap_up_certificates, wrap_ups};
use casebridge::demo::{EASTERN, FAMILY_SERVICES, NORTHSIDE};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Response, TestApp, spawn_app};

// ---- fixtures -------------------------------------------------------------------------------

fn attestations_of(app: &TestApp, organisation: &str) -> String {
    format!(
        "/api/v1/organisations/{}/attestations",
        app.organisation_id(organisation)
    )
}

fn wrap_up_of(app: &TestApp, organisation: &str) -> String {
    format!(
        "/api/v1/organisations/{}/wrap-up",
        app.organisation_id(organisation)
    )
}

/// An answer of `yes` to every question of the checklist in force.
async fn all_yes(app: &TestApp, token: &str) -> Value {
    let checklist = app.get("/api/v1/attestation-checklist", token).await;
    assert_eq!(checklist.status, StatusCode::OK, "{}", checklist.body);
    checklist.body["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|question| (question["id"].as_str().unwrap().to_owned(), json!("yes")))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// An attestation of the year up to today.
async fn attestation(app: &TestApp, token: &str) -> Value {
    let today = app.clock.today();
    json!({
        "period_start": today - chrono::Duration::days(364),
        "period_end": today,
        "statement": "We met every obligation of the contract.",
        "answers": all_yes(app, token).await,
        "signed_by_name": "Nora North",
        "signed_by_position": "Chief Executive",
    })
}

/// Northside's manager submits an attestation: the answer.
pub(crate) async fn submit(app: &TestApp, manager: &str) -> Response {
    let body = attestation(app, manager).await;
    app.post(&attestations_of(app, NORTHSIDE), manager, body)
        .await
}

fn attestation_rows(app: &TestApp) -> i64 {
    app.with_db(|conn| attestations::table.count().get_result(conn).unwrap())
}

/// The wrap-ups and certificates stored.
fn wrap_up_rows(app: &TestApp) -> (i64, i64) {
    app.with_db(|conn| {
        (
            wrap_ups::table.count().get_result(conn).unwrap(),
            wrap_up_certificates::table
                .count()
                .get_result(conn)
                .unwrap(),
        )
    })
}

/// A POST with `If-Match`, and no body.
async fn act_if_match(app: &TestApp, path: &str, token: &str, etag: Option<&str>) -> Response {
    let headers: Vec<(&str, &str)> = etag
        .map(|etag| vec![("If-Match", etag)])
        .unwrap_or_default();
    app.request(Method::POST, path, Some(token), None, &headers)
        .await
}

fn certificate() -> Value {
    json!({
        "what": "Paper files of every client, and the case system's copies and backups.",
        "how": "destroyed",
        "when": "2026-01-02",
        "by_whom": "Shred-It Pty Ltd, witnessed by N. North",
        "statement": "No copy of any client's information is kept.",
    })
}

/// Records the certificate of the wrap-up at `path` as `token`'s holder: the wrap-up.
async fn certify(app: &TestApp, path: &str, token: &str) -> Response {
    let certified = app
        .post(&format!("{path}/certificate"), token, certificate())
        .await;
    assert_eq!(certified.status, StatusCode::CREATED, "{}", certified.body);
    certified
}

/// Closes the wrap-up at `path` as read at `etag`: the closed wrap-up.
async fn close(app: &TestApp, path: &str, admin: &str, etag: &str) -> Response {
    let closed = act_if_match(app, &format!("{path}/close"), admin, Some(etag)).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    closed
}

/// Makes `username` a csp_manager (a fixture: no demo CSP but Northside has one).
fn make_manager(app: &TestApp, username: &str) {
    app.with_db(|conn| {
        diesel::update(users::table.filter(users::username.eq(username)))
            .set(users::roles.eq(r#"["csp_manager"]"#))
            .execute(conn)
            .unwrap()
    });
}

/// Ends `organisation`'s contract: its last day is today, then the clock moves a day on.
async fn end_contract(app: &TestApp, admin: &str, organisation: &str) {
    let path = format!(
        "/api/v1/organisations/{}",
        app.organisation_id(organisation)
    );
    let today = app.clock.today();
    let ended = app
        .patch_current(&path, admin, json!({"contract_ends_on": today}))
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    app.clock.advance(chrono::Duration::days(1));
}

fn assert_problem(response: &Response, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{}", response.body);
    assert_eq!(response.code(), code, "{}", response.body);
}

// ---- attestation ----------------------------------------------------------------------------

#[actix_web::test]
async fn a_csp_manager_attests_for_its_own_organisation_against_the_checklist_in_force() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let submitted = submit(&app, &manager).await;
    assert_eq!(submitted.status, StatusCode::CREATED, "{}", submitted.body);
    assert_eq!(submitted.body["status"], "submitted");
    assert_eq!(submitted.body["checklist_version"], "2026-1");
    assert_eq!(
        submitted.body["submitted_by"],
        app.user_id("csp-north-manager")
    );
    let answers = submitted.body["answers"].as_array().unwrap();
    assert_eq!(answers[0]["question_id"], "staff_trained");
    assert!(
        answers[0]["question"]
            .as_str()
            .unwrap()
            .contains("training")
    );
    assert!(answers.iter().all(|answer| answer["answer"] == "yes"));
    let location = submitted.headers["location"].to_str().unwrap().to_owned();
    let read = app.get(&location, &manager).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.etag(), "\"1\"");
    // Its manager, the department's administrators and its auditors list it.
    for user in ["csp-north-manager", "admin", "auditor"] {
        let token = app.login(user).await;
        let listed = app.get(&attestations_of(&app, NORTHSIDE), &token).await;
        assert_eq!(listed.status, StatusCode::OK, "{user}: {}", listed.body);
        assert_eq!(
            listed.body["items"][0]["id"], submitted.body["id"],
            "{user}"
        );
    }
    let row = app.audit_row_of(&submitted);
    assert_eq!(
        (row.outcome.as_str(), row.resource_type.as_deref()),
        ("allowed", Some("attestation"))
    );
}

#[actix_web::test]
async fn an_attestation_answers_every_question_and_only_the_checklists_questions() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let mut body = attestation(&app, &manager).await;
    let answers = body["answers"].as_object_mut().unwrap();
    answers.remove("subcontractors");
    answers.insert("made_up".into(), json!("no"));
    body["period_end"] = json!(app.clock.today() + chrono::Duration::days(1));
    body["period_start"] = json!(app.clock.today() + chrono::Duration::days(2));
    let refused = app
        .post(&attestations_of(&app, NORTHSIDE), &manager, body)
        .await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let fields: BTreeSet<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "answers.made_up",
            "answers.subcontractors",
            "period_end",
            "period_start"
        ])
    );
    let mut bad_answer = attestation(&app, &manager).await;
    bad_answer["answers"]["staff_trained"] = json!("maybe");
    let refused = app
        .post(&attestations_of(&app, NORTHSIDE), &manager, bad_answer)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(attestation_rows(&app), 0, "nothing stored on refusal");
}

#[actix_web::test]
async fn only_a_csp_manager_attests_and_only_for_its_own_organisation() {
    let app = spawn_app().await;
    make_manager(&app, "csp-east");
    for user in [
        "csp-north",
        "admin",
        "auditor",
        "caseworker",
        "privacy",
        "records",
    ] {
        let token = app.login(user).await;
        let body = attestation(&app, &app.login("csp-north-manager").await).await;
        let refused = app
            .post(&attestations_of(&app, NORTHSIDE), &token, body)
            .await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    }
    // Another CSP's manager is told nothing of Northside: not found, listed or read.
    let east = app.login("csp-east").await;
    let north = app.login("csp-north-manager").await;
    let own = submit(&app, &north).await;
    let before = attestation_rows(&app);
    let body = attestation(&app, &east).await;
    let refused = app
        .post(&attestations_of(&app, NORTHSIDE), &east, body)
        .await;
    assert_problem(&refused, StatusCode::NOT_FOUND, "not_found");
    let listed = app.get(&attestations_of(&app, NORTHSIDE), &east).await;
    assert_problem(&listed, StatusCode::NOT_FOUND, "not_found");
    let location = own.headers["location"].to_str().unwrap();
    assert_problem(
        &app.get(location, &east).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(attestation_rows(&app), before);
    // A division is no CSP: nobody attests for it.
    let division = attestations_of(&app, FAMILY_SERVICES);
    assert_problem(
        &app.get(&division, &app.login("admin").await).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // Its own list holds only its own.
    let listed = app.get(&attestations_of(&app, EASTERN), &east).await;
    assert_eq!(listed.body["items"], json!([]), "{}", listed.body);
}

#[actix_web::test]
async fn a_dept_admin_acknowledges_an_attestation_once_with_if_match() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let submitted = submit(&app, &manager).await;
    let acknowledge = format!(
        "{}/acknowledgement",
        submitted.headers["location"].to_str().unwrap()
    );
    let admin = app.login("admin").await;
    for user in ["csp-north-manager", "auditor", "caseworker"] {
        let token = app.login(user).await;
        let refused = act_if_match(&app, &acknowledge, &token, Some("\"1\"")).await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    }
    let refused = act_if_match(&app, &acknowledge, &admin, None).await;
    assert_problem(
        &refused,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );
    let refused = act_if_match(&app, &acknowledge, &admin, Some("\"7\"")).await;
    assert_problem(
        &refused,
        StatusCode::PRECONDITION_FAILED,
        "version_mismatch",
    );
    let acknowledged = act_if_match(&app, &acknowledge, &admin, Some("\"1\"")).await;
    assert_eq!(acknowledged.status, StatusCode::OK, "{}", acknowledged.body);
    assert_eq!(acknowledged.body["status"], "acknowledged");
    assert_eq!(acknowledged.body["acknowledged_by"], app.user_id("admin"));
    assert_eq!(acknowledged.etag(), "\"2\"");
    let again = act_if_match(&app, &acknowledge, &admin, Some("\"2\"")).await;
    assert_problem(&again, StatusCode::CONFLICT, "attestation_acknowledged");
}

#[actix_web::test]
async fn csps_under_contract_without_a_recent_attestation_are_reported_overdue() {
    let app = spawn_app().await;
    let report = "/api/v1/reports/attestations-overdue";
    let overdue = |response: &Response| -> Vec<String> {
        response.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // The demo contracts started a year ago: the first attestation is due in 30 days.
    let admin = app.login("admin").await;
    let now = app.get(report, &admin).await;
    assert_eq!(now.status, StatusCode::OK, "{}", now.body);
    assert!(overdue(&now).is_empty(), "{}", now.body);
    app.clock.advance(chrono::Duration::days(31));
    let admin = app.login("admin").await;
    let later = app.get(report, &admin).await;
    let names: BTreeSet<String> = overdue(&later).into_iter().collect();
    assert_eq!(
        names,
        BTreeSet::from([NORTHSIDE.to_owned(), EASTERN.to_owned()])
    );
    let northside = later.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["name"] == NORTHSIDE)
        .unwrap()
        .clone();
    assert_eq!(northside["last_attestation_id"], Value::Null);
    assert_eq!(northside["days_overdue"], 1);
    // Once Northside attests, it is no longer overdue; Eastern still is.
    let manager = app.login("csp-north-manager").await;
    let submitted = submit(&app, &manager).await;
    assert_eq!(submitted.status, StatusCode::CREATED, "{}", submitted.body);
    let auditor = app.login("auditor").await;
    let after = app.get(report, &auditor).await;
    assert_eq!(overdue(&after), [EASTERN]);
    for user in ["csp-north-manager", "csp-north", "caseworker", "privacy"] {
        let token = app.login(user).await;
        assert_problem(
            &app.get(report, &token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
}

// ---- wrap-up --------------------------------------------------------------------------------

#[actix_web::test]
async fn a_dept_admin_opens_a_wrap_up_listing_the_csps_people_once_at_a_time() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let path = wrap_up_of(&app, NORTHSIDE);
    for user in ["csp-north-manager", "csp-north", "auditor", "caseworker"] {
        let token = app.login(user).await;
        assert_problem(
            &app.act(&path, &token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    assert_eq!(wrap_up_rows(&app), (0, 0));
    let opened = app.act(&path, &admin).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    assert_eq!(opened.body["status"], "open");
    let usernames: BTreeSet<&str> = opened.body["principals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|principal| principal["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        usernames,
        BTreeSet::from(["csp-north", "csp-north-manager"])
    );
    assert!(opened.body["allocated_clients"].as_i64().unwrap() > 0);
    let again = app.act(&path, &admin).await;
    assert_problem(&again, StatusCode::CONFLICT, "wrap_up_already_open");
    assert_problem(
        &app.act(&wrap_up_of(&app, FAMILY_SERVICES), &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // A CSP without a contract end has nothing to wrap up yet.
    let eastern = format!("/api/v1/organisations/{}", app.organisation_id(EASTERN));
    let cleared = app
        .patch_current(&eastern, &admin, json!({"contract_ends_on": null}))
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    let refused = app.act(&wrap_up_of(&app, EASTERN), &admin).await;
    assert_problem(&refused, StatusCode::CONFLICT, "contract_end_not_set");
    assert_eq!(wrap_up_rows(&app), (1, 0));
}

/// Every page of the annex of `organisation`'s wrap-up, `limit` entries at a time.
async fn annex(app: &TestApp, token: &str, organisation: &str, limit: usize) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{}/annex?limit={limit}", wrap_up_of(app, organisation));
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = app.get(&path, token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= limit);
        entries.extend(items.iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return entries,
        }
    }
}

fn entry<'a>(entries: &'a [Value], client_id: &str) -> Option<&'a Value> {
    entries.iter().find(|entry| entry["client_id"] == client_id)
}

#[actix_web::test]
async fn the_annex_names_the_clients_and_fields_the_audit_trail_shows_were_disclosed_to_the_csp() {
    let app = spawn_app().await;
    // Northside's worker reads client 0 (allocated to Northside) and nothing of client 3.
    let worker = app.login("csp-north").await;
    let read = app
        .get(&format!("/api/v1/clients/{}", app.client_id(0)), &worker)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let admin = app.login("admin").await;
    let opened = app.act(&wrap_up_of(&app, NORTHSIDE), &admin).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let manager = app.login("csp-north-manager").await;
    let entries = annex(&app, &manager, NORTHSIDE, 2).await;
    // Every client ever allocated to Northside, in pages, and no other.
    assert_eq!(
        entries.len() as i64,
        opened.body["allocated_clients"].as_i64().unwrap()
    );
    let ids: Vec<&str> = entries
        .iter()
        .map(|entry| entry["client_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "by id, each once"
    );
    assert!(
        entry(&entries, &app.client_id(1)).is_none(),
        "Eastern's client"
    );
    let ended = entry(
        &entries,
        &app.client_id(casebridge::demo::ENDED_ALLOCATION_CLIENT),
    );
    assert!(ended.is_some(), "an ended allocation counts");
    let zero = entry(&entries, &app.client_id(0)).unwrap();
    let fields: BTreeSet<&str> = zero["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field.as_str().unwrap())
        .collect();
    let disclosed: BTreeSet<String> = read
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(|field| format!("client.{field}"))
        .collect();
    assert_eq!(
        fields,
        disclosed.iter().map(String::as_str).collect(),
        "{zero}"
    );
    assert!(fields.contains("client.phone") && !fields.contains("client.medicare_number"));
    assert_eq!(zero["disclosures"], 1);
    assert_eq!(zero["allocations"][0]["case_id"], app.case_id(0));
    let three = entry(&entries, &app.client_id(3)).unwrap();
    assert_eq!(
        (&three["fields"], &three["disclosures"]),
        (&json!([]), &json!(0))
    );
    // Reading the annex is audited with the clients it names, and discloses nothing of their
    // files: the annex read again is the same.
    assert_eq!(annex(&app, &manager, NORTHSIDE, 200).await, entries);
    let auditor = app.login("auditor").await;
    assert_eq!(annex(&app, &auditor, NORTHSIDE, 200).await, entries);
}

#[actix_web::test]
async fn close_needs_a_certificate_if_match_and_a_dept_admin() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let path = wrap_up_of(&app, NORTHSIDE);
    let opened = app.act(&path, &admin).await;
    let close = format!("{path}/close");
    let refused = act_if_match(&app, &close, &admin, Some(&opened.etag())).await;
    assert_problem(&refused, StatusCode::CONFLICT, "certificate_required");
    let manager = app.login("csp-north-manager").await;
    for user in ["csp-north", "auditor"] {
        let token = app.login(user).await;
        let refused = app
            .post(&format!("{path}/certificate"), &token, certificate())
            .await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    }
    let mut future = certificate();
    future["when"] = json!(app.clock.today() + chrono::Duration::days(1));
    let refused = app
        .post(&format!("{path}/certificate"), &manager, future)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(wrap_up_rows(&app), (1, 0));
    let certified = certify(&app, &path, &manager).await;
    assert_eq!(certified.body["certificates"][0]["how"], "destroyed");
    assert_eq!(
        certified.body["certificates"][0]["recorded_by"],
        app.user_id("csp-north-manager")
    );
    // A close prepared before the certificate is stale.
    let stale = act_if_match(&app, &close, &admin, Some(&opened.etag())).await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED, "version_mismatch");
    assert_problem(
        &act_if_match(&app, &close, &admin, None).await,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );
    let refused = act_if_match(&app, &close, &manager, Some(&certified.etag())).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    let closed = act_if_match(&app, &close, &admin, Some(&certified.etag())).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(closed.body["status"], "closed");
    assert_eq!(closed.body["closed_by"], app.user_id("admin"));
    let late = app
        .post(&format!("{path}/certificate"), &manager, certificate())
        .await;
    assert_problem(&late, StatusCode::CONFLICT, "wrap_up_closed");
    assert_eq!(wrap_up_rows(&app), (1, 1));
}

#[actix_web::test]
async fn another_csp_never_sees_a_wrap_up_that_is_not_its_own() {
    let app = spawn_app().await;
    make_manager(&app, "csp-east");
    let admin = app.login("admin").await;
    app.act(&wrap_up_of(&app, NORTHSIDE), &admin).await;
    let east = app.login("csp-east").await;
    let path = wrap_up_of(&app, NORTHSIDE);
    assert_problem(
        &app.get(&path, &east).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &app.get(&format!("{path}/annex"), &east).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let refused = app
        .post(&format!("{path}/certificate"), &east, certificate())
        .await;
    assert_problem(&refused, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(wrap_up_rows(&app), (1, 0));
    // Its own, which nobody opened, is not found either; a worker has no such function.
    assert_problem(
        &app.get(&wrap_up_of(&app, EASTERN), &east).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let worker = app.login("csp-north").await;
    assert_problem(
        &app.get(&path, &worker).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[actix_web::test]
async fn after_the_contract_ends_its_manager_signs_in_for_the_wrap_up_alone() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let worker = app.login("csp-north").await;
    let path = wrap_up_of(&app, NORTHSIDE);
    assert_eq!(app.act(&path, &admin).await.status, StatusCode::CREATED);
    end_contract(&app, &admin, NORTHSIDE).await;
    let admin = app.login("admin").await;
    // The worker's token and login stop, as without a wrap-up.
    assert_eq!(
        app.get("/api/v1/me", &worker).await.status,
        StatusCode::UNAUTHORIZED
    );
    let login = app.login_response("csp-north", PASSWORD).await;
    assert_problem(&login, StatusCode::UNAUTHORIZED, "invalid_credentials");
    // The manager signs in, and may reach the wrap-up, /me and logout, nothing else.
    let manager = app.login("csp-north-manager").await;
    assert_eq!(app.get("/api/v1/me", &manager).await.status, StatusCode::OK);
    for elsewhere in [
        "/api/v1/clients".to_owned(),
        format!("/api/v1/clients/{}", app.client_id(0)),
        "/api/v1/users".to_owned(),
        "/api/v1/me/sessions".to_owned(),
        attestations_of(&app, NORTHSIDE),
    ] {
        let refused = app.get(&elsewhere, &manager).await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "wrap_up_only");
    }
    let body = attestation(&app, &admin).await;
    let refused = app
        .post(&attestations_of(&app, NORTHSIDE), &manager, body)
        .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "wrap_up_only");
    assert_eq!(app.get(&path, &manager).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("{path}/annex"), &manager).await.status,
        StatusCode::OK
    );
    let certified = certify(&app, &path, &manager).await;
    let row = app.audit_row_of(&certified);
    assert_eq!(
        row.actor_user_id.as_deref(),
        Some(app.user_id("csp-north-manager").as_str())
    );
    let logout = app.act("/api/v1/auth/logout", &manager).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.body);
    // Once the department closes it, nobody of Northside signs in any more.
    close(&app, &path, &admin, &certified.etag()).await;
    let login = app.login_response("csp-north-manager", PASSWORD).await;
    assert_problem(&login, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[actix_web::test]
async fn without_an_open_wrap_up_an_ended_contract_lets_nobody_in() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let manager = app.login("csp-north-manager").await;
    end_contract(&app, &admin, NORTHSIDE).await;
    assert_eq!(
        app.get("/api/v1/me", &manager).await.status,
        StatusCode::UNAUTHORIZED
    );
    let login = app.login_response("csp-north-manager", PASSWORD).await;
    assert_problem(&login, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[actix_web::test]
async fn csps_whose_contract_ended_without_a_closed_wrap_up_are_reported() {
    let app = spawn_app().await;
    let report = "/api/v1/reports/wrap-ups-outstanding";
    let admin = app.login("admin").await;
    assert_eq!(app.get(report, &admin).await.body["items"], json!([]));
    end_contract(&app, &admin, NORTHSIDE).await;
    let admin = app.login("admin").await;
    let outstanding = app.get(report, &admin).await;
    assert_eq!(outstanding.status, StatusCode::OK, "{}", outstanding.body);
    let items = outstanding.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", outstanding.body);
    assert_eq!(items[0]["name"], NORTHSIDE);
    assert_eq!(items[0]["days_since_end"], 1);
    assert_eq!(items[0]["wrap_up_status"], Value::Null);
    // Opened: still outstanding, now with its wrap-up; closed: no longer.
    let path = wrap_up_of(&app, NORTHSIDE);
    let opened = app.act(&path, &admin).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let auditor = app.login("auditor").await;
    let open = app.get(report, &auditor).await;
    assert_eq!(open.body["items"][0]["wrap_up_status"], "open");
    assert_eq!(open.body["items"][0]["wrap_up_id"], opened.body["id"]);
    let certified = certify(&app, &path, &admin).await;
    close(&app, &path, &admin, &certified.etag()).await;
    assert_eq!(app.get(report, &auditor).await.body["items"], json!([]));
    for user in ["csp-east", "caseworker", "privacy", "records"] {
        let token = app.login(user).await;
        assert_problem(
            &app.get(report, &token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
}
