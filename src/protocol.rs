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

/// What an attribution explains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// A class: its pre-softmax score for gradient methods, its probability for occlusion.
    Class(usize),
    /// One channel of a named layer: its mean activation over the layer's positions.
    Channel { layer: String, channel: usize },
}

/// What occlusion paints into the hidden window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Fill {
    /// The same value in every channel (0.5 is mid-grey, 0 black, for inputs in [0, 1]).
    Value(f32),
    /// The ImageNet mean colour.
    Mean,
    /// A strongly blurred copy of the image: hides detail, keeps colour and brightness.
    Blur,
}

impl Fill {
    pub fn name(self) -> String {
        match self {
            Fill::Value(v) if v == 0.5 => "grey".into(),
            Fill::Value(v) if v == 0.0 => "zero".into(),
            Fill::Value(v) => format!("{v}"),
            Fill::Mean => "mean".into(),
            Fill::Blur => "blur".into(),
        }
    }

    /// `grey`, `zero`, `mean`, `blur` or a number.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "grey" | "gray" => Ok(Fill::Value(0.5)),
            "zero" | "black" => Ok(Fill::Value(0.0)),
            "mean" => Ok(Fill::Mean),
            "blur" | "blurred" => Ok(Fill::Blur),
            other => other
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Fill::Value)
                .ok_or_else(|| format!("fill '{text}' is not grey, zero, mean, blur or a number")),
        }
    }
}

/// Every method's parameters in one place (CLI flags, the URL, the page's controls); each
/// method reads the ones it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MethodParams {
    /// Grad-CAM's layer; `None` picks the last layer with a spatial grid.
    pub layer: Option<String>,
    /// Occlusion window side and stride, in input pixels.
    pub window: usize,
    pub stride: usize,
    pub fill: Fill,
    /// Integrated Gradients: the baseline image's value in every channel, and the number of
    /// points on the path.
    pub baseline: f32,
    pub steps: usize,
    /// SmoothGrad: noisy copies, the noise's standard deviation as a fraction of the input's
    /// value range, the random seed, and the gradient rule it smooths.
    pub samples: usize,
    pub sigma: f32,
    pub seed: u64,
    pub smooth: String,
    /// Occlusion: recompute only what each window reaches (the same answer). `None` decides
    /// by device: on the CPU it is several times faster; on a real GPU a few large batched
    /// passes beat many small tiles (BENCHMARKS.md), so whole images are run there.
    pub incremental: Option<bool>,
    /// Sanity check: explain a copy of the model whose top `randomize` weight layers are
    /// random (0: the model itself).
    pub randomize: usize,
}

impl Default for MethodParams {
    fn default() -> Self {
        Self {
            layer: None,
            window: 32,
            stride: 16,
            fill: Fill::Value(0.5),
            baseline: 0.0,
            steps: 64,
            samples: 16,
            sigma: 0.15,
            seed: 0,
            smooth: "saliency".into(),
            incremental: None,
            randomize: 0,
        }
    }
}

/// How an attribution map is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum View {
    /// Coloured over the photo.
    #[default]
    Overlay,
    /// The colour map alone.
    Heat,
    /// A gradient's three channels as a colour image around mid-grey (signed; the lecture's
    /// guided-backprop pictures). Maps with one channel are drawn as `Heat`.
    Rgb,
}

/// An optimization over the image the page asks for (see `optvis`): what to make, for which
/// class or neuron, in how many steps, over pixels or a Fourier image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimizeJob {
    /// `class-vis`, `feature-vis`, `deepdream` or `invert` (the last two start from the shown image).
    pub kind: String,
    pub class: usize,
    pub layer: String,
    pub channel: usize,
    pub steps: usize,
    pub fourier: bool,
    pub seed: u64,
}

impl Default for OptimizeJob {
    fn default() -> Self {
        Self {
            kind: "class-vis".into(),
            class: 0,
            layer: "fire5/concat".into(),
            channel: 0,
            steps: 64,
            fourier: false,
            seed: 0,
        }
    }
}

pub const OPTIMIZE_KINDS: &[&str] = &["class-vis", "feature-vis", "deepdream", "invert"];

/// The colour scale for magnitude maps (signed maps always use a diverging blue–red).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Colormap {
    #[default]
    Inferno,
    Viridis,
    /// A smooth rainbow in the spirit of "jet".
    Turbo,
}

impl Colormap {
    pub const ALL: [Colormap; 3] = [Colormap::Inferno, Colormap::Viridis, Colormap::Turbo];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Inferno => "inferno",
            Colormap::Viridis => "viridis",
            Colormap::Turbo => "turbo",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == text || (text == "jet" && *c == Colormap::Turbo))
    }
}

/// How a map is drawn: the view, the colour scale and how strongly it covers the photo.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Look {
    pub view: View,
    pub colormap: Colormap,
    pub opacity: f32,
}

impl Default for Look {
    fn default() -> Self {
        Self { view: View::Overlay, colormap: Colormap::Inferno, opacity: 0.75 }
    }
}

/// The attribution methods by name, in the order the page lists them (the same table as
/// `methods::Method::ALL_NAMES`, which a test keeps equal).
pub const METHOD_NAMES: &[&str] = &[
    "saliency",
    "guided-backprop",
    "deconvnet",
    "smoothgrad",
    "integrated-gradients",
    "grad-cam",
    "guided-grad-cam",
    "occlusion",
];

/// An attribution the page asks for: a method by name (see `methods::Method::ALL_NAMES`),
/// what it explains, its parameters, and how to draw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainJob {
    pub method: String,
    pub target: Target,
    pub params: MethodParams,
    pub look: Look,
}

impl ExplainJob {
    /// A short caption: method and the settings that shaped the map.
    pub fn settings(&self) -> String {
        let p = &self.params;
        let text = match self.method.as_str() {
            "occlusion" => format!("window {} px, stride {} px, fill {}", p.window, p.stride, p.fill.name()),
            "smoothgrad" => format!("{} over {} samples, σ {:.0}%", p.smooth, p.samples, p.sigma * 100.0),
            "integrated-gradients" => format!("{} steps from a {} image", p.steps, p.baseline),
            "grad-cam" | "guided-grad-cam" => format!("layer {}", p.layer.as_deref().unwrap_or("last conv")),
            _ => String::new(),
        };
        match (self.params.randomize, text.is_empty()) {
            (0, _) => text,
            (k, true) => format!("top {k} layers randomized"),
            (k, false) => format!("{text}, top {k} layers randomized"),
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
    /// Explain something about the last classified image.
    Explain { id: u64, job: ExplainJob },
    /// Stop the explanation or optimization `id` at its next step.
    Cancel { id: u64 },
    /// Optimize an image (class visualization, DeepDream, …), streaming every step.
    Optimize { id: u64, job: OptimizeJob },
    /// The live occluder: the last classified image with a `size`-pixel square at (`x`, `y`)
    /// (crop pixels, top-left corner) filled by `fill`; answers the class's probability and
    /// the top-5.
    Probe { id: u64, class: usize, x: u32, y: u32, size: u32, fill: Fill },
}

/// What the page needs to know about the loaded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub name: String,
    pub file_bytes: usize,
    pub parameters: usize,
    pub input_size: usize,
    /// Class names in output order (for choosing any class as the target).
    pub labels: Vec<String>,
    /// Layers a neuron target can name: node outputs with a channel axis.
    pub layers: Vec<String>,
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
    /// A first rough map of a running explanation (occlusion's coarse pass); its PNG travels
    /// alongside.
    Preview { id: u64 },
    /// An explanation; the heatmap blended over the crop (PNG) travels alongside. `lo`..`hi`
    /// is the value range its colours span.
    Explained { id: u64, job: ExplainJob, score: f32, lo: f32, hi: f32, ms: f64 },
    /// One step of an optimization: the objective and its terms; every few steps the image
    /// (PNG) travels alongside.
    OptStep { id: u64, step: usize, steps: usize, value: f32, terms: Vec<(String, f32)> },
    /// An optimization finished; the final image (PNG) travels alongside.
    Optimized { id: u64, steps: usize, ms: f64 },
    /// The live occluder's answer.
    Probed { id: u64, x: u32, y: u32, size: u32, prob: f32, top5: Vec<Prediction>, ms: f64 },
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
