//! Minimal HTTP/1.1 message framing over a tokio `TcpStream`, for the benchmark clients'
//! own ends of a connection (the alerting benchmark's webhook receiver, the error
//! benchmark's senders): read one request or response (head, then a `Content-Length` or
//! chunked body) from a reused buffer. They share two cores with the systems under test,
//! so they avoid a general HTTP stack's per-request work.
// Each benchmark binary includes this module and uses its own half of it.
#![allow(dead_code)]

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// One message head: its first line (request or status line) and body framing.
pub struct Head {
    pub first_line: String,
    pub len: usize,
    pub chunked: bool,
    /// `Connection: close`, or HTTP/1.0.
    pub close: bool,
}

impl Head {
    /// The status code of a response's status line (0 if there is none).
    pub fn status(&self) -> u16 {
        self.first_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// The target of a request line (`POST /path HTTP/1.1`).
    pub fn path(&self) -> &str {
        self.first_line.split_whitespace().nth(1).unwrap_or("")
    }
}

fn parse_head(head: &[u8]) -> Head {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("").to_string();
    let mut h = Head {
        close: first.contains("HTTP/1.0"),
        first_line: first,
        len: 0,
        chunked: false,
    };
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                h.len = v.parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                h.chunked = v.to_ascii_lowercase().contains("chunked");
            } else if k.eq_ignore_ascii_case("connection") {
                h.close = v.to_ascii_lowercase().contains("close");
            }
        }
    }
    h
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    buf.reserve(16 << 10);
    matches!(stream.read_buf(buf).await, Ok(n) if n > 0)
}

/// Reads until `buf` holds `n` bytes; false on end of stream or error.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> bool {
    while buf.len() < n {
        if !read_more(stream, buf).await {
            return false;
        }
    }
    true
}

/// Decodes a chunked body at the start of `buf` (reading more as needed) and removes it
/// from `buf`.
async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = loop {
            if let Some(i) = find(&buf[pos..], b"\r\n") {
                break pos + i;
            }
            if !read_more(stream, buf).await {
                return None;
            }
        };
        let size = std::str::from_utf8(&buf[pos..line_end]).ok()?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).ok()?;
        let data = line_end + 2;
        if !fill(stream, buf, data + n + 2).await {
            return None;
        }
        body.extend_from_slice(&buf[data..data + n]);
        pos = data + n + 2;
        if n == 0 {
            buf.drain(..pos);
            return Some(body);
        }
    }
}

/// Reads the next message from `stream` (bytes already read are in `buf`, and what is
/// read past the message stays there); `None` at end of stream or on a framing error.
pub async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(Head, Vec<u8>)> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        if !read_more(stream, buf).await {
            return None;
        }
    };
    let head = parse_head(&buf[..head_end]);
    buf.drain(..head_end + 4);
    let body = if head.chunked {
        read_chunked(stream, buf).await?
    } else {
        if !fill(stream, buf, head.len).await {
            return None;
        }
        buf.drain(..head.len).collect()
    };
    Some((head, body))
}
