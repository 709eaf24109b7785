//! Shared by the real-SDK tests: a loopback HTTP/1.1 listener that records requests
//! (Content-Length and chunked bodies, keep-alive), and the decode → process pipeline.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use strix_errors::{
    process, CategorizeConfig, Categorizer, Envelope, ItemType, NormalizeOptions, PayloadLimits,
    Processed, ScrubConfig, Scrubber, SentryAuth,
};
use strix_ingest::{decompress, ContentEncoding, DecodeLimits};

pub const KEY: &str = "5f0c9e1d2b3a4c5d6e7f8091a2b3c4d5";
pub const PROJECT: u64 = 7;

/// How long the whole listener lives at most.
const MAX_LIFETIME: Duration = Duration::from_secs(300);
const MAX_BODY: usize = 64 << 20;

#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The body after Content-Encoding, through strix-ingest's capped decompression.
    pub fn decoded(&self) -> Vec<u8> {
        let enc = ContentEncoding::parse(self.header("content-encoding")).unwrap();
        decompress(enc, &self.body, &DecodeLimits::default())
            .unwrap()
            .into_owned()
    }
}

pub struct CaptureServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Captured>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl CaptureServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, st) = (requests.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            let start = Instant::now();
            while !st.load(Ordering::Relaxed) && start.elapsed() < MAX_LIFETIME {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let reqs = reqs.clone();
                        std::thread::spawn(move || serve(stream, reqs));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        });
        CaptureServer {
            addr,
            requests,
            stop,
            accept: Some(accept),
        }
    }

    pub fn dsn(&self) -> String {
        strix_errors::Dsn::new("127.0.0.1", self.addr.port(), PROJECT, KEY).to_string()
    }

    pub fn taken(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (bounded) until `pred` holds for the captured requests.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[Captured]) -> bool) -> Vec<Captured> {
        let start = Instant::now();
        loop {
            let r = self.taken();
            if pred(&r) || start.elapsed() > timeout {
                return r;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn serve(stream: TcpStream, reqs: Arc<Mutex<Vec<Captured>>>) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(15))).ok();
    let mut w = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(stream);
    for _ in 0..1000 {
        let Some(req) = read_request(&mut r) else {
            return;
        };
        let close = req
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        reqs.lock().unwrap().push(req);
        let body = br#"{"id":"00000000000000000000000000000000"}"#;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if w.write_all(head.as_bytes())
            .and_then(|_| w.write_all(body))
            .is_err()
            || close
        {
            return;
        }
    }
}

fn read_line(r: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Captured> {
    let line = read_line(r)?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    for _ in 0..200 {
        let h = read_line(r)?;
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let chunked =
        get("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = read_line(r)?;
            let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                // Trailers until the blank line.
                for _ in 0..100 {
                    if read_line(r)?.is_empty() {
                        break;
                    }
                }
                break;
            }
            if body.len() + size > MAX_BODY {
                return None;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).ok()?;
            read_line(r)?; // CRLF after the chunk
        }
    } else if let Some(n) = get("content-length").and_then(|l| l.parse::<usize>().ok()) {
        if n > MAX_BODY {
            return None;
        }
        body.resize(n, 0);
        r.read_exact(&mut body).ok()?;
    }
    Some(Captured {
        method,
        target,
        headers,
        body,
        chunked,
    })
}

/// What the SDK sent, decoded and processed.
pub struct Decoded {
    /// Item type names of every envelope item, in order.
    pub item_types: Vec<String>,
    pub events: Vec<Processed>,
    pub encodings: Vec<String>,
    pub any_chunked: bool,
}

/// Decodes every envelope request: auth, decompression, framing, then the pipeline on
/// each event item. Every item's JSON must parse.
pub fn decode_all(reqs: &[Captured]) -> Decoded {
    let limits = PayloadLimits::default();
    let scrubber = Scrubber::new(&ScrubConfig::default()).unwrap();
    let categorizer = Categorizer::new(&CategorizeConfig::default()).unwrap();
    let mut out = Decoded {
        item_types: Vec::new(),
        events: Vec::new(),
        encodings: Vec::new(),
        any_chunked: false,
    };
    for req in reqs {
        assert_eq!(req.method, "POST", "{}", req.target);
        assert_eq!(
            req.path(),
            format!("/api/{PROJECT}/envelope/"),
            "unexpected endpoint {}",
            req.target
        );
        out.any_chunked |= req.chunked;
        out.encodings.push(
            req.header("content-encoding")
                .unwrap_or("identity")
                .to_owned(),
        );
        let body = req.decoded();
        let env = Envelope::parse(&body, &limits)
            .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&body)));
        let (auth, _) =
            SentryAuth::find(req.header("x-sentry-auth"), req.query(), env.dsn()).unwrap();
        assert_eq!(auth.public_key, KEY);
        for item in &env.items {
            out.item_types.push(item.item_type.as_str().to_owned());
            if item.item_type.is_json() {
                item.json(&limits).unwrap_or_else(|e| panic!("{e}"));
            }
            if item.item_type == ItemType::Event {
                // As the server parses it: the text kept beside the tree.
                let raw = item.event(&limits).unwrap();
                let opts = NormalizeOptions {
                    received_ms: now_ms(),
                    client_ip: Some("127.0.0.1".into()),
                    ..NormalizeOptions::default()
                };
                out.events
                    .push(process(raw, &scrubber, &categorizer, &opts).unwrap());
            }
        }
    }
    out
}

/// Everything of a processed event that reaches the store or the API, as text: the
/// normalised fields and the payload (the SDK's text when it was kept, else the tree).
pub fn stored_text(p: &strix_errors::Processed) -> String {
    let payload = match &p.event.raw_text {
        Some(text) => String::from_utf8_lossy(text).into_owned(),
        None => serde_json::to_string(&p.event.raw).unwrap_or_default(),
    };
    format!(
        "{}\n{payload}",
        serde_json::to_string(&p.event).unwrap_or_default()
    )
}

/// Whether tests against real peers must run (CI) instead of skipping.
pub fn require_peers() -> bool {
    std::env::var("STRIX_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Skips (returns) with a message, or fails when peers are required.
pub fn skip(why: &str) {
    if require_peers() {
        panic!("STRIX_REQUIRE_PEERS=1 but {why}");
    }
    eprintln!("SKIPPED: {why}");
}

/// Runs a command with a deadline; returns (success, stdout+stderr).
pub fn run(cmd: &mut std::process::Command, timeout: Duration) -> (bool, String) {
    use std::process::Stdio;
    let mut child = match cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => return (false, format!("spawn failed: {e}")),
    };
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => break None,
        }
    };
    let out = format!(
        "{}{}",
        t1.join().unwrap_or_default(),
        t2.join().unwrap_or_default()
    );
    (status.is_some_and(|s| s.success()), out)
}

pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_millis()).unwrap()
}
