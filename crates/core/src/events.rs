//! The live event bus behind the dashboard's server-sent events.
//!
//! Services publish small JSON documents when something a person watching the dashboard
//! cares about changes: an alert's state, a new or regressed error issue, a check's
//! status, a KPI's status, and a periodic metrics tick. Every event gets a sequence number
//! (the SSE `id`), and the newest `capacity` events stay in a ring so a client that
//! reconnects with `Last-Event-ID` gets what it missed.
//!
//! Publishing never blocks on subscribers and never allocates beyond the ring: it takes a
//! short lock, pushes, and calls the registered wake hooks (the HTTP layer registers one
//! that wakes its async streams). Publishers pass the payload serialised as JSON, or a
//! function that serialises it ([`EventBus::publish_with`]), run once on the first read:
//! a burst of thousands of alert changes with nobody watching costs no JSON at all. This
//! crate needs no JSON library.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Event kinds. Kept as constants so publishers and the dashboard agree on the names.
pub mod kind {
    /// An alert was created or changed state (`pending|firing|acknowledged|resolved`).
    pub const ALERT: &str = "alert";
    /// An error issue was created or regressed.
    pub const ERROR_ISSUE: &str = "error_issue";
    /// A check's status changed.
    pub const CHECK: &str = "check";
    /// A KPI's status changed.
    pub const KPI: &str = "kpi";
    /// The periodic metrics tick.
    pub const TICK: &str = "tick";
}

/// One published event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Sequence number, strictly increasing, also across restarts (see [`EventBus::new`]).
    pub id: u64,
    /// One of [`kind`].
    pub kind: &'static str,
    /// When it was published, in Unix milliseconds.
    pub at: crate::Timestamp,
    /// The payload, a JSON document.
    pub data: EventData,
}

type Render = Box<dyn FnOnce() -> String + Send>;

struct DataInner {
    text: OnceLock<String>,
    render: Mutex<Option<Render>>,
}

/// An event's JSON payload, serialised when first read. Clones share it.
#[derive(Clone)]
pub struct EventData(Arc<DataInner>);

impl EventData {
    /// A payload already serialised.
    pub fn text(text: String) -> Self {
        EventData(Arc::new(DataInner {
            text: OnceLock::from(text),
            render: Mutex::new(None),
        }))
    }

    /// A payload `render` serialises when first read.
    pub fn lazy(render: impl FnOnce() -> String + Send + 'static) -> Self {
        EventData(Arc::new(DataInner {
            text: OnceLock::new(),
            render: Mutex::new(Some(Box::new(render))),
        }))
    }

    /// The JSON document.
    pub fn as_str(&self) -> &str {
        self.0.text.get_or_init(|| {
            let render = lock(&self.0.render).take();
            render.map(|f| f()).unwrap_or_default()
        })
    }
}

impl std::ops::Deref for EventData {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for EventData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.text.get() {
            Some(t) => f.debug_tuple("EventData").field(t).finish(),
            None => f.write_str("EventData(<not yet serialised>)"),
        }
    }
}

impl PartialEq for EventData {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<&str> for EventData {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What a reader gets for "everything after id N".
#[derive(Debug, Clone, PartialEq)]
pub struct Since {
    pub events: Vec<Event>,
    /// True when events after the requested id were already dropped from the ring, so the
    /// reader must refetch its state instead of relying on the events alone.
    pub gap: bool,
    /// The id of the newest event published so far (0 when none).
    pub last_id: u64,
}

type Hook = Arc<dyn Fn() + Send + Sync>;

struct Ring {
    next_id: u64,
    events: VecDeque<Event>,
}

/// The bus. Share it as `Arc<EventBus>`.
pub struct EventBus {
    capacity: usize,
    ring: Mutex<Ring>,
    hooks: Mutex<Vec<Hook>>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("capacity", &self.capacity)
            .field("last_id", &self.last_id())
            .finish()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A publisher that panicked mid-push leaves a consistent ring (push is one call), so
    // a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EventBus {
    /// A bus that keeps the newest `capacity` events (at least 1) for replay.
    ///
    /// Ids start at the start time in Unix milliseconds × 1000, so they keep increasing
    /// across restarts (up to a thousand events per millisecond of uptime, far beyond what
    /// is published) and a dashboard that reconnects to a restarted server with an old
    /// `Last-Event-ID` sees a gap and refetches instead of waiting for the new counter to
    /// catch up. The ids stay below 2^53, so JavaScript reads them exactly.
    pub fn new(capacity: usize) -> Self {
        Self::starting_at(
            capacity,
            (crate::now_millis().max(0) as u64).saturating_mul(1000) + 1,
        )
    }

    /// A bus whose first event gets id `first_id` (at least 1).
    pub fn starting_at(capacity: usize, first_id: u64) -> Self {
        let capacity = capacity.max(1);
        EventBus {
            capacity,
            ring: Mutex::new(Ring {
                next_id: first_id.max(1),
                events: VecDeque::with_capacity(capacity.min(4096)),
            }),
            hooks: Mutex::new(Vec::new()),
        }
    }

    /// Publishes an event with a JSON payload; returns its id.
    pub fn publish(&self, kind: &'static str, data: String) -> u64 {
        self.publish_data(kind, EventData::text(data))
    }

    /// Publishes an event whose JSON payload `render` makes when the event is first read
    /// (never, if nobody reads it before it leaves the ring); returns its id.
    pub fn publish_with(
        &self,
        kind: &'static str,
        render: impl FnOnce() -> String + Send + 'static,
    ) -> u64 {
        self.publish_data(kind, EventData::lazy(render))
    }

    fn publish_data(&self, kind: &'static str, data: EventData) -> u64 {
        let id = {
            let mut ring = lock(&self.ring);
            let id = ring.next_id;
            ring.next_id += 1;
            if ring.events.len() == self.capacity {
                ring.events.pop_front();
            }
            ring.events.push_back(Event {
                id,
                kind,
                at: crate::now_millis(),
                data,
            });
            id
        };
        let hooks: Vec<Hook> = lock(&self.hooks).clone();
        for h in hooks {
            h();
        }
        id
    }

    /// Registers a hook called after every publish (from the publisher's thread; keep it
    /// cheap and non-blocking).
    pub fn on_publish(&self, hook: Arc<dyn Fn() + Send + Sync>) {
        lock(&self.hooks).push(hook);
    }

    /// The events published after `after` (0 = everything still in the ring), up to
    /// `limit` of them, oldest first.
    pub fn since(&self, after: u64, limit: usize) -> Since {
        let ring = lock(&self.ring);
        let last_id = ring.next_id - 1;
        let oldest = ring.events.front().map(|e| e.id).unwrap_or(ring.next_id);
        // Ids after `after` that are no longer in the ring were dropped; an id from the
        // future was issued by an earlier process (or made up): either way the reader's
        // view is stale.
        let gap = (after.saturating_add(1) < oldest && after < last_id) || after > last_id;
        let events = ring
            .events
            .iter()
            .filter(|e| e.id > after)
            .take(limit)
            .cloned()
            .collect();
        Since {
            events,
            gap,
            last_id,
        }
    }

    /// The id of the newest event (0 when none was published).
    pub fn last_id(&self) -> u64 {
        lock(&self.ring).next_id - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn ids_increase_and_replay_after_an_id() {
        let bus = EventBus::starting_at(8, 1);
        assert_eq!(bus.last_id(), 0);
        for i in 0..5 {
            bus.publish(kind::ALERT, format!("{{\"n\":{i}}}"));
        }
        let s = bus.since(2, 100);
        assert_eq!(s.events.iter().map(|e| e.id).collect::<Vec<_>>(), [3, 4, 5]);
        assert!(!s.gap);
        assert_eq!(s.last_id, 5);
        assert_eq!(s.events[0].data, "{\"n\":2}");
        assert_eq!(s.events[0].data.as_str(), "{\"n\":2}");
        assert_eq!(bus.since(5, 100).events.len(), 0);
        assert_eq!(bus.since(0, 2).events.len(), 2);
    }

    #[test]
    fn a_reader_that_fell_behind_the_ring_sees_a_gap() {
        let bus = EventBus::starting_at(3, 1);
        for _ in 0..10 {
            bus.publish(kind::TICK, "{}".into());
        }
        let s = bus.since(2, 100);
        assert!(s.gap);
        assert_eq!(
            s.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [8, 9, 10]
        );
        // Just before the oldest kept event: nothing was lost.
        assert!(!bus.since(7, 100).gap);
        // A fresh reader (0) on an empty or full ring is not a gap in the events it asked for
        // only when nothing was dropped.
        assert!(bus.since(0, 100).gap);
        assert!(!EventBus::starting_at(3, 1).since(0, 10).gap);
        // An id beyond the newest one (a previous process' id) is a gap, and so is the
        // largest id (no overflow).
        assert!(bus.since(11, 100).gap);
        assert!(bus.since(u64::MAX, 100).gap);
        assert!(!bus.since(10, 100).gap);
    }

    #[test]
    fn ids_keep_increasing_across_restarts() {
        let before = EventBus::default();
        let old = before.publish(kind::TICK, "{}".into());
        std::thread::sleep(std::time::Duration::from_millis(2));
        let after = EventBus::default();
        let new = after.publish(kind::TICK, "{}".into());
        assert!(new > old, "{new} > {old}");
        assert!(new < (1 << 53), "exact in JavaScript: {new}");
        // A dashboard that reconnects with the old id is told to resync.
        assert!(after.since(old, 10).gap);
        // One that reconnects with an id of this process is not.
        assert!(!after.since(new, 10).gap);
    }

    #[test]
    fn a_lazy_payload_is_made_once_on_first_read() {
        let bus = EventBus::starting_at(2, 1);
        let made = Arc::new(AtomicUsize::new(0));
        for i in 0..3 {
            let m = made.clone();
            bus.publish_with(kind::ALERT, move || {
                m.fetch_add(1, Ordering::SeqCst);
                format!("{{\"n\":{i}}}")
            });
        }
        // The first event left the ring unread: never serialised.
        assert_eq!(made.load(Ordering::SeqCst), 0);
        let s = bus.since(0, 10);
        assert_eq!(made.load(Ordering::SeqCst), 0);
        let again = bus.since(0, 10);
        assert_eq!(s.events[0].data.as_str(), "{\"n\":1}");
        assert_eq!(again.events[0].data.as_str(), "{\"n\":1}");
        assert_eq!(s.events[1].data, "{\"n\":2}");
        assert_eq!(made.load(Ordering::SeqCst), 2);
        assert!(format!("{:?}", s.events[0]).contains("{\\\"n\\\":1}"));
    }

    #[test]
    fn hooks_run_on_every_publish() {
        let bus = EventBus::new(4);
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        bus.on_publish(Arc::new(move || {
            m.fetch_add(1, Ordering::SeqCst);
        }));
        bus.publish(kind::KPI, "{}".into());
        bus.publish(kind::CHECK, "{}".into());
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }
}
