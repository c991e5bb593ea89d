//! How fast anyone may try to sign in, whatever the outcome, in this process: a rate per client address and one
//! for everyone together (`governor`'s GCRA limiters). The failure windows (`domain::throttle`) decide who may
//! try at all and hold across instances; these keep a flood — one address or a botnet's many — from turning
//! into password guesses and from keeping the cores busy with password hashing.

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Attempts a minute per address by default, in bursts of as many: people retype a password, an office behind
/// one address signs in on Monday morning, scripts hammer.
pub const PER_CLIENT_PER_MINUTE: u32 = 20;
/// Twenty a second for everyone: about what two cores hash with argon2 while still serving everything else.
const OVERALL_PER_SECOND: u32 = 20;
const OVERALL_BURST: u32 = 40;

#[derive(Clone)]
pub struct SignInLimits {
    per_client: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    overall: Arc<DefaultDirectRateLimiter>,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self::new(PER_CLIENT_PER_MINUTE)
    }
}

impl SignInLimits {
    /// With `per_client_per_minute` attempts a minute per address (`INTENTLAB_SIGN_IN_PER_MINUTE`).
    pub fn new(per_client_per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_client_per_minute).unwrap_or(NonZeroU32::MIN);
        let per_second = NonZeroU32::new(OVERALL_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(OVERALL_BURST).unwrap_or(NonZeroU32::MIN);
        Self {
            per_client: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
            overall: Arc::new(RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))),
        }
    }

    /// Takes one attempt for `client`, or says how long to wait.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let clock = governor::clock::DefaultClock::default();
        use governor::clock::Clock;
        self.per_client.check_key(&client).map_err(|not_until| not_until.wait_time_from(clock.now()))?;
        self.overall.check().map_err(|not_until| not_until.wait_time_from(clock.now()))
    }

    /// Forgets addresses whose allowance is whole again (bounded memory under a flood of addresses).
    pub fn forget_idle(&self) {
        self.per_client.retain_recent();
        self.per_client.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limits = SignInLimits::default();
        let attacker: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..PER_CLIENT_PER_MINUTE {
            assert!(limits.check(attacker).is_ok());
        }
        let wait = limits.check(attacker).unwrap_err();
        assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(60), "{wait:?}");
        assert!(limits.check("198.51.100.7".parse().unwrap()).is_ok());
    }

    #[test]
    fn everyone_together_is_limited_too() {
        let limits = SignInLimits::default();
        let refused = (0..200u32)
            .map(|i| limits.check(IpAddr::from([10, 0, (i / 250) as u8, (i % 250) as u8])))
            .filter(Result::is_err)
            .count();
        assert!(refused >= 200 - OVERALL_BURST as usize - 5, "{refused} of 200 refused");
    }
}
