//! Router assembly: every route group, auth per scope, body limits, timeouts and request
//! metrics, applied in one place.

use crate::api;
use crate::auth::{self, AuthResult, Scope};
use crate::error::{ApiError, Envelope};
use crate::metadata::MetadataStore;
use crate::metrics::{HandlerCode, HandlerLabel, ProtocolReason, ServerMetrics};
use crate::options::ServerOptions;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prometheus_client::registry::Registry;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;
use strix_ingest::DecodeLimits;
use strix_tsdb::Db;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

/// Background services whose state the API reports.
#[derive(Default)]
pub struct Services {
    /// Where ingest handlers write; the storage engine when `None`.
    pub sink: Option<Arc<dyn strix_core::storage::Appendable>>,
    pub rules: Option<Arc<strix_rules::RuleManager>>,
    pub scrape: Option<strix_scrape::ScrapeManager>,
    /// The alerting pipeline behind `/api/monitoring/alerts…` and `/api/v2/*`; those
    /// endpoints answer 503 when `None`.
    pub alerts: Option<strix_alerting::pipeline::AlertPipeline>,
    /// Health checks and heartbeats; without it the check endpoints list nothing and answer
    /// 404 for names and tokens.
    pub checks: Option<strix_checks::CheckService>,
    /// Error tracking (Sentry ingest and `/api/monitoring/errors`); without it the Sentry
    /// endpoints answer 404 and the error API 503.
    pub errors: Option<Arc<api::sentry::ErrorTracking>>,
    /// The live event bus the services publish to and `/api/monitoring/events` streams.
    pub events: Arc<strix_core::events::EventBus>,
}

pub struct App {
    pub db: Db,
    /// Ingest writes go here (the engine, possibly wrapped to wake alerting rules).
    pub sink: Arc<dyn strix_core::storage::Appendable>,
    pub services: Services,
    pub opts: ServerOptions,
    pub registry: Registry,
    pub metrics: ServerMetrics,
    pub metadata: MetadataStore,
    /// Open dashboard event streams and their wake-up.
    pub live: api::events::Live,
    /// The public status page's content and when it was computed.
    pub status_cache: std::sync::Mutex<Option<(Instant, serde_json::Value)>>,
    pub started: Instant,
    /// Wall-clock start time (for `/api/v1/status/runtimeinfo`).
    pub started_at: std::time::SystemTime,
    /// The PromQL engine, built from `opts.engine`.
    pub engine: strix_query::Engine,
    query_slots: Arc<Semaphore>,
    write_slots: Arc<Semaphore>,
    ingest_limiter: Option<DefaultDirectRateLimiter>,
    read_limiter: Option<DefaultDirectRateLimiter>,
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

fn limiter(rate: u32, burst: u32) -> Option<DefaultDirectRateLimiter> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst.max(rate.get())).unwrap_or(rate);
    Some(RateLimiter::direct(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl AppState {
    /// Builds the state; server metrics are registered into `registry`, which then
    /// becomes read-only and is served at `/metrics`.
    pub fn new(db: Db, opts: ServerOptions, registry: Registry) -> Self {
        Self::with_services(db, opts, registry, Services::default())
    }

    /// [`AppState::new`] with the rule and scrape managers whose state the API reports.
    pub fn with_services(
        db: Db,
        opts: ServerOptions,
        mut registry: Registry,
        services: Services,
    ) -> Self {
        let metrics = ServerMetrics::new(&mut registry);
        let sink = services
            .sink
            .clone()
            .unwrap_or_else(|| Arc::new(db.clone()));
        AppState(Arc::new(App {
            sink,
            live: api::events::Live::new(&services.events),
            status_cache: std::sync::Mutex::new(None),
            services,
            write_slots: Arc::new(Semaphore::new(opts.max_inflight_writes.max(1))),
            query_slots: Arc::new(Semaphore::new(opts.max_concurrent_queries.max(1))),
            engine: strix_query::Engine::new(opts.engine.clone()),
            started_at: std::time::SystemTime::now(),
            ingest_limiter: limiter(opts.ingest_rate, opts.ingest_burst),
            read_limiter: limiter(opts.read_rate, opts.read_rate.saturating_mul(2)),
            db,
            registry,
            metrics,
            metadata: MetadataStore::new(100_000),
            started: Instant::now(),
            opts,
        }))
    }

    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_body_bytes: self.opts.max_body_bytes,
            max_decompressed_bytes: self.opts.max_decompressed_bytes,
        }
    }

    /// Admission for a write: rate limit, then a free write slot. Both answer 429 with
    /// `Retry-After` so senders back off and retry instead of dropping data.
    pub fn admit_write(
        &self,
        protocol: &'static str,
        env: Envelope,
    ) -> Result<OwnedSemaphorePermit, ApiError> {
        let refuse = |reason: &'static str, msg: &str| {
            self.metrics
                .ingest_requests_refused
                .get_or_create(&ProtocolReason { protocol, reason })
                .inc();
            ApiError::overloaded(msg, env, 1)
        };
        if let Some(l) = &self.ingest_limiter {
            if l.check().is_err() {
                return Err(refuse(
                    "rate_limited",
                    "ingest rate limit exceeded; retry later",
                ));
            }
        }
        if !self.db.is_writable() {
            self.metrics
                .ingest_requests_refused
                .get_or_create(&ProtocolReason {
                    protocol,
                    reason: "storage_unavailable",
                })
                .inc();
            let mut e = ApiError::new(
                strix_core::ErrorClass::Unavailable,
                "storage is not accepting writes (write-ahead log failed or shutting down)",
                env,
            );
            e.retry_after = Some(30);
            return Err(e);
        }
        self.write_slots.clone().try_acquire_owned().map_err(|_| {
            refuse(
                "overloaded",
                "too many concurrent write requests; retry later",
            )
        })
    }

    /// Admission for a PromQL query: the read rate limit, then a free query slot (503
    /// "too many concurrent queries" when all `max_concurrent_queries` are busy). Hold
    /// the permit until evaluation ends.
    pub fn admit_query(&self, env: Envelope) -> Result<OwnedSemaphorePermit, ApiError> {
        self.admit_read(env)?;
        self.query_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::too_many_queries(env))
    }

    pub fn admit_read(&self, env: Envelope) -> Result<(), ApiError> {
        match &self.read_limiter {
            Some(l) if l.check().is_err() => Err(ApiError::overloaded(
                "read rate limit exceeded; retry later",
                env,
                1,
            )),
            _ => Ok(()),
        }
    }
}

async fn require_scope(
    State((state, scope)): State<(AppState, Scope)>,
    req: Request,
    next: Next,
) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let path = req.uri().path();
    let env = if path.starts_with("/api/monitoring") {
        Envelope::Strix
    } else if path.starts_with("/api/v2/") {
        Envelope::Alertmanager
    } else {
        Envelope::Prometheus
    };
    match auth::check(&state.opts.api_keys, header, scope) {
        AuthResult::Allowed => next.run(req).await,
        AuthResult::Unauthenticated => {
            let mut r = ApiError::new(
                strix_core::ErrorClass::BadInput,
                "missing or unknown API key (send Authorization: Bearer KEY)",
                env,
            )
            .with_status(StatusCode::UNAUTHORIZED)
            .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            r
        }
        AuthResult::Forbidden => ApiError::new(
            strix_core::ErrorClass::BadInput,
            format!("API key lacks the {:?} scope", scope.as_str()),
            env,
        )
        .with_status(StatusCode::FORBIDDEN)
        .into_response(),
    }
}

async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    let resp = next.run(req).await;
    state
        .metrics
        .requests
        .get_or_create(&HandlerCode {
            handler: handler.clone(),
            code: resp.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .request_duration
        .get_or_create(&HandlerLabel { handler })
        .observe(start.elapsed().as_secs_f64());
    resp
}

fn scoped(r: Router<AppState>, state: &AppState, scope: Scope) -> Router<AppState> {
    r.route_layer(middleware::from_fn_with_state(
        (state.clone(), scope),
        require_scope,
    ))
}

/// The complete router.
pub fn build(state: AppState) -> Router {
    let body_limit = state.opts.max_body_bytes;
    let timeout = state.opts.request_timeout;
    Router::new()
        .merge(scoped(api::write::routes(), &state, Scope::Ingest))
        .merge(scoped(
            api::otlp::routes(Default::default()),
            &state,
            Scope::Ingest,
        ))
        .merge(scoped(api::read::routes(), &state, Scope::Read))
        .merge(scoped(api::query::routes(), &state, Scope::Read))
        .merge(scoped(api::status::routes(), &state, Scope::Read))
        .merge(scoped(api::targets::routes(), &state, Scope::Read))
        .merge(scoped(api::ops::admin_routes(), &state, Scope::Admin))
        .merge(scoped(api::alerts::read_routes(), &state, Scope::Read))
        .merge(scoped(api::alerts::admin_routes(), &state, Scope::Admin))
        .merge(scoped(
            api::alertmanager::ingest_routes(),
            &state,
            Scope::Ingest,
        ))
        .merge(scoped(
            api::alertmanager::read_routes(),
            &state,
            Scope::Read,
        ))
        .merge(scoped(
            api::alertmanager::admin_routes(),
            &state,
            Scope::Admin,
        ))
        .merge(scoped(api::kpis::routes(), &state, Scope::Read))
        .merge(scoped(api::checks::read_routes(), &state, Scope::Read))
        .merge(scoped(api::checks::admin_routes(), &state, Scope::Admin))
        .merge(api::checks::open_routes())
        .merge(api::status_page::routes())
        .merge(api::sentry::routes())
        .merge(scoped(api::errors::ingest_routes(), &state, Scope::Ingest))
        .merge(scoped(api::errors::read_routes(), &state, Scope::Read))
        .merge(scoped(api::errors::admin_routes(), &state, Scope::Admin))
        .merge(scoped(api::projects::read_routes(), &state, Scope::Read))
        .merge(scoped(api::projects::admin_routes(), &state, Scope::Admin))
        .merge(api::ops::open_routes())
        .merge(api::ui::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        // Event streams stay open for hours: outside the request timeout.
        .merge(
            scoped(api::events::routes(), &state, Scope::Read)
                .route_layer(middleware::from_fn_with_state(state.clone(), track)),
        )
        .with_state(state)
}
