//! Validated checks: what the rest of Strix sees after [`super::validate_checks`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use regex::Regex;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};

use super::{CheckType, DnsRecord};
use crate::breaker::BreakerConfig;
use crate::condition::JsonCondition;

/// A validated check.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures before unhealthy; at least 1.
    pub retries: u32,
    pub labels: BTreeMap<String, String>,
    pub public: bool,
    /// Percent, in (0, 100].
    pub sla_target: f64,
    pub breaker: BreakerConfig,
    pub kind: CheckKind,
}

impl Check {
    pub fn check_type(&self) -> CheckType {
        match &self.kind {
            CheckKind::Http(_) => CheckType::Http,
            CheckKind::Tcp(_) => CheckType::Tcp,
            CheckKind::Dns(_) => CheckType::Dns,
            CheckKind::Tls(_) => CheckType::Tls,
            CheckKind::Heartbeat(_) => CheckType::Heartbeat,
        }
    }
}

/// Per-kind settings of a validated check.
#[derive(Debug, Clone)]
pub enum CheckKind {
    Http(Box<HttpCheck>),
    Tcp(TcpCheck),
    Dns(DnsCheck),
    Tls(TlsCheck),
    Heartbeat(HeartbeatCheck),
}

#[derive(Debug, Clone)]
pub struct HttpCheck {
    pub url: Url,
    pub method: Method,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<String>,
    /// Accepted statuses; never empty.
    pub expect_status: Vec<StatusMatch>,
    pub body_regex: Option<Regex>,
    pub json_condition: Option<JsonCondition>,
    pub degraded_above: Option<Duration>,
    pub follow_redirects: bool,
    pub tls_verify: bool,
    pub max_body_bytes: u64,
}

/// A validated `expect_status` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Code(u16),
    /// The hundreds digit: 2 for `2xx`.
    Class(u16),
}

impl StatusMatch {
    pub fn matches(self, code: u16) -> bool {
        match self {
            StatusMatch::Code(c) => c == code,
            StatusMatch::Class(c) => code / 100 == c,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TcpCheck {
    pub host: String,
    pub port: u16,
    pub send: Option<String>,
    pub expect: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DnsCheck {
    /// The name queried.
    pub query: String,
    pub record: DnsRecord,
    /// Answers that must all be present (normalised: no trailing dot, lowercase names).
    pub expect: Vec<String>,
    /// `None`: the system resolvers.
    pub server: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct TlsCheck {
    pub host: String,
    pub port: u16,
    pub warn_days: u32,
    pub critical_days: u32,
    pub tls_verify: bool,
}

#[derive(Debug, Clone)]
pub struct HeartbeatCheck {
    pub token: String,
    pub expect: HeartbeatExpect,
    pub grace: Duration,
}

/// When a heartbeat is expected.
#[derive(Debug, Clone)]
pub enum HeartbeatExpect {
    Period(Duration),
    /// A cron schedule in UTC; `source` is what was written.
    Cron {
        schedule: Box<cron::Schedule>,
        source: String,
    },
}
