//! The request span every log line of a request sits in. Unlike tracing-actix-web's default
//! it records the route template, never the URL: query strings carry client names and dates
//! of birth, which must not reach the logs. A failed request leaves one line naming its
//! status, its problem code and the fields the problem names, never the problem's messages:
//! those are for the caller, and a log line is read by others.
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use crate::audit::correlation;
use crate::error::ApiError;

/// Logs to stderr, filtered by `CASEBRIDGE_LOG` (default `info`), as text or, with
/// `CASEBRIDGE_LOG_FORMAT=json`, one JSON object per line for a log collector. Colours only
/// when stderr is a terminal.
pub fn init_logging() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("CASEBRIDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logger = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match std::env::var("CASEBRIDGE_LOG_FORMAT").as_deref() {
        Err(_) | Ok("text") => logger.init(),
        Ok("json") => logger.json().with_current_span(true).init(),
        Ok(_) => anyhow::bail!("CASEBRIDGE_LOG_FORMAT must be text or json"),
    }
    Ok(())
}

pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "(unmatched)".to_owned());
        // The TCP peer: forwarding headers are the caller's claim (the audit row resolves
        // them through the trusted proxies).
        let peer_ip = request
            .peer_addr()
            .map(|peer| peer.ip().to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            http.method = %request.method(),
            http.route = %route,
            http.peer_ip = %peer_ip,
            request_id = %request_id,
            trace_id = %correlation::trace_id(request.headers()).unwrap_or_default(),
            caller_request_id = %correlation::caller_request_id(request.headers()).unwrap_or_default(),
            http.status_code = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(response) => (response.status(), response.response().error()),
            Err(error) => (error.as_response_error().status_code(), Some(error)),
        };
        span.record("http.status_code", status.as_u16());
        let Some(error) = error else {
            return;
        };
        // Names, never values. An error that is not ours (actix's own) is known by its
        // status alone: its text may quote the request.
        let problem = error.as_error::<ApiError>();
        let code = problem.map_or("(not a problem)", ApiError::code);
        let fields = problem.map(ApiError::field_names).unwrap_or_default();
        let status = status.as_u16();
        if status >= 500 {
            tracing::error!(status, code, ?fields, "request failed");
        } else {
            tracing::warn!(status, code, ?fields, "request refused");
        }
    }
}
