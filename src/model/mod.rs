//! ONNX models on Burn: parse at run time ([`graph`]), execute on any device ([`exec`]),
//! and the metadata the app needs (name, labels, input convention) in [`ModelInfo`].

pub mod conv_grad_op;
pub mod cpu_conv;
pub mod cpu_gemm;
pub mod cpu_par;
pub mod cpu_pool;
pub mod cpu_qconv;
pub mod cpu_simd;
pub mod cpu_sparse;
pub mod cpu_winograd;
pub mod cpu_winograd4;
pub mod exec;
pub mod graph;
pub mod host;
pub mod incremental;
pub mod max_pool_op;
pub mod modified_relu;
mod qoperator;
pub mod randomize;
mod scratch;
pub mod summary;

pub use exec::{Activations, Network, Pass, Value};
pub use graph::{Graph, Op};
pub use modified_relu::ReluRule;

use crate::error::ModelError;

/// What the app shows about a model and how it feeds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub labels: Vec<String>,
    /// Square input side in pixels.
    pub input_size: usize,
    /// Colour channels the model takes: 3 (RGB) or 1 (grey; the app feeds the mean of RGB).
    #[serde(default = "three")]
    pub channels: usize,
    /// The model's own dataset (`convlens.dataset`, a path relative to the site root), if any.
    #[serde(default)]
    pub dataset: Option<String>,
    /// The shorter image side is resized to this before the centre crop.
    pub resize_shorter: usize,
    pub file_bytes: usize,
    pub parameters: usize,
    /// Names of all node outputs, in execution order.
    pub taps: Vec<String>,
}

impl ModelInfo {
    /// Reads our metadata keys (`convlens.*`), with ImageNet-style defaults where absent.
    pub fn from_graph(graph: &Graph, file_bytes: usize) -> Result<Self, ModelError> {
        let meta = &graph.metadata;
        let labels = match meta.get("convlens.labels") {
            Some(json) => serde_json::from_str::<Vec<String>>(json)
                .map_err(|e| ModelError::Malformed(format!("convlens.labels is not a JSON list of strings: {e}")))?,
            None => Vec::new(),
        };
        let number = |key: &str| meta.get(key).and_then(|v| v.trim().parse::<usize>().ok());
        let declared_side = match graph.input_shape.as_slice() {
            [_, Some(h), Some(w), _] if graph.channels_last() && h == w => Some(*h),
            [_, _, Some(h), Some(w)] if h == w => Some(*h),
            _ => None,
        };
        let input_size = number("convlens.input_size").or(declared_side).unwrap_or(224);
        if !(8..=1024).contains(&input_size) {
            return Err(ModelError::Malformed(format!("input size {input_size} is outside 8..=1024")));
        }
        let resize_shorter = number("convlens.resize_shorter").unwrap_or(input_size * 8 / 7).max(input_size);
        Ok(Self {
            name: meta.get("convlens.name").cloned().unwrap_or_else(|| "ONNX model".into()),
            labels,
            input_size,
            channels: if graph.input_channels() == Some(1) { 1 } else { 3 },
            dataset: meta.get("convlens.dataset").filter(|p| is_site_path(p)).cloned(),
            resize_shorter,
            file_bytes,
            parameters: graph.parameter_count(),
            taps: graph.tap_names().map(str::to_string).collect(),
        })
    }

    /// Label of a class index, or `class N` where the model carries no names.
    pub fn label(&self, index: usize) -> String {
        self.labels.get(index).cloned().unwrap_or_else(|| format!("class {index}"))
    }
}

/// A plain relative path inside the site (`datasets/x.png`): no scheme, no leading slash, no
/// `..`, so a model file cannot point the page at another origin or outside its folder.
fn is_site_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 200
        && !p.starts_with('/')
        && p.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && p.ends_with(".png")
}

fn three() -> usize {
    3
}

/// A parsed model: graph and info. Bind it to a device with [`Model::bind`].
#[derive(Debug, Clone)]
pub struct Model {
    pub graph: Graph,
    pub info: ModelInfo,
}

impl Model {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let graph = Graph::from_onnx_bytes(bytes)?;
        let info = ModelInfo::from_graph(&graph, bytes.len())?;
        Ok(Self { graph, info })
    }

    /// Uploads the weights to `device`.
    pub fn bind(self, device: &burn::tensor::Device) -> Result<(ModelInfo, Network), ModelError> {
        let net = Network::new(self.graph, device)?;
        Ok((self.info, net))
    }
}
