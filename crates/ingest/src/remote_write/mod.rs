//! Prometheus remote_write 1.0: snappy-block-compressed protobuf `WriteRequest`.
//!
//! [`decode_write_request`] is the pure decoder (bytes in, series out); the HTTP handler
//! owns headers and status codes.
mod decode;
pub mod proto;

pub use crate::Metadata;
pub use decode::{decode_write_request, metric_type_name, DecodedWrite};
