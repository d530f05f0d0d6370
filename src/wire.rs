//! Browser plumbing shared by the page and the worker: how a protocol message travels
//! (`[json, bytes | null]`) and reading a fetched URL into bytes.

use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Packs JSON text and optional bytes into one message.
pub fn pack(json: &str, bytes: Option<&[u8]>) -> Array {
    let message = Array::new();
    message.push(&JsValue::from_str(json));
    message.push(&bytes.map(|b| Uint8Array::from(b).into()).unwrap_or(JsValue::NULL));
    message
}

/// The JSON text and bytes of a message made by [`pack`].
pub fn unpack(data: &JsValue) -> (String, Option<Vec<u8>>) {
    let data = Array::from(data);
    let json = data.get(0).as_string().unwrap_or_default();
    let bytes = data.get(1).dyn_into::<Uint8Array>().ok().map(|a| a.to_vec());
    (json, bytes)
}

/// Awaits a `fetch(url)` promise (from the window or a worker) and returns the body.
pub async fn fetch_bytes(fetch: Promise, url: &str) -> Result<Vec<u8>, String> {
    let response = JsFuture::from(fetch).await.map_err(|_| format!("cannot download {url}"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| "fetch returned no response".to_string())?;
    if !response.ok() {
        return Err(format!("cannot download {url}: HTTP {}", response.status()));
    }
    let body = response.array_buffer().map_err(|_| format!("cannot read {url}"))?;
    let buffer = JsFuture::from(body).await.map_err(|_| format!("cannot read {url}"))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
