//! Reading segments back and replaying the log.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::checkpoint::{
    checkpoint_path, cleanup_covered, list_checkpoints, remove_tmp_checkpoints,
};
use super::error::WalError;
use super::metrics::WalMetrics;
use super::record::Record;
use super::repair::repair;
use super::segment::{
    list_segments, segment_path, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC,
    SEGMENT_VERSION,
};

/// Where and why replay stopped reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// Index of the damaged segment.
    pub segment: u32,
    /// Byte offset of the first bad frame (or 0 for a bad header) in that segment.
    pub offset: u64,
    /// What was wrong, for logs and operators.
    pub reason: String,
}

/// What [`replay`] read and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records passed to the callback, checkpoint records included.
    pub records: u64,
    /// WAL segments read (checkpoint segments not counted).
    pub segments: u32,
    /// The checkpoint replay started from, if any.
    pub checkpoint: Option<u32>,
    /// The corruption that ended the replay; the log was repaired at that point.
    pub corruption: Option<Corruption>,
}

/// Reads the frames of one segment file in order.
pub(crate) struct SegmentReader {
    segment: u32,
    path: PathBuf,
    reader: BufReader<File>,
    len: u64,
    offset: u64,
    buf: Vec<u8>,
}

impl SegmentReader {
    /// Opens `path` and checks its header. A short or foreign header is
    /// [`WalError::Corrupt`] at offset 0; a newer version is [`WalError::UnsupportedVersion`].
    pub(crate) fn open(path: PathBuf, segment: u32) -> Result<SegmentReader, WalError> {
        let file = File::open(&path).map_err(WalError::io("open", &path))?;
        let len = file.metadata().map_err(WalError::io("stat", &path))?.len();
        let corrupt = |reason: String| WalError::Corrupt {
            segment,
            offset: 0,
            reason,
        };
        if len < SEGMENT_HEADER_LEN {
            return Err(corrupt(format!(
                "segment header truncated: file has {len} bytes"
            )));
        }
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
        reader
            .read_exact(&mut header)
            .map_err(WalError::io("read", &path))?;
        if header[..4] != SEGMENT_MAGIC {
            return Err(corrupt(format!("bad segment magic {:02x?}", &header[..4])));
        }
        if header[4] != SEGMENT_VERSION {
            return Err(WalError::UnsupportedVersion {
                path,
                version: header[4],
            });
        }
        if header[5..] != [0, 0, 0] {
            return Err(corrupt("reserved header bytes are not zero".to_string()));
        }
        Ok(SegmentReader {
            segment,
            path,
            reader,
            len,
            offset: SEGMENT_HEADER_LEN,
            buf: Vec::new(),
        })
    }

    fn corrupt(&self, reason: String) -> WalError {
        WalError::Corrupt {
            segment: self.segment,
            offset: self.offset,
            reason,
        }
    }

    /// The next record, `None` at a clean end of file. A torn or damaged frame is
    /// [`WalError::Corrupt`] at the frame's offset.
    pub(crate) fn next_record(&mut self) -> Result<Option<Record>, WalError> {
        let remaining = self.len - self.offset;
        if remaining == 0 {
            return Ok(None);
        }
        if remaining < FRAME_HEADER_LEN as u64 {
            return Err(self.corrupt(format!("torn frame header: {remaining} bytes left")));
        }
        let mut header = [0u8; FRAME_HEADER_LEN];
        self.reader
            .read_exact(&mut header)
            .map_err(WalError::io("read", &self.path))?;
        let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        let crc = u32::from_le_bytes([c0, c1, c2, c3]);
        let available = remaining - FRAME_HEADER_LEN as u64;
        if u64::from(len) > available {
            return Err(self.corrupt(format!(
                "frame length {len} exceeds the {available} bytes left"
            )));
        }
        // Bounded by the file's size, checked above.
        self.buf.resize(len as usize, 0);
        self.reader
            .read_exact(&mut self.buf)
            .map_err(WalError::io("read", &self.path))?;
        let actual = crc32fast::hash(&self.buf);
        if actual != crc {
            return Err(self.corrupt(format!(
                "crc mismatch: frame says {crc:08x}, payload has {actual:08x}"
            )));
        }
        let record = Record::decode(&self.buf)
            .map_err(|e| self.corrupt(format!("undecodable record: {e}")))?;
        self.offset += FRAME_HEADER_LEN as u64 + u64::from(len);
        Ok(Some(record))
    }
}

/// Why reading a segment stopped early.
pub(crate) enum ReadStop {
    /// The segment is damaged here.
    Corrupt(Corruption),
    /// An I/O error, unsupported version or callback error: passed to the caller.
    Failed(WalError),
}

/// Feeds every record of segment `segment` at `path` to `f`, counting them in `records`.
pub(crate) fn read_segment(
    path: PathBuf,
    segment: u32,
    records: &mut u64,
    f: &mut dyn FnMut(Record) -> Result<(), WalError>,
) -> Result<(), ReadStop> {
    let classify = |e: WalError| match e {
        WalError::Corrupt {
            segment,
            offset,
            reason,
        } => ReadStop::Corrupt(Corruption {
            segment,
            offset,
            reason,
        }),
        other => ReadStop::Failed(other),
    };
    let mut reader = SegmentReader::open(path, segment).map_err(classify)?;
    while let Some(record) = reader.next_record().map_err(classify)? {
        *records += 1;
        // A callback error is never taken for corruption, whatever its variant.
        f(record).map_err(ReadStop::Failed)?;
    }
    Ok(())
}

/// Checks that `segments` are consecutive and, after checkpoint `after`, start right after it.
pub(crate) fn check_sequence(segments: &[u32], after: Option<u32>) -> Result<(), WalError> {
    let mut expected = after.and_then(|n| n.checked_add(1));
    for &s in segments {
        if let Some(e) = expected {
            if s != e {
                return Err(WalError::Corrupt {
                    segment: e,
                    offset: 0,
                    reason: format!("segment {e} is missing (next present is {s}); refusing to replay across the gap"),
                });
            }
        }
        expected = s.checked_add(1);
    }
    Ok(())
}

/// Replays the checkpoint directory `checkpoint.<n>` into `f`. Corruption here is an error:
/// a checkpoint is fsynced before it becomes visible, so damage is not a torn write.
pub(crate) fn read_checkpoint(
    dir: &Path,
    n: u32,
    records: &mut u64,
    f: &mut dyn FnMut(Record) -> Result<(), WalError>,
) -> Result<(), WalError> {
    let cp_dir = checkpoint_path(dir, n);
    let segments = list_segments(&cp_dir)?;
    let in_checkpoint = |e: WalError| match e {
        WalError::Corrupt {
            segment,
            offset,
            reason,
        } => WalError::Corrupt {
            segment,
            offset,
            reason: format!("in checkpoint {}: {reason}", cp_dir.display()),
        },
        other => other,
    };
    if segments.first().is_some_and(|&s| s != 0) {
        return Err(in_checkpoint(WalError::Corrupt {
            segment: 0,
            offset: 0,
            reason: "first checkpoint segment is missing".to_string(),
        }));
    }
    check_sequence(&segments, None).map_err(in_checkpoint)?;
    for s in segments {
        match read_segment(segment_path(&cp_dir, s), s, records, f) {
            Ok(()) => {}
            Err(ReadStop::Failed(e)) => return Err(e),
            Err(ReadStop::Corrupt(c)) => {
                return Err(in_checkpoint(WalError::Corrupt {
                    segment: c.segment,
                    offset: c.offset,
                    reason: c.reason,
                }))
            }
        }
    }
    Ok(())
}

/// Replays the WAL in `dir`: the newest checkpoint, then every segment after it, in order.
///
/// The first torn or corrupt frame ends the replay: the damaged segment is truncated at the
/// frame (removed if its header is bad), later segments are deleted, and the damage is
/// returned in [`ReplayReport::corruption`]. Corruption is never an error here; I/O errors,
/// callback errors, unsupported versions, a gap between segments and a damaged checkpoint
/// are, and nothing is repaired in those cases.
///
/// A missing `dir` replays nothing. Leftover `checkpoint.<n>.tmp` directories are deleted.
/// Must not run while a [`Wal`](super::Wal) is appending to `dir`.
pub fn replay(
    dir: &Path,
    f: impl FnMut(Record) -> Result<(), WalError>,
) -> Result<ReplayReport, WalError> {
    replay_with_metrics(dir, &WalMetrics::unregistered(), f)
}

/// [`replay`], counting corruptions and truncations in `metrics`.
pub fn replay_with_metrics(
    dir: &Path,
    metrics: &WalMetrics,
    mut f: impl FnMut(Record) -> Result<(), WalError>,
) -> Result<ReplayReport, WalError> {
    let mut report = ReplayReport::default();
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(WalError::io("stat", dir)(e)),
        Ok(_) => {}
    }
    remove_tmp_checkpoints(dir)?;
    let checkpoint = list_checkpoints(dir)?.last().copied();
    if let Some(n) = checkpoint {
        read_checkpoint(dir, n, &mut report.records, &mut f)?;
        report.checkpoint = Some(n);
        // Finish a checkpoint that crashed while deleting what it covers.
        cleanup_covered(dir, n)?;
    }
    let segments: Vec<u32> = list_segments(dir)?
        .into_iter()
        .filter(|&s| checkpoint.is_none_or(|n| s > n))
        .collect();
    check_sequence(&segments, checkpoint)?;
    for s in segments {
        report.segments += 1;
        match read_segment(segment_path(dir, s), s, &mut report.records, &mut f) {
            Ok(()) => {}
            Err(ReadStop::Failed(e)) => return Err(e),
            Err(ReadStop::Corrupt(c)) => {
                metrics.corruptions.inc();
                tracing::warn!(
                    segment = c.segment,
                    offset = c.offset,
                    reason = %c.reason,
                    dir = %dir.display(),
                    "WAL corruption found; replay stops here and the log is truncated."
                );
                repair(dir, &c, metrics)?;
                report.corruption = Some(c);
                break;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wal::record::SampleRecord;
    use crate::wal::segment::list_segments;
    use crate::wal::writer::{FsyncPolicy, Wal, WalOptions};

    pub(crate) fn sample(series_ref: u64, t: i64) -> Record {
        Record::Samples(vec![SampleRecord {
            series_ref,
            t,
            v: t as f64,
        }])
    }

    pub(crate) fn replay_all(dir: &Path) -> (Vec<Record>, ReplayReport) {
        let mut out = Vec::new();
        let report = replay(dir, |r| {
            out.push(r);
            Ok(())
        })
        .expect("replay");
        (out, report)
    }

    /// Offsets of every frame in a segment file, and the file length.
    pub(crate) fn frame_offsets(path: &Path) -> (Vec<u64>, u64) {
        let bytes = std::fs::read(path).expect("read segment");
        let mut offsets = Vec::new();
        let mut off = SEGMENT_HEADER_LEN as usize;
        while off < bytes.len() {
            offsets.push(off as u64);
            let len = u32::from_le_bytes(bytes[off..off + 4].try_into().expect("4 bytes")) as usize;
            off += FRAME_HEADER_LEN + len;
        }
        (offsets, bytes.len() as u64)
    }

    fn opts() -> WalOptions {
        WalOptions {
            segment_size: 1 << 20,
            fsync: FsyncPolicy::Never,
        }
    }

    /// Writes `n` records, one per `log` call, and closes the WAL.
    fn write_records(dir: &Path, n: u64) -> Vec<Record> {
        let wal = Wal::open(dir, opts(), WalMetrics::unregistered()).expect("open");
        let records: Vec<Record> = (0..n).map(|i| sample(i, 1000 + i as i64)).collect();
        for r in &records {
            wal.log(std::slice::from_ref(r)).expect("log");
        }
        wal.close().expect("close");
        records
    }

    #[test]
    fn missing_dir_replays_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (records, report) = replay_all(&dir.path().join("nope"));
        assert!(records.is_empty());
        assert_eq!(report, ReplayReport::default());
    }

    #[test]
    fn torn_final_record_at_every_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let records = write_records(dir.path(), 20);
        let seg = segment_path(dir.path(), 0);
        let original = std::fs::read(&seg).expect("read");
        let (offsets, len) = frame_offsets(&seg);
        let last = *offsets.last().expect("frames");
        for cut in last..len {
            std::fs::write(&seg, &original[..cut as usize]).expect("write");
            let (got, report) = replay_all(dir.path());
            assert_eq!(got, records[..19], "cut at {cut}");
            if cut == last {
                assert_eq!(
                    report.corruption, None,
                    "cut at a frame boundary is a clean end"
                );
            } else {
                let c = report.corruption.expect("corruption reported");
                assert_eq!((c.segment, c.offset), (0, last), "cut at {cut}");
            }
            assert_eq!(
                std::fs::metadata(&seg).expect("stat").len(),
                last,
                "truncated at the damage"
            );
            // Replaying the repaired log is clean.
            let (again, report) = replay_all(dir.path());
            assert_eq!(again.len(), 19);
            assert_eq!(report.corruption, None);
        }
        // The repaired log accepts appends into a fresh segment.
        let wal = Wal::open(dir.path(), opts(), WalMetrics::unregistered()).expect("open");
        assert_eq!(wal.current_segment(), 1);
        wal.log(&[sample(99, 99)]).expect("log");
        wal.close().expect("close");
        let (got, _) = replay_all(dir.path());
        assert_eq!(got.len(), 20);
        assert_eq!(got[19], sample(99, 99));
    }

    #[test]
    fn bad_crc_mid_segment_truncates_and_drops_later_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = Wal::open(dir.path(), opts(), WalMetrics::unregistered()).expect("open");
        let mut all = Vec::new();
        for seg in 0..3u64 {
            for i in 0..10 {
                let r = sample(seg * 100 + i, i as i64);
                wal.log(std::slice::from_ref(&r)).expect("log");
                all.push(r);
            }
            if seg < 2 {
                assert_eq!(wal.cut_segment().expect("cut"), seg as u32 + 1);
            }
        }
        wal.close().expect("close");
        assert_eq!(list_segments(dir.path()).expect("list"), vec![0, 1, 2]);

        // Flip a payload byte of the fifth record of segment 1.
        let seg1 = segment_path(dir.path(), 1);
        let (offsets, _) = frame_offsets(&seg1);
        let mut bytes = std::fs::read(&seg1).expect("read");
        let at = offsets[4] as usize + FRAME_HEADER_LEN + 1;
        bytes[at] ^= 0xff;
        std::fs::write(&seg1, &bytes).expect("write");

        let metrics = WalMetrics::unregistered();
        let mut got = Vec::new();
        let report = replay_with_metrics(dir.path(), &metrics, |r| {
            got.push(r);
            Ok(())
        })
        .expect("replay");
        assert_eq!(got, all[..14]);
        let c = report.corruption.expect("corruption");
        assert_eq!((c.segment, c.offset), (1, offsets[4]));
        assert!(c.reason.contains("crc"), "{}", c.reason);
        assert_eq!(report.segments, 2);
        assert_eq!(
            list_segments(dir.path()).expect("list"),
            vec![0, 1],
            "segment 2 removed"
        );
        assert_eq!(std::fs::metadata(&seg1).expect("stat").len(), offsets[4]);
        assert_eq!(metrics.corruptions.get(), 1);
        assert_eq!(metrics.truncations.get(), 1);
    }

    #[test]
    fn garbage_length_is_corruption_not_allocation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let records = write_records(dir.path(), 3);
        let seg = segment_path(dir.path(), 0);
        let (offsets, len) = frame_offsets(&seg);
        let mut bytes = std::fs::read(&seg).expect("read");
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1, 2, 3]);
        std::fs::write(&seg, &bytes).expect("write");
        let (got, report) = replay_all(dir.path());
        assert_eq!(got, records);
        assert_eq!(report.corruption.expect("corruption").offset, len);
        assert_eq!(offsets.len(), 3);
    }

    #[test]
    fn zeroed_tail_is_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let records = write_records(dir.path(), 3);
        let seg = segment_path(dir.path(), 0);
        let mut bytes = std::fs::read(&seg).expect("read");
        let len = bytes.len() as u64;
        bytes.extend_from_slice(&[0u8; 64]);
        std::fs::write(&seg, &bytes).expect("write");
        let (got, report) = replay_all(dir.path());
        assert_eq!(got, records);
        assert_eq!(report.corruption.expect("corruption").offset, len);
        assert_eq!(std::fs::metadata(&seg).expect("stat").len(), len);
    }

    #[test]
    fn bad_header_removes_segment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let records = write_records(dir.path(), 3);
        // A crash right after creating the next segment leaves it empty.
        std::fs::write(segment_path(dir.path(), 1), b"SX").expect("write");
        let (got, report) = replay_all(dir.path());
        assert_eq!(got, records);
        let c = report.corruption.expect("corruption");
        assert_eq!((c.segment, c.offset), (1, 0));
        assert_eq!(list_segments(dir.path()).expect("list"), vec![0]);
    }

    #[test]
    fn unsupported_version_is_an_error_and_deletes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_records(dir.path(), 3);
        let seg = segment_path(dir.path(), 0);
        let mut bytes = std::fs::read(&seg).expect("read");
        bytes[4] = 99;
        std::fs::write(&seg, &bytes).expect("write");
        let err = replay(dir.path(), |_| Ok(())).expect_err("must fail");
        assert!(
            matches!(err, WalError::UnsupportedVersion { version: 99, .. }),
            "{err}"
        );
        assert_eq!(std::fs::read(&seg).expect("read"), bytes, "untouched");
    }

    #[test]
    fn gap_between_segments_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_records(dir.path(), 3);
        std::fs::copy(segment_path(dir.path(), 0), segment_path(dir.path(), 2)).expect("copy");
        let err = replay(dir.path(), |_| Ok(())).expect_err("must fail");
        assert!(matches!(err, WalError::Corrupt { segment: 1, .. }), "{err}");
        assert_eq!(
            list_segments(dir.path()).expect("list"),
            vec![0, 2],
            "nothing deleted"
        );
    }

    #[test]
    fn callback_errors_are_returned_without_repair() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_records(dir.path(), 3);
        let before = std::fs::read(segment_path(dir.path(), 0)).expect("read");
        let err = replay(dir.path(), |_| {
            Err(WalError::Corrupt {
                segment: 0,
                offset: 8,
                reason: "from callback".into(),
            })
        })
        .expect_err("must fail");
        assert!(err.to_string().contains("from callback"));
        assert_eq!(
            std::fs::read(segment_path(dir.path(), 0)).expect("read"),
            before
        );
    }
}
