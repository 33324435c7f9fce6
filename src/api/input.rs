//! Request input read without repeating it. serde's own messages quote the value they refuse
//! (``invalid type: integer `123456782`, expected a string``), and a problem's message goes
//! back to the caller, into the server log and past anyone who reads either: a tax file
//! number, a Medicare number or a password sent as a JSON number would reach all of them.
//!
//! So bodies ([`from_json`]) and query strings ([`from_query`]) are read through
//! deserializers whose error type, [`InputError`], builds its message only from what the code
//! expected (a type, the variants of an enum) and names the field by its path: never from
//! what the request held. The service's own checks (`TryFrom` of the domain types, validator
//! messages) name no values either; a test plants values in every kind of bad input and
//! searches the responses and the log for them (`tests/api/security/log_values.rs`).
use std::fmt;

use serde::de::value::{
    MapAccessDeserializer, MapDeserializer, SeqDeserializer, StringDeserializer,
};
use serde::de::{
    self, DeserializeOwned, Deserializer, Expected, IntoDeserializer, Unexpected, Visitor,
};
use serde_json::Value;

use crate::error::{ApiError, FieldError};

/// The message of a missing field.
const MISSING: &str = "is required";

/// A refused input: a message about the field, and the field when the path does not name it
/// (a missing field is missing from its parent).
#[derive(Debug)]
pub struct InputError {
    message: String,
    field: Option<&'static str>,
}

impl InputError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: None,
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

impl de::Error for InputError {
    /// The messages of the service's own parsers (the domain types' `TryFrom`) and of
    /// chrono's, which name no input.
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self::new(message.to_string())
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::new(format!(
            "must be {}, not {}",
            plain(expected),
            kind(&unexpected)
        ))
    }

    fn invalid_value(_: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::new(format!("must be {}", plain(expected)))
    }

    fn invalid_length(_: usize, expected: &dyn Expected) -> Self {
        Self::new(format!("must be {}", plain(expected)))
    }

    fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
        let names: Vec<String> = expected.iter().map(|name| format!("`{name}`")).collect();
        Self::new(format!("must be one of {}", names.join(", ")))
    }

    fn unknown_field(_: &str, _: &'static [&'static str]) -> Self {
        Self::new("is not accepted here")
    }

    fn missing_field(field: &'static str) -> Self {
        Self {
            message: MISSING.into(),
            field: Some(field),
        }
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self {
            message: "is given more than once".into(),
            field: Some(field),
        }
    }
}

/// What a value was, never what it held.
fn kind(unexpected: &Unexpected<'_>) -> &'static str {
    match unexpected {
        Unexpected::Bool(_) => "a boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "a number",
        Unexpected::Float(_) => "a decimal number",
        Unexpected::Char(_) | Unexpected::Str(_) => "a string",
        Unexpected::Bytes(_) => "bytes",
        Unexpected::Unit => "null",
        Unexpected::Seq => "a list",
        Unexpected::Map => "an object",
        _ => "of another kind",
    }
}

/// What the code expected, in the words of a JSON API (serde's are Rust's: `i64`, `a map`).
fn plain(expected: &dyn Expected) -> String {
    let text = expected.to_string();
    match text.as_str() {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "a list".into(),
        "a map" => "an object".into(),
        _ if text.starts_with("struct ") => "an object".into(),
        _ => text,
    }
}

/// A JSON body as `T`: 422 naming the first offending field.
pub fn from_json<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    read(Json(value), "body").map_err(|error| ApiError::Validation(vec![error]))
}

/// The most fields one problem names: each costs the body another reading.
const MOST_FIELD_ERRORS: usize = 32;

/// A JSON object as `T`, with every field found wrong on the way. serde stops at the first
/// field it refuses (a wrong type, an unknown field), so that field is set aside and the rest
/// read again, until the rest reads or a field it needs is missing. serde names only the
/// first missing field: then every field `required` (the schema's) names and the body lacks
/// is named too. Answers what was wrong, and `T` as read without the fields set aside when it
/// could be read (to be checked by its rules too).
pub fn from_json_fields<T: DeserializeOwned>(
    mut fields: serde_json::Map<String, Value>,
    required: &[String],
) -> (Option<T>, Vec<FieldError>) {
    let mut errors: Vec<FieldError> = Vec::new();
    // The fields set aside: found wrong, not missing.
    let mut set_aside: Vec<String> = Vec::new();
    while errors.len() < MOST_FIELD_ERRORS {
        let error = match read(Json(Value::Object(fields.clone())), "body") {
            Ok(parsed) => return (Some(parsed), errors),
            Err(error) => error,
        };
        let top = error
            .field
            .split(['.', '['])
            .next()
            .unwrap_or_default()
            .to_owned();
        // Not a field of the body: the body as a whole is wrong, or a field is missing (serde
        // names the first; the schema names the others). Either way, nothing is left to find.
        if fields.remove(&top).is_none() {
            if error.message != MISSING {
                errors.push(error);
                break;
            }
            let missing = std::iter::once(&top)
                .chain(required)
                .filter(|name| !fields.contains_key(*name) && !set_aside.contains(name));
            for name in missing {
                if !errors.iter().any(|known| &known.field == name) {
                    errors.push(FieldError {
                        field: name.clone(),
                        message: MISSING.into(),
                    });
                }
            }
            break;
        }
        errors.push(error);
        set_aside.push(top);
    }
    (None, errors)
}

/// A query string as `T`: 422 naming the first offending parameter, or one holding a NUL
/// character (which no stored text may hold).
pub fn from_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|_| ApiError::invalid("query", "is not a valid query string"))?;
    if let Some((name, _)) = pairs
        .iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
    {
        let field = if name.contains('\0') { "query" } else { name };
        return Err(ApiError::invalid(field, "must not contain NUL characters"));
    }
    let parameters = pairs.into_iter().map(|(name, value)| (name, Text(value)));
    read(MapDeserializer::<_, InputError>::new(parameters), "query")
        .map_err(|error| ApiError::Validation(vec![error]))
}

fn read<'de, T, D>(deserializer: D, whole: &str) -> Result<T, FieldError>
where
    T: DeserializeOwned,
    D: Deserializer<'de, Error = InputError>,
{
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let error = error.into_inner();
        let mut field = if path == "." { String::new() } else { path };
        if let Some(named) = error.field
            && !field.ends_with(named)
        {
            field = if field.is_empty() {
                named.to_owned()
            } else {
                format!("{field}.{named}")
            };
        }
        if field.is_empty() {
            field = whole.to_owned();
        }
        FieldError {
            field,
            message: error.message,
        }
    })
}

/// A JSON value, read strictly as JSON: a string is never a number.
struct Json(Value);

impl<'de> IntoDeserializer<'de, InputError> for Json {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

fn object<'de>(
    fields: serde_json::Map<String, Value>,
) -> MapDeserializer<'de, impl Iterator<Item = (String, Json)>, InputError> {
    MapDeserializer::new(fields.into_iter().map(|(name, value)| (name, Json(value))))
}

impl<'de> Deserializer<'de> for Json {
    type Error = InputError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(value) => visitor.visit_bool(value),
            Value::Number(number) => {
                if let Some(value) = number.as_u64() {
                    visitor.visit_u64(value)
                } else if let Some(value) = number.as_i64() {
                    visitor.visit_i64(value)
                } else {
                    visitor.visit_f64(number.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(text) => visitor.visit_string(text),
            Value::Array(items) => {
                let mut items = SeqDeserializer::new(items.into_iter().map(Json));
                let value = visitor.visit_seq(&mut items)?;
                items.end()?;
                Ok(value)
            }
            Value::Object(fields) => {
                let mut fields = object(fields);
                let value = visitor.visit_map(&mut fields)?;
                fields.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, InputError> {
        match self.0 {
            Value::String(text) => {
                StringDeserializer::new(text).deserialize_enum(name, variants, visitor)
            }
            Value::Object(fields) => {
                MapAccessDeserializer::new(object(fields)).deserialize_enum(name, variants, visitor)
            }
            other => Json(other).deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// One query parameter's text, read as the type the field asks for (`limit=20` is a number).
struct Text(String);

impl<'de> IntoDeserializer<'de, InputError> for Text {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parse_as {
    ($($method:ident => $visit:ident: $type:ty),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
                match self.0.parse::<$type>() {
                    Ok(value) => visitor.$visit(value),
                    Err(_) => Err(de::Error::invalid_value(Unexpected::Other("text"), &visitor)),
                }
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Text {
    type Error = InputError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_string(self.0)
    }

    parse_as! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, InputError> {
        StringDeserializer::new(self.0).deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map
        struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::domain::{Date, MedicareNumber, TaxFileNumber};

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Person {
        name: String,
        phone: Option<String>,
        tax_file_number: Option<TaxFileNumber>,
        medicare_number: Option<MedicareNumber>,
        born: Option<Date>,
        count: Option<u32>,
        tags: Option<Vec<String>>,
        colour: Option<Colour>,
        address: Option<Address>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Colour {
        Red,
        Green,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Address {
        postcode: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Search {
        family_name: Option<String>,
        limit: Option<i64>,
        overdue: Option<bool>,
        colour: Option<Colour>,
        from: Option<Date>,
    }

    const PLANTED: &str = "876543210";

    fn refused(result: Result<impl fmt::Debug, ApiError>) -> FieldError {
        match result {
            Err(ApiError::Validation(mut errors)) => errors.remove(0),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    fn json_error(body: Value) -> FieldError {
        let error = refused(from_json::<Person>(body));
        assert!(!error.message.contains(PLANTED), "{error:?}");
        error
    }

    #[test]
    fn a_wrong_type_names_the_field_and_what_was_expected_not_the_value() {
        let error = json_error(json!({"name": "A", "phone": 876543210}));
        assert_eq!(error.field, "phone");
        assert_eq!(error.message, "must be a string, not a number");
        let error = json_error(json!({"name": "A", "tax_file_number": 876543210}));
        assert_eq!(error.field, "tax_file_number");
        let error = json_error(json!({"name": "A", "count": -876543210}));
        assert_eq!(error.message, "must be a whole number");
        let error = json_error(json!({"name": "A", "count": 876543210.5}));
        assert_eq!(
            error.message,
            "must be a whole number, not a decimal number"
        );
        let error = json_error(json!({"name": "A", "born": 876543210}));
        assert_eq!(error.field, "born");
    }

    #[test]
    fn nested_and_listed_values_are_named_by_path() {
        let error = json_error(json!({"name": "A", "tags": ["x", 876543210]}));
        assert_eq!(error.field, "tags[1]");
        let error = json_error(json!({"name": "A", "address": {"postcode": 876543210}}));
        assert_eq!(error.field, "address.postcode");
    }

    #[test]
    fn unknown_variants_list_the_known_ones_only() {
        let error = json_error(json!({"name": "A", "colour": PLANTED}));
        assert_eq!(error.field, "colour");
        assert_eq!(error.message, "must be one of `red`, `green`");
    }

    #[test]
    fn failed_domain_checks_keep_their_message() {
        let error = json_error(json!({"name": "A", "medicare_number": PLANTED}));
        assert_eq!(error.message, "is not a valid Medicare number");
        let error = json_error(json!({"name": "A", "born": "8765-43-21"}));
        assert_eq!(error.field, "born");
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let error = json_error(json!({"phone": "0400000000"}));
        assert_eq!(
            (error.field.as_str(), error.message.as_str()),
            ("name", "is required")
        );
        let error = json_error(json!({"name": "A", "nickname": PLANTED}));
        assert_eq!(error.field, "nickname");
        assert_eq!(error.message, "is not accepted here");
    }

    #[test]
    fn valid_json_reads_as_serde_json_would() {
        let person: Person = from_json(json!({
            "name": "A", "phone": null, "count": 3, "tags": ["x"], "colour": "green",
            "born": "1984-03-09", "address": {"postcode": "2600"},
        }))
        .unwrap();
        assert_eq!(person.count, Some(3));
        assert!(person.phone.is_none());
        assert!(matches!(person.colour, Some(Colour::Green)));
    }

    fn fields_refused(body: Value, required: &[&str]) -> Vec<String> {
        let Value::Object(fields) = body else {
            panic!("an object")
        };
        let required: Vec<String> = required.iter().map(|name| name.to_string()).collect();
        let (_, errors) = from_json_fields::<Person>(fields, &required);
        errors.into_iter().map(|error| error.field).collect()
    }

    #[test]
    fn every_refused_field_is_named_not_only_the_first() {
        let refused = fields_refused(
            json!({"name": "A", "phone": 1, "count": "x", "nickname": "B", "tags": [1]}),
            &["name"],
        );
        assert_eq!(refused, ["count", "nickname", "phone", "tags[0]"]);
    }

    #[test]
    fn every_missing_required_field_is_named_with_the_refused_ones() {
        let refused = fields_refused(json!({"phone": 1}), &["name", "born"]);
        assert_eq!(refused, ["phone", "name", "born"]);
    }

    #[test]
    fn a_required_field_set_aside_is_not_also_named_missing() {
        let refused = fields_refused(json!({"name": 1}), &["name"]);
        assert_eq!(refused, ["name"]);
    }

    #[test]
    fn what_reads_without_the_refused_fields_is_given_back_to_be_checked() {
        let Value::Object(fields) = json!({"name": "A", "phone": 1, "count": 3}) else {
            unreachable!()
        };
        let (parsed, errors) = from_json_fields::<Person>(fields, &[]);
        assert_eq!(errors.len(), 1);
        let parsed = parsed.expect("read without `phone`");
        assert_eq!((parsed.name.as_str(), parsed.count), ("A", Some(3)));
    }

    #[test]
    fn a_body_of_many_unknown_fields_costs_a_bounded_number_of_readings() {
        let mut body = serde_json::Map::new();
        body.insert("name".into(), json!("A"));
        for index in 0..1000 {
            body.insert(format!("unknown{index:04}"), json!(1));
        }
        let (parsed, errors) = from_json_fields::<Person>(body, &[]);
        assert!(parsed.is_none());
        assert_eq!(errors.len(), MOST_FIELD_ERRORS);
    }

    fn query_error(query: &str) -> FieldError {
        let error = refused(from_query::<Search>(query));
        assert!(!error.message.contains(PLANTED), "{error:?}");
        error
    }

    #[test]
    fn query_parameters_are_read_as_their_types() {
        let search: Search =
            from_query("family_name=O%27Brien&limit=20&overdue=true&colour=red&from=2026-01-02")
                .unwrap();
        assert_eq!(search.family_name.as_deref(), Some("O'Brien"));
        assert_eq!((search.limit, search.overdue), (Some(20), Some(true)));
        assert!(from_query::<Search>("").unwrap().limit.is_none());
    }

    #[test]
    fn bad_query_parameters_are_named_without_their_values() {
        assert_eq!(query_error("limit=876543210x").field, "limit");
        assert_eq!(
            query_error("overdue=876543210").message,
            "must be a boolean"
        );
        assert_eq!(query_error("colour=876543210").field, "colour");
        assert_eq!(query_error("from=876543210").field, "from");
        assert_eq!(
            query_error("tax_file_number=876543210").field,
            "tax_file_number"
        );
        assert_eq!(query_error("limit=1&limit=2").field, "limit");
        assert_eq!(
            query_error("family_name=a%00b").message,
            "must not contain NUL characters"
        );
    }
}
