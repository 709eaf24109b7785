//! Prometheus relabeling (`relabel_configs`, `metric_relabel_configs`).
//!
//! Semantics follow Prometheus' `model/relabel` package: the values of `source_labels`
//! are joined with `separator` (absent labels join as ""), `regex` is fully anchored and
//! `.` matches newlines (`^(?s:<regex>)$`), `replacement` is expanded like Go's
//! `Regexp.Expand` (`$1`, `${1}`, `$name`, `${name}`, `$$`), and setting a label to ""
//! removes it. A target label produced by a template that is not a valid label name
//! leaves the set unchanged. `hashmod` is the md5 of the joined value, its last 8 bytes
//! read as a big-endian u64, modulo `modulus`.

use std::fmt;

use md5::{Digest, Md5};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strix_core::{Label, Labels};

/// A relabel action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    const ALL: [(Action, &'static str); 11] = [
        (Action::Replace, "replace"),
        (Action::Keep, "keep"),
        (Action::Drop, "drop"),
        (Action::KeepEqual, "keepequal"),
        (Action::DropEqual, "dropequal"),
        (Action::HashMod, "hashmod"),
        (Action::LabelMap, "labelmap"),
        (Action::LabelDrop, "labeldrop"),
        (Action::LabelKeep, "labelkeep"),
        (Action::Lowercase, "lowercase"),
        (Action::Uppercase, "uppercase"),
    ];

    pub fn as_str(self) -> &'static str {
        Action::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map(|(_, s)| *s)
            .unwrap_or("replace")
    }

    /// Case-insensitive, as Prometheus accepts `labelDrop` and `Replace`.
    pub fn parse(s: &str) -> Option<Action> {
        let lower = s.to_ascii_lowercase();
        Action::ALL
            .iter()
            .find(|(_, n)| *n == lower)
            .map(|(a, _)| *a)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Action::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown relabel action {s:?} (expected one of: {})",
                Action::ALL.map(|(_, n)| n).join(", ")
            ))
        })
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A fully anchored regex, compiled when the config is parsed.
#[derive(Clone)]
pub struct RelabelRegex {
    source: String,
    re: Regex,
}

impl RelabelRegex {
    /// Compiles `^(?s:<source>)$`.
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        Ok(RelabelRegex {
            source: source.to_owned(),
            re: Regex::new(&format!("^(?s:{source})$"))?,
        })
    }

    /// The regex as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }
}

impl Default for RelabelRegex {
    /// `(.*)`, compiled once.
    fn default() -> Self {
        static DEFAULT: std::sync::OnceLock<RelabelRegex> = std::sync::OnceLock::new();
        DEFAULT
            .get_or_init(|| constant_regex_or_bug(RelabelRegex::new("(.*)")))
            .clone()
    }
}

/// Constant patterns always compile; a failure is a bug in this file.
fn constant_regex_or_bug<T>(r: Result<T, regex::Error>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("BUG: constant regex does not compile: {e}"),
    }
}

impl fmt::Debug for RelabelRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl<'de> Deserialize<'de> for RelabelRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RelabelRegex::new(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid regex {s:?}: {e}")))
    }
}

impl Serialize for RelabelRegex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// One relabeling step.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    /// Labels whose values are joined and matched against `regex`.
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// Joins the source values (";").
    #[serde(default = "default_separator")]
    pub separator: String,
    /// The label written by replace, hashmod, lowercase, uppercase; compared by
    /// keepequal/dropequal.
    #[serde(default)]
    pub target_label: String,
    /// Anchored regex ("(.*)").
    #[serde(default)]
    pub regex: RelabelRegex,
    /// Modulus for hashmod.
    #[serde(default)]
    pub modulus: u64,
    /// Replacement template ("$1").
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// What to do ("replace").
    #[serde(default)]
    pub action: Action,
}

fn default_separator() -> String {
    ";".into()
}

fn default_replacement() -> String {
    "$1".into()
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: default_separator(),
            target_label: String::new(),
            regex: RelabelRegex::default(),
            modulus: 0,
            replacement: default_replacement(),
            action: Action::Replace,
        }
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A label name that may contain `$1` / `${name}` references (replace's target_label,
/// labelmap's replacement), as Prometheus' `relabelTarget` pattern allows.
fn is_valid_name_template(s: &str) -> bool {
    static_template_regex().is_match(s)
}

fn static_template_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        constant_regex_or_bug(Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$"))
    })
}

impl RelabelConfig {
    /// Checks field combinations the way Prometheus' `RelabelConfig.Validate` does.
    pub fn validate(&self) -> Result<(), String> {
        let a = self.action;
        if a == Action::HashMod && self.modulus == 0 {
            return Err("hashmod requires a non-zero modulus".into());
        }
        let needs_target = matches!(
            a,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            return Err(format!("{a} requires target_label"));
        }
        if a == Action::Replace && !is_valid_name_template(&self.target_label) {
            return Err(format!(
                "{:?} is not a valid target_label for {a}",
                self.target_label
            ));
        }
        if matches!(
            a,
            Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        ) && !is_valid_label_name(&self.target_label)
        {
            return Err(format!(
                "{:?} is not a valid target_label for {a}",
                self.target_label
            ));
        }
        let defaults = RelabelConfig::default();
        if matches!(a, Action::KeepEqual | Action::DropEqual)
            && (self.regex != defaults.regex
                || self.modulus != 0
                || self.separator != defaults.separator
                || self.replacement != defaults.replacement)
        {
            return Err(format!("{a} takes only source_labels and target_label"));
        }
        if matches!(a, Action::LabelDrop | Action::LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != defaults.separator
                || self.replacement != defaults.replacement)
        {
            return Err(format!("{a} takes only regex"));
        }
        if a == Action::LabelMap && !is_valid_name_template(&self.replacement) {
            return Err(format!(
                "{:?} is not a valid replacement for {a}",
                self.replacement
            ));
        }
        for name in &self.source_labels {
            if !is_valid_label_name(name) {
                return Err(format!("source_labels: {name:?} is not a valid label name"));
            }
        }
        Ok(())
    }
}

/// A mutable label set used while relabeling: sorted by name, no empty values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSet(Vec<Label>);

impl LabelSet {
    pub fn from_labels(l: Labels) -> Self {
        LabelSet(l.into_vec())
    }

    pub fn into_labels(self) -> Labels {
        Labels::from_sorted(self.0)
    }

    pub fn get(&self, name: &str) -> &str {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) => &self.0[i].value,
            Err(_) => "",
        }
    }

    /// Sets `name`; an empty value removes it.
    pub fn set(&mut self, name: &str, value: String) {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].value = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, Label::new(name, value)),
        }
    }

    pub fn del(&mut self, name: &str) {
        if let Ok(i) = self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            self.0.remove(i);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn retain(&mut self, f: impl FnMut(&Label) -> bool) {
        self.0.retain(f)
    }
}

/// Applies `configs` in order. Returns `None` when the set is dropped (by keep, drop,
/// keepequal, dropequal, or because no labels remain).
pub fn process(labels: Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let mut set = LabelSet::from_labels(labels);
    if !process_set(&mut set, configs) {
        return None;
    }
    if set.is_empty() {
        return None;
    }
    Some(set.into_labels())
}

/// Applies `configs` to `set` in place; false means "drop".
pub fn process_set(set: &mut LabelSet, configs: &[RelabelConfig]) -> bool {
    configs.iter().all(|c| apply(set, c))
}

fn apply(set: &mut LabelSet, c: &RelabelConfig) -> bool {
    let val = match c.source_labels.as_slice() {
        [] => String::new(),
        [one] => set.get(one).to_owned(),
        many => {
            let mut v = String::new();
            for (i, name) in many.iter().enumerate() {
                if i > 0 {
                    v.push_str(&c.separator);
                }
                v.push_str(set.get(name));
            }
            v
        }
    };
    match c.action {
        Action::Drop => return !c.regex.is_match(&val),
        Action::Keep => return c.regex.is_match(&val),
        Action::DropEqual => return set.get(&c.target_label) != val,
        Action::KeepEqual => return set.get(&c.target_label) == val,
        Action::Replace => {
            let Some(caps) = c.regex.re.captures(&val) else {
                return true;
            };
            let mut target = String::new();
            caps.expand(&c.target_label, &mut target);
            if !is_valid_label_name(&target) {
                return true;
            }
            let mut res = String::new();
            caps.expand(&c.replacement, &mut res);
            set.set(&target, res);
        }
        Action::Lowercase => set.set(&c.target_label, val.to_lowercase()),
        Action::Uppercase => set.set(&c.target_label, val.to_uppercase()),
        Action::HashMod => {
            let digest = Md5::digest(val.as_bytes());
            let mut last8 = [0u8; 8];
            last8.copy_from_slice(&digest[8..16]);
            let m = u64::from_be_bytes(last8) % c.modulus.max(1);
            set.set(&c.target_label, m.to_string());
        }
        Action::LabelMap => {
            let snapshot: Vec<Label> = set.iter().cloned().collect();
            for l in snapshot {
                if let Some(caps) = c.regex.re.captures(&l.name) {
                    let mut name = String::new();
                    caps.expand(&c.replacement, &mut name);
                    if is_valid_label_name(&name) {
                        set.set(&name, l.value);
                    }
                }
            }
        }
        Action::LabelDrop => set.retain(|l| !c.regex.is_match(&l.name)),
        Action::LabelKeep => set.retain(|l| c.regex.is_match(&l.name)),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn cfg(yaml: &str) -> Vec<RelabelConfig> {
        let v: Vec<RelabelConfig> = serde_yaml::from_str(yaml).unwrap();
        for c in &v {
            c.validate().unwrap();
        }
        v
    }

    /// Table: input labels, config (YAML list), expected output (None = dropped).
    /// Cases follow Prometheus' documented behaviour and model/relabel/relabel_test.go.
    #[test]
    fn relabel_table() {
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, &'a str)],
            &'a str,
            Option<&'a [(&'a str, &'a str)]>,
        );
        let cases: &[Case] = &[
            (
                "replace with capture group",
                &[("a", "foo"), ("b", "bar"), ("c", "baz")],
                "[{source_labels: [a], regex: 'f(.*)', target_label: d, separator: ';', replacement: 'ch${1}-ch${1}'}]",
                Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]),
            ),
            (
                "replace joins sources with separator",
                &[("a", "foo"), ("b", "bar"), ("c", "baz")],
                "[{source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, separator: ';', replacement: 'b${1}${2}m'}, {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, separator: ';', replacement: '$1$2$2$3'}]",
                Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
            ),
            (
                "replace with no match leaves labels unchanged",
                &[("a", "foo")],
                "[{source_labels: [a], regex: 'bar', target_label: b, replacement: x}]",
                Some(&[("a", "foo")]),
            ),
            (
                "regex is anchored",
                &[("a", "foobar")],
                "[{source_labels: [a], regex: 'foo', target_label: b, replacement: x}]",
                Some(&[("a", "foobar")]),
            ),
            (
                "dot matches newline",
                &[("a", "foo\nbar")],
                "[{source_labels: [a], regex: 'foo.bar', target_label: b, replacement: yes}]",
                Some(&[("a", "foo\nbar"), ("b", "yes")]),
            ),
            (
                "empty replacement deletes the target",
                &[("a", "foo"), ("b", "bar")],
                "[{source_labels: [a], regex: 'foo', target_label: b, replacement: ''}]",
                Some(&[("a", "foo")]),
            ),
            (
                "default config copies nothing from no sources into target",
                &[("a", "foo")],
                "[{target_label: b}]",
                Some(&[("a", "foo")]),
            ),
            (
                "absent source label joins as empty and default regex matches",
                &[("a", "foo")],
                "[{source_labels: [missing, a], target_label: b}]",
                Some(&[("a", "foo"), ("b", ";foo")]),
            ),
            (
                "static replacement without sources",
                &[("a", "foo")],
                "[{target_label: env, replacement: prod}]",
                Some(&[("a", "foo"), ("env", "prod")]),
            ),
            (
                "target label from a template",
                &[("a", "some-name-value")],
                "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: '${2}'}]",
                Some(&[("a", "some-name-value"), ("name", "value")]),
            ),
            (
                "invalid target label from a template is ignored",
                &[("a", "some-1name-value")],
                "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: '${2}'}]",
                Some(&[("a", "some-1name-value")]),
            ),
            (
                "named groups and $$ escape",
                &[("a", "foo")],
                "[{source_labels: [a], regex: '(?P<word>f)oo', target_label: b, replacement: '$word-$$-${word}'}]",
                Some(&[("a", "foo"), ("b", "f-$-f")]),
            ),
            (
                "$1x is a reference to a group named 1x, so empty",
                &[("a", "foo")],
                "[{source_labels: [a], regex: '(f)oo', target_label: b, replacement: '$1x'}]",
                Some(&[("a", "foo")]),
            ),
            (
                "drop on match",
                &[("a", "foo")],
                "[{source_labels: [a], regex: '.*o.*', action: drop}]",
                None,
            ),
            (
                "drop without match keeps",
                &[("a", "foo")],
                "[{source_labels: [a], regex: 'bar', action: drop}]",
                Some(&[("a", "foo")]),
            ),
            (
                "keep without match drops",
                &[("a", "foo")],
                "[{source_labels: [a], regex: 'no-match', action: keep}]",
                None,
            ),
            (
                "keep on match",
                &[("a", "foo")],
                "[{source_labels: [a], regex: 'f.*', action: Keep}]",
                Some(&[("a", "foo")]),
            ),
            (
                "keep on absent label matches the empty string",
                &[("a", "foo")],
                "[{source_labels: [b], regex: '', action: keep}]",
                Some(&[("a", "foo")]),
            ),
            (
                "keepequal keeps when equal",
                &[("a", "foo"), ("b", "foo")],
                "[{source_labels: [a], target_label: b, action: keepequal}]",
                Some(&[("a", "foo"), ("b", "foo")]),
            ),
            (
                "keepequal drops when different",
                &[("a", "foo"), ("b", "bar")],
                "[{source_labels: [a], target_label: b, action: keepequal}]",
                None,
            ),
            (
                "dropequal drops when equal",
                &[("a", "foo"), ("b", "foo")],
                "[{source_labels: [a], target_label: b, action: dropequal}]",
                None,
            ),
            (
                "dropequal keeps when different",
                &[("a", "foo"), ("b", "bar")],
                "[{source_labels: [a], target_label: b, action: dropequal}]",
                Some(&[("a", "foo"), ("b", "bar")]),
            ),
            (
                "hashmod",
                &[("a", "foo"), ("b", "bar"), ("c", "baz")],
                "[{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}]",
                Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
            ),
            (
                "hashmod with a large modulus",
                &[("a", "foo"), ("b", "bar"), ("c", "baz")],
                "[{source_labels: [c], target_label: d, action: hashmod, modulus: 1000000}]",
                Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "275976")]),
            ),
            (
                "labelmap copies matching names",
                &[("a", "foo"), ("b", "bar"), ("c", "baz")],
                "[{regex: 'a', action: labelmap, replacement: 'b'}]",
                Some(&[("a", "foo"), ("b", "foo"), ("c", "baz")]),
            ),
            (
                "labelmap strips a prefix",
                &[("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc")],
                "[{regex: '__meta_my_(.+)', action: labelmap, replacement: '${1}'}]",
                Some(&[
                    ("__meta_my_bar", "aaa"),
                    ("__meta_my_baz", "bbb"),
                    ("__meta_other", "ccc"),
                    ("bar", "aaa"),
                    ("baz", "bbb"),
                ]),
            ),
            (
                "labeldrop",
                &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
                "[{regex: 'b.*', action: labeldrop}]",
                Some(&[("a", "foo")]),
            ),
            (
                "labelkeep",
                &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
                "[{regex: 'b.*', action: labelkeep}]",
                Some(&[("b1", "bar"), ("b2", "baz")]),
            ),
            (
                "labelkeep of nothing drops the series",
                &[("a", "foo")],
                "[{regex: 'zzz', action: labelkeep}]",
                None,
            ),
            (
                "lowercase and uppercase",
                &[("foo", "bAr123Foo"), ("x", "mIxEd")],
                "[{source_labels: [foo], target_label: lower, action: lowercase}, {source_labels: [x], target_label: upper, action: uppercase}]",
                Some(&[("foo", "bAr123Foo"), ("lower", "bar123foo"), ("upper", "MIXED"), ("x", "mIxEd")]),
            ),
            (
                "steps apply in order and see earlier results",
                &[("__address__", "host:9100")],
                "[{source_labels: [__address__], regex: '(.*):.*', target_label: host}, {source_labels: [host], regex: 'host', action: keep}]",
                Some(&[("__address__", "host:9100"), ("host", "host")]),
            ),
            (
                "drop __name__ by metric name",
                &[("__name__", "go_goroutines"), ("job", "x")],
                "[{source_labels: [__name__], regex: 'go_.*', action: drop}]",
                None,
            ),
        ];
        for (name, input, yaml, want) in cases {
            let got = process(ls(input), &cfg(yaml));
            let want = want.map(ls);
            assert_eq!(got, want, "case {name:?}");
        }
    }

    #[test]
    fn hashmod_matches_documented_algorithm() {
        // md5("baz") = 73feffa4b7f6bb68e44cf984c85f6e88; last 8 bytes e44cf984c85f6e88.
        let want = 0xe44c_f984_c85f_6e88u64 % 1000;
        let got = process(
            ls(&[("c", "baz")]),
            &cfg("[{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}]"),
        )
        .unwrap();
        assert_eq!(got.get("d"), Some(want.to_string().as_str()));
    }

    #[test]
    fn validation() {
        let bad: &[(&str, &str)] = &[
            ("{action: hashmod, target_label: x}", "non-zero modulus"),
            ("{action: replace}", "requires target_label"),
            ("{action: lowercase}", "requires target_label"),
            (
                "{action: keepequal, source_labels: [a]}",
                "requires target_label",
            ),
            (
                "{action: replace, target_label: '1x'}",
                "not a valid target_label",
            ),
            (
                "{action: uppercase, target_label: '${1}'}",
                "not a valid target_label",
            ),
            (
                "{action: labeldrop, source_labels: [a]}",
                "takes only regex",
            ),
            ("{action: labelkeep, target_label: a}", "takes only regex"),
            (
                "{action: keepequal, target_label: a, regex: 'x'}",
                "takes only source_labels",
            ),
            (
                "{action: labelmap, replacement: '-'}",
                "not a valid replacement",
            ),
            (
                "{source_labels: ['a-b'], target_label: x}",
                "not a valid label name",
            ),
        ];
        for (yaml, want) in bad {
            let c: RelabelConfig = serde_yaml::from_str(yaml).unwrap();
            let e = c.validate().unwrap_err();
            assert!(e.contains(want), "{yaml}: {e}");
        }
        let good = [
            "{action: replace, target_label: '${1}_x'}",
            "{action: labelmap, regex: '__meta_(.+)'}",
            "{action: keep, source_labels: [__name__], regex: 'up'}",
            "{action: LabelDrop, regex: 'x'}",
        ];
        for yaml in good {
            let c: RelabelConfig = serde_yaml::from_str(yaml).unwrap();
            c.validate().unwrap();
        }
    }

    #[test]
    fn serde_round_trip() {
        let c = cfg("[{source_labels: [a, b], separator: ',', regex: 'x(.*)', target_label: t, replacement: 'r$1', action: replace}]");
        let yaml = serde_yaml::to_string(&c).unwrap();
        let back: Vec<RelabelConfig> = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, c);
        assert_eq!(back[0].regex.as_str(), "x(.*)");
    }
}
