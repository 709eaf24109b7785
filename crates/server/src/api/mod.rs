//! Route groups. Each module has `routes()` returning its part of the router.
pub mod alertmanager;
pub mod alerts;
pub mod checks;
pub mod errors;
pub mod health;
pub mod kpis;
pub mod ops;
pub mod otlp;
pub mod params;
pub mod query;
pub mod read;
pub mod sentry;
pub mod status;
pub mod status_page;
pub mod targets;
pub mod write;
