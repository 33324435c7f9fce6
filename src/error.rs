//! The one error type. Every failure leaves as RFC 9457 `application/problem+json` with a
//! stable snake_case `code`; a 500 says nothing about its cause and is logged instead, inside
//! the request's span (which carries the request id).
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// One offending field of a 422.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    Unauthenticated { code: &'static str, detail: String },
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("the caller may not write these fields: {0:?}")]
    FieldNotWritable(Vec<String>),
    #[error("not found")]
    NotFound,
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// What the request names is no longer kept (a change-feed cursor older than the feed).
    #[error("{detail}")]
    Gone { code: &'static str, detail: String },
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// A well-formed request that cannot be carried out as sent (422 with a code of its own).
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("If-Match is required")]
    PreconditionRequired,
    #[error("the record has changed since it was read")]
    PreconditionFailed,
    #[error("this resource does not accept the method; see the Allow header")]
    MethodNotAllowed(Vec<String>),
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("The request body did not arrive within the time allowed.")]
    BodyTimeout,
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    #[error(
        "Too many failed logins for this username: it is locked for {retry_after_seconds} more seconds."
    )]
    LoginLocked { retry_after_seconds: i64 },
    /// Too many requests without valid credentials from one address (see `audit::limit`).
    #[error(
        "Too many requests without valid credentials from this address: try again in {retry_after_seconds} seconds."
    )]
    RateLimited { retry_after_seconds: u64 },
    #[error("{detail}")]
    Unavailable { code: &'static str, detail: String },
    /// A new client file needs the collection notice given to the client: the problem carries
    /// the current notice, for the frontend to prompt with.
    #[error("{detail}")]
    CollectionNoticeRequired {
        detail: String,
        notice: Option<CurrentNotice>,
    },
    /// A new client file looks like one within the caller's reach: same date of birth and
    /// close names. A restricted client's file is named only to a caller who stated a
    /// purpose of use; otherwise it is withheld, and `confirm_new` cannot override it.
    #[error("{}", duplicate_detail(*.restricted_withheld))]
    PossibleDuplicate {
        candidates: Vec<String>,
        restricted_withheld: bool,
        /// The purpose of use under which the candidates were named, for the audit row.
        purpose: Option<String>,
    },
    /// The caller has not accepted the version in force of a policy document that applies to
    /// them: the problem names the documents to read and accept.
    #[error(
        "Read and accept the policy documents named in `documents` (GET /api/v1/policy-documents/{{id}}, then POST /api/v1/policy-documents/{{id}}/acceptance) before anything else."
    )]
    TermsAcceptanceRequired { documents: Vec<DocumentToAccept> },
    #[error(transparent)]
    Internal(anyhow::Error),
}

fn duplicate_detail(restricted_withheld: bool) -> &'static str {
    if restricted_withheld {
        "The client may already have a restricted file, which is shown only with a purpose of \
         use: repeat the request with X-Purpose-Of-Use to see the candidates. `confirm_new` \
         does not override a candidate you have not been shown."
    } else {
        "The client may already have a file: check the candidates, or send `confirm_new: true` \
         to create a new one."
    }
}

/// The collection notice in effect, as a `collection_notice_required` problem carries it.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct CurrentNotice {
    pub version: String,
    pub text: String,
}

/// A policy document version the caller must accept, as `terms_acceptance_required` and
/// `/me` name it.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct DocumentToAccept {
    #[schema(format = Uuid)]
    pub id: String,
    pub kind: crate::domain::PolicyDocumentKind,
    pub version: String,
    pub title: String,
}

/// RFC 9457 problem details, as every error response carries them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:casebridge:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, snake_case, for programs to branch on.
    pub code: String,
    /// For 422: every offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For `field_not_writable`: the fields the caller may not write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// For `collection_notice_required`: the notice to give the client (absent when none has
    /// been issued).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection_notice: Option<CurrentNotice>,
    /// For `terms_acceptance_required`: the policy documents to read and accept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents: Option<Vec<DocumentToAccept>>,
    /// For `possible_duplicate`: the ids of the clients the new file may duplicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<String>>,
    /// For `possible_duplicate`: `true` when a restricted client's file also matches and is
    /// not named because no purpose of use was stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restricted_candidate_withheld: Option<bool>,
}

impl ApiError {
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code: "forbidden",
            detail: detail.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    /// A retry of a change whose key another attempt holds, or whose response was not kept
    /// (see `api::idempotency`).
    pub fn idempotency_key_in_use() -> Self {
        ApiError::conflict(
            "idempotency_key_in_use",
            "A request with this Idempotency-Key is being carried out, or was carried out and \
             its response could not be kept. Do not send the change under a new key before \
             reading whether it was made.",
        )
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// A failure of the service's own, 500; or 503 when its cause is the database's trouble
    /// ([`DatabaseTrouble`]) or a connection that could not be had.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::from(error.into())
    }

    /// The fields a problem names: those of a 422 and of `field_not_writable`. Names only,
    /// for the log line of a failed request.
    pub fn field_names(&self) -> Vec<&str> {
        match self {
            ApiError::Validation(errors) => errors.iter().map(|e| e.field.as_str()).collect(),
            ApiError::FieldNotWritable(fields) => fields.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// The clients a problem names (and so discloses).
    pub fn named_clients(&self) -> &[String] {
        match self {
            ApiError::PossibleDuplicate { candidates, .. } => candidates,
            _ => &[],
        }
    }

    /// The purpose of use stated for what the problem names, if one was.
    pub fn stated_purpose(&self) -> Option<&str> {
        match self {
            ApiError::PossibleDuplicate { purpose, .. } => purpose.as_deref(),
            _ => None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Gone { code, .. }
            | ApiError::BadRequest { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::FieldNotWritable(_) => "field_not_writable",
            ApiError::NotFound => "not_found",
            ApiError::Validation(_) => "validation_failed",
            ApiError::PreconditionRequired => "if_match_required",
            ApiError::PreconditionFailed => "version_mismatch",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::BodyTimeout => "body_timeout",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::LoginLocked { .. } => "login_locked",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::CollectionNoticeRequired { .. } => "collection_notice_required",
            ApiError::PossibleDuplicate { .. } => "possible_duplicate",
            ApiError::TermsAcceptanceRequired { .. } => "terms_acceptance_required",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let detail = match self {
            ApiError::Internal(_) => {
                "The service could not complete the request. Quote the X-Request-Id header when reporting it."
                    .to_owned()
            }
            other => other.to_string(),
        };
        Problem {
            problem_type: format!("urn:casebridge:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: self.code().to_owned(),
            errors: match self {
                ApiError::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            fields: match self {
                ApiError::FieldNotWritable(fields) => Some(fields.clone()),
                _ => None,
            },
            collection_notice: match self {
                ApiError::CollectionNoticeRequired { notice, .. } => notice.clone(),
                _ => None,
            },
            documents: match self {
                ApiError::TermsAcceptanceRequired { documents } => Some(documents.clone()),
                _ => None,
            },
            candidates: match self {
                ApiError::PossibleDuplicate { candidates, .. } => Some(candidates.clone()),
                _ => None,
            },
            restricted_candidate_withheld: match self {
                ApiError::PossibleDuplicate {
                    restricted_withheld: true,
                    ..
                } => Some(true),
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. }
            | ApiError::FieldNotWritable(_)
            | ApiError::TermsAcceptanceRequired { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::PossibleDuplicate { .. } => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation(_)
            | ApiError::Unprocessable { .. }
            | ApiError::CollectionNoticeRequired { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::LoginLocked { .. } | ApiError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(error) = self {
            // Inside the tracing-actix-web root span, so the line carries the request id.
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        match self {
            ApiError::Unauthenticated { .. } => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::MethodNotAllowed(allowed) => {
                response.insert_header(("Allow", allowed.join(", ")));
            }
            _ => {}
        }
        if let Some(seconds) = self.retry_after_seconds() {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        response.json(self.problem())
    }
}

impl ApiError {
    /// When the caller may try again, for the answers that say (`Retry-After`).
    fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            ApiError::LoginLocked {
                retry_after_seconds,
            } => Some(u64::try_from(*retry_after_seconds).unwrap_or(1)),
            ApiError::RateLimited {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            ApiError::Unavailable { .. } => Some(UNAVAILABLE_RETRY_AFTER_SECONDS),
            _ => None,
        }
    }
}

/// The seconds a 503 asks a caller to wait before trying again: long enough for a lock to be
/// released or the database's circuit breaker to probe it again, short enough for a person.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 2;

impl ApiError {
    /// 503 `database_busy`: another session held what a request needed for longer than the
    /// service waits. Nothing was changed, so the caller may simply try again.
    pub fn database_busy() -> Self {
        ApiError::Unavailable {
            code: "database_busy",
            detail: "The database is busy; nothing was changed. Try again after Retry-After."
                .into(),
        }
    }

    /// 503 `database_unavailable`: the database cannot be reached, or cannot store anything
    /// now.
    pub fn database_unavailable() -> Self {
        ApiError::Unavailable {
            code: "database_unavailable",
            detail: "The database cannot be reached.".into(),
        }
    }
}

/// What a database error says of the database, as opposed to of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseTrouble {
    /// Another session holds a lock, or the two deadlocked: waiting and trying again helps.
    Contention,
    /// The connection is gone, the server cancelled a statement that ran too long, or the
    /// database cannot store anything (read-only, full, failing disk).
    Unavailable,
}

impl DatabaseTrouble {
    /// The trouble `error` reports, if it is one of the database's rather than the request's.
    /// PostgreSQL reports a deadlock, a lock timeout and a statement timeout, and SQLite every
    /// failure, only in the message (diesel gives them no kind of their own).
    pub fn of(error: &diesel::result::Error) -> Option<Self> {
        use diesel::result::{DatabaseErrorKind, Error};
        let Error::DatabaseError(kind, information) = error else {
            return None;
        };
        match kind {
            DatabaseErrorKind::SerializationFailure => return Some(Self::Contention),
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::ReadOnlyTransaction => return Some(Self::Unavailable),
            _ => {}
        }
        const CONTENTION: [&str; 4] = [
            "deadlock detected",
            "canceling statement due to lock timeout",
            "database is locked",
            "database table is locked",
        ];
        const UNAVAILABLE: [&str; 9] = [
            "canceling statement due to statement timeout",
            "terminating connection",
            "server closed the connection",
            "could not receive data from server",
            "no connection to the server",
            "attempt to write a readonly database",
            "database or disk is full",
            "disk I/O error",
            "unable to open database file",
        ];
        let message = information.message();
        if CONTENTION.iter().any(|known| message.starts_with(known)) {
            Some(Self::Contention)
        } else if UNAVAILABLE.iter().any(|known| message.starts_with(known)) {
            Some(Self::Unavailable)
        } else {
            None
        }
    }
}

impl DatabaseTrouble {
    /// The 503 it answers, logged by its message only: a PostgreSQL error's detail can quote
    /// a row's values.
    fn answer(self, error: &diesel::result::Error) -> ApiError {
        if let diesel::result::Error::DatabaseError(_, information) = error {
            tracing::warn!(trouble = ?self, error = information.message(), "database trouble");
        }
        match self {
            DatabaseTrouble::Contention => ApiError::database_busy(),
            DatabaseTrouble::Unavailable => ApiError::database_unavailable(),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        if let Some(trouble) = DatabaseTrouble::of(&error) {
            return trouble.answer(&error);
        }
        match error {
            // A concurrent writer got there first; the checks before the write catch the rest.
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => ApiError::Conflict {
                code: "already_exists",
                detail: "A record with the same unique value already exists.".into(),
            },
            other => ApiError::Internal(other.into()),
        }
    }
}

/// Most of the service's database code reports through `anyhow`: a cause that is the
/// database's trouble, or a pool without a connection to give, still answers 503.
impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        for cause in error.chain() {
            if let Some(database) = cause.downcast_ref::<diesel::result::Error>()
                && let Some(trouble) = DatabaseTrouble::of(database)
            {
                return trouble.answer(database);
            }
            if cause.is::<diesel::r2d2::PoolError>() {
                tracing::error!(error = %cause, "no database connection");
                return ApiError::database_unavailable();
            }
        }
        ApiError::Internal(error)
    }
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut fields = Vec::new();
        collect_field_errors(&errors, "", &mut fields);
        fields.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::Validation(fields)
    }
}

/// Flattens validator's tree into `address.state`-style names.
fn collect_field_errors(
    errors: &validator::ValidationErrors,
    prefix: &str,
    out: &mut Vec<FieldError>,
) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let name = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(errors) => out.extend(errors.iter().map(|error| {
                FieldError {
                    field: name.clone(),
                    message: error
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| format!("failed the `{}` check", error.code)),
                }
            })),
            ValidationErrorsKind::Struct(nested) => collect_field_errors(nested, &name, out),
            ValidationErrorsKind::List(items) => {
                for (index, nested) in items {
                    collect_field_errors(nested, &format!("{name}.{index}"), out);
                }
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn locks_and_deadlocks_are_contention() {
        for message in [
            "deadlock detected",
            "canceling statement due to lock timeout",
            "database is locked",
        ] {
            let error = database_error(DatabaseErrorKind::Unknown, message);
            assert_eq!(
                DatabaseTrouble::of(&error),
                Some(DatabaseTrouble::Contention),
                "{message}"
            );
        }
        let serialization = database_error(DatabaseErrorKind::SerializationFailure, "x");
        assert_eq!(
            DatabaseTrouble::of(&serialization),
            Some(DatabaseTrouble::Contention)
        );
    }

    #[test]
    fn lost_connections_timeouts_and_full_disks_are_unavailability() {
        for (kind, message) in [
            (DatabaseErrorKind::ClosedConnection, "x"),
            (DatabaseErrorKind::UnableToSendCommand, "x"),
            (
                DatabaseErrorKind::Unknown,
                "canceling statement due to statement timeout",
            ),
            (DatabaseErrorKind::Unknown, "database or disk is full"),
            (
                DatabaseErrorKind::Unknown,
                "attempt to write a readonly database",
            ),
        ] {
            assert_eq!(
                DatabaseTrouble::of(&database_error(kind, message)),
                Some(DatabaseTrouble::Unavailable),
                "{message}"
            );
        }
    }

    #[test]
    fn a_request_s_own_error_is_no_trouble_of_the_database() {
        let unique = database_error(DatabaseErrorKind::UniqueViolation, "duplicate key");
        assert_eq!(DatabaseTrouble::of(&unique), None);
        assert_eq!(DatabaseTrouble::of(&Error::NotFound), None);
        assert!(matches!(
            ApiError::from(unique),
            ApiError::Conflict {
                code: "already_exists",
                ..
            }
        ));
    }

    #[test]
    fn database_trouble_reported_through_anyhow_answers_503() {
        let busy = anyhow::Error::from(database_error(
            DatabaseErrorKind::Unknown,
            "database is locked",
        ))
        .context("storing the note");
        assert_eq!(ApiError::from(busy).code(), "database_busy");
        let other = anyhow::anyhow!("a bug");
        assert_eq!(ApiError::from(other).code(), "internal_error");
    }

    #[test]
    fn a_503_tells_the_caller_when_to_try_again() {
        let response = ApiError::database_unavailable().error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get("Retry-After").unwrap(),
            &UNAVAILABLE_RETRY_AFTER_SECONDS.to_string()
        );
    }
}
