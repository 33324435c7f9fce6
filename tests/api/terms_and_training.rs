//! Issue 20, parts 3 and 4: policy documents accepted before use (a new version again), and
//! training kept current. Both gates are decided per request in `Ctx::authenticate`.
use chrono::{Duration, NaiveDate};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, client_token, register_client, spawn_app, token_request};
use crate::writes::assert_problem;

const DOCUMENTS: &str = "/api/v1/policy-documents";
const CSP_ROLES: &[&str] = &["csp_worker", "csp_manager"];

fn document(kind: &str, version: &str, roles: &[&str]) -> Value {
    json!({
        "kind": kind,
        "version": version,
        "title": format!("Acceptable use of casebridge, version {version}"),
        "text": "Use client information only for the service you deliver. Never share your login.",
        "applies_to_roles": roles,
    })
}

/// Publishes a document as `token`'s holder; its id.
async fn publish(app: &TestApp, token: &str, body: Value) -> String {
    let published = app.post(DOCUMENTS, token, body).await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
    published.body["id"].as_str().unwrap().to_owned()
}

/// An acceptable-use policy for CSP staff, version `version`, published as `token`'s holder.
async fn acceptable_use_for_csp_staff(app: &TestApp, token: &str, version: &str) -> String {
    publish(app, token, document("acceptable_use", version, CSP_ROLES)).await
}

async fn accept(app: &TestApp, token: &str, id: &str) -> crate::helpers::Response {
    app.act(&format!("{DOCUMENTS}/{id}/acceptance"), token)
        .await
}

fn stored_documents(app: &TestApp) -> i64 {
    use casebridge::db::schema::policy_documents;
    app.with_db(|conn| policy_documents::table.count().get_result(conn).unwrap())
}

fn onboarding(app: &TestApp, username: &str) -> String {
    format!("/api/v1/users/{}/onboarding-checks", app.user_id(username))
}

/// `username`'s training recorded as completed `on`, by `token`'s holder.
async fn record_training(
    app: &TestApp,
    token: &str,
    username: &str,
    on: NaiveDate,
) -> crate::helpers::Response {
    app.post(
        &onboarding(app, username),
        token,
        json!({"training_completed_on": on}),
    )
    .await
}

/// `username`'s training recorded `days` days ago by the department.
async fn trained_days_ago(app: &TestApp, username: &str, days: i64) {
    let admin = app.login("admin2").await;
    let on = app.clock.today() - Duration::days(days);
    assert_eq!(
        record_training(app, &admin, username, on).await.status,
        StatusCode::OK
    );
}

fn stored_training(app: &TestApp, username: &str) -> Option<NaiveDate> {
    use casebridge::db::schema::users;
    app.with_db(|conn| {
        users::table
            .filter(users::username.eq(username))
            .select(users::training_completed_on)
            .first(conn)
            .unwrap()
    })
}

// ---- terms of use -----------------------------------------------------------------------------

#[actix_web::test]
async fn a_published_document_holds_everyone_it_applies_to_until_they_accept_it() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let id = acceptable_use_for_csp_staff(&app, &admin, "2027-1").await;
    let worker = app.login("csp-north").await;

    let refused = app.get("/api/v1/clients", &worker).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "terms_acceptance_required");
    assert_eq!(
        refused.body["documents"],
        json!([{"id": id, "kind": "acceptable_use", "version": "2027-1",
                "title": "Acceptable use of casebridge, version 2027-1"}])
    );
    // Someone it does not apply to is not held.
    let caseworker = app.login("caseworker").await;
    assert_eq!(
        app.get("/api/v1/clients", &caseworker).await.status,
        StatusCode::OK
    );
    // What the held person may still do: read who they are, and read and accept it.
    let me = app.get("/api/v1/me", &worker).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["terms_to_accept"], refused.body["documents"]);
    let read = app.get(&format!("{DOCUMENTS}/{id}"), &worker).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert!(read.body["text"].as_str().unwrap().contains("Never share"));
    assert_eq!(read.body["accepted_at"], Value::Null);
    let current = app.get(&format!("{DOCUMENTS}/current"), &worker).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    assert_eq!(current.body["items"][0]["id"], id.as_str());

    let accepted = accept(&app, &worker, &id).await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
    assert!(accepted.body["accepted_at"].is_string());
    assert_eq!(
        app.get("/api/v1/clients", &worker).await.status,
        StatusCode::OK
    );
    let me = app.get("/api/v1/me", &worker).await;
    assert_eq!(me.body["terms_to_accept"], json!([]));
}

#[actix_web::test]
async fn an_acceptance_is_recorded_once_and_audited() {
    use casebridge::db::schema::policy_acceptances;
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let id = acceptable_use_for_csp_staff(&app, &admin, "2027-1").await;
    let worker = app.login("csp-north").await;

    assert_eq!(accept(&app, &worker, &id).await.status, StatusCode::CREATED);
    let again = accept(&app, &worker, &id).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let stored: Vec<(String, String)> = app.with_db(|conn| {
        policy_acceptances::table
            .select((policy_acceptances::user_id, policy_acceptances::document_id))
            .load(conn)
            .unwrap()
    });
    assert_eq!(stored, vec![(app.user_id("csp-north"), id.clone())]);
    let rows = app.audit_rows("/api/v1/policy-documents/{id}/acceptance");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|row| row.outcome == "allowed"
        && row.actor_user_id.as_deref() == Some(app.user_id("csp-north").as_str())
        && row.resource_id.as_deref() == Some(id.as_str())));
}

#[actix_web::test]
async fn a_new_version_must_be_accepted_again_and_the_old_one_no_longer_can_be() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let first = acceptable_use_for_csp_staff(&app, &privacy, "2027-1").await;
    let worker = app.login("csp-north").await;
    assert_eq!(
        accept(&app, &worker, &first).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.get("/api/v1/clients", &worker).await.status,
        StatusCode::OK
    );

    let second = acceptable_use_for_csp_staff(&app, &privacy, "2027-2").await;
    let refused = app.get("/api/v1/clients", &worker).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "terms_acceptance_required");
    assert_eq!(refused.body["documents"][0]["id"], second.as_str());
    assert_problem(
        &accept(&app, &worker, &first).await,
        StatusCode::CONFLICT,
        "document_superseded",
    );
    let listed = app.get(DOCUMENTS, &worker).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let in_force: Vec<(&str, bool)> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["version"].as_str().unwrap(), item["in_force"] == true))
        .collect();
    assert_eq!(in_force, vec![("2027-2", true), ("2027-1", false)]);

    assert_eq!(
        accept(&app, &worker, &second).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.get("/api/v1/clients", &worker).await.status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn only_the_department_publishes_and_a_refused_document_stores_nothing() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    acceptable_use_for_csp_staff(&app, &admin, "2027-1").await;
    let before = stored_documents(&app);

    let manager = app.login("csp-north-manager").await;
    let refused = app
        .post(
            DOCUMENTS,
            &manager,
            document("privacy_and_security_policy", "1", CSP_ROLES),
        )
        .await;
    // Held by the document in force first; once accepted, the role still may not publish.
    assert_problem(&refused, StatusCode::FORBIDDEN, "terms_acceptance_required");
    let id = refused.body["documents"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        accept(&app, &manager, &id).await.status,
        StatusCode::CREATED
    );
    assert_problem(
        &app.post(
            DOCUMENTS,
            &manager,
            document("privacy_and_security_policy", "1", CSP_ROLES),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_problem(
        &app.post(
            DOCUMENTS,
            &admin,
            document("acceptable_use", "2027-1", CSP_ROLES),
        )
        .await,
        StatusCode::CONFLICT,
        "document_version_exists",
    );
    let unknown_role = app
        .post(
            DOCUMENTS,
            &admin,
            document("acceptable_use", "2027-2", &["csp_volunteer"]),
        )
        .await;
    assert_problem(
        &unknown_role,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(unknown_role.body["errors"][0]["field"], "applies_to_roles");
    let mut unknown_kind = document("acceptable_use", "2027-2", CSP_ROLES);
    unknown_kind["kind"] = json!("code_of_conduct");
    assert_problem(
        &app.post(DOCUMENTS, &admin, unknown_kind).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(stored_documents(&app), before);
}

#[actix_web::test]
async fn the_terms_report_lists_who_has_not_accepted_what() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let csp = acceptable_use_for_csp_staff(&app, &admin, "2027-1").await;
    let everyone = publish(
        &app,
        &admin,
        document(
            "privacy_and_security_policy",
            "1",
            &["csp_worker", "dept_caseworker"],
        ),
    )
    .await;
    let worker = app.login("csp-north").await;
    assert_eq!(
        accept(&app, &worker, &csp).await.status,
        StatusCode::CREATED
    );

    let auditor = app.login("auditor").await;
    let report = app
        .get("/api/v1/reports/terms-not-accepted", &auditor)
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let owed: Vec<(String, Vec<String>)> = report.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let documents = item["documents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|document| document["id"].as_str().unwrap().to_owned())
                .collect();
            (item["username"].as_str().unwrap().to_owned(), documents)
        })
        .collect();
    let mut expected = vec![
        ("caseworker".to_owned(), vec![everyone.clone()]),
        ("csp-east".to_owned(), vec![csp.clone(), everyone.clone()]),
        ("csp-north".to_owned(), vec![everyone.clone()]),
        ("csp-north-manager".to_owned(), vec![csp.clone()]),
    ];
    let mut owed_sorted = owed.clone();
    owed_sorted.sort();
    expected.sort();
    assert_eq!(owed_sorted, expected);

    let northside = app.organisation_id(casebridge::demo::NORTHSIDE);
    let narrowed = app
        .get(
            &format!("/api/v1/reports/terms-not-accepted?organisation_id={northside}"),
            &auditor,
        )
        .await;
    assert_eq!(narrowed.body["items"].as_array().unwrap().len(), 2);
    // A document applies to the roles it names as accounts hold them: the team leader (who
    // inherits the caseworker's permissions) is not held, and may not read the report.
    let teamleader = app.login("teamleader").await;
    assert_problem(
        &app.get("/api/v1/reports/terms-not-accepted", &teamleader)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let records = app.login("records").await;
    assert_problem(
        &app.get("/api/v1/reports/terms-not-accepted", &records)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[actix_web::test]
async fn api_clients_are_not_held_to_terms_or_training() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let (id, secret) = register_client(&app, &admin).await;
    acceptable_use_for_csp_staff(&app, &admin, "2027-1").await;
    let token = client_token(
        &token_request(
            &app,
            &[("grant_type", "client_credentials")],
            Some((&id, &secret)),
        )
        .await,
    );
    assert_eq!(
        app.get("/api/v1/clients", &token).await.status,
        StatusCode::OK
    );
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.body["terms_to_accept"], json!([]));
    assert_eq!(me.body["training_expired"], false);
    assert_eq!(me.body["training_due_on"], Value::Null);
}

// ---- training -----------------------------------------------------------------------------------

#[actix_web::test]
async fn expired_training_leaves_only_me_logout_and_ones_own_password() {
    let app = spawn_app().await;
    trained_days_ago(&app, "csp-north", 366).await;
    let worker = app.login("csp-north").await;

    for path in ["/api/v1/clients", DOCUMENTS, "/api/v1/me/sessions"] {
        assert_problem(
            &app.get(path, &worker).await,
            StatusCode::FORBIDDEN,
            "training_expired",
        );
    }
    let me = app.get("/api/v1/me", &worker).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["training_expired"], true);
    let changed = app
        .post(
            &format!("/api/v1/users/{}/password", app.user_id("csp-north")),
            &worker,
            json!({"current_password": PASSWORD, "new_password": "violet harbour lantern quietly"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    let logout = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&worker),
            None,
            &[],
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.body);
}

#[actix_web::test]
async fn a_manager_renews_expired_training_and_access_returns() {
    let app = spawn_app().await;
    trained_days_ago(&app, "csp-north", 400).await;
    let worker = app.login("csp-north").await;
    assert_problem(
        &app.get("/api/v1/clients", &worker).await,
        StatusCode::FORBIDDEN,
        "training_expired",
    );
    let manager = app.login("csp-north-manager").await;
    let today = app.clock.today();
    assert_eq!(
        record_training(&app, &manager, "csp-north", today)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/clients", &worker).await.status,
        StatusCode::OK
    );
    let me = app.get("/api/v1/me", &worker).await;
    assert_eq!(
        me.body["training_due_on"],
        (today + Duration::days(365)).to_string()
    );
}

#[actix_web::test]
async fn a_csp_manager_cannot_renew_another_organisations_user() {
    let app = spawn_app().await;
    trained_days_ago(&app, "csp-east", 400).await;
    let before = stored_training(&app, "csp-east");
    let manager = app.login("csp-north-manager").await;
    let response = record_training(&app, &manager, "csp-east", app.clock.today()).await;
    assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(stored_training(&app, "csp-east"), before);
}

#[actix_web::test]
async fn nobody_records_their_own_training() {
    let app = spawn_app().await;
    let before = stored_training(&app, "csp-north-manager");
    let manager = app.login("csp-north-manager").await;
    let today = app.clock.today();
    let response = record_training(&app, &manager, "csp-north-manager", today).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "own_access_unchangeable");
    assert_eq!(stored_training(&app, "csp-north-manager"), before);
}

#[actix_web::test]
async fn an_administrator_whose_training_expired_is_renewed_by_another() {
    let app = spawn_app().await;
    trained_days_ago(&app, "admin", 400).await;
    let admin = app.login("admin").await;
    // Locked out of everything, renewing their own training included...
    assert_problem(
        &record_training(&app, &admin, "admin", app.clock.today()).await,
        StatusCode::FORBIDDEN,
        "training_expired",
    );
    // ...until the second administrator records it.
    let second = app.login("admin2").await;
    assert_eq!(
        record_training(&app, &second, "admin", app.clock.today())
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/users", &admin).await.status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn training_never_recorded_holds_csp_staff_but_not_department_staff() {
    use casebridge::db::schema::users;
    let app = spawn_app().await;
    app.with_db(|conn| {
        diesel::update(users::table.filter(users::username.eq_any(["csp-north", "caseworker"])))
            .set(users::training_completed_on.eq(None::<NaiveDate>))
            .execute(conn)
            .unwrap()
    });
    let worker = app.login("csp-north").await;
    assert_problem(
        &app.get("/api/v1/clients", &worker).await,
        StatusCode::FORBIDDEN,
        "training_expired",
    );
    let caseworker = app.login("caseworker").await;
    assert_eq!(
        app.get("/api/v1/clients", &caseworker).await.status,
        StatusCode::OK
    );
    let me = app.get("/api/v1/me", &caseworker).await;
    assert_eq!(me.body["training_due_on"], Value::Null);
    assert_eq!(me.body["training_expired"], false);
}

#[actix_web::test]
async fn me_warns_thirty_days_before_training_is_due() {
    let app = spawn_app().await;
    let today = app.clock.today();
    trained_days_ago(&app, "csp-north", 336).await;
    let worker = app.login("csp-north").await;
    let me = app.get("/api/v1/me", &worker).await;
    assert_eq!(me.body["training_expires_soon"], true, "{}", me.body);
    assert_eq!(me.body["training_expired"], false);
    assert_eq!(
        me.body["training_due_on"],
        (today + Duration::days(29)).to_string()
    );
    // The demo's recent training is not due soon.
    let east = app.login("csp-east").await;
    assert_eq!(
        app.get("/api/v1/me", &east).await.body["training_expires_soon"],
        false
    );
}

#[actix_web::test]
async fn the_access_register_shows_due_and_overdue_training() {
    let app = spawn_app().await;
    let today = app.clock.today();
    trained_days_ago(&app, "csp-north", 400).await;
    trained_days_ago(&app, "csp-north-manager", 350).await;
    let auditor = app.login("auditor").await;
    let register = app
        .get("/api/v1/reports/access-register?limit=200", &auditor)
        .await;
    assert_eq!(register.status, StatusCode::OK, "{}", register.body);
    let entry = |username: &str| -> Value {
        register.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["username"] == username)
            .cloned()
            .unwrap()
    };
    let training = |username: &str| {
        let entry = entry(username);
        (
            entry["training_due_on"].clone(),
            entry["training_expires_soon"].clone(),
            entry["training_expired"].clone(),
        )
    };
    let due = |days: i64| json!((today + Duration::days(days)).to_string());
    assert_eq!(training("csp-north"), (due(-35), json!(false), json!(true)));
    assert_eq!(
        training("csp-north-manager"),
        (due(15), json!(true), json!(false))
    );
    assert_eq!(training("csp-east"), (due(335), json!(false), json!(false)));
}
