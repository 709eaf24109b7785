//! The `http` probe: one request, then status, body regex, JSON condition and latency.
//!
//! Each probe opens a fresh connection (no idle pool), so a server that stopped accepting is
//! seen at once; proxies from the environment are not used. The body is read only when a
//! `body_regex` or `json_condition` needs it, and never past `max_body`.

use std::time::Instant;

use reqwest::redirect::Policy;

use super::{ProbeDetail, ProbeResult};
use crate::condition::truncate;
use crate::config::HttpCheck;
use crate::error::Error;

pub(super) fn client(follow_redirects: bool, tls_verify: bool) -> Result<reqwest::Client, Error> {
    let policy = if follow_redirects {
        Policy::limited(10)
    } else {
        Policy::none()
    };
    reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(policy)
        .danger_accept_invalid_certs(!tls_verify)
        .no_proxy()
        .pool_max_idle_per_host(0)
        .user_agent(concat!("strix-checks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Build {
            check: String::new(),
            message: format!("HTTP client: {e}"),
        })
}

pub(crate) struct HttpProbe {
    check: HttpCheck,
    client: reqwest::Client,
}

impl HttpProbe {
    pub(crate) fn new(check: HttpCheck, client: reqwest::Client) -> Self {
        HttpProbe { check, client }
    }

    pub(crate) async fn run(&self, start: Instant) -> ProbeResult {
        let c = &self.check;
        let mut req = self.client.request(c.method.clone(), c.url.clone());
        for (n, v) in &c.headers {
            req = req.header(n, v);
        }
        if let Some(body) = &c.body {
            req = req.body(body.clone());
        }
        let mut detail = ProbeDetail::default();
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return ProbeResult::failure(start.elapsed(), describe(&e), detail),
        };
        let status = resp.status().as_u16();
        detail.status_code = Some(status);
        detail.remote_addr = resp.remote_addr().map(|a| a.to_string());
        if !c.expect_status.iter().any(|m| m.matches(status)) {
            return ProbeResult::failure(
                start.elapsed(),
                format!("unexpected status {status}"),
                detail,
            );
        }
        if c.body_regex.is_some() || c.json_condition.is_some() {
            let mut body = Vec::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        if (body.len() + chunk.len()) as u64 > c.max_body_bytes {
                            return ProbeResult::failure(
                                start.elapsed(),
                                format!("response body larger than {} bytes", c.max_body_bytes),
                                detail,
                            );
                        }
                        body.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        return ProbeResult::failure(
                            start.elapsed(),
                            format!("reading body: {}", describe(&e)),
                            detail,
                        )
                    }
                }
            }
            if let Some(re) = &c.body_regex {
                let text = String::from_utf8_lossy(&body);
                if !re.is_match(&text) {
                    return ProbeResult::failure(
                        start.elapsed(),
                        format!("body does not match {:?}", truncate(re.as_str(), 100)),
                        detail,
                    );
                }
            }
            if let Some(cond) = &c.json_condition {
                let doc: serde_json::Value = match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(e) => {
                        return ProbeResult::failure(
                            start.elapsed(),
                            format!("body is not JSON: {e}"),
                            detail,
                        )
                    }
                };
                if let Err(why) = cond.eval(&doc) {
                    return ProbeResult::failure(start.elapsed(), why, detail);
                }
            }
        }
        let latency = start.elapsed();
        let mut r = ProbeResult::success(latency, detail);
        if let Some(limit) = c.degraded_above {
            if latency > limit {
                r.degraded = true;
                r.error = Some(format!(
                    "slow: {} ms > {}",
                    latency.as_millis(),
                    strix_core::duration::format(limit)
                ));
            }
        }
        r
    }
}

/// A short, stable description of a reqwest error (the chain's innermost causes).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_redirect() {
        "redirect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    let mut msg = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut depth = 0;
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
        depth += 1;
        if depth > 8 {
            break;
        }
    }
    if msg.is_empty() {
        msg = e.to_string();
    }
    format!("{kind} error: {}", truncate(&msg, 300))
}
