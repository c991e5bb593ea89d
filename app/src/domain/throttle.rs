//! Login throttling: a sliding window over recent failed attempts for one email address.
//! Pure: the caller loads the failure timestamps and passes `now`.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed inside the window; the next attempt is refused.
    pub max_failures: usize,
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    /// 5 failures per 15 minutes: enough for typos, far too few for guessing.
    fn default() -> Self {
        Self { max_failures: 5, window: Duration::minutes(15) }
    }
}

impl ThrottlePolicy {
    /// How long the caller must wait before the next attempt, or `None` if it may try now.
    ///
    /// The wait ends when enough of the counted failures have left the window to go below the limit, so a client
    /// honouring `Retry-After` is never refused again for the same failures.
    pub fn retry_after(&self, failures: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<Duration> {
        let mut recent: Vec<DateTime<Utc>> =
            failures.iter().copied().filter(|at| *at > now - self.window && *at <= now).collect();
        if recent.len() < self.max_failures {
            return None;
        }
        recent.sort();
        // Waiting until the (len - max + 1)-th oldest failure expires leaves max - 1 failures in the window.
        let releasing = recent[recent.len() - self.max_failures];
        let wait = releasing + self.window - now;
        Some(wait.max(Duration::seconds(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes_ago: i64, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::minutes(minutes_ago)
    }

    #[test]
    fn allows_until_the_limit() {
        let now = Utc::now();
        let policy = ThrottlePolicy::default();
        let four: Vec<_> = (0..4).map(|i| at(i, now)).collect();
        assert_eq!(policy.retry_after(&four, now), None);
    }

    #[test]
    fn refuses_at_the_limit_until_the_oldest_failure_expires() {
        let now = Utc::now();
        let policy = ThrottlePolicy::default();
        let five: Vec<_> = [10, 8, 3, 2, 1].iter().map(|m| at(*m, now)).collect();
        assert_eq!(policy.retry_after(&five, now), Some(Duration::minutes(5)));
    }

    #[test]
    fn ignores_failures_outside_the_window() {
        let now = Utc::now();
        let policy = ThrottlePolicy::default();
        let old: Vec<_> = [20, 16, 15, 1, 0].iter().map(|m| at(*m, now)).collect();
        assert_eq!(policy.retry_after(&old, now), None);
    }

    #[test]
    fn with_more_failures_than_the_limit_waits_for_enough_to_expire() {
        let now = Utc::now();
        let policy = ThrottlePolicy { max_failures: 2, window: Duration::minutes(10) };
        let three: Vec<_> = [9, 5, 1].iter().map(|m| at(*m, now)).collect();
        // After 5 minutes only the failure of 1 minute ago remains: below the limit of 2.
        assert_eq!(policy.retry_after(&three, now), Some(Duration::minutes(5)));
    }

    #[test]
    fn never_asks_for_less_than_a_second() {
        let now = Utc::now();
        let policy = ThrottlePolicy { max_failures: 1, window: Duration::minutes(1) };
        let edge = [now - Duration::minutes(1) + Duration::milliseconds(10)];
        assert_eq!(policy.retry_after(&edge, now), Some(Duration::seconds(1)));
    }
}
