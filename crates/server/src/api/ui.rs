//! The dashboard: the static bundle built from `ui/` (committed in `ui/dist/`) embedded in
//! the binary, so `strix serve` needs no other server.
//!
//! `GET /` is `index.html`; every other file of the bundle is at `/ui/<path>`. The
//! dashboard routes on the URL fragment (`/#/alerts`), so no server-side fallback is
//! needed. Files whose name carries a content hash (`app-3f2a…js`) are cached for a year;
//! everything else is revalidated on each load. Responses are gzip-compressed when the
//! browser accepts it.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::router::AppState;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../ui/dist/"]
#[exclude = "*.sha256"]
struct Bundle;

/// Routes without authentication: the bundle holds no data; the APIs it calls are
/// authenticated as usual.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*path}", get(asset))
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
}

async fn index() -> Response {
    serve("index.html")
}

async fn asset(Path(path): Path<String>) -> Response {
    serve(&path)
}

/// Whether a file name carries a content hash: a `-` or `.` followed by at least eight
/// hexadecimal characters right before the extension (`app-1a2b3c4d.js`).
fn is_hashed(name: &str) -> bool {
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) => stem,
        None => return false,
    };
    let tail = stem.rsplit(['-', '.']).next().unwrap_or("");
    tail.len() >= 8 && tail != stem && tail.bytes().all(|b| b.is_ascii_hexdigit())
}

fn serve(path: &str) -> Response {
    let Some(file) = Bundle::get(path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            if path == "index.html" {
                "the dashboard bundle is missing from this build (ui/dist is empty)\n"
            } else {
                "not found\n"
            },
        )
            .into_response();
    };
    let mime = file.metadata.mimetype();
    let content_type = if mime.starts_with("text/") || mime == "application/javascript" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    let cache = if is_hashed(path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut resp = file.data.into_owned().into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if path == "index.html" {
        // The bundle loads only its own scripts and styles and talks only to this origin.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                 img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_hashed("app-1a2b3c4d.js"));
        assert!(is_hashed("assets/style.0123456789abcdef.css"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("app.js"));
        assert!(!is_hashed("deadbeef.js"));
        assert!(!is_hashed("app-xyz12345.js"));
    }
}
