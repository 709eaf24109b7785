//! `meta.json`: what a block covers and where it came from.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::Path;
use strix_core::storage::RollupTier;
use strix_core::Timestamp;
use ulid::Ulid;

use super::error::{BlockError, Result};
use crate::layout::{META_FILE, META_VERSION};

/// The sample resolution of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Resolution {
    /// Raw samples in XOR chunks.
    #[serde(rename = "raw")]
    Raw,
    /// 5-minute rollup points in rollup chunks.
    #[serde(rename = "5m")]
    FiveMinutes,
    /// 1-hour rollup points in rollup chunks.
    #[serde(rename = "1h")]
    OneHour,
}

impl Resolution {
    /// The rollup tier, `None` for raw blocks.
    pub fn tier(self) -> Option<RollupTier> {
        match self {
            Resolution::Raw => None,
            Resolution::FiveMinutes => Some(RollupTier::FiveMinutes),
            Resolution::OneHour => Some(RollupTier::OneHour),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Raw => "raw",
            Resolution::FiveMinutes => "5m",
            Resolution::OneHour => "1h",
        }
    }
}

impl From<RollupTier> for Resolution {
    fn from(t: RollupTier) -> Self {
        match t {
            RollupTier::FiveMinutes => Resolution::FiveMinutes,
            RollupTier::OneHour => Resolution::OneHour,
        }
    }
}

/// Counts over the whole block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    pub num_series: u64,
    /// Samples (raw blocks) or rollup points (rollup blocks).
    pub num_samples: u64,
    pub num_chunks: u64,
    /// Newest sample (or bucket end) in the block; absent in blocks written before it
    /// was recorded. Live appends older than the newest persisted sample are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sample_time: Option<Timestamp>,
}

/// Compaction lineage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionMeta {
    /// 1 for a block cut from the head (or built from one source), max(sources)+1 after
    /// compaction.
    pub level: u32,
    /// The level-1 blocks whose data this block holds, sorted.
    #[serde(serialize_with = "ser_ulids", deserialize_with = "de_ulids")]
    pub sources: Vec<Ulid>,
}

impl CompactionMeta {
    /// Lineage of a fresh level-1 block.
    pub fn level1(ulid: Ulid) -> Self {
        CompactionMeta {
            level: 1,
            sources: vec![ulid],
        }
    }
}

/// The contents of `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    #[serde(serialize_with = "ser_ulid", deserialize_with = "de_ulid")]
    pub ulid: Ulid,
    /// First timestamp covered, inclusive (ms). For rollup blocks: of bucket ends.
    pub min_time: Timestamp,
    /// Last timestamp covered, inclusive (ms). For rollup blocks: of bucket ends.
    pub max_time: Timestamp,
    pub stats: BlockStats,
    pub compaction: CompactionMeta,
    pub resolution: Resolution,
    pub version: u32,
}

impl BlockMeta {
    /// Whether `[min_time, max_time]` (inclusive) overlaps this block.
    pub fn overlaps(&self, min_time: Timestamp, max_time: Timestamp) -> bool {
        self.min_time <= max_time && min_time <= self.max_time
    }

    /// Reads and validates `<dir>/meta.json`.
    pub fn read(dir: &Path) -> Result<BlockMeta> {
        let path = dir.join(META_FILE);
        let bytes = std::fs::read(&path).map_err(BlockError::io(&path))?;
        let meta: BlockMeta = serde_json::from_slice(&bytes)
            .map_err(|e| BlockError::corrupt(&path, format!("invalid JSON: {e}")))?;
        if meta.version != META_VERSION {
            return Err(BlockError::UnsupportedVersion {
                path,
                version: meta.version,
            });
        }
        if meta.min_time > meta.max_time {
            return Err(BlockError::corrupt(
                &path,
                format!("min_time {} > max_time {}", meta.min_time, meta.max_time),
            ));
        }
        Ok(meta)
    }

    pub(crate) fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| BlockError::InvalidInput(format!("BUG: meta not serialisable: {e}")))
    }
}

fn ser_ulid<S: Serializer>(u: &Ulid, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&u.to_string())
}

fn de_ulid<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Ulid, D::Error> {
    let s = String::deserialize(d)?;
    Ulid::from_string(&s).map_err(serde::de::Error::custom)
}

fn ser_ulids<S: Serializer>(u: &[Ulid], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(u.iter().map(|u| u.to_string()))
}

fn de_ulids<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<Ulid>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    v.iter()
        .map(|s| Ulid::from_string(s).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_shape() {
        let u = Ulid::new();
        let m = BlockMeta {
            ulid: u,
            min_time: 0,
            max_time: 7_199_999,
            stats: BlockStats {
                num_series: 1,
                num_samples: 2,
                num_chunks: 3,
                max_sample_time: Some(7_000_000),
            },
            compaction: CompactionMeta::level1(u),
            resolution: Resolution::FiveMinutes,
            version: META_VERSION,
        };
        let json = String::from_utf8(m.to_json().expect("json")).expect("utf8");
        assert!(json.contains(&format!("\"ulid\": \"{u}\"")), "{json}");
        assert!(json.contains("\"resolution\": \"5m\""), "{json}");
        let back: BlockMeta = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, m);
    }
}
