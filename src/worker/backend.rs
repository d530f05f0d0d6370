//! Backend choice, made once per worker: WebGPU through burn-wgpu (accepting a fallback adapter
//! such as SwiftShader), else Burn's CPU backend (flex), with the reason shown to the user.

use burn::tensor::Device;
use wasm_bindgen::JsValue;

use crate::protocol::{BackendChoice, BackendKind};

pub struct Picked {
    pub device: Device,
    pub kind: BackendKind,
    pub note: Option<String>,
}

fn browser_has_webgpu() -> bool {
    let navigator =
        js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("navigator")).unwrap_or(JsValue::UNDEFINED);
    js_sys::Reflect::get(&navigator, &JsValue::from_str("gpu"))
        .map(|g| !g.is_undefined() && !g.is_null())
        .unwrap_or(false)
}

#[cfg(not(feature = "wgpu"))]
async fn webgpu() -> Result<Device, String> {
    // The threaded CPU build (feature `threads`), without WebGPU (wgpu's types cannot cross
    // threads): the page starts it for the automatic choice only when the browser has no
    // WebGPU or no adapter for it (src/ui/worker_link.rs).
    Err(if browser_has_webgpu() { "WebGPU found no graphics adapter" } else { "this browser offers no WebGPU" }.into())
}

#[cfg(feature = "wgpu")]
async fn webgpu() -> Result<Device, String> {
    if !browser_has_webgpu() {
        return Err("this browser offers no WebGPU".into());
    }
    match Device::wgpu_options().init_async().await {
        Ok(device) => Ok(device),
        Err(first) => fallback_adapter().await.map_err(|second| format!("{first}; fallback adapter: {second}")),
    }
}

/// Asks for the browser's fallback (software) adapter explicitly and registers it with Burn.
#[cfg(feature = "wgpu")]
async fn fallback_adapter() -> Result<Device, String> {
    use burn::tensor::wgpu::{WgpuSetup, wgpu};
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::BROWSER_WEBGPU,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions { force_fallback_adapter: true, ..Default::default() })
        .await
        .map_err(|e| e.to_string())?;
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            required_features: adapter.features().difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
            required_limits: adapter.limits(),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let setup = WgpuSetup { instance, adapter, device, queue, backend: wgpu::Backend::BrowserWebGpu };
    Device::wgpu_options().setup(setup).init().map_err(|e| e.to_string())
}

/// A short reason for the status bar (the wgpu error text is long and technical).
fn fallback_note(error: &str) -> String {
    let reason = if error.contains("no WebGPU") {
        "this browser offers no WebGPU"
    } else if error.to_ascii_lowercase().contains("adapter") {
        "WebGPU found no usable graphics adapter"
    } else {
        "WebGPU failed to start"
    };
    format!("running on the CPU: {reason}")
}

/// Burn's CPU backend; in the threaded build, with the pool's threads started first.
async fn cpu(note: String) -> Picked {
    #[cfg(feature = "threads")]
    let note = match super::threads::start().await {
        1 => format!("{note}; one thread"),
        n => format!("{note}; {n} threads"),
    };
    Picked { device: Device::flex(), kind: BackendKind::Cpu, note: Some(note) }
}

/// Picks the device for `choice`. Automatic choice falls back to the CPU with a note;
/// an explicit `webgpu` request that cannot be met is an error.
pub async fn pick(choice: BackendChoice) -> Result<Picked, String> {
    match choice {
        BackendChoice::Cpu => Ok(cpu("CPU requested".into()).await),
        #[cfg(feature = "cpu-ndarray")]
        #[allow(deprecated)] // kept only to measure it against flex
        BackendChoice::CpuNdarray => Ok(Picked {
            device: Device::ndarray(),
            kind: BackendKind::Cpu,
            note: Some("CPU (ndarray) requested".into()),
        }),
        #[cfg(not(feature = "cpu-ndarray"))]
        BackendChoice::CpuNdarray => Err("this build has no ndarray backend (feature cpu-ndarray)".into()),
        BackendChoice::WebGpu => webgpu()
            .await
            .map(|device| Picked { device, kind: BackendKind::WebGpu, note: None })
            .map_err(|e| format!("WebGPU was requested but is not available: {e}")),
        BackendChoice::Auto => Ok(match webgpu().await {
            Ok(device) => Picked { device, kind: BackendKind::WebGpu, note: None },
            Err(e) => cpu(fallback_note(&e)).await,
        }),
    }
}
