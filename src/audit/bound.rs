//! How much text one audit row may hold. Every text a caller chooses (the path, the method,
//! the user agent, the username tried, the purpose stated, the id in the path) is cut to a
//! fixed number of bytes before it is stored, at a character boundary, and a cut text ends
//! with [`CUT_MARKER`]. So a row's size has a ceiling whatever the request held
//! ([`ANONYMOUS_ROW_TEXT`]), and with the per-address limit on anonymous requests
//! (`audit::limit`) so has the rate at which an anonymous caller can grow the trail.
use std::borrow::Cow;

use super::correlation;

/// Ends a text that was cut; counted within the text's bound.
pub const CUT_MARKER: &str = "…[cut]";

/// The most bytes each caller-chosen column holds, marker included.
pub const METHOD: usize = 16;
pub const ROUTE: usize = 256;
pub const PATH: usize = 512;
pub const RESOURCE_ID: usize = 64;
pub const REASON: usize = 64;
pub const PURPOSE_OF_USE: usize = 512;
pub const ATTEMPTED_USERNAME: usize = 128;
pub const USER_AGENT: usize = 256;

/// The text of an anonymous request's row at most, in bytes: the caller-chosen columns at
/// their bounds (an anonymous caller states no purpose: that needs a permit) plus the columns
/// the service fills in itself, at their longest (ids and hashes, the address, the
/// timestamps and numbers as text, the fixed words, `[]` for the lists of clients and fields
/// an anonymous request never discloses).
pub const ANONYMOUS_ROW_TEXT: usize = METHOD
    + ROUTE
    + PATH
    + RESOURCE_ID
    + REASON
    + ATTEMPTED_USERNAME
    + USER_AGENT
    // id, chain_id, request_id, attempted_client_id (UUIDs); previous_hash, hash (hex SHA-256)
    + 4 * 36
    + 2 * 64
    // occurred_at, sequence, status, duration_ms, also_refused
    + 26 + 20 + 3 + 20 + 20
    // actor_roles, client_ids, fields ("[]"), actor_kind, outcome, resource_type
    + 3 * 2 + 10 + 8 + 32
    // ip: the longest IPv6 text
    + 39
    // trace_id, caller_request_id: fixed-length ids or nothing (`correlation`)
    + 32
    + correlation::MAX_LENGTH;

const _: () = assert!(METHOD > CUT_MARKER.len() + 4);

/// `text` cut to at most `max_bytes` bytes (at a character boundary, ending with
/// [`CUT_MARKER`]); unchanged when it fits. Every bound is longer than the marker.
pub fn cut(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let mut end = max_bytes.saturating_sub(CUT_MARKER.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{CUT_MARKER}", &text[..end]))
}

/// [`cut`], for an owned text.
pub fn cut_owned(text: String, max_bytes: usize) -> String {
    match cut(&text, max_bytes) {
        Cow::Borrowed(_) => text,
        Cow::Owned(cut) => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_within_its_bound_is_stored_as_it_is() {
        assert_eq!(cut("/api/v1/clients", PATH), "/api/v1/clients");
        let exact = "a".repeat(PATH);
        assert_eq!(cut(&exact, PATH), exact.as_str());
    }

    #[test]
    fn a_longer_text_is_cut_to_its_bound_and_says_so() {
        let long = "a".repeat(60_000);
        let stored = cut(&long, PATH);
        assert_eq!(stored.len(), PATH);
        assert!(stored.ends_with(CUT_MARKER));
        assert!(stored.starts_with("aaaa"));
    }

    #[test]
    fn a_cut_falls_on_a_character_boundary() {
        // Four-byte characters: no bound minus the marker lands on a boundary by chance.
        let long = "𝔘".repeat(1_000);
        for bound in [METHOD, RESOURCE_ID, USER_AGENT, PATH, PATH + 1, PATH + 2] {
            let stored = cut(&long, bound);
            assert!(stored.len() <= bound, "{bound}: {}", stored.len());
            assert!(stored.len() > bound - CUT_MARKER.len() - 4, "{bound}");
            assert!(stored.ends_with(CUT_MARKER));
            assert!(
                stored
                    .trim_end_matches(CUT_MARKER)
                    .chars()
                    .all(|c| c == '𝔘')
            );
        }
    }

    #[test]
    fn an_owned_text_is_cut_alike() {
        assert_eq!(cut_owned("short".into(), 16), "short");
        assert_eq!(cut_owned("x".repeat(100), 16).len(), 16);
    }
}
