//! Alerts raised as requests happen (issue 6): a denial burst, a restricted-client read and a
//! lockout each raise exactly one alert with the audit event that caused it; oversight staff
//! acknowledge them once; a configured webhook receives each, signed, retried until it answers.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use casebridge::db::schema::{alerts, audit_events};
use casebridge::demo::RESTRICTED_CLIENT;
use diesel::prelude::*;
use hmac::Mac;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn alerts_of(app: &TestApp, query: &str) -> Vec<Value> {
    let auditor = app.login("auditor").await;
    let response = app.get(&format!("/api/v1/alerts{query}"), &auditor).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["items"].as_array().unwrap().clone()
}

fn alert_count(app: &TestApp) -> i64 {
    app.with_db(|conn| alerts::table.count().get_result(conn).unwrap())
}

async fn read_restricted(app: &TestApp, token: &str) {
    let path = format!("/api/v1/clients/{}", app.client_id(RESTRICTED_CLIENT));
    let response = app
        .get_with(
            &path,
            token,
            &[("X-Purpose-Of-Use", "Court order 2026/118")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

#[actix_web::test]
async fn the_tenth_refusal_within_an_hour_raises_one_alert() {
    let app = spawn_app().await;
    let csp = app.login("csp-north").await;
    let other = format!("/api/v1/clients/{}", app.client_id(1));
    for attempt in 1..=9 {
        assert_eq!(app.get(&other, &csp).await.status, StatusCode::NOT_FOUND);
        assert_eq!(alert_count(&app), 0, "after {attempt} refusals");
    }
    let tenth = app.get(&other, &csp).await;
    assert_eq!(tenth.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&other, &csp).await.status, StatusCode::NOT_FOUND);
    let raised = alerts_of(&app, "").await;
    assert_eq!(raised.len(), 1, "{raised:#?}");
    let alert = &raised[0];
    assert_eq!(alert["kind"], "denial_burst");
    assert_eq!(alert["subject"], app.user_id("csp-north").as_str());
    assert_eq!(alert["delivery"], "none");
    // The alert cites the tenth refusal's audit row.
    let request_id = tenth.headers["x-request-id"].to_str().unwrap().to_owned();
    let event: String = app.with_db(|conn| {
        audit_events::table
            .filter(audit_events::request_id.eq(request_id))
            .select(audit_events::id)
            .first(conn)
            .unwrap()
    });
    assert_eq!(alert["event_id"], event.as_str());
}

#[actix_web::test]
async fn a_restricted_read_and_a_lockout_each_raise_an_alert() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let ordinary = format!("/api/v1/clients/{}", app.client_id(0));
    let response = app
        .get_with(
            &ordinary,
            &privacy,
            &[("X-Purpose-Of-Use", "Complaint C-3")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        alert_count(&app),
        0,
        "an ordinary client's read raises nothing"
    );
    read_restricted(&app, &privacy).await;
    for _ in 0..5 {
        let response = app.login_response("caseworker", "not the password").await;
        assert!(response.status.is_client_error());
    }
    let raised = alerts_of(&app, "").await;
    let kinds: Vec<&str> = raised.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["restricted_client_read", "lockout"], "{raised:#?}");
    assert!(
        raised[0]["reason"]
            .as_str()
            .unwrap()
            .contains("Court order 2026/118")
    );
    assert_eq!(raised[0]["actor_user_id"], app.user_id("privacy").as_str());
    assert_eq!(raised[1]["subject"], "caseworker");
    assert_eq!(raised[1]["actor_user_id"], Value::Null);
    // The row of the failure that locked the username says so.
    let locking: (i32, Option<String>) = app.with_db(|conn| {
        audit_events::table
            .filter(audit_events::id.eq(raised[1]["event_id"].as_str().unwrap()))
            .select((audit_events::status, audit_events::reason))
            .first(conn)
            .unwrap()
    });
    assert_eq!(locking, (429, Some("login_locked".to_owned())));
}

#[actix_web::test]
async fn oversight_staff_acknowledge_an_alert_once() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    read_restricted(&app, &privacy).await;
    let id = alerts_of(&app, "").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/alerts/{id}/acknowledge");
    for user in ["caseworker", "csp-north-manager", "admin", "records"] {
        let token = app.login(user).await;
        assert_eq!(
            app.get("/api/v1/alerts", &token).await.status,
            StatusCode::FORBIDDEN,
            "{user}"
        );
        let response = app.post(&path, &token, json!({"note": "seen"})).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{user}");
    }
    let auditor = app.login("auditor").await;
    let response = app.post(&path, &auditor, json!({"note": ""})).await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.body
    );
    let response = app
        .post(
            &path,
            &auditor,
            json!({"note": "Purpose checked with the court registry."}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(
        response.body["acknowledged_by"],
        app.user_id("auditor").as_str()
    );
    let response = app.post(&path, &privacy, json!({"note": "again"})).await;
    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(response.code(), "alert_acknowledged");
    assert!(alerts_of(&app, "?acknowledged=false").await.is_empty());
    assert_eq!(alerts_of(&app, "?acknowledged=true").await.len(), 1);
}

/// A webhook that fails its first delivery and accepts the next; what it received.
fn flaky_webhook() -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        for (attempt, stream) in listener.incoming().enumerate() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut signature, mut length) = (String::new(), 0);
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(": ").unwrap_or((line, ""));
                match name.to_ascii_lowercase().as_str() {
                    "x-casebridge-signature" => signature = value.to_owned(),
                    "content-length" => length = value.parse().unwrap(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let status = if attempt == 0 {
                "500 Internal Server Error"
            } else {
                "204 No Content"
            };
            write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .unwrap();
            sender
                .send((signature, String::from_utf8(body).unwrap()))
                .unwrap();
        }
    });
    (url, received)
}

#[actix_web::test]
async fn alerts_reach_the_webhook_signed_and_retried() {
    let (url, received) = flaky_webhook();
    let secret = "a webhook key of at least thirty-two characters";
    let app = spawn_app_with(|config| {
        config.oversight.alert_webhook_url = Some(url);
        config.oversight.alert_webhook_secret = Some(secret.into());
    })
    .await;
    let privacy = app.login("privacy").await;
    read_restricted(&app, &privacy).await;
    let mut deliveries = Vec::new();
    for _ in 0..2 {
        deliveries.push(
            received
                .recv_timeout(Duration::from_secs(15))
                .expect("a delivery"),
        );
    }
    let alert = &alerts_of(&app, "").await[0];
    for (signature, body) in &deliveries {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(signature, &expected);
        let sent: Value = serde_json::from_str(body).unwrap();
        assert_eq!(sent["id"], alert["id"]);
        assert_eq!(sent["kind"], "restricted_client_read");
    }
    // The second attempt succeeded; the row says so once the thread has recorded it.
    let mut alert = alert.clone();
    for _ in 0..40 {
        if alert["delivery"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        alert = alerts_of(&app, "").await[0].clone();
    }
    assert_eq!(alert["delivery"], "delivered", "{alert}");
    assert_eq!(alert["delivery_attempts"], 2);
}
