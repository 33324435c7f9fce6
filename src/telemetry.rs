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
        let client_ip = request
            .connection_info()
            .realip_remote_addr()
            .unwrap_or("")
            .to_owned();
        tracing::info_span!(
            "request",
            http.method = %request.method(),
            http.route = %route,
            http.client_ip = %client_ip,
            request_id = %request_id,
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
