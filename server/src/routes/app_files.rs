//! The built single-page app: files with their MIME types (`.wasm` as
//! `application/wasm`, which streaming compilation requires), and `index.html` for any
//! other path so that the app's own routes survive a reload.
//!
//! A release build leaves brotli and gzip copies beside the content-hashed files
//! (`app-….wasm.br`, `.gz`, compressed once at their best, see xtask/post-build.mjs);
//! a browser that accepts either gets it as is, with `Content-Encoding`, and the
//! compression layer leaves such answers alone. Other files, and builds without the
//! copies, are compressed on the fly.

use axum::http::{header, HeaderValue};
use std::path::Path;
use tower::Layer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::{SetResponseHeader, SetResponseHeaderLayer};

type AppFiles = SetResponseHeader<SetResponseHeader<ServeDir<ServeFile>, HeaderValue>, HeaderValue>;

/// Every response revalidates (cheaply, by Last-Modified): the worker script and
/// index.html carry no content hash, and offline use is the service worker's job. Every
/// response varies with Accept-Encoding, so that no cache hands brotli to a browser
/// that did not ask for it.
pub fn service(app_dir: &Path) -> AppFiles {
    let index = ServeFile::new(app_dir.join("index.html"));
    let files = ServeDir::new(app_dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(index);
    let vary = SetResponseHeaderLayer::if_not_present(
        header::VARY,
        HeaderValue::from_static("accept-encoding"),
    );
    SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    )
    .layer(vary.layer(files))
}
