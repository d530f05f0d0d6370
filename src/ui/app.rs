//! The root component: state, the worker link, and the page layout.

use gloo::events::EventListener;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::components::{CropView, ExplainPanel, ImageInput, Predictions, StatusBar};
use super::worker_link::{SharedLink, WorkerLink};
use crate::app_state::{Action, State};
use crate::protocol::BackendChoice;

/// Largest file we accept from the user (decoding limits apply after this).
const MAX_FILE_BYTES: usize = 64 << 20;

fn backend_param() -> BackendChoice {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    let value = web_sys::UrlSearchParams::new_with_str(&search).ok().and_then(|p| p.get("backend"));
    BackendChoice::from_param(value.as_deref())
}

/// Request ids: one counter for classifications and explanations.
fn next_id(ids: &std::cell::RefCell<u64>) -> u64 {
    let mut id = ids.borrow_mut();
    *id += 1;
    *id
}

#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(State::default);
    let link = use_mut_ref(|| None::<SharedLink>);
    let ids = use_mut_ref(|| 0u64);

    {
        let dispatch = state.dispatcher();
        let link = link.clone();
        use_effect_with((), move |_| {
            let cb = Callback::from(move |a: Action| dispatch.dispatch(a));
            *link.borrow_mut() = Some(WorkerLink::start(backend_param(), cb));
        });
    }

    // One entry point for every image source: file picker, drop, paste, samples.
    let submit = {
        let dispatch = state.dispatcher();
        let link = link.clone();
        let ids = ids.clone();
        let ready = state.can_submit();
        Callback::from(move |(source, bytes): (String, Vec<u8>)| {
            if bytes.len() > MAX_FILE_BYTES {
                dispatch.dispatch(Action::PageError(format!(
                    "{source} is {} MB; the limit is {} MB",
                    bytes.len() >> 20,
                    MAX_FILE_BYTES >> 20
                )));
                return;
            }
            if !ready {
                dispatch.dispatch(Action::PageError("the model is still loading; try again in a moment".into()));
                return;
            }
            let id = next_id(&ids);
            dispatch.dispatch(Action::Submit { id, source });
            if let Some(l) = link.borrow().as_ref() {
                l.borrow().classify(id, &bytes);
            }
        })
    };
    // Attribution maps of the shown image.
    let explain = {
        let dispatch = state.dispatcher();
        let link = link.clone();
        let ids = ids.clone();
        Callback::from(move |(method, class): (crate::protocol::Explain, usize)| {
            let id = next_id(&ids);
            dispatch.dispatch(Action::Explain { id, method });
            if let Some(l) = link.borrow().as_ref() {
                l.borrow().explain(id, method, class);
            }
        })
    };
    let on_error = {
        let dispatch = state.dispatcher();
        Callback::from(move |m: String| dispatch.dispatch(Action::PageError(m)))
    };

    // Paste an image from the clipboard anywhere on the page.
    {
        let submit = submit.clone();
        use_effect_with(state.can_submit(), move |_| {
            let listener = web_sys::window().and_then(|w| w.document()).map(|doc| {
                EventListener::new(&doc, "paste", move |event| {
                    let Some(event) = event.dyn_ref::<web_sys::ClipboardEvent>() else { return };
                    let file = event.clipboard_data().and_then(|d| d.files()).and_then(|f| f.get(0));
                    if let Some(file) = file {
                        super::components::read_file(file, submit.clone());
                    }
                })
            });
            move || drop(listener)
        });
    }

    let dismiss = {
        let dispatch = state.dispatcher();
        Callback::from(move |_| dispatch.dispatch(Action::DismissError))
    };
    let s = &*state;
    html! {
        <main class="page">
            <header>
                <h1>{"convlens"}</h1>
                <p class="tagline">{"Look inside a convolutional network, live in your browser. Your images never leave this tab."}</p>
            </header>
            <StatusBar state={state.clone()} />
            if let Some(message) = &s.error {
                <div class="error" role="alert" data-testid="error">
                    <span>{message}</span>
                    <button onclick={dismiss} aria-label="dismiss">{"×"}</button>
                </div>
            }
            <section class="workspace">
                <ImageInput on_image={submit} on_error={on_error} disabled={!s.can_submit()} />
                <div class="result">
                    <CropView shown={s.shown.clone()} />
                    <Predictions shown={s.shown.clone()} />
                </div>
            </section>
            <section class="explain-section">
                <ExplainPanel state={state.clone()} on_explain={explain} />
            </section>
            <footer>
                {"SqueezeNet 1.1 weights: BSD licence (DeepScale). Sample photos: public domain (scikit-image). "}
                <a href="models/ATTRIBUTION.md">{"Attributions"}</a>
            </footer>
        </main>
    }
}
