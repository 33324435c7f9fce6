//! The breach register made complete (issue 21, against OVIC's data breach guideline and
//! VPDSS 9): the regulators a breach must be notified to follow from what it touched;
//! individuals the audit trail cannot show are added by hand; a decision not to notify is
//! recorded with its ground; drafts say when the breach occurred, how many individuals are at
//! likely risk of serious harm and on whose behalf it is reported. Refusals store nothing.
use casebridge::db::schema::{breach_decisions_not_to_notify, breach_manual_individuals, breaches};
use chrono::{Duration, Utc};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::breaches::{assessment, new_breach, record, time};
use crate::helpers::{TestApp, spawn_app};
use crate::writes::assert_problem;

fn manual_count(app: &TestApp) -> i64 {
    app.with_db(|conn| {
        breach_manual_individuals::table
            .count()
            .get_result(conn)
            .unwrap()
    })
}

fn decision_count(app: &TestApp) -> i64 {
    app.with_db(|conn| {
        breach_decisions_not_to_notify::table
            .count()
            .get_result(conn)
            .unwrap()
    })
}

fn by_hand(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "source": "paper_record",
        "reason": "The client's paper file was left on a train.",
        "information_kinds": ["identity", "tax_file_number"],
    })
}

fn recipients(required: &Value) -> Vec<String> {
    required
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["recipient"].as_str().unwrap().to_owned())
        .collect()
}

/// The fields named by a 422, in order.
fn invalid_fields(response: &crate::helpers::Response) -> Vec<String> {
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap().to_owned())
        .collect()
}

/// Records a notification sent today to `recipient` (and the individual `client_id`).
async fn notify(
    app: &TestApp,
    token: &str,
    breach_path: &str,
    recipient: &str,
    client_id: Option<&str>,
) -> crate::helpers::Response {
    let today = Utc::now().date_naive().to_string();
    let mut body = json!({"recipient": recipient, "method": "letter", "sent_on": today});
    if let Some(client_id) = client_id {
        body["client_id"] = json!(client_id);
    }
    app.post(&format!("{breach_path}/notifications"), token, body)
        .await
}

/// A breach by `suspect` (who has read `clients`), with its affected individuals saved.
async fn breach_seen_by(app: &TestApp, privacy: &str, suspect: &str, clients: &[String]) -> String {
    let token = app.login(suspect).await;
    for client in clients {
        let response = app.get(&format!("/api/v1/clients/{client}"), &token).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }
    let id = record(app, privacy, new_breach(&[app.user_id(suspect)])).await;
    let snapshot = app
        .act(
            &format!("/api/v1/breaches/{id}/affected-snapshots"),
            privacy,
        )
        .await;
    assert_eq!(snapshot.status, StatusCode::CREATED, "{}", snapshot.body);
    id
}

#[actix_web::test]
async fn ovic_is_required_exactly_when_records_marked_official_sensitive_or_higher_were_involved() {
    let app = spawn_app().await;
    let leader = app.login("teamleader").await;
    let (official, sensitive) = (app.client_id(0), app.client_id(3));
    let response = app
        .patch_current(
            &format!("/api/v1/clients/{official}"),
            &leader,
            json!({"protective_marking": "OFFICIAL"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let privacy = app.login("privacy").await;

    let id = breach_seen_by(&app, &privacy, "csp-north", std::slice::from_ref(&official)).await;
    let affected = app
        .get(&format!("/api/v1/breaches/{id}/affected"), &privacy)
        .await;
    assert_eq!(
        affected.body["individuals"][0]["highest_marking"],
        "OFFICIAL"
    );
    assert_eq!(affected.body["required_notifications"], json!([]));

    // The same suspect then sees a file marked OFFICIAL: Sensitive.
    let id = breach_seen_by(
        &app,
        &privacy,
        "csp-north",
        std::slice::from_ref(&sensitive),
    )
    .await;
    let affected = app
        .get(&format!("/api/v1/breaches/{id}/affected"), &privacy)
        .await;
    assert_eq!(affected.body["number_affected"], 2);
    let required = &affected.body["required_notifications"];
    assert_eq!(recipients(required), ["ovic"]);
    assert_eq!(required[0]["client_ids"], json!([sensitive]));
    let breach = app.get(&format!("/api/v1/breaches/{id}"), &privacy).await;
    assert_eq!(
        breach.body["notifications_required"][0]["recipient"],
        "ovic"
    );
    assert_eq!(
        breach.body["notifications_required"][0]["status"],
        "pending"
    );
}

#[actix_web::test]
async fn a_required_notification_shows_notified_or_decided_against_on_the_breach() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    // The team leader sees tax file numbers: both regulators are required.
    let id = breach_seen_by(&app, &privacy, "teamleader", &[app.client_id(0)]).await;
    let path = format!("/api/v1/breaches/{id}");
    let breach = app.get(&path, &privacy).await;
    let required = &breach.body["notifications_required"];
    assert_eq!(recipients(required), ["ovic", "oaic"]);
    assert!(
        required
            .as_array()
            .unwrap()
            .iter()
            .all(|entry| entry["status"] == "pending")
    );
    let response = notify(&app, &privacy, &path, "oaic", None).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let response = app
        .post(
            &format!("{path}/decisions-not-to-notify"),
            &privacy,
            json!({"recipient": "ovic", "ground": "commissioner_exemption"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let statuses: Vec<(&str, &str)> = response.body["notifications_required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["recipient"].as_str().unwrap(),
                entry["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [("ovic", "decided_not_to_notify"), ("oaic", "notified")]
    );
}

#[actix_web::test]
async fn notifications_are_recorded_and_drafted_for_every_recipient_the_guideline_names() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let id = breach_seen_by(&app, &privacy, "csp-north", &[app.client_id(0)]).await;
    let path = format!("/api/v1/breaches/{id}");
    let etag = app.get(&path, &privacy).await.etag();
    let response = app
        .patch(&path, &privacy, assessment(true), Some(&etag))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    for recipient in ["ovic", "oaic", "police", "other_agency", "csp"] {
        let draft = app
            .get(
                &format!("{path}/notification-draft?recipient={recipient}"),
                &privacy,
            )
            .await;
        assert_eq!(draft.status, StatusCode::OK, "{recipient}: {}", draft.body);
        let response = notify(&app, &privacy, &path, recipient, None).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{recipient}: {}",
            response.body
        );
    }
    let response = notify(&app, &privacy, &path, "information_commissioner", None).await;
    assert_eq!(invalid_fields(&response), ["recipient"]);
    let breach = app.get(&path, &privacy).await;
    assert_eq!(breach.body["notifications"].as_array().unwrap().len(), 5);
}

#[actix_web::test]
async fn an_individual_added_by_hand_is_affected_flags_regulators_and_can_be_notified() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    // A lost paper file: nobody's use of the system is suspected.
    let mut body = new_breach(&[]);
    body["kinds"] = json!(["loss"]);
    let id = record(&app, &privacy, body).await;
    let path = format!("/api/v1/breaches/{id}");
    let client = app.client_id(1);
    let before = app.get(&path, &privacy).await.body["version"].clone();

    let response = app
        .post(
            &format!("{path}/affected-individuals"),
            &privacy,
            by_hand(&client),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    assert_eq!(response.body["client_id"], client.as_str());
    assert_eq!(response.body["source"], "paper_record");
    assert_eq!(response.body["added_by"], app.user_id("privacy").as_str());
    assert!(response.body["added_at"].is_string());
    assert_eq!(
        response.body["protective_marking"], "OFFICIAL: Sensitive",
        "at least the client record's marking"
    );
    let breach = app.get(&path, &privacy).await;
    assert_eq!(breach.body["version"], before.as_i64().unwrap() + 1);
    // Adding someone names them: the request is in the client's access log.
    let rows = app.audit_rows("/api/v1/breaches/{id}/affected-individuals");
    assert!(rows.last().unwrap().client_ids.contains(&client));

    let affected = app.get(&format!("{path}/affected"), &privacy).await;
    assert_eq!(affected.body["number_affected"], 1);
    let individual = &affected.body["individuals"][0];
    assert_eq!(individual["client_id"], client.as_str());
    assert_eq!(individual["added_by_hand"]["source"], "paper_record");
    assert_eq!(
        individual["added_by_hand"]["reason"],
        "The client's paper file was left on a train."
    );
    assert_eq!(individual["event_ids"], json!([]));
    assert_eq!(individual["first_disclosed_at"], Value::Null);
    assert_eq!(individual["tax_file_number_disclosed"], true);
    assert_eq!(
        recipients(&affected.body["required_notifications"]),
        ["ovic", "oaic"]
    );

    let snapshot = app
        .act(&format!("{path}/affected-snapshots"), &privacy)
        .await;
    assert_eq!(snapshot.status, StatusCode::CREATED);
    let response = notify(&app, &privacy, &path, "individual", Some(&client)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

#[actix_web::test]
async fn an_individual_added_after_the_snapshot_is_accepted_for_notification_at_once() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let id = breach_seen_by(&app, &privacy, "csp-north", &[app.client_id(0)]).await;
    let path = format!("/api/v1/breaches/{id}");
    let other = app.client_id(1);
    let response = app
        .post(
            &format!("{path}/affected-individuals"),
            &privacy,
            by_hand(&other),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    let response = notify(&app, &privacy, &path, "individual", Some(&other)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

#[actix_web::test]
async fn an_individual_added_by_hand_must_be_a_known_client_added_once_and_refusals_store_nothing()
{
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let id = record(&app, &privacy, new_breach(&[])).await;
    let path = format!("/api/v1/breaches/{id}/affected-individuals");
    let unknown = uuid::Uuid::now_v7().to_string();
    let response = app.post(&path, &privacy, by_hand(&unknown)).await;
    assert_eq!(invalid_fields(&response), ["client_id"]);
    let response = app.post(&path, &privacy, by_hand("client-1")).await;
    assert_eq!(invalid_fields(&response), ["client_id"]);
    let mut bad = by_hand(&app.client_id(1));
    bad["source"] = json!("rumour");
    assert_eq!(
        invalid_fields(&app.post(&path, &privacy, bad).await),
        ["source"]
    );
    let mut bad = by_hand(&app.client_id(1));
    bad["information_kinds"] = json!([]);
    bad["reason"] = json!("");
    let fields = invalid_fields(&app.post(&path, &privacy, bad).await);
    assert_eq!(fields, ["information_kinds", "reason"]);
    let response = app
        .post(
            &format!("/api/v1/breaches/{unknown}/affected-individuals"),
            &privacy,
            by_hand(&app.client_id(1)),
        )
        .await;
    assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(manual_count(&app), 0);

    let response = app.post(&path, &privacy, by_hand(&app.client_id(1))).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    let response = app.post(&path, &privacy, by_hand(&app.client_id(1))).await;
    assert_problem(&response, StatusCode::CONFLICT, "individual_already_added");
    assert_eq!(manual_count(&app), 1);
}

#[actix_web::test]
async fn a_decision_not_to_notify_is_recorded_with_its_ground_and_told_in_regulator_drafts() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let seen = app.client_id(0);
    let id = breach_seen_by(&app, &privacy, "csp-north", std::slice::from_ref(&seen)).await;
    let path = format!("/api/v1/breaches/{id}");
    let etag = app.get(&path, &privacy).await.etag();
    app.patch(&path, &privacy, assessment(true), Some(&etag))
        .await;
    let response = app
        .post(
            &format!("{path}/decisions-not-to-notify"),
            &privacy,
            json!({
                "recipient": "individual",
                "client_id": seen,
                "ground": "law_enforcement_prejudice",
                "explanation": "Victoria Police asked us to wait until the arrest.",
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let decision = &response.body["decisions_not_to_notify"][0];
    assert_eq!(decision["recipient"], "individual");
    assert_eq!(decision["client_id"], seen.as_str());
    assert_eq!(decision["ground"], "law_enforcement_prejudice");
    assert_eq!(decision["decided_by"], app.user_id("privacy").as_str());
    assert!(decision["decided_at"].is_string());

    let draft = app
        .get(
            &format!("{path}/notification-draft?recipient=ovic"),
            &privacy,
        )
        .await;
    assert_eq!(draft.status, StatusCode::OK, "{}", draft.body);
    assert_eq!(
        draft.body["not_notifying"],
        json!([{
            "recipient": "individual",
            "ground": "law_enforcement_prejudice",
            "explanation": "Victoria Police asked us to wait until the arrest.",
        }])
    );
    // The auditor sees the decision on the register.
    let auditor = app.login("auditor").await;
    let breach = app.get(&path, &auditor).await;
    assert_eq!(
        breach.body["decisions_not_to_notify"][0]["ground"],
        "law_enforcement_prejudice"
    );
}

#[actix_web::test]
async fn an_invalid_decision_not_to_notify_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let without_snapshot = record(&app, &privacy, new_breach(&[])).await;
    let response = app
        .post(
            &format!("/api/v1/breaches/{without_snapshot}/decisions-not-to-notify"),
            &privacy,
            json!({"recipient": "ovic", "ground": "commissioner_exemption"}),
        )
        .await;
    assert_problem(
        &response,
        StatusCode::CONFLICT,
        "affected_snapshot_required",
    );

    let id = breach_seen_by(&app, &privacy, "csp-north", &[app.client_id(0)]).await;
    let path = format!("/api/v1/breaches/{id}/decisions-not-to-notify");
    let cases = [
        (
            json!({"recipient": "ovic", "ground": "other"}),
            vec!["explanation"],
        ),
        (
            json!({"recipient": "ovic", "ground": "too_busy"}),
            vec!["ground"],
        ),
        (
            json!({"recipient": "individual", "client_id": app.client_id(1), "ground": "commissioner_exemption"}),
            vec!["client_id"],
        ),
        (
            json!({"recipient": "individual", "ground": "other", "client_id": "x"}),
            vec!["explanation", "client_id"],
        ),
        (
            json!({"recipient": "ovic", "ground": "other", "explanation": ""}),
            vec!["explanation"],
        ),
    ];
    for (body, fields) in cases {
        let response = app.post(&path, &privacy, body.clone()).await;
        assert_eq!(invalid_fields(&response), fields, "{body}");
    }
    assert_eq!(decision_count(&app), 0);
}

#[actix_web::test]
async fn drafts_carry_when_it_occurred_the_individuals_at_risk_and_on_whose_behalf() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let suspect = app.login("csp-north").await;
    app.get(&format!("/api/v1/clients/{}", app.client_id(0)), &suspect)
        .await;
    let now = Utc::now();
    let (from, until) = (now - Duration::minutes(50), now - Duration::minutes(10));
    let mut body = new_breach(&[app.user_id("csp-north")]);
    body["occurred_at"] = json!(time(from));
    body["occurred_until"] = json!(time(until));
    body["on_behalf_of"] = json!(["Northside Community Care"]);
    let id = record(&app, &privacy, body).await;
    let path = format!("/api/v1/breaches/{id}");
    let breach = app.get(&path, &privacy).await;
    assert_eq!(breach.body["occurred_at"], time(from).as_str());
    assert_eq!(
        breach.body["on_behalf_of"],
        json!(["Northside Community Care"])
    );
    let mut assessed = assessment(true);
    assessed["individuals_at_risk"] = json!(1);
    let response = app
        .patch(&path, &privacy, assessed, Some(&breach.etag()))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    app.act(&format!("{path}/affected-snapshots"), &privacy)
        .await;

    let draft = app
        .get(
            &format!("{path}/notification-draft?recipient=ovic"),
            &privacy,
        )
        .await;
    assert_eq!(draft.status, StatusCode::OK, "{}", draft.body);
    assert_eq!(
        draft.body["occurred"],
        json!({"from": time(from), "to": time(until)})
    );
    assert_eq!(draft.body["individuals_at_risk"], 1);
    assert_eq!(
        draft.body["on_behalf_of"],
        json!(["Northside Community Care"])
    );
    assert!(draft.body["aware_at"].is_string(), "when it was discovered");
}

#[actix_web::test]
async fn an_eligible_assessment_needs_the_individuals_at_risk_and_a_refused_one_changes_nothing() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let id = record(&app, &privacy, new_breach(&[])).await;
    let path = format!("/api/v1/breaches/{id}");
    let etag = app.get(&path, &privacy).await.etag();
    let mut without = assessment(true);
    without["individuals_at_risk"] = Value::Null;
    let response = app.patch(&path, &privacy, without, Some(&etag)).await;
    assert_eq!(invalid_fields(&response), ["individuals_at_risk"]);
    let mut unlikely = assessment(false);
    unlikely["individuals_at_risk"] = json!(3);
    unlikely["eligible"] = json!(true);
    let response = app.patch(&path, &privacy, unlikely, Some(&etag)).await;
    assert_eq!(
        invalid_fields(&response),
        ["eligible", "individuals_at_risk"]
    );
    let breach = app.get(&path, &privacy).await;
    assert_eq!(breach.body["status"], "assessing");
    assert_eq!(breach.etag(), etag);
}

#[actix_web::test]
async fn an_invalid_occurrence_or_agency_is_refused_naming_every_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let now = Utc::now();
    let mut body = new_breach(&[]);
    body["occurred_at"] = json!(time(now + Duration::hours(1)));
    body["on_behalf_of"] = json!(["Northside", " "]);
    let response = app.post("/api/v1/breaches", &privacy, body).await;
    assert_eq!(
        invalid_fields(&response),
        ["occurred_at", "on_behalf_of[1]"]
    );
    let mut body = new_breach(&[]);
    body["occurred_until"] = json!(time(now - Duration::hours(1)));
    let response = app.post("/api/v1/breaches", &privacy, body).await;
    assert_eq!(invalid_fields(&response), ["occurred_until"]);
    let mut body = new_breach(&[]);
    body["occurred_at"] = json!(time(now - Duration::hours(1)));
    body["occurred_until"] = json!(time(now - Duration::hours(2)));
    let response = app.post("/api/v1/breaches", &privacy, body).await;
    assert_eq!(invalid_fields(&response), ["occurred_until"]);
    let stored: i64 = app.with_db(|conn| breaches::table.count().get_result(conn).unwrap());
    assert_eq!(stored, 0);
}
