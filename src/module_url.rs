//! Where the page's JavaScript module came from, so that the sync worker can start the
//! same module (see `main.rs`): the page and the worker share one download.

/// The absolute URL of the page's wasm-bindgen module (`app-<hash>.js`), which Trunk
/// names in index.html with a `modulepreload` link; None without that link.
pub fn page_module_url() -> Option<String> {
    let document = web_sys::window()?.document()?;
    let link = document
        .query_selector(r#"link[rel="modulepreload"][href$=".js"]"#)
        .ok()??;
    // The property, unlike the attribute, is resolved against the document's URL.
    js_sys::Reflect::get(&link, &"href".into())
        .ok()?
        .as_string()
}
