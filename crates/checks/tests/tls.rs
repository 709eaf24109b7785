//! End-to-end: the tls probe against a tokio-rustls server with a self-signed certificate
//! generated here (rcgen), valid for a chosen number of days.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::checks;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use strix_checks::{CheckState, CheckStatus, Probe, ProbeContext};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A TLS server on loopback whose certificate expires in `days` days (plus one hour, so the
/// integer part of days_left is `days`).
async fn tls_server(days: i64) -> (u16, tokio::task::JoinHandle<()>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days) + time::Duration::hours(1);
    let cert = params.self_signed(&key).unwrap();
    let cert_der: CertificateDer<'static> = cert.der().clone();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert_der], key_der)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(s).await {
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn days_left_warn_and_critical() {
    let ctx = ProbeContext::new().unwrap();
    let mut servers = Vec::new();
    let mut results = Vec::new();
    for days in [60, 20, 3] {
        let (port, task) = tls_server(days).await;
        servers.push(task);
        let c = checks(&format!(
            "- {{name: cert, type: tls, host: 127.0.0.1, port: {port}, warn_days: 30, critical_days: 7, tls_verify: false, timeout: 5s}}"
        ));
        let r = Probe::build(&c[0], &ctx).unwrap().unwrap().run().await;
        let days_left = r.detail.days_left.unwrap();
        assert_eq!(days_left.floor() as i64, days, "{r:?}");
        assert!(r.detail.cert_not_after.is_some());
        results.push(r);
    }
    assert!(results[0].ok && !results[0].degraded, "{:?}", results[0]);
    assert!(results[1].ok && results[1].degraded, "{:?}", results[1]);
    assert!(results[1].error.as_deref().unwrap().contains("warn_days"));
    assert!(!results[2].ok, "{:?}", results[2]);
    assert!(results[2]
        .error
        .as_deref()
        .unwrap()
        .contains("critical_days"));

    // Through the state machine: healthy, degraded, unhealthy.
    let mut st = CheckState::new(1);
    let seen: Vec<_> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| st.observe("cert", r, i as i64).map(|c| c.to))
        .collect();
    assert_eq!(
        seen,
        vec![
            CheckStatus::Healthy,
            CheckStatus::Degraded,
            CheckStatus::Unhealthy
        ]
    );

    // With verification on, a self-signed certificate fails, but its expiry is still read.
    let (port, task) = tls_server(60).await;
    servers.push(task);
    let c = checks(&format!(
        "- {{name: cert, type: tls, host: 127.0.0.1, port: {port}, timeout: 5s}}"
    ));
    let r = Probe::build(&c[0], &ctx).unwrap().unwrap().run().await;
    assert!(!r.ok, "{r:?}");
    assert!(
        r.error.as_deref().unwrap().contains("TLS handshake"),
        "{r:?}"
    );
    assert_eq!(r.detail.days_left.unwrap().floor() as i64, 60);

    for s in servers {
        s.abort();
    }
}

#[tokio::test]
async fn https_check_with_tls_verify_off_reaches_the_server() {
    // The tls server closes right after the handshake: the HTTP probe gets through TLS
    // (tls_verify: false) and then fails on the missing response, not on the certificate.
    let (port, task) = tls_server(60).await;
    let ctx = ProbeContext::new().unwrap();
    let c = checks(&format!(
        "- {{name: web, type: http, url: 'https://127.0.0.1:{port}/', tls_verify: false, timeout: 5s}}\n\
         - {{name: web-verified, type: http, url: 'https://127.0.0.1:{port}/', timeout: 5s}}"
    ));
    let off = Probe::build(&c[0], &ctx).unwrap().unwrap().run().await;
    let on = Probe::build(&c[1], &ctx).unwrap().unwrap().run().await;
    assert!(!off.ok && !on.ok);
    let (e_off, e_on) = (off.error.unwrap(), on.error.unwrap());
    assert!(!e_off.to_lowercase().contains("certificate"), "{e_off}");
    assert!(
        e_on.to_lowercase().contains("certificate")
            || e_on.to_lowercase().contains("unknownissuer"),
        "{e_on}"
    );
    task.abort();
}
