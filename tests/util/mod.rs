//! Shared harness for the end-to-end tests: runs the real `strix` binary in a scratch
//! directory on a free loopback port, and speaks its HTTP API with a blocking client.
//!
//! Every wait is a poll of a condition with a deadline; nothing sleeps to "let things
//! settle". Processes are stopped by PID only.
#![allow(clippy::expect_used)]
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use strix_ingest::remote_write::proto;

/// How long a fresh process gets to answer its health check.
pub const START_DEADLINE: Duration = Duration::from_secs(20);
/// How long a SIGTERM'd process gets to exit.
pub const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// The binary under test.
pub fn strix_bin() -> &'static str {
    env!("CARGO_BIN_EXE_strix")
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// A port that was free a moment ago (bind port 0, read it, release it). Racy by nature;
/// callers retry when the bind then fails.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Polls `cond` every 50 ms until it returns `Some`, panicking with `what` after `deadline`.
pub fn wait_for<T>(deadline: Duration, what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + deadline;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if Instant::now() >= until {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `child` to exit, at most `deadline`. `None` if it is still running.
pub fn wait_exit(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + deadline;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) => {}
            Err(e) => panic!("waiting for pid {}: {e}", child.id()),
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to one process, by PID.
pub fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) with a PID we spawned ourselves and a valid signal number; it only
    // sends a signal and touches no memory of ours.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        // ESRCH: already gone, which is what we wanted.
        assert_eq!(
            e.raw_os_error(),
            Some(libc::ESRCH),
            "kill({pid}, {sig}): {e}"
        );
    }
}

/// Kills `child` by PID with SIGKILL and reaps it.
pub fn kill_child(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        signal(child.id(), libc::SIGKILL);
        let _ = wait_exit(child, Duration::from_secs(10));
    }
}

/// The tail of a log file, for failure messages.
pub fn log_tail(path: &Path, max: usize) -> String {
    let s = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if s.len() > max {
        let mut cut = s.len() - max;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        format!("...{}", &s[cut..])
    } else {
        s
    }
}

/// A running `strix serve` with its own scratch directory and loopback port.
pub struct StrixProcess {
    /// Scratch root: `data/`, `strix.yaml`, `strix.log`.
    dir: tempfile::TempDir,
    child: Option<Child>,
    extra_args: Vec<String>,
    config_path: Option<PathBuf>,
    /// Host given to `--listen`.
    host: String,
    pub port: u16,
    /// How many times the process was started (log files are per start).
    starts: usize,
}

impl StrixProcess {
    /// Starts `strix serve` on 127.0.0.1 with `extra_args` and, when given, a config file
    /// with `config` as its text (YAML or JSON).
    pub fn start(extra_args: &[&str], config: Option<&str>) -> StrixProcess {
        Self::start_on("127.0.0.1", extra_args, config)
    }

    /// Like [`StrixProcess::start`] but listening on `host` (health is still checked over
    /// 127.0.0.1, so `host` must be loopback or a wildcard).
    pub fn start_on(host: &str, extra_args: &[&str], config: Option<&str>) -> StrixProcess {
        let dir = tempfile::Builder::new()
            .prefix("strix-e2e-")
            .tempdir()
            .expect("creating temp dir");
        let config_path = config.map(|text| {
            let name = if text.trim_start().starts_with('{') {
                "strix.json"
            } else {
                "strix.yaml"
            };
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("writing config");
            p
        });
        let mut p = StrixProcess {
            dir,
            child: None,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            config_path,
            host: host.to_string(),
            port: 0,
            starts: 0,
        };
        let mut last_err = String::new();
        for _attempt in 0..5 {
            p.port = free_port();
            match p.spawn_and_wait() {
                Ok(()) => return p,
                Err(e) => {
                    last_err = e;
                    if let Some(mut c) = p.child.take() {
                        kill_child(&mut c);
                    }
                    // Only a lost race for the port is worth another try.
                    if !last_err.contains("binding") && !last_err.contains("in use") {
                        break;
                    }
                }
            }
        }
        panic!("strix did not start; last error:\n{last_err}");
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("strix-{}.log", self.starts))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("strix is not running").id()
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base(), path)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(strix_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(format!("{}:{}", self.host, self.port));
        if let Some(c) = &self.config_path {
            cmd.arg("--config").arg(c);
        }
        cmd.args(&self.extra_args);
        cmd
    }

    /// Spawns the process and waits until health answers 200. On failure the error holds
    /// the log tail; the caller decides whether to retry (port taken) or give up.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log =
            std::fs::File::create(self.log_path()).map_err(|e| format!("creating log: {e}"))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cloning log handle: {e}"))?;
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", strix_bin()))?;
        self.child = Some(child);
        let health = self.url("/api/monitoring/health");
        let until = Instant::now() + START_DEADLINE;
        loop {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "strix exited during start-up with {st}; log:\n{}",
                    log_tail(&self.log_path(), 4000)
                ));
            }
            if let Ok(r) = agent_with_timeout(Duration::from_secs(2))
                .get(&health)
                .call()
            {
                if r.status() == 200 {
                    return Ok(());
                }
            }
            if Instant::now() >= until {
                return Err(format!(
                    "strix did not answer {health} with 200 within {START_DEADLINE:?}; log:\n{}",
                    log_tail(&self.log_path(), 4000)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, no chance to flush anything, then reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c);
        }
    }

    /// SIGTERM and wait (deadline [`STOP_DEADLINE`]) for a clean exit; returns the status.
    /// Panics (after SIGKILL) if the process does not exit in time.
    pub fn stop(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("strix is not running");
        signal(c.id(), libc::SIGTERM);
        match wait_exit(&mut c, STOP_DEADLINE) {
            Some(st) => st,
            None => {
                kill_child(&mut c);
                panic!(
                    "strix did not exit within {STOP_DEADLINE:?} of SIGTERM; log:\n{}",
                    log_tail(&self.log_path(), 4000)
                );
            }
        }
    }

    /// Starts again on the same data directory, port and arguments (kills the current
    /// process first if it is still running). Retries a few times if the port is briefly
    /// unavailable.
    pub fn restart(&mut self) {
        self.kill9();
        let mut last = String::new();
        for _ in 0..5 {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(e) => {
                    last = e;
                    if let Some(mut c) = self.child.take() {
                        kill_child(&mut c);
                    }
                }
            }
        }
        panic!("strix did not restart on port {}:\n{last}", self.port);
    }

    /// The whole log of the current (or last) run.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    // ---- HTTP helpers -------------------------------------------------------------

    /// `GET path` → (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        get_url(&self.url(path), &[])
    }

    /// `GET path` with headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        get_url(&self.url(path), headers)
    }

    /// `POST path` with headers and a raw body → (status, body).
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        post_url(&self.url(path), headers, body)
    }

    /// Remote-write `req` with the headers Prometheus sends.
    pub fn remote_write(&self, req: &proto::WriteRequest) -> (u16, String) {
        self.remote_write_raw(&encode_write_request(req), &[])
    }

    /// Remote-write an already-encoded body with the Prometheus headers plus `extra`.
    pub fn remote_write_raw(&self, body: &[u8], extra: &[(&str, &str)]) -> (u16, String) {
        let mut h = REMOTE_WRITE_HEADERS.to_vec();
        h.extend_from_slice(extra);
        self.post("/api/v1/write", &h, body)
    }

    /// `POST /api/v1/import` with JSON lines.
    pub fn import_jsonl(&self, body: &str) -> (u16, String) {
        self.post(
            "/api/v1/import",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    }

    /// `GET /api/v1/export?match[]=selector`, parsed; panics on a non-200 answer.
    pub fn export(&self, selector: &str) -> Vec<ExportedSeries> {
        let (code, body) = self.get(&format!("/api/v1/export?match[]={}", urlencode(selector)));
        assert_eq!(code, 200, "export {selector}: {body}");
        parse_export(&body)
    }
}

impl Drop for StrixProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c);
        }
    }
}

/// The headers a Prometheus remote-write sender puts on every request.
pub const REMOTE_WRITE_HEADERS: [(&str, &str); 3] = [
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

pub fn agent_with_timeout(t: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(t).build()
}

fn agent() -> ureq::Agent {
    agent_with_timeout(Duration::from_secs(60))
}

fn into_pair(r: Result<ureq::Response, ureq::Error>, what: &str) -> (u16, String) {
    match r {
        Ok(resp) => {
            let code = resp.status();
            (
                code,
                resp.into_string()
                    .unwrap_or_else(|e| format!("<unreadable body: {e}>")),
            )
        }
        Err(ureq::Error::Status(code, resp)) => (
            code,
            resp.into_string()
                .unwrap_or_else(|e| format!("<unreadable body: {e}>")),
        ),
        Err(e) => panic!("{what}: transport error: {e}"),
    }
}

/// Like [`post_url`] but a transport error (connection refused/reset) is an `Err`.
pub fn try_post_url(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, String), String> {
    let mut req = agent_with_timeout(timeout).post(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.send_bytes(body) {
        Ok(resp) => {
            let code = resp.status();
            let body = resp.into_string().map_err(|e| e.to_string())?;
            Ok((code, body))
        }
        Err(ureq::Error::Status(code, resp)) => Ok((code, resp.into_string().unwrap_or_default())),
        Err(e) => Err(e.to_string()),
    }
}

pub fn get_url(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    into_pair(req.call(), &format!("GET {url}"))
}

pub fn post_url(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut req = agent().post(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    into_pair(req.send_bytes(body), &format!("POST {url}"))
}

/// Percent-encodes everything but unreserved characters (for query values).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---- remote-write bodies --------------------------------------------------------------

pub fn label(name: &str, value: &str) -> proto::Label {
    proto::Label {
        name: name.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

/// One series with `labels` (name/value pairs, sent in the given order) and samples.
pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
    series_raw(labels.iter().map(|(n, v)| label(n, v)).collect(), samples)
}

pub fn series_raw(labels: Vec<proto::Label>, samples: &[(i64, f64)]) -> proto::TimeSeries {
    proto::TimeSeries {
        labels,
        samples: samples
            .iter()
            .map(|&(timestamp, value)| proto::Sample { value, timestamp })
            .collect(),
        exemplars: vec![],
        histograms: vec![],
    }
}

pub fn write_request(series: Vec<proto::TimeSeries>) -> proto::WriteRequest {
    proto::WriteRequest {
        timeseries: series,
        metadata: vec![],
    }
}

/// `WriteRequest` → protobuf → snappy block, exactly what Prometheus sends.
pub fn encode_write_request(req: &proto::WriteRequest) -> Vec<u8> {
    snappy(&req.encode_to_vec())
}

pub fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("snappy compress")
}

// ---- export parsing --------------------------------------------------------------------

/// One line of `/api/v1/export`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedSeries {
    pub labels: BTreeMap<String, String>,
    pub values: Vec<f64>,
    pub timestamps: Vec<i64>,
}

impl ExportedSeries {
    /// (timestamp, value) pairs.
    pub fn samples(&self) -> Vec<(i64, f64)> {
        self.timestamps
            .iter()
            .copied()
            .zip(self.values.iter().copied())
            .collect()
    }
}

fn json_value(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::Number(n) => n.as_f64().expect("number as f64"),
        serde_json::Value::Null => f64::NAN,
        serde_json::Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "+Inf" | "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other
                .parse()
                .unwrap_or_else(|_| panic!("bad exported value {other:?}")),
        },
        other => panic!("bad exported value {other}"),
    }
}

/// Parses VictoriaMetrics-style JSON lines.
pub fn parse_export(body: &str) -> Vec<ExportedSeries> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("export line is not JSON ({e}): {line}"));
            let labels = v["metric"]
                .as_object()
                .unwrap_or_else(|| panic!("export line without metric object: {line}"))
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().expect("label value string").to_string(),
                    )
                })
                .collect();
            let values: Vec<f64> = v["values"]
                .as_array()
                .expect("values array")
                .iter()
                .map(json_value)
                .collect();
            let timestamps: Vec<i64> = v["timestamps"]
                .as_array()
                .expect("timestamps array")
                .iter()
                .map(|t| t.as_i64().expect("integer timestamp"))
                .collect();
            assert_eq!(
                values.len(),
                timestamps.len(),
                "values/timestamps length mismatch: {line}"
            );
            ExportedSeries {
                labels,
                values,
                timestamps,
            }
        })
        .collect()
}

/// Label map from pairs.
pub fn labels_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Finds the exported series with exactly `labels`.
pub fn find_series<'a>(
    all: &'a [ExportedSeries],
    labels: &[(&str, &str)],
) -> Option<&'a ExportedSeries> {
    let want = labels_of(labels);
    all.iter().find(|s| s.labels == want)
}

/// Local address for a `--listen`-style flag of another program.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A raw HTTP/1.1 POST over a fresh TCP connection that keeps going when the server
/// answers (and closes) before the whole body is written, the way careful clients do:
/// write errors are ignored and whatever response arrived is read. Returns (status, body)
/// or the I/O error if no response could be read at all.
pub fn raw_post(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect(loopback(port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let write_err = s
        .write_all(head.as_bytes())
        .and_then(|()| s.write_all(body))
        .err();
    let mut resp = Vec::new();
    let read_err = s.read_to_end(&mut resp).err();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let Some((status_line, rest)) = text.split_once("\r\n") else {
        return Err(format!(
            "no response (write error: {write_err:?}, read error: {read_err:?}, got {} bytes)",
            resp.len()
        ));
    };
    let code: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let body = rest
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}
