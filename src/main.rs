//! Mounts the app and registers its service worker (see the library for the rest).

use wasm_bindgen::JsValue;

fn main() {
    console_error_panic_hook::set_once();
    register_service_worker();
    yew::Renderer::<app::App>::new().render();
}

/// Offline start-up after the first visit. Service workers exist only in secure
/// contexts (https, localhost); elsewhere the app still works, online.
fn register_service_worker() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let navigator = window.navigator();
    let supported =
        js_sys::Reflect::has(&navigator, &JsValue::from_str("serviceWorker")).unwrap_or(false);
    if supported && window.is_secure_context() {
        let _ = navigator.service_worker().register("sw.js");
    }
}
