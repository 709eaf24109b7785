//! Per-receiver rate limits (`rate_limit: {max, per}`): a sliding window over the
//! receiver's recent send times, which the outbox layer keeps.

use std::time::Duration;

use strix_core::Timestamp;

/// At most `max` notifications in any window of length `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub per: Duration,
}

/// What to do with the next notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allow,
    /// Over the limit; the earliest instant a send would be allowed.
    Deny {
        retry_at: Timestamp,
    },
}

impl RateLimit {
    /// `None` when `max` or `per` is zero.
    pub fn new(max: u32, per: Duration) -> Option<Self> {
        (max > 0 && !per.is_zero()).then_some(RateLimit { max, per })
    }

    fn per_ms(&self) -> i64 {
        i64::try_from(self.per.as_millis()).unwrap_or(i64::MAX)
    }

    /// Decides for a send at `now` given earlier send times (any order; entries older
    /// than the window are ignored, so the caller may trim lazily). The window is
    /// `(now - per, now]`.
    pub fn decide(&self, recent: &[Timestamp], now: Timestamp) -> RateDecision {
        let start = now.saturating_sub(self.per_ms());
        let mut inside: Vec<Timestamp> = recent
            .iter()
            .copied()
            .filter(|&t| t > start && t <= now)
            .collect();
        if inside.len() < self.max as usize {
            return RateDecision::Allow;
        }
        inside.sort_unstable();
        // Allowed once enough of the oldest sends have left the window.
        let k = inside.len() - self.max as usize;
        RateDecision::Deny {
            retry_at: inside[k].saturating_add(self.per_ms()),
        }
    }

    /// Drops send times that can no longer affect a decision at or after `now`.
    pub fn trim(&self, recent: &mut Vec<Timestamp>, now: Timestamp) {
        let start = now.saturating_sub(self.per_ms());
        recent.retain(|&t| t > start);
    }
}

/// Free-function form of [`RateLimit::decide`].
pub fn decide(limit: &RateLimit, recent: &[Timestamp], now: Timestamp) -> RateDecision {
    limit.decide(recent, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    #[test]
    fn sliding_window() {
        let l = RateLimit::new(3, Duration::from_secs(600)).unwrap();
        assert_eq!(l.decide(&[], 0), RateDecision::Allow);
        assert_eq!(l.decide(&[M, 2 * M], 3 * M), RateDecision::Allow);
        assert_eq!(
            l.decide(&[M, 2 * M, 3 * M], 4 * M),
            RateDecision::Deny { retry_at: 11 * M }
        );
        // At exactly 11m the send at 1m has left the (now-10m, now] window.
        assert_eq!(l.decide(&[M, 2 * M, 3 * M], 11 * M), RateDecision::Allow);
        // Unordered input and stale entries.
        assert_eq!(
            l.decide(&[3 * M, -50 * M, 2 * M, M], 4 * M),
            RateDecision::Deny { retry_at: 11 * M }
        );
        // More sends than max (e.g. the limit was lowered): wait for enough to expire.
        let l1 = RateLimit::new(1, Duration::from_secs(600)).unwrap();
        assert_eq!(
            l1.decide(&[M, 2 * M, 3 * M], 4 * M),
            RateDecision::Deny { retry_at: 13 * M }
        );
        assert_eq!(decide(&l1, &[], 0), RateDecision::Allow);
    }

    #[test]
    fn trims_and_rejects_zero() {
        let l = RateLimit::new(2, Duration::from_secs(60)).unwrap();
        let mut v = vec![0, 30_000, 70_000];
        l.trim(&mut v, 100_000);
        assert_eq!(v, vec![70_000]);
        assert!(RateLimit::new(0, Duration::from_secs(1)).is_none());
        assert!(RateLimit::new(1, Duration::ZERO).is_none());
    }

    #[test]
    fn config_errors_name_the_receiver() {
        let y = "route: {receiver: r}\nreceivers: [{name: r, rate_limit: {max: 0, per: 1m}}]\n";
        let e = super::super::config::AlertmanagerConfig::load(y).unwrap_err();
        assert!(
            e.has("alertmanager.receivers[0].rate_limit", "greater than zero"),
            "{e}"
        );
    }
}
