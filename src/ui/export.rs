//! One PNG of pictures side by side, each with its label, under a title and above a caption of
//! the settings that made them, so a slide or a handout says how to get it again.

use std::rc::Rc;

use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlImageElement};

/// Each picture is drawn this large (pixelated when smaller, like the page shows them).
pub const CELL: u32 = 256;
pub const GAP: u32 = 16;
const TITLE: u32 = 40;
/// Two lines under each picture: its label and a detail.
const LABEL: u32 = 44;
const LINE: u32 = 20;

/// One picture of the export.
pub struct Figure {
    pub png: Rc<Vec<u8>>,
    pub label: String,
    pub detail: String,
}

/// The exported image's size for `figures` pictures and `lines` caption lines.
pub fn size(figures: usize, lines: usize) -> (u32, u32) {
    let n = figures.max(1) as u32;
    (GAP + n * (CELL + GAP), TITLE + CELL + LABEL + lines as u32 * LINE + GAP)
}

fn blob_url(bytes: &[u8], mime: &str) -> Result<String, String> {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(|_| "no Blob")?;
    web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "no object URL".into())
}

async fn image(png: &[u8]) -> Result<HtmlImageElement, String> {
    let img = HtmlImageElement::new().map_err(|_| "no image element")?;
    let url = blob_url(png, "image/png")?;
    img.set_src(&url);
    let decoded = JsFuture::from(img.decode()).await;
    let _ = web_sys::Url::revoke_object_url(&url);
    decoded.map_err(|_| "a picture could not be decoded")?;
    Ok(img)
}

/// `text`, shortened with an ellipsis to fit `width` pixels in the context's font.
fn fit(ctx: &CanvasRenderingContext2d, text: &str, width: f64) -> String {
    let fits = |t: &str| ctx.measure_text(t).map(|m| m.width() <= width).unwrap_or(true);
    if fits(text) {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let t: String = chars.iter().collect::<String>() + "…";
        if fits(&t) {
            return t;
        }
    }
    String::new()
}

/// A new (detached) canvas of this size and its 2D context.
pub fn canvas(w: u32, h: u32) -> Result<(HtmlCanvasElement, CanvasRenderingContext2d), String> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let canvas: HtmlCanvasElement =
        document.create_element("canvas").map_err(|_| "no canvas")?.dyn_into().map_err(|_| "no canvas")?;
    canvas.set_width(w);
    canvas.set_height(h);
    let ctx = canvas.get_context("2d").ok().flatten().and_then(|c| c.dyn_into().ok()).ok_or("no 2D canvas")?;
    Ok((canvas, ctx))
}

/// A canvas's picture as PNG bytes.
pub async fn canvas_png(canvas: &HtmlCanvasElement) -> Result<Vec<u8>, String> {
    let blob = JsFuture::from(js_sys::Promise::new(&mut |resolve, _reject| {
        let done = Closure::once_into_js(move |blob: JsValue| {
            let _ = resolve.call1(&JsValue::NULL, &blob);
        });
        let _ = canvas.to_blob(done.unchecked_ref());
    }))
    .await
    .map_err(|_| "the picture could not be encoded")?;
    let blob: web_sys::Blob = blob.dyn_into().map_err(|_| "the picture could not be encoded (too large?)")?;
    let buffer = JsFuture::from(blob.array_buffer()).await.map_err(|_| "the picture could not be read")?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Draws the export and returns it as PNG bytes.
pub async fn render(title: &str, figures: &[Figure], caption: &[String]) -> Result<Vec<u8>, String> {
    let (w, h) = size(figures.len(), caption.len());
    let (canvas, ctx) = canvas(w, h)?;
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, w as f64, h as f64);
    ctx.set_fill_style_str("#111111");
    ctx.set_font("600 20px system-ui, sans-serif");
    ctx.set_text_baseline("middle");
    let _ = ctx.fill_text(&fit(&ctx, title, (w - 2 * GAP) as f64), GAP as f64, TITLE as f64 / 2.0 + 2.0);
    ctx.set_image_smoothing_enabled(false);
    for (i, f) in figures.iter().enumerate() {
        let x = (GAP + i as u32 * (CELL + GAP)) as f64;
        let img = image(&f.png).await?;
        // Keep the picture's shape inside the square cell.
        let (iw, ih) = (img.natural_width().max(1) as f64, img.natural_height().max(1) as f64);
        let scale = (CELL as f64 / iw).min(CELL as f64 / ih);
        let (dw, dh) = (iw * scale, ih * scale);
        let (dx, dy) = (x + (CELL as f64 - dw) / 2.0, TITLE as f64 + (CELL as f64 - dh) / 2.0);
        ctx.draw_image_with_html_image_element_and_dw_and_dh(&img, dx, dy, dw, dh)
            .map_err(|_| "a picture could not be drawn")?;
        ctx.set_fill_style_str("#111111");
        ctx.set_font("600 15px system-ui, sans-serif");
        let _ = ctx.fill_text(&fit(&ctx, &f.label, CELL as f64), x, (TITLE + CELL) as f64 + 12.0);
        ctx.set_fill_style_str("#444444");
        ctx.set_font("13px system-ui, sans-serif");
        let _ = ctx.fill_text(&fit(&ctx, &f.detail, CELL as f64), x, (TITLE + CELL) as f64 + 32.0);
    }
    ctx.set_fill_style_str("#333333");
    ctx.set_font("13px ui-monospace, monospace");
    for (i, line) in caption.iter().enumerate() {
        let y = (TITLE + CELL + LABEL + i as u32 * LINE) as f64 + LINE as f64 / 2.0;
        let _ = ctx.fill_text(&fit(&ctx, line, (w - 2 * GAP) as f64), GAP as f64, y);
    }
    canvas_png(&canvas).await
}

/// Hands PNG bytes to the browser as a download named `file_name`.
pub fn download(png: &[u8], file_name: &str) -> Result<(), String> {
    let url = blob_url(png, "image/png")?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement =
        document.create_element("a").map_err(|_| "no link")?.dyn_into().map_err(|_| "no link")?;
    a.set_href(&url);
    a.set_download(file_name);
    a.click();
    // The browser has the file once the click is handled; free the URL a little later.
    gloo::timers::callback::Timeout::new(10_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

/// Renders and downloads in one go, reporting a failure through `on_error`.
pub fn export(
    title: String,
    figures: Vec<Figure>,
    caption: Vec<String>,
    file_name: String,
    on_error: yew::Callback<String>,
) {
    wasm_bindgen_futures::spawn_local(async move {
        match render(&title, &figures, &caption).await.and_then(|png| download(&png, &file_name)) {
            Ok(()) => {}
            Err(message) => on_error.emit(format!("export: {message}")),
        }
    });
}
