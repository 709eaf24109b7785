//! Dense float chunk for blocks: integer streams for timestamps and decimal values,
//! optionally zstd-compressed.
//!
//! Layout: `[encoding = 3][u16 BE sample count][flags][body]`; with flag bit 0 the body is
//! `[plain length: uvarint][zstd frame]`, otherwise the plain body itself. The plain body
//! holds the timestamps (first, first delta, then delta-of-deltas as an integer stream)
//! and the values, either as decimal mantissas `m` with one exponent `e` per chunk
//! (`v = m / 10^e`, mantissas as a delta or delta-of-delta integer stream, plus a sparse
//! list of bit corrections that makes every value exact, NaN payloads included) or, when
//! that is larger, in the XOR scheme. Integer streams are zig-zag varints or bit-packed
//! offsets from the stream's minimum, whichever is smaller. Byte layout:
//! docs/format/chunk.md.
//!
//! Dense chunks are written whole (at block write time), never appended to, and decoded
//! whole: [`decode_dense`] fills a `Vec<Sample>`.

use std::cell::RefCell;

use super::bitstream::{BitReader, BitWriter};
use super::xor::{XorValueDecoder, XorValueEncoder};
use super::{ChunkError, Encoding};
use strix_core::Sample;

/// Encoding byte, count, flags.
const HEADER: usize = 4;
/// Flag bit: the body is zstd-compressed.
const FLAG_ZSTD: u8 = 1;
/// zstd level for chunk bodies (see `benches/engine.rs` and docs/format/chunk.md).
pub const ZSTD_LEVEL: i32 = 3;

/// Bodies shorter than this are not worth a zstd frame (~10 bytes of overhead).
const ZSTD_MIN_LEN: usize = 64;

/// Value section kinds.
const KIND_XOR: u8 = 0;
const KIND_DECIMAL: u8 = 1;

/// Highest difference order of an integer sequence (2 = delta-of-delta).
const MAX_ORDER: u8 = 2;

/// Integer stream modes.
const MODE_VARINT: u8 = 0;
const MODE_PACKED: u8 = 1;
const MODE_PACKED_GCD: u8 = 2;

/// Correction section modes of the decimal value scheme.
const CORR_NONE: u8 = 0;
const CORR_SPARSE: u8 = 1;
const CORR_DENSE: u8 = 2;

/// Exact powers of ten (10^22 is the largest exactly representable in an f64).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];
/// Largest exponent the encoder searches; the format allows up to 22.
const MAX_SEARCH_EXP: usize = 15;
/// Mantissas must stay below 2^63 in magnitude.
const MANTISSA_LIMIT: f64 = 9.223_372_036_854_775e18;

/// Most samples one dense chunk can hold (the count field is 16 bits).
pub const MAX_DENSE_SAMPLES: usize = u16::MAX as usize;

/// Knobs of the encoder; [`EncodeOptions::default`] is what blocks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// zstd level for the body, or `None` to never compress.
    pub zstd_level: Option<i32>,
    /// Whether to try the decimal value scheme (otherwise always XOR values).
    pub decimal: bool,
    /// Whether integer streams may be bit-packed (otherwise always varints).
    pub packed: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            zstd_level: Some(ZSTD_LEVEL),
            decimal: true,
            packed: true,
        }
    }
}

/// Encodes `samples` (at most [`MAX_DENSE_SAMPLES`], in time order) as one dense chunk with
/// the default options.
pub fn encode_dense(samples: &[Sample]) -> Vec<u8> {
    encode_dense_with(samples, EncodeOptions::default())
}

/// Encodes `samples` as one dense chunk. Panics never; more than [`MAX_DENSE_SAMPLES`]
/// samples are truncated to that many (callers split first).
pub fn encode_dense_with(samples: &[Sample], opts: EncodeOptions) -> Vec<u8> {
    let samples = &samples[..samples.len().min(MAX_DENSE_SAMPLES)];
    let n = samples.len();
    let mut plain = Vec::with_capacity(n * 2 + 32);
    encode_timestamps(samples, opts, &mut plain);
    encode_values(samples, opts, &mut plain);

    let mut out = Vec::with_capacity(HEADER + plain.len());
    out.push(Encoding::Dense as u8);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    if let Some(level) = opts.zstd_level.filter(|_| plain.len() >= ZSTD_MIN_LEN) {
        if let Some(z) = zstd_compress(&plain, level) {
            let mut len = Vec::with_capacity(3);
            put_uvarint(&mut len, plain.len() as u64);
            if len.len() + z.len() < plain.len() {
                out.push(FLAG_ZSTD);
                out.extend_from_slice(&len);
                out.extend_from_slice(&z);
                return out;
            }
        }
    }
    out.push(0);
    out.extend_from_slice(&plain);
    out
}

/// Number of samples in a dense chunk.
pub fn dense_count(chunk: &[u8]) -> Result<usize, ChunkError> {
    if chunk.len() < HEADER {
        return Err(ChunkError::Truncated("header"));
    }
    Ok(u16::from_be_bytes([chunk[1], chunk[2]]) as usize)
}

/// Decodes every sample of a dense chunk, appending them to `out`.
pub fn decode_dense(chunk: &[u8], out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    let (&enc, _) = chunk.split_first().ok_or(ChunkError::Empty)?;
    if enc != Encoding::Dense as u8 {
        return Err(ChunkError::UnknownEncoding(enc));
    }
    let n = dense_count(chunk)?;
    let flags = chunk[3];
    let body = &chunk[HEADER..];
    if flags & !FLAG_ZSTD != 0 {
        return Err(ChunkError::Corrupt("unknown flags"));
    }
    if n == 0 {
        return Ok(());
    }
    if flags & FLAG_ZSTD == 0 {
        return decode_plain(body, n, out);
    }
    let mut c = Cur::new(body);
    let plain_len = c.uvarint()? as usize;
    if plain_len > max_plain_len(n) {
        return Err(ChunkError::Corrupt("plain length out of range"));
    }
    let frame = &body[c.pos..];
    DECODE_BUF.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (dctx, buf) = &mut *guard;
        if dctx.is_none() {
            *dctx = Some(
                zstd::bulk::Decompressor::new().map_err(|_| ChunkError::Corrupt("zstd context"))?,
            );
        }
        let Some(d) = dctx.as_mut() else {
            return Err(ChunkError::Corrupt("zstd context"));
        };
        buf.clear();
        buf.reserve(plain_len);
        let got = d
            .decompress_to_buffer(frame, buf)
            .map_err(|_| ChunkError::Corrupt("zstd frame"))?;
        if got != plain_len {
            return Err(ChunkError::Corrupt("plain length mismatch"));
        }
        decode_plain(buf, n, out)
    })
}

type DecodeState = (Option<zstd::bulk::Decompressor<'static>>, Vec<u8>);

thread_local! {
    /// Per-thread zstd decompression context and output buffer: creating a context per
    /// chunk would cost more than decoding it.
    static DECODE_BUF: RefCell<DecodeState> = const { RefCell::new((None, Vec::new())) };
    /// Per-thread zstd compression context and its level.
    static ENCODE_CTX: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

/// Upper bound of a plain body of `n` samples: timestamps ≤ 10 bytes per sample, decimal
/// values ≤ 10 (mantissa) + 20 (sparse correction) bytes per sample (XOR values ≤ 10),
/// plus fixed-size headers.
fn max_plain_len(n: usize) -> usize {
    n.saturating_mul(48).saturating_add(256)
}

fn zstd_compress(plain: &[u8], level: i32) -> Option<Vec<u8>> {
    ENCODE_CTX.with(|cell| {
        let mut ctx = cell.borrow_mut();
        if !matches!(&*ctx, Some((l, _)) if *l == level) {
            *ctx = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        let (_, c) = ctx.as_mut()?;
        c.compress(plain).ok()
    })
}

// ---------------------------------------------------------------------------------------
// Encoding

fn encode_timestamps(samples: &[Sample], opts: EncodeOptions, out: &mut Vec<u8>) {
    put_seq(out, samples.iter().map(|s| s.t), opts.packed);
}

fn encode_values(samples: &[Sample], opts: EncodeOptions, out: &mut Vec<u8>) {
    let mut best: Option<(Vec<u8>, bool)> = None;
    if opts.decimal {
        let mut scratch = DecimalScratch::default();
        for e in exponent_candidates(samples) {
            let mut cand = Vec::with_capacity(samples.len() * 2 + 16);
            let exact = encode_values_decimal(samples, e, opts.packed, &mut scratch, &mut cand);
            if best.as_ref().is_none_or(|(b, _)| cand.len() < b.len()) {
                best = Some((cand, exact));
            }
        }
    }
    // XOR only has a chance when the decimal scheme needed corrections and costs more
    // than XOR does on gently varying values.
    match best {
        Some((b, exact)) if exact || b.len() <= samples.len() * 2 => out.extend_from_slice(&b),
        Some((b, _)) => {
            let xor = encode_values_xor(samples);
            out.extend_from_slice(if xor.len() < b.len() { &xor } else { &b });
        }
        None => out.extend_from_slice(&encode_values_xor(samples)),
    }
}

fn encode_values_xor(samples: &[Sample]) -> Vec<u8> {
    let mut w = BitWriter::from_bytes(Vec::with_capacity(samples.len() * 2 + 16));
    w.write_bits(u64::from(KIND_XOR), 8);
    let Some(first) = samples.first() else {
        return w.into_bytes();
    };
    let vb = first.v.to_bits();
    w.write_bits(vb, 64);
    let mut enc = XorValueEncoder::new(vb);
    for s in &samples[1..] {
        enc.write(&mut w, s.v.to_bits());
    }
    w.into_bytes()
}

/// Distance in units in the last place between two floats of the same sign (`u64::MAX`
/// when the signs differ).
fn ulps(a: f64, b: f64) -> u64 {
    let (a, b) = (a.to_bits(), b.to_bits());
    if (a ^ b) >> 63 != 0 {
        return u64::MAX;
    }
    a.abs_diff(b)
}

/// Corrections up to this many units in the last place count as "nearly decimal" when
/// choosing the exponent: `k * 0.01` computed in floating point is within 2 of `k / 100`.
const NEAR_ULPS: u64 = 3;

/// For `v`: the smallest exponent `e ≤ MAX_SEARCH_EXP` at which `round(v·10^e) / 10^e`
/// is `v` bit for bit, and the smallest at which it is within [`NEAR_ULPS`] of `v`.
fn exponents(v: f64) -> (Option<u8>, Option<u8>) {
    let mut near = None;
    if !v.is_finite() {
        return (None, None);
    }
    for (e, &p) in POW10.iter().enumerate().take(MAX_SEARCH_EXP + 1) {
        let x = v * p;
        if x.abs() >= MANTISSA_LIMIT {
            break;
        }
        let d = ulps(v, round_i64(x) as f64 / p);
        if d == 0 {
            return (Some(e as u8), near.or(Some(e as u8)));
        }
        if d <= NEAR_ULPS && near.is_none() {
            near = Some(e as u8);
        }
    }
    (None, near)
}

/// At most this many values are examined to choose the exponents to try.
const EXPONENT_PROBES: usize = 64;

/// Exponents worth trying, from a sample of the values: the ones that make all (and 90%)
/// of the probed values exact, and all (and 90%) of them nearly exact. Empty when too few
/// values are decimal at all: the XOR scheme is used then.
fn exponent_candidates(samples: &[Sample]) -> Vec<u8> {
    let n = samples.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(EXPONENT_PROBES).max(1);
    let mut exact = [0usize; MAX_SEARCH_EXP + 1];
    let mut near = [0usize; MAX_SEARCH_EXP + 1];
    let mut probes = 0usize;
    for s in samples.iter().step_by(step).chain(samples.last()) {
        probes += 1;
        let (x, a) = exponents(s.v);
        if let Some(e) = x {
            exact[e as usize] += 1;
        }
        if let Some(e) = a {
            near[e as usize] += 1;
        }
    }
    let mut out = Vec::with_capacity(4);
    for hist in [&exact, &near] {
        let total: usize = hist.iter().sum();
        if total * 2 < probes {
            continue;
        }
        let max = hist.iter().rposition(|&c| c > 0).unwrap_or(0) as u8;
        let mut acc = 0;
        let mut p90 = max;
        for (e, &c) in hist.iter().enumerate() {
            acc += c;
            if acc * 10 >= total * 9 {
                p90 = e as u8;
                break;
            }
        }
        for e in [max, p90] {
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    out
}

/// The mantissa of `v` at exponent `e`, if finite and below 2^63.
fn mantissa(v: f64, e: u8) -> Option<i64> {
    let x = v * POW10[e as usize];
    if !x.is_finite() || x.abs() >= MANTISSA_LIMIT {
        return None;
    }
    Some(round_i64(x))
}

/// `x` rounded to the nearest integer (|x| < 2^63). `f64::round` is a libm call on
/// baseline x86-64; this is two instructions. Ties may go either way: the encoder only
/// needs a good mantissa, exactness comes from the correction.
#[inline]
fn round_i64(x: f64) -> i64 {
    if x.abs() >= 4_503_599_627_370_496.0 {
        // ≥ 2^52: already an integer.
        x as i64
    } else {
        (x + 0.5f64.copysign(x)) as i64
    }
}

fn decimal_value(m: i64, e: u8) -> f64 {
    m as f64 / POW10[e as usize]
}

/// Buffers reused across exponent candidates.
#[derive(Default)]
struct DecimalScratch {
    ms: Vec<i64>,
    corrs: Vec<i64>,
}

/// Appends the decimal value section at exponent `e` to `out`. Returns whether every value
/// was exact (no corrections).
fn encode_values_decimal(
    samples: &[Sample],
    e: u8,
    packed: bool,
    scratch: &mut DecimalScratch,
    out: &mut Vec<u8>,
) -> bool {
    let DecimalScratch { ms, corrs } = scratch;
    ms.clear();
    corrs.clear();
    let mut prev = 0i64;
    let mut corr_stats = Stats::default();
    let mut sparse = 0usize;
    let mut nonzero = 0usize;
    let mut last_nonzero = 0usize;
    for (i, s) in samples.iter().enumerate() {
        // Values without a mantissa (NaN, ±Inf, huge) repeat the previous one, so the
        // mantissa sequence stays smooth; the correction restores the exact bits.
        let m = mantissa(s.v, e).unwrap_or(prev);
        let corr = s.v.to_bits().wrapping_sub(decimal_value(m, e).to_bits()) as i64;
        if corr != 0 {
            sparse += uvarint_len((i - last_nonzero) as u64) + varint_len(corr);
            nonzero += 1;
            last_nonzero = i + 1;
        }
        corr_stats.add(corr);
        corrs.push(corr);
        ms.push(m);
        prev = m;
    }
    out.push(KIND_DECIMAL);
    out.push(e);
    put_seq(out, ms.iter().copied(), packed);
    if nonzero == 0 {
        out.push(CORR_NONE);
        return true;
    }
    let sparse = uvarint_len(nonzero as u64) + sparse;
    if sparse <= corr_stats.size(packed) {
        out.push(CORR_SPARSE);
        put_uvarint(out, nonzero as u64);
        let mut next = 0usize;
        for (i, &corr) in corrs.iter().enumerate() {
            if corr != 0 {
                put_uvarint(out, (i - next) as u64);
                put_varint(out, corr);
                next = i + 1;
            }
        }
    } else {
        out.push(CORR_DENSE);
        put_stream(out, corrs.iter().copied(), &corr_stats, packed);
    }
    false
}

/// What an integer stream costs in each mode, gathered in one pass.
#[derive(Debug, Clone, Copy)]
struct Stats {
    n: usize,
    first: i64,
    min: i64,
    max: i64,
    varint_bytes: usize,
    /// GCD of the differences to the first value (0 while they are all 0).
    gcd: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            n: 0,
            first: 0,
            min: i64::MAX,
            max: i64::MIN,
            varint_bytes: 0,
            gcd: 0,
        }
    }
}

impl Stats {
    #[inline]
    fn add(&mut self, x: i64) {
        if self.n == 0 {
            self.first = x;
        } else if self.gcd != 1 {
            // |x - first| < 2^64 always fits.
            let d = (i128::from(x) - i128::from(self.first)).unsigned_abs() as u64;
            // Usually d is a multiple of the GCD so far (or it already is 1).
            if d != 0 && !d.is_multiple_of(self.gcd) {
                self.gcd = gcd(self.gcd, d);
            }
        }
        self.n += 1;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        self.varint_bytes += varint_len(x);
    }

    /// Bit-packed layout: (gcd, bit width, encoded bytes without the mode byte).
    fn packed(&self) -> (u64, u8, usize) {
        let range = self.max.wrapping_sub(self.min) as u64;
        let g = self.gcd.max(1);
        let width = (64 - (range / g).leading_zeros()) as u8;
        let gcd_len = if g > 1 { uvarint_len(g) } else { 0 };
        let bits = (self.n * width as usize).div_ceil(8);
        (g, width, varint_len(self.min) + gcd_len + 1 + bits)
    }

    /// Encoded size of the stream, mode byte included.
    fn size(&self, packed: bool) -> usize {
        if !packed {
            return 1 + self.varint_bytes;
        }
        1 + self.varint_bytes.min(self.packed().2)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

/// Differences of consecutive items: `x1 - x0, x2 - x1, ...` (wrapping).
#[derive(Clone)]
struct Diffs<I> {
    it: I,
    prev: Option<i64>,
}

impl<I: Iterator<Item = i64>> Iterator for Diffs<I> {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        loop {
            let x = self.it.next()?;
            if let Some(p) = self.prev.replace(x) {
                return Some(x.wrapping_sub(p));
            }
        }
    }
}

fn diffs<I: Iterator<Item = i64>>(it: I) -> Diffs<I> {
    Diffs { it, prev: None }
}

/// Writes the integer sequence `xs` (its length is known to the reader) as differences of
/// the order (0 = the values, 1 = deltas, 2 = delta-of-deltas) that makes it smallest:
/// the order byte, the first value and first delta (as far as the order needs them) as
/// varints, then an integer stream of the remaining differences.
fn put_seq<I: Iterator<Item = i64> + Clone>(out: &mut Vec<u8>, xs: I, packed: bool) {
    let mut stats = [Stats::default(); 3];
    let mut heads = [0i64; 2];
    let (mut prev, mut prev_d) = (0i64, 0i64);
    for (i, x) in xs.clone().enumerate() {
        stats[0].add(x);
        if i == 0 {
            heads[0] = x;
        } else {
            let d = x.wrapping_sub(prev);
            if i == 1 {
                heads[1] = d;
            } else {
                stats[2].add(d.wrapping_sub(prev_d));
            }
            stats[1].add(d);
            prev_d = d;
        }
        prev = x;
    }
    let n = stats[0].n;
    let mut best = (usize::MAX, 0u8);
    for order in 0..=MAX_ORDER {
        let k = order as usize;
        if k > n {
            break;
        }
        let head_bytes: usize = heads[..k].iter().map(|&h| varint_len(h)).sum();
        let size = head_bytes + if n > k { stats[k].size(packed) } else { 0 };
        if size < best.0 {
            best = (size, order);
        }
    }
    let order = best.1;
    let k = order as usize;
    out.push(order);
    for &h in &heads[..k.min(n)] {
        put_varint(out, h);
    }
    if n > k {
        match order {
            0 => put_stream(out, xs, &stats[0], packed),
            1 => put_stream(out, diffs(xs), &stats[1], packed),
            _ => put_stream(out, diffs(diffs(xs)), &stats[2], packed),
        }
    }
}

/// Writes an integer stream of the items of `xs`, whose [`Stats`] are `st`: zig-zag
/// varints, or (when smaller and allowed) offsets from the minimum, divided by their GCD,
/// bit-packed at the smallest width that holds them all.
fn put_stream(out: &mut Vec<u8>, xs: impl Iterator<Item = i64>, st: &Stats, packed: bool) {
    let (g, width, packed_len) = st.packed();
    if !packed || st.varint_bytes <= packed_len {
        out.push(MODE_VARINT);
        out.reserve(st.varint_bytes);
        for x in xs {
            put_varint(out, x);
        }
        return;
    }
    let min = st.min;
    if g > 1 {
        out.push(MODE_PACKED_GCD);
        put_varint(out, min);
        put_uvarint(out, g);
    } else {
        out.push(MODE_PACKED);
        put_varint(out, min);
    }
    out.push(width);
    if width == 0 {
        return;
    }
    out.reserve(packed_len);
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    for x in xs {
        acc |= u128::from(x.wrapping_sub(min) as u64 / g) << bits;
        bits += u32::from(width);
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn uvarint_len(u: u64) -> usize {
    ((64 - (u | 1).leading_zeros()) as usize).div_ceil(7)
}

fn varint_len(x: i64) -> usize {
    uvarint_len(zigzag(x))
}

fn put_uvarint(out: &mut Vec<u8>, mut u: u64) {
    while u >= 0x80 {
        out.push(u as u8 | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

fn put_varint(out: &mut Vec<u8>, x: i64) {
    put_uvarint(out, zigzag(x));
}

// ---------------------------------------------------------------------------------------
// Decoding

/// A byte cursor over the plain body.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

const TRUNC: ChunkError = ChunkError::Truncated("dense body");

impl<'a> Cur<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cur { b, pos: 0 }
    }

    #[inline]
    fn u8(&mut self) -> Result<u8, ChunkError> {
        let v = *self.b.get(self.pos).ok_or(TRUNC)?;
        self.pos += 1;
        Ok(v)
    }

    #[inline]
    fn uvarint(&mut self) -> Result<u64, ChunkError> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = *self.b.get(self.pos).ok_or(TRUNC)?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(ChunkError::Corrupt("varint overflow"));
            }
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(ChunkError::Corrupt("varint overflow"));
            }
        }
    }

    #[inline]
    fn varint(&mut self) -> Result<i64, ChunkError> {
        self.uvarint().map(unzigzag)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ChunkError> {
        let end = self.pos.checked_add(n).ok_or(TRUNC)?;
        let s = self.b.get(self.pos..end).ok_or(TRUNC)?;
        self.pos = end;
        Ok(s)
    }

    fn rest(&self) -> &'a [u8] {
        self.b.get(self.pos..).unwrap_or(&[])
    }
}

/// Reads an integer stream of `n` values, calling `f` with each.
#[inline]
fn read_stream(c: &mut Cur<'_>, n: usize, mut f: impl FnMut(i64)) -> Result<(), ChunkError> {
    match c.u8()? {
        MODE_VARINT => {
            for _ in 0..n {
                f(c.varint()?);
            }
            Ok(())
        }
        mode @ (MODE_PACKED | MODE_PACKED_GCD) => {
            let min = c.varint()?;
            let g = if mode == MODE_PACKED_GCD {
                c.uvarint()?
            } else {
                1
            };
            let width = c.u8()?;
            if width > 64 {
                return Err(ChunkError::Corrupt("bit width"));
            }
            if width == 0 {
                for _ in 0..n {
                    f(min);
                }
                return Ok(());
            }
            let w = u32::from(width);
            let data = c.bytes((n * width as usize).div_ceil(8))?;
            let mask = if width == 64 {
                u64::MAX
            } else {
                (1u64 << w) - 1
            };
            let mut acc: u128 = 0;
            let mut bits = 0u32;
            let mut it = data.iter();
            for _ in 0..n {
                while bits < w {
                    acc |= u128::from(*it.next().ok_or(TRUNC)?) << bits;
                    bits += 8;
                }
                let u = (acc as u64) & mask;
                f(min.wrapping_add(u.wrapping_mul(g) as i64));
                acc >>= w;
                bits -= w;
            }
            Ok(())
        }
        _ => Err(ChunkError::Corrupt("integer stream mode")),
    }
}

/// Reads what [`put_seq`] wrote for `n` values, calling `f` with each value in order.
#[inline]
fn read_seq(c: &mut Cur<'_>, n: usize, mut f: impl FnMut(i64)) -> Result<(), ChunkError> {
    let order = c.u8()?;
    if order > MAX_ORDER {
        return Err(ChunkError::Corrupt("sequence order"));
    }
    let heads = (order as usize).min(n);
    let mut x = 0i64;
    let mut delta = 0i64;
    if heads >= 1 {
        x = c.varint()?;
        f(x);
    }
    if heads >= 2 {
        delta = c.varint()?;
        x = x.wrapping_add(delta);
        f(x);
    }
    if n == heads {
        return Ok(());
    }
    match order {
        0 => read_stream(c, n, f),
        1 => read_stream(c, n - 1, |d| {
            x = x.wrapping_add(d);
            f(x);
        }),
        _ => read_stream(c, n - 2, |dod| {
            delta = delta.wrapping_add(dod);
            x = x.wrapping_add(delta);
            f(x);
        }),
    }
}

/// Applies a correction: the value's bits plus `corr` (wrapping).
#[inline]
fn correct(s: &mut Sample, corr: i64) {
    s.v = f64::from_bits(s.v.to_bits().wrapping_add(corr as u64));
}

fn decode_plain(body: &[u8], n: usize, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    let base = out.len();
    out.reserve(n);
    let mut c = Cur::new(body);
    let res = decode_into(&mut c, n, base, out);
    if res.is_err() {
        out.truncate(base);
    }
    res
}

fn decode_into(
    c: &mut Cur<'_>,
    n: usize,
    base: usize,
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    // Timestamps, with placeholder values filled below.
    read_seq(c, n, |t| out.push(Sample::new(t, 0.0)))?;
    if out.len() != base + n {
        return Err(ChunkError::Corrupt("timestamp count"));
    }
    let vals = &mut out[base..];
    match c.u8()? {
        KIND_XOR => {
            let mut r = BitReader::new(c.rest());
            const T: ChunkError = ChunkError::Truncated("dense values");
            let first = r.read_bits(64).ok_or(T)?;
            vals[0].v = f64::from_bits(first);
            let mut dec = XorValueDecoder::new(first);
            for s in &mut vals[1..] {
                s.v = f64::from_bits(dec.read(&mut r).ok_or(T)?);
            }
            Ok(())
        }
        KIND_DECIMAL => {
            let e = c.u8()?;
            if e as usize >= POW10.len() {
                return Err(ChunkError::Corrupt("decimal exponent"));
            }
            let p = POW10[e as usize];
            let mut i = 0usize;
            read_seq(c, n, |m| {
                vals[i].v = m as f64 / p;
                i += 1;
            })?;
            match c.u8()? {
                CORR_NONE => Ok(()),
                CORR_SPARSE => {
                    let count = c.uvarint()?;
                    let mut idx = 0usize;
                    for _ in 0..count {
                        let gap = usize::try_from(c.uvarint()?)
                            .map_err(|_| ChunkError::Corrupt("correction index"))?;
                        idx = idx
                            .checked_add(gap)
                            .filter(|&i| i < n)
                            .ok_or(ChunkError::Corrupt("correction index"))?;
                        correct(&mut vals[idx], c.varint()?);
                        idx += 1;
                    }
                    Ok(())
                }
                CORR_DENSE => {
                    let mut i = 0usize;
                    read_stream(c, n, |corr| {
                        correct(&mut vals[i], corr);
                        i += 1;
                    })
                }
                _ => Err(ChunkError::Corrupt("correction mode")),
            }
        }
        _ => Err(ChunkError::Corrupt("value kind")),
    }
}

/// Times the encoder's parts over `series` (for the corpus experiment in block tests).
#[cfg(test)]
pub(crate) fn profile_parts(series: &[Vec<Sample>]) {
    let n: usize = series.iter().map(Vec::len).sum();
    let time = |name: &str, f: &dyn Fn(&[Sample]) -> usize| {
        let t = std::time::Instant::now();
        let mut acc = 0;
        for s in series {
            acc += f(s);
        }
        println!(
            "  {name:<24} {:>6.1} ns/sample ({acc})",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    };
    time("timestamps", &|s| {
        let mut out = Vec::new();
        put_seq(&mut out, s.iter().map(|s| s.t), true);
        out.len()
    });
    time("candidates", &|s| exponent_candidates(s).len());
    time("decimal first cand", &|s| {
        let mut out = Vec::new();
        let mut sc = DecimalScratch::default();
        match exponent_candidates(s).first() {
            Some(&e) => {
                encode_values_decimal(s, e, true, &mut sc, &mut out);
                out.len()
            }
            None => 0,
        }
    });
    time("values all", &|s| {
        let mut out = Vec::new();
        encode_values(s, EncodeOptions::default(), &mut out);
        out.len()
    });
    time("xor values", &|s| encode_values_xor(s).len());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strix_core::STALE_NAN;

    fn round_trip_with(samples: &[Sample], opts: EncodeOptions) -> (Vec<Sample>, usize) {
        let bytes = encode_dense_with(samples, opts);
        assert_eq!(dense_count(&bytes).expect("count"), samples.len());
        let mut out = vec![Sample::new(-1, 7.0)];
        decode_dense(&bytes, &mut out).expect("decode");
        assert_eq!(
            out.remove(0),
            Sample::new(-1, 7.0),
            "existing contents kept"
        );
        (out, bytes.len())
    }

    fn all_opts() -> Vec<EncodeOptions> {
        let mut v = Vec::new();
        for zstd_level in [None, Some(ZSTD_LEVEL)] {
            for decimal in [false, true] {
                for packed in [false, true] {
                    v.push(EncodeOptions {
                        zstd_level,
                        decimal,
                        packed,
                    });
                }
            }
        }
        v
    }

    #[track_caller]
    fn check(samples: &[Sample]) -> usize {
        let mut size = 0;
        for o in all_opts() {
            let (got, len) = round_trip_with(samples, o);
            assert_eq!(got, samples, "{o:?}");
            if o == EncodeOptions::default() {
                size = len;
            }
        }
        size
    }

    #[test]
    fn empty_and_single() {
        check(&[]);
        check(&[Sample::new(5, 1.5)]);
        check(&[Sample::new(i64::MIN, f64::NAN)]);
        check(&[Sample::new(1, -0.0), Sample::new(i64::MAX, STALE_NAN)]);
    }

    #[test]
    fn special_values_bit_exact() {
        let samples = vec![
            Sample::new(0, f64::NAN),
            Sample::new(1, STALE_NAN),
            Sample::new(2, f64::INFINITY),
            Sample::new(3, f64::NEG_INFINITY),
            Sample::new(4, -0.0),
            Sample::new(5, 0.0),
            Sample::new(6, f64::MAX),
            Sample::new(7, f64::MIN_POSITIVE),
            Sample::new(8, 5e-324),
            Sample::new(9, 1.0),
            Sample::new(10, 0.1 + 0.2),
            Sample::new(11, 123.45),
            Sample::new(12, f64::from_bits(0x7ff0_0000_0000_0001)),
            Sample::new(13, -1e300),
            Sample::new(i64::MAX / 2, 9.3e18),
        ];
        check(&samples);
    }

    #[test]
    fn scrape_like_series_are_small() {
        let t0 = 1_700_000_000_000i64;
        // A counter of integers, regular timestamps: tiny.
        let counter: Vec<Sample> = (0..720)
            .map(|i| Sample::new(t0 + i * 10_000, (1000 + i * 37) as f64))
            .collect();
        let size = check(&counter);
        assert!(size < 40, "{size} bytes");
        // Two-decimal gauge, with a stale marker and jitter.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let gauge: Vec<Sample> = (0..720)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = if i == 500 {
                    STALE_NAN
                } else {
                    (x % 10_000) as f64 / 100.0
                };
                Sample::new(t0 + i * 10_000 + (x % 5) as i64, v)
            })
            .collect();
        let size = check(&gauge);
        // 14 bits of value (0..9999, i.i.d.: stored as is) and 4 bits of timestamp
        // jitter (first differences 9996..=10004) per sample, bit-packed.
        assert!(size <= 720 * 18 / 8 + 40, "{size} bytes");
    }

    #[test]
    fn truncated_and_corrupt_chunks_are_errors() {
        let samples: Vec<Sample> = (0..300)
            .map(|i| Sample::new(i * 1000, (i % 17) as f64 * 0.25))
            .collect();
        for o in all_opts() {
            let bytes = encode_dense_with(&samples, o);
            for cut in 0..bytes.len() {
                let mut out = Vec::new();
                // Never panics, never decodes wrong samples.
                if decode_dense(&bytes[..cut], &mut out).is_ok() {
                    assert_eq!(out, samples, "cut at {cut} of {} ({o:?})", bytes.len());
                } else {
                    assert!(out.is_empty(), "partial output left behind");
                }
            }
            let mut bad = bytes.clone();
            bad[3] = 0x80;
            assert!(decode_dense(&bad, &mut Vec::new()).is_err());
        }
        assert_eq!(
            decode_dense(&[9, 0, 1, 0], &mut Vec::new()).err(),
            Some(ChunkError::UnknownEncoding(9))
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u64 = 1;
        for len in 0..400usize {
            let mut b = vec![
                Encoding::Dense as u8,
                (len % 7) as u8,
                (len * 13) as u8,
                (len % 2) as u8,
            ];
            for _ in 0..len {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                b.push((x >> 33) as u8);
            }
            let _ = decode_dense(&b, &mut Vec::new());
        }
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(STALE_NAN),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(0.0),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            (-1e6..1e6f64),
            (-1e300..1e300f64),
            (0u32..1000).prop_map(f64::from),
            (-100_000i64..100_000).prop_map(|k| k as f64 / 100.0),
            (0i64..1 << 40).prop_map(|k| k as f64 * 0.001),
            (0i64..1 << 50).prop_map(|k| k as f64 * 1e-9),
            any::<u64>().prop_map(f64::from_bits),
        ]
    }

    /// Mostly one kind of value per series, so the decimal paths get exercised too.
    fn series_values() -> impl Strategy<Value = Vec<f64>> {
        prop_oneof![
            prop::collection::vec(value(), 1..600),
            (
                0i64..1 << 40,
                prop::collection::vec((0i64..5000, prop::bool::weighted(0.02), value()), 1..600)
            )
                .prop_map(|(start, steps)| {
                    let mut m = start;
                    steps
                        .into_iter()
                        .map(|(d, odd, v)| {
                            m += d;
                            if odd {
                                v
                            } else {
                                m as f64 / 1000.0
                            }
                        })
                        .collect()
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn arbitrary_series_round_trip(
            start in any::<i64>(),
            steps in prop::collection::vec(prop_oneof![
                Just(0i64), Just(10_000i64), 9_990i64..10_010, any::<i64>(), 0i64..1 << 40
            ], 600),
            values in series_values(),
        ) {
            let mut t = start;
            let samples: Vec<Sample> = values
                .iter()
                .zip(&steps)
                .map(|(&v, &dt)| {
                    let s = Sample::new(t, v);
                    t = t.wrapping_add(dt);
                    s
                })
                .collect();
            for o in all_opts() {
                let (got, _) = round_trip_with(&samples, o);
                prop_assert_eq!(&got, &samples, "{:?}", o);
            }
        }
    }
}
