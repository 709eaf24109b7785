//! Checkpoints: compacting the head of the log into `checkpoint.<n>/`.
//!
//! A checkpoint holds, in ordinary segment files, the series and samples of the previous
//! checkpoint and of every segment up to `n` that are still wanted. Replay then starts from
//! the newest checkpoint and reads only segments after `n`. The directory is built as
//! `checkpoint.<n>.tmp`, fsynced and renamed, so a visible checkpoint is always complete.

use std::path::{Path, PathBuf};

use super::error::WalError;
use super::metrics::WalMetrics;
use super::reader::{check_sequence, read_checkpoint, read_segment, ReadStop};
use super::record::Record;
use super::segment::{
    append_frame, list_segments, segment_path, sync_dir, SegmentFile, DEFAULT_SEGMENT_SIZE,
};

const CHECKPOINT_PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";
/// Bytes buffered before a write while building a checkpoint.
const WRITE_BUFFER: usize = 1 << 20;

/// What a checkpoint kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Number of the checkpoint written (`checkpoint.<n>`).
    pub checkpoint: u32,
    /// WAL segments read (the previous checkpoint not counted).
    pub segments_read: u32,
    pub total_series: u64,
    pub dropped_series: u64,
    pub total_samples: u64,
    pub dropped_samples: u64,
    /// WAL segments deleted because the checkpoint now covers them.
    pub deleted_segments: u32,
    /// Older checkpoints deleted.
    pub deleted_checkpoints: u32,
}

/// Directory name of checkpoint `n`.
pub fn checkpoint_dir_name(n: u32) -> String {
    format!("{CHECKPOINT_PREFIX}{n:08}")
}

pub(crate) fn checkpoint_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(checkpoint_dir_name(n))
}

enum CheckpointName {
    Complete(u32),
    Tmp,
}

fn parse_checkpoint_name(name: &str) -> Option<CheckpointName> {
    let rest = name.strip_prefix(CHECKPOINT_PREFIX)?;
    let (digits, tmp) = match rest.strip_suffix(TMP_SUFFIX) {
        Some(d) => (d, true),
        None => (rest, false),
    };
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    Some(if tmp {
        CheckpointName::Tmp
    } else {
        CheckpointName::Complete(n)
    })
}

/// Complete checkpoints in `dir`, ascending.
pub fn list_checkpoints(dir: &Path) -> Result<Vec<u32>, WalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(WalError::io("read dir", dir))? {
        let entry = entry.map_err(WalError::io("read dir", dir))?;
        if let Some(CheckpointName::Complete(n)) =
            entry.file_name().to_str().and_then(parse_checkpoint_name)
        {
            if entry
                .file_type()
                .map_err(WalError::io("stat", entry.path()))?
                .is_dir()
            {
                out.push(n);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Deletes `checkpoint.<n>.tmp` directories left by an interrupted checkpoint.
pub(crate) fn remove_tmp_checkpoints(dir: &Path) -> Result<(), WalError> {
    let mut removed = false;
    for entry in std::fs::read_dir(dir).map_err(WalError::io("read dir", dir))? {
        let entry = entry.map_err(WalError::io("read dir", dir))?;
        if let Some(CheckpointName::Tmp) =
            entry.file_name().to_str().and_then(parse_checkpoint_name)
        {
            let path = entry.path();
            tracing::info!(path = %path.display(), "Removing leftover temporary WAL checkpoint.");
            std::fs::remove_dir_all(&path).map_err(WalError::io("remove", &path))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Deletes segments `<= n` and checkpoints older than `n`, which checkpoint `n` covers.
/// Returns (segments, checkpoints) deleted.
pub(crate) fn cleanup_covered(dir: &Path, n: u32) -> Result<(u32, u32), WalError> {
    let mut segments = 0;
    for s in list_segments(dir)?.into_iter().filter(|&s| s <= n) {
        let path = segment_path(dir, s);
        std::fs::remove_file(&path).map_err(WalError::io("remove", &path))?;
        segments += 1;
    }
    let mut checkpoints = 0;
    for c in list_checkpoints(dir)?.into_iter().filter(|&c| c < n) {
        let path = checkpoint_path(dir, c);
        std::fs::remove_dir_all(&path).map_err(WalError::io("remove", &path))?;
        checkpoints += 1;
    }
    if segments + checkpoints > 0 {
        sync_dir(dir)?;
    }
    Ok((segments, checkpoints))
}

/// Writes the kept records into a temporary checkpoint directory.
struct CheckpointWriter {
    dir: PathBuf,
    segment: SegmentFile,
    buf: Vec<u8>,
    metrics: WalMetrics,
}

impl CheckpointWriter {
    fn add(&mut self, record: &Record) -> Result<(), WalError> {
        let start = self.buf.len();
        let frame = append_frame(&mut self.buf, record)? as u64;
        let used = self.segment.size + start as u64;
        if used > super::segment::SEGMENT_HEADER_LEN && used + frame > DEFAULT_SEGMENT_SIZE {
            self.segment.write_all(&self.buf[..start])?;
            self.buf.drain(..start);
            self.segment.sync(&self.metrics)?;
            let next = self.segment.index + 1;
            self.segment = SegmentFile::create(&self.dir, next, &self.metrics)?;
        }
        if self.buf.len() >= WRITE_BUFFER {
            self.segment.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), WalError> {
        self.segment.write_all(&self.buf)?;
        self.segment.sync(&self.metrics)?;
        sync_dir(&self.dir)
    }
}

/// Writes checkpoint `up_to_segment` from the previous checkpoint and the segments up to and
/// including `up_to_segment`, keeping series whose reference satisfies `keep_series` and
/// samples of those series with `t >= min_time`; then deletes the covered segments and older
/// checkpoints.
///
/// `up_to_segment` must exist and must not be the segment a [`Wal`](super::Wal) is appending
/// to: cut a new segment first ([`Wal::cut_segment`](super::Wal::cut_segment)) and checkpoint
/// up to the one before. A corrupt segment is an error here (replay repairs corruption).
pub fn checkpoint(
    dir: &Path,
    up_to_segment: u32,
    keep_series: impl Fn(u64) -> bool,
    min_time: i64,
) -> Result<CheckpointStats, WalError> {
    remove_tmp_checkpoints(dir)?;
    let previous = list_checkpoints(dir)?.last().copied();
    if let Some(p) = previous {
        if up_to_segment <= p {
            return Err(WalError::InvalidInput(format!(
                "checkpoint {p} already covers segment {up_to_segment}"
            )));
        }
    }
    let segments: Vec<u32> = list_segments(dir)?
        .into_iter()
        .filter(|&s| previous.is_none_or(|p| s > p) && s <= up_to_segment)
        .collect();
    if segments.last() != Some(&up_to_segment) {
        return Err(WalError::InvalidInput(format!(
            "cannot checkpoint up to segment {up_to_segment}: it does not exist"
        )));
    }
    check_sequence(&segments, previous)?;

    let tmp = dir.join(format!(
        "{}{TMP_SUFFIX}",
        checkpoint_dir_name(up_to_segment)
    ));
    std::fs::create_dir(&tmp).map_err(WalError::io("create dir", &tmp))?;
    let result = build(dir, &tmp, previous, &segments, &keep_series, min_time);
    let mut stats = match result {
        Ok(stats) => stats,
        Err(e) => {
            if let Err(rm) = std::fs::remove_dir_all(&tmp) {
                tracing::warn!(path = %tmp.display(), error = %rm, "Cannot remove failed temporary WAL checkpoint.");
            }
            return Err(e);
        }
    };
    let dst = checkpoint_path(dir, up_to_segment);
    std::fs::rename(&tmp, &dst).map_err(WalError::io("rename", &tmp))?;
    sync_dir(dir)?;
    let (deleted_segments, deleted_checkpoints) = cleanup_covered(dir, up_to_segment)?;
    stats.checkpoint = up_to_segment;
    stats.deleted_segments = deleted_segments;
    stats.deleted_checkpoints = deleted_checkpoints;
    tracing::info!(
        checkpoint = up_to_segment,
        series = stats.total_series - stats.dropped_series,
        samples = stats.total_samples - stats.dropped_samples,
        dropped_series = stats.dropped_series,
        dropped_samples = stats.dropped_samples,
        deleted_segments,
        "Wrote WAL checkpoint."
    );
    Ok(stats)
}

fn build(
    dir: &Path,
    tmp: &Path,
    previous: Option<u32>,
    segments: &[u32],
    keep_series: &dyn Fn(u64) -> bool,
    min_time: i64,
) -> Result<CheckpointStats, WalError> {
    let metrics = WalMetrics::unregistered();
    let mut writer = CheckpointWriter {
        dir: tmp.to_path_buf(),
        segment: SegmentFile::create(tmp, 0, &metrics)?,
        buf: Vec::with_capacity(WRITE_BUFFER),
        metrics,
    };
    let mut stats = CheckpointStats::default();
    let mut filter = |record: Record| -> Result<(), WalError> {
        let kept = match record {
            Record::Series(mut series) => {
                let before = series.len();
                series.retain(|s| keep_series(s.series_ref));
                stats.total_series += before as u64;
                stats.dropped_series += (before - series.len()) as u64;
                Record::Series(series)
            }
            Record::Samples(mut samples) => {
                let before = samples.len();
                samples.retain(|s| s.t >= min_time && keep_series(s.series_ref));
                stats.total_samples += before as u64;
                stats.dropped_samples += (before - samples.len()) as u64;
                Record::Samples(samples)
            }
        };
        if kept.is_empty() {
            return Ok(());
        }
        writer.add(&kept)
    };
    let mut records = 0u64;
    if let Some(p) = previous {
        read_checkpoint(dir, p, &mut records, &mut filter)?;
    }
    let mut segments_read = 0;
    for &s in segments {
        match read_segment(segment_path(dir, s), s, &mut records, &mut filter) {
            Ok(()) => segments_read += 1,
            Err(ReadStop::Failed(e)) => return Err(e),
            Err(ReadStop::Corrupt(c)) => {
                return Err(WalError::Corrupt {
                    segment: c.segment,
                    offset: c.offset,
                    reason: format!(
                        "{} (replay the WAL to repair it before checkpointing)",
                        c.reason
                    ),
                })
            }
        }
    }
    writer.finish()?;
    stats.segments_read = segments_read;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::reader::replay;
    use crate::wal::reader::tests::{replay_all, sample};
    use crate::wal::record::{SampleRecord, SeriesRecord};
    use crate::wal::writer::{FsyncPolicy, Wal, WalOptions};
    use strix_core::Labels;

    fn series(series_ref: u64) -> Record {
        Record::Series(vec![SeriesRecord {
            series_ref,
            labels: Labels::from_pairs([
                ("__name__", "up"),
                ("instance", &*series_ref.to_string()),
            ]),
        }])
    }

    fn open(dir: &Path) -> Wal {
        let opts = WalOptions {
            segment_size: 1 << 20,
            fsync: FsyncPolicy::Never,
        };
        Wal::open(dir, opts, WalMetrics::unregistered()).expect("open")
    }

    /// Segments 0..=2: series 1..=6 in segment 0, samples at t = 10 * segment + ref.
    fn populate(dir: &Path) -> Wal {
        let wal = open(dir);
        wal.log(&(1..=6).map(series).collect::<Vec<_>>())
            .expect("log");
        for seg in 0..3i64 {
            let samples = (1..=6).map(|r| SampleRecord {
                series_ref: r,
                t: 10 * seg + r as i64,
                v: 1.0,
            });
            wal.log(&[Record::Samples(samples.collect())]).expect("log");
            if seg < 2 {
                wal.cut_segment().expect("cut");
            }
        }
        wal
    }

    fn kept(records: &[Record]) -> (Vec<u64>, Vec<(u64, i64)>) {
        let mut series = Vec::new();
        let mut samples = Vec::new();
        for r in records {
            match r {
                Record::Series(s) => series.extend(s.iter().map(|s| s.series_ref)),
                Record::Samples(s) => samples.extend(s.iter().map(|s| (s.series_ref, s.t))),
            }
        }
        (series, samples)
    }

    #[test]
    fn keeps_wanted_series_and_samples_and_deletes_covered_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = populate(dir.path());
        // Keep even series and samples from t >= 5.
        let stats = checkpoint(dir.path(), 1, |r| r % 2 == 0, 5).expect("checkpoint");
        assert_eq!(stats.checkpoint, 1);
        assert_eq!(stats.segments_read, 2);
        assert_eq!((stats.total_series, stats.dropped_series), (6, 3));
        // Segment 0: t = 1..=6, segment 1: t = 11..=16; 12 samples, keep 2/4/6 with t >= 5.
        assert_eq!((stats.total_samples, stats.dropped_samples), (12, 8));
        assert_eq!(stats.deleted_segments, 2);
        assert_eq!(list_segments(dir.path()).expect("list"), vec![2]);
        assert_eq!(list_checkpoints(dir.path()).expect("list"), vec![1]);

        // The writer keeps appending to segment 2, after the checkpoint.
        wal.log(&[sample(2, 100)]).expect("log");
        wal.close().expect("close");

        let (records, report) = replay_all(dir.path());
        assert_eq!(report.checkpoint, Some(1));
        assert_eq!(report.segments, 1);
        assert_eq!(report.corruption, None);
        let (series, samples) = kept(&records);
        assert_eq!(series, vec![2, 4, 6]);
        assert_eq!(
            samples,
            vec![
                (6, 6),
                (2, 12),
                (4, 14),
                (6, 16),
                (1, 21),
                (2, 22),
                (3, 23),
                (4, 24),
                (5, 25),
                (6, 26),
                (2, 100)
            ]
        );
    }

    #[test]
    fn next_checkpoint_folds_in_the_previous_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = populate(dir.path());
        checkpoint(dir.path(), 0, |_| true, 0).expect("first");
        wal.cut_segment().expect("cut"); // writer moves to 3
        let stats = checkpoint(dir.path(), 2, |r| r != 3, 12).expect("second");
        assert_eq!(stats.deleted_checkpoints, 1);
        assert_eq!(stats.segments_read, 2);
        assert_eq!(list_checkpoints(dir.path()).expect("list"), vec![2]);
        assert_eq!(list_segments(dir.path()).expect("list"), vec![3]);
        drop(wal);
        let (records, _) = replay_all(dir.path());
        let (series, samples) = kept(&records);
        assert_eq!(series, vec![1, 2, 4, 5, 6]);
        assert_eq!(
            samples,
            vec![
                (2, 12),
                (4, 14),
                (5, 15),
                (6, 16),
                (1, 21),
                (2, 22),
                (4, 24),
                (5, 25),
                (6, 26)
            ]
        );
        // Covered segments are never reused by a new writer.
        let wal = open(dir.path());
        assert_eq!(wal.current_segment(), 4);
    }

    #[test]
    fn writer_opened_after_checkpoint_of_every_segment_starts_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = populate(dir.path());
        drop(wal);
        checkpoint(dir.path(), 2, |_| true, 0).expect("checkpoint");
        assert!(list_segments(dir.path()).expect("list").is_empty());
        let wal = open(dir.path());
        assert_eq!(wal.current_segment(), 3);
        wal.log(&[sample(9, 99)]).expect("log");
        drop(wal);
        let (records, report) = replay_all(dir.path());
        assert_eq!(report.checkpoint, Some(2));
        assert_eq!(records.last(), Some(&sample(9, 99)));
        assert_eq!(
            records.len(),
            6 + 3 + 1,
            "six series records, three sample records, new sample"
        );
    }

    #[test]
    fn rejects_missing_or_covered_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = populate(dir.path());
        let err = checkpoint(dir.path(), 7, |_| true, 0).expect_err("missing");
        assert!(matches!(err, WalError::InvalidInput(_)), "{err}");
        checkpoint(dir.path(), 1, |_| true, 0).expect("checkpoint");
        let err = checkpoint(dir.path(), 1, |_| true, 0).expect_err("covered");
        assert!(matches!(err, WalError::InvalidInput(_)), "{err}");
        drop(wal);
    }

    #[test]
    fn leftover_tmp_and_covered_files_are_cleaned_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = populate(dir.path());
        drop(wal);
        checkpoint(dir.path(), 1, |_| true, 0).expect("checkpoint");
        // A crash mid-checkpoint leaves a temporary directory; one mid-cleanup leaves
        // covered segments behind.
        let tmp = dir.path().join("checkpoint.00000002.tmp");
        std::fs::create_dir(&tmp).expect("mkdir");
        std::fs::write(tmp.join("00000000"), b"partial").expect("write");
        std::fs::copy(segment_path(dir.path(), 2), segment_path(dir.path(), 1)).expect("copy");

        let (records, report) = replay_all(dir.path());
        assert_eq!(report.checkpoint, Some(1));
        assert_eq!(report.segments, 1);
        assert_eq!(records.len(), 6 + 2 + 1);
        assert_eq!(
            std::fs::metadata(&tmp).map_err(|e| e.kind()).err(),
            Some(std::io::ErrorKind::NotFound)
        );
        assert_eq!(list_segments(dir.path()).expect("list"), vec![2]);

        std::fs::create_dir(&tmp).expect("mkdir");
        let wal = open(dir.path());
        assert_eq!(
            std::fs::metadata(&tmp).map_err(|e| e.kind()).err(),
            Some(std::io::ErrorKind::NotFound)
        );
        drop(wal);
    }

    #[test]
    fn corrupt_checkpoint_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(populate(dir.path()));
        checkpoint(dir.path(), 1, |_| true, 0).expect("checkpoint");
        let seg = segment_path(&checkpoint_path(dir.path(), 1), 0);
        let mut bytes = std::fs::read(&seg).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&seg, &bytes).expect("write");
        let err = replay(dir.path(), |_| Ok(())).expect_err("corrupt checkpoint");
        assert!(err.to_string().contains("checkpoint"), "{err}");
        assert_eq!(std::fs::read(&seg).expect("read"), bytes, "not repaired");
    }

    #[test]
    fn parses_names() {
        assert!(matches!(
            parse_checkpoint_name("checkpoint.00000012"),
            Some(CheckpointName::Complete(12))
        ));
        assert!(matches!(
            parse_checkpoint_name("checkpoint.00000012.tmp"),
            Some(CheckpointName::Tmp)
        ));
        assert!(parse_checkpoint_name("checkpoint.12").is_none());
        assert!(parse_checkpoint_name("checkpoint.0000001x").is_none());
        assert!(parse_checkpoint_name("00000012").is_none());
    }
}
