use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with};
use crate::writes::assert_problem;

#[actix_web::test]
async fn health_and_ready_answer() {
    let app = spawn_app().await;
    let health = app
        .request(reqwest::Method::GET, "/health", None, None, &[])
        .await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app
        .request(reqwest::Method::GET, "/ready", None, None, &[])
        .await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
}

#[actix_web::test]
async fn health_and_ready_answer_head_without_a_body() {
    let app = spawn_app().await;
    for path in ["/health", "/ready"] {
        let response = app
            .request(reqwest::Method::HEAD, path, None, None, &[])
            .await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert_eq!(response.body, serde_json::Value::Null, "{path}");
    }
}

#[actix_web::test]
async fn ready_answers_503_when_a_disk_it_writes_to_is_nearly_full() {
    // More free space wanted than any disk here has.
    let app = spawn_app_with(|config| config.limits.ready_min_free_mb = 100_000_000).await;
    let ready = app
        .request(reqwest::Method::GET, "/ready", None, None, &[])
        .await;
    assert_problem(&ready, StatusCode::SERVICE_UNAVAILABLE, "disk_space_low");
    assert!(ready.headers.contains_key("retry-after"));
    let health = app
        .request(reqwest::Method::GET, "/health", None, None, &[])
        .await;
    assert_eq!(health.status, StatusCode::OK, "liveness only");
}

#[actix_web::test]
async fn a_csp_worker_sees_only_allocated_clients_with_masked_fields() {
    let app = spawn_app().await;
    let token = app.login("csp-north").await;
    let response = app.get("/api/v1/clients?limit=200", &token).await;
    assert_eq!(response.status, StatusCode::OK);
    let items = response.body["items"].as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        assert!(item.get("medicare_number").is_none());
        assert!(item.get("tax_file_number").is_none());
    }
    assert_eq!(response.headers["cache-control"], "no-store");
}

#[actix_web::test]
async fn only_allow_listed_origins_get_cors_headers() {
    let app = spawn_app().await;
    let preflight = async |origin: &'static str| {
        let headers = [
            ("Origin", origin),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ];
        app.request(
            reqwest::Method::OPTIONS,
            "/api/v1/clients",
            None,
            None,
            &headers,
        )
        .await
    };
    let allowed = preflight("https://portal.csp.example").await;
    assert!(allowed.status.is_success(), "{:?}", allowed.status);
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://portal.csp.example"
    );

    let refused = preflight("https://evil.example").await;
    assert!(refused.headers.get("access-control-allow-origin").is_none());

    let token = app.login("caseworker").await;
    let simple = app
        .get_with("/api/v1/me", &token, &[("Origin", "https://evil.example")])
        .await;
    assert!(simple.headers.get("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn json_is_compressed_for_a_caller_that_accepts_gzip() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;

    let compressed = app
        .get_with(
            "/api/v1/clients?limit=20",
            &token,
            &[("Accept-Encoding", "gzip")],
        )
        .await;
    let plain = app.get("/api/v1/clients?limit=20", &token).await;

    assert_eq!(compressed.status, StatusCode::OK);
    assert_eq!(compressed.headers["content-encoding"], "gzip");
    assert!(!plain.headers.contains_key("content-encoding"));
}

#[actix_web::test]
async fn metrics_are_served_on_their_own_listener_only_when_configured() {
    let app = spawn_app_with(|config| {
        config.oversight.metrics_bind = Some("127.0.0.1:0".into());
    })
    .await;
    let token = app.login("caseworker").await;
    app.get(&format!("/api/v1/clients/{}", app.client_id(0)), &token)
        .await;
    let metrics = app.metrics_address.clone().expect("a metrics listener");

    let scraped = app
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    let on_the_api = app
        .request(reqwest::Method::GET, "/metrics", None, None, &[])
        .await;

    assert_eq!(scraped.status(), StatusCode::OK);
    let text = scraped.text().await.unwrap();
    for expected in [
        "casebridge_http_requests_total{method=\"GET\",route=\"/api/v1/clients/{id}\",status=\"200\"}",
        "casebridge_http_request_duration_seconds_bucket",
        "casebridge_writer_batch_jobs_bucket",
        "casebridge_writer_queue_depth",
        "casebridge_database_connections{pool=\"read\",state=\"idle\"}",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(
        !text.contains(&app.client_id(0)),
        "no client id in the metrics"
    );
    assert_eq!(on_the_api.status, StatusCode::NOT_FOUND);
    assert!(
        spawn_app().await.metrics_address.is_none(),
        "off by default"
    );
}

#[actix_web::test]
async fn with_a_certificate_the_service_speaks_tls_and_sends_hsts() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let app = spawn_app_with(|config| {
        config.tls.tls_cert = Some(cert);
        config.tls.tls_key = Some(key);
    })
    .await;
    let port = app.address.rsplit(':').next().unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();

    let over_tls = trusting
        .get(format!("https://localhost:{port}/health"))
        .send()
        .await
        .unwrap();
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/health")).await;

    assert_eq!(over_tls.status(), StatusCode::OK);
    assert_eq!(
        over_tls.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert!(plain.is_err() || plain.unwrap().status() != StatusCode::OK);
}

#[actix_web::test]
async fn without_tls_no_hsts_is_sent() {
    let app = spawn_app().await;
    let health = app
        .request(reqwest::Method::GET, "/health", None, None, &[])
        .await;
    assert!(!health.headers.contains_key("strict-transport-security"));
}
