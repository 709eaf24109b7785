//! The engine's public surface. The HTTP layer depends only on these items.

use std::time::Duration;
use strix_core::storage::{Queryable, SeriesSamples};
use strix_core::{ErrorClass, Labels, Timestamp};

/// Engine limits and semantics.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the latest sample (Prometheus: 5m).
    pub lookback_delta: Duration,
    /// Maximum samples loaded at once by one query.
    pub max_samples: usize,
    /// Per-query time limit.
    pub timeout: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
        }
    }
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t: Timestamp,
    pub v: f64,
}

/// A query result, shaped like Prometheus' `resultType`s.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Scalar { t: Timestamp, v: f64 },
    String { t: Timestamp, s: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<SeriesSamples>),
}

/// Query failures with Prometheus' error types.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// Syntax or type error in the query, or bad parameters (`bad_data`).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed (`execution`), e.g. too many samples, duplicate series.
    #[error("{0}")]
    Execution(String),
    /// The query exceeded its time limit (`timeout`).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The storage failed (`internal` / `unavailable`).
    #[error("{0}")]
    Storage(#[from] strix_core::storage::StorageError),
}

impl QueryError {
    pub fn class(&self) -> ErrorClass {
        match self {
            QueryError::BadData(_) => ErrorClass::BadInput,
            QueryError::Execution(_) => ErrorClass::Internal,
            QueryError::Timeout(_) => ErrorClass::Timeout,
            QueryError::Storage(e) => e.class,
        }
    }

    /// Prometheus' `errorType` for this error.
    pub fn prometheus_type(&self) -> &'static str {
        match self {
            QueryError::BadData(_) => "bad_data",
            QueryError::Execution(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Storage(e) if e.class == ErrorClass::Unavailable => "unavailable",
            QueryError::Storage(_) => "internal",
        }
    }
}

/// The PromQL engine. Cheap to share (`Send + Sync`).
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// Evaluates `query` at `time`. Returns Scalar, String or Vector.
    pub fn instant_query(
        &self,
        _store: &dyn Queryable,
        _query: &str,
        _time: Timestamp,
    ) -> Result<QueryValue, QueryError> {
        crate::eval::instant_query(&self.opts, _store, _query, _time)
    }

    /// Parses a PromQL expression once, for callers that evaluate it many times
    /// ([`Engine::instant_query_expr`]).
    pub fn parse(&self, query: &str) -> Result<promql_parser::parser::Expr, QueryError> {
        promql_parser::parser::parse(query).map_err(QueryError::BadData)
    }

    /// [`Engine::instant_query`] for an expression parsed beforehand: rule evaluation
    /// parses each rule once at load instead of at every evaluation.
    pub fn instant_query_expr(
        &self,
        store: &dyn Queryable,
        expr: &promql_parser::parser::Expr,
        time: Timestamp,
    ) -> Result<QueryValue, QueryError> {
        crate::eval::instant_query_parsed(&self.opts, store, expr, time, true)
    }

    /// Evaluates `query` at every step in `[start, end]`. Returns Matrix (a scalar or
    /// vector expression becomes one series per result label set).
    pub fn range_query(
        &self,
        _store: &dyn Queryable,
        _query: &str,
        _start: Timestamp,
        _end: Timestamp,
        _step_ms: i64,
    ) -> Result<QueryValue, QueryError> {
        crate::eval::range_query(&self.opts, _store, _query, _start, _end, _step_ms)
    }
}
