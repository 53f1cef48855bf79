//! A plain static file host on its own origin, for the app deployed apart from the
//! sync server (a CDN, `python -m http.server`): files only, no API.

use std::path::PathBuf;

/// A plain static file host on its own origin, as a CDN or `python -m http.server`
/// would serve the built app: files only, no API, unknown paths get index.html.
pub struct StaticHost {
    pub url: String,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl StaticHost {
    pub async fn start() -> StaticHost {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the static host");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let dir = tempfile::tempdir().expect("temporary folder");
        let root = dir.path().to_path_buf();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_file(stream, root.clone()));
            }
        });
        StaticHost { url, dir, task }
    }
}

impl Drop for StaticHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers one HTTP/1.1 GET with a file (connection: close, which keeps this simple).
async fn serve_file(mut stream: tokio::net::TcpStream, root: PathBuf) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let head = String::from_utf8_lossy(&request);
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let requested = root.join(if path.is_empty() { "index.html" } else { &path });
    let file = if !path.contains("..") && requested.is_file() {
        requested
    } else {
        root.join("index.html")
    };
    let body = tokio::fs::read(&file).await.unwrap_or_default();
    let content_type = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("json") | Some("webmanifest") => "application/json",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    let header = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}
