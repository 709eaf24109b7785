//! The Prometheus rule-file format.
//!
//! ```yaml
//! groups:
//!   - name: example
//!     interval: 30s          # optional, default: the manager's default interval
//!     limit: 0               # optional, max series a rule may produce (0 = no limit)
//!     rules:
//!       - record: job:http_requests:rate5m
//!         expr: sum by (job) (rate(http_requests_total[5m]))
//!         labels: {team: web}
//!       - alert: HighErrorRate
//!         expr: job:errors:ratio > 0.05
//!         for: 10m
//!         labels: {severity: critical}
//!         annotations: {summary: "..."}
//! ```

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use strix_core::duration;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid rule_files pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    query_offset: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    expr: serde_yaml::Value,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Recording {
        record: String,
        expr: String,
        labels: BTreeMap<String, String>,
    },
    Alerting {
        alert: String,
        expr: String,
        for_: Duration,
        keep_firing_for: Duration,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    },
}

impl Rule {
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording { record, .. } => record,
            Rule::Alerting { alert, .. } => alert,
        }
    }
    pub fn expr(&self) -> &str {
        match self {
            Rule::Recording { expr, .. } | Rule::Alerting { expr, .. } => expr,
        }
    }
}

/// A group of rules evaluated together, in order, on one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    pub file: String,
    /// `None`: the manager's default interval.
    pub interval: Option<Duration>,
    pub limit: usize,
    pub query_offset: Duration,
    /// Labels added to every rule result of the group.
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    pub path: String,
    pub groups: Vec<RuleGroup>,
}

fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses and validates one rule file's text. `path` is used in error messages.
pub fn parse_rule_file(text: &str, path: &str) -> Result<RuleFile, RulesError> {
    let invalid = |message: String| RulesError::Invalid {
        path: path.to_string(),
        message,
    };
    let raw: RawFile = serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let mut names = HashSet::new();
    let mut groups = Vec::new();
    for (gi, g) in raw.groups.into_iter().enumerate() {
        let at = format!("group {:?} (groups[{gi}])", g.name);
        if g.name.is_empty() {
            return Err(invalid(format!(
                "groups[{gi}]: group name must not be empty"
            )));
        }
        if !names.insert(g.name.clone()) {
            return Err(invalid(format!(
                "{at}: group name repeated in the same file"
            )));
        }
        let dur = |field: &str, v: &Option<String>| -> Result<Option<Duration>, RulesError> {
            v.as_deref()
                .map(|s| duration::parse(s).map_err(|e| invalid(format!("{at}: {field}: {e}"))))
                .transpose()
        };
        let interval = dur("interval", &g.interval)?;
        if interval.is_some_and(|d| d.is_zero()) {
            return Err(invalid(format!("{at}: interval must be greater than 0")));
        }
        let query_offset = dur("query_offset", &g.query_offset)?.unwrap_or_default();
        let mut rules = Vec::new();
        for (ri, r) in g.rules.into_iter().enumerate() {
            let rat = format!("{at}, rules[{ri}]");
            let expr = match r.expr {
                serde_yaml::Value::String(s) => s,
                serde_yaml::Value::Number(n) => n.to_string(),
                _ => return Err(invalid(format!("{rat}: expr must be a string"))),
            };
            if expr.trim().is_empty() {
                return Err(invalid(format!("{rat}: expr must not be empty")));
            }
            promql_parser::parser::parse(&expr)
                .map_err(|e| invalid(format!("{rat}: expr {expr:?}: {e}")))?;
            for k in r.labels.keys() {
                if !valid_label_name(k) {
                    return Err(invalid(format!("{rat}: invalid label name {k:?}")));
                }
            }
            let rule = match (r.record, r.alert) {
                (Some(record), None) => {
                    if !valid_metric_name(&record) {
                        return Err(invalid(format!(
                            "{rat}: invalid recording rule name {record:?}"
                        )));
                    }
                    if r.for_.is_some() || r.keep_firing_for.is_some() || !r.annotations.is_empty()
                    {
                        return Err(invalid(format!("{rat}: recording rule {record:?}: for, keep_firing_for and annotations apply to alerting rules only")));
                    }
                    Rule::Recording {
                        record,
                        expr,
                        labels: r.labels,
                    }
                }
                (None, Some(alert)) => {
                    if alert.is_empty() {
                        return Err(invalid(format!("{rat}: alert name must not be empty")));
                    }
                    Rule::Alerting {
                        for_: dur("for", &r.for_)?.unwrap_or_default(),
                        keep_firing_for: dur("keep_firing_for", &r.keep_firing_for)?
                            .unwrap_or_default(),
                        alert,
                        expr,
                        labels: r.labels,
                        annotations: r.annotations,
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(invalid(format!(
                        "{rat}: a rule has either record or alert, not both"
                    )))
                }
                (None, None) => {
                    return Err(invalid(format!("{rat}: a rule needs record or alert")))
                }
            };
            rules.push(rule);
        }
        groups.push(RuleGroup {
            name: g.name,
            file: path.to_string(),
            interval,
            limit: g.limit,
            query_offset,
            labels: g.labels,
            rules,
        });
    }
    Ok(RuleFile {
        path: path.to_string(),
        groups,
    })
}

/// Expands `rule_files` globs (relative to `base`) and parses every file, sorted by path.
pub fn load_files(patterns: &[String], base: &Path) -> Result<Vec<RuleFile>, RulesError> {
    let mut paths = Vec::new();
    for p in patterns {
        let full = if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            base.join(p)
        };
        let pattern = full.to_string_lossy().into_owned();
        let entries = glob::glob(&pattern).map_err(|e| RulesError::Pattern {
            pattern: p.clone(),
            message: e.to_string(),
        })?;
        for e in entries {
            paths.push(e.map_err(|e| RulesError::Io {
                path: e.path().to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })?);
        }
    }
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|source| RulesError::Io {
                path: p.clone(),
                source,
            })?;
            parse_rule_file(&text, &p.display().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_rule_kinds() {
        let f = parse_rule_file(
            "groups:\n- name: g\n  interval: 30s\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels: {team: a}\n  - alert: Down\n    expr: up == 0\n    for: 5m\n    annotations: {summary: \"{{ $labels.instance }} down\"}\n",
            "r.yml",
        )
        .unwrap();
        let g = &f.groups[0];
        assert_eq!(g.interval, Some(Duration::from_secs(30)));
        assert_eq!(g.rules[0].name(), "job:up:sum");
        assert!(
            matches!(&g.rules[1], Rule::Alerting { for_, .. } if *for_ == Duration::from_secs(300))
        );
    }

    #[test]
    fn errors_name_file_group_and_rule() {
        let e = parse_rule_file(
            "groups:\n- name: g\n  rules:\n  - record: x\n    expr: sum(\n",
            "r.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("r.yml") && e.contains("group \"g\"") && e.contains("rules[0]"),
            "{e}"
        );
        let e = parse_rule_file(
            "groups:\n- name: g\n  rules:\n  - record: 'bad name'\n    expr: up\n",
            "r.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("invalid recording rule name"), "{e}");
        let e = parse_rule_file(
            "groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n",
            "r.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("repeated"), "{e}");
        let e = parse_rule_file("groups:\n- name: g\n  rules:\n  - expr: up\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs record or alert"), "{e}");
        let e = parse_rule_file("groups:\n- name: g\n  bogus: 1\n", "r.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn globs_load_sorted_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("b.rules.yml"),
            "groups:\n- name: b\n  rules: []\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("a.rules.yml"),
            "groups:\n- name: a\n  rules: []\n",
        )
        .unwrap();
        let files = load_files(&["*.rules.yml".to_string()], dir.path()).unwrap();
        assert_eq!(
            files
                .iter()
                .map(|f| f.groups[0].name.as_str())
                .collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }
}
