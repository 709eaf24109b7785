//! Checks managed at run time through the admin API.
//!
//! A check made through the API is validated exactly like a `checks:` entry, stored in the
//! state store (`check_definitions`, as the entry's JSON) and handed to the running scheduler,
//! which probes it at once. Replacing a check keeps its status, history and incidents;
//! removing one stops its probes and keeps its stored history, so a check created again
//! under the same name continues it. Checks declared in `strix.yaml` are read-only here.
//!
//! Admin changes are serialised by one lock: check for conflicts, write the store, then
//! apply in memory, so a failed store write changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;
use strix_core::storage::{Appendable, TimeSeries};
use strix_core::{Sample, Timestamp};

use super::{lock, CheckService, CheckSnapshot, Effects, Entry, ServiceHooks};
use crate::alerts::CheckAlert;
use crate::breaker::CircuitBreaker;
use crate::config::{Check, CheckConfig, CheckKind, ConfigError};
use crate::error::Error;
use crate::heartbeat::Heartbeat;
use crate::metrics::{
    labels, CHECK_DEFINITIONS, CHECK_DEFINITIONS_LIMIT, CHECK_DEFINITIONS_REFUSED_TOTAL,
};

/// Where a check is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckSource {
    /// `checks:` in `strix.yaml`; read-only through the API.
    Config,
    /// The admin API; stored in the state store.
    Api,
}

impl CheckSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckSource::Config => "config",
            CheckSource::Api => "api",
        }
    }
}

/// The stored definition of an API check.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub(super) config: CheckConfig,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
}

/// A check's definition as reported by [`CheckService::definition`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckDefinition {
    pub name: String,
    pub source: CheckSource,
    /// The entry as stored (API checks); `None` for checks declared in `strix.yaml`.
    pub definition: Option<CheckConfig>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

/// Validates an API definition like a `checks:` entry; error keys are the fields
/// (`interval: must be positive`).
pub fn validate_definition(config: &CheckConfig) -> Result<Check, Error> {
    config.validate("").map_err(|e| {
        Error::Config(ConfigError::new(
            e.key.trim_start_matches('.').to_string(),
            e.message,
        ))
    })
}

fn read_only(name: &str) -> Error {
    Error::Conflict(format!(
        "check {name:?} is declared in strix.yaml (checks:) and is read-only through the API"
    ))
}

fn store_error(e: strix_state::StateError) -> Error {
    Error::Store(e.to_string())
}

impl CheckService {
    /// [`CheckService::with_hooks`] plus the checks defined through the admin API, loaded
    /// from the hooks' store. A stored check whose name is also declared in `checks:` is an
    /// error naming that key; a stored definition that no longer validates, or whose
    /// heartbeat token is taken, is skipped with an error in the log (it stays stored and can
    /// be replaced or deleted through the API).
    pub fn open(
        checks: Vec<Check>,
        sink: Arc<dyn Appendable>,
        hooks: ServiceHooks,
        now: Timestamp,
    ) -> Result<Self, Error> {
        let mut api = Vec::new();
        if let Some(store) = &hooks.store {
            let rows = store.list_check_definitions().map_err(store_error)?;
            let names: HashMap<&str, usize> = checks
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name.as_str(), i))
                .collect();
            let mut tokens: HashSet<String> = checks
                .iter()
                .filter_map(|c| match &c.kind {
                    CheckKind::Heartbeat(hb) => Some(hb.token.clone()),
                    _ => None,
                })
                .collect();
            for row in rows {
                if let Some(i) = names.get(row.name.as_str()) {
                    return Err(Error::Config(ConfigError::new(
                        format!("checks[{i}].name"),
                        format!(
                            "check {:?} is also defined through the admin API (stored in the \
                             state database); rename this entry, or remove it from checks: \
                             and manage the check through the API",
                            row.name
                        ),
                    )));
                }
                let check = CheckConfig::from_json(row.config.as_bytes())
                    .map_err(Error::Config)
                    .and_then(|c| validate_definition(&c).map(|check| (c, check)));
                let (config, check) = match check {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(check = %row.name, error = %e, "Stored check definition is invalid; not loaded.");
                        continue;
                    }
                };
                if let CheckKind::Heartbeat(hb) = &check.kind {
                    if !tokens.insert(hb.token.clone()) {
                        tracing::error!(check = %row.name, "Stored heartbeat token is already used by another check; not loaded.");
                        continue;
                    }
                }
                api.push((
                    check,
                    Stored {
                        config,
                        created_at: row.created_at,
                        updated_at: row.updated_at,
                    },
                ));
            }
            if !api.is_empty() {
                tracing::info!(checks = api.len(), "Loaded checks defined through the API.");
            }
        }
        Ok(Self::build(checks, api, sink, hooks, now))
    }

    /// The refusal for using `check`'s name or heartbeat token, if another check (other
    /// than one named `except`) has it.
    fn conflict(&self, check: &Check, except: Option<&str>) -> Option<Error> {
        let reg = self.registry();
        if except != Some(check.name.as_str()) {
            if let Some(m) = reg
                .by_name
                .get(&check.name)
                .and_then(|i| reg.entries.get(i))
            {
                return Some(match lock(m).source {
                    CheckSource::Config => read_only(&check.name),
                    CheckSource::Api => Error::Conflict(format!(
                        "check {:?} already exists (replace it with PUT)",
                        check.name
                    )),
                });
            }
        }
        if let CheckKind::Heartbeat(hb) = &check.kind {
            if let Some(m) = reg.by_token.get(&hb.token).and_then(|i| reg.entries.get(i)) {
                let owner = lock(m).check.name.clone();
                if Some(owner.as_str()) != except {
                    return Some(Error::Conflict(format!(
                        "token: heartbeat token already used by check {owner:?}"
                    )));
                }
            }
        }
        None
    }

    fn persist(&self, config: &CheckConfig, now: Timestamp) -> Result<Stored, Error> {
        let Some(store) = &self.shared.hooks.store else {
            // Without a store the check lives as long as the process.
            return Ok(Stored {
                config: config.clone(),
                created_at: now,
                updated_at: now,
            });
        };
        let json = serde_json::to_string(config)
            .map_err(|e| Error::Store(format!("encoding the definition: {e}")))?;
        let rec = store
            .upsert_check_definition(&config.name, &json, now)
            .map_err(store_error)?;
        Ok(Stored {
            config: config.clone(),
            created_at: rec.created_at,
            updated_at: rec.updated_at,
        })
    }

    fn schedule(&self, index: usize, check: &Check) -> Result<(), Error> {
        let scheduler = lock(&self.shared.scheduler).clone();
        match scheduler {
            Some(s) => s.add(index, check),
            None => Ok(()),
        }
    }

    fn unschedule(&self, index: usize) {
        if let Some(s) = lock(&self.shared.scheduler).as_ref() {
            s.remove(index);
        }
    }

    /// Adds a check defined through the API (blocking: writes the store). Its history, if
    /// a check of that name existed before, is loaded from the store. A name or heartbeat
    /// token in use is [`Error::Conflict`]; an invalid definition [`Error::Config`] naming
    /// the field.
    pub fn create(&self, config: CheckConfig, now: Timestamp) -> Result<CheckSnapshot, Error> {
        let _admin = lock(&self.shared.admin);
        let check = validate_definition(&config)?;
        if let Some(e) = self.conflict(&check, None) {
            return Err(e);
        }
        let limit = self.shared.hooks.settings.max_api_checks;
        if self.count(CheckSource::Api) >= limit {
            self.shared.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(check = %check.name, limit, "Check refused: check_settings.max_api_checks reached.");
            return Err(Error::Limit(format!(
                "at most {limit} checks can be defined through the API (check_settings.max_api_checks)"
            )));
        }
        let stored = self.persist(&config, now)?;
        let index = self.registry_mut().insert(Entry::new(
            check.clone(),
            CheckSource::Api,
            Some(stored),
            now,
        ));
        self.restore_history(Some(&check.name), now);
        if let Err(e) = self.schedule(index, &check) {
            self.registry_mut().remove(&check.name);
            if let Some(store) = &self.shared.hooks.store {
                if let Err(se) = store.delete_check_definition(&check.name) {
                    tracing::warn!(check = %check.name, error = %se, "Removing a check that could not start failed.");
                }
            }
            return Err(e);
        }
        tracing::info!(check = %check.name, "Check created through the API.");
        self.status(&check.name)
            .ok_or_else(|| Error::UnknownCheck(check.name.clone()))
    }

    /// Replaces the API check `name` (blocking), or creates it when there is none; returns
    /// the check and whether it was created. Status, history and incidents are kept; the
    /// circuit breaker is kept unless its settings changed. `config.name` must be `name`.
    pub fn replace(
        &self,
        name: &str,
        config: CheckConfig,
        now: Timestamp,
    ) -> Result<(CheckSnapshot, bool), Error> {
        if config.name != name {
            return Err(Error::Config(ConfigError::new(
                "name",
                format!("must be the name in the path ({name:?})"),
            )));
        }
        let existing = self.entry(name);
        let Some(m) = existing else {
            return self.create(config, now).map(|s| (s, true));
        };
        let _admin = lock(&self.shared.admin);
        if lock(&m).source == CheckSource::Config {
            return Err(read_only(name));
        }
        let check = validate_definition(&config)?;
        if let Some(e) = self.conflict(&check, Some(name)) {
            return Err(e);
        }
        let stored = self.persist(&config, now)?;
        let (old, index) = {
            let mut reg = self.registry_mut();
            let Some((old, m)) = reg.remove(name) else {
                return Err(Error::UnknownCheck(name.to_string()));
            };
            {
                let mut e = lock(&m);
                if e.check.breaker != check.breaker {
                    e.breaker = CircuitBreaker::new(check.breaker);
                }
                e.heartbeat = match &check.kind {
                    CheckKind::Heartbeat(hb) => Some(Heartbeat::new(hb, now)),
                    _ => None,
                };
                e.state.set_retries(check.retries);
                e.check = check.clone();
                e.definition = Some(Stored {
                    created_at: e
                        .definition
                        .as_ref()
                        .map_or(stored.created_at, |d| d.created_at.min(stored.created_at)),
                    ..stored
                });
            }
            (old, reg.insert_shared(m))
        };
        self.unschedule(old);
        self.schedule(index, &check)?;
        tracing::info!(check = %name, "Check replaced through the API.");
        self.status(name)
            .map(|s| (s, false))
            .ok_or_else(|| Error::UnknownCheck(name.to_string()))
    }

    /// Removes the API check `name` (blocking): its probes stop, its definition is deleted
    /// from the store, its firing check alerts are sent resolved; its history stays stored.
    pub fn remove(&self, name: &str, now: Timestamp) -> Result<(), Error> {
        let _admin = lock(&self.shared.admin);
        let m = self
            .entry(name)
            .ok_or_else(|| Error::UnknownCheck(name.to_string()))?;
        if lock(&m).source == CheckSource::Config {
            return Err(read_only(name));
        }
        if let Some(store) = &self.shared.hooks.store {
            store.delete_check_definition(name).map_err(store_error)?;
        }
        let removed = self.registry_mut().remove(name);
        if let Some((index, m)) = removed {
            self.unschedule(index);
            let mut fx = Effects::default();
            let firing = std::mem::take(&mut lock(&m).firing);
            fx.alerts.extend(firing.into_values().map(|a| CheckAlert {
                ends_at: Some(now),
                resolved: true,
                ..a
            }));
            self.dispatch(fx);
        }
        tracing::info!(check = %name, "Check deleted through the API.");
        Ok(())
    }

    /// Checks defined in `source`.
    pub fn count(&self, source: CheckSource) -> usize {
        self.entries()
            .iter()
            .filter(|m| lock(m).source == source)
            .count()
    }

    /// `strix_check_definitions{source}`, its limit and the refusals, stamped `now`.
    pub fn definition_series(&self, now: Timestamp) -> Vec<TimeSeries> {
        let empty = BTreeMap::new();
        let one = |name: &str, pairs: &[(&str, &str)], v: f64| TimeSeries {
            labels: labels(name, pairs, &empty),
            samples: vec![Sample::new(now, v)],
        };
        vec![
            one(
                CHECK_DEFINITIONS,
                &[("source", "config")],
                self.count(CheckSource::Config) as f64,
            ),
            one(
                CHECK_DEFINITIONS,
                &[("source", "api")],
                self.count(CheckSource::Api) as f64,
            ),
            one(
                CHECK_DEFINITIONS_LIMIT,
                &[],
                self.shared.hooks.settings.max_api_checks as f64,
            ),
            one(
                CHECK_DEFINITIONS_REFUSED_TOTAL,
                &[],
                self.shared.refused.load(Ordering::Relaxed) as f64,
            ),
        ]
    }

    /// The definition of `name`: the stored entry for API checks; only the source for
    /// checks declared in `strix.yaml`. `None` for an unknown name.
    pub fn definition(&self, name: &str) -> Option<CheckDefinition> {
        let m = self.entry(name)?;
        let e = lock(&m);
        Some(CheckDefinition {
            name: e.check.name.clone(),
            source: e.source,
            definition: e.definition.as_ref().map(|d| d.config.clone()),
            created_at: e.definition.as_ref().map(|d| d.created_at),
            updated_at: e.definition.as_ref().map(|d| d.updated_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate_checks;
    use crate::probe::{ProbeDetail, ProbeResult};
    use crate::state::CheckStatus;
    use std::time::Duration;
    use strix_core::storage::{AppendMode, AppendOutcome, StorageError, TimeSeries};

    struct NullSink;
    impl Appendable for NullSink {
        fn append(
            &self,
            _series: &[TimeSeries],
            _mode: AppendMode,
        ) -> Result<AppendOutcome, StorageError> {
            Ok(AppendOutcome::default())
        }
    }

    fn config_checks(yaml: &str) -> Vec<Check> {
        let list: Vec<CheckConfig> = serde_yaml::from_str(yaml).unwrap();
        validate_checks(&list).unwrap()
    }

    fn open(store: &Arc<dyn strix_state::StateStore>, yaml: &str) -> Result<CheckService, Error> {
        let hooks = ServiceHooks {
            store: Some(store.clone()),
            ..ServiceHooks::default()
        };
        CheckService::open(config_checks(yaml), Arc::new(NullSink), hooks, 1_000)
    }

    fn def(json: &str) -> CheckConfig {
        CheckConfig::from_json(json.as_bytes()).unwrap()
    }

    fn index_of(s: &CheckService, name: &str) -> usize {
        *s.registry().by_name.get(name).unwrap()
    }

    #[test]
    fn create_replace_remove_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store: Arc<dyn strix_state::StateStore> =
            Arc::new(strix_state::SqliteStore::open(&path).unwrap());
        let yaml = "- {name: cfg, type: heartbeat, token: t1, period: 1h}\n";
        let s = open(&store, yaml).unwrap();
        let web = r#"{"name":"web","type":"http","url":"http://127.0.0.1:1/","retries":2}"#;
        let snap = s.create(def(web), 2_000).unwrap();
        assert_eq!(snap.source, CheckSource::Api);
        // Validation names the field, without a list prefix.
        let e = s
            .create(
                def(r#"{"name":"x","type":"tcp","host":"h","port":1,"interval":"0s"}"#),
                2_000,
            )
            .unwrap_err();
        assert_eq!(e.to_string(), "interval: must be positive");
        // Conflicts: the name taken, a config check, a heartbeat token in use.
        assert!(matches!(s.create(def(web), 2_000), Err(Error::Conflict(_))));
        let e = s.remove("cfg", 2_000).unwrap_err();
        assert!(
            matches!(e, Error::Conflict(ref m) if m.contains("strix.yaml")),
            "{e}"
        );
        let hb = r#"{"name":"hb","type":"heartbeat","token":"t1","period":"1h"}"#;
        assert!(matches!(s.create(def(hb), 2_000), Err(Error::Conflict(_))));
        assert!(s.status("hb").is_none());
        let series = s.definition_series(2_500);
        let value = |name: &str, source: Option<&str>| {
            series
                .iter()
                .find(|t| {
                    t.labels.metric_name() == Some(name)
                        && source.is_none_or(|v| t.labels.get("source") == Some(v))
                })
                .map(|t| t.samples[0].v)
        };
        assert_eq!(value(CHECK_DEFINITIONS, Some("api")), Some(1.0));
        assert_eq!(value(CHECK_DEFINITIONS, Some("config")), Some(1.0));
        assert_eq!(value(CHECK_DEFINITIONS_LIMIT, None), Some(1000.0));

        // Two failures turn it unhealthy; a replacement keeps status and history.
        let fail = ProbeResult::failure(Duration::from_millis(1), "boom", ProbeDetail::default());
        let i = index_of(&s, "web");
        s.observe(i, &fail, 3_000);
        s.observe(i, &fail, 4_000);
        assert_eq!(
            s.status("web").map(|c| c.status),
            Some(CheckStatus::Unhealthy)
        );
        let web2 = r#"{"name":"web","type":"http","url":"http://127.0.0.1:2/","retries":3}"#;
        let (snap, created) = s.replace("web", def(web2), 5_000).unwrap();
        assert!(!created);
        assert_eq!(snap.status, CheckStatus::Unhealthy);
        // The old index is gone: a late result of the old definition is ignored.
        assert!(s.observe(i, &fail, 5_500).is_empty());
        let ok = ProbeResult::success(Duration::from_millis(1), ProbeDetail::default());
        s.observe(index_of(&s, "web"), &ok, 6_000);
        assert_eq!(s.incidents("web").unwrap().len(), 1);
        let d = s.definition("web").unwrap();
        assert_eq!(
            d.definition.and_then(|c| c.url).as_deref(),
            Some("http://127.0.0.1:2/")
        );
        assert_eq!((d.created_at, d.updated_at), (Some(2_000), Some(5_000)));
        assert_eq!(
            s.definition("cfg").map(|d| d.source),
            Some(CheckSource::Config)
        );
        s.flush_history();

        // Reopened: the API check is back with its history; a removed one is not.
        s.create(
            def(r#"{"name":"gone","type":"tcp","host":"127.0.0.1","port":1}"#),
            7_000,
        )
        .unwrap();
        s.remove("gone", 8_000).unwrap();
        assert!(matches!(
            s.remove("gone", 8_000),
            Err(Error::UnknownCheck(_))
        ));
        drop(s);
        // A stored definition that no longer validates is skipped, not fatal.
        store
            .upsert_check_definition("broken", r#"{"name":"broken","type":"smtp"}"#, 9_000)
            .unwrap();
        let s = open(&store, yaml).unwrap();
        let names: Vec<(String, CheckSource)> =
            s.list().into_iter().map(|c| (c.name, c.source)).collect();
        assert_eq!(
            names,
            vec![
                ("cfg".to_string(), CheckSource::Config),
                ("web".to_string(), CheckSource::Api)
            ]
        );
        assert_eq!(s.incidents("web").unwrap().len(), 1);
        assert_eq!(
            s.status("web").map(|c| c.status),
            Some(CheckStatus::Healthy)
        );

        // A name in both checks: and the store stops the start, naming the key.
        let e = open(&store, "- {name: cfg, type: heartbeat, token: t1, period: 1h}\n- {name: web, type: tcp, host: h, port: 1}\n")
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("checks[1].name: "), "{e}");
    }

    #[test]
    fn api_checks_are_limited() {
        let hooks = ServiceHooks {
            settings: crate::settings::CheckSettings {
                max_api_checks: 1,
                ..Default::default()
            },
            ..ServiceHooks::default()
        };
        let s = CheckService::open(Vec::new(), Arc::new(NullSink), hooks, 0).unwrap();
        let tcp = |n: &str| {
            def(&format!(
                r#"{{"name":"{n}","type":"tcp","host":"h","port":1}}"#
            ))
        };
        s.create(tcp("a"), 1).unwrap();
        let e = s.create(tcp("b"), 2).unwrap_err();
        assert!(
            matches!(e, Error::Limit(ref m) if m.contains("max_api_checks")),
            "{e}"
        );
        assert_eq!(e.class(), strix_core::ErrorClass::Limit);
        // Replacing is not creating.
        s.replace("a", tcp("a"), 3).unwrap();
        let refused = s
            .definition_series(4)
            .into_iter()
            .find(|t| t.labels.metric_name() == Some(CHECK_DEFINITIONS_REFUSED_TOTAL))
            .map(|t| t.samples[0].v);
        assert_eq!(refused, Some(1.0));
    }
}
