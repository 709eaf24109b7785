//! The `tcp` probe: connect, optionally send bytes, optionally wait for a reply containing
//! `expect` (a plain substring). The reply is read until it matches, the peer closes, or
//! [`MAX_REPLY_BYTES`] have arrived; the check's timeout bounds all of it.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ProbeDetail, ProbeResult};
use crate::condition::truncate;
use crate::config::TcpCheck;

/// Most bytes read while waiting for `expect`.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

pub(crate) struct TcpProbe {
    check: TcpCheck,
}

impl TcpProbe {
    pub(crate) fn new(check: TcpCheck) -> Self {
        TcpProbe { check }
    }

    pub(crate) async fn run(&self, start: Instant) -> ProbeResult {
        let c = &self.check;
        let mut detail = ProbeDetail::default();
        let host = c.host.trim_start_matches('[').trim_end_matches(']');
        let mut stream = match TcpStream::connect((host, c.port)).await {
            Ok(s) => s,
            Err(e) => {
                return ProbeResult::failure(start.elapsed(), format!("connect error: {e}"), detail)
            }
        };
        detail.remote_addr = stream.peer_addr().ok().map(|a| a.to_string());
        if let Some(send) = &c.send {
            if let Err(e) = stream.write_all(send.as_bytes()).await {
                return ProbeResult::failure(start.elapsed(), format!("send error: {e}"), detail);
            }
        }
        if let Some(expect) = &c.expect {
            let mut buf = Vec::with_capacity(1024);
            let mut chunk = [0u8; 4096];
            loop {
                if contains(&buf, expect.as_bytes()) {
                    break;
                }
                if buf.len() >= MAX_REPLY_BYTES {
                    return ProbeResult::failure(
                        start.elapsed(),
                        format!("{expect:?} not found in the first {MAX_REPLY_BYTES} bytes"),
                        detail,
                    );
                }
                match stream.read(&mut chunk).await {
                    Ok(0) => {
                        return ProbeResult::failure(
                            start.elapsed(),
                            format!(
                                "connection closed before {expect:?}; got {:?}",
                                truncate(&String::from_utf8_lossy(&buf), 100)
                            ),
                            detail,
                        )
                    }
                    Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                    Err(e) => {
                        return ProbeResult::failure(
                            start.elapsed(),
                            format!("read error: {e}"),
                            detail,
                        )
                    }
                }
            }
        }
        ProbeResult::success(start.elapsed(), detail)
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
