//! Bad input end to end: every malformed, oversized or invalid request gets a clear 4xx
//! whose message names the problem, and afterwards the data stored before is exported
//! intact and good writes still work.
#![allow(clippy::expect_used)]

mod util;

use std::io::Write;

use util::*;

const CANARY: &[(&str, &str)] = &[("__name__", "canary_series"), ("kind", "canary")];

/// A server with a canary series stored before any bad request.
struct Fixture {
    strix: StrixProcess,
    canary: Vec<(i64, f64)>,
    good_writes: u64,
}

impl Fixture {
    fn new(config: Option<&str>) -> Fixture {
        let strix = StrixProcess::start(&[], config);
        let now = now_ms();
        let canary: Vec<(i64, f64)> = (0..5)
            .map(|i| (now - 5_000 + i * 1_000, 40.0 + i as f64 * 0.25))
            .collect();
        let (code, body) = strix.remote_write(&write_request(vec![series(CANARY, &canary)]));
        assert_eq!(code, 204, "canary write: {body}");
        let f = Fixture {
            strix,
            canary,
            good_writes: 0,
        };
        f.assert_canary();
        f
    }

    fn assert_canary(&self) {
        let got = self.strix.export(r#"{__name__="canary_series"}"#);
        assert_eq!(got.len(), 1, "canary export: {got:?}");
        assert_eq!(got[0].labels, labels_of(CANARY));
        assert_eq!(got[0].samples(), self.canary, "canary samples changed");
    }

    /// The canary is intact and a new good remote write is stored and exported.
    fn assert_still_healthy(&mut self) {
        self.assert_canary();
        self.good_writes += 1;
        let t = now_ms();
        let v = 1000.0 + self.good_writes as f64;
        let (code, body) = self.strix.remote_write(&write_request(vec![series(
            &[
                ("__name__", "good_after"),
                ("n", &self.good_writes.to_string()),
            ],
            &[(t, v)],
        )]));
        assert_eq!(code, 204, "good write after bad input: {body}");
        let got = self
            .strix
            .export(&format!(r#"good_after{{n="{}"}}"#, self.good_writes));
        assert_eq!(got.len(), 1, "good write not exported: {got:?}");
        assert_eq!(got[0].samples(), vec![(t, v)]);
        let (code, body) = self.strix.get("/api/monitoring/health");
        assert_eq!(code, 200, "health after bad input: {body}");
    }
}

/// Asserts the status and that the body mentions every one of `needles` (case-insensitive).
#[track_caller]
fn assert_refused(resp: (u16, String), status: u16, needles: &[&str]) {
    let (code, body) = resp;
    assert_eq!(code, status, "expected {status}, got {code}: {body}");
    let lower = body.to_lowercase();
    for n in needles {
        assert!(
            lower.contains(&n.to_lowercase()),
            "error message should mention {n:?}: {body}"
        );
    }
}

/// Asserts a Prometheus-style error envelope.
#[track_caller]
fn assert_prometheus_error(body: &str, error_type: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {body}"));
    assert_eq!(v["status"], "error", "{body}");
    assert_eq!(v["errorType"], error_type, "{body}");
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {body}"))
        .to_string()
}

#[test]
fn malformed_protobuf_is_400() {
    let mut f = Fixture::new(None);
    let garbage = snappy(&[0xffu8; 64]);
    assert_refused(f.strix.remote_write_raw(&garbage, &[]), 400, &["protobuf"]);
    f.assert_still_healthy();
}

#[test]
fn bad_snappy_is_400() {
    let mut f = Fixture::new(None);
    assert_refused(
        f.strix.remote_write_raw(b"\x05not snappy at all", &[]),
        400,
        &["snappy"],
    );
    assert_refused(f.strix.remote_write_raw(&[0xff; 12], &[]), 400, &["snappy"]);
    f.assert_still_healthy();
}

#[test]
fn snappy_bomb_is_413() {
    let mut f = Fixture::new(None);
    // A snappy block header declaring 4 GiB - 1 of output, and nothing behind it.
    assert_refused(
        f.strix
            .remote_write_raw(&[0xff, 0xff, 0xff, 0xff, 0x0f], &[]),
        413,
        &["too large"],
    );
    f.assert_still_healthy();
}

/// Concatenated gzip members of 1 MiB of zeros each: ~1 KiB per MiB on the wire.
fn gzip_bomb(mib: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; 1 << 20]).expect("gzip");
    let member = enc.finish().expect("gzip finish");
    let mut out = Vec::with_capacity(member.len() * mib);
    for _ in 0..mib {
        out.extend_from_slice(&member);
    }
    out
}

#[test]
fn gzip_bomb_to_import_is_413() {
    let mut f = Fixture::new(None);
    // 300 MiB decompressed (default cap 256 MiB) in ~300 KiB sent.
    let bomb = gzip_bomb(300);
    assert!(bomb.len() < 1 << 20, "bomb is {} bytes", bomb.len());
    let resp = f.strix.post(
        "/api/v1/import",
        &[
            ("Content-Encoding", "gzip"),
            ("Content-Type", "application/json"),
        ],
        &bomb,
    );
    assert_eq!(resp.0, 413, "{}", resp.1);
    let msg = assert_prometheus_error(&resp.1, "bad_data");
    assert!(msg.contains("too large"), "{msg}");
    f.assert_still_healthy();
}

#[test]
fn body_over_max_body_size_is_413() {
    let mut f = Fixture::new(Some("limits:\n  max_body_size: 64KiB\n"));
    // ~100 KiB of snappy that does not compress (distinct label values).
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut noise = || {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..48)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                ALPHABET[(rng & 63) as usize] as char
            })
            .collect::<String>()
    };
    let series: Vec<_> = (0..1500)
        .map(|i| {
            series(
                &[("__name__", "too_big"), ("id", &noise())],
                &[(now_ms(), i as f64)],
            )
        })
        .collect();
    let body = encode_write_request(&write_request(series));
    assert!(
        body.len() > 64 << 10 && body.len() < 256 << 10,
        "body is {} bytes",
        body.len()
    );
    // The server answers as soon as the limit is hit; read that answer even if it
    // closes before the whole body is written (ureq would report a broken pipe).
    for i in 0..20 {
        let resp = raw_post(f.strix.port, "/api/v1/write", &REMOTE_WRITE_HEADERS, &body)
            .unwrap_or_else(|e| panic!("attempt {i}: {e}"));
        assert_refused(resp, 413, &["limit"]);
    }
    assert!(
        f.strix.export(r#"{__name__="too_big"}"#).is_empty(),
        "nothing of a refused body is stored"
    );
    f.assert_still_healthy();
}

/// `/api/v1/*` answers in Prometheus' error envelope, also when the body is too large
/// for the router's body limit.
#[test]
fn import_over_max_body_size_is_413_in_prometheus_envelope() {
    let mut f = Fixture::new(Some("limits:\n  max_body_size: 64KiB\n"));
    let t = now_ms();
    let mut body = String::new();
    for i in 0..1000 {
        body.push_str(&format!("{{\"metric\":{{\"__name__\":\"too_big_import\",\"id\":\"{i}\"}},\"values\":[{i}],\"timestamps\":[{t}]}}\n"));
    }
    assert!(
        body.len() > 64 << 10 && body.len() < 256 << 10,
        "body is {} bytes",
        body.len()
    );
    // The server answers as soon as the limit is hit; read that answer even if it
    // closes before the whole body is written (ureq would report a broken pipe).
    let (code, resp) = raw_post(
        f.strix.port,
        "/api/v1/import",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .expect("a response");
    assert_eq!(code, 413, "{resp}");
    let msg = assert_prometheus_error(&resp, "bad_data");
    assert!(
        msg.to_lowercase().contains("limit") || msg.contains("too large"),
        "{msg}"
    );
    f.assert_still_healthy();
}

#[test]
fn invalid_utf8_label_value_is_400() {
    let mut f = Fixture::new(None);
    let bad = proto_label("path", &[b'a', 0xff, b'b']);
    let req = write_request(vec![series_raw(
        vec![label("__name__", "bad_utf8"), bad],
        &[(now_ms(), 1.0)],
    )]);
    assert_refused(f.strix.remote_write(&req), 400, &["UTF-8", "path"]);
    f.assert_still_healthy();
}

fn proto_label(name: &str, value: &[u8]) -> strix_ingest::remote_write::proto::Label {
    strix_ingest::remote_write::proto::Label {
        name: name.as_bytes().to_vec(),
        value: value.to_vec(),
    }
}

#[test]
fn duplicate_labels_are_400() {
    let mut f = Fixture::new(None);
    let req = write_request(vec![series(
        &[("__name__", "dup"), ("a", "1"), ("a", "2")],
        &[(now_ms(), 1.0)],
    )]);
    assert_refused(f.strix.remote_write(&req), 400, &["duplicate", "\"a\""]);
    assert!(f.strix.export(r#"{__name__="dup"}"#).is_empty());
    f.assert_still_healthy();
}

#[test]
fn empty_label_name_is_400() {
    let mut f = Fixture::new(None);
    let req = write_request(vec![series(
        &[("__name__", "empty_name"), ("", "x")],
        &[(now_ms(), 1.0)],
    )]);
    assert_refused(f.strix.remote_write(&req), 400, &["empty label name"]);
    f.assert_still_healthy();
}

#[test]
fn missing_metric_name_is_400() {
    let mut f = Fixture::new(None);
    let req = write_request(vec![series(&[("job", "nameless")], &[(now_ms(), 1.0)])]);
    assert_refused(f.strix.remote_write(&req), 400, &["__name__"]);
    let (code, body) = f.strix.get(&format!(
        "/api/v1/series?match[]={}",
        urlencode(r#"{job="nameless"}"#)
    ));
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("series JSON");
    assert_eq!(
        v["data"],
        serde_json::json!([]),
        "a nameless series must not be stored: {body}"
    );
    f.assert_still_healthy();
}

#[test]
fn ten_mb_label_value_is_400_naming_the_label() {
    // The body must get through the body limit to reach label validation.
    let mut f = Fixture::new(Some("limits:\n  max_body_size: 64MiB\n"));
    let huge = "x".repeat(10 << 20);
    let req = write_request(vec![series(
        &[("__name__", "huge_label"), ("giant_label", &huge)],
        &[(now_ms(), 1.0)],
    )]);
    let (code, body) = f.strix.remote_write(&req);
    assert!(
        body.len() < 64 << 10,
        "the error echoes {} bytes back",
        body.len()
    );
    assert_refused((code, body), 400, &["giant_label", "4096"]);
    assert!(f.strix.export(r#"{__name__="huge_label"}"#).is_empty());
    f.assert_still_healthy();
}

#[test]
fn out_of_window_remote_write_is_400_but_import_backfills() {
    let mut f = Fixture::new(None);
    let old = now_ms() - 86_400_000;
    let req = write_request(vec![series(
        &[("__name__", "old_sample"), ("via", "x")],
        &[(old, 7.5)],
    )]);
    assert_refused(
        f.strix.remote_write(&req),
        400,
        &["out of bounds", "use the import API"],
    );
    assert!(f.strix.export(r#"{__name__="old_sample"}"#).is_empty());
    f.assert_still_healthy();

    // The same sample through the backfill API is accepted and exported.
    let line = format!("{{\"metric\":{{\"__name__\":\"old_sample\",\"via\":\"x\"}},\"values\":[7.5],\"timestamps\":[{old}]}}\n");
    let (code, body) = f.strix.import_jsonl(&line);
    assert_eq!(code, 204, "{body}");
    let got = f.strix.export(r#"{__name__="old_sample"}"#);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].labels,
        labels_of(&[("__name__", "old_sample"), ("via", "x")])
    );
    assert_eq!(got[0].samples(), vec![(old, 7.5)]);
    f.assert_still_healthy();
}

#[test]
fn partial_batch_is_400_and_keeps_the_good_series() {
    let mut f = Fixture::new(None);
    let t = now_ms();
    let req = write_request(vec![
        series(&[("__name__", "partial_good"), ("i", "1")], &[(t, 11.0)]),
        series(
            &[("__name__", "partial_bad"), ("i", "2")],
            &[(t - 86_400_000, 12.0)],
        ),
    ]);
    assert_refused(
        f.strix.remote_write(&req),
        400,
        &["out of bounds", "use the import API"],
    );
    let good = f.strix.export(r#"{__name__="partial_good"}"#);
    assert_eq!(
        good.len(),
        1,
        "the valid series of a partly refused batch must be stored: {good:?}"
    );
    assert_eq!(good[0].samples(), vec![(t, 11.0)]);
    assert!(f.strix.export(r#"{__name__="partial_bad"}"#).is_empty());
    f.assert_still_healthy();
}

#[test]
fn remote_write_with_gzip_encoding_is_415() {
    let mut f = Fixture::new(None);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let pb = prost::Message::encode_to_vec(&write_request(vec![series(
        &[("__name__", "gz")],
        &[(now_ms(), 1.0)],
    )]));
    enc.write_all(&pb).expect("gzip");
    let body = enc.finish().expect("gzip");
    let resp = f.strix.post(
        "/api/v1/write",
        &[
            ("Content-Encoding", "gzip"),
            ("Content-Type", "application/x-protobuf"),
        ],
        &body,
    );
    assert_refused(resp, 415, &["gzip", "snappy"]);
    assert!(f.strix.export(r#"{__name__="gz"}"#).is_empty());
    f.assert_still_healthy();
}

#[test]
fn export_with_bad_match_is_400_bad_data() {
    let mut f = Fixture::new(None);
    for sel in [r#"up{job="#, r#"{job=~"("}"#, r#"{job=""}"#, "rate(up[5m])"] {
        let (code, body) = f
            .strix
            .get(&format!("/api/v1/export?match[]={}", urlencode(sel)));
        assert_eq!(code, 400, "{sel}: {body}");
        let msg = assert_prometheus_error(&body, "bad_data");
        assert!(!msg.is_empty(), "{sel}: empty message");
    }
    let (code, body) = f.strix.get("/api/v1/export");
    assert_eq!(code, 400, "{body}");
    let msg = assert_prometheus_error(&body, "bad_data");
    assert!(msg.contains("match[]"), "{msg}");
    f.assert_still_healthy();
}

/// `/api/monitoring/*` answers in Strix' envelope, also when the body is too large for
/// the router's body limit.
#[test]
fn json_push_over_max_body_size_is_413_in_strix_envelope() {
    let mut f = Fixture::new(Some("limits:\n  max_body_size: 64KiB\n"));
    let items: Vec<String> = (0..2000)
        .map(|i| {
            format!("{{\"name\":\"too_big_push\",\"labels\":{{\"id\":\"{i}\"}},\"value\":{i}}}")
        })
        .collect();
    let body = format!("[{}]", items.join(","));
    assert!(
        body.len() > 64 << 10 && body.len() < 256 << 10,
        "body is {} bytes",
        body.len()
    );
    let (code, resp) = raw_post(
        f.strix.port,
        "/api/monitoring/metrics",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .expect("a response");
    assert_eq!(code, 413, "{resp}");
    let v: serde_json::Value = serde_json::from_str(&resp)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {resp}"));
    assert_eq!(v["success"], false, "{resp}");
    assert_eq!(v["error"]["code"], "payload_too_large", "{resp}");
    f.assert_still_healthy();
}
