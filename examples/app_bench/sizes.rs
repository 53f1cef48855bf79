//! P7: what a visitor downloads, compressed as the server sends it: each wasm and
//! JavaScript file of the built app (the app, the worker and its loader, the service
//! worker), and their total. A release build leaves the best gzip and brotli copies of
//! the content-hashed files beside them (xtask/post-build.mjs), which the server sends
//! as they are; other files are gzipped here as the server does on the fly.

use crate::report::figure;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::path::Path;

/// One file's sizes in bytes.
struct Sizes {
    name: String,
    raw: usize,
    gzip: usize,
    /// The brotli copy, when the build left one.
    brotli: Option<usize>,
}

pub fn report(dist: &Path) {
    let mut files: Vec<Sizes> = std::fs::read_dir(dist)
        .expect("the dist folder is readable")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("wasm" | "js")
            )
        })
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a built file");
            let copy = |extension: &str| {
                let mut name = path.clone().into_os_string();
                name.push(extension);
                std::fs::metadata(name).ok().map(|meta| meta.len() as usize)
            };
            Sizes {
                name: path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into(),
                raw: bytes.len(),
                gzip: copy(".gz").unwrap_or_else(|| gzipped_len(&bytes)),
                brotli: copy(".br"),
            }
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    for file in &files {
        let brotli = match file.brotli {
            Some(brotli) => format!(", {:.1} KB brotli", kb(brotli)),
            None => String::new(),
        };
        figure(
            &format!("P7 {}", file.name),
            format!(
                "{:.1} KB gzipped{brotli} ({:.1} KB raw)",
                kb(file.gzip),
                kb(file.raw)
            ),
        );
    }
    let gzip: usize = files.iter().map(|file| file.gzip).sum();
    // A browser that accepts brotli (every current one) gets the brotli copies and
    // the rest gzipped.
    let brotli: usize = files.iter().map(|f| f.brotli.unwrap_or(f.gzip)).sum();
    figure(
        "P7 total wasm + js",
        format!(
            "{:.1} KB gzipped (aim ≤ 300 KB); {:.1} KB as sent to browsers that accept brotli",
            kb(gzip),
            kb(brotli)
        ),
    );
}

fn gzipped_len(bytes: &[u8]) -> usize {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory").len()
}

fn kb(bytes: usize) -> f64 {
    bytes as f64 / 1024.0
}
