//! Categorisation and assignment: severity, category, priority with a response-time
//! target, and the team that owns the fix.
//!
//! Rules are checked in order — the configured ones first, then (unless switched off)
//! the runbook defaults of [`default_rules`] — and the **first** rule that matches
//! decides. A rule matches when every matcher it sets matches: case-insensitive regexes
//! on the message, the exception (`Type: value` of each exception), the rendered stack
//! (`module.function (file:line)` per frame), the component and the logger, plus
//! conditions on any member of the raw event by dotted path, such as
//! `extra.response_time_ms > 5000`. What the rule leaves out is filled in: priority from
//! severity (critical → P0, high → P1, medium → P2, low → P3), the team from the
//! component's keywords, else from the category. No matching rule: severity follows the
//! level and the category the JSON API `type` tag.

use std::fmt;
use std::time::Duration;

use regex::{Regex, RegexSet, SetMatches};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::json::{self, Json, Node};
use crate::normalize::{Level, NormalizedEvent};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The priority a severity gets when a rule names none.
    pub fn priority(self) -> Priority {
        match self {
            Severity::Critical => Priority::P0,
            Severity::High => Priority::P1,
            Severity::Medium => Priority::P2,
            Severity::Low => Priority::P3,
        }
    }

    fn from_level(l: Level) -> Severity {
        match l {
            Level::Fatal => Severity::Critical,
            Level::Error => Severity::Medium,
            Level::Warning | Level::Info | Level::Debug => Severity::Low,
        }
    }
}

/// What kind of problem an error is. A fixed set so dashboards and metrics labels stay
/// bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    System,
    Security,
    Performance,
    Payment,
    Auth,
    Cache,
    Sync,
    Validation,
    Database,
    Network,
    Api,
    Frontend,
    Unknown,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::System => "system",
            Category::Security => "security",
            Category::Performance => "performance",
            Category::Payment => "payment",
            Category::Auth => "auth",
            Category::Cache => "cache",
            Category::Sync => "sync",
            Category::Validation => "validation",
            Category::Database => "database",
            Category::Network => "network",
            Category::Api => "api",
            Category::Frontend => "frontend",
            Category::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    P0,
    P1,
    P2,
    P3,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P0 => "P0",
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
        }
    }
}

/// How fast each priority must get a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseTargets {
    #[serde(with = "duration_str")]
    pub p0: Duration,
    #[serde(with = "duration_str")]
    pub p1: Duration,
    #[serde(with = "duration_str")]
    pub p2: Duration,
    #[serde(with = "duration_str")]
    pub p3: Duration,
}

impl Default for ResponseTargets {
    fn default() -> Self {
        ResponseTargets {
            p0: Duration::from_secs(15 * 60),
            p1: Duration::from_secs(60 * 60),
            p2: Duration::from_secs(4 * 60 * 60),
            p3: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl ResponseTargets {
    pub fn get(&self, p: Priority) -> Duration {
        match p {
            Priority::P0 => self.p0,
            Priority::P1 => self.p1,
            Priority::P2 => self.p2,
            Priority::P3 => self.p3,
        }
    }
}

mod duration_str {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// One categorisation rule. Every matcher set must match; at least one must be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Shown in the result, for explaining a decision.
    pub name: String,
    /// Regex on the message or the main exception's `Type: value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Regex on each exception's `Type: value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// Regex on the rendered stack trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// Regex on the component (`component` tag or `extra.component`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Regex on the logger name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<String>,
    /// Regex on the message and every exception's `Type: value`: matches if either does.
    /// The runbook defaults use this (not the stack, where library module names such as
    /// `cache` would match everywhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Conditions on the raw event: `extra.response_time_ms > 5000`, `tags.env == prod`,
    /// `request.method ~= ^POST$`, `user.id exists`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// A team owning components whose name matches `keyword` (a case-insensitive regex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamRule {
    pub keyword: String,
    pub team: String,
}

/// The `categorize` config section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CategorizeConfig {
    /// Rules checked before the defaults.
    pub rules: Vec<Rule>,
    /// Append the runbook defaults ([`default_rules`]).
    pub default_rules: bool,
    /// Component keyword → team, checked before the defaults.
    pub teams: Vec<TeamRule>,
    /// Append the default keyword → team map ([`default_teams`]).
    pub default_teams: bool,
    /// Team when nothing else assigns one.
    pub default_team: Option<String>,
    pub response_targets: ResponseTargets,
}

impl Default for CategorizeConfig {
    fn default() -> Self {
        CategorizeConfig {
            rules: Vec::new(),
            default_rules: true,
            teams: Vec::new(),
            default_teams: true,
            default_team: None,
            response_targets: ResponseTargets::default(),
        }
    }
}

/// The outcome for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Categorization {
    pub severity: Severity,
    pub category: Category,
    pub priority: Priority,
    /// The response-time target of `priority`, in seconds.
    pub response_target_secs: u64,
    pub team: Option<String>,
    pub component: Option<String>,
    /// The rule that decided, `None` when none matched.
    pub rule: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
    Matches,
    Exists,
}

#[derive(Debug, Clone)]
struct Condition {
    path: String,
    op: Op,
    number: Option<f64>,
    text: String,
    re: Option<Regex>,
}

#[derive(Debug, Clone)]
struct Compiled {
    rule: Rule,
    message: Option<Regex>,
    exception: Option<Regex>,
    stack: Option<Regex>,
    component: Option<Regex>,
    logger: Option<Regex>,
    text: Option<Regex>,
    /// Index of `text` in [`Categorizer::text_set`].
    text_in_set: Option<usize>,
    when: Vec<Condition>,
}

/// A compiled [`CategorizeConfig`].
#[derive(Debug, Clone)]
pub struct Categorizer {
    rules: Vec<Compiled>,
    /// Whether any rule looks at the rendered stack (else it is not rendered).
    needs_stack: bool,
    /// Every rule's `text` regex, run once over the message and once over the exceptions
    /// instead of once per rule (the runbook defaults are all `text` rules).
    text_set: Option<RegexSet>,
    teams: Vec<(Regex, String)>,
    default_team: Option<String>,
    targets: ResponseTargets,
}

fn ci(what: &str, p: &str) -> Result<Regex, Error> {
    Regex::new(&format!("(?i){p}")).map_err(|e| Error::Config(format!("{what} {p:?}: {e}")))
}

fn parse_condition(rule: &str, s: &str) -> Result<Condition, Error> {
    let bad = |m: &str| Error::Config(format!("rule {rule:?}: condition {s:?}: {m}"));
    let t = s.trim();
    if let Some(path) = t.strip_suffix(" exists") {
        return Ok(Condition {
            path: path.trim().to_owned(),
            op: Op::Exists,
            number: None,
            text: String::new(),
            re: None,
        });
    }
    let ops = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("~=", Op::Matches),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];
    let (path, op, value) = ops
        .iter()
        .find_map(|(tok, op)| {
            let (l, r) = t.split_once(&format!(" {tok} "))?;
            Some((l.trim(), *op, r.trim()))
        })
        .ok_or_else(|| {
            bad("expected `path OP value` with OP one of > >= < <= == != ~=, or `path exists`")
        })?;
    if path.is_empty() || path.contains(' ') {
        return Err(bad("the path must be dotted, without spaces"));
    }
    let text = value.trim_matches('"').to_owned();
    let number = value.parse::<f64>().ok();
    if matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le) && number.is_none() {
        return Err(bad("comparison needs a number"));
    }
    let re = match op {
        Op::Matches => Some(ci(&format!("rule {rule:?} condition"), &text)?),
        _ => None,
    };
    Ok(Condition {
        path: path.to_owned(),
        op,
        number,
        text,
        re,
    })
}

impl Condition {
    fn holds<'a, J: Json<'a>>(&self, raw: J) -> bool {
        let v = json::lookup(raw, &self.path).or_else(|| {
            // `metadata.x` is what the JSON API calls `extra.x`.
            self.path
                .strip_prefix("metadata.")
                .and_then(|p| json::lookup(raw, &format!("extra.{p}")))
        });
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return self.op == Op::Ne;
        };
        let as_num = match v.node() {
            Node::Number => v.as_f64(),
            Node::Str(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        let as_text = match v.node() {
            Node::Str(s) => s.to_owned(),
            _ => v.to_value().to_string(),
        };
        let cmp = |f: fn(f64, f64) -> bool| matches!((as_num, self.number), (Some(a), Some(b)) if f(a, b));
        match self.op {
            Op::Exists => true,
            Op::Gt => cmp(|a, b| a > b),
            Op::Ge => cmp(|a, b| a >= b),
            Op::Lt => cmp(|a, b| a < b),
            Op::Le => cmp(|a, b| a <= b),
            Op::Eq => match (as_num, self.number) {
                (Some(a), Some(b)) => a == b,
                _ => as_text.eq_ignore_ascii_case(&self.text),
            },
            Op::Ne => match (as_num, self.number) {
                (Some(a), Some(b)) => a != b,
                _ => !as_text.eq_ignore_ascii_case(&self.text),
            },
            Op::Matches => self.re.as_ref().is_some_and(|r| r.is_match(&as_text)),
        }
    }
}

impl Categorizer {
    /// Compiles `config`; a bad regex or condition is an [`Error::Config`] naming the rule.
    pub fn new(config: &CategorizeConfig) -> Result<Self, Error> {
        let mut rules: Vec<Rule> = config.rules.clone();
        if config.default_rules {
            rules.extend(default_rules());
        }
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            let what = |f: &str| format!("rule {:?} {f}", rule.name);
            let opt =
                |f: &str, p: &Option<String>| p.as_deref().map(|p| ci(&what(f), p)).transpose();
            let c = Compiled {
                message: opt("message", &rule.message)?,
                exception: opt("exception", &rule.exception)?,
                stack: opt("stack", &rule.stack)?,
                component: opt("component", &rule.component)?,
                logger: opt("logger", &rule.logger)?,
                text: opt("text", &rule.text)?,
                text_in_set: None,
                when: rule
                    .when
                    .iter()
                    .map(|w| parse_condition(&rule.name, w))
                    .collect::<Result<_, _>>()?,
                rule,
            };
            let has_matcher = c.message.is_some()
                || c.exception.is_some()
                || c.stack.is_some()
                || c.component.is_some()
                || c.logger.is_some()
                || c.text.is_some()
                || !c.when.is_empty();
            if !has_matcher {
                return Err(Error::Config(format!(
                    "rule {:?} has no matcher (message, exception, stack, component, logger, text or when)",
                    c.rule.name
                )));
            }
            compiled.push(c);
        }
        let mut text_srcs = Vec::new();
        for c in &mut compiled {
            if let Some(p) = &c.rule.text {
                c.text_in_set = Some(text_srcs.len());
                text_srcs.push(format!("(?i){p}"));
            }
        }
        // Each pattern compiled on its own above; should the set still not build (too
        // big), every rule runs its own regex.
        let text_set = match RegexSet::new(&text_srcs) {
            Ok(set) if !text_srcs.is_empty() => Some(set),
            _ => {
                compiled.iter_mut().for_each(|c| c.text_in_set = None);
                None
            }
        };
        let mut team_rules = config.teams.clone();
        if config.default_teams {
            team_rules.extend(default_teams());
        }
        let teams = team_rules
            .into_iter()
            .map(|t| {
                Ok((
                    ci(&format!("team {:?} keyword", t.team), &t.keyword)?,
                    t.team,
                ))
            })
            .collect::<Result<_, Error>>()?;
        Ok(Categorizer {
            needs_stack: compiled.iter().any(|c| c.stack.is_some()),
            text_set,
            rules: compiled,
            teams,
            default_team: config.default_team.clone(),
            targets: config.response_targets,
        })
    }

    /// Categorises one event.
    pub fn categorize(&self, e: &NormalizedEvent) -> Categorization {
        match (&e.raw, &e.raw_text) {
            (Some(raw), _) => self.categorize_in(e, raw),
            (None, Some(text)) => json::with_tape(text, |t| self.categorize_in(e, t))
                .unwrap_or_else(|| self.categorize_in(e, &Value::Null)),
            (None, None) => self.categorize_in(e, &Value::Null),
        }
    }

    /// [`categorize`](Self::categorize) with the raw event read from `raw` (conditions
    /// on its members, the `extra.component` fallback).
    pub(crate) fn categorize_in<'a, J: Json<'a>>(
        &self,
        e: &NormalizedEvent,
        raw: J,
    ) -> Categorization {
        let facts = Facts::of(e, raw, self.needs_stack);
        let text_hits = self
            .text_set
            .as_ref()
            .map(|set| (set.matches(&facts.message), set.matches(&facts.exception)));
        let matched = self
            .rules
            .iter()
            .find(|c| c.matches(&facts, raw, text_hits.as_ref()));
        let (severity, category, priority, team, rule) = match matched {
            Some(c) => {
                let sev = c.rule.severity.unwrap_or(Severity::from_level(e.level));
                let cat = c.rule.category.unwrap_or_else(|| fallback_category(e));
                (
                    sev,
                    cat,
                    c.rule.priority.unwrap_or(sev.priority()),
                    c.rule.team.clone(),
                    Some(c.rule.name.clone()),
                )
            }
            None => {
                let sev = Severity::from_level(e.level);
                (sev, fallback_category(e), sev.priority(), None, None)
            }
        };
        let team = team
            .or_else(|| {
                let comp = facts.component.as_deref()?;
                self.teams
                    .iter()
                    .find(|(re, _)| re.is_match(comp))
                    .map(|(_, t)| t.clone())
            })
            .or_else(|| category_team(category).map(str::to_owned))
            .or_else(|| self.default_team.clone());
        Categorization {
            severity,
            category,
            priority,
            response_target_secs: self.targets.get(priority).as_secs(),
            team,
            component: facts.component,
            rule,
        }
    }
}

/// The texts rules look at, rendered once per event.
struct Facts {
    message: String,
    exception: String,
    /// Rendered only when a rule has a `stack` matcher.
    stack: Option<String>,
    component: Option<String>,
    logger: String,
}

impl Facts {
    fn of<'a, J: Json<'a>>(e: &NormalizedEvent, raw: J, with_stack: bool) -> Facts {
        let exception = e
            .exception
            .iter()
            .map(|x| {
                format!(
                    "{}: {}",
                    x.ty.as_deref().unwrap_or_default(),
                    x.value.as_deref().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut message = e.message.clone().unwrap_or_default();
        if let Some(x) = e.main_exception() {
            if !message.is_empty() {
                message.push('\n');
            }
            message.push_str(x.ty.as_deref().unwrap_or_default());
            message.push_str(": ");
            message.push_str(x.value.as_deref().unwrap_or_default());
        }
        let stack = with_stack.then(|| render_stack(e));
        let component =
            e.tags.get("component").cloned().or_else(|| {
                json::lookup(raw, "extra.component").and_then(crate::normalize::str_of)
            });
        Facts {
            message,
            exception,
            stack,
            component,
            logger: e.logger.clone().unwrap_or_default(),
        }
    }
}

/// `module.function (file:line)` per frame, one a line.
fn render_stack(e: &NormalizedEvent) -> String {
    e.exception
        .iter()
        .flat_map(|x| &x.frames)
        .chain(&e.stacktrace)
        .map(|f| {
            let module = f.module.as_deref().unwrap_or_default();
            let sep = if module.is_empty() { "" } else { "." };
            format!(
                "{module}{sep}{} ({}:{})",
                f.function.as_deref().unwrap_or("?"),
                f.filename
                    .as_deref()
                    .or(f.abs_path.as_deref())
                    .unwrap_or("?"),
                f.lineno.unwrap_or(0)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Compiled {
    /// `text_hits`: which `text` patterns the message and the exceptions match.
    fn matches<'a, J: Json<'a>>(
        &self,
        f: &Facts,
        raw: J,
        text_hits: Option<&(SetMatches, SetMatches)>,
    ) -> bool {
        let ok = |re: &Option<Regex>, s: &str| re.as_ref().is_none_or(|r| r.is_match(s));
        ok(&self.message, &f.message)
            && ok(&self.exception, &f.exception)
            && self
                .stack
                .as_ref()
                .is_none_or(|r| r.is_match(f.stack.as_deref().unwrap_or_default()))
            && self
                .component
                .as_ref()
                .is_none_or(|r| f.component.as_deref().is_some_and(|c| r.is_match(c)))
            && ok(&self.logger, &f.logger)
            && self
                .text
                .as_ref()
                .is_none_or(|r| match (text_hits, self.text_in_set) {
                    (Some((message, exception)), Some(i)) => {
                        message.matched(i) || exception.matched(i)
                    }
                    _ => r.is_match(&f.message) || r.is_match(&f.exception),
                })
            && self.when.iter().all(|c| c.holds(raw))
    }
}

/// The category when no rule names one: from the JSON API `error_type` tag.
fn fallback_category(e: &NormalizedEvent) -> Category {
    match e.tags.get("error_type").map(String::as_str) {
        Some("auth") => Category::Auth,
        Some("validation") => Category::Validation,
        Some("system") => Category::System,
        Some("api") => Category::Api,
        Some("javascript") => Category::Frontend,
        _ if e.platform == "javascript" => Category::Frontend,
        _ => Category::Unknown,
    }
}

fn category_team(c: Category) -> Option<&'static str> {
    Some(match c {
        Category::Payment => "payments",
        Category::Auth => "identity",
        Category::Security => "security",
        Category::System | Category::Database | Category::Cache | Category::Performance => {
            "platform"
        }
        Category::Network | Category::Sync => "platform",
        Category::Frontend => "frontend",
        Category::Api | Category::Validation => "backend",
        Category::Unknown => return None,
    })
}

fn rule(name: &str, text: &str, severity: Severity, category: Category) -> Rule {
    Rule {
        name: name.into(),
        text: Some(text.into()),
        severity: Some(severity),
        category: Some(category),
        ..Rule::default()
    }
}

/// The runbook defaults, in the order they are checked.
pub fn default_rules() -> Vec<Rule> {
    use Category as C;
    use Severity as S;
    vec![
        rule(
            "sql-injection-attempt",
            r"sql injection|union\s+(all\s+)?select|'\s*or\s*'?1'?\s*=\s*'?1|;\s*drop\s+table",
            S::Critical,
            C::Security,
        ),
        rule(
            "database-connection-failed",
            r"database connection (failed|error|refused|lost|closed)|(could not|unable to|failed to|cannot) connect to (the )?(database|db|postgres|mysql|mongo)|connection to (the )?database|too many (database )?connections|OperationalError|SequelizeConnection|ECONNREFUSED.*:(5432|3306|27017)\b",
            S::Critical,
            C::Database,
        ),
        rule(
            "payment-processing-failed",
            r"payment (processing )?(failed|failure|error|declined)|(charge|transaction|checkout) failed|(stripe|paypal|braintree|adyen)\w*\s*(error|exception|failed)",
            S::Critical,
            C::Payment,
        ),
        rule(
            "authentication-service-down",
            r"auth(entication)? (service|server|provider) (is )?(down|unavailable|unreachable|not responding)|(identity|oauth|sso|ldap|idp) (provider|server|service) (is )?(down|unavailable|unreachable|error)",
            S::Critical,
            C::Auth,
        ),
        rule(
            "file-system-error",
            r"file ?system error|ENOSPC|no space left on device|read-only file system|\bEIO\b|disk (is )?(full|error|failure)|I/O error",
            S::Critical,
            C::System,
        ),
        rule(
            "out-of-memory",
            r"out of memory|\bOOM\b|MemoryError|heap out of memory|\bENOMEM\b|cannot allocate memory|allocation failed",
            S::Critical,
            C::System,
        ),
        rule(
            "unauthorized-access",
            r"unauthori[sz]ed( access)?|access denied|forbidden",
            S::High,
            C::Security,
        ),
        rule(
            "csrf-token-invalid",
            r"\b(csrf|xsrf)\b",
            S::High,
            C::Security,
        ),
        rule(
            "rate-limit-exceeded",
            r"rate.?limit|too many requests|throttl",
            S::High,
            C::Security,
        ),
        rule(
            "webhook-signature-invalid",
            r"(webhook )?signature (is )?(invalid|mismatch|verification failed)|invalid (webhook )?signature",
            S::High,
            C::Security,
        ),
        rule(
            "timeout",
            r"timed? ?out|timeout|ETIMEDOUT|ESOCKETTIMEDOUT|deadline exceeded|took too long",
            S::Medium,
            C::Performance,
        ),
        Rule {
            name: "slow-response".into(),
            when: vec!["extra.response_time_ms > 5000".into()],
            severity: Some(S::Medium),
            category: Some(C::Performance),
            ..Rule::default()
        },
        rule(
            "slow-response-text",
            r"slow (response|query|request|page)",
            S::Medium,
            C::Performance,
        ),
        rule(
            "network-error",
            r"ECONNRESET|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|socket hang up|network ?error|failed to fetch|connection (reset|refused)",
            S::High,
            C::Network,
        ),
        rule(
            "auth-failure",
            r"(login|authentication|auth|sign.?in) (failed|failure|error)|invalid (credentials|password|token)|token (has )?expired|jwt (expired|malformed)",
            S::Medium,
            C::Auth,
        ),
        rule(
            "sync-failure",
            r"sync(hroni[sz]ation)? (failed|error|conflict)|replication (lag|error|failed)|version conflict",
            S::Medium,
            C::Sync,
        ),
        rule(
            "cache-error",
            r"\b(cache|redis|memcached?)\b",
            S::Low,
            C::Cache,
        ),
        rule(
            "validation-error",
            r"validation|ValidationError|invalid (input|parameter|argument|format|value)|required field|is required",
            S::Low,
            C::Validation,
        ),
    ]
}

/// The default component keyword → team map.
pub fn default_teams() -> Vec<TeamRule> {
    [
        (r"payment|billing|checkout|invoice|stripe", "payments"),
        (r"auth|login|identity|session|oauth|sso|account", "identity"),
        (
            r"\bdb\b|database|sql|postgres|mysql|mongo|redis|cache|queue|infra|storage|disk|worker",
            "platform",
        ),
        (
            r"\bui\b|frontend|web|browser|react|vue|angular|page|component",
            "frontend",
        ),
        (r"api|backend|server|service|gateway", "backend"),
        (r"sync|replication|import|export|etl", "data"),
    ]
    .into_iter()
    .map(|(k, t)| TeamRule {
        keyword: k.into(),
        team: t.into(),
    })
    .collect()
}

#[cfg(test)]
#[path = "categorize_tests.rs"]
mod tests;
