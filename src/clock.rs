//! The service's notion of now for access decisions: contract dates, allocation dates,
//! session expiry, lockouts, dormancy and review due dates. It reads the system clock; tests
//! move it forward to reach those dates without waiting.
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Duration, NaiveDate, NaiveDateTime, Utc};

#[derive(Debug, Default)]
pub struct Clock {
    offset_seconds: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> NaiveDateTime {
        Utc::now().naive_utc() + Duration::seconds(self.offset_seconds.load(Ordering::Relaxed))
    }

    pub fn today(&self) -> NaiveDate {
        self.now().date()
    }

    /// Moves this clock forward (tests only: nothing in the service calls it).
    pub fn advance(&self, by: Duration) {
        self.offset_seconds
            .fetch_add(by.num_seconds(), Ordering::Relaxed);
    }
}
