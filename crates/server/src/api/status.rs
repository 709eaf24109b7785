//! `/api/v1/status/*` in Prometheus' shapes: runtime info, configuration, flags and
//! TSDB statistics. (Build info is an open route in `ops.rs`.)

use super::params::Params;
use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};
use strix_core::storage::Queryable;
use strix_core::{ErrorClass, Matcher};

const ENV: Envelope = Envelope::Prometheus;

/// Metric names beyond this many are not counted one by one in `/status/tsdb`.
const MAX_NAMES_COUNTED: usize = 10_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/status/runtimeinfo", get(runtimeinfo))
        .route("/api/v1/status/config", get(config))
        .route("/api/v1/status/flags", get(flags))
        .route("/api/v1/status/tsdb", get(tsdb))
}

fn ok(data: Value) -> Json<Value> {
    Json(json!({"status": "success", "data": data}))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            ErrorClass::Internal,
            format!("status task failed: {e}"),
            ENV,
        )
    })?
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A duration as Prometheus' `model.Duration` prints it: `15d`, `1w`, `1h30m`, `0s`
/// (years and weeks only when they divide the whole duration: `90d`, not `12w6d`).
pub fn prom_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    const UNITS: [(&str, u128, bool); 7] = [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1_000, false),
        ("ms", 1, false),
    ];
    let mut out = String::new();
    for (u, n, exact) in UNITS {
        if exact && !ms.is_multiple_of(n) {
            continue;
        }
        if ms >= n {
            out.push_str(&format!("{}{u}", ms / n));
            ms %= n;
        }
    }
    out
}

/// Threads of this process (Prometheus reports goroutines), from /proc on Linux.
fn thread_count() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Threads:")
                    .and_then(|n| n.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// `GET /api/v1/status/runtimeinfo`.
async fn runtimeinfo(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    let retention = {
        let o = state.db.options();
        let mut r = o.retention.raw.map(prom_duration).unwrap_or_default();
        if o.retention_size > 0 {
            if !r.is_empty() {
                r.push_str(" or ");
            }
            r.push_str(&format!("{}B", o.retention_size));
        }
        r
    };
    let (cwd, threads) = blocking(|| {
        let cwd = std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Ok((cwd, thread_count()))
    })
    .await?;
    let started = rfc3339(state.started_at);
    Ok(ok(json!({
        "startTime": started,
        "CWD": cwd,
        "reloadConfigSuccess": true,
        "lastConfigTime": started,
        "corruptionCount": 0,
        "goroutineCount": threads,
        "GOMAXPROCS": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "GOMEMLIMIT": i64::MAX,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": retention,
    })))
}

/// `GET /api/v1/status/config`: the effective configuration as YAML.
async fn config(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    Ok(ok(json!({"yaml": state.opts.config_yaml})))
}

/// `GET /api/v1/status/flags`: Strix has a config file, not Prometheus' flags.
async fn flags(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    Ok(ok(json!({})))
}

fn top(mut v: Vec<(String, u64)>, limit: usize) -> Value {
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    Value::Array(
        v.into_iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect(),
    )
}

/// `GET /api/v1/status/tsdb`: head statistics and the largest metrics and labels
/// (`limit`, default 10) over the head's time range.
async fn tsdb(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    let p = Params::parse(q.as_deref(), None);
    let limit = match p.get("limit") {
        None | Some("") => 10,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(ApiError::bad_input(
                    format!("limit must be a positive number: {s:?}"),
                    ENV,
                ))
            }
        },
    };
    let st = state.clone();
    blocking(move || {
        let s = st.db.status();
        let (min, max) = (
            s.head_min_time.unwrap_or(i64::MAX),
            s.head_max_time.unwrap_or(i64::MIN),
        );
        let storage = |e| ApiError::from((e, ENV));
        let mut by_name = Vec::new();
        let mut by_label = Vec::new();
        if min <= max {
            let names = st
                .db
                .label_values("__name__", &[], min, max)
                .map_err(storage)?;
            if names.len() <= MAX_NAMES_COUNTED {
                for n in names {
                    let m = Matcher::equal("__name__", n.as_str());
                    let count = st.db.series(&[m], min, max).map_err(storage)?.len() as u64;
                    by_name.push((n, count));
                }
            }
            for l in st.db.label_names(&[], min, max).map_err(storage)? {
                let count = st
                    .db
                    .label_values(&l, &[], min, max)
                    .map_err(storage)?
                    .len() as u64;
                by_label.push((l, count));
            }
        }
        Ok(ok(json!({
            "headStats": {
                "numSeries": s.head_series,
                "numLabelPairs": by_label.iter().map(|(_, c)| c).sum::<u64>(),
                "chunkCount": s.head_chunks,
                "minTime": s.head_min_time.unwrap_or(i64::MAX),
                "maxTime": s.head_max_time.unwrap_or(i64::MIN),
            },
            "seriesCountByMetricName": top(by_name, limit),
            "labelValueCountByLabelName": top(by_label, limit),
            "memoryInBytesByLabelName": [],
            "seriesCountByLabelValuePair": [],
        })))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_prometheus() {
        assert_eq!(prom_duration(Duration::from_secs(15 * 86_400)), "15d");
        assert_eq!(prom_duration(Duration::from_secs(14 * 86_400)), "2w");
        assert_eq!(prom_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(prom_duration(Duration::ZERO), "0s");
        assert_eq!(prom_duration(Duration::from_millis(1500)), "1s500ms");
    }
}
