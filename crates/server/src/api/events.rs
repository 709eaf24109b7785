//! Live updates for the dashboard: `GET /api/monitoring/events` as server-sent events (or,
//! without `Accept: text/event-stream`, as a JSON polling fallback), the periodic metrics
//! tick, and `GET /api/monitoring/dashboard/status`.
//!
//! The stream reads the process-wide [`EventBus`](strix_core::events::EventBus): a client
//! that reconnects with `Last-Event-ID: N` gets the events after N replayed from the bus'
//! ring; when some of them were already dropped it gets one `resync` event and refetches.
//! A fresh client starts at the newest event. Keep-alive comments every 15 s keep proxies
//! from closing an idle stream.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::stream::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use strix_core::events::{kind, Event, EventBus};
use tokio::sync::Notify;

use crate::error::{ApiError, Envelope};
use crate::router::AppState;

/// Most events one poll or one replay step returns.
const BATCH: usize = 512;

/// What the HTTP layer keeps about live clients.
pub struct Live {
    /// Woken on every publish.
    notify: Arc<Notify>,
    /// Open event streams.
    clients: Arc<AtomicUsize>,
}

impl Live {
    /// Hooks into `bus` so streams wake when something is published.
    pub fn new(bus: &EventBus) -> Self {
        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        bus.on_publish(Arc::new(move || n.notify_waiters()));
        Live {
            notify,
            clients: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Open server-sent event streams.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }
}

/// Routes needing the read scope.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/monitoring/events", get(events))
        .route("/api/monitoring/dashboard/status", get(dashboard_status))
}

#[derive(Debug, Deserialize)]
struct EventsParams {
    /// Polling: return events after this id. Streaming: same as `Last-Event-ID`.
    since: Option<u64>,
    #[serde(rename = "lastEventId")]
    last_event_id: Option<u64>,
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

fn payload(e: &Event) -> Value {
    serde_json::from_str(e.data.as_str()).unwrap_or(Value::Null)
}

async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<EventsParams>,
) -> Response {
    let bus = state.services.events.clone();
    if !wants_stream(&headers) {
        let s = bus.since(p.since.unwrap_or(0), BATCH);
        let events: Vec<Value> = s
            .events
            .iter()
            .map(|e| json!({"id": e.id, "type": e.kind, "at": e.at, "data": payload(e)}))
            .collect();
        return Json(json!({
            "success": true,
            "data": {"events": events, "lastId": s.last_id, "gap": s.gap},
        }))
        .into_response();
    }
    let header_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let resume = header_id.or(p.last_event_id).or(p.since);
    let start = resume.unwrap_or_else(|| bus.last_id());
    let stream = event_stream(
        bus,
        state.live.notify.clone(),
        ClientGuard::new(state.live.clients.clone()),
        start,
    );
    Sse::new(stream)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("keep-alive"),
        )
        .into_response()
}

/// Counts an open stream for as long as it lives.
struct ClientGuard(Arc<AtomicUsize>);

impl ClientGuard {
    fn new(n: Arc<AtomicUsize>) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        ClientGuard(n)
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Cursor {
    bus: Arc<EventBus>,
    notify: Arc<Notify>,
    _guard: ClientGuard,
    last: u64,
    pending: std::collections::VecDeque<SseEvent>,
}

fn to_sse(e: &Event) -> SseEvent {
    SseEvent::default()
        .id(e.id.to_string())
        .event(e.kind)
        .data(e.data.as_str())
}

fn event_stream(
    bus: Arc<EventBus>,
    notify: Arc<Notify>,
    guard: ClientGuard,
    start: u64,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let cursor = Cursor {
        bus,
        notify,
        _guard: guard,
        last: start,
        pending: Default::default(),
    };
    futures_util::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(e) = c.pending.pop_front() {
                return Some((Ok(e), c));
            }
            let notify = c.notify.clone();
            let notified = notify.notified();
            tokio::pin!(notified);
            // Registered before reading, so a publish between the read and the wait is
            // not missed.
            notified.as_mut().enable();
            let s = c.bus.since(c.last, BATCH);
            if s.gap {
                c.last = s.last_id;
                let resync = SseEvent::default()
                    .id(s.last_id.to_string())
                    .event("resync")
                    .data("{}");
                return Some((Ok(resync), c));
            }
            if let Some(last) = s.events.last() {
                c.last = last.id;
                c.pending.extend(s.events.iter().map(to_sse));
                continue;
            }
            notified.await;
        }
    })
}

async fn dashboard_status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let s = state.clone();
    let components = tokio::task::spawn_blocking(move || crate::api::health::components(&s))
        .await
        .map_err(|e| {
            ApiError::new(
                strix_core::ErrorClass::Internal,
                format!("component health: {e}"),
                Envelope::Strix,
            )
        })?;
    Ok(Json(json!({
        "success": true,
        "data": {
            "version": crate::VERSION,
            "uptimeSeconds": state.started.elapsed().as_secs(),
            "sseClients": state.live.clients(),
            "lastEventId": state.services.events.last_id(),
            "components": components,
        },
    })))
}

/// Active (firing or acknowledged) alerts, or `None` without an alerting pipeline.
fn active_alerts(state: &AppState) -> Option<u64> {
    use strix_state::{AlertQuery, AlertState};
    let pipeline = state.services.alerts.as_ref()?;
    let q = AlertQuery {
        states: vec![AlertState::Firing, AlertState::Acknowledged],
        limit: 1,
        ..Default::default()
    };
    pipeline
        .store()
        .list_alerts(&q)
        .ok()
        .map(|(_, total)| total)
}

/// The periodic `tick` event: a few figures the dashboard header shows live.
pub fn tick(state: &AppState) -> u64 {
    let data = json!({
        "at": strix_core::now_millis(),
        "uptimeSeconds": state.started.elapsed().as_secs(),
        "sseClients": state.live.clients(),
        "series": state.db.head_series(),
        "activeAlerts": active_alerts(state),
    });
    state.services.events.publish(kind::TICK, data.to_string())
}

/// Publishes a [`tick`] every `every` until the runtime shuts down. Call inside a Tokio
/// runtime.
pub fn spawn_ticker(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let s = state.clone();
            if tokio::task::spawn_blocking(move || tick(&s)).await.is_err() {
                tracing::warn!("Dashboard tick failed.");
            }
        }
    })
}
