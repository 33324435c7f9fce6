//! Finding 6: anonymous requests grew the hash-chained trail without bound (1,000 requests
//! with a 60 KB path added 60 MB in 17 s). Now every caller-chosen text is cut to a bound
//! with a marker, and requests without valid credentials are limited per client address; a
//! refusal is recorded in at most one small row per address per second. See
//! docs/security/audit.md for the resulting bound.
use std::time::{Duration, Instant};

use casebridge::audit::bound::{self, ANONYMOUS_ROW_TEXT, CUT_MARKER};
use casebridge::audit::chain::AuditEvent;
use casebridge::db::schema::{audit_events, sessions};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};

use crate::helpers::{Response, TestApp, spawn_app, spawn_app_with};

/// An allowance that does not refill while a test runs.
async fn allowing(burst: u32) -> TestApp {
    spawn_app_with(|config| {
        config.anonymous.anonymous_rate = 0.001;
        config.anonymous.anonymous_burst = burst;
    })
    .await
}

fn assert_cut(text: &str, bound: usize) {
    assert!(text.len() <= bound, "{} bytes, bound {bound}", text.len());
    assert!(text.ends_with(CUT_MARKER), "{text}");
}

/// Every row stored so far, oldest first.
fn all_rows(app: &TestApp) -> Vec<AuditEvent> {
    app.with_db(|conn| {
        audit_events::table
            .order(audit_events::id)
            .select(AuditEvent::as_select())
            .load(conn)
            .unwrap()
    })
}

/// The bytes of text a row holds, as stored: every column, numbers and times as text.
fn text_bytes(row: &AuditEvent) -> usize {
    let optional = |text: &Option<String>| text.as_deref().map_or(0, str::len);
    let number = |n: i64| n.to_string().len();
    [
        &row.id,
        &row.chain_id,
        &row.request_id,
        &row.actor_roles,
        &row.actor_kind,
        &row.method,
        &row.route,
        &row.path,
        &row.outcome,
        &row.client_ids,
        &row.fields,
        &row.previous_hash,
        &row.hash,
    ]
    .iter()
    .map(|text| text.len())
    .sum::<usize>()
        + [
            &row.actor_user_id,
            &row.actor_organisation_id,
            &row.reason,
            &row.resource_type,
            &row.resource_id,
            &row.purpose_of_use,
            &row.attempted_username,
            &row.ip,
            &row.user_agent,
            &row.attempted_client_id,
            &row.trace_id,
            &row.caller_request_id,
        ]
        .into_iter()
        .map(optional)
        .sum::<usize>()
        + number(row.sequence)
        + number(row.status.into())
        + number(row.duration_ms)
        + row.also_refused.map_or(0, number)
        + row.occurred_at.to_string().len()
}

fn is_refusal(row: &AuditEvent) -> bool {
    row.reason.as_deref() == Some("rate_limited")
}

#[actix_web::test]
async fn a_long_path_is_stored_cut_at_its_bound_with_a_marker() {
    let app = spawn_app().await;
    let path = format!("/api/v1/{}", "a".repeat(60_000));
    let response = app.anonymous(Method::GET, &path, &[]).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    let row = app.audit_row_of(&response);
    assert_cut(&row.path, bound::PATH);
    assert!(row.path.starts_with("/api/v1/aaaa"));
}

#[actix_web::test]
async fn a_long_user_agent_is_stored_cut_at_its_bound_in_the_row_and_the_session() {
    let app = spawn_app().await;
    let agent = "Mozilla/5.0 ".repeat(5_000);
    let body = serde_json::json!({"username": "caseworker", "password": crate::helpers::PASSWORD});
    let login = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(body),
            &[("User-Agent", &agent)],
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_cut(
        app.audit_row_of(&login).user_agent.as_deref().unwrap(),
        bound::USER_AGENT,
    );
    let user = app.user_id("caseworker");
    let stored: Option<String> = app.with_db(|conn| {
        sessions::table
            .filter(sessions::user_id.eq(user))
            .select(sessions::user_agent)
            .first(conn)
            .unwrap()
    });
    assert_cut(stored.as_deref().unwrap(), bound::USER_AGENT);
}

#[actix_web::test]
async fn a_long_username_tried_is_stored_cut_at_a_character_boundary() {
    let app = spawn_app().await;
    // 100 characters (the most a login accepts), 200 bytes.
    let failed = app
        .login_response(&"é".repeat(100), "not the password")
        .await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED, "{}", failed.body);
    let row = app.audit_row_of(&failed);
    let tried = row.attempted_username.unwrap();
    assert_cut(&tried, bound::ATTEMPTED_USERNAME);
    assert!(tried.trim_end_matches(CUT_MARKER).chars().all(|c| c == 'é'));
}

#[actix_web::test]
async fn a_long_id_in_the_path_is_stored_cut_at_its_bound() {
    let app = spawn_app().await;
    let path = format!("/api/v1/clients/{}", "7".repeat(10_000));
    let response = app.anonymous(Method::GET, &path, &[]).await;
    let row = app.audit_row_of(&response);
    assert_eq!(row.resource_type.as_deref(), Some("client"));
    assert_cut(row.resource_id.as_deref().unwrap(), bound::RESOURCE_ID);
}

#[actix_web::test]
async fn requests_over_the_anonymous_allowance_are_refused_with_429_retry_after_and_a_problem() {
    let app = allowing(3).await;
    for _ in 0..3 {
        let response = app.anonymous(Method::GET, "/api/v1/clients", &[]).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    let refused = app.anonymous(Method::GET, "/api/v1/clients", &[]).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.code(), "rate_limited");
    assert_eq!(refused.headers["content-type"], "application/problem+json");
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    assert_eq!(refused.body["status"], 429);
}

#[actix_web::test]
async fn a_refusal_carries_cors_headers_so_that_a_browser_can_read_it() {
    let app = allowing(1).await;
    let origin = [("Origin", "https://portal.csp.example")];
    app.anonymous(Method::GET, "/api/v1/clients", &origin).await;
    let refused = app.anonymous(Method::GET, "/api/v1/clients", &origin).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.headers["access-control-allow-origin"],
        "https://portal.csp.example"
    );
}

#[actix_web::test]
async fn a_caller_with_a_live_session_is_not_held_to_the_anonymous_allowance() {
    let app = allowing(2).await;
    let token = app.login("caseworker").await;
    for _ in 0..10 {
        assert_eq!(
            app.get("/api/v1/clients?limit=1", &token).await.status,
            StatusCode::OK
        );
    }
}

#[actix_web::test]
async fn a_token_whose_session_has_ended_counts_as_anonymous() {
    let app = allowing(2).await;
    let token = app.login("caseworker").await;
    let logout = app.act("/api/v1/auth/logout", &token).await;
    assert!(logout.status.is_success(), "{}", logout.body);
    // The token still verifies for its lifetime; its session does not.
    let ended = app.get("/api/v1/clients", &token).await;
    assert_eq!(ended.status, StatusCode::UNAUTHORIZED);
    let refused = app.get("/api/v1/clients", &token).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
}

#[actix_web::test]
async fn addresses_behind_a_trusted_proxy_have_allowances_of_their_own() {
    let app = spawn_app_with(|config| {
        config.trusted_proxies = "127.0.0.0/8".parse().unwrap();
        config.anonymous.anonymous_rate = 0.001;
        config.anonymous.anonymous_burst = 1;
    })
    .await;
    let from = |address: &'static str| [("X-Forwarded-For", address)];
    let get = async |headers: [(&str, &str); 1]| {
        app.anonymous(Method::GET, "/api/v1/clients", &headers)
            .await
            .status
    };
    assert_eq!(get(from("203.0.113.1")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(from("203.0.113.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(get(from("203.0.113.2")).await, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn every_refused_request_is_counted_in_at_most_one_small_row_per_second() {
    let app = allowing(1).await;
    app.anonymous(Method::GET, "/api/v1/clients", &[]).await;
    let before = all_rows(&app).len();
    let started = Instant::now();
    let agent = [("User-Agent", "flood/1.0")];
    let refused: Vec<Response> = futures_util::future::join_all(
        (0..40).map(|_| app.anonymous(Method::GET, "/api/v1/clients", &agent)),
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        refused
            .iter()
            .all(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
    );
    // Counted refusals are written in a tally row within a second or two.
    actix_web::rt::time::sleep(Duration::from_millis(2_500)).await;

    let rows: Vec<AuditEvent> = all_rows(&app).into_iter().skip(before).collect();
    assert!(rows.iter().all(is_refusal), "{rows:?}");
    assert!(
        rows.len() as u64 <= elapsed.as_secs() + 3,
        "{} rows in {elapsed:?}",
        rows.len()
    );
    let with_own_row = refused
        .iter()
        .filter(|response| response.headers.contains_key("x-request-id"))
        .count();
    let inline = rows
        .iter()
        .filter(|row| row.route != casebridge::audit::TALLY_ROUTE)
        .count();
    assert_eq!(with_own_row, inline, "a request id names a row");
    let accounted: i64 = rows
        .iter()
        .map(|row| {
            let own = i64::from(row.route != casebridge::audit::TALLY_ROUTE);
            own + row.also_refused.unwrap_or(0)
        })
        .sum();
    assert_eq!(accounted, 40, "{rows:?}");
    assert!(rows.iter().all(|row| row.user_agent.is_none()));
    assert!(
        rows.iter()
            .all(|row| row.ip.as_deref() == Some("127.0.0.1"))
    );
}

#[actix_web::test]
async fn an_anonymous_flood_grows_the_trail_no_faster_than_the_documented_bound() {
    let (rate, burst) = (2.0, 5);
    let app = spawn_app_with(|config| {
        config.anonymous.anonymous_rate = rate;
        config.anonymous.anonymous_burst = burst;
    })
    .await;
    let before = all_rows(&app).len();
    // Within the 128 KiB head the HTTP layer accepts (docs/audit.md).
    let path = format!("/api/v1/clients/{}", "a".repeat(40_000));
    let agent = "x".repeat(40_000);
    let headers = [
        ("User-Agent", agent.as_str()),
        ("X-Forwarded-For", agent.as_str()),
    ];
    let started = Instant::now();
    for _ in 0..20 {
        futures_util::future::join_all(
            (0..10).map(|_| app.anonymous(Method::GET, &path, &headers)),
        )
        .await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    actix_web::rt::time::sleep(Duration::from_millis(2_500)).await;

    let rows: Vec<AuditEvent> = all_rows(&app).into_iter().skip(before).collect();
    let largest = rows.iter().map(text_bytes).max().unwrap();
    assert!(
        largest <= ANONYMOUS_ROW_TEXT,
        "{largest} > {ANONYMOUS_ROW_TEXT}"
    );
    let admitted = rows.iter().filter(|row| !is_refusal(row)).count() as f64;
    let refusal_rows = rows.iter().filter(|row| is_refusal(row)).count() as f64;
    assert!(
        admitted <= f64::from(burst) + rate * (elapsed + 1.0),
        "{admitted} admitted in {elapsed} s"
    );
    assert!(
        refusal_rows <= elapsed + 3.0,
        "{refusal_rows} refusal rows in {elapsed} s"
    );
    let total: usize = rows.iter().map(text_bytes).sum();
    let bound = (f64::from(burst) + (rate + 1.0) * (elapsed + 3.0)) * ANONYMOUS_ROW_TEXT as f64;
    assert!(
        (total as f64) <= bound,
        "200 requests of 120 KB stored {total} bytes of text (bound {bound})"
    );
}
