//! In-memory postings: label name → value → sorted series refs.

use std::collections::{BTreeMap, HashMap};
use strix_core::{Labels, MatchOp, Matcher};

#[derive(Default)]
pub struct MemIndex {
    postings: HashMap<Box<str>, BTreeMap<Box<str>, Vec<u64>>>,
}

impl MemIndex {
    /// Adds a series. Refs are handed out increasing, so pushing keeps lists sorted.
    pub fn add(&mut self, sref: u64, labels: &Labels) {
        for l in labels.iter() {
            let list = self
                .postings
                .entry(l.name.as_str().into())
                .or_default()
                .entry(l.value.as_str().into())
                .or_default();
            match list.last() {
                Some(&last) if last >= sref => {
                    let i = list.partition_point(|&r| r < sref);
                    list.insert(i, sref);
                }
                _ => list.push(sref),
            }
        }
    }

    pub fn remove(&mut self, sref: u64, labels: &Labels) {
        for l in labels.iter() {
            let Some(values) = self.postings.get_mut(l.name.as_str()) else {
                continue;
            };
            if let Some(list) = values.get_mut(l.value.as_str()) {
                if let Ok(i) = list.binary_search(&sref) {
                    list.remove(i);
                }
                if list.is_empty() {
                    values.remove(l.value.as_str());
                }
            }
            if values.is_empty() {
                self.postings.remove(l.name.as_str());
            }
        }
    }

    /// Sorted refs of series that match every matcher. `labels_of` resolves a ref for
    /// matchers that accept the empty value (those cannot use postings alone).
    ///
    /// Postings are borrowed, and the intersection starts from the shortest list and
    /// binary-searches the longer ones, so a selective matcher (`i="42"`) next to a broad
    /// one (`__name__="x"` over 10k series) costs about the size of the short list.
    pub fn select<'a>(
        &self,
        matchers: &[Matcher],
        all: impl FnOnce() -> Vec<u64>,
        labels_of: impl Fn(u64) -> Option<&'a Labels>,
    ) -> Vec<u64> {
        let mut lists: Vec<Postings<'_>> = Vec::new();
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let p = self.matching_refs(m);
            if p.as_slice().is_empty() {
                return Vec::new();
            }
            lists.push(p);
        }
        lists.sort_by_key(|p| p.as_slice().len());
        let candidates = match lists.split_first() {
            None => all(),
            Some((first, rest)) => {
                let mut c = first.as_slice().to_vec();
                for other in rest {
                    let other = other.as_slice();
                    c.retain(|r| other.binary_search(r).is_ok());
                    if c.is_empty() {
                        return c;
                    }
                }
                c
            }
        };
        let rest: Vec<&Matcher> = matchers.iter().filter(|m| m.matches_empty()).collect();
        if rest.is_empty() {
            return candidates;
        }
        candidates
            .into_iter()
            .filter(|&r| {
                labels_of(r).is_some_and(|ls| {
                    rest.iter()
                        .all(|m| m.matches(ls.get(&m.name).unwrap_or("")))
                })
            })
            .collect()
    }

    /// Union of postings of the values of `m.name` that `m` accepts.
    fn matching_refs(&self, m: &Matcher) -> Postings<'_> {
        let Some(values) = self.postings.get(m.name.as_str()) else {
            return Postings::Owned(Vec::new());
        };
        let lists: Vec<&Vec<u64>> = match (m.op, m.set_matches()) {
            (MatchOp::Equal, _) => values.get(m.value.as_str()).into_iter().collect(),
            (_, Some(set)) => set.iter().filter_map(|v| values.get(v.as_str())).collect(),
            _ => values
                .iter()
                .filter(|(v, _)| m.matches(v))
                .map(|(_, l)| l)
                .collect(),
        };
        match lists.len() {
            0 => Postings::Owned(Vec::new()),
            1 => Postings::Borrowed(lists[0]),
            _ => {
                let mut out: Vec<u64> = lists.into_iter().flatten().copied().collect();
                out.sort_unstable();
                out.dedup();
                Postings::Owned(out)
            }
        }
    }

    pub fn label_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.postings.keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }

    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.postings
            .get(name)
            .map(|vals| vals.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default()
    }
}

/// A postings list, borrowed from the index or built for a multi-value matcher.
enum Postings<'a> {
    Borrowed(&'a [u64]),
    Owned(Vec<u64>),
}

impl Postings<'_> {
    fn as_slice(&self) -> &[u64] {
        match self {
            Postings::Borrowed(s) => s,
            Postings::Owned(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn matcher_semantics() {
        let series = [
            ls(&[("__name__", "up"), ("job", "api"), ("env", "prod")]),
            ls(&[("__name__", "up"), ("job", "db")]),
            ls(&[("__name__", "down"), ("job", "api-2")]),
        ];
        let mut idx = MemIndex::default();
        for (i, s) in series.iter().enumerate() {
            idx.add(i as u64, s);
        }
        let sel = |ms: Vec<Matcher>| idx.select(&ms, || vec![0, 1, 2], |r| series.get(r as usize));
        let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
        assert_eq!(sel(vec![m(MatchOp::Equal, "__name__", "up")]), vec![0, 1]);
        assert_eq!(sel(vec![m(MatchOp::RegexMatch, "job", "api")]), vec![0]);
        assert_eq!(
            sel(vec![m(MatchOp::RegexMatch, "job", "api.*")]),
            vec![0, 2]
        );
        assert_eq!(sel(vec![m(MatchOp::NotEqual, "env", "prod")]), vec![1, 2]);
        assert_eq!(
            sel(vec![
                m(MatchOp::Equal, "__name__", "up"),
                m(MatchOp::RegexNoMatch, "job", "a.*")
            ]),
            vec![1]
        );
        assert_eq!(sel(vec![m(MatchOp::Equal, "env", "")]), vec![1, 2]);
        idx.remove(0, &series[0]);
        assert_eq!(idx.label_values("env"), Vec::<String>::new());
        assert!(!idx.label_names().contains(&"env".to_string()));
    }
}
