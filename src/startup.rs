//! Builds the application: one place for the server, the tests and the OpenAPI generator.
use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tracing_actix_web::TracingLogger;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api;
use crate::api::context::AppState;
use crate::audit;
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "casebridge",
        description = "Client and case management shared by a department and its contracted service providers. \
Every read is cut by role (fields) and relationship (rows); every request is recorded. \
Errors are RFC 9457 problem details with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
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
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The `/api/v1` routes, audited.
fn api_v1() -> utoipa_actix_web::scope::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    utoipa_actix_web::scope("/api/v1")
        .wrap(from_fn(audit::record))
        .configure(api::routes)
        .default_service(web::to(not_found))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// The OpenAPI document, as generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, openapi) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(api::health::health)
        .service(api::health::ready)
        .service(api_v1())
        .split_for_parts();
    openapi
}

fn json_error(error: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    match error {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::PayloadTooLarge,
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Deserialize(error) if error.is_data() => ApiError::invalid("body", error.to_string()),
        E::Deserialize(error) => ApiError::bad_request("malformed_json", format!("The body is not valid JSON: {error}")),
        other => ApiError::bad_request("unreadable_body", other.to_string()),
    }
    .into()
}

fn query_error(error: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::invalid("query", error.to_string()).into()
}

fn path_error(_: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound.into()
}

pub struct Application {
    server: Server,
    port: u16,
}

impl Application {
    /// Binds `listener` and builds the server; the caller awaits [`Application::run`].
    pub fn build(state: AppState, listener: TcpListener) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let body_limit = state.config.body_limit;
        let origins: Vec<String> = state.config.cors_origins().map(str::to_owned).collect();
        let state = web::Data::new(state);
        let openapi = openapi();
        let server = HttpServer::new(move || {
            let cors = origins.iter().fold(
                Cors::default()
                    .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
                    .allowed_headers(["authorization", "content-type", "if-match", "x-purpose-of-use"])
                    .expose_headers(["etag", "location", "x-request-id"])
                    .max_age(600),
                |cors, origin| cors.allowed_origin(origin),
            );
            App::new()
                .app_data(state.clone())
                .app_data(web::JsonConfig::default().limit(body_limit).error_handler(json_error))
                .app_data(web::PayloadConfig::default().limit(body_limit))
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .app_data(web::PathConfig::default().error_handler(path_error))
                .wrap(DefaultHeaders::new().add(("Cache-Control", "no-store")).add(("X-Content-Type-Options", "nosniff")))
                .wrap(cors)
                .wrap(TracingLogger::default())
                .service(api::health::health)
                .service(api::health::ready)
                .service(api_v1())
                .service(SwaggerUi::new("/docs/{_:.*}").url("/api/v1/openapi.json", openapi.clone()))
                .default_service(web::to(|| async { HttpResponse::NotFound().finish() }))
        })
        .listen(listener)?
        .run();
        Ok(Self { server, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Everything the server needs, from configuration: the database (migrated), the policy and
/// the signing key.
pub async fn state(config: crate::config::Config) -> anyhow::Result<AppState> {
    let db = crate::db::Database::connect(&config.database_url())?;
    db.migrate()?;
    let source = crate::authz::PolicySource::choose(config.policy_dir.as_deref());
    let policy = Arc::new(crate::authz::PolicyStore::load(source).await?);
    let secret = crate::auth::tokens::load_or_create_secret(config.jwt_secret.as_deref(), &config.data_dir)?;
    let tokens = crate::auth::tokens::TokenKeys::new(&secret, config.access_token_ttl)?;
    Ok(AppState { db, policy, tokens, config })
}
