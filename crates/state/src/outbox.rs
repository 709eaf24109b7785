//! The durable notification outbox and its delivery log.

use serde::{Deserialize, Serialize};

use crate::StateError;

/// A notification decided on, to be delivered at least once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Stable key naming this notification (for example
    /// `{receiver}:{group_key}:{firing|resolved}:{hash of alert ids}`, or
    /// `esc:{alert_id}:{level}:{repeat}` for escalation pages). Enqueuing a key that is
    /// already present is a no-op that returns the existing entry's id. Channels that
    /// support it (PagerDuty `dedup_key`, webhook headers) should pass it on so a
    /// redelivery after a crash is deduplicated downstream.
    pub idempotency_key: String,
    /// Receiver name from the routing configuration.
    pub receiver: String,
    /// Channel kind: `webhook`, `slack`, `pagerduty`, `email`, ...
    pub channel: String,
    /// What to send, channel specific: JSON text, stored and read back verbatim, so the
    /// sender encodes it once.
    pub payload: String,
    /// Do not deliver before this time, ms.
    pub not_before: i64,
}

/// Lifecycle of an outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    /// Not delivered yet (possibly after failed attempts).
    Pending,
    /// A delivery attempt succeeded.
    Delivered,
    /// The sender gave up.
    Abandoned,
}

impl OutboxStatus {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Abandoned => "abandoned",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StateError> {
        match s {
            "pending" => Ok(OutboxStatus::Pending),
            "delivered" => Ok(OutboxStatus::Delivered),
            "abandoned" => Ok(OutboxStatus::Abandoned),
            other => Err(StateError::Corrupt {
                table: "outbox",
                message: format!("unknown status {other:?}"),
            }),
        }
    }
}

/// A stored outbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Row id, increasing in enqueue order.
    pub id: i64,
    /// See [`OutboxItem::idempotency_key`].
    pub idempotency_key: String,
    /// Receiver name.
    pub receiver: String,
    /// Channel kind.
    pub channel: String,
    /// What to send: the JSON text of [`OutboxItem::payload`].
    pub payload: String,
    /// Status.
    pub status: OutboxStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Enqueue time, ms.
    pub created_at: i64,
    /// Earliest time of the next attempt, ms.
    pub next_attempt_at: i64,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it was delivered or abandoned, ms.
    pub finished_at: Option<i64>,
    /// The channel's response summary on delivery.
    pub response: Option<String>,
}

/// What [`StateStore::enqueue`](crate::StateStore::enqueue) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The entry's id (the existing one when the key was already present).
    pub id: i64,
    /// False when the idempotency key was already present and nothing was written.
    pub created: bool,
}

/// Outcome of one delivery attempt, as recorded in the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// The channel accepted it.
    Delivered,
    /// The attempt failed; another will follow.
    Failed,
    /// The attempt failed and the sender gave up.
    GaveUp,
}

impl DeliveryStatus {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::GaveUp => "gave_up",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StateError> {
        match s {
            "delivered" => Ok(DeliveryStatus::Delivered),
            "failed" => Ok(DeliveryStatus::Failed),
            "gave_up" => Ok(DeliveryStatus::GaveUp),
            other => Err(StateError::Corrupt {
                table: "delivery_log",
                message: format!("unknown status {other:?}"),
            }),
        }
    }
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryLogEntry {
    /// Row id.
    pub id: i64,
    /// The outbox entry attempted.
    pub outbox_id: i64,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// Receiver name.
    pub receiver: String,
    /// Channel kind.
    pub channel: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Outcome.
    pub status: DeliveryStatus,
    /// When the attempt finished, ms.
    pub at: i64,
    /// Response summary or error message.
    pub detail: String,
}

/// A delivery-log listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryLogQuery {
    /// Only this receiver.
    pub receiver: Option<String>,
    /// Only this outcome.
    pub status: Option<DeliveryStatus>,
    /// Only attempts at or after this time, ms.
    pub since: Option<i64>,
    /// Rows to skip.
    pub offset: usize,
    /// Rows to return, at most [`MAX_LIST_LIMIT`](crate::MAX_LIST_LIMIT).
    pub limit: usize,
}

impl Default for DeliveryLogQuery {
    fn default() -> Self {
        DeliveryLogQuery {
            receiver: None,
            status: None,
            since: None,
            offset: 0,
            limit: 100,
        }
    }
}

/// One delivery attempt's result, for [`StateStore::record_deliveries`](crate::StateStore::record_deliveries),
/// which records many in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// As [`StateStore::mark_delivered`](crate::StateStore::mark_delivered).
    Delivered {
        /// Outbox entry id.
        id: i64,
        /// When the attempt finished, ms.
        at: i64,
        /// The channel's response summary.
        response: String,
    },
    /// As [`StateStore::mark_failed`](crate::StateStore::mark_failed).
    Failed {
        /// Outbox entry id.
        id: i64,
        /// The attempt's number, from 1.
        attempt: u32,
        /// When to try again, ms.
        next_attempt_at: i64,
        /// The error.
        error: String,
        /// When the attempt finished, ms.
        at: i64,
    },
    /// As [`StateStore::give_up`](crate::StateStore::give_up).
    GaveUp {
        /// Outbox entry id.
        id: i64,
        /// The error.
        error: String,
        /// When the attempt finished, ms.
        at: i64,
    },
}

impl DeliveryOutcome {
    /// The outbox entry it is about.
    pub fn id(&self) -> i64 {
        match self {
            DeliveryOutcome::Delivered { id, .. }
            | DeliveryOutcome::Failed { id, .. }
            | DeliveryOutcome::GaveUp { id, .. } => *id,
        }
    }
}
