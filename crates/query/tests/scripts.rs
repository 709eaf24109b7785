//! Runs the promqltest-style scripts in `tests/scripts/*.test` against an in-memory store.
//!
//! Script syntax (a subset of Prometheus' promqltest):
//!
//! ```text
//! load 10s
//!   metric{job="a"} 0+10x5 _ stale 3 _x2 1x3
//! clear
//! eval instant at 50s <expr>           # unordered vector / scalar
//!   metric{job="a"} 50
//! eval_ordered instant at 50s <expr>   # order matters
//! eval_fail instant at 50s <expr>
//!   expected_fail_message <substring>
//!   expected_fail_type <Prometheus errorType, e.g. execution>
//! eval range from 0 to 1m step 10s <expr>
//!   {job="a"} 1 2 _ 4 ...
//! ```
#![allow(clippy::expect_used)]

use std::path::Path;

use strix_core::storage::{Queryable, RollupTier, SeriesRollup, SeriesSamples, StorageError};
use strix_core::{Labels, Matcher, Sample, Timestamp, STALE_NAN};
use strix_query::{Engine, EngineOptions, QueryValue};

#[derive(Default)]
struct MemStorage {
    series: Vec<SeriesSamples>,
}

impl MemStorage {
    fn add(&mut self, labels: Labels, samples: Vec<Sample>) {
        match self.series.iter_mut().find(|s| s.labels == labels) {
            Some(s) => {
                s.samples.extend(samples);
                s.samples.sort_by_key(|x| x.t);
            }
            None => self.series.push(SeriesSamples { labels, samples }),
        }
        self.series.sort_by(|a, b| a.labels.cmp(&b.labels));
    }

    fn matching<'a>(&'a self, m: &'a [Matcher]) -> impl Iterator<Item = &'a SeriesSamples> + 'a {
        self.series.iter().filter(move |s| {
            m.iter()
                .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
        })
    }
}

impl Queryable for MemStorage {
    fn select(
        &self,
        m: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SeriesSamples>, StorageError> {
        Ok(self
            .matching(m)
            .map(|s| SeriesSamples {
                labels: s.labels.clone(),
                samples: s
                    .samples
                    .iter()
                    .filter(|x| x.t >= start && x.t <= end)
                    .copied()
                    .collect(),
            })
            .filter(|s| !s.samples.is_empty())
            .collect())
    }
    fn series(
        &self,
        m: &[Matcher],
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Vec<Labels>, StorageError> {
        Ok(self.matching(m).map(|s| s.labels.clone()).collect())
    }
    fn label_names(
        &self,
        _: &[Matcher],
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Vec<String>, StorageError> {
        Ok(vec![])
    }
    fn label_values(
        &self,
        _: &str,
        _: &[Matcher],
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Vec<String>, StorageError> {
        Ok(vec![])
    }
    fn select_rollup(
        &self,
        _: RollupTier,
        _: &[Matcher],
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Vec<SeriesRollup>, StorageError> {
        Ok(vec![])
    }
}

fn parse_duration_ms(s: &str) -> i64 {
    if let Ok(n) = s.parse::<i64>() {
        return n * 1000;
    }
    if let Ok(f) = s.parse::<f64>() {
        return (f * 1000.0).round() as i64;
    }
    let d = strix_core::duration::parse(s).unwrap_or_else(|e| panic!("bad duration {s:?}: {e}"));
    d.as_millis() as i64
}

/// Parses `name{a="b", c="d"}` (name and braces optional) and returns the rest of the line.
fn parse_labels(s: &str) -> (Labels, &str) {
    let s = s.trim_start();
    let name_end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    let mut pairs: Vec<(String, String)> = Vec::new();
    if name_end > 0 {
        pairs.push(("__name__".into(), s[..name_end].to_string()));
    }
    let mut rest = &s[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let mut end = r.len();
        loop {
            while matches!(chars.peek(), Some((_, c)) if c.is_whitespace() || *c == ',') {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    end = i + 1;
                    break;
                }
                None => break,
                _ => {}
            }
            let mut name = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c == '=' || c.is_whitespace() {
                    break;
                }
                name.push(c);
                chars.next();
            }
            while matches!(chars.peek(), Some((_, c)) if c.is_whitespace() || *c == '=') {
                chars.next();
            }
            assert!(
                matches!(chars.next(), Some((_, '"'))),
                "expected quote in {s:?}"
            );
            let mut value = String::new();
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(match n {
                                'n' => '\n',
                                other => other,
                            });
                        }
                    }
                    '"' => break,
                    _ => value.push(c),
                }
            }
            pairs.push((name, value));
        }
        rest = &r[end..];
    }
    (Labels::from_pairs(pairs), rest)
}

fn parse_value(s: &str) -> f64 {
    match s {
        "stale" => STALE_NAN,
        "Inf" | "+Inf" | "inf" => f64::INFINITY,
        "-Inf" | "-inf" => f64::NEG_INFINITY,
        "NaN" | "nan" => f64::NAN,
        _ => s.parse().unwrap_or_else(|_| panic!("bad value {s:?}")),
    }
}

/// Expands series value notation into optional values (None = missing).
fn expand(values: &str) -> Vec<Option<f64>> {
    let mut out = Vec::new();
    for tok in values.split_whitespace() {
        if tok == "_" {
            out.push(None);
        } else if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().unwrap_or_else(|_| panic!("bad token {tok}"));
            out.extend(std::iter::repeat_n(None, n));
        } else if let Some((base, n)) = tok.split_once('x') {
            let n: usize = n.parse().unwrap_or_else(|_| panic!("bad token {tok}"));
            // a+bxN, a-bxN or axN
            let split = base[1..].find(['+', '-']).map(|i| i + 1);
            let (a, b) = match split {
                Some(i) => (
                    parse_value(&base[..i]),
                    parse_value(base[i..].trim_start_matches('+')),
                ),
                None => (parse_value(base), 0.0),
            };
            for k in 0..=n {
                out.push(Some(a + b * k as f64));
            }
        } else {
            out.push(Some(parse_value(tok)));
        }
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-300)
}

struct Runner {
    store: MemStorage,
    failures: Vec<String>,
    cases: usize,
}

impl Runner {
    fn run_file(&mut self, path: &Path) {
        let text = std::fs::read_to_string(path).expect("read script");
        let lines: Vec<&str> = text.lines().collect();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        self.store = MemStorage::default();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i].trim();
            let lineno = i + 1;
            i += 1;
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Indented block following the command.
            let mut block = Vec::new();
            while i < lines.len()
                && (lines[i].starts_with(' ') || lines[i].starts_with('\t'))
                && !lines[i].trim().is_empty()
            {
                if !lines[i].trim().starts_with('#') {
                    block.push(lines[i].trim());
                }
                i += 1;
            }
            let loc = format!("{name}:{lineno}");
            if line == "clear" {
                self.store = MemStorage::default();
            } else if let Some(step) = line.strip_prefix("load ") {
                let step = parse_duration_ms(step.trim());
                for b in block {
                    let (labels, rest) = parse_labels(b);
                    let samples = expand(rest)
                        .into_iter()
                        .enumerate()
                        .filter_map(|(k, v)| v.map(|v| Sample::new(k as i64 * step, v)))
                        .collect();
                    self.store.add(labels, samples);
                }
            } else {
                self.cases += 1;
                if let Err(e) = self.eval(line, &block) {
                    self.failures.push(format!("{loc}: `{line}`: {e}"));
                }
            }
        }
    }

    fn eval(&self, line: &str, block: &[&str]) -> Result<(), String> {
        let (cmd, rest) = line.split_once(' ').ok_or("bad command")?;
        let engine = Engine::new(EngineOptions::default());
        let (result, grid) = if let Some(r) = rest.strip_prefix("instant at ") {
            let (t, expr) = r.split_once(' ').ok_or("missing expr")?;
            let t = parse_duration_ms(t);
            (engine.instant_query(&self.store, expr, t), None)
        } else if let Some(r) = rest.strip_prefix("range from ") {
            let parts: Vec<&str> = r.splitn(6, ' ').collect();
            if parts.len() < 6 || parts[1] != "to" || parts[3] != "step" {
                return Err("bad range syntax".into());
            }
            let (s, e, st) = (
                parse_duration_ms(parts[0]),
                parse_duration_ms(parts[2]),
                parse_duration_ms(parts[4]),
            );
            (
                engine.range_query(&self.store, parts[5], s, e, st),
                Some((s, e, st)),
            )
        } else {
            return Err("unknown eval form".into());
        };
        match cmd {
            "eval_fail" => match result {
                Ok(v) => Err(format!("expected failure, got {v:?}")),
                Err(e) => {
                    if let Some(ty) = block
                        .iter()
                        .find_map(|b| b.strip_prefix("expected_fail_type "))
                    {
                        if e.prometheus_type() != ty.trim() {
                            return Err(format!(
                                "error {e:?} has type {}, want {}",
                                e.prometheus_type(),
                                ty.trim()
                            ));
                        }
                    }
                    if let Some(msg) = block
                        .iter()
                        .find_map(|b| b.strip_prefix("expected_fail_message "))
                    {
                        if !e.to_string().contains(msg.trim()) {
                            return Err(format!("error {e:?} does not contain {msg:?}"));
                        }
                    }
                    Ok(())
                }
            },
            "eval" | "eval_ordered" => {
                let v =
                    result.map_err(|e| format!("query failed: {e} ({})", e.prometheus_type()))?;
                compare(v, block, cmd == "eval_ordered", grid)
            }
            _ => Err(format!("unknown command {cmd}")),
        }
    }
}

fn compare(
    v: QueryValue,
    block: &[&str],
    ordered: bool,
    grid: Option<(i64, i64, i64)>,
) -> Result<(), String> {
    match v {
        QueryValue::Scalar { v, .. } => {
            let want = block
                .first()
                .map(|b| parse_value(b.trim()))
                .ok_or("no expected scalar")?;
            if !close(v, want) {
                return Err(format!("scalar: got {v}, want {want}"));
            }
            Ok(())
        }
        QueryValue::String { s, .. } => {
            let want = block
                .first()
                .map(|b| b.trim().trim_matches('"'))
                .unwrap_or("");
            if s != want {
                return Err(format!("string: got {s:?}, want {want:?}"));
            }
            Ok(())
        }
        QueryValue::Vector(got) => {
            let mut want: Vec<(Labels, f64)> = block
                .iter()
                .map(|b| {
                    let (l, rest) = parse_labels(b);
                    (l, parse_value(rest.trim()))
                })
                .collect();
            let mut got: Vec<(Labels, f64)> = got.into_iter().map(|s| (s.labels, s.v)).collect();
            if !ordered {
                want.sort_by(|a, b| a.0.cmp(&b.0));
                got.sort_by(|a, b| a.0.cmp(&b.0));
            }
            let fmt = |v: &[(Labels, f64)]| {
                v.iter()
                    .map(|(l, x)| format!("{l} {x}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            if got.len() != want.len()
                || got
                    .iter()
                    .zip(&want)
                    .any(|(g, w)| g.0 != w.0 || !close(g.1, w.1))
            {
                return Err(format!("\n   got: {}\n  want: {}", fmt(&got), fmt(&want)));
            }
            Ok(())
        }
        QueryValue::Matrix(got) => {
            let (start, _, step) = grid.unwrap_or((0, 0, 0));
            let want: Vec<(Labels, Vec<(i64, f64)>)> = block
                .iter()
                .map(|b| {
                    let (l, rest) = parse_labels(b);
                    if rest.contains('@') {
                        // Raw samples: v@t (seconds).
                        let pts = rest
                            .split_whitespace()
                            .map(|tok| {
                                let (v, t) = tok.split_once('@').unwrap_or((tok, "0"));
                                (parse_duration_ms(t), parse_value(v))
                            })
                            .collect();
                        return (l, pts);
                    }
                    let pts = expand(rest)
                        .into_iter()
                        .enumerate()
                        .filter_map(|(k, v)| v.map(|v| (start + k as i64 * step, v)))
                        .collect();
                    (l, pts)
                })
                .collect();
            let mut want = want;
            want.sort_by(|a, b| a.0.cmp(&b.0));
            let got: Vec<(Labels, Vec<(i64, f64)>)> = got
                .into_iter()
                .map(|s| (s.labels, s.samples.iter().map(|x| (x.t, x.v)).collect()))
                .collect();
            let fmt = |v: &[(Labels, Vec<(i64, f64)>)]| {
                v.iter()
                    .map(|(l, p)| {
                        format!(
                            "{l} {}",
                            p.iter()
                                .map(|(t, v)| format!("{v}@{}", *t as f64 / 1000.0))
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n         ")
            };
            let same = got.len() == want.len()
                && got.iter().zip(&want).all(|(g, w)| {
                    g.0 == w.0
                        && g.1.len() == w.1.len()
                        && g.1
                            .iter()
                            .zip(&w.1)
                            .all(|(a, b)| a.0 == b.0 && close(a.1, b.1))
                });
            if !same {
                return Err(format!("\n   got: {}\n  want: {}", fmt(&got), fmt(&want)));
            }
            Ok(())
        }
    }
}

#[test]
fn promql_scripts() {
    // The directory cargo runs the test for (set at run time), not the one the binary was
    // built in: a build cache shared between checkouts may hold a binary built elsewhere.
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf());
    let dir = root.join("tests/scripts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("scripts dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let mut r = Runner {
        store: MemStorage::default(),
        failures: vec![],
        cases: 0,
    };
    for f in &files {
        r.run_file(f);
    }
    assert!(r.cases > 0, "no cases");
    assert!(
        r.failures.is_empty(),
        "{} of {} cases failed:\n{}",
        r.failures.len(),
        r.cases,
        r.failures.join("\n")
    );
}

fn fixture() -> MemStorage {
    let mut s = MemStorage::default();
    let samples = (0..=10)
        .map(|i| Sample::new(i * 10_000, i as f64))
        .collect();
    s.add(
        Labels::from_pairs([("__name__", "m"), ("job", "a")]),
        samples,
    );
    s
}

#[test]
fn max_samples_is_enforced() {
    let store = fixture();
    let engine = Engine::new(EngineOptions {
        max_samples: 5,
        ..EngineOptions::default()
    });
    let err = engine
        .instant_query(&store, "sum_over_time(m[2m])", 100_000)
        .expect_err("query should fail");
    assert_eq!(err.prometheus_type(), "execution");
    assert!(err.to_string().contains("too many samples"), "{err}");
    // A small window fits.
    assert!(engine
        .instant_query(&store, "sum_over_time(m[20s])", 100_000)
        .is_ok());
}

#[test]
fn range_query_shapes() {
    let store = fixture();
    let engine = Engine::default();
    match engine.range_query(&store, "1 + 1", 0, 20_000, 10_000) {
        Ok(QueryValue::Matrix(m)) => {
            assert_eq!(m.len(), 1);
            assert!(m[0].labels.is_empty());
            assert_eq!(m[0].samples.len(), 3);
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = engine
        .range_query(&store, "m", 0, 20_000, 0)
        .expect_err("query should fail");
    assert_eq!(err.prometheus_type(), "bad_data");
    let err = engine
        .instant_query(&store, "m{", 0)
        .expect_err("query should fail");
    assert_eq!(err.prometheus_type(), "bad_data");
    match engine.instant_query(&store, "m", 20_000) {
        Ok(QueryValue::Vector(v)) => assert_eq!((v.len(), v[0].t, v[0].v), (1, 20_000, 2.0)),
        other => panic!("unexpected {other:?}"),
    }
}
