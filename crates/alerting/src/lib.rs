//! Strix alerting.
//!
//! - [`routing`]: Alertmanager's configuration format, the routing tree, grouping,
//!   inhibition, silences and time intervals.
//! - [`channels`]: notification channels (webhook, Slack, PagerDuty, e-mail, Teams,
//!   Discord, SMS) with timeouts and retries.
#![forbid(unsafe_code)]

pub mod channels;
pub mod routing;
