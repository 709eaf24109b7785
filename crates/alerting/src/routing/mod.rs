//! Alertmanager configuration, routing, grouping, inhibition, silences, time intervals,
//! plus Strix' escalation policies and per-receiver rate limits.
//!
//! Everything here is pure and deterministic: time is an argument (milliseconds since
//! the epoch), there are no threads and no I/O. The notification pipeline composes it:
//!
//! 1. [`config::AlertmanagerConfig::load`] parses the `alertmanager:` section and
//!    validates it into a [`config::RoutingConfig`] (errors name the key path);
//! 2. [`group::Dispatcher::insert`] routes each alert ([`route::RouteTree::match_routes`])
//!    into aggregation groups;
//! 3. [`group::Dispatcher::due_filtered`] at [`group::Dispatcher::next_wakeup`] yields
//!    notifications, leaving out alerts muted by [`silence::SilenceSet`] or
//!    [`inhibit::Inhibitor`] (route time intervals are applied inside);
//! 4. [`ratelimit::RateLimit::decide`] and [`escalation::EscalationPolicies::plan`] are
//!    consulted by the outbox and the escalation timers in the state layer.
//!
//! Channels consume the receiver configs in [`config`] (`WebhookConfig`, `SlackConfig`,
//! ...), with global defaults already filled in.

pub mod config;
pub mod escalation;
pub mod group;
pub mod inhibit;
pub mod matchers;
pub mod ratelimit;
pub mod route;
pub mod silence;
pub mod timeinterval;

pub use config::{AlertmanagerConfig, ConfigError, ConfigErrors, RoutingConfig};
pub use group::{AlertInput, AlertStatus, Dispatcher, Notification, Trigger};
pub use route::{RouteRef, RouteTree};
