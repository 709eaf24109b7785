//! Strix relational state: alerts and their history, rule evaluation state, silences, the
//! durable notification outbox with its delivery log, escalation timers and rate-limit
//! counts.
//!
//! # Shape
//!
//! Everything sits behind one object-safe, synchronous trait, [`StateStore`]
//! (`Send + Sync`, used as `Arc<dyn StateStore>`). The embedded implementation is
//! [`SqliteStore`] (SQLite through `rusqlite`, bundled); a PostgreSQL implementation for
//! scale-out can be added beside it without touching callers. Async callers (the HTTP
//! layer, the alerting loops) call it through `spawn_blocking`.
//!
//! - **Alerts** ([`AlertRecord`]): one record per firing episode of a label set, with a
//!   stable id derived from fingerprint and start ([`AlertRecord::derive_id`]). The
//!   lifecycle is pending → firing → acknowledged → resolved ([`AlertState`]); every change
//!   is a [`Transition`] (when, from, to, who, notes) written in the same transaction as
//!   the record. Forbidden moves (acknowledging a resolved alert) are
//!   [`StateError::Conflict`]. At most one open alert per fingerprint.
//! - **Rule state** ([`RuleStateRecord`]): pending/firing with `active_at`, so a rule's
//!   `for` clock survives a restart.
//! - **Silences** ([`Silence`]): Alertmanager's model and update semantics; the state
//!   (pending/active/expired) is computed from the `now` given to each read.
//! - **Outbox** ([`OutboxItem`], [`OutboxEntry`]): a notification is durable once
//!   [`StateStore::enqueue`] returns. Entries carry a unique idempotency key (enqueuing it
//!   again is a no-op) and stay pending until marked delivered or abandoned, so delivery is
//!   **at-least-once**: a crash between sending and marking sends again after restart, with
//!   the same key for downstream deduplication. Every attempt lands in the delivery log
//!   ([`DeliveryLogEntry`]).
//! - **Escalations** ([`Escalation`]): one timer per open alert.
//!   [`StateStore::advance_escalation`] enqueues the page and moves the timer in one
//!   transaction (compare-and-set on the timer), so a restart neither loses nor repeats a
//!   page; acknowledging or resolving an alert cancels its timer in the same transaction.
//! - **Error issues** ([`ErrorIssue`], [`ErrorEventRecord`]): scrubbed events grouped by
//!   project and hash; [`StateStore::record_error_event`] upserts the issue and stores the
//!   event in one transaction (a resolved issue that happens again becomes regressed).
//! - **Projects** ([`ProjectRecord`]): error-tracking projects created through the admin
//!   API (id, unique slug, DSN public key); deleting one disables it and keeps its events.
//! - **Rate limits**: [`StateStore::count_notifications`] counts what was enqueued for a
//!   receiver since a time.
//!
//! # Durability
//!
//! Every write method is one transaction. SQLite runs in WAL mode, and a write returns
//! `Ok` only after it committed and the WAL holding the commit was fsynced, so it survives
//! `kill -9` and power loss. The fsync runs after the connection is released and covers
//! every commit made before it (group commit). `tests/durability.rs` re-runs the test binary as
//! a child that writes and then aborts (or is SIGKILLed mid-stream by the parent), reopens
//! the database and checks every acknowledged write and its history. The schema is
//! versioned and migrated on open; it is described in `docs/format/state.md`.
//!
//! # Not here
//!
//! No clock reads (callers pass `now`), no routing or grouping logic (that is
//! `strix-alerting`), no HTTP. Time is milliseconds since the Unix epoch throughout.
//!
//! # Example
//!
//! ```
//! use strix_state::{AlertRecord, AlertState, SqliteStore, StateStore, SYSTEM_ACTOR};
//!
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("state.db"))?;
//! let alert = AlertRecord::new("00000000deadbeef", "HighLatency", AlertState::Firing, 1_000);
//! let out = store.upsert_alert(&alert, SYSTEM_ACTOR, "")?;
//! store.transition(&out.record.id, AlertState::Acknowledged, "alice", "looking", 2_000)?;
//! // Acknowledging again conflicts.
//! assert!(store.transition(&out.record.id, AlertState::Acknowledged, "bob", "", 3_000).is_err());
//! assert_eq!(store.history(&out.record.id)?.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod alert;
pub mod check;
mod error;
mod escalation;
pub mod issue;
pub mod outbox;
pub mod project;
pub mod silence;
pub mod sqlite;
mod store;

pub use alert::{
    AlertQuery, AlertRecord, AlertSortField, AlertState, AlertStats, AlertWrite, AlertWritten,
    SortDirection, Transition, UpsertOutcome, MAX_LIST_LIMIT, SYSTEM_ACTOR,
};
pub use check::{CheckChangeRecord, CheckDefinitionRecord, CHECK_STATUSES};
pub use error::{BoxError, StateError};
pub use escalation::{Escalation, PruneStats, RuleStateRecord};
pub use issue::{
    BatchOutcome, ErrorDictionary, ErrorEventBatch, ErrorEventRecord, ErrorIssue, ErrorIssueQuery,
    ErrorPayload, ErrorPruneStats, ErrorStats, ErrorTicket, EventRetention, IssueChange, IssueSort,
    IssueStatus, NewErrorEvent, PayloadEncoder, RecordedEvent, TicketOutcome, TicketStatus,
    TicketStep, TicketUpdate, FIRST_DICTIONARY_ID, MAX_DICTIONARY_BYTES,
};
pub use outbox::{
    DeliveryLogEntry, DeliveryLogQuery, DeliveryOutcome, DeliveryStatus, Enqueued, OutboxEntry,
    OutboxItem, OutboxStatus,
};
pub use project::{NewProject, ProjectRecord};
pub use silence::{Silence, SilenceInput, SilenceMatcher, SilenceState};
pub use sqlite::{SqliteStore, DEFAULT_CACHE_BYTES};
pub use store::StateStore;
