//! Deployment settings, read at start-up from `config.json` beside `index.html`, so
//! that one build can be hosted anywhere with the sync server on another origin.

use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// What `config.json` may say. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppConfig {
    /// The sync server's origin, e.g. `https://sync.example.com`; empty means this origin.
    pub server_url: String,
    /// Listen to the server's event stream so changes arrive at once (default on).
    pub realtime: Option<bool>,
    /// How often the worker syncs when nothing prompts it, in milliseconds.
    pub sync_interval_ms: Option<u32>,
}

impl AppConfig {
    /// Reads `config.json`; a missing or unreadable file means the defaults.
    pub async fn load() -> AppConfig {
        match fetch_text("config.json").await {
            Some(text) => serde_json::from_str(&text).unwrap_or_default(),
            None => AppConfig::default(),
        }
        .normalized()
    }

    fn normalized(mut self) -> AppConfig {
        self.server_url = self.server_url.trim().trim_end_matches('/').to_string();
        self
    }

    /// The worker's settings for this deployment. The worker always gets an origin: it
    /// runs from a `blob:` URL (see `hooks::sync`), against which a bare path such as
    /// `/api/sync/push` does not resolve, so "this origin" is spelled out.
    pub fn sync_config(&self) -> sync_worker::messages::SyncConfig {
        let defaults = sync_worker::messages::SyncConfig::default();
        let base_url = match self.server_url.as_str() {
            "" => page_origin(),
            server => server.to_string(),
        };
        sync_worker::messages::SyncConfig {
            base_url,
            realtime: self.realtime.unwrap_or(defaults.realtime),
            interval_ms: self.sync_interval_ms.unwrap_or(defaults.interval_ms),
            ..defaults
        }
    }

    /// The absolute URL of an API path.
    pub fn api(&self, path: &str) -> String {
        format!("{}{}", self.server_url, path)
    }
}

/// This page's origin (`https://host:port`); empty where there is no window.
fn page_origin() -> String {
    web_sys::window()
        .and_then(|window| window.location().origin().ok())
        .unwrap_or_default()
}

async fn fetch_text(url: &str) -> Option<String> {
    let window = web_sys::window()?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    if !response.ok() {
        return None;
    }
    JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()
}
