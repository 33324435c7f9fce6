//! The field mask: the one function every field passes through on its way out.
use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Keeps only the `readable` keys of a serialised record. Anything not an object is a
/// programming error and discloses nothing.
pub fn apply(readable: &BTreeSet<&'static str>, record: Value) -> Map<String, Value> {
    match record {
        Value::Object(mut fields) => {
            fields.retain(|name, _| readable.contains(name.as_str()));
            fields
        }
        other => {
            tracing::error!(kind = ?std::mem::discriminant(&other), "tried to disclose a non-object");
            Map::new()
        }
    }
}
