//! Limits, retention and detection settings of error tracking (the `limits:`,
//! `retention:` and `detection:` keys under `errors:` in `strix.yaml`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits::PayloadLimits;
use crate::Severity;

/// Per-project ingest limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Events accepted per second per project (token bucket refill rate); `0` turns the
    /// limit off. Over it, ingest answers 429 with `Retry-After` and
    /// `X-Sentry-Rate-Limits`.
    pub events_per_second: u32,
    /// Events a project may send at once above the steady rate (bucket size); at least
    /// `events_per_second` when `0`.
    pub burst: u32,
    /// Size, depth and item caps of one envelope (`max_event_bytes`, `max_item_bytes`,
    /// `max_items`, `max_depth`).
    pub payload: PayloadLimits,
    /// Largest decompressed envelope or store body, in bytes (never above the server's
    /// `max_decompressed_size`): a compression bomb stops here.
    pub max_envelope_bytes: usize,
    /// Per-project overrides of `events_per_second` and `burst`, by project slug.
    pub projects: std::collections::BTreeMap<String, ProjectRate>,
    /// Ingest requests waiting to be written before ingest answers 503 (overloaded).
    pub max_pending_requests: usize,
    /// Events committed in one state-store transaction at most.
    pub max_batch_events: usize,
    /// Oldest event timestamp taken as the SDK sent it: an older one is filed under the
    /// arrival time (the original is kept in the event), so retention never deletes an
    /// issue that was just created. `0s` turns it off.
    #[serde(with = "strix_core::duration::serde_str")]
    pub max_event_age: Duration,
    /// Distinct `component` values counted per project in
    /// `strix_error_events_total{component}`; further ones are counted as `other` (the
    /// tag is set by clients, whose DSN keys are public).
    pub max_components_per_project: usize,
    /// Largest single event (decompressed request body, bytes) scrubbed and normalised on
    /// the request's own task; bigger ones, and requests with several events, go to the
    /// blocking pool so CPU work never stalls the async workers.
    pub inline_process_max_bytes: usize,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            events_per_second: 1000,
            burst: 2000,
            payload: PayloadLimits::default(),
            max_envelope_bytes: 40 << 20,
            projects: std::collections::BTreeMap::new(),
            max_pending_requests: 4096,
            max_batch_events: 2048,
            max_event_age: Duration::from_secs(30 * 86_400),
            max_components_per_project: 100,
            inline_process_max_bytes: 16 << 10,
        }
    }
}

/// A project's own event rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectRate {
    /// Events per second (`0`: unlimited).
    pub events_per_second: u32,
    /// Bucket size; at least `events_per_second` when `0`.
    #[serde(default)]
    pub burst: u32,
}

impl RateLimits {
    /// The rate and burst of a project (its override, else the defaults).
    pub fn for_project(&self, slug: &str) -> (u32, u32) {
        match self.projects.get(slug) {
            Some(p) => (p.events_per_second, p.burst),
            None => (self.events_per_second, self.burst),
        }
    }
}

/// How long and how many events are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Events received longer ago are deleted, and issues that received no event since then
    /// (by Strix' clock, whatever the SDK timestamps say) unless their ticket is still open.
    #[serde(with = "strix_core::duration::serde_str")]
    pub events: Duration,
    /// Events always kept from the start of an issue.
    pub keep_first_events: u64,
    /// Stored events per issue beyond which the older ones (after the first) are thinned,
    /// keeping a power-of-two sample; `0` keeps all.
    pub max_events_per_issue: u64,
    /// How often retention runs.
    #[serde(with = "strix_core::duration::serde_str")]
    pub prune_interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            events: Duration::from_secs(30 * 86_400),
            keep_first_events: 100,
            max_events_per_issue: 1000,
            prune_interval: Duration::from_secs(3600),
        }
    }
}

/// How stored event payloads are compressed (`errors.compression`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Compression {
    /// Train a zstd dictionary on each project's first events and compress its later
    /// ones with it: a project's events repeat the same keys, frames and breadcrumbs, so
    /// they shrink several times more and cost less CPU to compress. Events stored before
    /// stay as they are.
    pub dictionary: bool,
    /// Events of a project sampled before its dictionary is trained.
    pub dictionary_samples: usize,
    /// Largest dictionary, in bytes (at most 1 MiB).
    pub dictionary_bytes: usize,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            dictionary: true,
            dictionary_samples: 256,
            dictionary_bytes: 16 << 10,
        }
    }
}

impl Compression {
    /// Checks the bounds: at least 16 samples, a dictionary of 1 KiB to 1 MiB.
    pub fn validate(&self) -> Result<(), String> {
        if self.dictionary_samples < 16 {
            return Err("`dictionary_samples` must be at least 16".into());
        }
        if !(1 << 10..=1 << 20).contains(&self.dictionary_bytes) {
            return Err("`dictionary_bytes` must be between 1024 and 1048576".into());
        }
        Ok(())
    }
}

/// One detection threshold: `count` events of one issue of this severity within `window`
/// raise an alert, which resolves once the window holds fewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The issue severity it applies to.
    pub severity: Severity,
    /// Events needed within the window (at least 1).
    pub count: u32,
    /// The sliding window.
    #[serde(with = "strix_core::duration::serde_str")]
    pub window: Duration,
}

/// Spike detection: which issues raise alerts through the alerting pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Detection {
    /// Off: no alerts from error tracking (the counters still reach the metric store).
    pub enabled: bool,
    /// One threshold per severity; a severity without one never alerts.
    pub thresholds: Vec<Threshold>,
    /// How often firing alerts are re-checked (and re-sent) and cleared ones resolved.
    #[serde(with = "strix_core::duration::serde_str")]
    pub evaluation_interval: Duration,
    /// Issues whose recent events detection keeps in memory at most; beyond it, the quiet
    /// issue with the oldest latest event is forgotten first (firing ones are kept).
    pub max_tracked_issues: usize,
}

impl Default for Detection {
    fn default() -> Self {
        let t = |severity, count, mins: u64| Threshold {
            severity,
            count,
            window: Duration::from_secs(mins * 60),
        };
        Detection {
            enabled: true,
            thresholds: vec![
                t(Severity::Critical, 1, 5),
                t(Severity::High, 5, 5),
                t(Severity::Medium, 20, 15),
                t(Severity::Low, 100, 60),
            ],
            evaluation_interval: Duration::from_secs(5),
            max_tracked_issues: 10_000,
        }
    }
}

impl Detection {
    /// Checks counts and windows; the message names the offending threshold.
    pub fn validate(&self) -> Result<(), crate::Error> {
        for (i, t) in self.thresholds.iter().enumerate() {
            if t.count == 0 {
                return Err(crate::Error::Config(format!(
                    "detection.thresholds[{i}].count must be at least 1"
                )));
            }
            if t.window.is_zero() {
                return Err(crate::Error::Config(format!(
                    "detection.thresholds[{i}].window must be positive"
                )));
            }
            if self.thresholds[..i]
                .iter()
                .any(|o| o.severity == t.severity)
            {
                return Err(crate::Error::Config(format!(
                    "detection.thresholds[{i}]: a second threshold for severity {}",
                    t.severity.as_str()
                )));
            }
        }
        if self.evaluation_interval.is_zero() {
            return Err(crate::Error::Config(
                "detection.evaluation_interval must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The threshold for a severity.
    pub fn threshold(&self, severity: Severity) -> Option<&Threshold> {
        self.thresholds.iter().find(|t| t.severity == severity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_runbook() {
        let d = Detection::default();
        d.validate().unwrap();
        let c = d.threshold(Severity::Critical).unwrap();
        assert_eq!((c.count, c.window), (1, Duration::from_secs(300)));
        let h = d.threshold(Severity::High).unwrap();
        assert_eq!((h.count, h.window), (5, Duration::from_secs(300)));
        let m = d.threshold(Severity::Medium).unwrap();
        assert_eq!((m.count, m.window), (20, Duration::from_secs(900)));
        let l = d.threshold(Severity::Low).unwrap();
        assert_eq!((l.count, l.window), (100, Duration::from_secs(3600)));
    }

    #[test]
    fn parses_and_validates() {
        let d: Detection = serde_yaml::from_str(
            "thresholds:\n  - {severity: high, count: 2, window: 1m}\nevaluation_interval: 1s\n",
        )
        .unwrap();
        d.validate().unwrap();
        assert!(d.threshold(Severity::Critical).is_none());
        let bad: Detection =
            serde_yaml::from_str("thresholds:\n  - {severity: high, count: 0, window: 1m}\n")
                .unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("count"));
        let r: Retention = serde_yaml::from_str("events: 7d\nmax_events_per_issue: 50\n").unwrap();
        assert_eq!(r.events, Duration::from_secs(7 * 86_400));
        assert_eq!(r.keep_first_events, 100);
        assert!(serde_yaml::from_str::<RateLimits>("events_per_sec: 1\n").is_err());
    }
}
