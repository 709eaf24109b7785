use std::fmt;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A series identity: label pairs sorted by name, names unique, no empty values.
///
/// Construct through [`LabelsBuilder`] or [`Labels::from_pairs`], which sort and drop
/// empty values (an empty value means "label absent" in Prometheus).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Labels(Vec<Label>);

impl std::hash::Hash for Labels {
    /// One word per label set: hash maps keyed by labels (query grouping, head lookups)
    /// hash 8 bytes instead of every name and value. Equal label sets hash equally.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.stable_hash());
    }
}

impl Labels {
    /// Builds from pairs in any order; empty values are dropped. Duplicate names are kept
    /// so that [`Labels::first_duplicate`] can report them; validation rejects them.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut v: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label::new(n, v))
            .filter(|l| !l.value.is_empty())
            .collect();
        v.sort();
        Labels(v)
    }

    /// Wraps labels already sorted by name with unique names (checked in debug builds).
    pub fn from_sorted(v: Vec<Label>) -> Self {
        debug_assert!(
            v.windows(2).all(|w| w[0].name <= w[1].name),
            "BUG: labels not sorted"
        );
        Labels(v)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name, if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// The first label name that occurs twice, if any.
    pub fn first_duplicate(&self) -> Option<&str> {
        self.0
            .windows(2)
            .find(|w| w[0].name == w[1].name)
            .map(|w| w[0].name.as_str())
    }

    /// A 64-bit hash of the label set, equal to [`hash_pairs`] over the same pairs.
    pub fn stable_hash(&self) -> u64 {
        hash_pairs(self.0.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// Whether this label set equals the sorted `pairs` (empty values already dropped).
    pub fn eq_pairs(&self, pairs: &[(&str, &str)]) -> bool {
        self.0.len() == pairs.len()
            && self
                .0
                .iter()
                .zip(pairs)
                .all(|(l, (n, v))| l.name == *n && l.value == *v)
    }
}

/// Hashes label pairs (sorted by name, no empty values) word by word; in-memory lookups
/// only, never persisted. Names and values are length-prefixed, so boundaries matter.
pub fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    #[inline]
    fn mix(h: u64, w: u64) -> u64 {
        (h.rotate_left(5) ^ w).wrapping_mul(K)
    }
    #[inline]
    fn bytes(mut h: u64, b: &[u8]) -> u64 {
        h = mix(h, b.len() as u64);
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = mix(h, u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            h = mix(h, u64::from_le_bytes(w));
        }
        h
    }
    let mut h: u64 = 0;
    for (n, v) in pairs {
        h = bytes(h, n.as_bytes());
        h = bytes(h, v.as_bytes());
    }
    // Final avalanche so the low bits are usable by hash tables.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

impl fmt::Display for Labels {
    /// Prometheus notation: `name{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name().unwrap_or("");
        write!(f, "{name}{{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                write!(f, ", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        write!(f, "}}")
    }
}

/// Incremental construction of [`Labels`].
#[derive(Debug, Default)]
pub struct LabelsBuilder(Vec<Label>);

impl LabelsBuilder {
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `name` to `value`, replacing an earlier value; an empty value removes it.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let (name, value) = (name.into(), value.into());
        self.0.retain(|l| l.name != name);
        if !value.is_empty() {
            self.0.push(Label { name, value });
        }
        self
    }
    /// Adds a pair without replacing (duplicates are kept for validation to report).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let l = Label::new(name, value);
        if !l.value.is_empty() {
            self.0.push(l);
        }
        self
    }
    pub fn build(mut self) -> Labels {
        self.0.sort();
        Labels(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_empty_values_dropped() {
        let l = Labels::from_pairs([("job", "a"), ("__name__", "up"), ("x", "")]);
        assert_eq!(l.len(), 2);
        assert_eq!(l.as_slice()[0].name, "__name__");
        assert_eq!(l.metric_name(), Some("up"));
        assert_eq!(l.to_string(), "up{job=\"a\"}");
    }

    #[test]
    fn duplicates_reported() {
        let l = Labels::from_pairs([("a", "1"), ("a", "2")]);
        assert_eq!(l.first_duplicate(), Some("a"));
    }

    #[test]
    fn borrowed_and_owned_agree() {
        let l = Labels::from_pairs([
            ("__name__", "up"),
            ("job", "api"),
            ("instance", "host-001:9100"),
        ]);
        let pairs: Vec<(&str, &str)> = l
            .iter()
            .map(|x| (x.name.as_str(), x.value.as_str()))
            .collect();
        assert_eq!(l.stable_hash(), hash_pairs(pairs.iter().copied()));
        assert!(l.eq_pairs(&pairs));
        assert!(!l.eq_pairs(&pairs[..2]));
        let mut other = pairs.clone();
        other[1].1 = "apj";
        assert!(!l.eq_pairs(&other));
        assert_ne!(l.stable_hash(), hash_pairs(other.iter().copied()));
    }

    #[test]
    fn hash_distinguishes_boundaries() {
        let a = Labels::from_pairs([("ab", "c")]);
        let b = Labels::from_pairs([("a", "bc")]);
        assert_ne!(a.stable_hash(), b.stable_hash());
    }
}
