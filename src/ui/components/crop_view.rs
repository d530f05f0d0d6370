//! Shows the centre crop the network actually saw.

use web_sys::{Blob, BlobPropertyBag, Url};
use yew::prelude::*;

use crate::app_state::Shown;

#[derive(PartialEq, Properties)]
pub struct CropViewProps {
    pub shown: Option<Shown>,
}

/// An object URL for PNG bytes (revoke it when done).
pub fn blob_url(png: &[u8]) -> Option<String> {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(png).into());
    let options = BlobPropertyBag::new();
    options.set_type("image/png");
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()?;
    Url::create_object_url_with_blob(&blob).ok()
}

#[function_component(CropView)]
pub fn crop_view(props: &CropViewProps) -> Html {
    let png = props.shown.as_ref().map(|s| s.crop_png.clone());
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
    match (&*url, &props.shown) {
        (Some(u), Some(s)) => html! {
            <figure class="crop">
                <img src={u.clone()} alt={format!("centre crop of {}", s.source)} data-testid="crop" />
                <figcaption>{&s.source}</figcaption>
            </figure>
        },
        _ => html! { <figure class="crop empty"><div class="placeholder">{"no image yet"}</div></figure> },
    }
}
