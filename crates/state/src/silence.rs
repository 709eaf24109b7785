//! Alertmanager-compatible silences.

use serde::{Deserialize, Serialize};
use strix_core::{MatchOp, Matcher};

use crate::StateError;

/// One matcher of a silence, in Alertmanager's API shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    /// Label name.
    pub name: String,
    /// Literal value or regular expression.
    pub value: String,
    /// `=~` / `!~` rather than `=` / `!=`.
    pub is_regex: bool,
    /// `=` / `=~` rather than `!=` / `!~` (Alertmanager defaults it to true).
    #[serde(default = "default_true")]
    pub is_equal: bool,
}

fn default_true() -> bool {
    true
}

impl SilenceMatcher {
    /// Compiles to a label matcher.
    pub fn to_matcher(&self) -> Result<Matcher, StateError> {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::RegexMatch,
            (true, false) => MatchOp::RegexNoMatch,
        };
        Matcher::new(op, self.name.clone(), self.value.clone())
            .map_err(|e| StateError::BadInput(e.to_string()))
    }
}

/// Alertmanager's silence states, computed from the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// `starts_at` is in the future.
    Pending,
    /// `starts_at <= now < ends_at`.
    Active,
    /// `ends_at <= now`.
    Expired,
}

impl SilenceState {
    /// The state of a silence spanning `[starts_at, ends_at)` at `now`.
    pub fn at(starts_at: i64, ends_at: i64, now: i64) -> Self {
        if ends_at <= now {
            SilenceState::Expired
        } else if starts_at > now {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

/// A silence to create or update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceInput {
    /// `None` (or empty) creates; an existing id updates (see
    /// [`StateStore::upsert_silence`](crate::StateStore::upsert_silence)).
    #[serde(default)]
    pub id: Option<String>,
    /// At least one; at least one must not match the empty string.
    pub matchers: Vec<SilenceMatcher>,
    /// ms since the epoch.
    pub starts_at: i64,
    /// ms since the epoch; after `starts_at`.
    pub ends_at: i64,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// A stored silence with its state at the time of the read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// UUID.
    pub id: String,
    /// Matchers, as given.
    pub matchers: Vec<SilenceMatcher>,
    /// ms.
    pub starts_at: i64,
    /// ms.
    pub ends_at: i64,
    /// Last change, ms.
    pub updated_at: i64,
    /// Creator.
    pub created_by: String,
    /// Comment.
    pub comment: String,
    /// State at the `now` given to the read.
    pub state: SilenceState,
}

impl Silence {
    /// Whether this silence, at its recorded state, mutes an alert with `labels`
    /// (only `active` silences mute).
    pub fn mutes(
        &self,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<bool, StateError> {
        if self.state != SilenceState::Active {
            return Ok(false);
        }
        for m in &self.matchers {
            let m = m.to_matcher()?;
            if !m.matches(labels.get(&m.name).map(String::as_str).unwrap_or("")) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Checks a silence the way Alertmanager does before storing it.
pub(crate) fn validate(input: &SilenceInput) -> Result<(), StateError> {
    if input.matchers.is_empty() {
        return Err(StateError::BadInput("silence has no matchers".into()));
    }
    let mut all_empty = true;
    for m in &input.matchers {
        if m.name.is_empty() {
            return Err(StateError::BadInput(
                "silence matcher has an empty label name".into(),
            ));
        }
        if !m.to_matcher()?.matches_empty() {
            all_empty = false;
        }
    }
    if all_empty {
        return Err(StateError::BadInput(
            "at least one silence matcher must not match the empty string".into(),
        ));
    }
    if input.ends_at <= input.starts_at {
        return Err(StateError::BadInput(
            "silence endsAt must be after startsAt".into(),
        ));
    }
    if input.created_by.trim().is_empty() {
        return Err(StateError::BadInput("silence createdBy is empty".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, value: &str, is_regex: bool, is_equal: bool) -> SilenceMatcher {
        SilenceMatcher {
            name: name.into(),
            value: value.into(),
            is_regex,
            is_equal,
        }
    }

    #[test]
    fn state_from_clock() {
        assert_eq!(SilenceState::at(10, 20, 5), SilenceState::Pending);
        assert_eq!(SilenceState::at(10, 20, 10), SilenceState::Active);
        assert_eq!(SilenceState::at(10, 20, 20), SilenceState::Expired);
    }

    #[test]
    fn validation() {
        let ok = SilenceInput {
            id: None,
            matchers: vec![m("alertname", "X", false, true)],
            starts_at: 1,
            ends_at: 2,
            created_by: "me".into(),
            comment: String::new(),
        };
        validate(&ok).unwrap();
        let mut bad = ok.clone();
        bad.matchers.clear();
        assert!(validate(&bad).is_err());
        let mut bad = ok.clone();
        bad.matchers = vec![m("a", ".*", true, true)];
        assert!(validate(&bad).is_err(), "matches everything");
        let mut bad = ok.clone();
        bad.matchers = vec![m("a", "(", true, true)];
        assert!(validate(&bad).is_err(), "bad regex");
        let mut bad = ok;
        bad.ends_at = 1;
        assert!(validate(&bad).is_err());
    }

    #[test]
    fn json_shape_is_alertmanagers() {
        let v: SilenceMatcher =
            serde_json::from_str(r#"{"name":"a","value":"b","isRegex":false}"#).unwrap();
        assert!(v.is_equal);
    }
}
