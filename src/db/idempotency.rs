//! The keys of POSTs sent with an `Idempotency-Key` (see `api::idempotency`), per principal:
//! which request each was first sent with, whether its change was applied, and the response
//! to give a retry. Every function here runs in the writer, so that looking a key up and
//! taking it are one step.
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::retention::{Records, delete_or_count};
use super::schema::{idempotency_key_clients as named, idempotency_keys as keys};
use crate::sealing::Sealed;

/// One attempt's hold on a key: the change of the request holding it may be applied only
/// while `token` still holds the key's row.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub id: String,
    pub token: String,
}

/// A response kept for retries; the body is sealed (`SealedColumn::IdempotentResponse`).
#[derive(Debug, Clone)]
pub struct KeptResponse {
    pub status: i32,
    /// JSON: `[[name, value], ...]`.
    pub headers: String,
    pub body: Sealed,
    /// JSON: what the response disclosed, recorded again with each replay.
    pub disclosure: String,
}

/// What a key holds when a request arrives with it.
#[derive(Debug)]
pub enum Lookup {
    /// The key was free (or its earlier attempt never applied a change): this attempt holds it.
    Reserved(Reservation),
    /// The same request was applied and answered: here is its response.
    Answered { id: String, response: KeptResponse },
    /// The key was used with another request.
    OtherRequest,
    /// The same request was applied and its response is not (yet) kept.
    Applied,
    /// Another attempt of the same request holds the key and has not applied it yet.
    InProgress,
}

#[derive(Queryable)]
struct KeyRow {
    id: String,
    request_hash: String,
    applied: bool,
    response_status: Option<i32>,
    response_headers: Option<String>,
    response_body: Option<String>,
    disclosure: Option<String>,
    /// When the attempt holding the key took it.
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

/// A request arriving with a key.
pub struct Attempt<'a> {
    pub principal_id: &'a str,
    pub key_hash: &'a str,
    pub request_hash: &'a str,
    /// Names this attempt's hold on the key.
    pub token: &'a str,
    pub now: NaiveDateTime,
    /// When the key is forgotten, if this attempt takes it.
    pub expires_at: NaiveDateTime,
    /// How long an attempt holds the key before another may take it over.
    pub lease: chrono::Duration,
}

/// Takes the key for `attempt`, unless the key already answers for a request or another
/// attempt holds it.
pub fn reserve(conn: &mut DbConnection, attempt: &Attempt) -> QueryResult<Lookup> {
    let Attempt {
        principal_id,
        key_hash,
        request_hash,
        token,
        now,
        expires_at,
        lease,
    } = *attempt;
    let found: Option<KeyRow> = keys::table
        .filter(keys::principal_id.eq(principal_id))
        .filter(keys::key_hash.eq(key_hash))
        .select((
            keys::id,
            keys::request_hash,
            keys::applied,
            keys::response_status,
            keys::response_headers,
            keys::response_body,
            keys::disclosure,
            keys::created_at,
            keys::expires_at,
        ))
        .first(conn)
        .optional()?;
    let reservation = Reservation {
        id: uuid::Uuid::new_v4().to_string(),
        token: token.to_owned(),
    };
    let Some(row) = found else {
        diesel::insert_into(keys::table)
            .values((
                keys::id.eq(&reservation.id),
                keys::principal_id.eq(principal_id),
                keys::key_hash.eq(key_hash),
                keys::request_hash.eq(request_hash),
                keys::token.eq(token),
                keys::applied.eq(false),
                keys::created_at.eq(now),
                keys::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        return Ok(Lookup::Reserved(reservation));
    };
    let expired = row.expires_at <= now;
    if !expired && row.request_hash != request_hash {
        return Ok(Lookup::OtherRequest);
    }
    if !expired && row.applied {
        return Ok(
            match (row.response_status, row.response_headers, row.response_body) {
                (Some(status), Some(headers), Some(body)) => Lookup::Answered {
                    id: row.id,
                    response: KeptResponse {
                        status,
                        headers,
                        body: Sealed::from_stored(body),
                        disclosure: row.disclosure.unwrap_or_default(),
                    },
                },
                _ => Lookup::Applied,
            },
        );
    }
    if !expired && now < row.created_at + lease {
        return Ok(Lookup::InProgress);
    }
    // Expired, or an attempt that applied nothing within its lease (its process died): this
    // attempt takes the key over; should the other still come to apply, it finds the key
    // taken and applies nothing.
    diesel::delete(named::table.filter(named::key_id.eq(&row.id))).execute(conn)?;
    diesel::update(keys::table.find(&row.id))
        .set((
            keys::request_hash.eq(request_hash),
            keys::token.eq(token),
            keys::applied.eq(false),
            keys::response_status.eq(None::<i32>),
            keys::response_headers.eq(None::<String>),
            keys::response_body.eq(None::<String>),
            keys::disclosure.eq(None::<String>),
            keys::created_at.eq(now),
            keys::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(Lookup::Reserved(Reservation {
        id: row.id,
        token: token.to_owned(),
    }))
}

/// In the change's own transaction: marks the key applied, if `reservation` still holds it.
/// False when another attempt took it over (the change must then not be applied).
pub fn apply(conn: &mut DbConnection, reservation: &Reservation) -> QueryResult<bool> {
    let updated = diesel::update(
        keys::table
            .find(&reservation.id)
            .filter(keys::token.eq(&reservation.token)),
    )
    .set(keys::applied.eq(true))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Keeps the response of the applied change `reservation` made, and which clients it names.
pub fn answer(
    conn: &mut DbConnection,
    reservation: &Reservation,
    response: &KeptResponse,
    client_ids: &[String],
) -> QueryResult<()> {
    let kept = diesel::update(
        keys::table
            .find(&reservation.id)
            .filter(keys::token.eq(&reservation.token))
            .filter(keys::applied.eq(true)),
    )
    .set((
        keys::response_status.eq(response.status),
        keys::response_headers.eq(&response.headers),
        keys::response_body.eq(response.body.as_stored()),
        keys::disclosure.eq(&response.disclosure),
    ))
    .execute(conn)?;
    if kept == 1 {
        // One by one: the response of one change names few clients.
        for client_id in client_ids {
            diesel::insert_into(named::table)
                .values((
                    named::client_id.eq(client_id),
                    named::key_id.eq(&reservation.id),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Frees the key of an attempt that applied no change, so that a retry is carried out.
pub fn release(conn: &mut DbConnection, reservation: &Reservation) -> QueryResult<()> {
    diesel::delete(
        keys::table
            .find(&reservation.id)
            .filter(keys::token.eq(&reservation.token))
            .filter(keys::applied.eq(false)),
    )
    .execute(conn)
    .map(drop)
}

/// Forgets at most `limit` keys that expired before `now` (oldest first, from the expiry
/// index); answers how many.
pub fn forget_expired(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    let expired = keys::table
        .filter(keys::expires_at.le(now))
        .order(keys::expires_at)
        .select(keys::id)
        .limit(limit);
    let ids: Vec<String> = expired.load(conn)?;
    diesel::delete(named::table.filter(named::key_id.eq_any(&ids))).execute(conn)?;
    diesel::delete(keys::table.filter(keys::id.eq_any(&ids))).execute(conn)
}

/// Deletes (or counts) the responses kept for retries that name any of `client_ids`: they go
/// with the clients' files at disposal.
pub fn forget_clients(
    conn: &mut DbConnection,
    client_ids: &[String],
    records: Records,
) -> QueryResult<usize> {
    let naming = named::table
        .filter(named::client_id.eq_any(client_ids))
        .select(named::key_id);
    let key_ids: Vec<String> = naming.load(conn)?;
    let kept = delete_or_count!(conn, records, keys::table.filter(keys::id.eq_any(&key_ids)));
    if records == Records::Delete {
        diesel::delete(named::table.filter(named::key_id.eq_any(&key_ids))).execute(conn)?;
    }
    Ok(kept)
}
