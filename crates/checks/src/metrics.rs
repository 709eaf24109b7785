//! Series for the metric store. The caller appends them; nothing here is a registry.
//!
//! Per probe ([`to_series`]), labelled `check`, `type` and the check's own `labels`:
//!
//! | series                            | value                                                   |
//! |-----------------------------------|---------------------------------------------------------|
//! | `strix_check_up`                  | 1 if the probe succeeded, else 0                        |
//! | `strix_check_duration_seconds`    | probe latency                                           |
//! | `strix_check_status`              | the check's status: 0 unknown, 1 healthy, 2 degraded, 3 unhealthy |
//! | `strix_check_tls_expiry_seconds`  | seconds until the certificate's `notAfter` (tls only; negative once expired) |
//!
//! Per breaker ([`breaker_series`]): `strix_check_circuit_breaker_state` (0 closed,
//! 1 half-open, 2 open). The scheduler's own series (`strix_checks_total`,
//! `strix_check_schedule_drift_seconds`) come from [`crate::SchedulerMetrics::to_series`].

use std::collections::BTreeMap;

use strix_core::storage::TimeSeries;
use strix_core::{Labels, LabelsBuilder, Sample, Timestamp, METRIC_NAME};

use crate::breaker::BreakerState;
use crate::config::CheckType;
use crate::probe::ProbeResult;
use crate::state::CheckStatus;

pub const CHECK_UP: &str = "strix_check_up";
pub const CHECK_DURATION_SECONDS: &str = "strix_check_duration_seconds";
pub const CHECK_STATUS: &str = "strix_check_status";
pub const CHECK_TLS_EXPIRY_SECONDS: &str = "strix_check_tls_expiry_seconds";
pub const CHECK_CIRCUIT_BREAKER_STATE: &str = "strix_check_circuit_breaker_state";
pub const CHECKS_TOTAL: &str = "strix_checks_total";
pub const CHECK_SCHEDULE_DRIFT_SECONDS: &str = "strix_check_schedule_drift_seconds";
/// Checks defined, by `source` (`config`, `api`).
pub const CHECK_DEFINITIONS: &str = "strix_check_definitions";
/// `check_settings.max_api_checks`.
pub const CHECK_DEFINITIONS_LIMIT: &str = "strix_check_definitions_limit";
/// Checks refused through the admin API because `max_api_checks` was reached.
pub const CHECK_DEFINITIONS_REFUSED_TOTAL: &str = "strix_check_definitions_refused_total";

pub(crate) fn labels(
    name: &str,
    extra: &[(&str, &str)],
    check_labels: &BTreeMap<String, String>,
) -> Labels {
    let mut b = LabelsBuilder::new();
    for (k, v) in check_labels {
        b.set(k.as_str(), v.as_str());
    }
    for (k, v) in extra {
        b.set(*k, *v);
    }
    b.set(METRIC_NAME, name);
    b.build()
}

fn one(
    name: &str,
    extra: &[(&str, &str)],
    check_labels: &BTreeMap<String, String>,
    now: Timestamp,
    v: f64,
) -> TimeSeries {
    TimeSeries {
        labels: labels(name, extra, check_labels),
        samples: vec![Sample::new(now, v)],
    }
}

/// The series of one probe result and the check's status after it.
pub fn to_series(
    check: &str,
    check_type: CheckType,
    result: &ProbeResult,
    status: CheckStatus,
    check_labels: &BTreeMap<String, String>,
    now: Timestamp,
) -> Vec<TimeSeries> {
    let extra = [("check", check), ("type", check_type.as_str())];
    let mut out = vec![
        one(
            CHECK_UP,
            &extra,
            check_labels,
            now,
            if result.ok { 1.0 } else { 0.0 },
        ),
        one(
            CHECK_DURATION_SECONDS,
            &extra,
            check_labels,
            now,
            result.latency.as_secs_f64(),
        ),
        one(CHECK_STATUS, &extra, check_labels, now, status.as_metric()),
    ];
    if let Some(not_after) = result.detail.cert_not_after {
        let secs = (not_after - now) as f64 / 1000.0;
        out.push(one(
            CHECK_TLS_EXPIRY_SECONDS,
            &extra,
            check_labels,
            now,
            secs,
        ));
    }
    out
}

/// The breaker state series of a check.
pub fn breaker_series(
    check: &str,
    state: BreakerState,
    check_labels: &BTreeMap<String, String>,
    now: Timestamp,
) -> TimeSeries {
    one(
        CHECK_CIRCUIT_BREAKER_STATE,
        &[("check", check)],
        check_labels,
        now,
        state.as_metric(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeDetail;
    use std::time::Duration;

    #[test]
    fn series_names_and_values() {
        let r = ProbeResult::success(
            Duration::from_millis(250),
            ProbeDetail {
                cert_not_after: Some(10_000 + 86_400_000),
                ..Default::default()
            },
        );
        let labels = BTreeMap::from([("team".to_string(), "core".to_string())]);
        let s = to_series(
            "api",
            CheckType::Tls,
            &r,
            CheckStatus::Healthy,
            &labels,
            10_000,
        );
        assert_eq!(s.len(), 4);
        let get = |n: &str| {
            s.iter()
                .find(|t| t.labels.metric_name() == Some(n))
                .unwrap()
        };
        assert_eq!(get(CHECK_UP).samples[0].v, 1.0);
        assert_eq!(get(CHECK_DURATION_SECONDS).samples[0].v, 0.25);
        assert_eq!(get(CHECK_STATUS).samples[0].v, 1.0);
        assert_eq!(get(CHECK_TLS_EXPIRY_SECONDS).samples[0].v, 86_400.0);
        let l = &get(CHECK_UP).labels;
        assert_eq!(
            (l.get("check"), l.get("type"), l.get("team")),
            (Some("api"), Some("tls"), Some("core"))
        );
        assert_eq!(get(CHECK_UP).samples[0].t, 10_000);
        let b = breaker_series("api", BreakerState::Open, &labels, 5);
        assert_eq!(b.samples[0].v, 2.0);
    }
}
