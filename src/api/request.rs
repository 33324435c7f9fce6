//! Request parsing shared by every endpoint: bodies and query parameters (opened only with a
//! permit), pagination and preconditions.
use std::future::{Future, Ready, ready};
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::JsonPayloadError;
use actix_web::http::header::IF_MATCH;
use actix_web::web::JsonBody;
use actix_web::{FromRequest, HttpRequest, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::context::AppState;
use crate::api::input;
use crate::authz::Permit;
use crate::error::{ApiError, FieldError};
use crate::sealing::{Keyring, Sealed};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A validated page request: at most `limit` records with ids after `after`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<String>,
}

/// A page's `limit`: `default` when absent, else 1 to `max` (422 naming `limit` otherwise).
pub fn limit_within(limit: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {max}"),
        ))
    }
}

impl PageRequest {
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit_within(limit, DEFAULT_LIMIT, MAX_LIMIT)?;
        // The cursor is the id of the last record of the previous page (ids sort by time).
        let after = cursor
            .map(|cursor| {
                uuid::Uuid::parse_str(cursor)
                    .map(|id| id.to_string())
                    .map_err(|_| Self::invalid_cursor())
            })
            .transpose()?;
        Ok(Self { limit, after })
    }

    /// A page request of a list whose pages look at a bounded number of rows
    /// ([`PageRequest::finish_scan`]): its cursor is a record's id, or where an earlier page
    /// of `list` stopped looking, sealed.
    pub fn parse_scanned(
        limit: Option<i64>,
        cursor: Option<&str>,
        keyring: &Keyring,
        list: &str,
    ) -> Result<Self, ApiError> {
        match cursor {
            Some(cursor) if Sealed::is_sealed_form(cursor) => {
                let after = keyring
                    .open_cursor(list, cursor)
                    .map_err(|_| Self::invalid_cursor())?;
                Ok(Self {
                    after: Some(after),
                    ..Self::parse(limit, None)?
                })
            }
            _ => Self::parse(limit, cursor),
        }
    }

    pub fn invalid_cursor() -> ApiError {
        ApiError::bad_request(
            "invalid_cursor",
            "The cursor is not one this service issued.",
        )
    }

    /// The page of an in-memory list, in its order, that follows the record `after` names.
    pub fn of<T>(
        &self,
        mut all: Vec<T>,
        id: impl Fn(&T) -> &str,
    ) -> Result<(Vec<T>, Option<String>), ApiError> {
        let start = match &self.after {
            None => 0,
            Some(after) => {
                all.iter()
                    .position(|record| id(record) == after)
                    .ok_or_else(Self::invalid_cursor)?
                    + 1
            }
        };
        all.truncate(start + self.fetch() as usize);
        let mut page = all.split_off(start.min(all.len()));
        let next = self.finish(&mut page, id);
        Ok((page, next))
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Trims the extra row and returns the cursor of the next page, if there is one.
    pub fn finish<T>(&self, rows: &mut Vec<T>, id: impl Fn(&T) -> &str) -> Option<String> {
        if rows.len() as i64 <= self.limit {
            return None;
        }
        rows.truncate(self.limit as usize);
        rows.last().map(|last| id(last).to_owned())
    }

    /// The cursor of the next page of a list whose query looked no further than the row
    /// `scanned_to` (`None`: it looked to the end). A full page goes on after its last record;
    /// one that is not full goes on from where the look stopped. That row may be one the
    /// caller cannot see, so its id goes out sealed for `list`.
    pub fn finish_scan<T>(
        &self,
        rows: &mut Vec<T>,
        id: impl Fn(&T) -> &str,
        scanned_to: Option<String>,
        keyring: &Keyring,
        list: &str,
    ) -> Result<Option<String>, ApiError> {
        if let Some(next) = self.finish(rows, id) {
            return Ok(Some(next));
        }
        Ok(scanned_to
            .map(|row| keyring.seal_cursor(list, &row))
            .transpose()?)
    }
}

/// The version named by `If-Match`: 428 without one, 400 when it is not an ETag this
/// service issues (`"<version>"`). Whether it is the current version is for the caller to
/// check (412).
pub fn expected_version(req: &HttpRequest) -> Result<i32, ApiError> {
    let header = req
        .headers()
        .get(IF_MATCH)
        .ok_or(ApiError::PreconditionRequired)?;
    header
        .to_str()
        .ok()
        .map(|text| text.trim().trim_start_matches("W/"))
        .and_then(|text| text.strip_prefix('"')?.strip_suffix('"'))
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<i32>().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_if_match",
                "If-Match must be an ETag this service returned, such as \"3\".",
            )
        })
}

/// A JSON body, read but not yet judged. A handler opens it only with the permit it was
/// given ([`Body::parse`], [`write_body`]), so whatever a body holds (malformed JSON, the
/// wrong media type, too many bytes, wrong fields) a caller without the function is refused
/// with 403 and audited as denied; only a caller with it learns how the body was judged.
/// `web::Json` is disallowed (`clippy.toml`) so that every endpoint reads its body this way.
pub struct Body(Result<Value, ApiError>);

impl FromRequest for Body {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(DEFAULT_BODY_LIMIT, |state| state.config.body_limit);
        let body = JsonBody::<Value>::new(req, payload, None, true).limit(limit);
        Box::pin(async move { Ok(Body(body.await.map_err(body_problem))) })
    }
}

/// A body the service put together itself (a correction request's proposed change), to be
/// judged as if a caller had sent it.
impl From<Value> for Body {
    fn from(value: Value) -> Self {
        Body(Ok(value))
    }
}

const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Gives every request's body until the configured body-read timeout to arrive, counted from
/// the end of its headers: a body that stops arriving fails its read (answered 408
/// `body_timeout`) instead of holding its connection and its handler for ever.
pub async fn limit_body_time(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    if let Some(timeout) = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.config.limits.body_read_timeout())
    {
        let body = DeadlineBody {
            body: actix_web::HttpMessage::take_payload(&mut req),
            deadline: Box::pin(actix_web::rt::time::sleep(timeout)),
            expired: false,
        };
        let body: Pin<Box<dyn futures_util::Stream<Item = _>>> = Box::pin(body);
        req.set_payload(Payload::from(body));
    }
    next.call(req).await
}

/// A body that fails with a timed-out read once its deadline passes.
struct DeadlineBody {
    body: Payload,
    deadline: Pin<Box<actix_web::rt::time::Sleep>>,
    expired: bool,
}

impl futures_util::Stream for DeadlineBody {
    type Item = Result<web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(chunk) = Pin::new(&mut self.body).poll_next(cx) {
            return Poll::Ready(chunk);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired = true;
                Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                    std::io::ErrorKind::TimedOut.into(),
                ))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

pub fn unreadable_body() -> ApiError {
    ApiError::bad_request("unreadable_body", "The body could not be read.")
}

/// The problem of a body whose read failed: 408 when it did not arrive in time.
pub fn unread_body(error: &actix_web::error::PayloadError) -> ApiError {
    match error {
        actix_web::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::BodyTimeout
        }
        actix_web::error::PayloadError::Overflow => ApiError::PayloadTooLarge,
        _ => unreadable_body(),
    }
}

/// Why a body could not be read as JSON. serde_json's syntax messages name a position and
/// what it expected there, never the text it found.
fn body_problem(error: JsonPayloadError) -> ApiError {
    use serde_json::error::Category;
    match error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(error)
            if matches!(error.classify(), Category::Syntax | Category::Eof) =>
        {
            ApiError::bad_request(
                "malformed_json",
                format!("The body is not valid JSON: {error}"),
            )
        }
        JsonPayloadError::Deserialize(_) => {
            ApiError::bad_request("malformed_json", "The body is not valid JSON.")
        }
        JsonPayloadError::Payload(error) => unread_body(&error),
        _ => unreadable_body(),
    }
}

impl Body {
    /// The body as `T`, once the caller holds `_permit`: 400, 413 or 415 when it was not
    /// JSON, 422 for a body that is not an object, unknown fields, wrong types and failed
    /// checks, each naming the field and none repeating its value ([`input`]).
    pub fn parse<T: DeserializeOwned + Validate + ToSchema>(
        self,
        _permit: &Permit,
    ) -> Result<T, ApiError> {
        read_body(self.0?)
    }

    /// [`Body::parse`] for the few endpoints that come before any permit, whose callers have
    /// no function to lack: logging in, refreshing a session, confirming one's own second
    /// factor.
    pub fn parse_before_any_permit<T: DeserializeOwned + Validate + ToSchema>(
        self,
    ) -> Result<T, ApiError> {
        read_body(self.0?)
    }
}

/// Turns a JSON body into a write request: 403 `field_not_writable` for fields the caller
/// may not write (before anything else is looked at), then as [`Body::parse`].
pub fn write_body<T: DeserializeOwned + Validate + ToSchema>(
    permit: &Permit,
    body: impl Into<Body>,
) -> Result<T, ApiError> {
    let body = body.into().0?;
    if let Value::Object(fields) = &body {
        permit.check_writable(fields.keys())?;
    }
    read_body(body)
}

fn read_body<T: DeserializeOwned + Validate + ToSchema>(body: Value) -> Result<T, ApiError> {
    // serde would read a JSON array as a struct's fields in order; bodies are objects only.
    if !body.is_object() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    if let Some(field) = field_with_nul(&body, "") {
        return Err(ApiError::invalid(field, "must not contain NUL characters"));
    }
    let Value::Object(fields) = body else {
        unreachable!("an object, checked above")
    };
    let (parsed, mut errors) = input::from_json_fields::<T>(fields, &required_fields::<T>());
    if let Some(parsed) = parsed {
        match (parsed.validate(), errors.is_empty()) {
            (Ok(()), true) => return Ok(parsed),
            (Ok(()), false) => {}
            (Err(failed), _) => match ApiError::from(failed) {
                ApiError::Validation(failed) => errors.extend(failed),
                other => return Err(other),
            },
        }
    }
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    Err(ApiError::Validation(errors))
}

/// The fields `T`'s schema says a body must hold.
fn required_fields<T: ToSchema>() -> Vec<String> {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object.required,
        _ => Vec::new(),
    }
}

/// The path of the first string in `value` holding a NUL character, which no field may hold
/// (PostgreSQL cannot store one, and no legitimate input has one).
fn field_with_nul(value: &Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => Some(if path.is_empty() {
            "body".into()
        } else {
            path.to_owned()
        }),
        Value::Object(fields) => fields.iter().find_map(|(key, value)| {
            if key.contains('\0') {
                Some(join("<key>"))
            } else {
                field_with_nul(value, &join(key))
            }
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| field_with_nul(item, &join(&i.to_string()))),
        _ => None,
    }
}

/// A name to search or filter by: 422 naming `field` when it has nothing a name is matched on
/// (no letter or digit once look-alikes, accents and punctuation are set aside). The message
/// does not quote the value.
pub fn name_query(field: &str, name: Option<String>) -> Result<Option<String>, ApiError> {
    match name {
        Some(name) if crate::domain::names::match_key(&name).is_empty() => {
            Err(ApiError::invalid(field, "must contain a letter or digit"))
        }
        name => Ok(name),
    }
}

/// The query string's parameters, read but not yet judged: opened only with the permit the
/// handler was given ([`Params::parse`]), so a caller without the function is refused with
/// 403 whatever its parameters, and a missing or malformed one is 422 only for a caller who
/// may use the endpoint. `web::Query` is disallowed (`clippy.toml`) so that every endpoint
/// reads its parameters this way.
pub struct Params<T> {
    query: String,
    of: PhantomData<fn() -> T>,
}

impl<T> FromRequest for Params<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Params {
            query: req.query_string().to_owned(),
            of: PhantomData,
        }))
    }
}

impl<T: DeserializeOwned> Params<T> {
    /// The parameters, once the caller holds `_permit`: 422 naming the first parameter that
    /// is unknown, missing, malformed or holds a NUL character, never repeating its value.
    pub fn parse(self, _permit: &Permit) -> Result<T, ApiError> {
        input::from_query(&self.query)
    }
}

/// For PATCH fields that may be cleared: absent → `None` (unchanged), `null` →
/// `Some(None)` (cleared), a value → `Some(Some(value))`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

pub fn utc(timestamp: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    timestamp.and_utc()
}

/// An id named in a body or query field: anything but a UUID is 422 naming the field.
pub fn field_id(field: &str, text: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(text)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::invalid(field, "must be a UUID"))
}

/// An optional [`field_id`].
pub fn optional_field_id(field: &str, text: Option<&str>) -> Result<Option<String>, ApiError> {
    text.map(|text| field_id(field, text)).transpose()
}

/// The checks of a request that span fields, gathered so that one 422 names every field that
/// fails.
#[derive(Debug, Default)]
pub struct FieldChecks(Vec<FieldError>);

impl FieldChecks {
    /// Records `message` against `field` unless `ok`.
    pub fn require(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.0.push(FieldError {
                field: field.into(),
                message: message.into(),
            });
        }
    }

    /// Ok when every check passed, else 422 naming each failed field.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// The ids in `ids` that are UUIDs, with their index; each one that is not is a failed check.
pub fn uuids_of(checks: &mut FieldChecks, field: &str, ids: &[String]) -> Vec<(usize, String)> {
    let mut parsed = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        match uuid::Uuid::parse_str(id) {
            Ok(id) => parsed.push((index, id.to_string())),
            Err(_) => checks.require(false, format!("{field}[{index}]"), "must be a UUID"),
        }
    }
    parsed
}

/// A JSON column this service wrote, read back.
pub fn parse_json<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(ApiError::internal)
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Parses a path id; anything that is not a UUID names no record (404).
pub fn path_id(text: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(text)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::NotFound)
}

/// The query of a list of records that fall due (complaints, access and correction requests):
/// by status, by client, or only those open past their due date; a page at a time.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DueListParams<S: utoipa::ToSchema> {
    pub status: Option<S>,
    #[param(format = Uuid)]
    pub client_id: Option<String>,
    /// `true`: only open records past their due date.
    pub overdue: Option<bool>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// The query of a list that takes nothing but a page: `limit` and `cursor`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}
