//! "Human vs. network": the quiz on Fashion-MNIST test images (questions and scores from
//! `crate::quiz`). The image goes to the worker like any photo once the class has answered, so
//! the network's top-5 and its saliency map appear next to the class's guess.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::app_state::{Action, Settings, State};
use crate::quiz::{Question, Score, question};

const DATASET_JSON: &str = "datasets/fashion-mnist-test-2000.json";
const DATASET_PNG: &str = "datasets/fashion-mnist-test-2000.png";
/// How much larger than 28 px the question is shown.
const ZOOM: usize = 8;

#[derive(Debug, PartialEq, serde::Deserialize)]
struct Dataset {
    tile: usize,
    columns: usize,
    classes: Vec<String>,
    labels: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Asking,
    /// The class chose this class.
    Revealed(usize),
}

#[derive(PartialEq, Properties)]
pub struct QuizPanelProps {
    pub state: UseReducerHandle<State>,
    /// Classify a picture (name, PNG bytes), as every image source does.
    pub on_image: Callback<(String, Vec<u8>)>,
    /// Run these methods on the shown picture.
    pub on_explain: Callback<(Vec<String>, Option<crate::protocol::View>)>,
    /// Switch to a bundled model.
    pub on_model: Callback<String>,
}

fn source_of(q: &Question) -> String {
    format!("quiz image {}", q.image)
}

/// The question's 28×28 tile from the dataset picture, as PNG bytes.
async fn tile_png(data: &Dataset, image: usize) -> Result<Vec<u8>, String> {
    let img = web_sys::HtmlImageElement::new().map_err(|_| "no image element")?;
    img.set_src(DATASET_PNG);
    wasm_bindgen_futures::JsFuture::from(img.decode()).await.map_err(|_| "the quiz images could not be read")?;
    let t = data.tile as f64;
    let (x, y) = ((image % data.columns) as f64 * t, (image / data.columns) as f64 * t);
    let (canvas, ctx) = crate::ui::export::canvas(data.tile as u32, data.tile as u32)?;
    ctx.draw_image_with_html_image_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(&img, x, y, t, t, 0.0, 0.0, t, t)
        .map_err(|_| "the quiz image could not be drawn")?;
    crate::ui::export::canvas_png(&canvas).await
}

#[function_component(QuizPanel)]
pub fn quiz_panel(props: &QuizPanelProps) -> Html {
    let s = &*props.state;
    let data = use_state(|| None::<Rc<Dataset>>);
    let seed = use_state(|| 0u64);
    let round = use_state(|| None::<u64>);
    let phase = use_state(|| Phase::Asking);
    let score = use_state(Score::default);
    // The round whose network answer was counted and explained.
    let counted = use_mut_ref(|| None::<u64>);
    let panel = use_node_ref();

    let q = match (&*data, *round) {
        (Some(d), Some(r)) => question(&d.labels, d.classes.len(), *seed, r),
        _ => None,
    };
    let on_fashion = s.own_model.is_none() && s.settings.model == "fashion-mnist";
    // The network's answer to this round's image, once the worker has it.
    let network = q.as_ref().and_then(|q| s.shown.as_ref().filter(|sh| sh.source == source_of(q)));

    // Count the round and ask for the saliency map once the answer is in.
    {
        let (score, counted, on_explain) = (score.clone(), counted.clone(), props.on_explain.clone());
        let answer = match (&q, *phase, network) {
            (Some(q), Phase::Revealed(guess), Some(n)) => n.top5.first().map(|p| (q.round, q.truth, guess, p.index)),
            _ => None,
        };
        use_effect_with(answer, move |answer| {
            if let Some((r, truth, guess, top1)) = *answer
                && *counted.borrow() != Some(r)
            {
                *counted.borrow_mut() = Some(r);
                score.set(score.record(truth, guess, top1));
                on_explain.emit((vec!["saliency".into()], None));
            }
        });
    }

    let start = {
        let (data, seed, round, phase, score) =
            (data.clone(), seed.clone(), round.clone(), phase.clone(), score.clone());
        let (state, on_model, panel) = (props.state.clone(), props.on_model.clone(), panel.clone());
        Callback::from(move |_: MouseEvent| {
            if !on_fashion {
                on_model.emit("fashion-mnist".into());
            }
            // The map follows the network's own answer: no fixed class or neuron.
            let settings = &state.settings;
            if settings.class.is_some() || settings.neuron.is_some() {
                state.dispatch(Action::Settings(Settings { class: None, neuron: None, ..settings.clone() }));
            }
            seed.set(js_sys::Date::now() as u64);
            score.set(Score::default());
            phase.set(Phase::Asking);
            round.set(Some(0));
            if let Some(el) = panel.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
            if data.is_none() {
                let data = data.clone();
                let state = state.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let Some(window) = web_sys::window() else { return };
                    let loaded =
                        crate::wire::fetch_bytes(window.fetch_with_str(DATASET_JSON), DATASET_JSON).await.and_then(
                            |b| serde_json::from_slice::<Dataset>(&b).map_err(|e| format!("{DATASET_JSON}: {e}")),
                        );
                    match loaded {
                        Ok(d) => data.set(Some(Rc::new(d))),
                        Err(m) => state.dispatch(Action::PageError(m)),
                    }
                });
            }
        })
    };
    let guess = {
        let (phase, data, on_image, state) = (phase.clone(), data.clone(), props.on_image.clone(), props.state.clone());
        let q = q.clone();
        let can = s.can_submit() && on_fashion && s.pending.is_none();
        Callback::from(move |choice: usize| {
            let (Some(q), Some(d), Phase::Asking, true) = (&q, &*data, *phase, can) else { return };
            phase.set(Phase::Revealed(choice));
            let (q, d, on_image, state) = (q.clone(), d.clone(), on_image.clone(), state.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match tile_png(&d, q.image).await {
                    Ok(png) => on_image.emit((source_of(&q), png)),
                    Err(m) => state.dispatch(Action::PageError(m)),
                }
            });
        })
    };
    let next = {
        let (round, phase) = (round.clone(), phase.clone());
        Callback::from(move |_: ()| {
            if matches!(*phase, Phase::Revealed(_)) {
                round.set(round.map(|r| r + 1));
                phase.set(Phase::Asking);
            }
        })
    };
    let on_key = {
        let (guess, next) = (guess.clone(), next.clone());
        let choices = q.as_ref().map(|q| q.choices.clone()).unwrap_or_default();
        Callback::from(move |e: KeyboardEvent| {
            let key = e.key();
            if let Some(choice) = key.parse::<usize>().ok().and_then(|k| k.checked_sub(1)).and_then(|k| choices.get(k))
            {
                guess.emit(*choice);
                e.prevent_default();
            } else if key == "Enter"
                && e.target()
                    .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                    .is_none_or(|el| el.tag_name() != "BUTTON")
            {
                // (A focused button answers Enter with its own click.)
                next.emit(());
                e.prevent_default();
            }
        })
    };

    let sc = *score;
    let pct = |(right, total): (u32, u32)| {
        if total == 0 {
            "–".to_string()
        } else {
            format!("{right}/{total} ({:.0}%)", 100.0 * right as f64 / total as f64)
        }
    };
    let body = match (&*data, &q) {
        (Some(d), Some(q)) => {
            let t = d.tile * ZOOM;
            let (col, row) = (q.image % d.columns, q.image / d.columns);
            let rows = d.labels.len().div_ceil(d.columns);
            let style = format!(
                "width:{t}px;height:{t}px;background-image:url({DATASET_PNG});background-size:{}px {}px;background-position:-{}px -{}px",
                d.columns * t,
                rows * t,
                col * t,
                row * t
            );
            let name = |c: usize| d.classes.get(c).cloned().unwrap_or_else(|| format!("class {c}"));
            let revealed = match *phase {
                Phase::Revealed(g) => Some(g),
                Phase::Asking => None,
            };
            let map = network.and_then(|_| s.explanations.first()).map(|e| e.png.clone());
            html! {
                <div class="quiz-round">
                    <div class="quiz-image" role="img" aria-label={format!("quiz image {} of the Fashion-MNIST test set", q.image)}
                         {style} data-testid="quiz-image" data-image={q.image.to_string()}></div>
                    <div class="quiz-side">
                        <p>{format!("Round {}: what is this?", q.round + 1)}</p>
                        <div class="quiz-choices" role="group" aria-label="choices">
                            { for q.choices.iter().enumerate().map(|(i, c)| {
                                let guess = guess.clone();
                                let c = *c;
                                let mark = match revealed {
                                    Some(_) if c == q.truth => Some("right"),
                                    Some(g) if g == c => Some("wrong"),
                                    _ => None,
                                };
                                html! {
                                    <button class={classes!("method", mark)} disabled={revealed.is_some()}
                                            onclick={Callback::from(move |_| guess.emit(c))} data-testid="quiz-choice"
                                            data-class={c.to_string()} aria-keyshortcuts={(i + 1).to_string()}>
                                        {format!("{} {}", i + 1, name(c))}
                                        { match mark { Some("right") => " ✓ the answer", Some(_) => " ✗ your guess", None => "" } }
                                    </button>
                                }
                            }) }
                        </div>
                        if let Some(g) = revealed {
                            <p data-testid="quiz-verdict">
                                { if g == q.truth { format!("Right: it is {}.", name(q.truth)) } else { format!("It is {}.", name(q.truth)) } }
                                { match network.and_then(|n| n.top5.first()) {
                                    Some(p) if p.index == q.truth => format!(" The network says {} ({:.0}%): right too.", p.label, p.prob * 100.0),
                                    Some(p) => format!(" The network says {} ({:.0}%): wrong.", p.label, p.prob * 100.0),
                                    None => " The network is answering…".into(),
                                } }
                            </p>
                            if let Some(n) = network {
                                <ol class="quiz-top5" aria-label="the network's top-5">
                                    { for n.top5.iter().map(|p| html! { <li>{format!("{} {:.1}%", p.label, p.prob * 100.0)}</li> }) }
                                </ol>
                            }
                            <button class="method primary" onclick={let next = next.clone(); Callback::from(move |_| next.emit(()))}
                                    data-testid="quiz-next" aria-keyshortcuts="Enter">{"Next image (Enter)"}</button>
                        }
                    </div>
                    if let Some(png) = map {
                        <QuizMap {png} />
                    }
                </div>
            }
        }
        _ => html! {
            <p class="hint">{"Ten kinds of clothes, 28×28 grey pictures. Can the class tell a shirt from a T-shirt, a pullover \
                or a coat better than the network? Each round offers the true class and look-alikes; answer (keys 1–4), \
                then see the network's top-5 and where it looked."}</p>
        },
    };
    html! {
        <div class="quiz" data-testid="quiz" tabindex="-1" ref={panel} onkeydown={on_key}>
            <h2>{"Human vs. network"}</h2>
            <super::SeeingNote text={crate::lecture::panel_note("quiz")} />
            <div class="controls">
                <button class="method" onclick={start} disabled={!s.can_submit()} data-testid="quiz-start">
                    { if round.is_some() { "Start again" } else { "Start the quiz" } }
                </button>
                if !on_fashion {
                    <span class="muted">{"(switches to the Fashion-MNIST model)"}</span>
                }
                <span data-testid="quiz-score" data-human={format!("{}/{}", sc.human.0, sc.human.1)}
                      data-network={format!("{}/{}", sc.network.0, sc.network.1)}>
                    {format!("class: {} · network: {}", pct(sc.human), pct(sc.network))}
                </span>
            </div>
            {body}
        </div>
    }
}

#[derive(PartialEq, Properties)]
struct QuizMapProps {
    png: Rc<Vec<u8>>,
}

#[function_component(QuizMap)]
fn quiz_map(props: &QuizMapProps) -> Html {
    let url = crate::ui::hooks::use_png_url(Some(props.png.clone()));
    html! {
        if let Some(u) = url {
            <figure class="map quiz-map">
                <img src={u} alt="the network's saliency map for its answer" class="pixelated" data-testid="quiz-map" />
                <figcaption>{"saliency of the network's answer: bright pixels moved its score most"}</figcaption>
            </figure>
        }
    }
}
