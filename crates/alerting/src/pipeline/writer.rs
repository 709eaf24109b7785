//! The outbox writer thread.
//!
//! A flush decides many group notifications; turning each into outbox entries (one per
//! channel, payload encoded), writing them in one transaction per chunk and handing the
//! committed entries to delivery is the larger part of its cost. The dispatcher hands
//! each chunk of decided notifications to this thread and goes on deciding the next
//! groups (or ingesting the next alerts) while the chunk is encoded and committed.
//!
//! - **Durable before sent**: entries reach the delivery queue only after their
//!   transaction committed ([`super::dispatch::enqueue_all`]), as on the dispatcher.
//! - **Bounded**: at most `write_queue_chunks` chunks wait; a full queue blocks the
//!   dispatcher until the writer catches up. The number waiting is the gauge
//!   `strix_notifications_write_queue_chunks`.
//! - **Barrier**: before a rate limit counts what the outbox holds, the dispatcher waits
//!   until every queued chunk is written ([`Inner::drain_writes`]).
//! - **Shutdown**: the thread writes what is queued, then ends. Before the thread runs
//!   (or after it ended) chunks are written on the caller's thread.

use std::collections::VecDeque;

use super::dispatch::enqueue_all;
use super::{build, lock, Inner};
use crate::channels::Notification;

/// Decided notifications to write to the outbox together.
pub(crate) struct Chunk {
    /// Receiver and the notification for it.
    pub notifications: Vec<(String, Notification)>,
    /// When they were decided (the entries' `created_at`).
    pub now: i64,
}

/// Chunks waiting for the writer thread.
#[derive(Default)]
pub(crate) struct WriteQueue {
    chunks: VecDeque<Chunk>,
    /// A chunk taken by the thread and not yet written.
    writing: bool,
    /// The thread accepts chunks.
    running: bool,
    /// The thread is to end once the queue is empty.
    stopping: bool,
}

impl Inner {
    /// Writes `chunk` to the outbox on the writer thread, or here when the thread does
    /// not run. Waits while `write_queue_chunks` chunks are queued. Returns the number of
    /// new entries written here (0 when handed to the thread).
    pub(crate) fn write_chunk(&self, chunk: Chunk) -> usize {
        if chunk.notifications.is_empty() {
            return 0;
        }
        let cap = self.opts.write_queue_chunks.max(1);
        let mut q = lock(&self.writes);
        while q.running && q.chunks.len() >= cap {
            q = match self.writes_cv.wait(q) {
                Ok(g) => g,
                Err(e) => e.into_inner(),
            };
        }
        if !q.running {
            // Chunks a failed thread left behind go first.
            let mut left: Vec<Chunk> = q.chunks.drain(..).collect();
            self.metrics.write_queue.set(0);
            drop(q);
            left.push(chunk);
            return left.into_iter().map(|c| write_now(self, c)).sum();
        }
        q.chunks.push_back(chunk);
        self.metrics.write_queue.set(gauge(q.chunks.len()));
        drop(q);
        self.writes_cv.notify_all();
        0
    }

    /// Waits until every chunk handed to the writer thread is written.
    pub(crate) fn drain_writes(&self) {
        let mut q = lock(&self.writes);
        while q.running && (!q.chunks.is_empty() || q.writing) {
            q = match self.writes_cv.wait(q) {
                Ok(g) => g,
                Err(e) => e.into_inner(),
            };
        }
    }

    /// Marks the writer thread as accepting chunks (before it is spawned).
    pub(crate) fn writer_starting(&self) {
        let mut q = lock(&self.writes);
        q.running = true;
        q.stopping = false;
    }

    /// The writer thread could not start: chunks are written by their callers.
    pub(crate) fn writer_ended(&self) {
        lock(&self.writes).running = false;
        self.writes_cv.notify_all();
    }

    /// Asks the writer thread to write what is queued and end.
    pub(crate) fn writer_stop(&self) {
        lock(&self.writes).stopping = true;
        self.writes_cv.notify_all();
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Encodes the chunk's notifications as outbox entries, writes them in one transaction
/// and hands the new ones to delivery. Returns how many were new.
fn write_now(inner: &Inner, chunk: Chunk) -> usize {
    let mut items = build::Prepared::default();
    let now = chunk.now;
    for (receiver, n) in chunk.notifications {
        let Some(chans) = inner.channels().get(&receiver) else {
            continue;
        };
        let key = n.idempotency_key.clone();
        items.append(build::outbox_items(chans, n, &key, None, now));
    }
    enqueue_all(inner, items, now)
}

/// The writer thread's loop: until stopped with an empty queue.
pub(crate) fn run(inner: &Inner) {
    loop {
        let chunk = {
            let mut q = lock(&inner.writes);
            loop {
                if let Some(c) = q.chunks.pop_front() {
                    q.writing = true;
                    inner.metrics.write_queue.set(gauge(q.chunks.len()));
                    break Some(c);
                }
                if q.stopping {
                    q.running = false;
                    break None;
                }
                q = match inner.writes_cv.wait(q) {
                    Ok(g) => g,
                    Err(e) => e.into_inner(),
                };
            }
        };
        // Room in the queue (or the thread ended): wake a waiting dispatcher.
        inner.writes_cv.notify_all();
        let Some(chunk) = chunk else {
            return;
        };
        let guard = Writing(inner);
        write_now(inner, chunk);
        drop(guard);
    }
}

/// Ends the write of one chunk, also when it panicked: then the thread stops accepting
/// chunks and the dispatcher writes them itself (those queued first).
struct Writing<'a>(&'a Inner);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        {
            let mut q = lock(&self.0.writes);
            q.writing = false;
            if std::thread::panicking() {
                q.running = false;
                tracing::error!(
                    "The outbox writer thread panicked; the dispatcher writes the outbox itself."
                );
            }
        }
        self.0.writes_cv.notify_all();
    }
}
