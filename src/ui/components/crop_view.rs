//! Shows the centre crop the network actually saw and, when switched on, the live occluder: a
//! square to drag (mouse, touch or arrow keys; +/− resize) while the class probability updates.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::app_state::{Probe, Shown};
use crate::protocol::Fill;
use crate::ui::hooks::use_png_url;

#[derive(PartialEq, Properties)]
pub struct CropViewProps {
    pub shown: Option<Shown>,
    /// The crop's side in pixels (the model's input size).
    pub side: u32,
    pub occluder: bool,
    pub probe: Option<Probe>,
    /// The occluder's side in crop pixels.
    pub size: u32,
    /// The class whose probability the occluder reports.
    pub class_label: String,
    pub on_toggle: Callback<bool>,
    /// The square moved: top-left x, y and side, in crop pixels.
    pub on_move: Callback<[u32; 3]>,
    pub on_size: Callback<u32>,
    /// What the square shows (the same fill as occlusion sweeps).
    pub fill: Fill,
    pub on_fill: Callback<Fill>,
}

/// The square of side `size` centred at `(cx, cy)`, kept inside a `side`-pixel crop: top-left x,
/// y and side.
fn square_at((cx, cy): (u32, u32), size: u32, side: u32) -> [u32; 3] {
    let half = size / 2;
    [cx.saturating_sub(half).min(side - size), cy.saturating_sub(half).min(side - size), size]
}

#[function_component(CropView)]
pub fn crop_view(props: &CropViewProps) -> Html {
    let url = use_png_url(props.shown.as_ref().map(|s| s.crop_png.clone()));
    let side = props.side.max(1);
    let size = props.size.clamp(4, side);
    // The square's centre in crop pixels, and whether a pointer is dragging it.
    let centre = use_state(|| (side / 2, side / 2));
    let dragging = use_mut_ref(|| false);
    // Ask again for the square where it is, after this render, when the fill changes (so with
    // the new fill) or a new picture comes under it (the camera's live frames, another photo), so
    // its probability follows.
    {
        let (on_move, centre, on) = (props.on_move.clone(), *centre, props.occluder);
        let picture = props.shown.as_ref().map(|s| Rc::as_ptr(&s.crop_png) as usize);
        use_effect_with((props.fill, picture), move |_| {
            if on {
                on_move.emit(square_at(centre, size, side));
            }
        });
    }
    let (Some(u), Some(s)) = (&url, &props.shown) else {
        return html! { <figure class="crop empty"><div class="placeholder">{"no image yet"}</div></figure> };
    };
    let place = {
        let centre = centre.clone();
        let on_move = props.on_move.clone();
        move |c: (u32, u32), size: u32| {
            let c = (c.0.min(side - 1), c.1.min(side - 1));
            centre.set(c);
            on_move.emit(square_at(c, size, side));
        }
    };
    // Pointer position in crop pixels (the image may be drawn larger or smaller than the crop).
    let at = move |e: &PointerEvent| -> Option<(u32, u32)> {
        let el: web_sys::Element = e.target()?.dyn_into().ok()?;
        let w = el.client_width().max(1) as f64;
        let scale = side as f64 / w;
        Some(((e.offset_x().max(0) as f64 * scale) as u32, (e.offset_y().max(0) as f64 * scale) as u32))
    };
    let on_down = {
        let place = place.clone();
        let dragging = dragging.clone();
        Callback::from(move |e: PointerEvent| {
            if let Some(el) = e.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
                let _ = el.set_pointer_capture(e.pointer_id());
            }
            *dragging.borrow_mut() = true;
            if let Some(c) = at(&e) {
                place(c, size);
            }
        })
    };
    let on_pointer_move = {
        let place = place.clone();
        let dragging = dragging.clone();
        Callback::from(move |e: PointerEvent| {
            if *dragging.borrow()
                && let Some(c) = at(&e)
            {
                place(c, size);
            }
        })
    };
    let on_up = {
        let dragging = dragging.clone();
        Callback::from(move |_: PointerEvent| *dragging.borrow_mut() = false)
    };
    let on_key = {
        let place = place.clone();
        let (cx, cy) = *centre;
        let on_size = props.on_size.clone();
        let on_toggle = props.on_toggle.clone();
        Callback::from(move |e: KeyboardEvent| {
            let step = if e.shift_key() { 16 } else { 4 };
            let moved = match e.key().as_str() {
                "ArrowLeft" => Some((cx.saturating_sub(step), cy)),
                "ArrowRight" => Some((cx + step, cy)),
                "ArrowUp" => Some((cx, cy.saturating_sub(step))),
                "ArrowDown" => Some((cx, cy + step)),
                _ => None,
            };
            match (moved, e.key().as_str()) {
                (Some(c), _) => place(c, size),
                (None, "+" | "=") => on_size.emit((size + 8).min(side)),
                (None, "-" | "_") => on_size.emit(size.saturating_sub(8).max(8)),
                (None, "Escape") => on_toggle.emit(false),
                _ => return,
            }
            e.prevent_default();
        })
    };
    let toggle = {
        let on_toggle = props.on_toggle.clone();
        let on = props.occluder;
        let place = place.clone();
        let c = *centre;
        Callback::from(move |_| {
            on_toggle.emit(!on);
            if !on {
                place(c, size);
            }
        })
    };
    let on_size_input = {
        let place = place.clone();
        let on_size = props.on_size.clone();
        let c = *centre;
        Callback::from(move |e: Event| {
            if let Some(v) =
                e.target_dyn_into::<web_sys::HtmlInputElement>().and_then(|i| i.value().parse::<u32>().ok())
            {
                let v = v.clamp(8, side);
                on_size.emit(v);
                place(c, v);
            }
        })
    };
    let on_fill = {
        let on_fill = props.on_fill.clone();
        Callback::from(move |e: Event| {
            if let Some(f) =
                e.target_dyn_into::<web_sys::HtmlSelectElement>().and_then(|s| Fill::parse(&s.value()).ok())
            {
                on_fill.emit(f);
            }
        })
    };
    let [x, y, _] = square_at(*centre, size, side);
    let pct = |v: u32| format!("{:.3}%", v as f64 * 100.0 / side as f64);
    let current = props.probe.as_ref().filter(|p| p.x == x && p.y == y && p.size == size);
    let readout = match (&props.probe, current) {
        (_, Some(p)) => format!("p({}) = {:.1}%", props.class_label, p.prob * 100.0),
        (Some(p), None) => format!("p({}) ≈ {:.1}% …", props.class_label, p.prob * 100.0),
        (None, None) => format!("p({}) …", props.class_label),
    };
    html! {
        <figure class="crop">
            <div class={classes!("stage", props.occluder.then_some("occluding"))} tabindex="0"
                 aria-label="the crop; with the occluder on, drag or use the arrow keys to move the square, + and − to resize"
                 onkeydown={on_key} data-testid="crop-stage">
                <img src={u.clone()} alt={format!("centre crop of {}", s.source)} data-testid="crop" draggable="false"
                     onpointerdown={props.occluder.then_some(on_down)}
                     onpointermove={props.occluder.then_some(on_pointer_move)}
                     onpointerup={props.occluder.then_some(on_up.clone())}
                     onpointercancel={props.occluder.then_some(on_up)} />
                if props.occluder {
                    <div class="occluder" data-testid="occluder" data-x={x.to_string()} data-y={y.to_string()}
                         style={format!("left:{};top:{};width:{};height:{}", pct(x), pct(y), pct(size), pct(size))}></div>
                    <div class="occluder-readout" data-testid="occluder-prob"
                         data-prob={current.map(|p| p.prob.to_string()).unwrap_or_default()}
                         data-ms={current.map(|p| p.ms.to_string()).unwrap_or_default()}
                         style={format!("left:{};top:{}", pct(x), pct((y + size).min(side - 12)))}>{readout}</div>
                }
            </div>
            <figcaption>
                <span data-testid="crop-source">{&s.source}</span>
                <button class={classes!("method", props.occluder.then_some("primary"))} onclick={toggle}
                        aria-pressed={props.occluder.to_string()} data-testid="occluder-toggle">
                    { if props.occluder { "Occluder on" } else { "Live occluder" } }
                </button>
                if props.occluder {
                    <label>{"square "}
                        <input type="range" min="8" max={side.to_string()} step="4" value={size.to_string()}
                               onchange={on_size_input} aria-label="occluder size in pixels" data-testid="occluder-size" />
                        {format!(" {size} px")}
                    </label>
                    <label>{"fill "}
                        <select onchange={on_fill} data-testid="occluder-fill" aria-label="what the square shows">
                            { for ["grey", "zero", "mean", "blur"].iter().map(|f| html! {
                                <option value={*f} selected={props.fill.name() == *f}>{*f}</option>
                            }) }
                        </select>
                    </label>
                    if let Some(p) = &props.probe {
                        <span class="muted">{format!(" {:.0} ms per update", p.ms)}</span>
                    }
                }
            </figcaption>
        </figure>
    }
}
