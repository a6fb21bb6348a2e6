//! Capped exponential backoff after a failed pass.

use std::time::Duration;

/// Delays between retries: `initial`, doubling on each failure, never more
/// than `max`. Reset after a pass succeeds. No jitter: each daemon is a
/// single process retrying one database, and predictable delays make logs
/// and tests easier to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        let max = max.max(initial);
        Backoff {
            initial,
            max,
            next: initial,
            failures: 0,
        }
    }

    /// Records a failure and returns how long to wait before retrying.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.failures = self.failures.saturating_add(1);
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// Consecutive failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
        self.failures = 0;
    }
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s … up to one minute.
    fn default() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let delays: Vec<u64> = (0..5).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert_eq!(b.failures(), 5);
        b.reset();
        assert_eq!(b.failures(), 0);
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn default_caps_at_a_minute() {
        let mut b = Backoff::default();
        let last = (0..20).map(|_| b.next_delay()).last().unwrap();
        assert_eq!(last, Duration::from_secs(60));
    }
}
