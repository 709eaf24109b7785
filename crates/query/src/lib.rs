//! PromQL for Strix: the `promql-parser` crate parses, this crate evaluates over any
//! [`strix_core::storage::Queryable`] (the local engine, a test fixture, a remote store).
//!
//! # How evaluation works
//!
//! Like Prometheus' engine, every AST node is evaluated once over the whole step grid
//! of the query (an instant query is a grid of one step): an instant-vector node yields
//! series with at most one point per step, a scalar node one value per step. Each
//! selector therefore reads storage once, for `[first step - offset - range/lookback,
//! last step - offset]`, and windows are then cut from memory with sliding cursors.
//! Subqueries evaluate their inner expression once on a grid aligned to absolute
//! multiples of their step.
//!
//! # Semantics (Prometheus 3)
//!
//! - Instant selectors take the latest sample in `(t - lookback, t]`; a stale marker as
//!   the latest sample means "no value". Range selectors take `(t - range, t]` without
//!   stale markers (left-open windows, also for subqueries).
//! - Subqueries without a step use the default global evaluation interval (1m).
//! - Functions and arithmetic drop `__name__`, except `last_over_time`,
//!   `first_over_time`, `label_replace`, `label_join` and the `sort*` functions;
//!   comparisons without `bool` filter and keep it.
//! - Range query results are sorted by labels; instant vector results too, except for
//!   `sort*`, `topk` and `bottomk` at the top level, whose order is kept.
//! - Native histograms, `fill*` modifiers, `info()` and the `histogram_*` functions
//!   other than `histogram_quantile` over classic buckets are not supported.
//! - `limit_ratio` picks series by a hash of their labels, as Prometheus does, but with
//!   a different hash function, so the chosen subset differs from Prometheus'.
//! - Rollup tiers ([`strix_core::storage::RollupTier`]) are not used yet: every query
//!   reads raw samples.
#![forbid(unsafe_code)]

mod aggregate;
mod api;
mod binary;
mod eval;
mod functions;
mod selectors;
mod subquery;
mod value;

pub use api::*;
