//! Strix ingest: decoders from wire formats to [`strix_core::storage::TimeSeries`], and
//! the export encoders that mirror them.
//!
//! The crate is split the way VictoriaMetrics splits `lib/protoparser`:
//!
//! - **Limits** ([`limits`]): the one place that turns a request body into bytes a parser
//!   may read. [`limits::decompress`] handles `identity`, `gzip`, `deflate`, `br`, `zstd`,
//!   `snappy` and `x-snappy-framed` with [`DecodeLimits`] enforced: the received size is checked first,
//!   and every decompressor stops one byte past `max_decompressed_bytes` (snappy block
//!   checks the declared length before allocating), so a bomb is a
//!   [`DecodeError::TooLarge`], not an out-of-memory.
//! - **Parsers**: pure functions from in-memory bytes to series, no I/O and no HTTP:
//!   [`remote_write::decode_write_request`] (Prometheus remote_write 1.0),
//!   [`text::parse_text`] / [`text::parse_openmetrics`] (exposition formats, also used
//!   by the scraper), [`jsonl::parse_jsonl`] (VictoriaMetrics import) and
//!   [`json_push::parse_json_push`] (Strix JSON push).
//! - **Encoders** append into a caller-owned `Vec<u8>`: [`jsonl::encode_jsonl_series`],
//!   [`jsonl::encode_csv_series`], [`text::encode_text_series`].
//!
//! Decoders check what only they can see (UTF-8, duplicate and empty label names, syntax)
//! and sort labels; metric and label name rules, series limits and timestamps are the
//! engine's to judge. Every failure is a [`DecodeError`] whose [`DecodeError::class`]
//! tells the HTTP layer which status to answer.
//!
//! ```
//! use strix_ingest::{limits, text, ContentEncoding, DecodeLimits};
//!
//! let body = b"# TYPE up gauge\nup{job=\"api\"} 1 1700000000000\n";
//! let bytes = limits::decompress(ContentEncoding::parse(None)?, body, &DecodeLimits::default())?;
//! let parsed = text::parse_text(std::str::from_utf8(&bytes).map_err(|e| e.to_string())?, 0)?;
//! assert_eq!(parsed.series[0].labels.get("job"), Some("api"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod error;
pub mod json_push;
pub mod jsonl;
pub mod limits;
mod metadata;
pub mod remote_write;
mod series;
pub mod text;

pub use error::DecodeError;
pub use limits::{decompress, ContentEncoding, DecodeLimits};
pub use metadata::Metadata;
pub mod otlp;
