//! WAL record types and their binary encoding (see docs/format/wal.md).
//!
//! A record is one type byte followed by the type's body. Integers are LEB128 varints;
//! signed deltas are zigzag-encoded first. Values are the raw 8 bytes of the `f64`
//! (little endian), so every NaN payload, the stale marker included, survives bit for bit.

use strix_core::{Label, Labels};

use super::error::WalError;

/// Type byte of a [`Record::Series`].
pub const RECORD_SERIES: u8 = 1;
/// Type byte of a [`Record::Samples`].
pub const RECORD_SAMPLES: u8 = 2;

/// One entry of the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Series created in the head: the reference and the labels it stands for.
    Series(Vec<SeriesRecord>),
    /// Samples appended to series created earlier (by reference).
    Samples(Vec<SampleRecord>),
}

/// A series reference and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRecord {
    pub series_ref: u64,
    pub labels: Labels,
}

/// One sample of the series `series_ref`.
#[derive(Debug, Clone, Copy)]
pub struct SampleRecord {
    pub series_ref: u64,
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    pub v: f64,
}

impl PartialEq for SampleRecord {
    /// Bitwise on the value, so NaN payloads compare exactly.
    fn eq(&self, other: &Self) -> bool {
        self.series_ref == other.series_ref
            && self.t == other.t
            && self.v.to_bits() == other.v.to_bits()
    }
}
impl Eq for SampleRecord {}

impl Record {
    /// Appends the encoding of `self` to `dst`.
    ///
    /// Samples are delta-encoded against the previous sample of the record (reference and
    /// timestamp, wrapping arithmetic), so sorted references and close timestamps cost a byte
    /// or two each.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        match self {
            Record::Series(series) => {
                dst.push(RECORD_SERIES);
                put_uvarint(dst, series.len() as u64);
                for s in series {
                    put_uvarint(dst, s.series_ref);
                    put_uvarint(dst, s.labels.len() as u64);
                    for l in s.labels.iter() {
                        put_bytes(dst, l.name.as_bytes());
                        put_bytes(dst, l.value.as_bytes());
                    }
                }
            }
            Record::Samples(samples) => {
                dst.push(RECORD_SAMPLES);
                put_uvarint(dst, samples.len() as u64);
                let (mut prev_ref, mut prev_t) = (0u64, 0i64);
                for s in samples {
                    put_varint(dst, s.series_ref.wrapping_sub(prev_ref) as i64);
                    put_varint(dst, s.t.wrapping_sub(prev_t));
                    dst.extend_from_slice(&s.v.to_bits().to_le_bytes());
                    prev_ref = s.series_ref;
                    prev_t = s.t;
                }
            }
        }
    }

    /// Decodes one record; the whole of `src` must be consumed.
    ///
    /// Never panics and never allocates more than a small multiple of `src.len()`, whatever
    /// the input.
    pub fn decode(src: &[u8]) -> Result<Record, WalError> {
        let mut d = Decoder { buf: src, pos: 0 };
        let record = match d.u8("type byte")? {
            RECORD_SERIES => {
                let n = d.uvarint("series count")?;
                // Each series takes at least two bytes (ref and label count).
                let mut series = Vec::with_capacity(d.capacity_for(n, 2));
                for _ in 0..n {
                    let series_ref = d.uvarint("series ref")?;
                    let nl = d.uvarint("label count")?;
                    let mut labels = Vec::with_capacity(d.capacity_for(nl, 2));
                    for _ in 0..nl {
                        let name = d.string("label name")?;
                        let value = d.string("label value")?;
                        labels.push(Label { name, value });
                    }
                    // The writer only sees `Labels`, which are sorted by name; a record that is
                    // not is repaired rather than rejected (rejecting would truncate the log).
                    if !labels.windows(2).all(|w| w[0].name <= w[1].name) {
                        labels.sort_by(|a, b| a.name.cmp(&b.name));
                    }
                    series.push(SeriesRecord {
                        series_ref,
                        labels: Labels::from_sorted(labels),
                    });
                }
                Record::Series(series)
            }
            RECORD_SAMPLES => {
                let n = d.uvarint("sample count")?;
                // Each sample takes at least ten bytes (two varints and the value).
                let mut samples = Vec::with_capacity(d.capacity_for(n, 10));
                let (mut prev_ref, mut prev_t) = (0u64, 0i64);
                for _ in 0..n {
                    let series_ref = prev_ref.wrapping_add(d.varint("series ref delta")? as u64);
                    let t = prev_t.wrapping_add(d.varint("timestamp delta")?);
                    let v = f64::from_bits(u64::from_le_bytes(d.array("value")?));
                    samples.push(SampleRecord { series_ref, t, v });
                    prev_ref = series_ref;
                    prev_t = t;
                }
                Record::Samples(samples)
            }
            other => {
                return Err(WalError::RecordDecode(format!(
                    "unknown record type {other}"
                )))
            }
        };
        if d.pos != src.len() {
            return Err(WalError::RecordDecode(format!(
                "{} trailing bytes after record",
                src.len() - d.pos
            )));
        }
        Ok(record)
    }

    /// Number of entries (series or samples) in the record.
    pub fn len(&self) -> usize {
        match self {
            Record::Series(s) => s.len(),
            Record::Samples(s) => s.len(),
        }
    }

    /// True when the record holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn put_uvarint(dst: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        dst.push((v as u8) | 0x80);
        v >>= 7;
    }
    dst.push(v as u8);
}

fn put_varint(dst: &mut Vec<u8>, v: i64) {
    put_uvarint(dst, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_bytes(dst: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(dst, b.len() as u64);
    dst.extend_from_slice(b);
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// A capacity for `n` items of at least `min_size` bytes each that the input can hold.
    fn capacity_for(&self, n: u64, min_size: usize) -> usize {
        let fit = self.remaining() / min_size;
        usize::try_from(n).map_or(fit, |n| n.min(fit))
    }

    fn short(what: &str) -> WalError {
        WalError::RecordDecode(format!("record truncated in {what}"))
    }

    fn u8(&mut self, what: &str) -> Result<u8, WalError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| Self::short(what))?;
        self.pos += 1;
        Ok(b)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], WalError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], WalError> {
        if n > self.remaining() {
            return Err(Self::short(what));
        }
        let start = self.pos;
        self.pos += n;
        self.buf
            .get(start..self.pos)
            .ok_or_else(|| Self::short(what))
    }

    fn uvarint(&mut self, what: &str) -> Result<u64, WalError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            // The tenth byte may only carry the single remaining bit.
            if shift == 63 && b > 1 {
                return Err(WalError::RecordDecode(format!("varint overflow in {what}")));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WalError::RecordDecode(format!("varint overflow in {what}")))
    }

    fn varint(&mut self, what: &str) -> Result<i64, WalError> {
        let u = self.uvarint(what)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn string(&mut self, what: &str) -> Result<String, WalError> {
        let n = self.uvarint(what)?;
        let n = usize::try_from(n).map_err(|_| Self::short(what))?;
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| WalError::RecordDecode(format!("{what} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strix_core::STALE_NAN;

    fn roundtrip(r: &Record) -> Record {
        let mut buf = vec![0xAA]; // encode appends: existing bytes stay
        r.encode(&mut buf);
        assert_eq!(buf[0], 0xAA);
        Record::decode(&buf[1..]).expect("decode")
    }

    fn arb_labels() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,12}", "\\PC{0,16}", 0..6).prop_map(
            |m| Labels::from_sorted(m.into_iter().map(|(n, v)| Label::new(n, v)).collect()),
        )
    }

    fn arb_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            any::<u64>().prop_map(f64::from_bits),
            Just(STALE_NAN),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
        ]
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        prop_oneof![
            proptest::collection::vec(
                (any::<u64>(), arb_labels())
                    .prop_map(|(series_ref, labels)| SeriesRecord { series_ref, labels }),
                0..8
            )
            .prop_map(Record::Series),
            proptest::collection::vec(
                (any::<u64>(), any::<i64>(), arb_value())
                    .prop_map(|(series_ref, t, v)| SampleRecord { series_ref, t, v }),
                0..32
            )
            .prop_map(Record::Samples),
        ]
    }

    proptest! {
        #[test]
        fn records_roundtrip(r in arb_record()) {
            prop_assert_eq!(roundtrip(&r), r);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Record::decode(&bytes);
        }

        #[test]
        fn every_strict_prefix_is_rejected(r in arb_record()) {
            let mut buf = Vec::new();
            r.encode(&mut buf);
            for cut in 0..buf.len() {
                prop_assert!(Record::decode(&buf[..cut]).is_err());
            }
        }
    }

    #[test]
    fn stale_marker_is_bit_exact() {
        let r = Record::Samples(vec![
            SampleRecord {
                series_ref: 7,
                t: 1_700_000_000_000,
                v: STALE_NAN,
            },
            SampleRecord {
                series_ref: 3,
                t: 1_699_999_999_000,
                v: f64::from_bits(0x7ff8_dead_beef_0001),
            },
        ]);
        let Record::Samples(s) = roundtrip(&r) else {
            panic!("wrong type")
        };
        assert_eq!(s[0].v.to_bits(), 0x7ff0_0000_0000_0002);
        assert_eq!(s[1].v.to_bits(), 0x7ff8_dead_beef_0001);
        assert_eq!(s[1].series_ref, 3);
        assert_eq!(s[1].t, 1_699_999_999_000);
    }

    #[test]
    fn matches_documented_example() {
        // docs/format/wal.md, "Example".
        let r = Record::Samples(vec![
            SampleRecord {
                series_ref: 5,
                t: 1000,
                v: 1.0,
            },
            SampleRecord {
                series_ref: 6,
                t: 1000,
                v: STALE_NAN,
            },
        ]);
        let mut buf = Vec::new();
        r.encode(&mut buf);
        let want = [
            0x02, 0x02, 0x0a, 0xd0, 0x0f, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x02, 0x00, 0x02, 0, 0, 0,
            0, 0, 0xf0, 0x7f,
        ];
        assert_eq!(buf, want);
    }

    #[test]
    fn extremes_roundtrip() {
        let r = Record::Samples(vec![
            SampleRecord {
                series_ref: u64::MAX,
                t: i64::MIN,
                v: 1.0,
            },
            SampleRecord {
                series_ref: 0,
                t: i64::MAX,
                v: 2.0,
            },
            SampleRecord {
                series_ref: u64::MAX,
                t: i64::MIN,
                v: 3.0,
            },
        ]);
        assert_eq!(roundtrip(&r), r);
    }

    #[test]
    fn sorted_refs_encode_compactly() {
        let samples: Vec<_> = (0..100)
            .map(|i| SampleRecord {
                series_ref: 1000 + i,
                t: 1_700_000_000_000,
                v: 1.0,
            })
            .collect();
        let mut buf = Vec::new();
        Record::Samples(samples).encode(&mut buf);
        // First sample pays for the absolute values; the rest cost 1 + 1 + 8 bytes.
        assert!(buf.len() < 100 * 10 + 20, "{} bytes", buf.len());
    }

    #[test]
    fn rejects_unknown_type_and_trailing_bytes() {
        assert!(matches!(
            Record::decode(&[9]),
            Err(WalError::RecordDecode(_))
        ));
        assert!(matches!(
            Record::decode(&[]),
            Err(WalError::RecordDecode(_))
        ));
        let mut buf = Vec::new();
        Record::Series(vec![]).encode(&mut buf);
        buf.push(0);
        assert!(matches!(
            Record::decode(&buf),
            Err(WalError::RecordDecode(_))
        ));
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        // Claims u64::MAX samples with no bytes behind it.
        let mut buf = vec![RECORD_SAMPLES];
        put_uvarint(&mut buf, u64::MAX);
        assert!(Record::decode(&buf).is_err());
    }

    #[test]
    fn unsorted_labels_are_sorted_on_decode() {
        let mut buf = vec![RECORD_SERIES];
        put_uvarint(&mut buf, 1);
        put_uvarint(&mut buf, 5);
        put_uvarint(&mut buf, 2);
        for s in ["job", "api", "__name__", "up"] {
            put_bytes(&mut buf, s.as_bytes());
        }
        let Ok(Record::Series(s)) = Record::decode(&buf) else {
            panic!("decode failed")
        };
        assert_eq!(
            s[0].labels,
            Labels::from_pairs([("__name__", "up"), ("job", "api")])
        );
    }
}
