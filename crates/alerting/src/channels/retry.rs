//! Exponential backoff with full jitter, honouring `Retry-After`.
//!
//! The delay before retry number `n` (after `n` failed attempts) is drawn uniformly from
//! `[0, min(max_delay, base · 2^(n-1))]` ("full jitter"). When the peer sent `Retry-After`,
//! that delay is used instead (never shortened), unless it exceeds `max_retry_after`, in
//! which case we give up. No delay is returned once `max_attempts` attempts were made or
//! when waiting would exceed `max_elapsed`.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::error::DeliveryError;
use super::{Channel, DeliveryReceipt, Notification};

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// First backoff ceiling.
    #[serde(with = "strix_core::duration::serde_str")]
    pub base: Duration,
    /// Ceiling of any jittered delay.
    #[serde(with = "strix_core::duration::serde_str")]
    pub max_delay: Duration,
    /// Total attempts, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Give up rather than wait past this much time since the first attempt.
    #[serde(with = "strix_core::duration::serde_str")]
    pub max_elapsed: Duration,
    /// A `Retry-After` longer than this is not waited for.
    #[serde(with = "strix_core::duration::serde_str")]
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_attempts: 6,
            max_elapsed: Duration::from_secs(5 * 60),
            max_retry_after: Duration::from_secs(5 * 60),
        }
    }
}

/// Where a delivery stands after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attempt {
    /// Attempts made so far (≥ 1).
    pub number: u32,
    /// Time since the first attempt started.
    pub elapsed: Duration,
    /// The peer's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
}

impl RetryPolicy {
    /// The exponential ceiling for the retry after `attempts` failed attempts.
    pub fn ceiling(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(63);
        let base = self.base.as_nanos();
        let exp = base.saturating_mul(1u128 << shift);
        let capped = exp.min(self.max_delay.as_nanos());
        Duration::from_nanos(u64::try_from(capped).unwrap_or(u64::MAX))
    }

    /// How long to wait before the next attempt, or `None` to give up. Pure: all state
    /// is in `attempt` and `rng`.
    pub fn next_delay<R: Rng + ?Sized>(&self, attempt: &Attempt, rng: &mut R) -> Option<Duration> {
        if attempt.number >= self.max_attempts {
            return None;
        }
        let delay = match attempt.retry_after {
            Some(ra) if ra > self.max_retry_after => return None,
            Some(ra) => ra,
            None => {
                let ceiling = self.ceiling(attempt.number.max(1));
                let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(rng.random_range(0..=nanos))
            }
        };
        if attempt.elapsed.saturating_add(delay) > self.max_elapsed {
            return None;
        }
        Some(delay)
    }
}

/// Sends `n` through `channel`, retrying retryable failures per `policy`. Returns the
/// receipt (with `attempts`) or the last error.
pub async fn deliver(
    channel: &dyn Channel,
    n: &Notification,
    policy: &RetryPolicy,
) -> Result<DeliveryReceipt, DeliveryError> {
    let start = tokio::time::Instant::now();
    let mut number = 0u32;
    loop {
        number += 1;
        match channel.send(n).await {
            Ok(mut r) => {
                if !r.skipped {
                    r.attempts = number;
                }
                return Ok(r);
            }
            Err(e) if !e.is_retryable() => return Err(e),
            Err(e) => {
                let attempt = Attempt {
                    number,
                    elapsed: start.elapsed(),
                    retry_after: e.retry_after,
                };
                let delay = policy.next_delay(&attempt, &mut rand::rng());
                let Some(delay) = delay else {
                    return Err(e);
                };
                tracing::debug!(
                    channel = %e.channel,
                    attempt = number,
                    delay_ms = delay.as_millis() as u64,
                    error = %e,
                    "notification delivery failed; retrying"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_attempts: 10,
            max_elapsed: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn full_jitter_stays_within_exponential_ceiling() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(7);
        for number in 1..10u32 {
            let ceiling = p.ceiling(number);
            let expect = Duration::from_millis(100 * (1u64 << (number - 1))).min(p.max_delay);
            assert_eq!(ceiling, expect, "attempt {number}");
            let mut max_seen = Duration::ZERO;
            for _ in 0..500 {
                let a = Attempt {
                    number,
                    ..Attempt::default()
                };
                let d = p.next_delay(&a, &mut rng).unwrap();
                assert!(d <= ceiling, "{d:?} > {ceiling:?}");
                max_seen = max_seen.max(d);
            }
            // Full jitter spreads over the whole range, not just near zero.
            assert!(max_seen > ceiling / 2, "attempt {number}: {max_seen:?}");
        }
    }

    #[test]
    fn gives_up_after_max_attempts_and_elapsed() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(1);
        let a = Attempt {
            number: 10,
            ..Attempt::default()
        };
        assert_eq!(p.next_delay(&a, &mut rng), None);
        let a = Attempt {
            number: 1,
            elapsed: Duration::from_secs(60),
            retry_after: None,
        };
        // Any non-zero delay would pass max_elapsed; zero is allowed only if drawn.
        for _ in 0..100 {
            if let Some(d) = p.next_delay(&a, &mut rng) {
                assert_eq!(d, Duration::ZERO);
            }
        }
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let p = RetryPolicy {
            max_attempts: u32::MAX,
            max_elapsed: Duration::MAX,
            ..policy()
        };
        let mut rng = StdRng::seed_from_u64(3);
        let a = Attempt {
            number: 1_000,
            ..Attempt::default()
        };
        assert!(p.next_delay(&a, &mut rng).unwrap() <= p.max_delay);
        assert_eq!(p.ceiling(u32::MAX), p.max_delay);
    }

    #[test]
    fn retry_after_is_honoured_exactly() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(2);
        let a = Attempt {
            number: 1,
            elapsed: Duration::ZERO,
            retry_after: Some(Duration::from_secs(5)),
        };
        // Longer than the jitter ceiling (100ms) and max_delay (2s): still honoured.
        assert_eq!(p.next_delay(&a, &mut rng), Some(Duration::from_secs(5)));
        let too_long = Attempt {
            retry_after: Some(Duration::from_secs(31)),
            ..a
        };
        assert_eq!(p.next_delay(&too_long, &mut rng), None);
        let past_budget = Attempt {
            elapsed: Duration::from_secs(56),
            ..a
        };
        assert_eq!(p.next_delay(&past_budget, &mut rng), None);
    }

    #[test]
    fn policy_from_yaml() {
        let p: RetryPolicy =
            serde_yaml::from_str("base: 1s\nmax_delay: 1m\nmax_attempts: 3\n").unwrap();
        assert_eq!(p.base, Duration::from_secs(1));
        assert_eq!(p.max_delay, Duration::from_secs(60));
        assert_eq!(p.max_attempts, 3);
        assert_eq!(p.max_elapsed, RetryPolicy::default().max_elapsed);
    }
}
