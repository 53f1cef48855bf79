//! Leadership among the workers of one origin (one per open tab): the worker that holds
//! a Web Lock syncs, the others stand by. The browser releases a lock when its holder's
//! context goes away, so a standby worker takes over as soon as the leader's tab closes.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

const LOCK_NAME: &str = "boards-sync:leader";

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (bound here because web-sys marks it unstable).
    type LockManager;

    #[wasm_bindgen(method)]
    fn request(this: &LockManager, name: &str, callback: &js_sys::Function) -> js_sys::Promise;
}

/// Asks for leadership; `on_granted` runs once the lock is ours, which is held for the
/// rest of this context's life. Without Web Locks (old browsers) every worker leads.
pub fn request_leadership(on_granted: impl FnOnce() + 'static) {
    let Some(locks) = lock_manager() else {
        on_granted();
        return;
    };
    let mut on_granted = Some(on_granted);
    let callback = Closure::<dyn FnMut(JsValue) -> js_sys::Promise>::new(move |_lock| {
        if let Some(on_granted) = on_granted.take() {
            on_granted();
        }
        // Never settles: the lock is held until this worker ends.
        js_sys::Promise::new(&mut |_, _| {})
    });
    // The promise settles only when the lock is released; nothing to do then.
    let _ = locks.request(LOCK_NAME, callback.as_ref().unchecked_ref());
    callback.forget();
}

fn lock_manager() -> Option<LockManager> {
    let global = js_sys::global();
    let navigator = js_sys::Reflect::get(&global, &"navigator".into()).ok()?;
    let locks = js_sys::Reflect::get(&navigator, &"locks".into()).ok()?;
    if locks.is_undefined() || locks.is_null() {
        return None;
    }
    Some(locks.unchecked_into())
}
