//! A real OpenTelemetry SDK (Python `opentelemetry-sdk` with the OTLP/HTTP protobuf
//! exporter) exports a counter, a histogram and an up-down counter to a tiny HTTP/1.1
//! listener on 127.0.0.1; the captured body is decoded and translated.
//!
//! Skipped (with a message) when the Python packages cannot be imported, unless
//! `STRIX_REQUIRE_PEERS=1`. Set `STRIX_PYTHON` to pick the interpreter.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use strix_ingest::otlp::{decode_protobuf, translate, DeltaState};
use strix_ingest::{decompress, ContentEncoding, DecodeLimits};

const SCRIPT: &str = r#"
import sys
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

exporter = OTLPMetricExporter(endpoint=sys.argv[1], timeout=10)
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3600000)
resource = Resource.create({
    "service.name": "sdk-test",
    "service.instance.id": "i-1",
    "deployment.environment": "ci",
})
provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = provider.get_meter("strix.test", "0.1")
orders = meter.create_counter("orders.placed", unit="{orders}", description="Orders placed")
orders.add(3, {"shop.region": "eu"})
orders.add(2, {"shop.region": "eu"})
duration = meter.create_histogram("checkout.duration", unit="s", description="Checkout time")
duration.record(0.2, {"route": "/pay"})
duration.record(1.5, {"route": "/pay"})
queue = meter.create_up_down_counter("queue.length", unit="1")
queue.add(5)
queue.add(-2)
provider.force_flush()
provider.shutdown()
"#;

fn python() -> String {
    std::env::var("STRIX_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn sdk_available() -> Result<(), String> {
    let out = Command::new(python())
        .args([
            "-c",
            "import opentelemetry.sdk.metrics, opentelemetry.exporter.otlp.proto.http.metric_exporter",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// One request: (path, content-type, content-encoding, body).
type Captured = (String, String, Option<String>, Vec<u8>);

/// Serves HTTP/1.1 requests on `listener`, answering 200 with an empty protobuf body.
fn serve(listener: TcpListener, tx: mpsc::Sender<Captured>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let (mut len, mut ctype, mut enc, mut chunked) = (0usize, String::new(), None, false);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                let Some((k, v)) = h.split_once(':') else {
                    continue;
                };
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                match k.as_str() {
                    "content-length" => len = v.parse().unwrap_or(0),
                    "content-type" => ctype = v,
                    "content-encoding" => enc = Some(v),
                    "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                    _ => {}
                }
            }
            let mut body = Vec::new();
            if chunked {
                loop {
                    let mut size = String::new();
                    reader.read_line(&mut size).unwrap();
                    let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                    let mut chunk = vec![0; n + 2];
                    reader.read_exact(&mut chunk).unwrap();
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
            } else {
                body.resize(len, 0);
                reader.read_exact(&mut body).unwrap();
            }
            tx.send((path, ctype, enc, body)).ok();
            let resp = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
            if stream.write_all(resp.as_bytes()).is_err() {
                break;
            }
        }
    }
}

#[test]
fn python_sdk_export_is_decoded_and_translated() {
    if let Err(why) = sdk_available() {
        if std::env::var("STRIX_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("STRIX_REQUIRE_PEERS=1 but the OpenTelemetry Python SDK is missing: {why}");
        }
        eprintln!(
            "SKIP otlp_sdk: opentelemetry-sdk / opentelemetry-exporter-otlp-proto-http not importable \
             ({why}); pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http"
        );
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || serve(listener, tx));

    let out = Command::new(python())
        .args(["-c", SCRIPT, &format!("http://{addr}/v1/metrics")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python exporter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (path, ctype, enc, body) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(path, "/v1/metrics");
    assert_eq!(ctype, "application/x-protobuf");
    let raw = decompress(
        ContentEncoding::parse(enc.as_deref()).unwrap(),
        &body,
        &DecodeLimits::default(),
    )
    .unwrap();
    let decoded = translate(decode_protobuf(&raw).unwrap(), &mut DeltaState::new());
    assert_eq!(decoded.skipped, 0, "{:?}", decoded.first_skip);

    let find = |name: &str, extra: &[(&str, &str)]| -> f64 {
        let s = decoded
            .series
            .iter()
            .find(|s| {
                s.labels.metric_name() == Some(name)
                    && extra.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
            })
            .unwrap_or_else(|| {
                let names: Vec<String> = decoded
                    .series
                    .iter()
                    .map(|s| s.labels.to_string())
                    .collect();
                panic!("no {name} {extra:?} in {names:#?}")
            });
        assert_eq!(s.labels.get("job"), Some("sdk-test"), "{}", s.labels);
        assert_eq!(s.labels.get("instance"), Some("i-1"), "{}", s.labels);
        let sample = s.samples.last().unwrap();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!(
            (now_ms - sample.t).abs() < 120_000,
            "timestamp {} vs now {now_ms}",
            sample.t
        );
        sample.v
    };
    assert_eq!(find("orders_placed_total", &[("shop_region", "eu")]), 5.0);
    assert_eq!(find("queue_length", &[]), 3.0);
    assert_eq!(
        find("checkout_duration_seconds_count", &[("route", "/pay")]),
        2.0
    );
    assert!((find("checkout_duration_seconds_sum", &[("route", "/pay")]) - 1.7).abs() < 1e-9);
    assert_eq!(
        find(
            "checkout_duration_seconds_bucket",
            &[("route", "/pay"), ("le", "+Inf")]
        ),
        2.0
    );
    // The Python SDK's default bounds are 0, 5, 10, 25, ... 10000.
    assert_eq!(
        find("checkout_duration_seconds_bucket", &[("le", "0")]),
        0.0
    );
    assert_eq!(
        find("checkout_duration_seconds_bucket", &[("le", "5")]),
        2.0
    );
    assert_eq!(
        find("checkout_duration_seconds_bucket", &[("le", "10000")]),
        2.0
    );
    assert_eq!(
        find("target_info", &[("deployment_environment", "ci")]),
        1.0
    );
    let types: Vec<(&str, &str)> = decoded
        .metadata
        .iter()
        .map(|m| (m.metric_family_name.as_str(), m.r#type.as_str()))
        .collect();
    assert!(
        types.contains(&("orders_placed_total", "counter")),
        "{types:?}"
    );
    assert!(
        types.contains(&("checkout_duration_seconds", "histogram")),
        "{types:?}"
    );
    assert!(types.contains(&("queue_length", "gauge")), "{types:?}");
}
