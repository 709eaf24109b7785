//! Writes a block directory: chunks stream to disk, the index is built in memory.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use strix_core::storage::RollupPoint;
use strix_core::{Labels, Sample, Timestamp};
use ulid::Ulid;

use super::error::{BlockError, Result};
use super::meta::{BlockMeta, BlockStats, CompactionMeta, Resolution};
use crate::chunk::{encode_dense, sample_count, Encoding, RollupAppender};
use crate::fsutil::{fsync_dir, parent_of};
use crate::index::{ChunkRef, IndexBuilder};
use crate::layout::{
    self, CHUNKS_FILE, CHUNKS_MAGIC, CHUNKS_VERSION, INDEX_FILE, META_FILE, META_VERSION,
};

/// Size of the `chunks` file header.
pub(crate) const CHUNKS_HEADER_LEN: u64 = 8;
/// Size of a chunk record's header (length + crc32).
pub(crate) const CHUNK_RECORD_HEADER: usize = 8;

/// Rollup points per chunk written by [`BlockWriter::add_series_points`] (and so by rollup
/// building and compaction), as in Prometheus.
pub const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// Most samples in one raw block chunk (dense encoding): one chunk per series per block
/// up to this, so the integer streams and zstd have enough to work with, while a query
/// for a short range decodes at most this many samples per series.
/// Instant queries decode whole chunks, so block chunks stay short enough that a
/// 5-minute window costs little to read (2h at 15s: one chunk per series per block),
/// while still giving the dense
/// encoding enough samples to pack well.
pub const MAX_BLOCK_CHUNK_SAMPLES: usize = 480;

/// Encodes sorted samples into dense chunks of at most `max_per_chunk` samples, split
/// evenly (e.g. 5000 samples with a cap of 4096 make two chunks of 2500). Returns each
/// chunk's first and last timestamp and bytes.
pub fn encode_block_chunks(
    samples: &[Sample],
    max_per_chunk: usize,
) -> Vec<(Timestamp, Timestamp, Vec<u8>)> {
    let max = max_per_chunk.clamp(1, crate::chunk::MAX_DENSE_SAMPLES);
    let parts = samples.len().div_ceil(max);
    if parts == 0 {
        return Vec::new();
    }
    let size = samples.len().div_ceil(parts);
    samples
        .chunks(size)
        .filter_map(|part| {
            let (first, last) = (part.first()?, part.last()?);
            Some((first.t, last.t, encode_dense(part)))
        })
        .collect()
}

/// One encoded chunk handed to [`BlockWriter::add_series`].
#[derive(Debug, Clone, Copy)]
pub struct ChunkData<'a> {
    /// First sample (or rollup point) timestamp, inclusive.
    pub min_time: Timestamp,
    /// Last sample (or rollup point) timestamp, inclusive.
    pub max_time: Timestamp,
    /// The chunk, starting with its encoding byte.
    pub bytes: &'a [u8],
}

/// Writes one block under `<parent>/<ULID>.tmp/` and renames it to `<parent>/<ULID>/` in
/// [`BlockWriter::finish`]. Dropping an unfinished writer removes the temporary directory;
/// a crash leaves only a `.tmp` directory, removed by [`cleanup_tmp`].
#[derive(Debug)]
pub struct BlockWriter {
    parent: PathBuf,
    tmp_dir: PathBuf,
    ulid: Ulid,
    resolution: Resolution,
    min_time: Timestamp,
    max_time: Timestamp,
    chunks_path: PathBuf,
    chunks: BufWriter<File>,
    chunks_len: u64,
    index: IndexBuilder,
    last: Option<Labels>,
    stats: BlockStats,
    done: bool,
}

impl BlockWriter {
    /// Starts a block covering `[min_time, max_time]` (inclusive) in `parent`, which is
    /// created if missing.
    pub fn new(
        parent: &Path,
        resolution: Resolution,
        min_time: Timestamp,
        max_time: Timestamp,
    ) -> Result<Self> {
        if min_time > max_time {
            return Err(BlockError::InvalidInput(format!(
                "block min_time {min_time} > max_time {max_time}"
            )));
        }
        fs::create_dir_all(parent).map_err(BlockError::io(parent))?;
        let ulid = Ulid::new();
        let tmp_dir = layout::tmp_block_dir(parent, &ulid.to_string());
        fs::create_dir(&tmp_dir).map_err(BlockError::io(&tmp_dir))?;
        let chunks_path = tmp_dir.join(CHUNKS_FILE);
        let file = File::create(&chunks_path).map_err(BlockError::io(&chunks_path))?;
        let mut chunks = BufWriter::with_capacity(1 << 16, file);
        let mut header = CHUNKS_MAGIC.to_be_bytes().to_vec();
        header.extend_from_slice(&[CHUNKS_VERSION, 0, 0, 0]);
        chunks
            .write_all(&header)
            .map_err(BlockError::io(&chunks_path))?;
        Ok(BlockWriter {
            parent: parent.to_path_buf(),
            tmp_dir,
            ulid,
            resolution,
            min_time,
            max_time,
            chunks_path,
            chunks,
            chunks_len: CHUNKS_HEADER_LEN,
            index: IndexBuilder::default(),
            last: None,
            stats: BlockStats::default(),
            done: false,
        })
    }

    /// The ULID the block will have.
    pub fn ulid(&self) -> Ulid {
        self.ulid
    }

    /// Number of series added so far.
    pub fn num_series(&self) -> usize {
        self.index.num_series()
    }

    /// Adds a series with its chunks, in time order and not overlapping. Series must arrive
    /// in strictly increasing label order; chunks must use an encoding of the block's
    /// resolution (dense or XOR for raw, rollup otherwise). A series without chunks is
    /// skipped.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkData<'_>]) -> Result<()> {
        if let Some(last) = &self.last {
            if labels <= last {
                return Err(BlockError::InvalidInput(format!(
                    "series {labels} added after {last}: not in sorted label order"
                )));
            }
        }
        if labels.is_empty() {
            return Err(BlockError::InvalidInput("series without labels".into()));
        }
        let allowed: &[Encoding] = match self.resolution {
            Resolution::Raw => &[Encoding::Dense, Encoding::Xor],
            _ => &[Encoding::Rollup],
        };
        let mut prev_max = Timestamp::MIN;
        for (i, c) in chunks.iter().enumerate() {
            if c.min_time > c.max_time || (i > 0 && c.min_time <= prev_max) {
                return Err(BlockError::InvalidInput(format!(
                    "series {labels}: chunk {i} range {}..{} invalid or not after previous chunk",
                    c.min_time, c.max_time
                )));
            }
            prev_max = c.max_time;
            if !Encoding::of(c.bytes).is_ok_and(|e| allowed.contains(&e)) {
                return Err(BlockError::InvalidInput(format!(
                    "series {labels}: chunk {i} does not have an encoding of a {} block ({allowed:?})",
                    self.resolution.as_str()
                )));
            }
        }
        self.last = Some(labels.clone());
        if chunks.is_empty() {
            return Ok(());
        }
        let mut refs = Vec::with_capacity(chunks.len());
        for c in chunks {
            let n = sample_count(c.bytes)
                .map_err(|e| BlockError::InvalidInput(format!("series {labels}: {e}")))?;
            let len = u32::try_from(c.bytes.len())
                .map_err(|_| BlockError::InvalidInput("chunk larger than 4 GiB".into()))?;
            let io = BlockError::io(&self.chunks_path);
            let mut head = [0u8; CHUNK_RECORD_HEADER];
            head[..4].copy_from_slice(&len.to_be_bytes());
            head[4..].copy_from_slice(&crc32fast::hash(c.bytes).to_be_bytes());
            self.chunks
                .write_all(&head)
                .and_then(|()| self.chunks.write_all(c.bytes))
                .map_err(io)?;
            refs.push(ChunkRef {
                min_time: c.min_time,
                max_time: c.max_time,
                offset: self.chunks_len,
            });
            self.chunks_len += (CHUNK_RECORD_HEADER + c.bytes.len()) as u64;
            self.stats.num_samples += n as u64;
            self.stats.num_chunks += 1;
            self.stats.max_sample_time = Some(
                self.stats
                    .max_sample_time
                    .map_or(c.max_time, |m| m.max(c.max_time)),
            );
        }
        self.stats.num_series += 1;
        self.index.add(labels, refs);
        Ok(())
    }

    /// Adds a raw series from its samples (sorted by time, no duplicate timestamps),
    /// encoding dense chunks of at most [`MAX_BLOCK_CHUNK_SAMPLES`] samples.
    pub fn add_series_samples(&mut self, labels: &Labels, samples: &[Sample]) -> Result<()> {
        let encoded = encode_block_chunks(samples, MAX_BLOCK_CHUNK_SAMPLES);
        let chunks: Vec<ChunkData<'_>> = encoded
            .iter()
            .map(|(min_time, max_time, b)| ChunkData {
                min_time: *min_time,
                max_time: *max_time,
                bytes: b,
            })
            .collect();
        self.add_series(labels, &chunks)
    }

    /// Adds a rollup series from its points (sorted by `t`, no duplicates), encoding rollup
    /// chunks of at most [`MAX_SAMPLES_PER_CHUNK`] points.
    pub fn add_series_points(&mut self, labels: &Labels, points: &[RollupPoint]) -> Result<()> {
        let mut encoded: Vec<(Timestamp, Timestamp, Vec<u8>)> =
            Vec::with_capacity(points.len().div_ceil(MAX_SAMPLES_PER_CHUNK));
        for part in points.chunks(MAX_SAMPLES_PER_CHUNK) {
            let mut a = RollupAppender::new();
            for p in part {
                a.append(p);
            }
            if let (Some(f), Some(l)) = (part.first(), part.last()) {
                encoded.push((f.t, l.t, a.into_bytes()));
            }
        }
        let chunks: Vec<ChunkData<'_>> = encoded
            .iter()
            .map(|(min_time, max_time, b)| ChunkData {
                min_time: *min_time,
                max_time: *max_time,
                bytes: b,
            })
            .collect();
        self.add_series(labels, &chunks)
    }

    /// Writes the index and `meta.json`, fsyncs everything, renames the directory into
    /// place and fsyncs `parent`. Returns the block's metadata.
    pub fn finish(mut self, compaction: CompactionMeta) -> Result<BlockMeta> {
        let chunks_path = self.chunks_path.clone();
        self.chunks.flush().map_err(BlockError::io(&chunks_path))?;
        self.chunks
            .get_ref()
            .sync_all()
            .map_err(BlockError::io(&chunks_path))?;

        let index = std::mem::take(&mut self.index).encode();
        let index_path = self.tmp_dir.join(INDEX_FILE);
        write_synced(&index_path, &index)?;

        let meta = BlockMeta {
            ulid: self.ulid,
            min_time: self.min_time,
            max_time: self.max_time,
            stats: self.stats,
            compaction,
            resolution: self.resolution,
            version: META_VERSION,
        };
        let meta_path = self.tmp_dir.join(META_FILE);
        write_synced(&meta_path, &meta.to_json()?)?;
        fsync_dir(&self.tmp_dir).map_err(BlockError::io(&self.tmp_dir))?;

        let final_dir = self.parent.join(self.ulid.to_string());
        fs::rename(&self.tmp_dir, &final_dir).map_err(BlockError::io(&final_dir))?;
        self.done = true;
        fsync_dir(parent_of(&final_dir)).map_err(BlockError::io(&self.parent))?;
        Ok(meta)
    }
}

impl BlockWriter {
    /// Discards the unfinished block and its temporary directory (what dropping the writer
    /// does, spelled out at call sites).
    pub fn abort(self) {
        drop(self);
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = fs::remove_dir_all(&self.tmp_dir) {
                tracing::warn!(path = %self.tmp_dir.display(), error = %e, "Could not remove unfinished block directory.");
            }
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(BlockError::io(path))?;
    f.write_all(bytes).map_err(BlockError::io(path))?;
    f.sync_all().map_err(BlockError::io(path))
}

/// Removes leftover `<name>.tmp` and `<name>.deleted` entries (unfinished writes, interrupted
/// deletions) from `parent`. Returns how many were removed. A missing `parent` is fine.
pub fn cleanup_tmp(parent: &Path) -> Result<usize> {
    let entries = match fs::read_dir(parent) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(BlockError::io(parent)(e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(BlockError::io(parent))?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(layout::is_leftover) {
            continue;
        }
        let path = entry.path();
        let ft = entry.file_type().map_err(BlockError::io(&path))?;
        if ft.is_dir() {
            fs::remove_dir_all(&path).map_err(BlockError::io(&path))?;
        } else {
            fs::remove_file(&path).map_err(BlockError::io(&path))?;
        }
        removed += 1;
    }
    if removed > 0 {
        fsync_dir(parent).map_err(BlockError::io(parent))?;
    }
    Ok(removed)
}

/// Deletes a block directory safely: renames it to `<ULID>.deleted` (so a crash never leaves
/// a half-deleted block looking valid), fsyncs the parent, then removes it.
pub fn delete_block_dir(dir: &Path) -> Result<()> {
    let parent = parent_of(dir);
    let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        BlockError::InvalidInput(format!("not a block directory: {}", dir.display()))
    })?;
    let del = layout::deleted_block_dir(parent, name);
    fs::rename(dir, &del).map_err(BlockError::io(dir))?;
    fsync_dir(parent).map_err(BlockError::io(parent))?;
    fs::remove_dir_all(&del).map_err(BlockError::io(&del))?;
    Ok(())
}
