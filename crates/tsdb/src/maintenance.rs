//! Background maintenance: cutting the head into blocks, truncating the WAL, compacting
//! blocks, building rollup tiers and enforcing retention. Runs on the maintenance thread
//! (and on demand through [`crate::Db::flush`]); one cycle at a time.

use crate::block::{
    encode_block_chunks, Block, BlockMeta, BlockWriter, ChunkData, CompactionMeta, Resolution,
    MAX_BLOCK_CHUNK_SAMPLES,
};
use crate::db::{Blocks, Inner};
use crate::error::DbError;
use crate::metrics::{ReasonLabel, ResolutionLabel};
use crate::{compact, fsutil, layout, rollup, wal};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use strix_core::storage::RollupTier;
use strix_core::{now_millis, Timestamp};

static CYCLE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Directory holding the blocks of one resolution.
pub(crate) fn tier_dir(data: &Path, res: Resolution) -> PathBuf {
    match res.tier() {
        None => layout::blocks_dir(data),
        Some(t) => layout::rollup_dir(data, t),
    }
}

/// Opens every block under `parent`, removing leftovers of interrupted writes/deletes.
pub(crate) fn load_blocks(parent: &Path) -> Result<Vec<Arc<Block>>, DbError> {
    let io = |op| {
        let path = parent.to_path_buf();
        move |source| DbError::Io { op, path, source }
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(parent).map_err(io("read dir"))? {
        let entry = entry.map_err(io("read dir"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if layout::is_leftover(&name) {
            tracing::info!(path = %path.display(), "Removing leftover of an interrupted block write or delete.");
            std::fs::remove_dir_all(&path).map_err(io("remove leftover"))?;
            continue;
        }
        if !entry.file_type().map_err(io("stat"))?.is_dir() {
            continue;
        }
        match Block::open(&path) {
            Ok(b) => out.push(Arc::new(b)),
            Err(e) => {
                // A corrupt block is set aside, never deleted: its data may be recoverable.
                tracing::error!(path = %path.display(), error = %e, "Block is unreadable; moving it aside as .corrupt.");
                let aside = path.with_extension("corrupt");
                std::fs::rename(&path, &aside).map_err(io("move corrupt block aside"))?;
            }
        }
    }
    out.sort_by_key(|b| (b.meta().min_time, b.meta().ulid));
    Ok(out)
}

fn align_down(t: Timestamp, range: i64) -> Timestamp {
    t.div_euclid(range) * range
}

impl Inner {
    /// One maintenance cycle. With `force`, the whole head goes to blocks.
    pub(crate) fn maintenance(&self, force: bool) -> Result<(), DbError> {
        let _cycle = CYCLE.lock().unwrap_or_else(|p| p.into_inner());
        let started = Instant::now();
        // One clock reading for the whole cycle: a raw block old enough to be deleted by
        // retention is then always old enough to have been rolled up first.
        let now = now_millis();
        let res = self
            .cut_head(force)
            .and_then(|_| self.compact_blocks())
            .and_then(|_| self.build_rollups(now))
            .and_then(|_| self.apply_retention(now));
        let mut last = self
            .last_compaction_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match &res {
            Ok(()) => *last = None,
            Err(e) => {
                self.metrics.compaction_failures.inc();
                *last = Some(e.to_string());
            }
        }
        drop(last);
        self.update_block_gauges();
        let (_, chunks, _) = self.head.stats();
        self.metrics.head_chunks.set(chunks as i64);
        self.metrics.head_series.set(self.head.num_series() as i64);
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Maintenance cycle finished."
        );
        res
    }

    pub(crate) fn update_block_gauges(&self) {
        let b = self.blocks.read().unwrap_or_else(|p| p.into_inner());
        for res in [
            Resolution::Raw,
            Resolution::FiveMinutes,
            Resolution::OneHour,
        ] {
            let list = b.tier(res);
            let l = ResolutionLabel {
                resolution: res.as_str(),
            };
            self.metrics.blocks.get_or_create(&l).set(list.len() as i64);
            self.metrics
                .blocks_bytes
                .get_or_create(&l)
                .set(list.iter().map(|b| b.size_bytes()).sum::<u64>() as i64);
        }
        if let Ok(n) = fsutil::dir_size(&self.dir.join(layout::WAL_DIR)) {
            self.metrics.wal_bytes.set(n as i64);
        }
    }

    /// Moves head data older than the cut boundary into aligned raw blocks, truncates
    /// the head and checkpoints the WAL.
    fn cut_head(&self, force: bool) -> Result<(), DbError> {
        let range = self.opts.block_range_ms;
        let max_t = self.head.max_time();
        let (_, _, min_t) = self.head.stats();
        let (Some(min_t), true) = (min_t, max_t != i64::MIN) else {
            return Ok(());
        };
        let boundary = if force {
            i64::MAX
        } else {
            align_down(max_t.saturating_sub(range / 2), range)
        };
        if min_t >= boundary {
            return Ok(());
        }
        let started = Instant::now();
        let raw_dir = tier_dir(&self.dir, Resolution::Raw);
        let guard = self.append_lock.write().unwrap_or_else(|p| p.into_inner());
        let mut series = self.head.all_series();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        let mut ranges = BTreeSet::new();
        for s in &series {
            let d = s.data.lock().unwrap_or_else(|p| p.into_inner());
            let mut add = |lo: Timestamp, hi: Timestamp| {
                let hi = hi.min(boundary.saturating_sub(1));
                let mut r = align_down(lo, range);
                while r <= hi {
                    ranges.insert(r);
                    r += range;
                }
            };
            for c in &d.closed {
                add(c.min_t, c.max_t);
            }
            if let Some((lo, app)) = &d.open {
                add(*lo, app.last_t());
            }
            for smp in &d.ooo {
                add(smp.t, smp.t);
            }
        }
        let mut written = Vec::new();
        let mut buf = Vec::new();
        for r in ranges {
            let hi = r.saturating_add(range - 1).min(boundary.saturating_sub(1));
            let mut w = BlockWriter::new(&raw_dir, Resolution::Raw, r, r + range - 1)?;
            let mut any = false;
            for s in &series {
                buf.clear();
                s.data
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .samples(r, hi, &mut buf);
                if buf.is_empty() {
                    continue;
                }
                let chunks = encode_block_chunks(&buf, MAX_BLOCK_CHUNK_SAMPLES);
                let cd: Vec<ChunkData<'_>> = chunks
                    .iter()
                    .map(|(min_time, max_time, bytes)| ChunkData {
                        min_time: *min_time,
                        max_time: *max_time,
                        bytes,
                    })
                    .collect();
                w.add_series(&s.labels, &cd)?;
                any = true;
            }
            if !any {
                drop(w); // removes the unfinished directory
                continue;
            }
            let ulid = w.ulid();
            let meta = w.finish(CompactionMeta::level1(ulid))?;
            written.push(meta);
        }
        {
            let mut b = self.blocks.write().unwrap_or_else(|p| p.into_inner());
            for meta in &written {
                let block = Block::open(&raw_dir.join(meta.ulid.to_string()))?;
                b.raw.push(Arc::new(block));
                self.metrics.compactions.inc();
            }
            b.raw.sort_by_key(|b| (b.meta().min_time, b.meta().ulid));
        }
        let (chunks, removed) = self.head.truncate(boundary);
        self.metrics.head_truncations.inc();
        self.metrics.head_series_removed.inc_by(removed as u64);
        let seg = self.wal.cut_segment()?;
        drop(guard);
        if seg > 0 {
            let head = &self.head;
            wal::checkpoint(
                &self.dir.join(layout::WAL_DIR),
                seg - 1,
                |r| head.has_ref(r),
                boundary,
            )?;
        }
        self.metrics
            .compaction_duration
            .observe(started.elapsed().as_secs_f64());
        tracing::info!(
            blocks = written.len(),
            boundary,
            chunks_removed = chunks,
            series_removed = removed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Head cut into blocks."
        );
        Ok(())
    }

    /// Compaction ranges for raw blocks: block range × 3ⁿ up to a tenth of the raw
    /// retention (at most 31 days), as Prometheus sizes its blocks.
    fn compaction_ranges(&self) -> Vec<i64> {
        let max = self
            .opts
            .retention
            .raw
            .map(|d| (d.as_millis() as i64) / 10)
            .unwrap_or(i64::MAX)
            .min(31 * 86_400_000);
        let mut v = vec![self.opts.block_range_ms];
        while let Some(&last) = v.last() {
            let next = last * 3;
            if next > max || v.len() >= 10 {
                break;
            }
            v.push(next);
        }
        v
    }

    fn compact_blocks(&self) -> Result<(), DbError> {
        let ranges = self.compaction_ranges();
        for res in [
            Resolution::Raw,
            Resolution::FiveMinutes,
            Resolution::OneHour,
        ] {
            // Rollup tiers only ever need merging when blocks overlap.
            let tier_ranges: Vec<i64> = if res == Resolution::Raw {
                ranges.clone()
            } else {
                vec![]
            };
            loop {
                let list: Vec<Arc<Block>> = self
                    .blocks
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .tier(res)
                    .clone();
                let metas: Vec<BlockMeta> = list.iter().map(|b| b.meta().clone()).collect();
                let Some(pick) = compact::plan(&metas, &tier_ranges) else {
                    break;
                };
                let sources: Vec<Arc<Block>> = list
                    .iter()
                    .filter(|b| pick.contains(&b.meta().ulid))
                    .cloned()
                    .collect();
                if sources.len() < 2 {
                    break;
                }
                let started = Instant::now();
                let overlapping = sources.windows(2).any(|w| {
                    w[0].meta()
                        .overlaps(w[1].meta().min_time, w[1].meta().max_time)
                });
                let dir = tier_dir(&self.dir, res);
                let meta = compact::compact(&sources, &dir)?;
                let merged = Arc::new(Block::open(&dir.join(meta.ulid.to_string()))?);
                {
                    let mut b = self.blocks.write().unwrap_or_else(|p| p.into_inner());
                    let tier = b.tier_mut(res);
                    tier.retain(|x| !pick.contains(&x.meta().ulid));
                    tier.push(merged.clone());
                    tier.sort_by_key(|b| (b.meta().min_time, b.meta().ulid));
                }
                for s in &sources {
                    delete_block_dir(s.dir())?;
                }
                if overlapping && res == Resolution::Raw {
                    // Rollups built from the sources miss samples of the other sources.
                    self.drop_rollups_overlapping(meta.min_time, meta.max_time)?;
                }
                self.metrics.compactions.inc();
                self.metrics
                    .compaction_duration
                    .observe(started.elapsed().as_secs_f64());
                tracing::info!(resolution = res.as_str(), sources = sources.len(), ulid = %meta.ulid, "Blocks compacted.");
            }
        }
        Ok(())
    }

    fn drop_rollups_overlapping(&self, min_t: Timestamp, max_t: Timestamp) -> Result<(), DbError> {
        for tier in RollupTier::ALL {
            let res = Resolution::from(tier);
            let victims: Vec<Arc<Block>> = {
                let mut b = self.blocks.write().unwrap_or_else(|p| p.into_inner());
                let list = b.tier_mut(res);
                let (gone, keep): (Vec<_>, Vec<_>) = list
                    .drain(..)
                    .partition(|r| rollup_covers(r.meta(), tier, min_t, max_t));
                *list = keep;
                gone
            };
            for v in victims {
                delete_block_dir(v.dir())?;
            }
        }
        Ok(())
    }

    /// Builds rollup blocks for raw blocks that overlap no other raw block, are not yet
    /// covered in that tier and whose newest sample is older than the tier's delay
    /// ([`crate::DbOptions::rollup_delay`]).
    fn build_rollups(&self, now: Timestamp) -> Result<(), DbError> {
        if !self.opts.rollups {
            return Ok(());
        }
        let b = self.blocks.read().unwrap_or_else(|p| p.into_inner());
        let raw = b.raw.clone();
        let mut todo = Vec::new();
        for tier in RollupTier::ALL {
            let delay = i64::try_from(self.opts.rollup_delay(tier).as_millis()).unwrap_or(i64::MAX);
            let due_before = now.saturating_sub(delay);
            let existing = b.tier(Resolution::from(tier));
            for (i, blk) in raw.iter().enumerate() {
                let m = blk.meta();
                if m.max_time >= due_before {
                    continue;
                }
                let overlaps_raw = raw
                    .iter()
                    .enumerate()
                    .any(|(j, o)| j != i && o.meta().overlaps(m.min_time, m.max_time));
                let covered = existing
                    .iter()
                    .any(|r| rollup_covers(r.meta(), tier, m.min_time, m.max_time));
                if !overlaps_raw && !covered {
                    todo.push((tier, blk.clone()));
                }
            }
        }
        drop(b);
        for (tier, blk) in todo {
            self.build_rollup(tier, &blk)?;
        }
        Ok(())
    }

    /// Builds the `tier` rollup block of raw block `blk` and adds it to the tier.
    fn build_rollup(&self, tier: RollupTier, blk: &Block) -> Result<(), DbError> {
        let res = Resolution::from(tier);
        let dir = tier_dir(&self.dir, res);
        let meta = rollup::build_rollup_block(blk, tier, &dir)?;
        let block = Arc::new(Block::open(&dir.join(meta.ulid.to_string()))?);
        let mut b = self.blocks.write().unwrap_or_else(|p| p.into_inner());
        let list = b.tier_mut(res);
        list.push(block);
        list.sort_by_key(|b| (b.meta().min_time, b.meta().ulid));
        self.metrics.rollup_blocks_built.inc();
        Ok(())
    }

    /// Before a raw block is deleted for size, builds the rollups it does not have yet
    /// (they may still be waiting for their delay), so the long-term tiers keep its data.
    fn roll_up_before_delete(&self, blk: &Block) -> Result<(), DbError> {
        if !self.opts.rollups || blk.meta().resolution != Resolution::Raw {
            return Ok(());
        }
        let m = blk.meta();
        for tier in RollupTier::ALL {
            let covered = {
                let b = self.blocks.read().unwrap_or_else(|p| p.into_inner());
                let raw_overlap = b
                    .raw
                    .iter()
                    .any(|o| o.meta().overlaps(m.min_time, m.max_time));
                raw_overlap
                    || b.tier(Resolution::from(tier))
                        .iter()
                        .any(|r| rollup_covers(r.meta(), tier, m.min_time, m.max_time))
            };
            if !covered {
                self.build_rollup(tier, blk)?;
            }
        }
        Ok(())
    }

    fn apply_retention(&self, now: Timestamp) -> Result<(), DbError> {
        let r = &self.opts.retention;
        for (res, keep) in [
            (Resolution::Raw, r.raw),
            (Resolution::FiveMinutes, r.five_minutes),
            (Resolution::OneHour, r.one_hour),
        ] {
            let Some(keep) = keep else { continue };
            let cutoff = now.saturating_sub(keep.as_millis() as i64);
            let victims = self.take_blocks(res, |b| b.meta().max_time < cutoff);
            for v in victims {
                self.metrics
                    .retention_deletions
                    .get_or_create(&ReasonLabel { reason: "age" })
                    .inc();
                tracing::info!(resolution = res.as_str(), ulid = %v.meta().ulid, "Block past retention deleted.");
                delete_block_dir(v.dir())?;
            }
        }
        let limit = self.opts.retention_size;
        if limit == 0 {
            return Ok(());
        }
        let wal_bytes = fsutil::dir_size(&self.dir.join(layout::WAL_DIR)).unwrap_or(0);
        loop {
            let total: u64 = {
                let b = self.blocks.read().unwrap_or_else(|p| p.into_inner());
                [&b.raw, &b.five_minutes, &b.one_hour]
                    .iter()
                    .flat_map(|l| l.iter())
                    .map(|b| b.size_bytes())
                    .sum::<u64>()
                    + wal_bytes
            };
            if total <= limit {
                return Ok(());
            }
            // Oldest raw first: rollups are the cheap long-term record.
            let victim = {
                let mut b = self.blocks.write().unwrap_or_else(|p| p.into_inner());
                let mut found = None;
                for res in [
                    Resolution::Raw,
                    Resolution::FiveMinutes,
                    Resolution::OneHour,
                ] {
                    let list = b.tier_mut(res);
                    if !list.is_empty() {
                        found = Some(list.remove(0));
                        break;
                    }
                }
                found
            };
            let Some(v) = victim else { return Ok(()) };
            self.roll_up_before_delete(&v)?;
            self.metrics
                .retention_deletions
                .get_or_create(&ReasonLabel { reason: "size" })
                .inc();
            tracing::info!(ulid = %v.meta().ulid, total_bytes = total, limit_bytes = limit, "Block deleted to stay under retention_size.");
            delete_block_dir(v.dir())?;
        }
    }

    fn take_blocks(&self, res: Resolution, pred: impl Fn(&Block) -> bool) -> Vec<Arc<Block>> {
        let mut b = self.blocks.write().unwrap_or_else(|p| p.into_inner());
        let list: &mut Vec<Arc<Block>> = Blocks::tier_mut(&mut b, res);
        let (gone, keep): (Vec<_>, Vec<_>) = list.drain(..).partition(|x| pred(x));
        *list = keep;
        gone
    }
}

/// Whether rollup block `r` holds buckets of raw time in `[min_t, max_t]`. Bucket end `t`
/// covers raw time `[t - step, t)`.
pub(crate) fn rollup_covers(
    r: &BlockMeta,
    tier: RollupTier,
    min_t: Timestamp,
    max_t: Timestamp,
) -> bool {
    r.min_time - tier.step_ms() <= max_t && min_t < r.max_time
}

/// Renames a block to `<ulid>.deleted` (atomic for readers of the directory), then
/// removes it. Open mmaps stay valid until their last reader drops them.
fn delete_block_dir(dir: &Path) -> Result<(), DbError> {
    let parent = fsutil::parent_of(dir);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = layout::deleted_block_dir(parent, &name);
    let io = |op, p: &Path| {
        let path = p.to_path_buf();
        move |source| DbError::Io { op, path, source }
    };
    std::fs::rename(dir, &target).map_err(io("rename block for deletion", dir))?;
    fsutil::fsync_dir(parent).map_err(io("fsync", parent))?;
    std::fs::remove_dir_all(&target).map_err(io("remove block", &target))?;
    Ok(())
}
