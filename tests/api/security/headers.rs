//! Finding 14: headers every response carries. No browser may guess a content type, and
//! nothing the service serves (Swagger UI at `/docs` above all) may be framed by another page.
use reqwest::Method;

use crate::helpers::{TestApp, spawn_app};

/// A request: method, path, headers, body.
type Request<'a> = (Method, String, Vec<(&'a str, &'a str)>, Option<&'a str>);

/// One request of every kind the service answers: API and not, success and error, preflight,
/// documentation pages, unknown paths inside and outside `/api/v1`.
async fn every_kind_of_response(app: &TestApp) -> Vec<(String, reqwest::Response)> {
    let token = app.login("caseworker").await;
    let client = format!("/api/v1/clients/{}", app.client_id(0));
    let requests: Vec<Request> = vec![
        (Method::GET, "/health".into(), vec![], None),
        (Method::GET, "/ready".into(), vec![], None),
        (Method::GET, "/docs".into(), vec![], None),
        (Method::GET, "/docs/".into(), vec![], None),
        (Method::GET, "/docs/swagger-ui.css".into(), vec![], None),
        (Method::GET, "/api/v1/openapi.json".into(), vec![], None),
        (Method::GET, "/not-a-page".into(), vec![], None),
        (Method::POST, "/health".into(), vec![], None),
        (Method::GET, "/api/v1/not-an-endpoint".into(), vec![], None),
        (Method::GET, "/api/v1/clients".into(), vec![], None),
        (
            Method::GET,
            client.clone(),
            vec![("Authorization", &token)],
            None,
        ),
        (
            Method::POST,
            "/api/v1/auth/login".into(),
            vec![("Content-Type", "application/json")],
            Some("{\"username\":"),
        ),
        (
            Method::POST,
            "/api/v1/auth/login".into(),
            vec![("Content-Type", "text/plain")],
            Some("{}"),
        ),
        (
            Method::OPTIONS,
            "/api/v1/clients".into(),
            vec![
                ("Origin", "https://portal.csp.example"),
                ("Access-Control-Request-Method", "GET"),
            ],
            None,
        ),
        (
            Method::OPTIONS,
            "/api/v1/clients".into(),
            vec![
                ("Origin", "https://attacker.example"),
                ("Access-Control-Request-Method", "GET"),
            ],
            None,
        ),
    ];
    let mut responses = Vec::new();
    for (method, path, headers, body) in requests {
        let mut request = app
            .client
            .request(method.clone(), format!("{}{path}", app.address));
        for (name, value) in headers {
            request = if name == "Authorization" {
                request.bearer_auth(value)
            } else {
                request.header(name, value)
            };
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request.send().await.expect("request sent");
        responses.push((format!("{method} {path} ({})", response.status()), response));
    }
    responses
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

#[actix_web::test]
async fn every_response_forbids_content_type_sniffing() {
    let app = spawn_app().await;
    for (request, response) in every_kind_of_response(&app).await {
        assert_eq!(
            header(&response, "x-content-type-options"),
            Some("nosniff"),
            "{request}"
        );
    }
}

#[actix_web::test]
async fn the_documentation_may_not_be_framed() {
    let app = spawn_app().await;
    for path in ["/docs", "/docs/", "/docs/index.html"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&response, "content-security-policy"),
            Some("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"), "{path}");
    }
}

#[actix_web::test]
async fn no_response_may_be_framed() {
    let app = spawn_app().await;
    for (request, response) in every_kind_of_response(&app).await {
        assert_eq!(
            header(&response, "content-security-policy"),
            Some("frame-ancestors 'none'"),
            "{request}"
        );
        assert_eq!(
            header(&response, "x-frame-options"),
            Some("DENY"),
            "{request}"
        );
    }
}
