//! "Why this class?": attribution maps of the shown crop (saliency, Grad-CAM, occlusion) for a
//! chosen class, drawn over the image with a legend.

use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::app_state::State;
use crate::protocol::Explain;
use crate::ui::hooks::use_png_url;

#[derive(PartialEq, Properties)]
pub struct ExplainPanelProps {
    pub state: UseReducerHandle<State>,
    pub on_explain: Callback<(Explain, usize)>,
}

const OCCLUSION_SIZES: &[(u32, u32, &str)] =
    &[(113, 38, "coarse (113 px)"), (57, 19, "medium (57 px)"), (29, 10, "fine (29 px)")];

fn describe(method: Explain) -> &'static str {
    match method {
        Explain::Saliency => {
            "Saliency: how strongly each pixel's change moves the class score (|gradient|, max over colours)."
        }
        Explain::GradCam => "Grad-CAM: where the last convolutional layer's evidence for the class sits.",
        Explain::Occlusion { .. } => {
            "Occlusion: a grey square slid over the image. Red: hiding it lowers the probability; blue: raises it."
        }
    }
}

#[function_component(ExplainPanel)]
pub fn explain_panel(props: &ExplainPanelProps) -> Html {
    let s = &*props.state;
    let class = use_state(|| None::<usize>);
    let occlusion = use_state(|| 0usize);
    // Hooks run before any early return, in the same order on every render.
    let url = use_png_url(s.explanation.as_ref().map(|e| e.png.clone()));
    let Some((shown, best)) = s.shown.as_ref().and_then(|sh| sh.top5.first().map(|p| (sh, p.index))) else {
        return html! {};
    };
    let chosen = class.filter(|c| shown.top5.iter().any(|p| p.index == *c)).unwrap_or(best);

    let on_class = {
        let class = class.clone();
        Callback::from(move |e: Event| {
            if let Some(sel) = e.target_dyn_into::<HtmlSelectElement>() {
                class.set(sel.value().parse().ok());
            }
        })
    };
    let on_size = {
        let occlusion = occlusion.clone();
        Callback::from(move |e: Event| {
            if let Some(sel) = e.target_dyn_into::<HtmlSelectElement>() {
                occlusion.set(sel.value().parse().unwrap_or(0));
            }
        })
    };
    let (window, stride, _) = OCCLUSION_SIZES[(*occlusion).min(OCCLUSION_SIZES.len() - 1)];
    let button = |method: Explain, title: &str| {
        let on_explain = props.on_explain.clone();
        let onclick = Callback::from(move |_| on_explain.emit((method, chosen)));
        html! {
            <button class="method" onclick={onclick} disabled={!s.can_explain()} data-testid={format!("explain-{}", method.name())}>
                {title.to_string()}
            </button>
        }
    };
    let progress = s.explaining.as_ref().map(|(_, method, p)| {
        let (done, total) = p.unwrap_or((0, 1));
        html! {
            <div class="progress" data-testid="explain-progress">
                <span>{format!("{}…", method.name())}</span>
                <progress max={total.to_string()} value={done.to_string()}></progress>
            </div>
        }
    });
    html! {
        <div class="explain">
            <h2>{"Why this class?"}</h2>
            <div class="explain-controls">
                <label>{"class "}
                    <select onchange={on_class} data-testid="explain-class">
                        { for shown.top5.iter().map(|p| html! {
                            <option value={p.index.to_string()} selected={p.index == chosen}>{&p.label}</option>
                        }) }
                    </select>
                </label>
                { button(Explain::Saliency, "Saliency") }
                { button(Explain::GradCam, "Grad-CAM") }
                { button(Explain::Occlusion { window, stride }, "Occlusion") }
                <label>{"square "}
                    <select onchange={on_size} data-testid="occlusion-size">
                        { for OCCLUSION_SIZES.iter().enumerate().map(|(i, (_, _, name))| html! {
                            <option value={i.to_string()} selected={i == *occlusion}>{*name}</option>
                        }) }
                    </select>
                </label>
            </div>
            { for progress }
            if let (Some(e), Some(u)) = (&s.explanation, &url) {
                <figure class="explanation">
                    <img src={u.clone()} alt={format!("{} map for {}", e.method.name(), e.label)}
                         data-testid="explanation" data-method={e.method.name()} data-class-index={e.class.to_string()} />
                    <figcaption>
                        <div class={classes!("legend", e.method.name())}>
                            <span>{format!("{:.3}", e.lo)}</span><span class="ramp"></span><span>{format!("{:.3}", e.hi)}</span>
                        </div>
                        <p>{describe(e.method)}</p>
                        <p class="muted">{format!("{} for “{}” in {:.0} ms", e.method.name(), e.label, e.ms)}</p>
                    </figcaption>
                </figure>
            }
        </div>
    }
}
