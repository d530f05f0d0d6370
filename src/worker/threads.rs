//! The threaded CPU worker's pool (the `threads` build, only for cross-origin-isolated pages):
//! web workers that instantiate this same wasm module on this worker's shared memory and serve
//! as the pool threads of the CPU kernels' parallel loops (`model::cpu_par`), so that one
//! computation is split over the cores.
//!
//! Each pool worker runs `convlens-thread.js` (copied by `scripts/build-threads.sh`): it loads
//! the module and memory it is sent, answers "ready", and then serves the pool until the page
//! closes. A thread counts only once it serves: a browser that cannot start them leaves this
//! worker on one thread, never waiting on a thread that does not exist.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker};

/// The pool worker's script, next to this worker's.
const THREAD_URL: &str = "./convlens-thread.js";
/// At most this many threads (beyond that, the memory bandwidth of the products is the limit).
const MAX_THREADS: usize = 8;
/// How long the pool's workers may take to load the module.
const START_TIMEOUT_MS: f64 = 15_000.0;

/// Serves the pool for good: called by `convlens-thread.js` once the module is loaded.
#[wasm_bindgen]
pub fn convlens_thread() {
    crate::model::cpu_par::serve()
}

fn cores() -> usize {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    js_sys::Reflect::get(&navigator, &"hardwareConcurrency".into()).ok().and_then(|c| c.as_f64()).unwrap_or(1.0)
        as usize
}

/// Starts one pool thread per core beyond this worker's (at most [`MAX_THREADS`] in all).
/// Answers the number of threads the kernels use now, this one included (1 when none could
/// start).
pub async fn start() -> usize {
    let want = cores().clamp(1, MAX_THREADS) - 1;
    if want == 0 {
        return 1;
    }
    let (module, memory) = (wasm_bindgen::module(), wasm_bindgen::memory());
    // Per worker: its state (0 starting, 1 ready, 2 failed) and its handlers.
    let mut starting = Vec::new();
    for _ in 0..want {
        let Ok(worker) = Worker::new(THREAD_URL) else { break };
        let state = Rc::new(Cell::new(0u8));
        let on_message = {
            let state = state.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
                let ready =
                    e.dyn_ref::<MessageEvent>().and_then(|e| e.data().as_string()).is_some_and(|s| s == "ready");
                state.set(if ready { 1 } else { 2 });
            })
        };
        let on_error = {
            let state = state.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| state.set(2))
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        if worker.post_message(&js_sys::Array::of2(&module, &memory)).is_err() {
            worker.terminate();
            continue;
        }
        starting.push((worker, state, [on_message, on_error]));
    }
    // Ready, then serving: wait for both (a failed worker never serves).
    let began = js_sys::Date::now();
    let settled = |s: &[(Worker, Rc<Cell<u8>>, [Closure<dyn FnMut(JsValue)>; 2])]| {
        let ready = s.iter().filter(|(_, st, _)| st.get() == 1).count();
        s.iter().all(|(_, st, _)| st.get() != 0) && crate::model::cpu_par::threads() > ready
    };
    while !settled(&starting) && js_sys::Date::now() - began < START_TIMEOUT_MS {
        gloo_timers::future::TimeoutFuture::new(10).await;
    }
    for (worker, state, handlers) in starting {
        worker.set_onmessage(None);
        worker.set_onerror(None);
        drop(handlers);
        if state.get() == 1 {
            // It serves the pool until the page closes.
            std::mem::forget(worker);
        } else {
            worker.terminate();
        }
    }
    crate::model::cpu_par::threads()
}
