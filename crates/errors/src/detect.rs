//! Spike detection: per-issue sliding windows against the thresholds of
//! [`Detection`](crate::config::Detection).
//!
//! For each issue the detector keeps only the receive times of its latest `count` events
//! (`count` of its severity's threshold): the issue is *spiking* when it has `count` of them
//! and the oldest is within `window` of now. So memory per issue is bounded by the
//! threshold, and an issue is forgotten once it is not spiking and its newest event is older
//! than its window. Receive times (Strix' clock), not SDK timestamps, so a skewed client
//! clock cannot hold an alert open or suppress one.

use std::collections::{HashMap, VecDeque};

use crate::config::Detection;
use crate::Severity;

/// What an alert about an issue says.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeInfo {
    pub issue_id: i64,
    pub project: String,
    pub title: String,
    pub culprit: String,
    pub category: String,
    pub component: String,
    pub severity: Severity,
}

/// An issue over (or back under) its threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Spike {
    pub info: SpikeInfo,
    /// Events in the window when it was evaluated.
    pub count: usize,
    /// The threshold it is measured against.
    pub threshold: u32,
    /// The window, ms.
    pub window_ms: i64,
    /// When it started firing, ms.
    pub since: i64,
}

#[derive(Debug)]
struct Window {
    info: SpikeInfo,
    times: VecDeque<i64>,
    firing_since: Option<i64>,
}

/// Per-issue windows. Not thread-safe by itself; callers keep it behind a mutex.
#[derive(Debug)]
pub struct Detector {
    config: Detection,
    issues: HashMap<i64, Window>,
    /// Issues dropped to make room, since start.
    evicted: u64,
}

/// Parses a stored severity name.
pub fn parse_severity(s: &str) -> Option<Severity> {
    match s {
        "critical" => Some(Severity::Critical),
        "high" => Some(Severity::High),
        "medium" => Some(Severity::Medium),
        "low" => Some(Severity::Low),
        _ => None,
    }
}

impl Detector {
    pub fn new(config: Detection) -> Self {
        Detector {
            config,
            issues: HashMap::new(),
            evicted: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Detection {
        &self.config
    }

    /// Issues tracked (for the `strix_errors_detection_issues` gauge).
    pub fn tracked(&self) -> usize {
        self.issues.len()
    }

    /// Issues forgotten to make room for new ones since start (for
    /// `strix_errors_detection_evicted_issues_total`).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Issues currently firing.
    pub fn firing(&self) -> usize {
        self.issues
            .values()
            .filter(|w| w.firing_since.is_some())
            .count()
    }

    /// Counts in the window of the threshold, from the kept times.
    fn in_window(times: &VecDeque<i64>, window_ms: i64, now: i64) -> usize {
        times.iter().filter(|&&t| t > now - window_ms).count()
    }

    /// Records one event of an issue received at `at`; returns the spike when this event
    /// makes the issue cross its threshold (once per firing episode).
    pub fn observe(&mut self, info: SpikeInfo, at: i64) -> Option<Spike> {
        if !self.config.enabled {
            return None;
        }
        let t = self.config.threshold(info.severity)?.clone();
        let window_ms = i64::try_from(t.window.as_millis()).unwrap_or(i64::MAX);
        let keep = usize::try_from(t.count).unwrap_or(usize::MAX);
        if !self.issues.contains_key(&info.issue_id) {
            self.make_room();
        }
        let w = self.issues.entry(info.issue_id).or_insert_with(|| Window {
            info: info.clone(),
            times: VecDeque::with_capacity(keep.min(1024)),
            firing_since: None,
        });
        w.info = info;
        w.times.push_back(at);
        while w.times.len() > keep {
            w.times.pop_front();
        }
        let count = Self::in_window(&w.times, window_ms, at);
        if w.firing_since.is_none() && count >= keep {
            w.firing_since = Some(at);
            return Some(Spike {
                info: w.info.clone(),
                count,
                threshold: t.count,
                window_ms,
                since: at,
            });
        }
        None
    }

    /// Keeps the number of tracked issues below `max_tracked_issues` by forgetting the
    /// quiet issue whose latest event is oldest (firing issues are never forgotten).
    /// Makes room for a new issue when `max_tracked_issues` are tracked: evicts the
    /// oldest tenth (at least one) of the issues not firing, in one pass. One scan per
    /// batch keeps a flood of distinct fingerprints linear overall instead of scanning
    /// every tracked issue for each new one. Firing issues are never evicted.
    fn make_room(&mut self) {
        let max = self.config.max_tracked_issues.max(1);
        if self.issues.len() < max {
            return;
        }
        let mut idle: Vec<(i64, i64)> = self
            .issues
            .iter()
            .filter(|(_, w)| w.firing_since.is_none())
            .map(|(id, w)| (w.times.back().copied().unwrap_or(i64::MIN), *id))
            .collect();
        if idle.is_empty() {
            return;
        }
        let over = self.issues.len() + 1 - max;
        let batch = (max / 10).max(over).max(1).min(idle.len());
        if batch < idle.len() {
            idle.select_nth_unstable(batch - 1);
        }
        for (_, id) in idle.iter().take(batch) {
            self.issues.remove(id);
        }
        self.evicted = self.evicted.saturating_add(batch as u64);
    }

    /// Re-evaluates every issue at `now`: returns the issues still firing (to re-send) and
    /// those that dropped below their threshold (to resolve), and forgets quiet issues.
    pub fn evaluate(&mut self, now: i64) -> (Vec<Spike>, Vec<Spike>) {
        let mut firing = Vec::new();
        let mut resolved = Vec::new();
        let config = &self.config;
        self.issues.retain(|_, w| {
            let Some(t) = config.threshold(w.info.severity) else {
                return false;
            };
            let window_ms = i64::try_from(t.window.as_millis()).unwrap_or(i64::MAX);
            let count = Self::in_window(&w.times, window_ms, now);
            let keep = usize::try_from(t.count).unwrap_or(usize::MAX);
            if let Some(since) = w.firing_since {
                let spike = Spike {
                    info: w.info.clone(),
                    count,
                    threshold: t.count,
                    window_ms,
                    since,
                };
                if count >= keep {
                    firing.push(spike);
                } else {
                    w.firing_since = None;
                    resolved.push(spike);
                }
            }
            w.firing_since.is_some() || count > 0
        });
        (firing, resolved)
    }

    /// Forgets an issue (it was resolved by an operator); returns its spike if it was firing.
    pub fn clear(&mut self, issue_id: i64) -> Option<Spike> {
        let w = self.issues.remove(&issue_id)?;
        let since = w.firing_since?;
        let t = self.config.threshold(w.info.severity)?;
        Some(Spike {
            count: w.times.len(),
            threshold: t.count,
            window_ms: i64::try_from(t.window.as_millis()).unwrap_or(i64::MAX),
            since,
            info: w.info,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: i64, severity: Severity) -> SpikeInfo {
        SpikeInfo {
            issue_id: id,
            project: "web".into(),
            title: "boom".into(),
            culprit: "app.main".into(),
            category: "system".into(),
            component: "api".into(),
            severity,
        }
    }

    #[test]
    fn high_fires_at_five_in_five_minutes_and_resolves_after() {
        let mut d = Detector::new(Detection::default());
        let min = 60_000;
        for i in 0..4 {
            assert!(d.observe(info(1, Severity::High), i * min).is_none());
        }
        // The fifth within five minutes fires, once.
        let s = d.observe(info(1, Severity::High), 4 * min).unwrap();
        assert_eq!((s.count, s.threshold), (5, 5));
        assert!(d.observe(info(1, Severity::High), 4 * min + 1).is_none());
        let (firing, resolved) = d.evaluate(5 * min);
        assert_eq!((firing.len(), resolved.len()), (1, 0));
        // Ten minutes later the window holds fewer than five: resolved, then forgotten.
        let (firing, resolved) = d.evaluate(10 * min);
        assert_eq!((firing.len(), resolved.len()), (0, 1));
        assert_eq!(d.tracked(), 0);
    }

    #[test]
    fn spread_out_events_never_fire() {
        let mut d = Detector::new(Detection::default());
        for i in 0..20 {
            // One high event every two minutes: never five in five minutes.
            assert!(d.observe(info(2, Severity::High), i * 120_000).is_none());
        }
    }

    #[test]
    fn tracked_issues_are_bounded_and_firing_ones_kept() {
        let mut d = Detector::new(Detection {
            max_tracked_issues: 3,
            ..Detection::default()
        });
        // Issue 1 fires (critical) and must survive eviction.
        assert!(d.observe(info(1, Severity::Critical), 0).is_some());
        for id in 2..10 {
            d.observe(info(id, Severity::Low), id);
        }
        assert_eq!(d.tracked(), 3);
        assert_eq!(d.firing(), 1);
        assert!(d.clear(1).is_some(), "the firing issue was kept");
    }

    #[test]
    fn eviction_drops_a_batch_of_the_oldest_idle_issues() {
        let mut d = Detector::new(Detection {
            max_tracked_issues: 100,
            ..Detection::default()
        });
        for id in 0..100 {
            d.observe(info(id, Severity::Low), 1_000 + id);
        }
        assert_eq!(d.tracked(), 100);
        // Issue 0 is the oldest, but an event now makes it recent.
        d.observe(info(0, Severity::Low), 5_000);
        d.observe(info(100, Severity::Low), 5_001);
        // A tenth went at once, so the next new issues need no scan.
        assert_eq!(d.tracked(), 91);
        assert_eq!(d.evicted(), 10);
        for id in 1..=10 {
            assert!(d.clear(id).is_none() && !d.issues.contains_key(&id));
        }
        assert!(d.issues.contains_key(&0) && d.issues.contains_key(&11));
        for id in 101..110 {
            d.observe(info(id, Severity::Low), 6_000 + id);
        }
        assert_eq!((d.tracked(), d.evicted()), (100, 10));
    }

    #[test]
    fn critical_fires_at_once_and_clear_returns_it() {
        let mut d = Detector::new(Detection::default());
        assert!(d.observe(info(3, Severity::Critical), 0).is_some());
        assert_eq!(d.firing(), 1);
        assert!(d.clear(3).is_some());
        assert_eq!(d.firing(), 0);
        let mut off = Detector::new(Detection {
            enabled: false,
            ..Detection::default()
        });
        assert!(off.observe(info(3, Severity::Critical), 0).is_none());
    }
}
