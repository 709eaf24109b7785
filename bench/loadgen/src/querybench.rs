//! `strix-querybench`: the query latency benchmark's data generator and query timer
//! (driven by `bench/query/run.sh`).
//!
//! - `history`: writes the long-range data set (default 7 days at 60 s) as VictoriaMetrics
//!   JSON lines (for Strix' and VictoriaMetrics' `/api/v1/import`) and as OpenMetrics text
//!   (for `promtool tsdb create-blocks-from openmetrics`). Half the series are counters
//!   (`history_cpu_seconds_total`), half gauges (`history_cpu_usage_ratio`), labelled like
//!   `node_cpu_seconds_total`.
//! - `import`: posts a JSON lines file to an `/api/v1/import` endpoint in line-aligned
//!   chunks (Strix refuses bodies over 32 MiB by default).
//! - `run`: times a fixed set of queries through each system's Prometheus HTTP API
//!   (`/api/v1/query`, `/api/v1/query_range`): warm-up, then repetitions interleaved
//!   round-robin over the systems (so background noise spreads evenly), median and p90 of
//!   the client-side latency (request sent to body read, keep-alive connection). Also
//!   compares each system's result with the reference system's (series count, timestamps,
//!   values within 1e-6 relative) and reports mismatches without failing.

#[allow(dead_code)]
mod workload;

use clap::{Parser, Subcommand};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use workload::{CpuKind, Workload};

const HOUR_MS: i64 = 3_600_000;

#[derive(Parser)]
#[command(
    name = "strix-querybench",
    about = "Query latency benchmark: data generator and query timer."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write the long-range data set as JSON lines and OpenMetrics.
    History {
        /// Series in total (half counters, half gauges).
        #[arg(long, default_value_t = 1000)]
        series: usize,
        #[arg(long, default_value_t = 8)]
        cpus: usize,
        /// Timestamp of the first sample, ms.
        #[arg(long)]
        start_ms: i64,
        /// Sample interval, ms.
        #[arg(long, default_value_t = 60_000)]
        interval_ms: i64,
        /// Samples per series.
        #[arg(long)]
        points: usize,
        #[arg(long)]
        jsonl: PathBuf,
        #[arg(long)]
        openmetrics: PathBuf,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// POST a JSON lines file to an /api/v1/import endpoint in line-aligned chunks.
    Import {
        #[arg(long)]
        url: String,
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value_t = 8 << 20)]
        chunk_bytes: usize,
    },
    /// Time the query set against each system.
    Run {
        /// `name=base_url`, repeated; the first is the reference for the result check
        /// unless `--reference` names another. Names: strix, prometheus, vm.
        #[arg(long = "system", required = true)]
        systems: Vec<String>,
        #[arg(long)]
        reference: Option<String>,
        /// Timestamp of the last live sample (ms).
        #[arg(long)]
        live_end_ms: i64,
        /// First and last sample of the history data set (ms).
        #[arg(long)]
        hist_start_ms: i64,
        #[arg(long)]
        hist_end_ms: i64,
        /// Timed repetitions per query and system.
        #[arg(long, default_value_t = 20)]
        reps: usize,
        /// Untimed runs per query and system before the timed ones.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// Only these queries (comma-separated ids, or a letter for a group), e.g. `a,c1`.
        #[arg(long, default_value = "")]
        only: String,
        /// Where to write the full results as JSON.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::History {
            series,
            cpus,
            start_ms,
            interval_ms,
            points,
            jsonl,
            openmetrics,
            seed,
        } => history(
            series,
            cpus,
            start_ms,
            interval_ms,
            points,
            &jsonl,
            &openmetrics,
            seed,
        ),
        Cmd::Import {
            url,
            file,
            chunk_bytes,
        } => import(&url, &file, chunk_bytes),
        Cmd::Run {
            systems,
            reference,
            live_end_ms,
            hist_start_ms,
            hist_end_ms,
            reps,
            warmup,
            only,
            out,
        } => run(RunArgs {
            systems,
            reference,
            live_end_ms,
            hist_start_ms,
            hist_end_ms,
            reps: reps.max(1),
            warmup,
            only,
            out,
        }),
    };
    if let Err(e) = res {
        eprintln!("strix-querybench: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------- history data set

#[allow(clippy::too_many_arguments)]
fn history(
    n: usize,
    cpus: usize,
    start_ms: i64,
    interval_ms: i64,
    points: usize,
    jsonl: &PathBuf,
    om: &PathBuf,
    seed: u64,
) -> Result<(), String> {
    let t0 = Instant::now();
    let counters = Workload::cpu(
        n / 2,
        seed,
        cpus,
        "history_cpu_seconds_total",
        "history",
        CpuKind::Counter,
    );
    let gauges = Workload::cpu(
        n - n / 2,
        seed + 1,
        cpus,
        "history_cpu_usage_ratio",
        "history",
        CpuKind::Gauge,
    );
    let open = |p: &PathBuf| {
        std::fs::File::create(p)
            .map(|f| BufWriter::with_capacity(1 << 20, f))
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let mut j = open(jsonl)?;
    let mut o = open(om)?;
    let interval_s = interval_ms as f64 / 1000.0;
    let mut samples = 0u64;
    let mut values = Vec::with_capacity(points);
    let mut line = String::new();
    for mut s in counters.series.into_iter().chain(gauges.series) {
        values.clear();
        for _ in 0..points {
            values.push(s.next_value(interval_s));
        }
        samples += points as u64;
        // JSON lines: {"metric":{...},"values":[...],"timestamps":[...]}
        line.clear();
        line.push_str("{\"metric\":{");
        for (i, l) in s.labels.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            let _ = write!(
                line,
                "\"{}\":\"{}\"",
                String::from_utf8_lossy(&l.name),
                String::from_utf8_lossy(&l.value)
            );
        }
        line.push_str("},\"values\":[");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            let _ = write!(line, "{v}");
        }
        line.push_str("],\"timestamps\":[");
        for i in 0..points {
            if i > 0 {
                line.push(',');
            }
            let _ = write!(line, "{}", start_ms + i as i64 * interval_ms);
        }
        line.push_str("]}\n");
        j.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
        // OpenMetrics: name{labels} value ts_seconds (series-major, so every series' samples
        // are in time order and each metric family is contiguous).
        let mut name = String::new();
        let mut rest = Vec::new();
        for l in &s.labels {
            if l.name == b"__name__" {
                name = String::from_utf8_lossy(&l.value).into_owned();
            } else {
                rest.push(format!(
                    "{}=\"{}\"",
                    String::from_utf8_lossy(&l.name),
                    String::from_utf8_lossy(&l.value)
                ));
            }
        }
        let prefix = format!("{name}{{{}}} ", rest.join(","));
        line.clear();
        for (i, v) in values.iter().enumerate() {
            let t = start_ms + i as i64 * interval_ms;
            let _ = writeln!(
                line,
                "{prefix}{v} {}.{:03}",
                t.div_euclid(1000),
                t.rem_euclid(1000)
            );
            if line.len() > 1 << 20 {
                o.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
                line.clear();
            }
        }
        o.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
    }
    o.write_all(b"# EOF\n").map_err(|e| e.to_string())?;
    j.flush().map_err(|e| e.to_string())?;
    o.flush().map_err(|e| e.to_string())?;
    println!(
        "{{\"series\":{n},\"points\":{points},\"samples\":{samples},\"start_ms\":{start_ms},\"end_ms\":{},\"seconds\":{:.1}}}",
        start_ms + (points as i64 - 1) * interval_ms,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------- import

fn import(url: &str, file: &PathBuf, chunk_bytes: usize) -> Result<(), String> {
    let data = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(600))
        .build();
    let t0 = Instant::now();
    let (mut pos, mut requests) = (0usize, 0u64);
    while pos < data.len() {
        let mut end = (pos + chunk_bytes).min(data.len());
        if end < data.len() {
            // Back up to the end of a line; a line longer than a chunk goes alone.
            end = match data[pos..end].iter().rposition(|&b| b == b'\n') {
                Some(i) => pos + i + 1,
                None => data[pos..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(data.len(), |i| pos + i + 1),
            };
        }
        let res = agent
            .post(url)
            .set("Content-Type", "application/x-ndjson")
            .send_bytes(&data[pos..end]);
        match res {
            Ok(r) => {
                let _ = r.into_string();
            }
            Err(ureq::Error::Status(code, r)) => {
                return Err(format!(
                    "import to {url}: HTTP {code}: {}",
                    r.into_string()
                        .unwrap_or_default()
                        .chars()
                        .take(500)
                        .collect::<String>()
                ))
            }
            Err(e) => return Err(format!("import to {url}: {e}")),
        }
        requests += 1;
        pos = end;
    }
    println!(
        "{{\"bytes\":{},\"requests\":{requests},\"seconds\":{:.3}}}",
        data.len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------- queries

struct RunArgs {
    systems: Vec<String>,
    reference: Option<String>,
    live_end_ms: i64,
    hist_start_ms: i64,
    hist_end_ms: i64,
    reps: usize,
    warmup: usize,
    only: String,
    out: PathBuf,
}

#[derive(Clone)]
enum Kind {
    Instant {
        time_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

struct Query {
    id: &'static str,
    shape: &'static str,
    expr: &'static str,
    kind: Kind,
}

const ONE_SERIES: &str =
    r#"rate(node_cpu_seconds_total{instance="host-000:9100",cpu="0",mode="idle"}[5m])"#;
const BY_MODE: &str = "sum by (mode) (rate(node_cpu_seconds_total[5m]))";
const SUM_ALL: &str = "sum(rate(node_cpu_seconds_total[5m]))";
const TOPK: &str = "topk(10, rate(node_cpu_seconds_total[5m]))";
const H_SUM_RATE: &str = "sum(rate(history_cpu_seconds_total[1h]))";
const H_AVG_ONE: &str =
    r#"avg_over_time(history_cpu_usage_ratio{instance="host-000:9100",cpu="0",mode="idle"}[1h])"#;
const H_AVG_ALL: &str = "avg_over_time(history_cpu_usage_ratio[1h])";
const H_SUM_RATE_7D: &str = "sum(rate(history_cpu_seconds_total[7d]))";
const H_AVG_7D: &str = "avg(avg_over_time(history_cpu_usage_ratio[7d]))";

fn queries(a: &RunArgs) -> Vec<Query> {
    // Evaluation times sit on the whole-minute / whole-hour grid; samples are off it, so no
    // window boundary meets a sample (Prometheus 2.x closed vs Strix' left-open windows).
    let live_t = a.live_end_ms.div_euclid(60_000) * 60_000;
    let live = Kind::Range {
        start_ms: live_t - HOUR_MS,
        end_ms: live_t,
        step_ms: 15_000,
    };
    let now = Kind::Instant { time_ms: live_t };
    let h_end = a.hist_end_ms.div_euclid(HOUR_MS) * HOUR_MS;
    // First step whose 1h window lies inside the data.
    let h_start = (a.hist_start_ms + HOUR_MS).div_euclid(HOUR_MS) * HOUR_MS + HOUR_MS;
    let hist = Kind::Range {
        start_ms: h_start,
        end_ms: h_end,
        step_ms: HOUR_MS,
    };
    let hist_now = Kind::Instant { time_ms: h_end };
    // The same windows shifted by 1 s: off the rollup bucket grid, so Strix reads raw
    // samples (its engine uses rollups only for windows aligned to 5m/1h buckets).
    let hist_u = Kind::Range {
        start_ms: h_start + 1000,
        end_ms: h_end + 1000,
        step_ms: HOUR_MS,
    };
    let hist_now_u = Kind::Instant {
        time_ms: h_end + 1000,
    };
    let q = |id, shape, expr, kind: &Kind| Query {
        id,
        shape,
        expr,
        kind: kind.clone(),
    };
    vec![
        q("a1", "1 series, instant", ONE_SERIES, &now),
        q("a2", "1 series, range 1h step 15s", ONE_SERIES, &live),
        q(
            "b1",
            "all live series: sum by (mode), instant",
            BY_MODE,
            &now,
        ),
        q(
            "b2",
            "all live series: sum by (mode), range 1h step 15s",
            BY_MODE,
            &live,
        ),
        q("b3", "all live series: sum, instant", SUM_ALL, &now),
        q(
            "b4",
            "all live series: sum, range 1h step 15s",
            SUM_ALL,
            &live,
        ),
        q("b5", "all live series: topk(10), instant", TOPK, &now),
        q(
            "b6",
            "all live series: topk(10), range 1h step 15s",
            TOPK,
            &live,
        ),
        q(
            "c1",
            "7d: sum(rate[1h]) over all counters, range step 1h",
            H_SUM_RATE,
            &hist,
        ),
        q(
            "c2",
            "7d: avg_over_time[1h], 1 series, range step 1h",
            H_AVG_ONE,
            &hist,
        ),
        q(
            "c3",
            "7d: avg_over_time[1h], all gauges, range step 1h",
            H_AVG_ALL,
            &hist,
        ),
        q(
            "c4",
            "7d: sum(rate[7d]) over all counters, instant",
            H_SUM_RATE_7D,
            &hist_now,
        ),
        q(
            "c5",
            "7d: avg(avg_over_time[7d]) over all gauges, instant",
            H_AVG_7D,
            &hist_now,
        ),
        q(
            "c1u",
            "c1 shifted 1s off the hour grid",
            H_SUM_RATE,
            &hist_u,
        ),
        q("c3u", "c3 shifted 1s off the hour grid", H_AVG_ALL, &hist_u),
        q(
            "c4u",
            "c4 shifted 1s off the hour grid",
            H_SUM_RATE_7D,
            &hist_now_u,
        ),
        q(
            "c5u",
            "c5 shifted 1s off the hour grid",
            H_AVG_7D,
            &hist_now_u,
        ),
    ]
}

fn fmt_ts(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

struct System {
    name: String,
    base: String,
}

/// One response: latency, body size, parsed result (or error).
struct Response {
    seconds: f64,
    bytes: usize,
    body: Result<String, String>,
}

fn send(agent: &ureq::Agent, sys: &System, q: &Query) -> Response {
    let mut req = match &q.kind {
        Kind::Instant { time_ms } => agent
            .get(&format!("{}/api/v1/query", sys.base))
            .query("query", q.expr)
            .query("time", &fmt_ts(*time_ms)),
        Kind::Range {
            start_ms,
            end_ms,
            step_ms,
        } => agent
            .get(&format!("{}/api/v1/query_range", sys.base))
            .query("query", q.expr)
            .query("start", &fmt_ts(*start_ms))
            .query("end", &fmt_ts(*end_ms))
            .query("step", &fmt_ts(*step_ms)),
    };
    if sys.name == "vm" {
        // Belt and braces: run.sh also starts VictoriaMetrics with -search.disableCache.
        req = req.query("nocache", "1");
    }
    let t0 = Instant::now();
    let res = req.call();
    let body = match res {
        Ok(r) => r.into_string().map_err(|e| format!("reading body: {e}")),
        Err(ureq::Error::Status(code, r)) => Err(format!(
            "HTTP {code}: {}",
            r.into_string()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect::<String>()
        )),
        Err(e) => Err(format!("transport: {e}")),
    };
    let seconds = t0.elapsed().as_secs_f64();
    let bytes = body.as_ref().map(|b| b.len()).unwrap_or(0);
    Response {
        seconds,
        bytes,
        body,
    }
}

/// labels (rendered, sorted) -> points (t ms, value).
type Parsed = BTreeMap<String, Vec<(i64, f64)>>;

fn parse_result(body: &str) -> Result<Parsed, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("bad JSON: {e}"))?;
    if v["status"] != "success" {
        return Err(format!("status {}: {}", v["status"], v["error"]));
    }
    let pt = |p: &Value| -> Option<(i64, f64)> {
        let t = p.get(0)?.as_f64()?;
        let s = p.get(1)?.as_str()?;
        let val = match s {
            "NaN" => f64::NAN,
            "+Inf" | "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            _ => s.parse().ok()?,
        };
        Some(((t * 1000.0).round() as i64, val))
    };
    let mut out = Parsed::new();
    let data = &v["data"];
    match data["resultType"].as_str() {
        Some("vector") | Some("matrix") => {}
        Some("scalar") => {
            out.insert("{scalar}".into(), pt(&data["result"]).into_iter().collect());
            return Ok(out);
        }
        other => return Err(format!("unexpected resultType {other:?}")),
    }
    for s in data["result"].as_array().cloned().unwrap_or_default() {
        let m: BTreeMap<String, String> = s["metric"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let key = format!("{m:?}");
        let mut pts: Vec<(i64, f64)> = Vec::new();
        if let Some(val) = s.get("value") {
            pts.extend(pt(val));
        }
        if let Some(vals) = s["values"].as_array() {
            pts.extend(vals.iter().filter_map(pt));
        }
        out.entry(key).or_default().extend(pts);
    }
    Ok(out)
}

fn same(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let d = (a - b).abs();
    d <= 1e-6 * a.abs().max(b.abs())
}

/// The same result with `__name__` removed from every label set (None if that merges series).
fn strip_name(p: &Parsed) -> Option<Parsed> {
    let mut out = Parsed::new();
    for (k, v) in p {
        let m: BTreeMap<String, String> = parse_key(k);
        let mut m = m;
        m.remove("__name__");
        if out.insert(format!("{m:?}"), v.clone()).is_some() {
            return None;
        }
    }
    Some(out)
}

fn parse_key(k: &str) -> BTreeMap<String, String> {
    // Keys are `{:?}` of a BTreeMap<String, String>; re-parse through JSON-ish rules.
    let inner = k.trim_start_matches('{').trim_end_matches('}');
    let mut m = BTreeMap::new();
    if inner.is_empty() {
        return m;
    }
    // `"a": "b", "c": "d"` -- Debug strings are quoted and escaped like JSON for our labels.
    if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(&format!("{{{inner}}}")) {
        for (a, b) in o {
            m.insert(a, b.as_str().unwrap_or("").to_string());
        }
    }
    m
}

/// Compares `got` with `want`: "ok" or a short description of the differences. When the
/// label sets differ only in `__name__` (MetricsQL keeps it where PromQL drops it), that is
/// noted and the values are compared anyway.
fn compare(want: &Parsed, got: &Parsed) -> (bool, String) {
    if want.keys().ne(got.keys()) {
        if let (Some(w), Some(g)) = (strip_name(want), strip_name(got)) {
            if w.keys().eq(g.keys()) {
                let (ok, msg) = compare_exact(&w, &g);
                return (
                    false,
                    if ok {
                        "__name__ differs, values ok".into()
                    } else {
                        format!("__name__ differs; {msg}")
                    },
                );
            }
        }
    }
    compare_exact(want, got)
}

fn compare_exact(want: &Parsed, got: &Parsed) -> (bool, String) {
    let (mut pts, mut bad_pts, mut missing_pts, mut max_rel) = (0usize, 0usize, 0usize, 0f64);
    let only_want = want.keys().filter(|k| !got.contains_key(*k)).count();
    let only_got = got.keys().filter(|k| !want.contains_key(*k)).count();
    for (k, w) in want {
        let Some(g) = got.get(k) else { continue };
        let gm: BTreeMap<i64, f64> = g.iter().copied().collect();
        let wm: BTreeMap<i64, f64> = w.iter().copied().collect();
        for (t, wv) in &wm {
            pts += 1;
            match gm.get(t) {
                None => missing_pts += 1,
                Some(gv) => {
                    if !same(*wv, *gv) {
                        bad_pts += 1;
                        let rel = (wv - gv).abs() / wv.abs().max(gv.abs());
                        if rel.is_finite() {
                            max_rel = max_rel.max(rel);
                        }
                    }
                }
            }
        }
        missing_pts += gm.keys().filter(|t| !wm.contains_key(t)).count();
    }
    if only_want == 0 && only_got == 0 && bad_pts == 0 && missing_pts == 0 {
        return (true, "ok".into());
    }
    let mut parts = Vec::new();
    if want.len() != got.len() || only_want > 0 || only_got > 0 {
        parts.push(format!(
            "series {} vs {} ({} missing, {} extra)",
            got.len(),
            want.len(),
            only_want,
            only_got
        ));
    }
    if bad_pts > 0 {
        parts.push(format!(
            "{bad_pts}/{pts} values differ (max rel {max_rel:.1e})"
        ));
    }
    if missing_pts > 0 {
        parts.push(format!("{missing_pts} points only on one side"));
    }
    (false, parts.join("; "))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile.
fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

fn fmt_ms(s: f64) -> String {
    let ms = s * 1000.0;
    if !ms.is_finite() {
        "n/a".into()
    } else if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

fn display_name(n: &str) -> &str {
    match n {
        "strix" => "Strix",
        "prometheus" => "Prometheus",
        "vm" => "VictoriaMetrics",
        o => o,
    }
}

fn run(a: RunArgs) -> Result<(), String> {
    let systems: Vec<System> = a
        .systems
        .iter()
        .map(|s| {
            let (n, u) = s
                .split_once('=')
                .ok_or_else(|| format!("--system {s:?}: expected name=url"))?;
            Ok(System {
                name: n.to_string(),
                base: u.trim_end_matches('/').to_string(),
            })
        })
        .collect::<Result<_, String>>()?;
    let reference = a
        .reference
        .clone()
        .unwrap_or_else(|| systems[0].name.clone());
    let only: Vec<&str> = a
        .only
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let qs: Vec<Query> = queries(&a)
        .into_iter()
        .filter(|q| {
            only.is_empty()
                || only
                    .iter()
                    .any(|o| q.id == *o || (o.len() == 1 && q.id.starts_with(o)))
        })
        .collect();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(300))
        .max_idle_connections_per_host(2)
        .build();

    let mut json_out = Vec::new();
    let mut rows = Vec::new();
    for q in &qs {
        let t_query = Instant::now();
        // Warm-up; the first response of each system is kept for the result check.
        let mut first: Vec<Option<Response>> = Vec::new();
        for sys in &systems {
            let mut keep = None;
            for i in 0..a.warmup.max(1) {
                let r = send(&agent, sys, q);
                if i == 0 {
                    keep = Some(r);
                }
            }
            first.push(keep);
        }
        let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(a.reps); systems.len()];
        let mut errors: Vec<Option<String>> = first
            .iter()
            .map(|r| r.as_ref().and_then(|r| r.body.as_ref().err().cloned()))
            .collect();
        for _ in 0..a.reps {
            for (i, sys) in systems.iter().enumerate() {
                if errors[i].is_some() {
                    continue;
                }
                let r = send(&agent, sys, q);
                match r.body {
                    Ok(_) => times[i].push(r.seconds),
                    Err(e) => errors[i] = Some(e),
                }
            }
        }
        let parsed: Vec<Result<Parsed, String>> = first
            .iter()
            .map(|r| match r {
                Some(Response { body: Ok(b), .. }) => parse_result(b),
                Some(Response { body: Err(e), .. }) => Err(e.clone()),
                None => Err("no response".into()),
            })
            .collect();
        let ref_idx = systems
            .iter()
            .position(|s| s.name == reference)
            .unwrap_or(0);
        let mut per_sys = Vec::new();
        for (i, sys) in systems.iter().enumerate() {
            let (series, points) = match &parsed[i] {
                Ok(p) => (p.len(), p.values().map(Vec::len).sum::<usize>()),
                Err(_) => (0, 0),
            };
            let check = if i == ref_idx {
                match &parsed[i] {
                    Ok(_) => "reference".to_string(),
                    Err(e) => format!("error: {e}"),
                }
            } else {
                match (&parsed[ref_idx], &parsed[i]) {
                    (Ok(w), Ok(g)) => compare(w, g).1,
                    (_, Err(e)) => format!("error: {e}"),
                    (Err(_), Ok(_)) => "reference failed".into(),
                }
            };
            let err = errors[i]
                .clone()
                .or_else(|| parsed[i].as_ref().err().cloned());
            per_sys.push(serde_json::json!({
                "system": sys.name,
                "median_s": median(&times[i]),
                "p90_s": pct(&times[i], 0.9),
                "min_s": pct(&times[i], 0.0),
                "max_s": pct(&times[i], 1.0),
                "timed": times[i].len(),
                "response_bytes": first[i].as_ref().map_or(0, |r| r.bytes),
                "series": series,
                "points": points,
                "check": check,
                "error": err,
                "times_s": times[i],
            }));
        }
        eprintln!(
            "[{}] {:<4} {:<55} {}  ({:.1}s)",
            chrono_now(),
            q.id,
            q.shape,
            per_sys
                .iter()
                .map(|p| format!(
                    "{} {}/{} ms [{}]",
                    p["system"].as_str().unwrap_or(""),
                    fmt_ms(p["median_s"].as_f64().unwrap_or(f64::NAN)),
                    fmt_ms(p["p90_s"].as_f64().unwrap_or(f64::NAN)),
                    p["check"].as_str().unwrap_or("")
                ))
                .collect::<Vec<_>>()
                .join(", "),
            t_query.elapsed().as_secs_f64()
        );
        let (kind, params) = match &q.kind {
            Kind::Instant { time_ms } => ("instant", serde_json::json!({"time_ms": time_ms})),
            Kind::Range {
                start_ms,
                end_ms,
                step_ms,
            } => (
                "range",
                serde_json::json!({"start_ms": start_ms, "end_ms": end_ms, "step_ms": step_ms, "steps": (end_ms - start_ms) / step_ms + 1}),
            ),
        };
        json_out.push(serde_json::json!({
            "id": q.id, "shape": q.shape, "query": q.expr, "kind": kind, "params": params, "results": per_sys,
        }));
        rows.push((q, per_sys));
    }

    // Markdown table.
    let mut md = String::new();
    let names: Vec<&str> = systems.iter().map(|s| s.name.as_str()).collect();
    let _ = write!(md, "| id | query shape | series out |");
    for n in &names {
        let _ = write!(md, " {} p50 / p90 ms |", display_name(n));
    }
    let strix = names.iter().position(|n| *n == "strix");
    let others: Vec<usize> = (0..names.len()).filter(|i| Some(*i) != strix).collect();
    if strix.is_some() {
        for &o in &others {
            let _ = write!(
                md,
                " Strix / {} p50 |",
                display_name(names[o])
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
            );
        }
    }
    md.push_str(" result check |\n|---|---|---:|");
    for _ in &names {
        md.push_str("---:|");
    }
    if strix.is_some() {
        for _ in &others {
            md.push_str("---:|");
        }
    }
    md.push_str("---|\n");
    for (q, per) in &rows {
        let refp = per
            .iter()
            .find(|p| p["system"] == reference.as_str())
            .unwrap_or(&per[0]);
        let _ = write!(md, "| {} | {} | {} |", q.id, q.shape, refp["series"]);
        for p in per.iter() {
            if let Some(e) = p["error"].as_str() {
                let _ = write!(
                    md,
                    " error: {} |",
                    e.chars().take(60).collect::<String>().replace('|', "/")
                );
            } else {
                let _ = write!(
                    md,
                    " {} / {} |",
                    fmt_ms(p["median_s"].as_f64().unwrap_or(f64::NAN)),
                    fmt_ms(p["p90_s"].as_f64().unwrap_or(f64::NAN))
                );
            }
        }
        if let Some(si) = strix {
            for &o in &others {
                let s = per[si]["median_s"].as_f64().unwrap_or(f64::NAN);
                let d = per[o]["median_s"].as_f64().unwrap_or(f64::NAN);
                let r = s / d;
                if r.is_finite() && per[si]["error"].is_null() && per[o]["error"].is_null() {
                    let _ = write!(md, " {r:.2} |");
                } else {
                    md.push_str(" n/a |");
                }
            }
        }
        let checks: Vec<String> = per
            .iter()
            .filter(|p| p["check"] != "reference")
            .map(|p| {
                let c = p["check"].as_str().unwrap_or("");
                format!(
                    "{}: {}",
                    display_name(p["system"].as_str().unwrap_or("")),
                    c.replace('|', "/")
                )
            })
            .collect();
        let _ = writeln!(md, " {} |", checks.join("; "));
    }
    std::fs::write(
        &a.out,
        serde_json::to_string_pretty(
            &serde_json::json!({"reference": reference, "queries": json_out}),
        )
        .unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", a.out.display()))?;
    print!("{md}");
    Ok(())
}

fn chrono_now() -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{:02}:{:02}:{:02}", (s / 3600) % 24, (s / 60) % 60, s % 60)
}
