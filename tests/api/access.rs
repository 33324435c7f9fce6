//! Identity and access management (issue 4): onboarding gates, revocation that takes effect
//! on the next request, organisation suspension and contract end, dormancy, lockout, password
//! strength, TOTP, API clients with OAuth2 client credentials, access reviews and the access
//! register. Each rule is checked on its allowed and its refused path.
use casebridge::auth::totp;
use casebridge::db::schema::users;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, Response, TestApp, client_token, onboarding_checks, register_client, spawn_app,
    token_request,
};
use crate::writes::assert_problem;

const STRONG_PASSWORD: &str = "violet harbour lantern quietly";

async fn refused_token(app: &TestApp, token: &str) {
    let response = app.get("/api/v1/me", token).await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "invalid_token");
}

fn user_path(app: &TestApp, username: &str, action: &str) -> String {
    format!("/api/v1/users/{}/{action}", app.user_id(username))
}

/// A login that must give tokens; the access token.
async fn login_with(app: &TestApp, body: Value) -> String {
    let response = app
        .request(Method::POST, "/api/v1/auth/login", None, Some(body), &[])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["access_token"].as_str().unwrap().to_owned()
}

// ---- onboarding -----------------------------------------------------------------------------

#[actix_web::test]
async fn a_csp_manager_asks_for_staff_the_department_approves_them_after_every_check() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let admin = app.login("admin").await;

    // Only in its own organisation, and only as pending.
    let elsewhere = app
        .new_csp_user(&manager, "east.staff", casebridge::demo::EASTERN)
        .await;
    assert_problem(
        &elsewhere,
        StatusCode::FORBIDDEN,
        "organisation_not_allowed",
    );
    let mut active = json!({
        "username": "north.active", "display_name": "X", "email": "x@example.org",
        "organisation_id": app.organisation_id(casebridge::demo::NORTHSIDE),
        "roles": ["csp_worker"], "clearance": "OFFICIAL", "status": "active",
    });
    let response = app.post("/api/v1/users", &manager, active.clone()).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "field_not_writable");
    // Nor may the manager choose the password: it could use the account before its owner.
    active.as_object_mut().unwrap().remove("status");
    active["password"] = json!(STRONG_PASSWORD);
    let response = app.post("/api/v1/users", &manager, active.clone()).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "field_not_writable");
    assert_eq!(response.body["fields"], json!(["password"]));
    active.as_object_mut().unwrap().remove("password");
    active["status"] = json!("active");
    // Not even a dept_admin makes a CSP staff member active alone (dual control, and the
    // checks come first).
    active["username"] = json!("north.active2");
    let response = app.post("/api/v1/users", &admin, active).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "second_approval_required");

    let created = app
        .new_csp_user(&manager, "north.staff", casebridge::demo::NORTHSIDE)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["status"], "pending");
    let pending_login = app.login_response("north.staff", STRONG_PASSWORD).await;
    assert_problem(
        &pending_login,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    let approve = user_path(&app, "north.staff", "approve");
    let response = app.act(&approve, &admin).await;
    assert_problem(&response, StatusCode::CONFLICT, "onboarding_incomplete");
    for check in [
        "training_completed_on",
        "security_check_completed_on",
        "security_check_reference",
        "acceptable_use_accepted_on",
    ] {
        assert!(response.body["detail"].as_str().unwrap().contains(check));
    }

    let checks = user_path(&app, "north.staff", "onboarding-checks");
    let tomorrow = app.clock.today() + chrono::Duration::days(1);
    let future = app
        .post(
            &checks,
            &manager,
            json!({"training_completed_on": tomorrow}),
        )
        .await;
    assert_problem(
        &future,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let empty = app.post(&checks, &manager, json!({})).await;
    assert_problem(
        &empty,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    // Another CSP's manager does not reach this user; a worker may not record checks.
    let east = app.login("csp-east").await;
    let response = app
        .post(&checks, &east, onboarding_checks(app.clock.today()))
        .await;
    assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");
    let partial = app
        .post(
            &checks,
            &manager,
            json!({"training_completed_on": app.clock.today()}),
        )
        .await;
    assert_eq!(partial.status, StatusCode::OK, "{}", partial.body);
    let response = app.act(&approve, &admin).await;
    assert_problem(&response, StatusCode::CONFLICT, "onboarding_incomplete");
    assert!(
        !response.body["detail"]
            .as_str()
            .unwrap()
            .contains("training_completed_on")
    );

    let recorded = app
        .post(&checks, &manager, onboarding_checks(app.clock.today()))
        .await;
    assert_eq!(recorded.status, StatusCode::OK, "{}", recorded.body);
    assert_eq!(recorded.body["security_check_reference"], "NPC-2026-0042");
    // The manager may not approve: only the department does.
    let response = app.act(&approve, &manager).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");
    let approved = app.act(&approve, &admin).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["status"], "active");
    assert!(approved.body["approved_at"].is_string());
    let again = app.act(&approve, &admin).await;
    assert_problem(&again, StatusCode::CONFLICT, "invalid_status_transition");

    // The department sets the first password.
    let password = user_path(&app, "north.staff", "password");
    let set = app
        .post(&password, &admin, json!({"new_password": STRONG_PASSWORD}))
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.body);

    let login = app.login_response("north.staff", STRONG_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
}

// ---- revocation at once ---------------------------------------------------------------------

#[actix_web::test]
async fn suspension_by_the_csp_manager_refuses_a_token_issued_before_it() {
    let app = spawn_app().await;
    let worker = app.login("csp-north").await;
    let manager = app.login("csp-north-manager").await;
    let east = app.login("csp-east").await;
    assert_eq!(
        app.get("/api/v1/clients", &worker).await.status,
        StatusCode::OK
    );

    // Another CSP's staff are out of the manager's reach: 404 as if they did not exist.
    let response = app
        .act(&user_path(&app, "csp-east", "suspend"), &manager)
        .await;
    assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
    let response = app
        .act(&user_path(&app, "csp-north", "suspend"), &east)
        .await;
    assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");
    // Nobody suspends themselves.
    let response = app
        .act(&user_path(&app, "csp-north-manager", "suspend"), &manager)
        .await;
    assert_problem(&response, StatusCode::FORBIDDEN, "own_access_unchangeable");

    let suspended = app
        .act(&user_path(&app, "csp-north", "suspend"), &manager)
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    assert_eq!(suspended.body["status"], "suspended");
    refused_token(&app, &worker).await;
    let login = app.login_response("csp-north", PASSWORD).await;
    assert_problem(&login, StatusCode::UNAUTHORIZED, "invalid_credentials");

    // Only the department reactivates, and the old token stays dead.
    let reactivate = user_path(&app, "csp-north", "reactivate");
    let response = app.act(&reactivate, &manager).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");
    let admin = app.login("admin").await;
    let response = app.act(&reactivate, &admin).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    refused_token(&app, &worker).await;
    let fresh = app.login("csp-north").await;

    // A departure: deactivated for good.
    let response = app
        .act(&user_path(&app, "csp-north", "deactivate"), &manager)
        .await;
    assert_eq!(response.body["status"], "deactivated", "{}", response.body);
    refused_token(&app, &fresh).await;
    let response = app.act(&reactivate, &admin).await;
    assert_problem(&response, StatusCode::CONFLICT, "invalid_status_transition");
}

#[actix_web::test]
async fn role_and_clearance_changes_apply_to_a_token_issued_before_them() {
    let app = spawn_app().await;
    let leader = app.login("teamleader").await;
    let protected = app.client_id(casebridge::demo::PROTECTED_CLIENT);
    let path = format!("/api/v1/clients/{protected}");
    let headers = [("X-Purpose-Of-Use", "case review")];
    assert_eq!(
        app.get_with(&path, &leader, &headers).await.status,
        StatusCode::OK
    );

    let admin = app.login("admin").await;
    let user = format!("/api/v1/users/{}", app.user_id("teamleader"));
    let etag = app.get(&user, &admin).await.etag();
    let lowered = app
        .patch_user(
            &user,
            &admin,
            json!({"clearance": "OFFICIAL: Sensitive"}),
            Some(&etag),
        )
        .await;
    assert_eq!(lowered.status, StatusCode::OK, "{}", lowered.body);
    assert_eq!(
        app.get_with(&path, &leader, &headers).await.status,
        StatusCode::NOT_FOUND
    );

    let etag = lowered.etag();
    let response = app
        .patch_user(
            &user,
            &admin,
            json!({"roles": ["division_searcher"]}),
            Some(&etag),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let response = app.get("/api/v1/clients", &leader).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");

    // An organisation change moves a CSP manager's reach (the CSP's whole caseload) with
    // their very next request. (A worker reaches only what is assigned to them, so a move
    // alone would give them nothing: tests/api/need_to_know.rs.)
    let worker = app.login("csp-north-manager").await;
    let before = ids(&app.get("/api/v1/clients?limit=200", &worker).await);
    let east = app.login("csp-east").await;
    let eastern_clients = ids(&app.get("/api/v1/clients?limit=200", &east).await);
    let moved = format!("/api/v1/users/{}", app.user_id("csp-north-manager"));
    let etag = app.get(&moved, &admin).await.etag();
    let eastern = app.organisation_id(casebridge::demo::EASTERN);
    let response = app
        .patch_user(
            &moved,
            &admin,
            json!({"organisation_id": eastern}),
            Some(&etag),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let after = ids(&app.get("/api/v1/clients?limit=200", &worker).await);
    assert_ne!(before, after);
    assert_eq!(after, eastern_clients);
    // Status changes go through the lifecycle endpoints, not PATCH.
    let response = app
        .patch_user(
            &user,
            &admin,
            json!({"status": "active"}),
            Some(&response_etag(&app, &user, &admin).await),
        )
        .await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

async fn response_etag(app: &TestApp, path: &str, token: &str) -> String {
    app.get(path, token).await.etag()
}

#[actix_web::test]
async fn users_see_and_end_their_own_sessions_and_an_admin_ends_all_of_them() {
    let app = spawn_app().await;
    let first = app.login("caseworker").await;
    let second = app.login("caseworker").await;
    let listed = app.get("/api/v1/me/sessions", &first).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(items.iter().all(|s| s["ip"] == "127.0.0.1"));
    let other = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Someone else's session is not there to end.
    let teamleader = app.login("teamleader").await;
    let response = app
        .request(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{other}"),
            Some(&teamleader),
            None,
            &[],
        )
        .await;
    assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
    let response = app
        .request(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{other}"),
            Some(&first),
            None,
            &[],
        )
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT, "{}", response.body);
    refused_token(&app, &second).await;
    assert_eq!(app.get("/api/v1/me", &first).await.status, StatusCode::OK);

    let revoke = user_path(&app, "caseworker", "revoke-sessions");
    let response = app.act(&revoke, &teamleader).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");
    let admin = app.login("admin").await;
    let response = app.act(&revoke, &admin).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT, "{}", response.body);
    refused_token(&app, &first).await;
}

// ---- organisations: suspension and contract end ---------------------------------------------

#[actix_web::test]
async fn a_suspended_organisation_is_refused_at_once_and_restored_when_reactivated() {
    let app = spawn_app().await;
    let worker = app.login("csp-north").await;
    let east = app.login("csp-east").await;
    let admin = app.login("admin").await;
    let path = format!(
        "/api/v1/organisations/{}",
        app.organisation_id(casebridge::demo::NORTHSIDE)
    );
    let etag = app.get(&path, &admin).await.etag();
    let suspended = app
        .patch(&path, &admin, json!({"status": "suspended"}), Some(&etag))
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    assert_eq!(suspended.body["status"], "suspended");
    refused_token(&app, &worker).await;
    let login = app.login_response("csp-north", PASSWORD).await;
    assert_problem(&login, StatusCode::UNAUTHORIZED, "invalid_credentials");
    // Other organisations carry on.
    assert_eq!(
        app.get("/api/v1/clients", &east).await.status,
        StatusCode::OK
    );
    // An admin cannot suspend their own division.
    let own = format!(
        "/api/v1/organisations/{}",
        app.organisation_id(casebridge::demo::HOUSING_SUPPORT)
    );
    let etag = app.get(&own, &admin).await.etag();
    let response = app
        .patch(&own, &admin, json!({"status": "suspended"}), Some(&etag))
        .await;
    assert_problem(&response, StatusCode::FORBIDDEN, "own_access_unchangeable");

    let response = app
        .patch(
            &path,
            &admin,
            json!({"status": "active"}),
            Some(&suspended.etag()),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    // Sessions from before the suspension stay ended; a new login works.
    refused_token(&app, &worker).await;
    app.login("csp-north").await;
}

#[actix_web::test]
async fn when_a_contract_ends_its_csp_is_refused_with_no_job_run() {
    let app = spawn_app().await;
    let worker = app.login("csp-north").await;
    let caseworker = app.login("caseworker").await;
    assert_eq!(
        app.get("/api/v1/clients", &worker).await.status,
        StatusCode::OK
    );
    // The contract's last day is today: still in force.
    let admin = app.login("admin").await;
    let path = format!(
        "/api/v1/organisations/{}",
        app.organisation_id(casebridge::demo::NORTHSIDE)
    );
    let etag = app.get(&path, &admin).await.etag();
    let today = app.clock.today();
    let response = app
        .patch(
            &path,
            &admin,
            json!({"contract_ends_on": today}),
            Some(&etag),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(
        app.get("/api/v1/clients", &worker).await.status,
        StatusCode::OK
    );
    app.clock.advance(chrono::Duration::days(1));
    // Tokens expire with time too, so log in afresh: the department still works, the CSP
    // whose contract ended does not, and its allocations grant nothing to anyone of it.
    refused_token(&app, &caseworker).await;
    app.login("caseworker").await;
    refused_token(&app, &worker).await;
    let login = app.login_response("csp-north", PASSWORD).await;
    assert_problem(&login, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

// ---- dormancy, lockout, password strength ---------------------------------------------------

#[actix_web::test]
async fn an_account_unused_for_90_days_is_suspended_and_the_register_shows_it() {
    let app = spawn_app().await;
    let (client_id, secret) = register_client(&app, &app.login("admin").await).await;
    app.clock.advance(chrono::Duration::days(91));
    // An API client that asked for no token in 90 days is suspended at its next request.
    let form = [("grant_type", "client_credentials")];
    let response = token_request(&app, &form, Some((&client_id, &secret))).await;
    assert_eq!(
        response.body["error"], "invalid_client",
        "{}",
        response.body
    );
    let client_status: (String, Option<String>) = app.with_db(|conn| {
        users::table
            .filter(users::id.eq(&client_id))
            .select((users::status, users::status_reason))
            .first(conn)
            .unwrap()
    });
    assert_eq!(client_status, ("suspended".into(), Some("dormant".into())));
    let login = app.login_response("caseworker", PASSWORD).await;
    assert_problem(&login, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let (status, reason): (String, Option<String>) = app.with_db(|conn| {
        users::table
            .filter(users::username.eq("caseworker"))
            .select((users::status, users::status_reason))
            .first(conn)
            .unwrap()
    });
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("suspended", Some("dormant"))
    );
    let rows = app.audit_rows("/api/v1/auth/login");
    assert_eq!(
        rows.last().unwrap().reason.as_deref(),
        Some("account_dormant")
    );

    // The admin (also dormant by now) is reactivated by the database in this test, then
    // reads the register: the caseworker is dormant, everyone is overdue for review.
    app.with_db(|conn| {
        diesel::update(users::table.filter(users::username.eq("admin")))
            .set(users::activated_at.eq(app.clock.now()))
            .execute(conn)
            .unwrap()
    });
    let admin = app.login("admin").await;
    let register = app
        .get("/api/v1/reports/access-register?limit=200", &admin)
        .await;
    assert_eq!(register.status, StatusCode::OK, "{}", register.body);
    let entries = register.body["items"].as_array().unwrap();
    let entry = |username: &str| {
        entries
            .iter()
            .find(|e| e["username"] == username)
            .unwrap_or_else(|| panic!("{username} in the register"))
            .clone()
    };
    assert_eq!(entry("caseworker")["dormant"], true);
    assert_eq!(entry("caseworker")["status"], "suspended");
    assert_eq!(entry("csp-north")["dormant"], true);
    assert_eq!(entry("csp-north")["review_overdue"], true);
    assert_eq!(entry("admin")["dormant"], false);
}

#[actix_web::test]
async fn five_failures_lock_a_username_whether_or_not_it_exists() {
    let app = spawn_app().await;
    for username in ["caseworker", "no-such-user"] {
        for attempt in 1..=5 {
            let response = app
                .login_response(username, "wrong password entirely")
                .await;
            if attempt < 5 {
                assert_problem(&response, StatusCode::UNAUTHORIZED, "invalid_credentials");
            } else {
                assert_problem(&response, StatusCode::TOO_MANY_REQUESTS, "login_locked");
                assert!(response.headers.contains_key("retry-after"));
            }
        }
        // Locked: even the right password is refused, alike for real and unknown names.
        let response = app.login_response(username, PASSWORD).await;
        assert_problem(&response, StatusCode::TOO_MANY_REQUESTS, "login_locked");
    }
    // Other usernames are unaffected.
    app.login("teamleader").await;
    // Every attempt is in the audit trail, with the username tried and no password.
    let rows = app.audit_rows("/api/v1/auth/login");
    let tried = |name: &str| {
        rows.iter()
            .filter(|row| row.attempted_username.as_deref() == Some(name))
            .count()
    };
    assert_eq!((tried("caseworker"), tried("no-such-user")), (6, 6));
    assert!(rows.iter().all(|row| {
        !serde_json::to_string(row)
            .unwrap()
            .contains("wrong password")
    }));

    app.clock
        .advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    app.login("caseworker").await;
}

#[actix_web::test]
async fn weak_passwords_are_refused_with_a_reason() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    for (username, password) in [
        ("weak.one", "password1234"),
        ("weak.two", "qwertyuiopasdf"),
        ("weak.three.person", "weak.three.person"),
        ("weak.four", "short"),
    ] {
        let response = app
            .post(
                "/api/v1/users",
                &admin,
                json!({
                    "username": username, "display_name": "W", "email": "w@example.org",
                    "organisation_id": app.organisation_id(casebridge::demo::HOUSING_SUPPORT),
                    "roles": ["dept_caseworker"], "clearance": "OFFICIAL", "password": password,
                }),
            )
            .await;
        assert_problem(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(response.body["errors"][0]["field"], "password");
    }
    let count: i64 = app.with_db(|conn| {
        users::table
            .filter(users::username.like("weak.%"))
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(count, 0, "nothing stored");
}

// ---- MFA ------------------------------------------------------------------------------------

#[actix_web::test]
async fn a_role_that_requires_mfa_gets_an_enrolment_only_token_until_a_code_is_confirmed() {
    let app = spawn_app().await;
    // Demo accounts are exempt (SPEC); this one is made a normal account.
    app.with_db(|conn| {
        diesel::update(users::table.filter(users::username.eq("csp-north")))
            .set(users::mfa_exempt.eq(false))
            .execute(conn)
            .unwrap()
    });
    let limited = app.login("csp-north").await;
    let me = app.get("/api/v1/me", &limited).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(
        me.body["mfa"],
        json!({"required": true, "enrolled": false, "enrolment_only_session": true})
    );
    let response = app.get("/api/v1/clients", &limited).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "mfa_enrolment_required");

    let response = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            &limited,
            json!({"code": "123456"}),
        )
        .await;
    assert_problem(&response, StatusCode::CONFLICT, "mfa_not_enrolling");
    let enrolment = app.act("/api/v1/me/mfa/totp", &limited).await;
    assert_eq!(enrolment.status, StatusCode::CREATED, "{}", enrolment.body);
    let secret = enrolment.body["secret"].as_str().unwrap().to_owned();
    assert!(
        enrolment.body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/casebridge:csp-north")
    );
    let wrong = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            &limited,
            json!({"code": "000000"}),
        )
        .await;
    assert_problem(
        &wrong,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let code = totp::code_at(&secret, app.clock.now()).unwrap();
    let confirmed = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            &limited,
            json!({"code": code}),
        )
        .await;
    assert_eq!(
        confirmed.status,
        StatusCode::NO_CONTENT,
        "{}",
        confirmed.body
    );
    // The session that proved both factors is a full one now.
    assert_eq!(
        app.get("/api/v1/clients", &limited).await.status,
        StatusCode::OK
    );
    let response = app.act("/api/v1/me/mfa/totp", &limited).await;
    assert_problem(&response, StatusCode::CONFLICT, "mfa_already_enrolled");

    // From now on a login needs a code, each code is accepted once, and a wrong one counts
    // towards the lockout.
    let response = app.login_response("csp-north", PASSWORD).await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "mfa_code_required");
    app.clock.advance(chrono::Duration::seconds(30));
    let code = totp::code_at(&secret, app.clock.now()).unwrap();
    let body = json!({"username": "csp-north", "password": PASSWORD, "totp_code": code});
    login_with(&app, body.clone()).await;
    let reused = app
        .request(Method::POST, "/api/v1/auth/login", None, Some(body), &[])
        .await;
    assert_problem(&reused, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let wrong = json!({"username": "csp-north", "password": PASSWORD, "totp_code": "000000"});
    let response = app
        .request(Method::POST, "/api/v1/auth/login", None, Some(wrong), &[])
        .await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let failures: i32 = app.with_db(|conn| {
        use casebridge::db::schema::login_throttle;
        login_throttle::table
            .filter(login_throttle::username.eq("csp-north"))
            .select(login_throttle::failures)
            .first(conn)
            .unwrap()
    });
    assert_eq!(failures, 2);
    // A role without the requirement logs in with the password alone...
    let admin = app.login("admin").await;
    app.with_db(|conn| {
        diesel::update(users::table.filter(users::username.eq("records")))
            .set(users::mfa_exempt.eq(false))
            .execute(conn)
            .unwrap()
    });
    let records = app.login("records").await;
    assert_eq!(
        app.get("/api/v1/collection-notices/current", &records)
            .await
            .status,
        StatusCode::OK
    );
    // ...until it is given a role that requires MFA: the same session may then only enrol.
    let path = format!("/api/v1/users/{}", app.user_id("records"));
    let etag = app.get(&path, &admin).await.etag();
    let promoted = app
        .patch_user(&path, &admin, json!({"roles": ["dept_admin"]}), Some(&etag))
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    let response = app.get("/api/v1/users", &records).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "mfa_enrolment_required");
}

// ---- API clients ----------------------------------------------------------------------------

fn ids(response: &Response) -> Vec<String> {
    let mut ids: Vec<String> = response.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[actix_web::test]
async fn a_csp_system_sees_exactly_what_its_roles_and_organisation_allow() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let manager = app.login("csp-north-manager").await;
    let response = app
        .post(
            "/api/v1/api-clients",
            &manager,
            json!({"organisation_id": app.organisation_id(casebridge::demo::NORTHSIDE), "name": "x", "roles": ["csp_worker"]}),
        )
        .await;
    assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");
    let response = app
        .post(
            "/api/v1/api-clients",
            &admin,
            json!({"organisation_id": app.organisation_id(casebridge::demo::NORTHSIDE), "name": "x", "roles": ["dept_caseworker"]}),
        )
        .await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    let division = json!({
        "organisation_id": app.organisation_id(casebridge::demo::HOUSING_SUPPORT),
        "name": "a department script", "roles": ["dept_admin"],
    });
    let response = app.post("/api/v1/api-clients", &admin, division).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let (client_id, secret) = register_client(&app, &admin).await;
    let fetched = app
        .get(&format!("/api/v1/api-clients/{client_id}"), &admin)
        .await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.body);
    assert!(
        fetched.body.get("client_secret").is_none(),
        "the secret is shown once"
    );
    let stored: String = app.with_db(|conn| {
        use casebridge::db::schema::api_client_secrets;
        api_client_secrets::table
            .select(api_client_secrets::secret_hash)
            .first(conn)
            .unwrap()
    });
    assert_ne!(stored, secret, "only a digest is stored");

    let by_basic = client_token(
        &token_request(
            &app,
            &[("grant_type", "client_credentials")],
            Some((&client_id, &secret)),
        )
        .await,
    );
    let by_form = client_token(
        &token_request(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", &secret),
            ],
            None,
        )
        .await,
    );
    let person = app.login("csp-north").await;
    let expected = ids(&app.get("/api/v1/clients?limit=200", &person).await);
    assert!(!expected.is_empty());
    for token in [&by_basic, &by_form] {
        let listed = app.get("/api/v1/clients?limit=200", token).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(ids(&listed), expected);
        let client = app
            .get(&format!("/api/v1/clients/{}", expected[0]), token)
            .await;
        let by_person = app
            .get(&format!("/api/v1/clients/{}", expected[0]), &person)
            .await;
        assert_eq!(
            client.keys_at(""),
            by_person.keys_at(""),
            "the same field mask"
        );
    }
    // In the audit trail as an API client, and never with its secret.
    let rows = app.audit_rows("/api/v1/clients");
    assert!(rows.iter().any(|row| row.actor_kind == "api_client"
        && row.actor_user_id.as_deref() == Some(client_id.as_str())));
    let token_rows = app.audit_rows("/api/v1/oauth/token");
    assert!(token_rows.iter().all(|row| row.actor_kind == "api_client"));
    let everything: Vec<String> = app.with_db(|conn| {
        use casebridge::db::schema::audit_events;
        audit_events::table
            .select(casebridge::audit::chain::AuditEvent::as_select())
            .load(conn)
            .unwrap()
            .into_iter()
            .map(|row| serde_json::to_string(&row).unwrap())
            .collect()
    });
    assert!(everything.iter().all(|row| !row.contains(&secret)));

    // Rotation for a leaked secret: the old secret and every token issued with it stop at
    // once. (The default, with an overlap, is tested in `oauth`.)
    let rotated = app
        .act(
            &format!("/api/v1/api-clients/{client_id}/rotate-secret?previous_secret=end"),
            &admin,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_secret = rotated.body["client_secret"].as_str().unwrap().to_owned();
    refused_token(&app, &by_basic).await;
    let old = token_request(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&client_id, &secret)),
    )
    .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(old.body["error"], "invalid_client");
    let fresh = client_token(
        &token_request(
            &app,
            &[("grant_type", "client_credentials")],
            Some((&client_id, &new_secret)),
        )
        .await,
    );
    // Revocation: for good.
    let revoked = app
        .act(&format!("/api/v1/api-clients/{client_id}/revoke"), &admin)
        .await;
    assert_eq!(revoked.body["status"], "deactivated", "{}", revoked.body);
    refused_token(&app, &fresh).await;
    let after = token_request(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&client_id, &new_secret)),
    )
    .await;
    assert_eq!(after.body["error"], "invalid_client");
}

#[actix_web::test]
async fn the_token_endpoint_answers_rfc_6749_errors() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let (client_id, secret) = register_client(&app, &admin).await;
    type Form<'a> = Vec<(&'a str, &'a str)>;
    type Basic<'a> = Option<(&'a str, &'a str)>;
    let cases: Vec<(Form, Basic, StatusCode, &str)> = vec![
        (
            vec![],
            Some((&client_id, &secret)),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![("grant_type", "password")],
            Some((&client_id, &secret)),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "client_credentials")],
            None,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials")],
            Some((&client_id, "not-the-secret")),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials")],
            Some(("00000000-0000-7000-8000-000000000000", &secret)),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", &secret),
            ],
            Some((&client_id, &secret)),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            Some((&client_id, &secret)),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (form, basic, status, error) in cases {
        let response = token_request(&app, &form, basic).await;
        assert_eq!(
            (response.status, response.body["error"].as_str()),
            (status, Some(error)),
            "{form:?}"
        );
        assert!(response.body["error_description"].is_string());
    }
    let json_body = app
        .request(
            Method::POST,
            "/api/v1/oauth/token",
            None,
            Some(json!({"grant_type": "client_credentials"})),
            &[],
        )
        .await;
    assert_eq!(json_body.body["error"], "invalid_request");
    // A person's account is not an API client, and an API client cannot log in as a person.
    let person = token_request(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&app.user_id("csp-north"), PASSWORD)),
    )
    .await;
    assert_eq!(person.body["error"], "invalid_client");
    let login = app
        .login_response(&format!("api-client:{client_id}"), &secret)
        .await;
    assert_problem(&login, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

// ---- access reviews and the register ----------------------------------------------------------

#[actix_web::test]
async fn an_access_review_keeps_confirmed_decisions_and_suspends_the_rest() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let manager = app.login("csp-north-manager").await;
    let (api_client, _) = register_client(&app, &admin).await;
    let northside = app.organisation_id(casebridge::demo::NORTHSIDE);
    let due_on = app.clock.today() + chrono::Duration::days(14);
    let body = json!({"organisation_id": northside, "due_on": due_on});
    let response = app
        .post("/api/v1/access-reviews", &manager, body.clone())
        .await;
    assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");
    let past = json!({"organisation_id": northside, "due_on": app.clock.today() - chrono::Duration::days(1)});
    let response = app.post("/api/v1/access-reviews", &admin, past).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let review = app
        .post("/api/v1/access-reviews", &admin, body.clone())
        .await;
    assert_eq!(review.status, StatusCode::CREATED, "{}", review.body);
    let response = app.post("/api/v1/access-reviews", &admin, body).await;
    assert_problem(&response, StatusCode::CONFLICT, "review_already_open");
    let mut subjects: Vec<String> = review.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["username"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            format!("api-client:{api_client}"),
            "csp-north".into(),
            "csp-north-manager".into()
        ]
    );
    let id = review.body["id"].as_str().unwrap().to_owned();
    let decisions = format!("/api/v1/access-reviews/{id}/decisions");

    // The manager proposes; a proposal alone does not keep anyone.
    let worker = app.user_id("csp-north");
    let proposal = app
        .post(
            &decisions,
            &manager,
            json!({"subject_id": worker, "decision": "keep", "comment": "still on staff"}),
        )
        .await;
    assert_eq!(proposal.status, StatusCode::OK, "{}", proposal.body);
    let item = |body: &Value, subject: &str| {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["subject_id"] == subject)
            .unwrap()
            .clone()
    };
    assert_eq!(item(&proposal.body, &worker)["confirmed"], false);
    let own = json!({"subject_id": app.user_id("csp-north-manager"), "decision": "keep"});
    let response = app.post(&decisions, &manager, own).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "own_access_unchangeable");
    // Another CSP's manager does not see this review.
    let response = app
        .get(
            &format!("/api/v1/access-reviews/{id}"),
            &app.login("csp-east").await,
        )
        .await;
    assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");
    let close = format!("/api/v1/access-reviews/{id}/close");
    let response = app.act(&close, &manager).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");

    let confirmed = app
        .post(
            &decisions,
            &admin,
            json!({"subject_id": worker, "decision": "keep"}),
        )
        .await;
    assert_eq!(
        item(&confirmed.body, &worker)["confirmed"],
        true,
        "{}",
        confirmed.body
    );
    let response = app
        .post(
            &decisions,
            &manager,
            json!({"subject_id": worker, "decision": "revoke"}),
        )
        .await;
    assert_problem(&response, StatusCode::CONFLICT, "decision_confirmed");
    let revoke = json!({"subject_id": app.user_id("csp-north-manager"), "decision": "revoke"});
    assert_eq!(
        app.post(&decisions, &admin, revoke).await.status,
        StatusCode::OK
    );
    let stranger = json!({"subject_id": app.user_id("csp-east"), "decision": "keep"});
    let response = app.post(&decisions, &admin, stranger).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    let closed = app.act(&close, &admin).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(closed.body["status"], "closed");
    let outcome = |subject: &str| item(&closed.body, subject)["outcome"].clone();
    assert_eq!(outcome(&worker), "kept");
    assert_eq!(outcome(&app.user_id("csp-north-manager")), "revoked");
    assert_eq!(outcome(&api_client), "suspended_without_decision");
    refused_token(&app, &manager).await;
    app.login("csp-north").await;
    let response = app.act(&close, &admin).await;
    assert_problem(&response, StatusCode::CONFLICT, "review_closed");
    // The suspended API client is reactivated like a person.
    let reactivated = app
        .act(&format!("/api/v1/users/{api_client}/reactivate"), &admin)
        .await;
    assert_eq!(reactivated.status, StatusCode::OK, "{}", reactivated.body);
    assert_eq!(reactivated.body["status"], "active");

    let register = app
        .get(
            &format!("/api/v1/reports/access-register?organisation_id={northside}"),
            &app.login("auditor").await,
        )
        .await;
    assert_eq!(register.status, StatusCode::OK, "{}", register.body);
    let entry = register.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == worker)
        .unwrap()
        .clone();
    assert_eq!(entry["last_review"]["outcome"], "kept");
    assert_eq!(entry["review_overdue"], false);
    // The demo seeds recent training for its accounts (casebridge::demo).
    let trained =
        app.clock.today() - chrono::Duration::days(casebridge::demo::DEMO_TRAINING_AGE_DAYS);
    assert_eq!(entry["training_completed_on"], trained.to_string());
    let response = app
        .get(
            "/api/v1/reports/access-register",
            &app.login("caseworker").await,
        )
        .await;
    assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");
}

#[actix_web::test]
async fn an_overdue_review_closes_itself_on_the_next_request_that_touches_it() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let eastern = app.organisation_id(casebridge::demo::EASTERN);
    let review = app
        .post(
            "/api/v1/access-reviews",
            &admin,
            json!({"organisation_id": eastern, "due_on": app.clock.today()}),
        )
        .await;
    assert_eq!(review.status, StatusCode::CREATED, "{}", review.body);
    let id = review.body["id"].as_str().unwrap();
    app.clock.advance(chrono::Duration::days(2));
    let admin = app.login("admin").await;
    // A decision on it is refused, and the closing it triggered stays done.
    let decision = json!({"subject_id": app.user_id("csp-east"), "decision": "keep"});
    let response = app
        .post(
            &format!("/api/v1/access-reviews/{id}/decisions"),
            &admin,
            decision,
        )
        .await;
    assert_problem(&response, StatusCode::CONFLICT, "review_closed");
    let touched = app
        .get(&format!("/api/v1/access-reviews/{id}"), &admin)
        .await;
    assert_eq!(touched.status, StatusCode::OK, "{}", touched.body);
    assert_eq!(touched.body["status"], "closed");
    assert!(touched.body["closed_by"].is_null(), "closed by itself");
    assert_eq!(
        touched.body["items"][0]["outcome"],
        "suspended_without_decision"
    );
    let login = app.login_response("csp-east", PASSWORD).await;
    assert_problem(&login, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

// ---- who reaches the access-management endpoints ----------------------------------------------

/// Every demo account against every access-management read: allowed (200) or refused (403),
/// and a csp_manager sees only its own organisation's reviews and staff.
#[actix_web::test]
async fn access_management_reads_follow_the_policy_for_every_role() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let northside = app.organisation_id(casebridge::demo::NORTHSIDE);
    let eastern = app.organisation_id(casebridge::demo::EASTERN);
    for organisation in [&northside, &eastern] {
        let due_on = app.clock.today() + chrono::Duration::days(7);
        let opened = app
            .post(
                "/api/v1/access-reviews",
                &admin,
                json!({"organisation_id": organisation, "due_on": due_on}),
            )
            .await;
        assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    }
    register_client(&app, &admin).await;
    const OK: StatusCode = StatusCode::OK;
    const NO: StatusCode = StatusCode::FORBIDDEN;
    #[rustfmt::skip]
    let table: &[(&str, StatusCode, StatusCode, StatusCode)] = &[
        // user                 /api-clients /access-reviews /reports/access-register
        ("admin",              OK, OK, OK),
        ("caseworker",         NO, NO, NO),
        ("teamleader",         NO, NO, NO),
        ("searcher",           NO, NO, NO),
        ("csp-north",          NO, NO, NO),
        ("csp-north-manager",  NO, OK, NO),
        ("csp-east",           NO, NO, NO),
        ("auditor",            NO, NO, OK),
        ("privacy",            NO, NO, NO),
        ("records",            NO, NO, NO),
    ];
    for (user, api_clients, reviews, register) in table {
        let token = app.login(user).await;
        for (path, expected) in [
            ("/api/v1/api-clients", api_clients),
            ("/api/v1/access-reviews", reviews),
            ("/api/v1/reports/access-register", register),
        ] {
            let response = app.get(path, &token).await;
            assert_eq!(
                response.status, *expected,
                "{user} GET {path}: {}",
                response.body
            );
            if response.status == OK {
                assert!(
                    response.body["items"]
                        .as_array()
                        .is_some_and(|items| !items.is_empty())
                );
            }
        }
    }
    let manager = app.login("csp-north-manager").await;
    let reviews = app.get("/api/v1/access-reviews", &manager).await;
    let organisations: Vec<&str> = reviews.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|review| review["organisation_id"].as_str().unwrap())
        .collect();
    assert_eq!(organisations, vec![northside.as_str()]);
    let all = app.get("/api/v1/access-reviews", &admin).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
}
