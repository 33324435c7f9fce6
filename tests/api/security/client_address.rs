//! Finding 5: the client address came from any caller's `X-Forwarded-For` / `Forwarded`,
//! unvalidated and unbounded. Now the TCP peer is the client unless it is a configured
//! trusted proxy; behind one, the right-most address that is not a trusted proxy is; only a
//! valid IP address is stored. (reqwest cannot choose its TCP peer: the trusted-proxy tests
//! trust 127.0.0.0/8, where the test client connects from.)
use casebridge::db::schema::sessions;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};

use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};

const SPOOFED: [(&str, &str); 3] = [
    ("X-Forwarded-For", "198.51.100.1"),
    ("Forwarded", "for=198.51.100.2"),
    ("X-Real-IP", "198.51.100.3"),
];

async fn behind_local_proxy() -> TestApp {
    spawn_app_with(|config| config.trusted_proxies = "127.0.0.0/8".parse().unwrap()).await
}

/// The address stored with the session `username` opened last.
fn session_ip(app: &TestApp, username: &str) -> Option<String> {
    let user = app.user_id(username);
    app.with_db(|conn| {
        sessions::table
            .filter(sessions::user_id.eq(user))
            .order(sessions::id.desc())
            .select(sessions::ip)
            .first(conn)
            .unwrap()
    })
}

async fn login_with(app: &TestApp, headers: &[(&str, &str)]) -> crate::helpers::Response {
    let body = serde_json::json!({"username": "caseworker", "password": PASSWORD});
    app.request(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(body),
        headers,
    )
    .await
}

#[actix_web::test]
async fn by_default_the_audit_row_records_the_peer_whatever_forwarding_headers_say() {
    let app = spawn_app().await;
    let response = app
        .anonymous(Method::GET, "/api/v1/clients", &SPOOFED)
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.audit_row_of(&response).ip.as_deref(), Some("127.0.0.1"));
}

#[actix_web::test]
async fn by_default_a_session_records_the_peer_whatever_forwarding_headers_say() {
    let app = spawn_app().await;
    let login = login_with(&app, &SPOOFED).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(session_ip(&app, "caseworker").as_deref(), Some("127.0.0.1"));
}

#[actix_web::test]
async fn behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client() {
    let app = behind_local_proxy().await;
    // The caller wrote 198.51.100.1; the proxy appended the address it saw, 203.0.113.9.
    let headers = [("X-Forwarded-For", "198.51.100.1, 203.0.113.9")];
    let response = app
        .anonymous(Method::GET, "/api/v1/clients", &headers)
        .await;
    assert_eq!(
        app.audit_row_of(&response).ip.as_deref(),
        Some("203.0.113.9")
    );
    login_with(&app, &headers).await;
    assert_eq!(
        session_ip(&app, "caseworker").as_deref(),
        Some("203.0.113.9")
    );
}

#[actix_web::test]
async fn behind_a_trusted_proxy_forwarded_and_x_real_ip_are_not_believed() {
    let app = behind_local_proxy().await;
    let headers = [
        ("Forwarded", "for=198.51.100.2"),
        ("X-Real-IP", "198.51.100.3"),
    ];
    let response = app
        .anonymous(Method::GET, "/api/v1/clients", &headers)
        .await;
    assert_eq!(app.audit_row_of(&response).ip.as_deref(), Some("127.0.0.1"));
}

#[actix_web::test]
async fn a_forwarded_value_that_is_not_an_address_is_never_stored() {
    let app = behind_local_proxy().await;
    let garbage = format!("{}, 10.0.0.1", "<not an address>".repeat(4_000));
    let headers = [("X-Forwarded-For", garbage.as_str())];
    let response = app
        .anonymous(Method::GET, "/api/v1/clients", &headers)
        .await;
    let row = app.audit_row_of(&response);
    // 10.0.0.1 is not a trusted proxy here, so it is the client; nothing left of it counts.
    assert_eq!(row.ip.as_deref(), Some("10.0.0.1"));

    let only_garbage = "x".repeat(60_000);
    let headers = [("X-Forwarded-For", only_garbage.as_str())];
    let response = app
        .anonymous(Method::GET, "/api/v1/clients", &headers)
        .await;
    assert_eq!(
        app.audit_row_of(&response).ip.as_deref(),
        Some("127.0.0.1"),
        "the nearest address known to be real"
    );
}

#[actix_web::test]
async fn a_forwarding_header_does_not_dodge_the_per_address_limit() {
    let app = spawn_app_with(|config| {
        config.anonymous.anonymous_rate = 0.001;
        config.anonymous.anonymous_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        let claimed = format!("198.51.100.{n}");
        let headers = [("X-Forwarded-For", claimed.as_str())];
        statuses.push(
            app.anonymous(Method::GET, "/api/v1/clients", &headers)
                .await
                .status,
        );
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 429].map(|code| StatusCode::from_u16(code).unwrap())
    );
}
