//! A long run's pause between steps, in which the worker reads the messages that came meanwhile
//! (a `Cancel`, a pause, helpers' answers). A zero-delay timer pauses too, but browsers hold a
//! timer set from inside a timer's callback at least 4 ms once such timers nest five deep, and a
//! run's loop of steps nests them without end: 4 ms idle per step, measured in a worker of this
//! Chromium (BENCHMARKS.md, "Yielding without timers"). A message the worker sends itself through
//! a `MessageChannel` has no such floor (about 0.01 ms) and queues behind the messages that
//! arrived before it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use web_sys::MessageChannel;

/// The channel, the pauses waiting for their message (in order), and its port's handler.
struct Channel {
    channel: MessageChannel,
    waiting: Rc<RefCell<VecDeque<js_sys::Function>>>,
    _on_message: Closure<dyn FnMut()>,
}

thread_local! {
    static CHANNEL: Option<Channel> = open();
}

fn open() -> Option<Channel> {
    let channel = MessageChannel::new().ok()?;
    let waiting: Rc<RefCell<VecDeque<js_sys::Function>>> = Rc::default();
    let queue = waiting.clone();
    let on_message = Closure::<dyn FnMut()>::new(move || {
        // (Taken out before the call: resolving only queues the awaiting code.)
        let next = queue.borrow_mut().pop_front();
        if let Some(resolve) = next {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    // Setting the handler starts the port.
    channel.port1().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    Some(Channel { channel, waiting, _on_message: on_message })
}

/// Lets the worker's event loop run the tasks queued so far, then resumes.
pub async fn yield_now() {
    let promise = CHANNEL.with(|c| {
        c.as_ref().map(|c| {
            js_sys::Promise::new(&mut |resolve, _| {
                if c.channel.port2().post_message(&JsValue::NULL).is_ok() {
                    c.waiting.borrow_mut().push_back(resolve);
                } else {
                    let _ = resolve.call0(&JsValue::NULL);
                }
            })
        })
    });
    match promise {
        Some(p) => {
            let _ = wasm_bindgen_futures::JsFuture::from(p).await;
        }
        None => gloo_timers::future::TimeoutFuture::new(0).await,
    }
}
