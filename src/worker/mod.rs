//! The compute worker (browser only): picks the backend once (WebGPU, else the CPU), loads the
//! model, and answers page requests. It runs off the UI thread so the page never freezes; if it
//! dies (device lost, out of memory) the page starts a new one on the CPU.

mod backend;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::classify::{class_probabilities, top_k};
use crate::methods::{Method, OcclusionParams, Target};
use crate::model::{Model, ModelInfo, Network};
use crate::protocol::{BackendChoice, Explain, ModelSummary, Request, Response};
use crate::render::{self, Scale};

struct Engine {
    info: ModelInfo,
    net: Network,
    /// The last classified crop, which explanations refer to.
    last_crop: RefCell<Option<image::RgbImage>>,
}

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
}

/// Entry point of the worker binary.
pub fn start() {
    let engine: Rc<RefCell<Option<Rc<Engine>>>> = Rc::new(RefCell::new(None));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let (json, bytes) = crate::wire::unpack(&event.data());
        let engine = engine.clone();
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
                Ok(Request::Explain { id, method, class }) => match loaded {
                    Some(e) => explain(&e, id, method, class).await,
                    None => not_loaded(id),
                },
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
    post(&Response::Loading { message: format!("downloading the model ({})…", picked.kind.as_str()) }, None);
    let bytes = match crate::wire::fetch_bytes(scope().fetch_with_str(model_url), model_url).await {
        Ok(b) => b,
        Err(message) => return post(&Response::Fatal { message }, None),
    };
    let loaded = Model::from_bytes(&bytes).and_then(|m| m.bind(&picked.device));
    let (info, net) = match loaded {
        Ok(x) => x,
        Err(e) => return post(&Response::Fatal { message: e.to_string() }, None),
    };
    post(&Response::Loading { message: "warming up (compiling kernels)…".into() }, None);
    let start = now_ms();
    let blank =
        image::RgbImage::from_pixel(info.input_size as u32, info.input_size as u32, image::Rgb([128, 128, 128]));
    if let Err(e) = class_probabilities(&net, &blank).await {
        return post(&Response::Fatal { message: format!("the model does not run: {e}") }, None);
    }
    let warmup_ms = now_ms() - start;
    let model = ModelSummary {
        name: info.name.clone(),
        file_bytes: info.file_bytes,
        parameters: info.parameters,
        input_size: info.input_size,
    };
    *slot.borrow_mut() = Some(Rc::new(Engine { info, net, last_crop: RefCell::new(None) }));
    post(&Response::Ready { backend: picked.kind, note: picked.note, model, warmup_ms }, None);
}

async fn classify(engine: &Engine, id: u64, bytes: Vec<u8>) {
    let rgb = match crate::image::decode_rgb(&bytes) {
        Ok(img) => img,
        Err(e) => return post(&Response::Failed { id: Some(id), message: e.to_string() }, None),
    };
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
            post(&Response::Classified { id, top5, forward_ms }, Some(&png));
        }
        Err(e) => post(&Response::Failed { id: Some(id), message: e.to_string() }, None),
    }
}

async fn explain(engine: &Engine, id: u64, method: Explain, class: usize) {
    let fail = |message: String| post(&Response::Failed { id: Some(id), message }, None);
    let Some(crop) = engine.last_crop.borrow().clone() else {
        return fail("classify an image first".into());
    };
    let start = now_ms();
    let x = crate::image::to_tensor(&crop, engine.net.device());
    let (m, scale, colormap, alpha) = match method {
        Explain::Saliency => (Method::Gradient(Default::default()), Scale::Magnitude, render::Palette::Inferno, 0.9),
        Explain::GradCam => {
            (Method::GradCam { layer: None, guided: false }, Scale::Magnitude, render::Palette::Inferno, 0.6)
        }
        Explain::Occlusion { window, stride } => {
            let p = OcclusionParams {
                window: [window as usize; 2],
                strides: [stride as usize; 2],
                fill: crate::protocol::Fill::Value(0.5),
                batch: 8,
            };
            (Method::Occlusion(p), Scale::Signed, render::Palette::BlueRed, 0.85)
        }
    };
    let mut progress = |done: usize, total: usize| {
        post(&Response::Progress { id, done, total }, None);
        true
    };
    let map = match m.attribute(&engine.net, &x, &Target::Class(class), &mut progress).await {
        Ok(a) => a.max_abs_over_channels(),
        Err(e) => return fail(e.to_string()),
    };
    let [h, w] = [map.shape[0], map.shape[1]];
    let (lo, hi) = render::range(&map.values, scale);
    let picture = match scale {
        // Signed maps: colour only where the value is far from zero, so the photo shows through.
        Scale::Signed => render::blend_signed(&crop, &map.values, h, w, colormap, alpha),
        Scale::Magnitude => {
            render::blend(&crop, &render::heatmap(&map.values, h, w, scale, colormap, crop.width()), alpha)
        }
    };
    let png = crate::image::encode_png(&picture);
    let ms = now_ms() - start;
    post(&Response::Explained { id, method, class, score: map.score, lo, hi, ms }, Some(&png));
}
