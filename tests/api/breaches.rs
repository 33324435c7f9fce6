//! The data breach register (issue 6): a breach goes from being recorded, through containment
//! (the suspended account is refused on its next request), the affected individuals computed
//! from the audit trail (exactly the clients the account saw), assessment, notifications, to
//! the register and the review. Refusals change nothing.
use std::collections::BTreeSet;

use casebridge::db::schema::{breach_containment_actions, breaches};
use chrono::{Duration, SecondsFormat, Utc};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::writes::assert_problem;

pub(crate) fn time(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn new_breach(suspects: &[String]) -> Value {
    let now = Utc::now();
    json!({
        "aware_at": time(now),
        "reported_by": "Northside Care manager",
        "source": "csp",
        "description": "A worker's laptop was used by someone else while logged in.",
        "kinds": ["access"],
        "suspected_actor_ids": suspects,
        "window_from": time(now - Duration::hours(1)),
        "window_to": time(now + Duration::hours(1)),
    })
}

pub(crate) async fn record(app: &TestApp, token: &str, body: Value) -> String {
    let response = app.post("/api/v1/breaches", token, body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    response.body["id"].as_str().unwrap().to_owned()
}

fn breach_count(app: &TestApp) -> i64 {
    app.with_db(|conn| breaches::table.count().get_result(conn).unwrap())
}

pub(crate) fn assessment(eligible: bool) -> Value {
    json!({
        "information_kinds": ["identity", "contact"],
        "serious_harm_likely": eligible,
        "harm_reasons": "Addresses of clients at risk of family violence were seen.",
        "remedial_steps": "",
        "recommended_steps": "Tell us if anyone unexpected contacts you.",
        "eligible": eligible,
        "individuals_at_risk": if eligible { 2 } else { 0 },
    })
}

fn client_ids(impact: &Value) -> BTreeSet<String> {
    impact["individuals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|individual| individual["client_id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn a_breach_is_contained_assessed_notified_and_reviewed() {
    let app = spawn_app().await;
    // What the suspect saw: two of Northside's clients (one twice); a client of another CSP
    // refused; and what someone else saw, which is not part of this breach.
    let suspect = app.login("csp-north").await;
    let (seen, seen_twice, refused) = (app.client_id(0), app.client_id(3), app.client_id(1));
    for client in [&seen, &seen_twice, &seen_twice] {
        let response = app
            .get(&format!("/api/v1/clients/{client}"), &suspect)
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }
    let response = app
        .get(&format!("/api/v1/clients/{refused}"), &suspect)
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    let bystander = app.login("csp-east").await;
    let response = app
        .get(&format!("/api/v1/clients/{refused}"), &bystander)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);

    let privacy = app.login("privacy").await;
    let suspect_id = app.user_id("csp-north");
    let id = record(
        &app,
        &privacy,
        new_breach(std::slice::from_ref(&suspect_id)),
    )
    .await;
    let path = format!("/api/v1/breaches/{id}");
    let breach = app.get(&path, &privacy).await;
    assert_eq!(breach.status, StatusCode::OK);
    assert_eq!(breach.body["status"], "assessing");
    let due = (Utc::now() + Duration::days(30)).date_naive().to_string();
    assert_eq!(breach.body["assessment_due_on"], due.as_str());
    assert_eq!(breach.body["assessment_overdue"], false);

    // Containment: one bad step refuses the whole request, and nothing is done.
    let bystander_id = app.user_id("csp-east");
    let containment = format!("{path}/containment");
    let bad = json!({"actions": [
        {"action": "suspend_user", "target_id": bystander_id},
        {"action": "rotate_api_client_secret", "target_id": suspect_id},
    ]});
    let response = app.post(&containment, &privacy, bad).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(response.body["errors"][0]["field"], "actions[1].target_id");
    let response = app.get("/api/v1/me", &bystander).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "a refused containment suspended nobody"
    );
    let steps: i64 = app.with_db(|conn| {
        breach_containment_actions::table
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(steps, 0);
    let own = json!({"actions": [{"action": "suspend_user", "target_id": app.user_id("privacy")}]});
    let response = app.post(&containment, &privacy, own).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    let contain = json!({"actions": [
        {"action": "suspend_user", "target_id": suspect_id},
        {"action": "revoke_sessions", "target_id": suspect_id},
    ]});
    let response = app.post(&containment, &privacy, contain).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let steps = response.body["containment_actions"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["outcome"], "suspended");
    assert_eq!(steps[0]["performed_by"], app.user_id("privacy").as_str());
    assert_eq!(steps[1]["outcome"], "sessions_ended");
    let response = app.get("/api/v1/me", &suspect).await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "invalid_token");
    let response = app
        .login_response("csp-north", crate::helpers::PASSWORD)
        .await;
    assert_eq!(
        response.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        response.body
    );

    // The affected individuals: exactly the two clients the suspect saw.
    let affected = app.get(&format!("{path}/affected"), &privacy).await;
    assert_eq!(affected.status, StatusCode::OK, "{}", affected.body);
    let expected: BTreeSet<String> = [seen.clone(), seen_twice.clone()].into();
    assert_eq!(client_ids(&affected.body), expected);
    assert_eq!(affected.body["number_affected"], 2);
    assert_eq!(affected.body["snapshot_id"], Value::Null);
    let twice = affected.body["individuals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|individual| individual["client_id"] == seen_twice.as_str())
        .unwrap();
    assert_eq!(twice["event_ids"].as_array().unwrap().len(), 2);
    let fields: Vec<&str> = twice["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field.as_str().unwrap())
        .collect();
    assert!(fields.contains(&"client.address"), "{fields:?}");
    assert!(!fields.contains(&"client.tax_file_number"), "{fields:?}");
    assert_eq!(twice["tax_file_number_disclosed"], false);
    assert_eq!(affected.body["counts_by_kind"]["identity"], 2);
    assert_eq!(affected.body["counts_by_kind"]["contact"], 2);
    let required: Vec<&Value> = affected.body["required_notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|required| &required["recipient"])
        .collect();
    assert_eq!(
        required,
        [&json!("ovic")],
        "the demo files are OFFICIAL: Sensitive"
    );
    // Reading who was affected is itself in each client's access log.
    let rows = app.audit_rows("/api/v1/breaches/{id}/affected");
    let named: BTreeSet<String> = serde_json::from_str(&rows.last().unwrap().client_ids).unwrap();
    assert_eq!(named, expected);

    // Drafts need the assessment and a saved snapshot; notifications need the snapshot.
    let draft = format!("{path}/notification-draft?recipient=ovic");
    let response = app.get(&draft, &privacy).await;
    assert_problem(&response, StatusCode::CONFLICT, "assessment_required");
    let notifications = format!("{path}/notifications");
    let today = Utc::now().date_naive().to_string();
    let to_commissioner = json!({"recipient": "ovic", "method": "web form", "sent_on": today});
    let response = app
        .post(&notifications, &privacy, to_commissioner.clone())
        .await;
    assert_problem(
        &response,
        StatusCode::CONFLICT,
        "affected_snapshot_required",
    );

    // Assessment: If-Match, and an eligible breach is one likely to cause serious harm.
    let response = app.patch(&path, &privacy, assessment(true), None).await;
    assert_eq!(response.status, StatusCode::PRECONDITION_REQUIRED);
    let etag = app.get(&path, &privacy).await.etag();
    let mut inconsistent = assessment(true);
    inconsistent["serious_harm_likely"] = json!(false);
    let response = app.patch(&path, &privacy, inconsistent, Some(&etag)).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let response = app
        .patch(&path, &privacy, assessment(true), Some(&etag))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["status"], "assessed");
    assert_eq!(response.body["eligible"], true);
    let response = app
        .patch(&path, &privacy, assessment(true), Some(&etag))
        .await;
    assert_eq!(response.status, StatusCode::PRECONDITION_FAILED);
    let response = app
        .post(
            &format!("{path}/extensions"),
            &privacy,
            json!({"new_due_on": "2099-01-01", "reason": "More logs to read."}),
        )
        .await;
    assert_problem(&response, StatusCode::CONFLICT, "breach_assessed");

    let response = app.get(&draft, &privacy).await;
    assert_problem(
        &response,
        StatusCode::CONFLICT,
        "affected_snapshot_required",
    );
    let snapshot = app
        .act(&format!("{path}/affected-snapshots"), &privacy)
        .await;
    assert_eq!(snapshot.status, StatusCode::CREATED, "{}", snapshot.body);
    let snapshot_id = snapshot.body["snapshot_id"].as_str().unwrap().to_owned();
    assert_eq!(client_ids(&snapshot.body), expected);

    // The draft for the Commissioner: the guideline's contents, filled in.
    let response = app.get(&draft, &privacy).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let notice = &response.body;
    assert_eq!(notice["snapshot_id"], snapshot_id.as_str());
    assert_eq!(notice["number_affected"], 2);
    assert_eq!(notice["number_notified"], 0);
    assert_eq!(notice["agency"], "The Department");
    assert_eq!(notice["breach_kinds"], json!(["access"]));
    assert_eq!(
        notice["recommended_steps"],
        "Tell us if anyone unexpected contacts you."
    );
    assert_eq!(notice["containment_steps"].as_array().unwrap().len(), 2);
    assert!(
        notice["how_to_complain"]
            .as_str()
            .unwrap()
            .contains("Information Commissioner")
    );
    let kinds = notice["information_kinds"].as_array().unwrap();
    assert!(kinds.contains(&json!("identity")) && kinds.contains(&json!("contact")));

    // An individual's draft and notification: only the affected ones.
    let response = app
        .get(
            &format!("{path}/notification-draft?recipient=individual&client_id={refused}"),
            &privacy,
        )
        .await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let response = app
        .get(
            &format!("{path}/notification-draft?recipient=individual&client_id={seen}"),
            &privacy,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["client_id"], seen.as_str());
    let to_refused = json!({"recipient": "individual", "client_id": refused, "method": "letter", "sent_on": today});
    let response = app.post(&notifications, &privacy, to_refused).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let without_client = json!({"recipient": "individual", "method": "letter", "sent_on": today});
    let response = app.post(&notifications, &privacy, without_client).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let to_seen =
        json!({"recipient": "individual", "client_id": seen, "method": "letter", "sent_on": today});
    let response = app.post(&notifications, &privacy, to_seen).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let response = app.post(&notifications, &privacy, to_commissioner).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let sent = response.body["notifications"].as_array().unwrap();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|n| n["snapshot_id"] == snapshot_id.as_str())
    );
    let response = app.get(&draft, &privacy).await;
    assert_eq!(response.body["number_notified"], 1);

    // The register of eligible breaches.
    let eligible = app.get("/api/v1/breaches?eligible=true", &privacy).await;
    let ids: Vec<&str> = eligible.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);
    let not_eligible = app.get("/api/v1/breaches?eligible=false", &privacy).await;
    assert_eq!(not_eligible.body["items"], json!([]));

    // The review closes it; the assessment is then final.
    let review = json!({
        "root_cause": "Shared workstation without screen lock.",
        "lessons": "Lock screens after 5 minutes.",
        "actions": [{"action": "Enforce screen lock at Northside", "owner": "Northside IT", "due_on": "2027-01-31"}],
    });
    let response = app
        .post(&format!("{path}/review"), &privacy, review.clone())
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["status"], "reviewed");
    assert_eq!(
        response.body["review"]["actions"][0]["owner"],
        "Northside IT"
    );
    let response = app.post(&format!("{path}/review"), &privacy, review).await;
    assert_problem(&response, StatusCode::CONFLICT, "breach_reviewed");
    let etag = app.get(&path, &privacy).await.etag();
    let response = app
        .patch(&path, &privacy, assessment(false), Some(&etag))
        .await;
    assert_problem(&response, StatusCode::CONFLICT, "breach_reviewed");
}

#[actix_web::test]
async fn a_tax_file_number_seen_calls_for_the_commonwealth_regulator() {
    let app = spawn_app().await;
    let leader = app.login("teamleader").await;
    let client = app.client_id(0);
    let response = app.get(&format!("/api/v1/clients/{client}"), &leader).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.body.get("tax_file_number").is_some());
    let privacy = app.login("privacy").await;
    let id = record(&app, &privacy, new_breach(&[app.user_id("teamleader")])).await;
    let affected = app
        .get(&format!("/api/v1/breaches/{id}/affected"), &privacy)
        .await;
    assert_eq!(affected.status, StatusCode::OK, "{}", affected.body);
    assert_eq!(
        affected.body["individuals"][0]["tax_file_number_disclosed"],
        true
    );
    assert_eq!(affected.body["counts_by_kind"]["tax_file_number"], 1);
    let oaic = affected.body["required_notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|required| required["recipient"] == "oaic")
        .expect("oaic is required");
    assert_eq!(oaic["client_ids"], json!([client]));
}

#[actix_web::test]
async fn an_assessment_past_due_is_reported_until_extended() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let now = Utc::now();
    let mut body = new_breach(&[]);
    body["aware_at"] = json!(time(now - Duration::days(31)));
    body["window_from"] = json!(time(now - Duration::days(40)));
    let id = record(&app, &privacy, body).await;
    record(&app, &privacy, new_breach(&[])).await;
    let overdue = app.get("/api/v1/reports/breaches-overdue", &privacy).await;
    assert_eq!(overdue.status, StatusCode::OK, "{}", overdue.body);
    let items = overdue.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["assessment_overdue"], true);

    let extensions = format!("/api/v1/breaches/{id}/extensions");
    let current = items[0]["assessment_due_on"].as_str().unwrap().to_owned();
    let response = app
        .post(
            &extensions,
            &privacy,
            json!({"new_due_on": current, "reason": "More time"}),
        )
        .await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let new_due_on = (now + Duration::days(14)).date_naive().to_string();
    let response = app
        .post(
            &extensions,
            &privacy,
            json!({"new_due_on": new_due_on, "reason": "The CSP's logs arrive next week."}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["assessment_due_on"], new_due_on.as_str());
    assert_eq!(
        response.body["extensions"][0]["previous_due_on"],
        current.as_str()
    );
    let overdue = app.get("/api/v1/reports/breaches-overdue", &privacy).await;
    assert_eq!(overdue.body["items"], json!([]));
}

#[actix_web::test]
async fn invalid_breaches_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let now = Utc::now();
    let valid = new_breach(&[app.user_id("csp-north")]);
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let cases = [
        ("unknown field", with("severity", json!("high")), "severity"),
        (
            "aware in the future",
            with("aware_at", json!(time(now + Duration::days(1)))),
            "aware_at",
        ),
        (
            "window backwards",
            with("window_to", json!(time(now - Duration::days(2)))),
            "window_to",
        ),
        ("no kinds", with("kinds", json!([])), "kinds"),
        ("unknown kind", with("kinds", json!(["theft"])), "kinds[0]"),
        (
            "not a user",
            with(
                "suspected_actor_ids",
                json!([uuid::Uuid::now_v7().to_string()]),
            ),
            "suspected_actor_ids[0]",
        ),
        (
            "not a uuid",
            with("suspected_actor_ids", json!(["csp-north"])),
            "suspected_actor_ids[0]",
        ),
        (
            "year 10000",
            with("window_from", json!("+10000-01-01T00:00:00Z")),
            "window_from",
        ),
        (
            "empty description",
            with("description", json!("")),
            "description",
        ),
    ];
    for (what, body, field) in cases {
        let response = app.post("/api/v1/breaches", &privacy, body).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            response.body
        );
        assert_eq!(
            response.body["errors"][0]["field"], field,
            "{what}: {}",
            response.body
        );
    }
    assert_eq!(breach_count(&app), 0);
}

/// Every demo account against the register: only a privacy officer records, contains and
/// computes the affected individuals; an auditor reads the register; everyone else is
/// refused, and a refused request stores nothing.
#[actix_web::test]
async fn the_register_follows_the_policy_for_every_role() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let id = record(&app, &privacy, new_breach(&[app.user_id("csp-north")])).await;
    const OK: StatusCode = StatusCode::OK;
    const CREATED: StatusCode = StatusCode::CREATED;
    const NO: StatusCode = StatusCode::FORBIDDEN;
    #[rustfmt::skip]
    let table: &[(&str, StatusCode, StatusCode, StatusCode, StatusCode, StatusCode)] = &[
        // user               list  get   record   affected containment
        ("admin",             NO,   NO,   NO,      NO,      NO),
        ("caseworker",        NO,   NO,   NO,      NO,      NO),
        ("teamleader",        NO,   NO,   NO,      NO,      NO),
        ("searcher",          NO,   NO,   NO,      NO,      NO),
        ("csp-north",         NO,   NO,   NO,      NO,      NO),
        ("csp-north-manager", NO,   NO,   NO,      NO,      NO),
        ("csp-east",          NO,   NO,   NO,      NO,      NO),
        ("auditor",           OK,   OK,   NO,      NO,      NO),
        ("privacy",           OK,   OK,   CREATED, OK,      OK),
        ("records",           NO,   NO,   NO,      NO,      NO),
    ];
    let path = format!("/api/v1/breaches/{id}");
    let containment =
        json!({"actions": [{"action": "revoke_sessions", "target_id": app.user_id("csp-east")}]});
    for (user, list, get, create, affected, contain) in table {
        let token = app.login(user).await;
        let before = breach_count(&app);
        let checks = [
            (
                "GET /breaches",
                app.get("/api/v1/breaches", &token).await,
                list,
            ),
            ("GET /breaches/{id}", app.get(&path, &token).await, get),
            (
                "POST /breaches",
                app.post("/api/v1/breaches", &token, new_breach(&[])).await,
                create,
            ),
            (
                "GET affected",
                app.get(&format!("{path}/affected"), &token).await,
                affected,
            ),
            (
                "POST containment",
                app.post(&format!("{path}/containment"), &token, containment.clone())
                    .await,
                contain,
            ),
        ];
        for (what, response, expected) in checks {
            assert_eq!(
                response.status, *expected,
                "{user} {what}: {}",
                response.body
            );
        }
        let created = usize::from(*create == CREATED) as i64;
        assert_eq!(breach_count(&app), before + created, "{user}");
    }
    let auditor = app.login("auditor").await;
    let read = app.get(&path, &auditor).await;
    assert!(read.body.get("suspected_actor_ids").is_some());
}
