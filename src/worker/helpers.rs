//! CPU helpers: more workers on the browser's other cores, each with its own copy of the model,
//! that measure batches of an occlusion sweep ([`Helpers`]). Threads sharing one wasm memory
//! need cross-origin isolation, which most static hosts cannot give; separate workers need
//! nothing, and a sweep's batches are independent, so each travels as a small message.
//!
//! The worker that runs the sweep starts the pool on its first CPU sweep; a helper joins as
//! soon as its model is loaded, so even that first sweep gains from it. A helper that fails is
//! dropped and its batch measured by the sweep's own worker.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::{Rc, Weak};

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker};

use crate::methods::occlusion::{Helpers, Measurer};
use crate::methods::{Method, MethodParams, Target};
use crate::model::{Model, Network};
use crate::protocol::{Preprocess, Request, Response};

/// At most this many helpers, and one for models above `BIG_MODEL` bytes (each helper holds
/// its own copy of the weights and activations).
const MAX_HELPERS: usize = 3;
const BIG_MODEL: usize = 30 << 20;

/// How many helpers pay here: one per core beyond this worker's, within the limits above.
pub fn useful_helpers(model_bytes: usize) -> usize {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    let cores =
        js_sys::Reflect::get(&navigator, &"hardwareConcurrency".into()).ok().and_then(|c| c.as_f64()).unwrap_or(1.0)
            as usize;
    let cap = if model_bytes > BIG_MODEL { 1 } else { MAX_HELPERS };
    cores.saturating_sub(1).min(cap)
}

/// Batches a helper holds at once: the next one waits in its own queue, so it never idles
/// while the sweep's worker is busy and cannot read its answer yet.
const DEPTH: usize = 2;

#[derive(Clone, Copy, PartialEq)]
enum State {
    Starting,
    Ready,
    Dead,
}

struct Helper {
    worker: Worker,
    state: State,
    /// Batches sent and not yet answered: sweep, batch.
    out: Vec<(u64, usize)>,
    /// The sweep whose crop this helper holds.
    sweep: Option<u64>,
    _handlers: [Closure<dyn FnMut(JsValue)>; 2],
}

#[derive(Default)]
struct Inner {
    helpers: Vec<Helper>,
    /// Sweeps running now; answers for others (a cancelled sweep's) are dropped on arrival.
    running: HashSet<u64>,
    /// Answers not yet taken: sweep, batch, helper, values.
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
    /// one could be started (a browser without workers in workers): sweeps then run alone.
    pub fn start(n: usize, model: Rc<Vec<u8>>, preprocess: Preprocess) -> Option<Pool> {
        let url = js_sys::Reflect::get(&js_sys::global(), &"location".into())
            .and_then(|l| js_sys::Reflect::get(&l, &"href".into()))
            .ok()?
            .as_string()?;
        let inner = Rc::new(RefCell::new(Inner::default()));
        for i in 0..n {
            let Ok(worker) = Worker::new(&url) else { break };
            let on_message = {
                let (inner, model, worker) = (Rc::downgrade(&inner), model.clone(), worker.clone());
                Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                    let Ok(event) = event.dyn_into::<MessageEvent>() else { return };
                    let (json, _) = crate::wire::unpack(&event.data());
                    match Response::from_json(&json) {
                        Ok(Response::Started) => post(&worker, &Request::Help { preprocess }, Some(&model)),
                        Ok(Response::HelperReady) => set_ready(&inner, i),
                        Ok(Response::Measured { sweep, batch, values }) => answered(&inner, i, sweep, batch, values),
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
            let helper = Helper {
                worker,
                state: State::Starting,
                out: Vec::new(),
                sweep: None,
                _handlers: [on_message, on_error],
            };
            inner.borrow_mut().helpers.push(helper);
        }
        let started = !inner.borrow().helpers.is_empty();
        started.then_some(Pool { inner })
    }

    /// The pool's share of sweep `sweep` of `crop`, measured with `params` and `target` (as the
    /// sweep's own worker measures).
    pub fn share<'a>(
        &'a self,
        sweep: u64,
        crop: &'a image::RgbImage,
        params: MethodParams,
        target: Target,
    ) -> SweepShare<'a> {
        self.inner.borrow_mut().running.insert(sweep);
        SweepShare { pool: self, sweep, crop, params, target, used: HashSet::new() }
    }
}

fn set_ready(inner: &Weak<RefCell<Inner>>, i: usize) {
    if let Some(inner) = inner.upgrade()
        && let Some(h) = inner.borrow_mut().helpers.get_mut(i)
        && h.state == State::Starting
    {
        h.state = State::Ready;
    }
}

fn answered(inner: &Weak<RefCell<Inner>>, i: usize, sweep: u64, batch: usize, values: Option<Vec<f32>>) {
    let Some(inner) = inner.upgrade() else { return };
    let mut inner = inner.borrow_mut();
    let Some(h) = inner.helpers.get_mut(i) else { return };
    let Some(k) = h.out.iter().position(|&o| o == (sweep, batch)) else { return };
    h.out.remove(k);
    if inner.running.contains(&sweep) {
        inner.answers.push((sweep, batch, i, values));
    }
}

/// A helper that failed or crashed is ended; its batches go back to their sweeps.
fn failed(inner: &Weak<RefCell<Inner>>, i: usize) {
    let Some(inner) = inner.upgrade() else { return };
    let mut inner = inner.borrow_mut();
    let Some(h) = inner.helpers.get_mut(i) else { return };
    h.state = State::Dead;
    h.worker.terminate();
    let out = std::mem::take(&mut h.out);
    for (sweep, batch) in out {
        if inner.running.contains(&sweep) {
            inner.answers.push((sweep, batch, i, None));
        }
    }
}

/// One sweep's view of the pool.
pub struct SweepShare<'a> {
    pool: &'a Pool,
    sweep: u64,
    crop: &'a image::RgbImage,
    params: MethodParams,
    target: Target,
    /// Helpers that measured at least one batch of this sweep.
    used: HashSet<usize>,
}

impl SweepShare<'_> {
    /// CPU workers that computed this sweep: this one and the helpers that took part.
    pub fn workers(&self) -> usize {
        1 + self.used.len()
    }
}

impl Drop for SweepShare<'_> {
    fn drop(&mut self) {
        let mut inner = self.pool.inner.borrow_mut();
        inner.running.remove(&self.sweep);
        let sweep = self.sweep;
        inner.answers.retain(|a| a.0 != sweep);
    }
}

impl Helpers for SweepShare<'_> {
    fn send(&mut self, key: usize, at: &[[usize; 2]]) -> bool {
        let mut inner = self.pool.inner.borrow_mut();
        let ready = inner.helpers.iter_mut().filter(|h| h.state == State::Ready && h.out.len() < DEPTH);
        let Some(h) = ready.min_by_key(|h| h.out.len()) else { return false };
        let (width, height) = self.crop.dimensions();
        let request = Request::Measure {
            sweep: self.sweep,
            batch: key,
            at: at.to_vec(),
            params: self.params.clone(),
            target: self.target.clone(),
            width,
            height,
        };
        // The crop travels once per sweep and helper.
        let crop = (h.sweep != Some(self.sweep)).then(|| self.crop.as_raw().as_slice());
        post(&h.worker, &request, crop);
        h.sweep = Some(self.sweep);
        h.out.push((self.sweep, key));
        true
    }

    fn answers(&mut self) -> Vec<(usize, Option<Vec<f32>>)> {
        let mut inner = self.pool.inner.borrow_mut();
        let sweep = self.sweep;
        let (mine, others): (Vec<_>, Vec<_>) =
            std::mem::take(&mut inner.answers).into_iter().partition(|a| a.0 == sweep);
        inner.answers = others;
        mine.into_iter()
            .map(|(_, batch, helper, values)| {
                if values.is_some() {
                    self.used.insert(helper);
                }
                (batch, values)
            })
            .collect()
    }
}

/// This worker as a helper: its own copy of the model on the CPU, and the sweep it measures.
pub struct Helping {
    net: Network,
    sweep: RefCell<Option<(u64, Rc<Measurer>)>>,
}

/// Loads the model for `Request::Help`; answers `HelperReady` or `Failed`.
pub fn help(bytes: &[u8], preprocess: Preprocess) -> Result<Helping, String> {
    let mut model = Model::from_bytes(bytes).map_err(|e| e.to_string())?;
    model.graph.preprocess = preprocess;
    let (_, net) = model.bind(&crate::Device::flex()).map_err(|e| e.to_string())?;
    Ok(Helping { net, sweep: RefCell::new(None) })
}

impl Helping {
    /// Measures one batch of sweep `sweep` (`crop`: its RGB bytes, sent with its first batch).
    pub async fn measure(
        &self,
        sweep: u64,
        at: &[[usize; 2]],
        params: &MethodParams,
        target: &Target,
        (width, height, crop): (u32, u32, Option<Vec<u8>>),
    ) -> Option<Vec<f32>> {
        let known = self.sweep.borrow().as_ref().filter(|(s, _)| *s == sweep).map(|(_, m)| m.clone());
        let measurer = match known {
            Some(m) => m,
            None => {
                let crop = image::RgbImage::from_raw(width, height, crop?)?;
                let Ok(Method::Occlusion(p)) = Method::from_name("occlusion", params) else { return None };
                let x = crate::image::to_tensor(&crop, self.net.device());
                let m = Rc::new(Measurer::new(&self.net, &x, target, &p).await.ok()?);
                *self.sweep.borrow_mut() = Some((sweep, m.clone()));
                m
            }
        };
        measurer.measure(&self.net, at).await.ok()
    }
}
