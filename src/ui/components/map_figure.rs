//! One finished attribution map: the picture, a legend with its value range, what it shows and
//! how it was made, and a PNG download.

use yew::prelude::*;

use super::explain_panel::method_title;
use crate::app_state::Explanation;
use crate::protocol::View;
use crate::ui::hooks::use_png_url;

#[derive(PartialEq, Properties)]
pub struct MapFigureProps {
    pub explanation: Explanation,
}

pub(super) fn slug(text: &str) -> String {
    let s: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
}

#[function_component(MapFigure)]
pub fn map_figure(props: &MapFigureProps) -> Html {
    let e = &props.explanation;
    let url = use_png_url(Some(e.png.clone()));
    let Some(url) = url else { return html! {} };
    let signed = e.lo < 0.0;
    let ramp = match (e.job.look.view, signed) {
        (View::Rgb, _) => "rgb",
        (_, true) => "signed",
        _ => "magnitude",
    };
    let settings = e.job.settings();
    let file = format!("convlens-{}-{}.png", e.job.method, slug(&e.label));
    html! {
        <figure class="map" data-testid="explanation" data-method={e.job.method.clone()} data-id={e.id.to_string()} data-ms={e.ms.to_string()}
                data-cached={e.cached.to_string()} data-workers={e.workers.to_string()}>
            <img src={url.clone()} alt={format!("{} map for {}", method_title(&e.job.method), e.label)} width="227" height="227" />
            <figcaption>
                <strong>{method_title(&e.job.method)}</strong>
                <span>{format!(" · {}", e.label)}</span>
                <div class={classes!("legend", ramp)} aria-label={format!("colour scale from {:.3e} to {:.3e}", e.lo, e.hi)}>
                    <span>{format!("{:.2e}", e.lo)}</span><span class="ramp"></span><span>{format!("{:.2e}", e.hi)}</span>
                </div>
                <p class="muted">
                    { if settings.is_empty() { String::new() } else { format!("{settings} · ") } }
                    {format!("score {:.3} · {:.0} ms{}{}", e.score, e.ms,
                        if e.workers > 1 { format!(" on {} CPU workers", e.workers) } else { String::new() },
                        if e.cached { " (redrawn from the last run)" } else { "" })}
                </p>
                <a href={url} download={file} class="download" data-testid="download">{"PNG"}</a>
            </figcaption>
        </figure>
    }
}
