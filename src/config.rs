//! `strix.yaml`: raw parse (serde, unknown keys refused, errors naming the key and line)
//! then validation into the typed options each crate takes. JSON is valid YAML.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use strix_core::{bytesize, duration};
use strix_server::auth::{self, ApiKey, Scope};
use strix_server::ServerOptions;
use strix_tsdb::{DbOptions, FsyncPolicy, Limits, TierRetention};

fn d(s: &str) -> Duration {
    duration::parse(s).unwrap_or_default()
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub server: RawServer,
    pub storage: RawStorage,
    pub limits: RawLimits,
    pub auth: RawAuth,
    pub log: RawLog,
    pub global: RawGlobal,
    pub query: RawQuery,
    /// Prometheus rule files (globs, relative to the config file's directory).
    pub rule_files: Vec<String>,
    /// Prometheus scrape jobs.
    pub scrape_configs: Vec<strix_scrape::ScrapeConfig>,
    /// Scrape Strix's own `/metrics` as job "strix" (unless a job of that name exists).
    pub self_scrape: bool,
    pub host_metrics: RawHostMetrics,
    /// Alertmanager's configuration format, unchanged (`route`, `receivers`,
    /// `inhibit_rules`, `time_intervals`, ...), plus Strix' keys beside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alertmanager: Option<serde_yaml::Value>,
    /// KPI thresholds (`name`, `expr`, `unit`, `direction`, `target`, `warning`,
    /// `critical`, `for`), compiled into alerting rules (group `strix-kpis`) and reported
    /// at `/api/monitoring/kpis`.
    pub kpis: Vec<strix_rules::kpi::KpiConfig>,
    /// Adds the built-in KPI pack; `kpis:` entries with the same name replace its KPIs.
    pub kpis_builtin: bool,
    /// Health checks and heartbeats (`name`, `type`, `interval`, `timeout`, `retries`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<strix_checks::CheckConfig>,
    /// How check history is kept and check alerts raised; thresholds of Strix' own
    /// component health (`history_retention`, `alerts`, `alert_resend`, `sla_alert_below`,
    /// `components`).
    pub check_settings: strix_checks::CheckSettings,
    /// Error-tracking projects with fixed DSN keys (`id`, `slug`, `public_key`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<RawProject>,
    /// Error tracking: scrubbing and categorisation rules.
    pub errors: RawErrors,
}

/// One error-tracking project: the DSN is `http://<public_key>@host:port/<id>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    pub id: u64,
    pub slug: String,
    /// 32 hexadecimal digits.
    pub public_key: String,
}

/// The `errors:` section.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawErrors {
    pub scrub: strix_errors::ScrubConfig,
    pub categorize: strix_errors::CategorizeConfig,
    /// Events/s per project, burst, payload caps, writer queue.
    pub limits: strix_errors::RateLimits,
    /// Event retention and the per-issue event cap.
    pub retention: strix_errors::Retention,
    /// Spike thresholds per severity that raise alerts.
    pub detection: strix_errors::Detection,
    /// Per-project zstd dictionaries for stored events.
    pub compression: strix_errors::Compression,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            server: RawServer::default(),
            storage: RawStorage::default(),
            limits: RawLimits::default(),
            auth: RawAuth::default(),
            log: RawLog::default(),
            global: RawGlobal::default(),
            query: RawQuery::default(),
            rule_files: Vec::new(),
            scrape_configs: Vec::new(),
            self_scrape: true,
            host_metrics: RawHostMetrics::default(),
            alertmanager: None,
            kpis: Vec::new(),
            kpis_builtin: false,
            checks: Vec::new(),
            check_settings: strix_checks::CheckSettings::default(),
            projects: Vec::new(),
            errors: RawErrors::default(),
        }
    }
}

/// Settings shared by rule evaluation and scraping, as in Prometheus' `global:`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGlobal {
    /// Default interval of rule groups.
    #[serde(with = "duration::serde_str")]
    pub evaluation_interval: Duration,
    /// Default scrape interval of jobs.
    #[serde(with = "duration::serde_str")]
    pub scrape_interval: Duration,
    /// Default scrape timeout of jobs.
    #[serde(with = "duration::serde_str")]
    pub scrape_timeout: Duration,
    /// Labels identifying this server to external systems.
    pub external_labels: std::collections::BTreeMap<String, String>,
}

impl Default for RawGlobal {
    fn default() -> Self {
        let g = strix_scrape::GlobalConfig::default();
        RawGlobal {
            evaluation_interval: d("1m"),
            scrape_interval: g.scrape_interval,
            scrape_timeout: g.scrape_timeout,
            external_labels: g.external_labels,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawQuery {
    /// How far back an instant selector looks for a sample.
    #[serde(with = "duration::serde_str")]
    pub lookback_delta: Duration,
    /// Samples one query may load.
    pub max_samples: usize,
    /// Per-query time limit.
    #[serde(with = "duration::serde_str")]
    pub timeout: Duration,
    /// Queries evaluated at once; more get 503.
    pub max_concurrency: usize,
}

impl Default for RawQuery {
    fn default() -> Self {
        let e = strix_query::EngineOptions::default();
        RawQuery {
            lookback_delta: e.lookback_delta,
            max_samples: e.max_samples,
            timeout: e.timeout,
            max_concurrency: ServerOptions::default().max_concurrent_queries,
        }
    }
}

/// Host and process metrics under node_exporter's names.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHostMetrics {
    pub enabled: bool,
    #[serde(with = "duration::serde_str")]
    pub interval: Duration,
}

impl Default for RawHostMetrics {
    fn default() -> Self {
        RawHostMetrics {
            enabled: true,
            interval: d("15s"),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    /// Address to listen on.
    pub listen: String,
    /// Directory holding all data.
    pub data_dir: PathBuf,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "127.0.0.1:3003".into(),
            data_dir: PathBuf::from("./strix-data"),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStorage {
    /// Raw sample retention ("15d"; "0" keeps forever).
    #[serde(with = "duration::serde_str")]
    pub retention: Duration,
    /// Total size cap for blocks and WAL ("50GiB"; 0 = no cap).
    #[serde(with = "bytesize::serde_str")]
    pub retention_size: u64,
    /// Out-of-order acceptance window for live ingest.
    #[serde(with = "duration::serde_str")]
    pub out_of_order_window: Duration,
    /// always | interval | never.
    pub fsync: String,
    /// Interval for `fsync: interval`.
    #[serde(with = "duration::serde_str")]
    pub fsync_interval: Duration,
    /// Samples further than this in the future are refused.
    #[serde(with = "duration::serde_str")]
    pub max_future: Duration,
    /// Block range cut from the head ("2h").
    #[serde(with = "duration::serde_str")]
    pub block_range: Duration,
    /// How often compaction and retention run.
    #[serde(with = "duration::serde_str")]
    pub compaction_interval: Duration,
    pub rollups: RawRollups,
    pub max_series: usize,
    pub max_series_per_metric: usize,
    pub max_labels_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    /// Page cache of the state store (alerts, outbox, error events; SQLite) in bytes.
    #[serde(with = "bytesize::serde_str")]
    pub state_cache_size: u64,
}

impl Default for RawStorage {
    fn default() -> Self {
        let l = Limits::default();
        RawStorage {
            retention: d("15d"),
            retention_size: 0,
            out_of_order_window: d("10m"),
            fsync: "interval".into(),
            fsync_interval: d("1s"),
            max_future: d("10m"),
            block_range: d("2h"),
            compaction_interval: d("1m"),
            rollups: RawRollups::default(),
            max_series: l.max_series,
            max_series_per_metric: l.max_series_per_metric,
            max_labels_per_series: l.max_labels_per_series,
            max_label_name_length: l.max_label_name_length,
            max_label_value_length: l.max_label_value_length,
            state_cache_size: strix_state::DEFAULT_CACHE_BYTES,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRollups {
    pub enabled: bool,
    #[serde(with = "duration::serde_str")]
    pub retention_5m: Duration,
    #[serde(with = "duration::serde_str")]
    pub retention_1h: Duration,
    /// A raw block gets its 5m rollup once it is this old (reads stay complete before).
    #[serde(with = "duration::serde_str")]
    pub delay_5m: Duration,
    /// A raw block gets its 1h rollup once it is this old.
    #[serde(with = "duration::serde_str")]
    pub delay_1h: Duration,
}

impl Default for RawRollups {
    fn default() -> Self {
        let o = DbOptions::default();
        RawRollups {
            enabled: true,
            retention_5m: d("90d"),
            retention_1h: d("1y"),
            delay_5m: o.rollup_delay_5m,
            delay_1h: o.rollup_delay_1h,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    #[serde(with = "bytesize::serde_str")]
    pub max_body_size: u64,
    #[serde(with = "bytesize::serde_str")]
    pub max_decompressed_size: u64,
    pub ingest_rate: u32,
    pub ingest_burst: u32,
    pub max_inflight_writes: usize,
    pub read_rate: u32,
    #[serde(with = "duration::serde_str")]
    pub request_timeout: Duration,
    pub max_export_series: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        let s = ServerOptions::default();
        RawLimits {
            max_body_size: s.max_body_bytes as u64,
            max_decompressed_size: s.max_decompressed_bytes as u64,
            ingest_rate: s.ingest_rate,
            ingest_burst: s.ingest_burst,
            max_inflight_writes: s.max_inflight_writes,
            read_rate: s.read_rate,
            request_timeout: s.request_timeout,
            max_export_series: s.max_export_series,
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    pub api_keys: Vec<RawApiKey>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiKey {
    pub name: String,
    /// The key itself (hashed on load, never kept).
    #[serde(default)]
    pub key: Option<String>,
    /// Hex SHA-256 of the key, so the file holds no secret.
    #[serde(default)]
    pub key_sha256: Option<String>,
    /// Environment variable holding the key.
    #[serde(default)]
    pub key_env: Option<String>,
    /// File holding the key.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    pub scopes: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// text | json
    pub format: String,
    /// Filter such as "info" or "strix_tsdb=debug,info".
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// The validated configuration the program runs with.
pub struct Config {
    /// Configured scrape jobs (the self-scrape job is added at start when enabled).
    pub scrape: strix_scrape::ScrapeSection,
    pub self_scrape: bool,
    pub rule_files: Vec<String>,
    pub evaluation_interval: Duration,
    /// `None` when the host collector is off.
    pub host_metrics_interval: Option<Duration>,
    pub listen: String,
    pub data_dir: PathBuf,
    pub db: DbOptions,
    /// `storage.state_cache_size`: the state store's page cache in bytes.
    pub state_cache_bytes: u64,
    pub server: ServerOptions,
    pub log_json: bool,
    pub log_level: String,
    /// The `alertmanager:` section validated, with its text (for `/api/v2/status`);
    /// `None` without the section.
    pub alertmanager: Option<(strix_alerting::routing::RoutingConfig, String)>,
    /// The `checks:` section validated.
    pub checks: Vec<strix_checks::Check>,
    /// `check_settings:` validated.
    pub check_settings: strix_checks::CheckSettings,
    /// The `projects:` and `errors:` sections validated.
    pub errors: ErrorsSection,
}

/// A validated error-tracking project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorProject {
    pub id: u64,
    pub slug: String,
    /// 32 lowercase hexadecimal digits.
    pub public_key: String,
}

/// Error tracking, validated: the projects and the compiled scrubbing and categorisation
/// rules.
#[derive(Debug, Clone)]
pub struct ErrorsSection {
    pub projects: Vec<ErrorProject>,
    pub scrubber: strix_errors::Scrubber,
    pub categorizer: strix_errors::Categorizer,
    pub limits: strix_errors::RateLimits,
    pub retention: strix_errors::Retention,
    pub detection: strix_errors::Detection,
    pub compression: strix_errors::Compression,
}

/// Validates `projects:` (ids > 0 and unique, slugs non-empty, unique and made of
/// `a-z 0-9 - _`, keys 32 hex digits and unique) and compiles `errors:`.
fn errors_section(projects: &[RawProject], errors: &RawErrors) -> anyhow::Result<ErrorsSection> {
    let mut out: Vec<ErrorProject> = Vec::with_capacity(projects.len());
    for (i, p) in projects.iter().enumerate() {
        let at = format!("projects[{i}]");
        if p.id == 0 {
            bail!("key `{at}.id`: must be greater than 0");
        }
        if out.iter().any(|o| o.id == p.id) {
            bail!("key `{at}.id`: project id {} is declared twice", p.id);
        }
        let slug_ok = !p.slug.is_empty()
            && p.slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !slug_ok {
            bail!(
                "key `{at}.slug`: {:?} must be non-empty lowercase letters, digits, - or _",
                p.slug
            );
        }
        if out.iter().any(|o| o.slug == p.slug) {
            bail!("key `{at}.slug`: slug {:?} is declared twice", p.slug);
        }
        let key = p.public_key.to_ascii_lowercase();
        if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("key `{at}.public_key`: must be 32 hexadecimal digits");
        }
        if out.iter().any(|o| o.public_key == key) {
            bail!("key `{at}.public_key`: the key is already used by another project");
        }
        out.push(ErrorProject {
            id: p.id,
            slug: p.slug.clone(),
            public_key: key,
        });
    }
    let scrubber = strix_errors::Scrubber::new(&errors.scrub)
        .map_err(|e| anyhow::anyhow!("key `errors.scrub`: {e}"))?;
    let categorizer = strix_errors::Categorizer::new(&errors.categorize)
        .map_err(|e| anyhow::anyhow!("key `errors.categorize`: {e}"))?;
    errors.detection.validate().map_err(|e| {
        anyhow::anyhow!(
            "key `errors.{}`",
            e.to_string().trim_start_matches("config: ")
        )
    })?;
    if errors.retention.events.is_zero() || errors.retention.prune_interval.is_zero() {
        bail!("key `errors.retention`: `events` and `prune_interval` must be positive");
    }
    errors
        .compression
        .validate()
        .map_err(|e| anyhow::anyhow!("key `errors.compression`: {e}"))?;
    Ok(ErrorsSection {
        projects: out,
        scrubber,
        categorizer,
        limits: errors.limits.clone(),
        retention: errors.retention.clone(),
        detection: errors.detection.clone(),
        compression: errors.compression.clone(),
    })
}

/// The configuration as YAML with every secret (keys, passwords, tokens) replaced by
/// `<secret>`, for `/api/v1/status/config`.
pub fn effective_yaml(raw: &RawConfig) -> String {
    fn mask(v: &mut serde_yaml::Value) {
        match v {
            serde_yaml::Value::Mapping(m) => {
                for (k, val) in m.iter_mut() {
                    let secret = matches!(
                        k.as_str(),
                        Some(
                            "key"
                                | "key_sha256"
                                | "password"
                                | "bearer_token"
                                | "credentials"
                                | "token"
                        )
                    );
                    if secret && !val.is_null() {
                        *val = serde_yaml::Value::String("<secret>".into());
                    } else {
                        mask(val);
                    }
                }
            }
            serde_yaml::Value::Sequence(s) => s.iter_mut().for_each(mask),
            _ => {}
        }
    }
    match serde_yaml::to_value(raw) {
        Ok(mut v) => {
            if let Some(am) = v.get_mut("alertmanager") {
                strix_alerting::pipeline::mask_config_secrets(am);
            }
            mask(&mut v);
            serde_yaml::to_string(&v).unwrap_or_default()
        }
        Err(e) => format!("# configuration could not be rendered: {e}\n"),
    }
}

/// Parses YAML (or JSON) text. Errors name the key path, line and column.
pub fn parse(text: &str, origin: &str) -> anyhow::Result<RawConfig> {
    if text.trim().is_empty() {
        return Ok(RawConfig::default());
    }
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let loc = inner
            .location()
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default();
        let msg = inner.to_string();
        // serde_yaml appends its own location; keep the message without it.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        if path == "." {
            anyhow::anyhow!("{origin}{loc}: {msg}")
        } else {
            anyhow::anyhow!("{origin}: key `{path}`{loc}: {msg}")
        }
    })
}

pub fn load(path: &Path) -> anyhow::Result<RawConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    parse(&text, &path.display().to_string())
}

fn opt_retention(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

impl RawConfig {
    /// Validates into [`Config`]; every error names the key.
    pub fn validate(self) -> anyhow::Result<Config> {
        let s = self.storage;
        let fsync = match s.fsync.as_str() {
            "always" => FsyncPolicy::Always,
            "never" => FsyncPolicy::Never,
            "interval" => {
                if s.fsync_interval.is_zero() {
                    bail!("key `storage.fsync_interval`: must be greater than 0");
                }
                FsyncPolicy::Interval(s.fsync_interval)
            }
            other => bail!(
                "key `storage.fsync`: unknown value {other:?}; expected always, interval or never"
            ),
        };
        let range_ms = s.block_range.as_millis() as i64;
        if range_ms < 60_000 || (range_ms % 3_600_000 != 0 && 3_600_000 % range_ms != 0) {
            bail!("key `storage.block_range`: must be at least 1m and divide or be a multiple of 1h (so rollup buckets never straddle blocks)");
        }
        if s.compaction_interval.is_zero() {
            bail!("key `storage.compaction_interval`: must be greater than 0");
        }
        let l = self.limits;
        if l.max_body_size == 0 {
            bail!("key `limits.max_body_size`: must be greater than 0");
        }
        if l.max_decompressed_size < l.max_body_size {
            bail!("key `limits.max_decompressed_size`: must be at least limits.max_body_size");
        }
        if l.max_inflight_writes == 0 {
            bail!("key `limits.max_inflight_writes`: must be greater than 0");
        }
        let mut keys = Vec::new();
        for (i, k) in self.auth.api_keys.into_iter().enumerate() {
            let at = format!("auth.api_keys[{i}]");
            if k.name.is_empty() {
                bail!("key `{at}.name`: must not be empty");
            }
            let mut scopes = Vec::new();
            for sc in &k.scopes {
                scopes.push(Scope::parse(sc).with_context(|| {
                    format!(
                        "key `{at}.scopes`: unknown scope {sc:?}; expected ingest, read or admin"
                    )
                })?);
            }
            if scopes.is_empty() {
                bail!("key `{at}.scopes`: give at least one of ingest, read, admin");
            }
            let given = [
                k.key.is_some(),
                k.key_sha256.is_some(),
                k.key_env.is_some(),
                k.key_file.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if given != 1 {
                bail!("key `{at}`: give exactly one of key, key_sha256, key_env, key_file");
            }
            let sha = if let Some(h) = &k.key_sha256 {
                auth::parse_sha256_hex(h)
                    .with_context(|| format!("key `{at}.key_sha256`: not a hex SHA-256 digest"))?
            } else {
                let plain = if let Some(p) = k.key {
                    p
                } else if let Some(var) = &k.key_env {
                    std::env::var(var).with_context(|| {
                        format!("key `{at}.key_env`: environment variable {var} is not set")
                    })?
                } else if let Some(f) = &k.key_file {
                    std::fs::read_to_string(f)
                        .with_context(|| format!("key `{at}.key_file`: reading {}", f.display()))?
                        .trim()
                        .to_string()
                } else {
                    bail!("key `{at}`: no key given");
                };
                if plain.len() < 16 {
                    bail!("key `{at}`: keys must be at least 16 characters");
                }
                auth::hash(&plain)
            };
            keys.push(ApiKey {
                name: k.name,
                sha256: sha,
                scopes,
            });
        }
        let q = self.query;
        if q.lookback_delta.is_zero() {
            bail!("key `query.lookback_delta`: must be greater than 0");
        }
        if q.timeout.is_zero() || q.max_concurrency == 0 || q.max_samples == 0 {
            bail!("key `query`: timeout, max_samples and max_concurrency must be greater than 0");
        }
        let scrape = strix_scrape::ScrapeSection {
            global: strix_scrape::GlobalConfig {
                scrape_interval: self.global.scrape_interval,
                scrape_timeout: self.global.scrape_timeout,
                external_labels: self.global.external_labels.clone(),
            },
            scrape_configs: self.scrape_configs,
        };
        scrape.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        if self.global.evaluation_interval < Duration::from_secs(1) {
            bail!("key `global.evaluation_interval`: must be at least 1s");
        }
        if self.host_metrics.enabled && self.host_metrics.interval < Duration::from_secs(1) {
            bail!("key `host_metrics.interval`: must be at least 1s");
        }
        let alertmanager = match &self.alertmanager {
            None => None,
            Some(v) => Some(alertmanager_config(v)?),
        };
        let kpis = strix_rules::kpi::from_config(&self.kpis, self.kpis_builtin)
            .map_err(|e| anyhow::anyhow!("key `kpis`: {e}"))?;
        let checks = strix_checks::validate_checks(&self.checks)
            .map_err(|e| anyhow::anyhow!("key `{}`: {}", e.key, e.message))?;
        self.check_settings
            .validate()
            .map_err(|e| anyhow::anyhow!("key `{}`: {}", e.key, e.message))?;
        let errors = errors_section(&self.projects, &self.errors)?;
        let log_json = match self.log.format.as_str() {
            "json" => true,
            "text" => false,
            other => bail!("key `log.format`: unknown value {other:?}; expected text or json"),
        };
        Ok(Config {
            scrape,
            self_scrape: self.self_scrape,
            rule_files: self.rule_files,
            evaluation_interval: self.global.evaluation_interval,
            host_metrics_interval: self
                .host_metrics
                .enabled
                .then_some(self.host_metrics.interval),
            listen: self.server.listen,
            data_dir: self.server.data_dir,
            state_cache_bytes: s.state_cache_size,
            db: DbOptions {
                limits: Limits {
                    max_series: s.max_series,
                    max_series_per_metric: s.max_series_per_metric,
                    max_labels_per_series: s.max_labels_per_series,
                    max_label_name_length: s.max_label_name_length,
                    max_label_value_length: s.max_label_value_length,
                },
                retention: TierRetention {
                    raw: opt_retention(s.retention),
                    five_minutes: opt_retention(s.rollups.retention_5m),
                    one_hour: opt_retention(s.rollups.retention_1h),
                },
                retention_size: s.retention_size,
                out_of_order_window: s.out_of_order_window,
                max_future: s.max_future,
                fsync,
                block_range_ms: range_ms,
                compaction_interval: s.compaction_interval,
                rollups: s.rollups.enabled,
                rollup_delay_5m: s.rollups.delay_5m,
                rollup_delay_1h: s.rollups.delay_1h,
                ..DbOptions::default()
            },
            server: ServerOptions {
                api_keys: keys,
                max_body_bytes: l.max_body_size as usize,
                max_decompressed_bytes: l.max_decompressed_size as usize,
                ingest_rate: l.ingest_rate,
                ingest_burst: l.ingest_burst,
                max_inflight_writes: l.max_inflight_writes,
                read_rate: l.read_rate,
                request_timeout: l.request_timeout,
                max_export_series: l.max_export_series,
                engine: strix_query::EngineOptions {
                    lookback_delta: q.lookback_delta,
                    max_samples: q.max_samples,
                    timeout: q.timeout,
                },
                max_concurrent_queries: q.max_concurrency,
                kpis,
                ..ServerOptions::default()
            },
            log_json,
            log_level: self.log.level,
            alertmanager,
            checks,
            check_settings: self.check_settings,
            errors,
        })
    }
}

/// Validates the `alertmanager:` section with Alertmanager's rules; every error names
/// the key (`alertmanager.route.receiver`, ...).
fn alertmanager_config(
    v: &serde_yaml::Value,
) -> anyhow::Result<(strix_alerting::routing::RoutingConfig, String)> {
    let text = serde_yaml::to_string(v).context("key `alertmanager`: cannot be rendered")?;
    match strix_alerting::routing::AlertmanagerConfig::load(&text) {
        Ok(c) => Ok((c, text)),
        Err(errs) => {
            let lines: Vec<String> = errs
                .0
                .iter()
                .map(|e| format!("key `{}`: {}", e.path, e.message))
                .collect();
            bail!("{}", lines.join("\n"))
        }
    }
}

/// Whether `addr` only accepts connections from this machine.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_valid() {
        let c = parse("", "x").unwrap().validate().unwrap();
        assert_eq!(c.listen, "127.0.0.1:3003");
        assert_eq!(c.db.out_of_order_window, Duration::from_secs(600));
    }

    #[test]
    fn storage_section_and_json() {
        let y = "storage:\n  retention: 30d\n  retention_size: 10GiB\n  out_of_order_window: 5m\n  fsync: always\n  state_cache_size: 64MiB\n";
        let c = parse(y, "x").unwrap().validate().unwrap();
        assert_eq!(c.db.retention.raw, Some(Duration::from_secs(30 * 86400)));
        assert_eq!(c.db.retention_size, 10 << 30);
        assert_eq!(c.state_cache_bytes, 64 << 20);
        assert!(matches!(c.db.fsync, FsyncPolicy::Always));
        let j =
            r#"{"storage": {"retention": "1d", "fsync": "never", "out_of_order_window": "30s"}}"#;
        let c = parse(j, "x").unwrap().validate().unwrap();
        assert!(matches!(c.db.fsync, FsyncPolicy::Never));
        assert_eq!(c.state_cache_bytes, strix_state::DEFAULT_CACHE_BYTES);
    }

    #[test]
    fn errors_name_key_and_line() {
        let e = parse("storage:\n  retention: ten days\n", "strix.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("storage.retention") && e.contains("line 2"),
            "{e}"
        );
        let e = parse("storage:\n  retnetion: 1d\n", "strix.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("retnetion"), "{e}");
        let e = parse("storage:\n  fsync: sometimes\n", "x")
            .unwrap()
            .validate()
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("storage.fsync"), "{e}");
        let e = parse(
            "auth:\n  api_keys:\n    - name: a\n      key: short\n      scopes: [read]\n",
            "x",
        )
        .unwrap()
        .validate()
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("auth.api_keys[0]"), "{e}");
    }

    #[test]
    fn projects_and_errors_sections() {
        let key = "0123456789abcdef0123456789ABCDEF";
        let c = parse(&format!("projects:\n  - {{id: 1, slug: web, public_key: {key}}}\nerrors:\n  scrub:\n    extra_keys: [pin]\n"), "x").unwrap().validate().unwrap();
        assert_eq!(
            c.errors.projects,
            vec![ErrorProject {
                id: 1,
                slug: "web".into(),
                public_key: key.to_ascii_lowercase()
            }]
        );
        let bad = |yaml: &str| {
            parse(yaml, "x")
                .unwrap()
                .validate()
                .err()
                .unwrap()
                .to_string()
        };
        let e = bad("projects:\n  - {id: 1, slug: web, public_key: abc}\n");
        assert!(e.contains("projects[0].public_key"), "{e}");
        let e = bad(&format!("projects:\n  - {{id: 1, slug: web, public_key: {key}}}\n  - {{id: 1, slug: api, public_key: {}}}\n", "f".repeat(32)));
        assert!(e.contains("projects[1].id"), "{e}");
        let e = bad(&format!(
            "projects:\n  - {{id: 2, slug: 'Web App', public_key: {key}}}\n"
        ));
        assert!(e.contains("projects[0].slug"), "{e}");
        let e = bad(&format!(
            "projects:\n  - {{id: 0, slug: web, public_key: {key}}}\n"
        ));
        assert!(e.contains("projects[0].id"), "{e}");
        let e = bad("errors:\n  categorize:\n    rules:\n      - {name: r, message: '('}\n");
        assert!(e.contains("errors.categorize"), "{e}");
        let e = parse(
            "projects:\n  - {id: 1, slug: web, public_key: x, secret: y}\n",
            "x",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("secret"), "{e}");
        assert!(parse("", "x")
            .unwrap()
            .validate()
            .unwrap()
            .errors
            .projects
            .is_empty());
    }

    #[test]
    fn effective_yaml_masks_secrets() {
        let raw = parse("auth:\n  api_keys:\n    - {name: a, key: super-secret-key-123, scopes: [read]}\nscrape_configs:\n  - job_name: j\n    basic_auth: {username: u, password: hunter2}\n    static_configs: [{targets: ['h:1']}]\n", "x").unwrap();
        let y = effective_yaml(&raw);
        assert!(
            !y.contains("super-secret-key-123") && !y.contains("hunter2"),
            "{y}"
        );
        assert!(
            y.contains("<secret>") && y.contains("job_name: j") && y.contains("retention: 15d"),
            "{y}"
        );
        // What is shown parses back.
        parse(&y.replace("<secret>", "0123456789abcdef0123"), "y").unwrap();
    }

    #[test]
    fn checks_section() {
        let y = "checks:\n  - {name: web, type: http, url: 'http://127.0.0.1:8080/', interval: 1s, retries: 2}\n  - {name: job, type: heartbeat, token: hb-secret-1, period: 2s, grace: 1s}\n";
        let raw = parse(y, "x").unwrap();
        let shown = effective_yaml(&raw);
        assert!(!shown.contains("hb-secret-1"), "{shown}");
        let c = raw.validate().unwrap();
        assert_eq!(c.checks.len(), 2);
        assert_eq!(c.checks[0].retries, 2);
        let bad = "checks:\n  - {name: web, type: http, url: 'http://127.0.0.1:8080/'}\n  - {name: db, type: tcp, host: db, port: 5432, interval: 0s}\n";
        let e = parse(bad, "x")
            .unwrap()
            .validate()
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("checks[1].interval"), "{e}");
        let e = parse("checks:\n  - {name: x, type: smtp}\n", "x")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("checks[0]"), "{e}");
    }

    #[test]
    fn kpis_section() {
        let y = "kpis_builtin: true\nkpis:\n  - {name: checkout_latency, expr: checkout_ms, unit: ms, direction: above, warning: 200, critical: 500, for: 5m}\n";
        let c = parse(y, "x").unwrap().validate().unwrap();
        assert_eq!(c.server.kpis.len(), 8);
        assert_eq!(c.server.kpis[7].name, "checkout_latency");
        let e = parse("kpis:\n  - {name: x, expr: up, direction: above}\n", "x")
            .unwrap()
            .validate()
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("key `kpis`: kpis[0]"), "{e}");
    }

    #[test]
    fn alertmanager_section() {
        let y = "alertmanager:\n  route:\n    receiver: hook\n    group_wait: 0s\n  receivers:\n    - name: hook\n      webhook_configs:\n        - url: http://127.0.0.1:9/x\n          signing_secret: topsecret\n";
        let raw = parse(y, "x").unwrap();
        let shown = effective_yaml(&raw);
        assert!(
            !shown.contains("topsecret") && !shown.contains("127.0.0.1:9"),
            "{shown}"
        );
        let c = raw.validate().unwrap();
        let (rc, _) = c.alertmanager.unwrap();
        assert_eq!(rc.receivers.len(), 1);
        let e = parse(
            "alertmanager:\n  route:\n    receiver: nobody\n  receivers:\n    - name: hook\n",
            "x",
        )
        .unwrap()
        .validate()
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("key `alertmanager.route"), "{e}");
    }

    #[test]
    fn readme_configuration_reference_parses() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("## Configuration reference")
            .nth(1)
            .expect("section");
        let yaml = section
            .split("```yaml")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("yaml block");
        let raw = parse(yaml, "README.md")
            .unwrap_or_else(|e| panic!("README reference does not parse: {e}"));
        assert_eq!(raw.server.listen, "127.0.0.1:3003");
        assert_eq!(raw.storage.out_of_order_window, Duration::from_secs(600));
        assert_eq!(raw.auth.api_keys.len(), 1);
        // And it validates (the example key comes from the environment).
        std::env::set_var("STRIX_INGEST_KEY", "readme-example-key-0123456789");
        let cfg = raw
            .validate()
            .unwrap_or_else(|e| panic!("README reference does not validate: {e:#}"));
        assert_eq!(cfg.server.kpis.len(), 1);
    }
}
