//! JSON over `fetch` (and a bodiless DELETE), from a page or a worker: the one place that turns HTTP answers
//! into [`TransportError`]s (401 → Unauthorized, no network → Offline, others → Http).

use crate::engine::TransportError;
use gloo_timers::callback::Timeout;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Request, RequestInit, Response, Window, WorkerGlobalScope};

/// How long a request may take before it is abandoned. A request that never answers
/// (a half-open connection after a crash) must not hold the sync loop forever.
const TIMEOUT_MS: u32 = 30_000;

/// Sends `body` as JSON with an optional bearer token and reads a JSON answer.
pub async fn post_json<B: Serialize, R: DeserializeOwned>(
    url: &str,
    body: &B,
    token: Option<&str>,
) -> Result<R, TransportError> {
    let body = serde_json::to_string(body).map_err(|e| TransportError::Invalid(e.to_string()))?;
    let (response, _deadline) = send("POST", url, Some(&body), token).await?;
    read_json(response).await
}

/// GETs a JSON answer.
pub async fn get_json<R: DeserializeOwned>(
    url: &str,
    token: Option<&str>,
) -> Result<R, TransportError> {
    let (response, _deadline) = send("GET", url, None, token).await?;
    read_json(response).await
}

/// DELETEs; any 2xx answer is success, and its body is not read.
pub async fn delete(url: &str, token: Option<&str>) -> Result<(), TransportError> {
    let (response, _deadline) = send("DELETE", url, None, token).await?;
    read_text(response).await.map(drop)
}

/// Whether the browser believes it is online (false means surely offline).
pub fn navigator_online() -> bool {
    let global = js_sys::global();
    if let Some(scope) = global.dyn_ref::<WorkerGlobalScope>() {
        return scope.navigator().on_line();
    }
    if let Some(window) = global.dyn_ref::<Window>() {
        return window.navigator().on_line();
    }
    true
}

async fn send(
    method: &str,
    url: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Result<(Response, Timeout), TransportError> {
    if !navigator_online() {
        return Err(TransportError::Offline("the browser is offline".into()));
    }
    let init = RequestInit::new();
    init.set_method(method);
    let abort = AbortController::new().map_err(js_invalid)?;
    init.set_signal(Some(&abort.signal()));
    // The caller keeps the deadline until it has read the body; dropping it cancels it.
    let deadline = Timeout::new(TIMEOUT_MS, move || abort.abort());
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    let request = Request::new_with_str_and_init(url, &init).map_err(js_invalid)?;
    let headers = request.headers();
    headers
        .set("Content-Type", "application/json")
        .map_err(js_invalid)?;
    if let Some(token) = token {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(js_invalid)?;
    }
    let promise = global_fetch(&request)?;
    let response: Response = JsFuture::from(promise)
        .await
        // fetch rejects only when no answer arrived (the network, or our timeout).
        .map_err(|e| TransportError::Offline(js_message(&e)))?
        .dyn_into()
        .map_err(js_invalid)?;
    Ok((response, deadline))
}

async fn read_json<R: DeserializeOwned>(response: Response) -> Result<R, TransportError> {
    let text = read_text(response).await?;
    serde_json::from_str(&text).map_err(|e| TransportError::Invalid(e.to_string()))
}

/// The body of a 2xx answer; any other status as its error.
async fn read_text(response: Response) -> Result<String, TransportError> {
    let status = response.status();
    let text = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if status == 401 {
        return Err(TransportError::Unauthorized);
    }
    if !(200..300).contains(&status) {
        // A 400's `error` is prisma-idb's fixed "Invalid request"; the reason a person
        // can act on is in `details`.
        let message = serde_json::from_str::<sync_protocol::auth::ErrorBody>(&text)
            .map(|body| body.details.unwrap_or(body.error))
            .unwrap_or_else(|_| text.chars().take(200).collect());
        return Err(TransportError::Http { status, message });
    }
    Ok(text)
}

fn global_fetch(request: &Request) -> Result<js_sys::Promise, TransportError> {
    let global = js_sys::global();
    if let Some(scope) = global.dyn_ref::<WorkerGlobalScope>() {
        return Ok(scope.fetch_with_request(request));
    }
    if let Some(window) = global.dyn_ref::<Window>() {
        return Ok(window.fetch_with_request(request));
    }
    Err(TransportError::Offline(
        "fetch is not available here".into(),
    ))
}

fn js_message(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "the request failed".into())
}

fn js_invalid(value: JsValue) -> TransportError {
    TransportError::Invalid(js_message(&value))
}
