//! Gorilla-style float chunk: delta-of-delta timestamps, XOR'd values.
//!
//! Layout: `[encoding = 1][u16 BE sample count][bitstream]`. The bitstream holds the first
//! timestamp and value as 64 raw bits each, then per sample a delta-of-delta timestamp in
//! one of five variable-width buckets and the value XOR'd with the previous one, reusing
//! the previous window of meaningful bits when it fits. Byte layout: docs/format/chunk.md.

use super::bitstream::{BitReader, BitWriter};
use super::{ChunkError, Encoding};
use strix_core::Sample;

const HEADER: usize = 3;

/// Appends samples to an XOR chunk. The bytes are a valid chunk after every append, so
/// readers can decode a copy of an open chunk.
#[derive(Debug, Clone)]
pub struct XorAppender {
    w: BitWriter,
    count: u16,
    t: i64,
    delta: i64,
    val: XorValueEncoder,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

/// Delta-of-delta buckets: (prefix bits, prefix length, value bits).
const DOD_BUCKETS: [(u64, u8, u8); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

impl XorAppender {
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&[Encoding::Xor as u8, 0, 0]);
        XorAppender {
            w: BitWriter::from_bytes(bytes),
            count: 0,
            t: 0,
            delta: 0,
            val: XorValueEncoder::new(0),
        }
    }

    /// Number of samples in the chunk.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Timestamp of the last appended sample.
    pub fn last_t(&self) -> i64 {
        self.t
    }

    /// The chunk bytes as they are now.
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// Whether the chunk can take another sample (the count field is 16 bits).
    pub fn is_full(&self) -> bool {
        self.count == u16::MAX
    }

    /// Appends a sample. Timestamps must not decrease (the caller orders samples); the
    /// encoding itself handles any i64 delta.
    pub fn append(&mut self, t: i64, v: f64) {
        let vb = v.to_bits();
        match self.count {
            0 => {
                self.w.write_bits(t as u64, 64);
                self.w.write_bits(vb, 64);
                self.val = XorValueEncoder::new(vb);
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                let dod = delta.wrapping_sub(self.delta);
                self.write_dod(dod);
                self.val.write(&mut self.w, vb);
                self.delta = delta;
            }
        }
        self.t = t;
        self.count += 1;
        let c = self.count.to_be_bytes();
        let b = self.w.bytes_mut();
        b[1] = c[0];
        b[2] = c[1];
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.w.write_bit(false);
            return;
        }
        for (prefix, plen, bits) in DOD_BUCKETS {
            let lim = 1i64 << (bits - 1);
            if (-lim..lim).contains(&dod) {
                self.w.write_bits(prefix, plen);
                self.w.write_bits(dod as u64, bits);
                return;
            }
        }
        self.w.write_bits(0b1111, 4);
        self.w.write_bits(dod as u64, 64);
    }
}

/// Decodes an XOR chunk.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    r: BitReader<'a>,
    remaining: u16,
    read: u16,
    t: i64,
    delta: i64,
    val: XorValueDecoder,
}

impl<'a> XorIter<'a> {
    /// Starts decoding `chunk`, which must begin with the XOR encoding byte.
    pub fn new(chunk: &'a [u8]) -> Result<Self, ChunkError> {
        let (&enc, rest) = chunk.split_first().ok_or(ChunkError::Empty)?;
        if enc != Encoding::Xor as u8 {
            return Err(ChunkError::UnknownEncoding(enc));
        }
        if rest.len() < 2 {
            return Err(ChunkError::Truncated("header"));
        }
        let count = u16::from_be_bytes([rest[0], rest[1]]);
        Ok(XorIter {
            r: BitReader::new(&chunk[HEADER..]),
            remaining: count,
            read: 0,
            t: 0,
            delta: 0,
            val: XorValueDecoder::new(0),
        })
    }

    /// Number of samples the chunk holds.
    pub fn count(chunk: &[u8]) -> Result<usize, ChunkError> {
        super::header_count(chunk)
    }

    /// Decodes every sample into `out`.
    pub fn decode_all(chunk: &[u8], out: &mut Vec<Sample>) -> Result<(), ChunkError> {
        super::collect_into(XorIter::new(chunk)?, out)
    }

    fn next_sample(&mut self) -> Result<Sample, ChunkError> {
        const T: ChunkError = ChunkError::Truncated("sample");
        if self.read == 0 {
            self.t = self.r.read_bits(64).ok_or(T)? as i64;
            self.val = XorValueDecoder::new(self.r.read_bits(64).ok_or(T)?);
        } else {
            let dod = self.read_dod().ok_or(T)?;
            self.delta = self.delta.wrapping_add(dod);
            self.t = self.t.wrapping_add(self.delta);
            self.val.read(&mut self.r).ok_or(T)?;
        }
        self.read += 1;
        Ok(Sample::new(self.t, f64::from_bits(self.val.v)))
    }

    fn read_dod(&mut self) -> Option<i64> {
        let mut ones = 0u8;
        while ones < 4 && self.r.read_bit()? {
            ones += 1;
        }
        let bits = match ones {
            0 => return Some(0),
            1 => 14,
            2 => 17,
            3 => 20,
            _ => 64,
        };
        let raw = self.r.read_bits(bits)?;
        // Sign-extend from `bits` bits.
        let shift = 64 - u32::from(bits);
        Some(((raw << shift) as i64) >> shift)
    }
}

/// The XOR value scheme (docs/format/chunk.md), shared by XOR chunks and the XOR value
/// section of dense chunks: each value is XOR'd with the previous one and only the
/// meaningful bits are written, reusing the previous leading/trailing-zero window when the
/// new bits fit in it. The first value is written raw by the caller.
#[derive(Debug, Clone)]
pub(super) struct XorValueEncoder {
    v: u64,
    leading: u8,
    trailing: u8,
}

impl XorValueEncoder {
    /// State after the raw first value `first`.
    pub(super) fn new(first: u64) -> Self {
        XorValueEncoder {
            v: first,
            leading: u8::MAX,
            trailing: 0,
        }
    }

    /// Writes value bits `vb` against the previous value.
    #[inline]
    pub(super) fn write(&mut self, w: &mut BitWriter, vb: u64) {
        let xor = vb ^ self.v;
        self.v = vb;
        if xor == 0 {
            w.write_bit(false);
            return;
        }
        w.write_bit(true);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != u8::MAX && leading >= self.leading && trailing >= self.trailing {
            w.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            w.write_bits(xor >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        w.write_bit(true);
        w.write_bits(u64::from(leading), 5);
        let sig = 64 - leading - trailing;
        // 64 significant bits are written as 0 in the 6-bit field.
        w.write_bits(u64::from(sig) & 0x3f, 6);
        w.write_bits(xor >> trailing, sig);
    }
}

/// Reads what [`XorValueEncoder`] wrote.
#[derive(Debug, Clone)]
pub(super) struct XorValueDecoder {
    /// The last value read (bit pattern).
    pub(super) v: u64,
    leading: u8,
    trailing: u8,
}

impl XorValueDecoder {
    pub(super) fn new(first: u64) -> Self {
        XorValueDecoder {
            v: first,
            leading: 0,
            trailing: 0,
        }
    }

    /// Reads the next value into `self.v`; `None` when the input ends early or is invalid.
    #[inline]
    pub(super) fn read(&mut self, r: &mut BitReader<'_>) -> Option<u64> {
        if !r.read_bit()? {
            return Some(self.v);
        }
        if r.read_bit()? {
            self.leading = r.read_bits(5)? as u8;
            let mut sig = r.read_bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            // A corrupt window (leading + sig > 64) would underflow.
            self.trailing = 64u8.checked_sub(self.leading + sig)?;
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = r.read_bits(sig)?;
        self.v ^= bits.checked_shl(u32::from(self.trailing)).unwrap_or(0);
        Some(self.v)
    }
}

impl Iterator for XorIter<'_> {
    type Item = Result<Sample, ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        match self.next_sample() {
            Ok(s) => Some(Ok(s)),
            Err(e) => {
                self.remaining = 0;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining as usize, Some(self.remaining as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strix_core::STALE_NAN;

    fn round_trip(samples: &[Sample]) -> Vec<Sample> {
        let mut a = XorAppender::new();
        for s in samples {
            a.append(s.t, s.v);
        }
        let mut out = Vec::new();
        XorIter::decode_all(a.bytes(), &mut out).expect("decode");
        out
    }

    #[test]
    fn regular_series_compresses_well() {
        let samples: Vec<Sample> = (0..120)
            .map(|i| Sample::new(1_700_000_000_000 + i * 10_000, 42.0))
            .collect();
        let mut a = XorAppender::new();
        for s in &samples {
            a.append(s.t, s.v);
        }
        // Constant value, constant interval: ~2 bits per sample after the first.
        assert!(a.bytes().len() < 60, "{} bytes", a.bytes().len());
        assert_eq!(round_trip(&samples), samples);
    }

    #[test]
    fn special_values_bit_exact() {
        let samples = vec![
            Sample::new(0, f64::NAN),
            Sample::new(1, STALE_NAN),
            Sample::new(2, f64::INFINITY),
            Sample::new(3, f64::NEG_INFINITY),
            Sample::new(4, -0.0),
            Sample::new(5, f64::MAX),
            Sample::new(6, f64::MIN_POSITIVE),
            Sample::new(i64::MAX / 2, 1.0),
        ];
        assert_eq!(round_trip(&samples), samples);
    }

    #[test]
    fn truncated_chunk_is_an_error() {
        let mut a = XorAppender::new();
        for i in 0..10 {
            a.append(i * 1000, i as f64 * 1.5);
        }
        let bytes = a.bytes();
        let cut = &bytes[..bytes.len() - 4];
        let res: Result<Vec<_>, _> = XorIter::new(cut).expect("header").collect();
        assert!(res.is_err());
        assert_eq!(
            XorIter::new(&[9, 0, 0]).err(),
            Some(ChunkError::UnknownEncoding(9))
        );
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(STALE_NAN),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (-1e6..1e6f64),
            (0u32..1000).prop_map(f64::from),
            any::<u64>().prop_map(f64::from_bits),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_series_round_trip(
            start in any::<i64>().prop_map(|t| t / 4),
            steps in prop::collection::vec((0i64..=i64::MAX / (1 << 20), value()), 1..300),
        ) {
            let mut t = start;
            let mut samples = Vec::new();
            for (dt, v) in steps {
                samples.push(Sample::new(t, v));
                t = t.saturating_add(dt % 3_600_000_000);
            }
            prop_assert_eq!(round_trip(&samples), samples);
        }

        #[test]
        fn irregular_small_steps_round_trip(
            start in 1_500_000_000_000i64..1_900_000_000_000,
            steps in prop::collection::vec((0i64..100_000, value()), 1..400),
        ) {
            let mut t = start;
            let mut samples = Vec::new();
            for (dt, v) in steps {
                t += dt;
                samples.push(Sample::new(t, v));
            }
            prop_assert_eq!(round_trip(&samples), samples);
        }
    }
}
