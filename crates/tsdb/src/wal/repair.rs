//! Repairing a damaged log: cut at the first bad frame, drop everything after it.

use std::fs::OpenOptions;
use std::path::Path;

use super::error::WalError;
use super::metrics::WalMetrics;
use super::reader::Corruption;
use super::segment::{list_segments, segment_path, sync_dir, SEGMENT_HEADER_LEN};

/// Repairs `dir` after `corruption`: deletes every segment after the damaged one (newest
/// first, so a crash midway never leaves a gap), then truncates the damaged segment at the
/// bad frame, or removes it when its header is bad. Everything is fsynced before returning.
///
/// After a crash the tail of the last segment is expected to be torn; records after the
/// damage cannot be trusted to follow the ones before it, so they are dropped.
pub fn repair(dir: &Path, corruption: &Corruption, metrics: &WalMetrics) -> Result<(), WalError> {
    let damaged = corruption.segment;
    let mut removed = 0u32;
    for s in list_segments(dir)?
        .into_iter()
        .rev()
        .filter(|&s| s > damaged)
    {
        let path = segment_path(dir, s);
        std::fs::remove_file(&path).map_err(WalError::io("remove", &path))?;
        removed += 1;
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    let path = segment_path(dir, damaged);
    if corruption.offset < SEGMENT_HEADER_LEN {
        std::fs::remove_file(&path).map_err(WalError::io("remove", &path))?;
        sync_dir(dir)?;
    } else {
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(WalError::io("open", &path))?;
        file.set_len(corruption.offset)
            .map_err(WalError::io("truncate", &path))?;
        file.sync_all().map_err(WalError::io("fsync", &path))?;
    }
    metrics.truncations.inc();
    tracing::warn!(
        segment = damaged,
        offset = corruption.offset,
        removed_segments = removed,
        dir = %dir.display(),
        "Repaired WAL: truncated the damaged segment and removed later segments."
    );
    Ok(())
}
