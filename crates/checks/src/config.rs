//! The `checks:` section of `strix.yaml`.
//!
//! Two steps, as everywhere in Strix: [`CheckConfig`] is the list entry as written (serde,
//! unknown keys refused, every per-type key optional), and [`validate_checks`] turns the list
//! into [`Check`]s with typed, per-kind settings ([`CheckKind`]), or a [`ConfigError`] naming
//! the key (`checks[2].interval: must be positive`).
//!
//! ```yaml
//! checks:
//!   - name: api
//!     type: http
//!     url: https://api.example.com/health
//!     interval: 30s            # default 30s
//!     timeout: 5s              # default 10s, capped at the interval
//!     retries: 3               # consecutive failures before the state changes (default 1)
//!     expect_status: [200, "3xx"]   # default: any 2xx
//!     json_condition: 'status == "ok"'
//!     degraded_above: 800ms
//!     labels: {team: core}
//!     public: true
//!   - {name: db, type: tcp, host: db.internal, port: 5432}
//!   - {name: example.test, type: dns, record: A, expect: [10.1.2.3], server: "127.0.0.1:5353"}
//!   - {name: cert, type: tls, host: example.com, port: 443, warn_days: 30, critical_days: 7}
//!   - {name: nightly-backup, type: heartbeat, token: 9f3c1a, schedule: "0 3 * * *", grace: 30m}
//! ```
//!
//! A `dns` check queries its `name` unless `query` is given (so two checks can query the same
//! name for different records).

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::breaker::BreakerConfig;

mod check;
mod kinds;
pub use check::{
    Check, CheckKind, DnsCheck, HeartbeatCheck, HeartbeatExpect, HttpCheck, StatusMatch, TcpCheck,
    TlsCheck,
};

/// Default probe interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Default probe timeout (never more than the interval).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default SLA target in percent.
pub const DEFAULT_SLA_TARGET: f64 = 99.9;
/// Default cap on the HTTP response body read for `body_regex` / `json_condition`.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1 << 20;
/// Default heartbeat grace time.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);

/// A configuration error; `key` is the full path of the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
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

/// The kind of a check (`type:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CheckType {
    #[default]
    Http,
    Tcp,
    Dns,
    Tls,
    Heartbeat,
}

impl CheckType {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckType::Http => "http",
            CheckType::Tcp => "tcp",
            CheckType::Dns => "dns",
            CheckType::Tls => "tls",
            CheckType::Heartbeat => "heartbeat",
        }
    }
}

/// DNS record types a `dns` check can query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsRecord {
    #[default]
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Ns,
}

/// An `expect_status` entry: a code (`204`) or a class (`"2xx"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusPattern {
    Code(u16),
    Class(String),
}

/// `expect:` is a string for `tcp` and a list (or one string) for `dns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Serde for `Option<Duration>` written as `500ms`, `10s`, `5m`.
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
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => strix_core::duration::parse(&s)
                .map(Some)
                .map_err(D::Error::custom),
        }
    }
}

/// One entry of `checks:` as written. See the module docs for an example.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Unique name; `[A-Za-z0-9_.:-]`, 1–128 characters. For `dns`, also the name queried.
    pub name: String,
    /// `http`, `tcp`, `dns`, `tls` or `heartbeat`.
    #[serde(rename = "type")]
    pub kind: CheckType,
    /// How often the probe runs (default 30s).
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// Time allowed for one probe (default 10s, at most the interval).
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Consecutive failures before the check turns unhealthy (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Extra labels put on the check's series.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Shown on the public status page.
    #[serde(default)]
    pub public: bool,
    /// SLA target in percent (default 99.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_target: Option<f64>,
    /// Circuit breaker settings (defaults: 3 failures, 30s cool-down, 2 successes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<BreakerConfig>,

    // --- http ---
    /// http: the URL probed (`http://` or `https://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// http: request method (default GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// http: request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// http: request body; tcp uses `send`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// http: accepted status codes or classes (default any 2xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<Vec<StatusPattern>>,
    /// http: a regex the body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_regex: Option<String>,
    /// http: a JSON condition on the body, see [`crate::condition`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_condition: Option<String>,
    /// http: a successful probe slower than this is `degraded`.
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub degraded_above: Option<Duration>,
    /// http: follow redirects (default true, at most 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    /// http, tls: verify the server certificate (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_verify: Option<bool>,
    /// http: cap on the body read for `body_regex` / `json_condition` (default 1MiB).
    #[serde(default, with = "opt_bytes", skip_serializing_if = "Option::is_none")]
    pub max_body: Option<u64>,

    // --- tcp, tls ---
    /// tcp, tls: host name or address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// tcp, tls: port (tls defaults to 443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// tcp: bytes sent after connecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// tcp: a substring the reply must contain; dns: the answers that must all be present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<OneOrMany>,

    // --- dns ---
    /// dns: the name queried, when not the check's `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// dns: record type (`A`, `AAAA`, `CNAME`, `MX`, `TXT`, `NS`; default A).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<DnsRecord>,
    /// dns: server `ip` or `ip:port` (default: the system resolvers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,

    // --- tls ---
    /// tls: degraded when the certificate expires in fewer days (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_days: Option<u32>,
    /// tls: unhealthy when the certificate expires in fewer days (default 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_days: Option<u32>,

    // --- heartbeat ---
    /// heartbeat: the secret in `/api/monitoring/heartbeat/{token}`; unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// heartbeat: expected time between pings.
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub period: Option<Duration>,
    /// heartbeat: cron schedule (5 fields, or 6 with seconds; UTC) instead of `period`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// heartbeat: extra time after the expected ping, or the longest run after `/start`
    /// (default 1m).
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub grace: Option<Duration>,
}

mod opt_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_u64(*v),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::N(n)) => Ok(Some(n)),
            Some(Raw::S(s)) => strix_core::bytesize::parse(&s)
                .map(Some)
                .map_err(D::Error::custom),
        }
    }
}

/// Validates the whole `checks:` list: each entry, unique names and unique heartbeat tokens.
pub fn validate_checks(list: &[CheckConfig]) -> Result<Vec<Check>, ConfigError> {
    let mut names = HashSet::new();
    let mut tokens = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let key = format!("checks[{i}]");
        let check = raw.validate(&key)?;
        if !names.insert(check.name.clone()) {
            return Err(ConfigError::new(
                format!("{key}.name"),
                format!("duplicate check name {:?}", check.name),
            ));
        }
        if let CheckKind::Heartbeat(hb) = &check.kind {
            if !tokens.insert(hb.token.clone()) {
                return Err(ConfigError::new(
                    format!("{key}.token"),
                    "duplicate heartbeat token",
                ));
            }
        }
        out.push(check);
    }
    Ok(out)
}

/// Resolves the host names of `http`, `tcp` and `tls` checks (for `strix check-config`):
/// the first that does not resolve within `timeout` is an error naming its key.
pub async fn check_hosts_resolve(checks: &[Check], timeout: Duration) -> Result<(), ConfigError> {
    for (i, c) in checks.iter().enumerate() {
        let (key, host, port) = match &c.kind {
            CheckKind::Http(h) => (
                "url",
                h.url.host_str().unwrap_or_default().to_string(),
                h.url.port_or_known_default().unwrap_or(80),
            ),
            CheckKind::Tcp(t) => ("host", t.host.clone(), t.port),
            CheckKind::Tls(t) => ("host", t.host.clone(), t.port),
            _ => continue,
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let key = format!("checks[{i}].{key}");
        let res =
            tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port))).await;
        match res {
            Ok(Ok(addrs)) => {
                if addrs.count() == 0 {
                    return Err(ConfigError::new(
                        key,
                        format!("host {host:?} has no addresses"),
                    ));
                }
            }
            Ok(Err(e)) => {
                return Err(ConfigError::new(
                    key,
                    format!("host {host:?} does not resolve: {e}"),
                ))
            }
            Err(_) => {
                return Err(ConfigError::new(
                    key,
                    format!("host {host:?}: resolution timed out"),
                ))
            }
        }
    }
    Ok(())
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

fn valid_host(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && !s.chars().any(|c| c.is_whitespace() || c == '/' || c == '@')
}

fn valid_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !s.starts_with("__")
}

impl CheckConfig {
    /// Parses one entry written as JSON (the admin API's body), in the same shape as in
    /// `strix.yaml`. A type error names the field (`interval: invalid type: ...`); unknown
    /// fields are refused. The result still needs [`CheckConfig::validate`].
    pub fn from_json(body: &[u8]) -> Result<CheckConfig, ConfigError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let key = if path == "." {
                "definition".to_string()
            } else {
                path
            };
            ConfigError::new(key, e.into_inner().to_string())
        })
    }

    /// Validates one entry; `key` is its path, e.g. `checks[2]`.
    pub fn validate(&self, key: &str) -> Result<Check, ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        if !valid_name(&self.name) {
            return Err(ConfigError::new(
                k("name"),
                "must be 1-128 characters of letters, digits, '_', '.', ':' or '-'",
            ));
        }
        self.reject_foreign_keys(key)?;

        let interval = self.interval.unwrap_or(DEFAULT_INTERVAL);
        if interval.is_zero() {
            return Err(ConfigError::new(k("interval"), "must be positive"));
        }
        let timeout = match self.timeout {
            Some(t) if t.is_zero() => {
                return Err(ConfigError::new(k("timeout"), "must be positive"))
            }
            Some(t) if t > interval => {
                return Err(ConfigError::new(
                    k("timeout"),
                    "must not exceed the interval",
                ))
            }
            Some(t) => t,
            None => DEFAULT_TIMEOUT.min(interval),
        };
        let retries = self.retries.unwrap_or(1);
        if retries == 0 {
            return Err(ConfigError::new(k("retries"), "must be at least 1"));
        }
        let sla_target = self.sla_target.unwrap_or(DEFAULT_SLA_TARGET);
        if !(sla_target > 0.0 && sla_target <= 100.0) {
            return Err(ConfigError::new(
                k("sla_target"),
                "must be a percentage in (0, 100]",
            ));
        }
        for name in self.labels.keys() {
            if !valid_label_name(name) || matches!(name.as_str(), "check" | "type") {
                return Err(ConfigError::new(
                    format!("{key}.labels.{name}"),
                    "invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]*, not start with '__', not be 'check' or 'type')",
                ));
            }
        }
        let breaker = self.circuit_breaker.unwrap_or_default();
        breaker.validate(&k("circuit_breaker"))?;

        let kind = match self.kind {
            CheckType::Http => CheckKind::Http(Box::new(self.http(key)?)),
            CheckType::Tcp => CheckKind::Tcp(self.tcp(key)?),
            CheckType::Dns => CheckKind::Dns(self.dns(key)?),
            CheckType::Tls => CheckKind::Tls(self.tls(key)?),
            CheckType::Heartbeat => CheckKind::Heartbeat(self.heartbeat(key)?),
        };
        Ok(Check {
            name: self.name.clone(),
            interval,
            timeout,
            retries,
            labels: self.labels.clone(),
            public: self.public,
            sla_target,
            breaker,
            kind,
        })
    }

    /// Keys that belong to another type are an error rather than silently ignored.
    fn reject_foreign_keys(&self, key: &str) -> Result<(), ConfigError> {
        use CheckType::*;
        let set: [(&str, bool, &[CheckType]); 20] = [
            ("url", self.url.is_some(), &[Http]),
            ("method", self.method.is_some(), &[Http]),
            ("headers", !self.headers.is_empty(), &[Http]),
            ("body", self.body.is_some(), &[Http]),
            ("expect_status", self.expect_status.is_some(), &[Http]),
            ("body_regex", self.body_regex.is_some(), &[Http]),
            ("json_condition", self.json_condition.is_some(), &[Http]),
            ("degraded_above", self.degraded_above.is_some(), &[Http]),
            ("follow_redirects", self.follow_redirects.is_some(), &[Http]),
            ("max_body", self.max_body.is_some(), &[Http]),
            ("tls_verify", self.tls_verify.is_some(), &[Http, Tls]),
            ("host", self.host.is_some(), &[Tcp, Tls]),
            ("port", self.port.is_some(), &[Tcp, Tls]),
            ("send", self.send.is_some(), &[Tcp]),
            ("expect", self.expect.is_some(), &[Tcp, Dns]),
            ("query", self.query.is_some(), &[Dns]),
            ("record", self.record.is_some(), &[Dns]),
            ("server", self.server.is_some(), &[Dns]),
            (
                "warn_days",
                self.warn_days.is_some() || self.critical_days.is_some(),
                &[Tls],
            ),
            (
                "token",
                self.token.is_some()
                    || self.period.is_some()
                    || self.schedule.is_some()
                    || self.grace.is_some(),
                &[Heartbeat],
            ),
        ];
        for (name, present, allowed) in set {
            if present && !allowed.contains(&self.kind) {
                let name = match name {
                    "warn_days" if self.warn_days.is_none() => "critical_days",
                    "token" if self.token.is_none() => {
                        if self.period.is_some() {
                            "period"
                        } else if self.schedule.is_some() {
                            "schedule"
                        } else {
                            "grace"
                        }
                    }
                    n => n,
                };
                return Err(ConfigError::new(
                    format!("{key}.{name}"),
                    format!("not allowed for type {}", self.kind.as_str()),
                ));
            }
        }
        Ok(())
    }
}

/// Parses a cron expression: 5 fields (minute hour day month weekday) or 6/7 with seconds
/// first (and years last), as the `cron` crate reads them.
pub fn parse_cron(s: &str) -> Result<cron::Schedule, String> {
    let fields = s.split_whitespace().count();
    let expr = match fields {
        5 => format!("0 {}", s.trim()),
        6 | 7 => s.trim().to_string(),
        _ => return Err(format!("{s:?}: expected 5 fields (or 6-7 with seconds)")),
    };
    cron::Schedule::from_str(&expr).map_err(|e| format!("{s:?}: {e}"))
}

fn parse_server(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let ip: IpAddr = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, 53))
}

#[cfg(test)]
mod tests;
