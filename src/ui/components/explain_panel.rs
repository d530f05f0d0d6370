//! "Why this class?": choose a method, a target (a class, or a neuron of any layer) and the
//! method's parameters; run it, or the lecture's side-by-side of the three gradient maps.
//! Finished maps collect in a gallery of figures.

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::MapFigure;
use crate::app_state::{Settings, State};
use crate::protocol::{Colormap, Fill, METHOD_NAMES, View};
use crate::ui::export::Figure;

#[derive(PartialEq, Properties)]
pub struct ExplainPanelProps {
    pub state: UseReducerHandle<State>,
    /// New settings (the page keeps them in state and in the URL).
    pub on_settings: Callback<Settings>,
    /// Run these methods with the current settings (one map each), optionally in another view.
    pub on_explain: Callback<(Vec<String>, Option<View>)>,
    pub on_cancel: Callback<()>,
    pub on_clear: Callback<()>,
}

pub fn method_title(name: &str) -> &'static str {
    match name {
        "saliency" => "Saliency (vanilla backprop)",
        "guided-backprop" => "Guided backprop",
        "deconvnet" => "Deconvnet",
        "smoothgrad" => "SmoothGrad",
        "integrated-gradients" => "Integrated Gradients",
        "grad-cam" => "Grad-CAM",
        "guided-grad-cam" => "Guided Grad-CAM",
        "occlusion" => "Occlusion sweep",
        _ => "?",
    }
}

pub fn method_help(name: &str) -> &'static str {
    match name {
        "saliency" => {
            "The gradient of the score with respect to each pixel: which pixels, changed a little, move the score most."
        }
        "guided-backprop" => {
            "Backprop where every ReLU also blocks negative gradients: sharp pictures of the features that excite the target."
        }
        "deconvnet" => "Zeiler & Fergus' deconvnet: ReLUs pass only positive gradients, ignoring the forward pass.",
        "smoothgrad" => "A gradient map averaged over noisy copies of the image: less speckle, same idea.",
        "integrated-gradients" => {
            "Gradients averaged along the path from a plain image to this one; the map adds up to the score difference."
        }
        "grad-cam" => {
            "Where a convolutional layer's evidence for the target sits: channels weighted by their mean gradient."
        }
        "guided-grad-cam" => "Guided backprop masked by Grad-CAM: fine detail, but only where the class is.",
        "occlusion" => {
            "A square slid over the image: red where hiding it lowers the probability, blue where it raises it."
        }
        _ => "",
    }
}

fn select_value(e: &Event) -> Option<String> {
    e.target_dyn_into::<HtmlSelectElement>().map(|s| s.value())
}

fn input_value(e: &Event) -> Option<String> {
    e.target_dyn_into::<HtmlInputElement>().map(|s| s.value())
}

#[function_component(ExplainPanel)]
pub fn explain_panel(props: &ExplainPanelProps) -> Html {
    let s = &*props.state;
    let Some(shown) = &s.shown else { return html! {} };
    let Some(top1) = shown.top5.first().map(|p| p.index) else { return html! {} };
    let settings = &s.settings;
    let labels = s.model.as_ref().map(|m| m.labels.clone()).unwrap_or_default();
    let layers: Vec<String> = s.model.as_ref().map(|m| m.layers.clone()).unwrap_or_default();

    // One helper per kind of control: read the event, change a copy of the settings, emit.
    let change = |f: fn(&mut Settings, String)| {
        let on = props.on_settings.clone();
        let current = settings.clone();
        Callback::from(move |e: Event| {
            if let Some(v) = select_value(&e).or_else(|| input_value(&e)) {
                let mut next = current.clone();
                f(&mut next, v);
                on.emit(next);
            }
        })
    };
    let number = |label: &str, value: String, step: &str, testid: &str, f: fn(&mut Settings, String)| {
        html! {
            <label>{format!("{label} ")}
                <input type="number" class="num" value={value} step={step.to_string()} min="0"
                       onchange={change(f)} data-testid={testid.to_string()} />
            </label>
        }
    };
    let p = &settings.params;
    let cores = html! {
        <label title="on the CPU backend, helper workers on the other processor cores each take a share of the run (the map is the same)">
            {"cores "}
            <select onchange={change(|s, v| s.params.parallel = (v == "false").then_some(false))}
                    data-testid="param-parallel">
                <option value="" selected={p.parallel != Some(false)}>{"all"}</option>
                <option value="false" selected={p.parallel == Some(false)}>{"one"}</option>
            </select>
        </label>
    };
    let params = match settings.method.as_str() {
        "occlusion" => html! { <>
            { number("window", p.window.to_string(), "1", "param-window", |s, v| s.params.window = v.parse().unwrap_or(s.params.window).clamp(1, 1024)) }
            { number("stride", p.stride.to_string(), "1", "param-stride", |s, v| s.params.stride = v.parse().unwrap_or(s.params.stride).clamp(1, 1024)) }
            <label>{"fill "}
                <select onchange={change(|s, v| s.params.fill = Fill::parse(&v).unwrap_or(s.params.fill))} data-testid="param-fill">
                    { for ["grey", "zero", "mean", "blur"].iter().map(|f| html! {
                        <option value={*f} selected={p.fill.name() == *f}>{*f}</option>
                    }) }
                </select>
            </label>
            <label title="incremental: recompute only what each square can reach, layer by layer (faster on the CPU); approximate: incremental, but each layer recomputes at most the square's share of the image plus 30% of its sides around the square, the rest keeps the unoccluded image's values (faster again; a close map, not an equal one); whole images: every occluded image through the whole network (faster on a GPU)">
                {"sweep "}
                <select onchange={change(|s, v| {
                            (s.params.incremental, s.params.approximate) = match v.as_str() {
                                "true" => (Some(true), None),
                                "approximate" => (Some(true), Some(crate::protocol::APPROXIMATE_MARGIN)),
                                "false" => (Some(false), None),
                                _ => (None, None),
                            }
                        })}
                        data-testid="param-incremental">
                    <option value="" selected={p.incremental.is_none()}>{"best for this device"}</option>
                    <option value="true" selected={p.incremental == Some(true) && p.approximate.is_none()}>{"incremental"}</option>
                    <option value="approximate" selected={p.incremental != Some(false) && p.approximate.is_some()}>{"incremental, approximate"}</option>
                    <option value="false" selected={p.incremental == Some(false)}>{"whole images"}</option>
                </select>
            </label>
            { cores.clone() }
        </> },
        "smoothgrad" => html! { <>
            { number("samples", p.samples.to_string(), "1", "param-samples", |s, v| s.params.samples = v.parse().unwrap_or(s.params.samples).clamp(1, 256)) }
            { number("noise σ", p.sigma.to_string(), "0.05", "param-sigma", |s, v| s.params.sigma = v.parse().unwrap_or(s.params.sigma).clamp(0.0, 2.0)) }
            <label>{"of "}
                <select onchange={change(|s, v| s.params.smooth = v)} data-testid="param-smooth">
                    { for ["saliency", "guided-backprop", "deconvnet"].iter().map(|m| html! {
                        <option value={*m} selected={p.smooth == *m}>{method_title(m)}</option>
                    }) }
                </select>
            </label>
            { cores.clone() }
        </> },
        "integrated-gradients" => html! { <>
            { number("steps", p.steps.to_string(), "1", "param-steps", |s, v| s.params.steps = v.parse().unwrap_or(s.params.steps).clamp(1, 512)) }
            { number("baseline", p.baseline.to_string(), "0.1", "param-baseline", |s, v| s.params.baseline = v.parse().ok().filter(|b: &f32| b.is_finite()).unwrap_or(s.params.baseline)) }
            { cores }
        </> },
        "grad-cam" | "guided-grad-cam" => html! {
            <label>{"layer "}
                <select onchange={change(|s, v| s.params.layer = (!v.is_empty()).then_some(v))} data-testid="param-layer">
                    <option value="" selected={p.layer.is_none()}>{"last conv layer"}</option>
                    { for layers.iter().map(|l| html! { <option value={l.clone()} selected={p.layer.as_deref() == Some(l)}>{l}</option> }) }
                </select>
            </label>
        },
        _ => html! {},
    };

    // Target: a class (top-5 shortcut or search over all names) or a neuron.
    let class = settings.class.unwrap_or(top1);
    let on_class_search = {
        let on = props.on_settings.clone();
        let current = settings.clone();
        let labels = labels.clone();
        Callback::from(move |e: Event| {
            let Some(text) = input_value(&e) else { return };
            let text = text.trim().to_lowercase();
            let found = text.parse::<usize>().ok().filter(|k| *k < labels.len().max(1)).or_else(|| {
                labels
                    .iter()
                    .position(|l| l.to_lowercase() == text)
                    .or_else(|| labels.iter().position(|l| l.to_lowercase().contains(&text)))
            });
            if let Some(k) = found {
                on.emit(Settings { class: Some(k), neuron: None, ..current.clone() });
            }
        })
    };
    let neuron = settings.neuron.clone();
    let target_controls = html! {
        <div class="target">
            <label>{"class "}
                <select onchange={change(|s, v| { s.class = v.parse().ok(); s.neuron = None; })} data-testid="explain-class">
                    { for shown.top5.iter().map(|p| html! {
                        <option value={p.index.to_string()} selected={neuron.is_none() && p.index == class}>{format!("{} ({:.1}%)", p.label, p.prob * 100.0)}</option>
                    }) }
                    if !shown.top5.iter().any(|p| p.index == class) {
                        <option value={class.to_string()} selected={neuron.is_none()}>{s.class_label(class)}</option>
                    }
                </select>
            </label>
            <label>{"or any class "}
                <input type="search" list="class-names" placeholder="search 1,000 names" onchange={on_class_search}
                       data-testid="class-search" aria-label="search a class by name" />
            </label>
            <super::ClassNames id="class-names" {labels} />
            <label>{"or a neuron "}
                <select onchange={change(|s, v| s.neuron = (!v.is_empty()).then(|| (v, s.neuron.as_ref().map_or(0, |n| n.1))))} data-testid="neuron-layer">
                    <option value="" selected={neuron.is_none()}>{"—"}</option>
                    { for layers.iter().map(|l| html! { <option value={l.clone()} selected={neuron.as_ref().is_some_and(|n| &n.0 == l)}>{l}</option> }) }
                </select>
            </label>
            if let Some((_, channel)) = &neuron {
                <label>{"channel "}
                    <input type="number" class="num" min="0" value={channel.to_string()} data-testid="neuron-channel"
                           onchange={change(|s, v| if let Some(n) = s.neuron.as_mut() { n.1 = v.parse().unwrap_or(n.1) })} />
                </label>
            }
        </div>
    };

    let run = |methods: Vec<String>, view: Option<View>| {
        let on = props.on_explain.clone();
        Callback::from(move |_| on.emit((methods.clone(), view)))
    };
    let can = s.can_explain();
    let running = !s.explaining.is_empty();
    let progress = s.explaining.iter().map(|r| html! { <RunningRow key={r.id} running={r.clone()} /> });
    let on_cancel = {
        let on = props.on_cancel.clone();
        Callback::from(move |_| on.emit(()))
    };
    let on_clear = {
        let on = props.on_clear.clone();
        Callback::from(move |_| on.emit(()))
    };
    let export_maps = {
        let state = props.state.clone();
        Callback::from(move |_: MouseEvent| {
            let s = &*state;
            let Some(shown) = &s.shown else { return };
            let mut figures =
                vec![Figure { png: shown.crop_png.clone(), label: "the photo".into(), detail: shown.source.clone() }];
            figures.extend(s.explanations.iter().map(|e| Figure {
                png: e.png.clone(),
                label: method_title(&e.job.method).into(),
                detail: format!("{} · values {:.2e} … {:.2e}", e.label, e.lo, e.hi),
            }));
            let top1 = shown.top5.first().map(|p| p.label.clone()).unwrap_or_default();
            let caption = vec![
                format!(
                    "model: {} · backend: {} · photo: {}",
                    s.model.as_ref().map_or("", |m| m.name.as_str()),
                    s.backend.map_or("", |b| b.as_str()),
                    shown.source
                ),
                format!(
                    "settings: {}",
                    s.settings.to_query().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" · ")
                ),
                format!(
                    "top-5: {}",
                    shown
                        .top5
                        .iter()
                        .map(|p| format!("{} {:.1}%", p.label, p.prob * 100.0))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ];
            let name = super::map_figure::slug(&shown.source);
            let dispatch = state.dispatcher();
            crate::ui::export::export(
                format!("Why “{top1}”? The photo and its maps, by convlens"),
                figures,
                caption,
                format!("convlens-maps-{name}.png"),
                Callback::from(move |m: String| dispatch.dispatch(crate::app_state::Action::PageError(m))),
            );
        })
    };
    html! {
        <div class="explain">
            <h2>{"Why this class?"}</h2>
            <super::SeeingNote text={crate::lecture::panel_note("explain")} />
            <div class="explain-controls">
                <label>{"method "}
                    <select onchange={change(|s, v| s.method = v)} data-testid="explain-method">
                        { for METHOD_NAMES.iter().map(|m| html! {
                            <option value={*m} selected={settings.method == *m}>{method_title(m)}</option>
                        }) }
                    </select>
                </label>
                { params }
                <label>{"view "}
                    <select onchange={change(|s, v| s.look.view = match v.as_str() { "heat" => View::Heat, "rgb" => View::Rgb, _ => View::Overlay })} data-testid="explain-view">
                        <option value="overlay" selected={settings.look.view == View::Overlay}>{"over the photo"}</option>
                        <option value="heat" selected={settings.look.view == View::Heat}>{"map only"}</option>
                        <option value="rgb" selected={settings.look.view == View::Rgb}>{"signed colour"}</option>
                    </select>
                </label>
                <label>{"colours "}
                    <select onchange={change(|s, v| s.look.colormap = Colormap::parse(&v).unwrap_or(s.look.colormap))} data-testid="explain-colormap">
                        { for Colormap::ALL.iter().map(|c| html! {
                            <option value={c.name()} selected={settings.look.colormap == *c}>{c.name()}</option>
                        }) }
                    </select>
                </label>
                <label>{"opacity "}
                    <input type="range" min="0" max="1" step="0.05" value={settings.look.opacity.to_string()}
                           onchange={change(|s, v| s.look.opacity = v.parse().unwrap_or(s.look.opacity).clamp(0.0, 1.0))}
                           data-testid="explain-opacity" aria-label="map opacity over the photo" />
                </label>
                <label title="Adebayo et al. 2018: a map that survives random weights does not explain the model">
                    {"sanity check: randomize top "}
                    <input type="number" class="num" min="0" max="64" value={settings.params.randomize.to_string()}
                           onchange={change(|s, v| s.params.randomize = v.parse().unwrap_or(0).min(64))}
                           data-testid="param-randomize" aria-label="number of top layers with random weights" />
                    {" layers"}
                </label>
            </div>
            { target_controls }
            <p class="muted help">{method_help(&settings.method)}</p>
            <div class="explain-actions">
                <button class="method primary" onclick={run(vec![settings.method.clone()], None)} disabled={!can} data-testid="explain-run">
                    {format!("Explain with {}", method_title(&settings.method))}
                </button>
                <button class="method" disabled={!can} data-testid="explain-compare"
                        onclick={run(["saliency", "guided-backprop", "deconvnet"].map(String::from).to_vec(), Some(View::Rgb))}
                        title="the lecture's figure: the three gradient maps side by side, as signed colour images">
                    {"Compare backprop · guided · deconvnet"}
                </button>
                if running {
                    <button class="method" onclick={on_cancel} data-testid="explain-cancel">{"Cancel"}</button>
                }
                if !s.explanations.is_empty() {
                    <button class="method" onclick={export_maps} data-testid="export-maps"
                            title="the photo and every map side by side, labelled, with the settings as a caption">
                        {"Export as one PNG"}
                    </button>
                    <button class="method" onclick={on_clear} data-testid="explain-clear">{"Clear maps"}</button>
                }
            </div>
            // One fragment, so the panel's children keep their count as runs come and go: Yew
            // matches unkeyed children from the end, and a row more or less among them made it
            // rebuild every control above (the class list's 1,000 names included) at each run's
            // start and end.
            <>{ for progress }</>
            <div class="gallery" data-testid="gallery">
                { for s.explanations.iter().map(|e| html! { <MapFigure key={e.id} explanation={e.clone()} /> }) }
            </div>
        </div>
    }
}

#[derive(PartialEq, Properties)]
struct RunningRowProps {
    running: crate::app_state::Running,
}

/// One explanation in progress: a progress bar and, once there is one, the rough first map.
/// A run that may preview (occlusion) holds the preview's place from its start, so that the
/// preview's arrival moves nothing below it: a layout shift redraws the gallery and the panels
/// under it, and where the browser draws in software (SwiftShader) that drawing took CPU from
/// the sweep's workers (BENCHMARKS.md, "The page holds still while a sweep runs").
#[function_component(RunningRow)]
fn running_row(props: &RunningRowProps) -> Html {
    let r = &props.running;
    let preview = crate::ui::hooks::use_png_url(r.preview.clone());
    let (done, total) = crate::ui::progress::use_run_progress(r.id).unwrap_or((0, 1));
    html! {
        <div class="progress" data-testid="explain-progress">
            <span>{format!("{}…", method_title(&r.job.method))}</span>
            <progress max={total.to_string()} value={done.to_string()}></progress>
            <span class="muted">{format!("{done}/{total}")}</span>
            if let Some(url) = preview {
                <img class="preview" src={url} alt="coarse first pass" data-testid="explain-preview" />
                <span class="muted">{"coarse pass; refining…"}</span>
            } else if r.job.method == "occlusion" {
                <div class="preview pending" aria-hidden="true"></div>
            }
        </div>
    }
}
