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
    /// The SDK's event id (32 hex), unique per project; a repeated id is a retry.
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
    /// Category (`system`, `security`, …).
    pub category: String,
    /// Severity (`critical`, `high`, `medium`, `low`).
    pub severity: String,
    /// Priority (`P0`–`P3`).
    pub priority: String,
    /// Assigned team, if any.
    pub assignee: Option<String>,
    /// The scrubbed raw event.
    pub payload: serde_json::Value,
    /// The affected user's key (id, e-mail, username or IP), for the users-affected count.
    pub user_key: Option<String>,
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
}

impl IssueSort {
    /// Parses `last_seen`, `first_seen`, `count` or `users` (also camelCase).
    pub fn parse(s: &str) -> Result<IssueSort, StateError> {
        match s {
            "last_seen" | "lastSeen" => Ok(IssueSort::LastSeen),
            "first_seen" | "firstSeen" => Ok(IssueSort::FirstSeen),
            "count" | "freq" => Ok(IssueSort::Count),
            "users" | "user_count" | "userCount" => Ok(IssueSort::Users),
            other => Err(StateError::BadInput(format!(
                "unknown sort {other:?} (expected last_seen, first_seen, count or users)"
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
            text: None,
            sort: IssueSort::default(),
            offset: 0,
            limit: 100,
        }
    }
}
