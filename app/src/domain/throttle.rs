//! Sign-in throttling: sliding windows over recent failed attempts. Pure: the caller loads the attempt times and
//! passes `now`.
//!
//! Failures count per *account and client address*: five wrong passwords for an account from one address stop
//! that address, not the account's owner signing in from elsewhere — anyone could otherwise lock a known admin
//! out. An address that tries many accounts (password spraying) is stopped by the per-address window, and how
//! fast anyone may try at all by the rate limits in `auth::limits`.

use chrono::{DateTime, Duration, Utc};

/// A limit of `max_failures` inside `window`: the next attempt is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub max_failures: usize,
    pub window: Duration,
}

impl Window {
    /// How long the caller must wait before the next attempt, or `None` if it may try now.
    ///
    /// The wait ends when enough of the counted failures have left the window to go below the limit, so a client
    /// honouring `Retry-After` is never refused again for the same failures.
    pub fn retry_after(&self, failures: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<Duration> {
        let mut recent: Vec<DateTime<Utc>> =
            failures.iter().copied().filter(|at| *at > now - self.window && *at <= now).collect();
        if recent.len() < self.max_failures || self.max_failures == 0 {
            return None;
        }
        recent.sort();
        // Waiting until the (len - max + 1)-th oldest failure expires leaves max - 1 failures in the window.
        let releasing = recent[recent.len() - self.max_failures];
        let wait = releasing + self.window - now;
        Some(wait.max(Duration::seconds(1)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures for one account from one client address.
    pub per_account: Window,
    /// Failures from one client address, whatever the account.
    pub per_client: Window,
}

impl Default for ThrottlePolicy {
    /// 5 failures per account and address per 15 minutes (enough for typos, far too few for guessing), and 30 per
    /// address (a team behind one office address mistyping, not one address trying the staff list).
    fn default() -> Self {
        Self {
            per_account: Window { max_failures: 5, window: Duration::minutes(15) },
            per_client: Window { max_failures: 30, window: Duration::minutes(15) },
        }
    }
}

impl ThrottlePolicy {
    /// The longest window, which is how long failures must be kept.
    pub fn window(&self) -> Duration {
        self.per_account.window.max(self.per_client.window)
    }

    /// How long this attempt must wait, given the earlier failures of the account from this client and of the
    /// client overall (both excluding this attempt).
    pub fn retry_after(
        &self,
        account_failures: &[DateTime<Utc>],
        client_failures: &[DateTime<Utc>],
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        let account = self.per_account.retry_after(account_failures, now);
        let client = self.per_client.retry_after(client_failures, now);
        account.max(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes_ago: i64, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::minutes(minutes_ago)
    }

    fn window(max_failures: usize, minutes: i64) -> Window {
        Window { max_failures, window: Duration::minutes(minutes) }
    }

    #[test]
    fn allows_until_the_limit() {
        let now = Utc::now();
        let four: Vec<_> = (0..4).map(|i| at(i, now)).collect();
        assert_eq!(window(5, 15).retry_after(&four, now), None);
    }

    #[test]
    fn refuses_at_the_limit_until_the_oldest_failure_expires() {
        let now = Utc::now();
        let five: Vec<_> = [10, 8, 3, 2, 1].iter().map(|m| at(*m, now)).collect();
        assert_eq!(window(5, 15).retry_after(&five, now), Some(Duration::minutes(5)));
    }

    #[test]
    fn ignores_failures_outside_the_window() {
        let now = Utc::now();
        let old: Vec<_> = [20, 16, 15, 1, 0].iter().map(|m| at(*m, now)).collect();
        assert_eq!(window(5, 15).retry_after(&old, now), None);
    }

    #[test]
    fn with_more_failures_than_the_limit_waits_for_enough_to_expire() {
        let now = Utc::now();
        let three: Vec<_> = [9, 5, 1].iter().map(|m| at(*m, now)).collect();
        // After 5 minutes only the failure of 1 minute ago remains: below the limit of 2.
        assert_eq!(window(2, 10).retry_after(&three, now), Some(Duration::minutes(5)));
    }

    #[test]
    fn never_asks_for_less_than_a_second() {
        let now = Utc::now();
        let edge = [now - Duration::minutes(1) + Duration::milliseconds(10)];
        assert_eq!(window(1, 1).retry_after(&edge, now), Some(Duration::seconds(1)));
    }

    #[test]
    fn the_account_and_the_client_windows_both_hold_and_the_longer_wait_wins() {
        let now = Utc::now();
        let policy = ThrottlePolicy::default();
        let few: Vec<_> = (0..2).map(|i| at(i, now)).collect();
        let five_for_the_account: Vec<_> = [10, 8, 3, 2, 1].iter().map(|m| at(*m, now)).collect();
        let thirty_elsewhere: Vec<_> = (0..30).map(|i| now - Duration::seconds(20 * i + 1)).collect();
        assert_eq!(policy.retry_after(&few, &few, now), None);
        assert_eq!(policy.retry_after(&five_for_the_account, &five_for_the_account, now), Some(Duration::minutes(5)));
        let spraying = policy.retry_after(&few, &thirty_elsewhere, now).unwrap();
        assert!(spraying > Duration::minutes(5), "{spraying}");
        assert_eq!(policy.window(), Duration::minutes(15));
    }
}
