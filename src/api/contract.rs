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
        (name = "changes", description = "Incremental sync: what changed since a cursor"),
        (name = "profiles", description = "Basic-profile search across divisions"),
        (name = "users", description = "Staff accounts"),
        (name = "organisations", description = "Divisions and CSPs"),
        (name = "audit", description = "The audit trail, access logs and exports"),
        (name = "api-clients", description = "CSP systems calling with OAuth2 client credentials"),
        (name = "oauth", description = "OAuth2 token endpoint (client credentials)"),
        (name = "access-reviews", description = "Periodic reviews of who may use the system"),
        (name = "policy-documents", description = "Acceptable use and the privacy and security policy: published, read and accepted"),
        (name = "reports", description = "Oversight reports"),
        (name = "privacy", description = "Collection notices, consents, complaints and legal holds"),
        (name = "retention", description = "Retention schedules, archiving, disposal and its certificates"),
        (name = "health", description = "Liveness and readiness"),
        (name = "alerts", description = "Alerts raised to the privacy officer"),
        (name = "breaches", description = "The data breach register, its impact and notifications"),
        (name = "incident-reports", description = "Incidents anyone reports: misuse, compromised credentials, breaches, lost devices"),
        (name = "csp-partnership", description = "A CSP's annual attestation and the wrap-up of its contract"),
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
        for (_, operation) in operations(openapi) {
            if takes_bearer(operation) {
                operation
                    .security
                    .get_or_insert_with(Vec::new)
                    .push(oauth2.clone());
            }
        }
    }
}

/// The problem responses, each documented once as a component (status, name, description):
/// an operation's problem response that says nothing of its own refers to its status's.
const PROBLEMS: &[(&str, &str, &str)] = &[
    (
        "400",
        "BadRequest",
        "The request cannot be read: a body that is not valid JSON, or a cursor or parameter \
         that is malformed (`bad_request`)",
    ),
    (
        "401",
        "Unauthorized",
        "No valid credentials: none were sent (`authentication_required`), or the token has \
         expired or was revoked (`invalid_token`). `WWW-Authenticate` names the scheme.",
    ),
    (
        "403",
        "Forbidden",
        "The caller may not do this (`forbidden`; `field_not_writable` names the fields it may \
         not write), or must first change their password (`password_change_required`), enrol \
         in MFA (`mfa_enrolment_required`) or state a purpose of use in `X-Purpose-Of-Use` \
         (`purpose_of_use_required`). Nothing was disclosed or changed.",
    ),
    (
        "404",
        "NotFound",
        "No such resource within the caller's reach (`not_found`): one the caller may not see \
         is not found either",
    ),
    (
        "408",
        "BodyTimeout",
        "The body did not arrive within the body-read timeout (`body_timeout`)",
    ),
    (
        "409",
        "Conflict",
        "The request conflicts with the resource's state; `code` says how",
    ),
    (
        "410",
        "Gone",
        "What the request names is no longer kept (`cursor_expired`: the change feed no longer \
         holds changes that old; start again with a new cursor and read the lists once)",
    ),
    (
        "412",
        "PreconditionFailed",
        "`If-Match` names an older version (`version_mismatch`): read the resource again \
         and reapply the change. Nothing was changed.",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The body is larger than the configured limit (`payload_too_large`)",
    ),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not `application/json` (`unsupported_media_type`)",
    ),
    (
        "422",
        "Unprocessable",
        "The input is invalid (`validation_failed`): `errors` names each invalid field with \
         its reasons. Nothing was stored.",
    ),
    (
        "428",
        "PreconditionRequired",
        "The change needs `If-Match` with the ETag of the version it changes \
         (`if_match_required`)",
    ),
    (
        "429",
        "RateLimited",
        "Too many requests without valid credentials from this address (`rate_limited`); try \
         again after `Retry-After`",
    ),
    (
        "503",
        "ServiceUnavailable",
        "The database is busy (`database_busy`) or cannot be reached \
         (`database_unavailable`), or the request's audit record could not be stored \
         (`audit_unavailable`); nothing was disclosed or changed. Try again after \
         `Retry-After`.",
    ),
];

/// The response headers, each documented once as a component.
const HEADERS: &[(&str, &str)] = &[
    (
        "X-Request-Id",
        "The service's id for this request (a UUID), also in its audit record: quote it when \
         reporting a problem",
    ),
    (
        "ETag",
        "The version of the record: send it back in `If-Match` to change the record",
    ),
    ("Location", "Where the created resource is"),
    ("Retry-After", "Seconds to wait before trying again"),
    ("WWW-Authenticate", "How to authenticate (`Bearer`)"),
];

/// The name of a status's problem component.
fn problem_component(status: &str) -> Option<&'static str> {
    PROBLEMS
        .iter()
        .find(|(code, ..)| *code == status)
        .map(|(_, name, _)| *name)
}

fn problem(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn header_ref(name: &str) -> utoipa::openapi::RefOr<utoipa::openapi::header::Header> {
    utoipa::openapi::RefOr::Ref(utoipa::openapi::Ref::new(format!(
        "#/components/headers/{name}"
    )))
}

/// Every operation of the document, whatever its method.
fn operations(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (&String, &mut utoipa::openapi::path::Operation)> {
    openapi.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            &mut item.get,
            &mut item.head,
            &mut item.post,
            &mut item.patch,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        .map(move |operation| (path, operation))
    })
}

fn takes_bearer(operation: &utoipa::openapi::path::Operation) -> bool {
    serde_json::to_value(&operation.security)
        .is_ok_and(|security| security.to_string().contains("\"bearer\""))
}

/// Whether the operation reads a JSON body (the token endpoint reads a form, and answers
/// its own errors as OAuth 2.0 says).
fn takes_json_body(operation: &utoipa::openapi::path::Operation) -> bool {
    use utoipa::openapi::RefOr;
    matches!(&operation.request_body, Some(RefOr::T(body)) if body.content.contains_key("application/json"))
}

/// Responses every operation of a kind can give, documented once: a JSON body can be
/// malformed (400), too large (413), of another media type (415) or too slow to arrive (408);
/// any `/api/v1` request without valid credentials can be over its address's allowance (429,
/// `audit::limit`), and any can meet a database it cannot use now (503).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::{ObjectBuilder, Ref, schema::Type};
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, description) in HEADERS {
            let schema = ObjectBuilder::new().schema_type(Type::String).build();
            let header = HeaderBuilder::new()
                .schema(Some(schema))
                .description(Some(*description))
                .build();
            components.headers.insert((*name).to_owned(), header.into());
        }
        for (status, name, description) in PROBLEMS {
            let mut response = problem(description);
            let extra = match *status {
                "401" => Some("WWW-Authenticate"),
                "429" | "503" => Some("Retry-After"),
                _ => None,
            };
            response.headers.extend(
                extra
                    .into_iter()
                    .map(|header| (header.to_owned(), header_ref(header))),
            );
            components
                .responses
                .insert((*name).to_owned(), response.into());
        }
        for (path, operation) in operations(openapi) {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            let mut common = vec!["429", "503"];
            if operation.request_body.is_some() {
                common.extend(["408", "413"]);
            }
            if takes_json_body(operation) {
                common.extend(["400", "415"]);
            }
            for status in common {
                let component = problem_component(status).expect("a documented problem");
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| Ref::from_response_name(component).into());
            }
        }
        document_idempotency_keys(openapi);
        describe_responses(openapi);
    }
}

/// Every response described: a problem response that says nothing of its own refers to its
/// status's component, a success response gets its status's reason phrase, and the headers
/// (with `X-Request-Id` on every `/api/v1` response) refer to their components.
fn describe_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Ref, RefOr};
    let known_headers: Vec<&str> = HEADERS.iter().map(|(name, _)| *name).collect();
    let finish_headers = |response: &mut utoipa::openapi::Response, api: bool| {
        for (name, header) in response.headers.iter_mut() {
            if known_headers.contains(&name.as_str()) {
                *header = header_ref(name);
            }
        }
        if api {
            response
                .headers
                .insert("X-Request-Id".to_owned(), header_ref("X-Request-Id"));
        }
    };
    for (path, operation) in operations(openapi) {
        let api = path.starts_with("/api/v1/");
        for (status, answer) in operation.responses.responses.iter_mut() {
            let RefOr::T(response) = answer else {
                continue;
            };
            let is_problem = response.content.contains_key("application/problem+json");
            if response.description.is_empty() {
                if let (true, Some(component)) = (is_problem, problem_component(status)) {
                    *answer = Ref::from_response_name(component).into();
                    continue;
                }
                response.description = status
                    .parse::<u16>()
                    .ok()
                    .and_then(|code| actix_web::http::StatusCode::from_u16(code).ok())
                    .and_then(|code| code.canonical_reason())
                    .unwrap_or("Answer")
                    .to_owned();
            }
            finish_headers(response, api);
        }
    }
    let components = openapi.components.get_or_insert_with(Default::default);
    for answer in components.responses.values_mut() {
        if let RefOr::T(response) = answer {
            finish_headers(response, true);
        }
    }
}

/// The rest a linter asks of the document as a whole: where it is served, a unique
/// `operationId` for a `HEAD` that shares its handler with a `GET`, an explicit empty
/// `security` on the operations that take no credentials, and page schemas that refer to
/// their record schema instead of repeating it (a generator then makes one type per record).
fn complete_document(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{ArrayItems, Schema};
    use utoipa::openapi::{Ref, RefOr, server::ServerBuilder};
    openapi.servers = Some(vec![
        ServerBuilder::new()
            .url("/")
            .description(Some("This service (the document is served by it)"))
            .build(),
    ]);
    for item in openapi.paths.paths.values_mut() {
        if let Some(head) = item.head.as_mut() {
            head.operation_id = head.operation_id.as_ref().map(|id| format!("{id}_head"));
        }
    }
    for (_, operation) in operations(openapi) {
        operation.security.get_or_insert_with(Vec::new);
    }
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    let records: Vec<String> = components.schemas.keys().cloned().collect();
    for (name, schema) in components.schemas.iter_mut() {
        let Some(record) = name.strip_prefix("Page_") else {
            continue;
        };
        if !records.iter().any(|known| known == record) {
            continue;
        }
        let RefOr::T(Schema::Object(page)) = schema else {
            continue;
        };
        if let Some(RefOr::T(Schema::Array(items))) = page.properties.get_mut("items") {
            items.items = ArrayItems::RefOrSchema(Box::new(Ref::from_schema_name(record).into()));
        }
    }
}

/// Every authenticated POST takes an `Idempotency-Key` (`api::idempotency`): the header,
/// documented once, and the answers it adds.
fn document_idempotency_keys(openapi: &mut utoipa::openapi::OpenApi) {
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
        // The guard keeps keys per identified caller: a bearer token's. The token endpoint's
        // HTTP Basic caller is not one (its response is a credential, never kept).
        if !path.starts_with("/api/v1/") || !takes_bearer(operation) {
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
                 out and its response not kept (`idempotency_key_in_use`), or its response is \
                 not given again because what the caller may see has changed since \
                 (`idempotent_response_withheld`)",
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
    complete_document(openapi);
}
