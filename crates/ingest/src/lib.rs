//! Strix ingest: decoders from wire formats to [`strix_core::storage::TimeSeries`].
#![forbid(unsafe_code)]

pub mod remote_write;
