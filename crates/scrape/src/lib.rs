//! Strix's scraper: pulls Prometheus exposition (text 0.0.4 or OpenMetrics) from HTTP
//! targets on a schedule and appends the samples through [`strix_core::storage::Appendable`],
//! as Prometheus' scrape manager does.
//!
//! - [`config`]: the `global:` / `scrape_configs:` section ([`ScrapeSection`]), parsed
//!   strictly and validated with errors naming the key.
//! - [`relabel`]: Prometheus relabeling, used for targets (`relabel_configs`) and series
//!   (`metric_relabel_configs`).
//! - [`target`]: discovered groups (static or file_sd) → targets with their labels and URL.
//! - [`ScrapeManager`]: one pool per job, one tokio task per target. Each scrape fetches
//!   with the Prometheus headers (`Accept` preferring OpenMetrics, gzip, the
//!   `X-Prometheus-Scrape-Timeout-Seconds` hint), a timeout and a body cap; parses by
//!   `Content-Type`; adds target labels (`honor_labels`), applies `honor_timestamps`,
//!   metric relabeling and the sample/label limits; appends on a blocking thread; and
//!   writes `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//!   `scrape_samples_post_metric_relabeling` and `scrape_series_added`.
//!
//! **Staleness** follows Prometheus: a series present in one scrape and absent from the
//! next gets a stale marker ([`strix_core::STALE_NAN`]) at the new scrape's timestamp; a
//! failed scrape marks every series of the last good scrape stale (the report series
//! carry `up=0`); a target removed by a reload or by file_sd marks all it wrote stale,
//! report series included. Series exposed with explicit timestamps are not tracked.
//! Shutdown writes no markers. Unlike Prometheus, the end-of-run markers are written at
//! once rather than after waiting one more interval.
//!
//! Not supported: the protobuf exposition format, native histograms, service discovery
//! other than static and file, OAuth2, client certificates.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
mod manager;
mod metrics;
pub mod relabel;
mod scraper;
pub mod target;

pub use config::{ConfigError, GlobalConfig, ScrapeConfig, ScrapeSection};
pub use manager::{rfc3339, DroppedTarget, ScrapeError, ScrapeManager, TargetStatus};
pub use scraper::{Health, ACCEPT_HEADER, REPORT_SERIES};
