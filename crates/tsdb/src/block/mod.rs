//! Immutable on-disk blocks (docs/format/block.md).
//!
//! A block is a directory `<ULID>/` holding `meta.json` ([`BlockMeta`]), `chunks` (the
//! concatenated, checksummed chunk bytes) and `index` (symbols, series, postings: see
//! [`crate::index`]). [`BlockWriter`] writes it under `<ULID>.tmp/` and renames it into
//! place once everything is fsynced; [`Block`] opens it read-only through memory maps.

pub(crate) mod error;
mod meta;
mod reader;
mod writer;

pub use error::BlockError;
pub use meta::{BlockMeta, BlockStats, CompactionMeta, Resolution};
pub use reader::{Block, BlockSeries};
pub use writer::{
    cleanup_tmp, delete_block_dir, encode_block_chunks, BlockWriter, ChunkData,
    MAX_BLOCK_CHUNK_SAMPLES, MAX_SAMPLES_PER_CHUNK,
};

pub use crate::index::ChunkRef;

#[cfg(test)]
mod tests;
