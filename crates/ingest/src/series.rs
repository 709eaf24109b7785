//! Helpers shared by the decoders: label validation and grouping samples by series.

use std::collections::HashMap;

use strix_core::storage::TimeSeries;
use strix_core::{Label, Labels, Sample};

/// What is wrong with a label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LabelIssue {
    EmptyName,
    Duplicate(String),
}

impl LabelIssue {
    pub(crate) fn message(&self) -> String {
        match self {
            LabelIssue::EmptyName => "empty label name".to_owned(),
            LabelIssue::Duplicate(n) => format!("duplicate label name {n:?}"),
        }
    }
}

/// Sorts `pairs` by name, rejects empty and duplicate names (empty values included, so
/// `a="", a="x"` is still a duplicate), then drops empty values as "label absent".
pub(crate) fn build_labels<N, V>(pairs: &mut [(N, V)]) -> Result<Labels, LabelIssue>
where
    N: AsRef<str>,
    V: AsRef<str>,
{
    pairs.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    if pairs.first().is_some_and(|p| p.0.as_ref().is_empty()) {
        return Err(LabelIssue::EmptyName);
    }
    if let Some(w) = pairs
        .windows(2)
        .find(|w| w[0].0.as_ref() == w[1].0.as_ref())
    {
        return Err(LabelIssue::Duplicate(w[0].0.as_ref().to_owned()));
    }
    let v: Vec<Label> = pairs
        .iter()
        .filter(|p| !p.1.as_ref().is_empty())
        .map(|p| Label::new(p.0.as_ref(), p.1.as_ref()))
        .collect();
    Ok(Labels::from_sorted(v))
}

/// Owned variant of [`build_labels`] that moves the strings instead of copying them.
pub(crate) fn build_labels_owned(mut pairs: Vec<(String, String)>) -> Result<Labels, LabelIssue> {
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if pairs.first().is_some_and(|p| p.0.is_empty()) {
        return Err(LabelIssue::EmptyName);
    }
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(LabelIssue::Duplicate(w[0].0.clone()));
    }
    let v: Vec<Label> = pairs
        .into_iter()
        .filter(|p| !p.1.is_empty())
        .map(|(name, value)| Label { name, value })
        .collect();
    Ok(Labels::from_sorted(v))
}

/// Collects samples into one [`TimeSeries`] per distinct label set, in first-seen order.
///
/// Lookups by a raw key (the series text as written, e.g. `up{job="a"}`) avoid building
/// labels for repeated lines; the label-set index catches differently written equal sets.
#[derive(Debug, Default)]
pub(crate) struct SeriesSet<'a> {
    pub series: Vec<TimeSeries>,
    raw: HashMap<&'a str, usize>,
    by_hash: HashMap<u64, usize>,
}

impl<'a> SeriesSet<'a> {
    pub(crate) fn find_raw(&self, raw: &str) -> Option<usize> {
        self.raw.get(raw).copied()
    }

    pub(crate) fn push_at(&mut self, idx: usize, sample: Sample) {
        if let Some(s) = self.series.get_mut(idx) {
            s.samples.push(sample);
        }
    }

    /// The index of the series with `labels`, created if new; remembers `raw` for it.
    pub(crate) fn index_of(&mut self, raw: Option<&'a str>, labels: Labels) -> usize {
        let h = labels.stable_hash();
        let idx = match self.by_hash.get(&h) {
            Some(&i) if self.series[i].labels == labels => i,
            // A 64-bit hash collision: fall back to a scan, practically never taken.
            Some(_) => match self.series.iter().position(|s| s.labels == labels) {
                Some(i) => i,
                None => self.create(labels),
            },
            None => {
                let i = self.create(labels);
                self.by_hash.insert(h, i);
                i
            }
        };
        if let Some(raw) = raw {
            self.raw.insert(raw, idx);
        }
        idx
    }

    fn create(&mut self, labels: Labels) -> usize {
        self.series.push(TimeSeries {
            labels,
            samples: Vec::new(),
        });
        self.series.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_labels_checks() {
        let mut p = vec![("b", "2"), ("a", "1"), ("c", "")];
        let l = build_labels(&mut p).unwrap();
        assert_eq!(l, Labels::from_pairs([("a", "1"), ("b", "2")]));
        let mut p = vec![("a", ""), ("a", "x")];
        assert_eq!(build_labels(&mut p), Err(LabelIssue::Duplicate("a".into())));
        let mut p = vec![("", "x")];
        assert_eq!(build_labels(&mut p), Err(LabelIssue::EmptyName));
        assert_eq!(
            build_labels_owned(vec![("x".into(), "1".into()), ("x".into(), "2".into())]),
            Err(LabelIssue::Duplicate("x".into()))
        );
    }

    #[test]
    fn groups_equal_label_sets() {
        let mut set = SeriesSet::default();
        let a = set.index_of(Some("a{x=\"1\"}"), Labels::from_pairs([("x", "1")]));
        let b = set.index_of(Some("a{x=\"2\"}"), Labels::from_pairs([("x", "2")]));
        let a2 = set.index_of(Some("a{ x=\"1\" }"), Labels::from_pairs([("x", "1")]));
        assert_eq!((a, b, a2), (0, 1, 0));
        assert_eq!(set.find_raw("a{ x=\"1\" }"), Some(0));
        set.push_at(a, Sample::new(1, 1.0));
        assert_eq!(set.series[0].samples.len(), 1);
    }
}
