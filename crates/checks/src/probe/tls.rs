//! The `tls` probe: a TLS handshake with the target, then the leaf certificate's expiry.
//!
//! - `days_left < critical_days` (or expired): failure.
//! - `days_left < warn_days`: success, `degraded`.
//!
//! With `tls_verify` (the default) the chain is verified against the Mozilla roots
//! (webpki-roots); a verification failure is a failed probe, but the certificate is still
//! captured so `days_left` is reported. With `tls_verify: false` any certificate is accepted
//! (self-signed, internal CAs) and only its dates are judged.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{ProbeDetail, ProbeResult};
use crate::condition::truncate;
use crate::config::TlsCheck;

const DAY_MS: f64 = 86_400_000.0;

pub(crate) struct TlsProbe {
    check: TlsCheck,
    provider: Arc<CryptoProvider>,
    /// `None` when `tls_verify` is off, or the verifier could not be built (then the probe fails).
    verifier: Result<Option<Arc<WebPkiServerVerifier>>, String>,
}

#[derive(Debug)]
struct Capture {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    leaf: Mutex<Option<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut g) = self.leaf.lock() {
            *g = Some(end_entity.clone().into_owned());
        }
        match &self.inner {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Facts read from a DER certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CertInfo {
    /// `notAfter` in milliseconds since the epoch.
    pub not_after: i64,
    pub subject: String,
}

/// Reads `notAfter` and the subject of a DER certificate.
pub fn cert_info(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("cannot parse certificate: {e}"))?;
    Ok(CertInfo {
        not_after: cert.validity().not_after.timestamp().saturating_mul(1000),
        subject: cert.subject().to_string(),
    })
}

impl TlsProbe {
    pub(crate) fn new(check: TlsCheck, provider: Arc<CryptoProvider>) -> Self {
        let verifier = if check.tls_verify {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map(Some)
                .map_err(|e| format!("certificate verifier: {e}"))
        } else {
            Ok(None)
        };
        TlsProbe {
            check,
            provider,
            verifier,
        }
    }

    pub(crate) async fn run(&self, start: Instant) -> ProbeResult {
        self.run_at(start, strix_core::now_millis()).await
    }

    async fn run_at(&self, start: Instant, now_ms: i64) -> ProbeResult {
        let c = &self.check;
        let mut detail = ProbeDetail::default();
        let inner = match &self.verifier {
            Ok(v) => v.clone(),
            Err(e) => return ProbeResult::failure(start.elapsed(), e.clone(), detail),
        };
        let capture = Arc::new(Capture {
            inner,
            provider: self.provider.clone(),
            leaf: Mutex::new(None),
        });
        let config = match ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
        {
            Ok(b) => b
                .dangerous()
                .with_custom_certificate_verifier(capture.clone())
                .with_no_client_auth(),
            Err(e) => {
                return ProbeResult::failure(
                    start.elapsed(),
                    format!("TLS configuration: {e}"),
                    detail,
                )
            }
        };
        let host = c
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let server_name = match ServerName::try_from(host.clone()) {
            Ok(n) => n,
            Err(e) => {
                return ProbeResult::failure(
                    start.elapsed(),
                    format!("invalid server name {host:?}: {e}"),
                    detail,
                )
            }
        };
        let tcp = match TcpStream::connect((host.as_str(), c.port)).await {
            Ok(s) => s,
            Err(e) => {
                return ProbeResult::failure(start.elapsed(), format!("connect error: {e}"), detail)
            }
        };
        detail.remote_addr = tcp.peer_addr().ok().map(|a| a.to_string());
        let handshake = TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await;
        let leaf = capture.leaf.lock().ok().and_then(|mut g| g.take());
        if let Some(der) = &leaf {
            match cert_info(der) {
                Ok(info) => {
                    detail.cert_not_after = Some(info.not_after);
                    detail.days_left = Some((info.not_after - now_ms) as f64 / DAY_MS);
                    detail.cert_subject = Some(info.subject);
                }
                Err(e) => return ProbeResult::failure(start.elapsed(), e, detail),
            }
        }
        let latency = start.elapsed();
        if let Err(e) = handshake {
            return ProbeResult::failure(
                latency,
                format!("TLS handshake: {}", truncate(&e.to_string(), 300)),
                detail,
            );
        }
        let Some(days_left) = detail.days_left else {
            return ProbeResult::failure(latency, "no certificate presented", detail);
        };
        judge(days_left, c.warn_days, c.critical_days, latency, detail)
    }
}

/// Applies `warn_days` / `critical_days` to a certificate's days left.
pub fn judge(
    days_left: f64,
    warn_days: u32,
    critical_days: u32,
    latency: std::time::Duration,
    detail: ProbeDetail,
) -> ProbeResult {
    if days_left < 0.0 {
        return ProbeResult::failure(
            latency,
            format!("certificate expired {:.1} days ago", -days_left),
            detail,
        );
    }
    if days_left < f64::from(critical_days) {
        return ProbeResult::failure(
            latency,
            format!("certificate expires in {days_left:.1} days (critical_days {critical_days})"),
            detail,
        );
    }
    let mut r = ProbeResult::success(latency, detail);
    if days_left < f64::from(warn_days) {
        r.degraded = true;
        r.error = Some(format!(
            "certificate expires in {days_left:.1} days (warn_days {warn_days})"
        ));
    }
    r
}
