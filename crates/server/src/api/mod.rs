//! Route groups. Each module has `routes()` returning its part of the router.
pub mod ops;
pub mod params;
pub mod read;
pub mod write;
