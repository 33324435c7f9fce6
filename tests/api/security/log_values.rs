//! Finding 4: no value a request sends reaches the server log, the audit trail or the
//! problem that refuses it. serde's messages quote what they refuse (a tax file number sent
//! as a JSON number came back as ``invalid type: integer `876543217` ``), and each failed
//! request was logged at WARN with its problem's text.
//!
//! Each test runs the real binary (`casebridge serve`) as a child process over the test's
//! database, with its stderr captured, so the log is exactly what an operator would see (at
//! the default level, and the service's own lines down to TRACE). It sends the bad input of
//! the suite (`bad_input.rs` and friends) with planted values, stops the server, and searches
//! the whole log, every problem and every audit row for them. The log must still name the
//! refused fields, which shows it was captured.
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::bad_input::{medicare, tax_file_number};
use crate::helpers::{PASSWORD, TestApp, spawn_app};

const BINARY: &str = env!("CARGO_BIN_EXE_casebridge");

/// The service as an operator runs it, over `app`'s database, its stderr kept.
struct LoggedServer {
    address: String,
    child: Child,
    stderr: Option<JoinHandle<String>>,
    client: reqwest::Client,
    /// Every planted value sent so far.
    planted: Vec<String>,
    /// Every field the log should name.
    fields: Vec<String>,
}

impl LoggedServer {
    /// Over `app`'s database, once `app` has stopped serving it.
    async fn start(app: &mut TestApp) -> Self {
        app.stop_serving().await;
        let mut child = Command::new(BINARY)
            .args([
                "--database-url",
                &app.database_url,
                "serve",
                "--bind",
                "127.0.0.1:0",
            ])
            .env("CASEBRIDGE_DATA_DIR", app.data_dir.path())
            .env("CASEBRIDGE_LOG", "info,casebridge=trace")
            .env_remove("DATABASE_URL")
            .env_remove("CASEBRIDGE_DEMO_PASSWORD")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start casebridge serve");
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            stderr.read_to_string(&mut text).ok();
            text
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut address = None;
        let mut line = String::new();
        while address.is_none() && stdout.read_line(&mut line).unwrap_or(0) > 0 {
            address = line
                .split_once("listening on ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .map(str::to_owned);
            line.clear();
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Self {
            address: address.expect("the server said where it listens"),
            child,
            stderr: Some(stderr),
            client: reqwest::Client::new(),
            planted: Vec::new(),
            fields: Vec::new(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, String) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .header("If-Match", "\"1\"");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("request sent");
        (response.status(), response.text().await.unwrap())
    }

    async fn login(&self, username: &str) -> String {
        let body = json!({"username": username, "password": PASSWORD}).to_string();
        let (status, text) = self
            .send(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Sends a bad request holding `planted`: it must be refused (4xx) naming `field` when
    /// it is a 422, and its problem must not repeat the value.
    async fn refused(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        planted: &str,
        field: Option<&str>,
    ) {
        let (status, text) = self.send(method.clone(), path, token, body).await;
        assert!(status.is_client_error(), "{method} {path}: {status} {text}");
        assert!(
            !text.contains(planted),
            "{method} {path}: the problem repeats {planted}: {text}"
        );
        if let Some(field) = field {
            let problem: Value = serde_json::from_str(&text).unwrap();
            let named = problem["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|error| {
                    error["field"]
                        .as_str()
                        .is_some_and(|f| f.starts_with(field))
                });
            assert!(named, "{method} {path}: no error for {field}: {text}");
            self.fields.push(field.to_owned());
        }
        self.planted.push(planted.to_owned());
    }

    /// Stops the server and answers its whole log.
    fn stop(&mut self) -> String {
        self.child.kill().ok();
        self.child.wait().ok();
        self.stderr
            .take()
            .map(|reader| reader.join().unwrap())
            .unwrap_or_default()
    }

    /// Stops the server; no planted value is in its log or in any audit row, and the log
    /// names every refused field.
    fn assert_nothing_planted_was_kept(&mut self, app: &TestApp) {
        let log = self.stop();
        assert!(log.contains("WARN"), "no refusal logged: {log}");
        let audit = app.with_db(|conn| {
            use casebridge::db::schema::audit_events;
            use diesel::prelude::*;
            audit_events::table
                .select(casebridge::audit::chain::AuditEvent::as_select())
                .load::<casebridge::audit::chain::AuditEvent>(conn)
                .unwrap()
        });
        let audit = format!("{audit:?}");
        for value in &self.planted {
            assert!(
                !log.contains(value.as_str()),
                "the log holds {value}:\n{log}"
            );
            assert!(
                !audit.contains(value.as_str()),
                "an audit row holds {value}"
            );
        }
        for field in &self.fields {
            assert!(
                log.contains(&format!("\"{field}")),
                "the log does not name {field}:\n{log}"
            );
        }
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn client_body(field: &str, value: Value) -> String {
    let mut body = crate::helpers::new_client();
    body[field] = value;
    body.to_string()
}

#[actix_web::test]
async fn values_of_the_wrong_json_type_reach_neither_the_log_nor_the_problem() {
    let mut app = spawn_app().await;
    let mut server = LoggedServer::start(&mut app).await;
    let leader = server.login("teamleader").await;
    let client = format!("/api/v1/clients/{}", app.client_id(0));
    let tfn = tax_file_number(876_543_000);
    let medicare = medicare("34567812", None);
    for (field, value) in [
        ("tax_file_number", tfn.as_str()),
        ("medicare_number", medicare.as_str()),
        ("phone", "61412345679"),
        ("date_of_birth", "19840309"),
    ] {
        let number: Value = serde_json::from_str(value).unwrap();
        let body = client_body(field, number.clone());
        server
            .refused(
                Method::POST,
                "/api/v1/clients",
                Some(&leader),
                Some(body),
                value,
                Some(field),
            )
            .await;
        let body = json!({ field: number }).to_string();
        server
            .refused(
                Method::PATCH,
                &client,
                Some(&leader),
                Some(body),
                value,
                Some(field),
            )
            .await;
    }
    let list = json!({"given_name": "Mira", "safety_alerts": ["ok", 61412345680_u64]}).to_string();
    server
        .refused(
            Method::PATCH,
            &client,
            Some(&leader),
            Some(list),
            "61412345680",
            Some("safety_alerts"),
        )
        .await;

    let password = json!({"username": "caseworker", "password": 48151623421_u64}).to_string();
    server
        .refused(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(password),
            "48151623421",
            Some("password"),
        )
        .await;
    let refresh = json!({"refresh_token": 31415926535_u64}).to_string();
    server
        .refused(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(refresh),
            "31415926535",
            Some("refresh_token"),
        )
        .await;
    let caseworker = server.login("caseworker").await;
    let totp = json!({"code": 739146}).to_string();
    server
        .refused(
            Method::POST,
            "/api/v1/me/mfa/totp/confirm",
            Some(&caseworker),
            Some(totp),
            "739146",
            Some("code"),
        )
        .await;
    let change = format!("/api/v1/users/{}/password", app.user_id("caseworker"));
    let new_password = json!({"current_password": PASSWORD, "new_password": 27182818284_u64});
    server
        .refused(
            Method::POST,
            &change,
            Some(&caseworker),
            Some(new_password.to_string()),
            "27182818284",
            Some("new_password"),
        )
        .await;

    server.assert_nothing_planted_was_kept(&app);
}

#[actix_web::test]
async fn values_that_fail_the_services_checks_reach_neither_the_log_nor_the_problem() {
    let mut app = spawn_app().await;
    let mut server = LoggedServer::start(&mut app).await;
    let leader = server.login("teamleader").await;
    let admin = server.login("admin").await;
    let client = format!("/api/v1/clients/{}", app.client_id(0));
    let bad_tfn = "876543299";
    let bad_medicare = "3456781219";
    for (field, value) in [
        ("tax_file_number", json!(bad_tfn)),
        ("medicare_number", json!(bad_medicare)),
        ("date_of_birth", json!("1984-13-45")),
        ("date_of_birth", json!("8765-01-01")),
        ("safety_alerts", json!(["", "x".repeat(201) + "5550199"])),
    ] {
        let planted = match &value {
            Value::String(text) => text.clone(),
            _ => "5550199".to_owned(),
        };
        server
            .refused(
                Method::POST,
                "/api/v1/clients",
                Some(&leader),
                Some(client_body(field, value.clone())),
                &planted,
                Some(field),
            )
            .await;
        let body = json!({ field: value }).to_string();
        server
            .refused(
                Method::PATCH,
                &client,
                Some(&leader),
                Some(body),
                &planted,
                Some(field),
            )
            .await;
    }
    let address = json!({"address": {"state": "XQ5550147", "postcode": "P5550148"}}).to_string();
    server
        .refused(
            Method::PATCH,
            &client,
            Some(&leader),
            Some(address.clone()),
            "XQ5550147",
            Some("address.state"),
        )
        .await;
    server
        .refused(
            Method::PATCH,
            &client,
            Some(&leader),
            Some(address),
            "P5550148",
            Some("address.postcode"),
        )
        .await;
    let unknown = json!({"nickname": "Nick5550150"}).to_string();
    server
        .refused(
            Method::PATCH,
            &client,
            Some(&leader),
            Some(unknown),
            "Nick5550150",
            Some("nickname"),
        )
        .await;
    let marking = json!({"protective_marking": "SECRET5550151"}).to_string();
    server
        .refused(
            Method::PATCH,
            &client,
            Some(&leader),
            Some(marking),
            "SECRET5550151",
            Some("protective_marking"),
        )
        .await;
    let user = json!({
        "username": "bad user 5550152", "display_name": "X", "email": "not-an-email-5550153",
        "organisation_id": app.organisation_id(casebridge::demo::HOUSING_SUPPORT),
        "roles": ["dept_caseworker"], "clearance": "OFFICIAL",
    });
    server
        .refused(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(user.to_string()),
            "5550152",
            Some("username"),
        )
        .await;
    server
        .refused(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(user.to_string()),
            "not-an-email-5550153",
            Some("email"),
        )
        .await;
    let role = json!({
        "username": "good-user", "display_name": "X", "email": "x@department.example",
        "organisation_id": app.organisation_id(casebridge::demo::HOUSING_SUPPORT),
        "roles": ["role_5550154"], "clearance": "OFFICIAL",
    });
    server
        .refused(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(role.to_string()),
            "role_5550154",
            Some("roles"),
        )
        .await;

    server.assert_nothing_planted_was_kept(&app);
}

#[actix_web::test]
async fn bad_query_parameters_reach_neither_the_log_nor_the_problem() {
    let mut app = spawn_app().await;
    let mut server = LoggedServer::start(&mut app).await;
    let caseworker = server.login("caseworker").await;
    let auditor = server.login("auditor").await;
    let tfn = tax_file_number(765_432_000);
    let cases = [
        (
            "/api/v1/clients?limit=5550160x",
            &caseworker,
            "5550160x",
            Some("limit"),
        ),
        (
            "/api/v1/clients?date_of_birth=5550161",
            &caseworker,
            "5550161",
            Some("date_of_birth"),
        ),
        (
            "/api/v1/cases?status=closed5550162",
            &caseworker,
            "closed5550162",
            Some("status"),
        ),
        (
            &*format!("/api/v1/cases?tax_file_number={tfn}"),
            &caseworker,
            tfn.as_str(),
            Some("tax_file_number"),
        ),
        (
            "/api/v1/clients?cursor=5550163",
            &caseworker,
            "5550163",
            None,
        ),
        (
            "/api/v1/audit/events?client_id=5550164",
            &auditor,
            "5550164",
            Some("client_id"),
        ),
        (
            "/api/v1/audit/events?from=5550165",
            &auditor,
            "5550165",
            Some("from"),
        ),
        (
            "/api/v1/reports/unusual-activity?from=5550166&to=x",
            &auditor,
            "5550166",
            Some("from"),
        ),
    ];
    for (path, token, planted, field) in cases {
        server
            .refused(Method::GET, path, Some(token), None, planted, field)
            .await;
    }

    server.assert_nothing_planted_was_kept(&app);
}

#[actix_web::test]
async fn malformed_json_reaches_neither_the_log_nor_the_problem() {
    let mut app = spawn_app().await;
    let mut server = LoggedServer::start(&mut app).await;
    let leader = server.login("teamleader").await;
    let client = format!("/api/v1/clients/{}", app.client_id(0));
    for (body, planted) in [
        (r#"{"tax_file_number": "876543217"#, "876543217"),
        (r#"{"tax_file_number": 876543225,}"#, "876543225"),
        (r#"{"phone": 5550170x}"#, "5550170"),
        (r#"{"phone": "0412" "5550171"}"#, "5550171"),
        ("tfn 876543233", "876543233"),
    ] {
        server
            .refused(
                Method::PATCH,
                &client,
                Some(&leader),
                Some(body.to_owned()),
                planted,
                None,
            )
            .await;
        server
            .refused(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(body.to_owned()),
                planted,
                None,
            )
            .await;
    }

    server.assert_nothing_planted_was_kept(&app);
}

#[actix_web::test]
async fn identifiers_in_the_path_reach_neither_the_log_nor_the_problem() {
    let mut app = spawn_app().await;
    let mut server = LoggedServer::start(&mut app).await;
    let leader = server.login("teamleader").await;
    let tfn = tax_file_number(654_321_000);
    for path in [
        format!("/api/v1/clients/{tfn}"),
        format!("/api/v1/clients/{tfn}/cases"),
        format!("/api/v1/not-an-endpoint/{tfn}"),
    ] {
        server
            .refused(Method::GET, &path, Some(&leader), None, &tfn, None)
            .await;
    }
    let log = server.stop();
    assert!(log.contains("WARN"), "no refusal logged: {log}");
    assert!(!log.contains(&tfn), "the log holds {tfn}:\n{log}");
}
