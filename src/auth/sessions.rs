//! Sessions back every token. A refresh token is `<session id>.<secret>`; only its SHA-256 is
//! stored. Each refresh rotates it and remembers the old digest; presenting an old token
//! again (a replay) ends the session, since one of the two holders is not the user. A token
//! the session never issued is merely refused, so knowing a session id is not enough to end it.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

use std::sync::Arc;

use crate::auth::tokens::TokenKeys;
use crate::auth::training::TrainingRecord;
use crate::authz::{Caller, CompiledPolicy};
use crate::db::schema::{organisations, sessions, used_refresh_tokens, users};
use crate::db::{Database, DbConnection, policy_documents};
use crate::domain::{OrganisationKind, PrincipalKind, ProtectiveMarking, StoredAsText, UserStatus};
use crate::error::ApiError;

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_refresh_token(session_id: &str) -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    format!("{session_id}.{}", URL_SAFE_NO_PAD.encode(secret))
}

/// What a new session is for and where it was opened from.
pub struct NewSession<'a> {
    pub user_id: &'a str,
    pub ttl_seconds: u64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The roles the session is narrowed to (an API client's `scope`); None: all of them.
    pub scope: Option<Vec<String>>,
}

/// Starts a session; returns its id and first refresh token.
pub fn start(
    conn: &mut DbConnection,
    new: NewSession,
    now: NaiveDateTime,
) -> QueryResult<(String, String)> {
    let session_id = uuid::Uuid::now_v7().to_string();
    let refresh_token = new_refresh_token(&session_id);
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(&session_id),
            sessions::user_id.eq(new.user_id),
            sessions::refresh_token_hash.eq(digest(&refresh_token)),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(now + chrono::Duration::seconds(new.ttl_seconds as i64)),
            sessions::ip.eq(new.ip),
            sessions::user_agent.eq(new.user_agent),
            sessions::scope.eq(new
                .scope
                .map(|roles| serde_json::Value::from(roles).to_string())),
        ))
        .execute(conn)?;
    Ok((session_id, refresh_token))
}

pub enum Refresh {
    /// The token was the session's current one: here is its successor.
    Rotated {
        user_id: String,
        session_id: String,
        refresh_token: String,
    },
    /// Unknown, expired or ended session, or inactive user.
    Rejected,
    /// A token the session already exchanged, presented again: the session is now ended.
    Reused { user_id: String },
}

pub fn refresh(
    conn: &mut DbConnection,
    presented: &str,
    now: NaiveDateTime,
) -> QueryResult<Refresh> {
    let Some((session_id, _)) = presented.split_once('.') else {
        return Ok(Refresh::Rejected);
    };
    let found: Option<(String, String, NaiveDateTime, Option<NaiveDateTime>, String)> =
        sessions::table
            .inner_join(users::table)
            .filter(sessions::id.eq(session_id))
            .select((
                sessions::user_id,
                sessions::refresh_token_hash,
                sessions::expires_at,
                sessions::ended_at,
                users::status,
            ))
            .first(conn)
            .optional()?;
    let Some((user_id, current_hash, expires_at, ended_at, status)) = found else {
        return Ok(Refresh::Rejected);
    };
    if ended_at.is_some() || expires_at <= now || status != UserStatus::Active.as_str() {
        return Ok(Refresh::Rejected);
    }
    let presented_hash = digest(presented);
    if presented_hash != current_hash {
        let replayed: i64 = used_refresh_tokens::table
            .filter(used_refresh_tokens::token_hash.eq(&presented_hash))
            .filter(used_refresh_tokens::session_id.eq(session_id))
            .count()
            .get_result(conn)?;
        if replayed == 0 {
            return Ok(Refresh::Rejected);
        }
        end(conn, session_id, "refresh_token_reused", now)?;
        return Ok(Refresh::Reused { user_id });
    }
    let refresh_token = new_refresh_token(session_id);
    let rotated = diesel::update(sessions::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::refresh_token_hash.eq(&current_hash))
        .set(sessions::refresh_token_hash.eq(digest(&refresh_token)))
        .execute(conn)?;
    if rotated == 0 {
        // A concurrent refresh won the race with the same token: that is a reuse too.
        end(conn, session_id, "refresh_token_reused", now)?;
        return Ok(Refresh::Reused { user_id });
    }
    diesel::insert_into(used_refresh_tokens::table)
        .values((
            used_refresh_tokens::token_hash.eq(&current_hash),
            used_refresh_tokens::session_id.eq(session_id),
        ))
        .execute(conn)?;
    Ok(Refresh::Rotated {
        user_id,
        session_id: session_id.to_owned(),
        refresh_token,
    })
}

pub fn end(
    conn: &mut DbConnection,
    session_id: &str,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let ended = diesel::update(sessions::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::ended_at.is_null())
        .set((
            sessions::ended_at.eq(now),
            sessions::ended_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(ended == 1)
}

/// The caller behind a verified token, read afresh: None unless the session is live, the
/// principal active, and its organisation active and (for a CSP) under contract on `now`'s
/// date, or a CSP whose contract has ended with its wrap-up open (the caller is then
/// `winding_up`, see [`identify`]). Roles, clearance and organisation come from here, never
/// from the token; so do the training date and, for a person, the policy documents in force
/// they have not accepted (a second statement on the same connection, by index: at most one
/// row per document kind).
pub fn load_caller(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    now: NaiveDateTime,
) -> anyhow::Result<Option<Caller>> {
    let today = now.date();
    #[derive(Queryable)]
    struct CallerRow {
        username: String,
        organisation_id: String,
        roles: String,
        clearance: i32,
        organisation_kind: String,
        user_id: String,
        principal_kind: String,
        mfa_exempt: bool,
        mfa_confirmed_at: Option<NaiveDateTime>,
        password_change_required: bool,
        scope: Option<String>,
        training_completed_on: Option<chrono::NaiveDate>,
        contract_ends_on: Option<chrono::NaiveDate>,
    }
    let row: Option<CallerRow> = crate::on_backend!(conn, |conn| sessions::table
        .inner_join(users::table.inner_join(organisations::table))
        .filter(sessions::id.eq(session_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(users::status.eq(UserStatus::Active.as_str()))
        .filter(
            crate::organisation_in_good_standing!(today).or(crate::organisation_winding_up!(today)),
        )
        .select((
            users::username,
            users::organisation_id,
            users::roles,
            users::clearance,
            organisations::kind,
            users::id,
            users::kind,
            users::mfa_exempt,
            users::totp_confirmed_at,
            users::password_change_required,
            sessions::scope,
            users::training_completed_on,
            organisations::contract_ends_on,
        ))
        .first(conn)
        .optional())?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut roles: Vec<String> = serde_json::from_str(&row.roles)?;
    if let Some(scope) = &row.scope {
        let scope: Vec<String> = serde_json::from_str(scope)?;
        roles.retain(|role| scope.contains(role));
    }
    let kind = PrincipalKind::from_stored(&row.principal_kind)?;
    let organisation_kind = OrganisationKind::from_stored(&row.organisation_kind)?;
    // A system cannot read terms: its organisation's manager accepts them for its staff, and
    // the system acts within the roles the department gave it (docs/csp-partnership.md).
    let terms_to_accept = match kind {
        PrincipalKind::ApiClient => Vec::new(),
        PrincipalKind::Person => {
            let mut owed = Vec::new();
            for document in policy_documents::in_force_not_accepted(conn, &row.user_id)? {
                if document.applies_to(&roles)? {
                    owed.push(document.to_accept()?);
                }
            }
            owed
        }
    };
    Ok(Some(Caller {
        training: TrainingRecord::of(kind, organisation_kind, row.training_completed_on),
        terms_to_accept,
        user_id: row.user_id,
        kind,
        mfa_exempt: row.mfa_exempt,
        mfa_enrolled: row.mfa_confirmed_at.is_some(),
        must_change_password: row.password_change_required,
        session_id: session_id.to_owned(),
        username: row.username,
        organisation_id: row.organisation_id,
        organisation_kind,
        roles,
        clearance: ProtectiveMarking::from_rank(row.clearance)?,
        // Admitted past its contract's end: only through a wrap-up still open.
        winding_up: row.contract_ends_on.is_some_and(|end| end < today),
    }))
}

/// Who a request's access token names.
#[derive(Debug, Clone)]
pub enum Identity {
    /// A live session of an active principal.
    Caller(Arc<Caller>),
    /// No `Authorization: Bearer` token.
    NoToken,
    /// A token that does not verify (forged, expired, for another audience).
    InvalidToken,
    /// A verified token whose session has ended or whose principal is not active.
    SessionEnded,
}

impl Identity {
    pub fn caller(&self) -> Option<&Arc<Caller>> {
        match self {
            Identity::Caller(caller) => Some(caller),
            _ => None,
        }
    }
}

/// Identifies the bearer of `token` at `now`: verifies it, then reads the session and its
/// principal afresh ([`load_caller`]); a principal of a CSP whose contract has ended must be one
/// the `policy` lets take part in the wrap-up ([`Caller::may_act`]). The audit layer does this
/// first, to know whether a request is anonymous before anything else runs;
/// `api::context::Ctx` takes its answer.
pub async fn identify(
    db: &Database,
    tokens: &TokenKeys,
    policy: &CompiledPolicy,
    token: Option<&str>,
    now: NaiveDateTime,
) -> Result<Identity, ApiError> {
    let Some(token) = token else {
        return Ok(Identity::NoToken);
    };
    let Some(claims) = tokens.verify(token, now) else {
        return Ok(Identity::InvalidToken);
    };
    let caller = db
        .read(move |conn| {
            load_caller(conn, &claims.sub, &claims.sid, now).map_err(ApiError::internal)
        })
        .await?;
    Ok(match caller {
        Some(caller) if caller.may_act(policy) => Identity::Caller(Arc::new(caller)),
        _ => Identity::SessionEnded,
    })
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The live sessions of `user_id`, newest first.
pub fn live(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order(sessions::id.desc())
        .select(SessionRow::as_select())
        .load(conn)
}

/// Ends session `session_id` if it belongs to `user_id` and is live; false otherwise.
pub fn end_own(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let ended = diesel::update(sessions::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .set((
            sessions::ended_at.eq(now),
            sessions::ended_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(ended == 1)
}
