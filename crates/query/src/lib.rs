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
//! - `quantile`, `quantile_over_time` and `mad_over_time` rank NaN below every number, as
//!   Prometheus does (its sort treats a NaN left operand as "less"). `topk`/`bottomk`
//!   rank NaN last and select with Prometheus 3's heap (overwrite the top, then fix), so
//!   ties pick the same series; Prometheus 2.x popped and pushed instead and may pick a
//!   different one of equal values. `sort`/`sort_desc` put NaN last.
//! - Invalid arguments to `label_replace`/`label_join` (a bad regular expression, an empty
//!   label name) are evaluation errors (`execution`, HTTP 422), not `bad_data`.
//!
//! # Rollup reads
//!
//! `sum_over_time`, `count_over_time`, `avg_over_time`, `min_over_time`,
//! `max_over_time`, `last_over_time`, `rate` and `increase` applied directly to a matrix
//! selector read [`strix_core::storage::Queryable::select_rollup`] instead of raw samples
//! when every window `(te - range, te]` (with `te = (@ or step time) - offset`) starts
//! and ends on a bucket boundary of a tier `T` (1h, else 5m; the coarsest that fits):
//!
//! - `range` is a multiple of `T`;
//! - the first window end `start - offset` (or `@ - offset`) is a multiple of `T`;
//! - the step is a multiple of `T`, unless there is a single window (an instant query,
//!   or `@`).
//!
//! Anything else (subqueries, other functions, a misaligned start, step, range or
//! offset) reads raw samples. There is no switch: [`EngineOptions`] is unchanged.
//!
//! A window is then answered by the `range / T` buckets `[end - T, end)` with ends in
//! `(te - range, te]`, i.e. by `[te - range, te)`. Tolerance against raw evaluation:
//!
//! - Window edges: a sample whose timestamp is exactly a multiple of `T` is attributed to
//!   the window that starts at it rather than the one that ends at it. Scraped and
//!   remote-written data practically never sits on the millisecond boundary; apart from
//!   such samples the rules below hold.
//! - `count_over_time`, `min_over_time`, `max_over_time`, `last_over_time`: identical to
//!   raw evaluation (the same NaN and stale-marker rules: stale markers are dropped, NaN
//!   is counted, `min`/`max` ignore NaN unless every value is NaN).
//! - `sum_over_time`, `avg_over_time`: identical up to floating-point rounding, because
//!   bucket sums are added first (compensated across buckets); exact whenever the partial
//!   sums are exactly representable (e.g. integer data). A sum that overflows to ±Inf
//!   inside a bucket stays infinite, where raw `avg_over_time` switches to an incremental
//!   mean.
//! - `rate`, `increase`: the counter-corrected increase is exact (bucket increases plus
//!   the step from each bucket's `last` to the next bucket's `first`, a drop counting as
//!   a reset). Prometheus' extrapolation needs the first and last sample times, which
//!   rollups do not keep: they are estimated from the bucket counts, assuming samples at
//!   a regular interval (measured over the inner buckets). For a regularly sampled series
//!   the estimated sampled duration is exact, so results match up to rounding. With
//!   irregular timestamps, or a series starting/stopping inside the window, the relative
//!   difference is bounded by `2 × (largest sample interval at the window edges) /
//!   range`: e.g. 0.8 % for a 15 s interval and `[1h]`, 0.035 % for `[1d]` (the tests
//!   check this on jittered data with resets and a gap). NaN values in a counter are
//!   skipped (the increase is taken between numbers), where raw evaluation propagates
//!   them. Because the bound shrinks with the number of buckets, rollups serve
//!   `rate`/`increase` only for windows of at least 12 buckets (≥ 1h on the 5m tier,
//!   ≥ 12h on the 1h tier), keeping the difference under 2/12 of one sample interval's
//!   share of the window; shorter windows (such as `rate(x[5m])` in alert rules) always
//!   read raw samples.
#![forbid(unsafe_code)]

mod aggregate;
mod api;
mod binary;
mod eval;
mod functions;
mod rollup;
mod selectors;
mod subquery;
mod value;

pub use api::*;
