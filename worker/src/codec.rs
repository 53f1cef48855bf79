//! The app ↔ worker message codec: JSON text.
//!
//! gloo-worker's default Bincode codec cannot decode internally tagged enums or
//! `serde_json::Value` (our messages have both) and panics when it fails. JSON handles
//! every serde shape, and both sides are built from this crate, so a decode failure
//! would be a build mismatch rather than bad input.

use gloo_worker::Codec;
use wasm_bindgen::{JsValue, UnwrapThrowExt};

/// Encodes messages as JSON strings.
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn encode<I: serde::Serialize>(input: I) -> JsValue {
        // Our message types serialise infallibly (no non-string map keys).
        JsValue::from_str(&serde_json::to_string(&input).expect_throw("worker message encodes"))
    }

    fn decode<O: for<'de> serde::Deserialize<'de>>(input: JsValue) -> O {
        let text = input
            .as_string()
            .expect_throw("worker messages are JSON strings");
        serde_json::from_str(&text).expect_throw("worker message matches this build")
    }
}
