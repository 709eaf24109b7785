//! The appending side of the WAL, with group commit.
//!
//! Callers of [`Wal::log`] encode their records into frames outside any lock, append them to
//! a shared pending buffer and take a sequence number. If no write is in progress the caller
//! becomes the leader: it takes everything pending, writes it (cutting segments as needed)
//! and, with [`FsyncPolicy::Always`], fsyncs once for the whole batch. Callers that arrive
//! while a leader is writing wait on a condition variable until the written sequence covers
//! theirs; the next of them to wake leads the following batch. One `write` and at most one
//! fsync thus serve any number of concurrent callers.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::checkpoint::{list_checkpoints, remove_tmp_checkpoints};
use super::error::WalError;
use super::metrics::WalMetrics;
use super::record::Record;
use super::segment::{
    append_frame, fsync, list_segments, sync_dir, SegmentFile, DEFAULT_SEGMENT_SIZE,
    FRAME_HEADER_LEN, SEGMENT_HEADER_LEN,
};

/// When the WAL fsyncs what it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before [`Wal::log`] returns. Durable, slowest; group commit shares the fsync.
    Always,
    /// From a background thread, at most this long after a write. A crash loses at most
    /// about one interval of acknowledged writes.
    Interval(Duration),
    /// Only when a segment is cut, on [`Wal::sync`] and on [`Wal::close`].
    Never,
}

/// Options of a [`Wal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    /// A new segment is started when the next record would make the current one larger than
    /// this. A record larger than this on its own gets a segment to itself.
    pub segment_size: u64,
    /// When written bytes are fsynced.
    pub fsync: FsyncPolicy,
}

/// Smallest accepted [`WalOptions::segment_size`].
pub const MIN_SEGMENT_SIZE: u64 = SEGMENT_HEADER_LEN + FRAME_HEADER_LEN as u64 + 16;

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
        }
    }
}

impl WalOptions {
    fn validate(&self) -> Result<(), WalError> {
        if self.segment_size < MIN_SEGMENT_SIZE {
            return Err(WalError::InvalidInput(format!(
                "segment_size {} is below the minimum of {MIN_SEGMENT_SIZE} bytes",
                self.segment_size
            )));
        }
        if self.fsync == FsyncPolicy::Interval(Duration::ZERO) {
            return Err(WalError::InvalidInput(
                "fsync interval must be positive".to_string(),
            ));
        }
        Ok(())
    }
}

/// The write-ahead log writer. `Send + Sync`: share it behind an `Arc`.
///
/// Open it after [`replay`](super::replay) has read (and repaired) the directory. It always
/// starts a new segment, so a segment that was torn by a crash is never appended to.
///
/// If a write or fsync fails the WAL is poisoned: it can no longer know which acknowledged
/// bytes are on disk, so every later [`Wal::log`] fails with [`WalError::Poisoned`] until
/// the process reopens it (after replay and repair).
pub struct Wal {
    inner: Arc<Inner>,
    syncer: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    dir: PathBuf,
    opts: WalOptions,
    metrics: WalMetrics,
    /// Group-commit state; `committed` is notified whenever a batch finishes.
    state: Mutex<State>,
    committed: Condvar,
    /// The segment being appended to. Held by the leader while writing, briefly by fsyncs.
    segment: Mutex<Current>,
    poisoned: AtomicBool,
    /// Stops the background fsync thread.
    stop: Mutex<bool>,
    stop_cond: Condvar,
    #[cfg(test)]
    hooks: tests::Hooks,
}

struct Current {
    file: SegmentFile,
    /// Written since the last fsync.
    dirty: bool,
}

#[derive(Default)]
struct State {
    /// Encoded frames waiting for a leader.
    pending: Vec<u8>,
    /// End offset in `pending` of each frame.
    pending_ends: Vec<usize>,
    /// Buffers of the previous batch, reused to avoid reallocating.
    spare: (Vec<u8>, Vec<usize>),
    /// Sequence number of the last batch appended to `pending`.
    next_seq: u64,
    /// Every batch up to this one has been written (and fsynced under `Always`).
    done_seq: u64,
    /// A leader is writing.
    leader: bool,
    poisoned: bool,
    closed: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while one of these locks is held poisons the WAL itself (see `LeaderGuard`),
    // so the std poison flag carries no extra information.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Wal {
    /// Opens `dir` for appending in a new segment after the last segment or checkpoint.
    /// Creates `dir` if needed and removes leftover temporary checkpoints.
    pub fn open(dir: &Path, opts: WalOptions, metrics: WalMetrics) -> Result<Wal, WalError> {
        opts.validate()?;
        std::fs::create_dir_all(dir).map_err(WalError::io("create dir", dir))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        remove_tmp_checkpoints(dir)?;
        let last_segment = list_segments(dir)?.last().copied();
        let last_checkpoint = list_checkpoints(dir)?.last().copied();
        let index = match last_segment.max(last_checkpoint) {
            None => 0,
            Some(i) => i.checked_add(1).ok_or_else(|| {
                WalError::InvalidInput("WAL segment index space exhausted".to_string())
            })?,
        };
        let file = SegmentFile::create(dir, index, &metrics)?;
        metrics.poisoned.set(0);
        tracing::info!(dir = %dir.display(), segment = index, "Opened WAL for appending.");
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            opts: opts.clone(),
            metrics,
            state: Mutex::new(State::default()),
            committed: Condvar::new(),
            segment: Mutex::new(Current { file, dirty: false }),
            poisoned: AtomicBool::new(false),
            stop: Mutex::new(false),
            stop_cond: Condvar::new(),
            #[cfg(test)]
            hooks: tests::Hooks::default(),
        });
        let syncer = match opts.fsync {
            FsyncPolicy::Interval(every) => {
                let inner = Arc::clone(&inner);
                let handle = std::thread::Builder::new()
                    .name("strix-wal-fsync".to_string())
                    .spawn(move || inner.run_syncer(every))
                    .map_err(WalError::io("spawn fsync thread", dir))?;
                Some(handle)
            }
            FsyncPolicy::Always | FsyncPolicy::Never => None,
        };
        Ok(Wal {
            inner,
            syncer: Mutex::new(syncer),
        })
    }

    /// Appends `records`, one frame each, in order. Returns once the bytes have been handed
    /// to the OS (and fsynced under [`FsyncPolicy::Always`]). Records of one call are
    /// contiguous in the log; concurrent calls are ordered by who enqueues first.
    pub fn log(&self, records: &[Record]) -> Result<(), WalError> {
        if self.inner.poisoned.load(Ordering::Acquire) {
            return Err(WalError::Poisoned);
        }
        if records.is_empty() {
            return Ok(());
        }
        let mut frames = Vec::new();
        let mut ends = Vec::with_capacity(records.len());
        for r in records {
            append_frame(&mut frames, r)?;
            ends.push(frames.len());
        }
        let inner = &*self.inner;
        let mut st = lock(&inner.state);
        if st.poisoned {
            return Err(WalError::Poisoned);
        }
        if st.closed {
            return Err(WalError::Closed);
        }
        let base = st.pending.len();
        st.pending.extend_from_slice(&frames);
        st.pending_ends.extend(ends.iter().map(|e| e + base));
        st.next_seq += 1;
        let seq = st.next_seq;
        loop {
            if st.done_seq >= seq {
                return Ok(());
            }
            if st.poisoned {
                return Err(WalError::Poisoned);
            }
            if !st.leader {
                return inner.lead(st, false).map(|_| ());
            }
            st = inner
                .committed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Fsyncs the current segment now, whatever the policy. Everything acknowledged by
    /// [`Wal::log`] before this call is durable when it returns `Ok`.
    pub fn sync(&self) -> Result<(), WalError> {
        self.inner.sync_current(true)
    }

    /// Fsyncs and closes the current segment and starts the next one; returns its index.
    /// Records logged before the call are in the old segment, later ones in the new one.
    pub fn cut_segment(&self) -> Result<u32, WalError> {
        let mut st = lock(&self.inner.state);
        loop {
            if st.poisoned {
                return Err(WalError::Poisoned);
            }
            if st.closed {
                return Err(WalError::Closed);
            }
            if !st.leader {
                return self.inner.lead(st, true);
            }
            st = self
                .inner
                .committed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Writes what is pending, stops the background fsync thread and fsyncs. Later `log`
    /// calls fail with [`WalError::Closed`]. Idempotent; also run on drop.
    pub fn close(&self) -> Result<(), WalError> {
        let inner = &*self.inner;
        let mut st = lock(&inner.state);
        st.closed = true;
        // Callers already enqueued still get their records written.
        while !st.poisoned && (st.leader || !st.pending_ends.is_empty()) {
            if st.leader {
                st = inner
                    .committed
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
            } else {
                // Errors poison the WAL and are reported below.
                if let Err(e) = inner.lead(st, false) {
                    tracing::debug!(error = %e, "WAL write failed while closing.");
                }
                st = lock(&inner.state);
            }
        }
        drop(st);
        *lock(&inner.stop) = true;
        inner.stop_cond.notify_all();
        if let Some(handle) = lock(&self.syncer).take() {
            if handle.join().is_err() {
                tracing::error!(dir = %inner.dir.display(), "WAL fsync thread panicked.");
            }
        }
        inner.sync_current(false)
    }

    /// True once a write or fsync failed; the WAL then refuses writes.
    pub fn is_poisoned(&self) -> bool {
        self.inner.poisoned.load(Ordering::Acquire)
    }

    /// Index of the segment being appended to.
    pub fn current_segment(&self) -> u32 {
        lock(&self.inner.segment).file.index
    }

    /// Segment files in the WAL directory, ascending.
    pub fn segments(&self) -> Result<Vec<u32>, WalError> {
        list_segments(&self.inner.dir)
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The options the WAL was opened with.
    pub fn options(&self) -> &WalOptions {
        &self.inner.opts
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        match self.close() {
            Ok(()) | Err(WalError::Poisoned) => {}
            Err(e) => {
                tracing::error!(dir = %self.inner.dir.display(), error = %e, "Closing the WAL failed.")
            }
        }
    }
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.inner.dir)
            .field("opts", &self.inner.opts)
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

/// Poisons the WAL and releases the leader role if a leader panics mid-write.
struct LeaderGuard<'a> {
    inner: &'a Inner,
    armed: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = lock(&self.inner.state);
            st.leader = false;
            self.inner.mark_poisoned(&mut st, "WAL writer panicked");
            drop(st);
            self.inner.committed.notify_all();
        }
    }
}

impl Inner {
    /// Becomes the leader: writes everything pending (and cuts a segment after it if `cut`),
    /// publishes the result and wakes the waiters. Returns the current segment index.
    fn lead(&self, mut st: MutexGuard<'_, State>, cut: bool) -> Result<u32, WalError> {
        st.leader = true;
        let batch_seq = st.next_seq;
        let (spare_buf, spare_ends) = std::mem::take(&mut st.spare);
        let buf = std::mem::replace(&mut st.pending, spare_buf);
        let ends = std::mem::replace(&mut st.pending_ends, spare_ends);
        drop(st);

        let mut guard = LeaderGuard {
            inner: self,
            armed: true,
        };
        let result = self.write_batch(&buf, &ends, cut);
        guard.armed = false;

        let mut st = lock(&self.state);
        st.leader = false;
        match &result {
            Ok(_) => st.done_seq = batch_seq,
            Err(e) => self.mark_poisoned(&mut st, &e.to_string()),
        }
        let (mut buf, mut ends) = (buf, ends);
        buf.clear();
        ends.clear();
        st.spare = (buf, ends);
        drop(st);
        self.committed.notify_all();
        result
    }

    fn write_batch(&self, buf: &[u8], ends: &[usize], cut: bool) -> Result<u32, WalError> {
        let mut cur = lock(&self.segment);
        #[cfg(test)]
        self.hooks.before_write(&cur.file.path)?;
        // Write runs of frames that fit in the current segment, cutting between frames.
        let (mut run_start, mut frame_start) = (0usize, 0usize);
        for &end in ends {
            let used = cur.file.size + (frame_start - run_start) as u64;
            let frame_len = (end - frame_start) as u64;
            if used > SEGMENT_HEADER_LEN && used + frame_len > self.opts.segment_size {
                self.write(&mut cur, &buf[run_start..frame_start])?;
                run_start = frame_start;
                self.rotate(&mut cur)?;
            }
            frame_start = end;
        }
        self.write(&mut cur, &buf[run_start..])?;
        self.metrics.records_written.inc_by(ends.len() as u64);
        if self.opts.fsync == FsyncPolicy::Always && cur.dirty {
            self.fsync(&cur.file)?;
            cur.dirty = false;
        }
        if cut {
            self.rotate(&mut cur)?;
        }
        Ok(cur.file.index)
    }

    fn write(&self, cur: &mut Current, bytes: &[u8]) -> Result<(), WalError> {
        if bytes.is_empty() {
            return Ok(());
        }
        cur.dirty = true;
        cur.file.write_all(bytes)?;
        self.metrics.bytes_written.inc_by(bytes.len() as u64);
        Ok(())
    }

    /// Fsyncs the current segment and replaces it with a new, durable, empty one.
    fn rotate(&self, cur: &mut Current) -> Result<(), WalError> {
        self.fsync(&cur.file)?;
        cur.dirty = false;
        let next = cur.file.index.checked_add(1).ok_or_else(|| {
            WalError::InvalidInput("WAL segment index space exhausted".to_string())
        })?;
        cur.file = SegmentFile::create(&self.dir, next, &self.metrics)?;
        Ok(())
    }

    fn fsync(&self, file: &SegmentFile) -> Result<(), WalError> {
        #[cfg(test)]
        self.hooks.before_fsync(&file.path)?;
        file.sync(&self.metrics)
    }

    /// Fsyncs the current segment if it was written since the last fsync (or if `force`),
    /// without holding the segment lock during the fsync.
    fn sync_current(&self, force: bool) -> Result<(), WalError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(WalError::Poisoned);
        }
        let (file, path) = {
            let mut cur = lock(&self.segment);
            if !cur.dirty && !force {
                return Ok(());
            }
            cur.dirty = false;
            (Arc::clone(&cur.file.file), cur.file.path.clone())
        };
        #[cfg(test)]
        self.hooks
            .before_fsync(&path)
            .inspect_err(|e| self.poison(e))?;
        fsync(&file, &path, &self.metrics).inspect_err(|e| self.poison(e))
    }

    fn poison(&self, err: &WalError) {
        let mut st = lock(&self.state);
        self.mark_poisoned(&mut st, &err.to_string());
        drop(st);
        self.committed.notify_all();
    }

    fn mark_poisoned(&self, st: &mut State, reason: &str) {
        self.metrics.write_failures.inc();
        if st.poisoned {
            return;
        }
        st.poisoned = true;
        self.poisoned.store(true, Ordering::Release);
        self.metrics.poisoned.set(1);
        tracing::error!(
            dir = %self.dir.display(),
            error = reason,
            "WAL write or fsync failed; the WAL is poisoned and refuses writes until reopened."
        );
    }

    /// Body of the background fsync thread of [`FsyncPolicy::Interval`].
    fn run_syncer(&self, every: Duration) {
        // A panic here poisons the WAL rather than silently stopping fsyncs.
        struct PanicGuard<'a>(&'a Inner);
        impl Drop for PanicGuard<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut st = lock(&self.0.state);
                    self.0.mark_poisoned(&mut st, "WAL fsync thread panicked");
                }
            }
        }
        let _guard = PanicGuard(self);
        let mut stop = lock(&self.stop);
        loop {
            let deadline = Instant::now() + every;
            loop {
                if *stop {
                    return;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                stop = self
                    .stop_cond
                    .wait_timeout(stop, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            drop(stop);
            match self.sync_current(false) {
                Ok(()) => {}
                // Logged and counted when it was poisoned; nothing more to fsync.
                Err(_) => return,
            }
            stop = lock(&self.stop);
        }
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
