//! The OpenAPI document's finishing: what the handlers' annotations cannot say once for all
//! operations (security schemes, the responses every operation of a kind can give, the
//! `Idempotency-Key` header), applied after the paths are collected, so that the committed
//! document validates and lints clean (`.redocly.yaml`).
use utoipa::openapi::security::{
    ClientCredentials, Flow, Http, HttpAuthScheme, OAuth2, Scopes, SecurityRequirement,
    SecurityScheme,
};
use utoipa::{Modify, OpenApi};

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "casebridge",
        description = "Client and case management shared by a department and its contracted service providers. \
Every read is cut by role (fields) and relationship (rows); every request is recorded. \
Errors are RFC 9457 problem details with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),

    components(schemas(crate::error::Problem, crate::error::FieldError)),
    tags(
        (name = "auth", description = "Log in, refresh, log out"),
        (name = "me", description = "The caller and their permissions"),
        (name = "clients", description = "Client records"),
        (name = "cases", description = "Cases and their allocations to CSPs"),
        (name = "notes", description = "Case notes; amended, never edited"),
        (name = "profiles", description = "Basic-profile search across divisions"),
        (name = "users", description = "Staff accounts"),
        (name = "organisations", description = "Divisions and CSPs"),
        (name = "audit", description = "The audit trail, access logs and exports"),
        (name = "api-clients", description = "CSP systems calling with OAuth2 client credentials"),
        (name = "oauth", description = "OAuth2 token endpoint (client credentials)"),
        (name = "access-reviews", description = "Periodic reviews of who may use the system"),
        (name = "reports", description = "Oversight reports"),
        (name = "privacy", description = "Collection notices, consents, complaints and legal holds"),
        (name = "retention", description = "Retention schedules, archiving, disposal and its certificates"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // CSP systems: HTTP Basic with the client id and secret at the token endpoint, and
        // the token it returns used as a bearer token like a person's.
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::ClientCredentials(
                ClientCredentials::new("/api/v1/oauth/token", Scopes::new()),
            )])),
        );
        let oauth2 = SecurityRequirement::new("oauth2", Vec::<String>::new());
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let Some(security) = operation.security.as_mut() else {
                    continue;
                };
                let bearer = serde_json::to_value(&*security)
                    .is_ok_and(|value| value.to_string().contains("\"bearer\""));
                if bearer {
                    security.push(oauth2.clone());
                }
            }
        }
    }
}

/// Responses every operation of a kind can give, documented once: a JSON body can be
/// malformed (400), too large (413), of another media type (415) or too slow to arrive (408);
/// any `/api/v1` request without valid credentials can be over its address's allowance (429,
/// `audit::limit`), and any can meet a database it cannot use now (503).
struct CommonResponses;

/// The name of the 429 response component.
const RATE_LIMITED: &str = "RateLimited";
/// The name of the 503 response component.
const UNAVAILABLE: &str = "ServiceUnavailable";

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        let with_retry_after = |mut response: utoipa::openapi::Response| {
            response.headers.insert(
                "Retry-After".to_owned(),
                utoipa::openapi::header::Header::new(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String)
                        .build(),
                )
                .into(),
            );
            response
        };
        // Documented once each, as components every `/api/v1` operation refers to.
        let components = openapi.components.get_or_insert_with(Default::default);
        components.responses.insert(
            RATE_LIMITED.to_owned(),
            with_retry_after(problem(
                "Too many requests without valid credentials from this address (`rate_limited`); see Retry-After",
            ))
            .into(),
        );
        components.responses.insert(
            UNAVAILABLE.to_owned(),
            with_retry_after(problem(
                "The database is busy (`database_busy`) or cannot be reached (`database_unavailable`), \
                 or the request's audit record could not be stored (`audit_unavailable`); nothing \
                 was disclosed. Try again after Retry-After.",
            ))
            .into(),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                for (status, component) in [("429", RATE_LIMITED), ("503", UNAVAILABLE)] {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| Ref::from_response_name(component).into());
                }
            }
        }
        document_idempotency_keys(openapi, &problem);
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.post, &mut item.patch].into_iter().flatten() {
                if operation.request_body.is_none() {
                    continue;
                }
                for (status, description) in [
                    ("400", "The body is not valid JSON"),
                    (
                        "408",
                        "The body did not arrive within the body-read timeout (`body_timeout`)",
                    ),
                    ("413", "The body is larger than the configured limit"),
                    ("415", "The body is not application/json"),
                ] {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem(description).into());
                }
            }
        }
    }
}

/// Every authenticated POST takes an `Idempotency-Key` (`api::idempotency`): the header,
/// documented once, and the answers it adds.
fn document_idempotency_keys(
    openapi: &mut utoipa::openapi::OpenApi,
    problem: &dyn Fn(&str) -> utoipa::openapi::Response,
) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Required, schema::Type};
    const PARAMETER: &str = "IdempotencyKey";
    let parameter = ParameterBuilder::new()
        .name(api::idempotency::IDEMPOTENCY_KEY_HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: the same key with the same request (method, path, body) within \
             the key's lifetime (default 24 hours) gets the first response again, marked \
             `Idempotent-Replayed: true`, and nothing is applied twice. Keys are the caller's \
             own; 1 to 255 visible ASCII characters (a UUID).",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .build(),
        ))
        .build();
    let components = openapi.components.get_or_insert_with(Default::default);
    components
        .parameters
        .insert(PARAMETER.to_owned(), parameter.into());
    for (path, item) in openapi.paths.paths.iter_mut() {
        let Some(operation) = item.post.as_mut() else {
            continue;
        };
        let authenticated = operation
            .security
            .as_ref()
            .is_some_and(|requirements| !requirements.is_empty());
        if !path.starts_with("/api/v1/") || !authenticated {
            continue;
        }
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::Ref(Ref::new(format!(
                "#/components/parameters/{PARAMETER}"
            ))));
        for (status, description) in [
            (
                "409",
                "Another attempt with this Idempotency-Key is being carried out, or was carried \
                 out and its response not kept (`idempotency_key_in_use`)",
            ),
            (
                "422",
                "The Idempotency-Key was used with another request (`idempotency_key_reused`), \
                 or is malformed",
            ),
        ] {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| problem(description).into());
        }
    }
}

/// Applies every finishing pass, once the document holds every path.
pub fn finish(openapi: &mut utoipa::openapi::OpenApi) {
    BearerAuth.modify(openapi);
    CommonResponses.modify(openapi);
}
