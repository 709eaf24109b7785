//! Typed server options, built by the binary from `strix.yaml`.

use crate::auth::ApiKey;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Accepted API keys; empty means no authentication (loopback only).
    pub api_keys: Vec<ApiKey>,
    /// Maximum request body size in bytes (compressed, as received).
    pub max_body_bytes: usize,
    /// Maximum size of a body after decompression.
    pub max_decompressed_bytes: usize,
    /// Ingest requests per second allowed (0 = unlimited), with `ingest_burst`.
    pub ingest_rate: u32,
    pub ingest_burst: u32,
    /// Write requests processed at once; more are answered 429 with `Retry-After`.
    pub max_inflight_writes: usize,
    /// Read/query requests per second (0 = unlimited).
    pub read_rate: u32,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Maximum series returned by one export/series request (0 = unlimited).
    pub max_export_series: usize,
    /// PromQL engine limits (lookback delta, samples per query, per-query timeout).
    pub engine: strix_query::EngineOptions,
    /// Queries evaluated at once; more are answered 503 "too many concurrent queries".
    pub max_concurrent_queries: usize,
    /// The effective configuration as YAML, served at `/api/v1/status/config`.
    pub config_yaml: String,
    /// KPI thresholds whose status `GET /api/monitoring/kpis` reports.
    pub kpis: Vec<strix_rules::kpi::Kpi>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            api_keys: Vec::new(),
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 256 << 20,
            ingest_rate: 0,
            ingest_burst: 100,
            max_inflight_writes: 64,
            read_rate: 0,
            request_timeout: Duration::from_secs(120),
            max_export_series: 1_000_000,
            engine: strix_query::EngineOptions::default(),
            max_concurrent_queries: 20,
            config_yaml: String::new(),
            kpis: Vec::new(),
        }
    }
}
