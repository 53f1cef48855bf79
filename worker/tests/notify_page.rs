//! Change notices cross contexts: a second, separate context (a plain worker with its
//! own BroadcastChannel) hears about a write committed on this page.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use sync_protocol::{Timestamp, User};
use sync_worker::store::notify::CHANGES_CHANNEL;
use sync_worker::store::{Account, LocalStore};
use uuid::Uuid;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{Blob, BlobPropertyBag, MessageEvent, Url, Worker};

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn another_context_hears_about_a_committed_change() {
    // The second context: a worker that relays what it hears on the channel.
    let script = format!(
        "const channel = new BroadcastChannel({CHANGES_CHANNEL:?});
         channel.onmessage = (event) => postMessage(event.data);
         postMessage('ready');"
    );
    let options = BlobPropertyBag::new();
    options.set_type("text/javascript");
    let parts = js_sys::Array::of1(&script.into());
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options).unwrap();
    let url = Url::create_object_url_with_blob(&blob).unwrap();
    let worker = Worker::new(&url).unwrap();
    let heard: Rc<RefCell<Vec<String>>> = Rc::default();
    let sink = Rc::clone(&heard);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        sink.borrow_mut()
            .push(event.data().as_string().unwrap_or_default());
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    wait_until(|| heard.borrow().iter().any(|m| m == "ready")).await;

    let name = format!("cross-{}", Uuid::new_v4());
    let store = LocalStore::open_named(&name).await.unwrap();
    let user = User {
        id: Uuid::new_v4(),
        name: "Ada".into(),
        email: "ada@example.com".into(),
        email_verified: false,
        image: None,
        created_at: Timestamp::from_millis(0),
        updated_at: Timestamp::from_millis(0),
        is_anonymous: false,
    };
    store
        .set_account(&Account {
            user,
            token: "token".into(),
        })
        .await
        .unwrap();
    heard.borrow_mut().clear();
    store.create_board("Heard elsewhere").await.unwrap();
    wait_until(|| heard.borrow().iter().any(|m| m.contains("\"Board\""))).await;
    let notices = heard.borrow().clone();
    assert!(
        notices
            .iter()
            .any(|m| m.contains("\"Board\"") && m.contains("\"local\"")),
        "{notices:?}"
    );
    worker.terminate();
    store.close();
    LocalStore::delete_database(&name).await.unwrap();
}

async fn wait_until(check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    panic!("the other context never answered");
}
