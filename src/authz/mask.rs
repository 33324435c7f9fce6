//! The field mask: the one function every field passes through on its way out.
use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// The key under which a record carries statements about its fields, keyed by field (a
/// client's statement kept after a refused correction): each goes wherever its field goes.
pub const STATEMENTS: &str = "statements";

/// Keeps only the `readable` keys of a serialised record, and the statements about them.
/// Anything not an object is a programming error and discloses nothing.
pub fn apply(readable: &BTreeSet<&'static str>, record: Value) -> Map<String, Value> {
    match record {
        Value::Object(mut fields) => {
            fields.retain(|name, value| match (name.as_str(), value) {
                (STATEMENTS, Value::Object(statements)) => {
                    statements.retain(|field, _| readable.contains(field.as_str()));
                    !statements.is_empty()
                }
                (name, _) => readable.contains(name),
            });
            fields
        }
        other => {
            tracing::error!(kind = ?std::mem::discriminant(&other), "tried to disclose a non-object");
            Map::new()
        }
    }
}
