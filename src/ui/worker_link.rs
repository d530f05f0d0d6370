//! Owns the compute worker: starts it, forwards its messages as [`Action`]s, and restarts it
//! on the CPU if it dies (a lost GPU device or a crash must not take the page down).

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};
use yew::Callback;

use crate::app_state::Action;
use crate::error::DEVICE_FAILED;
use crate::protocol::{BackendChoice, Request, Response};

const WORKER_URL: &str = "./worker_loader.js";
/// The threaded CPU worker (scripts/build-threads.sh), for cross-origin-isolated pages.
const THREADS_URL: &str = "./convlens-threads-loader.js";
/// The CPU worker built with relaxed SIMD (scripts/build-relaxed.sh), where the browser has it.
const RELAXED_URL: &str = "./worker-relaxed-loader.js";
const MAX_RESTARTS: u32 = 2;
/// The request id of a restarted worker's re-classification of the shown photo.
const RESTORE_ID: u64 = u64::MAX;

pub struct WorkerLink {
    worker: Option<Worker>,
    /// The live occluder sends one probe at a time: the one in flight, and the latest
    /// position asked for meanwhile (older ones are dropped, so the answers keep up).
    probe_in_flight: Option<u64>,
    probe_next: Option<Request>,
    restarts: u32,
    /// Whether the worker now is the threaded CPU build, or the relaxed-SIMD one, and whether
    /// it has started.
    threaded: bool,
    relaxed: bool,
    started: bool,
    /// Set once the threaded build failed to start (absent, or refused by the browser).
    no_threads: bool,
    /// Set once the relaxed-SIMD build failed to start (absent, or refused by the browser).
    no_relaxed: bool,
    /// The page found `navigator.gpu` but no adapter ([`WorkerLink::start`]): "best for this
    /// device" means the CPU, and a cross-origin-isolated page can give it threads.
    no_adapter: bool,
    /// Requests made while the first worker waits for that check: sent once it starts.
    queued: RefCell<Vec<(Request, Option<Vec<u8>>)>>,
    /// The model loaded now (a restarted worker loads it again).
    model_url: &'static str,
    /// The last photo sent for classification: a restarted worker gets it again once ready,
    /// so the shown image can be explained at once.
    last_photo: RefCell<Option<Rc<Vec<u8>>>>,
    resend_photo: bool,
    /// The user's own model file as last opened (bytes, preprocessing, labels): pending until
    /// the worker answers `Ready`, then loaded; a restarted worker gets it again.
    own_model: RefCell<(Option<OwnModel>, Option<OwnModel>)>,
    dispatch: Callback<Action>,
    // Closures must live as long as the worker uses them.
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

pub type SharedLink = Rc<RefCell<WorkerLink>>;

/// An opened model file and the user's choices for it.
type OwnModel = (Rc<Vec<u8>>, Option<String>, Option<String>);

impl WorkerLink {
    /// Starts the worker, which loads the model at `model_url` (relative to the page).
    pub fn start(choice: BackendChoice, model_url: &'static str, dispatch: Callback<Action>) -> SharedLink {
        let link = Rc::new(RefCell::new(WorkerLink {
            worker: None,
            probe_in_flight: None,
            probe_next: None,
            restarts: 0,
            threaded: false,
            relaxed: false,
            started: false,
            no_threads: false,
            no_relaxed: false,
            no_adapter: false,
            queued: RefCell::new(Vec::new()),
            model_url: crate::protocol::MODELS[0].1,
            last_photo: RefCell::new(None),
            resend_photo: false,
            own_model: RefCell::new((None, None)),
            dispatch,
            _handlers: Vec::new(),
        }));
        link.borrow_mut().model_url = model_url;
        if choice == BackendChoice::Auto && threads_possible() && has_navigator_gpu() {
            // A browser may offer WebGPU and still have no adapter for it (no usable GPU,
            // or WebGPU off): ask first, so that such a page computes on CPU threads rather
            // than on the single-thread worker's fallback. Requests meanwhile are queued.
            let later = link.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let none = adapter_missing().await;
                later.borrow_mut().no_adapter = none;
                Self::spawn(&later, choice);
                let l = later.borrow();
                if let Some(w) = &l.worker {
                    for (request, bytes) in l.queued.borrow_mut().drain(..) {
                        post(w, &request, bytes.as_deref());
                    }
                }
            });
        } else {
            Self::spawn(&link, choice);
        }
        link
    }

    fn spawn(link: &SharedLink, choice: BackendChoice) {
        let model_url = link.borrow().model_url;
        let dispatch = link.borrow().dispatch.clone();
        let (threaded, relaxed) = {
            let l = link.borrow();
            let threaded = !l.no_threads && wants_threads(choice, l.no_adapter);
            (threaded, !threaded && !l.no_relaxed && relaxed_simd())
        };
        let url = match (threaded, relaxed) {
            (true, _) => THREADS_URL,
            (false, true) => RELAXED_URL,
            (false, false) => WORKER_URL,
        };
        let worker = match Worker::new(url) {
            Ok(w) => w,
            Err(e) => {
                dispatch.emit(Action::Worker(
                    Response::Fatal { message: format!("cannot start the compute worker: {e:?}") },
                    None,
                ));
                return;
            }
        };
        let on_message = {
            let dispatch = dispatch.clone();
            let link = Rc::downgrade(link);
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let Ok(event) = event.dyn_into::<MessageEvent>() else { return };
                let (json, bytes) = crate::wire::unpack(&event.data());
                let bytes = bytes.map(Rc::new);
                match Response::from_json(&json) {
                    Ok(Response::Started) => {
                        if let Some(link) = link.upgrade() {
                            link.borrow_mut().started = true;
                            if let Some(w) = &link.borrow().worker {
                                post(w, &Request::Init { backend: choice, model_url: model_url.into() }, None);
                            }
                        }
                    }
                    // A lost or failed GPU device does not come back: the worker starts again
                    // on the CPU, as after a crash.
                    Ok(Response::Failed { message, .. }) if message.starts_with(DEVICE_FAILED) => {
                        if let Some(link) = link.upgrade() {
                            WorkerLink::crashed(&link, message);
                        }
                    }
                    Ok(response) => {
                        if let (Response::Probed { id, .. } | Response::Failed { id: Some(id), .. }, Some(link)) =
                            (&response, link.upgrade())
                        {
                            link.borrow_mut().probe_answered(*id);
                        }
                        if let Some(link) = link.upgrade() {
                            let l = link.borrow();
                            let mut own = l.own_model.borrow_mut();
                            match &response {
                                // A model loaded: the file opened last is the one in use.
                                Response::Ready { .. } if own.0.is_some() => own.1 = own.0.take(),
                                Response::Failed { id: None, .. } => own.0 = None,
                                _ => {}
                            }
                        }
                        let resend = matches!(response, Response::Ready { .. })
                            .then(|| link.upgrade())
                            .flatten()
                            .filter(|l| std::mem::take(&mut l.borrow_mut().resend_photo));
                        dispatch.emit(Action::Worker(response, bytes));
                        if let Some(link) = resend {
                            let l = link.borrow();
                            // The user's own model first (the restarted worker loaded the bundled
                            // one); the photo goes to whichever engine is up, and carries over.
                            let own = l.own_model.borrow().1.clone();
                            if let (Some(w), Some((bytes, preprocess, labels))) = (&l.worker, own) {
                                post(w, &Request::OpenModel { preprocess, labels, reclassify: None }, Some(&bytes));
                            }
                            let photo = l.last_photo.borrow().clone();
                            if let (Some(w), Some(photo)) = (&l.worker, photo) {
                                // Not the page's pending id: its answer only restores the photo.
                                post(w, &Request::Classify { id: RESTORE_ID }, Some(&photo));
                            }
                        }
                    }
                    Err(e) => dispatch.emit(Action::PageError(format!("unreadable worker message: {e}"))),
                }
            })
        };
        let on_error = {
            let link = Rc::downgrade(link);
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let message = event
                    .dyn_ref::<ErrorEvent>()
                    .map(|e| e.message())
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "unknown error".into());
                let Some(link) = link.upgrade() else { return };
                // The threaded or relaxed-SIMD build did not start (its files are absent, or
                // the browser refused its shared memory or its instructions): the plain
                // single-thread worker instead, with nothing lost.
                let unstarted_build = {
                    let l = link.borrow();
                    (l.threaded || l.relaxed) && !l.started
                };
                if unstarted_build {
                    {
                        let mut l = link.borrow_mut();
                        if let Some(w) = l.worker.take() {
                            w.terminate();
                        }
                        if l.threaded {
                            l.no_threads = true;
                        } else {
                            l.no_relaxed = true;
                        }
                        l.resend_photo = true;
                    }
                    WorkerLink::spawn(&link, choice);
                    return;
                }
                WorkerLink::crashed(&link, message);
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let mut l = link.borrow_mut();
        l.worker = Some(worker);
        (l.threaded, l.relaxed, l.started) = (threaded, relaxed, false);
        l._handlers = vec![on_message, on_error];
    }

    fn crashed(link: &SharedLink, message: String) {
        let (dispatch, restarts) = {
            let mut l = link.borrow_mut();
            if let Some(w) = l.worker.take() {
                w.terminate();
            }
            l.probe_in_flight = None;
            l.probe_next = None;
            l.restarts += 1;
            l.resend_photo = true;
            (l.dispatch.clone(), l.restarts)
        };
        if restarts > MAX_RESTARTS {
            dispatch.emit(Action::Worker(
                Response::Fatal { message: format!("the compute worker keeps failing: {message}") },
                None,
            ));
            return;
        }
        dispatch.emit(Action::WorkerCrashed(message));
        Self::spawn(link, BackendChoice::Cpu);
    }

    /// An image is shown with `method` chosen: the worker starts the CPU helpers that method's
    /// runs would share their parts with, if any.
    pub fn prepare(&self, method: &str) {
        self.send(&Request::Prepare { method: method.into() });
    }

    pub fn explain(&self, id: u64, job: crate::protocol::ExplainJob) {
        self.send(&Request::Explain { id, job });
    }

    /// Starts an optimization; neural style's style image (encoded) travels alongside.
    pub fn optimize(&self, id: u64, job: crate::protocol::OptimizeJob, style: Option<&[u8]>) {
        self.send_with(&Request::Optimize { id, job }, style);
    }

    pub fn pause(&self, id: u64, paused: bool) {
        self.send(&Request::Pause { id, paused });
    }

    pub fn cancel(&self, id: u64) {
        self.send(&Request::Cancel { id });
    }

    pub fn probe(&mut self, id: u64, class: usize, [x, y, size]: [u32; 3], fill: crate::protocol::Fill) {
        let request = Request::Probe { id, class, x, y, size, fill };
        if self.probe_in_flight.is_some() {
            self.probe_next = Some(request);
        } else {
            self.probe_in_flight = Some(id);
            self.send(&request);
        }
    }

    fn probe_answered(&mut self, id: u64) {
        if self.probe_in_flight != Some(id) {
            return;
        }
        self.probe_in_flight = None;
        if let Some(Request::Probe { id, class, x, y, size, fill }) = self.probe_next.take() {
            self.probe(id, class, [x, y, size], fill);
        }
    }

    fn send(&self, request: &Request) {
        self.send_with(request, None);
    }

    /// Posts to the worker; before the first one exists (the adapter check), queues.
    fn send_with(&self, request: &Request, bytes: Option<&[u8]>) {
        match &self.worker {
            Some(w) => post(w, request, bytes),
            None if self.restarts == 0 => self.queued.borrow_mut().push((request.clone(), bytes.map(<[u8]>::to_vec))),
            None => {}
        }
    }

    /// Loads another bundled model; the shown photo is classified again under `reclassify`.
    pub fn switch_model(&mut self, model_url: &'static str, reclassify: Option<u64>) {
        self.model_url = model_url;
        *self.own_model.borrow_mut() = (None, None);
        self.send(&Request::SwitchModel { model_url: model_url.into(), reclassify });
    }

    /// The user's own ONNX file; `preprocess` (a preset key) overrides the file's own.
    pub fn open_model(
        &self,
        bytes: Rc<Vec<u8>>,
        preprocess: Option<String>,
        labels: Option<String>,
        reclassify: Option<u64>,
    ) {
        self.send_with(
            &Request::OpenModel { preprocess: preprocess.clone(), labels: labels.clone(), reclassify },
            Some(&bytes),
        );
        // Shared with the page's copy, not copied.
        self.own_model.borrow_mut().0 = Some((bytes, preprocess, labels));
    }

    /// A network-anatomy request; a dataset's packed files travel alongside.
    pub fn anatomy(&self, id: u64, job: crate::protocol::AnatomyJob, bytes: Option<&[u8]>) {
        self.send_with(&Request::Anatomy { id, job }, bytes);
    }

    pub fn classify(&self, id: u64, bytes: &[u8]) {
        *self.last_photo.borrow_mut() = Some(Rc::new(bytes.to_vec()));
        self.send_with(&Request::Classify { id }, Some(bytes));
    }
}

/// Whether to start the threaded CPU worker: threads are possible ([`threads_possible`]) and
/// the work goes to the CPU (asked for, no WebGPU at all, or no adapter for it).
fn wants_threads(choice: BackendChoice, no_adapter: bool) -> bool {
    let cpu = match choice {
        BackendChoice::Cpu => true,
        BackendChoice::Auto => !has_navigator_gpu() || no_adapter,
        BackendChoice::WebGpu | BackendChoice::CpuNdarray => false,
    };
    cpu && threads_possible()
}

/// A module whose one function is `f32x4.relaxed_madd` of its three parameters: it validates
/// where the browser has relaxed SIMD.
const RELAXED_PROBE: [u8; 37] = [
    0, 97, 115, 109, 1, 0, 0, 0, // magic, version
    1, 8, 1, 96, 3, 123, 123, 123, 1, 123, // type: (v128, v128, v128) → v128
    3, 2, 1, 0, // one function of that type
    10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11, // local.get 0 1 2; f32x4.relaxed_madd
];

/// The relaxed-SIMD worker was built (scripts/build-relaxed.sh marks the page), the browser
/// has relaxed SIMD and the URL does not say `?relaxed=false`.
fn relaxed_simd() -> bool {
    let built = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("meta[name=\"convlens-relaxed\"]").ok().flatten())
        .is_some();
    built
        && !switched_off("relaxed")
        && js_sys::WebAssembly::validate(&js_sys::Uint8Array::from(&RELAXED_PROBE[..]).into()).unwrap_or(false)
}

/// The page is cross-origin isolated (so its wasm memory can be shared) and the URL does not
/// say `?threads=false`.
fn threads_possible() -> bool {
    let isolated = js_sys::Reflect::get(&js_sys::global(), &"crossOriginIsolated".into()).is_ok_and(|v| v.is_truthy());
    isolated && !switched_off("threads")
}

/// The page's URL says `?name=false`.
fn switched_off(name: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|s| web_sys::UrlSearchParams::new_with_str(&s).ok())
        .and_then(|p| p.get(name))
        .is_some_and(|v| v == "false")
}

fn navigator_gpu() -> JsValue {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    js_sys::Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED)
}

fn has_navigator_gpu() -> bool {
    let gpu = navigator_gpu();
    !gpu.is_undefined() && !gpu.is_null()
}

/// Whether `navigator.gpu.requestAdapter()` answers `null` (no adapter), within 3 s; an error
/// or no answer in time counts as "not known", and the worker tries WebGPU itself as before.
async fn adapter_missing() -> bool {
    let gpu = navigator_gpu();
    let request = js_sys::Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call0(&gpu).ok())
        .and_then(|p| p.dyn_into::<js_sys::Promise>().ok());
    let Some(request) = request else { return false };
    let timeout = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 3000);
        }
    });
    let first = js_sys::Promise::race(&js_sys::Array::of2(&request, &timeout));
    // The timeout resolves with `undefined`, an adapter is an object: only `null` means none.
    wasm_bindgen_futures::JsFuture::from(first).await.is_ok_and(|v| v.is_null())
}

fn post(worker: &Worker, request: &Request, bytes: Option<&[u8]>) {
    let _ = worker.post_message(&crate::wire::pack(&request.to_json(), bytes));
}
