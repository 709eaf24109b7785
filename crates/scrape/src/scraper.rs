//! One target's scrape loop: fetch, parse, label, limit, stale-mark, append, report.
//!
//! The loop is a tokio task; parsing, relabeling and the append run together on a
//! blocking thread ([`process_and_append`], a plain function the tests call directly).

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use strix_core::storage::{AppendMode, Appendable, TimeSeries};
use strix_core::{Labels, Sample, Timestamp, METRIC_NAME, STALE_NAN};
use strix_ingest::text;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::ScrapeConfig;
use crate::metrics::ScrapeMetrics;
use crate::relabel::{self, LabelSet, RelabelConfig};
use crate::target::Target;

/// What Strix asks for, OpenMetrics first, as Prometheus does.
pub const ACCEPT_HEADER: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The report series written for every scrape, as in Prometheus.
pub const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Largest secret file (password_file, bearer_token_file) read.
const SECRET_FILE_MAX_BYTES: u64 = 64 << 10;

#[derive(Debug, Clone, PartialEq)]
enum Secret {
    Inline(String),
    File(PathBuf),
}

impl Secret {
    fn read(&self) -> Result<String, String> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::File(p) => {
                let f =
                    std::fs::File::open(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
                let mut s = String::new();
                f.take(SECRET_FILE_MAX_BYTES)
                    .read_to_string(&mut s)
                    .map_err(|e| format!("reading {}: {e}", p.display()))?;
                Ok(s.trim().to_owned())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Auth {
    None,
    Basic {
        username: String,
        password: Option<Secret>,
    },
    Header {
        kind: String,
        credentials: Option<Secret>,
    },
}

/// Per-job settings shared by all of the job's loops.
#[derive(Debug)]
pub(crate) struct JobSettings {
    pub job: String,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub metric_relabel: Vec<RelabelConfig>,
    pub sample_limit: usize,
    pub label_limit: usize,
    pub label_name_length_limit: usize,
    pub label_value_length_limit: usize,
    pub body_limit: u64,
    auth: Auth,
    client: reqwest::Client,
}

impl JobSettings {
    pub(crate) fn from_config(cfg: &ScrapeConfig) -> Result<Self, String> {
        let redirect = if cfg.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let mut b = reqwest::Client::builder()
            .no_proxy()
            .gzip(cfg.enable_compression)
            .redirect(redirect)
            .danger_accept_invalid_certs(cfg.tls_config.insecure_skip_verify)
            .user_agent(concat!("Strix/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &cfg.tls_config.ca_file {
            let pem = Secret::File(ca.clone()).read()?;
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| format!("tls_config.ca_file {}: {e}", ca.display()))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let client = b
            .build()
            .map_err(|e| format!("building HTTP client: {e}"))?;
        let auth = if let Some(ba) = &cfg.basic_auth {
            Auth::Basic {
                username: ba.username.clone(),
                password: match (&ba.password, &ba.password_file) {
                    (Some(p), _) => Some(Secret::Inline(p.clone())),
                    (None, Some(f)) => Some(Secret::File(f.clone())),
                    (None, None) => None,
                },
            }
        } else if let Some(t) = &cfg.bearer_token {
            Auth::Header {
                kind: "Bearer".into(),
                credentials: Some(Secret::Inline(t.clone())),
            }
        } else if let Some(f) = &cfg.bearer_token_file {
            Auth::Header {
                kind: "Bearer".into(),
                credentials: Some(Secret::File(f.clone())),
            }
        } else if let Some(a) = &cfg.authorization {
            Auth::Header {
                kind: a.kind.clone(),
                credentials: match (&a.credentials, &a.credentials_file) {
                    (Some(c), _) => Some(Secret::Inline(c.clone())),
                    (None, Some(f)) => Some(Secret::File(f.clone())),
                    (None, None) => None,
                },
            }
        } else {
            Auth::None
        };
        Ok(JobSettings {
            job: cfg.job_name.clone(),
            honor_labels: cfg.honor_labels,
            honor_timestamps: cfg.honor_timestamps,
            metric_relabel: cfg.metric_relabel_configs.clone(),
            sample_limit: cfg.sample_limit,
            label_limit: cfg.label_limit,
            label_name_length_limit: cfg.label_name_length_limit,
            label_value_length_limit: cfg.label_value_length_limit,
            body_limit: cfg.body_size_limit_bytes(),
            auth,
            client,
        })
    }
}

/// `up`/`down`/`unknown`, as `/api/v1/targets` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Health {
    #[default]
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// The outcome of a target's last scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetHealth {
    pub health: Health,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_duration: Duration,
    pub last_samples: u64,
}

/// What a loop remembers between scrapes; handed to the next loop on reload.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoopState {
    /// Series of the last successful scrape; true when tracked for staleness (series
    /// with explicit timestamps are not, as in Prometheus).
    last: HashMap<Labels, bool>,
    /// Whether report series were written (so they get stale markers at the end).
    report_written: bool,
}

/// Why a scrape failed (the message becomes `lastError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScrapeFailure {
    Fetch(String),
    Parse(String),
    SampleLimit,
    Limit(String),
    Storage(String),
}

impl std::fmt::Display for ScrapeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScrapeFailure::Fetch(m) | ScrapeFailure::Limit(m) => f.write_str(m),
            ScrapeFailure::Parse(m) => write!(f, "parsing the exposition: {m}"),
            ScrapeFailure::SampleLimit => f.write_str("sample limit exceeded"),
            ScrapeFailure::Storage(m) => write!(f, "appending to storage: {m}"),
        }
    }
}

/// A fetched body.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
}

/// The numbers reported for one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ScrapeStats {
    pub error: Option<String>,
    pub scraped: u64,
    pub post_relabel: u64,
    pub series_added: u64,
    pub appended: u64,
    pub duration: Duration,
}

/// Fetches the target's URL with the scrape headers, timeout and body cap.
pub(crate) async fn fetch(settings: &JobSettings, target: &Target) -> Result<Fetched, String> {
    let fut = fetch_inner(settings, target);
    match tokio::time::timeout(target.timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "scrape timed out after {}",
            strix_core::duration::format(target.timeout)
        )),
    }
}

async fn fetch_inner(settings: &JobSettings, target: &Target) -> Result<Fetched, String> {
    let mut req = settings
        .client
        .get(&target.url)
        .header(reqwest::header::ACCEPT, ACCEPT_HEADER)
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", target.timeout.as_secs_f64()),
        )
        .timeout(target.timeout);
    match &settings.auth {
        Auth::None => {}
        Auth::Basic { username, password } => {
            let p = password.as_ref().map(Secret::read).transpose()?;
            req = req.basic_auth(username, p);
        }
        Auth::Header { kind, credentials } => {
            let c = credentials
                .as_ref()
                .map(Secret::read)
                .transpose()?
                .unwrap_or_default();
            req = req.header(reqwest::header::AUTHORIZATION, format!("{kind} {c}"));
        }
    }
    let mut resp = req.send().await.map_err(|e| error_chain(&e))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(format!("server returned HTTP status {}", resp.status()));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let limit = settings.body_limit;
    let too_large = || format!("body size limit of {limit} bytes exceeded");
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| error_chain(&e))? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, content_type })
}

/// `e` and its sources, joined with ": " (reqwest's Display alone hides the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let m = inner.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = inner.source();
    }
    s
}

/// Whether a Content-Type names OpenMetrics text.
fn is_openmetrics(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|c| {
        c.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/openmetrics-text")
        })
    })
}

/// Adds the target's labels to a scraped label set (Prometheus' `mutateSampleLabels`).
pub(crate) fn add_target_labels(scraped: Labels, target: &Labels, honor_labels: bool) -> Labels {
    let mut set = LabelSet::from_labels(scraped);
    if honor_labels {
        for l in target.iter() {
            if set.get(&l.name).is_empty() {
                set.set(&l.name, l.value.clone());
            }
        }
        return set.into_labels();
    }
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for l in target.iter() {
        let existing = set.get(&l.name);
        if !existing.is_empty() {
            conflicts.push((l.name.clone(), existing.to_owned()));
        }
        set.set(&l.name, l.value.clone());
    }
    conflicts.sort_by_key(|(n, _)| n.len());
    for (name, value) in conflicts {
        let mut new_name = name;
        loop {
            new_name = format!("exported_{new_name}");
            if set.get(&new_name).is_empty() {
                set.set(&new_name, value);
                break;
            }
        }
    }
    set.into_labels()
}

fn check_label_limits(l: &Labels, s: &JobSettings) -> Result<(), String> {
    let metric: String = l.metric_name().unwrap_or("").chars().take(50).collect();
    if s.label_limit > 0 && l.len() > s.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
            l.len(),
            s.label_limit
        ));
    }
    for label in l.iter() {
        if s.label_name_length_limit > 0 && label.name.len() > s.label_name_length_limit {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {}, length: {}, limit: {})",
                label.name.chars().take(50).collect::<String>(),
                label.name.len(),
                s.label_name_length_limit
            ));
        }
        if s.label_value_length_limit > 0 && label.value.len() > s.label_value_length_limit {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {}, value: {:?}, length: {}, limit: {})",
                label.name,
                label.value.chars().take(50).collect::<String>(),
                label.value.len(),
                s.label_value_length_limit
            ));
        }
    }
    Ok(())
}

struct Processed {
    series: Vec<TimeSeries>,
    /// Labels of each series and whether it is tracked for staleness.
    current: HashMap<Labels, bool>,
    scraped: u64,
    post_relabel: u64,
}

fn process(
    fetched: &Fetched,
    ts: Timestamp,
    target: &Target,
    s: &JobSettings,
) -> Result<Processed, (ScrapeFailure, u64, u64)> {
    let body =
        text::from_utf8(&fetched.body).map_err(|e| (ScrapeFailure::Parse(e.to_string()), 0, 0))?;
    let parsed = if is_openmetrics(fetched.content_type.as_deref()) {
        text::parse_openmetrics(body, ts)
    } else {
        text::parse_text(body, ts)
    }
    .map_err(|e| (ScrapeFailure::Parse(e.to_string()), 0, 0))?;
    let scraped: u64 = parsed.series.iter().map(|t| t.samples.len() as u64).sum();
    let mut series: Vec<TimeSeries> = Vec::with_capacity(parsed.series.len());
    let mut current: HashMap<Labels, bool> = HashMap::with_capacity(parsed.series.len());
    let mut post_relabel = 0u64;
    for mut ts_in in parsed.series {
        let labels = add_target_labels(ts_in.labels, &target.labels, s.honor_labels);
        let labels = if s.metric_relabel.is_empty() {
            labels
        } else {
            match relabel::process(labels, &s.metric_relabel) {
                Some(l) => l,
                None => continue,
            }
        };
        check_label_limits(&labels, s)
            .map_err(|m| (ScrapeFailure::Limit(m), scraped, post_relabel))?;
        let explicit_ts = s.honor_timestamps && ts_in.samples.iter().any(|x| x.t != ts);
        if !s.honor_timestamps {
            for x in &mut ts_in.samples {
                x.t = ts;
            }
        }
        if current.contains_key(&labels) {
            // Relabeling merged two series; the first wins, as a duplicate sample would
            // be refused by storage anyway.
            continue;
        }
        post_relabel += ts_in.samples.len() as u64;
        current.insert(labels.clone(), !explicit_ts);
        series.push(TimeSeries {
            labels,
            samples: ts_in.samples,
        });
    }
    if s.sample_limit > 0 && post_relabel > s.sample_limit as u64 {
        return Err((ScrapeFailure::SampleLimit, scraped, post_relabel));
    }
    Ok(Processed {
        series,
        current,
        scraped,
        post_relabel,
    })
}

fn stale_series(labels: Labels, ts: Timestamp) -> TimeSeries {
    TimeSeries {
        labels,
        samples: vec![Sample::new(ts, STALE_NAN)],
    }
}

fn report_labels(target: &Labels, name: &str) -> Labels {
    let mut set = LabelSet::from_labels(target.clone());
    set.set(METRIC_NAME, name.to_owned());
    set.into_labels()
}

fn append(
    app: &dyn Appendable,
    series: &[TimeSeries],
    job: &str,
    metrics: &ScrapeMetrics,
) -> Result<u64, String> {
    if series.is_empty() {
        return Ok(0);
    }
    let outcome = app
        .append(series, AppendMode::Live)
        .map_err(|e| e.message)?;
    let rejected = outcome.rejected_total();
    if rejected > 0 {
        metrics
            .samples_rejected
            .get_or_create(&ScrapeMetrics::job(job))
            .inc_by(rejected);
        tracing::debug!(
            job = %job,
            rejected,
            first_error = outcome.first_error.as_deref().unwrap_or(""),
            "Storage refused scraped samples."
        );
    }
    Ok(outcome.samples_appended)
}

/// Processes a fetch result and appends samples, stale markers and report series.
/// `fetched` is the fetch result; `ts` the scrape timestamp; `started` when it began.
pub(crate) fn process_and_append(
    ctx: &LoopCtx,
    state: &mut LoopState,
    ts: Timestamp,
    fetched: Result<Fetched, String>,
    started: Instant,
) -> ScrapeStats {
    let (app, target, s, metrics) = (&*ctx.app, &*ctx.target, &*ctx.settings, &ctx.metrics);
    let job = ScrapeMetrics::job(&s.job);
    let mut stats = ScrapeStats::default();
    let result = fetched
        .map_err(|m| (ScrapeFailure::Fetch(m), 0, 0))
        .and_then(|f| process(&f, ts, target, s));
    let failure = match result {
        Ok(p) => {
            stats.scraped = p.scraped;
            stats.post_relabel = p.post_relabel;
            stats.series_added = p
                .current
                .keys()
                .filter(|l| !state.last.contains_key(*l))
                .count() as u64;
            let mut batch = p.series;
            let stale_from = batch.len();
            for (l, tracked) in &state.last {
                if *tracked && !p.current.contains_key(l) {
                    batch.push(stale_series(l.clone(), ts));
                }
            }
            let stale = (batch.len() - stale_from) as u64;
            match append(app, &batch, &s.job, metrics) {
                Ok(n) => {
                    stats.appended = n;
                    metrics
                        .samples
                        .get_or_create(&job)
                        .inc_by(n.saturating_sub(stale));
                    metrics.stale_markers.get_or_create(&job).inc_by(stale);
                    state.last = p.current;
                    None
                }
                Err(m) => Some(ScrapeFailure::Storage(m)),
            }
        }
        Err((f, scraped, post)) => {
            stats.scraped = scraped;
            stats.post_relabel = post;
            Some(f)
        }
    };
    if let Some(f) = &failure {
        if *f == ScrapeFailure::SampleLimit {
            metrics.sample_limit_exceeded.get_or_create(&job).inc();
        }
        metrics.failures.get_or_create(&job).inc();
        // As Prometheus does after a failed scrape: every series of the last good scrape
        // goes stale now (report series excepted, they are written below).
        if !matches!(f, ScrapeFailure::Storage(_)) {
            let stale: Vec<TimeSeries> = state
                .last
                .iter()
                .filter(|(_, tracked)| **tracked)
                .map(|(l, _)| stale_series(l.clone(), ts))
                .collect();
            match append(app, &stale, &s.job, metrics) {
                Ok(_) => {
                    metrics
                        .stale_markers
                        .get_or_create(&job)
                        .inc_by(stale.len() as u64);
                    state.last.clear();
                }
                Err(e) => {
                    tracing::warn!(job = %s.job, url = %target.url, error = %e, "Cannot write stale markers.")
                }
            }
        }
        stats.error = Some(f.to_string());
    }
    stats.duration = started.elapsed();
    let up = if failure.is_none() { 1.0 } else { 0.0 };
    let values = [
        up,
        stats.duration.as_secs_f64(),
        stats.scraped as f64,
        stats.post_relabel as f64,
        stats.series_added as f64,
    ];
    let report: Vec<TimeSeries> = REPORT_SERIES
        .iter()
        .zip(values)
        .map(|(name, v)| TimeSeries {
            labels: report_labels(&target.labels, name),
            samples: vec![Sample::new(ts, v)],
        })
        .collect();
    match append(app, &report, &s.job, metrics) {
        Ok(_) => state.report_written = true,
        Err(e) => {
            tracing::warn!(job = %s.job, url = %target.url, error = %e, "Cannot write scrape report series.")
        }
    }
    metrics
        .duration
        .get_or_create(&job)
        .observe(stats.duration.as_secs_f64());
    stats
}

/// Writes stale markers for everything a loop wrote (its target is gone).
pub(crate) fn end_of_run_stale(ctx: &LoopCtx, state: &mut LoopState, ts: Timestamp) {
    let (app, target, s, metrics) = (&*ctx.app, &*ctx.target, &*ctx.settings, &ctx.metrics);
    let mut batch: Vec<TimeSeries> = state
        .last
        .iter()
        .filter(|(_, tracked)| **tracked)
        .map(|(l, _)| stale_series(l.clone(), ts))
        .collect();
    if state.report_written {
        batch.extend(
            REPORT_SERIES
                .iter()
                .map(|n| stale_series(report_labels(&target.labels, n), ts)),
        );
    }
    let n = batch.len() as u64;
    match append(app, &batch, &s.job, metrics) {
        Ok(_) => {
            metrics
                .stale_markers
                .get_or_create(&ScrapeMetrics::job(&s.job))
                .inc_by(n);
            state.last.clear();
            state.report_written = false;
        }
        Err(e) => {
            tracing::warn!(job = %s.job, url = %target.url, error = %e, "Cannot write stale markers for a removed target.")
        }
    }
}

/// How a loop is told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopMode {
    /// The target is gone: mark everything stale.
    Stale,
    /// Shutdown or handover to a new loop for the same target: write nothing.
    Silent,
}

/// Everything a loop needs.
pub(crate) struct LoopCtx {
    pub app: Arc<dyn Appendable>,
    pub target: Arc<Target>,
    pub settings: Arc<JobSettings>,
    pub health: Arc<Mutex<TargetHealth>>,
    pub metrics: ScrapeMetrics,
}

/// Delay before the first scrape: targets are spread over the interval by their hash,
/// at a fixed phase so restarts keep the same schedule (Prometheus' `scrapeOffset`).
pub(crate) fn first_delay(hash: u64, interval: Duration, now: SystemTime) -> Duration {
    let iv = interval.as_nanos().max(1);
    let now_ns = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let base = iv - now_ns % iv;
    let offset = u128::from(hash) % iv;
    let mut next = base + offset;
    if next > iv {
        next -= iv;
    }
    Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
}

/// Runs until told to stop; returns the state for a successor loop.
pub(crate) async fn run_loop(
    ctx: Arc<LoopCtx>,
    mut stop: oneshot::Receiver<StopMode>,
    inherit: Option<JoinHandle<LoopState>>,
) -> LoopState {
    let mut state = match inherit {
        Some(h) => h.await.unwrap_or_default(),
        None => LoopState::default(),
    };
    let interval = ctx.target.interval;
    let mut next =
        tokio::time::Instant::now() + first_delay(ctx.target.hash, interval, SystemTime::now());
    loop {
        tokio::select! {
            biased;
            m = &mut stop => return finish(&ctx, state, m.unwrap_or(StopMode::Silent)).await,
            _ = tokio::time::sleep_until(next) => {}
        }
        let ts = strix_core::now_millis();
        let started = Instant::now();
        let wall = SystemTime::now();
        let fetched = tokio::select! {
            biased;
            m = &mut stop => return finish(&ctx, state, m.unwrap_or(StopMode::Silent)).await,
            f = fetch(&ctx.settings, &ctx.target) => f,
        };
        let c = ctx.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let stats = process_and_append(&c, &mut state, ts, fetched, started);
            (state, stats)
        })
        .await;
        let stats = match joined {
            Ok((s, stats)) => {
                state = s;
                stats
            }
            Err(e) => {
                state = LoopState::default();
                ScrapeStats {
                    error: Some(format!("BUG: scrape task failed: {e}")),
                    ..ScrapeStats::default()
                }
            }
        };
        if let Some(e) = &stats.error {
            tracing::debug!(job = %ctx.settings.job, url = %ctx.target.url, error = %e, "Scrape failed.");
        }
        if let Ok(mut h) = ctx.health.lock() {
            h.health = if stats.error.is_none() {
                Health::Up
            } else {
                Health::Down
            };
            h.last_error = stats.error.unwrap_or_default();
            h.last_scrape = Some(wall);
            h.last_duration = stats.duration;
            h.last_samples = stats.post_relabel;
        }
        next += interval;
        let now = tokio::time::Instant::now();
        if next <= now {
            // Fell behind (a slow scrape or a suspended machine): skip missed slots.
            let behind = now.duration_since(next).as_nanos() / interval.as_nanos().max(1) + 1;
            let skip = u32::try_from(behind)
                .ok()
                .and_then(|n| interval.checked_mul(n));
            next = match skip.and_then(|d| next.checked_add(d)) {
                Some(n) => n,
                None => now + interval,
            };
        }
    }
}

async fn finish(ctx: &Arc<LoopCtx>, mut state: LoopState, mode: StopMode) -> LoopState {
    if mode == StopMode::Stale {
        let c = ctx.clone();
        let ts = strix_core::now_millis();
        if let Ok(s) = tokio::task::spawn_blocking(move || {
            end_of_run_stale(&c, &mut state, ts);
            state
        })
        .await
        {
            return s;
        }
        return LoopState::default();
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_prefix_on_conflict() {
        let target = Labels::from_pairs([("job", "j"), ("instance", "i")]);
        let scraped = Labels::from_pairs([
            ("__name__", "m"),
            ("job", "scraped"),
            ("exported_job", "taken"),
            ("x", "1"),
        ]);
        let got = add_target_labels(scraped.clone(), &target, false);
        assert_eq!(
            got,
            Labels::from_pairs([
                ("__name__", "m"),
                ("job", "j"),
                ("instance", "i"),
                ("exported_job", "taken"),
                ("exported_exported_job", "scraped"),
                ("x", "1"),
            ])
        );
        let got = add_target_labels(scraped, &target, true);
        assert_eq!(got.get("job"), Some("scraped"));
        assert_eq!(got.get("instance"), Some("i"));
    }

    #[test]
    fn openmetrics_detection() {
        assert!(is_openmetrics(Some(
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        )));
        assert!(!is_openmetrics(Some("text/plain; version=0.0.4")));
        assert!(!is_openmetrics(None));
    }

    #[test]
    fn first_delay_is_within_interval_and_phase_stable() {
        let iv = Duration::from_secs(15);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for h in [0u64, 1, 12345, u64::MAX] {
            let d = first_delay(h, iv, t0);
            assert!(d <= iv, "{d:?}");
            // The scrape lands on the same phase whatever the start time.
            let d2 = first_delay(h, iv, t0 + Duration::from_secs(4));
            let p1 = (t0 + d)
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                % iv.as_nanos();
            let p2 = (t0 + Duration::from_secs(4) + d2)
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                % iv.as_nanos();
            assert_eq!(p1, p2);
        }
    }
}
