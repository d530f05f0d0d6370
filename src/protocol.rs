//! Messages between the page and the compute worker: small serde enums, sent as JSON text next
//! to an optional byte buffer (image bytes one way, the cropped PNG the other).

use serde::{Deserialize, Serialize};

/// One row of a top-k list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub index: usize,
    pub label: String,
    pub prob: f32,
}

/// Which compute backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendChoice {
    /// WebGPU when the browser offers it, else the CPU.
    Auto,
    WebGpu,
    Cpu,
    /// Burn's ndarray CPU backend, for comparison only (builds with feature `cpu-ndarray`).
    CpuNdarray,
}

impl BackendChoice {
    /// Reads the `?backend=` URL parameter (`webgpu`, `cpu`; anything else means automatic).
    pub fn from_param(value: Option<&str>) -> Self {
        match value.map(str::to_ascii_lowercase).as_deref() {
            Some("webgpu" | "gpu" | "wgpu") => Self::WebGpu,
            Some("cpu") => Self::Cpu,
            Some("ndarray") => Self::CpuNdarray,
            _ => Self::Auto,
        }
    }
}

/// The backend actually running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendKind {
    WebGpu,
    Cpu,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebGpu => "webgpu",
            Self::Cpu => "cpu",
        }
    }
}

/// An attribution method as the page asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Explain {
    /// |d score / d pixel|, largest over colour channels.
    Saliency,
    /// Grad-CAM at the last layer that still has a spatial grid.
    GradCam,
    /// A grey square of `window` pixels slid every `stride` pixels; red where hiding it lowers
    /// the class probability, blue where it raises it.
    Occlusion { window: u32, stride: u32 },
}

impl Explain {
    pub fn name(self) -> &'static str {
        match self {
            Self::Saliency => "saliency",
            Self::GradCam => "grad-cam",
            Self::Occlusion { .. } => "occlusion",
        }
    }
}

/// Page → worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Choose a backend and load the model at `model_url` (relative to the page).
    Init { backend: BackendChoice, model_url: String },
    /// Classify the image whose encoded bytes travel alongside.
    Classify { id: u64 },
    /// Explain `class` on the last classified image.
    Explain { id: u64, method: Explain, class: usize },
}

/// What the page needs to know about the loaded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub name: String,
    pub file_bytes: usize,
    pub parameters: usize,
    pub input_size: usize,
}

/// Worker → page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The worker's wasm is running and listening; the page sends `Init` only after this
    /// (messages posted before the worker installs its handler would be lost).
    Started,
    /// Progress while starting (adapter, model download, warm-up).
    Loading { message: String },
    /// Ready to classify; `note` explains a fallback.
    Ready { backend: BackendKind, note: Option<String>, model: ModelSummary, warmup_ms: f64 },
    /// A classification; the centre crop's PNG travels alongside.
    Classified { id: u64, top5: Vec<Prediction>, forward_ms: f64 },
    /// Progress of a long explanation.
    Progress { id: u64, done: usize, total: usize },
    /// An explanation; the heatmap blended over the crop (PNG) travels alongside. `lo`..`hi`
    /// is the value range its colours span.
    Explained { id: u64, method: Explain, class: usize, score: f32, lo: f32, hi: f32, ms: f64 },
    /// A request failed; the worker stays usable.
    Failed { id: Option<u64>, message: String },
    /// The worker cannot go on (model or device unusable).
    Fatal { message: String },
}

impl Request {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    pub fn from_json(s: &str) -> Result<Self, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
}

impl Response {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    pub fn from_json(s: &str) -> Result<Self, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
}
