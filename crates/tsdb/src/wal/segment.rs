//! Segment files: names, header, frames, and the append-only segment handle.
//!
//! A WAL directory holds segment files named by their index as eight or more decimal digits
//! (`00000000`, `00000001`, ...). Every segment starts with an 8-byte header, followed by
//! frames `[u32 LE length][u32 LE crc32 of payload][payload]`, one record per frame. A frame
//! never spans two segments. See docs/format/wal.md.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::error::WalError;
use super::metrics::WalMetrics;
use super::record::Record;

/// First four bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 4] = *b"SXWL";
/// The segment format version this build writes and reads.
pub const SEGMENT_VERSION: u8 = 1;
/// Length of the segment header: magic, version byte, three reserved zero bytes.
pub const SEGMENT_HEADER_LEN: u64 = 8;
/// Length of a frame header: payload length and crc32, both u32 little endian.
pub const FRAME_HEADER_LEN: usize = 8;
/// Default maximum segment size (128 MiB), as in Prometheus.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 << 20;

/// The segment header as written by this build.
pub(crate) fn segment_header() -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..4].copy_from_slice(&SEGMENT_MAGIC);
    h[4] = SEGMENT_VERSION;
    h
}

/// File name of segment `index`: at least eight digits, zero padded.
pub fn segment_file_name(index: u32) -> String {
    format!("{index:08}")
}

pub(crate) fn segment_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(segment_file_name(index))
}

/// Parses a segment file name; anything that is not all ASCII digits is not a segment.
pub(crate) fn parse_segment_name(name: &str) -> Option<u32> {
    if name.len() < 8 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// Indexes of the segment files in `dir`, ascending. Other entries are ignored.
pub fn list_segments(dir: &Path) -> Result<Vec<u32>, WalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(WalError::io("read dir", dir))? {
        let entry = entry.map_err(WalError::io("read dir", dir))?;
        let Some(index) = entry.file_name().to_str().and_then(parse_segment_name) else {
            continue;
        };
        let ft = entry
            .file_type()
            .map_err(WalError::io("stat", entry.path()))?;
        if ft.is_file() {
            out.push(index);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Appends one framed record to `dst`: reserves the frame header, encodes the record, then
/// fills in length and crc. Returns the frame's length.
pub(crate) fn append_frame(dst: &mut Vec<u8>, record: &Record) -> Result<usize, WalError> {
    let start = dst.len();
    dst.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    record.encode(dst);
    let payload = dst.get(start + FRAME_HEADER_LEN..).unwrap_or_default();
    let len = match u32::try_from(payload.len()) {
        Ok(len) => len,
        Err(_) => {
            let n = payload.len();
            dst.truncate(start);
            return Err(WalError::InvalidInput(format!(
                "record of {n} bytes exceeds the 4 GiB frame limit"
            )));
        }
    };
    let crc = crc32fast::hash(payload);
    if let Some(h) = dst.get_mut(start..start + FRAME_HEADER_LEN) {
        h[..4].copy_from_slice(&len.to_le_bytes());
        h[4..].copy_from_slice(&crc.to_le_bytes());
    }
    Ok(dst.len() - start)
}

/// Fsyncs a directory so that created, renamed and removed entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(WalError::io("fsync dir", dir))
}

/// Times an fsync of `file` into the metrics.
pub(crate) fn fsync(file: &File, path: &Path, metrics: &WalMetrics) -> Result<(), WalError> {
    let start = Instant::now();
    let res = file.sync_data();
    metrics
        .fsync_duration
        .observe(start.elapsed().as_secs_f64());
    metrics.fsyncs.inc();
    res.map_err(WalError::io("fsync", path))
}

/// An open segment being appended to.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    pub(crate) index: u32,
    pub(crate) path: PathBuf,
    /// Shared so that a background fsync can run without holding the writer's lock.
    pub(crate) file: Arc<File>,
    /// Bytes in the file, header included.
    pub(crate) size: u64,
}

impl SegmentFile {
    /// Creates segment `index` in `dir` (it must not exist), writes the header and makes
    /// both the file and its directory entry durable.
    pub(crate) fn create(
        dir: &Path,
        index: u32,
        metrics: &WalMetrics,
    ) -> Result<SegmentFile, WalError> {
        let path = segment_path(dir, index);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(WalError::io("create", &path))?;
        file.write_all(&segment_header())
            .map_err(WalError::io("write", &path))?;
        let start = Instant::now();
        file.sync_all().map_err(WalError::io("fsync", &path))?;
        metrics
            .fsync_duration
            .observe(start.elapsed().as_secs_f64());
        metrics.fsyncs.inc();
        sync_dir(dir)?;
        metrics.segment_creations.inc();
        tracing::debug!(segment = index, path = %path.display(), "Created WAL segment.");
        Ok(SegmentFile {
            index,
            path,
            file: Arc::new(file),
            size: SEGMENT_HEADER_LEN,
        })
    }

    /// Writes `buf` at the end of the segment.
    pub(crate) fn write_all(&mut self, buf: &[u8]) -> Result<(), WalError> {
        (&*self.file)
            .write_all(buf)
            .map_err(WalError::io("write", &self.path))?;
        self.size += buf.len() as u64;
        Ok(())
    }

    pub(crate) fn sync(&self, metrics: &WalMetrics) -> Result<(), WalError> {
        fsync(&self.file, &self.path, metrics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::record::SampleRecord;

    #[test]
    fn names_roundtrip() {
        assert_eq!(segment_file_name(0), "00000000");
        assert_eq!(segment_file_name(42), "00000042");
        assert_eq!(segment_file_name(u32::MAX), "4294967295");
        assert_eq!(parse_segment_name("00000042"), Some(42));
        assert_eq!(parse_segment_name("4294967295"), Some(u32::MAX));
        assert_eq!(parse_segment_name("42"), None);
        assert_eq!(parse_segment_name("checkpoint.00000001"), None);
        assert_eq!(parse_segment_name("0000004a"), None);
        assert_eq!(parse_segment_name("99999999999"), None);
    }

    #[test]
    fn lists_only_segment_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["00000002", "00000000", "00000010", "junk", "00000001.tmp"] {
            std::fs::write(dir.path().join(name), b"").expect("write");
        }
        std::fs::create_dir(dir.path().join("00000005")).expect("mkdir");
        std::fs::create_dir(dir.path().join("checkpoint.00000001")).expect("mkdir");
        assert_eq!(list_segments(dir.path()).expect("list"), vec![0, 2, 10]);
    }

    #[test]
    fn frame_layout() {
        let r = Record::Samples(vec![SampleRecord {
            series_ref: 1,
            t: 2,
            v: 3.0,
        }]);
        let mut buf = vec![1, 2, 3];
        let n = append_frame(&mut buf, &r).expect("frame");
        assert_eq!(n, buf.len() - 3);
        let frame = &buf[3..];
        let len = u32::from_le_bytes(frame[..4].try_into().expect("4")) as usize;
        let crc = u32::from_le_bytes(frame[4..8].try_into().expect("4"));
        assert_eq!(len, frame.len() - FRAME_HEADER_LEN);
        assert_eq!(crc, crc32fast::hash(&frame[8..]));
        assert_eq!(Record::decode(&frame[8..]).expect("decode"), r);
    }

    #[test]
    fn create_writes_header_and_refuses_existing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = WalMetrics::unregistered();
        let seg = SegmentFile::create(dir.path(), 3, &m).expect("create");
        assert_eq!(seg.size, SEGMENT_HEADER_LEN);
        let bytes = std::fs::read(dir.path().join("00000003")).expect("read");
        assert_eq!(bytes, segment_header());
        assert_eq!(&bytes[..4], b"SXWL");
        assert_eq!(bytes[4], 1);
        assert!(SegmentFile::create(dir.path(), 3, &m).is_err());
        assert_eq!(m.segment_creations.get(), 1);
    }
}
