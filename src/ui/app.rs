//! The root component: state, the worker link, and the page layout.

use gloo::events::EventListener;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::components::{
    AnatomyPanel, AnatomyRequest, CropView, ExplainPanel, FASHION_SAMPLES, ImageInput, LectureCard, OptimizePanel,
    Predictions, QuizPanel, SAMPLES, SeeingNote, ShortcutSheet, StatusBar, Webcam,
};
use super::progress::ProgressSink;
use super::worker_link::{SharedLink, WorkerLink};
use crate::app_state::{Action, Settings, State};
use crate::lecture::{Place, STEPS};
use crate::protocol::{BackendChoice, OptimizeJob, Response};
use std::rc::Rc;

/// Largest file we accept from the user (decoding limits apply after this).
const MAX_FILE_BYTES: usize = 64 << 20;
/// Largest model file we read.
const MAX_MODEL_BYTES: usize = 512 << 20;

fn url_params() -> Option<web_sys::UrlSearchParams> {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    web_sys::UrlSearchParams::new_with_str(&search).ok()
}

fn backend_param() -> BackendChoice {
    BackendChoice::from_param(url_params().and_then(|p| p.get("backend")).as_deref())
}

/// The explain settings a shared link carries.
fn settings_from_url() -> Settings {
    let Some(params) = url_params() else { return Settings::default() };
    // Every pair: the explain panel's keys and the "Make an image" panel's `opt-` keys.
    let pairs: Vec<(String, String)> = js_sys::try_iter(params.as_ref())
        .ok()
        .flatten()
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let pair = js_sys::Array::from(&e);
                    Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
                })
                .collect()
        })
        .unwrap_or_default();
    Settings::from_query(&pairs)
}

/// Writes the settings into the address bar (keeping `backend`), without a new history entry.
fn settings_to_url(settings: &Settings) {
    let Some(window) = web_sys::window() else { return };
    let Ok(params) = web_sys::UrlSearchParams::new() else { return };
    if let Some(b) = url_params().and_then(|p| p.get("backend")) {
        params.append("backend", &b);
    }
    for (k, v) in settings.to_query() {
        params.append(&k, &v);
    }
    let query: String = params.to_string().into();
    let path = window.location().pathname().unwrap_or_default();
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("{path}?{query}")));
    }
}

/// Keeps the app's files for offline use (`static/sw.js`), where the browser allows a service
/// worker (https or localhost). A refusal changes nothing: the page works online as before.
fn register_service_worker() {
    let Some(window) = web_sys::window() else { return };
    let navigator = window.navigator();
    if !js_sys::Reflect::has(&navigator, &"serviceWorker".into()).unwrap_or(false) {
        return;
    }
    let promise = navigator.service_worker().register("sw.js");
    wasm_bindgen_futures::spawn_local(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    });
}

/// The element with this `data-testid`.
fn by_testid(id: &str) -> Option<web_sys::HtmlElement> {
    let doc = web_sys::window()?.document()?;
    doc.query_selector(&format!("[data-testid=\"{id}\"]")).ok()??.dyn_into().ok()
}

/// Clicks the button with this `data-testid`; false when it is missing or disabled.
fn click_testid(id: &str) -> bool {
    match by_testid(id) {
        Some(el) if !el.has_attribute("disabled") => {
            el.click();
            true
        }
        _ => false,
    }
}

/// The button that runs what a lecture step shows (the occluder has none: it is switched on,
/// not toggled).
fn run_button(place: Place) -> Option<&'static str> {
    Some(match place {
        Place::Anatomy("weights") => "filters-show",
        Place::Anatomy("activations") => "activations-show",
        Place::Anatomy("patches") => "patches-run",
        Place::Anatomy("neighbours") => "neighbours-run",
        Place::Anatomy(_) => "tsne-run",
        Place::Occluder => return None,
        Place::Explain(_) => "explain-run",
        Place::Compare => "explain-compare",
        Place::Optimize(_) => "opt-start",
    })
}

/// Puts the focus on the crop, where the arrow keys move the occluder.
fn focus_crop() {
    if let Some(stage) = by_testid("crop-stage") {
        let _ = stage.focus();
    }
}

/// Whether a key press belongs to a field (typing), not to the page's shortcuts.
fn typing(e: &KeyboardEvent) -> bool {
    let tag = e
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .map(|el| (el.tag_name().to_ascii_lowercase(), el.get_attribute("type").unwrap_or_default()));
    match tag {
        Some((t, kind)) if t == "input" => !matches!(kind.as_str(), "button" | "checkbox" | "radio" | "file" | "range"),
        Some((t, _)) => t == "select" || t == "textarea",
        None => false,
    }
}

/// Projector mode: a class on the root element (the style sheet does the rest), and full screen
/// when asked by a user's gesture.
fn set_projector(on: bool, fullscreen: bool) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    if let Some(root) = doc.document_element() {
        let _ = if on { root.class_list().add_1("projector") } else { root.class_list().remove_1("projector") };
        if fullscreen && on && doc.fullscreen_element().is_none() {
            let _ = root.request_fullscreen();
        }
    }
    if !on && doc.fullscreen_element().is_some() {
        doc.exit_fullscreen();
    }
}

/// Request ids: one counter for classifications and explanations.
/// What the user chose for their own models (preprocessing, labels file) lives in the tab's
/// session storage, so a reload or the next file keeps it.
fn session_get(key: &str) -> Option<String> {
    web_sys::window()?.session_storage().ok()??.get_item(key).ok()?
}

fn session_set(key: &str, value: Option<&str>) {
    if let Some(storage) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
        let _ = match value {
            Some(v) => storage.set_item(key, v),
            None => storage.remove_item(key),
        };
    }
}

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

    // Progress reports go to the progress board, which draws only the progress rows.
    let progress = use_context::<ProgressSink>();
    {
        let dispatch = state.dispatcher();
        let link = link.clone();
        use_effect_with((), move |_| {
            register_service_worker();
            let settings = settings_from_url();
            let model_url = crate::protocol::model_url(&settings.model);
            dispatch.dispatch(Action::Settings(settings));
            let cb = Callback::from(move |a: Action| match (a, &progress) {
                (Action::Worker(Response::Progress { id, done, total }, _), Some(board)) => {
                    board.dispatch((id, done, total))
                }
                (a, _) => dispatch.dispatch(a),
            });
            *link.borrow_mut() = Some(WorkerLink::start(backend_param(), model_url, cb));
        });
    }
    use_effect_with(state.settings.clone(), settings_to_url);

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
            let sample = SAMPLES.iter().chain(FASHION_SAMPLES).any(|(f, _)| *f == source);
            dispatch.dispatch(Action::Image(if sample { source.clone() } else { String::new() }));
            dispatch.dispatch(Action::Submit { id, source });
            if let Some(l) = link.borrow().as_ref() {
                l.borrow().classify(id, &bytes);
            }
        })
    };
    // Attribution maps of the shown image: one request per method, current settings.
    let explain = {
        let dispatch = state.dispatcher();
        let link = link.clone();
        let ids = ids.clone();
        let settings = state.settings.clone();
        let top1 = state.shown.as_ref().and_then(|s| s.top5.first()).map(|p| p.index).unwrap_or(0);
        Callback::from(move |(methods, view): (Vec<String>, Option<crate::protocol::View>)| {
            for method in methods {
                let id = next_id(&ids);
                let look = crate::protocol::Look { view: view.unwrap_or(settings.look.view), ..settings.look };
                let job = Settings { method, look, ..settings.clone() }.job(top1);
                dispatch.dispatch(Action::Explain { id, job: job.clone() });
                if let Some(l) = link.borrow().as_ref() {
                    l.borrow().explain(id, job);
                }
            }
        })
    };
    let cancel = {
        let dispatch = state.dispatcher();
        let link = link.clone();
        let running: Vec<u64> = state.explaining.iter().map(|r| r.id).collect();
        Callback::from(move |_| {
            if let Some(l) = link.borrow().as_ref() {
                for id in &running {
                    l.borrow().cancel(*id);
                }
            }
            dispatch.dispatch(Action::CancelExplanations);
        })
    };
    let on_settings = {
        let dispatch = state.dispatcher();
        Callback::from(move |s: Settings| dispatch.dispatch(Action::Settings(s)))
    };
    let clear = {
        let dispatch = state.dispatcher();
        Callback::from(move |_| dispatch.dispatch(Action::ClearGallery))
    };
    // Optimization over the image. Neural style's style image travels with its job: an
    // uploaded one from memory, a sample fetched once and cached.
    let uploaded_style = use_state(|| None::<(String, Rc<Vec<u8>>)>);
    let style_cache = use_mut_ref(|| None::<(String, Rc<Vec<u8>>)>);
    let optimize_one = {
        let dispatch = state.dispatcher();
        let link = link.clone();
        let ids = ids.clone();
        let style = state.settings.style.clone();
        let uploaded = (*uploaded_style).clone();
        let cache = style_cache.clone();
        Callback::from(move |job: OptimizeJob| {
            let (dispatch, link, ids, style, uploaded, cache) =
                (dispatch.clone(), link.clone(), ids.clone(), style.clone(), uploaded.clone(), cache.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let bytes = if job.kind != "style" {
                    None
                } else if style.is_empty() {
                    match uploaded {
                        Some((_, b)) => Some(b),
                        None => return dispatch.dispatch(Action::PageError("upload a style image first".into())),
                    }
                } else if let Some((_, b)) = cache.borrow().as_ref().filter(|(k, _)| *k == style) {
                    Some(b.clone())
                } else {
                    let url = format!("samples/{style}");
                    let Some(window) = web_sys::window() else { return };
                    match crate::wire::fetch_bytes(window.fetch_with_str(&url), &url).await {
                        Ok(b) => {
                            let b = Rc::new(b);
                            *cache.borrow_mut() = Some((style.clone(), b.clone()));
                            Some(b)
                        }
                        Err(message) => return dispatch.dispatch(Action::PageError(message)),
                    }
                };
                let id = next_id(&ids);
                dispatch.dispatch(Action::Optimize { id, job: job.clone() });
                if let Some(l) = link.borrow().as_ref() {
                    l.borrow().optimize(id, job, bytes.as_deref().map(|b| b.as_slice()));
                }
            });
        })
    };
    // Runs wait in the queue; the first starts as soon as nothing else runs.
    let optimize = {
        let dispatch = state.dispatcher();
        Callback::from(move |jobs: Vec<OptimizeJob>| dispatch.dispatch(Action::Queue(jobs)))
    };
    {
        let running = state.optimization.as_ref().is_some_and(|o| o.running);
        let next = state.queue.first().cloned();
        let optimize_one = optimize_one.clone();
        use_effect_with((running, next), move |(running, next)| {
            if let (false, Some(job)) = (running, next) {
                optimize_one.emit(job.clone());
            }
        });
    }
    let on_opt_change = {
        let dispatch = state.dispatcher();
        let settings = state.settings.clone();
        Callback::from(move |job: OptimizeJob| {
            dispatch.dispatch(Action::Settings(Settings { optimize: job, ..settings.clone() }))
        })
    };
    let on_style = {
        let dispatch = state.dispatcher();
        let settings = state.settings.clone();
        let uploaded_style = uploaded_style.clone();
        Callback::from(move |(name, bytes): (String, Option<Vec<u8>>)| {
            let style = match bytes {
                Some(b) if b.len() > MAX_FILE_BYTES => {
                    return dispatch.dispatch(Action::PageError(format!("{name} is over {} MB", MAX_FILE_BYTES >> 20)));
                }
                Some(b) => {
                    uploaded_style.set(Some((name, Rc::new(b))));
                    String::new()
                }
                None => name,
            };
            dispatch.dispatch(Action::Settings(Settings { style, ..settings.clone() }));
        })
    };
    let pause_optimizing = {
        let dispatch = state.dispatcher();
        let link = link.clone();
        let running = state.optimization.as_ref().filter(|o| o.running).map(|o| o.id);
        Callback::from(move |paused: bool| {
            if let (Some(id), Some(l)) = (running, link.borrow().as_ref()) {
                l.borrow().pause(id, paused);
            }
            dispatch.dispatch(Action::PauseOptimizing(paused));
        })
    };
    let clear_made = {
        let dispatch = state.dispatcher();
        Callback::from(move |_| dispatch.dispatch(Action::ClearMade))
    };
    let stop_optimizing = {
        let dispatch = state.dispatcher();
        let link = link.clone();
        let running = state.optimization.as_ref().filter(|o| o.running).map(|o| o.id);
        Callback::from(move |_| {
            if let (Some(id), Some(l)) = (running, link.borrow().as_ref()) {
                l.borrow().cancel(id);
            }
            dispatch.dispatch(Action::StopOptimizing);
        })
    };
    // The live occluder.
    let top1 = state.shown.as_ref().and_then(|s| s.top5.first()).map(|p| p.index).unwrap_or(0);
    let occluded_class = state.settings.class.unwrap_or(top1);
    let on_occluder = {
        let dispatch = state.dispatcher();
        Callback::from(move |on: bool| dispatch.dispatch(Action::Occluder(on)))
    };
    let on_move = {
        let link = link.clone();
        let ids = ids.clone();
        let fill = state.settings.params.fill;
        Callback::from(move |rect: [u32; 3]| {
            let id = next_id(&ids);
            if let Some(l) = link.borrow().as_ref() {
                l.borrow_mut().probe(id, occluded_class, rect, fill);
            }
        })
    };
    let on_occluder_fill = {
        let dispatch = state.dispatcher();
        let settings = state.settings.clone();
        Callback::from(move |fill: crate::protocol::Fill| {
            let mut next = settings.clone();
            next.params.fill = fill;
            dispatch.dispatch(Action::Settings(next));
        })
    };
    let on_occluder_size = {
        let dispatch = state.dispatcher();
        let settings = state.settings.clone();
        Callback::from(move |size: u32| {
            dispatch.dispatch(Action::Settings(Settings { occluder_size: size, ..settings.clone() }))
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

    // Another bundled model: the shown photo is classified again with it.
    let switch_model = {
        let dispatch = state.dispatcher();
        let link = link.clone();
        let ids = ids.clone();
        let current = state.settings.model.clone();
        let own = state.own_model.is_some();
        let has_photo = state.shown.is_some();
        Callback::from(move |key: String| {
            if key == current && !own || key.is_empty() {
                return;
            }
            let reclassify = has_photo.then(|| next_id(&ids));
            dispatch.dispatch(Action::SwitchModel { key: key.clone(), reclassify });
            if let Some(l) = link.borrow().as_ref() {
                l.borrow_mut().switch_model(crate::protocol::model_url(&key), reclassify);
            }
        })
    };
    let on_model = {
        let switch_model = switch_model.clone();
        Callback::from(move |e: Event| {
            switch_model.emit(e.target_unchecked_into::<web_sys::HtmlSelectElement>().value())
        })
    };
    // The user's own .onnx file (picker button or dropped on the picker).
    let preprocess = use_state(|| session_get("convlens.preprocess").unwrap_or_default());
    // A labels file: (name, text).
    let labels = use_state(|| session_get("convlens.labels.name").zip(session_get("convlens.labels.text")));
    // The user's model file, kept so a new preprocessing or labels file applies at once.
    let own_bytes = use_mut_ref(|| None::<(String, Rc<Vec<u8>>)>);
    let reopen = {
        let dispatch = state.dispatcher();
        let link = link.clone();
        let ids = ids.clone();
        let has_photo = state.shown.is_some();
        Callback::from(move |(name, bytes, preprocess, labels): (String, Rc<Vec<u8>>, String, Option<String>)| {
            let reclassify = has_photo.then(|| next_id(&ids));
            dispatch.dispatch(Action::OpenModel { name, reclassify });
            if let Some(l) = link.borrow().as_ref() {
                let p = (!preprocess.is_empty()).then_some(preprocess);
                l.borrow().open_model(bytes, p, labels, reclassify);
            }
        })
    };
    let open_model = {
        let dispatch = state.dispatcher();
        let reopen = reopen.clone();
        let own_bytes = own_bytes.clone();
        let preprocess = (*preprocess).clone();
        let labels = labels.as_ref().map(|(_, text)| text.clone());
        Callback::from(move |file: web_sys::File| {
            let (dispatch, reopen, own_bytes) = (dispatch.clone(), reopen.clone(), own_bytes.clone());
            let (preprocess, labels) = (preprocess.clone(), labels.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let name = file.name();
                if file.size() > MAX_MODEL_BYTES as f64 {
                    return dispatch.dispatch(Action::PageError(format!(
                        "{name} is {} MB; the limit is {} MB",
                        (file.size() as u64) >> 20,
                        MAX_MODEL_BYTES >> 20
                    )));
                }
                let Ok(buffer) = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await else {
                    return dispatch.dispatch(Action::PageError(format!("cannot read {name}")));
                };
                let bytes = Rc::new(js_sys::Uint8Array::new(&buffer).to_vec());
                *own_bytes.borrow_mut() = Some((name.clone(), bytes.clone()));
                reopen.emit((name, bytes, preprocess, labels));
            });
        })
    };
    let on_model_file = {
        let open_model = open_model.clone();
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            if let Some(file) = input.files().and_then(|f| f.get(0)) {
                open_model.emit(file);
            }
            input.set_value("");
        })
    };
    let on_model_drop = {
        let open_model = open_model.clone();
        Callback::from(move |e: web_sys::DragEvent| {
            e.prevent_default();
            if let Some(file) = e.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) {
                open_model.emit(file);
            }
        })
    };
    // A new choice applies to the user's model at once (bundled models carry their own).
    let reapply = {
        let own_bytes = own_bytes.clone();
        let own = state.own_model.is_some();
        let can = state.can_submit();
        Callback::from(move |(preprocess, labels): (String, Option<String>)| {
            if let (true, true, Some((name, bytes))) = (own, can, own_bytes.borrow().clone()) {
                reopen.emit((name, bytes, preprocess, labels));
            }
        })
    };
    let on_preprocess = {
        let preprocess = preprocess.clone();
        let labels = labels.as_ref().map(|(_, text)| text.clone());
        let reapply = reapply.clone();
        Callback::from(move |e: Event| {
            let value = e.target_unchecked_into::<web_sys::HtmlSelectElement>().value();
            session_set("convlens.preprocess", Some(&value));
            preprocess.set(value.clone());
            reapply.emit((value, labels.clone()));
        })
    };
    let on_labels_file = {
        let labels = labels.clone();
        let preprocess = (*preprocess).clone();
        let dispatch = state.dispatcher();
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
            input.set_value("");
            let (labels, preprocess, reapply, dispatch) =
                (labels.clone(), preprocess.clone(), reapply.clone(), dispatch.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let name = file.name();
                if file.size() > (4 << 20) as f64 {
                    return dispatch.dispatch(Action::PageError(format!("{name}: a labels file is at most 4 MB")));
                }
                let text = match wasm_bindgen_futures::JsFuture::from(file.text()).await {
                    Ok(t) => t.as_string().unwrap_or_default(),
                    Err(_) => return dispatch.dispatch(Action::PageError(format!("cannot read {name}"))),
                };
                if let Err(e) = crate::protocol::parse_labels(&text) {
                    return dispatch.dispatch(Action::PageError(format!("{name}: {e}")));
                }
                session_set("convlens.labels.name", Some(&name));
                session_set("convlens.labels.text", Some(&text));
                labels.set(Some((name, text.clone())));
                reapply.emit((preprocess, Some(text)));
            });
        })
    };
    let forget_labels = {
        let labels = labels.clone();
        Callback::from(move |_| {
            session_set("convlens.labels.name", None);
            session_set("convlens.labels.text", None);
            labels.set(None);
        })
    };
    let anatomy = {
        let dispatch = state.dispatcher();
        let link = link.clone();
        let ids = ids.clone();
        Callback::from(move |(job, bytes, what): AnatomyRequest| {
            let id = next_id(&ids);
            dispatch.dispatch(Action::Anatomy { id, what });
            if let Some(l) = link.borrow().as_ref() {
                l.borrow().anatomy(id, job, bytes.as_deref());
            }
        })
    };
    let stop_anatomy = {
        let dispatch = state.dispatcher();
        let link = link.clone();
        let running = state.anatomy.running.as_ref().map(|r| r.0);
        Callback::from(move |_| {
            if let (Some(id), Some(l)) = (running, link.borrow().as_ref()) {
                l.borrow().cancel(id);
            }
            dispatch.dispatch(Action::StopAnatomy);
        })
    };
    let dismiss = {
        let dispatch = state.dispatcher();
        Callback::from(move |_| dispatch.dispatch(Action::DismissError))
    };
    // The tab of "Inside the network" (kept in the URL).
    let on_tab = {
        let dispatch = state.dispatcher();
        let settings = state.settings.clone();
        Callback::from(move |tab: String| dispatch.dispatch(Action::Settings(Settings { tab, ..settings.clone() })))
    };
    // The lecture path: a step opens its panel; "run" presses that panel's button.
    let go_step = {
        let light = state.backend == Some(crate::protocol::BackendKind::Cpu);
        let dispatch = state.dispatcher();
        let settings = state.settings.clone();
        let has_photo = state.shown.is_some();
        Callback::from(move |step: Option<usize>| {
            let next = settings.at_step(step, light);
            let occlusion = next.step.is_some_and(|i| STEPS[i].place == Place::Occluder);
            dispatch.dispatch(Action::Settings(next));
            if occlusion && has_photo {
                dispatch.dispatch(Action::Occluder(true));
            }
        })
    };
    let run_step = {
        let dispatch = state.dispatcher();
        let step = state.settings.step;
        let has_photo = state.shown.is_some();
        Callback::from(move |_: ()| {
            let Some(place) = step.and_then(|i| STEPS.get(i)).map(|s| s.place) else { return };
            match run_button(place) {
                Some(button) if click_testid(button) => return,
                None if has_photo => {
                    dispatch.dispatch(Action::Occluder(true));
                    focus_crop();
                    return;
                }
                _ => {}
            }
            let why = if has_photo {
                "wait for the current run to finish, or pick a dataset first"
            } else {
                "pick a photo first"
            };
            dispatch.dispatch(Action::PageError(format!("this step cannot run yet: {why}")));
        })
    };
    // The open step's card comes into view (and takes the focus) when the step changes.
    use_effect_with(state.settings.step, |step| {
        if step.is_some()
            && let Some(card) =
                web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("lecture-card"))
        {
            card.scroll_into_view();
            if let Ok(card) = card.dyn_into::<web_sys::HtmlElement>() {
                let _ = card.focus();
            }
        }
    });
    // Projector mode follows the settings (a shared link can carry it).
    use_effect_with(state.settings.projector, |on| set_projector(*on, false));
    let toggle_projector = {
        let dispatch = state.dispatcher();
        let settings = state.settings.clone();
        Callback::from(move |_: ()| {
            let on = !settings.projector;
            set_projector(on, true);
            dispatch.dispatch(Action::Settings(Settings { projector: on, ..settings.clone() }));
        })
    };
    let sheet = use_state(|| false);
    let camera = use_state(|| false);
    let on_camera = {
        let camera = camera.clone();
        Callback::from(move |on: bool| camera.set(on))
    };
    // With an image shown and a method chosen whose runs may share their parts with CPU
    // helpers, the helpers start meanwhile (the worker decides whether they would be used), so
    // the first run does not wait for them.
    {
        let link = link.clone();
        let model = state.model.as_ref().map(|m| m.name.clone());
        let shown = state.shown.is_some() && state.backend == Some(crate::protocol::BackendKind::Cpu);
        let (method, parallel) = (state.settings.method.clone(), state.settings.params.parallel);
        use_effect_with((method, parallel, model, shown), move |(method, parallel, model, shown)| {
            if *shown && model.is_some() && *parallel != Some(false) {
                if let Some(l) = link.borrow().as_ref() {
                    l.borrow().prepare(method);
                }
            }
        });
    }
    // A shared link's sample photo is shown once the model is ready.
    {
        let restored = use_mut_ref(|| false);
        let (image, submit, on_error) = (state.settings.image.clone(), submit.clone(), on_error.clone());
        let first_ready = state.can_submit() && state.shown.is_none() && state.pending.is_none();
        use_effect_with(first_ready, move |ready| {
            if *ready && !*restored.borrow() {
                *restored.borrow_mut() = true;
                if crate::app_state::is_sample_name(&image) {
                    wasm_bindgen_futures::spawn_local(async move {
                        let url = format!("samples/{image}");
                        let Some(window) = web_sys::window() else { return };
                        match crate::wire::fetch_bytes(window.fetch_with_str(&url), &url).await {
                            Ok(bytes) => submit.emit((image, bytes)),
                            Err(message) => on_error.emit(message),
                        }
                    });
                }
            }
        });
    }
    // Keyboard shortcuts (the sheet lists them): one listener, always calling this render's handler.
    let on_key = {
        let settings = state.settings.clone();
        let (sheet, camera, go_step, run_step) = (sheet.clone(), camera.clone(), go_step.clone(), run_step.clone());
        let (on_settings, cancel, stop_optimizing, stop_anatomy, toggle_projector) = (
            on_settings.clone(),
            cancel.clone(),
            stop_optimizing.clone(),
            stop_anatomy.clone(),
            toggle_projector.clone(),
        );
        let dispatch = state.dispatcher();
        let (occluder, has_photo) = (state.occluder, state.shown.is_some());
        let busy = (
            !state.explaining.is_empty(),
            state.optimization.as_ref().is_some_and(|o| o.running),
            state.anatomy.running.is_some(),
        );
        Callback::from(move |e: KeyboardEvent| {
            if e.ctrl_key() || e.meta_key() || e.alt_key() || typing(&e) {
                return;
            }
            let key = e.key();
            if *sheet && key != "?" && key != "Escape" {
                return;
            }
            let step = settings.step;
            let last = STEPS.len() - 1;
            match key.as_str() {
                "?" => sheet.set(!*sheet),
                "Escape" if *sheet => sheet.set(false),
                "Escape" => {
                    if busy.0 {
                        cancel.emit(());
                    }
                    if busy.1 {
                        stop_optimizing.emit(());
                    }
                    if busy.2 {
                        stop_anatomy.emit(());
                    }
                    return;
                }
                "l" => go_step.emit(if step.is_some() { None } else { Some(0) }),
                "n" | "PageDown" if step.is_some() => go_step.emit(step.map(|i| (i + 1).min(last))),
                "p" | "PageUp" if step.is_some() => go_step.emit(step.map(|i| i.saturating_sub(1))),
                "r" if step.is_some() => run_step.emit(()),
                // The panel's own button: it is disabled while there is nothing to explain.
                "r" => {
                    click_testid("explain-run");
                }
                "c" => {
                    click_testid("explain-compare");
                }
                "m" | "M" => {
                    let names = crate::protocol::METHOD_NAMES;
                    let at = names.iter().position(|m| *m == settings.method).unwrap_or(0);
                    let next = if key == "m" { (at + 1) % names.len() } else { (at + names.len() - 1) % names.len() };
                    on_settings.emit(Settings { method: names[next].into(), ..settings.clone() });
                }
                "o" if has_photo => {
                    dispatch.dispatch(Action::Occluder(!occluder));
                    if !occluder {
                        focus_crop();
                    }
                }
                "s" | "S" => {
                    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
                    let Ok(buttons) = doc.query_selector_all("[data-testid=\"sample\"]") else { return };
                    let n = buttons.length();
                    if n == 0 {
                        return;
                    }
                    let at = (0..n).find(|i| {
                        buttons
                            .get(*i)
                            .and_then(|b| b.dyn_into::<web_sys::Element>().ok())
                            .and_then(|b| b.get_attribute("data-sample"))
                            .is_some_and(|f| f == settings.image)
                    });
                    let next = match (at, key == "s") {
                        (None, true) => 0,
                        (None, false) => n - 1,
                        (Some(i), true) => (i + 1) % n,
                        (Some(i), false) => (i + n - 1) % n,
                    };
                    if let Some(b) = buttons.get(next).and_then(|b| b.dyn_into::<web_sys::HtmlElement>().ok()) {
                        b.click();
                    }
                }
                "w" => camera.set(!*camera),
                "f" => toggle_projector.emit(()),
                _ => return,
            }
            e.prevent_default();
        })
    };
    let key_handler = use_mut_ref(Callback::<KeyboardEvent>::noop);
    *key_handler.borrow_mut() = on_key;
    use_effect_with((), move |_| {
        let listener = web_sys::window().and_then(|w| w.document()).map(|doc| {
            // Not passive: a handled key (Page Down, ?) must not also scroll or type.
            let options = gloo::events::EventListenerOptions::enable_prevent_default();
            EventListener::new_with_options(&doc, "keydown", options, move |event| {
                if let Some(e) = event.dyn_ref::<KeyboardEvent>() {
                    key_handler.borrow().emit(e.clone());
                }
            })
        });
        move || drop(listener)
    });
    let (quiz_submit, quiz_explain) = (submit.clone(), explain.clone());
    let lecture_card = |section: &str| -> Html {
        match state.settings.step.filter(|i| STEPS.get(*i).is_some_and(|st| st.place.section() == section)) {
            Some(step) => html! { <LectureCard {step} on_step={go_step.clone()} on_run={run_step.clone()} /> },
            None => Html::default(),
        }
    };
    let s = &*state;
    html! {
        <main class="page">
            <header class="top">
                <div>
                    <h1>{"convlens"}</h1>
                    <p class="tagline">{"Look inside a convolutional network, live in your browser. Your images never leave this tab."}</p>
                </div>
                <nav class="top-actions" aria-label="presenting">
                    <button class="method" data-testid="lecture-toggle" aria-keyshortcuts="l" aria-pressed={s.settings.step.is_some().to_string()}
                            onclick={let go = go_step.clone(); let open = s.settings.step.is_some(); Callback::from(move |_| go.emit(if open { None } else { Some(0) }))}>
                        { if s.settings.step.is_some() { "Leave the lecture path" } else { "Lecture path" } }
                    </button>
                    <button class="method" data-testid="projector-toggle" aria-keyshortcuts="f" aria-pressed={s.settings.projector.to_string()}
                            onclick={let t = toggle_projector.clone(); Callback::from(move |_| t.emit(()))}>
                        {"Projector mode"}
                    </button>
                    <button class="method" data-testid="shortcuts-toggle" aria-keyshortcuts="?"
                            onclick={let sheet = sheet.clone(); Callback::from(move |_| sheet.set(!*sheet))}>
                        {"Keys ?"}
                    </button>
                </nav>
            </header>
            if *sheet {
                <ShortcutSheet on_close={let sheet = sheet.clone(); Callback::from(move |_| sheet.set(false))} />
            }
            <div class="model-picker" ondragover={Callback::from(|e: web_sys::DragEvent| e.prevent_default())} ondrop={on_model_drop}>
                <label>{"Model "}
                    <select onchange={on_model} data-testid="model-picker" disabled={!s.can_submit()}>
                        { for crate::protocol::MODELS.iter().map(|(key, _, title)| html! {
                            <option value={*key} selected={s.own_model.is_none() && s.settings.model == *key}>{*title}</option>
                        }) }
                        if let Some(name) = &s.own_model {
                            <option value="" selected=true>{format!("your file: {name}")}</option>
                        }
                    </select>
                </label>
                <label class="file-button">{"open an .onnx file…"}
                    <input type="file" accept=".onnx" onchange={on_model_file} disabled={!s.can_submit()} data-testid="model-file" />
                </label>
                <label>{"its preprocessing "}
                    <select onchange={on_preprocess} data-testid="model-preprocess">
                        <option value="" selected={preprocess.is_empty()}>{"from the file (else as is)"}</option>
                        { for crate::protocol::PREPROCESS_PRESETS.iter().map(|(key, title)| html! {
                            <option value={*key} selected={*preprocess == *key}>{*title}</option>
                        }) }
                    </select>
                </label>
                <label class="file-button" title="a JSON list, a JSON object from index to name, or one name per line">
                    {"labels file…"}
                    <input type="file" accept=".txt,.json,text/plain,application/json" onchange={on_labels_file}
                           data-testid="model-labels" />
                </label>
                if let Some((name, _)) = &*labels {
                    <span class="muted" data-testid="model-labels-name">{format!("labels: {name} ")}
                        <button class="link" onclick={forget_labels} aria-label="forget the labels file">{"×"}</button>
                    </span>
                }
                if let Some(m) = &s.model {
                    <p class="muted model-summary" data-testid="model-summary">
                        {format!("{}: {} parameters, {} KB, opset {}, input {}×{}{}; {}",
                            m.name, m.parameters, m.file_bytes / 1024, m.opset, m.input_size, m.input_size,
                            if m.channels == 1 { " grey" } else { "" }, m.ops.join(", "))}
                    </p>
                    <details class="model-layers" data-testid="model-layers">
                        <summary>{format!("{} layers, {} of them with a spatial grid the methods can tap (Grad-CAM, neurons, activations, patches: marked ●)",
                            m.layer_shapes.len(), m.layer_shapes.iter().filter(|l| l.spatial).count())}</summary>
                        <ol class="layer-list">
                            { for m.layer_shapes.iter().map(|l| html! {
                                <li class={classes!(l.spatial.then_some("tappable"))}>
                                    {if l.spatial { "● " } else { "" }}<code>{&l.name}</code>
                                    {format!(" {} {}", l.op, l.shape.iter().map(usize::to_string).collect::<Vec<_>>().join("×"))}
                                </li>
                            }) }
                        </ol>
                    </details>
                }
            </div>
            <StatusBar state={state.clone()} />
            if let Some(message) = &s.error {
                <div class="error" role="alert" data-testid="error">
                    <span>{message}</span>
                    <button onclick={dismiss} aria-label="dismiss">{"×"}</button>
                </div>
            }
            {lecture_card("photo")}
            <section class="workspace" id="photo" aria-label="the photo and the network's answer">
                <div class="inputs">
                    <ImageInput on_image={submit.clone()} on_error={on_error.clone()} disabled={!s.can_submit()}
                                model={s.settings.model.clone()} />
                    <Webcam on={*camera} on_toggle={on_camera} on_image={submit} on_error={on_error.clone()}
                            idle={s.can_submit() && s.pending.is_none()} />
                </div>
                <div class="result">
                    <CropView shown={s.shown.clone()} side={s.model.as_ref().map_or(227, |m| m.input_size as u32)}
                              occluder={s.occluder} probe={s.probe.clone()} size={s.settings.occluder_size}
                              class_label={s.class_label(occluded_class)} on_toggle={on_occluder}
                              on_move={on_move} on_size={on_occluder_size}
                              fill={s.settings.params.fill} on_fill={on_occluder_fill} />
                    <div>
                        <Predictions shown={s.shown.clone()} probe={s.occluder.then(|| s.probe.clone()).flatten()} />
                        <SeeingNote text={crate::lecture::panel_note("photo")} />
                    </div>
                </div>
            </section>
            {lecture_card("explain")}
            <section class="explain-section" id="explain">
                <ExplainPanel state={state.clone()} on_settings={on_settings} on_explain={explain}
                              on_cancel={cancel} on_clear={clear} />
            </section>
            {lecture_card("optimize")}
            <section class="explain-section" id="optimize">
                <OptimizePanel state={state.clone()} on_change={on_opt_change} on_start={optimize} on_pause={pause_optimizing}
                               on_stop={stop_optimizing} on_style={on_style} on_clear={clear_made}
                               uploaded_style={uploaded_style.as_ref().map(|(n, _)| n.clone())} />
            </section>
            {lecture_card("anatomy")}
            <section class="explain-section" id="anatomy">
                <AnatomyPanel state={state.clone()} on_request={anatomy} on_stop={stop_anatomy} on_error={on_error}
                              tab={s.settings.tab.clone()} {on_tab} />
            </section>
            <section class="explain-section" id="quiz">
                <QuizPanel state={state.clone()} on_image={quiz_submit} on_explain={quiz_explain} on_model={switch_model} />
            </section>
            <footer>
                {"SqueezeNet 1.1 weights: BSD licence (DeepScale). Fashion-MNIST: MIT licence (Zalando SE); the CNN is trained by this project. Sample photos: public domain (scikit-image). "}
                <a href="models/ATTRIBUTION.md">{"Attributions"}</a>
            </footer>
        </main>
    }
}
