//! Prometheus remote_write 1.0.
pub mod proto;
