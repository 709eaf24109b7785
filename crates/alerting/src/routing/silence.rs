//! Silences as in Alertmanager's v2 API: matchers `{name, value, isRegex, isEqual}`
//! (`isEqual: false` negates), a start and an end. A silence mutes an alert while it is
//! active (`startsAt <= now < endsAt`) and all its matchers match the alert's labels
//! (an absent label matches as the empty string; regexes are anchored).
//!
//! Persistence and ids are the state store's; this module is pure.

use serde::{Deserialize, Serialize};
use strix_core::{Labels, MatchOp, Matcher, MatcherError, Timestamp};

use super::matchers::matches_all;

/// One v2 API matcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
    /// `false` means `!=` / `!~`; absent means `true`, as in the API.
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl SilenceMatcher {
    pub fn to_matcher(&self) -> Result<Matcher, MatcherError> {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::RegexMatch,
            (true, false) => MatchOp::RegexNoMatch,
        };
        Matcher::new(op, self.name.clone(), self.value.clone())
    }
}

/// A silence; times are milliseconds since the epoch, RFC 3339 on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    #[serde(default)]
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    #[serde(with = "rfc3339")]
    pub starts_at: Timestamp,
    #[serde(with = "rfc3339")]
    pub ends_at: Timestamp,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

/// A silence's state at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

/// Why a silence is not acceptable (the API answers 400 with this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("at least one matcher is required")]
    NoMatchers,
    #[error("matcher {index}: empty label name")]
    EmptyName { index: usize },
    #[error("matcher {index}: {message}")]
    BadRegex { index: usize, message: String },
    #[error("at least one matcher must not match the empty string, or the silence would mute every alert")]
    MatchesEverything,
    #[error("endsAt must be after startsAt")]
    EndBeforeStart,
}

impl Silence {
    pub fn state(&self, now: Timestamp) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Checks the silence as Alertmanager's API does and compiles its matchers.
    pub fn compile(&self) -> Result<CompiledSilence, SilenceError> {
        if self.matchers.is_empty() {
            return Err(SilenceError::NoMatchers);
        }
        let mut ms = Vec::with_capacity(self.matchers.len());
        for (index, m) in self.matchers.iter().enumerate() {
            if m.name.is_empty() {
                return Err(SilenceError::EmptyName { index });
            }
            ms.push(m.to_matcher().map_err(|e| SilenceError::BadRegex {
                index,
                message: e.to_string(),
            })?);
        }
        if ms.iter().all(Matcher::matches_empty) {
            return Err(SilenceError::MatchesEverything);
        }
        if self.ends_at <= self.starts_at {
            return Err(SilenceError::EndBeforeStart);
        }
        Ok(CompiledSilence {
            silence: self.clone(),
            matchers: ms,
        })
    }
}

/// A silence with compiled matchers.
#[derive(Debug, Clone)]
pub struct CompiledSilence {
    pub silence: Silence,
    matchers: Vec<Matcher>,
}

impl CompiledSilence {
    /// Whether it is active at `now` and matches `labels`.
    pub fn mutes(&self, labels: &Labels, now: Timestamp) -> bool {
        self.silence.state(now) == SilenceState::Active && matches_all(&self.matchers, labels)
    }
}

/// Compiled silences for repeated checks.
#[derive(Debug, Clone, Default)]
pub struct SilenceSet {
    silences: Vec<CompiledSilence>,
}

impl SilenceSet {
    /// Compiles `silences`; invalid ones are skipped (they were checked on creation) and
    /// returned with their error.
    pub fn new<'a>(
        silences: impl IntoIterator<Item = &'a Silence>,
    ) -> (Self, Vec<(String, SilenceError)>) {
        let mut set = SilenceSet::default();
        let mut bad = Vec::new();
        for s in silences {
            match s.compile() {
                Ok(c) => set.silences.push(c),
                Err(e) => bad.push((s.id.clone(), e)),
            }
        }
        (set, bad)
    }

    /// Ids of the active silences muting `labels` (the API's `silencedBy`).
    pub fn silenced_by(&self, labels: &Labels, now: Timestamp) -> Vec<&str> {
        self.silences
            .iter()
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.silence.id.as_str())
            .collect()
    }

    pub fn is_silenced(&self, labels: &Labels, now: Timestamp) -> bool {
        self.silences.iter().any(|s| s.mutes(labels, now))
    }
}

/// Whether any active silence in `silences` mutes `labels` at `now` (compiles on each
/// call; use [`SilenceSet`] for many checks). Invalid silences mute nothing.
pub fn is_silenced(labels: &Labels, silences: &[Silence], now: Timestamp) -> bool {
    silences
        .iter()
        .filter(|s| s.state(now) == SilenceState::Active)
        .filter_map(|s| s.compile().ok())
        .any(|c| c.mutes(labels, now))
}

/// RFC 3339 (de)serialisation of millisecond timestamps.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &i64, s: S) -> Result<S::Ok, S::Error> {
        match DateTime::<Utc>::from_timestamp_millis(*ts) {
            Some(t) => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            None => Err(serde::ser::Error::custom("timestamp out of range")),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| D::Error::custom(format!("invalid RFC 3339 time {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn m(name: &str, value: &str, is_regex: bool, is_equal: bool) -> SilenceMatcher {
        SilenceMatcher {
            name: name.into(),
            value: value.into(),
            is_regex,
            is_equal,
        }
    }

    fn silence(matchers: Vec<SilenceMatcher>) -> Silence {
        Silence {
            id: "s1".into(),
            matchers,
            starts_at: T0,
            ends_at: T0 + 3_600_000,
            created_by: "me".into(),
            comment: "maintenance".into(),
        }
    }

    #[test]
    fn states() {
        let s = silence(vec![m("a", "b", false, true)]);
        assert_eq!(s.state(T0 - 1), SilenceState::Pending);
        assert_eq!(s.state(T0), SilenceState::Active);
        assert_eq!(s.state(T0 + 3_600_000), SilenceState::Expired);
    }

    #[test]
    fn matcher_semantics() {
        let l = Labels::from_pairs([("alertname", "DiskFull"), ("env", "prod"), ("team", "db")]);
        let cases = [
            (vec![m("alertname", "DiskFull", false, true)], true),
            (vec![m("alertname", "Disk.*", true, true)], true),
            (vec![m("alertname", "Disk", true, true)], false), // anchored
            (vec![m("env", "prod", false, false)], false),
            (
                vec![m("env", "dev", false, false), m("team", "db", false, true)],
                true,
            ),
            (
                vec![m("env", "pr.*", true, false), m("team", "db", false, true)],
                false,
            ),
            (
                vec![m("team", "db", false, true), m("missing", "", false, true)],
                true,
            ),
            (
                vec![m("team", "db", false, true), m("missing", "x", false, true)],
                false,
            ),
        ];
        for (ms, want) in cases {
            let s = silence(ms.clone());
            assert_eq!(
                is_silenced(&l, std::slice::from_ref(&s), T0 + 1),
                want,
                "{ms:?}"
            );
            assert!(
                !is_silenced(&l, &[s], T0 - 1),
                "pending silences mute nothing"
            );
        }
    }

    #[test]
    fn validation() {
        assert_eq!(
            silence(vec![]).compile().unwrap_err(),
            SilenceError::NoMatchers
        );
        assert_eq!(
            silence(vec![m("a", ".*", true, true)])
                .compile()
                .unwrap_err(),
            SilenceError::MatchesEverything
        );
        assert!(matches!(
            silence(vec![m("a", "(", true, true)])
                .compile()
                .unwrap_err(),
            SilenceError::BadRegex { index: 0, .. }
        ));
        let mut s = silence(vec![m("a", "b", false, true)]);
        s.ends_at = s.starts_at;
        assert_eq!(s.compile().unwrap_err(), SilenceError::EndBeforeStart);
    }

    #[test]
    fn set_reports_silenced_by() {
        let a = silence(vec![m("team", "db", false, true)]);
        let mut b = silence(vec![m("env", "prod", false, true)]);
        b.id = "s2".into();
        let bad = Silence {
            id: "bad".into(),
            ..silence(vec![])
        };
        let (set, errs) = SilenceSet::new([&a, &b, &bad]);
        assert_eq!(errs.len(), 1);
        let l = Labels::from_pairs([("env", "prod"), ("team", "db")]);
        assert_eq!(set.silenced_by(&l, T0 + 5), vec!["s1", "s2"]);
        assert!(set.is_silenced(&l, T0 + 5));
        assert!(!set.is_silenced(&l, T0 + 3_600_000));
    }

    #[test]
    fn api_json_round_trip() {
        let j = r#"{"id":"x","matchers":[{"name":"a","value":"b","isRegex":false}],
            "startsAt":"2024-05-06T10:00:00Z","endsAt":"2024-05-06T12:00:00.500+02:00",
            "createdBy":"ops","comment":"deploy"}"#;
        let s: Silence = serde_json::from_str(j).unwrap();
        assert!(s.matchers[0].is_equal);
        assert_eq!(s.ends_at - s.starts_at, 500);
        let back = serde_json::to_string(&s).unwrap();
        assert!(
            back.contains(r#""startsAt":"2024-05-06T10:00:00.000Z""#),
            "{back}"
        );
        assert!(back.contains(r#""isEqual":true"#), "{back}");
    }
}
