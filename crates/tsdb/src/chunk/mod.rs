//! Compressed sample chunks.
//!
//! A chunk is a byte string: one encoding byte, then the encoding's payload. New encodings
//! get new bytes; existing ones are never reinterpreted (see docs/format/chunk.md).
//!
//! - [`Encoding::Xor`]: Gorilla-style delta-of-delta timestamps and XOR'd float values.
//!   Appendable; the head's chunks, and raw block chunks written before dense chunks.
//! - [`Encoding::Rollup`]: downsampled aggregates ([`strix_core::storage::RollupPoint`]).
//! - [`Encoding::Dense`]: raw samples in blocks: integer streams, decimal values, zstd.
//!   Written whole, decoded whole.
//!
//! [`decode_samples`] and [`sample_count`] read any raw-sample chunk by its encoding byte.

mod bitstream;
mod dense;
mod rollup;
mod xor;

#[cfg(test)]
pub(crate) use dense::profile_parts;
pub use dense::{
    decode_dense, dense_count, encode_dense, encode_dense_with, EncodeOptions, MAX_DENSE_SAMPLES,
    ZSTD_LEVEL,
};
pub use rollup::{rollup_points_bit_eq, RollupAppender, RollupIter};
pub use xor::{XorAppender, XorIter};

use strix_core::Sample;

/// The first byte of every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    Xor = 1,
    Rollup = 2,
    Dense = 3,
}

impl Encoding {
    /// The encoding of `chunk`, from its first byte.
    pub fn of(chunk: &[u8]) -> Result<Encoding, ChunkError> {
        match chunk.first() {
            None => Err(ChunkError::Empty),
            Some(1) => Ok(Encoding::Xor),
            Some(2) => Ok(Encoding::Rollup),
            Some(3) => Ok(Encoding::Dense),
            Some(&b) => Err(ChunkError::UnknownEncoding(b)),
        }
    }
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
    #[error("chunk corrupt: {0}")]
    Corrupt(&'static str),
}

/// Decodes a chunk of raw samples (XOR or dense), appending its samples to `out`. On error
/// `out` may hold some of the chunk's samples.
pub fn decode_samples(chunk: &[u8], out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    match Encoding::of(chunk)? {
        Encoding::Xor => XorIter::decode_all(chunk, out),
        Encoding::Dense => decode_dense(chunk, out),
        Encoding::Rollup => Err(ChunkError::UnknownEncoding(Encoding::Rollup as u8)),
    }
}

/// Number of samples (or rollup points) in a chunk of any encoding.
pub fn sample_count(chunk: &[u8]) -> Result<usize, ChunkError> {
    match Encoding::of(chunk)? {
        Encoding::Xor => XorIter::count(chunk),
        Encoding::Dense => dense_count(chunk),
        Encoding::Rollup => RollupIter::count(chunk),
    }
}

/// Sample (or point) count from the `[encoding][u16 BE count]` header that XOR and rollup
/// chunks start with.
pub(crate) fn header_count(chunk: &[u8]) -> Result<usize, ChunkError> {
    match chunk {
        [_, hi, lo, ..] => Ok(u16::from_be_bytes([*hi, *lo]) as usize),
        _ => Err(ChunkError::Truncated("header")),
    }
}

/// Drains a chunk iterator into `out`, stopping at the first error.
pub(crate) fn collect_into<T>(
    it: impl Iterator<Item = Result<T, ChunkError>>,
    out: &mut Vec<T>,
) -> Result<(), ChunkError> {
    out.reserve(it.size_hint().0);
    for v in it {
        out.push(v?);
    }
    Ok(())
}
