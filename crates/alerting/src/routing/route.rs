//! The routing tree.
//!
//! Matching follows Alertmanager: an alert enters at the root (which matches everything)
//! and descends depth-first; at each level children are tried in order, the first child
//! that matches wins unless it has `continue: true`, in which case later siblings are
//! tried too. A node whose children all fail to match is itself the match.
//!
//! `receiver`, `group_by`, `group_wait`, `group_interval` and `repeat_interval` are
//! inherited from the parent when unset (root defaults: 30s, 5m, 4h, no grouping).
//! `mute_time_intervals` and `active_time_intervals` are not inherited and are not
//! allowed on the root, as in Alertmanager.
//!
//! Each node has a stable id: the parent's id, `/`, the node's matchers rendered as
//! `{name="value", ...}`, `/`, its index among its siblings; the root is `{}`. So the
//! first child of the root matching `severity="critical"` is `{}/{severity="critical"}/0`.

use std::collections::{BTreeMap, HashSet};

use strix_core::{Labels, Matcher};

use super::config::{check_group_by, compile_matchers, AmDuration, Errs, RouteConfig, ROOT};
use super::matchers::{matches_all, render};
use super::timeinterval::TimeInterval;

/// Alertmanager's default `group_wait`.
pub const DEFAULT_GROUP_WAIT: AmDuration = AmDuration::secs(30);
/// Alertmanager's default `group_interval`.
pub const DEFAULT_GROUP_INTERVAL: AmDuration = AmDuration::secs(300);
/// Alertmanager's default `repeat_interval`.
pub const DEFAULT_REPEAT_INTERVAL: AmDuration = AmDuration::secs(4 * 3600);

/// Index of a route in its [`RouteTree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteRef(pub usize);

/// How a route groups alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `group_by: ['...']`: every label; each distinct label set is its own group.
    All,
    /// These labels (possibly none: one group for the route).
    Labels(Vec<String>),
}

impl GroupBy {
    /// The labels of `alert` that identify its group (absent labels are left out).
    pub fn group_labels(&self, alert: &Labels) -> Labels {
        match self {
            GroupBy::All => alert.clone(),
            GroupBy::Labels(names) => Labels::from_pairs(
                names
                    .iter()
                    .filter_map(|n| alert.get(n).map(|v| (n.as_str(), v))),
            ),
        }
    }
}

/// One node with inherited settings resolved.
#[derive(Debug, Clone)]
pub struct Route {
    pub id: String,
    pub parent: Option<RouteRef>,
    pub children: Vec<RouteRef>,
    pub matchers: Vec<Matcher>,
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: AmDuration,
    pub group_interval: AmDuration,
    pub repeat_interval: AmDuration,
    pub continue_matching: bool,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

impl Route {
    /// Whether notifications from this route are muted at `ts`: inside one of its
    /// `mute_time_intervals`, or outside all of its `active_time_intervals` (if any).
    pub fn muted_at(&self, intervals: &BTreeMap<String, TimeInterval>, ts: i64) -> bool {
        let inside = |name: &String| intervals.get(name).is_some_and(|t| t.contains(ts));
        if self.mute_time_intervals.iter().any(inside) {
            return true;
        }
        !self.active_time_intervals.is_empty() && !self.active_time_intervals.iter().any(inside)
    }
}

/// The compiled routing tree (an arena; index 0 is the root).
#[derive(Debug, Clone)]
pub struct RouteTree {
    routes: Vec<Route>,
}

impl RouteTree {
    /// Compiles and validates `root` (the `route:` key), appending problems to `errs`.
    pub(crate) fn compile(
        root: &RouteConfig,
        receivers: &HashSet<&str>,
        intervals: &BTreeMap<String, super::timeinterval::TimeInterval>,
        errs: &mut Errs,
    ) -> Option<RouteTree> {
        let path = format!("{ROOT}.route");
        let before = errs.0.len();
        if root.receiver.as_deref().is_none_or(str::is_empty) {
            errs.push(
                format!("{path}.receiver"),
                "root route must specify a default receiver",
            );
        }
        if !root.matchers.is_empty() || !root.match_eq.is_empty() || !root.match_re.is_empty() {
            errs.push(path.clone(), "root route must not have any matchers");
        }
        if !root.mute_time_intervals.is_empty() {
            errs.push(
                format!("{path}.mute_time_intervals"),
                "root route must not have any mute time intervals",
            );
        }
        if !root.active_time_intervals.is_empty() {
            errs.push(
                format!("{path}.active_time_intervals"),
                "root route must not have any active time intervals",
            );
        }
        if root.continue_matching {
            errs.push(
                format!("{path}.continue"),
                "cannot have continue in root route",
            );
        }
        let defaults = Route {
            id: String::new(),
            parent: None,
            children: Vec::new(),
            matchers: Vec::new(),
            receiver: String::new(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            continue_matching: false,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        };
        let mut tree = RouteTree { routes: Vec::new() };
        tree.add(root, &defaults, None, 0, &path, receivers, intervals, errs);
        (errs.0.len() == before).then_some(tree)
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        c: &RouteConfig,
        parent: &Route,
        parent_ref: Option<RouteRef>,
        index: usize,
        path: &str,
        receivers: &HashSet<&str>,
        intervals: &BTreeMap<String, TimeInterval>,
        errs: &mut Errs,
    ) -> RouteRef {
        let matchers = compile_matchers(
            &c.matchers,
            &c.match_eq,
            &c.match_re,
            path,
            ("matchers", "match", "match_re"),
            errs,
        );
        if let Some(r) = &c.receiver {
            if !r.is_empty() && !receivers.contains(r.as_str()) {
                errs.push(
                    format!("{path}.receiver"),
                    format!("unknown receiver {r:?}"),
                );
            }
        }
        let group_by = match &c.group_by {
            None => parent.group_by.clone(),
            Some(list) => {
                check_group_by(list, &format!("{path}.group_by"), errs);
                if list.iter().any(|l| l == "...") {
                    GroupBy::All
                } else {
                    GroupBy::Labels(list.clone())
                }
            }
        };
        for (key, list) in [
            ("mute_time_intervals", &c.mute_time_intervals),
            ("active_time_intervals", &c.active_time_intervals),
        ] {
            for (j, name) in list.iter().enumerate() {
                if !intervals.contains_key(name) {
                    errs.push(
                        format!("{path}.{key}[{j}]"),
                        format!("unknown time interval {name:?}"),
                    );
                }
            }
        }
        let group_interval = c.group_interval.unwrap_or(parent.group_interval);
        let repeat_interval = c.repeat_interval.unwrap_or(parent.repeat_interval);
        if c.group_interval.is_some() && group_interval.0.is_zero() {
            errs.push(
                format!("{path}.group_interval"),
                "group_interval cannot be zero",
            );
        }
        if c.repeat_interval.is_some() && repeat_interval.0.is_zero() {
            errs.push(
                format!("{path}.repeat_interval"),
                "repeat_interval cannot be zero",
            );
        }
        let id = match parent_ref {
            None => render(&matchers),
            Some(_) => format!("{}/{}/{index}", parent.id, render(&matchers)),
        };
        let route = Route {
            id,
            parent: parent_ref,
            children: Vec::new(),
            matchers,
            receiver: c
                .receiver
                .clone()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| parent.receiver.clone()),
            group_by,
            group_wait: c.group_wait.unwrap_or(parent.group_wait),
            group_interval,
            repeat_interval,
            continue_matching: c.continue_matching,
            mute_time_intervals: c.mute_time_intervals.clone(),
            active_time_intervals: c.active_time_intervals.clone(),
        };
        let me = RouteRef(self.routes.len());
        self.routes.push(route.clone());
        for (i, child) in c.routes.iter().enumerate() {
            let child_path = format!("{path}.routes[{i}]");
            let r = self.add(
                child,
                &route,
                Some(me),
                i,
                &child_path,
                receivers,
                intervals,
                errs,
            );
            self.routes[me.0].children.push(r);
        }
        me
    }

    pub fn root(&self) -> &Route {
        &self.routes[0]
    }

    /// The route behind `r`. Panics only on a reference from another tree.
    pub fn get(&self, r: RouteRef) -> &Route {
        &self.routes[r.0]
    }

    /// All routes, depth-first.
    pub fn iter(&self) -> impl Iterator<Item = (RouteRef, &Route)> {
        self.routes
            .iter()
            .enumerate()
            .map(|(i, r)| (RouteRef(i), r))
    }

    /// The routes an alert with `labels` is delivered through, in tree order.
    pub fn match_routes(&self, labels: &Labels) -> Vec<RouteRef> {
        let mut out = Vec::new();
        self.match_into(RouteRef(0), labels, &mut out);
        out
    }

    /// The receivers of [`RouteTree::match_routes`], in order (what `amtool config routes
    /// test` prints).
    pub fn receivers_for(&self, labels: &Labels) -> Vec<&str> {
        self.match_routes(labels)
            .into_iter()
            .map(|r| self.get(r).receiver.as_str())
            .collect()
    }

    /// Appends the matches below `node` (including itself) and returns whether it matched.
    fn match_into(&self, node: RouteRef, labels: &Labels, out: &mut Vec<RouteRef>) -> bool {
        let route = self.get(node);
        if !matches_all(&route.matchers, labels) {
            return false;
        }
        let before = out.len();
        for &child in &route.children {
            let matched = self.match_into(child, labels, out);
            if matched && !self.get(child).continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(node);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::AlertmanagerConfig;
    use super::*;

    const TREE: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      group_wait: 10s
      continue: true
    - match: {team: db}
      receiver: db
      group_by: ['...']
      routes:
        - match_re: {env: "prod|stage"}
          receiver: db-prod
          repeat_interval: 1h
        - matchers: ['env="dev"']
    - matchers: ['team=~"web|api"']
      receiver: web
      group_by: [alertname, instance]
      continue: true
    - matchers: ['team="api"']
      receiver: api
receivers: [{name: default}, {name: pager}, {name: db}, {name: db-prod}, {name: web}, {name: api}]
"#;

    fn tree() -> RouteTree {
        AlertmanagerConfig::load(TREE).unwrap().tree
    }

    fn recv(t: &RouteTree, pairs: &[(&str, &str)]) -> Vec<String> {
        t.receivers_for(&Labels::from_pairs(pairs.iter().copied()))
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

    #[test]
    fn routing_table() {
        let t = tree();
        let cases: &[Case] = &[
            (&[("alertname", "x")], &["default"]),
            (&[("severity", "critical")], &["pager"]),
            (
                &[("severity", "critical"), ("team", "db")],
                &["pager", "db"],
            ),
            (&[("team", "db"), ("env", "prod")], &["db-prod"]),
            (&[("team", "db"), ("env", "stage")], &["db-prod"]),
            (&[("team", "db"), ("env", "production")], &["db"]),
            // A child without receiver inherits its parent's.
            (&[("team", "db"), ("env", "dev")], &["db"]),
            (&[("team", "web")], &["web"]),
            (&[("team", "api")], &["web", "api"]),
            (
                &[("severity", "critical"), ("team", "api")],
                &["pager", "web", "api"],
            ),
        ];
        for (labels, want) in cases {
            assert_eq!(recv(&t, labels), *want, "{labels:?}");
        }
    }

    #[test]
    fn inheritance_and_ids() {
        let t = tree();
        let db_prod = t.match_routes(&Labels::from_pairs([("team", "db"), ("env", "prod")]));
        let r = t.get(db_prod[0]);
        assert_eq!(r.id, r#"{}/{team="db"}/1/{env=~"prod|stage"}/0"#);
        assert_eq!(r.group_by, GroupBy::All);
        assert_eq!(r.repeat_interval, AmDuration::secs(3600));
        assert_eq!(r.group_wait, DEFAULT_GROUP_WAIT);
        let pager = t.get(t.match_routes(&Labels::from_pairs([("severity", "critical")]))[0]);
        assert_eq!(pager.id, r#"{}/{severity="critical"}/0"#);
        assert_eq!(pager.group_by, GroupBy::Labels(vec!["alertname".into()]));
        assert_eq!(pager.group_wait, AmDuration::secs(10));
        assert_eq!(t.root().id, "{}");
        assert_eq!(t.root().repeat_interval, DEFAULT_REPEAT_INTERVAL);
    }

    #[test]
    fn group_labels() {
        let l = Labels::from_pairs([("alertname", "A"), ("instance", "i"), ("job", "j")]);
        assert_eq!(GroupBy::All.group_labels(&l), l);
        let g = GroupBy::Labels(vec!["alertname".into(), "missing".into()]).group_labels(&l);
        assert_eq!(g, Labels::from_pairs([("alertname", "A")]));
        assert!(GroupBy::Labels(vec![]).group_labels(&l).is_empty());
    }

    #[test]
    fn validation_names_paths() {
        let bad = r#"
route:
  receiver: default
  routes:
    - receiver: a
    - receiver: b
    - receiver: x
      group_by: ['...', alertname]
      mute_time_intervals: [nope]
    - matchers: ['a=~"("']
      group_interval: 0s
receivers: [{name: default}, {name: a}, {name: b}]
"#;
        let e = AlertmanagerConfig::load(bad).unwrap_err();
        assert!(
            e.has(
                "alertmanager.route.routes[2].receiver",
                r#"unknown receiver "x""#
            ),
            "{e}"
        );
        assert!(
            e.has("alertmanager.route.routes[2].group_by[0]", "wildcard"),
            "{e}"
        );
        assert!(
            e.has(
                "alertmanager.route.routes[2].mute_time_intervals[0]",
                "unknown time interval \"nope\""
            ),
            "{e}"
        );
        assert!(
            e.has(
                "alertmanager.route.routes[3].matchers[0]",
                "invalid matcher"
            ),
            "{e}"
        );
        assert!(
            e.has(
                "alertmanager.route.routes[3].group_interval",
                "cannot be zero"
            ),
            "{e}"
        );
        assert_eq!(
            e.0.iter()
                .find(|x| x.path.ends_with("routes[2].receiver"))
                .unwrap()
                .to_string(),
            r#"alertmanager.route.routes[2].receiver: unknown receiver "x""#
        );
        let e =
            AlertmanagerConfig::load("route: {matchers: ['a=\"b\"']}\nreceivers: [{name: a}]\n")
                .unwrap_err();
        assert!(
            e.has("alertmanager.route.receiver", "default receiver"),
            "{e}"
        );
        assert!(
            e.has("alertmanager.route", "must not have any matchers"),
            "{e}"
        );
    }
}
