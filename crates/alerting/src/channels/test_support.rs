//! Test helpers: a sample notification and a tiny HTTP/1.1 server on 127.0.0.1 that records
//! requests and answers from a script.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::notification::{Alert, AlertStatus, LabelSet, Notification};

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// One firing and one resolved alert of group `{alertname="HighLatency"}`.
pub fn sample_notification() -> Notification {
    let firing = Alert {
        status: AlertStatus::Firing,
        labels: labels(&[
            ("alertname", "HighLatency"),
            ("env", "prod"),
            ("instance", "api-1:9090"),
            ("job", "api"),
            ("severity", "critical"),
        ]),
        annotations: labels(&[("summary", "p99 latency above 1s on api-1")]),
        starts_at: Some(t("2024-05-06T07:08:09.120Z")),
        ends_at: None,
        generator_url: "https://strix.example/graph?g0.expr=latency".into(),
        fingerprint: "1a2b3c4d5e6f7081".into(),
    };
    let resolved = Alert {
        status: AlertStatus::Resolved,
        labels: labels(&[
            ("alertname", "HighLatency"),
            ("env", "prod"),
            ("instance", "api-2:9090"),
            ("job", "api"),
            ("severity", "warning"),
        ]),
        annotations: labels(&[("summary", "p99 latency above 1s on api-2")]),
        starts_at: Some(t("2024-05-06T06:00:00Z")),
        ends_at: Some(t("2024-05-06T07:00:00Z")),
        generator_url: "https://strix.example/graph?g0.expr=latency".into(),
        fingerprint: "8091a2b3c4d5e6f7".into(),
    };
    Notification {
        receiver: "team-api".into(),
        status: AlertStatus::Firing,
        group_key: "{}:{alertname=\"HighLatency\"}".into(),
        group_labels: labels(&[("alertname", "HighLatency")]),
        common_labels: labels(&[
            ("alertname", "HighLatency"),
            ("env", "prod"),
            ("job", "api"),
        ]),
        common_annotations: BTreeMap::new(),
        external_url: "https://strix.example".into(),
        alerts: vec![firing, resolved],
        alert_ids: vec![
            "01HX0000000000000000000001".into(),
            "01HX0000000000000000000002".into(),
        ],
        severity: None,
        escalation_level: 0,
        acknowledged: false,
        idempotency_key: "idem-123".into(),
    }
}

/// A recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// `application/x-www-form-urlencoded` body as pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded_pairs(&String::from_utf8_lossy(&self.body))
    }
}

fn form_urlencoded_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(h, 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// How the server answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, extra headers, body.
    Respond(u16, Vec<(&'static str, String)>, String),
    /// Read the request, then never answer (held for at most 30 s).
    Hang,
}

impl Reply {
    pub fn status(code: u16, body: &str) -> Reply {
        Reply::Respond(code, Vec::new(), body.to_string())
    }
}

/// A loopback HTTP/1.1 server answering with `replies` in order (the last one repeats).
pub struct MockServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockServer {
    pub async fn start(replies: Vec<Reply>) -> MockServer {
        Self::start_bounded(replies, 64).await
    }

    /// As [`MockServer::start`], accepting at most `max_connections` connections.
    pub async fn start_bounded(replies: Vec<Reply>, max_connections: usize) -> MockServer {
        assert!(!replies.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recs = requests.clone();
        let task = tokio::spawn(async move {
            // Bounded: at most `max_connections` connections per test server.
            for i in 0..max_connections {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let reply = replies[i.min(replies.len() - 1)].clone();
                let recs = recs.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(30),
                        serve_one(stream, reply, recs),
                    )
                    .await;
                });
            }
        });
        MockServer {
            addr,
            requests,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve_one(mut s: TcpStream, reply: Reply, recs: Arc<Mutex<Vec<Recorded>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut chunk).await.unwrap_or(0);
        if n == 0 || buf.len() > 1 << 20 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    recs.lock().unwrap().push(Recorded {
        method,
        path,
        headers,
        body,
    });
    match reply {
        Reply::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
        Reply::Respond(code, extra, body) => {
            let mut resp = format!(
                "HTTP/1.1 {code} Mock\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in extra {
                resp.push_str(&format!("{k}: {v}\r\n"));
            }
            resp.push_str("\r\n");
            resp.push_str(&body);
            let _ = s.write_all(resp.as_bytes()).await;
            let _ = s.shutdown().await;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A reqwest client like production's.
pub fn client() -> reqwest::Client {
    super::http::build_client().unwrap()
}
