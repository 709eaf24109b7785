//! Alerts raised by checks, handed to the alerting pipeline through [`CheckAlertSink`]
//! (the binary connects it to the pipeline, as it does for rule evaluation).
//!
//! - `CheckDown` while a check is `unhealthy` (severity: the check's `severity` label, else
//!   `critical`); it starts when the check turned unhealthy and resolves on recovery.
//! - `CheckCertificateExpiry` while a `tls` check's certificate has fewer than `warn_days`
//!   left (`warning`) or fewer than `critical_days` (`critical`).
//! - `CheckSlaBudgetBurn` while the 30-day error budget left is below
//!   `check_settings.sla_alert_below` (`warning`).
//!
//! Labels: `alertname`, `check`, `type`, `severity`, plus the check's own labels. Firing
//! alerts are re-sent every `alert_resend` with an end four re-sends ahead, so they also
//! resolve on their own if Strix stops sending; a condition that ends is sent once with its
//! end time (resolved).

use std::collections::BTreeMap;

use strix_core::Timestamp;

/// One alert from a check, firing or resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// When the condition began, ms.
    pub starts_at: Timestamp,
    /// For a resolved alert, when it ended; for a firing one, when it lapses unless re-sent.
    pub ends_at: Option<Timestamp>,
    pub resolved: bool,
}

impl CheckAlert {
    /// The alert's name label.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

/// Where check alerts go. Implementations must not block on I/O.
pub trait CheckAlertSink: Send + Sync {
    fn send(&self, alerts: Vec<CheckAlert>);
}

pub const CHECK_DOWN: &str = "CheckDown";
pub const CERTIFICATE_EXPIRY: &str = "CheckCertificateExpiry";
pub const SLA_BUDGET_BURN: &str = "CheckSlaBudgetBurn";
