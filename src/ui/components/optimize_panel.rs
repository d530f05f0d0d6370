//! "Make an image": optimization over the image, live. Class-model and feature visualization
//! with presets, DeepDream with octaves, feature inversion (one layer, or every stage side by
//! side), neural style with sample or uploaded style images, and fooling images. Every run
//! shows its image forming, the objective's chart, steps per second, pause, stop and a PNG
//! download; the settings live in the URL.

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::app_state::{Optimization, STYLES, State};
use crate::protocol::{OPTIMIZE_KINDS, OPTIMIZE_PRESETS, OptimizeJob};
use crate::ui::export::Figure;
use crate::ui::hooks::use_png_url;

#[derive(PartialEq, Properties)]
pub struct OptimizePanelProps {
    pub state: UseReducerHandle<State>,
    /// The panel's settings changed.
    pub on_change: Callback<OptimizeJob>,
    /// Start these jobs one after another (usually one).
    pub on_start: Callback<Vec<OptimizeJob>>,
    pub on_pause: Callback<bool>,
    pub on_stop: Callback<()>,
    /// A sample style (path under `samples/`), or an uploaded one (name, bytes).
    pub on_style: Callback<(String, Option<Vec<u8>>)>,
    /// The uploaded style image's name, if any.
    pub uploaded_style: Option<String>,
    pub on_clear: Callback<()>,
}

fn kind_title(kind: &str) -> &'static str {
    match kind {
        "class-vis" => "Class model: what the network thinks the class looks like",
        "feature-vis" => "Feature: what excites one channel or neuron",
        "deepdream" => "DeepDream the photo: amplify what a layer sees",
        "invert" => "Invert: rebuild the photo from one layer's code",
        "style" => "Neural style: the photo painted in another image's style",
        "fool" => "Fool the network: a change you cannot see, another class",
        _ => "?",
    }
}

fn preset_title(preset: &str) -> &'static str {
    match preset {
        "default" => "default: total variation, jitter/scale/rotate, light blur",
        "cs231n" => "CS231n: L2 decay, jitter, blur",
        "yosinski" => "Yosinski et al.: decay, blur, clip weak pixels",
        "lucid" => "Lucid: decorrelated Fourier image",
        _ => "?",
    }
}

/// The stages an inversion series shows: the first convolution, then every other block.
fn stages(layers: &[String]) -> Vec<String> {
    let picked: Vec<String> = layers
        .iter()
        .filter(|l| {
            *l == "conv1" || ["fire3/concat", "fire5/concat", "fire7/concat", "fire9/concat"].contains(&l.as_str())
        })
        .cloned()
        .collect();
    if picked.len() >= 3 {
        return picked;
    }
    // Another model: five layers spread evenly.
    let n = layers.len();
    if n == 0 {
        return Vec::new();
    }
    (0..5).map(|i| layers[(i * (n.saturating_sub(1))) / 4].clone()).collect::<Vec<_>>()
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

/// A caption for a run: what it made, from what.
fn caption(job: &OptimizeJob, class_label: &str) -> String {
    match job.kind.as_str() {
        "class-vis" => format!("class {} ({class_label}) · {}", job.class, job.preset),
        "feature-vis" => {
            format!("{}:{}{} · {}", job.layer, job.channel, if job.neuron { " neuron" } else { "" }, job.preset)
        }
        "deepdream" => format!("DeepDream {} · {} octaves", job.layer, job.octaves),
        "invert" => format!("inverted from {}", job.layer),
        "style" => format!("style · weight {} · TV {}", job.style_weight, job.tv_weight),
        "fool" => format!("fooled towards {} ({class_label}) · ε {}/255", job.class, job.epsilon),
        _ => job.kind.clone(),
    }
}

#[derive(PartialEq, Properties)]
struct MadeProps {
    made: Optimization,
    caption: String,
}

/// One finished run in the row of results.
#[function_component(MadeFigure)]
fn made_figure(props: &MadeProps) -> Html {
    let url = use_png_url(props.made.png.clone());
    let Some(u) = url else { return html! {} };
    let o = &props.made;
    let seconds = o.ms.map(|ms| format!(" · {:.1} s", ms / 1000.0)).unwrap_or_default();
    html! {
        <figure class="map made" data-testid="made" data-kind={o.job.kind.clone()} data-layer={o.job.layer.clone()}>
            <img src={u.clone()} alt={props.caption.clone()} />
            <figcaption>
                <span>{format!("{}{seconds}", props.caption)}</span>
                <a href={u} download={format!("convlens-{}-{}.png", o.job.kind, o.id)} class="download">{"PNG"}</a>
            </figcaption>
        </figure>
    }
}

#[derive(PartialEq, Properties)]
struct VerdictProps {
    verdict: crate::app_state::Verdict,
    target_label: String,
}

/// A fooling image's verdict: the amplified difference and the network's new top-5.
#[function_component(VerdictView)]
fn verdict_view(props: &VerdictProps) -> Html {
    let v = &props.verdict;
    let url = use_png_url(v.difference.clone());
    html! {
        <div class="verdict" data-testid="fool-verdict" data-succeeded={v.succeeded.to_string()}>
            if let Some(u) = url {
                <figure class="map">
                    <img src={u.clone()} alt="the change, amplified" data-testid="fool-difference" />
                    <figcaption>{format!("the change ×{} (largest {}/255)", v.gain, v.linf)}</figcaption>
                </figure>
            }
            <div>
                <strong>{ if v.succeeded { format!("The network now sees “{}”", props.target_label) } else { format!("Not fooled into “{}” yet: raise ε or the steps", props.target_label) } }</strong>
                <ol class="top5" data-testid="fool-top5">
                    { for v.top5.iter().map(|p| html! { <li>{format!("{} · {:.1}%", p.label, p.prob * 100.0)}</li> }) }
                </ol>
            </div>
        </div>
    }
}

#[function_component(OptimizePanel)]
pub fn optimize_panel(props: &OptimizePanelProps) -> Html {
    let s = &*props.state;
    let job = s.settings.optimize.clone();
    let url = use_png_url(s.optimization.as_ref().and_then(|o| o.png.clone()));
    let Some(model) = &s.model else { return html! {} };
    // A change to the panel's settings: `f` edits the job with the control's value.
    let set = |f: fn(&mut OptimizeJob, String)| {
        let job = job.clone();
        let on_change = props.on_change.clone();
        Callback::from(move |e: Event| {
            let v = e.target_dyn_into::<HtmlSelectElement>().map(|s| s.value()).or_else(|| {
                e.target_dyn_into::<HtmlInputElement>()
                    .map(|i| if i.type_() == "checkbox" { i.checked().to_string() } else { i.value() })
            });
            if let Some(v) = v {
                let mut next = job.clone();
                f(&mut next, v);
                on_change.emit(next);
            }
        })
    };
    let light = s.backend == Some(crate::protocol::BackendKind::Cpu);
    let on_kind = {
        let job = job.clone();
        let on_change = props.on_change.clone();
        Callback::from(move |e: Event| {
            if let Some(v) = e.target_dyn_into::<HtmlSelectElement>().map(|s| s.value()) {
                let (steps, size) = OptimizeJob::defaults(&v, light);
                on_change.emit(OptimizeJob { steps, size, kind: v, ..job.clone() });
            }
        })
    };
    let on_class = {
        let job = job.clone();
        let on_change = props.on_change.clone();
        let labels = model.labels.clone();
        Callback::from(move |e: Event| {
            let Some(input) = e.target_dyn_into::<HtmlInputElement>() else { return };
            let v = input.value();
            let found =
                labels.iter().position(|l| *l == v).or_else(|| v.trim().parse().ok().filter(|k| *k < labels.len()));
            if let Some(class) = found {
                on_change.emit(OptimizeJob { class, ..job.clone() });
                input.set_value("");
            }
        })
    };
    let on_style_layers = {
        let job = job.clone();
        let on_change = props.on_change.clone();
        Callback::from(move |e: Event| {
            let Some(select) = e.target_dyn_into::<HtmlSelectElement>() else { return };
            let options = select.selected_options();
            let layers: Vec<String> = (0..options.length())
                .filter_map(|i| options.item(i))
                .filter_map(|o| o.get_attribute("value"))
                .collect();
            on_change.emit(OptimizeJob { style_layers: layers, ..job.clone() });
        })
    };
    let on_style_pick = {
        let on_style = props.on_style.clone();
        Callback::from(move |e: Event| {
            if let Some(v) = e.target_dyn_into::<HtmlSelectElement>().map(|s| s.value())
                && !v.is_empty()
            {
                on_style.emit((v, None));
            }
        })
    };
    let on_style_file = {
        let on_style = props.on_style.clone();
        Callback::from(move |e: Event| {
            let Some(input) = e.target_dyn_into::<HtmlInputElement>() else { return };
            let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
            let on_style = on_style.clone();
            let name = file.name();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(buffer) = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                    on_style.emit((name, Some(js_sys::Uint8Array::new(&buffer).to_vec())));
                }
            });
        })
    };
    let optimization = s.optimization.as_ref();
    let running = optimization.is_some_and(|o| o.running);
    let paused = optimization.is_some_and(|o| o.paused);
    let start = {
        let on_start = props.on_start.clone();
        let job = job.clone();
        Callback::from(move |_| {
            on_start.emit(vec![job.clone()]);
        })
    };
    let series = {
        let on_start = props.on_start.clone();
        let job = job.clone();
        let layers = stages(&model.layers);
        Callback::from(move |_| {
            on_start.emit(layers.iter().map(|l| OptimizeJob { layer: l.clone(), ..job.clone() }).collect());
        })
    };
    let pause = {
        let on_pause = props.on_pause.clone();
        Callback::from(move |_| on_pause.emit(!paused))
    };
    let stop = {
        let on_stop = props.on_stop.clone();
        Callback::from(move |_| on_stop.emit(()))
    };
    let clear = {
        let on_clear = props.on_clear.clone();
        Callback::from(move |_| on_clear.emit(()))
    };
    let kind = job.kind.as_str();
    let needs_photo = matches!(kind, "deepdream" | "invert" | "style" | "fool");
    let can_start = !running && s.queue.is_empty() && (!needs_photo || s.shown.is_some());
    let layer_select = |label: &str, testid: &str| {
        html! {
            <label>{label}
                <select onchange={set(|j, v| j.layer = v)} data-testid={testid.to_string()}>
                    { for model.layers.iter().map(|l| html! { <option value={l.clone()} selected={job.layer == *l}>{l}</option> }) }
                </select>
            </label>
        }
    };
    let size_input = html! {
        <label title="the long side of the picture, in pixels">{"size "}
            <input type="number" class="num" min="64" max="1024" step="32"
                   value={(if job.size == 0 { OptimizeJob::default_size(kind) } else { job.size }).to_string()}
                   onchange={set(|j, v| j.size = v.parse().unwrap_or(j.size).clamp(64, 1024))} data-testid="opt-size" />
        </label>
    };
    let class_picker = html! {
        <>
            <span class="muted" data-testid="opt-class">{format!("class {}: {}", job.class, s.class_label(job.class))}</span>
            <label>{"change "}
                <input type="search" list="opt-class-names" placeholder="search 1,000 names" onchange={on_class}
                       data-testid="opt-class-search" aria-label="choose the class by name" />
            </label>
            <super::ClassNames id="opt-class-names" labels={model.labels.clone()} />
        </>
    };
    let controls = match kind {
        "class-vis" | "feature-vis" => html! {
            <>
                if kind == "class-vis" { {class_picker.clone()} } else {
                    {layer_select("layer ", "opt-layer")}
                    <label>{"channel "}
                        <input type="number" class="num" min="0" value={job.channel.to_string()} onchange={set(|j, v| j.channel = v.parse().unwrap_or(j.channel))} data-testid="opt-channel" />
                    </label>
                    <label title="the channel's centre unit instead of its mean">
                        <input type="checkbox" checked={job.neuron} onchange={set(|j, v| j.neuron = v == "true")} data-testid="opt-neuron" />
                        {" one neuron"}
                    </label>
                }
                <label>{"recipe "}
                    <select onchange={set(|j, v| j.preset = v)} data-testid="opt-preset">
                        { for OPTIMIZE_PRESETS.iter().map(|p| html! { <option value={*p} selected={job.preset == *p}>{preset_title(p)}</option> }) }
                    </select>
                </label>
            </>
        },
        "deepdream" => html! {
            <>
                {layer_select("layer ", "opt-layer")}
                <label>{"octaves "}
                    <input type="number" class="num" min="1" max="8" value={job.octaves.to_string()} onchange={set(|j, v| j.octaves = v.parse().unwrap_or(j.octaves).clamp(1, 8))} data-testid="opt-octaves" />
                </label>
                {size_input.clone()}
            </>
        },
        "invert" => layer_select("layer ", "opt-layer"),
        "style" => html! {
            <>
                <label>{"style "}
                    <select onchange={on_style_pick} data-testid="opt-style">
                        { for STYLES.iter().map(|(f, name)| html! { <option value={*f} selected={s.settings.style == *f}>{*name}</option> }) }
                        if let Some(name) = &props.uploaded_style {
                            <option value="" selected={s.settings.style.is_empty()}>{format!("uploaded: {name}")}</option>
                        }
                    </select>
                </label>
                <label class="file">{"or upload "}
                    <input type="file" accept="image/*" onchange={on_style_file} data-testid="opt-style-file" />
                </label>
                {layer_select("content layer ", "opt-layer")}
                <label>{"style layers "}
                    <select multiple=true size="3" onchange={on_style_layers} data-testid="opt-style-layers">
                        { for model.layers.iter().map(|l| html! { <option value={l.clone()} selected={job.style_layers.contains(l)}>{l}</option> }) }
                    </select>
                </label>
                <label>{"style weight "}
                    <input type="number" class="num" min="0" step="0.5" value={job.style_weight.to_string()} onchange={set(|j, v| j.style_weight = v.parse().ok().filter(|w: &f32| w.is_finite() && *w >= 0.0).unwrap_or(j.style_weight))} data-testid="opt-style-weight" />
                </label>
                <label>{"smoothness (TV) "}
                    <input type="number" class="num" min="0" step="0.5" value={job.tv_weight.to_string()} onchange={set(|j, v| j.tv_weight = v.parse().ok().filter(|w: &f32| w.is_finite() && *w >= 0.0).unwrap_or(j.tv_weight))} data-testid="opt-tv-weight" />
                </label>
                {size_input.clone()}
            </>
        },
        "fool" => html! {
            <>
                {class_picker.clone()}
                <label title="the most any pixel may change, in 1/255 steps">{"ε "}
                    <select onchange={set(|j, v| j.epsilon = v.parse().unwrap_or(j.epsilon))} data-testid="opt-epsilon">
                        { for [1u32, 2, 4, 8, 16].iter().map(|e| html! { <option value={e.to_string()} selected={job.epsilon == *e}>{format!("{e}/255")}</option> }) }
                    </select>
                </label>
            </>
        },
        _ => html! {},
    };
    let status = optimization.map(|o| {
        let done = o.values.len();
        let ms = o.ms.unwrap_or(o.elapsed_ms);
        let rate = if ms > 0.0 { done as f64 * 1000.0 / ms } else { 0.0 };
        let state = if o.paused {
            " · paused".to_string()
        } else if o.running {
            String::new()
        } else {
            o.ms.map(|ms| format!(" · done in {:.1} s", ms / 1000.0)).unwrap_or_else(|| " · stopped".into())
        };
        let terms: Vec<String> = o.terms.iter().map(|(n, v)| format!("{n} {v:.3}")).collect();
        html! {
            <div class="opt-status">
                <progress max={o.job.steps.to_string()} value={done.to_string()} data-testid="opt-progress"></progress>
                <span class="muted" data-testid="opt-steps" data-done={done.to_string()} data-id={o.id.to_string()}
                      data-running={o.running.to_string()}>
                    {format!("step {done}/{} · {rate:.1} steps/s", o.job.steps)}
                    { o.values.last().map(|v| format!(" · objective {v:.3}")).unwrap_or_default() }
                    {state}
                </span>
                { chart(&o.values) }
                if terms.len() > 1 {
                    <span class="muted terms">{terms.join(" · ")}</span>
                }
            </div>
        }
    });
    let queued = s.queue.len();
    let export_made = {
        let state = props.state.clone();
        Callback::from(move |_: MouseEvent| {
            let s = &*state;
            let figures: Vec<Figure> = s
                .made
                .iter()
                .filter_map(|m| {
                    Some(Figure {
                        png: m.png.clone()?,
                        label: caption(&m.job, &s.class_label(m.job.class)),
                        detail: format!(
                            "{} steps{}",
                            m.values.len(),
                            m.ms.map(|ms| format!(" · {:.1} s", ms / 1000.0)).unwrap_or_default()
                        ),
                    })
                })
                .collect();
            let opt: Vec<String> = s.settings.optimize.to_query().iter().map(|(k, v)| format!("{k}={v}")).collect();
            let caption = vec![
                format!(
                    "model: {} · backend: {} · photo: {}",
                    s.model.as_ref().map_or("", |m| m.name.as_str()),
                    s.backend.map_or("", |b| b.as_str()),
                    s.shown.as_ref().map_or("none", |p| p.source.as_str())
                ),
                format!("settings: {}", opt.join(" · ")),
                "made by optimizing the pixels (newest first); each picture's recipe is under it".into(),
            ];
            let dispatch = state.dispatcher();
            crate::ui::export::export(
                "Made by convlens: images the network responds to".into(),
                figures,
                caption,
                "convlens-made.png".into(),
                Callback::from(move |m: String| dispatch.dispatch(crate::app_state::Action::PageError(m))),
            );
        })
    };
    html! {
        <div class="optimize">
            <h2>{"Make an image"}</h2>
            <super::SeeingNote text={crate::lecture::panel_note("optimize")} />
            if light {
                <p class="muted" data-testid="opt-light">
                    {"On the CPU: lighter defaults (fewer steps, a smaller picture for DeepDream and style), so a run takes seconds. Raise them below for finer pictures."}
                </p>
            }
            <div class="explain-controls">
                <label>{"make "}
                    <select onchange={on_kind} data-testid="opt-kind">
                        { for OPTIMIZE_KINDS.iter().map(|k| html! { <option value={*k} selected={kind == *k}>{kind_title(k)}</option> }) }
                    </select>
                </label>
                {controls}
                <label>{ if kind == "fool" { "at most " } else { "steps " } }
                    <input type="number" class="num" min="1" max="2000" value={job.steps.to_string()} onchange={set(|j, v| j.steps = v.parse().unwrap_or(j.steps).clamp(1, 2000))} data-testid="opt-steps-input" />
                </label>
                <label title="random seed: noise, jitter and the like">{"seed "}
                    <input type="number" class="num" min="0" value={job.seed.to_string()} onchange={set(|j, v| j.seed = v.parse().unwrap_or(j.seed))} data-testid="opt-seed" />
                </label>
            </div>
            <div class="explain-actions">
                <button class="method primary" onclick={start} disabled={!can_start} data-testid="opt-start">{"Go"}</button>
                if kind == "invert" {
                    <button class="method" onclick={series} disabled={!can_start} data-testid="opt-series"
                            title="invert from several layers, one after another, to see the picture blur deeper in the network">{"Invert at every stage"}</button>
                }
                if running {
                    <button class="method" onclick={pause} data-testid="opt-pause">{ if paused { "Resume" } else { "Pause" } }</button>
                    <button class="method" onclick={stop} data-testid="opt-stop">{"Stop"}</button>
                }
                if queued > 0 {
                    <span class="muted">{format!("{queued} more queued")}</span>
                }
                if needs_photo && s.shown.is_none() {
                    <span class="muted">{"pick a photo first"}</span>
                }
            </div>
            // (A fragment: the panel's children keep their count when the status first shows,
            // as in the explain panel.)
            <>{ for status }</>
            if let (Some(o), Some(u)) = (optimization, &url) {
                <div class="opt-result">
                    <figure class="map opt-image">
                        <img src={u.clone()} alt={format!("{} image", o.job.kind)} data-testid="opt-image" data-steps={o.values.len().to_string()} />
                        <figcaption>
                            <span>{caption(&o.job, &s.class_label(o.job.class))}</span>
                            <a href={u.clone()} download={format!("convlens-{}.png", o.job.kind)} class="download" data-testid="opt-download">{"PNG"}</a>
                        </figcaption>
                    </figure>
                    if let Some(v) = &o.fooled {
                        <VerdictView verdict={v.clone()} target_label={s.class_label(v.target)} />
                    }
                </div>
            }
            if !s.made.is_empty() {
                <div class="made-row">
                    <div class="gallery-head">
                        <span class="muted">{"Finished, newest first"}</span>
                        <button class="method" onclick={export_made} data-testid="export-made"
                                title="every finished picture side by side, labelled, with the settings as a caption">
                            {"Export as one PNG"}
                        </button>
                        <button class="method" onclick={clear} data-testid="made-clear">{"Clear"}</button>
                    </div>
                    <div class="gallery" data-testid="made-gallery">
                        { for s.made.iter().map(|m| html! { <MadeFigure key={m.id} made={m.clone()} caption={caption(&m.job, &s.class_label(m.job.class))} /> }) }
                    </div>
                </div>
            }
        </div>
    }
}
