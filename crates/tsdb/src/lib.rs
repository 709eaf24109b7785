//! The Strix storage engine.
//!
//! A synchronous time-series store: no async runtime, no HTTP. Data flows
//!
//! ```text
//! append → validate → WAL (segmented, checksummed, group commit, fsync policy)
//!        → head (series index + postings, XOR chunks, out-of-order buffers)
//!        → blocks cut by time (mmap'd index + chunks) → compaction → rollup tiers (5m, 1h)
//! ```
//!
//! [`Db`] implements [`strix_core::storage::Appendable`] and
//! [`strix_core::storage::Queryable`]; upper layers use only those traits.
//! On-disk formats are described in `docs/format/`.
//!
//! Not in scope: native histograms, exemplars (decoders count and skip them).
#![deny(unsafe_code)]

pub mod block;
pub mod chunk;
pub mod compact;
mod db;
mod error;
pub mod fsutil;
pub mod head;
pub mod index;
pub mod layout;
mod maintenance;
mod metrics;
mod options;
mod querier;
pub mod rollup;
pub mod wal;

pub use db::{Db, DbStatus};
pub use error::DbError;
pub use options::{DbOptions, FsyncPolicy, Limits, TierRetention};
