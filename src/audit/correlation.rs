//! The ids a caller sends to tie a request to its own records: a W3C `traceparent` and its
//! own `X-Request-Id`. Both are the caller's claim, so only a well-formed id of fixed length
//! is kept (in the request's log lines and its audit row); anything else is ignored, since a
//! free-form value could carry a name or a tax file number.
use actix_web::http::header::HeaderMap;

/// The longest id either function returns, in bytes (a hyphenated UUID).
pub const MAX_LENGTH: usize = 36;

/// The trace id of a valid W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`, ids not all
/// zeros), to find a request from the caller's trace.
pub fn trace_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("traceparent")?.to_str().ok()?;
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

/// The caller's own `X-Request-Id`, when it is a UUID: kept beside the service's request id
/// (which the service chooses itself, and returns), so that the caller's records and these
/// meet.
pub fn caller_request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("x-request-id")?.to_str().ok()?.trim();
    uuid::Uuid::try_parse(value)
        .ok()
        .map(|id| id.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn a_callers_request_id_is_kept_only_when_it_is_a_uuid() {
        let of = |value| caller_request_id(&headers("x-request-id", value));
        assert_eq!(
            of("5f0c6f0e-7a43-4c55-9d6b-1f9c2b7e8a10").as_deref(),
            Some("5f0c6f0e-7a43-4c55-9d6b-1f9c2b7e8a10")
        );
        assert_eq!(of("876543217"), None);
        assert_eq!(of("jane.citizen"), None);
        assert_eq!(of(&"a".repeat(65)), None);
    }

    #[test]
    fn a_well_formed_traceparent_gives_its_trace_id() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id(&headers("traceparent", traceparent)).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn a_malformed_or_empty_traceparent_is_ignored() {
        for value in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-jane.citizen@example.org-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id(&headers("traceparent", value)), None, "{value}");
        }
    }
}
