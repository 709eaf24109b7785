//! Builds the index file in memory (its size is what a block writer keeps in memory).

use std::collections::HashMap;
use strix_core::Labels;

use super::encoding::{put_uvarint, put_varint};
use super::ChunkRef;
use crate::layout::{INDEX_MAGIC, INDEX_VERSION};

#[derive(Debug)]
struct SeriesEntry {
    /// (name, value) as temporary symbol ids.
    labels: Vec<(u32, u32)>,
    chunks: Vec<ChunkRef>,
}

/// Collects series (in label order) and encodes the index (docs/format/index.md).
#[derive(Debug, Default)]
pub(crate) struct IndexBuilder {
    symbol_ids: HashMap<String, u32>,
    symbols: Vec<String>,
    series: Vec<SeriesEntry>,
    postings: HashMap<(u32, u32), Vec<u32>>,
}

impl IndexBuilder {
    pub(crate) fn num_series(&self) -> usize {
        self.series.len()
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.symbol_ids.get(s) {
            return id;
        }
        let id = self.symbols.len() as u32;
        self.symbols.push(s.to_string());
        self.symbol_ids.insert(s.to_string(), id);
        id
    }

    /// Adds the next series; the caller guarantees label order and chunk order.
    pub(crate) fn add(&mut self, labels: &Labels, chunks: Vec<ChunkRef>) {
        let id = self.series.len() as u32;
        let mut refs = Vec::with_capacity(labels.len());
        for l in labels.iter() {
            let pair = (self.intern(&l.name), self.intern(&l.value));
            self.postings.entry(pair).or_default().push(id);
            refs.push(pair);
        }
        self.series.push(SeriesEntry {
            labels: refs,
            chunks,
        });
    }

    /// Encodes the whole index file.
    pub(crate) fn encode(self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&INDEX_MAGIC.to_be_bytes());
        out.extend_from_slice(&[INDEX_VERSION, 0, 0, 0]);

        // Symbols, sorted; remap temporary ids to final ones.
        let mut order: Vec<u32> = (0..self.symbols.len() as u32).collect();
        order.sort_by(|&a, &b| self.symbols[a as usize].cmp(&self.symbols[b as usize]));
        let mut remap = vec![0u32; self.symbols.len()];
        for (final_id, &tmp) in order.iter().enumerate() {
            remap[tmp as usize] = final_id as u32;
        }
        let off_symbols = out.len() as u64;
        let start = out.len();
        out.extend_from_slice(&(order.len() as u32).to_be_bytes());
        let mut end = 0u32;
        for &tmp in &order {
            end += self.symbols[tmp as usize].len() as u32;
            out.extend_from_slice(&end.to_be_bytes());
        }
        for &tmp in &order {
            out.extend_from_slice(self.symbols[tmp as usize].as_bytes());
        }
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());

        // Series entries.
        let off_series = out.len() as u64;
        let mut series_offsets = Vec::with_capacity(self.series.len());
        let mut payload = Vec::new();
        for s in &self.series {
            payload.clear();
            put_uvarint(&mut payload, s.labels.len() as u64);
            for &(n, v) in &s.labels {
                put_uvarint(&mut payload, u64::from(remap[n as usize]));
                put_uvarint(&mut payload, u64::from(remap[v as usize]));
            }
            put_uvarint(&mut payload, s.chunks.len() as u64);
            let mut prev: Option<&ChunkRef> = None;
            for c in &s.chunks {
                match prev {
                    None => {
                        put_varint(&mut payload, c.min_time);
                        put_uvarint(&mut payload, c.max_time.wrapping_sub(c.min_time) as u64);
                        put_uvarint(&mut payload, c.offset);
                    }
                    Some(p) => {
                        put_varint(&mut payload, c.min_time.wrapping_sub(p.max_time));
                        put_uvarint(&mut payload, c.max_time.wrapping_sub(c.min_time) as u64);
                        put_varint(&mut payload, c.offset.wrapping_sub(p.offset) as i64);
                    }
                }
                prev = Some(c);
            }
            series_offsets.push(out.len() as u64);
            put_uvarint(&mut out, payload.len() as u64);
            out.extend_from_slice(&payload);
            out.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        }

        // Series table.
        let off_series_table = out.len() as u64;
        let start = out.len();
        out.extend_from_slice(&(series_offsets.len() as u32).to_be_bytes());
        for o in &series_offsets {
            out.extend_from_slice(&o.to_be_bytes());
        }
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());

        // Postings lists, sorted by (name, value) = by final symbol ids.
        let mut lists: Vec<((u32, u32), Vec<u32>)> = self
            .postings
            .into_iter()
            .map(|((n, v), ids)| ((remap[n as usize], remap[v as usize]), ids))
            .collect();
        lists.sort_unstable_by_key(|(k, _)| *k);
        let off_postings = out.len() as u64;
        let mut table = Vec::with_capacity(lists.len());
        for (key, ids) in &lists {
            table.push((*key, out.len() as u64));
            let start = out.len();
            out.extend_from_slice(&(ids.len() as u32).to_be_bytes());
            for id in ids {
                out.extend_from_slice(&id.to_be_bytes());
            }
            let crc = crc32fast::hash(&out[start..]);
            out.extend_from_slice(&crc.to_be_bytes());
        }

        // Postings offset table.
        let off_postings_table = out.len() as u64;
        let start = out.len();
        out.extend_from_slice(&(table.len() as u32).to_be_bytes());
        for ((n, v), off) in &table {
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(&v.to_be_bytes());
            out.extend_from_slice(&off.to_be_bytes());
        }
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());

        // TOC.
        let start = out.len();
        for o in [
            off_symbols,
            off_series,
            off_series_table,
            off_postings,
            off_postings_table,
        ] {
            out.extend_from_slice(&o.to_be_bytes());
        }
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }
}
