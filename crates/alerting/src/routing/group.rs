//! Aggregation groups and their timing, as a pure state machine driven by the caller's
//! clock (milliseconds since the epoch). No threads, no I/O.
//!
//! Each alert is routed ([`RouteTree::match_routes`]) and put in one group per matched
//! route, keyed by the route id and the alert's values of the route's `group_by` labels
//! (`{route_id}:{group_labels}`). A group is flushed:
//! - first `group_wait` after it was created (at once if the alert that created it
//!   started more than `group_wait` ago, e.g. after a restart);
//! - then every `group_interval`.
//!
//! A flush looks at the group's alerts at that instant (firing, or resolved: `endsAt` in
//! the past) minus muted ones (route time intervals; silences and inhibition through the
//! caller's filter) and notifies when:
//! 1. nothing was notified yet and something fires ([`Trigger::New`]);
//! 2. an alert fires that was not firing in the last notification ([`Trigger::New`]);
//! 3. nothing fires any more but the last notification had firing alerts
//!    ([`Trigger::Resolved`]);
//! 4. alerts resolved that the last notification did not report as resolved
//!    ([`Trigger::Resolved`]);
//! 5. otherwise, `repeat_interval` has passed since the last notification
//!    ([`Trigger::Repeat`]).
//!
//! `send_resolved` is the channel's concern: a channel with `send_resolved: false` drops
//! resolved alerts from a notification and skips [`Trigger::Resolved`] notifications.
//! Notification state is per group (one route, one receiver), so it is shared by the
//! receiver's integrations; unlike Alertmanager's per-integration log this only affects
//! when a `send_resolved: false` integration next repeats.
//!
//! After a flush, its resolved alerts leave the group; an empty group is dropped.
//! A firing alert without `endsAt` resolves `global.resolve_timeout` after its last update.

use std::collections::{BTreeMap, BTreeSet};

use strix_core::{Labels, Timestamp};

use super::config::RoutingConfig;
use super::matchers::quote;
use super::route::{RouteRef, RouteTree};
use super::timeinterval::TimeInterval;

/// An alert's reported status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// An alert as received (from rules or `/api/v2/alerts`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertInput {
    /// Identity of the alert; see [`fingerprint`].
    pub fingerprint: u64,
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    /// When it resolves (resolved if in the past); filled in from `resolve_timeout` when
    /// a firing alert has none.
    pub ends_at: Option<Timestamp>,
    pub generator_url: String,
    pub status: AlertStatus,
}

impl AlertInput {
    /// A firing alert with `fingerprint` computed from `labels`.
    pub fn firing(labels: Labels, starts_at: Timestamp) -> Self {
        AlertInput {
            fingerprint: fingerprint(&labels),
            labels,
            annotations: BTreeMap::new(),
            starts_at,
            ends_at: None,
            generator_url: String::new(),
            status: AlertStatus::Firing,
        }
    }

    /// Whether the alert counts as resolved at `now`.
    pub fn is_resolved_at(&self, now: Timestamp) -> bool {
        self.status == AlertStatus::Resolved || self.ends_at.is_some_and(|e| e <= now)
    }
}

/// A stable fingerprint of a label set (64-bit FNV-1a over names and values with a
/// separator byte), safe to persist: [`strix_state::alert::fingerprint`].
pub fn fingerprint(labels: &Labels) -> u64 {
    strix_state::alert::fingerprint(labels)
}

/// Why a notification was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Something fires that the receiver has not been told about.
    New,
    /// Only resolutions changed; `send_resolved: false` integrations skip it.
    Resolved,
    /// Nothing changed and `repeat_interval` passed.
    Repeat,
}

/// One notification for a receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub receiver: String,
    pub route: RouteRef,
    pub route_id: String,
    pub group_key: String,
    pub group_labels: Labels,
    /// Firing alerts first, then resolved ones, each in label order; `status` reflects
    /// the flush instant.
    pub alerts: Vec<AlertInput>,
    pub firing: usize,
    pub resolved: usize,
    pub trigger: Trigger,
}

impl Notification {
    pub fn firing_alerts(&self) -> &[AlertInput] {
        &self.alerts[..self.firing]
    }
    pub fn resolved_alerts(&self) -> &[AlertInput] {
        &self.alerts[self.firing..]
    }
    /// `firing` if anything fires, else `resolved` (the webhook's `status`).
    pub fn status(&self) -> AlertStatus {
        if self.firing > 0 {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        }
    }
}

#[derive(Debug, Clone)]
struct Group {
    route: RouteRef,
    labels: Labels,
    alerts: BTreeMap<u64, AlertInput>,
    next_flush: Timestamp,
    flushed: bool,
    last_sent: Option<Timestamp>,
    last_firing: BTreeSet<u64>,
    last_resolved: BTreeSet<u64>,
}

/// Routes alerts into groups and says which notifications are due.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    tree: RouteTree,
    intervals: BTreeMap<String, TimeInterval>,
    resolve_timeout_ms: i64,
    groups: BTreeMap<String, Group>,
    /// `(next_flush, key)` of every group, so finding what is due (and when the next
    /// group is) does not visit every group: thousands of groups each waiting out its
    /// `group_interval` would otherwise be scanned at every pass.
    schedule: BTreeSet<(Timestamp, String)>,
}

/// A read-only view of one group (for `/api/v2/alerts/groups` and dashboards).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView<'a> {
    pub key: &'a str,
    pub route: RouteRef,
    pub receiver: &'a str,
    pub labels: &'a Labels,
    pub alerts: Vec<&'a AlertInput>,
    pub next_flush: Timestamp,
}

impl Dispatcher {
    pub fn new(config: &RoutingConfig) -> Self {
        Dispatcher {
            tree: config.tree.clone(),
            intervals: config.time_intervals.clone(),
            resolve_timeout_ms: config.global.resolve_timeout.millis(),
            groups: BTreeMap::new(),
            schedule: BTreeSet::new(),
        }
    }

    pub fn tree(&self) -> &RouteTree {
        &self.tree
    }

    /// Adds or updates an alert at `now`; returns the keys of the groups it is in.
    pub fn insert(&mut self, mut alert: AlertInput, now: Timestamp) -> Vec<String> {
        match alert.status {
            AlertStatus::Firing if alert.ends_at.is_none() => {
                alert.ends_at = Some(now.saturating_add(self.resolve_timeout_ms));
            }
            AlertStatus::Resolved => {
                alert.ends_at = Some(alert.ends_at.map_or(now, |e| e.min(now)));
            }
            AlertStatus::Firing => {}
        }
        let mut keys = Vec::new();
        for r in self.tree.match_routes(&alert.labels) {
            let route = self.tree.get(r);
            let labels = route.group_by.group_labels(&alert.labels);
            let key = format!("{}:{}", route.id, render_labels(&labels));
            let wait = route.group_wait.millis();
            let schedule = &mut self.schedule;
            let group = self.groups.entry(key.clone()).or_insert_with(|| {
                let next_flush = now.saturating_add(wait);
                schedule.insert((next_flush, key.clone()));
                Group {
                    route: r,
                    labels,
                    alerts: BTreeMap::new(),
                    next_flush,
                    flushed: false,
                    last_sent: None,
                    last_firing: BTreeSet::new(),
                    last_resolved: BTreeSet::new(),
                }
            });
            // An alert older than group_wait has waited enough: flush at once.
            if !group.flushed && alert.starts_at.saturating_add(wait) <= now {
                let at = group.next_flush.min(now);
                reschedule(schedule, &key, group, at);
            }
            let mut a = alert.clone();
            if let Some(old) = group.alerts.get(&a.fingerprint) {
                if !old.is_resolved_at(now) && !a.is_resolved_at(now) {
                    a.starts_at = a.starts_at.min(old.starts_at);
                }
            }
            group.alerts.insert(a.fingerprint, a);
            keys.push(key);
        }
        keys
    }

    /// The notifications due at `now`, without silences or inhibition.
    pub fn due(&mut self, now: Timestamp) -> Vec<Notification> {
        self.due_filtered(now, |_| false)
    }

    /// The notifications due at `now`; `muted` says whether an alert is silenced or
    /// inhibited at this instant (it is then left out as if absent).
    pub fn due_filtered(
        &mut self,
        now: Timestamp,
        muted: impl Fn(&AlertInput) -> bool,
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        let mut empty = Vec::new();
        // The due groups, in key order.
        let later = self
            .schedule
            .split_off(&(now.saturating_add(1), String::new()));
        let mut due: Vec<String> = std::mem::replace(&mut self.schedule, later)
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        due.sort_unstable();
        for key in due {
            let Some(g) = self.groups.get_mut(&key) else {
                continue;
            };
            let route = self.tree.get(g.route);
            g.flushed = true;
            g.next_flush = now.saturating_add(route.group_interval.millis());
            self.schedule.insert((g.next_flush, key.clone()));
            let time_muted = route.muted_at(&self.intervals, now);
            let mut firing = Vec::new();
            let mut resolved = Vec::new();
            for a in g.alerts.values() {
                if time_muted || muted(a) {
                    continue;
                }
                let mut a = a.clone();
                if a.is_resolved_at(now) {
                    a.status = AlertStatus::Resolved;
                    resolved.push(a);
                } else {
                    a.status = AlertStatus::Firing;
                    firing.push(a);
                }
            }
            let firing_set: BTreeSet<u64> = firing.iter().map(|a| a.fingerprint).collect();
            let resolved_set: BTreeSet<u64> = resolved.iter().map(|a| a.fingerprint).collect();
            let trigger = match g.last_sent {
                None => (!firing.is_empty()).then_some(Trigger::New),
                Some(_) if !firing_set.is_subset(&g.last_firing) => Some(Trigger::New),
                Some(_) if firing.is_empty() => {
                    (!g.last_firing.is_empty()).then_some(Trigger::Resolved)
                }
                Some(_) if !resolved_set.is_subset(&g.last_resolved) => Some(Trigger::Resolved),
                Some(last) => (now >= last.saturating_add(route.repeat_interval.millis()))
                    .then_some(Trigger::Repeat),
            };
            if let Some(trigger) = trigger {
                firing.sort_by(|a, b| a.labels.cmp(&b.labels));
                resolved.sort_by(|a, b| a.labels.cmp(&b.labels));
                let (nf, nr) = (firing.len(), resolved.len());
                firing.extend(resolved);
                out.push(Notification {
                    receiver: route.receiver.clone(),
                    route: g.route,
                    route_id: route.id.clone(),
                    group_key: key.clone(),
                    group_labels: g.labels.clone(),
                    alerts: firing,
                    firing: nf,
                    resolved: nr,
                    trigger,
                });
                g.last_sent = Some(now);
                g.last_firing = firing_set;
                g.last_resolved = resolved_set;
            }
            // Resolved alerts have been reported (or had nobody to report to): drop them.
            g.alerts.retain(|_, a| !a.is_resolved_at(now));
            if g.alerts.is_empty() {
                empty.push(key.clone());
            }
        }
        for k in empty {
            if let Some(g) = self.groups.remove(&k) {
                self.schedule.remove(&(g.next_flush, k));
            }
        }
        out
    }

    /// Makes the groups `keys` due at `now` (an operator resolved one of their alerts:
    /// receivers hear about it at once rather than at the next `group_interval`).
    pub fn flush_now(&mut self, keys: &[String], now: Timestamp) {
        for k in keys {
            if let Some(g) = self.groups.get_mut(k) {
                let at = g.next_flush.min(now);
                reschedule(&mut self.schedule, k, g, at);
            }
        }
    }

    /// When [`Dispatcher::due`] next has something to do, if ever.
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        self.schedule.first().map(|(t, _)| *t)
    }

    /// The current groups, in key order.
    pub fn groups(&self) -> impl Iterator<Item = GroupView<'_>> {
        self.groups.iter().map(|(k, g)| GroupView {
            key: k,
            route: g.route,
            receiver: &self.tree.get(g.route).receiver,
            labels: &g.labels,
            alerts: g.alerts.values().collect(),
            next_flush: g.next_flush,
        })
    }
}

/// Moves group `key` to flush at `at` in `schedule`.
fn reschedule(
    schedule: &mut BTreeSet<(Timestamp, String)>,
    key: &str,
    g: &mut Group,
    at: Timestamp,
) {
    if at == g.next_flush {
        return;
    }
    if let Some(entry) = schedule.take(&(g.next_flush, key.to_string())) {
        schedule.insert((at, entry.1));
    }
    g.next_flush = at;
}

/// `{a="b", c="d"}` including `__name__` (unlike `Labels`' Prometheus display).
pub fn render_labels(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|l| format!("{}={}", l.name, quote(&l.value)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::super::config::AlertmanagerConfig;
    use super::*;

    const S: i64 = 1000;
    const M: i64 = 60 * S;
    const T0: i64 = 1_700_000_000_000;

    fn dispatcher(extra: &str) -> Dispatcher {
        let yaml = format!(
            "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 1h\n{extra}receivers: [{{name: r}}, {{name: night}}]\n"
        );
        Dispatcher::new(&AlertmanagerConfig::load(&yaml).unwrap())
    }

    fn alert(name: &str, inst: &str, at: i64) -> AlertInput {
        let mut a = AlertInput::firing(
            Labels::from_pairs([("alertname", name), ("instance", inst)]),
            at,
        );
        a.ends_at = Some(at + 1000 * M); // far future
        a
    }

    fn resolved(mut a: AlertInput, at: i64) -> AlertInput {
        a.status = AlertStatus::Resolved;
        a.ends_at = Some(at);
        a
    }

    fn names(n: &Notification) -> Vec<(String, AlertStatus)> {
        n.alerts
            .iter()
            .map(|a| (a.labels.get("instance").unwrap_or("").to_string(), a.status))
            .collect()
    }

    #[test]
    fn group_wait_then_batches_on_group_interval() {
        let mut d = dispatcher("");
        d.insert(alert("A", "1", T0), T0);
        assert_eq!(d.next_wakeup(), Some(T0 + 30 * S));
        d.insert(alert("A", "2", T0 + 10 * S), T0 + 10 * S);
        assert!(d.due(T0 + 29 * S).is_empty());
        let n = d.due(T0 + 30 * S);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].trigger, Trigger::New);
        assert_eq!(n[0].group_labels, Labels::from_pairs([("alertname", "A")]));
        assert_eq!(n[0].group_key, "{}:{alertname=\"A\"}");
        assert_eq!(names(&n[0]).len(), 2);
        assert_eq!(d.next_wakeup(), Some(T0 + 30 * S + 5 * M));

        // New alert mid-interval waits for the next group_interval tick.
        d.insert(alert("A", "3", T0 + M), T0 + M);
        assert!(d.due(T0 + 2 * M).is_empty());
        let n = d.due(T0 + 30 * S + 5 * M);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].firing, 3);
        assert_eq!(n[0].trigger, Trigger::New);
    }

    #[test]
    fn schedule_follows_every_group() {
        // Groups created, flushed early, resolved and dropped in a pseudo-random order:
        // the next wakeup is always the earliest group's, and exactly the groups whose
        // time has come are flushed.
        let mut d = dispatcher("");
        let mut x: u64 = 7;
        let mut t = T0;
        for step in 0..2_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (x >> 33) as usize;
            t += (r % 7) as i64 * S;
            let name = format!("G{}", r % 40);
            match r % 5 {
                0 | 1 => {
                    d.insert(
                        alert(&name, &format!("{}", r % 3), t - (r % 60) as i64 * S),
                        t,
                    );
                }
                2 => {
                    let key = format!("{{}}:{{alertname=\"{name}\"}}");
                    d.flush_now(&[key], t);
                }
                3 => {
                    d.insert(resolved(alert(&name, &format!("{}", r % 3), T0), t), t);
                }
                _ => {
                    let due: Vec<String> = d
                        .groups()
                        .filter(|g| g.next_flush <= t)
                        .map(|g| g.key.to_string())
                        .collect();
                    let flushed: BTreeSet<String> =
                        d.due(t).into_iter().map(|n| n.group_key).collect();
                    assert!(flushed.iter().all(|k| due.contains(k)), "step {step}");
                }
            }
            let earliest = d.groups().map(|g| g.next_flush).min();
            assert_eq!(d.next_wakeup(), earliest, "step {step}");
            assert_eq!(d.schedule.len(), d.groups().count(), "step {step}");
        }
    }

    #[test]
    fn unchanged_set_waits_for_repeat_interval() {
        let mut d = dispatcher("");
        d.insert(alert("A", "1", T0), T0);
        assert_eq!(d.due(T0 + 30 * S).len(), 1);
        let mut t = T0 + 30 * S;
        let mut sent = Vec::new();
        for _ in 0..24 {
            t += 5 * M;
            // The alert keeps being re-sent by the rule evaluator.
            d.insert(alert("A", "1", T0), t);
            for n in d.due(t) {
                sent.push((t, n.trigger));
            }
        }
        // Repeat only after 1h (12 intervals), then again after another hour.
        assert_eq!(
            sent,
            vec![
                (T0 + 30 * S + 60 * M, Trigger::Repeat),
                (T0 + 30 * S + 120 * M, Trigger::Repeat)
            ]
        );
    }

    #[test]
    fn resolved_flush_then_group_dropped() {
        let mut d = dispatcher("");
        d.insert(alert("A", "1", T0), T0);
        d.insert(alert("A", "2", T0), T0);
        assert_eq!(d.due(T0 + 30 * S)[0].firing, 2);
        // One resolves: reported at the next tick as Resolved with the other still firing.
        d.insert(resolved(alert("A", "1", T0), T0 + M), T0 + M);
        let n = d.due(T0 + 30 * S + 5 * M);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].trigger, Trigger::Resolved);
        assert_eq!(
            names(&n[0]),
            vec![
                ("2".into(), AlertStatus::Firing),
                ("1".into(), AlertStatus::Resolved)
            ]
        );
        assert_eq!(n[0].status(), AlertStatus::Firing);
        // Nothing changes: no notification, resolved alert is gone.
        assert!(d.due(T0 + 30 * S + 10 * M).is_empty());
        // The last resolves: a final resolved notification, then the group disappears.
        d.insert(resolved(alert("A", "2", T0), T0 + 11 * M), T0 + 11 * M);
        let n = d.due(T0 + 30 * S + 15 * M);
        assert_eq!(n[0].trigger, Trigger::Resolved);
        assert_eq!(n[0].status(), AlertStatus::Resolved);
        assert_eq!(n[0].resolved_alerts().len(), 1);
        assert_eq!(d.groups().count(), 0);
        assert_eq!(d.next_wakeup(), None);
    }

    #[test]
    fn fired_and_resolved_within_group_wait_is_not_sent() {
        let mut d = dispatcher("");
        d.insert(alert("A", "1", T0), T0);
        d.insert(resolved(alert("A", "1", T0), T0 + 10 * S), T0 + 10 * S);
        assert!(d.due(T0 + 30 * S).is_empty());
        assert_eq!(d.groups().count(), 0);
    }

    #[test]
    fn resolve_timeout_resolves_silent_alerts() {
        let mut d = dispatcher("");
        let mut a = alert("A", "1", T0);
        a.ends_at = None; // resolve_timeout (5m) applies
        d.insert(a, T0);
        assert_eq!(d.due(T0 + 30 * S)[0].trigger, Trigger::New);
        let n = d.due(T0 + 30 * S + 5 * M);
        assert_eq!(n[0].trigger, Trigger::Resolved);
        assert_eq!(n[0].resolved, 1);
    }

    #[test]
    fn old_alert_flushes_immediately() {
        let mut d = dispatcher("");
        d.insert(alert("A", "1", T0 - 10 * M), T0);
        assert_eq!(d.next_wakeup(), Some(T0));
        assert_eq!(d.due(T0).len(), 1);
    }

    #[test]
    fn groups_per_route_and_labels() {
        let mut d =
            dispatcher("  routes:\n    - matchers: [instance=\"1\"]\n      continue: true\n");
        let keys = d.insert(alert("A", "1", T0), T0);
        // A matching child (even with `continue`) takes the alert from its parent.
        assert_eq!(
            keys,
            vec!["{}/{instance=\"1\"}/0:{alertname=\"A\"}".to_string()]
        );
        d.insert(alert("A", "2", T0), T0);
        d.insert(alert("B", "2", T0), T0);
        let n = d.due(T0 + 30 * S);
        let got: Vec<(&str, usize)> = n.iter().map(|n| (n.group_key.as_str(), n.firing)).collect();
        assert_eq!(
            got,
            vec![
                ("{}/{instance=\"1\"}/0:{alertname=\"A\"}", 1),
                ("{}:{alertname=\"A\"}", 1),
                ("{}:{alertname=\"B\"}", 1)
            ]
        );
    }

    #[test]
    fn silenced_alerts_are_left_out() {
        let mut d = dispatcher("");
        d.insert(alert("A", "1", T0), T0);
        d.insert(alert("A", "2", T0), T0);
        let n = d.due_filtered(T0 + 30 * S, |a| a.labels.get("instance") == Some("2"));
        assert_eq!(names(&n[0]), vec![("1".into(), AlertStatus::Firing)]);
        // Silence lifted: the newly visible alert counts as new.
        let n = d.due(T0 + 30 * S + 5 * M);
        assert_eq!(n[0].trigger, Trigger::New);
        assert_eq!(n[0].firing, 2);
    }

    #[test]
    fn mute_time_intervals_suppress_flushes() {
        let extra = "  routes:\n    - receiver: night\n      mute_time_intervals: [always]\ntime_intervals:\n  - name: always\n    time_intervals: [{times: [{start_time: '00:00', end_time: '24:00'}]}]\n";
        let mut d = dispatcher(extra);
        d.insert(alert("A", "1", T0), T0);
        assert!(d.due(T0 + 30 * S).is_empty());
        // The group still ticks.
        assert_eq!(d.next_wakeup(), Some(T0 + 30 * S + 5 * M));
    }
}
