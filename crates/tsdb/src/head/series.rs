//! One series in the head: closed compressed chunks, the open chunk, and the buffer of
//! out-of-order samples.

use crate::chunk::{XorAppender, XorIter};
use strix_core::{Labels, Sample, Timestamp};

/// A closed, immutable head chunk.
#[derive(Debug, Clone)]
pub struct HeadChunk {
    pub min_t: Timestamp,
    pub max_t: Timestamp,
    pub bytes: Box<[u8]>,
}

/// Mutable part of a series, behind the series' mutex.
#[derive(Debug, Default)]
pub struct SeriesData {
    pub closed: Vec<HeadChunk>,
    pub open: Option<(Timestamp, XorAppender)>,
    /// Samples older than the newest in-order sample, sorted by time, unique timestamps.
    pub ooo: Vec<Sample>,
    /// Newest in-order timestamp and its value (`i64::MIN` when none).
    pub last_t: Timestamp,
    pub last_v: u64,
}

/// What happened to one sample offered to a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    InOrder,
    OutOfOrder,
    /// Same timestamp and bit-identical value as a stored sample: nothing to do.
    Duplicate,
    /// Same timestamp, different value.
    Conflict,
}

pub struct MemSeries {
    pub sref: u64,
    pub labels: Labels,
    pub data: std::sync::Mutex<SeriesData>,
}

impl SeriesData {
    pub fn new() -> Self {
        SeriesData {
            last_t: i64::MIN,
            ..Default::default()
        }
    }

    /// Where a sample would go, without changing anything.
    pub fn classify(&self, t: Timestamp, v: f64) -> Placement {
        if t > self.last_t {
            return Placement::InOrder;
        }
        if t == self.last_t {
            return if v.to_bits() == self.last_v {
                Placement::Duplicate
            } else {
                Placement::Conflict
            };
        }
        if let Ok(i) = self.ooo.binary_search_by_key(&t, |s| s.t) {
            return if self.ooo[i].v.to_bits() == v.to_bits() {
                Placement::Duplicate
            } else {
                Placement::Conflict
            };
        }
        match self.in_order_value(t) {
            Some(bits) if bits == v.to_bits() => Placement::Duplicate,
            Some(_) => Placement::Conflict,
            None => Placement::OutOfOrder,
        }
    }

    /// The value stored in the in-order chunks at exactly `t`, if any.
    fn in_order_value(&self, t: Timestamp) -> Option<u64> {
        let open = self
            .open
            .as_ref()
            .map(|(min_t, app)| (*min_t, app.last_t(), app.bytes()));
        let (_, _, bytes) = self
            .closed
            .iter()
            .map(|c| (c.min_t, c.max_t, &c.bytes[..]))
            .chain(open)
            .find(|(lo, hi, _)| *lo <= t && t <= *hi)?;
        XorIter::new(bytes)
            .ok()?
            .filter_map(Result::ok)
            .find(|s| s.t == t)
            .map(|s| s.v.to_bits())
    }

    /// Appends in order, cutting chunks at `samples_per_chunk` and at multiples of
    /// `boundary_ms`; or files the sample in the out-of-order buffer. A conflicting
    /// sample in the out-of-order buffer replaces the stored one (the WAL already holds
    /// it, so replay reaches the same state).
    pub fn insert(
        &mut self,
        t: Timestamp,
        v: f64,
        samples_per_chunk: usize,
        boundary_ms: i64,
    ) -> Placement {
        let p = self.classify(t, v);
        match p {
            Placement::InOrder => {
                let cut = match &self.open {
                    None => false,
                    Some((min_t, app)) => {
                        app.len() >= samples_per_chunk
                            || app.is_full()
                            || t.div_euclid(boundary_ms) != min_t.div_euclid(boundary_ms)
                    }
                };
                if cut {
                    self.close_open();
                }
                let (_, app) = self.open.get_or_insert_with(|| (t, XorAppender::new()));
                app.append(t, v);
                self.last_t = t;
                self.last_v = v.to_bits();
            }
            Placement::OutOfOrder => {
                let i = self.ooo.partition_point(|s| s.t < t);
                self.ooo.insert(i, Sample::new(t, v));
            }
            Placement::Conflict => match self.ooo.binary_search_by_key(&t, |s| s.t) {
                Ok(i) => self.ooo[i].v = v,
                // A new value for an in-order timestamp (import only): the out-of-order
                // buffer holds it and reads prefer it over the chunk's value. For the
                // newest sample, `last_v` follows, so a repeat of the new value is a
                // duplicate and another value a conflict with it.
                Err(i) => {
                    self.ooo.insert(i, Sample::new(t, v));
                    if t == self.last_t {
                        self.last_v = v.to_bits();
                    }
                }
            },
            Placement::Duplicate => {}
        }
        p
    }

    fn close_open(&mut self) {
        if let Some((min_t, app)) = self.open.take() {
            let max_t = app.last_t();
            self.closed.push(HeadChunk {
                min_t,
                max_t,
                bytes: app.into_bytes().into_boxed_slice(),
            });
        }
    }

    /// Lowest timestamp held (in-order or out-of-order).
    pub fn min_time(&self) -> Option<Timestamp> {
        let in_order = self
            .closed
            .first()
            .map(|c| c.min_t)
            .or(self.open.as_ref().map(|(t, _)| *t));
        match (in_order, self.ooo.first().map(|s| s.t)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.closed.is_empty() && self.open.is_none() && self.ooo.is_empty()
    }

    pub fn num_chunks(&self) -> usize {
        self.closed.len() + usize::from(self.open.is_some())
    }

    /// Samples in `[mint, maxt]`, sorted, in-order and out-of-order merged.
    pub fn samples(&self, mint: Timestamp, maxt: Timestamp, out: &mut Vec<Sample>) {
        let start = out.len();
        let mut buf = Vec::new();
        let open = self
            .open
            .as_ref()
            .map(|(min_t, app)| (*min_t, app.last_t(), app.bytes()));
        for (cmin, cmax, bytes) in self
            .closed
            .iter()
            .map(|c| (c.min_t, c.max_t, &c.bytes[..]))
            .chain(open)
        {
            if cmax < mint || cmin > maxt {
                continue;
            }
            buf.clear();
            // Head chunks are produced by this process; a decode error is a bug, and
            // the samples decoded before it are still returned.
            if let Err(e) = XorIter::decode_all(bytes, &mut buf) {
                tracing::error!(error = %e, "BUG: head chunk failed to decode.");
            }
            out.extend(buf.iter().filter(|s| s.t >= mint && s.t <= maxt));
        }
        let lo = self.ooo.partition_point(|s| s.t < mint);
        let hi = self.ooo.partition_point(|s| s.t <= maxt);
        if lo < hi {
            // Stable sort: for equal timestamps the out-of-order value (appended last) wins.
            out.extend_from_slice(&self.ooo[lo..hi]);
            out[start..].sort_by_key(|s| s.t);
            let mut w = start;
            for r in start..out.len() {
                if w > start && out[w - 1].t == out[r].t {
                    out[w - 1] = out[r];
                } else {
                    out[w] = out[r];
                    w += 1;
                }
            }
            out.truncate(w);
        }
    }

    /// Drops every sample with timestamp `< before`. Returns the number of chunks removed.
    /// Chunks are cut at block boundaries, so for `before` on a boundary only whole
    /// chunks go; a straddling chunk (possible after a boundary change) is re-encoded.
    pub fn truncate_before(&mut self, before: Timestamp) -> usize {
        let n0 = self.closed.len();
        self.closed.retain(|c| c.max_t >= before);
        let mut removed = n0 - self.closed.len();
        if let Some(first) = self.closed.first_mut() {
            if first.min_t < before {
                first.bytes = reencode_from(&first.bytes, before);
                first.min_t = before;
            }
        }
        if let Some((min_t, app)) = &self.open {
            if app.last_t() < before {
                self.open = None;
                removed += 1;
            } else if *min_t < before {
                let mut buf = Vec::new();
                if let Err(e) = XorIter::decode_all(app.bytes(), &mut buf) {
                    tracing::error!(error = %e, "BUG: head chunk failed to decode.");
                }
                let mut fresh = XorAppender::new();
                let mut new_min = None;
                for s in buf.iter().filter(|s| s.t >= before) {
                    new_min.get_or_insert(s.t);
                    fresh.append(s.t, s.v);
                }
                self.open = new_min.map(|m| (m, fresh));
            }
        }
        let keep_from = self.ooo.partition_point(|s| s.t < before);
        self.ooo.drain(..keep_from);
        removed
    }
}

fn reencode_from(bytes: &[u8], before: Timestamp) -> Box<[u8]> {
    let mut buf = Vec::new();
    if let Err(e) = XorIter::decode_all(bytes, &mut buf) {
        tracing::error!(error = %e, "BUG: head chunk failed to decode.");
    }
    let mut app = XorAppender::new();
    for s in buf.iter().filter(|s| s.t >= before) {
        app.append(s.t, s.v);
    }
    app.into_bytes().into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_ooo_and_duplicates() {
        let mut d = SeriesData::new();
        assert_eq!(d.insert(1000, 1.0, 120, 7_200_000), Placement::InOrder);
        assert_eq!(d.insert(3000, 3.0, 120, 7_200_000), Placement::InOrder);
        assert_eq!(d.insert(2000, 2.0, 120, 7_200_000), Placement::OutOfOrder);
        assert_eq!(d.insert(2000, 2.0, 120, 7_200_000), Placement::Duplicate);
        assert_eq!(d.insert(3000, 3.0, 120, 7_200_000), Placement::Duplicate);
        assert_eq!(d.classify(3000, 4.0), Placement::Conflict);
        let mut out = Vec::new();
        d.samples(0, 10_000, &mut out);
        let ts: Vec<i64> = out.iter().map(|s| s.t).collect();
        assert_eq!(ts, vec![1000, 2000, 3000]);
    }

    #[test]
    fn chunks_cut_at_count_and_boundary() {
        let mut d = SeriesData::new();
        for i in 0..250 {
            d.insert(i * 1000, i as f64, 120, 7_200_000);
        }
        assert_eq!(d.num_chunks(), 3);
        let mut d = SeriesData::new();
        d.insert(7_199_000, 1.0, 120, 7_200_000);
        d.insert(7_200_000, 1.0, 120, 7_200_000);
        assert_eq!(d.num_chunks(), 2);
        assert_eq!(d.truncate_before(7_200_000), 1);
        let mut out = Vec::new();
        d.samples(i64::MIN, i64::MAX, &mut out);
        assert_eq!(out, vec![Sample::new(7_200_000, 1.0)]);
    }
}
