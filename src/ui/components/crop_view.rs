//! Shows the centre crop the network actually saw.

use yew::prelude::*;

use crate::app_state::Shown;
use crate::ui::hooks::use_png_url;

#[derive(PartialEq, Properties)]
pub struct CropViewProps {
    pub shown: Option<Shown>,
}

#[function_component(CropView)]
pub fn crop_view(props: &CropViewProps) -> Html {
    let url = use_png_url(props.shown.as_ref().map(|s| s.crop_png.clone()));
    match (&url, &props.shown) {
        (Some(u), Some(s)) => html! {
            <figure class="crop">
                <img src={u.clone()} alt={format!("centre crop of {}", s.source)} data-testid="crop" />
                <figcaption>{&s.source}</figcaption>
            </figure>
        },
        _ => html! { <figure class="crop empty"><div class="placeholder">{"no image yet"}</div></figure> },
    }
}
