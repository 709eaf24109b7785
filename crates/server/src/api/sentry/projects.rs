//! Error-tracking projects: those declared in the configuration (fixed keys, read-only
//! here) and those created through the admin API (stored in the state store, loaded at
//! start).
//!
//! Ingest looks a project up on every request, so the set lives in memory as one immutable
//! [`ProjectTable`] behind an `RwLock<Arc<…>>`: a lookup clones an `Arc` under a read lock;
//! a change (create, rotate, delete) writes the state store first, then swaps in a new
//! table, so the change applies to the next request — a rotated-away key is refused at once.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use strix_errors::RateLimits;
use strix_state::{NewProject, ProjectRecord, StateError, StateStore};

/// Where a project comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectSource {
    /// `projects:` in the configuration: fixed id and key, read-only through the API.
    Config,
    /// Created through the admin API and kept in the state store.
    Api,
}

impl ProjectSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectSource::Config => "config",
            ProjectSource::Api => "api",
        }
    }
}

/// A project that Sentry SDKs send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: u64,
    pub slug: String,
    /// The DSN public key, 32 lowercase hex digits.
    pub public_key: String,
    /// Display name (the slug for configured projects).
    pub name: String,
    pub source: ProjectSource,
    /// When it was created through the API, ms; `None` for configured projects.
    pub created_at: Option<i64>,
}

impl Project {
    /// A project declared in the configuration.
    pub fn configured(id: u64, slug: &str, public_key: &str) -> Project {
        Project {
            id,
            slug: slug.to_string(),
            public_key: public_key.to_string(),
            name: slug.to_string(),
            source: ProjectSource::Config,
            created_at: None,
        }
    }

    fn from_record(r: &ProjectRecord) -> Project {
        Project {
            id: r.id,
            slug: r.slug.clone(),
            public_key: r.public_key.clone(),
            name: r.name.clone(),
            source: ProjectSource::Api,
            created_at: Some(r.created_at),
        }
    }
}

/// The enabled projects and their event-rate limiters, immutable once built.
pub struct ProjectTable {
    list: Vec<Arc<Project>>,
    by_id: HashMap<u64, usize>,
    limiters: HashMap<u64, Arc<DefaultDirectRateLimiter>>,
}

fn limiter(rate: &RateLimits, slug: &str) -> Option<Arc<DefaultDirectRateLimiter>> {
    let (rate, burst) = rate.for_project(slug);
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst.max(rate.get()))?;
    Some(Arc::new(RateLimiter::direct(
        Quota::per_second(rate).allow_burst(burst),
    )))
}

impl ProjectTable {
    pub(crate) fn new(projects: Vec<Project>, rate: &RateLimits) -> ProjectTable {
        Self::build(projects.into_iter().map(Arc::new).collect(), None, rate)
    }

    /// A table of `list`, keeping the limiters of projects already in `previous` (a key
    /// rotation does not refill a project's bucket).
    fn build(
        list: Vec<Arc<Project>>,
        previous: Option<&ProjectTable>,
        rate: &RateLimits,
    ) -> ProjectTable {
        let by_id = list.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
        let limiters = list
            .iter()
            .filter_map(|p| {
                let l = previous
                    .and_then(|t| t.limiters.get(&p.id).cloned())
                    .or_else(|| limiter(rate, &p.slug))?;
                Some((p.id, l))
            })
            .collect();
        ProjectTable {
            list,
            by_id,
            limiters,
        }
    }

    pub fn get(&self, id: u64) -> Option<&Arc<Project>> {
        self.by_id.get(&id).and_then(|&i| self.list.get(i))
    }

    pub fn list(&self) -> &[Arc<Project>] {
        &self.list
    }

    pub(crate) fn limiter(&self, id: u64) -> Option<&DefaultDirectRateLimiter> {
        self.limiters.get(&id).map(|l| l.as_ref())
    }
}

/// Project changes: loading stored projects at start and the admin API's create, rotate
/// and delete. Each call writes the state store (blocking: call from a blocking thread),
/// then publishes the new table. Calls are serialised.
pub struct Projects<'a> {
    pub(crate) store: &'a dyn StateStore,
    pub(crate) table: &'a RwLock<Arc<ProjectTable>>,
    pub(crate) guard: &'a Mutex<()>,
    pub(crate) rate: &'a RateLimits,
}

/// A fresh DSN public key: 16 random bytes as 32 lowercase hex digits.
fn random_key() -> Result<String, StateError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| StateError::Unavailable {
        message: "generating a project key: the system random source failed".into(),
        source: e.to_string().into(),
    })?;
    Ok(hex::encode(b))
}

fn read_only(p: &Project) -> StateError {
    StateError::Conflict(format!(
        "project {} ({:?}) is declared in the configuration (`projects:`) and cannot be \
         changed through the API; edit the configuration instead",
        p.id, p.slug
    ))
}

impl Projects<'_> {
    fn current(&self) -> Arc<ProjectTable> {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn publish(&self, list: Vec<Arc<Project>>) {
        let previous = self.current();
        let table = Arc::new(ProjectTable::build(list, Some(&previous), self.rate));
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = table;
    }

    fn configured(&self) -> Vec<Arc<Project>> {
        self.current()
            .list()
            .iter()
            .filter(|p| p.source == ProjectSource::Config)
            .cloned()
            .collect()
    }

    /// Adds the enabled projects stored in the state store to the configured ones. An id,
    /// slug or key of a stored project (disabled ones included) that a configured project
    /// also has is refused with a [`StateError::Conflict`] naming both. Returns how many
    /// were loaded.
    pub fn load_stored(&self) -> Result<usize, StateError> {
        let _g = self.guard.lock().unwrap_or_else(PoisonError::into_inner);
        let stored = self.store.list_projects(true)?;
        let config = self.configured();
        for s in &stored {
            for c in &config {
                let clash = if c.id == s.id {
                    Some(format!("id {}", c.id))
                } else if c.slug == s.slug {
                    Some(format!("slug {:?}", c.slug))
                } else if c.public_key == s.public_key {
                    Some("public_key".to_string())
                } else {
                    None
                };
                if let Some(what) = clash {
                    return Err(StateError::Conflict(format!(
                        "projects: the configured project {} ({:?}) has the same {what} as \
                         project {} ({:?}) created through the API{}; change it in the \
                         configuration",
                        c.id,
                        c.slug,
                        s.id,
                        s.slug,
                        if s.disabled_at.is_some() {
                            " (deleted)"
                        } else {
                            ""
                        }
                    )));
                }
            }
        }
        let enabled: Vec<Arc<Project>> = stored
            .iter()
            .filter(|s| s.disabled_at.is_none())
            .map(|s| Arc::new(Project::from_record(s)))
            .collect();
        let n = enabled.len();
        let mut list = config;
        list.extend(enabled);
        self.publish(list);
        Ok(n)
    }

    /// Creates a project with a random key and the next free id (above every configured
    /// and stored id, deleted ones included). A slug of a configured or stored project is
    /// a conflict; invalid fields are [`StateError::BadInput`] naming the field.
    pub fn create(&self, slug: &str, name: &str, now: i64) -> Result<Arc<Project>, StateError> {
        strix_state::project::validate_slug(slug)?;
        strix_state::project::validate_name(name)?;
        let _g = self.guard.lock().unwrap_or_else(PoisonError::into_inner);
        let config = self.configured();
        if let Some(c) = config.iter().find(|c| c.slug == slug) {
            return Err(StateError::Conflict(format!(
                "slug: {slug:?} is taken by the configured project {}",
                c.id
            )));
        }
        let stored = self.store.list_projects(true)?;
        let id = config
            .iter()
            .map(|p| p.id)
            .chain(stored.iter().map(|p| p.id))
            .max()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or_else(|| StateError::BadInput("id: no project id left".into()))?;
        let mut public_key = random_key()?;
        while config.iter().any(|c| c.public_key == public_key) {
            public_key = random_key()?;
        }
        let name = if name.trim().is_empty() { slug } else { name };
        let rec = self.store.create_project(
            &NewProject {
                id,
                slug: slug.to_string(),
                name: name.trim().to_string(),
                public_key,
            },
            now,
        )?;
        let project = Arc::new(Project::from_record(&rec));
        let mut list = self.current().list().to_vec();
        list.push(project.clone());
        self.publish(list);
        tracing::info!(project = id, slug, "Error-tracking project created.");
        Ok(project)
    }

    /// Gives an API-created project a new random key; the old one is refused from the next
    /// request on. Configured projects are a conflict, unknown or deleted ones not found.
    pub fn rotate_key(&self, id: u64, now: i64) -> Result<Arc<Project>, StateError> {
        let _g = self.guard.lock().unwrap_or_else(PoisonError::into_inner);
        let table = self.current();
        let config_keys: Vec<String> = self
            .configured()
            .iter()
            .map(|p| p.public_key.clone())
            .collect();
        match table.get(id) {
            Some(p) if p.source == ProjectSource::Config => return Err(read_only(p)),
            Some(_) => {}
            None => {
                return Err(StateError::NotFound {
                    kind: "project",
                    id: id.to_string(),
                })
            }
        }
        let mut key = random_key()?;
        while config_keys.contains(&key) {
            key = random_key()?;
        }
        let rec = self.store.rotate_project_key(id, &key, now)?;
        let project = Arc::new(Project::from_record(&rec));
        let list = table
            .list()
            .iter()
            .map(|p| {
                if p.id == id {
                    project.clone()
                } else {
                    p.clone()
                }
            })
            .collect();
        self.publish(list);
        tracing::info!(project = id, "Error-tracking project key rotated.");
        Ok(project)
    }

    /// Disables an API-created project: its ingest answers 404 from the next request on;
    /// its stored events and issues stay. Configured projects are a conflict, unknown or
    /// already deleted ones not found.
    pub fn delete(&self, id: u64, now: i64) -> Result<Arc<Project>, StateError> {
        let _g = self.guard.lock().unwrap_or_else(PoisonError::into_inner);
        let table = self.current();
        let project = match table.get(id) {
            Some(p) if p.source == ProjectSource::Config => return Err(read_only(p)),
            Some(p) => p.clone(),
            None => {
                return Err(StateError::NotFound {
                    kind: "project",
                    id: id.to_string(),
                })
            }
        };
        self.store.disable_project(id, now)?;
        let list = table
            .list()
            .iter()
            .filter(|p| p.id != id)
            .cloned()
            .collect();
        self.publish(list);
        tracing::info!(project = id, "Error-tracking project deleted (disabled).");
        Ok(project)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str = "0123456789abcdef0123456789abcdef";

    fn setup() -> (
        tempfile::TempDir,
        strix_state::SqliteStore,
        RwLock<Arc<ProjectTable>>,
        Mutex<()>,
        RateLimits,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = strix_state::SqliteStore::open(dir.path().join("state.db")).unwrap();
        let rate = RateLimits::default();
        let table = RwLock::new(Arc::new(ProjectTable::new(
            vec![Project::configured(1, "web", K)],
            &rate,
        )));
        (dir, store, table, Mutex::new(()), rate)
    }

    #[test]
    fn create_rotate_delete_swap_the_table() {
        let (_d, store, table, guard, rate) = setup();
        let p = Projects {
            store: &store,
            table: &table,
            guard: &guard,
            rate: &rate,
        };
        assert_eq!(p.load_stored().unwrap(), 0);
        let a = p.create("api", "Backend API", 10).unwrap();
        assert_eq!(
            (a.id, a.source, a.name.as_str()),
            (2, ProjectSource::Api, "Backend API")
        );
        assert_eq!(a.public_key.len(), 32);
        assert!(table.read().unwrap().get(2).is_some());
        let b = p.create("jobs", "", 11).unwrap();
        assert_eq!((b.id, b.name.as_str()), (3, "jobs"));
        assert_ne!(a.public_key, b.public_key);

        let r = p.rotate_key(2, 20).unwrap();
        assert_ne!(r.public_key, a.public_key);
        assert_eq!(
            table.read().unwrap().get(2).unwrap().public_key,
            r.public_key
        );

        p.delete(3, 30).unwrap();
        assert!(table.read().unwrap().get(3).is_none());
        // The id of a deleted project is not reused.
        assert_eq!(p.create("cron", "", 40).unwrap().id, 4);

        for e in [
            p.rotate_key(1, 50).unwrap_err(),
            p.delete(1, 50).unwrap_err(),
        ] {
            assert!(matches!(e, StateError::Conflict(_)), "{e}");
            assert!(e.to_string().contains("configuration"), "{e}");
        }
        let e = p.create("web", "", 50).unwrap_err();
        assert!(e.to_string().contains("slug: \"web\""), "{e}");
        assert!(matches!(
            p.delete(3, 50).unwrap_err(),
            StateError::NotFound { .. }
        ));
        let e = p.create("Bad Slug", "", 50).unwrap_err();
        assert!(matches!(e, StateError::BadInput(_)), "{e}");

        // A restart: a fresh table from the configuration, then the stored projects.
        let table2 = RwLock::new(Arc::new(ProjectTable::new(
            vec![Project::configured(1, "web", K)],
            &rate,
        )));
        let p2 = Projects {
            store: &store,
            table: &table2,
            guard: &guard,
            rate: &rate,
        };
        assert_eq!(p2.load_stored().unwrap(), 2);
        let t = table2.read().unwrap().clone();
        let ids: Vec<u64> = t.list().iter().map(|p| p.id).collect();
        assert_eq!(ids, [1, 2, 4]);
        assert_eq!(t.get(2).unwrap().public_key, r.public_key);
    }

    #[test]
    fn load_refuses_clashes_with_configured_projects() {
        let (_d, store, _table, guard, rate) = setup();
        store
            .create_project(
                &NewProject {
                    id: 1,
                    slug: "other".into(),
                    name: "x".into(),
                    public_key: "fedcba9876543210fedcba9876543210".into(),
                },
                1,
            )
            .unwrap();
        let table = RwLock::new(Arc::new(ProjectTable::new(
            vec![Project::configured(1, "web", K)],
            &rate,
        )));
        let p = Projects {
            store: &store,
            table: &table,
            guard: &guard,
            rate: &rate,
        };
        let e = p.load_stored().unwrap_err();
        assert!(e.to_string().contains("same id 1"), "{e}");
        let table = RwLock::new(Arc::new(ProjectTable::new(
            vec![Project::configured(9, "other", K)],
            &rate,
        )));
        let p = Projects {
            store: &store,
            table: &table,
            guard: &guard,
            rate: &rate,
        };
        let e = p.load_stored().unwrap_err();
        assert!(e.to_string().contains("same slug \"other\""), "{e}");
    }
}
