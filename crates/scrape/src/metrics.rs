//! Self-metrics of the scraper, registered once by [`crate::ScrapeManager::new`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabel {
    pub job: String,
}

#[derive(Clone)]
pub struct ScrapeDurationHistogram;
impl MetricConstructor<Histogram> for ScrapeDurationHistogram {
    fn new_metric(&self) -> Histogram {
        // 1ms .. ~65s: scrapes of small exporters take milliseconds, timeouts are seconds.
        Histogram::new(exponential_buckets(0.001, 2.0, 17))
    }
}

/// Counters and gauges by job.
#[derive(Clone)]
pub struct ScrapeMetrics {
    pub targets: Family<JobLabel, Gauge>,
    pub failures: Family<JobLabel, Counter>,
    pub duration: Family<JobLabel, Histogram, ScrapeDurationHistogram>,
    pub samples: Family<JobLabel, Counter>,
    pub sample_limit_exceeded: Family<JobLabel, Counter>,
    pub stale_markers: Family<JobLabel, Counter>,
    pub samples_rejected: Family<JobLabel, Counter>,
}

impl ScrapeMetrics {
    pub fn new(r: &mut Registry) -> Self {
        let m = ScrapeMetrics {
            targets: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(ScrapeDurationHistogram),
            samples: Family::default(),
            sample_limit_exceeded: Family::default(),
            stale_markers: Family::default(),
            samples_rejected: Family::default(),
        };
        r.register(
            "strix_scrape_targets",
            "Active scrape targets, by job.",
            m.targets.clone(),
        );
        r.register(
            "strix_scrape_failures",
            "Failed scrapes (HTTP, parse, limit or storage errors), by job.",
            m.failures.clone(),
        );
        r.register(
            "strix_scrape_duration_seconds",
            "Duration of scrapes, fetch to append, by job.",
            m.duration.clone(),
        );
        r.register(
            "strix_scrape_samples",
            "Scraped samples stored (after metric relabeling), by job.",
            m.samples.clone(),
        );
        r.register(
            "strix_scrape_sample_limit_exceeded",
            "Scrapes failed because sample_limit was exceeded, by job.",
            m.sample_limit_exceeded.clone(),
        );
        r.register(
            "strix_scrape_stale_markers",
            "Stale markers written for series that disappeared, by job.",
            m.stale_markers.clone(),
        );
        r.register(
            "strix_scrape_samples_rejected",
            "Scraped samples refused by storage (out of window, duplicates, limits), by job.",
            m.samples_rejected.clone(),
        );
        m
    }

    pub(crate) fn job(job: &str) -> JobLabel {
        JobLabel {
            job: job.to_owned(),
        }
    }
}
