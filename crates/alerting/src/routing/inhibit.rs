//! Inhibition: a firing *source* alert mutes *target* alerts.
//!
//! A target is inhibited by a rule when it matches the rule's target matchers and some
//! other alert that fires at that instant matches the source matchers and has the same
//! value for every label in `equal` (a label absent on both sides counts as equal, as
//! in Alertmanager). An alert never inhibits itself, even when it matches both sides.
//! `source_matchers`/`target_matchers` and the legacy `source_match[_re]`/
//! `target_match[_re]` maps are merged by [`AlertmanagerConfig::compile`].
//!
//! [`AlertmanagerConfig::compile`]: super::config::AlertmanagerConfig::compile

use strix_core::{Matcher, Timestamp};

use super::group::AlertInput;
use super::matchers::matches_all;

/// One compiled `inhibit_rules:` entry.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    pub source_matchers: Vec<Matcher>,
    pub target_matchers: Vec<Matcher>,
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// Whether `source` (assumed firing) inhibits `target` under this rule.
    pub fn inhibits(&self, source: &AlertInput, target: &AlertInput) -> bool {
        source.fingerprint != target.fingerprint
            && matches_all(&self.target_matchers, &target.labels)
            && matches_all(&self.source_matchers, &source.labels)
            && self
                .equal
                .iter()
                .all(|l| source.labels.get(l).unwrap_or("") == target.labels.get(l).unwrap_or(""))
    }
}

/// Whether `target` is inhibited at `now` by any rule, given the known alerts
/// (resolved ones are ignored as sources).
pub fn is_inhibited<'a>(
    rules: &[InhibitRule],
    target: &AlertInput,
    alerts: impl IntoIterator<Item = &'a AlertInput> + Clone,
    now: Timestamp,
) -> bool {
    rules.iter().any(|rule| {
        matches_all(&rule.target_matchers, &target.labels)
            && alerts
                .clone()
                .into_iter()
                .any(|s| !s.is_resolved_at(now) && rule.inhibits(s, target))
    })
}

/// The rules plus a snapshot of firing source candidates, for repeated checks.
#[derive(Debug, Clone)]
pub struct Inhibitor {
    rules: Vec<InhibitRule>,
    /// Per rule, the alerts matching its source side.
    sources: Vec<Vec<AlertInput>>,
}

impl Inhibitor {
    /// Indexes the firing alerts in `alerts` that could act as sources at `now`.
    pub fn new<'a>(
        rules: &[InhibitRule],
        alerts: impl IntoIterator<Item = &'a AlertInput>,
        now: Timestamp,
    ) -> Self {
        let mut sources = vec![Vec::new(); rules.len()];
        for a in alerts {
            if a.is_resolved_at(now) {
                continue;
            }
            for (i, r) in rules.iter().enumerate() {
                if matches_all(&r.source_matchers, &a.labels) {
                    sources[i].push(a.clone());
                }
            }
        }
        Inhibitor {
            rules: rules.to_vec(),
            sources,
        }
    }

    /// Whether `target` is inhibited.
    pub fn is_inhibited(&self, target: &AlertInput) -> bool {
        self.rules
            .iter()
            .zip(&self.sources)
            .any(|(r, srcs)| srcs.iter().any(|s| r.inhibits(s, target)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::AlertmanagerConfig;
    use super::*;
    use strix_core::Labels;

    const T0: i64 = 1_700_000_000_000;

    fn rules(yaml: &str) -> Vec<InhibitRule> {
        let full =
            format!("route: {{receiver: r}}\nreceivers: [{{name: r}}]\ninhibit_rules:\n{yaml}");
        AlertmanagerConfig::load(&full).unwrap().inhibit_rules
    }

    fn a(pairs: &[(&str, &str)]) -> AlertInput {
        let mut x = AlertInput::firing(Labels::from_pairs(pairs.iter().copied()), T0);
        x.ends_at = Some(T0 + 3_600_000);
        x
    }

    #[test]
    fn critical_inhibits_warning_on_same_cluster() {
        let r = rules("  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n    equal: [cluster, alertname]\n");
        let src = a(&[
            ("alertname", "Down"),
            ("severity", "critical"),
            ("cluster", "eu"),
        ]);
        let tgt = a(&[
            ("alertname", "Down"),
            ("severity", "warning"),
            ("cluster", "eu"),
        ]);
        let other = a(&[
            ("alertname", "Down"),
            ("severity", "warning"),
            ("cluster", "us"),
        ]);
        let all = [src.clone(), tgt.clone(), other.clone()];
        assert!(is_inhibited(&r, &tgt, &all, T0));
        assert!(!is_inhibited(&r, &other, &all, T0));
        assert!(!is_inhibited(&r, &src, &all, T0));
        let inh = Inhibitor::new(&r, &all, T0);
        assert!(inh.is_inhibited(&tgt));
        assert!(!inh.is_inhibited(&other));
        // A resolved source inhibits nothing.
        let mut gone = src.clone();
        gone.ends_at = Some(T0 - 1);
        assert!(!is_inhibited(&r, &tgt, &[gone, tgt.clone()], T0));
    }

    #[test]
    fn legacy_maps_and_absent_equal_labels() {
        let r = rules("  - source_match: {alertname: NodeDown}\n    target_match_re: {alertname: '.+'}\n    equal: [node]\n");
        let src = a(&[("alertname", "NodeDown")]);
        let tgt = a(&[("alertname", "DiskFull")]);
        // `node` absent on both: equal.
        assert!(is_inhibited(&r, &tgt, std::slice::from_ref(&src), T0));
        let tgt2 = a(&[("alertname", "DiskFull"), ("node", "n1")]);
        assert!(!is_inhibited(&r, &tgt2, std::slice::from_ref(&src), T0));
    }

    #[test]
    fn source_never_inhibits_itself() {
        let r = rules("  - source_matchers: ['alertname=~\".+\"']\n    target_matchers: ['alertname=~\".+\"']\n");
        let x = a(&[("alertname", "X")]);
        assert!(!is_inhibited(&r, &x, std::slice::from_ref(&x), T0));
        let y = a(&[("alertname", "Y")]);
        assert!(is_inhibited(&r, &x, &[x.clone(), y.clone()], T0));
    }

    #[test]
    fn bad_rule_names_its_path() {
        let full = "route: {receiver: r}\nreceivers: [{name: r}]\ninhibit_rules:\n  - source_matchers: ['a=~\"(\"']\n    target_match_re: {b: '['}\n";
        let e = AlertmanagerConfig::load(full).unwrap_err();
        assert!(
            e.has(
                "alertmanager.inhibit_rules[0].source_matchers[0]",
                "invalid"
            ),
            "{e}"
        );
        assert!(
            e.has(
                "alertmanager.inhibit_rules[0].target_match_re.b",
                "invalid regular expression"
            ),
            "{e}"
        );
    }
}
