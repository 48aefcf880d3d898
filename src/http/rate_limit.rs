//! Per-API-key rate limiting of the poll endpoints (GCRA, via `governor`):
//! `POLL_RATE_PER_SECOND` sustained, `POLL_BURST` at once. Keyed by the
//! SHA-256 of the key, never by peer address: behind Cloud Run every
//! request comes from Google's front end. Each instance counts on its own,
//! so N instances allow up to N times the rate.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

pub struct PollLimiter {
    limiter: DefaultKeyedRateLimiter<[u8; 32]>,
    clock: DefaultClock,
}

impl PollLimiter {
    /// Zero is read as one (configuration refuses zero before this).
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            ),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one poll from `key`'s allowance, or says in how many whole
    /// seconds (at least 1) the next one will be allowed.
    pub fn check(&self, key: &[u8; 32]) -> Result<(), u64> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_passes_then_the_key_waits_and_other_keys_do_not() {
        let limiter = PollLimiter::new(1, 3);
        let a = [1u8; 32];
        for _ in 0..3 {
            assert_eq!(limiter.check(&a), Ok(()));
        }
        assert_eq!(limiter.check(&a), Err(1));
        assert_eq!(limiter.check(&[2u8; 32]), Ok(()));
    }

    #[test]
    fn retry_after_rounds_the_wait_up() {
        // One poll per 2.5 s: the wait after the first is 2.5 s, sent as 3.
        let limiter = PollLimiter {
            limiter: DefaultKeyedRateLimiter::keyed(
                Quota::with_period(std::time::Duration::from_millis(2500)).unwrap(),
            ),
            clock: DefaultClock::default(),
        };
        let key = [7u8; 32];
        assert_eq!(limiter.check(&key), Ok(()));
        assert_eq!(limiter.check(&key), Err(3));
    }
}
