//! CPU helpers: more workers on the browser's other cores, each with its own copy of the model,
//! that take parts of a run ([`Helpers`]: occlusion's batches of windows, SmoothGrad's and
//! Integrated Gradients' batches of images). Threads sharing one wasm memory need cross-origin
//! isolation, which most static hosts cannot give; separate workers need nothing, and the parts
//! are independent, so each travels as a message.
//!
//! The worker starts the pool on its first run that can use it; a helper joins as soon as its
//! model is loaded, so even that first run gains from it. A helper that fails is dropped and its
//! parts done by the run's own worker.

use std::cell::RefCell;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker};

use crate::methods::occlusion::Measurer;
use crate::methods::share::{Helpers, Part};
use crate::methods::{Method, MethodParams, Target};
use crate::model::{Model, Network};
use crate::protocol::{PartJob, Preprocess, Request, Response, f32_bytes, f32s};

/// At most this many helpers, and one for models above `BIG_MODEL` bytes (each helper holds
/// its own copy of the weights and activations).
const MAX_HELPERS: usize = 3;
const BIG_MODEL: usize = 30 << 20;

/// Parts a helper holds at once: the next one waits in its own queue, so it never idles while
/// the run's worker is busy and cannot read its answer yet.
const DEPTH: usize = 2;

/// While a run is shared with helpers, this worker's own loops stay on its thread (the
/// helpers use the other cores; in the threaded build, splitting them too would make the
/// threads and the helpers take turns). Dropped, the loops split again.
pub struct OwnLoopsAlone;

impl OwnLoopsAlone {
    pub fn new() -> Self {
        #[cfg(feature = "threads")]
        crate::model::cpu_par::set_min_parallel_work(usize::MAX);
        OwnLoopsAlone
    }
}

impl Drop for OwnLoopsAlone {
    fn drop(&mut self) {
        #[cfg(feature = "threads")]
        crate::model::cpu_par::set_min_parallel_work(crate::model::cpu_par::MIN_PARALLEL_WORK);
    }
}

/// How many helpers pay here: one per core beyond this worker's, within the limits above.
pub fn useful_helpers(model_bytes: usize) -> usize {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    let cores =
        js_sys::Reflect::get(&navigator, &"hardwareConcurrency".into()).ok().and_then(|c| c.as_f64()).unwrap_or(1.0)
            as usize;
    let cap = if model_bytes > BIG_MODEL { 1 } else { MAX_HELPERS };
    cores.saturating_sub(1).min(cap)
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Starting,
    Ready,
    Dead,
}

struct Helper {
    worker: Worker,
    state: State,
    /// Parts sent and not yet answered: run, part.
    out: Vec<(u64, usize)>,
    /// The run whose crop this helper holds.
    run: Option<u64>,
    _handlers: [Closure<dyn FnMut(JsValue)>; 2],
}

#[derive(Default)]
struct Inner {
    helpers: Vec<Helper>,
    /// Runs going on now; answers for others (a cancelled run's) are dropped on arrival.
    running: HashSet<u64>,
    /// Answers not yet taken: run, part, helper, values.
    answers: Vec<(u64, usize, usize, Option<Vec<f32>>)>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for h in &self.helpers {
            h.worker.set_onmessage(None);
            h.worker.set_onerror(None);
            h.worker.terminate();
        }
    }
}

/// The helpers of one loaded model; dropped (and their workers ended) with it.
pub struct Pool {
    inner: Rc<RefCell<Inner>>,
}

fn post(worker: &Worker, request: &Request, bytes: Option<&[u8]>) {
    let _ = worker.post_message(&crate::wire::pack(&request.to_json(), bytes));
}

impl Pool {
    /// Starts `n` helpers loading `model` (the file's bytes) with `preprocess`. `None` when not
    /// one could be started (a browser without workers in workers): runs then go on alone.
    pub fn start(n: usize, model: Rc<Vec<u8>>, preprocess: Preprocess) -> Option<Pool> {
        let inner = Rc::new(RefCell::new(Inner::default()));
        for i in 0..n {
            let Some(worker) = spawn() else { break };
            let on_message = {
                let (inner, model, worker) = (Rc::downgrade(&inner), model.clone(), worker.clone());
                Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                    let Ok(event) = event.dyn_into::<MessageEvent>() else { return };
                    let (json, bytes) = crate::wire::unpack(&event.data());
                    match Response::from_json(&json) {
                        Ok(Response::Started) => post(&worker, &Request::Help { preprocess }, Some(&model)),
                        Ok(Response::HelperReady) => set_ready(&inner, i),
                        Ok(Response::Measured { run, part, ok }) => {
                            let values = bytes.filter(|_| ok).and_then(|b| f32s(&b));
                            answered(&inner, i, run, part, values)
                        }
                        Ok(Response::Failed { .. } | Response::Fatal { .. }) | Err(_) => failed(&inner, i),
                        Ok(_) => {}
                    }
                })
            };
            let on_error = {
                let inner = Rc::downgrade(&inner);
                Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| failed(&inner, i))
            };
            worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            let handlers = [on_message, on_error];
            let helper = Helper { worker, state: State::Starting, out: Vec::new(), run: None, _handlers: handlers };
            inner.borrow_mut().helpers.push(helper);
        }
        let started = !inner.borrow().helpers.is_empty();
        started.then_some(Pool { inner })
    }

    /// The pool's share of run `run` on `crop`: with `params` and `target` as the run's own
    /// worker has them, and `rule` the gradient rule of image parts.
    pub fn share<'a>(
        &'a self,
        run: u64,
        crop: &'a image::RgbImage,
        params: MethodParams,
        target: Target,
        rule: &str,
    ) -> RunShare<'a> {
        self.inner.borrow_mut().running.insert(run);
        RunShare { pool: self, run, crop, params, target, rule: rule.into(), used: HashSet::new() }
    }
}

/// A helper worker. It instantiates this worker's own compiled module, posted to
/// `helper-loader.js`: no second download or compile, so it joins a run sooner (the first
/// shared sweep 758 → 631 ms; BENCHMARKS.md, "Helpers share the worker's compiled module"). In
/// the threaded build, the single-thread worker's file instead (a helper needs no threads of its
/// own: the helpers themselves use the cores); where a module cannot be posted, this worker's
/// script.
fn spawn() -> Option<Worker> {
    if cfg!(feature = "threads") {
        return Worker::new("./worker_loader.js").ok();
    }
    let glue = if cfg!(feature = "relaxed-simd") { "./worker-relaxed.js" } else { "./worker.js" };
    let first = js_sys::Object::new();
    let module_posted = js_sys::Reflect::set(&first, &"glue".into(), &glue.into()).is_ok()
        && js_sys::Reflect::set(&first, &"module".into(), &wasm_bindgen::module()).is_ok();
    if module_posted && let Ok(worker) = Worker::new("./helper-loader.js") {
        if worker.post_message(&first).is_ok() {
            return Some(worker);
        }
        worker.terminate();
    }
    let own = js_sys::Reflect::get(&js_sys::global(), &"location".into())
        .and_then(|l| js_sys::Reflect::get(&l, &"href".into()))
        .ok()?
        .as_string()?;
    Worker::new(&own).ok()
}

fn set_ready(inner: &Weak<RefCell<Inner>>, i: usize) {
    if let Some(inner) = inner.upgrade()
        && let Some(h) = inner.borrow_mut().helpers.get_mut(i)
        && h.state == State::Starting
    {
        h.state = State::Ready;
    }
}

fn answered(inner: &Weak<RefCell<Inner>>, i: usize, run: u64, part: usize, values: Option<Vec<f32>>) {
    let Some(inner) = inner.upgrade() else { return };
    let mut inner = inner.borrow_mut();
    let Some(h) = inner.helpers.get_mut(i) else { return };
    let Some(k) = h.out.iter().position(|&o| o == (run, part)) else { return };
    h.out.remove(k);
    if inner.running.contains(&run) {
        inner.answers.push((run, part, i, values));
    }
}

/// A helper that failed or crashed is ended; its parts go back to their runs.
fn failed(inner: &Weak<RefCell<Inner>>, i: usize) {
    let Some(inner) = inner.upgrade() else { return };
    let mut inner = inner.borrow_mut();
    let Some(h) = inner.helpers.get_mut(i) else { return };
    h.state = State::Dead;
    h.worker.terminate();
    let out = std::mem::take(&mut h.out);
    for (run, part) in out {
        if inner.running.contains(&run) {
            inner.answers.push((run, part, i, None));
        }
    }
}

/// One run's view of the pool.
pub struct RunShare<'a> {
    pool: &'a Pool,
    run: u64,
    crop: &'a image::RgbImage,
    params: MethodParams,
    target: Target,
    rule: String,
    /// Helpers that did at least one part of this run.
    used: HashSet<usize>,
}

impl RunShare<'_> {
    /// CPU workers that computed this run: this one and the helpers that took part.
    pub fn workers(&self) -> usize {
        1 + self.used.len()
    }
}

impl Drop for RunShare<'_> {
    fn drop(&mut self) {
        let mut inner = self.pool.inner.borrow_mut();
        inner.running.remove(&self.run);
        let run = self.run;
        inner.answers.retain(|a| a.0 != run);
    }
}

impl Helpers for RunShare<'_> {
    fn send(&mut self, key: usize, part: &dyn Fn() -> Part) -> bool {
        let mut inner = self.pool.inner.borrow_mut();
        let ready = inner.helpers.iter_mut().filter(|h| h.state == State::Ready && h.out.len() < DEPTH);
        let Some(h) = ready.min_by_key(|h| h.out.len()) else { return false };
        let (width, height) = self.crop.dimensions();
        let (job, bytes) = match part() {
            Part::Windows(at) => {
                let (params, target) = (self.params.clone(), self.target.clone());
                // The crop travels once per run and helper.
                let crop = (h.run != Some(self.run)).then(|| self.crop.as_raw().clone());
                (PartJob::Windows { at, params, target, width, height }, crop)
            }
            Part::Images { pixels, weights } => {
                let shape = [3, height as usize, width as usize];
                let (target, rule) = (self.target.clone(), self.rule.clone());
                (PartJob::Images { weights, shape, target, rule }, Some(f32_bytes(&pixels)))
            }
        };
        post(&h.worker, &Request::Measure { run: self.run, part: key, job }, bytes.as_deref());
        h.run = Some(self.run);
        h.out.push((self.run, key));
        true
    }

    fn answers(&mut self) -> Vec<(usize, Option<Vec<f32>>)> {
        let mut inner = self.pool.inner.borrow_mut();
        let run = self.run;
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.answers).into_iter().partition(|a| a.0 == run);
        inner.answers = others;
        mine.into_iter()
            .map(|(_, part, helper, values)| {
                if values.is_some() {
                    self.used.insert(helper);
                }
                (part, values)
            })
            .collect()
    }

    fn take_back(&mut self) -> Option<usize> {
        // A helper's first part may have begun; the ones behind it wait in its queue.
        let mut inner = self.pool.inner.borrow_mut();
        let run = self.run;
        let h = inner.helpers.iter_mut().find(|h| h.out.len() > 1 && h.out.last().is_some_and(|o| o.0 == run))?;
        let (_, part) = h.out.pop()?;
        post(&h.worker, &Request::Skip { run, part }, None);
        Some(part)
    }

    fn wait(&mut self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(gloo_timers::future::TimeoutFuture::new(4))
    }
}

/// This worker as a helper: its own copy of the model on the CPU, and the occlusion run whose
/// measurer it holds.
pub struct Helping {
    net: Network,
    sweep: RefCell<Option<(u64, Rc<Measurer>)>>,
    /// Parts taken back before they began: run, part.
    skipped: RefCell<HashSet<(u64, usize)>>,
}

/// Loads the model for `Request::Help` and runs one occlusion window
/// ([`crate::methods::occlusion::warm_up`]); answers `HelperReady` or `Failed`.
pub async fn help(bytes: &[u8], preprocess: Preprocess) -> Result<Helping, String> {
    let mut model = Model::from_bytes(bytes).map_err(|e| e.to_string())?;
    model.graph.preprocess = preprocess;
    let (info, net) = model.bind(&crate::Device::flex()).map_err(|e| e.to_string())?;
    crate::methods::occlusion::warm_up(&net, info.input_size).await;
    Ok(Helping { net, sweep: RefCell::new(None), skipped: RefCell::new(HashSet::new()) })
}

impl Helping {
    /// Part `part` of run `run` will not be needed.
    pub fn skip(&self, run: u64, part: usize) {
        self.skipped.borrow_mut().insert((run, part));
    }

    /// Does part `part` (`job`) of run `run` (`bytes`: what travels alongside); `None` when it
    /// could not, or was taken back meanwhile (`Skipped`).
    pub async fn measure(
        &self,
        run: u64,
        part: usize,
        job: PartJob,
        bytes: Option<Vec<u8>>,
    ) -> Result<Vec<f32>, Skipped> {
        // A `Skip` for this part, sent while it waited here, is read first (a message to
        // itself queues behind it; a zero-delay timer kept the helper waiting ~0.5 ms longer
        // per part, BENCHMARKS.md).
        super::yield_now::yield_now().await;
        if self.skipped.borrow_mut().remove(&(run, part)) {
            return Err(Skipped::TakenBack);
        }
        self.part(run, job, bytes).await.ok_or(Skipped::Failed)
    }

    async fn part(&self, run: u64, job: PartJob, bytes: Option<Vec<u8>>) -> Option<Vec<f32>> {
        match job {
            PartJob::Windows { at, params, target, width, height } => {
                let known = self.sweep.borrow().as_ref().filter(|(s, _)| *s == run).map(|(_, m)| m.clone());
                let measurer = match known {
                    Some(m) => m,
                    None => {
                        let crop = image::RgbImage::from_raw(width, height, bytes?)?;
                        let Ok(Method::Occlusion(p)) = Method::from_name("occlusion", &params) else { return None };
                        let x = crate::image::to_tensor(&crop, self.net.device());
                        // The last sweep's activations, if it was of the same image and fill.
                        let kept = self.sweep.borrow().as_ref().and_then(|(_, m)| m.unmodified().cloned());
                        let m = Rc::new(Measurer::reusing(&self.net, &x, &target, &p, kept).await.ok()?);
                        *self.sweep.borrow_mut() = Some((run, m.clone()));
                        m
                    }
                };
                measurer.measure(&self.net, &at).await.ok()
            }
            PartJob::Images { weights, shape, target, rule } => {
                let rule = crate::methods::gradient::parse_rule(&rule).ok()?;
                let pixels = f32s(&bytes?)?;
                let (net, device) = (&self.net, self.net.device());
                crate::methods::gradient::weighted_gradient_sum(net, pixels, shape, &weights, &target, rule, device)
                    .await
                    .ok()
            }
        }
    }
}

/// Why a helper gives no values for a part.
pub enum Skipped {
    /// The run's own worker took it back (nothing is answered).
    TakenBack,
    /// It could not be done (answered `ok: false`).
    Failed,
}
