//! Analysis of an issue: its occurrence pattern, similar issues and recommendations.

use std::collections::BTreeSet;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Events within one hour that make a burst.
pub const BURST_MIN_EVENTS: usize = 5;
/// Events within 24 hours above which an issue is recurring.
pub const RECURRING_MIN_EVENTS: usize = 10;

/// How an issue occurs, from its events' times (any order):
///
/// - `isolated`: one occurrence;
/// - `burst`: at least [`BURST_MIN_EVENTS`] events, all within one hour;
/// - `recurring`: more than [`RECURRING_MIN_EVENTS`] events within the 24 hours before the
///   latest (and not a burst);
/// - `intermittent`: anything else — a few occurrences spread out over time.
pub fn pattern(times: &[i64]) -> &'static str {
    let mut t = times.to_vec();
    t.sort_unstable();
    let (Some(&first), Some(&last)) = (t.first(), t.last()) else {
        return "isolated";
    };
    if t.len() == 1 {
        return "isolated";
    }
    if t.len() >= BURST_MIN_EVENTS && last - first <= HOUR_MS {
        return "burst";
    }
    if t.iter().filter(|&&x| x > last - DAY_MS).count() > RECURRING_MIN_EVENTS {
        return "recurring";
    }
    "intermittent"
}

fn words(s: &str) -> BTreeSet<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2 && !w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .collect()
}

/// Similarity of two titles: the Jaccard index of their words (longer than two letters,
/// case-insensitive, numbers ignored), 0.0–1.0.
pub fn title_similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (words(a), words(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let inter = a.intersection(&b).count() as f64;
    let union = a.union(&b).count() as f64;
    inter / union
}

/// Titles at least this similar count as similar issues.
pub const SIMILAR_TITLE_MIN: f64 = 0.5;

/// System health at the time of an error, `None` where the metric store had no data.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Health {
    /// Memory in use, percent of total.
    pub memory_percent: Option<f64>,
    /// CPU busy, percent.
    pub cpu_percent: Option<f64>,
    /// 99th percentile HTTP latency, seconds.
    pub latency_p99_seconds: Option<f64>,
    /// Share of HTTP requests answered with 5xx, percent.
    pub error_rate_percent: Option<f64>,
}

/// Memory use above which recommendations point at leaks.
pub const HIGH_MEMORY_PERCENT: f64 = 85.0;
/// CPU use above which recommendations point at saturation.
pub const HIGH_CPU_PERCENT: f64 = 85.0;

/// Recommendations from the pattern, the title and category, and the health at the
/// time.
pub fn recommendations(pattern: &str, title: &str, category: &str, health: &Health) -> Vec<String> {
    let mut out = Vec::new();
    match pattern {
        "recurring" => {
            out.push("Recurring error: find the root cause rather than retrying; consider a circuit breaker around the failing dependency.".to_string());
        }
        "burst" => {
            out.push("Burst of errors: look for overload or an upstream outage at that time, and check rate limits.".to_string());
        }
        "intermittent" => {
            out.push("Intermittent error: correlate occurrences with deploys, cron jobs and traffic peaks.".to_string());
        }
        _ => {
            out.push(
                "Isolated occurrence: keep watching; resolve it if it does not happen again."
                    .to_string(),
            );
        }
    }
    let t = title.to_lowercase();
    if t.contains("timeout") || t.contains("timed out") || category == "performance" {
        out.push("Timeouts or slow responses: raise the timeout where it is too tight, or optimise the slow call (queries, N+1, missing indexes).".to_string());
    }
    if health
        .memory_percent
        .is_some_and(|m| m >= HIGH_MEMORY_PERCENT)
        || t.contains("out of memory")
        || t.contains("memoryerror")
    {
        out.push("High memory: look for leaks (growing caches, unbounded queues) and compare heap profiles.".to_string());
    }
    if health.cpu_percent.is_some_and(|c| c >= HIGH_CPU_PERCENT) {
        out.push(
            "High CPU at the time: the host was saturated; scale out or find the hot path."
                .to_string(),
        );
    }
    match category {
        "security" => out.push("Security category: check the source addresses and the audit log; rotate credentials if anything leaked.".to_string()),
        "payment" => out.push("Payment errors: check the payment provider's status and reconcile affected transactions.".to_string()),
        "auth" => out.push("Authentication errors: check the identity provider and token expiry settings.".to_string()),
        "cache" => out.push("Cache errors: check the cache servers and make callers fall back to the source.".to_string()),
        "sync" => out.push("Sync errors: check queues and idempotency of retried jobs.".to_string()),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(pattern(&[]), "isolated");
        assert_eq!(pattern(&[5]), "isolated");
        let burst: Vec<i64> = (0..6).map(|i| i * 60_000).collect();
        assert_eq!(pattern(&burst), "burst");
        let recurring: Vec<i64> = (0..12).map(|i| i * 2 * HOUR_MS).collect();
        assert_eq!(pattern(&recurring), "recurring");
        assert_eq!(pattern(&[0, 3 * DAY_MS, 9 * DAY_MS]), "intermittent");
        assert_eq!(pattern(&[0, 1_000]), "intermittent");
    }

    #[test]
    fn similarity_and_recommendations() {
        assert!(
            title_similarity(
                "Database connection failed: host db1",
                "database connection failed on db2"
            ) >= SIMILAR_TITLE_MIN
        );
        assert!(
            title_similarity("KeyError: missing key", "ValueError: bad value") < SIMILAR_TITLE_MIN
        );
        let r = recommendations(
            "recurring",
            "Request timeout",
            "performance",
            &Health::default(),
        );
        assert!(r[0].contains("circuit breaker"), "{r:?}");
        assert!(r.iter().any(|s| s.contains("timeout")), "{r:?}");
        let hot = Health {
            memory_percent: Some(93.0),
            ..Health::default()
        };
        let r = recommendations("burst", "boom", "system", &hot);
        assert!(r[0].contains("rate limits"), "{r:?}");
        assert!(r.iter().any(|s| s.contains("leaks")), "{r:?}");
        assert!(
            !recommendations("isolated", "boom", "system", &Health::default())
                .iter()
                .any(|s| s.contains("leaks"))
        );
    }
}
