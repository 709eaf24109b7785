//! Component health of Strix itself, as `/api/monitoring/health` and the dashboard report
//! it: storage, ingest, rule evaluation, notifier, metrics collector and system resources.
//!
//! Each component is `{"name", "status", "message", "details"}` with the statuses of the
//! runbooks: `healthy`, `degraded` (working, but a threshold of `check_settings.components`
//! is crossed), `unhealthy` (not doing its job), `unknown` (not running in this process).
//! Readings that scan (the storage engine's status, the self-metrics registry) are cached
//! for a second in [`components`], so a dashboard polling it stays cheap;
//! `/api/monitoring/health` reads the storage status fresh ([`components_fresh`]).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use strix_checks::system::{self, CpuMeter};
use strix_checks::{CheckStatus, ComponentThresholds};

use crate::router::AppState;

/// How long scanned readings are reused.
const CACHE_FOR: Duration = Duration::from_secs(1);

/// The component names, in report order.
pub const COMPONENTS: [&str; 6] = ["storage", "ingest", "rules", "notifier", "scrape", "system"];

#[derive(Default)]
struct Cache {
    /// Storage status per data directory.
    storage: HashMap<std::path::PathBuf, (Instant, strix_tsdb::DbStatus)>,
    /// Self-metrics text and when it was taken.
    metrics: Option<(Instant, String)>,
    /// Previous ingest refusal total, for the rate.
    refused: Option<(Instant, f64)>,
    refusal_rate: f64,
}

fn cache() -> MutexGuard<'static, Cache> {
    static C: OnceLock<Mutex<Cache>> = OnceLock::new();
    C.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn cpu() -> &'static CpuMeter {
    static M: OnceLock<CpuMeter> = OnceLock::new();
    M.get_or_init(CpuMeter::default)
}

fn thresholds(state: &AppState) -> ComponentThresholds {
    state
        .services
        .checks
        .as_ref()
        .map(|c| c.settings().components.clone())
        .unwrap_or_default()
}

fn component(name: &str, status: CheckStatus, message: impl Into<String>, details: Value) -> Value {
    json!({
        "name": name,
        "status": status.as_str(),
        "message": message.into(),
        "details": details,
    })
}

/// Every component, in [`COMPONENTS`] order, with the storage engine's status reused for
/// up to a second (for the dashboard, which many clients poll). Blocking (reads the disk
/// and `/proc`): call it on the blocking pool.
pub fn components(state: &AppState) -> Vec<Value> {
    components_with(state, false)
}

/// [`components`] with the storage engine's status read now (for
/// `/api/monitoring/health`, whose callers expect to see a flush or a failure at once).
pub fn components_fresh(state: &AppState) -> Vec<Value> {
    components_with(state, true)
}

fn components_with(state: &AppState, fresh: bool) -> Vec<Value> {
    let t = thresholds(state);
    let metrics = self_metrics(state);
    vec![
        storage(state, &t, fresh),
        ingest(&metrics, &t),
        rules(state, &t),
        notifier(state, &metrics, &t),
        scrape(state),
        system_resources(&t),
    ]
}

/// One component by name; `None` for an unknown name.
pub fn component_by_name(state: &AppState, name: &str) -> Option<Value> {
    if !COMPONENTS.contains(&name) {
        return None;
    }
    components_fresh(state)
        .into_iter()
        .find(|c| c["name"].as_str() == Some(name))
}

/// The status of a component JSON (`unknown` when missing).
pub fn status_of(c: &Value) -> CheckStatus {
    match c["status"].as_str() {
        Some("healthy") => CheckStatus::Healthy,
        Some("degraded") => CheckStatus::Degraded,
        Some("unhealthy") => CheckStatus::Unhealthy,
        _ => CheckStatus::Unknown,
    }
}

fn db_status(state: &AppState, fresh: bool) -> strix_tsdb::DbStatus {
    let dir = state.db.dir().to_path_buf();
    if !fresh {
        if let Some((at, s)) = cache().storage.get(&dir) {
            if at.elapsed() < CACHE_FOR {
                return s.clone();
            }
        }
    }
    let s = state.db.status();
    cache().storage.insert(dir, (Instant::now(), s.clone()));
    s
}

/// The storage component alone. Blocking.
pub fn storage_component(state: &AppState) -> Value {
    storage(state, &thresholds(state), true)
}

fn storage(state: &AppState, t: &ComponentThresholds, fresh: bool) -> Value {
    let s = db_status(state, fresh);
    let writable = state.db.is_writable();
    let disk = system::disk_usage(state.db.dir());
    let free = disk.as_ref().ok().map(|d| d.free_percent());
    let (status, message) = if s.wal_poisoned {
        (
            CheckStatus::Unhealthy,
            "write-ahead log failed; writes are refused".to_string(),
        )
    } else if !writable {
        (
            CheckStatus::Unhealthy,
            "storage is not writable".to_string(),
        )
    } else if free.is_some_and(|f| f < t.disk_free_critical_percent) {
        (
            CheckStatus::Unhealthy,
            format!(
                "data directory disk {:.1}% free (critical below {}%)",
                free.unwrap_or(0.0),
                t.disk_free_critical_percent
            ),
        )
    } else if let Some(e) = &s.last_compaction_error {
        (
            CheckStatus::Degraded,
            format!("last compaction failed: {e}"),
        )
    } else if free.is_some_and(|f| f < t.disk_free_percent) {
        (
            CheckStatus::Degraded,
            format!(
                "data directory disk {:.1}% free (below {}%)",
                free.unwrap_or(0.0),
                t.disk_free_percent
            ),
        )
    } else {
        (
            CheckStatus::Healthy,
            "accepting writes and queries".to_string(),
        )
    };
    component(
        "storage",
        status,
        message,
        json!({
            "writable": writable,
            "headSeries": s.head_series,
            "headChunks": s.head_chunks,
            "headMinTime": s.head_min_time,
            "headMaxTime": s.head_max_time,
            "blocks": s.blocks,
            "rollupBlocks": s.rollup_blocks,
            "blocksBytes": s.blocks_bytes,
            "walBytes": s.wal_bytes,
            "walPoisoned": s.wal_poisoned,
            "diskFreeBytes": disk.as_ref().ok().map(|d| d.free_bytes),
            "diskTotalBytes": disk.as_ref().ok().map(|d| d.total_bytes),
            "diskFreePercent": free,
            "diskError": disk.as_ref().err().map(|e| e.to_string()),
        }),
    )
}

/// The self-metrics registry as text, cached for a second.
fn self_metrics(state: &AppState) -> String {
    if let Some((at, text)) = &cache().metrics {
        if at.elapsed() < CACHE_FOR {
            return text.clone();
        }
    }
    let mut out = String::with_capacity(16 << 10);
    if prometheus_client::encoding::text::encode(&mut out, &state.registry).is_err() {
        out.clear();
    }
    cache().metrics = Some((Instant::now(), out.clone()));
    out
}

/// The sum of every series of metric `name` in exposition text, `None` if absent.
fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let value = match rest.strip_prefix('{') {
            Some(r) => r.rsplit_once('}').map(|(_, v)| v),
            None => Some(rest),
        };
        if let Some(v) = value
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
        {
            sum += v;
            found = true;
        }
    }
    found.then_some(sum)
}

fn ingest(metrics: &str, t: &ComponentThresholds) -> Value {
    let refused = metric_sum(metrics, "strix_ingest_requests_refused_total").unwrap_or(0.0);
    let samples = metric_sum(metrics, "strix_ingest_samples_total").unwrap_or(0.0);
    let rejected = metric_sum(metrics, "strix_ingest_rejected_samples_total").unwrap_or(0.0);
    let rate = {
        let mut c = cache();
        let now = Instant::now();
        match c.refused {
            Some((at, prev)) if now.duration_since(at) >= CACHE_FOR => {
                c.refusal_rate = (refused - prev).max(0.0) / now.duration_since(at).as_secs_f64();
                c.refused = Some((now, refused));
            }
            Some(_) => {}
            None => c.refused = Some((now, refused)),
        }
        c.refusal_rate
    };
    let (status, message) = if rate > t.ingest_refusals_per_second {
        (
            CheckStatus::Degraded,
            format!(
                "refusing {rate:.1} requests/s (above {}/s)",
                t.ingest_refusals_per_second
            ),
        )
    } else {
        (CheckStatus::Healthy, "accepting writes".to_string())
    };
    component(
        "ingest",
        status,
        message,
        json!({
            "samplesTotal": samples,
            "rejectedSamplesTotal": rejected,
            "refusedRequestsTotal": refused,
            "refusedPerSecond": rate,
        }),
    )
}

fn rules(state: &AppState, t: &ComponentThresholds) -> Value {
    let Some(rules) = &state.services.rules else {
        return component(
            "rules",
            CheckStatus::Unknown,
            "rule evaluation is not running",
            json!({}),
        );
    };
    let now = strix_core::now_millis();
    let groups = rules.groups();
    let mut max_lag_ms: i64 = 0;
    let mut lagging = Vec::new();
    for g in &groups {
        let interval = i64::try_from(g.interval.as_millis()).unwrap_or(i64::MAX);
        // Behind schedule: time since the last evaluation beyond one interval (a group
        // not evaluated yet is not late before its first interval has passed).
        let since = g
            .last_evaluation
            .map_or(state.started.elapsed().as_millis() as i64, |l| now - l);
        let lag = since.saturating_sub(interval).max(0);
        if lag > max_lag_ms {
            max_lag_ms = lag;
        }
        if Duration::from_millis(lag as u64) > t.evaluation_lag {
            lagging.push(g.group.name.clone());
        }
    }
    let (status, message) = if lagging.is_empty() {
        (
            CheckStatus::Healthy,
            format!("{} rule groups evaluating on schedule", groups.len()),
        )
    } else {
        (
            CheckStatus::Degraded,
            format!(
                "{} rule groups behind schedule by more than {}",
                lagging.len(),
                strix_core::duration::format(t.evaluation_lag)
            ),
        )
    };
    component(
        "rules",
        status,
        message,
        json!({
            "groups": groups.len(),
            "maxEvaluationLagMs": max_lag_ms,
            "lagging": lagging,
        }),
    )
}

fn notifier(state: &AppState, metrics: &str, t: &ComponentThresholds) -> Value {
    if state.services.alerts.is_none() {
        return component(
            "notifier",
            CheckStatus::Unknown,
            "the alerting pipeline is not running",
            json!({}),
        );
    }
    let pending = metric_sum(metrics, "strix_outbox_pending").unwrap_or(0.0);
    let failed = metric_sum(metrics, "strix_notifications_failed_total").unwrap_or(0.0);
    let sent = metric_sum(metrics, "strix_notifications_sent_total").unwrap_or(0.0);
    let dropped = metric_sum(metrics, "strix_notifications_dropped_total").unwrap_or(0.0);
    let (status, message) = if pending > t.outbox_pending as f64 {
        (
            CheckStatus::Degraded,
            format!(
                "{pending} notifications waiting (above {})",
                t.outbox_pending
            ),
        )
    } else {
        (
            CheckStatus::Healthy,
            format!("{pending} notifications waiting"),
        )
    };
    component(
        "notifier",
        status,
        message,
        json!({
            "queueDepth": pending,
            "sentTotal": sent,
            "failedTotal": failed,
            "droppedTotal": dropped,
        }),
    )
}

fn scrape(state: &AppState) -> Value {
    let Some(scrape) = &state.services.scrape else {
        return component(
            "scrape",
            CheckStatus::Unknown,
            "the metrics collector is not running",
            json!({}),
        );
    };
    let targets = scrape.targets();
    let up = targets.iter().filter(|t| t.health == "up").count();
    let down: Vec<String> = targets
        .iter()
        .filter(|t| t.health == "down")
        .map(|t| t.scrape_url.clone())
        .collect();
    let status = if targets.is_empty() || down.is_empty() {
        CheckStatus::Healthy
    } else if up == 0 {
        CheckStatus::Unhealthy
    } else {
        CheckStatus::Degraded
    };
    component(
        "scrape",
        status,
        format!("{up} of {} targets up", targets.len()),
        json!({"targets": targets.len(), "up": up, "down": down}),
    )
}

fn system_resources(t: &ComponentThresholds) -> Value {
    let mem = system::memory();
    let cpu = cpu().busy_percent();
    let rss = system::process_rss();
    let mem_used = mem.map(|m| m.used_percent());
    let mut problems = Vec::new();
    if let Some(m) = mem_used.filter(|m| *m > t.memory_percent) {
        problems.push(format!("memory {m:.1}% used (above {}%)", t.memory_percent));
    }
    if let Some(c) = cpu.filter(|c| *c > t.cpu_percent) {
        problems.push(format!("CPU {c:.1}% busy (above {}%)", t.cpu_percent));
    }
    let (status, message) = if !problems.is_empty() {
        (CheckStatus::Degraded, problems.join("; "))
    } else if mem.is_none() && cpu.is_none() {
        (
            CheckStatus::Unknown,
            "no resource readings on this platform".to_string(),
        )
    } else {
        (CheckStatus::Healthy, "within thresholds".to_string())
    };
    component(
        "system",
        status,
        message,
        json!({
            "memoryTotalBytes": mem.map(|m| m.total_bytes),
            "memoryAvailableBytes": mem.map(|m| m.available_bytes),
            "memoryUsedPercent": mem_used,
            "cpuBusyPercent": cpu,
            "processResidentBytes": rss,
            "thresholds": {
                "memoryPercent": t.memory_percent,
                "cpuPercent": t.cpu_percent,
                "diskFreePercent": t.disk_free_percent,
                "diskFreeCriticalPercent": t.disk_free_critical_percent,
            },
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_metric_series() {
        let text = "# HELP x y\nstrix_outbox_pending 3\nstrix_outbox_pending_other 9\n\
                    strix_ingest_requests_refused_total{protocol=\"a\",reason=\"b c\"} 2\n\
                    strix_ingest_requests_refused_total{protocol=\"d\"} 5 1700000000\n";
        assert_eq!(metric_sum(text, "strix_outbox_pending"), Some(3.0));
        assert_eq!(
            metric_sum(text, "strix_ingest_requests_refused_total"),
            Some(7.0)
        );
        assert_eq!(metric_sum(text, "strix_missing"), None);
    }
}
