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
            trace_id = %trace_id(request).unwrap_or_default(),
            caller_request_id = %caller_request_id(request).unwrap_or_default(),
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

/// The trace id of a valid W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`, ids not all
/// zeros), to find a request's lines from the caller's trace. Anything else is ignored: it is
/// the caller's claim, and only a well-formed id of bounded length reaches the log.
fn trace_id(request: &ServiceRequest) -> Option<String> {
    let value = request.headers().get("traceparent")?.to_str().ok()?;
    let parts: Vec<&str> = value.trim().split('-').collect();
    let [version, trace, parent, flags] = parts.as_slice() else {
        return None;
    };
    let hex = |text: &str, length: usize| {
        text.len() == length && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let valid = *version == "00"
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    valid.then(|| (*trace).to_owned())
}

/// The caller's own `X-Request-Id`, when it is a UUID: logged beside the service's request
/// id (which the service chooses itself, and returns), so that the caller's logs and these
/// meet. Nothing else a caller sends there is logged: a free-form id could carry a name or a
/// tax file number.
fn caller_request_id(request: &ServiceRequest) -> Option<String> {
    let value = request.headers().get("x-request-id")?.to_str().ok()?.trim();
    uuid::Uuid::try_parse(value)
        .ok()
        .map(|id| id.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller_id_of(header: &str) -> Option<String> {
        let request = actix_web::test::TestRequest::default()
            .insert_header(("x-request-id", header))
            .to_srv_request();
        caller_request_id(&request)
    }

    #[test]
    fn a_callers_request_id_is_logged_only_when_it_is_a_uuid() {
        assert_eq!(
            caller_id_of("5f0c6f0e-7a43-4c55-9d6b-1f9c2b7e8a10").as_deref(),
            Some("5f0c6f0e-7a43-4c55-9d6b-1f9c2b7e8a10")
        );
        assert_eq!(caller_id_of("876543217"), None);
        assert_eq!(caller_id_of("jane.citizen"), None);
        assert_eq!(caller_id_of(&"a".repeat(65)), None);
    }

    fn trace_of(header: &str) -> Option<String> {
        let request = actix_web::test::TestRequest::default()
            .insert_header(("traceparent", header))
            .to_srv_request();
        trace_id(&request)
    }

    #[test]
    fn a_well_formed_traceparent_gives_its_trace_id() {
        assert_eq!(
            trace_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn a_malformed_or_empty_traceparent_is_ignored() {
        for header in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-jane.citizen@example.org-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_of(header), None, "{header}");
        }
    }
}
