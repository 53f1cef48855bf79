//! The built single-page app: files with their MIME types (`.wasm` as
//! `application/wasm`, which streaming compilation requires), and `index.html` for any
//! other path so that the app's own routes survive a reload.

use axum::http::{header, HeaderValue};
use std::path::Path;
use tower::Layer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::{SetResponseHeader, SetResponseHeaderLayer};

/// Every response revalidates (cheaply, by Last-Modified): the worker script and
/// index.html carry no content hash, and offline use is the service worker's job.
pub fn service(app_dir: &Path) -> SetResponseHeader<ServeDir<ServeFile>, HeaderValue> {
    let index = ServeFile::new(app_dir.join("index.html"));
    let files = ServeDir::new(app_dir).fallback(index);
    SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    )
    .layer(files)
}
