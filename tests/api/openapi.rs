use reqwest::{Method, StatusCode};

use crate::helpers::spawn_app;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = casebridge::startup::openapi()
        .to_pretty_json()
        .expect("serialisable");
    assert!(
        generated.trim() == COMMITTED.trim(),
        "openapi/openapi.json is stale: regenerate it with `cargo run -q -- openapi > openapi/openapi.json`"
    );
}

#[actix_web::test]
async fn the_service_serves_the_document_and_offline_docs() {
    let app = spawn_app().await;
    let served = app
        .request(Method::GET, "/api/v1/openapi.json", None, None, &[])
        .await;
    assert_eq!(served.status, StatusCode::OK);
    let committed: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    assert_eq!(served.body, committed);
    assert_eq!(served.body["openapi"], "3.1.0");

    let docs = app.request(Method::GET, "/docs/", None, None, &[]).await;
    assert_eq!(docs.status, StatusCode::OK);
    let page = docs.body.as_str().expect("an HTML page");
    assert!(page.contains("swagger-ui"), "Swagger UI page");
    assert!(
        !page.contains("https://"),
        "the page must not load anything from the internet"
    );
    let bundle = app
        .request(Method::GET, "/docs/swagger-ui-bundle.js", None, None, &[])
        .await;
    assert_eq!(
        bundle.status,
        StatusCode::OK,
        "Swagger UI's script is served by the service itself"
    );
}

#[test]
fn every_operation_declares_problem_responses_and_bearer_auth() {
    let document: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    assert!(
        document
            .pointer("/components/securitySchemes/bearer")
            .is_some()
    );
    assert!(document.pointer("/components/schemas/Problem").is_some());
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let public = matches!(
                path.as_str(),
                "/health" | "/ready" | "/api/v1/auth/login" | "/api/v1/auth/refresh"
            );
            if !public {
                assert!(
                    operation.get("security").is_some(),
                    "{method} {path} declares bearer security"
                );
                assert!(
                    operation.pointer("/responses/401").is_some(),
                    "{method} {path} documents 401"
                );
            }
        }
    }
}
