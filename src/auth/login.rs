//! What a login attempt comes to: the account's state, the lockout of the username tried,
//! dormancy, and the second factor. The handler in `api::auth` carries the verdict out in one
//! transaction with its audit row.
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::auth::totp;
use crate::authz::scope;
use crate::config::Config;
use crate::db::DbConnection;
use crate::db::schema::{login_throttle, organisations, users};
use crate::domain::{PrincipalKind, StoredAsText, UserStatus};
use crate::sealing::{Keyring, Sealed, SealedColumn};

/// Lockout and dormancy rules, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct LoginRules {
    pub lockout_threshold: i32,
    pub lockout_window: Duration,
    pub lockout_duration: Duration,
    pub dormant_after: Duration,
}

impl LoginRules {
    /// Whether an account last used (logged in, or made active) that long ago is dormant.
    pub fn is_dormant(
        &self,
        last_login_at: Option<NaiveDateTime>,
        activated_at: Option<NaiveDateTime>,
        created_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> bool {
        let last_active = [last_login_at, activated_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(created_at);
        now - last_active > self.dormant_after
    }

    pub fn of(config: &Config) -> Self {
        Self {
            lockout_threshold: i32::try_from(config.lockout_threshold).unwrap_or(i32::MAX),
            lockout_window: Duration::seconds(config.lockout_window as i64),
            lockout_duration: Duration::seconds(config.lockout_duration as i64),
            dormant_after: Duration::days(i64::from(config.dormant_after_days)),
        }
    }
}

/// A person's account, as a login needs it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct LoginAccount {
    pub id: String,
    pub password_hash: Option<String>,
    pub status: String,
    pub roles: String,
    pub organisation_id: String,
    pub mfa_exempt: bool,
    pub totp_secret: Option<Sealed>,
    pub totp_confirmed_at: Option<NaiveDateTime>,
    pub totp_last_step: Option<i64>,
    pub last_login_at: Option<NaiveDateTime>,
    pub activated_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// The account a person logs in to (API clients use `/oauth/token` instead). At most one
/// active account holds a username (a unique index); accounts that are not active may share
/// it (a pending request the department has not yet resolved), and any of them is refused
/// alike, so the active one comes first.
pub fn find_account(conn: &mut DbConnection, username: &str) -> QueryResult<Option<LoginAccount>> {
    users::table
        .filter(users::username.eq(username))
        .filter(users::kind.eq(PrincipalKind::Person.as_str()))
        .order((
            users::status.eq(UserStatus::Active.as_str()).desc(),
            users::id,
        ))
        .select(LoginAccount::as_select())
        .first(conn)
        .optional()
}

pub fn organisation_in_good_standing(
    conn: &mut DbConnection,
    organisation_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    organisation_is(conn, organisation_id, scope::in_good_standing(now.date()))
}

/// Whether organisation `organisation_id` is a CSP whose contract ended with a wrap-up open:
/// its manager may still sign in, for the wrap-up alone (see `authz::may_wind_up`).
pub fn organisation_winding_up(
    conn: &mut DbConnection,
    organisation_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    organisation_is(conn, organisation_id, scope::winding_up(now.date()))
}

fn organisation_is(
    conn: &mut DbConnection,
    organisation_id: &str,
    predicate: scope::Predicate<organisations::table>,
) -> QueryResult<bool> {
    let count: i64 = organisations::table
        .filter(organisations::id.eq(organisation_id))
        .filter(predicate)
        .count()
        .get_result(conn)?;
    Ok(count == 1)
}

/// Until when `username` is locked, if it is now.
pub fn locked_until(
    conn: &mut DbConnection,
    username: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<NaiveDateTime>> {
    Ok(throttle_of(conn, username)?.and_then(|row| row.lock_at(now)))
}

/// The throttle row of one username: the attempts counted in its window, and its lock.
#[derive(Debug, Clone, Copy, Queryable)]
struct Throttle {
    attempts: i32,
    window_started_at: NaiveDateTime,
    locked_until: Option<NaiveDateTime>,
}

impl Throttle {
    fn lock_at(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        self.locked_until.filter(|until| *until > now)
    }

    /// The attempts counted in the window open at `now` (none once it has closed).
    fn attempts_at(&self, rules: &LoginRules, now: NaiveDateTime) -> i32 {
        if self.window_started_at + rules.lockout_window > now {
            self.attempts
        } else {
            0
        }
    }
}

fn throttle_of(conn: &mut DbConnection, username: &str) -> QueryResult<Option<Throttle>> {
    login_throttle::table
        .filter(login_throttle::username.eq(username))
        .select((
            login_throttle::failures,
            login_throttle::window_started_at,
            login_throttle::locked_until,
        ))
        .first(conn)
        .optional()
}

fn store_throttle(conn: &mut DbConnection, username: &str, row: Throttle) -> QueryResult<()> {
    let values = (
        login_throttle::failures.eq(row.attempts),
        login_throttle::window_started_at.eq(row.window_started_at),
        login_throttle::locked_until.eq(row.locked_until),
    );
    let updated =
        diesel::update(login_throttle::table.filter(login_throttle::username.eq(username)))
            .set(values)
            .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(login_throttle::table)
            .values((login_throttle::username.eq(username), values))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether one more secret (a password or a code) may be tried for a username now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted: verify it, then report a failure with [`record_failure`].
    Admitted,
    /// Not tried: the username is locked, or as many attempts as the threshold allows in
    /// this window are already counted (some may still be being verified), until then.
    Refused { until: NaiveDateTime },
}

/// Counts an attempt on `username` before its secret is verified, in the same step as the
/// check, so that however many attempts arrive at once no more than the threshold are
/// verified in a window. Run it in the writer, where writes are serialised; a success clears
/// the count with [`clear_failures`].
pub fn admit_attempt(
    conn: &mut DbConnection,
    rules: &LoginRules,
    username: &str,
    now: NaiveDateTime,
) -> QueryResult<Admission> {
    let current = throttle_of(conn, username)?;
    if let Some(until) = current.and_then(|row| row.lock_at(now)) {
        return Ok(Admission::Refused { until });
    }
    let (attempts, window_started_at) = match current {
        Some(row) if row.attempts_at(rules, now) > 0 => (row.attempts, row.window_started_at),
        _ => (0, now),
    };
    if attempts >= rules.lockout_threshold {
        return Ok(Admission::Refused {
            until: window_started_at + rules.lockout_window,
        });
    }
    let counted = Throttle {
        attempts: attempts + 1,
        window_started_at,
        locked_until: None,
    };
    store_throttle(conn, username, counted)?;
    Ok(Admission::Admitted)
}

/// What a failed attempt, already counted by [`admit_attempt`], comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Under the threshold: refused, not locked.
    Counted,
    /// This failure used up the window's attempts: the username is locked from now.
    LockedNow { until: NaiveDateTime },
    /// Already locked (by a concurrent attempt): the lock stands as it is.
    AlreadyLocked { until: NaiveDateTime },
}

/// Locks `username` when the attempts counted in this window reached the threshold. Never
/// lowers an existing lock, so a failure that lands after a lock cannot lift it.
pub fn record_failure(
    conn: &mut DbConnection,
    rules: &LoginRules,
    username: &str,
    now: NaiveDateTime,
) -> QueryResult<Failure> {
    let Some(current) = throttle_of(conn, username)? else {
        // The count was cleared by a success since this attempt was admitted.
        return Ok(Failure::Counted);
    };
    if let Some(until) = current.lock_at(now) {
        return Ok(Failure::AlreadyLocked { until });
    }
    if current.attempts_at(rules, now) < rules.lockout_threshold {
        return Ok(Failure::Counted);
    }
    let until = now + rules.lockout_duration;
    // A lock starts a fresh count: the next window opens when it ends.
    let locked = Throttle {
        attempts: 0,
        window_started_at: now,
        locked_until: Some(until),
    };
    store_throttle(conn, username, locked)?;
    Ok(Failure::LockedNow { until })
}

pub fn clear_failures(conn: &mut DbConnection, username: &str) -> QueryResult<()> {
    diesel::delete(login_throttle::table.filter(login_throttle::username.eq(username)))
        .execute(conn)
        .map(drop)
}

/// What a login attempt with a correct or incorrect password comes to.
#[derive(Debug)]
pub enum Verdict {
    /// Unknown user, wrong password, wrong or reused code, or an account or organisation not
    /// in good standing: counted towards the lockout, answered alike.
    Refused,
    /// The password was right, the account has a second factor, and no code was sent.
    CodeRequired,
    /// The password was right but the account has not been used for too long: it is
    /// suspended now, and the attempt answered like a refusal.
    Dormant { user_id: String },
    /// A session may start (limited to MFA enrolment while the policy requires MFA and
    /// the account has none: see `Caller::must_enrol_in_mfa`).
    Accepted {
        user_id: String,
        totp_step: Option<i64>,
    },
}

impl LoginAccount {
    /// The account's roles, as stored.
    pub fn roles(&self) -> anyhow::Result<Vec<String>> {
        Ok(serde_json::from_str(&self.roles)?)
    }

    /// The account's confirmed TOTP secret, opened; None without a second factor.
    pub fn enrolled_totp_secret(&self, keyring: &Keyring) -> anyhow::Result<Option<String>> {
        match (&self.totp_secret, self.totp_confirmed_at) {
            (Some(sealed), Some(_)) => keyring
                .open(SealedColumn::UserTotpSecret, &self.id, sealed)
                .map(Some),
            _ => Ok(None),
        }
    }
}

pub struct Attempt<'a> {
    pub account: Option<&'a LoginAccount>,
    pub password_ok: bool,
    pub organisation_ok: bool,
    /// The account's confirmed TOTP secret ([`LoginAccount::enrolled_totp_secret`]).
    pub totp_secret: Option<&'a str>,
    pub totp_code: Option<&'a str>,
    pub now: NaiveDateTime,
}

pub fn judge(attempt: Attempt, rules: &LoginRules) -> Verdict {
    let Some(account) = attempt.account else {
        return Verdict::Refused;
    };
    if !attempt.password_ok
        || !attempt.organisation_ok
        || account.status != UserStatus::Active.as_str()
    {
        return Verdict::Refused;
    }
    if rules.is_dormant(
        account.last_login_at,
        account.activated_at,
        account.created_at,
        attempt.now,
    ) {
        return Verdict::Dormant {
            user_id: account.id.clone(),
        };
    }
    if let Some(secret) = attempt.totp_secret {
        let Some(code) = attempt.totp_code else {
            return Verdict::CodeRequired;
        };
        return match totp::matching_step(secret, code, attempt.now) {
            Some(step) if account.totp_last_step.is_none_or(|last| step > last) => {
                Verdict::Accepted {
                    user_id: account.id.clone(),
                    totp_step: Some(step),
                }
            }
            _ => Verdict::Refused,
        };
    }
    Verdict::Accepted {
        user_id: account.id.clone(),
        totp_step: None,
    }
}
