//! The Strix HTTP server: one axum router over the storage engine and the decoders.
//!
//! Handlers are thin: extract and validate input, call one domain method (run on the
//! blocking pool when it touches disk), convert the result. Routes live per API group in
//! `api/`; [`router::build`] merges them and applies auth, limits and request metrics in
//! one place; [`error`] is the only place where errors become status codes.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod error;
pub mod metadata;
pub mod metrics;
pub mod options;
pub mod router;
mod selector;

pub use options::ServerOptions;
pub use router::{build as build_router, AppState, Services};

/// The version reported by the API and `strix --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
