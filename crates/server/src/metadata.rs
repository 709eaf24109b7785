//! Metric metadata (type, help, unit) received with remote_write or imports, kept in
//! memory per metric family; served by `/api/v1/metadata`.

use std::collections::BTreeMap;
use std::sync::RwLock;
use strix_ingest::Metadata;

#[derive(Default)]
pub struct MetadataStore {
    inner: RwLock<BTreeMap<String, Metadata>>,
    max_entries: usize,
}

impl MetadataStore {
    pub fn new(max_entries: usize) -> Self {
        MetadataStore {
            inner: RwLock::new(BTreeMap::new()),
            max_entries,
        }
    }

    /// Records entries; families beyond `max_entries` are ignored. Returns how many were kept.
    pub fn record(&self, items: &[Metadata]) -> usize {
        if items.is_empty() {
            return 0;
        }
        let mut m = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let mut kept = 0;
        for it in items {
            if it.metric_family_name.is_empty() {
                continue;
            }
            if m.len() >= self.max_entries && !m.contains_key(&it.metric_family_name) {
                continue;
            }
            m.insert(it.metric_family_name.clone(), it.clone());
            kept += 1;
        }
        kept
    }

    pub fn snapshot(&self, metric: Option<&str>, limit: usize) -> Vec<Metadata> {
        let m = self.inner.read().unwrap_or_else(|p| p.into_inner());
        m.values()
            .filter(|x| metric.is_none_or(|n| x.metric_family_name == n))
            .take(limit)
            .cloned()
            .collect()
    }
}
