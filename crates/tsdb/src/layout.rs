//! Every file and directory name the engine uses on disk, and the format versions.
//!
//! ```text
//! <data>/
//! ├── wal/                      write-ahead log segments
//! ├── blocks/<ULID>/            raw-resolution blocks
//! ├── rollup/5m/<ULID>/         5-minute rollup blocks
//! ├── rollup/1h/<ULID>/         1-hour rollup blocks
//! └── .../<ULID>.tmp/           a block being written (removed on startup)
//!     .../<ULID>.deleted/       a block being deleted (removed on startup)
//! ```
//!
//! A block directory holds [`META_FILE`], [`INDEX_FILE`] and [`CHUNKS_FILE`]; the formats
//! are described in docs/format/block.md, index.md and chunk.md.

use std::path::{Path, PathBuf};
use strix_core::storage::RollupTier;

/// Directory of raw blocks, relative to the data directory.
pub const BLOCKS_DIR: &str = "blocks";
/// Parent directory of the rollup tiers, relative to the data directory.
pub const ROLLUP_DIR: &str = "rollup";
/// Directory of 5-minute rollup blocks, inside [`ROLLUP_DIR`].
pub const ROLLUP_5M_DIR: &str = "5m";
/// Directory of 1-hour rollup blocks, inside [`ROLLUP_DIR`].
pub const ROLLUP_1H_DIR: &str = "1h";
/// Directory of the write-ahead log, relative to the data directory.
pub const WAL_DIR: &str = "wal";

/// Block metadata (JSON).
pub const META_FILE: &str = "meta.json";
/// Block index (binary, docs/format/index.md).
pub const INDEX_FILE: &str = "index";
/// Block chunk data (binary, docs/format/block.md).
pub const CHUNKS_FILE: &str = "chunks";

/// Suffix of a directory or file still being written; never read, removed on startup.
pub const TMP_SUFFIX: &str = ".tmp";
/// Suffix of a block directory renamed away before deletion; removed on startup.
pub const DELETED_SUFFIX: &str = ".deleted";

/// Version written to and accepted from `meta.json`.
pub const META_VERSION: u32 = 1;
/// Magic number opening the index file ("STXI").
pub const INDEX_MAGIC: u32 = 0x5354_5849;
/// Version byte of the index file.
pub const INDEX_VERSION: u8 = 1;
/// Magic number opening the chunks file ("STXC").
pub const CHUNKS_MAGIC: u32 = 0x5354_5843;
/// Version byte of the chunks file.
pub const CHUNKS_VERSION: u8 = 1;

/// `<data>/blocks`.
pub fn blocks_dir(data: &Path) -> PathBuf {
    data.join(BLOCKS_DIR)
}

/// `<data>/wal`.
pub fn wal_dir(data: &Path) -> PathBuf {
    data.join(WAL_DIR)
}

/// `<data>/rollup/5m` or `<data>/rollup/1h`.
pub fn rollup_dir(data: &Path, tier: RollupTier) -> PathBuf {
    let sub = match tier {
        RollupTier::FiveMinutes => ROLLUP_5M_DIR,
        RollupTier::OneHour => ROLLUP_1H_DIR,
    };
    data.join(ROLLUP_DIR).join(sub)
}

/// The temporary name of a block directory being written: `<parent>/<ulid>.tmp`.
pub fn tmp_block_dir(parent: &Path, ulid: &str) -> PathBuf {
    parent.join(format!("{ulid}{TMP_SUFFIX}"))
}

/// The name a block directory is renamed to before it is deleted.
pub fn deleted_block_dir(parent: &Path, ulid: &str) -> PathBuf {
    parent.join(format!("{ulid}{DELETED_SUFFIX}"))
}

/// Whether a directory entry name is a leftover to remove on startup.
pub fn is_leftover(name: &str) -> bool {
    name.ends_with(TMP_SUFFIX) || name.ends_with(DELETED_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let d = Path::new("/d");
        assert_eq!(
            rollup_dir(d, RollupTier::FiveMinutes),
            Path::new("/d/rollup/5m")
        );
        assert_eq!(
            rollup_dir(d, RollupTier::OneHour),
            Path::new("/d/rollup/1h")
        );
        assert_eq!(blocks_dir(d), Path::new("/d/blocks"));
        assert!(is_leftover("01ABC.tmp") && is_leftover("01ABC.deleted") && !is_leftover("01ABC"));
    }
}
