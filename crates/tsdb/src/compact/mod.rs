//! Compaction: choosing blocks to merge ([`plan`]) and merging them ([`compact`]).
//!
//! The engine cuts level-1 blocks of `ranges[0]` (2h) from the head. [`plan`] picks
//! adjacent blocks that together fill one aligned range of a larger size (6h, 24h, ...),
//! and always picks blocks whose time ranges overlap (backfill); [`compact`] merges them
//! into one block of level max+1. The caller (db.rs) opens the new block, swaps it in and
//! deletes the sources. Metrics are the caller's: both functions return what they did.

mod merge;
mod plan;

pub use merge::compact;
pub use plan::plan;

/// Default compaction ranges in milliseconds: 2h head blocks, compacted into 6h and 24h.
pub const DEFAULT_RANGES: [i64; 3] = [2 * 3_600_000, 6 * 3_600_000, 24 * 3_600_000];
