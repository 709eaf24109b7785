//! File-system helpers: atomic writes, directory fsync, read-only memory maps.
//!
//! This is the only module of the engine allowed to use `unsafe` (for `mmap`).

use memmap2::Mmap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::Deref;
use std::path::Path;

use crate::layout::TMP_SUFFIX;

/// Writes `bytes` to `path` atomically: a sibling temp file is written and fsynced, renamed
/// over `path`, and the parent directory is fsynced. Readers see the old or the new file,
/// never a mix, even after a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(TMP_SUFFIX);
    let tmp = path.with_file_name(tmp_name);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fsync_dir(parent_of(path))
}

/// Fsyncs a directory so that entries created, renamed or removed in it are durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened for sync on this platform; renames are durable
        // through the file system's own journal.
        let _ = dir;
        Ok(())
    }
}

/// The parent of `path`, or `.` for a bare file name.
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A read-only view of a whole file: a memory map, or nothing for an empty file (mapping
/// zero bytes fails on some platforms).
#[derive(Debug)]
pub struct MappedFile {
    map: Option<Mmap>,
}

impl MappedFile {
    pub fn as_slice(&self) -> &[u8] {
        match &self.map {
            Some(m) => m,
            None => &[],
        }
    }
}

impl Deref for MappedFile {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Maps `path` read-only.
///
/// Only for files that are immutable once visible: block files, which are written under a
/// `.tmp` directory, fsynced, renamed into place, and afterwards only ever deleted (never
/// truncated or rewritten in place).
#[allow(unsafe_code)]
pub fn mmap_file(path: &Path) -> io::Result<MappedFile> {
    let file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(MappedFile { map: None });
    }
    // SAFETY: `Mmap::map` is unsafe because the mapping's contents change (or the process
    // gets SIGBUS) if the file is modified or truncated while mapped. This function is only
    // used for block files, which are immutable after the rename that makes them visible:
    // the engine never opens them for writing again, and removal (unlink) keeps the pages
    // of an open mapping valid until it is dropped.
    let map = unsafe { Mmap::map(&file)? };
    Ok(MappedFile { map: Some(map) })
}

/// Total size in bytes of the regular files under `path` (recursively); a file counts its
/// own length.
pub fn dir_size(path: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    if !meta.is_dir() {
        return Ok(0);
    }
    let mut total = 0;
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_dir() {
            total += dir_size(&entry.path())?;
        } else if ft.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("meta.json");
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two!").expect("write");
        assert_eq!(fs::read(&p).expect("read"), b"two!");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert_eq!(dir_size(dir.path()).expect("size"), 4);
    }

    #[test]
    fn mmap_reads_contents_and_handles_empty_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        fs::write(&p, b"hello block").expect("write");
        let m = mmap_file(&p).expect("map");
        assert_eq!(&m[..], b"hello block");
        // The mapping stays readable after the file is unlinked (blocks are deleted while
        // queries may still hold them).
        fs::remove_file(&p).expect("rm");
        assert_eq!(&m[..5], b"hello");

        let e = dir.path().join("empty");
        fs::write(&e, b"").expect("write");
        assert!(mmap_file(&e).expect("map empty").is_empty());
        assert!(mmap_file(&dir.path().join("missing")).is_err());
    }
}
