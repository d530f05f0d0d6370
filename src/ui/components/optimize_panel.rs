//! "Make an image": optimization over the image, live. Class-model visualization, feature
//! visualization of a channel, DeepDream and feature inversion of the shown photo; the image
//! forms step by step with the objective's chart, steps per second, stop, and a PNG download.

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::app_state::State;
use crate::protocol::{OPTIMIZE_KINDS, OptimizeJob};
use crate::ui::hooks::use_png_url;

#[derive(PartialEq, Properties)]
pub struct OptimizePanelProps {
    pub state: UseReducerHandle<State>,
    pub on_start: Callback<OptimizeJob>,
    pub on_stop: Callback<()>,
}

fn kind_title(kind: &str) -> &'static str {
    match kind {
        "class-vis" => "Class model: what the network thinks the class looks like",
        "feature-vis" => "Feature: what excites one channel",
        "deepdream" => "DeepDream the photo: amplify what a layer sees",
        "invert" => "Invert: rebuild the photo from one layer's code",
        _ => "?",
    }
}

/// The objective's values as an SVG polyline, scaled to the box.
fn chart(values: &[f32]) -> Html {
    if values.len() < 2 {
        return html! {};
    }
    let (lo, hi) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let span = (hi - lo).max(1e-6);
    let n = values.len() - 1;
    let points: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1} ", i as f32 * 200.0 / n as f32, 60.0 - (v - lo) / span * 56.0 - 2.0))
        .collect();
    html! {
        <svg class="chart" viewBox="0 0 200 60" role="img" aria-label={format!("objective from {lo:.3} to {hi:.3}")} data-testid="opt-chart">
            <polyline points={points} fill="none" stroke="#f5a524" stroke-width="1.5" />
        </svg>
    }
}

#[function_component(OptimizePanel)]
pub fn optimize_panel(props: &OptimizePanelProps) -> Html {
    let s = &*props.state;
    let job = use_state(|| OptimizeJob { steps: 64, ..OptimizeJob::default() });
    let started = use_mut_ref(|| 0.0f64);
    let url = use_png_url(s.optimization.as_ref().and_then(|o| o.png.clone()));
    let Some(model) = &s.model else { return html! {} };
    let top1 = s.shown.as_ref().and_then(|sh| sh.top5.first()).map(|p| p.index);
    let class = s.settings.class.or(top1).unwrap_or(0);
    let set = |f: fn(&mut OptimizeJob, String)| {
        let job = job.clone();
        Callback::from(move |e: Event| {
            let v = e.target_dyn_into::<HtmlSelectElement>().map(|s| s.value()).or_else(|| {
                e.target_dyn_into::<HtmlInputElement>()
                    .map(|i| if i.type_() == "checkbox" { i.checked().to_string() } else { i.value() })
            });
            if let Some(v) = v {
                let mut next = (*job).clone();
                f(&mut next, v);
                job.set(next);
            }
        })
    };
    let running = s.optimization.as_ref().is_some_and(|o| o.running);
    let start = {
        let on_start = props.on_start.clone();
        let job = (*job).clone();
        let started = started.clone();
        Callback::from(move |_| {
            *started.borrow_mut() = js_sys::Date::now();
            on_start.emit(OptimizeJob { class, ..job.clone() });
        })
    };
    let stop = {
        let on_stop = props.on_stop.clone();
        Callback::from(move |_| on_stop.emit(()))
    };
    let needs_layer = job.kind != "class-vis";
    let needs_photo = matches!(job.kind.as_str(), "deepdream" | "invert");
    let can_start = !running && (!needs_photo || s.shown.is_some());
    let status = s.optimization.as_ref().map(|o| {
        let done = o.values.len();
        let seconds = (js_sys::Date::now() - *started.borrow()) / 1000.0;
        let rate = if o.running && seconds > 0.0 { done as f64 / seconds } else { o.ms.map_or(0.0, |ms| done as f64 * 1000.0 / ms.max(1.0)) };
        html! {
            <div class="opt-status">
                <progress max={o.job.steps.to_string()} value={done.to_string()} data-testid="opt-progress"></progress>
                <span class="muted" data-testid="opt-steps" data-done={done.to_string()}>
                    {format!("step {done}/{} · {rate:.1} steps/s", o.job.steps)}
                    { o.values.last().map(|v| format!(" · objective {v:.3}")).unwrap_or_default() }
                    { if o.running { String::new() } else { o.ms.map(|ms| format!(" · done in {:.1} s", ms / 1000.0)).unwrap_or_else(|| " · stopped".into()) } }
                </span>
                { chart(&o.values) }
            </div>
        }
    });
    html! {
        <div class="optimize">
            <h2>{"Make an image"}</h2>
            <div class="explain-controls">
                <label>{"make "}
                    <select onchange={set(|j, v| j.kind = v)} data-testid="opt-kind">
                        { for OPTIMIZE_KINDS.iter().map(|k| html! { <option value={*k} selected={job.kind == *k}>{kind_title(k)}</option> }) }
                    </select>
                </label>
                if !needs_layer {
                    <span class="muted">{format!("class: {} (choose it under “Why this class?”)", s.class_label(class))}</span>
                } else {
                    <label>{"layer "}
                        <select onchange={set(|j, v| j.layer = v)} data-testid="opt-layer">
                            { for model.layers.iter().map(|l| html! { <option value={l.clone()} selected={job.layer == *l}>{l}</option> }) }
                        </select>
                    </label>
                }
                if job.kind == "feature-vis" {
                    <label>{"channel "}
                        <input type="number" class="num" min="0" value={job.channel.to_string()} onchange={set(|j, v| j.channel = v.parse().unwrap_or(j.channel))} data-testid="opt-channel" />
                    </label>
                }
                <label>{"steps "}
                    <input type="number" class="num" min="1" max="2000" value={job.steps.to_string()} onchange={set(|j, v| j.steps = v.parse().unwrap_or(j.steps).clamp(1, 2000))} data-testid="opt-steps-input" />
                </label>
                <label title="Lucid's decorrelated Fourier image: smoother, more natural colours">
                    <input type="checkbox" checked={job.fourier} onchange={set(|j, v| j.fourier = v == "true")} data-testid="opt-fourier" />
                    {" Fourier image"}
                </label>
            </div>
            <div class="explain-actions">
                <button class="method primary" onclick={start} disabled={!can_start} data-testid="opt-start">{"Go"}</button>
                if running {
                    <button class="method" onclick={stop} data-testid="opt-stop">{"Stop"}</button>
                }
                if needs_photo && s.shown.is_none() {
                    <span class="muted">{"pick a photo first"}</span>
                }
            </div>
            { for status }
            if let (Some(o), Some(u)) = (&s.optimization, &url) {
                <figure class="map opt-image">
                    <img src={u.clone()} alt={format!("{} image", o.job.kind)} data-testid="opt-image" data-steps={o.values.len().to_string()} />
                    <figcaption>
                        <a href={u.clone()} download={format!("convlens-{}.png", o.job.kind)} class="download">{"PNG"}</a>
                    </figcaption>
                </figure>
            }
        </div>
    }
}
