use prost::Message;
use strix_core::{is_stale_nan, Labels};

use super::proto::{self, any_value, metric, number_data_point};
use super::*;

const T0: u64 = 1_700_000_000_000_000_000;
const MS0: i64 = 1_700_000_000_000;

fn kv(k: &str, v: &str) -> proto::KeyValue {
    proto::KeyValue {
        key: k.into(),
        value: Some(proto::AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
    }
}

fn num(attrs: Vec<proto::KeyValue>, t: u64, v: number_data_point::Value) -> proto::NumberDataPoint {
    proto::NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: T0 - 10_000_000_000,
        time_unix_nano: t,
        value: Some(v),
        exemplars: vec![],
        flags: 0,
    }
}

fn metric(name: &str, unit: &str, data: metric::Data) -> proto::Metric {
    proto::Metric {
        name: name.into(),
        description: format!("{name} help"),
        unit: unit.into(),
        data: Some(data),
        metadata: vec![],
    }
}

fn request(resource: Vec<proto::KeyValue>, metrics: Vec<proto::Metric>) -> ExportRequest {
    ExportRequest {
        resource_metrics: vec![proto::ResourceMetrics {
            resource: Some(proto::Resource {
                attributes: resource,
                dropped_attributes_count: 0,
            }),
            scope_metrics: vec![proto::ScopeMetrics {
                scope: Some(proto::InstrumentationScope {
                    name: "test".into(),
                    version: "1".into(),
                    attributes: vec![],
                    dropped_attributes_count: 0,
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn svc() -> Vec<proto::KeyValue> {
    vec![
        kv("service.name", "checkout"),
        kv("service.namespace", "shop"),
        kv("service.instance.id", "pod-1"),
        kv("host.name", "node-a"),
    ]
}

/// `name{labels}` → (time, value) of every sample, as text for compact assertions.
fn dump(out: &OtlpDecoded) -> Vec<String> {
    let mut v: Vec<String> = out
        .series
        .iter()
        .flat_map(|s| {
            s.samples
                .iter()
                .map(move |p| format!("{} {} {}", s.labels, p.t, p.v))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn metric_name_table() {
    use MetricKind::*;
    let cases: &[(&str, &str, MetricKind, &str)] = &[
        (
            "http.server.duration",
            "s",
            Histogram,
            "http_server_duration_seconds",
        ),
        (
            "http.server.request.duration",
            "ms",
            Histogram,
            "http_server_request_duration_milliseconds",
        ),
        (
            "system.memory.usage",
            "By",
            Gauge,
            "system_memory_usage_bytes",
        ),
        ("requests", "1", MonotonicCounter, "requests_total"),
        (
            "requests.count",
            "1",
            MonotonicCounter,
            "requests_count_total",
        ),
        ("requests_total", "", MonotonicCounter, "requests_total"),
        ("total.requests", "", MonotonicCounter, "requests_total"),
        ("cpu.utilization", "1", Gauge, "cpu_utilization_ratio"),
        ("cpu.utilization.ratio", "1", Gauge, "cpu_utilization_ratio"),
        ("queue.size", "1", NonMonotonicCounter, "queue_size"),
        (
            "network.io",
            "{packets}",
            MonotonicCounter,
            "network_io_total",
        ),
        ("throughput", "By/s", Gauge, "throughput_bytes_per_second"),
        ("rate", "{requests}/s", Gauge, "rate_per_second"),
        ("latency_seconds", "s", Histogram, "latency_seconds"),
        ("foo--bar..baz", "", Gauge, "foo_bar_baz"),
        ("foo__bar", "", Gauge, "foo_bar"),
        ("a:b", "", Gauge, "a:b"),
        (
            "2xx.responses",
            "",
            MonotonicCounter,
            "_2xx_responses_total",
        ),
        ("temp", "Cel", Gauge, "temp_celsius"),
        ("weird", "m/mo", Gauge, "weird_meters_per_month"),
        ("custom", "widgets", Gauge, "custom_widgets"),
        ("sizé", "", Gauge, "siz"),
        ("mem", " By ", Gauge, "mem_bytes"),
    ];
    for (name, unit, kind, want) in cases {
        assert_eq!(
            metric_name(name, unit, *kind).as_deref(),
            Some(*want),
            "{name:?} unit {unit:?} {kind:?}"
        );
    }
    assert_eq!(metric_name("...", "", MetricKind::Gauge), None);
    assert_eq!(metric_name("", "", MetricKind::Gauge), None);
    assert_eq!(unit_name("By/s"), "bytes_per_second");
    assert_eq!(unit_name("1"), "");
    assert_eq!(unit_name("{packets}"), "");
    assert_eq!(unit_name("ms"), "milliseconds");
}

#[test]
fn label_name_table() {
    let cases: &[(&str, &str)] = &[
        ("http.method", "http_method"),
        ("http..method", "http_method"),
        ("net.peer.name", "net_peer_name"),
        ("123invalid", "key_123invalid"),
        ("__reserved__", "__reserved__"),
        ("_private", "_private"),
        ("a/b-c", "a_b_c"),
        ("Ünïcode", "_n_code"),
    ];
    for (key, want) in cases {
        assert_eq!(label_name(key).as_deref(), Some(*want), "{key:?}");
    }
    assert_eq!(label_name(""), None);
    assert_eq!(label_name("..."), None);
}

#[test]
fn attribute_strings() {
    let v = |v| Some(proto::AnyValue { value: Some(v) });
    assert_eq!(
        attribute_string(v(any_value::Value::BoolValue(true)).as_ref()),
        "true"
    );
    assert_eq!(
        attribute_string(v(any_value::Value::IntValue(-3)).as_ref()),
        "-3"
    );
    assert_eq!(
        attribute_string(v(any_value::Value::DoubleValue(1.5)).as_ref()),
        "1.5"
    );
    assert_eq!(
        attribute_string(v(any_value::Value::DoubleValue(1e21)).as_ref()),
        "1e+21"
    );
    assert_eq!(
        attribute_string(v(any_value::Value::BytesValue(b"hi".to_vec())).as_ref()),
        "aGk="
    );
    let arr = any_value::Value::ArrayValue(proto::ArrayValue {
        values: vec![
            proto::AnyValue {
                value: Some(any_value::Value::StringValue("a".into())),
            },
            proto::AnyValue {
                value: Some(any_value::Value::IntValue(1)),
            },
        ],
    });
    assert_eq!(attribute_string(v(arr).as_ref()), r#"["a",1]"#);
    assert_eq!(attribute_string(None), "");
}

fn all_types_request() -> ExportRequest {
    use number_data_point::Value::{AsDouble, AsInt};
    request(
        svc(),
        vec![
            metric(
                "queue.depth",
                "{items}",
                metric::Data::Gauge(proto::Gauge {
                    data_points: vec![num(vec![kv("queue", "q1")], T0, AsDouble(2.5))],
                }),
            ),
            metric(
                "http.requests",
                "1",
                metric::Data::Sum(proto::Sum {
                    data_points: vec![num(vec![kv("http.method", "GET")], T0, AsInt(7))],
                    aggregation_temporality: proto::TEMPORALITY_CUMULATIVE,
                    is_monotonic: true,
                }),
            ),
            metric(
                "active.requests",
                "1",
                metric::Data::Sum(proto::Sum {
                    data_points: vec![num(vec![], T0, AsInt(-2))],
                    aggregation_temporality: proto::TEMPORALITY_CUMULATIVE,
                    is_monotonic: false,
                }),
            ),
            metric(
                "http.server.duration",
                "s",
                metric::Data::Histogram(proto::Histogram {
                    data_points: vec![proto::HistogramDataPoint {
                        attributes: vec![kv("route", "/a")],
                        start_time_unix_nano: 0,
                        time_unix_nano: T0,
                        count: 6,
                        sum: Some(3.5),
                        bucket_counts: vec![1, 2, 3],
                        explicit_bounds: vec![0.1, 1.0],
                        exemplars: vec![vec![]],
                        flags: 0,
                        min: Some(0.01),
                        max: Some(2.0),
                    }],
                    aggregation_temporality: proto::TEMPORALITY_CUMULATIVE,
                }),
            ),
            metric(
                "rpc.latency",
                "ms",
                metric::Data::Summary(proto::Summary {
                    data_points: vec![proto::SummaryDataPoint {
                        attributes: vec![],
                        start_time_unix_nano: 0,
                        time_unix_nano: T0,
                        count: 10,
                        sum: 55.0,
                        quantile_values: vec![
                            proto::ValueAtQuantile {
                                quantile: 0.5,
                                value: 4.0,
                            },
                            proto::ValueAtQuantile {
                                quantile: 0.99,
                                value: 9.5,
                            },
                        ],
                        flags: 0,
                    }],
                }),
            ),
            metric(
                "exp",
                "s",
                metric::Data::ExponentialHistogram(proto::ExponentialHistogram {
                    data_points: vec![vec![], vec![]],
                    aggregation_temporality: proto::TEMPORALITY_CUMULATIVE,
                }),
            ),
        ],
    )
}

fn expected_all_types() -> Vec<String> {
    let jl = r#"instance="pod-1", job="shop/checkout""#;
    let mut v: Vec<String> = [
        format!("queue_depth{{{jl}, queue=\"q1\"}} {MS0} 2.5"),
        format!("http_requests_total{{http_method=\"GET\", {jl}}} {MS0} 7"),
        format!("active_requests{{{jl}}} {MS0} -2"),
        format!("http_server_duration_seconds_bucket{{{jl}, le=\"0.1\", route=\"/a\"}} {MS0} 1"),
        format!("http_server_duration_seconds_bucket{{{jl}, le=\"1\", route=\"/a\"}} {MS0} 3"),
        format!("http_server_duration_seconds_bucket{{{jl}, le=\"+Inf\", route=\"/a\"}} {MS0} 6"),
        format!("http_server_duration_seconds_sum{{{jl}, route=\"/a\"}} {MS0} 3.5"),
        format!("http_server_duration_seconds_count{{{jl}, route=\"/a\"}} {MS0} 6"),
        format!("rpc_latency_milliseconds{{{jl}, quantile=\"0.5\"}} {MS0} 4"),
        format!("rpc_latency_milliseconds{{{jl}, quantile=\"0.99\"}} {MS0} 9.5"),
        format!("rpc_latency_milliseconds_sum{{{jl}}} {MS0} 55"),
        format!("rpc_latency_milliseconds_count{{{jl}}} {MS0} 10"),
        format!("target_info{{host_name=\"node-a\", {jl}}} {MS0} 1"),
    ]
    .into_iter()
    .collect();
    v.sort();
    v
}

fn check_all_types(out: &OtlpDecoded) {
    assert_eq!(dump(out), expected_all_types());
    assert_eq!(out.points, 5);
    assert_eq!(out.skipped, 2);
    assert_eq!(
        out.skip_reasons,
        vec![(SkipReason::ExponentialHistogram, 2)]
    );
    assert!(
        out.first_skip
            .as_deref()
            .unwrap_or("")
            .contains("exponential histograms are not supported"),
        "{:?}",
        out.first_skip
    );
    assert_eq!(out.exemplars_skipped, 1);
    let meta: Vec<(&str, &str, &str)> = out
        .metadata
        .iter()
        .map(|m| {
            (
                m.metric_family_name.as_str(),
                m.r#type.as_str(),
                m.unit.as_str(),
            )
        })
        .collect();
    assert_eq!(
        meta,
        vec![
            ("queue_depth", "gauge", ""),
            ("http_requests_total", "counter", ""),
            ("active_requests", "gauge", ""),
            ("http_server_duration_seconds", "histogram", "seconds"),
            ("rpc_latency_milliseconds", "summary", "milliseconds"),
            ("target_info", "gauge", ""),
        ]
    );
    assert_eq!(out.metadata[1].help, "http.requests help");
}

#[test]
fn protobuf_round_trip_all_types() {
    let req = all_types_request();
    let bytes = req.encode_to_vec();
    let decoded = decode_protobuf(&bytes).unwrap();
    assert_eq!(decoded, req);
    check_all_types(&translate(decoded, &mut DeltaState::new()));
}

/// The same request as OTLP/JSON: camelCase, int64s as strings, enums as integers.
const ALL_TYPES_JSON: &str = r#"{
  "resourceMetrics": [{
    "resource": {"attributes": [
      {"key": "service.name", "value": {"stringValue": "checkout"}},
      {"key": "service.namespace", "value": {"stringValue": "shop"}},
      {"key": "service.instance.id", "value": {"stringValue": "pod-1"}},
      {"key": "host.name", "value": {"stringValue": "node-a"}}
    ]},
    "scopeMetrics": [{
      "scope": {"name": "test", "version": "1"},
      "metrics": [
        {"name": "queue.depth", "unit": "{items}", "description": "queue.depth help",
         "gauge": {"dataPoints": [{"attributes": [{"key": "queue", "value": {"stringValue": "q1"}}],
           "startTimeUnixNano": "1699999990000000000", "timeUnixNano": "1700000000000000000", "asDouble": 2.5}]}},
        {"name": "http.requests", "unit": "1", "description": "http.requests help",
         "sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": [
           {"attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}],
            "startTimeUnixNano": "1699999990000000000", "timeUnixNano": "1700000000000000000", "asInt": "7"}]}},
        {"name": "active.requests", "unit": "1", "description": "active.requests help",
         "sum": {"aggregationTemporality": 2, "dataPoints": [
           {"startTimeUnixNano": "1699999990000000000", "timeUnixNano": "1700000000000000000", "asInt": "-2"}]}},
        {"name": "http.server.duration", "unit": "s", "description": "http.server.duration help",
         "histogram": {"aggregationTemporality": 2, "dataPoints": [
           {"attributes": [{"key": "route", "value": {"stringValue": "/a"}}],
            "timeUnixNano": "1700000000000000000", "count": "6", "sum": 3.5,
            "bucketCounts": ["1", "2", "3"], "explicitBounds": [0.1, 1.0],
            "exemplars": [{"timeUnixNano": "1700000000000000000", "asDouble": 0.5,
                           "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}],
            "min": 0.01, "max": 2.0}]}},
        {"name": "rpc.latency", "unit": "ms", "description": "rpc.latency help",
         "summary": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "count": "10", "sum": 55,
           "quantileValues": [{"quantile": 0.5, "value": 4}, {"quantile": 0.99, "value": 9.5}]}]}},
        {"name": "exp", "unit": "s", "description": "exp help",
         "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": [
           {"timeUnixNano": "1700000000000000000", "count": "1", "scale": 3, "positive": {"offset": 1, "bucketCounts": ["1"]}},
           {"timeUnixNano": "1700000000000000000", "count": "0"}]}}
      ]
    }]
  }]
}"#;

#[test]
fn json_round_trip_all_types() {
    let req = decode_json(ALL_TYPES_JSON.as_bytes()).unwrap();
    check_all_types(&translate(req.clone(), &mut DeltaState::new()));
    // Encoding what JSON produced to protobuf and back gives the same translation.
    let again = decode_protobuf(&req.encode_to_vec()).unwrap();
    assert_eq!(again, req);
    check_all_types(&translate(again, &mut DeltaState::new()));
}

#[test]
fn json_snake_case_numbers_and_enum_names() {
    let body = r#"{"resource_metrics":[{"resource":{"attributes":[
        {"key":"service.name","value":{"string_value":"svc"}},
        {"key":"region","value":{"int_value":42}}]},
      "scope_metrics":[{"metrics":[{"name":"jobs","sum":{
        "aggregation_temporality":"AGGREGATION_TEMPORALITY_CUMULATIVE","is_monotonic":true,
        "data_points":[{"time_unix_nano":1700000000000000000,"as_double":"Infinity",
                        "attributes":null,"flags":null}]}}]}]}]}"#;
    let out = translate(
        decode_json(body.as_bytes()).unwrap(),
        &mut DeltaState::new(),
    );
    assert_eq!(
        dump(&out),
        vec![
            format!("jobs_total{{job=\"svc\"}} {MS0} inf"),
            format!("target_info{{job=\"svc\", region=\"42\"}} {MS0} 1"),
        ]
    );
}

/// The example from the OTLP specification's `examples/metrics.json`, in its form with
/// 64-bit integers as strings.
#[test]
fn json_spec_example() {
    let body = r#"{
  "resourceMetrics": [
    {
      "resource": {
        "attributes": [
          { "key": "service.name", "value": { "stringValue": "my.service" } }
        ]
      },
      "scopeMetrics": [
        {
          "scope": {
            "name": "my.library",
            "version": "1.0.0",
            "attributes": [
              { "key": "my.scope.attribute", "value": { "stringValue": "some scope attribute" } }
            ]
          },
          "metrics": [
            {
              "name": "my.counter",
              "unit": "1",
              "description": "I am a Counter",
              "sum": {
                "aggregationTemporality": 1,
                "isMonotonic": true,
                "dataPoints": [
                  {
                    "asDouble": 5,
                    "startTimeUnixNano": "1544712660300000000",
                    "timeUnixNano": "1544712660300000000",
                    "attributes": [
                      { "key": "my.counter.attr", "value": { "stringValue": "some value" } }
                    ]
                  }
                ]
              }
            },
            {
              "name": "my.gauge",
              "unit": "1",
              "description": "I am a Gauge",
              "gauge": {
                "dataPoints": [
                  {
                    "asDouble": 10,
                    "timeUnixNano": "1544712660300000000",
                    "attributes": [
                      { "key": "my.gauge.attr", "value": { "stringValue": "some value" } }
                    ]
                  }
                ]
              }
            },
            {
              "name": "my.histogram",
              "unit": "1",
              "description": "I am a Histogram",
              "histogram": {
                "aggregationTemporality": 1,
                "dataPoints": [
                  {
                    "startTimeUnixNano": "1544712660300000000",
                    "timeUnixNano": "1544712660300000000",
                    "count": "2",
                    "sum": 2,
                    "bucketCounts": ["1", "1"],
                    "explicitBounds": [1],
                    "min": 0,
                    "max": 2,
                    "attributes": [
                      { "key": "my.histogram.attr", "value": { "stringValue": "some value" } }
                    ]
                  }
                ]
              }
            },
            {
              "name": "my.exponential.histogram",
              "unit": "1",
              "description": "I am an Exponential Histogram",
              "exponentialHistogram": {
                "aggregationTemporality": 1,
                "dataPoints": [
                  {
                    "startTimeUnixNano": "1544712660300000000",
                    "timeUnixNano": "1544712660300000000",
                    "count": "3",
                    "sum": 10,
                    "scale": 0,
                    "zeroCount": "1",
                    "positive": { "offset": 1, "bucketCounts": ["0", "2"] },
                    "min": 0,
                    "max": 5,
                    "zeroThreshold": 0,
                    "attributes": [
                      { "key": "my.exponential.histogram.attr", "value": { "stringValue": "some value" } }
                    ]
                  }
                ]
              }
            }
          ]
        }
      ]
    }
  ]
}"#;
    let out = translate(
        decode_json(body.as_bytes()).unwrap(),
        &mut DeltaState::new(),
    );
    let t: i64 = 1_544_712_660_300;
    assert_eq!(
        dump(&out),
        vec![
            format!("my_counter_total{{job=\"my.service\", my_counter_attr=\"some value\"}} {t} 5"),
            format!("my_gauge_ratio{{job=\"my.service\", my_gauge_attr=\"some value\"}} {t} 10"),
            format!("my_histogram_bucket{{job=\"my.service\", le=\"+Inf\", my_histogram_attr=\"some value\"}} {t} 2"),
            format!("my_histogram_bucket{{job=\"my.service\", le=\"1\", my_histogram_attr=\"some value\"}} {t} 1"),
            format!("my_histogram_count{{job=\"my.service\", my_histogram_attr=\"some value\"}} {t} 2"),
            format!("my_histogram_sum{{job=\"my.service\", my_histogram_attr=\"some value\"}} {t} 2"),
        ]
    );
    assert_eq!(
        out.skip_reasons,
        vec![(SkipReason::ExponentialHistogram, 1)]
    );
    // No target_info: service.name is the only resource attribute.
}

#[test]
fn json_errors_name_the_path() {
    let e = decode_json(br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"timeUnixNano":"soon"}]}}]}]}]}"#)
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(
            "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].timeUnixNano"
        ),
        "{msg}"
    );
    assert!(msg.contains("\"soon\""), "{msg}");
    assert_eq!(e.class(), strix_core::ErrorClass::BadInput);
    assert!(decode_json(b"[1]").is_err());
    assert!(decode_json(b"{} x").is_err());
    assert_eq!(decode_json(b"{}").unwrap(), ExportRequest::default());
    let e = decode_protobuf(&[0x0a, 0xff]).unwrap_err();
    assert!(e.to_string().starts_with("protobuf: "), "{e}");
}

fn delta_sum(v: f64, t: u64) -> ExportRequest {
    request(
        vec![kv("service.name", "d")],
        vec![metric(
            "ops",
            "",
            metric::Data::Sum(proto::Sum {
                data_points: vec![num(vec![], t, number_data_point::Value::AsDouble(v))],
                aggregation_temporality: proto::TEMPORALITY_DELTA,
                is_monotonic: true,
            }),
        )],
    )
}

#[test]
fn delta_sums_accumulate_and_resends_are_skipped() {
    let mut st = DeltaState::new();
    let s = 1_000_000_000;
    let v = |out: &OtlpDecoded| out.series[0].samples[0].v;
    assert_eq!(v(&translate(delta_sum(3.0, T0), &mut st)), 3.0);
    assert_eq!(v(&translate(delta_sum(2.0, T0 + s), &mut st)), 5.0);
    let resent = translate(delta_sum(2.0, T0 + s), &mut st);
    assert!(resent.series.is_empty());
    assert_eq!(resent.skip_reasons, vec![(SkipReason::DeltaOutOfOrder, 1)]);
    let out = translate(delta_sum(1.0, T0 + 2 * s), &mut st);
    assert_eq!(v(&out), 6.0);
    assert_eq!(out.series[0].labels.metric_name(), Some("ops_total"));
    assert_eq!(out.metadata[0].r#type, "counter");
    assert_eq!(st.len(), 1);
    assert_eq!(st.prune(MS0 + 3000), 1);
    assert!(st.is_empty());
    assert_eq!(v(&translate(delta_sum(4.0, T0 + 3 * s), &mut st)), 4.0);

    let mut tiny = DeltaState::with_max_series(0);
    let out = translate(delta_sum(1.0, T0), &mut tiny);
    assert_eq!(out.skip_reasons, vec![(SkipReason::DeltaStateFull, 1)]);
}

#[test]
fn delta_histograms_accumulate() {
    let h = |counts: Vec<u64>, t: u64| {
        request(
            vec![],
            vec![metric(
                "lat",
                "s",
                metric::Data::Histogram(proto::Histogram {
                    data_points: vec![proto::HistogramDataPoint {
                        count: counts.iter().sum(),
                        sum: Some(counts.iter().sum::<u64>() as f64),
                        bucket_counts: counts,
                        explicit_bounds: vec![1.0],
                        time_unix_nano: t,
                        ..Default::default()
                    }],
                    aggregation_temporality: proto::TEMPORALITY_DELTA,
                }),
            )],
        )
    };
    let mut st = DeltaState::new();
    translate(h(vec![1, 2], T0), &mut st);
    let out = translate(h(vec![3, 0], T0 + 1_000_000_000), &mut st);
    let t = MS0 + 1000;
    assert_eq!(
        dump(&out),
        vec![
            format!("lat_seconds_bucket{{le=\"+Inf\"}} {t} 6"),
            format!("lat_seconds_bucket{{le=\"1\"}} {t} 4"),
            format!("lat_seconds_count{{}} {t} 6"),
            format!("lat_seconds_sum{{}} {t} 6"),
        ]
    );
}

#[test]
fn no_recorded_value_is_a_stale_marker() {
    let mut req = delta_sum(1.0, T0);
    if let Some(metric::Data::Sum(s)) =
        &mut req.resource_metrics[0].scope_metrics[0].metrics[0].data
    {
        s.aggregation_temporality = proto::TEMPORALITY_CUMULATIVE;
        s.data_points[0].flags = proto::FLAG_NO_RECORDED_VALUE;
        s.data_points[0].value = None;
    }
    let out = translate(req, &mut DeltaState::new());
    assert_eq!(out.series.len(), 1);
    assert!(is_stale_nan(out.series[0].samples[0].v));
    assert_eq!(out.skipped, 0);
}

#[test]
fn skips_are_counted_with_reasons() {
    let mut req = request(
        vec![],
        vec![
            metric(
                "no.value",
                "",
                metric::Data::Gauge(proto::Gauge {
                    data_points: vec![proto::NumberDataPoint {
                        time_unix_nano: T0,
                        ..Default::default()
                    }],
                }),
            ),
            metric(
                "unspecified",
                "",
                metric::Data::Sum(proto::Sum {
                    data_points: vec![num(vec![], T0, number_data_point::Value::AsInt(1))],
                    aggregation_temporality: proto::TEMPORALITY_UNSPECIFIED,
                    is_monotonic: true,
                }),
            ),
            metric(
                "bad.attr",
                "",
                metric::Data::Gauge(proto::Gauge {
                    data_points: vec![num(
                        vec![kv("..", "x")],
                        T0,
                        number_data_point::Value::AsInt(1),
                    )],
                }),
            ),
            metric(
                "bad.hist",
                "",
                metric::Data::Histogram(proto::Histogram {
                    data_points: vec![proto::HistogramDataPoint {
                        bucket_counts: vec![1],
                        explicit_bounds: vec![1.0, 2.0],
                        ..Default::default()
                    }],
                    aggregation_temporality: proto::TEMPORALITY_CUMULATIVE,
                }),
            ),
        ],
    );
    req.resource_metrics[0].scope_metrics[0]
        .metrics
        .push(proto::Metric {
            name: "empty".into(),
            ..Default::default()
        });
    let out = translate(req, &mut DeltaState::new());
    assert!(out.series.is_empty());
    assert_eq!(out.skipped, 5);
    assert_eq!(
        out.skip_reasons,
        vec![
            (SkipReason::NoValue, 1),
            (SkipReason::InvalidTemporality, 1),
            (SkipReason::InvalidLabelName, 1),
            (SkipReason::InvalidHistogram, 1),
            (SkipReason::NoData, 1),
        ]
    );
    assert!(out.first_skip.unwrap().contains("no value"));
}

#[test]
fn colliding_attribute_names_join_and_resource_labels_win() {
    let req = request(
        vec![kv("service.name", "svc")],
        vec![metric(
            "g",
            "",
            metric::Data::Gauge(proto::Gauge {
                data_points: vec![num(
                    vec![kv("a.b", "1"), kv("a_b", "2"), kv("job", "mine")],
                    T0,
                    number_data_point::Value::AsInt(1),
                )],
            }),
        )],
    );
    let out = translate(req, &mut DeltaState::new());
    assert_eq!(
        out.series[0].labels,
        Labels::from_pairs([("__name__", "g"), ("a_b", "1;2"), ("job", "svc")])
    );
}

#[test]
fn responses() {
    assert!(encode_response_protobuf(0, "").is_empty());
    let r = proto::ExportMetricsServiceResponse::decode(
        encode_response_protobuf(3, "exp histos").as_slice(),
    )
    .unwrap();
    assert_eq!(r.partial_success.unwrap().rejected_data_points, 3);
    assert_eq!(encode_response_json(0, ""), b"{}");
    let j: serde_json::Value = serde_json::from_slice(&encode_response_json(2, "x")).unwrap();
    assert_eq!(j["partialSuccess"]["rejectedDataPoints"], "2");
    assert_eq!(j["partialSuccess"]["errorMessage"], "x");
}
