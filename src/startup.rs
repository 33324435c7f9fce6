//! Builds the application: one place for the server, the tests and the OpenAPI generator.
use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::api;
use crate::api::context::AppState;
use crate::audit;
use crate::error::ApiError;

/// The CORS rules: only the configured origins, and only what the API uses.
fn cors(origins: &[String]) -> Cors {
    origins.iter().fold(
        Cors::default()
            .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
            .allowed_headers([
                "authorization",
                "content-type",
                "idempotency-key",
                "if-match",
                "x-purpose-of-use",
            ])
            .expose_headers([
                "etag",
                "idempotent-replayed",
                "location",
                "retry-after",
                "www-authenticate",
                "x-request-id",
            ])
            .max_age(600),
        |cors, origin| cors.allowed_origin(origin),
    )
}

/// The `/api/v1` routes, audited. The audit layer is the outermost: it records CORS
/// preflights and refusals as well, and it refuses requests over the anonymous allowance
/// before anything else runs (their 429 passes back through CORS, so a browser can read it).
fn api_v1(
    cors: Cors,
) -> utoipa_actix_web::scope::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    utoipa_actix_web::scope("/api/v1")
        .wrap(from_fn(api::idempotency::guard))
        .wrap(from_fn(api::request::limit_body_time))
        .wrap(from_fn(audit::refuse_when_limited))
        .wrap(cors)
        .wrap(from_fn(audit::record))
        .configure(api::routes)
        // `.route` keeps the document itself out of the document.
        .route("/openapi.json", web::get().to(openapi_json))
        .default_service(web::to(unmatched))
}

async fn openapi_json(document: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(document.as_ref())
}

/// The documented routes with their methods, so that a known path asked with another method
/// answers 405 with `Allow` rather than 404.
pub struct RouteTable(Vec<(regex::Regex, Vec<String>)>);

impl RouteTable {
    fn from_openapi(openapi: &utoipa::openapi::OpenApi) -> Self {
        let routes = openapi
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let pattern: Vec<String> = path
                    .split('/')
                    .map(|segment| {
                        if segment.starts_with('{') {
                            "[^/]+".to_owned()
                        } else {
                            regex::escape(segment)
                        }
                    })
                    .collect();
                let pattern = pattern.join("/");
                let methods = serde_json::to_value(item)
                    .ok()
                    .and_then(|item| {
                        item.as_object()
                            .map(|o| o.keys().map(|m| m.to_uppercase()).collect())
                    })
                    .unwrap_or_default();
                (
                    regex::Regex::new(&format!("^{pattern}$")).expect("escaped path"),
                    methods,
                )
            })
            .collect();
        Self(routes)
    }

    fn allowed(&self, path: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|(pattern, _)| pattern.is_match(path))
            .map(|(_, methods)| methods.as_slice())
    }
}

async fn unmatched(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    match routes.allowed(req.path()) {
        Some(methods) if !methods.iter().any(|m| m == req.method().as_str()) => {
            Err(ApiError::MethodNotAllowed(methods.to_vec()))
        }
        _ => Err(ApiError::NotFound),
    }
}

/// The OpenAPI document, as generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut openapi) = App::new()
        .into_utoipa_app()
        .openapi(api::contract::ApiDoc::openapi())
        .service(api::health::health)
        .service(api::health::ready)
        .service(api::oauth::metadata)
        .service(api_v1(cors(&[])))
        .split_for_parts();
    // After the split: only then does the document hold every path.
    api::contract::finish(&mut openapi);
    openapi
}

fn path_error(_: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound.into()
}

/// Headers every response the application answers carries, API or not (`/health`, `/docs`,
/// errors, 404s): nothing is cached, no browser guesses a content type, and no page may
/// frame any of it (Swagger UI at `/docs` included). `frame-ancestors` is the standard;
/// `X-Frame-Options` is for browsers that predate it. A request that fails to parse as HTTP
/// never reaches the application: actix-http answers it with an empty 400.
fn security_headers(tls: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Cache-Control", "no-store"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Content-Security-Policy", "frame-ancestors 'none'"))
        .add(("X-Frame-Options", "DENY"));
    // Only over TLS: a browser ignores it on plain HTTP, and the service cannot know that a
    // load balancer in front of it speaks HTTPS.
    match tls {
        true => headers.add(("Strict-Transport-Security", "max-age=31536000")),
        false => headers,
    }
}

/// The TLS server settings of the configured certificate and key (rustls, ring's
/// algorithms, TLS 1.2 and 1.3).
fn tls_settings(tls: &crate::config::TlsConfig) -> anyhow::Result<Option<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (&tls.tls_cert, &tls.tls_key) else {
        return Ok(None);
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| anyhow::anyhow!("reading {}: {error}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|error| anyhow::anyhow!("reading {}: {error}", key.display()))?;
    let settings = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    Ok(Some(settings))
}

/// Descriptors kept for what is not a client connection: database connections, the log, the
/// key and database files.
const RESERVED_DESCRIPTORS: u64 = 256;

/// The connections the server holds at once: the configured number, but never so many that
/// accepting them would exhaust the process's file descriptors (then every request, `/health`
/// included, fails). The open-file limit is raised to its hard limit first.
fn connection_cap(configured: u64) -> usize {
    let descriptors = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let cap = configured.min(descriptors.saturating_sub(RESERVED_DESCRIPTORS).max(2));
    if cap < configured {
        tracing::warn!(
            configured,
            cap,
            descriptors,
            "the open-file limit allows fewer connections than configured"
        );
    }
    cap as usize
}

pub struct Application {
    server: Server,
    port: u16,
    /// The metrics listener's server and port, when `CASEBRIDGE_METRICS_BIND` is set.
    metrics: Option<(Server, u16)>,
    state: web::Data<AppState>,
    anchorer: Arc<audit::anchor::Anchorer>,
}

impl Application {
    /// Binds `listener` and builds the server; the caller awaits [`Application::run`]. Refused
    /// when another process serves the same SQLite database ([`Database::serve_alone`]).
    pub fn build(state: AppState, listener: TcpListener) -> anyhow::Result<Self> {
        state.db.serve_alone()?;
        let port = listener.local_addr()?.port();
        if let Some(webhook) = state.config.oversight.webhook()? {
            crate::oversight::webhook::start(state.db.clone(), state.clock.clone(), webhook)?;
        }
        let body_limit = state.config.body_limit;
        let tls_settings = tls_settings(&state.config.tls)?;
        let tls = tls_settings.is_some();
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let connections = connection_cap(state.config.limits.max_connections);
        let origins: Vec<String> = state.config.cors_origins().map(str::to_owned).collect();
        let state = web::Data::new(state);
        audit::record_refusal_tallies(state.clone());
        api::idempotency::forget_expired_keys(state.clone());
        api::changes::keep_the_feed(state.clone());
        let anchorer = Arc::new(audit::anchor::Anchorer::new(audit::anchor::file_of(
            &state.config,
        )));
        anchor_every_few_seconds(state.clone(), anchorer.clone());
        let app_state = state.clone();
        let openapi = openapi();
        let routes = web::Data::new(RouteTable::from_openapi(&openapi));
        let openapi = web::Data::new(openapi);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(openapi.clone())
                .app_data(routes.clone())
                // JSON bodies and query strings are read by `api::request::{Body, Params}`.
                .app_data(web::PayloadConfig::default().limit(body_limit))
                .app_data(web::PathConfig::default().error_handler(path_error))
                // JSON compresses about tenfold: gzip, brotli or zstd as the caller accepts.
                .wrap(actix_web::middleware::Compress::default())
                .wrap(from_fn(count_request))
                // Around everything, CORS preflight answers included.
                .wrap(security_headers(tls))
                .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
                .service(api::health::health)
                .service(api::health::ready)
                .service(api::oauth::metadata)
                .service(api_v1(cors(&origins)))
                .service(
                    SwaggerUi::new("/docs/{_:.*}")
                        .config(SwaggerConfig::new(["/api/v1/openapi.json"])),
                )
                .route(
                    "/docs",
                    web::get().to(|| async {
                        HttpResponse::PermanentRedirect()
                            .insert_header(("Location", "/docs/"))
                            .finish()
                    }),
                )
                .default_service(web::to(unmatched))
        })
        .workers(workers)
        .max_connections(connections.div_ceil(workers))
        .worker_max_blocking_threads(crate::db::READ_CONNECTIONS as usize);
        let server = match tls_settings {
            Some(settings) => server.listen_rustls_0_23(listener, settings)?,
            None => server.listen(listener)?,
        }
        .run();
        let metrics = match &app_state.config.oversight.metrics_bind {
            Some(address) => Some(metrics_server(app_state.clone(), address)?),
            None => None,
        };
        Ok(Self {
            server,
            port,
            metrics,
            state: app_state,
            anchorer,
        })
    }

    /// The metrics listener's port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then writes the audit chain's last anchor and lets another
    /// process serve the database.
    pub async fn run(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let served = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        anchor(&self.state, &self.anchorer).await;
        self.state.db.stop_serving();
        served
    }
}

/// Everything the server needs, from configuration: the database (migrated, its sealed
/// columns checked and any plaintext in them sealed), the policy, and the signing, disposal
/// and data keys.
pub async fn state(config: crate::config::Config) -> anyhow::Result<AppState> {
    config.oversight.webhook()?;
    crate::config::secure_data_dir(&config.data_dir)?;
    let db = crate::db::Database::connect(&config.database_url(), &config.limits)?;
    db.migrate()?;
    let keyring = crate::sealing::Keyring::of(&config)?;
    crate::db::sealed::prepare(&db, &keyring)?;
    let source = crate::authz::PolicySource::choose(config.policy_dir.as_deref());
    let policy = Arc::new(crate::authz::PolicyStore::load(source).await?);
    let secret = crate::auth::keys::load_or_create(
        config.jwt_secret.as_deref(),
        &config.data_dir,
        "jwt-secret",
    )?;
    let tokens = crate::auth::tokens::TokenKeys::new(&secret, config.access_token_ttl)?;
    let disposal_key = crate::retention::disposal_key(&config)?;
    bind_keys(
        &db,
        &[("jwt-secret", &secret), ("disposal-key", &disposal_key)],
        &keyring,
        config.privacy.accept_new_keys,
    )?;
    Ok(AppState {
        db,
        policy,
        tokens,
        disposal_key,
        keyring,
        limiter: Arc::new(audit::limit::Limiter::new(&config.anonymous)),
        config,
        clock: Arc::new(crate::clock::Clock::default()),
    })
}

/// Ties the keys to the database: the first start records a fingerprint of each key (and the
/// data key that seals new values); a later start with another signing or disposal key, or
/// without that data key, is refused unless `accept_new` says the change is meant.
fn bind_keys(
    db: &crate::db::Database,
    keys: &[(&str, &[u8])],
    keyring: &crate::sealing::Keyring,
    accept_new: bool,
) -> anyhow::Result<()> {
    use crate::db::settings;
    use sha2::{Digest, Sha256};
    let mut conn = db.write_conn()?;
    for (name, key) in keys {
        let setting = format!("key_fingerprint.{name}");
        let mut hash = Sha256::new();
        hash.update(format!("casebridge key fingerprint\0{name}\0").as_bytes());
        hash.update(key);
        let fingerprint = hex::encode(&hash.finalize()[..16]);
        match settings::get(&mut conn, &setting)? {
            Some(known) if known == fingerprint => {}
            Some(_) if !accept_new => anyhow::bail!(
                "the {name} key is not the one this database was served with: start with the \
                 same data directory (or the same environment variable) as the other \
                 instances, or set CASEBRIDGE_ACCEPT_NEW_KEYS=true to replace it on purpose"
            ),
            Some(_) => {
                tracing::warn!(key = name, "a new key replaces the one the database knew");
                settings::set(&mut conn, &setting, &fingerprint)?;
            }
            None => settings::insert(&mut conn, &setting, &fingerprint)?,
        }
    }
    const SEALING: &str = "data_key.current";
    let current = keyring.current_id();
    match settings::get(&mut conn, SEALING)? {
        Some(known) if !keyring.key_ids().contains(&known) && !accept_new => anyhow::bail!(
            "this instance does not hold data key {known}, which the database's newest values \
             are sealed under: start it with the key file (<data dir>/data-keys) or \
             CASEBRIDGE_DATA_KEY of the other instances"
        ),
        Some(known) if known == current => {}
        _ => settings::set(&mut conn, SEALING, &current)?,
    }
    Ok(())
}

/// Anchors the audit chain while the server runs (`audit::anchor`).
fn anchor_every_few_seconds(state: web::Data<AppState>, anchorer: Arc<audit::anchor::Anchorer>) {
    let every = std::time::Duration::from_secs(state.config.oversight.anchor_every);
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(every).await;
            anchor(&state, &anchorer).await;
        }
    });
}

async fn anchor(state: &web::Data<AppState>, anchorer: &Arc<audit::anchor::Anchorer>) {
    let (state, anchorer) = (state.clone(), anchorer.clone());
    let written =
        actix_web::rt::task::spawn_blocking(move || anchorer.anchor(&state.db, state.clock.now()))
            .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(%error, "the audit chain's anchor could not be written"),
        Err(_) => tracing::error!("the audit chain's anchor could not be written"),
    }
}

/// Counts every answered request for the metrics, by its route template.
async fn count_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let answered = next.call(req).await;
    let (route, status) = match &answered {
        Ok(response) => (
            response.request().match_pattern(),
            response.status().as_u16(),
        ),
        Err(error) => (None, error.as_response_error().status_code().as_u16()),
    };
    crate::metrics::request_answered(
        method.as_str(),
        route.as_deref().unwrap_or("(unmatched)"),
        status,
        started.elapsed().as_secs_f64(),
    );
    answered
}

/// The metrics' own listener: `GET /metrics` only, not audited (it names no client).
fn metrics_server(state: web::Data<AppState>, address: &str) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind(address)
        .map_err(|error| anyhow::anyhow!("binding the metrics listener to {address}: {error}"))?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((server, port))
}

async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = crate::metrics::encode(state.db.metrics_now()).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}
