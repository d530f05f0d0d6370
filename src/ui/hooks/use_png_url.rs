//! An object URL for PNG bytes held in state, revoked when the bytes change or the component
//! goes away (so repeated images do not leak memory).

use std::rc::Rc;

use web_sys::{Blob, BlobPropertyBag, Url};
use yew::prelude::*;

fn blob_url(png: &[u8]) -> Option<String> {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(png).into());
    let options = BlobPropertyBag::new();
    options.set_type("image/png");
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()?;
    Url::create_object_url_with_blob(&blob).ok()
}

#[hook]
pub fn use_png_url(png: Option<Rc<Vec<u8>>>) -> Option<String> {
    let url = use_memo(png, |png| png.as_ref().and_then(|p| blob_url(p)));
    {
        let url = url.clone();
        use_effect_with(url, |url| {
            let url = (**url).clone();
            move || {
                if let Some(u) = url {
                    let _ = Url::revoke_object_url(&u);
                }
            }
        });
    }
    (*url).clone()
}
