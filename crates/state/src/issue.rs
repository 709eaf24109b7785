//! Error-tracking issues and their events: grouped, scrubbed events from Sentry SDKs and
//! the JSON API, with the issue lifecycle unresolved → resolved → regressed (and ignored).
//!
//! The store is neutral about how events are grouped and scrubbed: callers (the HTTP layer
//! through `strix-errors`) pass a ready [`NewErrorEvent`] with its issue hash, title,
//! categorisation and the already-scrubbed payload.

use serde::{Deserialize, Serialize};

use crate::StateError;

/// Where an issue is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueStatus {
    /// Open (new, or never resolved).
    Unresolved,
    /// Resolved by an operator.
    Resolved,
    /// Muted: new events are counted but the issue stays ignored.
    Ignored,
    /// Happened again after it was resolved.
    Regressed,
}

impl IssueStatus {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Ignored => "ignored",
            IssueStatus::Regressed => "regressed",
        }
    }

    /// Parses a stored or API name.
    pub fn parse(s: &str) -> Result<IssueStatus, StateError> {
        match s {
            "unresolved" => Ok(IssueStatus::Unresolved),
            "resolved" => Ok(IssueStatus::Resolved),
            "ignored" => Ok(IssueStatus::Ignored),
            "regressed" => Ok(IssueStatus::Regressed),
            other => Err(StateError::BadInput(format!(
                "unknown issue status {other:?} (expected unresolved, resolved, ignored or regressed)"
            ))),
        }
    }
}

/// One event to record: what the store needs of a processed event.
#[derive(Debug, Clone, PartialEq)]
pub struct NewErrorEvent {
    /// The SDK's event id (32 hex), unique per project; a repeated id is a retry (found by
    /// id and timestamp, or by id alone when either copy was filed at arrival).
    pub event_id: String,
    /// The grouping hash; events with the same hash in a project form one issue.
    pub hash: String,
    /// Issue title (used when the issue is created, refreshed on each event).
    pub title: String,
    /// Where it happened (function / module / transaction).
    pub culprit: String,
    /// `fatal`, `error`, `warning`, `info` or `debug`.
    pub level: String,
    /// When the event happened (the SDK's timestamp), ms.
    pub timestamp: i64,
    /// `timestamp` is the arrival time, not the SDK's (it sent none, or one out of range):
    /// a retry of the event is then found by its id alone, as it arrives at another time.
    pub filed_at_arrival: bool,
    /// Category (`system`, `security`, …).
    pub category: String,
    /// Severity (`critical`, `high`, `medium`, `low`).
    pub severity: String,
    /// Priority (`P0`–`P3`).
    pub priority: String,
    /// Assigned team, if any.
    pub assignee: Option<String>,
    /// The scrubbed raw event, JSON compressed by [`ErrorPayload::encode`] (on the
    /// caller's thread, so the write transaction only copies bytes).
    pub payload: ErrorPayload,
    /// The affected user's key (id, e-mail, username or IP), for the users-affected count.
    pub user_key: Option<String>,
    /// The component it came from (categorisation), empty when unknown.
    pub component: String,
    /// The SDK's environment, if any.
    pub environment: Option<String>,
    /// The SDK's release, if any.
    pub release: Option<String>,
}

/// A stored event's JSON, zstd-compressed (level 1: scrubbed events shrink 3–5×, so the
/// state store writes and checkpoints that much less).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPayload(Vec<u8>);

/// Largest decompressed payload read back (a corrupt frame cannot make a read allocate
/// more).
pub const MAX_PAYLOAD_BYTES: usize = 64 << 20;

impl ErrorPayload {
    /// Compresses a JSON document.
    pub fn encode(json: &str) -> ErrorPayload {
        ErrorPayload::encode_bytes(json.as_bytes())
    }

    /// Compresses the bytes of a JSON document.
    pub fn encode_bytes(json: &[u8]) -> ErrorPayload {
        thread_local! {
            // One compression context per thread: creating one costs more than compressing
            // a typical event.
            static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
                std::cell::RefCell::new(zstd::bulk::Compressor::new(1).ok());
        }
        let out = COMPRESSOR.with(|c| c.borrow_mut().as_mut().and_then(|c| c.compress(json).ok()));
        // Compressing into memory fails only on allocation; fall back to a fresh context.
        ErrorPayload(
            out.unwrap_or_else(|| zstd::bulk::compress(json, 1).unwrap_or_else(|_| json.to_vec())),
        )
    }

    /// Compresses a JSON value. Serialised straight into bytes (`Value::to_string` goes
    /// through `fmt` at twice the cost), into a buffer each thread reuses.
    pub fn from_value(v: &serde_json::Value) -> ErrorPayload {
        thread_local! {
            static JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        /// A buffer grown past this (by a huge event) is not kept for the next one.
        const KEEP_BYTES: usize = 256 << 10;
        let reused = JSON.with(|buf| {
            let mut buf = buf.try_borrow_mut().ok()?;
            buf.clear();
            let out = serde_json::to_writer(&mut *buf, v)
                .ok()
                .map(|()| ErrorPayload::encode_bytes(&buf));
            if buf.capacity() > KEEP_BYTES {
                *buf = Vec::new();
            }
            out
        });
        // Serialising a `Value` cannot fail (its keys are strings).
        reused.unwrap_or_else(|| ErrorPayload::encode(&v.to_string()))
    }

    /// The compressed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The JSON document of stored bytes: a zstd frame (with its content size, at most
    /// [`MAX_PAYLOAD_BYTES`]), or plain JSON text as older rows hold. A frame compressed
    /// with a dictionary ([`dictionary_id`](Self::dictionary_id)) needs it in `dict`.
    pub fn decode(
        bytes: &[u8],
        dict: Option<&zstd::zstd_safe::DDict<'_>>,
    ) -> Result<serde_json::Value, String> {
        if !bytes.starts_with(&FRAME_MAGIC) {
            return serde_json::from_slice(bytes).map_err(|e| e.to_string());
        }
        let size = zstd::zstd_safe::get_frame_content_size(bytes)
            .ok()
            .flatten()
            .ok_or("zstd frame without a content size")?;
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= MAX_PAYLOAD_BYTES)
            .ok_or("payload larger than the read limit")?;
        let json = match (ErrorPayload::dictionary_id(bytes), dict) {
            (None, _) => zstd::bulk::decompress(bytes, size).map_err(|e| e.to_string())?,
            (Some(id), None) => {
                return Err(format!(
                    "compressed with dictionary {id}, which is not stored"
                ))
            }
            (Some(_), Some(dict)) => {
                let mut out = Vec::with_capacity(size);
                zstd::zstd_safe::DCtx::try_create()
                    .ok_or("cannot allocate a zstd context")?
                    .decompress_using_ddict(&mut out, bytes, dict)
                    .map_err(|code| zstd::zstd_safe::get_error_name(code).to_string())?;
                out
            }
        };
        serde_json::from_slice(&json).map_err(|e| e.to_string())
    }

    /// The id of the dictionary a zstd frame was compressed with, if any.
    pub fn dictionary_id(bytes: &[u8]) -> Option<u32> {
        if !bytes.starts_with(&FRAME_MAGIC) {
            return None;
        }
        zstd::zstd_safe::get_dict_id_from_frame(bytes).map(u32::from)
    }

    /// Whether the bytes are a zstd frame whose declared size is within the read limit.
    pub fn is_valid(&self) -> bool {
        self.0.starts_with(&FRAME_MAGIC)
            && zstd::zstd_safe::get_frame_content_size(&self.0)
                .ok()
                .flatten()
                .is_some_and(|n| n <= MAX_PAYLOAD_BYTES as u64)
    }
}

/// The first four bytes of a zstd frame.
const FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The first four bytes of a zstd dictionary (RFC 8878, section 5: `0xEC30A437`, little
/// endian); its id follows in the next four.
const DICTIONARY_MAGIC: [u8; 4] = [0x37, 0xa4, 0x30, 0xec];

/// Largest dictionary the store accepts.
pub const MAX_DICTIONARY_BYTES: usize = 1 << 20;

/// The least dictionary id the store assigns: RFC 8878 keeps ids below 32,768 for
/// dictionaries registered in public.
pub const FIRST_DICTIONARY_ID: u32 = 32_768;

/// A zstd dictionary trained on one project's events. Events are small and alike (the
/// same SDK sends the same keys, frames and breadcrumbs again and again), which is what
/// zstd's dictionaries are for: a payload compressed with one is a fraction of the size
/// and costs less CPU. Its frames name the dictionary's `id`, which reading them needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDictionary {
    /// Store-assigned, written into the dictionary's header (at least
    /// [`FIRST_DICTIONARY_ID`]).
    pub id: u32,
    /// The project whose events it was trained on.
    pub project_id: u64,
    /// When it was stored, ms.
    pub created: i64,
    /// The dictionary as zstd reads it.
    pub bytes: Vec<u8>,
}

impl ErrorDictionary {
    /// Trains a dictionary of at most `max_bytes` on sample payloads (event JSON texts).
    /// Fails when the samples are too few or too small to learn from.
    pub fn train(samples: &[Vec<u8>], max_bytes: usize) -> Result<Vec<u8>, String> {
        zstd::dict::from_samples(samples, max_bytes).map_err(|e| e.to_string())
    }

    /// Checks that `bytes` are a zstd dictionary (with its header, as
    /// [`train`](Self::train) makes them) of at most [`MAX_DICTIONARY_BYTES`].
    pub fn check(bytes: &[u8]) -> Result<(), String> {
        Self::load(bytes).map(drop)
    }

    /// [`check`](Self::check), returning the dictionary prepared for compressing.
    fn load(bytes: &[u8]) -> Result<zstd::zstd_safe::CDict<'static>, String> {
        if bytes.len() > MAX_DICTIONARY_BYTES {
            return Err(format!(
                "a dictionary of {} bytes is over the {MAX_DICTIONARY_BYTES}-byte limit",
                bytes.len()
            ));
        }
        if !bytes.starts_with(&DICTIONARY_MAGIC) || bytes.len() < 8 {
            return Err("not a zstd dictionary (no dictionary header)".into());
        }
        zstd::zstd_safe::CDict::try_create(bytes, 1)
            .ok_or_else(|| "not a zstd dictionary (zstd cannot load it)".into())
    }

    /// `bytes` (checked) with `id` written into the header.
    pub(crate) fn with_id(bytes: &[u8], id: u32) -> Vec<u8> {
        let mut out = bytes.to_vec();
        if let Some(slot) = out.get_mut(4..8) {
            slot.copy_from_slice(&id.to_le_bytes());
        }
        out
    }
}

/// Compresses payloads with one project's [`ErrorDictionary`] (at level 1, like
/// [`ErrorPayload::encode_bytes`]). Cheap to share across threads.
pub struct PayloadEncoder {
    id: u32,
    project_id: u64,
    cdict: zstd::zstd_safe::CDict<'static>,
}

impl std::fmt::Debug for PayloadEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadEncoder")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl PayloadEncoder {
    /// Prepares `dictionary` for compressing.
    pub fn new(dictionary: &ErrorDictionary) -> Result<PayloadEncoder, String> {
        let cdict = ErrorDictionary::load(&dictionary.bytes)?;
        Ok(PayloadEncoder {
            id: dictionary.id,
            project_id: dictionary.project_id,
            cdict,
        })
    }

    /// The dictionary's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The project whose events it was trained on.
    pub fn project_id(&self) -> u64 {
        self.project_id
    }

    /// Compresses the bytes of a JSON document with the dictionary.
    pub fn encode(&self, json: &[u8]) -> ErrorPayload {
        thread_local! {
            static CONTEXT: std::cell::RefCell<Option<zstd::zstd_safe::CCtx<'static>>> =
                std::cell::RefCell::new(zstd::zstd_safe::CCtx::try_create());
        }
        let out = CONTEXT.with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            let cctx = c.as_mut()?;
            let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(json.len()));
            cctx.compress_using_cdict(&mut out, json, &self.cdict)
                .ok()
                .map(|_| out)
        });
        // Compressing into memory fails only on allocation: the payload goes without the
        // dictionary then.
        out.map_or_else(|| ErrorPayload::encode_bytes(json), ErrorPayload)
    }
}

/// What [`record_error_event`](crate::StateStore::record_error_event) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The issue the event belongs to.
    pub issue_id: i64,
    /// Whether the issue was created by this event.
    pub created: bool,
    /// Whether this event reopened a resolved issue (now `regressed`).
    pub regressed: bool,
    /// Whether the event id was already stored for the project (an SDK retry): nothing was
    /// written.
    pub duplicate: bool,
    /// Whether this event ended an ignore (its `until` time passed or its count was
    /// reached): the issue is unresolved again.
    pub unignored: bool,
    /// Whether the issue is (still) ignored after this event: it is counted, not alerted on.
    pub ignored: bool,
    /// The issue's event count after this event.
    pub count: u64,
}

/// A stored issue.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorIssue {
    /// Store-assigned id.
    pub id: i64,
    /// The project it belongs to.
    pub project_id: u64,
    /// The grouping hash.
    pub hash: String,
    /// Title of the latest event.
    pub title: String,
    /// Culprit of the latest event.
    pub culprit: String,
    /// Level of the latest event.
    pub level: String,
    /// Lifecycle status.
    pub status: IssueStatus,
    /// Events recorded.
    pub count: u64,
    /// Distinct users affected.
    pub user_count: u64,
    /// Earliest event timestamp, ms.
    pub first_seen: i64,
    /// Latest event timestamp, ms.
    pub last_seen: i64,
    /// Category.
    pub category: String,
    /// Severity.
    pub severity: String,
    /// Priority.
    pub priority: String,
    /// Assigned team.
    pub assignee: Option<String>,
    /// Who resolved it last.
    pub resolved_by: Option<String>,
    /// When it was resolved last, ms.
    pub resolved_at: Option<i64>,
    /// Resolution notes.
    pub resolution_notes: Option<String>,
    /// The component of the latest event (empty when unknown).
    pub component: String,
    /// When the current episode began: the first event, or the latest regression, ms.
    pub opened_at: i64,
    /// When it last regressed, ms.
    pub regressed_at: Option<i64>,
    /// How often it regressed.
    pub regression_count: u64,
    /// While ignored: it becomes unresolved again at this time, ms.
    pub ignore_until: Option<i64>,
    /// While ignored: it becomes unresolved again when `count` reaches this.
    pub ignore_until_count: Option<u64>,
    /// Events currently stored for it (at most the retention cap plus samples).
    pub stored_events: u64,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEventRecord {
    /// Store-assigned id.
    pub id: i64,
    /// The issue it belongs to.
    pub issue_id: i64,
    /// The SDK's event id.
    pub event_id: String,
    /// When Strix received it, ms.
    pub received: i64,
    /// When it happened, ms.
    pub timestamp: i64,
    /// The scrubbed raw event.
    pub payload: serde_json::Value,
    /// The affected user's key.
    pub user_key: Option<String>,
}

/// Sort order of [`ErrorIssueQuery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IssueSort {
    /// Most recently seen first (default).
    #[default]
    LastSeen,
    /// Newest issues first.
    FirstSeen,
    /// Most events first.
    Count,
    /// Most users affected first.
    Users,
    /// Most severe first (critical, high, medium, low), then most recently seen.
    Severity,
    /// Highest priority first (P0 … P3), then most recently seen.
    Priority,
}

impl IssueSort {
    /// Parses `last_seen`, `first_seen`, `count`, `users`, `severity` or `priority` (also
    /// camelCase).
    pub fn parse(s: &str) -> Result<IssueSort, StateError> {
        match s {
            "last_seen" | "lastSeen" => Ok(IssueSort::LastSeen),
            "first_seen" | "firstSeen" => Ok(IssueSort::FirstSeen),
            "count" | "freq" => Ok(IssueSort::Count),
            "users" | "user_count" | "userCount" => Ok(IssueSort::Users),
            "severity" => Ok(IssueSort::Severity),
            "priority" => Ok(IssueSort::Priority),
            other => Err(StateError::BadInput(format!(
                "unknown sort {other:?} (expected last_seen, first_seen, count, users, severity or priority)"
            ))),
        }
    }
}

/// A filtered, sorted, paged issue listing. Ties are broken by id (descending).
#[derive(Debug, Clone)]
pub struct ErrorIssueQuery {
    /// Only this project.
    pub project_id: Option<u64>,
    /// Only these statuses (any when empty).
    pub statuses: Vec<IssueStatus>,
    /// Only this level.
    pub level: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Only this severity.
    pub severity: Option<String>,
    /// Only this priority.
    pub priority: Option<String>,
    /// Only this assignee (`none` for unassigned).
    pub assignee: Option<String>,
    /// Only issues with an event in this environment.
    pub environment: Option<String>,
    /// Only issues with an event in this release.
    pub release: Option<String>,
    /// Only this component.
    pub component: Option<String>,
    /// Only issues seen at or after this time, ms.
    pub seen_since: Option<i64>,
    /// Case-insensitive substring of title or culprit.
    pub text: Option<String>,
    /// Sort order.
    pub sort: IssueSort,
    /// Rows to skip.
    pub offset: usize,
    /// Rows to return, at most [`MAX_LIST_LIMIT`](crate::MAX_LIST_LIMIT).
    pub limit: usize,
}

impl Default for ErrorIssueQuery {
    fn default() -> Self {
        ErrorIssueQuery {
            project_id: None,
            statuses: Vec::new(),
            level: None,
            category: None,
            severity: None,
            priority: None,
            assignee: None,
            environment: None,
            release: None,
            component: None,
            seen_since: None,
            text: None,
            sort: IssueSort::default(),
            offset: 0,
            limit: 100,
        }
    }
}

/// How many events are kept per issue. The first [`keep_first`](Self::keep_first) events
/// are always kept; beyond [`max_per_issue`](Self::max_per_issue) stored events, the oldest
/// event after those first ones is deleted as each new one arrives, except events whose
/// sequence number in the issue (1, 2, 3, …) is a power of two. So an issue keeps its first
/// events, its latest ones, and a logarithmic sample of everything in between (at most 64
/// more): bounded, and still showing how the issue looked over its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRetention {
    /// Events always kept from the start of an issue.
    pub keep_first: u64,
    /// Stored events per issue beyond which older ones are thinned (not counting the
    /// power-of-two samples). `0` keeps everything.
    pub max_per_issue: u64,
}

impl Default for EventRetention {
    fn default() -> Self {
        EventRetention {
            keep_first: 100,
            max_per_issue: 1000,
        }
    }
}

/// One request's events for [`record_error_batch`](crate::StateStore::record_error_batch).
#[derive(Debug, Clone)]
pub struct ErrorEventBatch {
    /// The project they belong to.
    pub project_id: u64,
    /// When they were received, ms.
    pub received: i64,
    /// The events, in order.
    pub events: Vec<NewErrorEvent>,
}

/// What one request's events did, in order.
pub type BatchOutcome = Result<Vec<RecordedEvent>, StateError>;

/// An operator's change to an issue.
#[derive(Debug, Clone, PartialEq)]
pub enum IssueChange {
    /// Resolve with notes. Conflict if already resolved.
    Resolve {
        /// Who.
        operator: String,
        /// Why / what was done.
        notes: String,
    },
    /// Back to unresolved (from resolved, ignored or regressed). Conflict if unresolved.
    Unresolve {
        /// Who.
        operator: String,
    },
    /// Mute: new events are counted, the issue stays ignored until `until` (ms) or until
    /// `count` more events arrived, whichever comes first; forever when both are `None`.
    Ignore {
        /// Who.
        operator: String,
        /// Unmute at this time, ms.
        until: Option<i64>,
        /// Unmute after this many more events.
        count: Option<u64>,
    },
    /// Set (or clear, with `None`) the assignee.
    Assign {
        /// Who.
        operator: String,
        /// The new assignee (a team or a person).
        assignee: Option<String>,
    },
}

impl IssueChange {
    /// Who made the change.
    pub fn operator(&self) -> &str {
        match self {
            IssueChange::Resolve { operator, .. }
            | IssueChange::Unresolve { operator }
            | IssueChange::Ignore { operator, .. }
            | IssueChange::Assign { operator, .. } => operator,
        }
    }
}

/// Status of a resolution ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Opened, nobody on it yet.
    Open,
    /// Someone is looking into the cause.
    Investigating,
    /// A fix is being made.
    InProgress,
    /// Fixed: the issue (and its alerts) are resolved.
    Resolved,
    /// Closed without a fix (won't fix, duplicate): the issue is resolved too.
    Closed,
}

impl TicketStatus {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Investigating => "investigating",
            TicketStatus::InProgress => "in_progress",
            TicketStatus::Resolved => "resolved",
            TicketStatus::Closed => "closed",
        }
    }

    /// Parses a stored or API name.
    pub fn parse(s: &str) -> Result<TicketStatus, StateError> {
        match s {
            "open" => Ok(TicketStatus::Open),
            "investigating" => Ok(TicketStatus::Investigating),
            "in_progress" | "in-progress" | "inProgress" => Ok(TicketStatus::InProgress),
            "resolved" => Ok(TicketStatus::Resolved),
            "closed" => Ok(TicketStatus::Closed),
            other => Err(StateError::BadInput(format!(
                "unknown ticket status {other:?} (expected open, investigating, in_progress, resolved or closed)"
            ))),
        }
    }

    /// Whether the ticket is finished (resolved or closed).
    pub fn is_done(self) -> bool {
        matches!(self, TicketStatus::Resolved | TicketStatus::Closed)
    }
}

/// One step in a ticket's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketStep {
    /// Store-assigned id.
    pub id: i64,
    /// What was done (`created`, `status`, `assigned`, `note`, `resolved`, `regressed`, …).
    pub action: String,
    /// Free text.
    pub description: String,
    /// Who.
    pub author: String,
    /// When, ms.
    pub at: i64,
}

/// The resolution ticket of an issue.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorTicket {
    /// The issue it tracks.
    pub issue_id: i64,
    /// Where it is.
    pub status: TicketStatus,
    /// Who works on it.
    pub assignee: Option<String>,
    /// Who opened it.
    pub created_by: String,
    /// When it was opened, ms.
    pub created_at: i64,
    /// Last change, ms.
    pub updated_at: i64,
    /// When it was last resolved or closed, ms.
    pub resolved_at: Option<i64>,
    /// Timeline, oldest first.
    pub steps: Vec<TicketStep>,
}

/// A change to a ticket; creates the ticket when the issue has none.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TicketUpdate {
    /// Who.
    pub author: String,
    /// New status.
    pub status: Option<TicketStatus>,
    /// New assignee (`Some(None)` clears it).
    pub assignee: Option<Option<String>>,
    /// A note recorded in the timeline (and as resolution notes when it resolves).
    pub note: Option<String>,
}

/// What [`update_error_ticket`](crate::StateStore::update_error_ticket) did.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketOutcome {
    /// The ticket after the change.
    pub ticket: ErrorTicket,
    /// The issue after the change.
    pub issue: ErrorIssue,
    /// Whether this change resolved the issue.
    pub resolved_issue: bool,
}

/// Aggregates over issues for the stats endpoint. Durations in seconds.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorStats {
    /// Issues by status.
    pub by_status: Vec<(String, u64)>,
    /// Issues by severity.
    pub by_severity: Vec<(String, u64)>,
    /// Mean time to resolution over resolved issues (resolved − opened), seconds.
    pub mttr_seconds: Option<f64>,
    /// Resolved issues the mean is over.
    pub resolved: u64,
    /// Mean time to resolution by category.
    pub mttr_by_category: Vec<(String, f64, u64)>,
    /// Mean time to resolution by assignee team (`unassigned` when none).
    pub mttr_by_team: Vec<(String, f64, u64)>,
    /// Events received in the window, by minute buckets.
    pub events_in_window: u64,
    /// Top categories by events in the window.
    pub top_categories: Vec<(String, u64)>,
    /// Top components by events in the window.
    pub top_components: Vec<(String, u64)>,
}

/// What [`prune_error_events`](crate::StateStore::prune_error_events) removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorPruneStats {
    /// Events older than the cut-off.
    pub events: u64,
    /// Issues not seen since the cut-off (with their tickets).
    pub issues: u64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod payload_tests {
    use super::ErrorPayload;

    #[test]
    fn payload_round_trips_and_reads_plain_rows() {
        let v = serde_json::json!({
            "event_id": "9f2c4be1d8a34f0e8c3b5a7d6e1f2a3b",
            "message": "é \"quoted\" \u{1F511}",
            "extra": {"n": [1, -2, 3.5, null, true], "log": "x".repeat(4000)},
        });
        let p = ErrorPayload::from_value(&v);
        assert!(p.is_valid());
        assert!(p.as_bytes().len() < 1000, "{}", p.as_bytes().len());
        assert_eq!(ErrorPayload::decode(p.as_bytes(), None).unwrap(), v);
        // The same bytes whichever way the document arrives.
        assert_eq!(p, ErrorPayload::encode(&v.to_string()));
        // Rows written before compression hold the JSON text itself.
        let plain = v.to_string();
        assert_eq!(ErrorPayload::decode(plain.as_bytes(), None).unwrap(), v);
        assert!(!ErrorPayload(plain.into_bytes()).is_valid());
    }
}
