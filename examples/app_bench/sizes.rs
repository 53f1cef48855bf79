//! P7: what a visitor downloads, gzipped as the server sends it: each wasm and
//! JavaScript file of the built app (the app, the worker and its loader, the service
//! worker), and their total.

use crate::report::figure;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::path::Path;

pub fn report(dist: &Path) {
    let mut files: Vec<(String, usize, usize)> = std::fs::read_dir(dist)
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
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into();
            (name, bytes.len(), gzipped_len(&bytes))
        })
        .collect();
    files.sort();
    let mut total = 0;
    for (name, raw, gzipped) in &files {
        total += gzipped;
        figure(
            &format!("P7 {name}"),
            format!("{:.1} KB gzipped ({:.1} KB raw)", kb(*gzipped), kb(*raw)),
        );
    }
    figure(
        "P7 total wasm + js",
        format!("{:.1} KB gzipped (aim ≤ 300 KB)", kb(total)),
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
