//! Strix alerting.
//!
//! - [`routing`]: Alertmanager's configuration format, the routing tree, grouping,
//!   inhibition, silences and time intervals.
//! - [`channels`]: notification channels (webhook, Slack, PagerDuty, e-mail, Teams,
//!   Discord, SMS) with timeouts and retries.
//! - [`pipeline`]: the running alerting pipeline: ingest, state, grouping, silences,
//!   inhibition, rate limits, the durable outbox and its delivery workers, escalation.
#![forbid(unsafe_code)]

pub mod channels;
pub mod pipeline;
pub mod routing;
