//! The scrape section of `strix.yaml`, shaped like Prometheus' `global:` and
//! `scrape_configs:` so an existing `prometheus.yml` scrape section can be pasted in.
//!
//! Parsing is strict (`deny_unknown_fields`): a Prometheus option Strix does not implement
//! is an error naming it, never silently ignored. [`ScrapeSection::validate`] then checks
//! what serde cannot (unique job names, timeout ≤ interval, mutually exclusive auth
//! options) and names the offending key, e.g. `scrape_configs[2].scrape_timeout`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strix_core::{bytesize, duration};

use crate::relabel::{self, RelabelConfig};

/// `global:` plus `scrape_configs:`; embed it in the binary's config as one section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrapeSection {
    /// Defaults for every job.
    pub global: GlobalConfig,
    /// One entry per job (scrape pool).
    pub scrape_configs: Vec<ScrapeConfig>,
}

/// `global:`: defaults applied to jobs that do not set their own.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    /// How often targets are scraped by default ("1m").
    #[serde(with = "duration::serde_str")]
    pub scrape_interval: Duration,
    /// How long a scrape may take by default ("10s").
    #[serde(with = "duration::serde_str")]
    pub scrape_timeout: Duration,
    /// Labels identifying this server to external systems (federation, remote write).
    /// Not added to scraped samples, as in Prometheus.
    pub external_labels: BTreeMap<String, String>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            external_labels: BTreeMap::new(),
        }
    }
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// One entry of `scrape_configs:`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The job name, also the default `job` label. Unique across the section.
    pub job_name: String,
    /// How often to scrape; defaults to `global.scrape_interval`.
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub scrape_interval: Option<Duration>,
    /// Per-scrape timeout; defaults to `global.scrape_timeout` capped at the interval.
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub scrape_timeout: Option<Duration>,
    /// HTTP path to fetch ("/metrics").
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// `http` (default) or `https`.
    #[serde(default)]
    pub scheme: Scheme,
    /// URL query parameters; `__param_<name>` labels override them per target.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// Targets listed in the config.
    #[serde(default)]
    pub static_configs: Vec<TargetGroup>,
    /// Targets read from JSON/YAML files, re-read when they change.
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization: Bearer <token>` (legacy Prometheus option).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// File holding the bearer token, read at every scrape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// `Authorization: <type> <credentials>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// TLS options for `https`.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Keep the scraped value of a label that clashes with a target label (instead of
    /// renaming it to `exported_<name>`).
    #[serde(default)]
    pub honor_labels: bool,
    /// Use timestamps present in the exposition (default true).
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    /// Send `Accept-Encoding: gzip` (default true).
    #[serde(default = "default_true")]
    pub enable_compression: bool,
    /// Follow HTTP redirects (default true).
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Relabeling applied to discovered targets.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Relabeling applied to every scraped series before storage.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// More samples than this after metric relabeling fails the whole scrape (0: no limit).
    #[serde(default)]
    pub sample_limit: usize,
    /// More labels than this on one series fails the scrape (0: no limit).
    #[serde(default)]
    pub label_limit: usize,
    /// A label name longer than this fails the scrape (0: no limit).
    #[serde(default)]
    pub label_name_length_limit: usize,
    /// A label value longer than this fails the scrape (0: no limit).
    #[serde(default)]
    pub label_value_length_limit: usize,
    /// Largest accepted (uncompressed) body; larger fails the scrape. "0" means the
    /// built-in cap of 64MiB, since an unbounded read is never wanted.
    #[serde(default, with = "bytesize::serde_str")]
    pub body_size_limit: u64,
}

/// The built-in cap on a scrape body when `body_size_limit` is 0.
pub const DEFAULT_BODY_SIZE_LIMIT: u64 = 64 << 20;

fn default_metrics_path() -> String {
    "/metrics".into()
}

fn default_true() -> bool {
    true
}

/// A list of targets sharing labels: one `static_configs` entry, or one element of a
/// file_sd file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    /// `host:port` addresses.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels added to every target of the group.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// Paths or globs (`*` in the last path element) of `.json`, `.yml` or `.yaml` files.
    pub files: Vec<String>,
    /// How often files are checked for changes ("5m").
    #[serde(default = "default_refresh", with = "duration::serde_str")]
    pub refresh_interval: Duration,
}

fn default_refresh() -> Duration {
    Duration::from_secs(300)
}

/// `basic_auth:`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// File holding the password, read at every scrape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

/// `authorization:`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme ("Bearer").
    #[serde(default = "default_auth_type", rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// File holding the credentials, read at every scrape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
}

fn default_auth_type() -> String {
    "Bearer".into()
}

/// `tls_config:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Accept any server certificate (testing only).
    pub insecure_skip_verify: bool,
    /// PEM file of extra CA certificates to trust.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// A configuration problem, naming the key (`scrape_configs[1].scrape_timeout`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Always [`strix_core::ErrorClass::BadInput`].
    pub fn class(&self) -> strix_core::ErrorClass {
        strix_core::ErrorClass::BadInput
    }
}

impl ScrapeSection {
    /// Checks what serde cannot; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let g = &self.global;
        if g.scrape_interval.is_zero() {
            return Err(ConfigError::new(
                "global.scrape_interval",
                "must be greater than 0",
            ));
        }
        if g.scrape_timeout.is_zero() {
            return Err(ConfigError::new(
                "global.scrape_timeout",
                "must be greater than 0",
            ));
        }
        if g.scrape_timeout > g.scrape_interval {
            return Err(ConfigError::new(
                "global.scrape_timeout",
                format!(
                    "{} is greater than global.scrape_interval {}",
                    duration::format(g.scrape_timeout),
                    duration::format(g.scrape_interval)
                ),
            ));
        }
        for name in g.external_labels.keys() {
            if !relabel::is_valid_label_name(name) {
                return Err(ConfigError::new(
                    format!("global.external_labels.{name}"),
                    "invalid label name",
                ));
            }
        }
        let mut seen = HashSet::new();
        for (i, sc) in self.scrape_configs.iter().enumerate() {
            let key = format!("scrape_configs[{i}]");
            if !seen.insert(sc.job_name.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.job_name"),
                    format!("duplicate job_name {:?}", sc.job_name),
                ));
            }
            sc.validate(&key, g)?;
        }
        Ok(())
    }

    /// A section scraping Strix's own `/metrics` at `address` (`host:port`) every 15s,
    /// as job `strix`: the default when the config names no scrape jobs.
    pub fn self_scrape(address: &str) -> Self {
        ScrapeSection {
            global: GlobalConfig::default(),
            scrape_configs: vec![ScrapeConfig {
                scrape_interval: Some(Duration::from_secs(15)),
                static_configs: vec![TargetGroup {
                    targets: vec![address.to_owned()],
                    labels: BTreeMap::new(),
                }],
                ..ScrapeConfig::new("strix")
            }],
        }
    }
}

impl ScrapeConfig {
    /// A job with every option at its default and no targets.
    pub fn new(job_name: impl Into<String>) -> Self {
        ScrapeConfig {
            job_name: job_name.into(),
            scrape_interval: None,
            scrape_timeout: None,
            metrics_path: default_metrics_path(),
            scheme: Scheme::Http,
            params: BTreeMap::new(),
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
            basic_auth: None,
            bearer_token: None,
            bearer_token_file: None,
            authorization: None,
            tls_config: TlsConfig::default(),
            honor_labels: false,
            honor_timestamps: true,
            enable_compression: true,
            follow_redirects: true,
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            body_size_limit: 0,
        }
    }

    /// The effective interval and timeout given the global defaults. As in Prometheus, a
    /// job that sets only its interval gets the global timeout capped at that interval.
    pub fn interval_and_timeout(&self, global: &GlobalConfig) -> (Duration, Duration) {
        let interval = self.scrape_interval.unwrap_or(global.scrape_interval);
        let timeout = match self.scrape_timeout {
            Some(t) => t,
            None => global.scrape_timeout.min(interval),
        };
        (interval, timeout)
    }

    /// The effective body cap in bytes.
    pub fn body_size_limit_bytes(&self) -> u64 {
        if self.body_size_limit == 0 {
            DEFAULT_BODY_SIZE_LIMIT
        } else {
            self.body_size_limit
        }
    }

    fn validate(&self, key: &str, global: &GlobalConfig) -> Result<(), ConfigError> {
        let k = |field: &str| format!("{key}.{field}");
        if self.job_name.trim().is_empty() {
            return Err(ConfigError::new(k("job_name"), "must not be empty"));
        }
        let (interval, timeout) = self.interval_and_timeout(global);
        if interval.is_zero() {
            return Err(ConfigError::new(
                k("scrape_interval"),
                "must be greater than 0",
            ));
        }
        if timeout.is_zero() {
            return Err(ConfigError::new(
                k("scrape_timeout"),
                "must be greater than 0",
            ));
        }
        if timeout > interval {
            return Err(ConfigError::new(
                k("scrape_timeout"),
                format!(
                    "{} is greater than scrape_interval {}",
                    duration::format(timeout),
                    duration::format(interval)
                ),
            ));
        }
        if !self.metrics_path.starts_with('/') {
            return Err(ConfigError::new(k("metrics_path"), "must start with '/'"));
        }
        for (i, g) in self.static_configs.iter().enumerate() {
            g.validate(&format!("{key}.static_configs[{i}]"))?;
        }
        for (i, f) in self.file_sd_configs.iter().enumerate() {
            let fk = format!("{key}.file_sd_configs[{i}]");
            if f.files.is_empty() {
                return Err(ConfigError::new(
                    format!("{fk}.files"),
                    "must list at least one file",
                ));
            }
            for (j, pattern) in f.files.iter().enumerate() {
                let ext_ok = [".json", ".yml", ".yaml"]
                    .iter()
                    .any(|e| pattern.ends_with(e));
                if !ext_ok {
                    return Err(ConfigError::new(
                        format!("{fk}.files[{j}]"),
                        format!("{pattern:?} must end in .json, .yml or .yaml"),
                    ));
                }
                if let Err(e) = glob::Pattern::new(pattern) {
                    return Err(ConfigError::new(
                        format!("{fk}.files[{j}]"),
                        format!("invalid glob: {e}"),
                    ));
                }
            }
            if f.refresh_interval.is_zero() {
                return Err(ConfigError::new(
                    format!("{fk}.refresh_interval"),
                    "must be greater than 0",
                ));
            }
        }
        let auth_count = [
            self.basic_auth.is_some(),
            self.bearer_token.is_some(),
            self.bearer_token_file.is_some(),
            self.authorization.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if auth_count > 1 {
            return Err(ConfigError::new(
                key,
                "at most one of basic_auth, bearer_token, bearer_token_file and authorization may be set",
            ));
        }
        if let Some(b) = &self.basic_auth {
            if b.password.is_some() && b.password_file.is_some() {
                return Err(ConfigError::new(
                    k("basic_auth"),
                    "at most one of password and password_file may be set",
                ));
            }
        }
        if let Some(a) = &self.authorization {
            if a.credentials.is_some() && a.credentials_file.is_some() {
                return Err(ConfigError::new(
                    k("authorization"),
                    "at most one of credentials and credentials_file may be set",
                ));
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err(ConfigError::new(
                    k("authorization.type"),
                    "\"Basic\" is not allowed here; use basic_auth",
                ));
            }
            if a.kind.is_empty() || a.kind.contains(char::is_whitespace) {
                return Err(ConfigError::new(
                    k("authorization.type"),
                    "must be one word",
                ));
            }
        }
        for (name, values) in &self.params {
            if values.is_empty() {
                return Err(ConfigError::new(
                    format!("{key}.params.{name}"),
                    "must have at least one value",
                ));
            }
        }
        for (i, r) in self.relabel_configs.iter().enumerate() {
            r.validate()
                .map_err(|m| ConfigError::new(format!("{key}.relabel_configs[{i}]"), m))?;
        }
        for (i, r) in self.metric_relabel_configs.iter().enumerate() {
            r.validate()
                .map_err(|m| ConfigError::new(format!("{key}.metric_relabel_configs[{i}]"), m))?;
        }
        Ok(())
    }
}

impl TargetGroup {
    /// Checks addresses and label names; `key` names the group in errors.
    pub(crate) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        for (i, t) in self.targets.iter().enumerate() {
            check_address(t).map_err(|m| ConfigError::new(format!("{key}.targets[{i}]"), m))?;
        }
        for name in self.labels.keys() {
            if !relabel::is_valid_label_name(name) {
                return Err(ConfigError::new(
                    format!("{key}.labels.{name}"),
                    "invalid label name",
                ));
            }
        }
        Ok(())
    }
}

/// A target address is `host[:port]`: no scheme, no path.
pub(crate) fn check_address(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("empty target address".into());
    }
    if addr.contains("://") {
        return Err(format!(
            "{addr:?} contains a scheme; set `scheme:` and list only host:port"
        ));
    }
    if addr.contains('/')
        || addr.contains(char::is_whitespace)
        || addr.contains('?')
        || addr.contains('#')
    {
        return Err(format!("{addr:?} is not a valid host:port address"));
    }
    Ok(())
}

/// Serde for `Option<Duration>` in Prometheus notation.
mod opt_duration {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&strix_core::duration::format(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| strix_core::duration::parse(&s).map_err(D::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ScrapeSection, String> {
        let s: ScrapeSection = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn defaults_parse() {
        let s = parse("scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['localhost:9100']}]\n").unwrap();
        let g = &s.global;
        assert_eq!(g.scrape_interval, Duration::from_secs(60));
        assert_eq!(g.scrape_timeout, Duration::from_secs(10));
        let sc = &s.scrape_configs[0];
        assert_eq!(sc.metrics_path, "/metrics");
        assert_eq!(sc.scheme, Scheme::Http);
        assert!(sc.honor_timestamps && !sc.honor_labels && sc.enable_compression);
        assert_eq!(
            sc.interval_and_timeout(g),
            (Duration::from_secs(60), Duration::from_secs(10))
        );
        assert_eq!(sc.body_size_limit_bytes(), DEFAULT_BODY_SIZE_LIMIT);
        // Empty document and the self-scrape helper are valid too.
        parse("{}").unwrap();
        ScrapeSection::self_scrape("127.0.0.1:3003")
            .validate()
            .unwrap();
    }

    #[test]
    fn full_prometheus_style_config_parses() {
        let yaml = r#"
global:
  scrape_interval: 15s
  scrape_timeout: 5s
  external_labels: {region: eu}
scrape_configs:
  - job_name: node
    scrape_interval: 30s
    scrape_timeout: 20s
    metrics_path: /probe
    scheme: https
    params: {module: [http_2xx]}
    static_configs:
      - targets: ['a:9100', 'b:9100']
        labels: {env: prod}
    file_sd_configs:
      - files: ['/etc/strix/targets/*.json', 'extra.yml']
        refresh_interval: 1m
    basic_auth: {username: u, password_file: /run/secret}
    tls_config: {insecure_skip_verify: true}
    honor_labels: true
    honor_timestamps: false
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - action: labeldrop
        regex: tmp_.*
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: go_.*
        action: drop
    sample_limit: 1000
    label_limit: 30
    label_name_length_limit: 100
    label_value_length_limit: 200
    body_size_limit: 10MiB
  - job_name: other
    authorization: {credentials: secret}
"#;
        let s = parse(yaml).unwrap();
        let sc = &s.scrape_configs[0];
        assert_eq!(sc.scheme, Scheme::Https);
        assert_eq!(sc.params["module"], vec!["http_2xx"]);
        assert_eq!(
            sc.file_sd_configs[0].refresh_interval,
            Duration::from_secs(60)
        );
        assert_eq!(sc.body_size_limit, 10 << 20);
        assert_eq!(sc.relabel_configs.len(), 2);
        assert_eq!(
            s.scrape_configs[1].authorization.as_ref().unwrap().kind,
            "Bearer"
        );
        // Global timeout 5s is kept when the job's interval is larger.
        assert_eq!(
            s.scrape_configs[1].interval_and_timeout(&s.global),
            (Duration::from_secs(15), Duration::from_secs(5))
        );
    }

    #[test]
    fn validation_errors_name_the_key() {
        let cases: &[(&str, &str)] = &[
            (
                "scrape_configs: [{job_name: a}, {job_name: a}]",
                "scrape_configs[1].job_name: duplicate job_name \"a\"",
            ),
            (
                "scrape_configs: [{job_name: a, scrape_interval: 5s, scrape_timeout: 10s}]",
                "scrape_configs[0].scrape_timeout: 10s is greater than scrape_interval 5s",
            ),
            (
                "global: {scrape_interval: 5s, scrape_timeout: 6s}",
                "global.scrape_timeout: 6s is greater than global.scrape_interval 5s",
            ),
            ("scrape_configs: [{job_name: ''}]", "scrape_configs[0].job_name: must not be empty"),
            (
                "scrape_configs: [{job_name: a, metrics_path: metrics}]",
                "scrape_configs[0].metrics_path: must start with '/'",
            ),
            (
                "scrape_configs: [{job_name: a, static_configs: [{targets: ['http://x:1']}]}]",
                "scrape_configs[0].static_configs[0].targets[0]:",
            ),
            (
                "scrape_configs: [{job_name: a, static_configs: [{targets: ['x:1'], labels: {'1bad': v}}]}]",
                "scrape_configs[0].static_configs[0].labels.1bad: invalid label name",
            ),
            (
                "scrape_configs: [{job_name: a, bearer_token: x, basic_auth: {username: u}}]",
                "scrape_configs[0]: at most one of",
            ),
            (
                "scrape_configs: [{job_name: a, basic_auth: {username: u, password: p, password_file: f}}]",
                "scrape_configs[0].basic_auth: at most one of password",
            ),
            (
                "scrape_configs: [{job_name: a, file_sd_configs: [{files: [targets.txt]}]}]",
                "scrape_configs[0].file_sd_configs[0].files[0]:",
            ),
            (
                "scrape_configs: [{job_name: a, relabel_configs: [{action: hashmod, target_label: x}]}]",
                "scrape_configs[0].relabel_configs[0]: hashmod requires a non-zero modulus",
            ),
            (
                "scrape_configs: [{job_name: a, metric_relabel_configs: [{action: replace}]}]",
                "scrape_configs[0].metric_relabel_configs[0]: replace requires target_label",
            ),
        ];
        for (yaml, want) in cases {
            let err = parse(yaml).unwrap_err();
            assert!(err.starts_with(want), "{yaml}\n got: {err}\nwant: {want}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_serde() {
        for (yaml, want) in [
            (
                "scrape_configs: [{job_name: a, scrape_intervall: 5s}]",
                "scrape_intervall",
            ),
            ("scrape_configs: [{job_name: a, scheme: ftp}]", "ftp"),
            (
                "scrape_configs: [{job_name: a, scrape_interval: 5}]",
                "invalid duration",
            ),
            (
                "scrape_configs: [{job_name: a, relabel_configs: [{action: explode}]}]",
                "explode",
            ),
            (
                "scrape_configs: [{job_name: a, relabel_configs: [{regex: '('}]}]",
                "regex",
            ),
            ("global: {evaluation_intervall: 1m}", "evaluation_intervall"),
        ] {
            let err = parse(yaml).unwrap_err();
            assert!(err.contains(want), "{yaml}: {err}");
        }
    }
}
