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

/// The bundled models: (key for the URL's `model=`, path relative to the page, title).
pub const MODELS: &[(&str, &str, &str)] = &[
    ("squeezenet", "models/squeezenet1_1-int8.onnx", "SqueezeNet 1.1 (ImageNet, 1000 classes)"),
    ("fashion-mnist", "models/fashion-mnist-cnn-int8.onnx", "Fashion-MNIST CNN (10 classes, 28×28 grey)"),
    ("efficientnet-lite0", "models/efficientnet_lite0-int8.onnx", "EfficientNet-Lite0 (ImageNet, stronger; 4.9 MB)"),
];

/// The path of a bundled model by key (the first model for an unknown key).
pub fn model_url(key: &str) -> &'static str {
    MODELS.iter().find(|m| m.0 == key).unwrap_or(&MODELS[0]).1
}

/// Where each channel sits in the grid picture and the value range its colours span.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GridLayout {
    pub channels: usize,
    /// The activation map's `[H, W]`.
    pub map: [usize; 2],
    pub columns: usize,
    pub rows: usize,
    /// Screen pixels per activation value.
    pub zoom: u32,
    pub gap: u32,
    /// Per channel: the value at the bottom and at the top of its colour scale.
    pub ranges: Vec<(f32, f32)>,
    /// Per channel: its largest value (to sort or pick the most active channels).
    pub maxima: Vec<f32>,
}

impl GridLayout {
    /// The channel and map cell under picture pixel (`px`, `py`), if any.
    pub fn hit(&self, px: u32, py: u32) -> Option<(usize, usize, usize)> {
        let tile_w = self.map[1] as u32 * self.zoom;
        let tile_h = self.map[0] as u32 * self.zoom;
        let (cx, rx) =
            (px.checked_sub(self.gap)? / (tile_w + self.gap), px.checked_sub(self.gap)? % (tile_w + self.gap));
        let (cy, ry) =
            (py.checked_sub(self.gap)? / (tile_h + self.gap), py.checked_sub(self.gap)? % (tile_h + self.gap));
        if rx >= tile_w || ry >= tile_h || cx as usize >= self.columns {
            return None;
        }
        let channel = cy as usize * self.columns + cx as usize;
        (channel < self.channels).then(|| (channel, (ry / self.zoom) as usize, (rx / self.zoom) as usize))
    }
}

/// How a model wants its pixels: the app's images are RGB in [0, 1]; the network sees
/// `(x · scale − mean) / std` per channel, in BGR order if `bgr`. Part of the model, so every
/// method works in the image's own space.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub bgr: bool,
}

/// The common conventions: (key, title).
pub const PREPROCESS_PRESETS: &[(&str, &str)] = &[
    ("none", "as is: RGB in [0, 1]"),
    ("imagenet", "ImageNet (torchvision): (x − mean) / std"),
    ("minus1to1", "[−1, 1] (TF/Keras MobileNet, Inception)"),
    ("0to255", "RGB in 0…255"),
    ("caffe", "Caffe: BGR in 0…255 minus the ImageNet mean"),
    ("efficientnet-lite", "EfficientNet-Lite: (x − 127) / 128 in 0…255"),
];

impl Preprocess {
    pub const NONE: Preprocess = Preprocess { scale: 1.0, mean: [0.0; 3], std: [1.0; 3], bgr: false };

    pub fn preset(key: &str) -> Option<Preprocess> {
        let p = |scale, mean, std, bgr| Some(Preprocess { scale, mean, std, bgr });
        match key {
            "none" | "rgb01" | "grey01" => Some(Self::NONE),
            "imagenet" => p(1.0, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], false),
            "minus1to1" => p(1.0, [0.5; 3], [0.5; 3], false),
            "0to255" => p(255.0, [0.0; 3], [1.0; 3], false),
            "caffe" => p(255.0, [103.939, 116.779, 123.68], [1.0; 3], true),
            "efficientnet-lite" => p(255.0, [127.0; 3], [128.0; 3], false),
            _ => None,
        }
    }

    pub fn is_identity(&self) -> bool {
        *self == Self::NONE
    }
}

/// Most images a user's dataset keeps (at 227×227 that is ~300 MB of pixels in the worker).
pub const MAX_DATASET_IMAGES: usize = 2000;

/// A network-anatomy request (see `anatomy` in the core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AnatomyJob {
    /// A convolution's filters as a picture.
    Filters { layer: String },
    /// Every channel of `layer` for the last classified image, as a grid of tiles.
    Activations { layer: String, per_tile: bool },
    /// One channel of `layer`, large, over the image.
    Tile { layer: String, channel: usize },
    /// Load the dataset: the model's bundled one, or the user's files (packed alongside, see
    /// `pack_files`).
    Dataset { bundled: bool, name: String },
    /// Max-activating patches of `layer`: one channel, or the `top` most active; `k` each.
    Patches { layer: String, channel: Option<usize>, top: usize, k: usize },
    /// The dataset images nearest the last classified image, by codes and by pixels.
    Neighbours { k: usize },
    /// A t-SNE map of the dataset's codes, streamed as it optimizes.
    Tsne { perplexity: f32, iterations: usize, seed: u64 },
}

/// One dataset image in an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetImage {
    pub image: usize,
    /// A max-activating patch's activation, or a neighbour's distance.
    pub value: f32,
    pub source: String,
    pub label: Option<String>,
}

/// One channel's row of max-activating patches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchRow {
    pub channel: usize,
    pub hits: Vec<DatasetImage>,
}

/// Packs named files into one buffer (`u32` LE name length, name, `u64` LE data length, data,
/// repeated): a folder of images travels to the worker in one message.
pub fn pack_files(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(files.iter().map(|(n, d)| 12 + n.len() + d.len()).sum());
    for (name, data) in files {
        out.extend((name.len() as u32).to_le_bytes());
        out.extend(name.as_bytes());
        out.extend((data.len() as u64).to_le_bytes());
        out.extend(data);
    }
    out
}

/// The inverse of [`pack_files`]; a truncated or malformed buffer is an error.
pub fn unpack_files(mut bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut files = Vec::new();
    while !bytes.is_empty() {
        let take = |b: &mut &[u8], n: usize| -> Result<Vec<u8>, String> {
            if b.len() < n {
                return Err("the packed files are truncated".into());
            }
            let (head, rest) = b.split_at(n);
            *b = rest;
            Ok(head.to_vec())
        };
        let n = u32::from_le_bytes(take(&mut bytes, 4)?.try_into().unwrap_or_default()) as usize;
        let name = String::from_utf8_lossy(&take(&mut bytes, n)?).into_owned();
        let len = u64::from_le_bytes(take(&mut bytes, 8)?.try_into().unwrap_or_default());
        let len = usize::try_from(len).map_err(|_| "a packed file is too large".to_string())?;
        files.push((name, take(&mut bytes, len)?));
    }
    Ok(files)
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
    /// Occlusion, incremental sweeps: `Some(m)` caps each layer's recomputed region at the
    /// window's share of the input plus the margin `m`, of its sides (faster, approximate);
    /// `None`: exact.
    pub approximate: Option<f32>,
    /// Occlusion on the CPU: share the sweep's batches with helper workers on the browser's
    /// other cores (the map is the same to the bit). `None`: whenever there are other cores.
    pub parallel: Option<bool>,
    /// Sanity check: explain a copy of the model whose top `randomize` weight layers are
    /// random (0: the model itself).
    pub randomize: usize,
}

/// The page's "incremental, approximate" sweep's margin (see `OcclusionParams::approximate`):
/// on SqueezeNet 1.1 under WASI it sweeps 1.3–1.9× faster than the exact incremental sweep
/// (larger windows gain less), its maps correlating 0.97–0.99 with the exact ones
/// (BENCHMARKS.md, "Approximate incremental occlusion").
pub const APPROXIMATE_MARGIN: f32 = 0.3;

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
            approximate: None,
            parallel: None,
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

/// An optimization over the image (see `optvis::job`): what to make and its settings. The page,
/// the URL and the CLI all speak this one struct; fields a kind does not use are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimizeJob {
    /// One of [`OPTIMIZE_KINDS`].
    pub kind: String,
    /// Class and feature visualization: one of [`OPTIMIZE_PRESETS`].
    pub preset: String,
    /// The class to visualize, or to fool the network into.
    pub class: usize,
    /// Feature visualization, DeepDream and inversion: the layer; neural style: the content layer.
    pub layer: String,
    pub channel: usize,
    /// Feature visualization: one unit (the channel's centre) instead of the whole channel.
    pub neuron: bool,
    /// Steps (fooling: the most steps).
    pub steps: usize,
    pub seed: u64,
    /// DeepDream: number of scales (each 1.4× the last).
    pub octaves: usize,
    /// DeepDream and neural style: the long side in pixels; other kinds: 0 for the model's
    /// input size.
    pub size: usize,
    /// Neural style: the layers whose Gram matrices are matched.
    pub style_layers: Vec<String>,
    /// Neural style: weight of the style loss against the content loss.
    pub style_weight: f32,
    /// Neural style: weight of total variation (smoothness).
    pub tv_weight: f32,
    /// Fooling: the largest change of a pixel, in 1/255 levels.
    pub epsilon: u32,
}

impl Default for OptimizeJob {
    fn default() -> Self {
        Self {
            kind: "class-vis".into(),
            preset: "default".into(),
            class: 0,
            layer: "fire5/concat".into(),
            channel: 0,
            neuron: false,
            steps: 64,
            seed: 0,
            octaves: 3,
            size: 0,
            style_layers: ["conv1", "fire2/concat", "fire3/concat", "fire5/concat"].map(String::from).to_vec(),
            style_weight: 5.0,
            tv_weight: 1.0,
            epsilon: 8,
        }
    }
}

impl OptimizeJob {
    /// The usual step count of a kind.
    pub fn default_steps(kind: &str) -> usize {
        match kind {
            "deepdream" => 30,
            "style" => 200,
            "fool" => 100,
            "invert" => 128,
            _ => 64,
        }
    }

    /// Lighter defaults `(steps, size)` for the CPU backend (phones, browsers without WebGPU), so a
    /// run takes seconds rather than minutes; size 0 is the model's input size.
    pub fn light_defaults(kind: &str) -> (usize, usize) {
        match kind {
            "deepdream" => (20, 160),
            "style" => (100, 160),
            "invert" => (64, 0),
            // A fooling run stops as soon as it succeeds: its budget stays.
            "fool" => (Self::default_steps("fool"), 0),
            _ => (48, 0),
        }
    }

    /// A kind's defaults `(steps, size)`, the lighter ones when `light`.
    pub fn defaults(kind: &str, light: bool) -> (usize, usize) {
        if light { Self::light_defaults(kind) } else { (Self::default_steps(kind), Self::default_size(kind)) }
    }

    /// Switches to the light defaults if the steps and size are still the full ones (nothing
    /// chosen by hand or by a link).
    pub fn lighten(&mut self) {
        if self.steps == Self::default_steps(&self.kind) && self.size == 0 {
            (self.steps, self.size) = Self::light_defaults(&self.kind);
        }
    }

    /// The usual long side of a kind (0: the model's input size).
    pub fn default_size(kind: &str) -> usize {
        match kind {
            "deepdream" | "style" => 256,
            _ => 0,
        }
    }

    /// Keeps the layers if `layers` (the model's) has them; otherwise picks a middle activation
    /// for the layer and four spread from early to middle for neural style (another model).
    pub fn fit_layers(&mut self, layers: &[String]) {
        let acts: Vec<&String> = layers
            .iter()
            .filter(|l| ["relu", "concat", "add", "clip"].iter().any(|k| l.to_ascii_lowercase().contains(k)))
            .collect();
        let pool: Vec<&String> = if acts.len() >= 4 { acts } else { layers.iter().collect() };
        if pool.is_empty() {
            return;
        }
        if !layers.contains(&self.layer) {
            self.layer = pool[pool.len() / 2].clone();
        }
        if self.style_layers.iter().any(|l| !layers.contains(l)) {
            let half = (pool.len() / 2).max(1);
            self.style_layers = (0..4).map(|i| pool[(i * half / 4).min(pool.len() - 1)].clone()).collect();
            self.style_layers.dedup();
        }
    }

    /// The job's settings that differ from the defaults, as URL query pairs (prefixed `opt-`).
    pub fn to_query(&self) -> Vec<(String, String)> {
        let d = OptimizeJob::default();
        let mut q = Vec::new();
        let mut add = |k: &str, v: String, default: String| {
            if v != default {
                q.push((format!("opt-{k}"), v));
            }
        };
        add("kind", self.kind.clone(), d.kind.clone());
        add("preset", self.preset.clone(), d.preset.clone());
        add("class", self.class.to_string(), d.class.to_string());
        add("layer", self.layer.clone(), d.layer.clone());
        add("channel", self.channel.to_string(), d.channel.to_string());
        add("neuron", self.neuron.to_string(), d.neuron.to_string());
        add("steps", self.steps.to_string(), d.steps.to_string());
        add("seed", self.seed.to_string(), d.seed.to_string());
        add("octaves", self.octaves.to_string(), d.octaves.to_string());
        add("size", self.size.to_string(), d.size.to_string());
        add("style-layers", self.style_layers.join(","), d.style_layers.join(","));
        add("style-weight", self.style_weight.to_string(), d.style_weight.to_string());
        add("tv-weight", self.tv_weight.to_string(), d.tv_weight.to_string());
        add("epsilon", self.epsilon.to_string(), d.epsilon.to_string());
        q
    }

    /// Applies one `opt-` query pair written by [`OptimizeJob::to_query`]; answers whether the
    /// key was one of ours. Malformed values are ignored.
    pub fn set_from_query(&mut self, key: &str, v: &str) -> bool {
        let Some(k) = key.strip_prefix("opt-") else { return false };
        let finite = |x: &f32| x.is_finite() && *x >= 0.0;
        match k {
            "kind" if OPTIMIZE_KINDS.contains(&v) => self.kind = v.to_string(),
            "preset" if OPTIMIZE_PRESETS.contains(&v) => self.preset = v.to_string(),
            "layer" if !v.is_empty() => self.layer = v.to_string(),
            "class" => self.class = v.parse().unwrap_or(self.class),
            "channel" => self.channel = v.parse().unwrap_or(self.channel),
            "neuron" => self.neuron = v == "true",
            "steps" => self.steps = v.parse().unwrap_or(self.steps).clamp(1, MAX_OPT_STEPS),
            "seed" => self.seed = v.parse().unwrap_or(self.seed),
            "octaves" => self.octaves = v.parse().unwrap_or(self.octaves).clamp(1, 8),
            "size" => self.size = v.parse().unwrap_or(self.size).min(MAX_OPT_SIZE),
            "style-layers" => {
                self.style_layers = v.split(',').filter(|l| !l.is_empty()).map(String::from).collect();
            }
            "style-weight" => self.style_weight = v.parse().ok().filter(finite).unwrap_or(self.style_weight),
            "tv-weight" => self.tv_weight = v.parse().ok().filter(finite).unwrap_or(self.tv_weight),
            "epsilon" => self.epsilon = v.parse().unwrap_or(self.epsilon).clamp(1, 64),
            _ => {}
        }
        true
    }
}

/// The most steps a run may take.
pub const MAX_OPT_STEPS: usize = 2000;
/// The largest image side an optimization makes.
pub const MAX_OPT_SIZE: usize = 1024;

pub const OPTIMIZE_KINDS: &[&str] = &["class-vis", "feature-vis", "deepdream", "invert", "style", "fool"];

/// Recipes for class and feature visualization (see `optvis::presets`).
pub const OPTIMIZE_PRESETS: &[&str] = &["default", "cs231n", "yosinski", "lucid"];

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
            "occlusion" => format!(
                "window {} px, stride {} px, fill {}{}",
                p.window,
                p.stride,
                p.fill.name(),
                p.approximate.map(|m| format!(", approximate (margin {m})")).unwrap_or_default()
            ),
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
    /// Optimize an image (class visualization, DeepDream, …), streaming every step. Neural
    /// style's style image (encoded) travels alongside; without it the last one is used.
    Optimize { id: u64, job: OptimizeJob },
    /// Pause or resume the optimization `id` between steps.
    Pause { id: u64, paused: bool },
    /// The live occluder: the last classified image with a `size`-pixel square at (`x`, `y`)
    /// (crop pixels, top-left corner) filled by `fill`; answers the class's probability and
    /// the top-5.
    Probe { id: u64, class: usize, x: u32, y: u32, size: u32, fill: Fill },
    /// Load another model on the same device; if `reclassify` is given, classify the last
    /// photo again with it under that id.
    SwitchModel { model_url: String, reclassify: Option<u64> },
    /// The user's own ONNX file (its bytes travel alongside); `preprocess`: a preset key that
    /// overrides the file's own. The last photo is classified again under `reclassify`.
    /// `labels`: the text of a labels file, which replaces the file's own class names.
    OpenModel { preprocess: Option<String>, labels: Option<String>, reclassify: Option<u64> },
    /// A network-anatomy view (files for `AnatomyJob::Dataset` travel alongside, packed).
    Anatomy { id: u64, job: AnatomyJob },
    /// Makes this worker a CPU helper of another one: load the model whose bytes travel
    /// alongside, with `preprocess`. Answered by `HelperReady`, or `Failed`.
    Help { preprocess: Preprocess },
    /// A helper's part `part` of run `run` (see `methods::share`). Answered by `Measured`.
    Measure { run: u64, part: usize, job: PartJob },
    /// The run's own worker took part `part` of run `run` back: a helper that has not begun it
    /// skips it (no answer).
    Skip { run: u64, part: usize },
    /// The page shows an image with `method` chosen: where a run of that method would share
    /// its parts with CPU helpers, they start now, so that the first run does not wait while
    /// they load the model. No answer.
    Prepare { method: String },
}

fn one() -> usize {
    1
}

/// One part of a shared run (`methods::share::Part`) as a helper receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PartJob {
    /// Occlusion: measure the windows at `at` (top-left corners) on the crop, `width` ×
    /// `height` RGB bytes that travel alongside with the run's first part for this helper.
    Windows { at: Vec<[usize; 2]>, params: MethodParams, target: Target, width: u32, height: u32 },
    /// A gradient method: `Σᵢ weightᵢ · ∂target/∂imageᵢ` with the ReLU rule `rule`, over
    /// `weights.len()` images of `shape` whose values travel alongside ([`f32_bytes`]).
    Images { weights: Vec<f32>, shape: [usize; 3], target: Target, rule: String },
}

/// Floats as little-endian bytes, for large arrays between workers (JSON is slow for them).
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// [`f32_bytes`] read back; `None` for a length that is not a whole number of floats.
pub fn f32s(bytes: &[u8]) -> Option<Vec<f32>> {
    let floats = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    (bytes.len() % 4 == 0).then(|| floats.collect())
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
    /// Colour channels the model takes (1: grey; the page still sends RGB).
    #[serde(default)]
    pub channels: usize,
    /// Whether the model comes with its own dataset (network anatomy).
    #[serde(default)]
    pub dataset: bool,
    #[serde(default)]
    pub opset: i64,
    /// Operators used, with counts ("Conv×26").
    #[serde(default)]
    pub ops: Vec<String>,
    #[serde(default = "no_preprocess")]
    pub preprocess: Preprocess,
    /// Every layer with its operator and its shape for one image, in execution order.
    #[serde(default)]
    pub layer_shapes: Vec<LayerShape>,
}

/// One node output of the loaded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerShape {
    pub name: String,
    pub op: String,
    /// Without the batch axis.
    pub shape: Vec<usize>,
    /// A channel axis and a spatial grid: Grad-CAM, neuron targets, activation grids and top
    /// patches can tap it.
    pub spatial: bool,
}

fn no_preprocess() -> Preprocess {
    Preprocess::NONE
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
    /// `cached`: the map was computed before for this image (same method, target and
    /// parameters) and only drawn again, in the job's look.
    /// `workers`: how many CPU workers computed it (1 unless helpers took part).
    Explained {
        id: u64,
        job: ExplainJob,
        score: f32,
        lo: f32,
        hi: f32,
        ms: f64,
        cached: bool,
        #[serde(default = "one")]
        workers: usize,
    },
    /// One step of an optimization: the objective and its terms; every few steps the image
    /// (PNG) travels alongside.
    /// `ms` is the time since the run started (pauses included).
    OptStep { id: u64, step: usize, steps: usize, value: f32, terms: Vec<(String, f32)>, ms: f64 },
    /// An optimization finished; the final image (PNG) travels alongside.
    Optimized { id: u64, steps: usize, ms: f64 },
    /// A fooling image's verdict (just before its `Optimized`): the network's top-5 for it,
    /// whether the target is top-1, and the largest pixel change (1/255 levels). The
    /// difference from the photo, amplified `gain` times around grey (PNG), travels alongside.
    Fooled { id: u64, target: usize, succeeded: bool, top5: Vec<Prediction>, linf: u32, gain: f32 },
    /// The live occluder's answer.
    Probed { id: u64, x: u32, y: u32, size: u32, prob: f32, top5: Vec<Prediction>, ms: f64 },
    /// A layer's filters; the picture (PNG) travels alongside. `layers`: every convolution.
    Filters {
        id: u64,
        layer: String,
        dims: [usize; 4],
        on_pixels: bool,
        columns: usize,
        rows: usize,
        layers: Vec<String>,
    },
    /// A layer's activations as tiles; alongside: the PNG (`png_len` bytes), then every value
    /// as little-endian f32 (`[C, H, W]`), for hovering.
    Activations { id: u64, layer: String, layout: GridLayout, png_len: usize },
    /// One channel large over the image (PNG alongside); its colours span `lo`..`hi`.
    Tile { id: u64, layer: String, channel: usize, lo: f32, hi: f32 },
    /// The dataset is loaded; its thumbnails (`thumb` px, `columns` per row, PNG) travel
    /// alongside. `skipped`: files that were not images, with the reason.
    Dataset {
        id: u64,
        name: String,
        count: usize,
        labels: Option<Vec<usize>>,
        classes: Vec<String>,
        sources: Vec<String>,
        skipped: Vec<String>,
        thumb: u32,
        columns: usize,
    },
    /// Max-activating patches: one row per channel, `cell` px each (sheet PNG alongside);
    /// `field` is the receptive field's size in input pixels.
    Patches { id: u64, layer: String, field: [usize; 2], rows: Vec<PatchRow>, cell: u32, images: usize, ms: f64 },
    /// Nearest neighbours of the last image: row 1 by codes of `layer`, row 2 by pixels, each
    /// after the image itself (sheet PNG alongside).
    Neighbours { id: u64, layer: String, codes: Vec<DatasetImage>, pixels: Vec<DatasetImage>, cell: u32 },
    /// The t-SNE map so far (`n × 2` points); `you` is the last image placed into it; `kl`
    /// (KL divergence) every 100 iterations and at the end.
    TsneStep {
        id: u64,
        iteration: usize,
        iterations: usize,
        kl: Option<f32>,
        points: Vec<f32>,
        you: Option<[f32; 2]>,
        done: bool,
        ms: f64,
    },
    /// A request failed; the worker stays usable.
    Failed { id: Option<u64>, message: String },
    /// The worker cannot go on (model or device unusable).
    Fatal { message: String },
    /// A helper loaded its model (`Request::Help`).
    HelperReady,
    /// A helper's answer to `Request::Measure`; its values travel alongside ([`f32_bytes`]).
    /// `ok: false`: the helper could not do the part (the run's own worker does it instead).
    Measured { run: u64, part: usize, ok: bool },
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

/// Class names from a labels file the user supplies: a JSON list of names, a JSON object from
/// index to name (or to `[id, name]`, as Keras' `imagenet_class_index.json`), or plain text with
/// one name per line (blank lines skipped).
pub fn parse_labels(text: &str) -> Result<Vec<String>, crate::error::ModelError> {
    let bad = |m: String| crate::error::ModelError::Malformed(format!("labels file: {m}"));
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.len() > 4 << 20 {
        return Err(bad("larger than 4 MB".into()));
    }
    let labels: Vec<String> = match text.chars().next() {
        Some('[') => serde_json::from_str(text).map_err(|e| bad(format!("not a JSON list of strings: {e}")))?,
        Some('{') => {
            let map: std::collections::BTreeMap<String, serde_json::Value> =
                serde_json::from_str(text).map_err(|e| bad(format!("not a JSON object: {e}")))?;
            let mut indexed = Vec::with_capacity(map.len());
            for (k, v) in map {
                let i: usize = k.trim().parse().map_err(|_| bad(format!("key '{k}' is not a class index")))?;
                let name = match &v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Array(a) => match a.last() {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        _ => return Err(bad(format!("class {i} has no name"))),
                    },
                    _ => return Err(bad(format!("class {i} has no name"))),
                };
                indexed.push((i, name));
            }
            indexed.sort();
            if indexed.iter().enumerate().any(|(k, (i, _))| k != *i) {
                return Err(bad("class indices must run 0, 1, 2, … without gaps".into()));
            }
            indexed.into_iter().map(|(_, n)| n).collect()
        }
        _ => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect(),
    };
    if labels.is_empty() {
        return Err(bad("holds no names".into()));
    }
    Ok(labels)
}
