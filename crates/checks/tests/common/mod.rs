//! Loopback servers for the probe tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strix_checks::config::{validate_checks, CheckConfig};
use strix_checks::Check;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// Parses a YAML `checks:` list.
pub fn checks(yaml: &str) -> Vec<Check> {
    let list: Vec<CheckConfig> = serde_yaml::from_str(yaml).unwrap();
    validate_checks(&list).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 with `{"status":"ok"}`.
    Up = 0,
    /// 200 after 400 ms.
    Slow = 1,
    /// 500.
    Error = 2,
    /// Accepts and never answers.
    Hang = 3,
    /// Listener closed: connections refused.
    Down = 4,
}

/// A hand-written HTTP/1.1 server on loopback whose behaviour can be switched.
pub struct HttpServer {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    accept: Option<JoinHandle<()>>,
}

fn bind(addr: SocketAddr) -> TcpListener {
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_reuseaddr(true).unwrap();
    sock.bind(addr).unwrap();
    sock.listen(1024).unwrap()
}

impl HttpServer {
    pub async fn start() -> Self {
        let listener = bind("127.0.0.1:0".parse().unwrap());
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(Mode::Up as u8));
        let accept = Some(tokio::spawn(accept_loop(listener, mode.clone())));
        HttpServer { addr, mode, accept }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set(&mut self, mode: Mode) {
        let was_down = self.mode.load(Ordering::SeqCst) == Mode::Down as u8;
        self.mode.store(mode as u8, Ordering::SeqCst);
        if mode == Mode::Down {
            if let Some(t) = self.accept.take() {
                t.abort();
            }
        } else if was_down {
            let listener = bind(self.addr);
            self.accept = Some(tokio::spawn(accept_loop(listener, self.mode.clone())));
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(t) = self.accept.take() {
            t.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, mode: Arc<AtomicU8>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let mode = mode.clone();
        tokio::spawn(async move { serve(stream, mode).await });
    }
}

async fn serve(mut stream: TcpStream, mode: Arc<AtomicU8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let m = mode.load(Ordering::SeqCst);
    let (status, body) = match m {
        x if x == Mode::Slow as u8 => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            ("200 OK", r#"{"status":"ok"}"#)
        }
        x if x == Mode::Error as u8 => ("500 Internal Server Error", r#"{"status":"error"}"#),
        x if x == Mode::Hang as u8 => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        _ => ("200 OK", r#"{"status":"ok"}"#),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Waits for `cond` with a deadline (no fixed sleeps).
pub async fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + deadline;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
