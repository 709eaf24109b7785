//! Prometheus remote_write 1.0: snappy-block-compressed protobuf `WriteRequest`.
//!
//! [`decode_write_request`] is the pure decoder (bytes in, series out); the HTTP handler
//! owns headers and status codes.
mod decode;
pub mod proto;
mod scan;

pub use crate::Metadata;
pub use decode::{decode_write_request, decompress_write_request, metric_type_name, DecodedWrite};
pub use scan::{parse_write_request, DecodedWriteRef};
