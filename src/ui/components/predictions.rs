//! The top-5 classes as probability bars.

use yew::prelude::*;

use crate::app_state::{Probe, Shown};

#[derive(PartialEq, Properties)]
pub struct PredictionsProps {
    pub shown: Option<Shown>,
    /// While the live occluder is on: the top-5 with the square hidden.
    #[prop_or_default]
    pub probe: Option<Probe>,
}

#[function_component(Predictions)]
pub fn predictions(props: &PredictionsProps) -> Html {
    let Some(shown) = &props.shown else {
        return html! { <ol class="predictions empty"><li>{"Pick a photo to see what the network sees."}</li></ol> };
    };
    let (rows, occluded) = match &props.probe {
        Some(p) => (&p.top5, true),
        None => (&shown.top5, false),
    };
    html! {
        <ol class={classes!("predictions", occluded.then_some("occluded"))}
            aria-label={if occluded { "top-5 classes with the square hidden" } else { "top-5 classes" }}
            data-occluded={occluded.to_string()}>
            { for rows.iter().map(|p| {
                let pct = p.prob * 100.0;
                html! {
                    <li data-testid="prediction" data-class-index={p.index.to_string()} data-label={p.label.clone()} data-prob={p.prob.to_string()}>
                        <span class="label">{&p.label}</span>
                        <span class="bar"><span class="fill" style={format!("width:{:.1}%", pct.max(0.5))}></span></span>
                        <span class="prob">{format!("{pct:.1}%")}</span>
                    </li>
                }
            }) }
        </ol>
    }
}
