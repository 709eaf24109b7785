//! Zero-copy scanning of a decompressed `WriteRequest`: label strings borrow from the
//! request buffer, so the engine allocates only for series it has not seen before.
//!
//! Only the fields Strix uses are read (timeseries labels and samples, metadata);
//! exemplars and native histograms are counted and skipped, unknown fields skipped, as
//! protobuf requires. Wire primitives (keys, varints, skipping) come from prost.

use super::proto;
use crate::{DecodeError, Metadata};
use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};
use prost::Message;
use strix_core::storage::BorrowedBatch;
use strix_core::Sample;

/// A scanned remote_write request whose labels borrow from the decompressed bytes.
#[derive(Debug, Default)]
pub struct DecodedWriteRef<'a> {
    /// Series with float samples; series carrying only histograms are validated and left out.
    pub batch: BorrowedBatch<'a>,
    pub metadata: Vec<Metadata>,
    pub exemplars_skipped: u64,
    pub histograms_skipped: u64,
}

fn pb(e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Protobuf(e.to_string())
}

/// Splits off a length-delimited field's bytes.
fn take_len<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let len = decode_varint(buf).map_err(pb)?;
    let len = usize::try_from(len).map_err(|_| pb("length overflows"))?;
    if len > buf.len() {
        return Err(pb(
            "buffer underflow: a field's length runs past the end of the message",
        ));
    }
    let (head, tail) = buf.split_at(len);
    *buf = tail;
    Ok(head)
}

fn skip(wt: WireType, tag: u32, buf: &mut &[u8]) -> Result<(), DecodeError> {
    skip_field(wt, tag, buf, DecodeContext::default()).map_err(pb)
}

fn expect(wt: WireType, want: WireType, what: &str) -> Result<(), DecodeError> {
    if wt == want {
        Ok(())
    } else {
        Err(pb(format!(
            "{what}: invalid wire type {wt:?} (expected {want:?})"
        )))
    }
}

/// Scans a decompressed `WriteRequest`. Fails like the owned decoder: malformed protobuf
/// ("protobuf: ..."), and per series ("series N: ...") on a label name or value that is
/// not UTF-8, an empty label name, or a duplicate label name.
pub fn parse_write_request(raw: &[u8]) -> Result<DecodedWriteRef<'_>, DecodeError> {
    let mut buf = raw;
    let mut out = DecodedWriteRef {
        batch: BorrowedBatch::with_capacity(raw.len() / 64, raw.len() / 16, raw.len() / 64),
        ..DecodedWriteRef::default()
    };
    let mut labels: Vec<(&str, &str)> = Vec::with_capacity(16);
    let mut samples: Vec<Sample> = Vec::with_capacity(4);
    let mut index = 0usize;
    while !buf.is_empty() {
        let (tag, wt) = decode_key(&mut buf).map_err(pb)?;
        match tag {
            1 => {
                expect(wt, WireType::LengthDelimited, "WriteRequest.timeseries")?;
                let msg = take_len(&mut buf)?;
                scan_series(msg, index, &mut labels, &mut samples, &mut out)?;
                index += 1;
            }
            3 => {
                expect(wt, WireType::LengthDelimited, "WriteRequest.metadata")?;
                let m = proto::MetricMetadata::decode(take_len(&mut buf)?).map_err(pb)?;
                out.metadata.push(Metadata {
                    r#type: super::metric_type_name(m.r#type).to_owned(),
                    metric_family_name: m.metric_family_name,
                    help: m.help,
                    unit: m.unit,
                });
            }
            _ => skip(wt, tag, &mut buf)?,
        }
    }
    Ok(out)
}

fn scan_series<'a>(
    mut msg: &'a [u8],
    index: usize,
    labels: &mut Vec<(&'a str, &'a str)>,
    samples: &mut Vec<Sample>,
    out: &mut DecodedWriteRef<'a>,
) -> Result<(), DecodeError> {
    labels.clear();
    samples.clear();
    let series_err = |message: String| DecodeError::Series {
        series: index,
        message,
    };
    while !msg.is_empty() {
        let (tag, wt) = decode_key(&mut msg).map_err(pb)?;
        match tag {
            1 => {
                expect(wt, WireType::LengthDelimited, "TimeSeries.labels")?;
                let (name, value) = scan_label(take_len(&mut msg)?)?;
                let name = std::str::from_utf8(name).map_err(|_| {
                    series_err(format!(
                        "label name {:?} is not valid UTF-8",
                        String::from_utf8_lossy(name)
                    ))
                })?;
                let value = std::str::from_utf8(value).map_err(|_| {
                    series_err(format!(
                        "value of label {name:?} is not valid UTF-8: {:?}",
                        String::from_utf8_lossy(value)
                    ))
                })?;
                labels.push((name, value));
            }
            2 => {
                expect(wt, WireType::LengthDelimited, "TimeSeries.samples")?;
                samples.push(scan_sample(take_len(&mut msg)?)?);
            }
            3 => {
                out.exemplars_skipped += 1;
                skip(wt, tag, &mut msg)?;
            }
            4 => {
                out.histograms_skipped += 1;
                skip(wt, tag, &mut msg)?;
            }
            _ => skip(wt, tag, &mut msg)?,
        }
    }
    if !labels.windows(2).all(|w| w[0].0 <= w[1].0) {
        labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    if labels.first().is_some_and(|l| l.0.is_empty()) {
        return Err(series_err("empty label name".to_owned()));
    }
    if let Some(w) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(series_err(format!("duplicate label name {:?}", w[0].0)));
    }
    // An empty value means the label is absent.
    labels.retain(|l| !l.1.is_empty());
    if !samples.is_empty() {
        out.batch.push(labels, samples);
    }
    Ok(())
}

fn scan_label(mut msg: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    while !msg.is_empty() {
        let (tag, wt) = decode_key(&mut msg).map_err(pb)?;
        match tag {
            1 => {
                expect(wt, WireType::LengthDelimited, "Label.name")?;
                name = take_len(&mut msg)?;
            }
            2 => {
                expect(wt, WireType::LengthDelimited, "Label.value")?;
                value = take_len(&mut msg)?;
            }
            _ => skip(wt, tag, &mut msg)?,
        }
    }
    Ok((name, value))
}

fn scan_sample(mut msg: &[u8]) -> Result<Sample, DecodeError> {
    let (mut t, mut v) = (0i64, 0f64);
    while !msg.is_empty() {
        let (tag, wt) = decode_key(&mut msg).map_err(pb)?;
        match tag {
            1 => {
                expect(wt, WireType::SixtyFourBit, "Sample.value")?;
                let Some((bytes, rest)) = msg.split_first_chunk::<8>() else {
                    return Err(pb("Sample.value: buffer underflow"));
                };
                v = f64::from_le_bytes(*bytes);
                msg = rest;
            }
            2 => {
                expect(wt, WireType::Varint, "Sample.timestamp")?;
                t = decode_varint(&mut msg).map_err(pb)? as i64;
            }
            _ => skip(wt, tag, &mut msg)?,
        }
    }
    Ok(Sample::new(t, v))
}
