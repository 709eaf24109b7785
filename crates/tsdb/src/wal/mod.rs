//! The write-ahead log (WAL).
//!
//! Every series creation and sample accepted by the head is first written here, so that the
//! head can be rebuilt after a crash. The design follows Prometheus' `tsdb/wlog`:
//!
//! - [`Record`]: what is logged — [`SeriesRecord`]s (reference → labels) and
//!   [`SampleRecord`]s (reference, timestamp, value), in a compact binary encoding
//!   ([`record`]).
//! - Segments: numbered files (`00000000`, `00000001`, ...) of CRC-checked frames, one record
//!   per frame, cut at [`WalOptions::segment_size`] ([`segment`]).
//! - [`Wal`]: the writer, shared by all appending threads; concurrent [`Wal::log`] calls are
//!   group-committed into one write and (under [`FsyncPolicy::Always`]) one fsync. A failed
//!   write or fsync poisons it ([`WalError::Poisoned`]).
//! - [`replay`]: reads the newest checkpoint and the segments after it; a torn or corrupt
//!   frame ends the replay and the log is repaired there ([`repair`]).
//! - [`checkpoint()`]: rewrites the head of the log, keeping only live series and recent samples,
//!   and deletes the segments it covers.
//!
//! The byte layout is documented in `docs/format/wal.md`.
//!
//! Start-up order: [`replay`] (which repairs), then [`Wal::open`] (which starts a new
//! segment), then appends. Checkpoint a segment only after [`Wal::cut_segment`] moved the
//! writer past it.
//!
//! ```
//! use strix_tsdb::wal::{replay, FsyncPolicy, Record, SampleRecord, Wal, WalMetrics, WalOptions};
//! # fn main() -> Result<(), strix_tsdb::wal::WalError> {
//! # let tmp = tempfile::tempdir().map_err(|e| strix_tsdb::wal::WalError::InvalidInput(e.to_string()))?;
//! # let dir = tmp.path();
//! replay(dir, |_record| Ok(()))?;
//! let opts = WalOptions { fsync: FsyncPolicy::Always, ..WalOptions::default() };
//! let wal = Wal::open(dir, opts, WalMetrics::unregistered())?;
//! wal.log(&[Record::Samples(vec![SampleRecord { series_ref: 1, t: 1_000, v: 0.5 }])])?;
//! wal.close()?;
//! let report = replay(dir, |_record| Ok(()))?;
//! assert_eq!(report.records, 1);
//! # Ok(())
//! # }
//! ```

pub mod checkpoint;
mod error;
mod metrics;
pub mod reader;
pub mod record;
pub mod repair;
pub mod segment;
mod writer;

pub use checkpoint::{checkpoint, list_checkpoints, CheckpointStats};
pub use error::WalError;
pub use metrics::WalMetrics;
pub use reader::{replay, replay_with_metrics, Corruption, ReplayReport};
pub use record::{Record, SampleRecord, SeriesRecord};
pub use segment::{list_segments, DEFAULT_SEGMENT_SIZE};
pub use writer::{FsyncPolicy, Wal, WalOptions, MIN_SEGMENT_SIZE};
