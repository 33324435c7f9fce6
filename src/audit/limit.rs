//! The allowance of requests without valid credentials, per client address: a token bucket
//! that holds at most `burst` requests and refills at `rate` per second. Every request leaves
//! an audit row, so this is what bounds how fast an anonymous caller can grow the trail.
//!
//! A refused request is recorded too, but at most one row per address per
//! [`REFUSAL_ROW_INTERVAL`]: the first refusal in an interval has a row of its own, the ones
//! after it are counted, and the count is carried by the address's next refusal row, or by a
//! tally row once the interval has passed (`audit::record_refusal_tallies`). A flood of
//! refused requests therefore adds one small row per second per address, whatever its rate.
//!
//! Memory is bounded: at most `addresses` addresses have an allowance of their own (an IPv6
//! client is known by its /64, which one subscriber usually holds whole); when the table is
//! full, idle entries (full bucket, nothing left to record) are dropped, and if none is idle
//! the newcomers share one allowance.
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::AnonymousLimits;

/// At most one refusal row per address within this interval.
pub const REFUSAL_ROW_INTERVAL: Duration = Duration::from_secs(1);

/// A full table is searched for idle entries at most this often.
const PRUNE_INTERVAL: Duration = Duration::from_secs(1);

/// Whose allowance a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPv4 address, or the /64 network of an IPv6 one.
    Address(IpAddr),
    /// A request whose peer address is not known.
    Unknown,
    /// Addresses that found the table full share this one.
    Overflow,
}

impl Source {
    pub fn of(address: Option<IpAddr>) -> Self {
        match address {
            Some(IpAddr::V6(v6)) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Source::Address(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
            Some(v4) => Source::Address(v4),
            None => Source::Unknown,
        }
    }

    /// The address a tally row names: the address, or the /64 network's first address.
    pub fn address(self) -> Option<IpAddr> {
        match self {
            Source::Address(address) => Some(address),
            Source::Unknown | Source::Overflow => None,
        }
    }
}

/// What the limiter says to a request without valid credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Over the allowance: the caller may try again after `retry_after_seconds`. `row` is
    /// `Some(n)` when this refusal is recorded with a row of its own, which also stands for
    /// the `n` refusals of the same address before it that were only counted; `None` when
    /// this refusal is only counted.
    Refused {
        retry_after_seconds: u64,
        row: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Allowance {
    tokens: f64,
    at: Instant,
    /// Refusals counted since the address's last refusal row, not yet recorded.
    unrecorded: u64,
    last_row: Option<Instant>,
}

impl Allowance {
    fn full(burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            at: now,
            unrecorded: 0,
            last_row: None,
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = self.at.max(now);
    }

    fn row_due(&self, now: Instant) -> bool {
        self.last_row
            .is_none_or(|last| now.saturating_duration_since(last) >= REFUSAL_ROW_INTERVAL)
    }
}

struct Table {
    /// Addresses with an allowance of their own: at most `addresses` of them.
    own: HashMap<IpAddr, Allowance>,
    unknown: Option<Allowance>,
    overflow: Option<Allowance>,
    /// Sources with refusals counted but not yet recorded.
    pending: HashSet<Source>,
    next_prune: Instant,
}

impl Table {
    fn get_mut(&mut self, source: Source) -> Option<&mut Allowance> {
        match source {
            Source::Address(address) => self.own.get_mut(&address),
            Source::Unknown => self.unknown.as_mut(),
            Source::Overflow => self.overflow.as_mut(),
        }
    }
}

pub struct Limiter {
    rate: f64,
    burst: f64,
    addresses: usize,
    table: Mutex<Table>,
}

impl Limiter {
    pub fn new(limits: &AnonymousLimits) -> Self {
        Self::with(
            limits.anonymous_rate,
            limits.anonymous_burst,
            usize::try_from(limits.anonymous_addresses).unwrap_or(usize::MAX),
        )
    }

    fn with(rate: f64, burst: u32, addresses: usize) -> Self {
        Self {
            rate,
            burst: f64::from(burst),
            addresses: addresses.max(1),
            table: Mutex::new(Table {
                own: HashMap::new(),
                unknown: None,
                overflow: None,
                pending: HashSet::new(),
                next_prune: Instant::now(),
            }),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // The table holds counters only: one left half-updated by a panic is still usable.
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one request from the allowance of `address`, or refuses it.
    pub fn admit(&self, address: Option<IpAddr>, now: Instant) -> Admission {
        let mut table = self.table();
        let (source, allowance) = self.allowance(&mut table, address, now);
        if allowance.tokens >= 1.0 {
            allowance.tokens -= 1.0;
            return Admission::Admitted;
        }
        let retry_after_seconds = ((1.0 - allowance.tokens) / self.rate).ceil().max(1.0) as u64;
        let row = if allowance.row_due(now) {
            allowance.last_row = Some(now);
            Some(std::mem::take(&mut allowance.unrecorded))
        } else {
            allowance.unrecorded += 1;
            None
        };
        match row {
            Some(_) => table.pending.remove(&source),
            None => table.pending.insert(source),
        };
        Admission::Refused {
            retry_after_seconds,
            row,
        }
    }

    /// The refusals counted and not yet recorded, of every source whose last refusal row is
    /// at least [`REFUSAL_ROW_INTERVAL`] old: each is to be recorded in a tally row now.
    pub fn take_tallies(&self, now: Instant) -> Vec<(Source, u64)> {
        let mut table = self.table();
        let pending: Vec<Source> = table.pending.iter().copied().collect();
        let mut due = Vec::new();
        for source in pending {
            let Some(allowance) = table.get_mut(source) else {
                table.pending.remove(&source);
                continue;
            };
            if !allowance.row_due(now) {
                continue;
            }
            allowance.last_row = Some(now);
            let count = std::mem::take(&mut allowance.unrecorded);
            table.pending.remove(&source);
            if count > 0 {
                due.push((source, count));
            }
        }
        due
    }

    /// The allowance a request from `address` draws on, refilled to `now`: the address's
    /// own, unless the table is full of active addresses.
    fn allowance<'t>(
        &self,
        table: &'t mut Table,
        address: Option<IpAddr>,
        now: Instant,
    ) -> (Source, &'t mut Allowance) {
        let mut source = Source::of(address);
        if let Source::Address(key) = source
            && !table.own.contains_key(&key)
            && table.own.len() >= self.addresses
        {
            self.prune(table, now);
            if table.own.len() >= self.addresses {
                source = Source::Overflow;
            }
        }
        let fresh = || Allowance::full(self.burst, now);
        let allowance = match source {
            Source::Address(key) => table.own.entry(key).or_insert_with(fresh),
            Source::Unknown => table.unknown.get_or_insert_with(fresh),
            Source::Overflow => table.overflow.get_or_insert_with(fresh),
        };
        allowance.refill(self.rate, self.burst, now);
        (source, allowance)
    }

    /// Drops the addresses that are as good as new (full bucket, nothing left to record), at
    /// most once per [`PRUNE_INTERVAL`].
    fn prune(&self, table: &mut Table, now: Instant) {
        if now < table.next_prune {
            return;
        }
        table.next_prune = now + PRUNE_INTERVAL;
        let (rate, burst) = (self.rate, self.burst);
        table.own.retain(|_, allowance| {
            let mut refilled = *allowance;
            refilled.refill(rate, burst, now);
            refilled.tokens < burst || refilled.unrecorded > 0 || !refilled.row_due(now)
        });
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table().own.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    fn refused(admission: Admission) -> bool {
        matches!(admission, Admission::Refused { .. })
    }

    #[test]
    fn an_address_may_make_its_burst_at_once_and_no_more() {
        let limiter = Limiter::with(1.0, 3, 10);
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.admit(ip("192.0.2.1"), now), Admission::Admitted);
        }
        assert!(refused(limiter.admit(ip("192.0.2.1"), now)));
    }

    #[test]
    fn the_allowance_refills_at_the_rate_up_to_the_burst() {
        let limiter = Limiter::with(2.0, 2, 10);
        let start = Instant::now();
        limiter.admit(ip("192.0.2.1"), start);
        limiter.admit(ip("192.0.2.1"), start);
        assert!(refused(limiter.admit(ip("192.0.2.1"), start)));
        let later = start + Duration::from_millis(500);
        assert_eq!(limiter.admit(ip("192.0.2.1"), later), Admission::Admitted);
        assert!(refused(limiter.admit(ip("192.0.2.1"), later)));
        // An hour idle refills the burst, not an hour's worth.
        let much_later = later + Duration::from_secs(3600);
        for _ in 0..2 {
            assert_eq!(
                limiter.admit(ip("192.0.2.1"), much_later),
                Admission::Admitted
            );
        }
        assert!(refused(limiter.admit(ip("192.0.2.1"), much_later)));
    }

    #[test]
    fn a_refusal_says_when_to_retry() {
        let limiter = Limiter::with(0.25, 1, 10);
        let now = Instant::now();
        limiter.admit(ip("192.0.2.1"), now);
        match limiter.admit(ip("192.0.2.1"), now) {
            Admission::Refused {
                retry_after_seconds,
                ..
            } => assert_eq!(retry_after_seconds, 4),
            admitted => panic!("{admitted:?}"),
        }
    }

    #[test]
    fn addresses_have_allowances_of_their_own() {
        let limiter = Limiter::with(1.0, 1, 10);
        let now = Instant::now();
        assert_eq!(limiter.admit(ip("192.0.2.1"), now), Admission::Admitted);
        assert_eq!(limiter.admit(ip("192.0.2.2"), now), Admission::Admitted);
        assert!(refused(limiter.admit(ip("192.0.2.1"), now)));
    }

    #[test]
    fn an_ipv6_slash_64_shares_one_allowance() {
        let limiter = Limiter::with(1.0, 1, 10);
        let now = Instant::now();
        assert_eq!(
            limiter.admit(ip("2001:db8:1:2::1"), now),
            Admission::Admitted
        );
        assert!(refused(limiter.admit(ip("2001:db8:1:2:ffff::9"), now)));
        assert_eq!(
            limiter.admit(ip("2001:db8:1:3::1"), now),
            Admission::Admitted
        );
        assert_eq!(
            Source::of(ip("2001:db8:1:2:ffff::9")).address(),
            ip("2001:db8:1:2::")
        );
    }

    #[test]
    fn at_most_one_refusal_row_per_interval_carries_the_count_of_the_others() {
        let limiter = Limiter::with(0.001, 1, 10);
        let start = Instant::now();
        limiter.admit(ip("192.0.2.1"), start);
        let row = |admission| match admission {
            Admission::Refused { row, .. } => row,
            admitted => panic!("{admitted:?}"),
        };
        assert_eq!(row(limiter.admit(ip("192.0.2.1"), start)), Some(0));
        for _ in 0..99 {
            assert_eq!(row(limiter.admit(ip("192.0.2.1"), start)), None);
        }
        let next = start + REFUSAL_ROW_INTERVAL;
        assert_eq!(row(limiter.admit(ip("192.0.2.1"), next)), Some(99));
        assert_eq!(limiter.take_tallies(next + REFUSAL_ROW_INTERVAL), vec![]);
    }

    #[test]
    fn refusals_left_uncounted_are_handed_over_once_the_interval_has_passed() {
        let limiter = Limiter::with(0.001, 1, 10);
        let start = Instant::now();
        limiter.admit(ip("192.0.2.1"), start);
        limiter.admit(ip("192.0.2.1"), start);
        for _ in 0..5 {
            limiter.admit(ip("192.0.2.1"), start);
        }
        assert_eq!(
            limiter.take_tallies(start),
            vec![],
            "not before the interval"
        );
        let later = start + REFUSAL_ROW_INTERVAL;
        assert_eq!(
            limiter.take_tallies(later),
            vec![(Source::of(ip("192.0.2.1")), 5)]
        );
        assert_eq!(limiter.take_tallies(later + REFUSAL_ROW_INTERVAL), vec![]);
        // The tally row counts as the interval's row: the next refusal is counted.
        match limiter.admit(ip("192.0.2.1"), later) {
            Admission::Refused { row, .. } => assert_eq!(row, None),
            admitted => panic!("{admitted:?}"),
        }
    }

    #[test]
    fn the_table_is_bounded_and_newcomers_share_when_it_is_full_of_active_addresses() {
        let limiter = Limiter::with(0.001, 1, 2);
        let now = Instant::now();
        limiter.admit(ip("192.0.2.1"), now);
        limiter.admit(ip("192.0.2.2"), now);
        assert_eq!(limiter.admit(ip("192.0.2.3"), now), Admission::Admitted);
        assert!(
            refused(limiter.admit(ip("192.0.2.4"), now)),
            "192.0.2.3 and .4 share the overflow allowance"
        );
        assert!(limiter.tracked() <= 2);
    }

    #[test]
    fn idle_addresses_make_room_for_new_ones() {
        let limiter = Limiter::with(1.0, 1, 2);
        let start = Instant::now();
        limiter.admit(ip("192.0.2.1"), start);
        limiter.admit(ip("192.0.2.2"), start);
        let later = start + Duration::from_secs(5);
        assert_eq!(limiter.admit(ip("192.0.2.3"), later), Admission::Admitted);
        assert!(
            refused(limiter.admit(ip("192.0.2.3"), later)),
            "192.0.2.3 has an allowance of its own"
        );
        assert_eq!(limiter.admit(ip("192.0.2.4"), later), Admission::Admitted);
        assert!(limiter.tracked() <= 2);
    }

    #[test]
    fn an_unknown_peer_has_an_allowance_too() {
        let limiter = Limiter::with(1.0, 1, 10);
        let now = Instant::now();
        assert_eq!(limiter.admit(None, now), Admission::Admitted);
        assert!(refused(limiter.admit(None, now)));
    }
}
