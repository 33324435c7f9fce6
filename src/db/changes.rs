//! The change feed behind `GET /api/v1/changes`: an entry for every change of a client, case,
//! allocation or note, written in the change's own transaction by the functions that make it,
//! and addressed to the organisations that had the record's client in reach (its lead
//! division, the divisions of its cases, the CSPs allocated one of them) and to the workers
//! those allocations are assigned to. A caller reads its own organisation's entries by index
//! (a CSP worker limited to the allocations assigned to them, their own), so a CSP's read
//! costs what its own changes cost, not the department's.
//!
//! An audience is an organisation's id or a person's user id: both are UUIDs, so they never
//! collide.
//!
//! Entries are numbered by `seq`, which only grows. Writes are serialised (one writer; on
//! PostgreSQL every instance's writer also holds one advisory lock), so they commit in `seq`
//! order and a reader never sees an entry before every earlier one.
use chrono::{Days, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{allocations, cases, change_audiences, changes, clients, notes};

/// The kinds of record the feed tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Client,
    Case,
    Allocation,
    Note,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Client => "client",
            Kind::Case => "case",
            Kind::Allocation => "allocation",
            Kind::Note => "note",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Kind::Client, Kind::Case, Kind::Allocation, Kind::Note]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// How long a CSP keeps hearing of a client after its allocation ended: long enough for its
/// system to be told the records left its reach, not so long that it keeps learning when a
/// former client's file changes.
const ENDED_ALLOCATION_DAYS: u64 = 30;

/// One entry of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub kind: Kind,
    pub resource_id: String,
    pub client_id: String,
    /// The lowest clearance that could see the record before or after the change.
    pub protective_marking: i32,
}

/// Who reaches a record: its client, the audiences it is told to (organisations, and the
/// workers of the allocations that reach it), and the protective markings that bound who may
/// see it (its own, and its case's and client's).
struct Reach {
    client_id: String,
    audience: Vec<String>,
    own_marking: i32,
    context_marking: i32,
}

/// What a change's entry must also cover of the record as it was before: an organisation that
/// had it in reach (an allocation's CSP, however long ago its allocation ended), the workers
/// an allocation is or was assigned to (likewise, and the one it was reassigned from), and its
/// own protective marking (a marking raised is told to whoever could see the record before).
#[derive(Debug, Default, Clone, Copy)]
pub struct Before<'a> {
    pub organisation: Option<&'a str>,
    pub workers: &'a [&'a str],
    pub marking: Option<i32>,
}

/// Records that the `kind` record `id` changed at `now`, for the organisations that reach it
/// (see [`audience`]). Called in the change's transaction, after the change, so a record that
/// has just come into an organisation's reach (a new allocation) is addressed to it too.
pub fn record(
    conn: &mut DbConnection,
    kind: Kind,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    record_after(conn, kind, id, now, Before::default())
}

/// [`record`], also covering the record as it was `before`. The entry keeps the lowest
/// marking the record had, so that only a reader cleared for it is told, even of a removal.
pub fn record_after(
    conn: &mut DbConnection,
    kind: Kind,
    id: &str,
    now: NaiveDateTime,
    before: Before<'_>,
) -> QueryResult<()> {
    let today = now.date();
    let ended_since = today.checked_sub_days(Days::new(ENDED_ALLOCATION_DAYS));
    let mut reach = audience(conn, kind, id, today, ended_since)?;
    let earlier = before
        .organisation
        .into_iter()
        .chain(before.workers.iter().copied());
    for earlier in earlier {
        if !reach.audience.iter().any(|known| known == earlier) {
            reach.audience.push(earlier.to_owned());
        }
    }
    let own = before
        .marking
        .map_or(reach.own_marking, |was| was.min(reach.own_marking));
    let marking = own.max(reach.context_marking);
    insert(
        conn,
        kind,
        id,
        &reach.client_id,
        now,
        marking,
        &reach.audience,
    )
}

/// Records an allocation's change with its case and client: an allocation gives a CSP its
/// reach to both, or takes it away, and the CSP's system learns of that from the feed.
pub fn record_allocation(
    conn: &mut DbConnection,
    id: &str,
    case_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    record_reassignment(conn, id, case_id, None, now)
}

/// [`record_allocation`] for an allocation that was assigned to `previous` (another worker, or
/// none) until now: the new worker is told of its records, and `previous` of their removal
/// (if the allocation had started, as only then could they see them).
pub fn record_reassignment(
    conn: &mut DbConnection,
    id: &str,
    case_id: &str,
    previous: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let client_id: String = cases::table
        .filter(cases::id.eq(case_id))
        .select(cases::client_id)
        .first(conn)?;
    // Its CSP and worker are told of all three once the allocation has started, however long
    // ago it ended: ending it backdated must still take the case and client from their copy.
    let (organisation, worker, starts_on): (String, Option<String>, NaiveDate) = allocations::table
        .filter(allocations::id.eq(id))
        .select((
            allocations::organisation_id,
            allocations::worker_id,
            allocations::starts_on,
        ))
        .first(conn)?;
    let started = starts_on <= now.date();
    let workers: Vec<&str> = [worker.as_deref(), previous]
        .into_iter()
        .flatten()
        .filter(|_| started)
        .collect();
    let before = Before {
        organisation: started.then_some(organisation.as_str()),
        workers: &workers,
        marking: None,
    };
    for (kind, record_id) in [
        (Kind::Client, client_id.as_str()),
        (Kind::Case, case_id),
        (Kind::Allocation, id),
    ] {
        record_after(conn, kind, record_id, now, before)?;
    }
    Ok(())
}

/// The `settings` key of the last day whose allocation starts and ends were announced.
const DATES_ANNOUNCED_THROUGH: &str = "change_feed.dates_announced_through";

/// Access that starts or ends by date changes no record on that day, so the feed is told
/// then: one day per call, for the day after the last one announced, it records the
/// allocations starting that day and those that ended the day before (their CSPs gain or
/// lose the case and client). The first call only notes today. Answers whether days remain
/// (a server that was down catches up a day per writer job).
pub fn announce_dated_changes(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<bool> {
    let today = now.date();
    let announced = super::settings::get(conn, DATES_ANNOUNCED_THROUGH)?
        .and_then(|day| day.parse::<NaiveDate>().ok());
    let Some(day) = announced.and_then(|last| last.succ_opt()) else {
        super::settings::set(conn, DATES_ANNOUNCED_THROUGH, &today.to_string())?;
        return Ok(false);
    };
    if day > today {
        return Ok(false);
    }
    let ended = day.pred_opt().unwrap_or(day);
    // Two look-ups, one on each date's index (an OR would read the table).
    let mut dated: Vec<(String, String)> = allocations::table
        .filter(allocations::starts_on.eq(day))
        .select((allocations::id, allocations::case_id))
        .load(conn)?;
    dated.extend(
        allocations::table
            .filter(allocations::ends_on.eq(ended))
            .select((allocations::id, allocations::case_id))
            .load::<(String, String)>(conn)?,
    );
    for (id, case_id) in &dated {
        record_allocation(conn, id, case_id, now)?;
    }
    super::settings::set(conn, DATES_ANNOUNCED_THROUGH, &day.to_string())?;
    Ok(day < today)
}

/// Records that the files of `client_ids` are being disposed of, before their records are
/// deleted: a client's earlier entries make way for one removal, addressed to every
/// organisation that ever had the file in reach (its copies should go too). The removal keeps
/// only the client's id, as the audit trail does.
pub fn record_disposals(
    conn: &mut DbConnection,
    client_ids: &[String],
    now: NaiveDateTime,
) -> QueryResult<()> {
    for client_id in client_ids {
        let reach = audience(conn, Kind::Client, client_id, now.date(), None)?;
        let earlier = changes::table
            .filter(changes::client_id.eq(client_id))
            .select(changes::seq);
        diesel::delete(change_audiences::table.filter(change_audiences::seq.eq_any(earlier)))
            .execute(conn)?;
        diesel::delete(changes::table.filter(changes::client_id.eq(client_id))).execute(conn)?;
        let marking = reach.own_marking;
        insert(
            conn,
            Kind::Client,
            client_id,
            client_id,
            now,
            marking,
            &reach.audience,
        )?;
    }
    Ok(())
}

/// The client of the `kind` record `id`, and the organisations that reach the record: for a
/// client, its lead division, its cases' divisions and the CSPs allocated one of its cases;
/// for a case or a note, the case's division and the CSPs allocated the case; for an
/// allocation, the case's division and the allocation's CSP (a CSP sees only its own). Each
/// allocation's worker is addressed with its CSP. CSPs
/// are addressed from the day their allocation starts (the feed tells them then, see
/// [`announce_dated_changes`]), and no longer once it ended before `ended_since` (when
/// given). Addressing a record only to those who could see it is what keeps a removal from
/// telling anyone an id they never had.
fn audience(
    conn: &mut DbConnection,
    kind: Kind,
    id: &str,
    today: NaiveDate,
    ended_since: Option<NaiveDate>,
) -> QueryResult<Reach> {
    // Every change runs these, in the one writer: each is a statement of fixed type, run on
    // the concrete connection so that it is prepared once (`on_backend!`).
    let ended_since = ended_since.unwrap_or(LONG_AGO);
    let (client_id, mut audience, own, context) = match kind {
        Kind::Client => {
            let (lead, marking): (String, i32) = crate::on_backend!(conn, |conn| clients::table
                .filter(clients::id.eq(id))
                .select((clients::lead_division_id, clients::protective_marking))
                .first(conn))?;
            let cases: Vec<(String, String)> = crate::on_backend!(conn, |conn| cases::table
                .filter(cases::client_id.eq(id))
                .select((cases::id, cases::division_id))
                .load(conn))?;
            let mut audience = vec![lead];
            for (case_id, division) in cases {
                audience.push(division);
                audience.extend(allocated_to(conn, &case_id, today, ended_since)?);
            }
            (id.to_owned(), audience, marking, marking)
        }
        Kind::Case => {
            let (client_id, division, case_marking, client_marking): (String, String, i32, i32) =
                crate::on_backend!(conn, |conn| cases::table
                    .inner_join(clients::table)
                    .filter(cases::id.eq(id))
                    .select((
                        cases::client_id,
                        cases::division_id,
                        cases::protective_marking,
                        clients::protective_marking,
                    ))
                    .first(conn))?;
            let mut audience = allocated_to(conn, id, today, ended_since)?;
            audience.push(division);
            (client_id, audience, case_marking, client_marking)
        }
        Kind::Note => {
            type Row = (String, String, String, i32, i32, i32);
            let (case_id, client_id, division, note_marking, case_marking, client_marking): Row =
                crate::on_backend!(conn, |conn| notes::table
                    .inner_join(cases::table.inner_join(clients::table))
                    .filter(notes::id.eq(id))
                    .select((
                        notes::case_id,
                        cases::client_id,
                        cases::division_id,
                        notes::protective_marking,
                        cases::protective_marking,
                        clients::protective_marking,
                    ))
                    .first(conn))?;
            let mut audience = allocated_to(conn, &case_id, today, ended_since)?;
            audience.push(division);
            let context = case_marking.max(client_marking);
            (client_id, audience, note_marking, context)
        }
        Kind::Allocation => {
            type Row = (String, Option<String>, NaiveDate, String, String, i32, i32);
            let (
                organisation,
                worker,
                starts_on,
                client_id,
                division,
                case_marking,
                client_marking,
            ): Row = crate::on_backend!(conn, |conn| allocations::table
                .inner_join(cases::table.inner_join(clients::table))
                .filter(allocations::id.eq(id))
                .select((
                    allocations::organisation_id,
                    allocations::worker_id,
                    allocations::starts_on,
                    cases::client_id,
                    cases::division_id,
                    cases::protective_marking,
                    clients::protective_marking,
                ))
                .first(conn))?;
            let started = starts_on <= today;
            let reached = [Some(organisation), worker].into_iter().flatten();
            let mut audience = vec![division];
            audience.extend(reached.filter(|_| started));
            (client_id, audience, case_marking, client_marking)
        }
    };
    audience.sort_unstable();
    audience.dedup();
    Ok(Reach {
        client_id,
        audience,
        own_marking: own,
        context_marking: context,
    })
}

/// Before any allocation's end: with it, every ended allocation counts.
const LONG_AGO: NaiveDate = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a valid date");

/// The CSPs allocated case `case_id` that reach it, or did lately, and the workers those
/// allocations are assigned to: allocations started by `today` and not ended before
/// `ended_since`.
fn allocated_to(
    conn: &mut DbConnection,
    case_id: &str,
    today: NaiveDate,
    ended_since: NaiveDate,
) -> QueryResult<Vec<String>> {
    let allocated: Vec<(String, Option<String>)> =
        crate::on_backend!(conn, |conn| allocations::table
            .filter(allocations::case_id.eq(case_id))
            .filter(allocations::starts_on.le(today))
            .filter(
                allocations::ends_on
                    .is_null()
                    .or(allocations::ends_on.ge(ended_since).assume_not_null()),
            )
            .select((allocations::organisation_id, allocations::worker_id))
            .load(conn))?;
    Ok(allocated
        .into_iter()
        .flat_map(|(organisation, worker)| [Some(organisation), worker])
        .flatten()
        .collect())
}

fn insert(
    conn: &mut DbConnection,
    kind: Kind,
    id: &str,
    client_id: &str,
    now: NaiveDateTime,
    marking: i32,
    audience: &[String],
) -> QueryResult<()> {
    let seq: i64 = crate::on_backend!(conn, |conn| diesel::insert_into(changes::table)
        .values((
            changes::resource_type.eq(kind.as_str()),
            changes::resource_id.eq(id),
            changes::client_id.eq(client_id),
            changes::changed_at.eq(now),
            changes::protective_marking.eq(marking),
        ))
        .returning(changes::seq)
        .get_result(conn))?;
    let rows: Vec<_> = audience
        .iter()
        .map(|audience_id| {
            (
                change_audiences::audience_id.eq(audience_id),
                change_audiences::seq.eq(seq),
            )
        })
        .collect();
    // One statement for all of them, on the concrete connection (the multi-backend one
    // inserts a row per statement).
    crate::on_backend!(conn, |conn| diesel::insert_into(change_audiences::table)
        .values(&rows)
        .execute(conn))
    .map(drop)
}

/// At most `limit` entries after `since`, in order: all of them (`audience` None), or those
/// addressed to `audience` (an organisation, or a worker).
pub fn after(
    conn: &mut DbConnection,
    audience: Option<&str>,
    since: i64,
    limit: i64,
) -> QueryResult<Vec<Entry>> {
    type Row = (i64, String, String, String, i32);
    let columns = (
        changes::seq,
        changes::resource_type,
        changes::resource_id,
        changes::client_id,
        changes::protective_marking,
    );
    let rows: Vec<Row> = match audience {
        None => changes::table
            .filter(changes::seq.gt(since))
            .select(columns)
            .order(changes::seq)
            .limit(limit)
            .load(conn)?,
        Some(audience) => change_audiences::table
            .inner_join(changes::table)
            .filter(change_audiences::audience_id.eq(audience))
            .filter(change_audiences::seq.gt(since))
            .select(columns)
            .order(change_audiences::seq)
            .limit(limit)
            .load(conn)?,
    };
    Ok(rows
        .into_iter()
        .filter_map(|(seq, kind, resource_id, client_id, protective_marking)| {
            Some(Entry {
                seq,
                kind: Kind::parse(&kind)?,
                resource_id,
                client_id,
                protective_marking,
            })
        })
        .collect())
}

/// The `settings` key of the newest entry pruned: a cursor before it has missed changes.
const PRUNED_THROUGH: &str = "change_feed.pruned_through";

/// Deletes the oldest entries changed before `cutoff`, at most `batch` of them (so that one
/// writer job's work is bounded), and notes the newest deleted; answers how many went.
pub fn prune(conn: &mut DbConnection, cutoff: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let oldest: Vec<(i64, NaiveDateTime)> = changes::table
        .select((changes::seq, changes::changed_at))
        .order(changes::seq)
        .limit(batch)
        .load(conn)?;
    let due: Vec<i64> = oldest
        .into_iter()
        .take_while(|(_, changed_at)| *changed_at < cutoff)
        .map(|(seq, _)| seq)
        .collect();
    let Some(&newest) = due.last() else {
        return Ok(0);
    };
    diesel::delete(change_audiences::table.filter(change_audiences::seq.eq_any(&due)))
        .execute(conn)?;
    diesel::delete(changes::table.filter(changes::seq.eq_any(&due))).execute(conn)?;
    super::settings::set(conn, PRUNED_THROUGH, &newest.to_string())?;
    Ok(due.len())
}

/// The newest entry pruned (0 when none was): a reader must have read at least this far.
/// Read after the entries, so that a prune committed meanwhile is seen (its deletions and
/// this number are one transaction).
pub fn pruned_through(conn: &mut DbConnection) -> QueryResult<i64> {
    Ok(super::settings::get(conn, PRUNED_THROUGH)?
        .and_then(|seq| seq.parse().ok())
        .unwrap_or_default())
}

/// The newest entry's number (0 before the first change), or the newest pruned when every
/// entry was: where a new reader starts.
pub fn latest(conn: &mut DbConnection) -> QueryResult<i64> {
    let newest = changes::table
        .select(diesel::dsl::max(changes::seq))
        .first::<Option<i64>>(conn)?;
    Ok(newest.unwrap_or_default().max(pruned_through(conn)?))
}
