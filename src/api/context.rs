//! The request pipeline's front half. [`Ctx`] authenticates (token → live session → active
//! user, read afresh on every request) and hands out [`Permit`]s; a handler cannot reach the
//! database's protected rows without one.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use tracing_actix_web::RequestId;

use crate::api::disclosure::Disclosed;
use crate::api::history::History;
use crate::audit;
use crate::auth::sessions::{self, Identity};
use crate::auth::tokens::{TokenKeys, bearer_token};
use crate::auth::training::TrainingRules;
use crate::authz::{Action, Caller, CompiledPolicy, Permit, PolicyStore, Resource, SessionLimit};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::history::Author;
use crate::db::{Database, DbConnection};
use crate::error::ApiError;
use crate::sealing::Keyring;

pub const PURPOSE_OF_USE_HEADER: &str = "X-Purpose-Of-Use";
const MAX_PURPOSE_LENGTH: usize = 500;

/// Everything the handlers share.
pub struct AppState {
    pub db: Database,
    pub policy: Arc<PolicyStore>,
    pub tokens: TokenKeys,
    /// Keys the hashes of disposed client ids in disposal certificates.
    pub disposal_key: Vec<u8>,
    /// Seals and opens the columns a copy of the database must not reveal.
    pub keyring: Arc<Keyring>,
    pub config: Config,
    pub clock: Arc<Clock>,
    /// The allowance of requests without valid credentials, per client address.
    pub limiter: Arc<audit::limit::Limiter>,
}

/// Who records a change, and when.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub by: String,
    /// The organisation `by` acts for.
    pub organisation: String,
    pub at: chrono::NaiveDateTime,
}

/// An authenticated request.
pub struct Ctx {
    pub state: web::Data<AppState>,
    pub caller: Arc<Caller>,
    req: HttpRequest,
    policy: Arc<CompiledPolicy>,
    purpose: Option<String>,
    /// Set when the session may do one thing only (and this endpoint is that thing).
    pub limit: Option<SessionLimit>,
}

impl Ctx {
    pub fn db(&self) -> &Database {
        &self.state.db
    }

    pub fn policy(&self) -> &CompiledPolicy {
        &self.policy
    }

    /// The instance's data keys, to take into a database closure.
    pub fn keyring(&self) -> Arc<Keyring> {
        self.state.keyring.clone()
    }

    /// The policy this request decides by, to take into a database closure.
    pub fn policy_snapshot(&self) -> Arc<CompiledPolicy> {
        self.policy.clone()
    }

    /// Counts a failed attempt of the caller's to prove their own secret (see
    /// `api::auth::record_failed_attempt`), with the request's audit row; answers the error
    /// to return.
    pub async fn record_failed_attempt(&self, refused: fn() -> ApiError) -> ApiError {
        let username = self.caller.username.clone();
        let caller = Some(self.caller.clone());
        match crate::api::auth::record_failed_attempt(
            &self.state,
            &self.req,
            caller,
            username,
            refused,
        )
        .await
        {
            Ok(error) | Err(error) => error,
        }
    }

    /// Decides whether the caller may perform `action` on `resource` (403 when not).
    pub fn permit(&self, resource: Resource, action: Action) -> Result<Permit, ApiError> {
        self.decide(resource, action, self.purpose.clone())
    }

    /// Like [`Ctx::permit`] for a request whose purpose of use is a record of its own (an
    /// access request's bundle, a correction request's decision), whatever the header says.
    pub fn permit_for(
        &self,
        resource: Resource,
        action: Action,
        purpose: String,
    ) -> Result<Permit, ApiError> {
        self.decide(resource, action, Some(purpose))
    }

    fn decide(
        &self,
        resource: Resource,
        action: Action,
        purpose: Option<String>,
    ) -> Result<Permit, ApiError> {
        Permit::decide(
            &self.policy,
            self.caller.clone(),
            resource,
            action,
            purpose,
            self.state.clock.today(),
        )
    }

    /// The caller, now: who records a change and when.
    pub fn recorder(&self) -> Recorder {
        Recorder {
            by: self.caller.user_id.clone(),
            organisation: self.caller.organisation_id.clone(),
            at: self.now(),
        }
    }

    /// How this request's changes enter the change history: by the caller, now.
    pub fn history(&self) -> History {
        let request_id = self
            .req
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        History {
            author: Author {
                principal_id: self.caller.user_id.clone(),
                principal_kind: self.caller.kind,
                organisation_id: self.caller.organisation_id.clone(),
                request_id,
            },
            at: self.now(),
            keyring: self.keyring(),
        }
    }

    pub fn now(&self) -> chrono::NaiveDateTime {
        self.state.clock.now()
    }

    /// Runs a change whose response `work` builds, and stores the request's audit row in the
    /// same transaction (see [`audit::recorded_write`]).
    pub async fn write<F>(&self, work: F) -> Result<Disclosed, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<Disclosed, ApiError> + Send + 'static,
    {
        self.write_recorded(move |conn| {
            let disclosed = work(conn)?;
            let (status, disclosure) = (disclosed.status(), disclosed.disclosure().clone());
            Ok((disclosed, status, disclosure))
        })
        .await
    }

    /// Like [`Ctx::write`] for a change whose response is not a record: `work` answers with
    /// its result, the response's status and what it discloses.
    pub async fn write_recorded<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<(T, u16, audit::Disclosure), ApiError>
            + Send
            + 'static,
        T: Send + 'static,
    {
        audit::recorded_write(self.db(), &self.req, Some(self.caller.clone()), work).await
    }

    /// Like [`Ctx::permit`], for a resource nested in another's response (allocations in a
    /// case): None when the caller may not read it, and the nesting field is then left out.
    pub fn nested_permit(&self, resource: Resource) -> Option<Permit> {
        self.permit(resource, Action::Read).ok()
    }
}

fn unauthenticated(detail: &str) -> ApiError {
    ApiError::Unauthenticated {
        code: "invalid_token",
        detail: detail.to_owned(),
    }
}

/// The stated purpose of use: trimmed, empty meaning none, bounded in length.
pub fn purpose_of_use(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(PURPOSE_OF_USE_HEADER) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid(PURPOSE_OF_USE_HEADER, "must be printable text"))?
        .trim();
    if text.chars().count() > MAX_PURPOSE_LENGTH {
        return Err(ApiError::invalid(
            PURPOSE_OF_USE_HEADER,
            format!("must be at most {MAX_PURPOSE_LENGTH} characters"),
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

impl Ctx {
    /// Token → live session → active principal, read afresh on every request. A session
    /// limited to one thing is refused unless this endpoint `accepts` that limit.
    async fn authenticate(req: HttpRequest, accepts: &[SessionLimit]) -> Result<Self, ApiError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
        // The audit layer identified the bearer already (`audit::record`), unless it could
        // not reach the database: then it is done here, and fails the same way.
        let known = req.extensions().get::<Identity>().cloned();
        let identity = match known {
            Some(identity) => identity,
            None => {
                let token = bearer_token(req.headers());
                let policy = state.policy.current();
                sessions::identify(&state.db, &state.tokens, &policy, token, state.clock.now())
                    .await?
            }
        };
        let caller = match identity {
            Identity::Caller(caller) => caller,
            Identity::NoToken => {
                return Err(ApiError::Unauthenticated {
                    code: "authentication_required",
                    detail: "Send an access token in the Authorization header as `Bearer <token>`."
                        .into(),
                });
            }
            Identity::InvalidToken => {
                return Err(unauthenticated(
                    "The access token is invalid or has expired.",
                ));
            }
            Identity::SessionEnded => {
                return Err(unauthenticated(
                    "The session has ended or the account is not active.",
                ));
            }
        };
        req.extensions_mut().insert(caller.clone());
        let policy = state.policy.current();
        let training = TrainingRules::of(&state.config);
        let limit = caller.session_limit(&policy, &training, state.clock.today());
        match limit {
            Some(limit) if !accepts.contains(&limit) => {
                return Err(limited_session(limit, &caller));
            }
            _ => {}
        }
        let purpose = purpose_of_use(&req)?;
        Ok(Ctx {
            policy,
            state,
            caller,
            purpose,
            req,
            limit,
        })
    }
}

/// The refusal of a request a session limited to `limit` may not make.
pub fn limited_session(limit: SessionLimit, caller: &Caller) -> ApiError {
    match limit {
        SessionLimit::PasswordChange => ApiError::Forbidden {
            code: "password_change_required",
            detail: "Your password was set by someone else. Choose a new one with \
                     POST /api/v1/users/{your id}/password before anything else."
                .into(),
        },
        SessionLimit::MfaEnrolment => ApiError::Forbidden {
            code: "mfa_enrolment_required",
            detail: "Your role requires multi-factor authentication. Enrol with \
                     POST /api/v1/me/mfa/totp and confirm a code before anything else."
                .into(),
        },
        SessionLimit::TermsAcceptance => ApiError::TermsAcceptanceRequired {
            documents: caller.terms_to_accept.clone(),
        },
        SessionLimit::TrainingExpired => ApiError::Forbidden {
            code: "training_expired",
            detail: "Your training is not current. Your manager (or a dept_admin) must record \
                     your new training before you can use the service; until then you may only \
                     read /api/v1/me, log out or change your own password."
                .into(),
        },
        SessionLimit::WrapUp => ApiError::Forbidden {
            code: "wrap_up_only",
            detail: "Your organisation's contract has ended. You may only take part in its \
                     wrap-up (/api/v1/organisations/{id}/wrap-up), read /api/v1/me and log out."
                .into(),
        },
    }
}

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        Box::pin(Ctx::authenticate(req.clone(), &[]))
    }
}

/// Defines an extractor for an authenticated request that sessions with the given limits
/// may also make.
macro_rules! limited_ctx {
    ($(#[$doc:meta])* $name:ident, $accepts:expr) => {
        $(#[$doc])*
        pub struct $name(pub Ctx);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

            fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move { Ctx::authenticate(req, $accepts).await.map($name) })
            }
        }
    };
}

limited_ctx!(
    /// An authenticated request that a session limited to MFA enrolment may also make:
    /// enrolling and confirming.
    EnrollingCtx,
    &[SessionLimit::MfaEnrolment]
);

limited_ctx!(
    /// An authenticated request that a session limited to choosing a new password, to
    /// accepting policy documents or by expired training may also make: setting a password
    /// (its own only, see `api::users`).
    PasswordChangingCtx,
    &[
        SessionLimit::PasswordChange,
        SessionLimit::TermsAcceptance,
        SessionLimit::TrainingExpired
    ]
);

limited_ctx!(
    /// An authenticated request that a session limited to accepting policy documents may also
    /// make: reading them and accepting them.
    AcceptingCtx,
    &[SessionLimit::TermsAcceptance]
);

limited_ctx!(
    /// An authenticated request that any limited session may make: reading who one is,
    /// logging out.
    AnySessionCtx,
    &[
        SessionLimit::PasswordChange,
        SessionLimit::MfaEnrolment,
        SessionLimit::TermsAcceptance,
        SessionLimit::TrainingExpired,
        SessionLimit::WrapUp
    ]
);

limited_ctx!(
    /// An authenticated request that the session of a CSP whose contract has ended may also
    /// make: reading its wrap-up and annex, recording its certificate.
    WrapUpCtx,
    &[SessionLimit::WrapUp]
);
