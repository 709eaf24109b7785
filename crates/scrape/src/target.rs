//! From discovered target groups to scrape targets, and file-based discovery.
//!
//! A discovered target starts as `__address__` plus its group's labels. As in Prometheus'
//! `PopulateLabels`, defaults are added when absent (`job`, `__scheme__`,
//! `__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__`, `__param_<name>`),
//! `relabel_configs` run, `__meta_*` labels are removed, `instance` defaults to
//! `__address__`, and the labels stored with samples are those without a `__` prefix.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use strix_core::{duration, Labels};

use crate::config::{check_address, FileSdConfig, GlobalConfig, ScrapeConfig, TargetGroup};
use crate::relabel::{self, LabelSet};

pub const ADDRESS_LABEL: &str = "__address__";
pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_LABEL_PREFIX: &str = "__param_";
pub const META_LABEL_PREFIX: &str = "__meta_";
pub const INSTANCE_LABEL: &str = "instance";
pub const JOB_LABEL: &str = "job";
/// Set by file_sd on every target read from a file.
pub const META_FILEPATH_LABEL: &str = "__meta_filepath";

/// One scrape target after relabeling.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Labels before relabeling (`__address__`, `__meta_*`, group labels, defaults).
    pub discovered: Labels,
    /// Labels after relabeling without `__meta_*` (still holding `__address__` etc.).
    pub full: Labels,
    /// Labels attached to every scraped series: `full` without `__`-prefixed names.
    pub labels: Labels,
    /// The URL fetched.
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Identity across reloads: a hash of `full`.
    pub hash: u64,
}

/// The result of turning one discovered target into a scrape target.
#[derive(Debug, Clone, PartialEq)]
pub enum Populated {
    Active(Target),
    /// Dropped by relabeling; the discovered labels are kept for `/api/v1/targets`.
    Dropped(Labels),
}

/// Builds the target for `address` in `group`; `meta` holds discovery labels such as
/// `__meta_filepath`. Errors say why the target is unusable.
pub fn populate(
    address: &str,
    group: &TargetGroup,
    meta: &[(String, String)],
    cfg: &ScrapeConfig,
    global: &GlobalConfig,
) -> Result<Populated, String> {
    let (interval, timeout) = cfg.interval_and_timeout(global);
    let mut pairs: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &group.labels {
        pairs.insert(k.clone(), v.clone());
    }
    for (k, v) in meta {
        pairs.insert(k.clone(), v.clone());
    }
    pairs.insert(ADDRESS_LABEL.into(), address.into());
    let defaults = [
        (JOB_LABEL.to_string(), cfg.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL.into(), duration::format(interval)),
        (SCRAPE_TIMEOUT_LABEL.into(), duration::format(timeout)),
        (METRICS_PATH_LABEL.into(), cfg.metrics_path.clone()),
        (SCHEME_LABEL.into(), cfg.scheme.as_str().into()),
    ];
    for (k, v) in defaults {
        pairs.entry(k).or_insert(v);
    }
    for (name, values) in &cfg.params {
        if let Some(first) = values.first() {
            pairs
                .entry(format!("{PARAM_LABEL_PREFIX}{name}"))
                .or_insert_with(|| first.clone());
        }
    }
    let discovered = Labels::from_pairs(pairs);
    let mut set = LabelSet::from_labels(discovered.clone());
    if !relabel::process_set(&mut set, &cfg.relabel_configs) || set.is_empty() {
        return Ok(Populated::Dropped(discovered));
    }
    let addr = set.get(ADDRESS_LABEL).to_owned();
    if addr.is_empty() {
        return Err("no __address__ label after relabeling".into());
    }
    check_address(&addr)?;
    let interval = duration::parse(set.get(SCRAPE_INTERVAL_LABEL))
        .map_err(|e| format!("{SCRAPE_INTERVAL_LABEL}: {e}"))?;
    let timeout = duration::parse(set.get(SCRAPE_TIMEOUT_LABEL))
        .map_err(|e| format!("{SCRAPE_TIMEOUT_LABEL}: {e}"))?;
    if interval.is_zero() || timeout.is_zero() {
        return Err("scrape interval and timeout must be greater than 0".into());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout {} is greater than scrape interval {}",
            duration::format(timeout),
            duration::format(interval)
        ));
    }
    set.retain(|l| !l.name.starts_with(META_LABEL_PREFIX));
    if set.get(INSTANCE_LABEL).is_empty() {
        set.set(INSTANCE_LABEL, addr.clone());
    }
    for l in set.iter() {
        if !relabel::is_valid_label_name(&l.name) {
            return Err(format!("invalid label name {:?}", l.name));
        }
    }
    let full = set.into_labels();
    let url = build_url(&full, &addr)?;
    let labels = Labels::from_sorted(
        full.iter()
            .filter(|l| !l.name.starts_with("__"))
            .cloned()
            .collect(),
    );
    Ok(Populated::Active(Target {
        discovered,
        hash: full.stable_hash(),
        full,
        labels,
        url,
        interval,
        timeout,
    }))
}

fn build_url(full: &Labels, addr: &str) -> Result<String, String> {
    let scheme = full.get(SCHEME_LABEL).unwrap_or("http");
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme {scheme:?}"));
    }
    let path = full.get(METRICS_PATH_LABEL).unwrap_or("/metrics");
    let mut url = reqwest::Url::parse(&format!("{scheme}://{addr}"))
        .map_err(|e| format!("invalid address {addr:?}: {e}"))?;
    url.set_path(path);
    let params: Vec<(&str, &str)> = full
        .iter()
        .filter_map(|l| {
            l.name
                .strip_prefix(PARAM_LABEL_PREFIX)
                .map(|n| (n, l.value.as_str()))
        })
        .collect();
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    Ok(url.to_string())
}

/// A discovered group together with its discovery labels (`__meta_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedGroup {
    pub group: TargetGroup,
    pub meta: Vec<(String, String)>,
}

/// Largest file_sd file read; larger files are an error, not a huge allocation.
pub const FILE_SD_MAX_BYTES: u64 = 16 << 20;

/// Polls the files of one `file_sd_configs` entry. [`FileSd::refresh`] re-reads files
/// whose modification time or size changed, and forgets files that no longer match.
/// A file that fails to read or parse keeps its previous targets, as in Prometheus.
#[derive(Debug)]
pub struct FileSd {
    cfg: FileSdConfig,
    files: HashMap<PathBuf, FileState>,
}

#[derive(Debug)]
struct FileState {
    stamp: (Option<SystemTime>, u64),
    groups: Vec<SourcedGroup>,
}

impl FileSd {
    pub fn new(cfg: FileSdConfig) -> Self {
        FileSd {
            cfg,
            files: HashMap::new(),
        }
    }

    pub fn refresh_interval(&self) -> Duration {
        self.cfg.refresh_interval
    }

    /// Re-checks every file; returns the new full list of groups when anything changed.
    pub fn refresh(&mut self) -> Option<Vec<SourcedGroup>> {
        let mut seen: Vec<PathBuf> = Vec::new();
        for pattern in &self.cfg.files {
            match glob::glob(pattern) {
                Ok(paths) => {
                    for p in paths.flatten() {
                        if p.is_file() {
                            seen.push(p);
                        }
                    }
                }
                Err(e) => tracing::warn!(pattern = %pattern, error = %e, "Invalid file_sd glob."),
            }
        }
        seen.sort();
        seen.dedup();
        let mut changed = false;
        let before = self.files.len();
        self.files.retain(|p, _| seen.contains(p));
        changed |= self.files.len() != before;
        for path in seen {
            let stamp = match std::fs::metadata(&path) {
                Ok(m) => (m.modified().ok(), m.len()),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "Cannot stat file_sd file.");
                    continue;
                }
            };
            if self.files.get(&path).is_some_and(|f| f.stamp == stamp) {
                continue;
            }
            match read_target_file(&path) {
                Ok(groups) => {
                    let groups = groups
                        .into_iter()
                        .map(|group| SourcedGroup {
                            group,
                            meta: vec![(META_FILEPATH_LABEL.into(), path.display().to_string())],
                        })
                        .collect::<Vec<_>>();
                    let old = self.files.insert(
                        path,
                        FileState {
                            stamp,
                            groups: groups.clone(),
                        },
                    );
                    changed |= old.map(|o| o.groups).as_ref() != Some(&groups);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "Cannot read file_sd file; keeping its previous targets.");
                }
            }
        }
        changed.then(|| self.groups())
    }

    /// All groups from all files, ordered by path.
    pub fn groups(&self) -> Vec<SourcedGroup> {
        let mut paths: Vec<&PathBuf> = self.files.keys().collect();
        paths.sort();
        paths
            .into_iter()
            .flat_map(|p| {
                self.files
                    .get(p)
                    .map(|f| f.groups.clone())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// Reads a file_sd file: a JSON (`.json`) or YAML list of `{targets, labels}`.
pub fn read_target_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    f.take(FILE_SD_MAX_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > FILE_SD_MAX_BYTES {
        return Err(format!("larger than {FILE_SD_MAX_BYTES} bytes"));
    }
    let is_json = path.extension().is_some_and(|e| e == "json");
    let groups: Vec<TargetGroup> = if is_json {
        serde_json::from_slice(&buf).map_err(|e| e.to_string())?
    } else if buf.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        serde_yaml::from_slice(&buf).map_err(|e| e.to_string())?
    };
    for (i, g) in groups.iter().enumerate() {
        g.validate(&format!("[{i}]")).map_err(|e| e.to_string())?;
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(yaml: &str) -> ScrapeConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn group(targets: &[&str], labels: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            targets: targets.iter().map(|s| s.to_string()).collect(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn active(p: Populated) -> Target {
        match p {
            Populated::Active(t) => t,
            Populated::Dropped(l) => panic!("dropped: {l}"),
        }
    }

    #[test]
    fn defaults_and_instance() {
        let cfg = job("job_name: node\nscrape_interval: 15s\nparams: {module: [a, b]}");
        let t = active(
            populate(
                "h:9100",
                &group(&["h:9100"], &[("env", "prod")]),
                &[],
                &cfg,
                &GlobalConfig::default(),
            )
            .unwrap(),
        );
        assert_eq!(
            t.labels,
            Labels::from_pairs([("env", "prod"), ("instance", "h:9100"), ("job", "node")])
        );
        assert_eq!(t.url, "http://h:9100/metrics?module=a");
        assert_eq!(t.interval, Duration::from_secs(15));
        assert_eq!(t.timeout, Duration::from_secs(10));
        assert_eq!(t.discovered.get("__scrape_interval__"), Some("15s"));
        assert_eq!(t.discovered.get("__param_module"), Some("a"));
        assert_eq!(t.full.get("__address__"), Some("h:9100"));
    }

    #[test]
    fn relabel_rewrites_url_and_drops_meta() {
        let cfg = job(r#"
job_name: blackbox
metrics_path: /probe
relabel_configs:
  - source_labels: [__address__]
    target_label: __param_target
  - source_labels: [__param_target]
    target_label: instance
  - target_label: __address__
    replacement: 127.0.0.1:9115
  - source_labels: [__meta_filepath]
    target_label: from_file
  - target_label: __scheme__
    replacement: https
"#);
        let meta = vec![(META_FILEPATH_LABEL.to_string(), "/x.json".to_string())];
        let t = active(
            populate(
                "example.com",
                &group(&[], &[]),
                &meta,
                &cfg,
                &GlobalConfig::default(),
            )
            .unwrap(),
        );
        assert_eq!(t.url, "https://127.0.0.1:9115/probe?target=example.com");
        assert_eq!(t.labels.get("instance"), Some("example.com"));
        assert_eq!(t.labels.get("from_file"), Some("/x.json"));
        assert!(t.full.get("__meta_filepath").is_none());
        assert_eq!(t.discovered.get("__meta_filepath"), Some("/x.json"));
    }

    #[test]
    fn dropped_and_errors() {
        let cfg = job("job_name: a\nrelabel_configs: [{source_labels: [__address__], regex: 'skip.*', action: drop}]");
        let g = GlobalConfig::default();
        assert!(matches!(
            populate("skip:1", &group(&[], &[]), &[], &cfg, &g).unwrap(),
            Populated::Dropped(_)
        ));
        let cfg = job(
            "job_name: a\nrelabel_configs: [{target_label: __scrape_timeout__, replacement: 2m}]",
        );
        let e = populate("h:1", &group(&[], &[]), &[], &cfg, &g).unwrap_err();
        assert!(e.contains("greater than scrape interval"), "{e}");
        let cfg =
            job("job_name: a\nrelabel_configs: [{target_label: __address__, replacement: 'a/b'}]");
        assert!(populate("h:1", &group(&[], &[]), &[], &cfg, &g).is_err());
    }

    #[test]
    fn identity_changes_with_scrape_settings() {
        let g = GlobalConfig::default();
        let a = active(populate("h:1", &group(&[], &[]), &[], &job("job_name: a"), &g).unwrap());
        let b = active(populate("h:1", &group(&[], &[]), &[], &job("job_name: a"), &g).unwrap());
        let c = active(
            populate(
                "h:1",
                &group(&[], &[]),
                &[],
                &job("job_name: a\nmetrics_path: /m"),
                &g,
            )
            .unwrap(),
        );
        assert_eq!(a.hash, b.hash);
        assert_ne!(a.hash, c.hash);
    }

    #[test]
    fn file_sd_reads_json_and_yaml_and_tracks_changes() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("a.json");
        std::fs::write(&json, r#"[{"targets": ["h1:1"], "labels": {"env": "a"}}]"#).unwrap();
        let yaml = dir.path().join("b.yml");
        std::fs::write(&yaml, "- targets: ['h2:1', 'h3:1']\n").unwrap();
        let mut sd = FileSd::new(FileSdConfig {
            files: vec![
                format!("{}/*.json", dir.path().display()),
                yaml.display().to_string(),
            ],
            refresh_interval: Duration::from_secs(1),
        });
        let groups = sd.refresh().unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].group.targets, vec!["h1:1"]);
        assert_eq!(groups[0].meta[0].1, json.display().to_string());
        assert_eq!(groups[1].group.targets.len(), 2);
        assert!(sd.refresh().is_none(), "unchanged files are not re-read");

        // A broken file keeps its old targets; removing a file removes its targets.
        std::fs::write(&json, "not json at all, longer than before").unwrap();
        assert!(sd.refresh().is_none());
        assert_eq!(sd.groups().len(), 2);
        std::fs::remove_file(&yaml).unwrap();
        let groups = sd.refresh().unwrap();
        assert_eq!(groups.len(), 1);
    }

    #[test]
    fn target_file_validation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.json");
        std::fs::write(&p, r#"[{"targets": ["http://h:1"]}]"#).unwrap();
        assert!(read_target_file(&p).unwrap_err().contains("scheme"));
        std::fs::write(&p, r#"[{"targets": ["h:1"], "extra": 1}]"#).unwrap();
        assert!(read_target_file(&p).unwrap_err().contains("extra"));
        let y = dir.path().join("empty.yaml");
        std::fs::write(&y, "\n").unwrap();
        assert_eq!(read_target_file(&y).unwrap(), vec![]);
    }
}
