//! The server over real HTTP: health, the built app's files with the right MIME types,
//! and the single-page-app fallback.

use sync_server::{Config, Server};

struct Fixture {
    _app_dir: tempfile::TempDir,
    _data_dir: tempfile::TempDir,
    server: sync_server::ServerHandle,
}

async fn serve_app() -> Fixture {
    let app_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        app_dir.path().join("index.html"),
        "<!doctype html><title>Boards</title>",
    )
    .unwrap();
    // The smallest valid module: magic number and version.
    std::fs::write(app_dir.path().join("app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(app_dir.path().join("app.js"), "export default 1;").unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", data_dir.path().join("sync.db").display());
    let server = Server::start(Config::local(database_url, app_dir.path()))
        .await
        .expect("server starts")
        .spawn();
    Fixture {
        _app_dir: app_dir,
        _data_dir: data_dir,
        server,
    }
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn health_answers_ok() {
    let fixture = serve_app().await;
    let response = reqwest::get(format!("{}/api/health", fixture.server.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn serves_index_wasm_and_js_with_their_mime_types() {
    let fixture = serve_app().await;
    let base = &fixture.server.url;

    let index = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(index.status(), 200);
    assert!(content_type(&index).starts_with("text/html"));
    assert!(index
        .text()
        .await
        .unwrap()
        .contains("<title>Boards</title>"));

    let wasm = reqwest::get(format!("{base}/app_bg.wasm")).await.unwrap();
    assert_eq!(wasm.status(), 200);
    assert_eq!(content_type(&wasm), "application/wasm");
    assert_eq!(&wasm.bytes().await.unwrap()[..4], b"\0asm");

    let js = reqwest::get(format!("{base}/app.js")).await.unwrap();
    assert!(
        content_type(&js).contains("javascript"),
        "{}",
        content_type(&js)
    );
}

#[tokio::test]
async fn unknown_paths_fall_back_to_the_app_but_not_under_api() {
    let fixture = serve_app().await;
    let base = &fixture.server.url;

    let deep_link = reqwest::get(format!("{base}/boards/123")).await.unwrap();
    assert_eq!(deep_link.status(), 200);
    assert!(deep_link
        .text()
        .await
        .unwrap()
        .contains("<title>Boards</title>"));

    let missing_api = reqwest::get(format!("{base}/api/nope")).await.unwrap();
    assert_eq!(missing_api.status(), 404);
    let body: serde_json::Value = missing_api.json().await.unwrap();
    assert_eq!(body["error"], "Not found");
}

/// A file's precompressed copies, as a release build leaves them, go to the browsers
/// that accept them, untouched; the others get the file itself.
#[tokio::test]
async fn precompressed_copies_go_to_browsers_that_accept_them() {
    let fixture = serve_app().await;
    let dir = fixture._app_dir.path();
    // Stand-ins: what matters is which bytes are sent and how they are labelled.
    std::fs::write(dir.join("app_bg.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(dir.join("app_bg.wasm.gz"), b"gzip bytes").unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/app_bg.wasm", fixture.server.url);
    let fetch = |accept: &'static str| {
        client
            .get(&url)
            .header(reqwest::header::ACCEPT_ENCODING, accept)
            .send()
    };
    let header = |response: &reqwest::Response, name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };

    for (accept, encoding, body) in [
        ("gzip, deflate, br", Some("br"), &b"brotli bytes"[..]),
        ("gzip", Some("gzip"), b"gzip bytes"),
        ("identity", None, b"\0asm\x01\0\0\0"),
    ] {
        let response = fetch(accept).await.unwrap();
        assert_eq!(response.status(), 200, "{accept}");
        assert_eq!(content_type(&response), "application/wasm", "{accept}");
        assert_eq!(
            header(&response, reqwest::header::CONTENT_ENCODING).as_deref(),
            encoding,
            "{accept}"
        );
        assert!(
            header(&response, reqwest::header::VARY)
                .is_some_and(|vary| vary.contains("accept-encoding")),
            "{accept}: a cache must not hand one encoding to a browser that asked for another"
        );
        assert_eq!(&response.bytes().await.unwrap()[..], body, "{accept}");
    }
}
