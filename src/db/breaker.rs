//! A circuit breaker in front of the database. Once a request finds the database out of reach
//! (no connection within the wait, a connection lost), the breaker opens: for a short while
//! every request is refused at once instead of each waiting out its own timeout, and then one
//! request at a time is let through to probe. The first that succeeds closes it again.
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the breaker stays open before it lets a probe through.
pub const OPEN_FOR: Duration = Duration::from_millis(500);

/// How long a probe may take to report before another is let through (a probe whose request
/// was abandoned never reports).
pub const PROBE_FOR: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    /// Refusing until the instant; then the next request probes.
    Open {
        until: Instant,
    },
    /// One request is probing; the others are refused until it reports, or until the instant.
    Probing {
        until: Instant,
    },
}

#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
}

/// Whether a request may use the database. A probe must report its outcome (`Breaker::
/// succeeded` or `Breaker::failed`); the others report only failures that mean the database is
/// out of reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Go,
    Probe,
    Refused,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::Closed),
        }
    }
}

impl Breaker {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value, valid whatever a panicking holder was doing.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn admit(&self, now: Instant) -> Admission {
        let mut state = self.state();
        match *state {
            State::Closed => Admission::Go,
            State::Open { until } | State::Probing { until } if now >= until => {
                *state = State::Probing {
                    until: now + PROBE_FOR,
                };
                Admission::Probe
            }
            State::Open { .. } | State::Probing { .. } => Admission::Refused,
        }
    }

    /// The database answered: close the breaker.
    pub fn succeeded(&self) {
        *self.state() = State::Closed;
    }

    /// The database could not be reached: open (again) for [`OPEN_FOR`] from `now`.
    pub fn failed(&self, now: Instant) {
        let was = std::mem::replace(
            &mut *self.state(),
            State::Open {
                until: now + OPEN_FOR,
            },
        );
        if was == State::Closed {
            tracing::error!(
                open_ms = OPEN_FOR.as_millis() as u64,
                "the database cannot be reached; refusing requests at once and probing"
            );
        }
    }

    pub fn is_closed(&self) -> bool {
        *self.state() == State::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_breaker_lets_every_request_through() {
        let breaker = Breaker::default();
        let now = Instant::now();
        assert_eq!(breaker.admit(now), Admission::Go);
        assert_eq!(breaker.admit(now), Admission::Go);
    }

    #[test]
    fn an_open_breaker_refuses_until_its_time_is_up() {
        let breaker = Breaker::default();
        let now = Instant::now();
        breaker.failed(now);
        assert_eq!(breaker.admit(now), Admission::Refused);
        assert_eq!(
            breaker.admit(now + OPEN_FOR - Duration::from_millis(1)),
            Admission::Refused
        );
    }

    #[test]
    fn after_its_time_one_request_probes_and_the_others_are_refused() {
        let breaker = Breaker::default();
        let now = Instant::now();
        breaker.failed(now);
        assert_eq!(breaker.admit(now + OPEN_FOR), Admission::Probe);
        assert_eq!(breaker.admit(now + OPEN_FOR), Admission::Refused);
    }

    #[test]
    fn a_probe_that_never_reports_is_followed_by_another() {
        let breaker = Breaker::default();
        let now = Instant::now();
        breaker.failed(now);
        assert_eq!(breaker.admit(now + OPEN_FOR), Admission::Probe);
        assert_eq!(breaker.admit(now + OPEN_FOR + PROBE_FOR), Admission::Probe);
    }

    #[test]
    fn a_probe_that_succeeds_closes_the_breaker() {
        let breaker = Breaker::default();
        let now = Instant::now();
        breaker.failed(now);
        assert_eq!(breaker.admit(now + OPEN_FOR), Admission::Probe);
        breaker.succeeded();
        assert_eq!(breaker.admit(now + OPEN_FOR), Admission::Go);
    }

    #[test]
    fn a_probe_that_fails_opens_the_breaker_again() {
        let breaker = Breaker::default();
        let now = Instant::now();
        breaker.failed(now);
        let later = now + OPEN_FOR;
        assert_eq!(breaker.admit(later), Admission::Probe);
        breaker.failed(later);
        assert_eq!(breaker.admit(later), Admission::Refused);
        assert_eq!(breaker.admit(later + OPEN_FOR), Admission::Probe);
    }
}
