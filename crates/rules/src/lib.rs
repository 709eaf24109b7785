//! Rule files in Prometheus' format and the evaluation of recording rules.
//!
//! - [`file`]: parsing and validating rule files (`groups:` with `record:` and `alert:`
//!   rules), errors naming the file, group and rule.
//! - [`manager`]: loads files matched by `rule_files` globs, evaluates each group on its
//!   interval on one background thread, writes recording-rule results back through
//!   [`strix_core::storage::Appendable`], and marks series that a rule stopped producing
//!   stale, as Prometheus does. Alerting rules are parsed and listed; their evaluation
//!   belongs to the alerting layer.
#![forbid(unsafe_code)]

pub mod alerting;
pub mod file;
pub mod kpi;
pub mod manager;
pub mod template;

pub use alerting::{AlertInstance, AlertInstanceState, AlertNotifier, NotifyAlert};
pub use file::{load_files, parse_rule_file, Rule, RuleFile, RuleGroup, RulesError};
pub use manager::{GroupStatus, RuleManager, RuleManagerOptions, RuleStatus, TriggeringAppender};
