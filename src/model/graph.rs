//! An ONNX graph read into our own operator list: typed attributes, constants folded at load
//! (quantized weights are dequantized here, once, so every backend computes in f32).

use std::collections::{HashMap, HashSet};

use onnx_ir::{AttributeProto, Message, ModelProto, NodeProto};

use super::host::{HostData, HostTensor, dequantize_linear};
use crate::error::ModelError;

/// Operators the executor implements. Adding one: a variant here, its parsing in
/// [`parse_op`], its maths in `exec.rs`, a known-answer test in `tests/ops.rs`.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Conv {
        strides: [usize; 2],
        pads: [usize; 4],
        dilations: [usize; 2],
        groups: usize,
        auto_pad_same: bool,
    },
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    Sigmoid,
    Clip {
        min: Option<f32>,
        max: Option<f32>,
    },
    MaxPool {
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        ceil_mode: bool,
    },
    AveragePool {
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        ceil_mode: bool,
        count_include_pad: bool,
    },
    GlobalAveragePool,
    GlobalMaxPool,
    Concat {
        axis: i64,
    },
    Flatten {
        axis: i64,
    },
    Reshape,
    Softmax {
        axis: i64,
    },
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
    MatMul,
    Add,
    Sub,
    Mul,
    Div,
    BatchNormalization {
        epsilon: f32,
    },
    Identity,
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    LogSoftmax {
        axis: i64,
    },
    /// Mean over `axes` (from the attribute, or a constant second input from opset 18).
    ReduceMean {
        axes: Option<Vec<i64>>,
        keepdims: bool,
    },
    /// Constant, reflect or edge padding of the last two axes (pads from the attribute before
    /// opset 11, else a constant input).
    Pad {
        mode: PadKind,
        pads: Option<Vec<i64>>,
        value: f32,
    },
    /// Activations quantized at run time (QDQ models): round(x / scale) + zero point, clamped to
    /// `range`, kept as floats; scale and zero point are constants (per tensor or along `axis`).
    /// Axes reordered (ranks up to 4).
    Transpose {
        perm: Option<Vec<i64>>,
    },
    QuantizeLinear {
        axis: i64,
        range: (f32, f32),
    },
    /// The inverse, (q − zero point) · scale, for activations (constant weights are folded).
    DequantizeLinear {
        axis: i64,
    },
    /// Dynamic uint8 quantization (`DynamicQuantizeLinear`), kept in float: each image's range
    /// (widened to hold 0) sets the scale, values are rounded to that grid and dequantized again
    /// (see `qoperator.rs`); gradients pass straight through.
    DynamicQuantizeLinear,
    /// Drops size-1 axes (all of them without `axes`; from the attribute, or a constant input).
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    /// Inserts size-1 axes (from the attribute, or a constant input from opset 13).
    Unsqueeze {
        axes: Option<Vec<i64>>,
    },
}

/// How `Pad` fills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadKind {
    Constant,
    Reflect,
    Edge,
}

/// Operator names we accept, for error messages.
pub const SUPPORTED_OPS: &[&str] = &[
    "Conv",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Clip",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Concat",
    "Flatten",
    "Reshape",
    "Softmax",
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "BatchNormalization",
    "Identity",
    "Dropout",
    "HardSigmoid",
    "HardSwish",
    "LogSoftmax",
    "ReduceMean",
    "Pad",
    "Shape, Gather, Unsqueeze, Squeeze, Cast, Concat (computing a Reshape's batch-preserving shape)",
    "DequantizeLinear",
    "QuantizeLinear",
    "Transpose",
    "Constant",
    "Squeeze, Unsqueeze",
    "Cast (to float)",
    "and int8 operator forms: QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger, DynamicQuantizeLinear, \
     com.microsoft QGemm/QLinearAdd/QLinearMul/QLinearConcat/QLinearGlobalAveragePool/QLinearAveragePool/\
     QLinearSoftmax/QLinearSigmoid/QLinearLeakyRelu",
];

/// One executable node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub op: Op,
    /// Input value names; an empty string is an omitted optional input.
    pub inputs: Vec<String>,
    pub output: String,
}

/// A model's graph, ready to execute: nodes in order, constants on the host.
#[derive(Debug, Clone)]
pub struct Graph {
    pub input: String,
    /// Static input shape if the file declares one (`None` entries are symbolic).
    pub input_shape: Vec<Option<usize>>,
    pub outputs: Vec<String>,
    pub nodes: Vec<Node>,
    pub constants: HashMap<String, HostTensor>,
    pub metadata: HashMap<String, String>,
    pub opset: i64,
    /// What the network does to the app's RGB [0, 1] pixels before its first node: from the
    /// file's `convlens.preprocess` (a preset) or `convlens.mean` / `convlens.std` /
    /// `convlens.scale` / `convlens.channel_order`, else none; the page may set it.
    pub preprocess: crate::protocol::Preprocess,
}

fn bad(node: &NodeProto, message: impl Into<String>) -> ModelError {
    ModelError::BadNode { node: node_name(node), op_type: node.op_type.clone(), message: message.into() }
}

fn node_name(node: &NodeProto) -> String {
    if node.name.is_empty() { node.output.first().cloned().unwrap_or_default() } else { node.name.clone() }
}

struct Attrs<'a>(HashMap<&'a str, &'a AttributeProto>);

impl<'a> Attrs<'a> {
    fn of(node: &'a NodeProto) -> Self {
        Self(node.attribute.iter().map(|a| (a.name.as_str(), a)).collect())
    }
    fn int(&self, name: &str, default: i64) -> i64 {
        self.0.get(name).map(|a| a.i).unwrap_or(default)
    }
    fn float(&self, name: &str, default: f32) -> f32 {
        self.0.get(name).map(|a| a.f).unwrap_or(default)
    }
    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.0.get(name).map(|a| a.ints.clone())
    }
    fn string(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
    fn tensor(&self, name: &str) -> Option<&'a onnx_ir::TensorProto> {
        self.0.get(name).and_then(|a| a.t.as_ref())
    }
}

fn usize_list<const N: usize>(
    node: &NodeProto,
    values: Option<Vec<i64>>,
    default: [usize; N],
    what: &str,
) -> Result<[usize; N], ModelError> {
    let Some(values) = values else { return Ok(default) };
    if values.len() != N {
        return Err(bad(node, format!("{what} must have {N} values (2-D only), got {values:?}")));
    }
    let mut out = [0usize; N];
    for (o, v) in out.iter_mut().zip(&values) {
        *o = usize::try_from(*v).map_err(|_| bad(node, format!("{what} must be non-negative, got {values:?}")))?;
        // Kernels, strides, pads and dilations of image models are small; a hostile file's
        // huge ones would only make the executor allocate without bound.
        if *o > MAX_WINDOW {
            return Err(bad(node, format!("{what} {values:?}: at most {MAX_WINDOW} is supported")));
        }
    }
    Ok(out)
}

/// The largest kernel, stride, pad or dilation accepted.
const MAX_WINDOW: usize = 4096;

fn check_auto_pad(node: &NodeProto, attrs: &Attrs) -> Result<bool, ModelError> {
    match attrs.string("auto_pad").as_deref() {
        None | Some("NOTSET") | Some("VALID") | Some("") => Ok(false),
        Some("SAME_UPPER") => Ok(true),
        Some(other) => Err(bad(node, format!("auto_pad={other} is not supported"))),
    }
}

/// Reads one node's operator and attributes.
/// `zero_point_type`: the ONNX element type of a constant third input (QuantizeLinear's range).
fn parse_op(node: &NodeProto, opset: i64, zero_point_type: Option<i32>) -> Result<Op, ModelError> {
    let a = Attrs::of(node);
    let op = match node.op_type.as_str() {
        "Conv" => {
            let auto_pad_same = check_auto_pad(node, &a)?;
            let groups = a.int("group", 1);
            if !(1..=1 << 16).contains(&groups) {
                return Err(bad(node, format!("group {groups} is out of range")));
            }
            Op::Conv {
                strides: usize_list(node, a.ints("strides"), [1, 1], "strides")?,
                pads: usize_list(node, a.ints("pads"), [0, 0, 0, 0], "pads")?,
                dilations: usize_list(node, a.ints("dilations"), [1, 1], "dilations")?,
                groups: groups as usize,
                auto_pad_same,
            }
        }
        "Relu" => Op::Relu,
        "LeakyRelu" => Op::LeakyRelu { alpha: a.float("alpha", 0.01) },
        "Sigmoid" => Op::Sigmoid,
        "Clip" => {
            if opset < 11 {
                Op::Clip { min: Some(a.float("min", f32::MIN)), max: Some(a.float("max", f32::MAX)) }
            } else {
                Op::Clip { min: None, max: None } // bounds come from inputs 1 and 2
            }
        }
        "MaxPool" | "AveragePool" => {
            if check_auto_pad(node, &a)? {
                return Err(bad(node, "auto_pad=SAME_UPPER is not supported for pooling"));
            }
            if let Some(d) = a.ints("dilations")
                && d.iter().any(|&v| v != 1)
            {
                return Err(bad(node, "dilated pooling is not supported"));
            }
            if node.output.len() > 1 && !node.output[1].is_empty() {
                return Err(bad(node, "MaxPool indices output is not supported"));
            }
            let kernel = usize_list(node, a.ints("kernel_shape"), [0, 0], "kernel_shape")?;
            if kernel.contains(&0) {
                return Err(bad(node, "kernel_shape is required"));
            }
            let strides = usize_list(node, a.ints("strides"), [1, 1], "strides")?;
            let pads = usize_list(node, a.ints("pads"), [0, 0, 0, 0], "pads")?;
            let ceil_mode = a.int("ceil_mode", 0) != 0;
            if node.op_type == "MaxPool" {
                Op::MaxPool { kernel, strides, pads, ceil_mode }
            } else {
                Op::AveragePool {
                    kernel,
                    strides,
                    pads,
                    ceil_mode,
                    count_include_pad: a.int("count_include_pad", 0) != 0,
                }
            }
        }
        "GlobalAveragePool" => Op::GlobalAveragePool,
        "GlobalMaxPool" => Op::GlobalMaxPool,
        "Concat" => Op::Concat { axis: a.int("axis", 1) },
        "Flatten" => Op::Flatten { axis: a.int("axis", 1) },
        "Reshape" => {
            if a.int("allowzero", 0) != 0 {
                return Err(bad(node, "Reshape with allowzero=1 is not supported"));
            }
            Op::Reshape
        }
        "Softmax" => Op::Softmax { axis: a.int("axis", if opset < 13 { 1 } else { -1 }) },
        "Gemm" => Op::Gemm {
            alpha: a.float("alpha", 1.0),
            beta: a.float("beta", 1.0),
            trans_a: a.int("transA", 0) != 0,
            trans_b: a.int("transB", 0) != 0,
        },
        "MatMul" => Op::MatMul,
        "Add" => Op::Add,
        "Sub" => Op::Sub,
        "Mul" => Op::Mul,
        "Div" => Op::Div,
        "BatchNormalization" => Op::BatchNormalization { epsilon: a.float("epsilon", 1e-5) },
        "Identity" | "Dropout" => Op::Identity,
        "HardSigmoid" => Op::HardSigmoid { alpha: a.float("alpha", 0.2), beta: a.float("beta", 0.5) },
        "HardSwish" => Op::HardSwish,
        "Transpose" => Op::Transpose { perm: a.ints("perm") },
        "QuantizeLinear" | "DequantizeLinear" => {
            if a.int("block_size", 0) != 0 {
                return Err(bad(node, "blocked quantization is not supported"));
            }
            let axis = a.int("axis", 1);
            if node.op_type == "DequantizeLinear" {
                Op::DequantizeLinear { axis }
            } else {
                // The zero point's element type sets the range (uint8 without one).
                let range = match zero_point_type {
                    Some(3) => (-128.0, 127.0),
                    None | Some(2) => (0.0, 255.0),
                    Some(t) => return Err(bad(node, format!("QuantizeLinear to element type {t} is not supported"))),
                };
                Op::QuantizeLinear { axis, range }
            }
        }
        "DynamicQuantizeLinear" => Op::DynamicQuantizeLinear,
        "Squeeze" => Op::Squeeze { axes: a.ints("axes") },
        "Unsqueeze" => Op::Unsqueeze { axes: a.ints("axes") },
        "Cast" => match a.int("to", 1) {
            1 => Op::Identity,
            t => return Err(bad(node, format!("Cast of an activation to element type {t} is not supported"))),
        },
        "LogSoftmax" => Op::LogSoftmax { axis: a.int("axis", if opset < 13 { 1 } else { -1 }) },
        "ReduceMean" => Op::ReduceMean { axes: a.ints("axes"), keepdims: a.int("keepdims", 1) != 0 },
        "Pad" => {
            let mode = match a.string("mode").as_deref().unwrap_or("constant") {
                "constant" => PadKind::Constant,
                "reflect" => PadKind::Reflect,
                "edge" => PadKind::Edge,
                other => return Err(bad(node, format!("Pad mode '{other}' is not supported"))),
            };
            Op::Pad { mode, pads: a.ints("pads"), value: a.float("value", 0.0) }
        }
        other => {
            return Err(ModelError::UnsupportedOp {
                op_type: other.to_string(),
                node: node_name(node),
                supported: SUPPORTED_OPS.join(", "),
            });
        }
    };
    Ok(op)
}

/// The preprocessing a file declares in its metadata.
fn preprocess_from(meta: &HashMap<String, String>) -> Result<crate::protocol::Preprocess, ModelError> {
    use crate::protocol::Preprocess;
    let bad_meta = |k: &str, v: &str| ModelError::Malformed(format!("metadata {k} = '{v}' is not understood"));
    let mut p = match meta.get("convlens.preprocess").or_else(|| meta.get("convlens.input_range")) {
        Some(v) => Preprocess::preset(v.trim()).ok_or_else(|| bad_meta("convlens.preprocess", v))?,
        None => Preprocess::NONE,
    };
    let triple = |k: &str| -> Result<Option<[f32; 3]>, ModelError> {
        match meta.get(k) {
            Some(v) => serde_json::from_str::<[f32; 3]>(v)
                .ok()
                .filter(|t| t.iter().all(|x| x.is_finite()))
                .map(Some)
                .ok_or_else(|| bad_meta(k, v)),
            None => Ok(None),
        }
    };
    if let Some(m) = triple("convlens.mean")? {
        p.mean = m;
    }
    if let Some(s) = triple("convlens.std")? {
        if s.iter().any(|v| *v == 0.0) {
            return Err(bad_meta("convlens.std", "0"));
        }
        p.std = s;
    }
    if let Some(v) = meta.get("convlens.scale") {
        p.scale = v
            .trim()
            .parse()
            .ok()
            .filter(|s: &f32| s.is_finite() && *s > 0.0)
            .ok_or_else(|| bad_meta("convlens.scale", v))?;
    }
    if let Some(v) = meta.get("convlens.channel_order") {
        p.bgr = match v.trim().to_ascii_lowercase().as_str() {
            "bgr" => true,
            "rgb" => false,
            _ => return Err(bad_meta("convlens.channel_order", v)),
        };
    }
    Ok(p)
}

/// A shape value computed in the graph, known at load up to the batch size.
#[derive(Debug, Clone, PartialEq)]
enum Sym {
    /// `Shape(x)` of an activation: only its first entry (the batch) can be used.
    ShapeOf,
    /// A list of dimensions (a scalar if `scalar`).
    Dims { dims: Vec<Dim>, scalar: bool },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dim {
    Batch,
    Known(i64),
}

impl Sym {
    /// As a Reshape target: the batch may only stand first, where ONNX's 0 copies it.
    fn reshape_target(&self) -> Result<HostTensor, String> {
        let Sym::Dims { dims, .. } = self else {
            return Err("a Reshape to another tensor's whole shape is not supported".into());
        };
        let values = dims
            .iter()
            .enumerate()
            .map(|(i, d)| match d {
                Dim::Batch if i == 0 => Ok(0),
                Dim::Batch => Err("the batch size can only be the first dimension".to_string()),
                Dim::Known(v) => Ok(*v),
            })
            .collect::<Result<Vec<i64>, String>>()?;
        Ok(HostTensor::i64(vec![values.len()], values))
    }
}

enum Folded {
    Sym(Sym),
    Const(HostTensor),
}

/// Folds a node of shape arithmetic (Shape, Gather, Unsqueeze, Squeeze, Cast, Concat over shape
/// values); `None` for any other node.
fn fold_shape_node(
    node: &NodeProto,
    constants: &HashMap<String, HostTensor>,
    syms: &HashMap<String, Sym>,
) -> Result<Option<Folded>, ModelError> {
    let input = |k: usize| node.input.get(k).map(String::as_str).unwrap_or("");
    let dims_of = |k: usize| -> Option<Result<Vec<Dim>, ModelError>> {
        let name = input(k);
        match (syms.get(name), constants.get(name)) {
            (Some(Sym::Dims { dims, .. }), _) => Some(Ok(dims.clone())),
            (Some(Sym::ShapeOf), _) => Some(Err(bad(node, "needs a whole tensor shape, which depends on the image"))),
            (None, Some(c)) if !c.is_float() => Some(Ok(c.to_i64().into_iter().map(Dim::Known).collect())),
            _ => None,
        }
    };
    let folded = match node.op_type.as_str() {
        "Shape" => {
            let a = Attrs::of(node);
            if let Some(c) = constants.get(input(0)) {
                let dims: Vec<i64> = c.dims.iter().map(|&d| d as i64).collect();
                Folded::Const(HostTensor::i64(vec![dims.len()], dims))
            } else if (a.int("start", 0), a.0.contains_key("end")) == (0, false) {
                Folded::Sym(Sym::ShapeOf)
            } else if (a.int("start", 0), a.int("end", 0)) == (0, 1) {
                Folded::Sym(Sym::Dims { dims: vec![Dim::Batch], scalar: false })
            } else {
                return Err(bad(node, "Shape with start/end other than the batch is not supported"));
            }
        }
        "Gather" if syms.contains_key(input(0)) => {
            let idx = constants
                .get(input(1))
                .ok_or_else(|| bad(node, "gathers from a shape with indices that are not constant"))?;
            let scalar = idx.dims.is_empty();
            let picked = match &syms[input(0)] {
                Sym::ShapeOf => idx
                    .to_i64()
                    .iter()
                    .map(|&i| {
                        if i == 0 {
                            Ok(Dim::Batch)
                        } else {
                            Err(bad(node, "only the batch size of a shape can be used"))
                        }
                    })
                    .collect::<Result<Vec<Dim>, ModelError>>()?,
                Sym::Dims { dims, .. } => idx
                    .to_i64()
                    .iter()
                    .map(|&i| {
                        let j = if i < 0 { i + dims.len() as i64 } else { i };
                        dims.get(j as usize).copied().ok_or_else(|| bad(node, format!("index {i} out of range")))
                    })
                    .collect::<Result<Vec<Dim>, ModelError>>()?,
            };
            Folded::Sym(Sym::Dims { dims: picked, scalar })
        }
        "Unsqueeze" | "Squeeze" | "Cast" if syms.contains_key(input(0)) => match &syms[input(0)] {
            Sym::Dims { dims, scalar } => {
                let scalar = match node.op_type.as_str() {
                    "Unsqueeze" => false,
                    "Squeeze" => dims.len() == 1,
                    _ => *scalar,
                };
                Folded::Sym(Sym::Dims { dims: dims.clone(), scalar })
            }
            Sym::ShapeOf if node.op_type == "Cast" => Folded::Sym(Sym::ShapeOf),
            Sym::ShapeOf => return Err(bad(node, "reshapes a whole tensor shape")),
        },
        "Concat" if node.input.iter().any(|i| syms.contains_key(i)) => {
            let mut all = Vec::new();
            for k in 0..node.input.len() {
                let dims = dims_of(k).ok_or_else(|| bad(node, "joins a shape with a float tensor"))??;
                all.extend(dims);
            }
            Folded::Sym(Sym::Dims { dims: all, scalar: false })
        }
        _ => return Ok(None),
    };
    Ok(Some(folded))
}

/// How many inputs each operator needs at least / at most.
fn arity(op: &Op) -> (usize, usize) {
    match op {
        Op::Conv { .. } => (2, 3),
        Op::Clip { .. } => (1, 3),
        Op::Concat { .. } => (1, usize::MAX),
        Op::Reshape | Op::MatMul | Op::Add | Op::Sub | Op::Mul | Op::Div => (2, 2),
        Op::Gemm { .. } => (2, 3),
        Op::BatchNormalization { .. } => (5, 5),
        Op::ReduceMean { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } => (1, 2),
        Op::Pad { .. } => (1, 4),
        Op::QuantizeLinear { .. } | Op::DequantizeLinear { .. } => (2, 3),
        _ => (1, 1),
    }
}

impl Graph {
    /// Parses ONNX bytes: protobuf decode, constant folding, validation of every reference.
    pub fn from_onnx_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        if bytes.is_empty() {
            return Err(ModelError::NotOnnx("the file is empty".into()));
        }
        let model = ModelProto::parse_from_bytes(bytes).map_err(|e| ModelError::NotOnnx(e.to_string()))?;
        Self::from_proto(&model)
    }

    pub fn from_proto(model: &ModelProto) -> Result<Self, ModelError> {
        let graph = model.graph.as_ref().ok_or_else(|| ModelError::NotOnnx("the file holds no graph".into()))?;
        if graph.node.is_empty() {
            return Err(ModelError::Malformed("the graph has no nodes".into()));
        }
        let opset = model
            .opset_import
            .iter()
            .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .max()
            .unwrap_or(13);
        let metadata = model.metadata_props.iter().map(|p| (p.key.clone(), p.value.clone())).collect();

        let mut constants: HashMap<String, HostTensor> = HashMap::new();
        for t in &graph.initializer {
            constants.insert(t.name.clone(), HostTensor::from_proto(t)?);
        }
        let input_info = graph
            .input
            .iter()
            .find(|i| !constants.contains_key(&i.name))
            .ok_or_else(|| ModelError::Malformed("the graph declares no input".into()))?;
        let input = input_info.name.clone();
        let input_shape: Vec<Option<usize>> = input_info
            .type_
            .as_ref()
            .and_then(|t| t.tensor_type().shape.as_ref().map(|s| s.dim.clone()))
            .map(|dims| {
                dims.iter()
                    .map(|d| if d.has_dim_value() && d.dim_value() > 0 { Some(d.dim_value() as usize) } else { None })
                    .collect()
            })
            .unwrap_or_default();
        // One image in: a second non-constant input, another rank, or a non-float input is
        // not something the page can feed.
        let extra: Vec<&str> =
            graph.input.iter().filter(|i| !constants.contains_key(&i.name)).skip(1).map(|i| i.name.as_str()).collect();
        if !extra.is_empty() {
            return Err(ModelError::Malformed(format!(
                "the model takes {} inputs ('{input}', '{}'); convlens feeds one image",
                extra.len() + 1,
                extra.join("', '")
            )));
        }
        if !input_shape.is_empty() && input_shape.len() != 4 {
            return Err(ModelError::Malformed(format!(
                "the input '{input}' has {} dimensions; an image model takes 4 (N, C, H, W or N, H, W, C)",
                input_shape.len()
            )));
        }
        let elem_type = input_info.type_.as_ref().map(|t| t.tensor_type().elem_type).unwrap_or(1);
        if elem_type != 1 && elem_type != 0 {
            return Err(ModelError::Malformed(format!(
                "the input '{input}' has element type {elem_type}; an image model takes float32 pixels (type 1)"
            )));
        }
        let outputs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        if outputs.is_empty() {
            return Err(ModelError::Malformed("the graph declares no output".into()));
        }

        let mut syms: HashMap<String, Sym> = HashMap::new();
        let mut defined: HashSet<String> = constants.keys().cloned().collect();
        defined.insert(input.clone());
        let mut nodes = Vec::new();
        for original in &graph.node {
            // Integer-operator int8 forms become standard nodes first.
            let expansion = super::qoperator::expand(original, &constants)?;
            let parts: Vec<&NodeProto> = match &expansion {
                Some(e) => e.nodes.iter().collect(),
                None => vec![original],
            };
            for (name, value) in expansion.iter().flat_map(|e| e.constants.iter()) {
                constants.insert(name.clone(), value.clone());
                defined.insert(name.clone());
            }
            for node in parts {
                if !(node.domain.is_empty() || node.domain == "ai.onnx") {
                    return Err(ModelError::UnsupportedOp {
                        op_type: format!("{}::{}", node.domain, node.op_type),
                        node: node_name(node),
                        supported: SUPPORTED_OPS.join(", "),
                    });
                }
                let output = node
                    .output
                    .first()
                    .filter(|o| !o.is_empty())
                    .cloned()
                    .ok_or_else(|| bad(node, "node has no output"))?;
                for i in node.input.iter().filter(|i| !i.is_empty()) {
                    if !defined.contains(i) {
                        return Err(bad(node, format!("input '{i}' is not produced by any earlier node")));
                    }
                }
                // Constant nodes and dequantization of constant weights are folded now.
                if node.op_type == "Constant" {
                    let t = Attrs::of(node)
                        .tensor("value")
                        .ok_or_else(|| bad(node, "only tensor-valued Constant is supported"))?;
                    constants.insert(output.clone(), HostTensor::from_proto(t)?);
                    defined.insert(output);
                    continue;
                }
                let constant_input =
                    |k: usize| node.input.get(k).filter(|n| !n.is_empty()).and_then(|n| constants.get(n));
                if node.op_type == "DequantizeLinear" && constant_input(0).is_some() {
                    let get = constant_input;
                    let (Some(x), Some(scale)) = (get(0), get(1)) else {
                        return Err(bad(node, "DequantizeLinear needs a constant scale"));
                    };
                    if Attrs::of(node).int("block_size", 0) != 0 {
                        return Err(bad(node, "blocked quantization is not supported"));
                    }
                    let y = dequantize_linear(x, scale, get(2), Attrs::of(node).int("axis", 1))
                        .map_err(|m| bad(node, m))?;
                    constants.insert(output.clone(), y);
                    defined.insert(output);
                    continue;
                }
                // Shape arithmetic, as in torch's `x.view(x.size(0), -1)`: folded now; a Reshape target
                // computed from it becomes a constant whose 0 keeps the batch size.
                if let Some(folded) = fold_shape_node(node, &constants, &syms)? {
                    match folded {
                        Folded::Sym(v) => {
                            syms.insert(output.clone(), v);
                        }
                        Folded::Const(t) => {
                            constants.insert(output.clone(), t);
                        }
                    }
                    defined.insert(output);
                    continue;
                }
                let mut inputs: Vec<String> = node.input.clone();
                if node.op_type == "Reshape"
                    && let Some(sym) = inputs.get(1).and_then(|n| syms.get(n))
                {
                    let name = format!("{output}.shape");
                    constants.insert(name.clone(), sym.reshape_target().map_err(|m| bad(node, m))?);
                    inputs[1] = name;
                }
                if let Some(i) = inputs.iter().find(|i| syms.contains_key(*i)) {
                    return Err(bad(node, format!("uses the tensor shape '{i}' in a way that is not supported")));
                }
                let zero_point_type = node.input.get(2).and_then(|n| constants.get(n)).map(|c| match c.data {
                    HostData::U8(_) => 2,
                    HostData::I8(_) => 3,
                    HostData::I64(_) => 7,
                    HostData::F32(_) => 1,
                });
                let op = parse_op(node, opset, zero_point_type)?;
                if matches!(op, Op::QuantizeLinear { .. } | Op::DequantizeLinear { .. }) {
                    // Checked once here; the executor uses the uploaded constants as they are.
                    let scale = node.input.get(1).and_then(|n| constants.get(n)).map(|t| t.to_f32());
                    let zero = node.input.get(2).filter(|n| !n.is_empty()).map(|n| constants.get(n).map(|t| t.len()));
                    let ok = match (&scale, zero) {
                        (Some(s), z) => {
                            !s.is_empty()
                                && s.iter().all(|v| v.is_finite() && *v != 0.0)
                                && z.is_none_or(|z| z == Some(s.len()))
                        }
                        _ => false,
                    };
                    if !ok {
                        return Err(bad(node, "needs constant, non-zero scales and a zero point of the same length"));
                    }
                }
                let (lo, hi) = arity(&op);
                let given = inputs.iter().filter(|i| !i.is_empty()).count();
                if given < lo || inputs.len() > hi {
                    return Err(bad(node, format!("expects {lo}..{} inputs, got {}", hi.min(99), inputs.len())));
                }
                defined.insert(output.clone());
                nodes.push(Node { name: node_name(node), op_type: node.op_type.clone(), op, inputs, output });
            }
        }
        for o in &outputs {
            if !defined.contains(o) {
                return Err(ModelError::Malformed(format!("graph output '{o}' is never produced")));
            }
        }
        // Several outputs are fine when they are one vector of class scores in several forms
        // (logits and their softmax, a quantized copy); anything else is not a classifier.
        if outputs.len() > 1 {
            let producer: HashMap<&str, &Node> = nodes.iter().map(|n| (n.output.as_str(), n)).collect();
            fn root<'a>(producer: &HashMap<&'a str, &'a Node>, mut name: &'a str) -> &'a str {
                while let Some(n) = producer.get(name).filter(|n| {
                    matches!(
                        n.op,
                        Op::Softmax { .. }
                            | Op::LogSoftmax { .. }
                            | Op::QuantizeLinear { .. }
                            | Op::DequantizeLinear { .. }
                            | Op::Identity
                    )
                }) {
                    name = n.inputs[0].as_str();
                }
                name
            }
            if outputs.iter().any(|o| root(&producer, o) != root(&producer, &outputs[0])) {
                return Err(ModelError::Malformed(format!(
                    "the model has {} outputs ('{}'); convlens reads one vector of class scores",
                    outputs.len(),
                    outputs.join("', '")
                )));
            }
        }
        let preprocess = preprocess_from(&metadata)?;
        let mut graph = Self { input, input_shape, outputs, nodes, constants, metadata, opset, preprocess };
        graph.fold_batch_norms();
        Ok(graph)
    }

    /// A BatchNormalization right after a Conv with constant weights (and nothing else reading
    /// the Conv's output) becomes part of the Conv's weights and bias: one op fewer per layer.
    /// The merged node keeps the Conv's name and gives the normalized output.
    fn fold_batch_norms(&mut self) {
        let mut readers: HashMap<&str, usize> = HashMap::new();
        for n in &self.nodes {
            for i in &n.inputs {
                *readers.entry(i.as_str()).or_default() += 1;
            }
        }
        let mut folds = Vec::new(); // (conv index, bn index, weight, bias)
        for (b, bn) in self.nodes.iter().enumerate() {
            let Op::BatchNormalization { epsilon } = bn.op else { continue };
            let Some(c) = self.nodes[..b].iter().rposition(|n| n.output == bn.inputs[0]) else { continue };
            let conv = &self.nodes[c];
            let floats = |name: &str| self.constants.get(name).filter(|t| t.is_float()).map(|t| t.to_f32());
            let (Op::Conv { .. }, Some(w)) = (&conv.op, floats(&conv.inputs[1])) else { continue };
            let params: Option<Vec<Vec<f32>>> = bn.inputs[1..5].iter().map(|n| floats(n)).collect();
            let Some(params) = params else { continue };
            let out = self.constants[&conv.inputs[1]].dims.first().copied().unwrap_or(0);
            let bias = match conv.inputs.get(2).filter(|n| !n.is_empty()) {
                Some(n) => floats(n),
                None => Some(vec![0.0; out]),
            };
            let (Some(bias), true) = (bias, readers.get(conv.output.as_str()) == Some(&1)) else { continue };
            if out == 0
                || w.len() % out != 0
                || bias.len() != out
                || params.iter().any(|p| p.len() != out)
                || self.outputs.contains(&conv.output)
            {
                continue;
            }
            let (gamma, beta, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
            let k: Vec<f32> = (0..out).map(|o| gamma[o] / (var[o] + epsilon).sqrt()).collect();
            let per = w.len() / out;
            let w: Vec<f32> = w.iter().enumerate().map(|(i, v)| v * k[i / per]).collect();
            let bias: Vec<f32> = (0..out).map(|o| (bias[o] - mean[o]) * k[o] + beta[o]).collect();
            folds.push((c, b, w, bias));
        }
        let mut drop = HashSet::new();
        for (c, b, w, bias) in folds {
            let dims = self.constants[&self.nodes[c].inputs[1]].dims.clone();
            let output = self.nodes[b].output.clone();
            let (wn, bn) = (format!("{output}.folded_weight"), format!("{output}.folded_bias"));
            self.constants.insert(wn.clone(), HostTensor::f32(dims, w));
            self.constants.insert(bn.clone(), HostTensor::f32(vec![bias.len()], bias));
            let conv = &mut self.nodes[c];
            conv.inputs.truncate(1);
            conv.inputs.extend([wn, bn]);
            conv.output = output;
            drop.insert(b);
        }
        let mut k = 0;
        self.nodes.retain(|_| {
            k += 1;
            !drop.contains(&(k - 1))
        });
        // Weights nothing reads any more.
        let used: HashSet<String> = self.nodes.iter().flat_map(|n| n.inputs.iter().cloned()).collect();
        self.constants.retain(|name, _| used.contains(name) || self.outputs.contains(name));
    }

    /// A channels-last input (`[N, H, W, C]` with C of 1 or 3, as Keras models exported by
    /// tf2onnx take): the app then feeds its NCHW images transposed.
    pub fn channels_last(&self) -> bool {
        matches!(self.input_shape.as_slice(), [_, Some(h), Some(w), Some(1 | 3)] if *h > 4 && *w > 4)
    }

    /// The input's channel count, in either layout.
    pub fn input_channels(&self) -> Option<usize> {
        let at = if self.channels_last() { 3 } else { 1 };
        self.input_shape.get(at).copied().flatten()
    }

    /// Names of all node outputs, in execution order: the activations a user can look at.
    pub fn tap_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.output.as_str())
    }

    /// Number of float parameters the nodes use (quantized weights count once, dequantized).
    pub fn parameter_count(&self) -> usize {
        let used: HashSet<&str> = self.nodes.iter().flat_map(|n| n.inputs.iter().map(String::as_str)).collect();
        self.constants
            .iter()
            .filter(|(name, c)| c.is_float() && used.contains(name.as_str()))
            .map(|(_, c)| c.len())
            .sum()
    }
}
