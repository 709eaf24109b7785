//! The embedded SQLite implementation of [`StateStore`].
//!
//! One connection behind a mutex: every call takes the lock for the duration of its
//! statement or transaction, so calls from many threads are serialised in-process, and
//! other processes are kept out by SQLite's own locking (writes use `BEGIN IMMEDIATE`
//! and wait up to [`BUSY_TIMEOUT`] for the lock before failing with
//! [`StateError::Unavailable`]).
//!
//! Durability: `journal_mode=WAL`, and a write returns only after the WAL holding its
//! commit was fsynced, so a call that returned `Ok` survives `kill -9` and power loss. The
//! fsync is ours, not SQLite's (`synchronous=NORMAL`, [`WalSync`]): it runs after the
//! connection is released, so other threads use the connection while the disk flushes,
//! and one fsync covers every commit made before it started (group commit: threads
//! committing at the same time share a flush instead of queueing one each behind the
//! lock). WAL checkpoints run on a thread of their own (`checkpoint.rs`), not inside the
//! commits.

mod alerts;
mod checkpoint;
mod checks;
mod escalations;
mod issues;
mod outbox;
mod projects;
mod prune;
mod rules;
mod schema;
mod silences;
mod tickets;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

pub use schema::LATEST_VERSION as SCHEMA_VERSION;

use crate::{
    AlertQuery, AlertRecord, AlertState, AlertStats, AlertWrite, AlertWritten, DeliveryLogEntry,
    DeliveryLogQuery, DeliveryOutcome, Enqueued, ErrorEventRecord, ErrorIssue, ErrorIssueQuery,
    Escalation, NewErrorEvent, OutboxEntry, OutboxItem, PruneStats, RecordedEvent, RuleStateRecord,
    Silence, SilenceInput, SilenceState, StateError, StateStore, Transition, UpsertOutcome,
};

/// How long a statement waits for another process' lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache of the store's connection unless set with
/// [`SqliteStore::set_cache_size`]: 8 MiB. SQLite's own default (2 MiB) is smaller than
/// the pages a burst of alerts and notifications touches, and every page it drops is
/// read back from the file at the next statement that needs it. A larger cache costs
/// writes: while the file is under 1 GiB, a commit after a B-tree split that renumbered
/// pages (through the lock-byte page number) scans every cached page, and index inserts
/// all over a tree (the per-issue event index) make such commits common.
pub const DEFAULT_CACHE_BYTES: u64 = 8 << 20;

/// The SQLite-backed store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Write transactions committed, so the checkpoint thread rests while nothing changes.
    commits: Arc<AtomicU64>,
    /// Background WAL checkpoints (`None` for a read-only store).
    _checkpointer: Option<checkpoint::Checkpointer>,
    /// Makes commits durable (`None` for a read-only store).
    wal_sync: Option<WalSync>,
    /// Error-issue users and tags known to be stored (taken after `conn`).
    known_rows: Mutex<issues::KnownRows>,
    /// Thinning owed by issues, done in bulk (taken after `conn`).
    thin_debt: Mutex<issues::ThinDebt>,
}

/// Group commit: fsyncs the WAL after commits, outside the connection lock.
///
/// Commits are numbered under the connection lock; [`sync`](Self::sync) of commit `n`
/// returns at once if a flush that started after `n` committed has finished, and otherwise
/// flushes the WAL, which covers every commit numbered so far. The WAL file stays open for
/// the store's life (SQLite deletes it only when the last connection closes), so the
/// flush reaches the file SQLite appends to; keeping it open also means no `close()` of
/// ours ever releases SQLite's POSIX locks on a file of the database.
#[derive(Debug)]
struct WalSync {
    path: PathBuf,
    /// Commits made so far.
    committed: AtomicU64,
    /// The WAL file and the number of commits known to be on disk; held while flushing.
    synced: Mutex<(Option<File>, u64)>,
    /// Flushes done (for tests).
    flushes: AtomicU64,
}

impl WalSync {
    fn new(db: &Path) -> Self {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        WalSync {
            path: PathBuf::from(wal),
            committed: AtomicU64::new(0),
            synced: Mutex::new((None, 0)),
            flushes: AtomicU64::new(0),
        }
    }

    /// Numbers a commit; call under the connection lock, right after it.
    fn committed(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Returns once commit `n` is on disk.
    fn sync(&self, n: u64) -> Result<(), StateError> {
        let mut synced = self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        if synced.1 >= n {
            return Ok(());
        }
        let upto = self.committed.load(Ordering::Acquire);
        let unavailable = |e: std::io::Error| StateError::Unavailable {
            message: format!("flushing {}", self.path.display()),
            source: Box::new(e),
        };
        if synced.0.is_none() {
            synced.0 = Some(
                File::options()
                    .read(true)
                    .write(true)
                    .open(&self.path)
                    .map_err(unavailable)?,
            );
        }
        if let Some(f) = &synced.0 {
            f.sync_data().map_err(unavailable)?;
        }
        self.flushes.fetch_add(1, Ordering::Relaxed);
        synced.1 = upto;
        Ok(())
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, sets WAL mode (commits made
    /// durable by [`WalSync`]), foreign keys and the busy timeout, and applies pending schema migrations in one
    /// transaction. Opening a current database writes nothing.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StateError> {
        Self::open_with(path.as_ref(), checkpoint::CHECKPOINT_INTERVAL)
    }

    /// [`open`](Self::open) with background checkpoints every `checkpoint_interval`.
    fn open_with(path: &Path, checkpoint_interval: Duration) -> Result<SqliteStore, StateError> {
        let path = path.to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StateError::Unavailable {
                message: format!("creating state directory {}", dir.display()),
                source: Box::new(e),
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::Unavailable {
                message: format!(
                    "{}: cannot enable WAL journal mode (got {mode:?})",
                    path.display()
                ),
                source: "journal_mode".into(),
            });
        }
        // Migrations below commit with SQLite's own fsync; later writes with ours.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        set_cache(&conn, DEFAULT_CACHE_BYTES)?;
        let applied = schema::migrate(&mut conn, strix_core::now_millis())?;
        if !applied.is_empty() {
            tracing::info!(path = %path.display(), versions = ?applied, "Applied state schema migrations.");
        }
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            checkpoint::FALLBACK_AUTOCHECKPOINT_PAGES,
        )?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let commits = Arc::new(AtomicU64::new(1));
        let checkpointer =
            checkpoint::Checkpointer::start(&path, checkpoint_interval, commits.clone())?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            wal_sync: Some(WalSync::new(&path)),
            path,
            commits,
            _checkpointer: Some(checkpointer),
            known_rows: Mutex::default(),
            thin_debt: Mutex::default(),
        })
    }

    /// Opens an existing database read-only, without migrating it (for tools that inspect
    /// the data directory of a running or stopped server). A missing file is
    /// [`StateError::Unavailable`]; a schema newer than this build is
    /// [`StateError::SchemaTooNew`]. Tables added by migrations the file has not had yet
    /// are missing: check [`schema_version`](Self::schema_version) first.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<SqliteStore, StateError> {
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let found = schema::current_version(&conn).or_else(|e| match e {
            // No schema_version table: an empty file.
            StateError::Backend { .. } => Ok(0),
            e => Err(e),
        })?;
        if found > schema::LATEST_VERSION {
            return Err(StateError::SchemaTooNew {
                found,
                supported: schema::LATEST_VERSION,
            });
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path,
            commits: Arc::new(AtomicU64::new(0)),
            _checkpointer: None,
            wal_sync: None,
            known_rows: Mutex::default(),
            thin_debt: Mutex::default(),
        })
    }

    /// Sets the connection's page cache to `bytes`, rounded down to KiB (at least 1 KiB).
    pub fn set_cache_size(&self, bytes: u64) -> Result<(), StateError> {
        set_cache(&self.lock(), bytes)
    }

    /// The connection's page cache in bytes, as SQLite reports it.
    pub fn cache_size(&self) -> Result<u64, StateError> {
        let conn = self.lock();
        let pages: i64 = conn.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        // A negative value is a size in KiB, a positive one a number of pages.
        let bytes = if pages < 0 {
            pages.saturating_neg().saturating_mul(1024)
        } else {
            pages.saturating_mul(page_size)
        };
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<i64, StateError> {
        schema::current_version(&self.lock())
    }

    /// The connection. A panic in another thread while it held the lock cannot have left a
    /// transaction half-applied (an uncommitted `Transaction` rolls back when dropped during
    /// unwinding), so a poisoned lock is taken over rather than propagated.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits if it returns `Ok`.
    /// Returns after the commit is on disk ([`WalSync`]).
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let (out, commit) = {
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            self.commits.fetch_add(1, Ordering::Release);
            (out, self.wal_sync.as_ref().map(|w| (w, w.committed())))
        };
        // A read-only store has no WAL of its own (and its writes fail before this).
        if let Some((w, n)) = commit {
            w.sync(n)?;
        }
        Ok(out)
    }

    /// Runs `f` in a read (deferred) transaction, so multi-statement reads see one snapshot.
    fn read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> Self {
        let code = e.sqlite_error_code();
        match code {
            Some(
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::OutOfMemory
                | ErrorCode::FileLockingProtocolFailed,
            ) => StateError::Unavailable {
                message: e.to_string(),
                source: Box::new(e),
            },
            Some(ErrorCode::ConstraintViolation) => StateError::Conflict(e.to_string()),
            _ => match e {
                rusqlite::Error::FromSqlConversionFailure(_, _, ref inner) => StateError::Corrupt {
                    table: "row",
                    message: inner.to_string(),
                },
                e => StateError::Backend {
                    message: e.to_string(),
                    source: Box::new(e),
                },
            },
        }
    }
}

/// `PRAGMA cache_size` in KiB (the negative form), at least 1 KiB.
fn set_cache(conn: &Connection, bytes: u64) -> Result<(), StateError> {
    let kib = i64::try_from(bytes / 1024).unwrap_or(i64::MAX).max(1);
    conn.pragma_update(None, "cache_size", -kib)?;
    Ok(())
}

/// Rejects list limits above the maximum.
fn check_limit(limit: usize) -> Result<(), StateError> {
    if limit > crate::MAX_LIST_LIMIT {
        return Err(StateError::BadInput(format!(
            "limit {limit} exceeds the maximum of {}",
            crate::MAX_LIST_LIMIT
        )));
    }
    Ok(())
}

/// Converts a decode error inside a row mapper into rusqlite's conversion error.
fn conv_err(idx: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
}

/// Saturating `usize` → `i64` for LIMIT/OFFSET.
fn sql_int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl StateStore for SqliteStore {
    fn upsert_alert(
        &self,
        alert: &AlertRecord,
        actor: &str,
        notes: &str,
    ) -> Result<UpsertOutcome, StateError> {
        self.write(|tx| alerts::upsert(tx, alert, actor, notes))
    }

    fn transition(
        &self,
        alert_id: &str,
        to: AlertState,
        actor: &str,
        notes: &str,
        at: i64,
    ) -> Result<AlertRecord, StateError> {
        self.write(|tx| alerts::transition(tx, alert_id, to, actor, notes, at).map(|(rec, _)| rec))
    }

    fn active_alerts_by_fingerprints(
        &self,
        fingerprints: &[String],
    ) -> Result<std::collections::HashMap<String, AlertRecord>, StateError> {
        self.read(|tx| alerts::active_by_fingerprints(tx, fingerprints))
    }

    fn write_alerts(
        &self,
        writes: &[AlertWrite],
    ) -> Result<Vec<Result<AlertWritten, StateError>>, StateError> {
        // All at once; if one write fails, again with a savepoint per write.
        self.write(|tx| alerts::write_batch_all(tx, writes))
            .or_else(|_| self.write(|tx| alerts::write_batch(tx, writes)))
    }

    fn get_alert(&self, id: &str) -> Result<Option<AlertRecord>, StateError> {
        alerts::get(&self.lock(), id)
    }

    fn list_alerts(&self, query: &AlertQuery) -> Result<(Vec<AlertRecord>, u64), StateError> {
        check_limit(query.limit)?;
        self.read(|tx| alerts::list(tx, query))
    }

    fn active_alert_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<AlertRecord>, StateError> {
        alerts::active_by_fingerprint(&self.lock(), fingerprint)
    }

    fn history(&self, alert_id: &str) -> Result<Vec<Transition>, StateError> {
        self.read(|tx| alerts::history(tx, alert_id))
    }

    fn stats(&self, since: i64, top_rules: usize) -> Result<AlertStats, StateError> {
        check_limit(top_rules)?;
        self.read(|tx| alerts::stats(tx, since, top_rules))
    }

    fn save_rule_states(&self, states: &[RuleStateRecord]) -> Result<(), StateError> {
        self.write(|tx| rules::save(tx, states))
    }

    fn load_rule_states(&self) -> Result<Vec<RuleStateRecord>, StateError> {
        rules::load(&self.lock())
    }

    fn delete_rule_states(
        &self,
        rule_key: &str,
        fingerprint: Option<&str>,
    ) -> Result<u64, StateError> {
        self.write(|tx| rules::delete(tx, rule_key, fingerprint))
    }

    fn upsert_silence(&self, input: &SilenceInput, now: i64) -> Result<String, StateError> {
        self.write(|tx| silences::upsert(tx, input, now))
    }

    fn expire_silence(&self, id: &str, now: i64) -> Result<(), StateError> {
        self.write(|tx| silences::expire(tx, id, now))
    }

    fn get_silence(&self, id: &str, now: i64) -> Result<Option<Silence>, StateError> {
        silences::get(&self.lock(), id, now)
    }

    fn list_silences(&self, states: &[SilenceState], now: i64) -> Result<Vec<Silence>, StateError> {
        silences::list(&self.lock(), states, now)
    }

    fn enqueue(&self, item: &OutboxItem, now: i64) -> Result<Enqueued, StateError> {
        self.write(|tx| outbox::enqueue(tx, item, now))
    }

    fn enqueue_batch(&self, items: &[OutboxItem], now: i64) -> Result<Vec<Enqueued>, StateError> {
        self.write(|tx| outbox::enqueue_batch(tx, items, now))
    }

    fn pending_outbox(&self, after_id: i64, limit: usize) -> Result<Vec<OutboxEntry>, StateError> {
        check_limit(limit)?;
        outbox::pending_after(&self.lock(), after_id, limit)
    }

    fn record_deliveries(
        &self,
        outcomes: &[DeliveryOutcome],
    ) -> Result<Vec<Result<(), StateError>>, StateError> {
        // All at once; if one fails, again with a savepoint per outcome.
        self.write(|tx| outbox::record_batch_all(tx, outcomes))
            .or_else(|_| self.write(|tx| outbox::record_batch(tx, outcomes)))
    }

    fn due(&self, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StateError> {
        check_limit(limit)?;
        outbox::due(&self.lock(), now, limit)
    }

    fn get_outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>, StateError> {
        outbox::get(&self.lock(), id)
    }

    fn mark_delivered(&self, id: i64, at: i64, response_summary: &str) -> Result<(), StateError> {
        self.write(|tx| outbox::mark_delivered(tx, id, at, response_summary))
    }

    fn mark_failed(
        &self,
        id: i64,
        attempt: u32,
        next_attempt_at: i64,
        error: &str,
        at: i64,
    ) -> Result<(), StateError> {
        self.write(|tx| outbox::mark_failed(tx, id, attempt, next_attempt_at, error, at))
    }

    fn give_up(&self, id: i64, error: &str, at: i64) -> Result<(), StateError> {
        self.write(|tx| outbox::give_up(tx, id, error, at))
    }

    fn delivery_log(
        &self,
        query: &DeliveryLogQuery,
    ) -> Result<(Vec<DeliveryLogEntry>, u64), StateError> {
        check_limit(query.limit)?;
        self.read(|tx| outbox::delivery_log(tx, query))
    }

    fn count_notifications(&self, receiver: &str, since: i64) -> Result<u64, StateError> {
        outbox::count_notifications(&self.lock(), receiver, since)
    }

    fn upsert_escalation(&self, escalation: &Escalation, now: i64) -> Result<(), StateError> {
        self.write(|tx| escalations::upsert(tx, escalation, now))
    }

    fn due_escalations(&self, now: i64, limit: usize) -> Result<Vec<Escalation>, StateError> {
        check_limit(limit)?;
        escalations::due(&self.lock(), now, limit)
    }

    fn get_escalation(&self, alert_id: &str) -> Result<Option<Escalation>, StateError> {
        escalations::get(&self.lock(), alert_id)
    }

    fn advance_escalation(
        &self,
        current: &Escalation,
        next: Option<&Escalation>,
        notify: &[OutboxItem],
        now: i64,
    ) -> Result<Vec<Enqueued>, StateError> {
        self.write(|tx| escalations::advance(tx, current, next, notify, now))
    }

    fn cancel_escalation(&self, alert_id: &str) -> Result<bool, StateError> {
        self.write(|tx| escalations::cancel(tx, alert_id))
    }

    fn record_error_event(
        &self,
        project_id: u64,
        event: &NewErrorEvent,
        received: i64,
    ) -> Result<RecordedEvent, StateError> {
        let batch = [crate::ErrorEventBatch {
            project_id,
            received,
            events: vec![event.clone()],
        }];
        let mut out = self.record_error_batch(&batch, &crate::EventRetention::default())?;
        match out.pop() {
            Some(Ok(mut r)) => r
                .pop()
                .ok_or_else(|| StateError::BadInput("no event recorded".into())),
            Some(Err(e)) => Err(e),
            None => Err(StateError::BadInput("no event recorded".into())),
        }
    }

    fn record_error_batch(
        &self,
        batch: &[crate::ErrorEventBatch],
        retention: &crate::EventRetention,
    ) -> Result<Vec<crate::BatchOutcome>, StateError> {
        let (outcomes, learned) = self.write(|tx| {
            let known = self
                .known_rows
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut debt = self
                .thin_debt
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            issues::record_batch(tx, batch, retention, &known, &mut debt)
        })?;
        self.known_rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .learn(learned);
        Ok(outcomes)
    }

    fn change_error_issue(
        &self,
        id: i64,
        change: &crate::IssueChange,
        at: i64,
    ) -> Result<ErrorIssue, StateError> {
        self.write(|tx| issues::change(tx, id, change, at))
    }

    fn error_event_times(&self, issue_id: i64, limit: usize) -> Result<Vec<i64>, StateError> {
        check_limit(limit)?;
        issues::event_times(&self.lock(), issue_id, limit)
    }

    fn error_issue_tags(&self, id: i64) -> Result<Vec<(String, String)>, StateError> {
        issues::tags(&self.lock(), id)
    }

    fn error_counts(
        &self,
        start: i64,
        step: i64,
        buckets: usize,
        project_id: Option<u64>,
        issue_id: Option<i64>,
    ) -> Result<Vec<u64>, StateError> {
        issues::counts(&self.lock(), start, step, buckets, project_id, issue_id)
    }

    fn error_stats(
        &self,
        since: i64,
        project_id: Option<u64>,
    ) -> Result<crate::ErrorStats, StateError> {
        self.read(|tx| issues::stats(tx, since, project_id))
    }

    fn get_error_ticket(&self, issue_id: i64) -> Result<Option<crate::ErrorTicket>, StateError> {
        tickets::get(&self.lock(), issue_id)
    }

    fn update_error_ticket(
        &self,
        issue_id: i64,
        update: &crate::TicketUpdate,
        at: i64,
    ) -> Result<crate::TicketOutcome, StateError> {
        self.write(|tx| tickets::update(tx, issue_id, update, at))
    }

    fn add_error_ticket_step(
        &self,
        issue_id: i64,
        action: &str,
        description: &str,
        author: &str,
        at: i64,
    ) -> Result<crate::ErrorTicket, StateError> {
        self.write(|tx| tickets::add_step(tx, issue_id, action, description, author, at))
    }

    fn save_error_dictionary(
        &self,
        project_id: u64,
        bytes: &[u8],
        at: i64,
    ) -> Result<crate::ErrorDictionary, StateError> {
        crate::ErrorDictionary::check(bytes).map_err(StateError::BadInput)?;
        self.write(|tx| issues::save_dictionary(tx, project_id, bytes, at))
    }

    fn latest_error_dictionaries(&self) -> Result<Vec<crate::ErrorDictionary>, StateError> {
        issues::latest_dictionaries(&self.lock())
    }

    fn prune_error_events(&self, before: i64) -> Result<crate::ErrorPruneStats, StateError> {
        self.write(|tx| issues::prune(tx, before))
    }

    fn list_error_issues(
        &self,
        query: &ErrorIssueQuery,
    ) -> Result<(Vec<ErrorIssue>, u64), StateError> {
        check_limit(query.limit)?;
        self.read(|tx| issues::list(tx, query))
    }

    fn get_error_issue(&self, id: i64) -> Result<Option<ErrorIssue>, StateError> {
        issues::get(&self.lock(), id)
    }

    fn list_error_events(
        &self,
        issue_id: i64,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<ErrorEventRecord>, u64), StateError> {
        check_limit(limit)?;
        self.read(|tx| issues::events(tx, issue_id, offset, limit))
    }

    fn resolve_error_issue(
        &self,
        id: i64,
        operator: &str,
        notes: &str,
        at: i64,
    ) -> Result<ErrorIssue, StateError> {
        self.write(|tx| {
            issues::change(
                tx,
                id,
                &crate::IssueChange::Resolve {
                    operator: operator.to_string(),
                    notes: notes.to_string(),
                },
                at,
            )
        })
    }

    fn record_check_changes(&self, changes: &[crate::CheckChangeRecord]) -> Result<(), StateError> {
        self.write(|tx| checks::record(tx, changes))
    }

    fn load_check_changes(&self, since: i64) -> Result<Vec<crate::CheckChangeRecord>, StateError> {
        self.read(|tx| checks::load(tx, since))
    }

    fn prune_check_changes(&self, before: i64) -> Result<u64, StateError> {
        self.write(|tx| checks::prune(tx, before))
    }

    fn list_check_definitions(&self) -> Result<Vec<crate::CheckDefinitionRecord>, StateError> {
        self.read(|tx| checks::list_definitions(tx))
    }

    fn upsert_check_definition(
        &self,
        name: &str,
        config: &str,
        at: i64,
    ) -> Result<crate::CheckDefinitionRecord, StateError> {
        self.write(|tx| checks::upsert_definition(tx, name, config, at))
    }

    fn delete_check_definition(&self, name: &str) -> Result<bool, StateError> {
        self.write(|tx| checks::delete_definition(tx, name))
    }

    // ---- projects ----

    fn list_projects(
        &self,
        include_disabled: bool,
    ) -> Result<Vec<crate::ProjectRecord>, StateError> {
        projects::list(&self.lock(), include_disabled)
    }

    fn get_project(&self, id: u64) -> Result<Option<crate::ProjectRecord>, StateError> {
        projects::get(&self.lock(), id)
    }

    fn create_project(
        &self,
        project: &crate::NewProject,
        at: i64,
    ) -> Result<crate::ProjectRecord, StateError> {
        self.write(|tx| projects::create(tx, project, at))
    }

    fn rotate_project_key(
        &self,
        id: u64,
        public_key: &str,
        at: i64,
    ) -> Result<crate::ProjectRecord, StateError> {
        self.write(|tx| projects::rotate_key(tx, id, public_key, at))
    }

    fn disable_project(&self, id: u64, at: i64) -> Result<crate::ProjectRecord, StateError> {
        self.write(|tx| projects::disable(tx, id, at))
    }

    // ---- housekeeping ----

    fn prune(&self, before: i64) -> Result<PruneStats, StateError> {
        self.write(|tx| prune::prune(tx, before))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod wal_sync_tests {
    use super::SqliteStore;
    use crate::{OutboxItem, StateStore};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    fn item(key: String) -> OutboxItem {
        OutboxItem {
            idempotency_key: key,
            receiver: "r".into(),
            channel: "webhook".into(),
            payload: "{}".into(),
            not_before: 0,
        }
    }

    #[test]
    fn writes_return_after_a_flush_of_their_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("state.db")).unwrap());
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let w = store.wal_sync.as_ref().unwrap();
                    for i in 0..40 {
                        let before = w.committed.load(Ordering::Acquire);
                        store.enqueue(&item(format!("{t}-{i}")), 1).unwrap();
                        // This write's commit is numbered after `before`, and it returned
                        // only once a flush covered it.
                        let synced = w.synced.lock().unwrap().1;
                        assert!(synced > before, "synced {synced} after commit {before}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let w = store.wal_sync.as_ref().unwrap();
        let commits = w.committed.load(Ordering::Acquire);
        let flushes = w.flushes.load(Ordering::Acquire);
        assert_eq!(commits, 240);
        assert!(flushes >= 1 && flushes <= commits, "{flushes} flushes");
        // The WAL really was written through the connection: it is still there.
        assert!(dir.path().join("state.db-wal").exists());
    }
}
