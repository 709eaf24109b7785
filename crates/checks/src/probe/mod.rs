//! Probes: one module per kind, all returning a [`ProbeResult`].
//!
//! A probe never fails to return: errors become `ok: false` with a message, and
//! [`Probe::run`] wraps the whole probe (resolution, connect, handshake, request, body) in
//! `tokio::time::timeout`, so a server that accepts and then hangs costs exactly the check's
//! timeout.

pub mod dns;
pub mod http;
pub mod tcp;
pub mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Check, CheckKind};
use crate::error::Error;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    /// The target answered as expected.
    pub ok: bool,
    /// Answered as expected but not well: slower than `degraded_above`, or a TLS certificate
    /// inside `warn_days`. Only meaningful when `ok`.
    pub degraded: bool,
    /// Time from start to the verdict.
    #[serde(serialize_with = "ser_ms")]
    pub latency: Duration,
    /// Why the probe failed (or why it is degraded).
    pub error: Option<String>,
    pub detail: ProbeDetail,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

impl ProbeResult {
    pub fn success(latency: Duration, detail: ProbeDetail) -> Self {
        ProbeResult {
            ok: true,
            degraded: false,
            latency,
            error: None,
            detail,
        }
    }

    pub fn failure(latency: Duration, error: impl Into<String>, detail: ProbeDetail) -> Self {
        ProbeResult {
            ok: false,
            degraded: false,
            latency,
            error: Some(error.into()),
            detail,
        }
    }
}

/// Kind-specific facts about a probe; fields not set by a kind stay empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProbeDetail {
    /// http: the final response status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// dns: the answers, normalised (addresses, names without the trailing dot,
    /// `PREF EXCHANGE` for MX, joined strings for TXT).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
    /// tcp/tls/http: the address connected to, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    /// tls: certificate `notAfter`, milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_not_after: Option<i64>,
    /// tls: days until `notAfter` (fractional, negative once expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<f64>,
    /// tls: the certificate subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_subject: Option<String>,
}

/// Shared resources for probes (HTTP clients, TLS crypto provider). Cheap to clone.
#[derive(Clone)]
pub struct ProbeContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    /// Indexed by `follow_redirects as usize * 2 + tls_verify as usize`.
    http: [reqwest::Client; 4],
    crypto: Arc<rustls::crypto::CryptoProvider>,
}

impl ProbeContext {
    /// Builds the HTTP clients; fails only if the TLS backend cannot initialise.
    pub fn new() -> Result<Self, Error> {
        let mk = |redirects: bool, verify: bool| http::client(redirects, verify);
        let http = [
            mk(false, false)?,
            mk(false, true)?,
            mk(true, false)?,
            mk(true, true)?,
        ];
        Ok(ProbeContext {
            inner: Arc::new(ContextInner {
                http,
                crypto: Arc::new(rustls::crypto::ring::default_provider()),
            }),
        })
    }

    fn http_client(&self, follow_redirects: bool, tls_verify: bool) -> reqwest::Client {
        let i = usize::from(follow_redirects) * 2 + usize::from(tls_verify);
        self.inner.http[i].clone()
    }

    fn crypto(&self) -> Arc<rustls::crypto::CryptoProvider> {
        self.inner.crypto.clone()
    }
}

/// A probe built from a check, ready to run repeatedly.
#[derive(Clone)]
pub struct Probe {
    timeout: Duration,
    kind: ProbeKind,
}

#[derive(Clone)]
enum ProbeKind {
    Http(Arc<http::HttpProbe>),
    Tcp(Arc<tcp::TcpProbe>),
    Dns(Arc<dns::DnsProbe>),
    Tls(Arc<tls::TlsProbe>),
}

impl Probe {
    /// Builds the probe of a check; `None` for heartbeats, which are not probed.
    pub fn build(check: &Check, ctx: &ProbeContext) -> Result<Option<Probe>, Error> {
        let kind = match &check.kind {
            CheckKind::Http(h) => ProbeKind::Http(Arc::new(http::HttpProbe::new(
                (**h).clone(),
                ctx.http_client(h.follow_redirects, h.tls_verify),
            ))),
            CheckKind::Tcp(t) => ProbeKind::Tcp(Arc::new(tcp::TcpProbe::new(t.clone()))),
            CheckKind::Dns(d) => ProbeKind::Dns(Arc::new(
                dns::DnsProbe::new(d.clone(), check.timeout).map_err(|message| Error::Build {
                    check: check.name.clone(),
                    message,
                })?,
            )),
            CheckKind::Tls(t) => {
                ProbeKind::Tls(Arc::new(tls::TlsProbe::new(t.clone(), ctx.crypto())))
            }
            CheckKind::Heartbeat(_) => return Ok(None),
        };
        Ok(Some(Probe {
            timeout: check.timeout,
            kind,
        }))
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs the probe once; returns within the timeout (plus scheduling slack).
    pub async fn run(&self) -> ProbeResult {
        let start = Instant::now();
        let fut = async {
            match &self.kind {
                ProbeKind::Http(p) => p.run(start).await,
                ProbeKind::Tcp(p) => p.run(start).await,
                ProbeKind::Dns(p) => p.run(start).await,
                ProbeKind::Tls(p) => p.run(start).await,
            }
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => ProbeResult::failure(
                start.elapsed(),
                format!(
                    "timed out after {}",
                    strix_core::duration::format(self.timeout)
                ),
                ProbeDetail::default(),
            ),
        }
    }
}
