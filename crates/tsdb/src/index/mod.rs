//! The block index: symbols, series, postings (docs/format/index.md).
//!
//! - `writer`: builds the file from series added in label order.
//! - `reader`: maps it, validates checksums and resolves matchers to series ids.
//! - `postings`: set operations on sorted series-id lists.

pub(crate) mod encoding;
pub mod postings;
mod reader;
mod writer;

pub use reader::IndexReader;
pub(crate) use writer::IndexBuilder;

use strix_core::Timestamp;

/// Where one chunk of a series lives in the block's `chunks` file, and the time range it
/// covers (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    pub min_time: Timestamp,
    pub max_time: Timestamp,
    /// Byte offset of the chunk record in the `chunks` file.
    pub offset: u64,
}

impl ChunkRef {
    /// Whether the chunk overlaps `[min_time, max_time]`.
    pub fn overlaps(&self, min_time: Timestamp, max_time: Timestamp) -> bool {
        self.min_time <= max_time && min_time <= self.max_time
    }
}
