//! The committed dashboard bundle (`ui/dist/`) is what the sources build to, and stays
//! within its size budget.
//!
//! `ui/build.mjs` writes `ui/dist/source.sha256`, a digest of the sources it built from
//! (the exact scheme is in the comment at the top of build.mjs); this test recomputes it
//! without Node, so a source change without a rebuild fails here instead of shipping an
//! old dashboard. It also gzips the initial load (index.html and the JS and CSS it
//! references) and holds it to 200 KB.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Initial bundle budget, gzipped (issue #7).
const GZIP_BUDGET_BYTES: usize = 200 * 1024;

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
    {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            walk(&entry.path(), out);
        } else if ty.is_file() {
            out.push(entry.path());
        }
    }
}

/// The digest of build.mjs's scheme: files sorted by their `/`-separated path relative to
/// `ui/`, each contributing `path \0 len \0 content`.
fn source_digest(ui: &Path) -> String {
    let mut files = Vec::new();
    walk(&ui.join("src"), &mut files);
    for f in ["build.mjs", "package.json", "package-lock.json"] {
        files.push(ui.join(f));
    }
    let mut entries: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(ui).unwrap();
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            (rel.join("/"), f)
        })
        .collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = Sha256::new();
    for (rel, f) in entries {
        let content = std::fs::read(&f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
        h.update(rel.as_bytes());
        h.update([0u8]);
        h.update(content.len().to_string().as_bytes());
        h.update([0u8]);
        h.update(&content);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn dist_is_built_from_the_current_sources() {
    let ui = ui_dir();
    let recorded = std::fs::read_to_string(ui.join("dist/source.sha256")).expect(
        "ui/dist/source.sha256 is missing: run `npm --prefix ui ci && npm --prefix ui run build`",
    );
    let actual = source_digest(&ui);
    assert_eq!(
        recorded.trim(),
        actual,
        "ui/dist is stale: run `npm --prefix ui ci && npm --prefix ui run build`"
    );
}

/// The `/ui/...` assets index.html loads (stylesheets and scripts).
fn referenced_assets(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"/ui/", "src=\"/ui/"] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            let tail = &rest[i + attr.len()..];
            let end = tail
                .find('"')
                .expect("unterminated attribute in index.html");
            out.push(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn initial_bundle_fits_the_gzip_budget() {
    let dist = ui_dir().join("dist");
    let html = std::fs::read_to_string(dist.join("index.html")).expect("ui/dist/index.html");
    let assets = referenced_assets(&html);
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "index.html must load a script and a stylesheet from /ui/, found {assets:?}"
    );
    let mut raw = html.len();
    let mut gz = gzip_len(html.as_bytes());
    for a in &assets {
        assert!(!a.contains(".."), "asset path {a:?} leaves ui/dist");
        let bytes = std::fs::read(dist.join(a))
            .unwrap_or_else(|e| panic!("index.html loads /ui/{a}, which is not in ui/dist: {e}"));
        raw += bytes.len();
        gz += gzip_len(&bytes);
    }
    println!(
        "initial bundle: {raw} bytes raw, {gz} bytes gzipped ({} files)",
        assets.len() + 1
    );
    assert!(
        gz <= GZIP_BUDGET_BYTES,
        "initial bundle is {gz} bytes gzipped, over the {GZIP_BUDGET_BYTES}-byte budget"
    );
}

fn gzip_len(data: &[u8]) -> usize {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap().len()
}
