//! `check_settings:` in `strix.yaml`: how long check history is kept, how check alerts are
//! raised, and the thresholds of Strix' own component health. Every key is optional.
//!
//! ```yaml
//! check_settings:
//!   history_retention: 400d     # status changes older than this are pruned (≥ 90d)
//!   alerts: true                # CheckDown, CheckCertificateExpiry, CheckSlaBudgetBurn
//!   alert_resend: 1m            # firing check alerts are re-sent this often
//!   sla_alert_below: 0          # 30-day error budget left (ratio) under which to alert
//!   max_api_checks: 1000        # checks the admin API may define (0: none)
//!   components:
//!     memory_percent: 90        # used memory of the host, degraded above
//!     cpu_percent: 90           # host CPU busy, degraded above
//!     disk_free_percent: 10     # free space of the data directory, degraded below
//!     disk_free_critical_percent: 5   # unhealthy below
//!     evaluation_lag: 1m        # rule evaluation behind schedule, degraded above
//!     outbox_pending: 1000      # notifications waiting, degraded above
//!     ingest_refusals_per_second: 1   # refused ingest requests, degraded above
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::state::UptimeWindow;

/// Serde for `Duration` written as `90s`, `5m`, `400d`.
mod duration {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&strix_core::duration::format(*d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        strix_core::duration::parse(&s).map_err(D::Error::custom)
    }
}

/// `check_settings:` as written, with defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckSettings {
    /// Check status changes older than this are deleted (hourly). At least 90 days, the
    /// longest uptime window.
    #[serde(with = "duration")]
    pub history_retention: Duration,
    /// Raise alerts through the alerting pipeline on check state, TLS expiry and SLA budget.
    pub alerts: bool,
    /// How often firing check alerts are re-sent (they resolve on their own after four
    /// missed re-sends, e.g. when Strix stops).
    #[serde(with = "duration")]
    pub alert_resend: Duration,
    /// `CheckSlaBudgetBurn` fires while the 30-day error budget left (1 untouched, 0 spent,
    /// negative overspent) is below this.
    pub sla_alert_below: f64,
    /// Most checks defined through the admin API (0 turns creating them off). Beyond it a
    /// create is refused and counted in `strix_check_definitions_refused_total`.
    pub max_api_checks: usize,
    /// Thresholds of Strix' own component health.
    pub components: ComponentThresholds,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            history_retention: Duration::from_secs(400 * 86_400),
            alerts: true,
            alert_resend: Duration::from_secs(60),
            sla_alert_below: 0.0,
            max_api_checks: 1000,
            components: ComponentThresholds::default(),
        }
    }
}

/// Thresholds of `/api/monitoring/health` components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComponentThresholds {
    /// Host memory in use, percent; degraded above.
    pub memory_percent: f64,
    /// Host CPU busy, percent; degraded above.
    pub cpu_percent: f64,
    /// Free space of the data directory's file system, percent; degraded below.
    pub disk_free_percent: f64,
    /// Free space, percent; unhealthy below.
    pub disk_free_critical_percent: f64,
    /// Rule evaluation running behind its schedule by more than this: degraded.
    #[serde(with = "duration")]
    pub evaluation_lag: Duration,
    /// Notifications waiting in the outbox; degraded above.
    pub outbox_pending: u64,
    /// Ingest requests refused (limits, bad input) per second; degraded above.
    pub ingest_refusals_per_second: f64,
}

impl Default for ComponentThresholds {
    fn default() -> Self {
        ComponentThresholds {
            memory_percent: 90.0,
            cpu_percent: 90.0,
            disk_free_percent: 10.0,
            disk_free_critical_percent: 5.0,
            evaluation_lag: Duration::from_secs(60),
            outbox_pending: 1000,
            ingest_refusals_per_second: 1.0,
        }
    }
}

impl CheckSettings {
    /// Checks the values; errors name the key under `check_settings`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let k = |s: &str| format!("check_settings.{s}");
        if self.history_retention < Duration::from_millis(UptimeWindow::Quarter.millis() as u64) {
            return Err(ConfigError::new(
                k("history_retention"),
                "must be at least 90d (the longest uptime window)",
            ));
        }
        if self.alert_resend < Duration::from_secs(1) {
            return Err(ConfigError::new(k("alert_resend"), "must be at least 1s"));
        }
        if !self.sla_alert_below.is_finite() || self.sla_alert_below > 1.0 {
            return Err(ConfigError::new(
                k("sla_alert_below"),
                "must be a finite ratio of at most 1",
            ));
        }
        let c = &self.components;
        for (key, v) in [
            ("components.memory_percent", c.memory_percent),
            ("components.cpu_percent", c.cpu_percent),
            ("components.disk_free_percent", c.disk_free_percent),
            (
                "components.disk_free_critical_percent",
                c.disk_free_critical_percent,
            ),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return Err(ConfigError::new(k(key), "must be a percentage (0 to 100)"));
            }
        }
        if c.disk_free_critical_percent > c.disk_free_percent {
            return Err(ConfigError::new(
                k("components.disk_free_critical_percent"),
                "must not exceed disk_free_percent",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_errors_name_the_key() {
        let s: CheckSettings = serde_yaml::from_str("{}").unwrap_or_default();
        assert_eq!(s, CheckSettings::default());
        assert!(s.validate().is_ok());
        let s: CheckSettings =
            serde_yaml::from_str("history_retention: 120d\ncomponents: {cpu_percent: 75}\n")
                .unwrap_or_default();
        assert_eq!(s.history_retention, Duration::from_secs(120 * 86_400));
        assert_eq!(s.components.cpu_percent, 75.0);
        let short: CheckSettings =
            serde_yaml::from_str("history_retention: 30d\n").unwrap_or_default();
        let e = short.validate().map_err(|e| e.to_string()).err();
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("check_settings.history_retention")),
            "{e:?}"
        );
        assert!(serde_yaml::from_str::<CheckSettings>("retention: 1d\n").is_err());
    }
}
