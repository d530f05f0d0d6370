//! The compute worker (browser only): picks the backend once (WebGPU, else the CPU), loads the
//! model, and answers page requests. It runs off the UI thread so the page never freezes; if it
//! dies (device lost, out of memory) the page starts a new one on the CPU.

mod anatomy;
mod backend;
mod helpers;
#[cfg(feature = "threads")]
mod threads;
mod yield_now;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::classify::{class_probabilities, probabilities, read_f32, top_k};
use crate::methods::occlusion::{Unmodified, fill_image, incremental_by_default, paint};
use crate::methods::{Method, Progress};
use crate::model::{Model, ModelInfo, Network};
use crate::protocol::{BackendChoice, ExplainJob, Fill, ModelSummary, Request, Response};

struct Engine {
    info: ModelInfo,
    net: Network,
    backend: crate::protocol::BackendKind,
    /// The last classified crop, which explanations refer to.
    last_crop: RefCell<Option<image::RgbImage>>,
    /// The last classified photo (long side at most `KEPT_SIDE`), which DeepDream, neural style
    /// and fooling start from.
    last_photo: RefCell<Option<image::RgbImage>>,
    /// Neural style's last style image.
    style: RefCell<Option<image::RgbImage>>,
    /// Optimizations the page has paused.
    paused: RefCell<HashSet<u64>>,
    /// Explanations the page has cancelled; each stops at its next progress step.
    cancelled: RefCell<HashSet<u64>>,
    /// The last raw maps of the shown crop, by method, target and parameters (newest last), so a
    /// new colour map, view or opacity, or a repeated run, only draws again.
    maps: RefCell<Vec<(MapKey, Rc<crate::methods::Attribution>)>>,
    /// The live occluder on the CPU: the fill of the shown crop's last probe, and from its
    /// second probe with that fill on, the crop's every activation, from which each probe
    /// recomputes only what its square reaches. An incremental sweep of the crop keeps its own
    /// activations here too, and takes these when they are of its fill.
    probe_base: KeptBase,
    /// The sanity check's randomized copy of the model, by number of randomized layers.
    randomized: RefCell<Option<(usize, Rc<Network>)>>,
    /// Network anatomy's dataset and cached passes.
    anatomy: RefCell<anatomy::Cache>,
    /// The backend's note (why a fallback was taken), repeated when another model loads.
    note: Option<String>,
    /// The model file, for CPU helpers to load their own copies.
    source: Rc<Vec<u8>>,
    /// CPU helpers on other cores (started when the page prepares for a run that can use them,
    /// or at the first such run).
    pool: RefCell<Option<Rc<helpers::Pool>>>,
    pool_tried: Cell<bool>,
    /// An occlusion window has run here ([`crate::methods::occlusion::warm_up`]).
    warmed: Cell<bool>,
}

/// [`Engine::probe_base`]: the fill, and the crop's activations with it once kept.
type KeptBase = RefCell<Option<(Fill, Option<Rc<Unmodified>>)>>;

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn now_ms() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}

/// Posts `[json, bytes?]` to the page.
fn post(response: &Response, bytes: Option<&[u8]>) {
    let _ = scope().post_message(&crate::wire::pack(&response.to_json(), bytes));
    // The wasm memory's size, readable in the worker's global scope (the soak benchmark in
    // tests/browser/bench.mjs watches it stay flat).
    if let Ok(memory) = wasm_bindgen::memory().dyn_into::<js_sys::WebAssembly::Memory>() {
        // (A SharedArrayBuffer in the threaded build: read its length by name.)
        let size =
            js_sys::Reflect::get(&memory.buffer(), &"byteLength".into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let _ = js_sys::Reflect::set(&scope(), &"convlensWasmBytes".into(), &size.into());
    }
    let runs = CONSTRUCTOR_RUNS.load(std::sync::atomic::Ordering::Relaxed);
    let _ = js_sys::Reflect::set(&scope(), &"convlensConstructorRuns".into(), &runs.into());
}

/// How many times this instance ran the module's constructors (`.init_array`: registries in
/// Burn's dependencies, and the counter below). The worker binary runs them once, from `main`
/// (src/bin/worker.rs); where the linker wraps every export in a call to them instead, this
/// count climbs with each call from JavaScript. The browser tests read it in the worker's
/// global scope (`convlensConstructorRuns`, set with each message to the page).
static CONSTRUCTOR_RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

extern "C" fn count_constructor_run() {
    CONSTRUCTOR_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

#[used]
#[unsafe(link_section = ".init_array")]
static COUNT_CONSTRUCTOR_RUNS: extern "C" fn() = count_constructor_run;

/// Entry point of the worker binary.
pub fn start() {
    let engine: Rc<RefCell<Option<Rc<Engine>>>> = Rc::new(RefCell::new(None));
    // Set when this worker is another one's CPU helper.
    let helping: Rc<RefCell<Option<Rc<helpers::Helping>>>> = Rc::new(RefCell::new(None));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let (json, bytes) = crate::wire::unpack(&event.data());
        let (engine, helping) = (engine.clone(), helping.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let loaded = engine.borrow().clone();
            let not_loaded =
                |id| post(&Response::Failed { id: Some(id), message: "the model is not loaded yet".into() }, None);
            match Request::from_json(&json) {
                Ok(Request::Init { backend, model_url }) => init(engine, backend, &model_url).await,
                Ok(Request::Classify { id }) => match loaded {
                    Some(e) => classify(&e, id, bytes.unwrap_or_default()).await,
                    None => not_loaded(id),
                },
                Ok(Request::Explain { id, job }) => match loaded {
                    Some(e) => explain(&e, id, job).await,
                    None => not_loaded(id),
                },
                Ok(Request::Cancel { id }) => {
                    if let Some(e) = loaded {
                        e.cancelled.borrow_mut().insert(id);
                    }
                }
                Ok(Request::Optimize { id, job }) => match loaded {
                    Some(e) => optimize(&e, id, job, bytes).await,
                    None => not_loaded(id),
                },
                Ok(Request::Pause { id, paused }) => {
                    if let Some(e) = loaded {
                        let mut set = e.paused.borrow_mut();
                        if paused {
                            set.insert(id);
                        } else {
                            set.remove(&id);
                        }
                    }
                }
                Ok(Request::SwitchModel { model_url, reclassify }) => match loaded {
                    Some(e) => switch_model(engine, &e, &model_url, reclassify).await,
                    None => post(&Response::Failed { id: None, message: "the model is not loaded yet".into() }, None),
                },
                Ok(Request::OpenModel { preprocess, labels, reclassify }) => match loaded {
                    Some(e) => {
                        let how = Overrides { preprocess, labels };
                        open_model(engine, &e, bytes.unwrap_or_default(), how, reclassify).await
                    }
                    None => post(&Response::Failed { id: None, message: "the model is not loaded yet".into() }, None),
                },
                Ok(Request::Anatomy { id, job }) => match loaded {
                    Some(e) => anatomy::run(&e, id, job, bytes).await,
                    None => not_loaded(id),
                },
                Ok(Request::Probe { id, class, x, y, size, fill }) => match loaded {
                    Some(e) => probe(&e, id, class, [x, y, size], fill).await,
                    None => not_loaded(id),
                },
                Ok(Request::Help { preprocess }) => match helpers::help(&bytes.unwrap_or_default(), preprocess).await {
                    Ok(h) => {
                        *helping.borrow_mut() = Some(Rc::new(h));
                        post(&Response::HelperReady, None);
                    }
                    Err(message) => post(&Response::Failed { id: None, message }, None),
                },
                Ok(Request::Measure { run, part, job }) => {
                    let h = helping.borrow().clone();
                    let values = match h {
                        Some(h) => h.measure(run, part, job, bytes).await,
                        None => Err(helpers::Skipped::Failed),
                    };
                    match values {
                        Ok(v) => {
                            post(&Response::Measured { run, part, ok: true }, Some(&crate::protocol::f32_bytes(&v)))
                        }
                        Err(helpers::Skipped::Failed) => post(&Response::Measured { run, part, ok: false }, None),
                        Err(helpers::Skipped::TakenBack) => {}
                    }
                }
                Ok(Request::Prepare { method }) => {
                    if let Some(e) = loaded.filter(|e| shares_parts(e, &method)) {
                        let started = e.pool().is_some();
                        // This worker's share of the first sweep starts compiled too.
                        if started && method == "occlusion" && !e.warmed.replace(true) {
                            crate::methods::occlusion::warm_up(&e.net, e.info.input_size).await;
                        }
                    }
                }
                Ok(Request::Skip { run, part }) => {
                    if let Some(h) = helping.borrow().as_ref() {
                        h.skip(run, part);
                    }
                }
                Err(e) => post(&Response::Failed { id: None, message: format!("bad request: {e}") }, None),
            }
        });
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(&Response::Started, None);
}

async fn init(slot: Rc<RefCell<Option<Rc<Engine>>>>, choice: BackendChoice, model_url: &str) {
    post(&Response::Loading { message: "looking for WebGPU…".into() }, None);
    let picked = match backend::pick(choice).await {
        Ok(p) => p,
        Err(message) => return post(&Response::Fatal { message }, None),
    };
    load(&slot, picked.kind, picked.note, &picked.device, model_url).await;
}

/// A model that did not load: the worker goes on with the one it has (`Failed`), or cannot go
/// on at all when it has none (`Fatal`). Answers `false`.
fn give_up(slot: &Rc<RefCell<Option<Rc<Engine>>>>, message: String) -> bool {
    let r = if slot.borrow().is_some() { Response::Failed { id: None, message } } else { Response::Fatal { message } };
    post(&r, None);
    false
}

/// Downloads and warms up the model at `model_url` on `device`; on success it replaces the
/// engine in `slot`. Answers `Ready`, or `Fatal` when nothing was loaded before.
async fn load(
    slot: &Rc<RefCell<Option<Rc<Engine>>>>,
    kind: crate::protocol::BackendKind,
    note: Option<String>,
    device: &crate::Device,
    model_url: &str,
) -> bool {
    let give_up = |message: String| give_up(slot, message);
    post(&Response::Loading { message: format!("downloading the model ({})…", kind.as_str()) }, None);
    let bytes = match crate::wire::fetch_bytes(scope().fetch_with_str(model_url), model_url).await {
        Ok(b) => b,
        Err(message) => return give_up(message),
    };
    load_bytes(slot, kind, note, device, bytes, Overrides::default()).await
}

/// What the user sets for their own model file, over what the file says.
#[derive(Default)]
struct Overrides {
    /// A preprocessing preset's key.
    preprocess: Option<String>,
    /// A labels file's text.
    labels: Option<String>,
}

/// Parses, binds and warms up a model from its bytes (`how` overrides the file's preprocessing
/// and labels); on success it replaces the engine in `slot`.
async fn load_bytes(
    slot: &Rc<RefCell<Option<Rc<Engine>>>>,
    kind: crate::protocol::BackendKind,
    note: Option<String>,
    device: &crate::Device,
    bytes: Vec<u8>,
    how: Overrides,
) -> bool {
    let give_up = |message: String| give_up(slot, message);
    let preprocess = match how.preprocess.as_deref().map(|k| crate::protocol::Preprocess::preset(k).ok_or(k)) {
        Some(Err(k)) => return give_up(format!("unknown preprocessing '{k}'")),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let labels = match how.labels.as_deref().map(crate::protocol::parse_labels).transpose() {
        Ok(l) => l,
        Err(e) => return give_up(e.to_string()),
    };
    let loaded = Model::from_bytes(&bytes).and_then(|mut m| {
        if let Some(p) = preprocess {
            m.graph.preprocess = p;
        }
        m.bind(device)
    });
    let (mut info, net) = match loaded {
        Ok(x) => x,
        Err(e) => return give_up(e.to_string()),
    };
    post(&Response::Loading { message: "warming up (compiling kernels)…".into() }, None);
    let start = now_ms();
    let blank =
        image::RgbImage::from_pixel(info.input_size as u32, info.input_size as u32, image::Rgb([128, 128, 128]));
    // One pass keeping every layer: the warm-up, and the shapes of the layers the methods can tap.
    let (classes, layer_shapes) = match crate::model::summary::warm_up(&net, &blank).await {
        Ok(x) => x,
        Err(e) => return give_up(format!("the model does not run: {e}")),
    };
    let warmup_ms = now_ms() - start;
    if let Some(labels) = labels {
        if labels.len() != classes {
            return give_up(format!(
                "the labels file names {} classes but the model has {classes} outputs (× next to its name removes it)",
                labels.len()
            ));
        }
        info.labels = labels;
    }
    let ops = {
        let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for n in &net.graph().nodes {
            *counts.entry(n.op_type.as_str()).or_default() += 1;
        }
        counts.into_iter().map(|(k, v)| format!("{k}×{v}")).collect()
    };
    let model = ModelSummary {
        opset: net.graph().opset,
        ops,
        preprocess: net.graph().preprocess,
        name: info.name.clone(),
        file_bytes: info.file_bytes,
        parameters: info.parameters,
        input_size: info.input_size,
        labels: info.labels.clone(),
        layers: info.taps.clone(),
        channels: info.channels,
        dataset: info.dataset.is_some(),
        layer_shapes,
    };
    let (last_photo, style) = match slot.borrow().as_ref() {
        Some(old) => (old.last_photo.borrow().clone(), old.style.borrow().clone()),
        None => (None, None),
    };
    *slot.borrow_mut() = Some(Rc::new(Engine {
        backend: kind,
        info,
        net,
        last_crop: RefCell::new(None),
        last_photo: RefCell::new(last_photo),
        style: RefCell::new(style),
        paused: RefCell::new(HashSet::new()),
        cancelled: RefCell::new(HashSet::new()),
        maps: RefCell::new(Vec::new()),
        probe_base: RefCell::new(None),
        randomized: RefCell::new(None),
        anatomy: anatomy::fresh(),
        note: note.clone(),
        source: Rc::new(bytes),
        pool: RefCell::new(None),
        pool_tried: Cell::new(false),
        warmed: Cell::new(false),
    }));
    post(&Response::Ready { backend: kind, note, model, warmup_ms }, None);
    true
}

/// The user's own model file on the same device; the last photo is classified again with it.
async fn open_model(
    slot: Rc<RefCell<Option<Rc<Engine>>>>,
    old: &Engine,
    bytes: Vec<u8>,
    how: Overrides,
    reclassify: Option<u64>,
) {
    let device = old.net.device().clone();
    post(&Response::Loading { message: format!("reading the model ({} KB)…", bytes.len() / 1024) }, None);
    if !load_bytes(&slot, old.backend, old.note.clone(), &device, bytes, how).await {
        return;
    }
    let engine = slot.borrow().clone();
    let photo = old.last_photo.borrow().clone();
    if let (Some(e), Some(id), Some(photo)) = (engine, reclassify, photo) {
        classify_image(&e, id, photo).await;
    }
}

/// Another bundled model on the same device; the last photo is classified again with it.
async fn switch_model(slot: Rc<RefCell<Option<Rc<Engine>>>>, old: &Engine, model_url: &str, reclassify: Option<u64>) {
    let device = old.net.device().clone();
    if !load(&slot, old.backend, old.note.clone(), &device, model_url).await {
        return;
    }
    let engine = slot.borrow().clone();
    let photo = old.last_photo.borrow().clone();
    if let (Some(e), Some(id), Some(photo)) = (engine, reclassify, photo) {
        classify_image(&e, id, photo).await;
    }
}

/// The long side of the kept photo: enough for any optimization size.
const KEPT_SIDE: u32 = crate::protocol::MAX_OPT_SIZE as u32;

/// A picture as the worker keeps it: shrunk to `KEPT_SIDE` on its long side if larger.
fn kept(img: image::RgbImage) -> image::RgbImage {
    let (w, h) = img.dimensions();
    if w.max(h) > KEPT_SIDE { crate::image::fit(&img, KEPT_SIDE) } else { img }
}

async fn classify(engine: &Engine, id: u64, bytes: Vec<u8>) {
    match crate::image::decode_rgb(&bytes) {
        Ok(img) => classify_image(engine, id, img).await,
        Err(e) => post(&Response::Failed { id: Some(id), message: e.to_string() }, None),
    }
}

async fn classify_image(engine: &Engine, id: u64, rgb: image::RgbImage) {
    let side = engine.info.input_size as u32;
    let crop = crate::image::center_crop(&rgb, engine.info.resize_shorter as u32, side);
    let start = now_ms();
    let probs = class_probabilities(&engine.net, &crop).await;
    let forward_ms = now_ms() - start;
    match probs {
        Ok(p) => {
            let top5 = top_k(&p, 5, &engine.info);
            let png = crate::image::encode_png(&crop);
            *engine.last_crop.borrow_mut() = Some(crop);
            engine.maps.borrow_mut().clear();
            *engine.probe_base.borrow_mut() = None;
            *engine.last_photo.borrow_mut() = Some(kept(rgb));
            post(&Response::Classified { id, top5, forward_ms }, Some(&png));
        }
        Err(e) => post(&Response::Failed { id: Some(id), message: e.to_string() }, None),
    }
}

impl Engine {
    /// The model with its top `layers` weight layers randomized (kept for the next request).
    fn randomized(&self, layers: usize) -> Result<Rc<Network>, crate::error::ModelError> {
        if let Some((k, net)) = self.randomized.borrow().as_ref()
            && *k == layers
        {
            return Ok(net.clone());
        }
        let net = Rc::new(self.net.randomized(layers, 0)?);
        *self.randomized.borrow_mut() = Some((layers, net.clone()));
        Ok(net)
    }
}

/// The page hears of a run's progress at most this often: each message re-renders the page's
/// view, and on two cores that drawing competes with the workers (BENCHMARKS.md, "…; progress
/// ten times a second": a 32/16 sweep posted ~40 messages before, ~10–15 now).
const PROGRESS_EVERY_MS: f64 = 100.0;

/// Posts progress (the first and last steps, and in between at most every
/// [`PROGRESS_EVERY_MS`]), then yields to the event loop so a `Cancel` can arrive; answers
/// whether to go on.
struct WorkerProgress<'a> {
    engine: &'a Engine,
    id: u64,
    crop: &'a image::RgbImage,
    look: crate::protocol::Look,
    /// CPU helpers taking part in the run.
    share: Option<helpers::RunShare<'a>>,
    /// Where the crop's activations are kept between runs ([`Engine::probe_base`]); `None` for
    /// a run on another network (the sanity check's randomized copy) or off the CPU.
    kept: Option<&'a KeptBase>,
    /// When progress was last posted, and the step it told.
    posted: Option<(f64, usize)>,
}

impl Progress for WorkerProgress<'_> {
    fn tick(&mut self, done: usize, total: usize) -> Pin<Box<dyn Future<Output = bool> + '_>> {
        let now = now_ms();
        let due = match self.posted {
            None => true,
            Some((at, told)) => done != told && (done == total || now - at >= PROGRESS_EVERY_MS),
        };
        if due {
            post(&Response::Progress { id: self.id, done, total }, None);
            self.posted = Some((now, done));
        }
        Box::pin(async move {
            yield_now::yield_now().await;
            !self.engine.cancelled.borrow().contains(&self.id)
        })
    }

    fn preview(&mut self, map: &crate::methods::Attribution) {
        let picture = crate::render::picture(self.crop, map, &self.look);
        post(&Response::Preview { id: self.id }, Some(&crate::image::encode_png(&picture.image)));
    }

    fn helpers(&mut self) -> Option<&mut dyn crate::methods::share::Helpers> {
        self.share.as_mut().map(|s| s as &mut dyn crate::methods::share::Helpers)
    }

    fn kept_unmodified(&mut self) -> Option<Rc<Unmodified>> {
        self.kept?.borrow().as_ref().and_then(|(_, u)| u.clone())
    }

    fn keep_unmodified(&mut self, fill: Fill, unmodified: Rc<Unmodified>) {
        if let Some(slot) = self.kept {
            *slot.borrow_mut() = Some((fill, Some(unmodified)));
        }
    }
}

impl Engine {
    /// The CPU helpers, started on first use; `None` on a GPU, on one core, or where a
    /// worker cannot start workers.
    fn pool(&self) -> Option<Rc<helpers::Pool>> {
        if self.backend != crate::protocol::BackendKind::Cpu {
            return None;
        }
        if !self.pool_tried.replace(true) {
            let n = helpers::useful_helpers(self.source.len());
            let pool = (n > 0).then(|| helpers::Pool::start(n, self.source.clone(), self.net.graph().preprocess));
            *self.pool.borrow_mut() = pool.flatten().map(Rc::new);
        }
        self.pool.borrow().clone()
    }
}

/// Runs on models with smaller inputs stay on one worker (BENCHMARKS.md, "CPU helper workers").
const MIN_SHARED_SIDE: usize = 64;

/// Whether runs of `method` are made of parts that CPU helpers can take (not on tiny inputs:
/// the Fashion-MNIST net's parts take less time than their messages).
fn shares_parts(engine: &Engine, method: &str) -> bool {
    ["occlusion", "smoothgrad", "integrated-gradients"].contains(&method) && engine.info.input_size >= MIN_SHARED_SIDE
}

/// What a raw map depends on, for one crop: method, target and parameters.
type MapKey = (String, crate::protocol::Target, crate::protocol::MethodParams);
/// Raw maps kept per crop (a map is at most 3 × H × W floats: about 0.6 MB at 227×227).
const KEPT_MAPS: usize = 8;

async fn explain(engine: &Engine, id: u64, job: ExplainJob) {
    let fail = |message: String| post(&Response::Failed { id: Some(id), message }, None);
    let Some(crop) = engine.last_crop.borrow().clone() else {
        return fail("classify an image first".into());
    };
    let start = now_ms();
    // Incremental occlusion pays on the CPU for all but small inputs; a GPU prefers whole
    // batched images.
    let mut params = job.params.clone();
    let cpu = engine.backend == crate::protocol::BackendKind::Cpu;
    // An approximate sweep is an incremental one.
    let by_default =
        params.approximate.is_some() || crate::methods::occlusion::incremental_by_default(cpu, engine.info.input_size);
    params.incremental = params.incremental.or(Some(by_default));
    let method = match Method::from_name(&job.method, &params) {
        Ok(m) => m,
        Err(e) => return fail(e.to_string()),
    };
    let x = crate::image::to_tensor(&crop, engine.net.device());
    let randomized = match job.params.randomize {
        0 => None,
        k => match engine.randomized(k) {
            Ok(net) => Some(net),
            Err(e) => return fail(e.to_string()),
        },
    };
    let net = randomized.as_deref().unwrap_or(&engine.net);
    let key: MapKey = (job.method.clone(), job.target.clone(), job.params.clone());
    let kept = engine.maps.borrow().iter().find(|(k, _)| *k == key).map(|(_, a)| a.clone());
    let cached = kept.is_some();
    // Runs made of parts can share them with CPU helpers (a randomized copy of the model stays
    // here).
    let pool =
        (shares_parts(engine, &job.method) && job.params.parallel != Some(false) && randomized.is_none() && !cached)
            .then(|| engine.pool())
            .flatten();
    let mut workers = 1;
    let a = match kept {
        Some(a) => {
            engine.cancelled.borrow_mut().remove(&id);
            a
        }
        None => {
            // SmoothGrad smooths its chosen rule; Integrated Gradients uses the true gradient.
            let rule = if job.method == "smoothgrad" { params.smooth.as_str() } else { "saliency" };
            let share = pool.as_deref().map(|p| p.share(id, &crop, params.clone(), job.target.clone(), rule));
            let _alone = share.is_some().then(helpers::OwnLoopsAlone::new);
            let kept = (cpu && randomized.is_none()).then_some(&engine.probe_base);
            let mut progress = WorkerProgress { engine, id, crop: &crop, look: job.look, share, kept, posted: None };
            let result = method.attribute(net, &x, &job.target, &mut progress).await;
            workers = progress.share.as_ref().map_or(1, |s| s.workers());
            engine.cancelled.borrow_mut().remove(&id);
            let a = match result {
                Ok(a) => Rc::new(a),
                Err(e) => return fail(e.to_string()),
            };
            let mut maps = engine.maps.borrow_mut();
            if maps.len() == KEPT_MAPS {
                maps.remove(0);
            }
            maps.push((key, a.clone()));
            a
        }
    };
    let picture = crate::render::picture(&crop, &a, &job.look);
    let png = crate::image::encode_png(&picture.image);
    let ms = now_ms() - start;
    let response = Response::Explained { id, job, score: a.score, lo: picture.lo, hi: picture.hi, ms, cached, workers };
    post(&response, Some(&png));
}

/// One forward pass of the last crop with a square hidden: the live occluder.
async fn probe(engine: &Engine, id: u64, class: usize, [x, y, size]: [u32; 3], fill: Fill) {
    let fail = |message: String| post(&Response::Failed { id: Some(id), message }, None);
    let Some(crop) = engine.last_crop.borrow().clone() else {
        return fail("classify an image first".into());
    };
    let start = now_ms();
    let (w, h) = crop.dimensions();
    let size = size.clamp(1, w.min(h));
    let (x, y) = (x.min(w - size), y.min(h - size));
    let scores = match probe_scores(engine, &crop, [x, y, size], fill) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let probs = match read_f32(scores).await {
        Ok(s) => probabilities(&s),
        Err(e) => return fail(e.to_string()),
    };
    let prob = probs.get(class).copied().unwrap_or(0.0);
    let top5 = top_k(&probs, 5, &engine.info);
    post(&Response::Probed { id, x, y, size, prob, top5, ms: now_ms() - start }, None);
}

/// The class scores of `crop` with the square `[x, y, size]` filled. On the CPU (where
/// incremental occlusion pays) from the crop's kept activations, recomputing only what the
/// square reaches (the same scores up to float rounding; ~1.6× faster for a 48-pixel square on
/// SqueezeNet, BENCHMARKS.md); elsewhere one whole forward pass.
fn probe_scores(
    engine: &Engine,
    crop: &image::RgbImage,
    [x, y, size]: [u32; 3],
    fill: Fill,
) -> Result<crate::Tensor<2>, String> {
    let at = [y as usize, x as usize];
    let cpu = engine.backend == crate::protocol::BackendKind::Cpu;
    let incremental = incremental_by_default(cpu, engine.info.input_size);
    // What is kept for this crop with this fill (the page's other probes of the crop; dropped
    // when another photo is classified).
    let kept = engine.probe_base.borrow().as_ref().filter(|(f, _)| incremental && *f == fill).map(|(_, b)| b.clone());
    if let Some(Some(base)) = &kept {
        return base.scores(&engine.net, at, [size as usize; 2]).map_err(|e| e.to_string());
    }
    let (w, h) = crop.dimensions();
    let chw = [3, h as usize, w as usize];
    let pixels = crate::image::to_chw(crop).try_into_vec::<f32>().unwrap_or_default();
    let fill_pixels = fill_image(&pixels, chw, fill);
    let device = engine.net.device();
    let tensor = |values: Vec<f32>| {
        crate::Tensor::<4>::from_data(crate::TensorData::new(values, [1, chw[0], chw[1], chw[2]]), device)
    };
    // The crop's first probe is one whole pass (a camera's frames are probed once each); the
    // second keeps the activations (a pass that keeps them, then an incremental one), so a drag
    // pays once for them.
    if kept.is_some() {
        let made = Unmodified::new(&engine.net, &tensor(pixels.clone()), &fill_pixels).map_err(|e| e.to_string())?;
        if let Some(base) = made.map(Rc::new) {
            *engine.probe_base.borrow_mut() = Some((fill, Some(base.clone())));
            return base.scores(&engine.net, at, [size as usize; 2]).map_err(|e| e.to_string());
        }
    } else if incremental {
        *engine.probe_base.borrow_mut() = Some((fill, None));
    }
    let mut img = pixels;
    paint(&mut img, &fill_pixels, chw, (at[0], at[1]), [size as usize; 2]);
    engine.net.scores(tensor(img)).map_err(|e| e.to_string())
}

/// Posts every step of an optimization (the image every few steps), then yields to the event
/// loop so a `Cancel` can arrive.
struct OptimizeProgress<'a> {
    engine: &'a Engine,
    id: u64,
    start: f64,
}

/// Steps between preview images.
const PREVIEW_EVERY: usize = 4;

/// `[1, 3, H, W]` in [0, 1] as PNG bytes; for a grey model, the grey it sees.
async fn tensor_png(x: crate::Tensor<4>, grey: bool) -> Option<Vec<u8>> {
    let x = if grey { x.mean_dim(1).repeat_dim(1, 3) } else { x };
    let [_, _, h, w] = x.dims();
    let data = read_f32(x).await.ok()?;
    Some(crate::image::encode_png(&crate::image::from_chw(&data, h, w)))
}

impl crate::optvis::render::RenderProgress for OptimizeProgress<'_> {
    fn step(&mut self, s: &crate::optvis::Step<'_>) -> Pin<Box<dyn Future<Output = bool> + '_>> {
        let response = Response::OptStep {
            id: self.id,
            step: s.step,
            steps: s.steps,
            value: s.value,
            terms: s.terms.clone(),
            ms: now_ms() - self.start,
        };
        let image = (s.step % PREVIEW_EVERY == 0 || s.step == 1).then(|| s.image.clone());
        Box::pin(async move {
            let png = match image {
                Some(x) => tensor_png(x, self.engine.info.channels == 1).await,
                None => None,
            };
            post(&response, png.as_deref());
            yield_now::yield_now().await;
            // Paused: wait here, between steps, until resumed or cancelled.
            while self.engine.paused.borrow().contains(&self.id) && !self.engine.cancelled.borrow().contains(&self.id) {
                gloo_timers::future::TimeoutFuture::new(50).await;
            }
            !self.engine.cancelled.borrow().contains(&self.id)
        })
    }
}

async fn optimize(engine: &Engine, id: u64, job: crate::protocol::OptimizeJob, style: Option<Vec<u8>>) {
    use crate::optvis::job::{Made, Pictures, make};
    let fail = |message: String| post(&Response::Failed { id: Some(id), message }, None);
    let start = now_ms();
    if let Some(bytes) = style {
        match crate::image::decode_rgb(&bytes) {
            Ok(img) => *engine.style.borrow_mut() = Some(kept(img)),
            Err(e) => return fail(format!("the style image: {e}")),
        }
    }
    let pictures = Pictures { photo: engine.last_photo.borrow().clone(), style: engine.style.borrow().clone() };
    let mut progress = OptimizeProgress { engine, id, start };
    let result = make(&engine.net, &engine.info, &job, &pictures, &mut progress).await;
    engine.cancelled.borrow_mut().remove(&id);
    engine.paused.borrow_mut().remove(&id);
    let made = match result {
        Ok(m) => m,
        Err(e) => return fail(e.to_string()),
    };
    let steps = match &made {
        Made::Fooled { photo, fooled } => {
            let gain = 10.0;
            let difference = crate::optvis::fool::amplified_difference(fooled.image.clone(), photo.clone(), gain);
            let change = (fooled.image.clone() - photo.clone()).abs().max().mul_scalar(255.0);
            let linf = read_f32(change).await.ok().and_then(|v| v.first().copied()).unwrap_or(0.0).round() as u32;
            let top5 = top_k(&fooled.probabilities, 5, &engine.info);
            let response =
                Response::Fooled { id, target: job.class, succeeded: fooled.succeeded(job.class), top5, linf, gain };
            post(&response, tensor_png(difference, engine.info.channels == 1).await.as_deref());
            fooled.steps
        }
        Made::Image(_) => job.steps,
    };
    let png = tensor_png(made.image().clone(), engine.info.channels == 1).await;
    post(&Response::Optimized { id, steps, ms: now_ms() - start }, png.as_deref());
}
