//! Every way to give the app a picture: file picker, drag-and-drop, and the sample gallery
//! (paste is handled page-wide in `app.rs`).

use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{DragEvent, File, HtmlInputElement};
use yew::prelude::*;

/// Sample photos shipped in `static/samples/` (public domain, see ATTRIBUTION.md there).
pub const SAMPLES: &[(&str, &str)] = &[
    ("coffee.png", "coffee"),
    ("chelsea.png", "cat"),
    ("astronaut.jpg", "astronaut"),
    ("rocket.jpg", "rocket"),
    ("horse.png", "horse"),
    ("hubble_deep_field.jpg", "deep field"),
];

/// Sample pictures for the Fashion-MNIST model: test images from the dataset (MIT).
pub const FASHION_SAMPLES: &[(&str, &str)] = &[
    ("fashion/sneaker.png", "sneaker"),
    ("fashion/trouser.png", "trouser"),
    ("fashion/bag.png", "bag"),
    ("fashion/dress.png", "dress"),
    ("fashion/ankle-boot.png", "ankle boot"),
    ("fashion/shirt.png", "shirt"),
];

#[derive(PartialEq, Properties)]
pub struct ImageInputProps {
    pub on_image: Callback<(String, Vec<u8>)>,
    pub on_error: Callback<String>,
    pub disabled: bool,
    /// The bundled model's key: which samples fit it.
    #[prop_or_default]
    pub model: String,
}

/// Reads a user's file and hands its bytes on.
pub fn read_file(file: File, on_image: Callback<(String, Vec<u8>)>) {
    spawn_local(async move {
        let name = file.name();
        if let Ok(buffer) = JsFuture::from(file.array_buffer()).await {
            on_image.emit((name, js_sys::Uint8Array::new(&buffer).to_vec()));
        }
    });
}

async fn fetch_sample(file: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let url = format!("samples/{file}");
    crate::wire::fetch_bytes(window.fetch_with_str(&url), &url).await
}

#[function_component(ImageInput)]
pub fn image_input(props: &ImageInputProps) -> Html {
    let dragging = use_state(|| false);
    let on_change = {
        let on_image = props.on_image.clone();
        Callback::from(move |e: Event| {
            let Some(input) = e.target_dyn_into::<HtmlInputElement>() else { return };
            if let Some(file) = input.files().and_then(|f| f.get(0)) {
                read_file(file, on_image.clone());
            }
            input.set_value("");
        })
    };
    let on_drag_over = {
        let dragging = dragging.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            dragging.set(true);
        })
    };
    let on_drag_leave = {
        let dragging = dragging.clone();
        Callback::from(move |_: DragEvent| dragging.set(false))
    };
    let on_drop = {
        let dragging = dragging.clone();
        let on_image = props.on_image.clone();
        let on_error = props.on_error.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            dragging.set(false);
            match e.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) {
                Some(file) => read_file(file, on_image.clone()),
                None => on_error.emit("drop an image file (PNG, JPEG, GIF, BMP or WebP)".into()),
            }
        })
    };
    let list = if props.model == "fashion-mnist" { FASHION_SAMPLES } else { SAMPLES };
    let samples = list.iter().map(|(file, title)| {
        let on_image = props.on_image.clone();
        let on_error = props.on_error.clone();
        let onclick = Callback::from(move |_| {
            let (on_image, on_error) = (on_image.clone(), on_error.clone());
            spawn_local(async move {
                match fetch_sample(file).await {
                    Ok(bytes) => on_image.emit((file.to_string(), bytes)),
                    Err(e) => on_error.emit(e),
                }
            });
        });
        html! {
            <button class="sample" onclick={onclick} disabled={props.disabled} title={*title} data-testid="sample" data-sample={*file}>
                <img src={format!("samples/{file}")} alt={*title} loading="lazy" />
            </button>
        }
    });
    html! {
        <div class={classes!("input-panel", dragging.then_some("dragging"))}
             ondragover={on_drag_over} ondragleave={on_drag_leave} ondrop={on_drop}>
            <label class="file-label">
                <span>{"Choose a photo, drop it here, or paste it"}</span>
                <input type="file" accept="image/*" data-testid="image-input" onchange={on_change} disabled={props.disabled} />
            </label>
            <div class="samples" aria-label="sample photos">{ for samples }</div>
        </div>
    }
}
