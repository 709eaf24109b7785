//! The backend-neutral store trait.

use crate::{
    AlertQuery, AlertRecord, AlertState, AlertStats, AlertWrite, AlertWritten, DeliveryLogEntry,
    DeliveryLogQuery, DeliveryOutcome, Enqueued, ErrorEventRecord, ErrorIssue, ErrorIssueQuery,
    Escalation, NewErrorEvent, OutboxEntry, OutboxItem, PruneStats, RecordedEvent, RuleStateRecord,
    Silence, SilenceInput, SilenceState, StateError, Transition, UpsertOutcome,
};

/// Relational state behind one object-safe trait, so the embedded SQLite store and a later
/// PostgreSQL store are interchangeable (`Arc<dyn StateStore>`).
///
/// Every method is synchronous and may block on disk I/O; async callers use
/// `spawn_blocking`. Every method that writes is one transaction: when it returns `Ok`,
/// the change is durable (it survives `kill -9` and power loss under the backend's
/// durability settings) and visible to every later call; when it returns `Err`, nothing
/// of it was applied. Times are milliseconds since the Unix epoch and are passed in by the
/// caller (the store never reads the clock), so timers are testable without sleeping.
pub trait StateStore: Send + Sync {
    // ---- alerts ----

    /// Inserts the alert, or updates the one with the same `id`.
    ///
    /// On insert, a transition `None → alert.state` by `actor` is recorded; a second active
    /// alert for the same fingerprint is a [`StateError::Conflict`]. On update, labels,
    /// annotations, severity, value, rule, generator and `updated_at` are replaced; if
    /// `alert.state` differs from the stored state, the change is validated and applied as
    /// by [`transition`](Self::transition) (at `alert.updated_at`). Operator fields
    /// (`acknowledged_*`, `resolved_*`, `ended_at`, `notes`) of the argument are ignored on
    /// update: the store owns them. Record and history are written in one transaction.
    fn upsert_alert(
        &self,
        alert: &AlertRecord,
        actor: &str,
        notes: &str,
    ) -> Result<UpsertOutcome, StateError>;

    /// Moves an alert to `to`, recording who, when and why, in one transaction with the
    /// history row. Acknowledging sets `acknowledged_by/at`; resolving sets
    /// `resolved_by/at` and `ended_at`. Acknowledging or resolving also cancels the alert's
    /// escalation in the same transaction.
    ///
    /// Errors: [`StateError::NotFound`] for an unknown id; [`StateError::Conflict`] when the
    /// lifecycle forbids the move (see [`AlertState::can_transition_to`]), e.g.
    /// acknowledging a resolved alert.
    fn transition(
        &self,
        alert_id: &str,
        to: AlertState,
        actor: &str,
        notes: &str,
        at: i64,
    ) -> Result<AlertRecord, StateError>;

    /// Applies `writes` in order, in one transaction (one commit for the whole batch).
    /// Each write runs as its own savepoint: a write that fails (a conflict, an unknown id)
    /// is rolled back alone and reported in its slot, the others still apply. The outer
    /// `Err` means nothing was applied (the transaction could not be opened or committed).
    fn write_alerts(
        &self,
        writes: &[AlertWrite],
    ) -> Result<Vec<Result<AlertWritten, StateError>>, StateError> {
        Ok(writes
            .iter()
            .map(|w| match w {
                AlertWrite::Upsert {
                    alert,
                    actor,
                    notes,
                } => self
                    .upsert_alert(alert, actor, notes)
                    .map(AlertWritten::Upserted),
                AlertWrite::Transition {
                    id,
                    to,
                    actor,
                    notes,
                    at,
                } => self
                    .transition(id, *to, actor, notes, *at)
                    .map(AlertWritten::Transitioned),
                AlertWrite::Escalation { escalation, now } => self
                    .upsert_escalation(escalation, *now)
                    .map(|()| AlertWritten::Escalation),
            })
            .collect())
    }

    /// One alert by id; `None` if unknown.
    fn get_alert(&self, id: &str) -> Result<Option<AlertRecord>, StateError>;

    /// A filtered, sorted page of alerts and the total number matching the filters.
    /// [`StateError::BadInput`] if `limit` exceeds [`MAX_LIST_LIMIT`](crate::MAX_LIST_LIMIT).
    fn list_alerts(&self, query: &AlertQuery) -> Result<(Vec<AlertRecord>, u64), StateError>;

    /// The open (not resolved) alert for a fingerprint, if any. There is at most one.
    fn active_alert_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<AlertRecord>, StateError>;

    /// The open alerts of many fingerprints at once (one read), keyed by fingerprint;
    /// fingerprints without an open alert are absent.
    fn active_alerts_by_fingerprints(
        &self,
        fingerprints: &[String],
    ) -> Result<std::collections::HashMap<String, AlertRecord>, StateError> {
        let mut out = std::collections::HashMap::new();
        for fp in fingerprints {
            if let Some(a) = self.active_alert_by_fingerprint(fp)? {
                out.insert(fp.clone(), a);
            }
        }
        Ok(out)
    }

    /// Every transition of an alert, oldest first. [`StateError::NotFound`] if the alert is
    /// unknown.
    fn history(&self, alert_id: &str) -> Result<Vec<Transition>, StateError>;

    /// Counts and mean times over alerts with `starts_at >= since`, with the `top_rules`
    /// rules that raised most of them.
    fn stats(&self, since: i64, top_rules: usize) -> Result<AlertStats, StateError>;

    // ---- rule evaluation state ----

    /// Inserts or replaces the given rule states (key: rule key + fingerprint), all in one
    /// transaction. A state other than pending or firing is [`StateError::BadInput`].
    fn save_rule_states(&self, states: &[RuleStateRecord]) -> Result<(), StateError>;

    /// Every saved rule state, ordered by rule key then fingerprint.
    fn load_rule_states(&self) -> Result<Vec<RuleStateRecord>, StateError>;

    /// Deletes one rule instance's state, or, with `fingerprint = None`, every state of the
    /// rule. Returns the number of rows deleted.
    fn delete_rule_states(
        &self,
        rule_key: &str,
        fingerprint: Option<&str>,
    ) -> Result<u64, StateError>;

    // ---- silences ----

    /// Creates or updates a silence with Alertmanager's semantics and returns its id.
    ///
    /// Without an id (or an empty one) a new silence is created; a start in the past is
    /// moved to `now`; an end in the past is [`StateError::BadInput`]. With the id of an
    /// existing silence, it is updated in place when Alertmanager would allow that (same
    /// matchers; a pending silence may get any start not in the past; an active one keeps
    /// its start and may get any end not in the past); otherwise the old silence is
    /// expired (if not already) and a new one is created with a new id, which is returned.
    /// An unknown id is [`StateError::NotFound`].
    fn upsert_silence(&self, input: &SilenceInput, now: i64) -> Result<String, StateError>;

    /// Ends a silence now. A pending silence gets `starts_at = ends_at = now`.
    /// [`StateError::NotFound`] if unknown, [`StateError::Conflict`] if already expired.
    fn expire_silence(&self, id: &str, now: i64) -> Result<(), StateError>;

    /// One silence with its state at `now`.
    fn get_silence(&self, id: &str, now: i64) -> Result<Option<Silence>, StateError>;

    /// Silences in the given states (all when empty) at `now`, newest start first.
    fn list_silences(&self, states: &[SilenceState], now: i64) -> Result<Vec<Silence>, StateError>;

    // ---- outbox ----

    /// Adds a notification to the outbox, due at `item.not_before`, created at `now`.
    /// Enqueuing an idempotency key that is already present (in any status) writes nothing
    /// and returns the existing id with `created = false`.
    fn enqueue(&self, item: &OutboxItem, now: i64) -> Result<Enqueued, StateError>;

    /// Adds many notifications in one transaction (as [`enqueue`](Self::enqueue) each, in
    /// order); all or nothing. Returns one [`Enqueued`] per item.
    fn enqueue_batch(&self, items: &[OutboxItem], now: i64) -> Result<Vec<Enqueued>, StateError> {
        items.iter().map(|it| self.enqueue(it, now)).collect()
    }

    /// Up to `limit` pending entries with `id > after_id`, in id order, whatever their
    /// `next_attempt_at`: a sender pages through them at start to rebuild its queue.
    fn pending_outbox(&self, after_id: i64, limit: usize) -> Result<Vec<OutboxEntry>, StateError>;

    /// Records many delivery attempts in one transaction, each as
    /// [`mark_delivered`](Self::mark_delivered), [`mark_failed`](Self::mark_failed) or
    /// [`give_up`](Self::give_up) would, in order. Each runs as its own savepoint: one that
    /// fails (not pending any more) is reported in its slot and the others still apply.
    fn record_deliveries(
        &self,
        outcomes: &[DeliveryOutcome],
    ) -> Result<Vec<Result<(), StateError>>, StateError> {
        Ok(outcomes
            .iter()
            .map(|o| match o {
                DeliveryOutcome::Delivered { id, at, response } => {
                    self.mark_delivered(*id, *at, response)
                }
                DeliveryOutcome::Failed {
                    id,
                    attempt,
                    next_attempt_at,
                    error,
                    at,
                } => self.mark_failed(*id, *attempt, *next_attempt_at, error, *at),
                DeliveryOutcome::GaveUp { id, error, at } => self.give_up(*id, error, *at),
            })
            .collect())
    }

    /// Up to `limit` pending entries with `next_attempt_at <= now`, earliest due first (ties
    /// in enqueue order).
    ///
    /// Delivery is at-least-once: an entry stays pending, and is returned again by later
    /// calls once due, until [`mark_delivered`](Self::mark_delivered) or
    /// [`give_up`](Self::give_up). A sender that crashes after delivering and before
    /// marking delivers again after restart; the idempotency key lets the receiver
    /// deduplicate. Senders must not run two deliveries of one entry concurrently (one
    /// dispatcher per store, or per leader in a cluster).
    fn due(&self, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StateError>;

    /// One outbox entry by id.
    fn get_outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>, StateError>;

    /// Records a successful attempt: status delivered, a delivery-log row.
    /// [`StateError::NotFound`] if unknown, [`StateError::Conflict`] if not pending.
    fn mark_delivered(&self, id: i64, at: i64, response_summary: &str) -> Result<(), StateError>;

    /// Records failed attempt number `attempt` and schedules the next at
    /// `next_attempt_at`; the entry stays pending. Errors as for `mark_delivered`.
    fn mark_failed(
        &self,
        id: i64,
        attempt: u32,
        next_attempt_at: i64,
        error: &str,
        at: i64,
    ) -> Result<(), StateError>;

    /// Records a final failed attempt: status abandoned, never returned by `due` again.
    /// Errors as for `mark_delivered`.
    fn give_up(&self, id: i64, error: &str, at: i64) -> Result<(), StateError>;

    /// Delivery attempts, newest first, and the total matching the filters.
    fn delivery_log(
        &self,
        query: &DeliveryLogQuery,
    ) -> Result<(Vec<DeliveryLogEntry>, u64), StateError>;

    /// Notifications enqueued for `receiver` at or after `since` (every status: a decision
    /// to notify counts against a rate limit whether or not it has been delivered yet).
    fn count_notifications(&self, receiver: &str, since: i64) -> Result<u64, StateError>;

    // ---- escalations ----

    /// Sets the escalation timer of an alert, replacing any existing one.
    /// [`StateError::NotFound`] if the alert is unknown, [`StateError::Conflict`] if it is
    /// resolved.
    fn upsert_escalation(&self, escalation: &Escalation, now: i64) -> Result<(), StateError>;

    /// Timers with `next_at <= now`, earliest first.
    fn due_escalations(&self, now: i64, limit: usize) -> Result<Vec<Escalation>, StateError>;

    /// One alert's timer.
    fn get_escalation(&self, alert_id: &str) -> Result<Option<Escalation>, StateError>;

    /// Fires a due escalation exactly once: in one transaction, checks that the stored timer
    /// still equals `current` (else [`StateError::Conflict`]: another dispatcher or a
    /// transition got there first), enqueues `notify` (idempotently, created at `now`) and
    /// replaces the timer with `next` (or deletes it when `None`). A crash before the commit
    /// leaves the timer due and nothing enqueued; after it, the page is in the outbox and
    /// the timer has moved on — so a restart neither loses nor repeats a page.
    fn advance_escalation(
        &self,
        current: &Escalation,
        next: Option<&Escalation>,
        notify: &[OutboxItem],
        now: i64,
    ) -> Result<Vec<Enqueued>, StateError>;

    /// Removes an alert's timer; returns whether there was one.
    fn cancel_escalation(&self, alert_id: &str) -> Result<bool, StateError>;

    // ---- error tracking ----

    /// Records one error event of `project_id`, received at `received`, in one transaction:
    /// creates the issue for `(project_id, event.hash)` or updates it (count, users
    /// affected, first/last seen, title, culprit, level), and stores the event. A new event
    /// on a resolved issue moves it to regressed. An event id already stored for the
    /// project is an SDK retry: nothing is written and `duplicate` is set.
    fn record_error_event(
        &self,
        project_id: u64,
        event: &NewErrorEvent,
        received: i64,
    ) -> Result<RecordedEvent, StateError>;

    /// A filtered, sorted page of issues and the total matching the filters.
    /// [`StateError::BadInput`] if `limit` exceeds [`MAX_LIST_LIMIT`](crate::MAX_LIST_LIMIT).
    fn list_error_issues(
        &self,
        query: &ErrorIssueQuery,
    ) -> Result<(Vec<ErrorIssue>, u64), StateError>;

    /// One issue by id; `None` if unknown.
    fn get_error_issue(&self, id: i64) -> Result<Option<ErrorIssue>, StateError>;

    /// A page of an issue's events, newest (by event timestamp) first, and the issue's
    /// total. [`StateError::NotFound`] if the issue is unknown.
    fn list_error_events(
        &self,
        issue_id: i64,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<ErrorEventRecord>, u64), StateError>;

    /// Resolves an issue, recording who, when and why. [`StateError::NotFound`] if unknown,
    /// [`StateError::Conflict`] if already resolved.
    fn resolve_error_issue(
        &self,
        id: i64,
        operator: &str,
        notes: &str,
        at: i64,
    ) -> Result<ErrorIssue, StateError>;

    /// Records several requests' events in one transaction (one fsync). Requests are
    /// validated first: an invalid one gets its error in its slot and nothing of it is
    /// stored, the others are. The outer error means the transaction failed as a whole and
    /// nothing was stored (retry the requests one by one to isolate a culprit). Per
    /// event it does what [`record_error_event`](Self::record_error_event) does, bumps the
    /// per-minute counts and issue tags, ends an ignore whose time or count is up, and thins
    /// stored events per `retention`.
    fn record_error_batch(
        &self,
        batch: &[crate::ErrorEventBatch],
        retention: &crate::EventRetention,
    ) -> Result<Vec<crate::BatchOutcome>, StateError>;

    /// Applies an operator's change (resolve, unresolve, ignore, assign), noted in the
    /// issue's ticket timeline. [`StateError::NotFound`] if unknown, [`StateError::Conflict`]
    /// if it would change nothing (resolving a resolved issue).
    fn change_error_issue(
        &self,
        id: i64,
        change: &crate::IssueChange,
        at: i64,
    ) -> Result<ErrorIssue, StateError>;

    /// The timestamps of an issue's latest `limit` stored events (by event time, newest
    /// first), without their payloads; empty for an unknown issue.
    fn error_event_times(&self, issue_id: i64, limit: usize) -> Result<Vec<i64>, StateError>;

    /// The issue's `environment` and `release` values seen, sorted by key and value.
    fn error_issue_tags(&self, id: i64) -> Result<Vec<(String, String)>, StateError>;

    /// Event counts in `buckets` buckets of `step` ms from `start` (all issues, one project
    /// or one issue), including events thinned by the per-issue cap.
    fn error_counts(
        &self,
        start: i64,
        step: i64,
        buckets: usize,
        project_id: Option<u64>,
        issue_id: Option<i64>,
    ) -> Result<Vec<u64>, StateError>;

    /// Issue aggregates (by status and severity, MTTR overall, by category and team) and
    /// event aggregates since `since` (total, top categories and components).
    fn error_stats(
        &self,
        since: i64,
        project_id: Option<u64>,
    ) -> Result<crate::ErrorStats, StateError>;

    /// The issue's ticket with its timeline; `None` if it has none.
    fn get_error_ticket(&self, issue_id: i64) -> Result<Option<crate::ErrorTicket>, StateError>;

    /// Creates the issue's ticket if needed and applies the change, in one transaction; a
    /// `resolved` or `closed` status resolves the issue too.
    fn update_error_ticket(
        &self,
        issue_id: i64,
        update: &crate::TicketUpdate,
        at: i64,
    ) -> Result<crate::TicketOutcome, StateError>;

    /// Appends a step to the issue's ticket timeline (creating the ticket if needed).
    fn add_error_ticket_step(
        &self,
        issue_id: i64,
        action: &str,
        description: &str,
        author: &str,
        at: i64,
    ) -> Result<crate::ErrorTicket, StateError>;

    /// Stores a zstd dictionary trained on the project's events ([`crate::ErrorDictionary`])
    /// and returns it with the id it got, which is written into its header (so frames
    /// compressed with the returned bytes name it). [`StateError::BadInput`] if `bytes` are
    /// not a zstd dictionary or are over [`crate::MAX_DICTIONARY_BYTES`].
    fn save_error_dictionary(
        &self,
        project_id: u64,
        bytes: &[u8],
        at: i64,
    ) -> Result<crate::ErrorDictionary, StateError>;

    /// Each project's latest dictionary, by project id.
    fn latest_error_dictionaries(&self) -> Result<Vec<crate::ErrorDictionary>, StateError>;

    /// Error-tracking retention: deletes events received before `before`, and issues last
    /// seen before it that have no unfinished ticket.
    fn prune_error_events(&self, before: i64) -> Result<crate::ErrorPruneStats, StateError>;

    // ---- health checks ----

    /// Appends status changes of health checks, all in one transaction (none on error).
    /// A status outside [`CHECK_STATUSES`](crate::CHECK_STATUSES) or an empty check name is
    /// [`StateError::BadInput`]. Changes of one check are kept in insertion order for equal
    /// times.
    fn record_check_changes(&self, changes: &[crate::CheckChangeRecord]) -> Result<(), StateError>;

    /// Every stored change with `at >= since`, plus, for each check, its newest change
    /// before `since` (the status it was in at `since`), ordered by check name, time and
    /// insertion order.
    fn load_check_changes(&self, since: i64) -> Result<Vec<crate::CheckChangeRecord>, StateError>;

    /// Deletes check changes older than `before`, except each check's newest change before
    /// it, so the status at `before` stays known. Returns the number of rows deleted.
    fn prune_check_changes(&self, before: i64) -> Result<u64, StateError>;

    /// Every check defined through the admin API, ordered by name.
    fn list_check_definitions(&self) -> Result<Vec<crate::CheckDefinitionRecord>, StateError>;

    /// Stores the definition of check `name` (`config`: one `checks:` entry as a JSON
    /// object), replacing an existing one; `created_at` of a replaced definition is kept and
    /// `updated_at` set to `at`. An empty name or a `config` that is not a JSON object is
    /// [`StateError::BadInput`]. Returns the stored record.
    fn upsert_check_definition(
        &self,
        name: &str,
        config: &str,
        at: i64,
    ) -> Result<crate::CheckDefinitionRecord, StateError>;

    /// Deletes the definition of check `name`; `false` when there was none. The check's
    /// status history (`check_changes`) is kept.
    fn delete_check_definition(&self, name: &str) -> Result<bool, StateError>;

    // ---- projects ----

    /// Error-tracking projects created through the admin API, by id; disabled ones only
    /// when `include_disabled`.
    fn list_projects(
        &self,
        include_disabled: bool,
    ) -> Result<Vec<crate::ProjectRecord>, StateError>;

    /// One project by id, disabled or not; `None` if unknown.
    fn get_project(&self, id: u64) -> Result<Option<crate::ProjectRecord>, StateError>;

    /// Stores a new project created at `at`. Invalid fields are [`StateError::BadInput`]
    /// naming the field; an id, slug or key already stored (disabled projects included)
    /// is [`StateError::Conflict`] naming it.
    fn create_project(
        &self,
        project: &crate::NewProject,
        at: i64,
    ) -> Result<crate::ProjectRecord, StateError>;

    /// Replaces the public key of an enabled project. [`StateError::NotFound`] for an
    /// unknown or disabled project, [`StateError::Conflict`] if another project has the key.
    fn rotate_project_key(
        &self,
        id: u64,
        public_key: &str,
        at: i64,
    ) -> Result<crate::ProjectRecord, StateError>;

    /// Disables an enabled project (its events stay stored; its id and slug stay taken).
    /// [`StateError::NotFound`] for an unknown or already disabled project.
    fn disable_project(&self, id: u64, at: i64) -> Result<crate::ProjectRecord, StateError>;

    // ---- housekeeping ----

    /// Deletes resolved alerts that ended before `before` (with history and timers),
    /// silences that expired before it, and delivered or abandoned outbox entries finished
    /// before it (with their delivery log). Pending outbox entries are never pruned.
    fn prune(&self, before: i64) -> Result<PruneStats, StateError>;
}
