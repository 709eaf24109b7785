//! The seams between the storage engine and everything above it.
//!
//! Ingest appends through [`Appendable`]; the query layer and the read endpoints read
//! through [`Queryable`]. Neither knows which engine (local tsdb, a remote store, a test
//! fixture) is behind the trait.

use crate::{ErrorClass, Labels, Matcher, Sample, Timestamp};

/// One series with samples to append, as decoded from any wire format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// How an append treats timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AppendMode {
    /// Live ingest: samples older than the out-of-order window are rejected.
    #[default]
    Live,
    /// Backfill (the import API): any timestamp is accepted.
    Backfill,
}

/// Why samples or series were refused. Bounded set: used as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The series has no `__name__`.
    MissingMetricName,
    /// A label name is empty or not `[a-zA-Z_][a-zA-Z0-9_]*`.
    InvalidLabelName,
    /// A label name or value is not valid UTF-8 (caught by decoders).
    InvalidUtf8,
    /// The same label name appears twice.
    DuplicateLabel,
    /// More labels than `max_labels_per_series`.
    TooManyLabels,
    /// A label name longer than `max_label_name_length`.
    LabelNameTooLong,
    /// A label value longer than `max_label_value_length`.
    LabelValueTooLong,
    /// Creating the series would exceed `max_series`.
    MaxSeries,
    /// Creating the series would exceed `max_series_per_metric`.
    MaxSeriesPerMetric,
    /// The sample is older than the out-of-order window allows.
    OutOfWindow,
    /// The sample is too far in the future.
    TooFarInFuture,
    /// Same timestamp as a stored sample with a different value.
    DuplicateTimestamp,
}

impl RejectReason {
    /// Stable snake_case name, used as the `reason` label of rejection counters.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MissingMetricName => "missing_metric_name",
            RejectReason::InvalidLabelName => "invalid_label_name",
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::DuplicateLabel => "duplicate_label",
            RejectReason::TooManyLabels => "too_many_labels",
            RejectReason::LabelNameTooLong => "label_name_too_long",
            RejectReason::LabelValueTooLong => "label_value_too_long",
            RejectReason::MaxSeries => "max_series",
            RejectReason::MaxSeriesPerMetric => "max_series_per_metric",
            RejectReason::OutOfWindow => "out_of_window",
            RejectReason::TooFarInFuture => "too_far_in_future",
            RejectReason::DuplicateTimestamp => "duplicate_timestamp",
        }
    }

    /// Whether this reason is a limit (the data may be fine) rather than bad data.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            RejectReason::MaxSeries | RejectReason::MaxSeriesPerMetric
        )
    }
}

/// What an append did. Valid series are stored even when others in the batch are refused,
/// as Prometheus' remote-write receiver does; `first_error` explains the first refusal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendOutcome {
    pub samples_appended: u64,
    pub series_created: u64,
    /// Refused samples by reason (a refused series counts all its samples).
    pub rejected: Vec<(RejectReason, u64)>,
    pub first_error: Option<String>,
}

impl AppendOutcome {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|(_, n)| n).sum()
    }

    pub fn reject(&mut self, reason: RejectReason, samples: u64, message: impl FnOnce() -> String) {
        match self.rejected.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += samples,
            None => self.rejected.push((reason, samples)),
        }
        if self.first_error.is_none() {
            self.first_error = Some(message());
        }
    }
}

/// A failure of the storage as a whole (not of one input), e.g. a failed WAL fsync.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    pub class: ErrorClass,
    pub message: String,
}

impl StorageError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        StorageError {
            class,
            message: message.into(),
        }
    }
}

/// Series whose label strings borrow from a decode buffer, so a request for series the
/// engine already knows allocates no label strings at all.
///
/// Each series' labels are sorted by name with empty values dropped and no duplicate
/// names (decoders guarantee this; [`BorrowedBatch::push`] checks order in debug builds).
#[derive(Debug, Default, Clone)]
pub struct BorrowedBatch<'a> {
    labels: Vec<(&'a str, &'a str)>,
    series: Vec<(u32, u32, u32, u32)>,
    samples: Vec<Sample>,
}

impl<'a> BorrowedBatch<'a> {
    pub fn with_capacity(series: usize, labels: usize, samples: usize) -> Self {
        BorrowedBatch {
            labels: Vec::with_capacity(labels),
            series: Vec::with_capacity(series),
            samples: Vec::with_capacity(samples),
        }
    }

    /// Adds a series. `labels` must be sorted by name, without empty values.
    pub fn push(&mut self, labels: &[(&'a str, &'a str)], samples: &[Sample]) {
        debug_assert!(
            labels.windows(2).all(|w| w[0].0 < w[1].0),
            "BUG: borrowed labels not sorted and unique"
        );
        let (l0, s0) = (self.labels.len() as u32, self.samples.len() as u32);
        self.labels.extend_from_slice(labels);
        self.samples.extend_from_slice(samples);
        self.series
            .push((l0, self.labels.len() as u32, s0, self.samples.len() as u32));
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Total samples in the batch.
    pub fn num_samples(&self) -> usize {
        self.samples.len()
    }

    /// `(labels, samples)` of each series.
    pub fn iter(&self) -> impl Iterator<Item = (&[(&'a str, &'a str)], &[Sample])> + '_ {
        self.series.iter().map(|&(l0, l1, s0, s1)| {
            (
                &self.labels[l0 as usize..l1 as usize],
                &self.samples[s0 as usize..s1 as usize],
            )
        })
    }

    /// Copies into owned series.
    pub fn to_owned_series(&self) -> Vec<TimeSeries> {
        self.iter()
            .map(|(l, s)| TimeSeries {
                labels: Labels::from_sorted(
                    l.iter().map(|(n, v)| crate::Label::new(*n, *v)).collect(),
                ),
                samples: s.to_vec(),
            })
            .collect()
    }
}

/// Something samples can be written to.
pub trait Appendable: Send + Sync {
    /// Appends `series`. Returns once the data is in the write-ahead log under the
    /// configured fsync policy (so an acknowledged write survives a process crash).
    /// Invalid series and samples are refused and reported in the outcome; `Err` means
    /// nothing can be written now (the caller should answer "retry later").
    fn append(
        &self,
        series: &[TimeSeries],
        mode: AppendMode,
    ) -> Result<AppendOutcome, StorageError>;

    /// [`Appendable::append`] for borrowed series; engines override it to look series up
    /// without building owned labels.
    fn append_borrowed(
        &self,
        batch: &BorrowedBatch<'_>,
        mode: AppendMode,
    ) -> Result<AppendOutcome, StorageError> {
        self.append(&batch.to_owned_series(), mode)
    }
}

/// Downsampling resolutions kept by the engine besides raw samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RollupTier {
    FiveMinutes,
    OneHour,
}

impl RollupTier {
    pub const ALL: [RollupTier; 2] = [RollupTier::FiveMinutes, RollupTier::OneHour];

    /// Bucket width in milliseconds.
    pub fn step_ms(self) -> i64 {
        match self {
            RollupTier::FiveMinutes => 300_000,
            RollupTier::OneHour => 3_600_000,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RollupTier::FiveMinutes => "5m",
            RollupTier::OneHour => "1h",
        }
    }
}

/// Aggregates of one series over one bucket `[t - step, t)`, aligned to the tier's step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollupPoint {
    /// Bucket end (exclusive), a multiple of the tier's step.
    pub t: Timestamp,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: u64,
    /// First and last raw values in the bucket.
    pub first: f64,
    pub last: f64,
    /// Counter-aware increase inside the bucket: the sum of deltas between consecutive
    /// samples, where a decrease counts as a reset (the new value is the increase).
    pub increase: f64,
}

/// A series read with its samples in `[start, end]`, sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// A series read at a rollup tier.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRollup {
    pub labels: Labels,
    pub points: Vec<RollupPoint>,
}

/// Read access to stored series. All ranges are inclusive milliseconds.
pub trait Queryable: Send + Sync {
    /// Series matching all `matchers` with their raw samples in `[start, end]`, sorted by
    /// labels. Series without samples in the range are omitted.
    fn select(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SeriesSamples>, StorageError>;

    /// Label sets of series matching all `matchers` that have data in `[start, end]`.
    fn series(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Labels>, StorageError>;

    /// Sorted label names of matching series (all series when `matchers` is empty).
    fn label_names(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<String>, StorageError>;

    /// Sorted values of label `name` over matching series.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<String>, StorageError>;

    /// Rollup points of matching series at `tier` with bucket ends in `(start, end]`.
    fn select_rollup(
        &self,
        tier: RollupTier,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SeriesRollup>, StorageError>;
}
