//! The dispatcher thread: ingest → state → grouping → outbox, plus escalation timers.
//! All store I/O here is blocking, which is why this runs on its own thread.

use std::collections::{BTreeSet, HashMap, HashSet};

use strix_core::Labels;
use strix_state::{
    AlertQuery, AlertRecord, AlertState, AlertWrite, AlertWritten, Escalation, SilenceState,
    StateError, StateStore, MAX_LIST_LIMIT, SYSTEM_ACTOR,
};

use super::build::{self, AlertInfo, Prepared};
use super::events;
use super::metrics::Metrics;
use super::writer::Chunk;
use super::{lock, now_ms, AlertSource, IncomingAlert, Inner, PipelineError};
use crate::channels::{ChannelKind, Notification as ChannelNotification};
use crate::routing::config::RoutingConfig;
use crate::routing::escalation::EscalationState;
use crate::routing::group::{self, AlertInput, AlertStatus, Dispatcher};
use crate::routing::inhibit::Inhibitor;
use crate::routing::silence::{self, SilenceSet};

const SILENCE_RELOAD_MS: i64 = 10_000;
const SWEEP_MS: i64 = 1_000;
const ESCALATION_CHECK_MS: i64 = 1_000;
/// Re-write an unchanged firing alert (value, `updated_at`) at most this often.
const REWRITE_MS: i64 = 60_000;
const FORGET_MS: i64 = 24 * 3_600_000;
/// Alert writes applied in one transaction at most.
const WRITE_BATCH: usize = 1024;

/// What to do with the outcome of one collected alert write.
enum After {
    /// Log unexpected errors only.
    Log,
    /// A known alert re-written: remember when, and its state.
    Rewrite { fp: u64 },
    /// A new alert: on success it joins its groups (and may start an escalation).
    New {
        id: String,
        input: AlertInput,
        value: f64,
        starts_at: i64,
    },
}

/// Alert writes collected while processing incoming alerts.
#[derive(Default)]
pub(crate) struct Writes {
    ops: Vec<AlertWrite>,
    after: Vec<After>,
    /// Fingerprints with a write in `ops`.
    fps: HashSet<u64>,
    /// Open alerts of the batch's unknown fingerprints, read in one go before the batch
    /// (`looked_up`: the fingerprints asked for; each answer is used once).
    prefetched: HashMap<String, AlertRecord>,
    looked_up: HashSet<String>,
}

impl Writes {
    /// The open alert of `fp_hex` in the store: the prefetched answer the first time,
    /// else a read (the batch may have changed it meanwhile).
    fn lookup(&mut self, store: &dyn StateStore, fp_hex: &str) -> Option<AlertRecord> {
        if self.looked_up.remove(fp_hex) {
            return self.prefetched.remove(fp_hex);
        }
        match store.active_alert_by_fingerprint(fp_hex) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot look up an alert.");
                None
            }
        }
    }

    fn push(&mut self, op: AlertWrite, after: After) {
        self.ops.push(op);
        self.after.push(after);
    }
}

/// An open alert the pipeline knows.
#[derive(Debug, Clone)]
struct Active {
    id: String,
    state: AlertState,
    input: AlertInput,
    value: f64,
    last_write: i64,
}

pub(crate) struct DispatchState {
    dispatcher: Dispatcher,
    alerts: HashMap<u64, Active>,
    /// Ids of alerts that left `alerts` recently (for the resolved notification's ids).
    recent: HashMap<u64, (String, i64)>,
    /// Episodes (fingerprint → start) an operator resolved: re-sends are ignored.
    operator_resolved: HashMap<u64, (i64, i64)>,
    silences: SilenceSet,
    silences_loaded_at: i64,
    next_sweep: i64,
    next_escalation_check: i64,
    resolve_timeout_ms: i64,
}

fn labels_of(m: &std::collections::BTreeMap<String, String>) -> Labels {
    Labels::from_pairs(
        m.iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone())),
    )
}

fn load_silences(store: &dyn StateStore, now: i64) -> Result<SilenceSet, StateError> {
    let list = store.list_silences(&[SilenceState::Active, SilenceState::Pending], now)?;
    let converted: Vec<silence::Silence> = list
        .into_iter()
        .map(|s| silence::Silence {
            id: s.id,
            matchers: s
                .matchers
                .into_iter()
                .map(|m| silence::SilenceMatcher {
                    name: m.name,
                    value: m.value,
                    is_regex: m.is_regex,
                    is_equal: m.is_equal,
                })
                .collect(),
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            created_by: s.created_by,
            comment: s.comment,
        })
        .collect();
    let (set, bad) = SilenceSet::new(converted.iter());
    for (id, e) in bad {
        tracing::warn!(silence = %id, error = %e, "Ignoring an invalid silence.");
    }
    Ok(set)
}

impl DispatchState {
    /// The state after a (re)start: silences loaded, open alerts back in their groups.
    pub fn new(
        config: &RoutingConfig,
        store: &dyn StateStore,
        metrics: &Metrics,
        now: i64,
    ) -> Result<Self, PipelineError> {
        let mut st = DispatchState {
            dispatcher: Dispatcher::new(config),
            alerts: HashMap::new(),
            recent: HashMap::new(),
            operator_resolved: HashMap::new(),
            silences: load_silences(store, now)?,
            silences_loaded_at: now,
            next_sweep: now,
            next_escalation_check: now,
            resolve_timeout_ms: config.global.resolve_timeout.millis(),
        };
        let mut offset = 0;
        loop {
            let q = AlertQuery {
                states: vec![AlertState::Firing, AlertState::Acknowledged],
                offset,
                limit: MAX_LIST_LIMIT,
                ..AlertQuery::default()
            };
            let (page, total) = store.list_alerts(&q)?;
            let n = page.len();
            for rec in page {
                let labels = labels_of(&rec.labels);
                let input = AlertInput {
                    fingerprint: group::fingerprint(&labels),
                    labels,
                    annotations: rec.annotations.clone(),
                    starts_at: rec.starts_at,
                    ends_at: Some(now.saturating_add(st.resolve_timeout_ms)),
                    generator_url: String::new(),
                    status: AlertStatus::Firing,
                };
                st.dispatcher.insert(input.clone(), now);
                st.alerts.insert(
                    input.fingerprint,
                    Active {
                        id: rec.id,
                        state: rec.state,
                        input,
                        value: rec.value,
                        last_write: now,
                    },
                );
            }
            offset += n;
            if n == 0 || offset as u64 >= total {
                break;
            }
        }
        if !st.alerts.is_empty() {
            tracing::info!(
                alerts = st.alerts.len(),
                "Open alerts restored into their notification groups."
            );
        }
        st.update_gauges(metrics);
        Ok(st)
    }

    /// How long the thread may sleep: until the next group flush, sweep or escalation
    /// check, at most `tick`.
    fn wait_hint(&self, now: i64, tick: std::time::Duration) -> std::time::Duration {
        let next = [
            self.dispatcher.next_wakeup(),
            Some(self.next_sweep),
            Some(self.next_escalation_check),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(i64::MAX);
        if next <= now {
            return std::time::Duration::ZERO;
        }
        tick.min(std::time::Duration::from_millis(
            u64::try_from(next - now).unwrap_or(u64::MAX),
        ))
    }

    fn update_gauges(&self, metrics: &Metrics) {
        let firing = self
            .alerts
            .values()
            .filter(|a| a.state == AlertState::Firing)
            .count();
        metrics.set_active("firing", firing);
        metrics.set_active("acknowledged", self.alerts.len() - firing);
    }

    /// One pass; returns the number of outbox entries created.
    fn step(
        &mut self,
        inner: &Inner,
        batch: Vec<IncomingAlert>,
        silences_changed: bool,
        now: i64,
    ) -> usize {
        if silences_changed || now - self.silences_loaded_at >= SILENCE_RELOAD_MS {
            match load_silences(inner.store.as_ref(), now) {
                Ok(s) => self.silences = s,
                Err(e) => tracing::warn!(error = %e, "Cannot reload silences."),
            }
            self.silences_loaded_at = now;
        }
        let mut w = Writes::default();
        // One read for the open alerts of every fingerprint this process does not know.
        let unknown: Vec<String> = batch
            .iter()
            .map(|a| group::fingerprint(&labels_of(&a.labels)))
            .filter(|fp| !self.alerts.contains_key(fp))
            .map(build::fingerprint_hex)
            .collect::<HashSet<String>>()
            .into_iter()
            .collect();
        if !unknown.is_empty() {
            match inner.store.active_alerts_by_fingerprints(&unknown) {
                Ok(found) => {
                    w.prefetched = found;
                    w.looked_up = unknown.into_iter().collect();
                }
                Err(e) => tracing::warn!(error = %e, "Cannot look up alerts; reading one by one."),
            }
        }
        for a in batch {
            self.process(inner, a, now, &mut w);
        }
        self.apply(inner, &mut w, now);
        let mut created = 0;
        if now >= self.next_sweep {
            self.sweep(inner, now);
            self.next_sweep = now + SWEEP_MS;
        }
        if now >= self.next_escalation_check {
            created += self.escalations(inner, now);
            self.next_escalation_check = now + ESCALATION_CHECK_MS;
        }
        created += self.flush(inner, now);
        self.update_gauges(&inner.metrics);
        created
    }

    /// Decides what an incoming alert changes. In-memory effects happen at once; store
    /// writes are collected in `w` and applied by [`DispatchState::apply`], one
    /// transaction for many alerts. An alert whose fingerprint already has a write in `w`
    /// applies `w` first, so every alert sees the effects of the ones before it.
    fn process(&mut self, inner: &Inner, a: IncomingAlert, now: i64, w: &mut Writes) {
        let store = inner.store.as_ref();
        let labels = labels_of(&a.labels);
        let fp = group::fingerprint(&labels);
        if w.fps.contains(&fp) || w.ops.len() >= WRITE_BATCH {
            self.apply(inner, w, now);
        }
        w.fps.insert(fp);
        let fp_hex = build::fingerprint_hex(fp);
        let resolved = a.ends_at.is_some_and(|e| e <= now);
        let mut input = AlertInput {
            fingerprint: fp,
            labels,
            annotations: a.annotations.clone(),
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            generator_url: a.generator_url.clone(),
            status: if resolved {
                AlertStatus::Resolved
            } else {
                AlertStatus::Firing
            },
        };
        if resolved {
            let known = match self.alerts.remove(&fp) {
                Some(x) => Some(x.id),
                None => w.lookup(store, &fp_hex).map(|r| r.id),
            };
            if let Some(id) = known {
                w.push(
                    AlertWrite::Transition {
                        id: id.clone(),
                        to: AlertState::Resolved,
                        actor: SYSTEM_ACTOR.to_string(),
                        notes: "resolved".to_string(),
                        at: now,
                    },
                    After::Log,
                );
                self.recent.insert(fp, (id, now));
            }
            self.dispatcher.insert(input, now);
            return;
        }
        if let Some(&(start, _)) = self.operator_resolved.get(&fp) {
            if start == a.starts_at {
                return; // An operator closed this episode; its re-sends change nothing.
            }
            self.operator_resolved.remove(&fp);
        }
        if input.ends_at.is_none() {
            input.ends_at = Some(now.saturating_add(self.resolve_timeout_ms));
        }
        let value = a.value.unwrap_or(0.0);
        if let Some(act) = self.alerts.get_mut(&fp) {
            let changed = act.input.annotations != input.annotations;
            input.starts_at = act.input.starts_at;
            act.input = input.clone();
            let due = changed || now - act.last_write >= REWRITE_MS;
            act.value = value;
            if due {
                let mut rec = AlertRecord::new(fp_hex.clone(), "", act.state, act.input.starts_at);
                rec.id = act.id.clone();
                fill_record(&mut rec, &a, value, now);
                w.push(
                    AlertWrite::Upsert {
                        alert: rec,
                        actor: SYSTEM_ACTOR.to_string(),
                        notes: String::new(),
                    },
                    After::Rewrite { fp },
                );
            }
            self.dispatcher.insert(input, now);
            return;
        }
        // A new firing episode (or one the store knows and this process does not).
        match w.lookup(store, &fp_hex) {
            Some(rec) => {
                input.starts_at = rec.starts_at;
                let mut up = rec.clone();
                fill_record(&mut up, &a, value, now);
                let to = if rec.state == AlertState::Pending {
                    AlertState::Firing
                } else {
                    rec.state
                };
                up.state = to;
                w.push(
                    AlertWrite::Upsert {
                        alert: up,
                        actor: SYSTEM_ACTOR.to_string(),
                        notes: String::new(),
                    },
                    After::Log,
                );
                if rec.state == AlertState::Pending && to == AlertState::Firing {
                    if let Some(esc) = self.escalation_for(inner, &rec.id, &input) {
                        w.push(
                            AlertWrite::Escalation {
                                escalation: esc,
                                now,
                            },
                            After::Log,
                        );
                    }
                }
                self.alerts.insert(
                    fp,
                    Active {
                        id: rec.id,
                        state: to,
                        input: input.clone(),
                        value,
                        last_write: now,
                    },
                );
                self.dispatcher.insert(input, now);
            }
            None => {
                let name = a.labels.get("alertname").cloned().unwrap_or_default();
                let mut rec =
                    AlertRecord::new(fp_hex.clone(), name, AlertState::Firing, a.starts_at);
                fill_record(&mut rec, &a, value, now);
                let id = rec.id.clone();
                w.push(
                    AlertWrite::Upsert {
                        alert: rec,
                        actor: SYSTEM_ACTOR.to_string(),
                        notes: String::new(),
                    },
                    After::New {
                        id,
                        input,
                        value,
                        starts_at: a.starts_at,
                    },
                );
            }
        }
    }

    /// Applies the collected writes in one transaction, then what depends on their
    /// outcome (new alerts into their groups, escalation timers, live events).
    fn apply(&mut self, inner: &Inner, w: &mut Writes, now: i64) {
        w.fps.clear();
        if w.ops.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut w.ops);
        let afters = std::mem::take(&mut w.after);
        let results: Vec<Option<Result<AlertWritten, StateError>>> =
            match inner.store.write_alerts(&ops) {
                Ok(r) => r.into_iter().map(Some).collect(),
                Err(e) => {
                    tracing::warn!(writes = ops.len(), error = %e, "Cannot record alert changes.");
                    ops.iter().map(|_| None).collect()
                }
            };
        let bus = inner.opts.events.as_deref();
        let mut escalations = Vec::new();
        for (after, mut res) in afters.into_iter().zip(results) {
            let changed = match &mut res {
                Some(Ok(AlertWritten::Upserted(out))) if out.transition.is_some() => {
                    Some(&mut out.record)
                }
                Some(Ok(AlertWritten::Transitioned(rec))) => Some(rec),
                _ => None,
            };
            if let (Some(bus), Some(rec)) = (bus, changed) {
                events::publish_alert(Some(bus), take_for_event(rec));
            }
            match after {
                After::Log => match res {
                    Some(Err(StateError::Conflict(_)))
                    | Some(Err(StateError::NotFound { .. }))
                    | Some(Ok(_))
                    | None => {}
                    Some(Err(e)) => tracing::warn!(error = %e, "Cannot record an alert change."),
                },
                After::Rewrite { fp } => match res {
                    Some(Ok(AlertWritten::Upserted(out))) => {
                        if let Some(act) = self.alerts.get_mut(&fp) {
                            act.last_write = now;
                            act.state = out.record.state;
                        }
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "Cannot update an alert."),
                    _ => {}
                },
                After::New {
                    id,
                    input,
                    value,
                    starts_at,
                } => {
                    let fp = input.fingerprint;
                    let (id, state, created) = match res {
                        Some(Ok(AlertWritten::Upserted(out)))
                            if out.record.state == AlertState::Resolved =>
                        {
                            // This episode was closed (by an operator, before a restart).
                            self.operator_resolved.insert(fp, (starts_at, now));
                            continue;
                        }
                        Some(Ok(AlertWritten::Upserted(out))) => {
                            (out.record.id, out.record.state, out.created)
                        }
                        Some(Err(StateError::Conflict(_))) => {
                            self.operator_resolved.insert(fp, (starts_at, now));
                            continue;
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "Cannot record an alert; notifying anyway.");
                            (id, AlertState::Firing, false)
                        }
                        Some(Ok(_)) | None => (id, AlertState::Firing, false),
                    };
                    if created && state == AlertState::Firing {
                        if let Some(esc) = self.escalation_for(inner, &id, &input) {
                            escalations.push(AlertWrite::Escalation {
                                escalation: esc,
                                now,
                            });
                        }
                    }
                    self.alerts.insert(
                        fp,
                        Active {
                            id,
                            state,
                            input: input.clone(),
                            value,
                            last_write: now,
                        },
                    );
                    self.dispatcher.insert(input, now);
                }
            }
        }
        if !escalations.is_empty() {
            match inner.store.write_alerts(&escalations) {
                Ok(results) => {
                    for r in results {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "Cannot persist an escalation.");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "Cannot persist escalations."),
            }
        }
    }

    /// The first timer of the escalation policy for the alert's `severity`, if any.
    fn escalation_for(
        &mut self,
        inner: &Inner,
        id: &str,
        input: &AlertInput,
    ) -> Option<Escalation> {
        let sev = input.labels.get("severity")?;
        let policy = inner.config.escalation.for_severity(sev)?;
        let step = policy.step(0, input.starts_at)?;
        self.next_escalation_check = self.next_escalation_check.min(step.due_at);
        Some(Escalation {
            alert_id: id.to_string(),
            policy: sev.to_string(),
            level: 0,
            repeat: 0,
            next_at: step.due_at,
        })
    }

    /// Alerts whose `ends_at` passed without a re-send resolve.
    fn sweep(&mut self, inner: &Inner, now: i64) {
        let expired: Vec<u64> = self
            .alerts
            .iter()
            .filter(|(_, a)| a.input.ends_at.is_some_and(|e| e <= now))
            .map(|(fp, _)| *fp)
            .collect();
        for fp in expired {
            if let Some(a) = self.alerts.remove(&fp) {
                match inner.store.transition(
                    &a.id,
                    AlertState::Resolved,
                    SYSTEM_ACTOR,
                    "not re-sent before its end time",
                    now,
                ) {
                    Ok(rec) => events::publish_alert(inner.opts.events.as_deref(), rec),
                    Err(StateError::Conflict(_)) | Err(StateError::NotFound { .. }) => {}
                    Err(e) => tracing::warn!(alert = %a.id, error = %e, "Cannot resolve an alert."),
                }
                self.recent.insert(fp, (a.id, now));
            }
        }
        self.recent.retain(|_, (_, at)| now - *at < 3_600_000);
        self.operator_resolved
            .retain(|_, (_, at)| now - *at < FORGET_MS);
    }

    fn flush(&mut self, inner: &Inner, now: i64) -> usize {
        if self.dispatcher.next_wakeup().is_none_or(|t| t > now) {
            return 0;
        }
        let inhibitor = Inhibitor::new(
            &inner.config.inhibit_rules,
            self.alerts.values().map(|a| &a.input),
            now,
        );
        let silences = &self.silences;
        let due = self.dispatcher.due_filtered(now, |a| {
            silences.is_silenced(&a.labels, now) || inhibitor.is_inhibited(a)
        });
        if due.is_empty() {
            return 0;
        }
        let alerts = &self.alerts;
        let recent = &self.recent;
        let info = AlertInfo {
            id_of: &|fp| match alerts.get(&fp) {
                Some(a) => Some((a.id.as_str(), a.state == AlertState::Acknowledged)),
                None => recent.get(&fp).map(|(id, _)| (id.as_str(), false)),
            },
        };
        let mut created = 0;
        let chunk_size = inner.opts.flush_chunk;
        let mut chunk: Vec<(String, ChannelNotification)> = Vec::new();
        for n in &due {
            let Some(chans) = inner.channels().get(&n.receiver) else {
                tracing::warn!(receiver = %n.receiver, "Notification for an unknown receiver dropped.");
                inner.metrics.dropped("unknown_receiver");
                continue;
            };
            if chans.is_empty() {
                continue;
            }
            if inner.config.rate_limits.contains_key(&n.receiver) {
                // The rate limit counts what the store holds: write what was decided first.
                created += inner.write_chunk(Chunk {
                    notifications: std::mem::take(&mut chunk),
                    now,
                });
            }
            if !rate_ok(inner, &n.receiver, chans.len(), now) {
                continue;
            }
            let cn = build::channel_notification(n, &inner.opts.external_url, &info, now);
            chunk.push((n.receiver.clone(), cn));
            if chunk.len() >= chunk_size {
                created += inner.write_chunk(Chunk {
                    notifications: std::mem::take(&mut chunk),
                    now,
                });
            }
        }
        created += inner.write_chunk(Chunk {
            notifications: chunk,
            now,
        });
        created
    }

    fn group_key_for(&self, receiver: &str, fp: u64) -> Option<String> {
        self.dispatcher
            .groups()
            .find(|g| g.receiver == receiver && g.alerts.iter().any(|a| a.fingerprint == fp))
            .map(|g| g.key.to_string())
    }

    fn find_by_id(&self, id: &str) -> Option<u64> {
        self.alerts
            .iter()
            .find(|(_, a)| a.id == id)
            .map(|(fp, _)| *fp)
    }

    /// Due escalation timers: page the level's receivers and move the timer, in one
    /// transaction each.
    fn escalations(&mut self, inner: &Inner, now: i64) -> usize {
        let store = inner.store.as_ref();
        let due = match store.due_escalations(now, 64) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read escalation timers.");
                return 0;
            }
        };
        let mut created = 0;
        for esc in due {
            let active = self
                .find_by_id(&esc.alert_id)
                .and_then(|fp| self.alerts.get(&fp).map(|a| (fp, a.clone())));
            let policy = inner.config.escalation.for_severity(&esc.policy);
            let (Some((fp, act)), Some(policy)) = (active, policy) else {
                let _ = store.cancel_escalation(&esc.alert_id);
                continue;
            };
            if act.state != AlertState::Firing {
                let _ = store.cancel_escalation(&esc.alert_id);
                continue;
            }
            let steps_done = esc.level.saturating_add(esc.repeat);
            let plan = policy.plan(
                EscalationState {
                    fired_at: act.input.starts_at,
                    acknowledged: false,
                    resolved: false,
                    steps_done,
                },
                now,
            );
            let mut items = Prepared::default();
            if let Some(step) = &plan.due {
                let receivers: Vec<String> = if !step.receivers.is_empty() {
                    step.receivers.clone()
                } else if step.step == 0 {
                    // The routed notification itself is the first page.
                    Vec::new()
                } else {
                    let set: BTreeSet<String> = inner
                        .config
                        .tree
                        .receivers_for(&act.input.labels)
                        .into_iter()
                        .map(str::to_string)
                        .collect();
                    set.into_iter().collect()
                };
                for r in receivers {
                    let Some(chans) = inner.channels().get(&r) else {
                        continue;
                    };
                    if chans.is_empty() || !rate_ok(inner, &r, chans.len(), now) {
                        continue;
                    }
                    let gk = self
                        .group_key_for(&r, fp)
                        .unwrap_or_else(|| format!("escalation:{}", act.id));
                    let mut n = build::single_alert_notification(
                        &r,
                        &gk,
                        &act.input,
                        &act.id,
                        &inner.opts.external_url,
                    );
                    n.escalation_level = step.step;
                    n.idempotency_key = format!("esc:{}:{}:{}", act.id, step.step, r);
                    let key = n.idempotency_key.clone();
                    items.append(build::outbox_items(chans, n, &key, None, now));
                }
                if plan.skipped > 0 {
                    tracing::info!(alert = %act.id, skipped = plan.skipped, "Overdue escalation levels merged into one page.");
                }
            }
            let levels = u32::try_from(policy.levels.len())
                .unwrap_or(u32::MAX)
                .max(1);
            let next = plan.next_at.map(|at| {
                let level = plan.steps_done.min(levels - 1);
                Escalation {
                    alert_id: esc.alert_id.clone(),
                    policy: esc.policy.clone(),
                    level,
                    repeat: plan.steps_done - level,
                    next_at: at,
                }
            });
            match store.advance_escalation(&esc, next.as_ref(), &items.items, now) {
                Ok(res) => {
                    created += inner.push_jobs(items, res, now);
                    if let Some(nx) = &next {
                        self.next_escalation_check = self.next_escalation_check.min(nx.next_at);
                    }
                }
                Err(StateError::Conflict(_)) => {}
                Err(e) => {
                    tracing::warn!(alert = %esc.alert_id, error = %e, "Cannot advance an escalation.")
                }
            }
        }
        created
    }

    /// After an operator acknowledged `rec`: PagerDuty integrations get `acknowledge`.
    pub fn acknowledged(&mut self, inner: &Inner, rec: &AlertRecord, now: i64) -> usize {
        let Some(fp) = self.find_by_id(&rec.id) else {
            return 0;
        };
        let Some(act) = self.alerts.get_mut(&fp) else {
            return 0;
        };
        act.state = AlertState::Acknowledged;
        let act = act.clone();
        let receivers: BTreeSet<String> = inner
            .config
            .tree
            .receivers_for(&act.input.labels)
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut items = Prepared::default();
        for r in receivers {
            let Some(chans) = inner.channels().get(&r) else {
                continue;
            };
            if !chans.iter().any(|c| c.kind() == ChannelKind::PagerDuty) {
                continue;
            }
            let gk = self
                .group_key_for(&r, fp)
                .unwrap_or_else(|| format!("escalation:{}", act.id));
            let mut n = build::single_alert_notification(
                &r,
                &gk,
                &act.input,
                &act.id,
                &inner.opts.external_url,
            );
            n.acknowledged = true;
            n.idempotency_key = format!("ack:{}:{}", act.id, r);
            let key = n.idempotency_key.clone();
            items.append(build::outbox_items(
                chans,
                n,
                &key,
                Some(ChannelKind::PagerDuty),
                now,
            ));
        }
        enqueue_all(inner, items, now)
    }

    /// After an operator resolved `rec`: its groups report it resolved at once (not at
    /// their next `group_interval`); re-sends of the episode are ignored.
    pub fn resolved_by_operator(&mut self, rec: &AlertRecord, now: i64) {
        let Some(fp) = self.find_by_id(&rec.id) else {
            return;
        };
        if let Some(a) = self.alerts.remove(&fp) {
            self.operator_resolved.insert(fp, (a.input.starts_at, now));
            self.recent.insert(fp, (a.id, now));
            let mut input = a.input;
            input.status = AlertStatus::Resolved;
            input.ends_at = Some(now);
            let keys = self.dispatcher.insert(input, now);
            self.dispatcher.flush_now(&keys, now);
        }
    }
}

fn fill_record(rec: &mut AlertRecord, a: &IncomingAlert, value: f64, now: i64) {
    rec.generator = match a.source {
        AlertSource::Rule => strix_state::alert::generator::RULE,
        AlertSource::External => strix_state::alert::generator::EXTERNAL,
    }
    .to_string();
    if let Some(name) = a.labels.get("alertname") {
        rec.rule = name.clone();
    }
    rec.labels = a.labels.clone();
    rec.annotations = a.annotations.clone();
    rec.severity = a.labels.get("severity").cloned().unwrap_or_default();
    rec.value = value;
    rec.updated_at = now;
}

/// Whether `receiver`'s rate limit lets one more notification through at `now`.
fn rate_ok(inner: &Inner, receiver: &str, channels: usize, now: i64) -> bool {
    let Some(rl) = inner.config.rate_limits.get(receiver) else {
        return true;
    };
    // The count must include every notification decided before this one.
    inner.drain_writes();
    let per = i64::try_from(rl.per.as_millis()).unwrap_or(i64::MAX);
    let since = now.saturating_sub(per).saturating_add(1);
    match inner.store.count_notifications(receiver, since) {
        Ok(entries) => {
            let sent = entries.div_ceil(channels.max(1) as u64);
            if sent >= u64::from(rl.max) {
                inner.metrics.rate_limited(receiver);
                tracing::warn!(
                    receiver,
                    max = rl.max,
                    per = %strix_core::duration::format(rl.per),
                    "Notification refused by the receiver's rate limit."
                );
                false
            } else {
                true
            }
        }
        Err(e) => {
            tracing::warn!(receiver, error = %e, "Cannot check a rate limit; allowing.");
            true
        }
    }
}

/// The record for a live event, leaving in `rec` what [`DispatchState::apply`] still
/// reads after publishing (the id and the state).
fn take_for_event(rec: &mut AlertRecord) -> AlertRecord {
    AlertRecord {
        id: rec.id.clone(),
        fingerprint: std::mem::take(&mut rec.fingerprint),
        rule: std::mem::take(&mut rec.rule),
        generator: std::mem::take(&mut rec.generator),
        labels: std::mem::take(&mut rec.labels),
        annotations: std::mem::take(&mut rec.annotations),
        state: rec.state,
        severity: std::mem::take(&mut rec.severity),
        value: rec.value,
        starts_at: rec.starts_at,
        updated_at: rec.updated_at,
        ended_at: rec.ended_at,
        acknowledged_by: rec.acknowledged_by.take(),
        acknowledged_at: rec.acknowledged_at,
        resolved_by: rec.resolved_by.take(),
        resolved_at: rec.resolved_at,
        notes: std::mem::take(&mut rec.notes),
    }
}

/// Enqueues `items` in one transaction and hands the new entries to delivery; returns
/// how many were new. If the batch cannot be written, each item is tried alone so one bad
/// item cannot hold back the others.
pub(crate) fn enqueue_all(inner: &Inner, items: Prepared, now: i64) -> usize {
    if items.is_empty() {
        return 0;
    }
    inner.metrics.enqueue_batch.observe(items.len() as f64);
    match inner.store.enqueue_batch(&items.items, now) {
        Ok(res) => return inner.push_jobs(items, res, now),
        Err(e) => {
            tracing::warn!(items = items.len(), error = %e, "Cannot enqueue notifications as one batch; trying one by one.");
        }
    }
    let mut written = Prepared::default();
    let mut res = Vec::new();
    for (it, p) in items.items.into_iter().zip(items.payloads) {
        match inner.store.enqueue(&it, now) {
            Ok(e) => {
                written.items.push(it);
                written.payloads.push(p);
                res.push(e);
            }
            Err(e) => {
                inner.metrics.dropped("store_error");
                tracing::error!(receiver = %it.receiver, error = %e, "Cannot enqueue a notification.");
            }
        }
    }
    inner.push_jobs(written, res, now)
}

/// The dispatcher thread's loop, until shutdown.
pub(crate) fn run(inner: &Inner) {
    let full = inner.opts.step_alerts.max(1);
    let first = (full / 8).max(1);
    // Slices start small after an idle moment and double up to `step_alerts`: the first
    // notifications of a flood leave after a few dozen alerts are decided, while the
    // rest of the flood is still arriving.
    let mut step = first;
    loop {
        let wait = {
            let now = now_ms();
            lock(&inner.dispatch).wait_hint(now, inner.opts.tick)
        };
        let (batch, silences_changed) = {
            let mut inbox = lock(&inner.inbox);
            if inbox.alerts.is_empty()
                && !inbox.silences_changed
                && !inbox.shutdown
                && !wait.is_zero()
            {
                inbox = match inner.inbox_cv.wait_timeout(inbox, wait) {
                    Ok((g, _)) => g,
                    Err(e) => e.into_inner().0,
                };
            }
            if inbox.shutdown {
                return;
            }
            if inbox.alerts.is_empty() {
                step = first;
            }
            let take = inbox.alerts.len().min(step);
            if take > 0 {
                step = (step * 2).min(full);
            }
            let batch: Vec<IncomingAlert> = if take == inbox.alerts.len() {
                std::mem::take(&mut inbox.alerts)
            } else {
                inbox.alerts.drain(..take).collect()
            };
            (batch, std::mem::take(&mut inbox.silences_changed))
        };
        let now = now_ms();
        let created = lock(&inner.dispatch).step(inner, batch, silences_changed, now);
        if created > 0 {
            inner.delivery_wake.notify_one();
        }
    }
}
