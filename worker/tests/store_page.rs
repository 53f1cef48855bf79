//! The local store against real IndexedDB, on a page's main thread (headless Chromium).
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[path = "store/cases.rs"]
mod cases;
