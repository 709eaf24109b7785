//! OTLP/HTTP from the real Python OpenTelemetry SDK into a running Strix: the exported
//! metrics come back from `/api/v1/export` under Prometheus-style names.
mod util;

use std::process::Command;
use util::StrixProcess;

const SCRIPT: &str = r#"
import sys
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

exporter = OTLPMetricExporter(endpoint=sys.argv[1], timeout=10)
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3600000)
resource = Resource.create({"service.name": "checkout", "service.instance.id": "pod-7"})
provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = provider.get_meter("strix.e2e")
orders = meter.create_counter("orders.placed", description="Orders placed")
orders.add(4, {"shop.region": "eu"})
latency = meter.create_histogram("checkout.duration", unit="s")
latency.record(0.3)
provider.force_flush()
provider.shutdown()
"#;

fn python_sdk_available() -> bool {
    Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http",
        ])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn python_sdk_metrics_land_in_strix() {
    if !python_sdk_available() {
        assert!(
            std::env::var("STRIX_REQUIRE_PEERS").is_err(),
            "OpenTelemetry Python SDK missing and STRIX_REQUIRE_PEERS=1"
        );
        eprintln!("skipping: OpenTelemetry Python SDK not installed");
        return;
    }
    let strix = StrixProcess::start(&[], None);
    for path in ["/v1/metrics", "/api/v1/otlp/v1/metrics"] {
        let out = Command::new("python3")
            .args(["-c", SCRIPT, &strix.url(path)])
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "exporter failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let orders = strix.export(r#"{__name__="orders_placed_total"}"#);
    assert_eq!(orders.len(), 1, "{orders:?}");
    let s = &orders[0];
    assert_eq!(s.labels.get("job").map(String::as_str), Some("checkout"));
    assert_eq!(s.labels.get("instance").map(String::as_str), Some("pod-7"));
    assert_eq!(s.labels.get("shop_region").map(String::as_str), Some("eu"));
    assert!(s.values.iter().all(|v| *v == 4.0), "{:?}", s.values);
    let buckets = strix.export(r#"{__name__="checkout_duration_seconds_bucket"}"#);
    assert!(
        buckets
            .iter()
            .any(|b| b.labels.get("le").map(String::as_str) == Some("+Inf")),
        "{buckets:?}"
    );
    assert_eq!(
        strix
            .export(r#"{__name__="checkout_duration_seconds_count"}"#)
            .len(),
        1
    );
    // The SDK adds telemetry.sdk.* resource attributes; they land on target_info.
    let info = strix.export(r#"{__name__="target_info"}"#);
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(
        info[0]
            .labels
            .get("telemetry_sdk_language")
            .map(String::as_str),
        Some("python")
    );
    assert_eq!(
        info[0].labels.get("job").map(String::as_str),
        Some("checkout")
    );
}
