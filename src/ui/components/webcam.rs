//! The camera as an image source: a preview, a snapshot button, and a live mode that classifies
//! a new frame whenever the worker is free (the top-5 and the live occluder follow the camera).
//! Frames stay in the tab like every other picture.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{HtmlVideoElement, MediaStream};
use yew::prelude::*;

/// Frames are sent at most this large on their longer side (the model sees a smaller crop).
const FRAME_SIDE: u32 = 480;
/// Live mode waits at least this long between frames.
const LIVE_GAP_MS: u32 = 150;

#[derive(PartialEq, Properties)]
pub struct WebcamProps {
    /// Camera on (the page owns the switch so a key can flip it).
    pub on: bool,
    pub on_toggle: Callback<bool>,
    pub on_image: Callback<(String, Vec<u8>)>,
    pub on_error: Callback<String>,
    /// The worker can take a new picture now.
    pub idle: bool,
}

/// What the browser said, in words a user can act on.
fn camera_message(error: &JsValue) -> String {
    let name = js_sys::Reflect::get(error, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "SecurityError" => {
            "the camera was refused: allow it in the browser's site settings (the address bar's camera icon), then try again".into()
        }
        "NotFoundError" | "OverconstrainedError" => "no camera was found on this device".into(),
        "NotReadableError" | "AbortError" => "the camera is in use by another application, or failed to start".into(),
        _ => format!("the camera could not start ({})", if name.is_empty() { "no camera access in this browser" } else { &name }),
    }
}

async fn open_camera() -> Result<MediaStream, String> {
    let devices = web_sys::window()
        .and_then(|w| w.navigator().media_devices().ok())
        .ok_or("this browser gives pages no camera access (it needs https or localhost)")?;
    let constraints = web_sys::MediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    constraints.set_audio(&JsValue::FALSE);
    let promise = devices.get_user_media_with_constraints(&constraints).map_err(|e| camera_message(&e))?;
    let stream = JsFuture::from(promise).await.map_err(|e| camera_message(&e))?;
    stream.dyn_into::<MediaStream>().map_err(|_| "the camera gave no video stream".to_string())
}

fn stop(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
            track.stop();
        }
    }
}

/// The video's current frame as PNG bytes (scaled down to [`FRAME_SIDE`]); `None` before the
/// camera has sent its first picture.
async fn grab(video: &HtmlVideoElement) -> Result<Option<Vec<u8>>, String> {
    let (w, h) = (video.video_width(), video.video_height());
    if w == 0 || h == 0 {
        return Ok(None);
    }
    let scale = (FRAME_SIDE as f64 / w.max(h) as f64).min(1.0);
    let (cw, ch) = (((w as f64 * scale) as u32).max(1), ((h as f64 * scale) as u32).max(1));
    let (canvas, ctx) = crate::ui::export::canvas(cw, ch)?;
    ctx.draw_image_with_html_video_element_and_dw_and_dh(video, 0.0, 0.0, cw as f64, ch as f64)
        .map_err(|_| "the frame could not be drawn")?;
    crate::ui::export::canvas_png(&canvas).await.map(Some)
}

#[function_component(Webcam)]
pub fn webcam(props: &WebcamProps) -> Html {
    let video = use_node_ref();
    let stream = use_mut_ref(|| None::<MediaStream>);
    let live = use_state(|| false);
    let starting = use_state(|| false);
    // Read by the live loop between frames.
    let idle = use_mut_ref(|| false);
    *idle.borrow_mut() = props.idle;
    let generation = use_mut_ref(|| 0u32);

    // Camera on/off follows the switch.
    {
        let (video, stream, starting) = (video.clone(), stream.clone(), starting.clone());
        let (on_error, on_toggle) = (props.on_error.clone(), props.on_toggle.clone());
        use_effect_with(props.on, move |on| {
            if *on && stream.borrow().is_none() {
                starting.set(true);
                let stream = stream.clone();
                spawn_local(async move {
                    match open_camera().await {
                        Ok(s) => {
                            if let Some(v) = video.cast::<HtmlVideoElement>() {
                                v.set_src_object(Some(&s));
                                let _ = v.play();
                            }
                            *stream.borrow_mut() = Some(s);
                        }
                        Err(message) => {
                            on_error.emit(message);
                            on_toggle.emit(false);
                        }
                    }
                    starting.set(false);
                });
            } else if !*on && let Some(s) = stream.borrow_mut().take() {
                stop(&s);
            }
        });
    }
    // Stop the camera when the component goes.
    {
        let stream = stream.clone();
        use_effect_with((), move |_| {
            move || {
                if let Some(s) = stream.borrow_mut().take() {
                    stop(&s);
                }
            }
        });
    }
    // Live mode: a new frame whenever the worker is idle.
    {
        let (video, idle, generation, on_image, on_error) =
            (video.clone(), idle.clone(), generation.clone(), props.on_image.clone(), props.on_error.clone());
        let live_on = *live && props.on;
        use_effect_with(live_on, move |live_on| {
            *generation.borrow_mut() += 1;
            let mine = *generation.borrow();
            if *live_on {
                spawn_local(async move {
                    while *generation.borrow() == mine {
                        gloo_timers::future::TimeoutFuture::new(LIVE_GAP_MS).await;
                        if *generation.borrow() != mine || !*idle.borrow() {
                            continue;
                        }
                        let Some(v) = video.cast::<HtmlVideoElement>() else { break };
                        match grab(&v).await {
                            Ok(Some(bytes)) if *generation.borrow() == mine => {
                                *idle.borrow_mut() = false;
                                on_image.emit(("camera (live)".into(), bytes));
                            }
                            Ok(_) => {}
                            Err(message) => {
                                on_error.emit(message);
                                break;
                            }
                        }
                    }
                });
            }
        });
    }
    let toggle = {
        let (on_toggle, on, live) = (props.on_toggle.clone(), props.on, live.clone());
        Callback::from(move |_: MouseEvent| {
            if on {
                live.set(false);
            }
            on_toggle.emit(!on)
        })
    };
    let snapshot = {
        let (video, on_image, on_error) = (video.clone(), props.on_image.clone(), props.on_error.clone());
        Callback::from(move |_: MouseEvent| {
            let (video, on_image, on_error) = (video.clone(), on_image.clone(), on_error.clone());
            spawn_local(async move {
                let Some(v) = video.cast::<HtmlVideoElement>() else { return };
                match grab(&v).await {
                    Ok(Some(bytes)) => on_image.emit(("camera snapshot".into(), bytes)),
                    Ok(None) => on_error.emit("the camera has not sent a picture yet".into()),
                    Err(message) => on_error.emit(message),
                }
            });
        })
    };
    let toggle_live = {
        let live = live.clone();
        Callback::from(move |_: MouseEvent| live.set(!*live))
    };
    let ready = props.on && stream.borrow().is_some() && !*starting;
    html! {
        <div class="webcam" data-testid="webcam" data-on={props.on.to_string()} data-live={(*live && props.on).to_string()}>
            <div class="webcam-buttons">
                <button class="method" onclick={toggle} data-testid="webcam-toggle" aria-pressed={props.on.to_string()}
                        aria-keyshortcuts="w">
                    { if props.on { "Camera off" } else { "Use the camera" } }
                </button>
                if props.on {
                    <button class="method" onclick={snapshot} disabled={!ready || !props.idle} data-testid="webcam-snapshot">{"Snapshot"}</button>
                    <button class="method" onclick={toggle_live} disabled={!ready} data-testid="webcam-live" aria-pressed={live.to_string()}>
                        { if *live { "Stop live" } else { "Live" } }
                    </button>
                }
            </div>
            <video ref={video} class={classes!("webcam-video", (!props.on).then_some("hidden"))} autoplay=true muted=true
                   playsinline=true aria-label="camera preview" data-testid="webcam-video"></video>
            if props.on && *starting {
                <p class="muted">{"asking for the camera…"}</p>
            }
        </div>
    }
}
