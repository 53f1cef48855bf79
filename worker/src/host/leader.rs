//! Leadership among the workers of one origin (one per open tab): the worker that holds
//! a Web Lock syncs, the others stand by. The browser releases a lock when its holder's
//! context goes away, so a standby worker takes over as soon as the leader's tab closes;
//! for a frozen leader a standby takes the lock by force. When to ask, and what a grant or
//! a loss means, is decided by `engine::leadership`; this module only talks to the browser.

pub use crate::engine::leadership::Claim;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The Web Lock whose holder leads (tests look it up with `navigator.locks.query()`).
pub const LOCK_NAME: &str = "boards-sync:leader";

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (bound here because web-sys marks it unstable).
    type LockManager;

    #[wasm_bindgen(method)]
    fn request(
        this: &LockManager,
        name: &str,
        options: &JsValue,
        callback: &js_sys::Function,
    ) -> js_sys::Promise;
}

/// Asks for leadership: `on_granted` runs once the lock is ours, which is then held for
/// the rest of this context's life unless another context seizes it; `on_lost` runs
/// then. Without Web Locks (old browsers) every worker leads.
pub fn request_leadership(
    claim: Claim,
    on_granted: impl FnOnce() + 'static,
    on_lost: impl FnOnce() + 'static,
) {
    request_lock(LOCK_NAME, claim, on_granted, on_lost);
}

/// `request_leadership` for any lock name (tests use their own).
pub fn request_lock(
    name: &str,
    claim: Claim,
    on_granted: impl FnOnce() + 'static,
    on_lost: impl FnOnce() + 'static,
) {
    let Some(locks) = lock_manager() else {
        on_granted();
        return;
    };
    let mut on_granted = Some(on_granted);
    let callback = Closure::<dyn FnMut(JsValue) -> js_sys::Promise>::new(move |_lock| {
        if let Some(on_granted) = on_granted.take() {
            on_granted();
        }
        // Never settles: the lock is held until this worker ends or loses it.
        js_sys::Promise::new(&mut |_, _| {})
    });
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(
        &options,
        &"steal".into(),
        &JsValue::from_bool(claim == Claim::Seize),
    );
    let held = locks.request(name, &options, callback.as_ref().unchecked_ref());
    callback.forget();
    // The request's promise settles only when the lock is gone: rejected when another
    // context seized it (or this request was itself pre-empted while queued).
    wasm_bindgen_futures::spawn_local(async move {
        if wasm_bindgen_futures::JsFuture::from(held).await.is_err() {
            on_lost();
        }
    });
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
