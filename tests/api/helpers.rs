//! `spawn_app()`: a real server on a random port over a fresh database, seeded with the demo
//! data. The backend comes from `CASEBRIDGE_TEST_DATABASE`: `sqlite` (default) or `postgres`
//! (a new database on `CASEBRIDGE_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, dropped afterwards). When PostgreSQL is
//! asked for and cannot be reached the test fails; it is never skipped.
use std::net::TcpListener;
use std::path::PathBuf;

use casebridge::config::Config;
use casebridge::db::Database;
use casebridge::startup::{self, Application};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    /// The metrics listener, when the test configured one.
    pub metrics_address: Option<String>,
    /// The test's own database, for commands run against it.
    pub database_url: String,
    pub db: Database,
    /// The service's clock: move it forward to reach contract ends, lockout expiry, dormancy.
    pub clock: std::sync::Arc<casebridge::clock::Clock>,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    postgres_database: Option<String>,
    server: actix_web::dev::ServerHandle,
    running: Option<actix_web::rt::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Stops the server (the database stays, for another process to serve: a SQLite database
    /// is served by one process at a time).
    pub async fn stop_serving(&mut self) {
        self.server.stop(true).await;
        if let Some(running) = self.running.take() {
            running.await.unwrap().unwrap();
        }
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Response {
    /// The problem `code` of an error response.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("<no code>")
    }

    pub fn etag(&self) -> String {
        self.headers["etag"].to_str().unwrap().to_owned()
    }

    /// The sorted keys of the body (or of `body[pointer]`).
    pub fn keys_at(&self, pointer: &str) -> Vec<String> {
        keys(self.body.pointer(pointer).unwrap_or(&Value::Null))
    }
}

pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

fn postgres_admin_url() -> String {
    std::env::var("CASEBRIDGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn backend() -> String {
    std::env::var("CASEBRIDGE_TEST_DATABASE").unwrap_or_else(|_| "sqlite".into())
}

/// A fresh database URL for one test (and its name on PostgreSQL, to drop).
pub fn fresh_database(data_dir: &std::path::Path) -> (String, Option<String>) {
    match backend().as_str() {
        "postgres" => {
            let name = format!("casebridge_test_{}", uuid::Uuid::new_v4().simple());
            let admin = postgres_admin_url();
            casebridge::db::init_postgres_client();
            let mut conn = PgConnection::establish(&admin)
                .unwrap_or_else(|e| panic!("PostgreSQL tests need a server at {admin}: {e}"));
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .expect("create test database");
            let base = admin
                .rsplit_once('/')
                .map(|(base, _)| base.to_owned())
                .expect("URL has a database");
            (format!("{base}/{name}"), Some(name))
        }
        "sqlite" => (
            data_dir
                .join("casebridge.db")
                .to_string_lossy()
                .into_owned(),
            None,
        ),
        other => panic!("CASEBRIDGE_TEST_DATABASE must be sqlite or postgres, not {other}"),
    }
}

pub fn test_config(data_dir: PathBuf, database_url: String) -> Config {
    Config {
        database_url: Some(database_url),
        data_dir,
        policy_dir: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")),
        jwt_secret: None,
        access_token_ttl: 900,
        session_ttl: 3600,
        client_secret_overlap_hours: 24,
        cors_origins: vec!["https://portal.csp.example".into()],
        public_url: None,
        body_limit: 64 * 1024,
        list_scan_rows: 2000,
        change_feed_days: 90,
        trusted_proxies: Default::default(),
        // The suite sends many requests without credentials from 127.0.0.1 in quick
        // succession (every login, every check that an endpoint refuses strangers); at the
        // service's defaults some tests would meet the limit meant for strangers. The limit's
        // own tests (security::audit_bloat) set it tight.
        anonymous: casebridge::config::AnonymousLimits {
            anonymous_rate: 10_000.0,
            anonymous_burst: 100_000,
            ..Default::default()
        },
        limits: Default::default(),
        lockout_threshold: 5,
        lockout_window: 900,
        lockout_duration: 900,
        dormant_after_days: 90,
        review_interval_days: 90,
        training_valid_days: 365,
        oversight: casebridge::config::OversightConfig::default(),
        privacy: casebridge::config::PrivacyConfig::default(),
        tls: Default::default(),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (url, postgres_database) = fresh_database(data_dir.path());
    let mut config = test_config(data_dir.path().to_owned(), url.clone());
    configure(&mut config);
    let state = startup::state(config).await.expect("application state");
    casebridge::demo::seed(&state.db, &state.keyring, PASSWORD).expect("seed demo data");
    let db = state.db.clone();
    let clock = state.clock.clone();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let app = Application::build(state, listener).expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let server = app.handle();
    let running = actix_web::rt::spawn(app.run());
    TestApp {
        address,
        metrics_address,
        database_url: url,
        db,
        clock,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        data_dir,
        postgres_database,
        server,
        running: Some(running),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let server = self.server.clone();
        actix_web::rt::spawn(async move { server.stop(false).await });
        if let Some(name) = self.postgres_database.take() {
            drop_postgres_database(&name);
        }
    }
}

/// Drops a database `fresh_database` made.
pub fn drop_postgres_database(name: &str) {
    if let Ok(mut conn) = PgConnection::establish(&postgres_admin_url()) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn);
    }
}

/// Demo client `index` (see `casebridge::demo`).
/// A new client's body, with the demo's collection notice given today.
pub fn new_client() -> Value {
    serde_json::json!({
        "given_name": "Mira",
        "family_name": "Castellano",
        "date_of_birth": "1984-03-09",
        "collection_notice": {
            "version": casebridge::demo::NOTICE_VERSION,
            "given_on": chrono::Utc::now().date_naive().to_string(),
            "method": "verbal",
        },
    })
}

/// Every onboarding check a CSP staff member needs before approval, recorded `today`.
pub fn onboarding_checks(today: chrono::NaiveDate) -> Value {
    serde_json::json!({
        "training_completed_on": today, "security_check_completed_on": today,
        "security_check_reference": "NPC-2026-0042", "acceptable_use_accepted_on": today,
    })
}

pub fn demo_client(index: usize) -> (String, String) {
    casebridge::demo::demo_client_name(index)
}

impl TestApp {
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Response {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None, &[])
            .await
    }

    pub async fn get_with(&self, path: &str, token: &str, headers: &[(&str, &str)]) -> Response {
        self.request(Method::GET, path, Some(token), None, headers)
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    /// A POST without a body (actions such as `/users/{id}/suspend`).
    pub async fn act(&self, path: &str, token: &str) -> Response {
        self.request(Method::POST, path, Some(token), None, &[])
            .await
    }

    /// Rows of the audit trail for requests to `route` (a route template).
    pub fn audit_rows(&self, route: &str) -> Vec<casebridge::audit::chain::AuditEvent> {
        use casebridge::db::schema::audit_events;
        self.with_db(|conn| {
            audit_events::table
                .filter(audit_events::route.eq(route))
                .order(audit_events::id)
                .select(casebridge::audit::chain::AuditEvent::as_select())
                .load(conn)
                .unwrap()
        })
    }

    pub async fn patch(
        &self,
        path: &str,
        token: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Response {
        let headers: Vec<(&str, &str)> = if_match
            .map(|etag| vec![("If-Match", etag)])
            .unwrap_or_default();
        self.request(Method::PATCH, path, Some(token), Some(body), &headers)
            .await
    }

    /// A `PATCH` of the resource at `path` as it is now: its current ETag as `If-Match`.
    pub async fn patch_current(&self, path: &str, token: &str, body: Value) -> Response {
        let etag = self.get(path, token).await.etag();
        self.patch(path, token, body, Some(&etag)).await
    }

    pub async fn login_response(&self, username: &str, password: &str) -> Response {
        self.request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"username": username, "password": password})),
            &[],
        )
        .await
    }

    /// An access token for a demo account.
    pub async fn login(&self, username: &str) -> String {
        let response = self.login_response(username, PASSWORD).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "login {username}: {:?}",
            response.body
        );
        response.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Runs `query` on the test's database directly (fixtures and tamper checks).
    pub fn with_db<T>(&self, query: impl FnOnce(&mut casebridge::db::DbConnection) -> T) -> T {
        let mut conn = self.db.write_conn().expect("db connection");
        query(&mut conn)
    }

    /// The id of demo client `index`.
    pub fn client_id(&self, index: usize) -> String {
        use casebridge::db::schema::clients;
        let (given, family) = demo_client(index);
        self.with_db(|conn| {
            clients::table
                .filter(clients::given_name.eq(given))
                .filter(clients::family_name.eq(family))
                .select(clients::id)
                .first::<String>(conn)
                .expect("demo client exists")
        })
    }

    /// `POST /users` for a new `csp_worker` of `organisation` (pending until approved).
    pub async fn new_csp_user(&self, token: &str, username: &str, organisation: &str) -> Response {
        self.post(
            "/api/v1/users",
            token,
            serde_json::json!({
                "username": username, "display_name": "New Staff",
                "email": "new.staff@example.org",
                "organisation_id": self.organisation_id(organisation), "roles": ["csp_worker"],
                "clearance": "OFFICIAL",
            }),
        )
        .await
    }

    /// A new client's body ([`new_client`]) for someone with demo client `index`'s names and
    /// date of birth: a probable duplicate of that client.
    pub fn new_client_like(&self, index: usize) -> Value {
        use casebridge::db::schema::clients;
        let id = self.client_id(index);
        let (given, family, born) = self.with_db(|conn| {
            clients::table
                .filter(clients::id.eq(id))
                .select((
                    clients::given_name,
                    clients::family_name,
                    clients::date_of_birth,
                ))
                .first::<(String, String, chrono::NaiveDate)>(conn)
                .unwrap()
        });
        let mut body = new_client();
        body["given_name"] = given.into();
        body["family_name"] = family.into();
        body["date_of_birth"] = born.to_string().into();
        body
    }

    /// The id of the (single) demo case of demo client `index`.
    pub fn case_id(&self, index: usize) -> String {
        use casebridge::db::schema::cases;
        let client = self.client_id(index);
        self.with_db(|conn| {
            cases::table
                .filter(cases::client_id.eq(client))
                .select(cases::id)
                .first::<String>(conn)
                .unwrap()
        })
    }

    /// The id of the demo note of `visibility` on demo client `index`'s case.
    pub fn note_id(&self, index: usize, visibility: &str) -> String {
        use casebridge::db::schema::notes;
        let case = self.case_id(index);
        self.with_db(|conn| {
            notes::table
                .filter(notes::case_id.eq(case))
                .filter(notes::visibility.eq(visibility))
                .select(notes::id)
                .first::<String>(conn)
                .unwrap()
        })
    }

    pub fn organisation_id(&self, name: &str) -> String {
        use casebridge::db::schema::organisations;
        self.with_db(|conn| {
            organisations::table
                .filter(organisations::name.eq(name))
                .select(organisations::id)
                .first::<String>(conn)
                .unwrap()
        })
    }

    /// The user id of the demo worker of CSP `organisation` (its name), to whom a test assigns
    /// the allocations it makes so that the worker reaches them (need to know).
    pub fn demo_worker_of(&self, organisation: &str) -> String {
        let username = casebridge::demo::ACCOUNTS
            .iter()
            .find(|account| account.2 == organisation && account.3 == "csp_worker")
            .expect("a demo CSP")
            .0;
        self.user_id(username)
    }

    pub fn user_id(&self, username: &str) -> String {
        use casebridge::db::schema::users;
        self.with_db(|conn| {
            users::table
                .filter(users::username.eq(username))
                .select(users::id)
                .first::<String>(conn)
                .unwrap()
        })
    }
}

impl TestApp {
    /// The demo's second administrator (`admin2`): dual control needs two.
    pub async fn second_admin(&self) -> String {
        self.login("admin2").await
    }

    /// A PATCH of a user (as `patch`) whose access change, when it waits for a second
    /// approval (dual control), a second administrator then approves: the final answer.
    pub async fn patch_user(
        &self,
        path: &str,
        token: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Response {
        let asked = self.patch(path, token, body, if_match).await;
        if asked.status != StatusCode::OK || asked.body["pending_access_change"].is_null() {
            return asked;
        }
        let second = self.second_admin().await;
        let approve = format!("{path}/access-change/approve");
        self.request(
            Method::POST,
            &approve,
            Some(&second),
            None,
            &[("If-Match", &asked.etag())],
        )
        .await
    }

    /// Alerts of `kind` raised so far, as stored.
    pub fn alert_reasons(&self, kind: &str) -> Vec<String> {
        use casebridge::db::schema::alerts;
        self.with_db(|conn| {
            alerts::table
                .filter(alerts::kind.eq(kind))
                .select(alerts::reason)
                .load(conn)
                .unwrap()
        })
    }
}

impl TestApp {
    /// The one audit row of the request `response` answers, found by its `X-Request-Id`.
    pub fn audit_row_of(&self, response: &Response) -> casebridge::audit::chain::AuditEvent {
        use casebridge::db::schema::audit_events;
        let request_id = response
            .headers
            .get("x-request-id")
            .unwrap_or_else(|| panic!("no X-Request-Id on {}: {}", response.status, response.body))
            .to_str()
            .unwrap()
            .to_owned();
        let mut rows: Vec<casebridge::audit::chain::AuditEvent> = self.with_db(|conn| {
            audit_events::table
                .filter(audit_events::request_id.eq(&request_id))
                .select(casebridge::audit::chain::AuditEvent::as_select())
                .load(conn)
                .unwrap()
        });
        assert_eq!(rows.len(), 1, "exactly one row per request id: {rows:?}");
        rows.remove(0)
    }

    /// A request without credentials.
    pub async fn anonymous(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        self.request(method, path, None, None, headers).await
    }
}

/// A Northside system (csp_worker), registered and approved: its id and secret.
pub async fn register_client(app: &TestApp, admin: &str) -> (String, String) {
    register_client_named(app, admin, "Northside case system", &["csp_worker"]).await
}

/// The same, with another name (names are unique within an organisation) and roles.
pub async fn register_client_named(
    app: &TestApp,
    admin: &str,
    name: &str,
    roles: &[&str],
) -> (String, String) {
    let created = app
        .post(
            "/api/v1/api-clients",
            admin,
            serde_json::json!({
                "organisation_id": app.organisation_id(casebridge::demo::NORTHSIDE),
                "name": name, "roles": roles,
                "clearance": "OFFICIAL: Sensitive",
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    // Dual control: a second administrator approves a system that reads client content.
    let second = app.second_admin().await;
    let approved = app
        .act(&format!("/api/v1/users/{id}/approve"), &second)
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    (
        id,
        created.body["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// `POST /api/v1/oauth/token` with `form`, and HTTP Basic credentials when given.
pub async fn token_request(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Response {
    oauth_request(app, "/api/v1/oauth/token", form, basic).await
}

/// A form `POST` to one of the OAuth endpoints, with HTTP Basic credentials when given.
pub async fn oauth_request(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Response {
    let mut request = app.client.post(format!("{}{path}", app.address)).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Response {
        status,
        headers,
        body,
    }
}

/// The access token of a successful token response.
pub fn client_token(response: &Response) -> String {
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["token_type"], "Bearer");
    assert!(response.body.get("refresh_token").is_none());
    response.body["access_token"].as_str().unwrap().to_owned()
}
