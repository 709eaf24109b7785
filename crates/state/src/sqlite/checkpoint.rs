//! WAL checkpoints off the committing thread.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the threshold: that
//! commit copies the WAL into the database file and fsyncs it before it returns, so one
//! write in every few thousand waits many times longer than the others. Instead a thread
//! with its own connection runs `PASSIVE` checkpoints (an idle server does not touch the
//! file). It checkpoints once the writes pause (no commit for one [`CHECKPOINT_TICK`])
//! and at least [`CHECKPOINT_INTERVAL`] (1 s) after the previous checkpoint, or, while
//! writes go on without a pause, once the oldest commit not yet checkpointed is one
//! interval old. A burst of writes (a flood of alerts) therefore runs without a
//! checkpoint copying pages beside it, and the copy follows the burst; steady writing is
//! checkpointed every interval as before. A passive checkpoint never blocks writers or
//! readers; writers keep appending to the WAL while it copies, and the next write after a
//! complete checkpoint starts the WAL over. The writing connection keeps an automatic
//! checkpoint at [`FALLBACK_AUTOCHECKPOINT_PAGES`] so the WAL stays bounded even if this
//! thread cannot run.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::StateError;

/// The least time between two checkpoints, and the longest a commit waits for one while
/// writes go on.
pub(super) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// How often the background thread looks at the commit counter: writes that paused for
/// this long count as finished.
pub(super) const CHECKPOINT_TICK: Duration = Duration::from_millis(100);

/// The writing connection's own automatic checkpoint threshold, in pages (SQLite's
/// default is 1,000): reached only when the background checkpoints fall behind.
pub(super) const FALLBACK_AUTOCHECKPOINT_PAGES: u32 = 20_000;

/// The background checkpoint thread; stopped and joined when dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a second connection to `path` and starts checkpointing every `interval`
    /// while `commits` (counted by the writing connection) moves.
    pub(super) fn start(
        path: &Path,
        interval: Duration,
        commits: Arc<AtomicU64>,
    ) -> Result<Checkpointer, StateError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(super::BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("strix-state-ckpt".into())
            .spawn(move || run(&conn, &flag, interval, &commits))
            .map_err(|e| StateError::Unavailable {
                message: "cannot start the state checkpoint thread".into(),
                source: Box::new(e),
            })?;
        Ok(Checkpointer {
            stop,
            handle: Some(handle),
        })
    }
}

/// One passive checkpoint: `(wal frames, frames checkpointed)`.
pub(super) fn checkpoint(conn: &Connection) -> Result<(i64, i64), StateError> {
    Ok(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })?)
}

fn run(conn: &Connection, stop: &(Mutex<bool>, Condvar), interval: Duration, commits: &AtomicU64) {
    let (lock, cv) = stop;
    let tick = CHECKPOINT_TICK
        .min(interval / 10)
        .max(Duration::from_millis(1));
    let mut failing = false;
    // Commit count at the last checkpoint and at the last tick.
    let (mut done, mut seen) = (commits.load(Ordering::Acquire), 0);
    let mut last_attempt = Instant::now();
    // When the first commit after the last checkpoint was seen.
    let mut dirty_since: Option<Instant> = None;
    loop {
        {
            let stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
            let (stopped, _) = cv
                .wait_timeout_while(stopped, tick, |s| !*s)
                .unwrap_or_else(PoisonError::into_inner);
            if *stopped {
                return;
            }
        }
        let now = commits.load(Ordering::Acquire);
        let paused = now == seen;
        seen = now;
        if now == done && !failing {
            continue;
        }
        let since = *dirty_since.get_or_insert_with(Instant::now);
        if !due(
            Pending {
                paused,
                failing,
                oldest: since.elapsed(),
                last_attempt: last_attempt.elapsed(),
            },
            interval,
        ) {
            continue;
        }
        last_attempt = Instant::now();
        match checkpoint(conn) {
            Ok(_) => {
                failing = false;
                done = now;
                dirty_since = None;
            }
            Err(e) => {
                // Logged once per failure streak; the writer's fallback threshold bounds
                // the WAL meanwhile.
                if !failing {
                    tracing::warn!(error = %e, "State WAL checkpoint failed; retrying.");
                }
                failing = true;
            }
        }
    }
}

/// What the checkpoint thread knows at a tick when commits are waiting for a checkpoint.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// No commit since the previous tick.
    paused: bool,
    /// The last checkpoint failed.
    failing: bool,
    /// Age of the first commit since the last checkpoint.
    oldest: Duration,
    /// Time since the last checkpoint (or failed attempt).
    last_attempt: Duration,
}

/// Whether to checkpoint now: after a failure, one interval after it; else once the
/// oldest waiting commit is one interval old, or once writes paused and the last
/// checkpoint is one interval old.
fn due(p: Pending, interval: Duration) -> bool {
    if p.failing {
        return p.last_attempt >= interval;
    }
    p.oldest >= interval || (p.paused && p.last_attempt >= interval)
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::SqliteStore;
    use crate::{OutboxItem, StateStore};
    use std::time::{Duration, Instant};

    fn fill(s: &SqliteStore, tag: &str) {
        // ≈ 6 MB in one transaction: about 1,500 pages, past the size at which SQLite's
        // default automatic checkpoint would run inside this commit.
        let items: Vec<OutboxItem> = (0..3_000)
            .map(|i| OutboxItem {
                idempotency_key: format!("{tag}-{i}"),
                receiver: "r".into(),
                channel: "webhook".into(),
                payload: format!("\"{}\"", "x".repeat(2_000)),
                not_before: 0,
            })
            .collect();
        s.enqueue_batch(&items, 1).unwrap();
    }

    fn db_bytes(s: &SqliteStore) -> u64 {
        std::fs::metadata(s.path()).unwrap().len()
    }

    #[test]
    fn bursts_are_checkpointed_after_they_pause_and_steady_writes_every_interval() {
        use super::{due, Pending};
        let ms = Duration::from_millis;
        let second = Duration::from_secs(1);
        let p = |paused, failing, oldest, last_attempt| Pending {
            paused,
            failing,
            oldest: ms(oldest),
            last_attempt: ms(last_attempt),
        };
        // A burst under way: no checkpoint, however long ago the last one was.
        assert!(!due(p(false, false, 300, 60_000), second));
        // The burst paused: checkpoint, unless the last one was less than an interval ago.
        assert!(due(p(true, false, 300, 60_000), second));
        assert!(!due(p(true, false, 300, 500), second));
        // Writes that never pause are checkpointed once the oldest is an interval old.
        assert!(due(p(false, false, 1_000, 1_000), second));
        // After a failure: retried every interval, paused or not.
        assert!(!due(p(true, true, 5_000, 200), second));
        assert!(due(p(false, true, 5_000, 1_000), second));
    }

    #[test]
    fn commits_do_not_checkpoint_and_the_thread_does() {
        let dir = tempfile::tempdir().unwrap();
        // A checkpoint thread that never gets to run during the test: the commit alone
        // leaves the pages in the WAL.
        let idle =
            SqliteStore::open_with(&dir.path().join("idle.db"), Duration::from_secs(3600)).unwrap();
        fill(&idle, "a");
        assert!(db_bytes(&idle) < 1_000_000, "{}", db_bytes(&idle));

        // With the thread running, the pages reach the database file without another write.
        let busy =
            SqliteStore::open_with(&dir.path().join("busy.db"), Duration::from_millis(20)).unwrap();
        fill(&busy, "b");
        let t0 = Instant::now();
        while db_bytes(&busy) < 5_000_000 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(db_bytes(&busy) >= 5_000_000, "{}", db_bytes(&busy));
        // Everything committed is readable and the store still writes.
        assert_eq!(busy.pending_outbox(0, 5_000).unwrap().len(), 3_000);
        fill(&busy, "c");
        drop(busy);
        drop(idle);
    }
}
