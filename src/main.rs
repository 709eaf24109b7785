//! The `strix` binary: command line, configuration, logging, wiring and shutdown.

mod config;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strix_core::storage::{AppendMode, Appendable, Queryable};

/// mimalloc instead of glibc's malloc: the ingest paths (JSON trees, label maps, SQLite rows)
/// allocate and free many small objects across threads, where glibc's arenas spend a fifth
/// of the CPU (bench/README.md). Built without transparent huge pages: a fresh process
/// otherwise spends its first bursts zeroing 2 MiB pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "strix",
    version,
    about = "Production monitoring in one binary."
)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Configuration file (YAML or JSON). Without it, built-in defaults apply.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Data directory (default ./strix-data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Listen address (default 127.0.0.1:3003).
        #[arg(long)]
        listen: Option<String>,
        /// Allow listening on a non-loopback address without API keys.
        #[arg(long)]
        insecure: bool,
    },
    /// Validate a configuration file and print errors naming the key.
    CheckConfig { file: PathBuf },
    /// Print each error-tracking project's DSN (id, slug, DSN) for the listen address: the
    /// configured ones, then those created through the admin API (marked `api`).
    Projects {
        /// Configuration file (YAML or JSON).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Data directory whose state store holds projects created through the API
        /// (default: the configured one).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Listen address to put in the DSN (default: the configured one).
        #[arg(long)]
        listen: Option<String>,
    },
}

fn init_logging(json: bool, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRIX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Projects {
            config,
            data_dir,
            listen,
        } => match print_projects(config.as_deref(), data_dir, listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::from(1)
            }
        },
        Command::CheckConfig { file } => match config::load(&file)
            .and_then(|raw| raw.validate())
            .and_then(|cfg| {
                let base = file.parent().map(PathBuf::from).unwrap_or_default();
                strix_rules::load_files(&cfg.rule_files, &base)?;
                if !cfg.checks.is_empty() {
                    // Host names of probed checks must resolve (the error names the key).
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .context("starting the async runtime")?;
                    rt.block_on(strix_checks::config::check_hosts_resolve(
                        &cfg.checks,
                        Duration::from_secs(5),
                    ))
                    .map_err(|e| anyhow::anyhow!("key `{}`: {}", e.key, e.message))?;
                }
                Ok(())
            }) {
            Ok(()) => {
                println!("{}: configuration is valid", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::from(1)
            }
        },
        Command::Serve {
            config,
            data_dir,
            listen,
            insecure,
        } => {
            let raw = match config.as_deref().map(config::load).transpose() {
                Ok(r) => r.unwrap_or_default(),
                Err(e) => {
                    eprintln!("{e:#}");
                    return ExitCode::from(1);
                }
            };
            let effective = config::effective_yaml(&raw);
            let mut cfg = match raw.validate() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e:#}");
                    return ExitCode::from(1);
                }
            };
            init_logging(cli.log_json || cfg.log_json, &cfg.log_level);
            cfg.server.config_yaml = effective;
            if let Some(d) = data_dir {
                cfg.data_dir = d;
            }
            if let Some(l) = listen {
                cfg.listen = l;
            }
            let config_dir = config
                .as_deref()
                .and_then(|p| p.parent())
                .map(PathBuf::from)
                .unwrap_or_default();
            match serve(cfg, &config_dir, insecure) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "Strix stopped with an error.");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn serve(cfg: config::Config, config_dir: &std::path::Path, insecure: bool) -> anyhow::Result<()> {
    let addr: SocketAddr = cfg.listen.parse().with_context(|| {
        format!(
            "invalid listen address {:?} (expected host:port)",
            cfg.listen
        )
    })?;
    if !config::is_loopback(&addr) && cfg.server.api_keys.is_empty() && !insecure {
        anyhow::bail!(
            "refusing to listen on non-loopback address {addr} without API keys; configure auth.api_keys or pass --insecure"
        );
    }
    let mut registry = prometheus_client::registry::Registry::default();
    let db = strix_tsdb::Db::open(&cfg.data_dir, cfg.db.clone(), &mut registry)
        .with_context(|| format!("opening storage in {}", cfg.data_dir.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    // Services publish what the dashboard shows live; `/api/monitoring/events` streams it.
    let events = Arc::new(strix_core::events::EventBus::default());
    let mut rule_files =
        strix_rules::load_files(&cfg.rule_files, config_dir).context("loading rule files")?;
    // KPI thresholds are alerting rules too (one group, on the default interval).
    if !cfg.server.kpis.is_empty() {
        rule_files.push(strix_rules::RuleFile {
            path: strix_rules::kpi::GROUP_FILE.to_string(),
            groups: vec![strix_rules::kpi::compile(&cfg.server.kpis)],
        });
    }
    let store: Arc<dyn Queryable> = Arc::new(db.clone());
    let engine_sink: Arc<dyn Appendable> = Arc::new(db.clone());
    // Alerting: the state store, routing configuration and pipeline.
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let state_path = cfg.data_dir.join("state.db");
    let sqlite = strix_state::SqliteStore::open(&state_path)
        .with_context(|| format!("opening the state store {}", state_path.display()))?;
    sqlite
        .set_cache_size(cfg.state_cache_bytes)
        .context("setting storage.state_cache_size")?;
    let state_store: Arc<dyn strix_state::StateStore> = Arc::new(sqlite);
    let (routing, routing_text) = match cfg.alertmanager.clone() {
        Some((c, text)) => (c, text),
        None => (
            strix_alerting::pipeline::default_routing_config()
                .map_err(|e| anyhow::anyhow!("built-in alerting configuration: {e}"))?,
            strix_alerting::pipeline::DEFAULT_CONFIG_YAML.to_string(),
        ),
    };
    let external_url = format!("http://{}", cfg.listen);
    let pipeline = strix_alerting::pipeline::AlertPipeline::new(
        routing,
        state_store,
        strix_alerting::pipeline::PipelineOptions {
            external_url: external_url.clone(),
            events: Some(events.clone()),
            ..Default::default()
        },
        &mut registry,
    )
    .context("starting the alerting pipeline")?;
    pipeline.set_config_yaml(&routing_text);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("strix-worker")
        .build()
        .context("starting the async runtime")?;
    pipeline.start(rt.handle());
    let rules = Arc::new(strix_rules::RuleManager::new(
        strix_query::Engine::new(cfg.server.engine.clone()),
        store,
        engine_sink.clone(),
        strix_rules::RuleManagerOptions {
            default_interval: cfg.evaluation_interval,
            external_labels: cfg.scrape.global.external_labels.clone(),
            external_url,
            notifier: Some(Arc::new(PipelineNotifier(pipeline.clone()))),
            events: Some(events.clone()),
            kpis: cfg.server.kpis.clone(),
            ..Default::default()
        },
        &mut registry,
    ));
    rules.apply(rule_files);
    rules.start().context("starting rule evaluation")?;
    // Ingest writes wake the alerting rules that read what was written.
    let sink: Arc<dyn Appendable> = Arc::new(strix_rules::TriggeringAppender::new(
        engine_sink,
        rules.clone(),
    ));
    let host = match cfg.host_metrics_interval {
        Some(every) => Some(spawn_host_collector(
            sink.clone(),
            every,
            &cfg.listen,
            stop.clone(),
        )?),
        None => None,
    };
    let scrape = strix_scrape::ScrapeManager::new(sink.clone(), &mut registry);
    // Health checks: probes and heartbeats, their series written through the ingest sink,
    // their history in the state store, their alerts through the pipeline and their status
    // changes on the event bus. The service exists without checks too.
    let checks = strix_checks::CheckService::open(
        cfg.checks.clone(),
        sink.clone(),
        strix_checks::ServiceHooks {
            store: Some(pipeline.store().clone()),
            events: Some(events.clone()),
            alerts: Some(Arc::new(CheckAlertNotifier {
                pipeline: pipeline.clone(),
                external_url: format!("http://{}", cfg.listen),
            })),
            settings: cfg.check_settings.clone(),
        },
        strix_core::now_millis(),
    )
    .map_err(|e| match e {
        strix_checks::Error::Config(c) => anyhow::anyhow!("key `{}`: {}", c.key, c.message),
        e => anyhow::Error::new(e),
    })
    .context("loading health checks")?;
    let check_tasks = {
        let _rt = rt.enter();
        checks
            .start(strix_checks::SchedulerOptions::default())
            .context("starting health checks")?
    };
    let errors = Arc::new(
        error_tracking(
            pipeline.store().clone(),
            &cfg.errors,
            pipeline.clone(),
            events.clone(),
            &format!("http://{}", cfg.listen),
            &mut registry,
        )
        .context("starting error tracking")?,
    );
    // Projects created through the admin API, after the configured ones.
    errors
        .project_admin()
        .load_stored()
        .map_err(|e| anyhow::anyhow!("key `{}", e.to_string().trim_start_matches("conflict: ")))
        .context("loading error-tracking projects")?;
    rt.spawn(strix_server::api::sentry::run_maintenance(errors.clone()));
    let services = strix_server::Services {
        sink: Some(sink.clone()),
        rules: Some(rules.clone()),
        scrape: Some(scrape.clone()),
        alerts: Some(pipeline.clone()),
        checks: Some(checks.clone()),
        errors: Some(errors.clone()),
        events: events.clone(),
    };
    let state =
        strix_server::AppState::with_services(db.clone(), cfg.server.clone(), registry, services);
    let ticker = {
        let _rt = rt.enter();
        strix_server::api::events::spawn_ticker(state.clone(), Duration::from_secs(5))
    };
    let app = strix_server::build_router(state);
    let result = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let local = listener.local_addr().context("reading bound address")?;
        tracing::info!(address = %local, data_dir = %cfg.data_dir.display(), version = strix_server::VERSION, "Strix is listening.");
        let mut section = cfg.scrape.clone();
        if cfg.self_scrape && !section.scrape_configs.iter().any(|j| j.job_name == "strix") {
            section.scrape_configs.extend(strix_scrape::ScrapeSection::self_scrape(&local.to_string()).scrape_configs);
        }
        scrape.apply_config(section).context("starting scrapes")?;
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("serving HTTP");
        scrape.shutdown().await;
        served
    });
    stop.store(true, Ordering::Release);
    ticker.abort();
    rules.stop();
    rt.block_on(check_tasks.stop());
    checks.flush_history();
    tracing::info!("Stopping the alerting pipeline.");
    rt.block_on(pipeline.shutdown());
    if let Some(h) = host {
        if h.join().is_err() {
            tracing::error!("Host metrics collector panicked.");
        }
    }
    tracing::info!("Closing storage.");
    db.close().context("closing storage")?;
    tracing::info!("Strix stopped.");
    result
}

/// `strix projects`: one line per project, `id<TAB>slug<TAB>DSN`; projects created through
/// the admin API (read from the state store in the data directory, opened read-only) follow
/// the configured ones with a fourth column `api`. A wildcard listen host (`0.0.0.0`,
/// `[::]`) is shown as `localhost`.
fn print_projects(
    config: Option<&std::path::Path>,
    data_dir: Option<PathBuf>,
    listen: Option<String>,
) -> anyhow::Result<()> {
    let raw = config.map(config::load).transpose()?.unwrap_or_default();
    let cfg = raw.validate()?;
    let data_dir = data_dir.unwrap_or_else(|| cfg.data_dir.clone());
    let state_path = data_dir.join("state.db");
    let stored = match std::fs::metadata(&state_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(e).with_context(|| format!("reading {}", state_path.display()));
        }
        Ok(_) => {
            let store = strix_state::SqliteStore::open_read_only(&state_path)
                .with_context(|| format!("opening the state store {}", state_path.display()))?;
            if store.schema_version()? < 5 {
                Vec::new()
            } else {
                strix_state::StateStore::list_projects(&store, false)?
            }
        }
    };
    let listen = listen.unwrap_or(cfg.listen);
    let (host, port) = listen
        .rsplit_once(':')
        .with_context(|| format!("listen address {listen:?} has no port"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("listen address {listen:?}: invalid port"))?;
    let host = match host.trim_start_matches('[').trim_end_matches(']') {
        "" | "0.0.0.0" | "::" => "localhost",
        h => h,
    };
    if cfg.errors.projects.is_empty() && stored.is_empty() {
        eprintln!(
            "no projects (add `projects: [{{id, slug, public_key}}]` to strix.yaml, or create \
             one with POST /api/monitoring/projects)"
        );
    }
    for p in &cfg.errors.projects {
        println!(
            "{}\t{}\t{}",
            p.id,
            p.slug,
            strix_errors::Dsn::new(host, port, p.id, &p.public_key)
        );
    }
    for p in &stored {
        println!(
            "{}\t{}\t{}\tapi",
            p.id,
            p.slug,
            strix_errors::Dsn::new(host, port, p.id, &p.public_key)
        );
    }
    Ok(())
}

/// Error tracking over the state store, from the validated `projects:` and `errors:`;
/// spike alerts go to the alerting pipeline, new and regressed issues to the event bus.
fn error_tracking(
    store: Arc<dyn strix_state::StateStore>,
    errors: &config::ErrorsSection,
    pipeline: strix_alerting::pipeline::AlertPipeline,
    events: Arc<strix_core::events::EventBus>,
    external_url: &str,
    registry: &mut prometheus_client::registry::Registry,
) -> std::io::Result<strix_server::api::sentry::ErrorTracking> {
    let projects = errors
        .projects
        .iter()
        .map(|p| strix_server::api::sentry::Project::configured(p.id, &p.slug, &p.public_key))
        .collect();
    strix_server::api::sentry::ErrorTracking::new(
        store,
        projects,
        errors.scrubber.clone(),
        errors.categorizer.clone(),
        strix_server::api::sentry::TrackingOptions {
            rate: errors.limits.clone(),
            retention: errors.retention.clone(),
            detection: errors.detection.clone(),
            compression: errors.compression.clone(),
            external_url: external_url.to_string(),
        },
        Some(pipeline),
        events,
        registry,
    )
}

/// Hands check alerts (`CheckDown`, `CheckCertificateExpiry`, `CheckSlaBudgetBurn`) to the
/// alerting pipeline, the same path as alerts from rule evaluation.
struct CheckAlertNotifier {
    pipeline: strix_alerting::pipeline::AlertPipeline,
    external_url: String,
}

impl strix_checks::CheckAlertSink for CheckAlertNotifier {
    fn send(&self, alerts: Vec<strix_checks::CheckAlert>) {
        let incoming = alerts
            .into_iter()
            .map(|a| strix_alerting::pipeline::IncomingAlert {
                generator_url: format!(
                    "{}/api/monitoring/health/{}",
                    self.external_url,
                    a.labels.get("check").map_or("", String::as_str)
                ),
                labels: a.labels,
                annotations: a.annotations,
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                value: None,
                source: strix_alerting::pipeline::AlertSource::Rule,
            })
            .collect();
        if let Err(e) = self.pipeline.ingest(incoming) {
            tracing::warn!(error = %e, "Check alerts refused by the alerting pipeline.");
        }
    }
}

/// Hands alerts from rule evaluation to the alerting pipeline (what Prometheus sends to
/// Alertmanager): resolved alerts carry their end time, firing ones a future `ends_at`.
struct PipelineNotifier(strix_alerting::pipeline::AlertPipeline);

impl strix_rules::AlertNotifier for PipelineNotifier {
    fn send(&self, alerts: Vec<strix_rules::NotifyAlert>) {
        let now = strix_core::now_millis();
        let incoming = alerts
            .into_iter()
            .map(|a| strix_alerting::pipeline::IncomingAlert {
                ends_at: if a.resolved {
                    Some(a.ends_at.unwrap_or(now).min(now))
                } else {
                    a.ends_at
                },
                labels: a.labels,
                annotations: a.annotations,
                starts_at: a.starts_at,
                generator_url: a.generator_url,
                value: Some(a.value),
                source: strix_alerting::pipeline::AlertSource::Rule,
            })
            .collect();
        if let Err(e) = self.0.ingest(incoming) {
            tracing::warn!(error = %e, "Alerts from rule evaluation refused by the alerting pipeline.");
        }
    }
}

/// Collects host and process metrics every `every` into the store, until `stop`.
fn spawn_host_collector(
    db: Arc<dyn Appendable>,
    every: Duration,
    instance: &str,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let labels = strix_core::Labels::from_pairs([("job", "strix"), ("instance", instance)]);
    let mut collector = strix_host::HostCollector::new(labels);
    std::thread::Builder::new()
        .name("strix-host-metrics".into())
        .spawn(move || {
            let tick = Duration::from_millis(200);
            let mut next = Instant::now();
            while !stop.load(Ordering::Acquire) {
                if Instant::now() >= next {
                    next += every;
                    let series = collector.collect(strix_core::now_millis());
                    match db.append(&series, AppendMode::Live) {
                        Ok(out) => {
                            if let Some(e) = out.first_error {
                                tracing::warn!(error = %e, "Host metrics partly refused.");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "Storing host metrics failed."),
                    }
                }
                std::thread::sleep(
                    tick.min(next.saturating_duration_since(Instant::now()))
                        .max(Duration::from_millis(1)),
                );
            }
        })
        .context("starting the host metrics collector")
}

/// Resolves on the first SIGINT/SIGTERM; a second one exits at once.
async fn shutdown_signal() {
    wait_signal().await;
    tracing::info!("Shutting down gracefully; send the signal again to exit at once.");
    tokio::spawn(async {
        wait_signal().await;
        tracing::warn!("Second signal: exiting now.");
        std::process::exit(130);
    });
}

async fn wait_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
