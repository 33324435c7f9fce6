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
                "/health"
                    | "/ready"
                    | "/.well-known/oauth-authorization-server"
                    | "/api/v1/auth/login"
                    | "/api/v1/auth/refresh"
            );
            if !public {
                assert!(
                    operation["security"]
                        .as_array()
                        .is_some_and(|schemes| !schemes.is_empty()),
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

fn committed_operations() -> Vec<(String, String, serde_json::Value)> {
    let document: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    operations
}

/// A response, with a reference to a response component followed.
fn resolved(response: &serde_json::Value) -> serde_json::Value {
    let document: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    match response["$ref"].as_str() {
        Some(reference) => document
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{reference} resolves"))
            .clone(),
        None => response.clone(),
    }
}

#[test]
fn every_response_is_described_and_api_responses_name_their_request_id() {
    for (path, method, operation) in committed_operations() {
        for (status, response) in operation["responses"].as_object().unwrap() {
            let response = resolved(response);
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|text| !text.is_empty()),
                "{method} {path} {status} is described"
            );
            if path.starts_with("/api/v1/") {
                assert_eq!(
                    response["headers"]["X-Request-Id"]["$ref"],
                    "#/components/headers/X-Request-Id",
                    "{method} {path} {status} documents X-Request-Id"
                );
            }
        }
    }
}

#[test]
fn every_operation_has_its_own_operation_id() {
    let mut seen = std::collections::BTreeSet::new();
    for (path, method, operation) in committed_operations() {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!id.is_empty(), "{method} {path} has an operationId");
        assert!(seen.insert(id.clone()), "{id} is used twice");
    }
}

#[test]
fn page_schemas_refer_to_their_record_schema() {
    let document: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let pages: Vec<_> = schemas
        .iter()
        .filter_map(|(name, schema)| Some((name.strip_prefix("Page_")?, schema)))
        .collect();
    assert!(!pages.is_empty());
    for (record, page) in pages {
        assert_eq!(
            page["properties"]["items"]["items"]["$ref"],
            format!("#/components/schemas/{record}"),
            "Page_{record}"
        );
    }
}

#[test]
fn every_record_schema_requires_its_id() {
    let document: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let with_ids: Vec<_> = schemas
        .iter()
        .filter(|(_, schema)| schema["properties"].get("id").is_some())
        .collect();
    assert!(with_ids.len() > 20, "{}", with_ids.len());
    for (name, schema) in with_ids {
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        assert!(
            required.contains(&"id".into()),
            "{name} does not require its id"
        );
    }
}
