//! Strix error tracking, the pure core: what Sentry SDKs send, turned into scrubbed,
//! grouped, categorised events. No HTTP and no storage here; `strix-server` feeds bodies
//! in and a store keeps what comes out.
//!
//! The pipeline, in order:
//!
//! 1. [`auth`] finds the project key (`X-Sentry-Auth`, `sentry_key`, envelope `dsn`).
//! 2. The body is decompressed with strix-ingest's capped
//!    [`decompress`](strix_ingest::decompress) (gzip, deflate, br, zstd), then framed:
//!    [`envelope::Envelope::parse`] for `/envelope/`, [`store::parse_store`] for `/store/`,
//!    [`json_api::parse_json_api`] for the plain `POST /api/monitoring/errors` body.
//!    Payloads stay raw JSON (event items as their text, parsed when processed): an
//!    unknown field or item type never drops an event.
//! 3. [`scrub::Scrubber::scrub_event`] removes secrets from the raw JSON — before anything
//!    else looks at it, so nothing unscrubbed is ever stored.
//! 4. [`normalize::normalize`] extracts what Strix uses ([`NormalizedEvent`]) and keeps
//!    the scrubbed raw event, huge strings truncated with a marker. When neither step
//!    changed anything, the event's text as sent is kept instead
//!    ([`NormalizedEvent::raw_text`]), so storing it needs no second serialisation.
//! 5. [`fingerprint::group`] computes the issue hash, title and culprit.
//! 6. [`categorize::Categorizer`] assigns severity, category, priority and team.
//!
//! [`process`] runs steps 3–6 on one raw event. Most events need no change at all: for
//! an event sent as text, it first asks whether scrubbing and normalising would change
//! anything ([`scrub::Scrubber::scrub_event_stats`]), reading a simd-json tape of the
//! text ([`json`]); if not, steps 4–6 read that tape too and no [`serde_json::Value`] is
//! built. Otherwise the text is parsed into a tree that steps 3 and 4 edit.

#![forbid(unsafe_code)]

pub mod analysis;
pub mod auth;
pub mod categorize;
pub mod config;
pub mod detect;
pub mod envelope;
pub mod error;
pub mod fingerprint;
pub mod json;
pub mod json_api;
pub mod limits;
pub mod normalize;
pub mod scrub;
pub mod stacktrace;
pub mod store;

pub use auth::{AuthSource, Dsn, SentryAuth};
pub use categorize::{Categorization, CategorizeConfig, Categorizer, Category, Priority, Severity};
pub use config::{Compression, Detection, ProjectRate, RateLimits, Retention, Threshold};
pub use detect::{Detector, Spike, SpikeInfo};
pub use envelope::{Envelope, Item, ItemType};
pub use error::Error;
pub use fingerprint::{group, Grouping};
pub use json_api::parse_json_api;
pub use limits::{PayloadLimits, RawEvent};
pub use normalize::{normalize, normalize_raw, Level, NormalizeOptions, NormalizedEvent};
pub use scrub::{ScrubConfig, ScrubStats, Scrubber};
pub use store::parse_store;

/// One event through scrubbing, normalisation, grouping and categorisation.
#[derive(Debug, Clone)]
pub struct Processed {
    pub event: NormalizedEvent,
    pub grouping: Grouping,
    pub categorization: Categorization,
    pub scrubbed: ScrubStats,
}

/// Runs steps 3–6 of the pipeline on one raw event (from an envelope item, a store body
/// or the JSON API). An event given as text ([`RawEvent::Text`]) is parsed here, once: an
/// error when it is not JSON. When scrubbing and normalising would change nothing it is
/// read where it was parsed and its text kept as [`NormalizedEvent::raw_text`]; otherwise
/// it is parsed into a tree that is edited, and the text kept only if that changes nothing.
pub fn process(
    raw: impl Into<RawEvent>,
    scrubber: &Scrubber,
    categorizer: &Categorizer,
    options: &NormalizeOptions,
) -> Result<Processed, Error> {
    let (mut value, text) = match raw.into() {
        RawEvent::Tree { value, text } => (value, text),
        RawEvent::Text { text, what } => {
            let read = json::with_tape(&text, |t| {
                if scrubber.scrub_event_stats(t) != ScrubStats::default() {
                    return None;
                }
                let event = normalize::read_unchanged(t, options)?;
                let categorization = categorizer.categorize_in(&event, t);
                Some((event, categorization))
            });
            match read {
                Some(Some((mut event, categorization))) => {
                    event.raw_text = Some(text);
                    return Ok(Processed {
                        grouping: group(&event),
                        event,
                        categorization,
                        scrubbed: ScrubStats::default(),
                    });
                }
                Some(None) => limits::reparse(text),
                None => limits::parse_text(text, &what)?,
            }
        }
    };
    let scrubbed = scrubber.scrub_event(&mut value);
    let text = text.filter(|_| scrubbed == ScrubStats::default());
    let event = normalize_raw(RawEvent::Tree { value, text }, options);
    let grouping = group(&event);
    let categorization = categorizer.categorize(&event);
    Ok(Processed {
        event,
        grouping,
        categorization,
        scrubbed,
    })
}
