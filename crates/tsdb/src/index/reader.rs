//! Reads a memory-mapped index file (docs/format/index.md).

use std::path::{Path, PathBuf};
use strix_core::{Label, Labels, MatchOp, Matcher};

use super::encoding::Cursor;
use super::postings::{intersect, subtract, union};
use super::ChunkRef;
use crate::block::error::{BlockError, Result};
use crate::fsutil::{mmap_file, MappedFile};
use crate::layout::{INDEX_MAGIC, INDEX_VERSION};

const HEADER_LEN: usize = 8;
const TOC_LEN: usize = 5 * 8 + 4;
const PTABLE_ENTRY: usize = 16;

/// A validated, memory-mapped index. Series ids are ordinals `0..num_series()` in label
/// order.
#[derive(Debug)]
pub struct IndexReader {
    path: PathBuf,
    data: MappedFile,
    sym_count: usize,
    sym_ends: usize,
    sym_data: usize,
    sym_data_len: usize,
    series_start: usize,
    series_end: usize,
    series_count: usize,
    postings_start: usize,
    postings_end: usize,
    ptable_count: usize,
    ptable: usize,
}

impl IndexReader {
    /// Maps `path` and checks magic, version, the TOC and the checksums of the symbol
    /// table, series table and postings offset table. Series entries and postings lists
    /// carry their own checksums, verified when read.
    pub fn open(path: &Path) -> Result<IndexReader> {
        let data = mmap_file(path).map_err(BlockError::io(path))?;
        let corrupt = |reason: String| BlockError::corrupt(path, reason);
        let len = data.len();
        if len < HEADER_LEN + TOC_LEN {
            return Err(corrupt(format!("file too short ({len} bytes) at offset 0")));
        }
        let mut c = Cursor::new(&data);
        let magic = c.u32().unwrap_or(0);
        if magic != INDEX_MAGIC {
            return Err(corrupt(format!("bad magic {magic:#010x} at offset 0")));
        }
        let version = data[4];
        if version != INDEX_VERSION {
            return Err(BlockError::UnsupportedVersion {
                path: path.to_path_buf(),
                version: u32::from(version),
            });
        }
        let toc_start = len - TOC_LEN;
        if !crc_ok(&data[toc_start..len - 4], &data[len - 4..]) {
            return Err(corrupt(format!(
                "TOC checksum mismatch at offset {toc_start}"
            )));
        }
        let mut c = Cursor::at(&data, toc_start);
        let mut offs = [0usize; 5];
        for o in &mut offs {
            *o = usize::try_from(c.u64().unwrap_or(u64::MAX)).unwrap_or(usize::MAX);
        }
        let [off_sym, off_series, off_stable, off_postings, off_ptable] = offs;
        if off_sym != HEADER_LEN
            || !(off_sym <= off_series
                && off_series <= off_stable
                && off_stable <= off_postings
                && off_postings <= off_ptable
                && off_ptable <= toc_start)
        {
            return Err(corrupt(format!(
                "TOC section offsets out of order at offset {toc_start}: {offs:?}"
            )));
        }

        // Symbols: count | ends u32 × count | bytes | crc
        let sym_count = read_count(&data, off_sym, off_series)
            .ok_or_else(|| corrupt(format!("symbol table truncated at offset {off_sym}")))?;
        let sym_ends = off_sym + 4;
        let sym_data = sym_ends + 4 * sym_count;
        let sym_data_len = if sym_count == 0 {
            0
        } else {
            let mut c = Cursor::at(&data, sym_data - 4);
            c.u32()
                .map(|v| v as usize)
                .ok_or_else(|| corrupt(format!("symbol table truncated at offset {off_sym}")))?
        };
        if sym_data
            .checked_add(sym_data_len)
            .and_then(|v| v.checked_add(4))
            != Some(off_series)
        {
            return Err(corrupt(format!(
                "symbol table size mismatch at offset {off_sym}"
            )));
        }
        if !crc_ok(
            &data[off_sym..off_series - 4],
            &data[off_series - 4..off_series],
        ) {
            return Err(corrupt(format!(
                "symbol table checksum mismatch at offset {off_sym}"
            )));
        }

        // Series table: count | offsets u64 × count | crc
        let series_count = read_count(&data, off_stable, off_postings)
            .ok_or_else(|| corrupt(format!("series table truncated at offset {off_stable}")))?;
        if off_stable + 4 + 8 * series_count + 4 != off_postings {
            return Err(corrupt(format!(
                "series table size mismatch at offset {off_stable}"
            )));
        }
        if !crc_ok(
            &data[off_stable..off_postings - 4],
            &data[off_postings - 4..off_postings],
        ) {
            return Err(corrupt(format!(
                "series table checksum mismatch at offset {off_stable}"
            )));
        }

        // Postings offset table: count | (name u32, value u32, offset u64) × count | crc
        let ptable_count = read_count(&data, off_ptable, toc_start).ok_or_else(|| {
            corrupt(format!(
                "postings offset table truncated at offset {off_ptable}"
            ))
        })?;
        if off_ptable + 4 + PTABLE_ENTRY * ptable_count + 4 != toc_start {
            return Err(corrupt(format!(
                "postings offset table size mismatch at offset {off_ptable}"
            )));
        }
        if !crc_ok(
            &data[off_ptable..toc_start - 4],
            &data[toc_start - 4..toc_start],
        ) {
            return Err(corrupt(format!(
                "postings offset table checksum mismatch at offset {off_ptable}"
            )));
        }

        Ok(IndexReader {
            path: path.to_path_buf(),
            data,
            sym_count,
            sym_ends,
            sym_data,
            sym_data_len,
            series_start: off_series,
            series_end: off_stable,
            series_count,
            postings_start: off_postings,
            postings_end: off_ptable,
            ptable_count,
            ptable: off_ptable + 4,
        })
    }

    fn corrupt(&self, reason: String) -> BlockError {
        BlockError::corrupt(&self.path, reason)
    }

    pub fn num_series(&self) -> usize {
        self.series_count
    }

    pub fn num_symbols(&self) -> usize {
        self.sym_count
    }

    /// Size of the index file in bytes.
    pub fn len_bytes(&self) -> usize {
        self.data.len()
    }

    fn u32_at(&self, off: usize) -> Option<u32> {
        Cursor::at(&self.data, off).u32()
    }

    /// The symbol with reference `i`.
    pub fn symbol(&self, i: u32) -> Result<&str> {
        let i = i as usize;
        if i >= self.sym_count {
            return Err(self.corrupt(format!(
                "symbol reference {i} out of range ({} symbols)",
                self.sym_count
            )));
        }
        let end = self.u32_at(self.sym_ends + 4 * i).unwrap_or(u32::MAX) as usize;
        let start = if i == 0 {
            0
        } else {
            self.u32_at(self.sym_ends + 4 * (i - 1)).unwrap_or(u32::MAX) as usize
        };
        if start > end || end > self.sym_data_len {
            return Err(self.corrupt(format!(
                "symbol {i} bounds {start}..{end} invalid at offset {}",
                self.sym_ends + 4 * i
            )));
        }
        let bytes = &self.data[self.sym_data + start..self.sym_data + end];
        std::str::from_utf8(bytes).map_err(|_| {
            self.corrupt(format!(
                "symbol {i} is not UTF-8 at offset {}",
                self.sym_data + start
            ))
        })
    }

    /// The reference of symbol `s`, if present (binary search: symbols are sorted).
    pub fn lookup_symbol(&self, s: &str) -> Result<Option<u32>> {
        let (mut lo, mut hi) = (0usize, self.sym_count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.symbol(mid as u32)?.cmp(s) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(mid as u32)),
            }
        }
        Ok(None)
    }

    fn ptable_entry(&self, i: usize) -> (u32, u32, u64) {
        let mut c = Cursor::at(&self.data, self.ptable + PTABLE_ENTRY * i);
        // In bounds: the table size was checked on open.
        (
            c.u32().unwrap_or(u32::MAX),
            c.u32().unwrap_or(u32::MAX),
            c.u64().unwrap_or(u64::MAX),
        )
    }

    /// Entries `lo..hi` of the postings offset table whose name is symbol `name`.
    fn name_range(&self, name: u32) -> (usize, usize) {
        let lower = |pred: &dyn Fn(u32) -> bool| {
            let (mut lo, mut hi) = (0usize, self.ptable_count);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if pred(self.ptable_entry(mid).0) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        (lower(&|n| n < name), lower(&|n| n <= name))
    }

    /// Reads the postings list stored at `off`.
    fn postings_at(&self, off: u64) -> Result<Vec<u32>> {
        let off = usize::try_from(off).unwrap_or(usize::MAX);
        let bad = || self.corrupt(format!("postings list at offset {off} out of bounds"));
        if off < self.postings_start || off >= self.postings_end {
            return Err(bad());
        }
        let mut c = Cursor::at(&self.data[..self.postings_end], off);
        let n = c.u32().ok_or_else(bad)? as usize;
        let ids = c.bytes(n.checked_mul(4).ok_or_else(bad)?).ok_or_else(bad)?;
        let end = c.pos;
        let crc = c.bytes(4).ok_or_else(bad)?;
        if !crc_ok(&self.data[off..end], crc) {
            return Err(self.corrupt(format!("postings list checksum mismatch at offset {off}")));
        }
        let mut out = Vec::with_capacity(n);
        for w in ids.chunks_exact(4) {
            let id = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
            if id as usize >= self.series_count || out.last().is_some_and(|&l| l >= id) {
                return Err(
                    self.corrupt(format!("postings list at offset {off} has invalid id {id}"))
                );
            }
            out.push(id);
        }
        Ok(out)
    }

    /// Postings of the exact pair `name=value` (empty if absent).
    pub fn postings(&self, name: &str, value: &str) -> Result<Vec<u32>> {
        let (Some(n), Some(v)) = (self.lookup_symbol(name)?, self.lookup_symbol(value)?) else {
            return Ok(Vec::new());
        };
        let (mut lo, mut hi) = self.name_range(n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (_, ev, off) = self.ptable_entry(mid);
            match ev.cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.postings_at(off),
            }
        }
        Ok(Vec::new())
    }

    /// Union of the postings of every value of `name` for which `pred` holds.
    fn postings_where(&self, name: &str, pred: impl Fn(&str) -> bool) -> Result<Vec<u32>> {
        let Some(n) = self.lookup_symbol(name)? else {
            return Ok(Vec::new());
        };
        let (lo, hi) = self.name_range(n);
        let mut lists = Vec::new();
        for i in lo..hi {
            let (_, v, off) = self.ptable_entry(i);
            if pred(self.symbol(v)?) {
                lists.push(self.postings_at(off)?);
            }
        }
        Ok(union(lists))
    }

    /// Series whose label values satisfy every matcher, with Prometheus semantics: a
    /// missing label is the empty string. Matchers that do not match "" intersect the
    /// union of postings of their matching values; matchers that do match "" subtract the
    /// postings of the values they reject. `=` and literal alternations look postings up
    /// directly; other regexes scan the values of their label name only. No matchers, or
    /// only subtracting ones, start from all series.
    pub fn postings_for_matchers(&self, matchers: &[Matcher]) -> Result<Vec<u32>> {
        let mut positive: Vec<Vec<u32>> = Vec::new();
        let mut negative: Vec<Vec<u32>> = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                let rejected = match m.op {
                    MatchOp::NotEqual => self.postings(&m.name, &m.value)?,
                    _ => self.postings_where(&m.name, |v| !m.matches(v))?,
                };
                negative.push(rejected);
            } else {
                let accepted = match (m.op, m.set_matches()) {
                    (MatchOp::Equal, _) => self.postings(&m.name, &m.value)?,
                    (MatchOp::RegexMatch, Some(values)) => {
                        let mut lists = Vec::with_capacity(values.len());
                        for v in values.iter().filter(|v| !v.is_empty()) {
                            lists.push(self.postings(&m.name, v)?);
                        }
                        union(lists)
                    }
                    _ => self.postings_where(&m.name, |v| m.matches(v))?,
                };
                if accepted.is_empty() {
                    return Ok(Vec::new());
                }
                positive.push(accepted);
            }
        }
        positive.sort_by_key(Vec::len);
        let mut it = positive.into_iter();
        let mut ids = match it.next() {
            Some(first) => it.fold(first, |acc, p| intersect(&acc, &p)),
            None => (0..self.series_count as u32).collect(),
        };
        for n in &negative {
            if ids.is_empty() {
                break;
            }
            ids = subtract(&ids, n);
        }
        Ok(ids)
    }

    /// The labels and chunk references of series `id`.
    pub fn series(&self, id: u32) -> Result<(Labels, Vec<ChunkRef>)> {
        let mut labels = Vec::new();
        let mut chunks = Vec::new();
        self.series_into(id, &mut labels, &mut chunks)?;
        Ok((Labels::from_sorted(labels), chunks))
    }

    fn series_into(
        &self,
        id: u32,
        labels: &mut Vec<Label>,
        chunks: &mut Vec<ChunkRef>,
    ) -> Result<()> {
        let idx = id as usize;
        if idx >= self.series_count {
            return Err(self.corrupt(format!(
                "series id {id} out of range ({} series)",
                self.series_count
            )));
        }
        let table_off = self.series_end + 4 + 8 * idx;
        let off = Cursor::at(&self.data, table_off)
            .u64()
            .map(|o| usize::try_from(o).unwrap_or(usize::MAX))
            .unwrap_or(usize::MAX);
        let bad = |what: &str| self.corrupt(format!("series {id} entry at offset {off}: {what}"));
        if off < self.series_start || off >= self.series_end {
            return Err(bad("offset out of bounds"));
        }
        let mut c = Cursor::at(&self.data[..self.series_end], off);
        let len = c.uvarint().ok_or_else(|| bad("truncated length"))?;
        let len = usize::try_from(len).map_err(|_| bad("bad length"))?;
        let payload = c.bytes(len).ok_or_else(|| bad("truncated payload"))?;
        let crc = c.bytes(4).ok_or_else(|| bad("truncated checksum"))?;
        if !crc_ok(payload, crc) {
            return Err(bad("checksum mismatch"));
        }
        let mut p = Cursor::new(payload);
        let nl = p.uvarint().ok_or_else(|| bad("truncated label count"))?;
        for _ in 0..nl {
            let n = p.uvarint().ok_or_else(|| bad("truncated label"))?;
            let v = p.uvarint().ok_or_else(|| bad("truncated label"))?;
            let name = self.symbol(u32::try_from(n).map_err(|_| bad("bad symbol ref"))?)?;
            let value = self.symbol(u32::try_from(v).map_err(|_| bad("bad symbol ref"))?)?;
            if labels
                .last()
                .is_some_and(|l: &Label| l.name.as_str() >= name)
            {
                return Err(bad("labels not sorted"));
            }
            labels.push(Label::new(name, value));
        }
        let nc = p.uvarint().ok_or_else(|| bad("truncated chunk count"))?;
        let mut prev: Option<ChunkRef> = None;
        for _ in 0..nc {
            let a = p.varint().ok_or_else(|| bad("truncated chunk meta"))?;
            let d = p.uvarint().ok_or_else(|| bad("truncated chunk meta"))?;
            let c = match prev {
                None => {
                    let o = p.uvarint().ok_or_else(|| bad("truncated chunk meta"))?;
                    ChunkRef {
                        min_time: a,
                        max_time: a.wrapping_add(d as i64),
                        offset: o,
                    }
                }
                Some(pr) => {
                    let od = p.varint().ok_or_else(|| bad("truncated chunk meta"))?;
                    let min_time = pr.max_time.wrapping_add(a);
                    ChunkRef {
                        min_time,
                        max_time: min_time.wrapping_add(d as i64),
                        offset: pr.offset.wrapping_add(od as u64),
                    }
                }
            };
            chunks.push(c);
            prev = Some(c);
        }
        Ok(())
    }

    /// Sorted label names present in the index.
    pub fn all_label_names(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut last = None;
        for i in 0..self.ptable_count {
            let (n, _, _) = self.ptable_entry(i);
            if last != Some(n) {
                out.push(self.symbol(n)?.to_string());
                last = Some(n);
            }
        }
        Ok(out)
    }

    /// Sorted values of label `name` present in the index.
    pub fn all_label_values(&self, name: &str) -> Result<Vec<String>> {
        let Some(n) = self.lookup_symbol(name)? else {
            return Ok(Vec::new());
        };
        let (lo, hi) = self.name_range(n);
        (lo..hi)
            .map(|i| self.symbol(self.ptable_entry(i).1).map(str::to_string))
            .collect()
    }
}

fn read_count(data: &[u8], off: usize, limit: usize) -> Option<usize> {
    if off + 4 > limit {
        return None;
    }
    Cursor::at(data, off).u32().map(|v| v as usize)
}

fn crc_ok(data: &[u8], crc: &[u8]) -> bool {
    crc.len() == 4 && crc32fast::hash(data).to_be_bytes() == crc
}
