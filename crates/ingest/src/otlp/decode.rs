//! OTLP/HTTP request bodies (protobuf and OTLP/JSON) to [`ExportRequest`], and the
//! response bodies the HTTP layer sends back.
//!
//! OTLP/JSON is the proto3 JSON mapping with the OTLP deviations: field names in
//! lowerCamelCase (the original snake_case names are accepted too, as proto3 JSON parsers
//! must), enums as integers (enum value names are accepted too), 64-bit integers as
//! decimal strings (JSON numbers are accepted too), `bytesValue` as base64, and trace and
//! span ids (only inside exemplars, which Strix skips) as hex. `null` means "default" for
//! every field and unknown fields are ignored.

use base64::Engine as _;
use prost::Message;
use serde::de::{self, Deserializer, IgnoredAny};
use serde::Deserialize;

use super::proto::{self, any_value, metric, number_data_point};
use crate::DecodeError;

/// A decoded OTLP metrics export request.
pub type ExportRequest = proto::ExportMetricsServiceRequest;

/// Decodes a protobuf `ExportMetricsServiceRequest` (`Content-Type:
/// application/x-protobuf`). `body` must already be decompressed (see
/// [`crate::limits::decompress`]). Fails with [`DecodeError::Protobuf`].
pub fn decode_protobuf(body: &[u8]) -> Result<ExportRequest, DecodeError> {
    ExportRequest::decode(body).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest` (`Content-Type: application/json`).
/// `body` must already be decompressed. Fails with [`DecodeError::Body`] naming the path
/// of the offending field, e.g. `resourceMetrics[0].scopeMetrics[0].metrics[1].sum...`.
pub fn decode_json(body: &[u8]) -> Result<ExportRequest, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let req: JRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path.is_empty() || path == "." {
            DecodeError::Body(format!("OTLP/JSON: {}", e.inner()))
        } else {
            DecodeError::Body(format!("OTLP/JSON: {path}: {}", e.inner()))
        }
    })?;
    de.end()
        .map_err(|e| DecodeError::Body(format!("OTLP/JSON: {e}")))?;
    Ok(req.into_proto())
}

/// The protobuf `ExportMetricsServiceResponse`: empty on full success, with
/// `partial_success` when `rejected_data_points > 0` or `error_message` is not empty.
pub fn encode_response_protobuf(rejected_data_points: i64, error_message: &str) -> Vec<u8> {
    let resp = proto::ExportMetricsServiceResponse {
        partial_success: partial(rejected_data_points, error_message),
    };
    resp.encode_to_vec()
}

/// The OTLP/JSON `ExportMetricsServiceResponse`: `{}` on full success, otherwise
/// `{"partialSuccess":{"rejectedDataPoints":"N","errorMessage":"..."}}`.
pub fn encode_response_json(rejected_data_points: i64, error_message: &str) -> Vec<u8> {
    match partial(rejected_data_points, error_message) {
        None => b"{}".to_vec(),
        Some(p) => serde_json::json!({
            "partialSuccess": {
                "rejectedDataPoints": p.rejected_data_points.to_string(),
                "errorMessage": p.error_message,
            }
        })
        .to_string()
        .into_bytes(),
    }
}

fn partial(rejected: i64, message: &str) -> Option<proto::ExportMetricsPartialSuccess> {
    (rejected != 0 || !message.is_empty()).then(|| proto::ExportMetricsPartialSuccess {
        rejected_data_points: rejected,
        error_message: message.to_owned(),
    })
}

// ---- OTLP/JSON mapping -------------------------------------------------------------
//
// Separate serde structs (rather than serde on the prost types) because oneof members are
// sibling fields in JSON, and every field needs both spellings and null handling.

/// `null` deserializes to the default value (proto3 JSON).
fn nul<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A JSON number or a string holding one (64-bit integers are strings in OTLP/JSON).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    U(u64),
    I(i64),
    F(f64),
    S(String),
}

fn u64_of<E: de::Error>(v: NumOrStr) -> Result<u64, E> {
    match v {
        NumOrStr::U(u) => Ok(u),
        NumOrStr::I(i) => u64::try_from(i).map_err(|_| E::custom(format!("{i} is negative"))),
        NumOrStr::F(f) if f.fract() == 0.0 && (0.0..1.8446744073709552e19).contains(&f) => {
            Ok(f as u64)
        }
        NumOrStr::F(f) => Err(E::custom(format!("{f} is not an unsigned integer"))),
        NumOrStr::S(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| E::custom(format!("{s:?} is not an unsigned integer"))),
    }
}

fn i64_of<E: de::Error>(v: NumOrStr) -> Result<i64, E> {
    match v {
        NumOrStr::U(u) => i64::try_from(u).map_err(|_| E::custom(format!("{u} is out of range"))),
        NumOrStr::I(i) => Ok(i),
        NumOrStr::F(f)
            if f.fract() == 0.0 && (-9.223372036854776e18..9.223372036854776e18).contains(&f) =>
        {
            Ok(f as i64)
        }
        NumOrStr::F(f) => Err(E::custom(format!("{f} is not an integer"))),
        NumOrStr::S(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| E::custom(format!("{s:?} is not an integer"))),
    }
}

fn f64_of<E: de::Error>(v: NumOrStr) -> Result<f64, E> {
    match v {
        NumOrStr::U(u) => Ok(u as f64),
        NumOrStr::I(i) => Ok(i as f64),
        NumOrStr::F(f) => Ok(f),
        NumOrStr::S(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            t => t
                .trim()
                .parse::<f64>()
                .map_err(|_| E::custom(format!("{s:?} is not a number"))),
        },
    }
}

fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Option::<NumOrStr>::deserialize(d)?.map_or(Ok(0), u64_of)
}

fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = de_u64(d)?;
    u32::try_from(v).map_err(|_| de::Error::custom(format!("{v} is out of range for uint32")))
}

fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Option::<NumOrStr>::deserialize(d)?.map_or(Ok(0.0), f64_of)
}

fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Option::<NumOrStr>::deserialize(d)?.map(f64_of).transpose()
}

fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<NumOrStr>::deserialize(d)?.map(i64_of).transpose()
}

fn de_vec_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    Option::<Vec<NumOrStr>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(u64_of)
        .collect()
}

fn de_vec_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    Option::<Vec<NumOrStr>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(f64_of)
        .collect()
}

/// `AggregationTemporality` as an integer (OTLP/JSON) or its enum value name.
fn de_temporality<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrName {
        I(i64),
        S(String),
    }
    match Option::<IntOrName>::deserialize(d)? {
        None => Ok(0),
        Some(IntOrName::I(i)) => i32::try_from(i)
            .map_err(|_| de::Error::custom(format!("aggregation temporality {i} is out of range"))),
        Some(IntOrName::S(s)) => match s.as_str() {
            "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Ok(proto::TEMPORALITY_UNSPECIFIED),
            "AGGREGATION_TEMPORALITY_DELTA" => Ok(proto::TEMPORALITY_DELTA),
            "AGGREGATION_TEMPORALITY_CUMULATIVE" => Ok(proto::TEMPORALITY_CUMULATIVE),
            other => other.parse::<i32>().map_err(|_| {
                de::Error::custom(format!("unknown aggregation temporality {other:?}"))
            }),
        },
    }
}

fn de_bytes_b64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    use base64::engine::{
        general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig,
    };
    const CFG: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CFG);
    const URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CFG);
    let Some(s) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    STD.decode(&s)
        .or_else(|_| URL.decode(&s))
        .map(Some)
        .map_err(|e| de::Error::custom(format!("bytesValue is not base64: {e}")))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JRequest {
    #[serde(
        rename = "resourceMetrics",
        alias = "resource_metrics",
        deserialize_with = "nul"
    )]
    resource_metrics: Vec<JResourceMetrics>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JResourceMetrics {
    #[serde(deserialize_with = "nul")]
    resource: JResource,
    #[serde(
        rename = "scopeMetrics",
        alias = "scope_metrics",
        deserialize_with = "nul"
    )]
    scope_metrics: Vec<JScopeMetrics>,
    #[serde(rename = "schemaUrl", alias = "schema_url", deserialize_with = "nul")]
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JResource {
    #[serde(deserialize_with = "nul")]
    attributes: Vec<JKeyValue>,
    #[serde(
        rename = "droppedAttributesCount",
        alias = "dropped_attributes_count",
        deserialize_with = "de_u32"
    )]
    dropped_attributes_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JScopeMetrics {
    #[serde(deserialize_with = "nul")]
    scope: Option<JScope>,
    #[serde(deserialize_with = "nul")]
    metrics: Vec<JMetric>,
    #[serde(rename = "schemaUrl", alias = "schema_url", deserialize_with = "nul")]
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JScope {
    #[serde(deserialize_with = "nul")]
    name: String,
    #[serde(deserialize_with = "nul")]
    version: String,
    #[serde(deserialize_with = "nul")]
    attributes: Vec<JKeyValue>,
    #[serde(
        rename = "droppedAttributesCount",
        alias = "dropped_attributes_count",
        deserialize_with = "de_u32"
    )]
    dropped_attributes_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JKeyValue {
    #[serde(deserialize_with = "nul")]
    key: String,
    #[serde(deserialize_with = "nul")]
    value: Option<JAnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JAnyValue {
    #[serde(rename = "stringValue", alias = "string_value")]
    string_value: Option<String>,
    #[serde(rename = "boolValue", alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(
        rename = "intValue",
        alias = "int_value",
        deserialize_with = "de_opt_i64"
    )]
    int_value: Option<i64>,
    #[serde(
        rename = "doubleValue",
        alias = "double_value",
        deserialize_with = "de_opt_f64"
    )]
    double_value: Option<f64>,
    #[serde(rename = "arrayValue", alias = "array_value")]
    array_value: Option<JArrayValue>,
    #[serde(rename = "kvlistValue", alias = "kvlist_value")]
    kvlist_value: Option<JKeyValueList>,
    #[serde(
        rename = "bytesValue",
        alias = "bytes_value",
        deserialize_with = "de_bytes_b64"
    )]
    bytes_value: Option<Vec<u8>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JArrayValue {
    #[serde(deserialize_with = "nul")]
    values: Vec<JAnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JKeyValueList {
    #[serde(deserialize_with = "nul")]
    values: Vec<JKeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JMetric {
    #[serde(deserialize_with = "nul")]
    name: String,
    #[serde(deserialize_with = "nul")]
    description: String,
    #[serde(deserialize_with = "nul")]
    unit: String,
    gauge: Option<JGauge>,
    sum: Option<JSum>,
    histogram: Option<JHistogram>,
    #[serde(rename = "exponentialHistogram", alias = "exponential_histogram")]
    exponential_histogram: Option<JExpHistogram>,
    summary: Option<JSummary>,
    #[serde(deserialize_with = "nul")]
    metadata: Vec<JKeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JGauge {
    #[serde(rename = "dataPoints", alias = "data_points", deserialize_with = "nul")]
    data_points: Vec<JNumberDataPoint>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JSum {
    #[serde(rename = "dataPoints", alias = "data_points", deserialize_with = "nul")]
    data_points: Vec<JNumberDataPoint>,
    #[serde(
        rename = "aggregationTemporality",
        alias = "aggregation_temporality",
        deserialize_with = "de_temporality"
    )]
    aggregation_temporality: i32,
    #[serde(
        rename = "isMonotonic",
        alias = "is_monotonic",
        deserialize_with = "nul"
    )]
    is_monotonic: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JHistogram {
    #[serde(rename = "dataPoints", alias = "data_points", deserialize_with = "nul")]
    data_points: Vec<JHistogramDataPoint>,
    #[serde(
        rename = "aggregationTemporality",
        alias = "aggregation_temporality",
        deserialize_with = "de_temporality"
    )]
    aggregation_temporality: i32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JExpHistogram {
    #[serde(rename = "dataPoints", alias = "data_points", deserialize_with = "nul")]
    data_points: Vec<IgnoredAny>,
    #[serde(
        rename = "aggregationTemporality",
        alias = "aggregation_temporality",
        deserialize_with = "de_temporality"
    )]
    aggregation_temporality: i32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JSummary {
    #[serde(rename = "dataPoints", alias = "data_points", deserialize_with = "nul")]
    data_points: Vec<JSummaryDataPoint>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JNumberDataPoint {
    #[serde(deserialize_with = "nul")]
    attributes: Vec<JKeyValue>,
    #[serde(
        rename = "startTimeUnixNano",
        alias = "start_time_unix_nano",
        deserialize_with = "de_u64"
    )]
    start_time_unix_nano: u64,
    #[serde(
        rename = "timeUnixNano",
        alias = "time_unix_nano",
        deserialize_with = "de_u64"
    )]
    time_unix_nano: u64,
    #[serde(
        rename = "asDouble",
        alias = "as_double",
        deserialize_with = "de_opt_f64"
    )]
    as_double: Option<f64>,
    #[serde(rename = "asInt", alias = "as_int", deserialize_with = "de_opt_i64")]
    as_int: Option<i64>,
    #[serde(deserialize_with = "nul")]
    exemplars: Vec<IgnoredAny>,
    #[serde(deserialize_with = "de_u32")]
    flags: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JHistogramDataPoint {
    #[serde(deserialize_with = "nul")]
    attributes: Vec<JKeyValue>,
    #[serde(
        rename = "startTimeUnixNano",
        alias = "start_time_unix_nano",
        deserialize_with = "de_u64"
    )]
    start_time_unix_nano: u64,
    #[serde(
        rename = "timeUnixNano",
        alias = "time_unix_nano",
        deserialize_with = "de_u64"
    )]
    time_unix_nano: u64,
    #[serde(deserialize_with = "de_u64")]
    count: u64,
    #[serde(deserialize_with = "de_opt_f64")]
    sum: Option<f64>,
    #[serde(
        rename = "bucketCounts",
        alias = "bucket_counts",
        deserialize_with = "de_vec_u64"
    )]
    bucket_counts: Vec<u64>,
    #[serde(
        rename = "explicitBounds",
        alias = "explicit_bounds",
        deserialize_with = "de_vec_f64"
    )]
    explicit_bounds: Vec<f64>,
    #[serde(deserialize_with = "nul")]
    exemplars: Vec<IgnoredAny>,
    #[serde(deserialize_with = "de_u32")]
    flags: u32,
    #[serde(deserialize_with = "de_opt_f64")]
    min: Option<f64>,
    #[serde(deserialize_with = "de_opt_f64")]
    max: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JSummaryDataPoint {
    #[serde(deserialize_with = "nul")]
    attributes: Vec<JKeyValue>,
    #[serde(
        rename = "startTimeUnixNano",
        alias = "start_time_unix_nano",
        deserialize_with = "de_u64"
    )]
    start_time_unix_nano: u64,
    #[serde(
        rename = "timeUnixNano",
        alias = "time_unix_nano",
        deserialize_with = "de_u64"
    )]
    time_unix_nano: u64,
    #[serde(deserialize_with = "de_u64")]
    count: u64,
    #[serde(deserialize_with = "de_f64")]
    sum: f64,
    #[serde(
        rename = "quantileValues",
        alias = "quantile_values",
        deserialize_with = "nul"
    )]
    quantile_values: Vec<JValueAtQuantile>,
    #[serde(deserialize_with = "de_u32")]
    flags: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JValueAtQuantile {
    #[serde(deserialize_with = "de_f64")]
    quantile: f64,
    #[serde(deserialize_with = "de_f64")]
    value: f64,
}

impl JRequest {
    fn into_proto(self) -> ExportRequest {
        ExportRequest {
            resource_metrics: self
                .resource_metrics
                .into_iter()
                .map(|rm| proto::ResourceMetrics {
                    resource: Some(proto::Resource {
                        attributes: kvs(rm.resource.attributes),
                        dropped_attributes_count: rm.resource.dropped_attributes_count,
                    }),
                    scope_metrics: rm.scope_metrics.into_iter().map(scope_metrics).collect(),
                    schema_url: rm.schema_url,
                })
                .collect(),
        }
    }
}

fn scope_metrics(sm: JScopeMetrics) -> proto::ScopeMetrics {
    proto::ScopeMetrics {
        scope: sm.scope.map(|s| proto::InstrumentationScope {
            name: s.name,
            version: s.version,
            attributes: kvs(s.attributes),
            dropped_attributes_count: s.dropped_attributes_count,
        }),
        metrics: sm.metrics.into_iter().map(metric_of).collect(),
        schema_url: sm.schema_url,
    }
}

fn kvs(v: Vec<JKeyValue>) -> Vec<proto::KeyValue> {
    v.into_iter()
        .map(|kv| proto::KeyValue {
            key: kv.key,
            value: kv.value.map(any_value_of),
        })
        .collect()
}

fn any_value_of(v: JAnyValue) -> proto::AnyValue {
    let value = if let Some(s) = v.string_value {
        Some(any_value::Value::StringValue(s))
    } else if let Some(b) = v.bool_value {
        Some(any_value::Value::BoolValue(b))
    } else if let Some(i) = v.int_value {
        Some(any_value::Value::IntValue(i))
    } else if let Some(d) = v.double_value {
        Some(any_value::Value::DoubleValue(d))
    } else if let Some(a) = v.array_value {
        Some(any_value::Value::ArrayValue(proto::ArrayValue {
            values: a.values.into_iter().map(any_value_of).collect(),
        }))
    } else if let Some(kv) = v.kvlist_value {
        Some(any_value::Value::KvlistValue(proto::KeyValueList {
            values: kvs(kv.values),
        }))
    } else {
        v.bytes_value.map(any_value::Value::BytesValue)
    };
    proto::AnyValue { value }
}

fn number_points(v: Vec<JNumberDataPoint>) -> Vec<proto::NumberDataPoint> {
    v.into_iter()
        .map(|p| proto::NumberDataPoint {
            attributes: kvs(p.attributes),
            start_time_unix_nano: p.start_time_unix_nano,
            time_unix_nano: p.time_unix_nano,
            value: match (p.as_double, p.as_int) {
                (Some(d), _) => Some(number_data_point::Value::AsDouble(d)),
                (None, Some(i)) => Some(number_data_point::Value::AsInt(i)),
                (None, None) => None,
            },
            exemplars: vec![Vec::new(); p.exemplars.len()],
            flags: p.flags,
        })
        .collect()
}

fn metric_of(m: JMetric) -> proto::Metric {
    let data = if let Some(g) = m.gauge {
        Some(metric::Data::Gauge(proto::Gauge {
            data_points: number_points(g.data_points),
        }))
    } else if let Some(s) = m.sum {
        Some(metric::Data::Sum(proto::Sum {
            data_points: number_points(s.data_points),
            aggregation_temporality: s.aggregation_temporality,
            is_monotonic: s.is_monotonic,
        }))
    } else if let Some(h) = m.histogram {
        Some(metric::Data::Histogram(proto::Histogram {
            data_points: h
                .data_points
                .into_iter()
                .map(|p| proto::HistogramDataPoint {
                    attributes: kvs(p.attributes),
                    start_time_unix_nano: p.start_time_unix_nano,
                    time_unix_nano: p.time_unix_nano,
                    count: p.count,
                    sum: p.sum,
                    bucket_counts: p.bucket_counts,
                    explicit_bounds: p.explicit_bounds,
                    exemplars: vec![Vec::new(); p.exemplars.len()],
                    flags: p.flags,
                    min: p.min,
                    max: p.max,
                })
                .collect(),
            aggregation_temporality: h.aggregation_temporality,
        }))
    } else if let Some(e) = m.exponential_histogram {
        Some(metric::Data::ExponentialHistogram(
            proto::ExponentialHistogram {
                data_points: vec![Vec::new(); e.data_points.len()],
                aggregation_temporality: e.aggregation_temporality,
            },
        ))
    } else {
        m.summary.map(|s| {
            metric::Data::Summary(proto::Summary {
                data_points: s
                    .data_points
                    .into_iter()
                    .map(|p| proto::SummaryDataPoint {
                        attributes: kvs(p.attributes),
                        start_time_unix_nano: p.start_time_unix_nano,
                        time_unix_nano: p.time_unix_nano,
                        count: p.count,
                        sum: p.sum,
                        quantile_values: p
                            .quantile_values
                            .into_iter()
                            .map(|q| proto::ValueAtQuantile {
                                quantile: q.quantile,
                                value: q.value,
                            })
                            .collect(),
                        flags: p.flags,
                    })
                    .collect(),
            })
        })
    };
    proto::Metric {
        name: m.name,
        description: m.description,
        unit: m.unit,
        data,
        metadata: kvs(m.metadata),
    }
}
