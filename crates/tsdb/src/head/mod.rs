//! The in-memory head: recent samples of every active series in compressed chunks, an
//! inverted index over their labels, and the out-of-order buffers.
//!
//! The head does not write the WAL itself: [`crate::Db`] logs first and then applies to
//! the head, and WAL replay applies the same records, so both paths share
//! [`Head::apply`].

mod index;
mod series;
mod validate;

pub use series::{HeadChunk, MemSeries, Placement, SeriesData};
pub use validate::validate;

use crate::options::Limits;
use index::MemIndex;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use strix_core::storage::RejectReason;
use strix_core::{Labels, Matcher, Sample, Timestamp};

/// Hasher for keys that are already well-mixed hashes or sequential refs.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Spread sequential refs over the table's buckets.
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// Maps and index of the head, behind one lock.
#[derive(Default)]
pub struct HeadState {
    by_hash: IdMap<Vec<Arc<MemSeries>>>,
    by_ref: IdMap<Arc<MemSeries>>,
    index: MemIndex,
    per_metric: HashMap<String, usize>,
}

impl HeadState {
    fn find(&self, labels: &Labels, hash: u64) -> Option<&Arc<MemSeries>> {
        self.by_hash
            .get(&hash)?
            .iter()
            .find(|s| s.labels == *labels)
    }
}

pub struct Head {
    state: RwLock<HeadState>,
    next_ref: AtomicU64,
    max_t: AtomicI64,
    pub(crate) samples_per_chunk: usize,
    pub(crate) boundary_ms: i64,
}

/// Result of looking up or creating a series.
pub enum GetOrCreate {
    Existing(Arc<MemSeries>),
    Created(Arc<MemSeries>),
    Refused(RejectReason, String),
}

impl Head {
    pub fn new(samples_per_chunk: usize, boundary_ms: i64) -> Self {
        Head {
            state: RwLock::new(HeadState::default()),
            next_ref: AtomicU64::new(1),
            max_t: AtomicI64::new(i64::MIN),
            samples_per_chunk: samples_per_chunk.max(1),
            boundary_ms: boundary_ms.max(1),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, HeadState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HeadState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Newest timestamp appended in order (`i64::MIN` when empty).
    pub fn max_time(&self) -> Timestamp {
        self.max_t.load(Ordering::Acquire)
    }

    pub fn num_series(&self) -> usize {
        self.read().by_ref.len()
    }

    /// Finds a series by its label hash and an equality test (no allocation).
    pub fn lookup(&self, hash: u64, eq: impl Fn(&Labels) -> bool) -> Option<Arc<MemSeries>> {
        self.read()
            .by_hash
            .get(&hash)?
            .iter()
            .find(|s| eq(&s.labels))
            .cloned()
    }

    /// Finds the series or creates it within `limits`.
    pub fn get_or_create(&self, labels: &Labels, limits: &Limits) -> GetOrCreate {
        let hash = labels.stable_hash();
        match self.lookup(hash, |l| l == labels) {
            Some(s) => GetOrCreate::Existing(s),
            None => self.create(labels.clone(), hash, limits),
        }
    }

    /// Creates a series (validated by the caller) unless a concurrent append did, within
    /// the series limits.
    pub fn create(&self, labels: Labels, hash: u64, limits: &Limits) -> GetOrCreate {
        let mut st = self.write();
        if let Some(s) = st.find(&labels, hash) {
            return GetOrCreate::Existing(s.clone());
        }
        if limits.max_series > 0 && st.by_ref.len() >= limits.max_series {
            return GetOrCreate::Refused(
                RejectReason::MaxSeries,
                format!(
                    "series limit of {} reached; new series {labels} refused",
                    limits.max_series
                ),
            );
        }
        let name = labels.metric_name().unwrap_or("");
        let per_metric = st.per_metric.get(name).copied().unwrap_or(0);
        if limits.max_series_per_metric > 0 && per_metric >= limits.max_series_per_metric {
            return GetOrCreate::Refused(
                RejectReason::MaxSeriesPerMetric,
                format!("metric {name:?} has reached the limit of {} series; new series {labels} refused", limits.max_series_per_metric),
            );
        }
        let sref = self.next_ref.fetch_add(1, Ordering::AcqRel);
        GetOrCreate::Created(Self::insert(&mut st, sref, labels, hash))
    }

    fn insert(st: &mut HeadState, sref: u64, labels: Labels, hash: u64) -> Arc<MemSeries> {
        let s = Arc::new(MemSeries {
            sref,
            labels,
            data: std::sync::Mutex::new(SeriesData::new()),
        });
        st.index.add(sref, &s.labels);
        *st.per_metric
            .entry(s.labels.metric_name().unwrap_or("").to_string())
            .or_default() += 1;
        st.by_hash.entry(hash).or_default().push(s.clone());
        st.by_ref.insert(sref, s.clone());
        s
    }

    /// Replay: creates a series with a known ref (limits do not apply to data already
    /// acknowledged). An existing series with the same labels is returned instead.
    pub fn restore_series(&self, sref: u64, labels: Labels) -> Arc<MemSeries> {
        let hash = labels.stable_hash();
        let mut st = self.write();
        if let Some(s) = st.find(&labels, hash) {
            let s = s.clone();
            st.by_ref.entry(sref).or_insert_with(|| s.clone());
            return s;
        }
        self.next_ref.fetch_max(sref + 1, Ordering::AcqRel);
        Self::insert(&mut st, sref, labels, hash)
    }

    pub fn by_ref(&self, sref: u64) -> Option<Arc<MemSeries>> {
        self.read().by_ref.get(&sref).cloned()
    }

    /// Applies samples to a series (after they are in the WAL). Returns how many went in
    /// order and out of order.
    pub fn apply(&self, series: &MemSeries, samples: &[Sample]) -> (u64, u64) {
        let mut data = series.data.lock().unwrap_or_else(|p| p.into_inner());
        let (mut in_order, mut ooo) = (0u64, 0u64);
        for s in samples {
            match data.insert(s.t, s.v, self.samples_per_chunk, self.boundary_ms) {
                Placement::InOrder => in_order += 1,
                Placement::OutOfOrder | Placement::Conflict => ooo += 1,
                Placement::Duplicate => {}
            }
        }
        let last = data.last_t;
        drop(data);
        if in_order > 0 {
            self.max_t.fetch_max(last, Ordering::AcqRel);
        }
        (in_order, ooo)
    }

    /// Refs of series matching all matchers, sorted.
    pub fn select_refs(&self, matchers: &[Matcher]) -> Vec<Arc<MemSeries>> {
        let st = self.read();
        let refs = st.index.select(
            matchers,
            || {
                let mut v: Vec<u64> = st.by_ref.keys().copied().collect();
                v.sort_unstable();
                v
            },
            |r| st.by_ref.get(&r).map(|s| &s.labels),
        );
        refs.iter()
            .filter_map(|r| st.by_ref.get(r).cloned())
            .collect()
    }

    /// Series matching `matchers` with their samples in `[mint, maxt]` (non-empty only).
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Vec<(Labels, Vec<Sample>)> {
        let mut out = Vec::new();
        for s in self.select_refs(matchers) {
            let mut samples = Vec::new();
            s.data
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .samples(mint, maxt, &mut samples);
            if !samples.is_empty() {
                out.push((s.labels.clone(), samples));
            }
        }
        out
    }

    pub fn label_names(&self) -> Vec<String> {
        self.read().index.label_names()
    }

    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.read().index.label_values(name)
    }

    /// Every series, for compaction and statistics.
    pub fn all_series(&self) -> Vec<Arc<MemSeries>> {
        let st = self.read();
        let mut v: Vec<Arc<MemSeries>> = st.by_ref.values().cloned().collect();
        v.sort_by_key(|s| s.sref);
        v.dedup_by_key(|s| s.sref);
        v
    }

    /// (series, chunks, oldest timestamp held).
    pub fn stats(&self) -> (usize, usize, Option<Timestamp>) {
        let all = self.all_series();
        let mut chunks = 0;
        let mut min_t: Option<Timestamp> = None;
        for s in &all {
            let d = s.data.lock().unwrap_or_else(|p| p.into_inner());
            chunks += d.num_chunks();
            if let Some(t) = d.min_time() {
                min_t = Some(min_t.map_or(t, |m| m.min(t)));
            }
        }
        (all.len(), chunks, min_t)
    }

    /// Drops samples older than `before` and removes series left empty. The caller holds
    /// the append lock so no append races with the removal. Returns (chunks, series) removed.
    pub fn truncate(&self, before: Timestamp) -> (usize, usize) {
        let mut chunks = 0;
        let mut empty = Vec::new();
        for s in self.all_series() {
            let mut d = s.data.lock().unwrap_or_else(|p| p.into_inner());
            chunks += d.truncate_before(before);
            if d.is_empty() {
                empty.push(s.clone());
            }
        }
        let mut st = self.write();
        for s in &empty {
            st.index.remove(s.sref, &s.labels);
            st.by_ref.retain(|_, v| v.sref != s.sref);
            let hash = s.labels.stable_hash();
            if let Some(list) = st.by_hash.get_mut(&hash) {
                list.retain(|x| x.sref != s.sref);
                if list.is_empty() {
                    st.by_hash.remove(&hash);
                }
            }
            let name = s.labels.metric_name().unwrap_or("").to_string();
            if let Some(n) = st.per_metric.get_mut(&name) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    st.per_metric.remove(&name);
                }
            }
        }
        (chunks, empty.len())
    }

    /// Whether `sref` is a live series (for WAL checkpoints).
    pub fn has_ref(&self, sref: u64) -> bool {
        self.read().by_ref.contains_key(&sref)
    }
}
