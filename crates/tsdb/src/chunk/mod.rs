//! Compressed sample chunks.
//!
//! A chunk is a byte string: one encoding byte, then the encoding's payload. New encodings
//! get new bytes; existing ones are never reinterpreted (see docs/format/chunk.md).
//!
//! - [`Encoding::Xor`]: Gorilla-style delta-of-delta timestamps and XOR'd float values.
//! - [`Encoding::Rollup`]: downsampled aggregates ([`strix_core::storage::RollupPoint`]).

mod bitstream;
mod rollup;
mod xor;

pub use rollup::{rollup_points_bit_eq, RollupAppender, RollupIter};
pub use xor::{XorAppender, XorIter};

/// The first byte of every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    Xor = 1,
    Rollup = 2,
}

/// A chunk that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk is empty")]
    Empty,
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
    #[error("chunk truncated: {0}")]
    Truncated(&'static str),
}
