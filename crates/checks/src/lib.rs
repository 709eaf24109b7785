//! Health checks for Strix: the domain core behind `checks:` in `strix.yaml`.
//!
//! What is here, and how it fits:
//!
//! - [`config`]: the `checks:` list as written ([`CheckConfig`], serde, unknown keys refused)
//!   and its validation into [`Check`] / [`CheckKind`], with errors naming the key
//!   (`checks[2].interval: must be positive`).
//! - [`probe`]: one probe per kind (`http`, `tcp`, `dns`, `tls`). [`Probe::run`] always returns
//!   a [`ProbeResult`] within the check's timeout: a hanging server is a failed probe, never a
//!   stuck task.
//! - [`state`]: the per-check state machine ([`CheckState`]: `retries` consecutive failures turn a
//!   check unhealthy, one success recovers it), the [`StateChange`] events it emits, and the pure
//!   computations over its history: incidents, uptime to the millisecond, SLA error budget, MTTR.
//! - [`breaker`]: a circuit breaker per check or dependency (closed → open → half-open → closed).
//! - [`heartbeat`]: jobs that report in (period + grace, or a cron schedule; start / fail pings).
//! - [`scheduler`]: runs probes on their intervals (spread start offsets, a concurrency limit,
//!   no drift), sends each [`ProbeOutcome`] on a channel and measures schedule drift.
//! - [`metrics`]: turns results into the series the caller appends to the metric store
//!   (`strix_check_up`, `strix_check_duration_seconds`, `strix_check_status`,
//!   `strix_check_tls_expiry_seconds`).
//!
//! Time is always passed in (a [`strix_core::Timestamp`] in milliseconds), so the state machine,
//! the breaker, heartbeats and the uptime figures are tested with a fake clock.
//!
//! - [`alerts`]: `CheckDown`, `CheckCertificateExpiry` and `CheckSlaBudgetBurn`, handed to
//!   the alerting pipeline through a [`CheckAlertSink`].
//! - [`settings`]: `check_settings:` (history retention, alerting, component thresholds).
//!
//! Not here: the storage of check history (strix-state, through [`ServiceHooks::store`]),
//! the HTTP API and the status page (strix-server), alert routing (strix-alerting). This
//! crate runs no server.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod breaker;
pub mod condition;
pub mod config;
mod error;
pub mod heartbeat;
pub mod metrics;
pub mod probe;
pub mod scheduler;
pub mod service;
pub mod settings;
pub mod state;
pub mod system;
mod uptime;

pub use alerts::{CheckAlert, CheckAlertSink};
pub use breaker::{BreakerConfig, BreakerState, BreakerTransition, CircuitBreaker};
pub use config::{validate_checks, Check, CheckConfig, CheckKind, CheckType, ConfigError};
pub use error::Error;
pub use heartbeat::{Heartbeat, HeartbeatResult, HeartbeatState, HeartbeatStatus, PingKind};
pub use probe::{Probe, ProbeContext, ProbeDetail, ProbeResult};
pub use scheduler::{ProbeOutcome, Scheduler, SchedulerHandle, SchedulerMetrics, SchedulerOptions};
pub use service::{
    CheckDefinition, CheckService, CheckServiceTasks, CheckSnapshot, CheckSource, PingError,
    ServiceHooks, WindowUptime,
};
pub use settings::{CheckSettings, ComponentThresholds};
pub use state::{CheckState, CheckStatus, Incident, StateChange, Uptime, UptimeWindow};
