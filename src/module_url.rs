//! The script the sync worker starts from: the page's own wasm-bindgen module, so the page
//! and the worker share one download (see `main.rs`).

use wasm_bindgen::JsValue;

/// A `blob:` URL of a module script that imports the page's module (`app-<hash>.js`) and
/// starts it with the page's wasm (`app-<hash>_bg.wasm`); None if index.html does not
/// name them. Trunk names both in preload links; the wasm must be named, because the
/// module's own default is the unhashed name wasm-bindgen gave it before Trunk hashed it.
pub fn worker_script_url() -> Option<String> {
    let module = preloaded(r#"link[rel="modulepreload"][href$=".js"]"#)?;
    let wasm = preloaded(r#"link[rel="preload"][href$="_bg.wasm"]"#)?;
    // The URLs are absolute (a blob: URL is no base to resolve against) and come from
    // the `href` property, so they are well-formed URLs; JSON quotes them as JS strings.
    let source = format!(
        "import init from {};\nawait init({{ module_or_path: {} }});\n",
        quoted(&module),
        quoted(&wasm)
    );
    let parts = js_sys::Array::of1(&JsValue::from_str(&source));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
    web_sys::Url::create_object_url_with_blob(&blob).ok()
}

/// The absolute URL of the first link that matches `selector`.
fn preloaded(selector: &str) -> Option<String> {
    let link = web_sys::window()?
        .document()?
        .query_selector(selector)
        .ok()??;
    // The property, unlike the attribute, is resolved against the document's URL.
    js_sys::Reflect::get(&link, &"href".into())
        .ok()?
        .as_string()
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}
