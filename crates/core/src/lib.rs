//! Types shared by every Strix crate.
//!
//! - [`Labels`]: a series identity, a set of label pairs sorted by name, `__name__` included.
//! - [`Sample`]: a float value at a millisecond timestamp; Prometheus stale markers are the
//!   special NaN [`STALE_NAN`] and are kept bit for bit.
//! - [`Matcher`]: `=`, `!=`, `=~`, `!~` with Prometheus semantics (regexes fully anchored).
//! - [`ErrorClass`]: the transport-free classification every crate's error maps to.
//! - [`storage`]: the `Appendable` / `Queryable` traits the engine implements and the
//!   upper layers consume, so they never depend on engine types.
//! - [`events`]: the live event bus the dashboard's server-sent events read.
//! - [`duration`] / [`bytesize`]: parsing of `500ms`, `10s`, `5m`, `30d` and `64MiB`.
//!
//! This crate depends on no other Strix crate.
#![forbid(unsafe_code)]

pub mod bytesize;
pub mod duration;
mod error_class;
pub mod events;
mod labels;
mod matcher;
mod sample;
pub mod storage;

pub use error_class::ErrorClass;
pub use labels::{hash_pairs, Label, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use sample::{is_stale_nan, Sample, STALE_NAN};

/// Milliseconds since the Unix epoch, the only timestamp unit inside Strix.
pub type Timestamp = i64;

/// The current wall-clock time in milliseconds since the Unix epoch.
pub fn now_millis() -> Timestamp {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as Timestamp,
        Err(_) => 0,
    }
}
