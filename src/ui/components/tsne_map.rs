//! The t-SNE map on a canvas: class-coloured dots or thumbnails, wheel to zoom about the
//! pointer, drag to pan, hover to see an image and its class; the user's image is ringed.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlImageElement};
use yew::prelude::*;

#[derive(PartialEq, Properties)]
pub struct TsneMapProps {
    /// `n × 2` positions.
    pub points: Rc<Vec<f32>>,
    pub labels: Option<Rc<Vec<usize>>>,
    pub classes: Rc<Vec<String>>,
    pub sources: Rc<Vec<String>>,
    /// All thumbnails in one image (`columns` per row, `thumb` px each).
    pub thumbnails: Option<String>,
    pub thumb: u32,
    pub columns: usize,
    pub you: Option<[f32; 2]>,
}

const SIZE: f64 = 640.0;

/// Tableau 10, as on the CLI's map.
const COLOURS: [&str; 10] =
    ["#4e79a7", "#f28e2c", "#e15759", "#76b7b2", "#59a14f", "#edc949", "#af7aa1", "#ff9da7", "#9c755f", "#bab0ab"];

/// Data space → canvas: the points' bounding box fitted into the canvas, then zoom and pan.
#[derive(Clone, Copy, PartialEq)]
struct View {
    zoom: f64,
    pan: [f64; 2],
}

fn bounds(points: &[f32], you: Option<[f32; 2]>) -> ([f64; 2], f64) {
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in points.chunks_exact(2).map(|p| [p[0], p[1]]).chain(you) {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a] as f64);
            hi[a] = hi[a].max(p[a] as f64);
        }
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-6);
    ([(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0], span)
}

fn to_canvas(p: [f32; 2], centre: [f64; 2], span: f64, v: View) -> [f64; 2] {
    let scale = (SIZE - 60.0) / span * v.zoom;
    [0, 1].map(|a| SIZE / 2.0 + (p[a] as f64 - centre[a]) * scale + v.pan[a])
}

fn draw(canvas: &HtmlCanvasElement, props: &TsneMapProps, image: Option<&HtmlImageElement>, v: View, thumbs: bool) {
    let Some(ctx) = canvas.get_context("2d").ok().flatten().and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, SIZE, SIZE);
    let (centre, span) = bounds(&props.points, props.you);
    let t = props.thumb as f64;
    let shown = (t * v.zoom.sqrt()).clamp(10.0, 64.0);
    for (i, p) in props.points.chunks_exact(2).enumerate() {
        let [x, y] = to_canvas([p[0], p[1]], centre, span, v);
        if !(-shown..SIZE + shown).contains(&x) || !(-shown..SIZE + shown).contains(&y) {
            continue;
        }
        match image.filter(|_| thumbs) {
            Some(img) => {
                let (sx, sy) = ((i % props.columns) as f64 * t, (i / props.columns) as f64 * t);
                let _ = ctx.draw_image_with_html_image_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
                    img,
                    sx,
                    sy,
                    t,
                    t,
                    x - shown / 2.0,
                    y - shown / 2.0,
                    shown,
                    shown,
                );
            }
            None => {
                let colour = props.labels.as_ref().and_then(|l| l.get(i)).map_or("#555555", |&l| COLOURS[l % 10]);
                ctx.set_fill_style_str(colour);
                ctx.begin_path();
                let _ = ctx.arc(x, y, 3.0, 0.0, std::f64::consts::TAU);
                ctx.fill();
            }
        }
    }
    if let Some(you) = props.you {
        let [x, y] = to_canvas(you, centre, span, v);
        ctx.set_stroke_style_str("#000000");
        ctx.set_line_width(3.0);
        ctx.begin_path();
        let _ = ctx.arc(x, y, 11.0, 0.0, std::f64::consts::TAU);
        ctx.stroke();
    }
}

#[function_component(TsneMap)]
pub fn tsne_map(props: &TsneMapProps) -> Html {
    let canvas = use_node_ref();
    let view = use_state(|| View { zoom: 1.0, pan: [0.0, 0.0] });
    // Labelled sets read best as coloured dots, the user's own pictures as thumbnails.
    let thumbs = use_state(|| props.labels.is_none());
    let drag = use_mut_ref(|| None::<[f64; 2]>);
    let hover = use_state(|| None::<usize>);
    let image = use_mut_ref(|| None::<HtmlImageElement>);
    let loaded = use_state(|| 0u32);

    // Load the thumbnails once per dataset; redraw when they arrive.
    {
        let image = image.clone();
        let loaded = loaded.clone();
        use_effect_with(props.thumbnails.clone(), move |url| {
            if let (Some(url), Ok(img)) = (url, HtmlImageElement::new()) {
                let onload = Closure::<dyn FnMut()>::new(move || loaded.set(*loaded + 1));
                img.set_onload(Some(onload.as_ref().unchecked_ref()));
                onload.forget();
                img.set_src(url);
                *image.borrow_mut() = Some(img);
            }
        });
    }
    {
        let canvas = canvas.clone();
        let image = image.clone();
        let deps = (props.points.clone(), props.you, *view, *thumbs, *loaded);
        let snapshot = TsneMapProps {
            points: props.points.clone(),
            labels: props.labels.clone(),
            classes: props.classes.clone(),
            sources: props.sources.clone(),
            thumbnails: props.thumbnails.clone(),
            thumb: props.thumb,
            columns: props.columns,
            you: props.you,
        };
        use_effect_with(deps, move |(_, _, v, thumbs, _)| {
            if let Some(c) = canvas.cast::<HtmlCanvasElement>() {
                let img = image.borrow();
                let ready = img.as_ref().filter(|i| i.complete() && i.natural_width() > 0);
                draw(&c, &snapshot, ready, *v, *thumbs);
            }
        });
    }
    let at = |e: &MouseEvent| -> [f64; 2] {
        let c: HtmlCanvasElement = e.target_unchecked_into();
        let scale = SIZE / c.client_width().max(1) as f64;
        [e.offset_x() as f64 * scale, e.offset_y() as f64 * scale]
    };
    let onwheel = {
        let view = view.clone();
        Callback::from(move |e: WheelEvent| {
            e.prevent_default();
            let c: HtmlCanvasElement = e.target_unchecked_into();
            let scale = SIZE / c.client_width().max(1) as f64;
            let p = [e.offset_x() as f64 * scale, e.offset_y() as f64 * scale];
            let factor = if e.delta_y() < 0.0 { 1.25 } else { 0.8 };
            let zoom = (view.zoom * factor).clamp(0.5, 40.0);
            let f = zoom / view.zoom;
            // Keep the point under the pointer where it is.
            let pan = [0, 1].map(|a| (p[a] - SIZE / 2.0) * (1.0 - f) + view.pan[a] * f);
            view.set(View { zoom, pan });
        })
    };
    let onmousedown = {
        let drag = drag.clone();
        Callback::from(move |e: MouseEvent| *drag.borrow_mut() = Some(at(&e)))
    };
    let onmouseup = {
        let drag = drag.clone();
        Callback::from(move |_: MouseEvent| *drag.borrow_mut() = None)
    };
    let onmousemove = {
        let (drag, view, hover) = (drag.clone(), view.clone(), hover.clone());
        let points = props.points.clone();
        let you = props.you;
        Callback::from(move |e: MouseEvent| {
            let p = at(&e);
            let last = *drag.borrow();
            if let Some(last) = last.filter(|_| e.buttons() & 1 == 1) {
                *drag.borrow_mut() = Some(p);
                view.set(View { zoom: view.zoom, pan: [view.pan[0] + p[0] - last[0], view.pan[1] + p[1] - last[1]] });
                return;
            }
            let (centre, span) = bounds(&points, you);
            let best = points
                .chunks_exact(2)
                .enumerate()
                .map(|(i, q)| {
                    let c = to_canvas([q[0], q[1]], centre, span, *view);
                    (i, (c[0] - p[0]).powi(2) + (c[1] - p[1]).powi(2))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .filter(|(_, d)| *d < 100.0)
                .map(|(i, _)| i);
            if best != *hover {
                hover.set(best);
            }
        })
    };
    let toggle = {
        let thumbs = thumbs.clone();
        Callback::from(move |_| thumbs.set(!*thumbs))
    };
    let reset = {
        let view = view.clone();
        Callback::from(move |_| view.set(View { zoom: 1.0, pan: [0.0, 0.0] }))
    };
    let tip = hover.and_then(|i| {
        let url = props.thumbnails.clone()?;
        let t = props.thumb as usize;
        let (sx, sy) = ((i % props.columns) * t, (i / props.columns) * t);
        let label =
            props.labels.as_ref().and_then(|l| l.get(i)).and_then(|&l| props.classes.get(l)).cloned().unwrap_or_default();
        let source = props.sources.get(i).cloned().unwrap_or_default();
        let style = format!(
            "width:{t}px;height:{t}px;background-image:url({url});background-position:-{sx}px -{sy}px;transform:scale({});transform-origin:0 0",
            (64.0 / t as f64).max(1.0)
        );
        Some(html! {
            <div class="tsne-tip" data-testid="tsne-hover">
                <div class="tsne-thumb"><div {style}></div></div>
                <span>{format!("#{i} {source}")}<br /><strong>{label}</strong></span>
            </div>
        })
    });
    let legend = props.labels.as_ref().map(|_| {
        html! {
            <ul class="tsne-legend">
                { for props.classes.iter().enumerate().map(|(k, name)| html! {
                    <li><span class="swatch" style={format!("background:{}", COLOURS[k % 10])}></span>{name}</li>
                }) }
            </ul>
        }
    });
    html! {
        <div class="tsne">
            <canvas ref={canvas} width={SIZE.to_string()} height={SIZE.to_string()} class="tsne-canvas" data-testid="tsne-canvas"
                    {onwheel} {onmousedown} {onmouseup} {onmousemove} />
            <div class="tsne-side">
                <button onclick={toggle} data-testid="tsne-thumbnails">{if *thumbs { "Show dots" } else { "Show thumbnails" }}</button>
                <button onclick={reset}>{"Reset view"}</button>
                <p class="muted">{"Wheel: zoom. Drag: pan. The black ring is your image."}</p>
                {tip.unwrap_or_default()}
                {legend.unwrap_or_default()}
            </div>
        </div>
    }
}
