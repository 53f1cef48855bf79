//! The one wasm module of the app, run twice: on the page it mounts the app and
//! registers the service worker; in the dedicated worker the page spawns (see
//! `app::hooks::sync`) it serves the sync worker. One module for both means one download
//! and one compiled copy of the code they share (the store, the protocol, serde).

use gloo_worker::Registrable;
use sync_worker::codec::JsonCodec;
use sync_worker::host::SyncWorker;
use wasm_bindgen::JsValue;

fn main() {
    console_error_panic_hook::set_once();
    let Some(window) = web_sys::window() else {
        // No window: this is the sync worker. It speaks JSON with the page (see
        // `sync_worker::codec`).
        SyncWorker::registrar().encoding::<JsonCodec>().register();
        return;
    };
    register_service_worker(&window);
    yew::Renderer::<app::App>::new().render();
}

/// Offline start-up after the first visit. Service workers exist only in secure
/// contexts (https, localhost); elsewhere the app still works, online.
fn register_service_worker(window: &web_sys::Window) {
    let navigator = window.navigator();
    let supported =
        js_sys::Reflect::has(&navigator, &JsValue::from_str("serviceWorker")).unwrap_or(false);
    if supported && window.is_secure_context() {
        let _ = navigator.service_worker().register("sw.js");
    }
}
