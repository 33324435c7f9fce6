//! The client's rights (issue 5): access requests with their streamed bundle, correction
//! requests decided through the client write path or refused with a statement that goes
//! with the field to every later reader of it, and the overdue report. Refusals and bad
//! input store nothing.
use casebridge::db::schema::{access_requests, client_statements, clients, correction_requests};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::writes::{assert_invalid, assert_problem, count, day};

async fn overdue_ids(app: &TestApp, token: &str) -> Vec<Value> {
    let report = app.get("/api/v1/reports/requests-overdue", token).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    report.body["items"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn a_client_sees_everything_held_about_them_once_their_identity_is_verified() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let client = app.client_id(0);
    let requests = "/api/v1/access-requests";
    for (body, field) in [
        (
            json!({"client_id": client, "received_on": day(1), "requester": "The client", "identity_verified": false}),
            "received_on",
        ),
        (
            json!({"client_id": client, "received_on": day(0), "requester": "", "identity_verified": false}),
            "requester",
        ),
        (
            json!({"client_id": "00000000-0000-7000-8000-000000000000", "received_on": day(0), "requester": "R", "identity_verified": false}),
            "client_id",
        ),
        (
            json!({"client_id": client, "received_on": day(0), "requester": "R"}),
            "identity_verified",
        ),
    ] {
        assert_invalid(&app.post(requests, &privacy, body).await, field);
    }
    let new = json!({"client_id": client, "received_on": day(-40), "requester": "The client, by letter", "identity_verified": false});
    for user in ["caseworker", "auditor", "records", "csp-north"] {
        let token = app.login(user).await;
        assert_problem(
            &app.post(requests, &token, new.clone()).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        assert_problem(
            &app.get(requests, &token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    assert_eq!(count!(app, access_requests::table), 0, "nothing stored");

    let created = app.post(requests, &privacy, new).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["status"], "received");
    assert_eq!(created.body["due_on"], day(-10));
    assert_eq!(created.body["overdue"], true);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let (path, bundle) = (
        format!("{requests}/{id}"),
        format!("{requests}/{id}/bundle"),
    );
    let overdue = overdue_ids(&app, &privacy).await;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0]["id"], id.as_str());
    assert_eq!(overdue[0]["kind"], "access");
    assert_eq!(overdue[0]["days_overdue"], 10);

    // Nothing is released before the requester's identity is checked.
    assert_problem(
        &app.get(&bundle, &privacy).await,
        StatusCode::CONFLICT,
        "identity_not_verified",
    );
    assert_problem(
        &app.patch(
            &path,
            &privacy,
            json!({"status": "completed"}),
            Some("\"1\""),
        )
        .await,
        StatusCode::CONFLICT,
        "identity_not_verified",
    );
    assert_problem(
        &app.patch(&path, &privacy, json!({"status": "refused"}), Some("\"1\""))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_problem(
        &app.patch(&path, &privacy, json!({"identity_verified": true}), None)
            .await,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );
    let started = app
        .patch(
            &path,
            &privacy,
            json!({"status": "in_progress", "identity_verified": true}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.body["identity_verified"], true);

    // Someone reads the file: the bundle's access log shows it.
    let caseworker = app.login("caseworker").await;
    let read = app
        .get(&format!("/api/v1/clients/{client}"), &caseworker)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    for user in ["caseworker", "auditor"] {
        let token = app.login(user).await;
        assert_problem(
            &app.get(&bundle, &token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    let response = app.get(&bundle, &privacy).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let document = &response.body;
    assert_eq!(document["access_request"]["id"], id.as_str());
    assert_eq!(document["client"]["id"], client.as_str());
    assert!(
        document["client"]["tax_file_number"].is_string()
            || document["client"]["tax_file_number"].is_null()
    );
    assert_eq!(document["cases"][0]["id"], app.case_id(0).as_str());
    assert!(document["cases"][0]["allocations"].is_array());
    assert_eq!(document["consents"].as_array().unwrap().len(), 1);
    assert!(
        !document["collection_notices_given"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(document["correction_requests"], json!([]));
    let notes = document["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes
            .iter()
            .all(|note| note["case_id"] == app.case_id(0).as_str())
    );
    let log = document["access_log"].as_array().unwrap();
    let caseworker_id = app.user_id("caseworker");
    assert!(
        log.iter()
            .any(|event| event["actor_user_id"] == caseworker_id.as_str()
                && event["route"] == "/api/v1/clients/{id}"),
        "{log:?}"
    );
    for event in log {
        for private in [
            "ip",
            "user_agent",
            "client_ids",
            "path",
            "attempted_username",
        ] {
            assert!(event.get(private).is_none(), "{private} in {event}");
        }
    }
    let audited = app.audit_rows("/api/v1/access-requests/{id}/bundle");
    let row = audited.iter().find(|row| row.status == 200).unwrap();
    assert_eq!(
        row.purpose_of_use.as_deref(),
        Some(format!("access request {id}").as_str())
    );
    assert!(row.client_ids.contains(&client));
    assert!(row.fields.contains("client.given_name"), "{}", row.fields);
    assert!(row.fields.contains("note.body"), "{}", row.fields);
    assert!(
        audited
            .iter()
            .filter(|row| row.status == 403)
            .all(|row| row.client_ids == "[]"),
        "a refusal discloses nothing"
    );

    let completed = app
        .patch(
            &path,
            &privacy,
            json!({"status": "completed", "reason": "Sent by registered post"}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    assert_eq!(completed.body["overdue"], false);
    assert_problem(
        &app.patch(
            &path,
            &privacy,
            json!({"status": "refused", "reason": "R"}),
            Some("\"3\""),
        )
        .await,
        StatusCode::CONFLICT,
        "request_closed",
    );
    assert!(overdue_ids(&app, &privacy).await.is_empty());

    // A refused request releases nothing.
    let refused = app
        .post(
            requests,
            &privacy,
            json!({"client_id": client, "received_on": day(0), "requester": "A former partner", "identity_verified": true}),
        )
        .await;
    let refused_path = format!("{requests}/{}", refused.body["id"].as_str().unwrap());
    let answer = app
        .patch(
            &refused_path,
            &privacy,
            json!({"status": "refused", "reason": "No authority to act for the client"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_problem(
        &app.get(&format!("{refused_path}/bundle"), &privacy).await,
        StatusCode::CONFLICT,
        "request_refused",
    );
}

/// A client that `csp-north` may read, with the role's fields cut.
async fn csp_client(app: &TestApp, csp: &str) -> String {
    let list = app.get("/api/v1/clients", csp).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    list.body["items"][0]["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_correction_is_written_through_the_client_write_path_or_refused_with_a_statement() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let csp = app.login("csp-north").await;
    let client = csp_client(&app, &csp).await;
    let corrections = "/api/v1/correction-requests";
    for (body, field) in [
        (
            json!({"client_id": client, "field": "tax_file_number", "requested_value": "123", "reason": "Wrong"}),
            "requested_value",
        ),
        (
            json!({"client_id": client, "field": "address", "requested_value": {"line1": "1 Main St", "suburb": "X", "state": "NSW", "postcode": "20"}, "reason": "Moved"}),
            "requested_value",
        ),
        (
            json!({"client_id": client, "field": "restricted", "requested_value": false, "reason": "R"}),
            "field",
        ),
        (
            json!({"client_id": client, "field": "phone", "requested_value": "0400 111 222", "reason": ""}),
            "reason",
        ),
        (
            json!({"client_id": client, "field": "phone", "requested_value": "0400 111 222", "reason": "R", "received_on": day(2)}),
            "received_on",
        ),
    ] {
        assert_invalid(&app.post(corrections, &privacy, body).await, field);
    }
    let phone = json!({"client_id": client, "field": "phone", "requested_value": "0400 111 222", "reason": "The number is my old one"});
    for user in ["caseworker", "auditor", "csp-north"] {
        let token = app.login(user).await;
        assert_problem(
            &app.post(corrections, &token, phone.clone()).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    assert_eq!(count!(app, correction_requests::table), 0, "nothing stored");

    let created = app.post(corrections, &privacy, phone).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["status"], "received");
    assert_eq!(created.body["due_on"], day(30));
    let decision = format!(
        "{corrections}/{}/decision",
        created.body["id"].as_str().unwrap()
    );
    let correct = json!({"decision": "correct"});
    let client_path = format!("/api/v1/clients/{client}");
    let before = app.get(&client_path, &csp).await;
    assert_problem(
        &app.post(&decision, &privacy, correct.clone()).await,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );
    let stale = app
        .request(
            reqwest::Method::POST,
            &decision,
            Some(&privacy),
            Some(correct.clone()),
            &[("If-Match", "\"999\"")],
        )
        .await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED, "version_mismatch");
    assert_problem(
        &app.post(&decision, &app.login("caseworker").await, correct.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(
        app.get(&client_path, &csp).await.body,
        before.body,
        "unchanged"
    );

    let etag = before.etag();
    let corrected = app
        .request(
            reqwest::Method::POST,
            &decision,
            Some(&privacy),
            Some(correct.clone()),
            &[("If-Match", etag.as_str())],
        )
        .await;
    assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.body);
    assert_eq!(corrected.body["status"], "corrected");
    assert_eq!(
        corrected.body["decided_by"],
        app.user_id("privacy").as_str()
    );
    let after = app.get(&client_path, &csp).await;
    assert_eq!(after.body["phone"], "0400 111 222");
    assert_ne!(after.etag(), etag, "a new version");
    let again = app
        .request(
            reqwest::Method::POST,
            &decision,
            Some(&privacy),
            Some(correct),
            &[("If-Match", after.etag().as_str())],
        )
        .await;
    assert_problem(&again, StatusCode::CONFLICT, "request_decided");
    let row = app
        .audit_rows("/api/v1/correction-requests/{id}/decision")
        .into_iter()
        .find(|row| row.status == 200)
        .unwrap();
    assert!(row.client_ids.contains(&client));
    assert!(
        row.purpose_of_use
            .unwrap()
            .starts_with("correction request ")
    );

    // Refused corrections: the client's statement goes with its field, to whoever reads it.
    let mut statements = Vec::new();
    for (field, value) in [
        ("gp_details", json!("Dr A. Smith, Main St Clinic")),
        ("email", json!("mira@example.org")),
    ] {
        let request = app
            .post(
                corrections,
                &privacy,
                json!({"client_id": client, "field": field, "requested_value": value, "reason": "Out of date"}),
            )
            .await;
        assert_eq!(request.status, StatusCode::CREATED, "{}", request.body);
        let decision = format!(
            "{corrections}/{}/decision",
            request.body["id"].as_str().unwrap()
        );
        assert_invalid(
            &app.post(&decision, &privacy, json!({"decision": "refuse"}))
                .await,
            "refusal_reason",
        );
        assert_invalid(
            &app.post(
                &decision,
                &privacy,
                json!({"decision": "correct", "statement": "S"}),
            )
            .await,
            "statement",
        );
        let statement = format!("I say my {field} is {value}");
        let refused = app
            .post(
                &decision,
                &privacy,
                json!({"decision": "refuse", "refusal_reason": "Records show otherwise", "statement": statement}),
            )
            .await;
        assert_eq!(refused.status, StatusCode::OK, "{}", refused.body);
        assert_eq!(refused.body["status"], "refused");
        statements.push(statement);
    }
    assert_eq!(count!(app, client_statements::table), 2);
    let officer = app
        .get_with(
            &client_path,
            &privacy,
            &[("X-Purpose-Of-Use", "IPP 7 check")],
        )
        .await;
    assert_eq!(officer.status, StatusCode::OK, "{}", officer.body);
    assert_eq!(
        officer.body["statements"]["gp_details"][0]["statement"],
        statements[0].as_str()
    );
    assert_eq!(
        officer.body["statements"]["email"][0]["statement"],
        statements[1].as_str()
    );
    // The CSP reads the email but not the GP's details: it sees the one statement only, on
    // single reads and lists alike.
    let csp_view = app.get(&client_path, &csp).await;
    assert_eq!(
        csp_view.body["statements"],
        json!({"email": officer.body["statements"]["email"]})
    );
    let listed = app.get("/api/v1/clients", &csp).await;
    let item = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == client.as_str())
        .unwrap()
        .clone();
    assert_eq!(item["statements"], csp_view.body["statements"]);
    assert!(!csp_view.body.to_string().contains("Main St Clinic"));
    let phone_now: Option<String> = app.with_db(|conn| {
        clients::table
            .filter(clients::id.eq(&client))
            .select(clients::phone)
            .first(conn)
            .unwrap()
    });
    assert_eq!(phone_now.as_deref(), Some("0400 111 222"));
}

#[actix_web::test]
async fn an_undecided_correction_is_overdue_after_the_statutory_period() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let client = app.client_id(1);
    let created = app
        .post(
            "/api/v1/correction-requests",
            &privacy,
            json!({"client_id": client, "field": "family_name", "requested_value": "Nguyen-Tran", "reason": "Married name", "received_on": day(-31)}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["overdue"], true);
    let overdue = overdue_ids(&app, &privacy).await;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0]["kind"], "correction");
    assert_eq!(overdue[0]["days_overdue"], 1);
    let listed = app
        .get("/api/v1/correction-requests?overdue=true", &privacy)
        .await;
    assert_eq!(listed.body["items"][0]["id"], created.body["id"]);
    for user in ["caseworker", "auditor", "records"] {
        let token = app.login(user).await;
        assert_problem(
            &app.get("/api/v1/reports/requests-overdue", &token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
}
