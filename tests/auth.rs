//! API keys and scopes, the refusal to listen openly without keys, and the command line
//! around configuration (`check-config`, `--version`, JSON config files).
#![allow(clippy::expect_used)]

mod util;

use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use util::*;

const INGEST_KEY: &str = "ingest-key-0123456789";
const READ_KEY: &str = "read-key-0123456789ab";

const AUTH_YAML: &str = r#"auth:
  api_keys:
    - {name: w, key: "ingest-key-0123456789", scopes: [ingest]}
    - {name: r, key: "read-key-0123456789ab", scopes: [read]}
"#;

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// Runs the binary with `args` and a deadline; returns exit status, stdout and stderr.
fn run(args: &[&str], deadline: Duration) -> (ExitStatus, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(strix_bin())
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawning strix");
    let status = match wait_exit(&mut child, deadline) {
        Some(st) => st,
        None => {
            kill_child(&mut child);
            panic!(
                "`strix {}` still running after {deadline:?}; stderr:\n{}",
                args.join(" "),
                log_tail(&err_path, 4000)
            );
        }
    };
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    (status, out, err)
}

fn write_body(name: &str, t: i64, v: f64) -> Vec<u8> {
    encode_write_request(&write_request(vec![series(
        &[("__name__", name)],
        &[(t, v)],
    )]))
}

fn post_write(strix: &StrixProcess, body: &[u8], key: Option<&str>) -> (u16, String) {
    let auth = key.map(bearer);
    let mut h: Vec<(&str, &str)> = REMOTE_WRITE_HEADERS.to_vec();
    if let Some(a) = &auth {
        h.push(("Authorization", a));
    }
    strix.post("/api/v1/write", &h, body)
}

fn get_export(strix: &StrixProcess, selector: &str, key: Option<&str>) -> (u16, String) {
    let auth = key.map(bearer);
    let h: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    strix.get_with(
        &format!("/api/v1/export?match[]={}", urlencode(selector)),
        &h,
    )
}

#[test]
fn scopes_are_enforced() {
    let strix = StrixProcess::start(&[], Some(AUTH_YAML));
    let t = now_ms();
    let body = write_body("auth_metric", t, 3.25);

    let (code, msg) = post_write(&strix, &body, None);
    assert_eq!(code, 401, "write without key: {msg}");
    assert!(msg.contains("API key"), "{msg}");
    let (code, msg) = post_write(&strix, &body, Some("wrong-key-00000000000"));
    assert_eq!(code, 401, "write with unknown key: {msg}");
    let (code, msg) = post_write(&strix, &body, Some(READ_KEY));
    assert_eq!(code, 403, "write with read key: {msg}");
    assert!(
        msg.contains("ingest"),
        "403 should name the missing scope: {msg}"
    );
    let (code, msg) = post_write(&strix, &body, Some(INGEST_KEY));
    assert_eq!(code, 204, "write with ingest key: {msg}");

    let sel = r#"{__name__="auth_metric"}"#;
    let (code, msg) = get_export(&strix, sel, None);
    assert_eq!(code, 401, "export without key: {msg}");
    let (code, msg) = get_export(&strix, sel, Some(INGEST_KEY));
    assert_eq!(code, 403, "export with ingest key: {msg}");
    let v: serde_json::Value = serde_json::from_str(&msg).expect("403 in Prometheus envelope");
    assert_eq!(v["status"], "error", "{msg}");
    let (code, msg) = get_export(&strix, sel, Some(READ_KEY));
    assert_eq!(code, 200, "export with read key: {msg}");
    let got = parse_export(&msg);
    assert_eq!(got.len(), 1, "{msg}");
    assert_eq!(got[0].samples(), vec![(t, 3.25)]);

    // Liveness and health need no key (they carry no data).
    let (code, msg) = strix.get("/api/monitoring/health");
    assert_eq!(code, 200, "health without key: {msg}");
    let (code, _) = strix.get("/-/healthy");
    assert_eq!(code, 200);
    // Self-metrics are open like Prometheus' (the default self-scrape has no key), and
    // that self-scrape succeeds with keys configured.
    let (code, body) = strix.get("/metrics");
    assert_eq!(code, 200);
    assert!(body.contains("strix_tsdb_head_series"));
    let (code, _) = strix.get("/api/v1/export?match[]=up");
    assert_eq!(code, 401, "data still needs a key");
}

#[test]
fn non_loopback_without_keys_refuses_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let listen = format!("0.0.0.0:{}", free_port());
    let (status, out, err) = run(
        &[
            "serve",
            "--data-dir",
            data.to_str().expect("utf-8 path"),
            "--listen",
            &listen,
        ],
        Duration::from_secs(20),
    );
    assert!(
        !status.success(),
        "must refuse to start; stdout:\n{out}\nstderr:\n{err}"
    );
    let all = format!("{out}{err}");
    assert!(
        all.contains("--insecure"),
        "the refusal should point at --insecure:\n{all}"
    );
    assert!(
        all.contains("api_keys"),
        "the refusal should point at auth.api_keys:\n{all}"
    );
}

#[test]
fn non_loopback_with_insecure_starts() {
    let strix = StrixProcess::start_on("0.0.0.0", &["--insecure"], None);
    let (code, body) = strix.remote_write(&write_request(vec![series(
        &[("__name__", "open_metric")],
        &[(now_ms(), 1.0)],
    )]));
    assert_eq!(code, 204, "{body}");
}

#[test]
fn non_loopback_with_keys_starts_without_insecure() {
    let strix = StrixProcess::start_on("0.0.0.0", &[], Some(AUTH_YAML));
    let body = write_body("keyed_metric", now_ms(), 1.0);
    assert_eq!(post_write(&strix, &body, None).0, 401);
    assert_eq!(post_write(&strix, &body, Some(INGEST_KEY)).0, 204);
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "storage:\n  retention: ten days\n").expect("write");
    let (status, out, err) = run(
        &["check-config", bad.to_str().expect("path")],
        Duration::from_secs(20),
    );
    assert!(!status.success(), "bad config accepted:\n{out}{err}");
    assert!(
        err.contains("storage.retention"),
        "error should name the key:\n{err}"
    );
    assert!(err.contains("line 2"), "error should name the line:\n{err}");

    let typo = dir.path().join("typo.yaml");
    std::fs::write(&typo, "storage:\n  retnetion: 1d\n").expect("write");
    let (status, _, err) = run(
        &["check-config", typo.to_str().expect("path")],
        Duration::from_secs(20),
    );
    assert!(!status.success());
    assert!(
        err.contains("retnetion"),
        "unknown key should be named:\n{err}"
    );

    let invalid = dir.path().join("invalid.yaml");
    std::fs::write(&invalid, "storage:\n  fsync: sometimes\n").expect("write");
    let (status, _, err) = run(
        &["check-config", invalid.to_str().expect("path")],
        Duration::from_secs(20),
    );
    assert!(!status.success());
    assert!(
        err.contains("storage.fsync"),
        "validation error should name the key:\n{err}"
    );

    let good = dir.path().join("good.yaml");
    std::fs::write(&good, format!("storage:\n  retention: 30d\n  fsync: always\nlimits:\n  max_body_size: 16MiB\n{AUTH_YAML}")).expect("write");
    let (status, out, err) = run(
        &["check-config", good.to_str().expect("path")],
        Duration::from_secs(20),
    );
    assert!(status.success(), "good config refused:\n{out}{err}");
    assert!(out.contains("valid"), "{out}");
}

#[test]
fn version_flag_prints_the_version() {
    let (status, out, err) = run(&["--version"], Duration::from_secs(20));
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains(env!("CARGO_PKG_VERSION")),
        "--version printed {out:?}"
    );
    assert!(out.starts_with("strix"), "--version printed {out:?}");
}

#[test]
fn json_config_is_accepted() {
    let json = format!(
        r#"{{"storage": {{"fsync": "always", "retention": "30d"}},
            "limits": {{"max_body_size": "1MiB"}},
            "auth": {{"api_keys": [{{"name": "w", "key": "{INGEST_KEY}", "scopes": ["ingest", "read"]}}]}}}}"#
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("strix.json");
    std::fs::write(&file, &json).expect("write");
    let (status, out, err) = run(
        &["check-config", file.to_str().expect("path")],
        Duration::from_secs(20),
    );
    assert!(
        status.success(),
        "JSON config refused by check-config:\n{out}{err}"
    );

    // Served with it, the keys from the JSON file are in force.
    let strix = StrixProcess::start(&[], Some(&json));
    let body = write_body("json_cfg", now_ms(), 2.0);
    assert_eq!(post_write(&strix, &body, None).0, 401);
    assert_eq!(post_write(&strix, &body, Some(INGEST_KEY)).0, 204);
    let (code, msg) = get_export(&strix, r#"{__name__="json_cfg"}"#, Some(INGEST_KEY));
    assert_eq!(code, 200, "{msg}");
    assert_eq!(parse_export(&msg).len(), 1, "{msg}");
}
