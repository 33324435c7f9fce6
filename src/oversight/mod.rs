//! Unusual usage, read from the audit trail: each rule looks at the requests of a period and
//! reports findings with the figures behind them and the audit events that prove them. The
//! rules are plain functions over loaded events; what they need beyond the period (a user's
//! previous month, which clients are restricted, ended allocations, sessions) they ask
//! [`Lookups`] for, so the database is asked only about candidates.
pub mod webhook;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::config::OversightConfig;

/// Text that many events repeat (an actor, a route, an address, a client), kept once.
pub type Shared = Arc<str>;

/// One request as the rules see it.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub actor_user_id: Option<Shared>,
    pub actor_organisation_id: Option<Shared>,
    pub occurred_at: NaiveDateTime,
    pub method: Shared,
    pub route: Shared,
    pub outcome: Shared,
    pub resource_type: Option<Shared>,
    pub resource_id: Option<String>,
    pub client_ids: Vec<Shared>,
    /// The fields disclosed, as the row stores them (a JSON list): parsed only by the
    /// reports that need them.
    pub fields: String,
    pub purpose_of_use: Option<String>,
    pub ip: Option<Shared>,
    pub attempted_username: Option<String>,
}

impl Event {
    pub fn allowed(&self) -> bool {
        &*self.outcome == "allowed"
    }

    pub fn denied(&self) -> bool {
        &*self.outcome == "denied"
    }

    fn searched_profiles(&self) -> bool {
        &*self.route == PROFILE_SEARCH_ROUTE
    }
}

/// A session's life, for the shared-credentials rule.
#[derive(Debug, Clone)]
pub struct SessionSpan {
    pub user_id: String,
    pub ip: Option<String>,
    pub started: NaiveDateTime,
    pub ended: NaiveDateTime,
}

/// What the rules ask beyond the period's events.
pub trait Lookups {
    /// When `actor`'s allowed requests in [from, to) happened and the clients each named.
    fn disclosures_of(
        &mut self,
        actor: &str,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> anyhow::Result<Vec<(NaiveDateTime, Vec<String>)>>;
    /// Every restricted client (they are few: a restriction is an exception).
    fn restricted_clients(&mut self) -> anyhow::Result<BTreeSet<String>>;
    /// The day an allocation of the record (a client, or a case) to `organisation_id` ended
    /// before `on`, if one did.
    fn allocation_ended(
        &mut self,
        organisation_id: &str,
        resource_type: &str,
        resource_id: &str,
        on: NaiveDate,
    ) -> anyhow::Result<Option<NaiveDate>>;
    /// `actor`'s last request before `before`.
    fn previous_request(
        &mut self,
        actor: &str,
        before: NaiveDateTime,
    ) -> anyhow::Result<Option<NaiveDateTime>>;
    /// Sessions alive at some time within [from, to).
    fn sessions(
        &mut self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> anyhow::Result<Vec<SessionSpan>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Many more distinct clients in a day than the user's usual.
    ManyDistinctClients,
    /// Client data read outside working hours or days.
    OutsideWorkingHours,
    /// A restricted client's data read (for review of the stated purpose).
    RestrictedClientRead,
    /// Many refused requests within an hour: attempted access violations.
    RepeatedDenials,
    /// A CSP account trying to reach a record after its organisation's allocation ended.
    AfterAllocationEnded,
    /// An account used again after a long silence.
    DormantAccountActive,
    /// One account used from two addresses in overlapping sessions.
    SharedCredentials,
    /// Many basic-profile searches whose results were never worked on.
    FishingSearches,
}

impl Rule {
    pub const ALL: [Rule; 8] = [
        Rule::ManyDistinctClients,
        Rule::OutsideWorkingHours,
        Rule::RestrictedClientRead,
        Rule::RepeatedDenials,
        Rule::AfterAllocationEnded,
        Rule::DormantAccountActive,
        Rule::SharedCredentials,
        Rule::FishingSearches,
    ];
}

/// One finding of one rule.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Finding {
    /// Stable for the same evidence: derived from the rule, the subject and the first event.
    #[schema(format = Uuid)]
    pub id: String,
    pub rule: Rule,
    #[schema(format = Uuid)]
    pub actor_user_id: Option<String>,
    /// Who the finding is about: a user id, or for refused anonymous requests the username
    /// tried or the address.
    pub subject: String,
    /// The finding in plain language.
    pub reason: String,
    /// The figures behind it.
    #[schema(value_type = Object)]
    pub figures: Value,
    /// The audit events that prove it, oldest first.
    pub event_ids: Vec<String>,
}

impl crate::api::disclosure::Disclose for Finding {
    fn id(&self) -> &str {
        &self.id
    }
    /// A finding names clients but holds none of their data.
    fn client_id(&self) -> Option<&str> {
        None
    }
}

fn finding(
    rule: Rule,
    actor: Option<&str>,
    subject: &str,
    reason: String,
    figures: Value,
    event_ids: Vec<String>,
) -> Finding {
    let first = event_ids.first().map(String::as_str).unwrap_or_default();
    let rule_name = serde_json::to_value(rule).unwrap_or_default();
    let digest = Sha256::digest(format!("{rule_name}:{subject}:{first}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Finding {
        id: uuid::Builder::from_custom_bytes(bytes)
            .into_uuid()
            .to_string(),
        rule,
        actor_user_id: actor.map(str::to_owned),
        subject: subject.to_owned(),
        reason,
        figures,
        event_ids,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

impl Period {
    /// Consecutive periods of `step` (the last one shorter) that cover this one; `step` must
    /// be positive.
    pub fn in_steps_of(&self, step: Duration) -> Vec<Period> {
        let mut slices = Vec::new();
        let mut from = self.from;
        while from < self.to {
            let to = (from + step).min(self.to);
            slices.push(Period { from, to });
            from = to;
        }
        slices
    }

    /// `parts` consecutive periods of about equal length that cover this one.
    pub fn in_parts(&self, parts: usize) -> Vec<Period> {
        let parts = parts.max(1) as i32;
        // Rounded up, so that the division's remainder does not make a part of its own.
        self.in_steps_of((self.to - self.from) / parts + Duration::nanoseconds(1))
    }
}

/// The findings of every rule, or of `only` one, over the period's `events` (oldest first),
/// in the order of [`Rule::ALL`].
pub fn findings(
    config: &OversightConfig,
    period: &Period,
    events: &[Event],
    only: Option<Rule>,
    lookups: &mut dyn Lookups,
) -> anyhow::Result<Vec<Finding>> {
    let disclosing = disclosures(events);
    let mut calendar = Calendar::new(config);
    let mut found = Vec::new();
    for rule in Rule::ALL {
        if only.is_some_and(|only| only != rule) {
            continue;
        }
        found.extend(match rule {
            Rule::ManyDistinctClients => {
                many_distinct_clients(&mut calendar, &disclosing, lookups)?
            }
            Rule::OutsideWorkingHours => outside_working_hours(&mut calendar, &disclosing),
            Rule::RestrictedClientRead => restricted_client_reads(&disclosing, lookups)?,
            Rule::RepeatedDenials => repeated_denials(config, events),
            Rule::AfterAllocationEnded => after_allocation_ended(events, lookups)?,
            Rule::DormantAccountActive => dormant_accounts(config, events, lookups)?,
            Rule::SharedCredentials => shared_credentials(period, events, lookups)?,
            Rule::FishingSearches => fishing_searches(&mut calendar, events),
        });
    }
    Ok(found)
}

/// The department's calendar: the local day of a time and whether it falls in working hours.
struct Calendar<'a> {
    config: &'a OversightConfig,
    /// Every time zone's offset is a whole number of quarter hours, so one conversion serves
    /// a quarter hour of requests (a month of the trail holds a million).
    quarters: FxHashMap<i64, (NaiveDate, bool)>,
}

impl<'a> Calendar<'a> {
    fn new(config: &'a OversightConfig) -> Self {
        Self {
            config,
            quarters: FxHashMap::default(),
        }
    }

    fn local(&mut self, at: NaiveDateTime) -> (NaiveDate, bool) {
        let config = self.config;
        *self
            .quarters
            .entry(at.and_utc().timestamp().div_euclid(900))
            .or_insert_with(|| {
                let local = config.time_zone.from_utc_datetime(&at);
                let (start, end) = config.working_hours;
                let working = config.working_days.includes(local.weekday())
                    && (start..end).contains(&local.hour());
                (local.date_naive(), working)
            })
    }

    fn day(&mut self, at: NaiveDateTime) -> NaiveDate {
        self.local(at).0
    }

    /// The UTC start of local `day`.
    fn start_of(&self, day: NaiveDate) -> NaiveDateTime {
        let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        self.config
            .time_zone
            .from_local_datetime(&midnight)
            .earliest()
            .map(|start| start.naive_utc())
            .unwrap_or(midnight)
    }
}

/// Allowed requests that disclosed client data, by actor.
type ByActor<'a> = BTreeMap<&'a str, Vec<&'a Event>>;

fn disclosures(events: &[Event]) -> ByActor<'_> {
    let mut by_actor: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for event in events {
        if let Some(actor) = event.actor_user_id.as_deref()
            && event.allowed()
            && !event.client_ids.is_empty()
        {
            by_actor.entry(actor).or_default().push(event);
        }
    }
    by_actor
}

fn owned(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

fn median(mut values: Vec<usize>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle] as f64
    } else {
        (values[middle - 1] + values[middle]) as f64 / 2.0
    }
}

fn many_distinct_clients(
    calendar: &mut Calendar,
    disclosing: &ByActor,
    lookups: &mut dyn Lookups,
) -> anyhow::Result<Vec<Finding>> {
    let config = calendar.config;
    let mut found = Vec::new();
    for (&actor, events) in disclosing {
        // Clients named per day, counting repeats: only days above the floor are counted
        // again without them.
        let mut mentions: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for event in events {
            *mentions.entry(calendar.day(event.occurred_at)).or_default() += event.client_ids.len();
        }
        mentions.retain(|_, count| *count > config.unusual_clients_floor);
        if mentions.is_empty() {
            continue;
        }
        let mut days: BTreeMap<NaiveDate, (BTreeSet<&str>, Vec<&str>)> = BTreeMap::new();
        for event in events {
            let day = calendar.day(event.occurred_at);
            if mentions.contains_key(&day) {
                let day = days.entry(day).or_default();
                day.0
                    .extend(event.client_ids.iter().map(|client| &**client));
                day.1.push(&event.id);
            }
        }
        for (day, (clients, event_ids)) in days {
            if clients.len() <= config.unusual_clients_floor {
                continue;
            }
            // The user's usual: the median of their working days in the 30 days before.
            let day_start = calendar.start_of(day);
            let history =
                lookups.disclosures_of(actor, day_start - Duration::days(30), day_start)?;
            let mut per_day: BTreeMap<NaiveDate, BTreeSet<String>> = BTreeMap::new();
            for (at, clients) in history {
                per_day.entry(calendar.day(at)).or_default().extend(clients);
            }
            let usual = median(per_day.values().map(BTreeSet::len).collect());
            if clients.len() as f64 > config.unusual_clients_factor * usual {
                found.push(finding(
                    Rule::ManyDistinctClients,
                    Some(actor),
                    actor,
                    format!(
                        "Read {} distinct clients on {day}; their median over the previous 30 \
                         days was {usual} a working day.",
                        clients.len()
                    ),
                    json!({"day": day, "distinct_clients": clients.len(), "median_previous_30_days": usual,
                           "factor": config.unusual_clients_factor, "floor": config.unusual_clients_floor}),
                    owned(&event_ids),
                ));
            }
        }
    }
    Ok(found)
}

fn outside_working_hours(calendar: &mut Calendar, disclosing: &ByActor) -> Vec<Finding> {
    let config = calendar.config;
    let (start, end) = config.working_hours;
    let mut found = Vec::new();
    for (&actor, events) in disclosing {
        let mut days: BTreeMap<NaiveDate, Vec<&str>> = BTreeMap::new();
        for event in events {
            let (day, working) = calendar.local(event.occurred_at);
            if !working {
                days.entry(day).or_default().push(&event.id);
            }
        }
        for (day, event_ids) in days {
            found.push(finding(
                Rule::OutsideWorkingHours,
                Some(actor),
                actor,
                format!(
                    "{} request(s) disclosing client data on {day} outside working hours \
                     ({start}:00 to {end}:00 on working days, {}).",
                    event_ids.len(),
                    config.time_zone
                ),
                json!({"day": day, "requests": event_ids.len()}),
                owned(&event_ids),
            ));
        }
    }
    found
}

fn restricted_client_reads(
    disclosing: &ByActor,
    lookups: &mut dyn Lookups,
) -> anyhow::Result<Vec<Finding>> {
    let restricted = lookups.restricted_clients()?;
    if restricted.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for (&actor, events) in disclosing {
        for event in events {
            let clients: Vec<&str> = event
                .client_ids
                .iter()
                .map(|client| &**client)
                .filter(|client| restricted.contains(*client))
                .collect();
            if clients.is_empty() {
                continue;
            }
            let purpose = event.purpose_of_use.as_deref().unwrap_or("none stated");
            found.push(finding(
                Rule::RestrictedClientRead,
                Some(actor),
                actor,
                format!(
                    "Read the restricted client(s) {} with the stated purpose: {purpose}.",
                    clients.join(", ")
                ),
                json!({"client_ids": clients, "purpose_of_use": event.purpose_of_use, "route": event.route}),
                vec![event.id.clone()],
            ));
        }
    }
    Ok(found)
}

fn repeated_denials(config: &OversightConfig, events: &[Event]) -> Vec<Finding> {
    let mut by_subject: BTreeMap<String, (Option<&str>, Vec<&Event>)> = BTreeMap::new();
    for event in events.iter().filter(|event| event.denied()) {
        let subject = event
            .actor_user_id
            .as_deref()
            .or(event.attempted_username.as_deref())
            .or(event.ip.as_deref())
            .unwrap_or("unknown")
            .to_owned();
        let entry = by_subject.entry(subject).or_default();
        entry.0 = event.actor_user_id.as_deref();
        entry.1.push(event);
    }
    let burst = config.denial_burst as usize;
    let mut found = Vec::new();
    for (subject, (actor, denials)) in by_subject {
        // The first hour holding `burst` refusals, and every refusal in it.
        let Some(start) = (0..denials.len()).find(|&first| {
            denials.get(first + burst - 1).is_some_and(|last| {
                last.occurred_at - denials[first].occurred_at < Duration::hours(1)
            })
        }) else {
            continue;
        };
        let hour_end = denials[start].occurred_at + Duration::hours(1);
        let in_hour: Vec<&Event> = denials[start..]
            .iter()
            .copied()
            .take_while(|event| event.occurred_at < hour_end)
            .collect();
        let routes: BTreeSet<&str> = in_hour.iter().map(|event| &*event.route).collect();
        found.push(finding(
            Rule::RepeatedDenials,
            actor,
            &subject,
            format!(
                "{} refused requests within an hour from {} ({} refused in the period).",
                in_hour.len(),
                denials[start].occurred_at.format("%Y-%m-%d %H:%M UTC"),
                denials.len()
            ),
            json!({"in_one_hour": in_hour.len(), "in_period": denials.len(), "threshold": burst, "routes": routes}),
            in_hour.iter().map(|event| event.id.clone()).collect(),
        ));
    }
    found
}

fn after_allocation_ended(
    events: &[Event],
    lookups: &mut dyn Lookups,
) -> anyhow::Result<Vec<Finding>> {
    let mut found = Vec::new();
    for event in events.iter().filter(|event| event.denied()) {
        let (Some(actor), Some(organisation), Some(resource), Some(id)) = (
            event.actor_user_id.as_deref(),
            event.actor_organisation_id.as_deref(),
            event.resource_type.as_deref(),
            event.resource_id.as_deref(),
        ) else {
            continue;
        };
        if let Some(ended) =
            lookups.allocation_ended(organisation, resource, id, event.occurred_at.date())?
        {
            found.push(finding(
                Rule::AfterAllocationEnded,
                Some(actor),
                actor,
                format!(
                    "Tried to reach {resource} {id} after their organisation's allocation \
                     ended on {ended}."
                ),
                json!({"resource_type": resource, "resource_id": id, "allocation_ended_on": ended, "route": event.route}),
                vec![event.id.clone()],
            ));
        }
    }
    Ok(found)
}

fn dormant_accounts(
    config: &OversightConfig,
    events: &[Event],
    lookups: &mut dyn Lookups,
) -> anyhow::Result<Vec<Finding>> {
    let silence = Duration::days(i64::from(config.dormant_report_days));
    // Each actor's latest request so far; their first in the period looks back before it.
    let mut last_seen: HashMap<&str, Option<NaiveDateTime>> = HashMap::new();
    let mut found = Vec::new();
    for event in events {
        let Some(actor) = event.actor_user_id.as_deref() else {
            continue;
        };
        let previous = match last_seen.get(actor) {
            Some(previous) => *previous,
            None => lookups.previous_request(actor, event.occurred_at)?,
        };
        last_seen.insert(actor, Some(event.occurred_at));
        if let Some(before) = previous
            && event.occurred_at - before > silence
        {
            let days = (event.occurred_at - before).num_days();
            found.push(finding(
                Rule::DormantAccountActive,
                Some(actor),
                actor,
                format!("Active again after {days} days without a request."),
                json!({"days_silent": days, "previous_request_at": before.and_utc(), "threshold_days": config.dormant_report_days}),
                vec![event.id.clone()],
            ));
        }
    }
    found.sort_by(|a, b| (&a.subject, &a.event_ids).cmp(&(&b.subject, &b.event_ids)));
    Ok(found)
}

fn shared_credentials(
    period: &Period,
    events: &[Event],
    lookups: &mut dyn Lookups,
) -> anyhow::Result<Vec<Finding>> {
    let mut by_user: BTreeMap<String, Vec<SessionSpan>> = BTreeMap::new();
    for session in lookups.sessions(period.from, period.to)? {
        if session.ip.is_some() {
            by_user
                .entry(session.user_id.clone())
                .or_default()
                .push(session);
        }
    }
    let mut found = Vec::new();
    for (user, sessions) in by_user {
        let mut addresses = BTreeSet::new();
        for (index, one) in sessions.iter().enumerate() {
            for other in &sessions[index + 1..] {
                let overlap = one.started < other.ended && other.started < one.ended;
                if overlap && one.ip != other.ip {
                    addresses.extend([one.ip.clone(), other.ip.clone()].into_iter().flatten());
                }
            }
        }
        if addresses.len() < 2 {
            continue;
        }
        let event_ids: Vec<String> = events
            .iter()
            .filter(|event| event.actor_user_id.as_deref() == Some(user.as_str()))
            .filter(|event| {
                event
                    .ip
                    .as_ref()
                    .is_some_and(|ip| addresses.contains(&**ip))
            })
            .map(|event| event.id.clone())
            .collect();
        found.push(finding(
            Rule::SharedCredentials,
            Some(&user),
            &user,
            format!(
                "Used from {} addresses in overlapping sessions: {}.",
                addresses.len(),
                addresses.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            json!({"addresses": addresses, "sessions": sessions.len()}),
            event_ids,
        ));
    }
    Ok(found)
}

const PROFILE_SEARCH_ROUTE: &str = "/api/v1/profiles";

fn fishing_searches(calendar: &mut Calendar, events: &[Event]) -> Vec<Finding> {
    let config = calendar.config;
    let is_search = |event: &Event| event.allowed() && event.searched_profiles();
    // Only the days of users who searched often enough can hold fishing.
    let mut searches: BTreeMap<(&str, NaiveDate), usize> = BTreeMap::new();
    for event in events.iter().filter(|event| is_search(event)) {
        if let Some(actor) = event.actor_user_id.as_deref() {
            *searches
                .entry((actor, calendar.day(event.occurred_at)))
                .or_default() += 1;
        }
    }
    searches.retain(|_, count| *count >= config.fishing_searches as usize);
    if searches.is_empty() {
        return Vec::new();
    }
    let mut by_actor_day: BTreeMap<(&str, NaiveDate), Vec<&Event>> = BTreeMap::new();
    for event in events.iter().filter(|event| event.allowed()) {
        if let Some(actor) = event.actor_user_id.as_deref() {
            let key = (actor, calendar.day(event.occurred_at));
            if searches.contains_key(&key) {
                by_actor_day.entry(key).or_default().push(event);
            }
        }
    }
    let mut found = Vec::new();
    for ((actor, day), events) in by_actor_day {
        let unfollowed: Vec<&Event> = events
            .iter()
            .enumerate()
            .filter(|(_, event)| event.searched_profiles())
            .filter(|(index, search)| {
                !events[index + 1..].iter().any(|later| {
                    !later.searched_profiles()
                        && later
                            .client_ids
                            .iter()
                            .any(|c| search.client_ids.contains(c))
                })
            })
            .map(|(_, search)| *search)
            .collect();
        if unfollowed.len() < config.fishing_searches as usize {
            continue;
        }
        let searches = events
            .iter()
            .filter(|event| event.searched_profiles())
            .count();
        found.push(finding(
            Rule::FishingSearches,
            Some(actor),
            actor,
            format!(
                "{} basic-profile searches on {day} with no follow-up work on any client found \
                 ({searches} searches in all).",
                unfollowed.len()
            ),
            json!({"day": day, "searches": searches, "without_follow_up": unfollowed.len(), "threshold": config.fishing_searches}),
            unfollowed.iter().map(|event| event.id.clone()).collect(),
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn a_period_splits_into_consecutive_slices_that_cover_it_exactly() {
        let period = Period {
            from: at("2026-10-01 00:00:00"),
            to: at("2026-11-01 01:00:00"),
        };
        let days = period.in_steps_of(Duration::days(1));
        assert_eq!(days.len(), 32, "31 whole days and the last hour");
        assert_eq!(days[31].to - days[31].from, Duration::hours(1));
        for parts in [1, 2, 3, 7] {
            let slices = period.in_parts(parts);
            assert_eq!(slices.len(), parts, "{parts} parts");
            assert_eq!(slices[0].from, period.from);
            assert_eq!(slices[parts - 1].to, period.to);
            for pair in slices.windows(2) {
                assert_eq!(pair[0].to, pair[1].from, "no gap, no overlap");
            }
        }
    }
}
