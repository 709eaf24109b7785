//! Scrape pools (one per job), their discovery, and the loops of their targets.
//!
//! [`ScrapeManager::apply_config`] diffs the new section against the running one: a job
//! whose effective config is unchanged keeps its loops and discovery as they are; a
//! changed job gets new loops that inherit the staleness memory of the old loop for the
//! same target; targets that vanish (from the config or from a file_sd file) write stale
//! markers for everything they wrote.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use prometheus_client::registry::Registry;
use serde::Serialize;
use strix_core::storage::Appendable;
use strix_core::{ErrorClass, Labels};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{ConfigError, GlobalConfig, ScrapeConfig, ScrapeSection};
use crate::metrics::ScrapeMetrics;
use crate::scraper::{run_loop, JobSettings, LoopCtx, LoopState, StopMode, TargetHealth};
use crate::target::{populate, FileSd, Populated, SourcedGroup, Target};

/// Dropped targets remembered per job for `/api/v1/targets`.
const MAX_DROPPED_PER_JOB: usize = 1000;
/// How long [`ScrapeManager::shutdown`] waits for each loop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Errors of [`ScrapeManager`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScrapeError {
    /// The section is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A job's HTTP client could not be built (e.g. an unreadable `ca_file`).
    #[error("scrape_configs job {job:?}: {message}")]
    Job { job: String, message: String },
    /// `apply_config` was called outside a tokio runtime.
    #[error("the scrape manager needs a tokio runtime")]
    NoRuntime,
    /// `apply_config` after `shutdown`.
    #[error("the scrape manager is shut down")]
    ShutDown,
}

impl ScrapeError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ScrapeError::Config(_) | ScrapeError::Job { .. } => ErrorClass::BadInput,
            ScrapeError::NoRuntime => ErrorClass::Internal,
            ScrapeError::ShutDown => ErrorClass::Unavailable,
        }
    }
}

/// One active target as `/api/v1/targets` shows it (Prometheus field names).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    pub discovered_labels: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub scrape_pool: String,
    pub scrape_url: String,
    pub global_url: String,
    pub last_error: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` before the first scrape, as Prometheus.
    pub last_scrape: String,
    /// Seconds.
    pub last_scrape_duration: f64,
    /// "up", "down" or "unknown".
    pub health: &'static str,
    /// e.g. "15s".
    pub scrape_interval: String,
    pub scrape_timeout: String,
}

/// A target dropped by relabeling (`droppedTargets` of `/api/v1/targets`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    pub discovered_labels: BTreeMap<String, String>,
    pub scrape_pool: String,
}

struct Active {
    target: Arc<Target>,
    health: Arc<Mutex<TargetHealth>>,
    stop: Option<oneshot::Sender<StopMode>>,
    handle: JoinHandle<LoopState>,
}

impl Active {
    /// Signals the loop; returns its handle to await.
    fn stop(mut self, mode: StopMode) -> JoinHandle<LoopState> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(mode);
        }
        self.handle
    }
}

struct Pool {
    /// The job config and the global defaults it was resolved with.
    cfg: ScrapeConfig,
    resolved: (Duration, Duration),
    global: GlobalConfig,
    settings: Arc<JobSettings>,
    /// Bumped on every rebuild so a stale discovery task cannot update a new pool.
    generation: u64,
    static_groups: Vec<SourcedGroup>,
    /// One entry per file_sd_configs item.
    file_groups: Vec<Vec<SourcedGroup>>,
    sd_tasks: Vec<JoinHandle<()>>,
    active: HashMap<u64, Active>,
    dropped: Vec<Labels>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        for t in &self.sd_tasks {
            t.abort();
        }
    }
}

struct State {
    pools: BTreeMap<String, Pool>,
    /// Loops told to stop with stale markers, awaited at shutdown.
    stopping: Vec<JoinHandle<LoopState>>,
    next_generation: u64,
    closed: bool,
}

struct Inner {
    app: Arc<dyn Appendable>,
    metrics: ScrapeMetrics,
    state: Mutex<State>,
}

/// Runs the scrape pools of a [`ScrapeSection`].
///
/// Cheap to clone; all clones control the same pools.
#[derive(Clone)]
pub struct ScrapeManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ScrapeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeManager").finish_non_exhaustive()
    }
}

impl ScrapeManager {
    /// Creates a manager with no jobs; registers its self-metrics in `registry`.
    pub fn new(appendable: Arc<dyn Appendable>, registry: &mut Registry) -> Self {
        ScrapeManager {
            inner: Arc::new(Inner {
                app: appendable,
                metrics: ScrapeMetrics::new(registry),
                state: Mutex::new(State {
                    pools: BTreeMap::new(),
                    stopping: Vec::new(),
                    next_generation: 1,
                    closed: false,
                }),
            }),
        }
    }

    /// Validates `section` and makes it the running configuration. Must be called from
    /// within a tokio runtime (loops are spawned on it). Unchanged jobs keep running
    /// untouched; on error nothing changes.
    pub fn apply_config(&self, section: ScrapeSection) -> Result<(), ScrapeError> {
        section.validate()?;
        let rt = Handle::try_current().map_err(|_| ScrapeError::NoRuntime)?;
        // Build everything that can fail before touching the running pools.
        let mut settings: HashMap<String, Arc<JobSettings>> = HashMap::new();
        for cfg in &section.scrape_configs {
            let s = JobSettings::from_config(cfg).map_err(|message| ScrapeError::Job {
                job: cfg.job_name.clone(),
                message,
            })?;
            settings.insert(cfg.job_name.clone(), Arc::new(s));
        }
        let mut st = self.inner.lock();
        if st.closed {
            return Err(ScrapeError::ShutDown);
        }
        let mut old_pools = std::mem::take(&mut st.pools);
        let mut new_pools = BTreeMap::new();
        let mut stopping = Vec::new();
        for cfg in section.scrape_configs {
            let job = cfg.job_name.clone();
            let resolved = cfg.interval_and_timeout(&section.global);
            let previous = match old_pools.remove(&job) {
                Some(old) if old.cfg == cfg && old.resolved == resolved => {
                    new_pools.insert(job, old);
                    continue;
                }
                // Changed job: its loops hand their state to the new ones; dropping the
                // old pool aborts its discovery tasks.
                Some(mut old) => Some(std::mem::take(&mut old.active)),
                None => None,
            };
            let Some(s) = settings.remove(&job) else {
                continue;
            };
            let generation = st.next_generation;
            st.next_generation += 1;
            let static_groups = cfg
                .static_configs
                .iter()
                .map(|g| SourcedGroup {
                    group: g.clone(),
                    meta: Vec::new(),
                })
                .collect();
            // The first file_sd read is synchronous so a reload does not see the
            // file targets as gone for one refresh interval.
            let mut sds: Vec<FileSd> = cfg
                .file_sd_configs
                .iter()
                .cloned()
                .map(FileSd::new)
                .collect();
            let file_groups = sds
                .iter_mut()
                .map(|sd| sd.refresh().unwrap_or_default())
                .collect();
            let mut pool = Pool {
                cfg,
                resolved,
                global: section.global.clone(),
                settings: s,
                generation,
                static_groups,
                file_groups,
                sd_tasks: Vec::new(),
                active: HashMap::new(),
                dropped: Vec::new(),
            };
            for (idx, sd) in sds.into_iter().enumerate() {
                let weak = Arc::downgrade(&self.inner);
                pool.sd_tasks
                    .push(rt.spawn(file_sd_task(weak, job.clone(), generation, idx, sd)));
            }
            stopping.extend(self.sync_pool(&rt, &mut pool, previous));
            new_pools.insert(job, pool);
        }
        for (job, mut old) in old_pools {
            self.inner
                .metrics
                .targets
                .get_or_create(&ScrapeMetrics::job(&job))
                .set(0);
            for (_, a) in std::mem::take(&mut old.active) {
                stopping.push(a.stop(StopMode::Stale));
            }
        }
        st.pools = new_pools;
        st.stopping.retain(|h| !h.is_finished());
        st.stopping.extend(stopping);
        Ok(())
    }

    /// Starts, keeps or stops loops so that `pool.active` matches its discovered groups.
    /// With `previous` (the loops of the pool this one replaces), loops for targets that
    /// persist are stopped silently and their successors inherit their state.
    fn sync_pool(
        &self,
        rt: &Handle,
        pool: &mut Pool,
        previous: Option<HashMap<u64, Active>>,
    ) -> Vec<JoinHandle<LoopState>> {
        let mut desired: Vec<Target> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut dropped = Vec::new();
        let groups = pool
            .static_groups
            .iter()
            .chain(pool.file_groups.iter().flatten());
        for sg in groups {
            for addr in &sg.group.targets {
                match populate(addr, &sg.group, &sg.meta, &pool.cfg, &pool.global) {
                    Ok(Populated::Active(t)) => {
                        if seen.insert(t.hash) {
                            desired.push(t);
                        }
                    }
                    Ok(Populated::Dropped(l)) => {
                        if dropped.len() < MAX_DROPPED_PER_JOB {
                            dropped.push(l);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(job = %pool.cfg.job_name, target = %addr, error = %e, "Skipping an unusable target.");
                    }
                }
            }
        }
        pool.dropped = dropped;
        let (mut old, handover) = match previous {
            Some(p) => (p, true),
            None => (std::mem::take(&mut pool.active), false),
        };
        let mut stopping = Vec::new();
        for t in desired {
            let hash = t.hash;
            match old.remove(&hash) {
                Some(a) if !handover => {
                    pool.active.insert(hash, a);
                }
                Some(a) => {
                    let health = a.health.clone();
                    let h = a.stop(StopMode::Silent);
                    let active = self.start_loop(rt, pool, t, health, Some(h));
                    pool.active.insert(hash, active);
                }
                None => {
                    let active = self.start_loop(rt, pool, t, Arc::default(), None);
                    pool.active.insert(hash, active);
                }
            }
        }
        for (_, a) in old {
            stopping.push(a.stop(StopMode::Stale));
        }
        self.inner
            .metrics
            .targets
            .get_or_create(&ScrapeMetrics::job(&pool.cfg.job_name))
            .set(i64::try_from(pool.active.len()).unwrap_or(i64::MAX));
        stopping
    }

    fn start_loop(
        &self,
        rt: &Handle,
        pool: &Pool,
        target: Target,
        health: Arc<Mutex<TargetHealth>>,
        inherit: Option<JoinHandle<LoopState>>,
    ) -> Active {
        let target = Arc::new(target);
        let (tx, rx) = oneshot::channel();
        let ctx = Arc::new(LoopCtx {
            app: self.inner.app.clone(),
            target: target.clone(),
            settings: pool.settings.clone(),
            health: health.clone(),
            metrics: self.inner.metrics.clone(),
        });
        let handle = rt.spawn(run_loop(ctx, rx, inherit));
        Active {
            target,
            health,
            stop: Some(tx),
            handle,
        }
    }

    /// Active targets of all jobs, ordered by job then labels.
    pub fn targets(&self) -> Vec<TargetStatus> {
        let st = self.inner.lock();
        let mut out = Vec::new();
        for (job, pool) in &st.pools {
            let mut rows: Vec<&Active> = pool.active.values().collect();
            rows.sort_by(|a, b| a.target.labels.cmp(&b.target.labels));
            for a in rows {
                let h = a.health.lock().map(|h| h.clone()).unwrap_or_default();
                let t = &a.target;
                out.push(TargetStatus {
                    discovered_labels: to_map(&t.discovered),
                    labels: to_map(&t.labels),
                    scrape_pool: job.clone(),
                    scrape_url: t.url.clone(),
                    global_url: t.url.clone(),
                    last_error: h.last_error,
                    last_scrape: h
                        .last_scrape
                        .map(rfc3339)
                        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                    last_scrape_duration: h.last_duration.as_secs_f64(),
                    health: h.health.as_str(),
                    scrape_interval: strix_core::duration::format(t.interval),
                    scrape_timeout: strix_core::duration::format(t.timeout),
                });
            }
        }
        out
    }

    /// Targets dropped by relabeling (at most 1000 per job).
    pub fn dropped_targets(&self) -> Vec<DroppedTarget> {
        let st = self.inner.lock();
        st.pools
            .iter()
            .flat_map(|(job, p)| {
                p.dropped.iter().map(move |l| DroppedTarget {
                    discovered_labels: to_map(l),
                    scrape_pool: job.clone(),
                })
            })
            .collect()
    }

    /// Stops every loop and discovery task without writing stale markers (the data
    /// simply ends, as when Prometheus stops) and waits for loops still writing stale
    /// markers for removed targets. Later `apply_config` calls fail.
    pub async fn shutdown(&self) {
        let handles: Vec<JoinHandle<LoopState>> = {
            let mut st = self.inner.lock();
            st.closed = true;
            let mut hs = std::mem::take(&mut st.stopping);
            for (_, mut pool) in std::mem::take(&mut st.pools) {
                for (_, a) in std::mem::take(&mut pool.active) {
                    hs.push(a.stop(StopMode::Silent));
                }
            }
            hs
        };
        for h in handles {
            let _ = tokio::time::timeout(SHUTDOWN_WAIT, h).await;
        }
    }

    /// Replaces the groups of one file_sd provider and re-syncs the pool.
    fn update_file_groups(
        &self,
        job: &str,
        generation: u64,
        idx: usize,
        groups: Vec<SourcedGroup>,
    ) {
        let Ok(rt) = Handle::try_current() else {
            return;
        };
        let mut st = self.inner.lock();
        let Some(pool) = st.pools.get_mut(job) else {
            return;
        };
        if pool.generation != generation {
            return;
        }
        if let Some(slot) = pool.file_groups.get_mut(idx) {
            *slot = groups;
        }
        let stopping = self.sync_pool(&rt, pool, None);
        st.stopping.retain(|h| !h.is_finished());
        st.stopping.extend(stopping);
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn file_sd_task(weak: Weak<Inner>, job: String, generation: u64, idx: usize, mut sd: FileSd) {
    loop {
        tokio::time::sleep(sd.refresh_interval()).await;
        let joined = tokio::task::spawn_blocking(move || {
            let changed = sd.refresh();
            (sd, changed)
        })
        .await;
        let changed;
        (sd, changed) = match joined {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(job = %job, error = %e, "BUG: file_sd refresh panicked; discovery stops for this job.");
                return;
            }
        };
        let Some(inner) = weak.upgrade() else { return };
        if let Some(groups) = changed {
            ScrapeManager { inner }.update_file_groups(&job, generation, idx, groups);
        }
    }
}

fn to_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

/// RFC 3339 in UTC with milliseconds: `2024-05-01T12:00:00.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
