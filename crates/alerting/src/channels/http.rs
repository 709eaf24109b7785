//! The HTTP plumbing shared by the HTTP channels: one pooled client, per-request timeouts,
//! and the mapping of responses and transport errors onto [`DeliveryError`].

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::error::{status_is_retryable, ChannelKind, DeliveryError, DeliveryReceipt};

/// Default per-request timeout of every channel.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// User agent sent by every HTTP channel.
pub const USER_AGENT: &str = concat!("Strix/", env!("CARGO_PKG_VERSION"));

/// A client for the HTTP channels. Redirects are not followed: a webhook that redirects
/// is misconfigured, and following would re-send the body (and its signature) elsewhere.
/// Compressed answers are not asked for: receivers answer with a few bytes, and the
/// decompression layer cost CPU on every delivery.
pub fn build_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .no_gzip()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(DEFAULT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
}

/// The client for a channel with `http_config`: the shared pool unless the config sets
/// TLS options (`tls_config.insecure_skip_verify`, `ca_file`, `ca`, `min_version`) or a
/// `proxy_url` (with `no_proxy`), which need a client of their own. Errors name the key.
pub fn client_for(
    cfg: Option<&crate::routing::config::HttpConfig>,
    shared: &reqwest::Client,
) -> Result<reqwest::Client, String> {
    let Some(h) = cfg else {
        return Ok(shared.clone());
    };
    let tls = h.tls_config.as_ref();
    let custom_tls = tls.is_some_and(|t| {
        t.insecure_skip_verify || t.ca_file.is_some() || t.ca.is_some() || t.min_version.is_some()
    });
    if !custom_tls && h.proxy_url.is_none() {
        return Ok(shared.clone());
    }
    let mut b = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .no_gzip()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(DEFAULT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60));
    if let Some(t) = tls {
        if t.insecure_skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        let mut pems: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(f) = &t.ca_file {
            let bytes = std::fs::read(f)
                .map_err(|e| format!("tls_config.ca_file: cannot read {f}: {e}"))?;
            pems.push(("tls_config.ca_file".into(), bytes));
        }
        if let Some(ca) = &t.ca {
            pems.push(("tls_config.ca".into(), ca.as_bytes().to_vec()));
        }
        for (key, pem) in pems {
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{key}: not a PEM certificate bundle: {e}"))?;
            if certs.is_empty() {
                return Err(format!("{key}: no certificate in the PEM data"));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let Some(v) = &t.min_version {
            let v = match v.as_str() {
                "TLS12" => reqwest::tls::Version::TLS_1_2,
                "TLS13" => reqwest::tls::Version::TLS_1_3,
                other => {
                    return Err(format!(
                        "tls_config.min_version: {other:?} is not supported (TLS12 or TLS13)"
                    ))
                }
            };
            b = b.min_tls_version(v);
        }
    }
    if let Some(p) = &h.proxy_url {
        let mut proxy =
            reqwest::Proxy::all(p.as_str()).map_err(|e| format!("proxy_url: invalid: {e}"))?;
        if let Some(np) = &h.no_proxy {
            proxy = proxy.no_proxy(reqwest::NoProxy::from_string(np));
        }
        b = b.proxy(proxy);
    }
    b.build()
        .map_err(|e| format!("http_config: cannot build the HTTP client: {e}"))
}

/// A successful HTTP response: status and body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends `req` with `timeout` over the whole exchange (headers and body); maps the outcome.
pub async fn execute(
    channel: ChannelKind,
    req: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<HttpResponse, DeliveryError> {
    let exchange = async {
        let resp = req.send().await.map_err(|e| transport_error(channel, &e))?;
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(resp.headers(), SystemTime::now());
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport_error(channel, &e))?;
        if (200..300).contains(&status) {
            return Ok(HttpResponse {
                status,
                body: body.to_vec(),
            });
        }
        let mut err = if status_is_retryable(status) {
            DeliveryError::retryable(channel, format!("HTTP {status}"))
        } else {
            DeliveryError::permanent(channel, format!("HTTP {status}"))
        }
        .with_status(status, &body);
        err.retry_after = retry_after;
        Err(err)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(DeliveryError::retryable(
            channel,
            format!("timed out after {}", strix_core::duration::format(timeout)),
        )),
    }
}

/// Convenience: [`execute`] and turn success into a receipt.
/// Sends a chat-webhook notification (Slack, Discord, Teams): skips resolved-only
/// notifications when the receiver does not want them, posts `payload` as JSON with the
/// idempotency header, and classifies the answer like every HTTP channel.
pub async fn post_chat_webhook<P: serde::Serialize>(
    client: &reqwest::Client,
    url: &reqwest::Url,
    kind: ChannelKind,
    send_resolved: bool,
    timeout: Duration,
    n: &super::Notification,
    payload: impl FnOnce(&super::Notification) -> P,
) -> Result<DeliveryReceipt, DeliveryError> {
    let Some(n) = n.filter_resolved(send_resolved) else {
        return Ok(DeliveryReceipt::skipped(kind));
    };
    let req = client
        .post(url.clone())
        .header(super::webhook::IDEMPOTENCY_HEADER, n.idempotency_key())
        .json(&payload(&n));
    execute_receipt(kind, req, timeout).await
}

pub async fn execute_receipt(
    channel: ChannelKind,
    req: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<DeliveryReceipt, DeliveryError> {
    let r = execute(channel, req, timeout).await?;
    Ok(DeliveryReceipt::sent(channel, Some(r.status)))
}

fn transport_error(channel: ChannelKind, e: &reqwest::Error) -> DeliveryError {
    if e.is_builder() {
        return DeliveryError::permanent(channel, format!("invalid request: {}", render(e)));
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    DeliveryError::retryable(channel, format!("{what}: {}", render(e)))
}

/// The error and its causes, without the URL: webhook URLs carry secrets (Slack, Discord,
/// Teams), and reqwest renders "... for url (https://...)".
fn render(e: &reqwest::Error) -> String {
    let top = e.to_string();
    let mut s = match top.find(" for url (") {
        Some(i) => top[..i].to_string(),
        None => top,
    };
    let mut src = std::error::Error::source(e);
    let mut depth = 0;
    while let Some(cause) = src {
        if depth >= 4 {
            break;
        }
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
        depth += 1;
    }
    s
}

/// `Retry-After` as delta-seconds or an HTTP-date (relative to `now`).
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(86_400.0)));
        }
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h, now), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h, now), None);
    }
}
