//! Rollup chunk: a sequence of [`RollupPoint`]s (downsampled aggregates).
//!
//! Layout: `[encoding = 2][u16 BE point count][bitstream]`. Each point is written as one
//! row, but every field is compressed against the same field of the previous point
//! (column-wise state):
//!
//! - `t`: the first as 64 raw bits, then the delta, then delta-of-deltas, each in the
//!   variable-width signed code below (bucket ends are regular, so mostly one `0` bit);
//! - `count`: the delta to the previous count (the first against 0), same signed code;
//! - `min`, `max`, `sum`, `first`, `last`, `increase`: the first as 64 raw bits, then the
//!   Gorilla XOR against the previous value of the same field, each field with its own
//!   leading/trailing-zero window.
//!
//! Signed code: `0` → 0; `10`+14 bits; `110`+17 bits; `1110`+20 bits; `1111`+64 bits (two's
//! complement). Floats are stored bit for bit, so NaN payloads survive. docs/format/chunk.md.

use super::bitstream::{BitReader, BitWriter};
use super::{ChunkError, Encoding};
use strix_core::storage::RollupPoint;

const HEADER: usize = 3;
const FLOAT_FIELDS: usize = 6;
const BUCKETS: [(u64, u8, u8); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

#[derive(Debug, Clone, Copy)]
struct XorState {
    v: u64,
    leading: u8,
    trailing: u8,
}

impl XorState {
    const NEW: XorState = XorState {
        v: 0,
        leading: u8::MAX,
        trailing: 0,
    };
}

fn floats(p: &RollupPoint) -> [f64; FLOAT_FIELDS] {
    [p.min, p.max, p.sum, p.first, p.last, p.increase]
}

/// Appends points to a rollup chunk; the bytes are a valid chunk after every append.
#[derive(Debug, Clone)]
pub struct RollupAppender {
    w: BitWriter,
    count: u16,
    t: i64,
    delta: i64,
    n: u64,
    cols: [XorState; FLOAT_FIELDS],
}

impl Default for RollupAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl RollupAppender {
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&[Encoding::Rollup as u8, 0, 0]);
        RollupAppender {
            w: BitWriter::from_bytes(bytes),
            count: 0,
            t: 0,
            delta: 0,
            n: 0,
            cols: [XorState::NEW; FLOAT_FIELDS],
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether another point fits (the count field is 16 bits).
    pub fn is_full(&self) -> bool {
        self.count == u16::MAX
    }

    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// Appends a point; `t` must not decrease (the caller orders points).
    pub fn append(&mut self, p: &RollupPoint) {
        match self.count {
            0 => self.w.write_bits(p.t as u64, 64),
            1 => {
                self.delta = p.t.wrapping_sub(self.t);
                write_signed(&mut self.w, self.delta);
            }
            _ => {
                let delta = p.t.wrapping_sub(self.t);
                write_signed(&mut self.w, delta.wrapping_sub(self.delta));
                self.delta = delta;
            }
        }
        self.t = p.t;
        write_signed(&mut self.w, p.count.wrapping_sub(self.n) as i64);
        self.n = p.count;
        for (i, v) in floats(p).into_iter().enumerate() {
            let vb = v.to_bits();
            if self.count == 0 {
                self.w.write_bits(vb, 64);
                self.cols[i].v = vb;
            } else {
                write_xor(&mut self.w, &mut self.cols[i], vb);
            }
        }
        self.count += 1;
        let c = self.count.to_be_bytes();
        let b = self.w.bytes_mut();
        b[1] = c[0];
        b[2] = c[1];
    }
}

fn write_signed(w: &mut BitWriter, v: i64) {
    if v == 0 {
        w.write_bit(false);
        return;
    }
    for (prefix, plen, bits) in BUCKETS {
        let lim = 1i64 << (bits - 1);
        if (-lim..lim).contains(&v) {
            w.write_bits(prefix, plen);
            w.write_bits(v as u64, bits);
            return;
        }
    }
    w.write_bits(0b1111, 4);
    w.write_bits(v as u64, 64);
}

fn read_signed(r: &mut BitReader<'_>) -> Option<i64> {
    let mut ones = 0u8;
    while ones < 4 && r.read_bit()? {
        ones += 1;
    }
    let bits: u8 = match ones {
        0 => return Some(0),
        1 => 14,
        2 => 17,
        3 => 20,
        _ => 64,
    };
    let raw = r.read_bits(bits)?;
    let shift = 64 - u32::from(bits);
    Some(((raw << shift) as i64) >> shift)
}

fn write_xor(w: &mut BitWriter, s: &mut XorState, vb: u64) {
    let xor = vb ^ s.v;
    s.v = vb;
    if xor == 0 {
        w.write_bit(false);
        return;
    }
    w.write_bit(true);
    let leading = (xor.leading_zeros() as u8).min(31);
    let trailing = xor.trailing_zeros() as u8;
    if s.leading != u8::MAX && leading >= s.leading && trailing >= s.trailing {
        w.write_bit(false);
        w.write_bits(xor >> s.trailing, 64 - s.leading - s.trailing);
        return;
    }
    s.leading = leading;
    s.trailing = trailing;
    w.write_bit(true);
    w.write_bits(u64::from(leading), 5);
    let sig = 64 - leading - trailing;
    w.write_bits(u64::from(sig) & 0x3f, 6);
    w.write_bits(xor >> trailing, sig);
}

fn read_xor(r: &mut BitReader<'_>, s: &mut XorState) -> Option<()> {
    if !r.read_bit()? {
        return Some(());
    }
    if r.read_bit()? {
        s.leading = r.read_bits(5)? as u8;
        let mut sig = r.read_bits(6)? as u8;
        if sig == 0 {
            sig = 64;
        }
        if s.leading + sig > 64 {
            return None;
        }
        s.trailing = 64 - s.leading - sig;
    } else if s.leading == u8::MAX {
        // A window reuse before any window was set: corrupt.
        return None;
    }
    let sig = 64 - s.leading - s.trailing;
    let bits = r.read_bits(sig)?;
    s.v ^= bits << s.trailing;
    Some(())
}

/// Decodes a rollup chunk.
#[derive(Debug, Clone)]
pub struct RollupIter<'a> {
    r: BitReader<'a>,
    remaining: u16,
    read: u16,
    t: i64,
    delta: i64,
    n: u64,
    cols: [XorState; FLOAT_FIELDS],
}

impl<'a> RollupIter<'a> {
    /// Starts decoding `chunk`, which must begin with the rollup encoding byte.
    pub fn new(chunk: &'a [u8]) -> Result<Self, ChunkError> {
        let (&enc, rest) = chunk.split_first().ok_or(ChunkError::Empty)?;
        if enc != Encoding::Rollup as u8 {
            return Err(ChunkError::UnknownEncoding(enc));
        }
        if rest.len() < 2 {
            return Err(ChunkError::Truncated("header"));
        }
        Ok(RollupIter {
            r: BitReader::new(&chunk[HEADER..]),
            remaining: u16::from_be_bytes([rest[0], rest[1]]),
            read: 0,
            t: 0,
            delta: 0,
            n: 0,
            cols: [XorState::NEW; FLOAT_FIELDS],
        })
    }

    /// Number of points the chunk holds.
    pub fn count(chunk: &[u8]) -> Result<usize, ChunkError> {
        super::header_count(chunk)
    }

    /// Decodes every point into `out`.
    pub fn decode_all(chunk: &[u8], out: &mut Vec<RollupPoint>) -> Result<(), ChunkError> {
        super::collect_into(RollupIter::new(chunk)?, out)
    }

    fn next_point(&mut self) -> Option<RollupPoint> {
        match self.read {
            0 => self.t = self.r.read_bits(64)? as i64,
            1 => {
                self.delta = read_signed(&mut self.r)?;
                self.t = self.t.wrapping_add(self.delta);
            }
            _ => {
                self.delta = self.delta.wrapping_add(read_signed(&mut self.r)?);
                self.t = self.t.wrapping_add(self.delta);
            }
        }
        self.n = self.n.wrapping_add(read_signed(&mut self.r)? as u64);
        let mut f = [0f64; FLOAT_FIELDS];
        for (i, slot) in f.iter_mut().enumerate() {
            if self.read == 0 {
                self.cols[i].v = self.r.read_bits(64)?;
            } else {
                read_xor(&mut self.r, &mut self.cols[i])?;
            }
            *slot = f64::from_bits(self.cols[i].v);
        }
        self.read += 1;
        Some(RollupPoint {
            t: self.t,
            min: f[0],
            max: f[1],
            sum: f[2],
            count: self.n,
            first: f[3],
            last: f[4],
            increase: f[5],
        })
    }
}

impl Iterator for RollupIter<'_> {
    type Item = Result<RollupPoint, ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        match self.next_point() {
            Some(p) => Some(Ok(p)),
            None => {
                self.remaining = 0;
                Some(Err(ChunkError::Truncated("rollup point")))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining as usize, Some(self.remaining as usize))
    }
}

/// Bitwise equality of two points (NaN payloads compared exactly).
pub fn rollup_points_bit_eq(a: &RollupPoint, b: &RollupPoint) -> bool {
    a.t == b.t
        && a.count == b.count
        && floats(a)
            .iter()
            .zip(floats(b).iter())
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strix_core::STALE_NAN;

    fn round_trip(points: &[RollupPoint]) -> Vec<RollupPoint> {
        let mut a = RollupAppender::new();
        for p in points {
            a.append(p);
        }
        let mut out = Vec::new();
        RollupIter::decode_all(a.bytes(), &mut out).expect("decode");
        out
    }

    fn pt(t: i64, v: f64, count: u64) -> RollupPoint {
        RollupPoint {
            t,
            min: v - 1.0,
            max: v + 1.0,
            sum: v * count as f64,
            count,
            first: v,
            last: v + 0.5,
            increase: 3.0,
        }
    }

    #[test]
    fn regular_points_compress() {
        let points: Vec<_> = (1..=24).map(|i| pt(i * 300_000, 10.0, 30)).collect();
        let mut a = RollupAppender::new();
        for p in &points {
            a.append(p);
        }
        // 24 points × 8 fields × 8 bytes = 1536 raw bytes.
        assert!(a.bytes().len() < 100, "{} bytes", a.bytes().len());
        let back = round_trip(&points);
        assert_eq!(back, points);
        assert_eq!(RollupIter::count(a.bytes()), Ok(24));
    }

    #[test]
    fn errors() {
        assert_eq!(RollupIter::new(&[]).err(), Some(ChunkError::Empty));
        assert_eq!(
            RollupIter::new(&[1, 0, 0]).err(),
            Some(ChunkError::UnknownEncoding(1))
        );
        let mut a = RollupAppender::new();
        for i in 0..5 {
            a.append(&pt(i * 1000, i as f64 * 1.7, i as u64));
        }
        let b = a.bytes();
        let res: Result<Vec<_>, _> = RollupIter::new(&b[..b.len() - 6])
            .expect("header")
            .collect();
        assert!(res.is_err());
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(STALE_NAN),
            Just(f64::NAN),
            Just(f64::INFINITY),
            (-1e6..1e6f64),
            (0u32..1000).prop_map(f64::from),
            any::<u64>().prop_map(f64::from_bits),
        ]
    }

    fn point() -> impl Strategy<Value = (i64, u64, [f64; 6])> {
        (
            0i64..10_000_000,
            any::<u64>(),
            [value(), value(), value(), value(), value(), value()],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_points_round_trip(start in any::<i64>(), rows in prop::collection::vec(point(), 1..200)) {
            let mut t = start;
            let points: Vec<RollupPoint> = rows
                .into_iter()
                .map(|(dt, count, f)| {
                    t = t.wrapping_add(dt);
                    RollupPoint { t, min: f[0], max: f[1], sum: f[2], count, first: f[3], last: f[4], increase: f[5] }
                })
                .collect();
            let back = round_trip(&points);
            prop_assert_eq!(back.len(), points.len());
            for (a, b) in back.iter().zip(points.iter()) {
                prop_assert!(rollup_points_bit_eq(a, b), "{:?} != {:?}", a, b);
            }
        }
    }
}
