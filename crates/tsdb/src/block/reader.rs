//! Reads a block: memory-mapped index and chunks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use strix_core::storage::{RollupPoint, SeriesRollup, SeriesSamples};
use strix_core::{Labels, Matcher, Sample, Timestamp};

use super::error::{BlockError, Result};
use super::meta::{BlockMeta, Resolution};
use super::writer::{CHUNKS_HEADER_LEN, CHUNK_RECORD_HEADER};
use crate::chunk::{self, RollupIter};
use crate::fsutil::{dir_size, mmap_file, MappedFile};
use crate::index::encoding::Cursor;
use crate::index::{ChunkRef, IndexReader};
use crate::layout::{CHUNKS_FILE, CHUNKS_MAGIC, CHUNKS_VERSION, INDEX_FILE};

/// A series selected from a block, with the references of its chunks in the asked range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSeries {
    pub labels: Labels,
    pub chunks: Vec<ChunkRef>,
}

/// An open, immutable block. Cheap to share (`Arc<Block>`): all reads go through the
/// memory maps.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks_path: PathBuf,
    chunks: MappedFile,
    size_bytes: u64,
}

impl Block {
    /// Opens the block in `dir`: reads `meta.json`, maps `index` and `chunks` and validates
    /// their headers and the index's TOC and table checksums.
    pub fn open(dir: &Path) -> Result<Block> {
        let meta = BlockMeta::read(dir)?;
        let index = IndexReader::open(&dir.join(INDEX_FILE))?;
        let chunks_path = dir.join(CHUNKS_FILE);
        let chunks = mmap_file(&chunks_path).map_err(BlockError::io(&chunks_path))?;
        let mut c = Cursor::new(&chunks);
        let magic = c.u32();
        if magic != Some(CHUNKS_MAGIC) || chunks.len() < CHUNKS_HEADER_LEN as usize {
            return Err(BlockError::corrupt(&chunks_path, "bad magic at offset 0"));
        }
        if chunks[4] != CHUNKS_VERSION {
            return Err(BlockError::UnsupportedVersion {
                path: chunks_path,
                version: u32::from(chunks[4]),
            });
        }
        let size_bytes = dir_size(dir).map_err(BlockError::io(dir))?;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks_path,
            chunks,
            size_bytes,
        })
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Size of the block's files on disk.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    /// The bytes of one chunk (starting with its encoding byte), checksum-verified.
    pub fn chunk(&self, r: &ChunkRef) -> Result<&[u8]> {
        let off = r.offset;
        let bad = |what: &str| {
            BlockError::corrupt(&self.chunks_path, format!("chunk at offset {off}: {what}"))
        };
        let start = usize::try_from(off).map_err(|_| bad("offset out of range"))?;
        if off < CHUNKS_HEADER_LEN {
            return Err(bad("offset inside the file header"));
        }
        let mut c = Cursor::at(&self.chunks, start);
        let len = c.u32().ok_or_else(|| bad("truncated record header"))? as usize;
        let crc = c.u32().ok_or_else(|| bad("truncated record header"))?;
        let data = c.bytes(len).ok_or_else(|| bad("truncated data"))?;
        if crc32fast::hash(data) != crc {
            return Err(bad("checksum mismatch"));
        }
        debug_assert_eq!(c.pos, start + CHUNK_RECORD_HEADER + len);
        Ok(data)
    }

    /// Series matching all `matchers` (see [`IndexReader::postings_for_matchers`]) with
    /// their chunks overlapping `[min_time, max_time]`, in label order. Series without such
    /// chunks are omitted.
    pub fn select(
        &self,
        matchers: &[Matcher],
        min_time: Timestamp,
        max_time: Timestamp,
    ) -> Result<Vec<BlockSeries>> {
        let mut out = Vec::new();
        if !self.meta.overlaps(min_time, max_time) {
            return Ok(out);
        }
        for id in self.index.postings_for_matchers(matchers)? {
            let (labels, mut chunks) = self.index.series(id)?;
            chunks.retain(|c| c.overlaps(min_time, max_time));
            if !chunks.is_empty() {
                out.push(BlockSeries { labels, chunks });
            }
        }
        Ok(out)
    }

    /// Every series with all its chunks, in label order (for compaction and rollups).
    pub fn all_series(&self) -> impl Iterator<Item = Result<BlockSeries>> + '_ {
        (0..self.index.num_series() as u32).map(move |id| {
            self.index
                .series(id)
                .map(|(labels, chunks)| BlockSeries { labels, chunks })
        })
    }

    /// Sorted label names of series matching `matchers` (all names when empty).
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        if matchers.is_empty() {
            return self.index.all_label_names();
        }
        let mut names = BTreeSet::new();
        for id in self.index.postings_for_matchers(matchers)? {
            let (labels, _) = self.index.series(id)?;
            for l in labels.iter() {
                if !names.contains(&l.name) {
                    names.insert(l.name.clone());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Sorted values of label `name` over series matching `matchers` (all series when
    /// empty).
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        if matchers.is_empty() {
            return self.index.all_label_values(name);
        }
        let mut values = BTreeSet::new();
        for id in self.index.postings_for_matchers(matchers)? {
            let (labels, _) = self.index.series(id)?;
            if let Some(v) = labels.get(name) {
                if !values.contains(v) {
                    values.insert(v.to_string());
                }
            }
        }
        Ok(values.into_iter().collect())
    }

    /// Decodes the raw-sample chunk `r` (dense or XOR, by its encoding byte) into `out`,
    /// keeping samples in `[min_time, max_time]`. On error `out` is left as it was.
    pub fn decode_samples(
        &self,
        r: &ChunkRef,
        min_time: Timestamp,
        max_time: Timestamp,
        out: &mut Vec<Sample>,
    ) -> Result<()> {
        let bytes = self.chunk(r)?;
        let base = out.len();
        if let Err(e) = chunk::decode_samples(bytes, out) {
            out.truncate(base);
            return Err(self.chunk_err(r, e));
        }
        if r.min_time < min_time || r.max_time > max_time {
            let mut keep = base;
            for i in base..out.len() {
                let s = out[i];
                if s.t >= min_time && s.t <= max_time {
                    out[keep] = s;
                    keep += 1;
                }
            }
            out.truncate(keep);
        }
        Ok(())
    }

    /// Decodes the rollup chunk `r` into `out`, keeping points with `t` in
    /// `[min_time, max_time]`.
    pub fn decode_points(
        &self,
        r: &ChunkRef,
        min_time: Timestamp,
        max_time: Timestamp,
        out: &mut Vec<RollupPoint>,
    ) -> Result<()> {
        let bytes = self.chunk(r)?;
        let it = RollupIter::new(bytes).map_err(|e| self.chunk_err(r, e))?;
        for p in it {
            let p = p.map_err(|e| self.chunk_err(r, e))?;
            if p.t >= min_time && p.t <= max_time {
                out.push(p);
            }
        }
        Ok(())
    }

    fn chunk_err(&self, r: &ChunkRef, e: crate::chunk::ChunkError) -> BlockError {
        BlockError::corrupt(
            &self.chunks_path,
            format!("chunk at offset {}: {e}", r.offset),
        )
    }

    fn require(&self, raw: bool) -> Result<()> {
        if (self.meta.resolution == Resolution::Raw) != raw {
            return Err(BlockError::InvalidInput(format!(
                "block {} has resolution {}, asked for {}",
                self.meta.ulid,
                self.meta.resolution.as_str(),
                if raw { "raw samples" } else { "rollup points" }
            )));
        }
        Ok(())
    }

    /// Samples of matching series in `[min_time, max_time]`, decoded from a raw block.
    pub fn read_samples(
        &self,
        matchers: &[Matcher],
        min_time: Timestamp,
        max_time: Timestamp,
    ) -> Result<Vec<SeriesSamples>> {
        self.require(true)?;
        let mut out = Vec::new();
        for s in self.select(matchers, min_time, max_time)? {
            let mut samples = Vec::new();
            for c in &s.chunks {
                self.decode_samples(c, min_time, max_time, &mut samples)?;
            }
            if !samples.is_empty() {
                out.push(SeriesSamples {
                    labels: s.labels,
                    samples,
                });
            }
        }
        Ok(out)
    }

    /// Rollup points of matching series with bucket ends `t` in `(min_time, max_time]`
    /// (the convention of [`strix_core::storage::Queryable::select_rollup`]), decoded from
    /// a rollup block.
    pub fn select_rollup(
        &self,
        matchers: &[Matcher],
        min_time: Timestamp,
        max_time: Timestamp,
    ) -> Result<Vec<SeriesRollup>> {
        self.require(false)?;
        let Some(lo) = min_time.checked_add(1) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for s in self.select(matchers, lo, max_time)? {
            let mut points = Vec::new();
            for c in &s.chunks {
                self.decode_points(c, lo, max_time, &mut points)?;
            }
            if !points.is_empty() {
                out.push(SeriesRollup {
                    labels: s.labels,
                    points,
                });
            }
        }
        Ok(out)
    }
}
