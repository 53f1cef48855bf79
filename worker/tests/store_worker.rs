//! The local store against real IndexedDB, inside a dedicated worker (headless Chromium).
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[path = "store/cases.rs"]
mod cases;
