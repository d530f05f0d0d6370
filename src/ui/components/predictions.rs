//! The top-5 classes as probability bars.

use yew::prelude::*;

use crate::app_state::Shown;

#[derive(PartialEq, Properties)]
pub struct PredictionsProps {
    pub shown: Option<Shown>,
}

#[function_component(Predictions)]
pub fn predictions(props: &PredictionsProps) -> Html {
    let Some(shown) = &props.shown else {
        return html! { <ol class="predictions empty"><li>{"Pick a photo to see what the network sees."}</li></ol> };
    };
    html! {
        <ol class="predictions" aria-label="top-5 classes">
            { for shown.top5.iter().map(|p| {
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
